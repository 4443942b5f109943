/// Quantization of Float32 values to ggml's Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 blocks of 32, byte for
/// byte as ggml's `quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, … (and as gguf-py's
/// `gguf.quants.quantize`, which the tests compare against):
///
/// - Q8_0: d = max|x| / 127, q = round(x / d) (halves away from zero), x ≈ d·q.
/// - Q4_0: d = m / −8 where m is the value of largest magnitude (the first such), q = min(15, trunc(x / d + 8.5)), x ≈ d·(q − 8).
/// - Q4_1: d = (max − min) / 15, q = min(15, trunc((x − min) / d + 0.5)), x ≈ d·q + min.
/// - Q5_0: as Q4_0 with d = m / −16, q = min(31, trunc(x / d + 16.5)), x ≈ d·(q − 16).
/// - Q5_1: as Q4_1 with d = (max − min) / 31, q = min(31, trunc((x − min) / d + 0.5)).
///   Both keep the low 4 bits of q as Q4's nibbles and bit 4 of value j as bit j of a u32 (`qh`).
/// - Q4_K, Q5_K, Q6_K (blocks of 256): see `QuantizeK`.
///
/// "x / d" is x times the Float32 reciprocal 1/d (0 when d is 0), and the product and the sum are
/// rounded separately, without a fused multiply-add, as gguf-py computes them; d and min are
/// stored as float16 rounded to nearest even. Block layouts: see `GGMLType.blockBytes`.
public enum Quantize {
    public static func supports(_ type: GGMLType) -> Bool { [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K].contains(type) }

    /// Writes the count / 32 blocks of `type` that encode `values` to `out`.
    public static func run(_ type: GGMLType, _ values: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        precondition(supports(type), "quantize: \(type) is not one of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K")
        precondition(count % type.blockSize == 0, "quantize: \(count) values are not whole blocks of \(type.blockSize)")
        Parallel.forEachChunk(count / type.blockSize, minChunk: 64) { range in
            for b in range {
                block(type, values + b * type.blockSize, out + b * type.blockBytes)
            }
        }
    }

    /// The block's value of largest magnitude, with its sign (the first one on ties): Q4_0's and Q5_0's scale.
    private static func signedAbsMax(_ x: UnsafePointer<Float>) -> Float {
        var amax: Float = 0, signedMax: Float = 0
        for j in 0..<32 where amax < abs(x[j]) {
            amax = abs(x[j])
            signedMax = x[j]
        }
        return signedMax
    }

    /// The block's smallest and largest value: Q4_1's and Q5_1's offset and scale.
    private static func range(_ x: UnsafePointer<Float>) -> (low: Float, high: Float) {
        var low = Float.greatestFiniteMagnitude, high = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            low = min(low, x[j])
            high = max(high, x[j])
        }
        return (low, high)
    }

    static func block(_ type: GGMLType, _ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        switch type {
        case .q8_0:
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[j])) }
            let d = amax / 127, id = d != 0 ? 1 / d : 0
            storeHalf(d, p)
            for j in 0..<32 { p.storeBytes(of: lowByte(roundHalfAway(x[j] * id)), toByteOffset: 2 + j, as: UInt8.self) }
        case .q4_0:
            let d = signedAbsMax(x) / -8, id = d != 0 ? 1 / d : 0
            storeHalf(d, p)
            storeNibbles(x, p + 2) { v in nibble(v * id + 8.5) }
        case .q4_1:
            let (low, high) = range(x)
            let d = (high - low) / 15, id = d != 0 ? 1 / d : 0
            storeHalf(d, p)
            storeHalf(low, p + 2)
            storeNibbles(x, p + 4) { v in nibble((v - low) * id + 0.5) }
        case .q5_0:
            let d = signedAbsMax(x) / -16, id = d != 0 ? 1 / d : 0
            storeHalf(d, p)
            storeFiveBits(x, p + 2) { v in fiveBits(v * id + 16.5) }
        case .q5_1:
            let (low, high) = range(x)
            let d = (high - low) / 31, id = d != 0 ? 1 / d : 0
            storeHalf(d, p)
            storeHalf(low, p + 2)
            storeFiveBits(x, p + 4) { v in fiveBits((v - low) * id + 0.5) }
        case .q4_K, .q5_K: QuantizeK.q4Kq5K(five: type == .q5_K, x, p)
        case .q6_K: QuantizeK.q6K(x, p)
        default:
            preconditionFailure("quantize: \(type) is not one of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K")
        }
    }

    /// C's `MIN(15, (int8_t)v)` for v in [0, 16.5]: the conversion truncates toward zero.
    @inline(__always)
    static func nibble(_ v: Float) -> UInt8 { min(15, lowByte(v.rounded(.towardZero))) }

    /// C's `MIN(31, (int8_t)v)` for v in [0, 32.5].
    @inline(__always)
    static func fiveBits(_ v: Float) -> UInt8 { min(31, lowByte(v.rounded(.towardZero))) }

    /// C's `roundf` (halves away from zero) for |v| ≤ 127.5 (Q8_0's range): v − trunc(v) is exact
    /// there, so comparing it with ±0.5 decides. No libm call and no trapping conversion, so the
    /// loop vectorizes.
    @inline(__always)
    static func roundHalfAway(_ v: Float) -> Float {
        let t = v.rounded(.towardZero), fraction = v - t
        return fraction >= 0.5 ? t + 1 : fraction <= -0.5 ? t - 1 : t
    }

    /// The low byte of the two's complement of r, an integer-valued Float with |r| < 2^22 (C's
    /// `(int8_t)r` / `(uint8_t)r`): r + 1.5·2^23 holds r + 2^22 in its mantissa's low bits.
    @inline(__always)
    static func lowByte(_ r: Float) -> UInt8 { UInt8(truncatingIfNeeded: (r + 12_582_912).bitPattern) }

    /// A u32 whose bit j is bit 4 of value j, then the low 4 bits as `storeNibbles` lays them out.
    @inline(__always)
    static func storeFiveBits(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, _ quantize: (Float) -> UInt8) {
        var high: UInt32 = 0
        for j in 0..<16 {
            let a = quantize(x[j]), b = quantize(x[j + 16])
            high |= UInt32(a >> 4) << j | UInt32(b >> 4) << (j + 16)
            p.storeBytes(of: (a & 0xF) | (b & 0xF) << 4, toByteOffset: 4 + j, as: UInt8.self)
        }
        p.storeBytes(of: high.littleEndian, as: UInt32.self)
    }

    /// Byte j holds value j in its low nibble and value j + 16 in its high one.
    @inline(__always)
    static func storeNibbles(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, _ quantize: (Float) -> UInt8) {
        for j in 0..<16 { p.storeBytes(of: quantize(x[j]) | quantize(x[j + 16]) << 4, toByteOffset: j, as: UInt8.self) }
    }

    @inline(__always)
    static func storeHalf(_ v: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Float16(v).bitPattern, as: UInt16.self)
    }
}

