#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Decoding's matrix–vector products read straight from ggml blocks: y[t, n] = Σ_k W[n, k] · x[t, k]
/// for a few tokens t, W [N, K] a `QuantizedMatrix`, x [T, K], y [T, N]. As llama.cpp does
/// (`ggml_vec_dot_q4_1_q8_1`, `_q4_0_q8_0`, `_q8_0_q8_0`), x is first quantized per block of 32
/// (`QuantizedActivations`: x ≈ d_x · q_x, 16-bit q_x where ggml has 8), then each block of a row is
/// multiplied with q_x in integers and one float multiply per block scales the sum. Nothing is
/// dequantized to memory, so a step reads the weight's 4–8 bits per value once.
///
/// Per block b of 32 (q_w the weight's integers; q_x, d_x and s_b = Σ x_b from `QuantizedActivations`):
///
///     Q8_0  (f16 d, 32 × i8 q):           Σ w·x ≈ d · d_x · Σ q_w·q_x
///     Q4_0  (f16 d, 16 bytes of nibbles): Σ w·x ≈ d · d_x · Σ (q_w − 8)·q_x
///     Q4_1  (f16 d, f16 m, 16 bytes):     Σ w·x ≈ d · d_x · Σ q_w·q_x + m · s_b
///
/// Nibble j of byte i is value i (low) or i + 16 (high), as in `Dequantize`. Σ q_w·q_x is summed
/// exactly in Int32 as 8 partial sums of 4 products (at most 4 · 128 · 32767 < 2²⁴, so each converts
/// to Float32 exactly); the error is x's rounding, at most d_x / 2 per value:
/// |y − W·x| ≤ Σ_k |W[n, k]| · d_x / 2, plus Float32 rounding. Rows are split into contiguous chunks by
/// `Parallel.forEachChunk`; each output is summed by one thread in a fixed order, so results repeat
/// bitwise for a given thread count. `Reference.quantizedGemv` is the plain twin; the tile path of
/// `linear` (dequantize, then sgemm) is the Float32 reference the error bound is checked against.
enum QuantizedGemv {
    /// Tokens at most for which `linear` takes this path; more tokens amortise a dequantized tile.
    static let maxTokens = 4

