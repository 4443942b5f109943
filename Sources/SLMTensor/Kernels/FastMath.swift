/// Vectorised exp for softmax-heavy kernels (Cephes expf: range reduction by
/// ln 2 and a degree-6 polynomial; within 2 ulp of `Foundation.exp` over the
/// float range, exactly 0 below -87.3 so that masked scores vanish).
public enum FastMath {
    public typealias Vector = SIMD16<Float>

    @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        let upper: Float = 88.3762626647949, lower: Float = -87.3365447504
        var v = x.replacing(with: upper, where: x .> upper)
        let underflow = v .< lower
        v = v.replacing(with: lower, where: underflow)
        // n = round-to-nearest-even(v·log₂e) by the 1.5·2²³ trick: |v·log₂e| < 2²², so the sum's low
        // mantissa bits hold n as an integer too. (SIMD `rounded` and `SIMD16<Int32>(_:)` compile to
        // per-lane libm calls and generic conversions at the x86-64 baseline, tripling exp's cost.)
        let magic: Float = 0x1.8p23
        let shifted = v * 1.44269504088896341 + magic
        let n = shifted - magic
        let r = v - n * 0.693359375 + n * 2.12194440e-4
        var p = Vector(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * r * r + r + 1
        let bits = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        let scale = unsafeBitCast(bits, to: Vector.self)
        return (y * scale).replacing(with: 0, where: underflow)
    }

    /// dst[i] = exp(src[i] - shift), returning the sum of the results.
    @inline(__always)
    public static func expShifted(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        var i = 0
        var acc = Vector()
        let width = Vector.scalarCount
        while i + width <= count {
            let e = exp(UnsafeRawPointer(src + i).loadUnaligned(as: Vector.self) - shift)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: e, as: Vector.self)
            acc += e
            i += width
        }
        var sum = acc.sum()
        while i < count {
            var lane = Vector(repeating: lower)
            lane[0] = src[i] - shift
            let e = exp(lane)[0]
            dst[i] = e
            sum += e
            i += 1
        }
        return sum
    }

    /// Largest element of a non-empty array.
    @inline(__always)
    public static func max(_ src: UnsafePointer<Float>, count: Int) -> Float {
        var i = 0
        var m = Vector(repeating: -.infinity)
        let width = Vector.scalarCount
        while i + width <= count {
            m = pointwiseMax(m, UnsafeRawPointer(src + i).loadUnaligned(as: Vector.self))
            i += width
        }
        var best = m.max()
        while i < count {
            best = Swift.max(best, src[i])
            i += 1
        }
        return best
    }

    private static let lower: Float = -100
}