extension QuantizedMatrix {
    /// `tensor` [rows, cols] quantized to `type` (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K).
    public init(quantizing tensor: Tensor, as type: GGMLType) throws {
        guard tensor.shape.count == 2 else { throw TensorError(op: "QuantizedMatrix", "quantizes a 2-D tensor, got \(tensor.shape)") }
        try self.init(type: type, rows: tensor.shape[0], cols: tensor.shape[1]) { range, out in
            out.update(from: tensor.data + range.lowerBound * tensor.shape[1], count: range.count * tensor.shape[1])
        }
    }

    /// A [rows, cols] matrix of `type` (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K) whose Float32 values `fill(range, out)`
    /// writes a few rows at a time into `out` ([range.count, cols]), so that a matrix too large to
    /// hold in Float32 never is.
    public init(type: GGMLType, rows: Int, cols: Int, quantizingRows fill: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void) throws {
        guard Quantize.supports(type) else { throw TensorError(op: "QuantizedMatrix", "cannot quantize to \(type); Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K can") }
        guard rows > 0, cols > 0, cols % type.blockSize == 0 else {
            throw TensorError(op: "QuantizedMatrix", "\(type) needs rows of a multiple of \(type.blockSize) values, got [\(rows), \(cols)]")
        }
        let rowBytes = Self.rowBytes(type, cols), chunkRows = max(1, (1 << 20) / cols)
        let storage = OwnedBytes(count: rows * rowBytes)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: min(rows, chunkRows) * cols)
        defer { scratch.deallocate() }
        for start in stride(from: 0, to: rows, by: chunkRows) {
            let range = start..<min(rows, start + chunkRows)
            try fill(range, scratch)
            Quantize.run(type, scratch, count: range.count * cols, into: storage.buffer.baseAddress! + start * rowBytes)
        }
        try self.init(type: type, rows: rows, cols: cols, bytes: UnsafeRawBufferPointer(storage.buffer), owner: storage)
    }
}

extension Quantize {
    /// Whether `encode` can write `type`: F32, F16 and the block types `run` supports.
    public static func canEncode(_ type: GGMLType) -> Bool { type == .f32 || type == .f16 || supports(type) }

    /// Writes `values` as `type`: F32 copied, F16 rounded to nearest even, block types quantized by `run`.
    public static func encode(_ type: GGMLType, _ values: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        switch type {
        case .f32: out.copyMemory(from: values, byteCount: count * 4)
        case .f16:
            let halves = out.bindMemory(to: UInt16.self, capacity: count)
            Parallel.forEachChunk(count, minChunk: 1 << 14) { range in
                for i in range { halves[i] = Float16(values[i]).bitPattern }
            }
        default: run(type, values, count: count, into: out)
        }
    }
}
