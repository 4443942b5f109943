/// Decoding's activations x [T, K] quantized to 16-bit integers in blocks of 32, for the integer dot
/// products of `QuantizedGemv`: ggml's `quantize_row_q8_0` with 32767 levels instead of 127.
///
/// Per block b of 32 consecutive values x_b (K is a multiple of 32; blocks run token after token):
///
///     d_b = max |x_b| / 32767              scales[b]   Float32
///     q   = round(x · 32767 / max |x_b|)   values[32b ..< 32b + 32], Int16 in −32767 ... 32767 (0 when d_b = 0)
///     s_b = Σ x_b                          sums[b]     Float32, of x itself (Q4_1's minimum term)
///
/// Rounding is to nearest, halves to even, as ggml's x86 path (`_mm256_round_ps`). Why 16 bits and
/// not ggml's 8: x ≈ d_b · q is off by at most d_b / 2 per value; with 127 levels that moved
/// SmolLM2-135M's logits by up to 0.2–1.1 per step and changed the greedy replies to all three of
/// `GenerationTests`' chat prompts (the first at its first token, where the two best logits are 0.08
/// apart); with 32767 levels the error is 258 times smaller, and on x86 a block costs as many
/// instructions (pmaddwd on 16-bit pairs instead of pmaddubsw, then pmaddwd).
struct QuantizedActivations {
    let values: UnsafeMutablePointer<Int16>
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>

    /// Levels on each side of zero.
    static let levels: Float = 32767

    /// x [count] (a multiple of 32) quantized into temporary buffers that live for the call of `body`.
    static func quantizing<R>(_ x: UnsafePointer<Float>, count: Int, _ body: (QuantizedActivations) -> R) -> R {
        let blocks = count / 32
        return withUnsafeTemporaryAllocation(of: Int16.self, capacity: max(count, 1)) { values in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(2 * blocks, 1)) { floats in
                let q = QuantizedActivations(values: values.baseAddress!, scales: floats.baseAddress!, sums: floats.baseAddress! + blocks)
                for b in 0..<blocks { q.quantize(block: b, x + 32 * b) }
                return body(q)
            }
        }
    }

    /// Written lane by lane with plain comparisons, which LLVM turns into vector and / max; the
    /// generic `pointwiseMax` and `max()` handle NaN lane by lane with branches.
    private func quantize(block b: Int, _ x: UnsafePointer<Float>) {
        let low = load(x), high = load(x + 16)
        var magnitudes = SIMD16<Float>(), sum: Float = 0
        for i in 0..<16 {
            let a = Float(bitPattern: low[i].bitPattern & 0x7FFF_FFFF), c = Float(bitPattern: high[i].bitPattern & 0x7FFF_FFFF)
            magnitudes[i] = a > c ? a : c
            sum += low[i] + high[i]
        }
        var amax: Float = 0
        for i in 0..<16 { amax = magnitudes[i] > amax ? magnitudes[i] : amax }
        let inverse = amax == 0 ? 0 : Self.levels / amax
        scales[b] = amax / Self.levels
        sums[b] = sum
        store(Self.rounded(low * inverse), values + 32 * b)
        store(Self.rounded(high * inverse), values + 32 * b + 16)
    }

    /// Each lane rounded to the nearest integer, halves to even: adding 1.5 · 2²³ rounds a Float32 of
    /// magnitude below 2²² to an integer held in its low mantissa bits (the trick of
    /// `Quantize.lowByte`); no libm call and no trapping conversion, so the loop vectorizes.
    @inline(__always)
    static func rounded(_ v: SIMD16<Float>) -> SIMD16<Int16> {
        let shifted = v + 12_582_912
        var q = SIMD16<Int16>()
        for i in 0..<16 { q[i] = Int16(truncatingIfNeeded: shifted[i].bitPattern) }
        return q
    }

    @inline(__always)
    private func store(_ v: SIMD16<Int16>, _ p: UnsafeMutablePointer<Int16>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Int16>.self)
    }
}