    static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_0, .q4_1, .q8_0: true
        default: false
        }
    }

    /// y [T, N] = x [T, K] · Wᵀ for W [N, K] of a supported type.
    static func run(_ w: QuantizedMatrix, x: UnsafePointer<Float>, tokens: Int, y: UnsafeMutablePointer<Float>) {
        precondition(supports(w.type), "QuantizedGemv: \(w.type) is not supported")
        let k = w.cols, n = w.rows, blocks = k / 32, rowBytes = w.rowBytes
        guard let base = w.bytes.baseAddress, tokens > 0 else { return }
        QuantizedActivations.quantizing(x, count: tokens * k) { a in
            Parallel.forEachChunk(n, minChunk: 64) { rows in
                for r in rows {
                    let row = base + r * rowBytes
                    for t in 0..<tokens {
                        let q = a.values + t * k, scales = a.scales + t * blocks
                        let value: Float
                        switch w.type {
                        case .q4_1: value = dotQ4_1(row, q, scales, a.sums + t * blocks, blocks: blocks)
                        case .q4_0: value = dotQ4_0(row, q, scales, blocks: blocks)
                        default: value = dotQ8_0(row, q, scales, blocks: blocks)
                        }
                        y[t * n + r] = value
                    }
                }
            }
        }
    }

    /// A block's f16 scale (F16C's vcvtph2ps on x86).
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// One row of Q4_1 blocks (20 bytes: f16 d, f16 m, 16 bytes of nibbles) · x.
    @inline(__always)
    static func dotQ4_1(
        _ row: UnsafeRawPointer, _ q: UnsafeMutablePointer<Int16>, _ scales: UnsafeMutablePointer<Float>, _ sums: UnsafeMutablePointer<Float>,
        blocks: Int
    ) -> Float {
        var acc = SIMD8<Float>(), minimums: Float = 0
        for b in 0..<blocks {
            let block = row + 20 * b
            acc = acc.addingProduct(half(block) * scales[b], floats(nibbleSums(block + 4, q + 32 * b, offset: 0)))
            minimums += half(block, 2) * sums[b]
        }
        return acc.sum() + minimums
    }

    /// One row of Q4_0 blocks (18 bytes: f16 d, 16 bytes of nibbles offset by 8) · x.
    @inline(__always)
    static func dotQ4_0(_ row: UnsafeRawPointer, _ q: UnsafeMutablePointer<Int16>, _ scales: UnsafeMutablePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD8<Float>()
        for b in 0..<blocks {
            let block = row + 18 * b
            acc = acc.addingProduct(half(block) * scales[b], floats(nibbleSums(block + 2, q + 32 * b, offset: 8)))
        }
        return acc.sum()
    }

    /// One row of Q8_0 blocks (34 bytes: f16 d, 32 × i8) · x.
    @inline(__always)
    static func dotQ8_0(_ row: UnsafeRawPointer, _ q: UnsafeMutablePointer<Int16>, _ scales: UnsafeMutablePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD8<Float>()
        for b in 0..<blocks {
            let block = row + 34 * b
            acc = acc.addingProduct(half(block) * scales[b], floats(byteSums(block + 2, q + 32 * b)))
        }
        return acc.sum()
    }

    @inline(__always)
    static func floats(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        var f = SIMD8<Float>()
        for i in 0..<8 { f[i] = Float(v[i]) }
        return f
    }

    #if arch(x86_64)
    /// Σ (q_w − offset)·q_x of a block of 16 bytes of nibbles and 32 × Int16 of x, as 8 partial sums
    /// (lane i: values 2i, 2i + 1, 16 + 2i, 17 + 2i): the bytes widened to Int16, split into low and
    /// high nibbles, and each multiplied with its 16 values of x, adjacent products summed in Int32
    /// (pmaddwd).
    @inline(__always)
    static func nibbleSums(_ p: UnsafeRawPointer, _ x: UnsafeMutablePointer<Int16>, offset: Int16) -> SIMD8<Int32> {
        let bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)))
        let shift = _mm256_set1_epi16(offset), mask = _mm256_set1_epi16(0x0F)
        let low = _mm256_sub_epi16(_mm256_and_si256(bytes, mask), shift)
        let high = _mm256_sub_epi16(_mm256_srli_epi16(bytes, 4), shift)
        return sums(low, high, x)
    }

    /// Σ q_w·q_x of 32 × Int8 and 32 × Int16, grouped as in `nibbleSums`.
    @inline(__always)
    static func byteSums(_ p: UnsafeRawPointer, _ x: UnsafeMutablePointer<Int16>) -> SIMD8<Int32> {
        let low = _mm256_cvtepi8_epi16(_mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)))
        let high = _mm256_cvtepi8_epi16(_mm_loadu_si128((p + 16).assumingMemoryBound(to: __m128i.self)))
        return sums(low, high, x)
    }

    @inline(__always)
    static func sums(_ low: __m256i, _ high: __m256i, _ x: UnsafeMutablePointer<Int16>) -> SIMD8<Int32> {
        let xLow = _mm256_loadu_si256(UnsafeRawPointer(x).assumingMemoryBound(to: __m256i.self))
        let xHigh = _mm256_loadu_si256(UnsafeRawPointer(x + 16).assumingMemoryBound(to: __m256i.self))
        let products = _mm256_add_epi32(_mm256_madd_epi16(low, xLow), _mm256_madd_epi16(high, xHigh))
        return unsafeBitCast(products, to: SIMD8<Int32>.self)
    }
    #else
    /// Σ (q_w − offset)·q_x of a block of 16 bytes of nibbles and 32 × Int16 of x, as 8 partial sums
    /// grouped as on x86 (lane i: values 2i, 2i + 1, 16 + 2i, 17 + 2i).
    @inline(__always)
    static func nibbleSums(_ p: UnsafeRawPointer, _ x: UnsafeMutablePointer<Int16>, offset: Int16) -> SIMD8<Int32> {
        let packed = p.loadUnaligned(as: SIMD16<UInt8>.self)
        var w = SIMD32<Int16>()
        for i in 0..<16 {
            w[i] = Int16(packed[i] & 0xF) - offset
            w[i + 16] = Int16(packed[i] &>> 4) - offset
        }
        return sums(w, x)
    }

    @inline(__always)
    static func byteSums(_ p: UnsafeRawPointer, _ x: UnsafeMutablePointer<Int16>) -> SIMD8<Int32> {
        let bytes = p.loadUnaligned(as: SIMD32<Int8>.self)
        var w = SIMD32<Int16>()
        for i in 0..<32 { w[i] = Int16(bytes[i]) }
        return sums(w, x)
    }

    @inline(__always)
    static func sums(_ w: SIMD32<Int16>, _ x: UnsafeMutablePointer<Int16>) -> SIMD8<Int32> {
        var sums = SIMD8<Int32>()
        for i in 0..<32 { sums[i % 16 / 2] &+= Int32(w[i]) &* Int32(x[i]) }
        return sums
    }
    #endif
}

