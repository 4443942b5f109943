import Synchronization

extension Quantize {
    /// `encode`, returning how far the stored values are from `values`: ‖stored − values‖ / ‖values‖
    /// (0 for F32). Each few blocks are decoded right after they are encoded, while they are still in
    /// cache, on the threads `run` uses; the per-chunk sums are added in chunk order, so the figure
    /// is the same from run to run at a given thread count.
    public static func encodeMeasuringError(_ type: GGMLType, _ values: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) -> Double {
        guard type != .f32 else {
            encode(type, values, count: count, into: out)
            return 0
        }
        precondition(canEncode(type), "quantize: slm cannot write \(type)")
        precondition(count % type.blockSize == 0, "quantize: \(count) values are not whole blocks of \(type.blockSize)")
        let blocks = count / type.blockSize, batch = max(1, 4096 / type.blockSize)
        let sums = Mutex([Int: (error: Double, norm: Double)]())
        Parallel.forEachChunk(blocks, minChunk: 64) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: batch * type.blockSize) { decoded in
                var error = 0.0, norm = 0.0
                for start in stride(from: range.lowerBound, to: range.upperBound, by: batch) {
                    let end = min(range.upperBound, start + batch), n = (end - start) * type.blockSize
                    let x = values + start * type.blockSize, bytes = out + start * type.blockBytes
                    if type == .f16 {
                        let halves = bytes.bindMemory(to: UInt16.self, capacity: n)
                        for i in 0..<n { halves[i] = Float16(x[i]).bitPattern }
                    } else {
                        for b in 0..<(end - start) { block(type, x + b * type.blockSize, bytes + b * type.blockBytes) }
                    }
                    Dequantize.run(type, UnsafeRawBufferPointer(start: bytes, count: (end - start) * type.blockBytes), count: n, into: decoded.baseAddress!, threaded: false)
                    let (e, v) = squaredSums(x, decoded.baseAddress!, count: n)
                    error += e
                    norm += v
                }
                sums.withLock { $0[range.lowerBound] = (error, norm) }
            }
        }
        let (error, norm) = sums.withLock { $0 }.sorted { $0.key < $1.key }.reduce((0.0, 0.0)) { ($0.0 + $1.value.error, $0.1 + $1.value.norm) }
        return norm > 0 ? (error / norm).squareRoot() : error.squareRoot()
    }

    /// Σ (x − y)² and Σ x² over `count` values, in eight Float32 lanes per batch (vectorized; the
    /// batch's sums are then added in Float64).
    private static func squaredSums(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> (Double, Double) {
        var error = SIMD8<Float>(), norm = SIMD8<Float>()
        let whole = count / 8 * 8
        for i in stride(from: 0, to: whole, by: 8) {
            let a = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self), b = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            let d = a - b
            error += d * d
            norm += a * a
        }
        var e = Double(error.sum()), v = Double(norm.sum())
        for i in whole..<count {
            let d = Double(x[i]) - Double(y[i])
            e += d * d
            v += Double(x[i]) * Double(x[i])
        }
        return (e, v)
    }
}
