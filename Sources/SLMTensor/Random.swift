/// Counter-based random numbers: the value at (seed, index) never depends on
/// which thread asks or in what order, so seeded dropout and initialisation
/// are reproducible for any thread count and can be regenerated in backward.
public enum SplitMix64 {
    @inline(__always)
    public static func next(seed: UInt64, index: UInt64) -> UInt64 {
        var z = seed &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public static func uniform(seed: UInt64, index: UInt64) -> Float {
        Float(next(seed: seed, index: index) >> 40) * 0x1p-24
    }
}

extension Tensor {
    /// Uniform values in [low, high), element i drawn from (seed, i).
    public static func uniform(_ shape: [Int], low: Float = -1, high: Float = 1, seed: UInt64, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let p = t.data, span = high - low
        Parallel.forEach(t.count, minChunk: 1 << 14) { i in
            p[i] = low + span * SplitMix64.uniform(seed: seed, index: UInt64(i))
        }
        t.requiresGrad = requiresGrad
        return t
    }
}

/// Counter-based random numbers for dropout masks, in 32-bit arithmetic so that the mask loop
/// vectorizes (SplitMix64's 64-bit multiplies do not on AVX2, which made dropout ~3× slower):
/// two rounds of Chris Wellons' lowbias32 hash over the element index, keyed by two words that
/// SplitMix64 draws from the seed. Indices are taken modulo 2³².
public struct DropoutHash: Sendable {
    let key1: UInt32, key2: UInt32

    public init(seed: UInt64) {
        let key = SplitMix64.next(seed: seed, index: 0)
        key1 = UInt32(truncatingIfNeeded: key)
        key2 = UInt32(truncatingIfNeeded: key >> 32)
    }

    @inline(__always)
    static func lowbias32(_ v: UInt32) -> UInt32 {
        var x = v
        x ^= x >> 16
        x = x &* 0x7FEB_352D
        x ^= x >> 15
        x = x &* 0x846C_A68B
        return x ^ (x >> 16)
    }

    /// 24 random bits k for element `index`; its uniform number is k · 2⁻²⁴.
    @inline(__always)
    public func bits24(_ index: Int) -> UInt32 {
        DropoutHash.lowbias32(DropoutHash.lowbias32(UInt32(truncatingIfNeeded: index) ^ key1) &+ key2) >> 8
    }

    /// Uniform in [0, 1) with 24 random bits.
    public func uniform(_ index: Int) -> Float { Float(bits24(index)) * 0x1p-24 }
}
