/// Decoding's matrix–vector products read straight from ggml blocks: y[t, n] = Σ_k W[n, k] · x[t, k]
/// for a few tokens t, W [N, K] a `QuantizedMatrix`, x [T, K], y [T, N]. Each block of a row is
/// unpacked in registers and multiplied into x; nothing is dequantized to memory, so a step reads
/// the weight's 4–8 bits per value once instead of writing and re-reading Float32 tiles.
///
/// Per block of 32 (b indexes blocks of the row, x_b the 32 values of x it meets):
///
///     Q8_0  (f16 d, 32 × i8 q):          Σ w·x = d · Σ q·x
///     Q4_0  (f16 d, 16 bytes of nibbles): Σ w·x = d · Σ (q − 8)·x
///     Q4_1  (f16 d, f16 m, 16 bytes):     Σ w·x = d · Σ q·x + m · Σ x_b   (Σ x_b once per call)
///
/// Nibble j of byte i is value i (low) or i + 16 (high), as in `Dequantize`. Rows are split into
/// contiguous chunks by `Parallel.forEachChunk`; each output is summed by one thread in a fixed
/// order, so results repeat bitwise for a given thread count. The tile path of `linear` (dequantize,
/// then sgemm) is the reference this is tested against.
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
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(tokens * blocks, 1)) { sums in
            // Σ x_b of every block of every token, Q4_1's term for its minimum.
            let sums = sums.baseAddress!
            if w.type == .q4_1 {
                for t in 0..<tokens {
                    for b in 0..<blocks {
                        let xb = x + t * k + 32 * b
                        sums[t * blocks + b] = (load(xb) + load(xb + 16)).sum()
                    }
                }
            }
            Parallel.forEachChunk(n, minChunk: 64) { rows in
                for r in rows {
                    let row = base + r * rowBytes
                    for t in 0..<tokens {
                        let xt = x + t * k
                        let value: Float
                        switch w.type {
                        case .q4_1: value = dotQ4_1(row, xt, sums + t * blocks, blocks: blocks)
                        case .q4_0: value = dotQ4_0(row, xt, blocks: blocks)
                        default: value = dotQ8_0(row, xt, blocks: blocks)
                        }
                        y[t * n + r] = value
                    }
                }
            }
        }
    }

    /// A block's f16 scale without a library call: sign, exponent and mantissa moved to Float32's
    /// places, then rescaled by 2¹¹² (the difference of the biases); exact for normal and subnormal
    /// values (a block's d and m are never infinite or NaN).
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        let h = UInt32(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        return Float(bitPattern: (h & 0x8000) << 16 | (h & 0x7FFF) << 13) * 0x1p112
    }

    /// The 32 nibbles of 16 bytes as floats: values 0..<16 (low nibbles) and 16..<32 (high).
    /// Written lane by lane, which LLVM vectorizes (the generic SIMD conversions become calls).
    @inline(__always)
    static func nibbles(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>) {
        let q = p.loadUnaligned(as: SIMD16<UInt8>.self)
        var low = SIMD16<Float>(), high = SIMD16<Float>()
        for i in 0..<16 {
            low[i] = Float(q[i] & 0xF)
            high[i] = Float(q[i] &>> 4)
        }
        return (low, high)
    }

    /// 16 signed bytes as floats.
    @inline(__always)
    static func bytes(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        let q = p.loadUnaligned(as: SIMD16<Int8>.self)
        var v = SIMD16<Float>()
        for i in 0..<16 { v[i] = Float(q[i]) }
        return v
    }

    /// One row of Q4_1 blocks (20 bytes: f16 d, f16 m, 16 bytes of nibbles) · x; `sums` holds Σ x_b.
    @inline(__always)
    static func dotQ4_1(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD16<Float>(), minimums: Float = 0
        for b in 0..<blocks {
            let block = row + 20 * b, xb = x + 32 * b
            let (low, high) = nibbles(block + 4)
            acc += half(block) * (low * load(xb) + high * load(xb + 16))
            minimums += half(block, 2) * sums[b]
        }
        return acc.sum() + minimums
    }

    /// One row of Q4_0 blocks (18 bytes: f16 d, 16 bytes of nibbles offset by 8) · x.
    @inline(__always)
    static func dotQ4_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD16<Float>()
        for b in 0..<blocks {
            let block = row + 18 * b, xb = x + 32 * b
            let (low, high) = nibbles(block + 2)
            acc += half(block) * ((low - 8) * load(xb) + (high - 8) * load(xb + 16))
        }
        return acc.sum()
    }

    /// One row of Q8_0 blocks (34 bytes: f16 d, 32 × i8) · x.
    @inline(__always)
    static func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD16<Float>()
        for b in 0..<blocks {
            let block = row + 34 * b, xb = x + 32 * b
            acc += half(block) * (bytes(block + 2) * load(xb) + bytes(block + 18) * load(xb + 16))
        }
        return acc.sum()
    }
}