extension Reference {
    /// `QuantizedGemv` spelled out: x [..., K] · Wᵀ for W [N, K] of Q4_0, Q4_1 or Q8_0, with x quantized
    /// per block of 32 as `QuantizedActivations` describes, integer sums per block, and the scaled
    /// blocks summed in Double.
    public static func quantizedGemv(_ x: Tensor, _ w: QuantizedMatrix) throws -> Tensor {
        guard QuantizedGemv.supports(w.type), x.shape.last == w.cols else {
            throw TensorError(op: "quantizedGemv", "input \(x.shape) does not fit weight \(w.shape) (\(w.type))")
        }
        let k = w.cols, tokens = x.count / k, levels = QuantizedActivations.levels
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [w.rows])
        for t in 0..<tokens {
            for r in 0..<w.rows {
                var total = 0.0
                for b in 0..<(k / 32) {
                    let xb = (0..<32).map { x.data[t * k + 32 * b + $0] }
                    let amax = xb.map(abs).max()!, d = amax / levels, inverse = amax == 0 ? 0 : levels / amax
                    let qx = xb.map { Int(($0 * inverse).rounded(.toNearestOrEven)) }
                    let (scale, minimum, qw) = integers(w.type, w.bytes.baseAddress! + r * w.rowBytes + b * w.type.blockBytes)
                    let dot = zip(qw, qx).reduce(0) { $0 + $1.0 * $1.1 }
                    total += Double(scale) * Double(d) * Double(dot) + Double(minimum) * xb.reduce(0.0) { $0 + Double($1) }
                }
                y.data[t * w.rows + r] = Float(total)
            }
        }
        return y
    }

    /// A block's scale d, minimum m (0 but for Q4_1) and its 32 integers (Q4_0's already less 8).
    static func integers(_ type: GGMLType, _ p: UnsafeRawPointer) -> (Float, Float, [Int]) {
        let d = Dequantize.half(p)
        let nibble = { (start: Int, j: Int) in Dequantize.byte(p, start + j % 16) >> (4 * (j / 16)) & 0xF }
        switch type {
        case .q8_0: return (d, 0, (0..<32).map { Int(p.load(fromByteOffset: 2 + $0, as: Int8.self)) })
        case .q4_0: return (d, 0, (0..<32).map { nibble(2, $0) - 8 })
        default: return (d, Dequantize.half(p, 2), (0..<32).map { nibble(4, $0) })
        }
    }
}
