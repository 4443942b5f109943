import Foundation

extension Tensor {
    /// Softmax over the last axis.
    public func softmax() throws -> Tensor {
        let (rows, n) = try lastAxisRows("softmax")
        let out = Tensor(uninitialized: shape)
        Kernels.softmaxRows(data, out.data, rows: rows, n: n)
        return try Tensor.record("softmax", out, inputs: [self]) { g in
            // dx = y ⊙ (g − Σ g·y)
            let grad = Tensor(uninitialized: out.shape)
            let y = out.data, gy = g.data, dx = grad.data
            Parallel.forEach(rows, minChunk: 4) { r in
                let o = r * n
                var dot: Float = 0
                for j in 0..<n { dot += gy[o + j] * y[o + j] }
                for j in 0..<n { dx[o + j] = y[o + j] * (gy[o + j] - dot) }
            }
            return [grad]
        }
    }

    /// Log-softmax over the last axis.
    public func logSoftmax() throws -> Tensor {
        let (rows, n) = try lastAxisRows("logSoftmax")
        let out = Tensor(uninitialized: shape)
        let x = data, y = out.data
        Parallel.forEach(rows, minChunk: 4) { r in
            let src = x + r * n, dst = y + r * n
            let m = FastMath.max(src, count: n)
            let lse = m + Foundation.log(FastMath.expShifted(src, dst, count: n, shift: m))
            for j in 0..<n { dst[j] = src[j] - lse }
        }
        return try Tensor.record("logSoftmax", out, inputs: [self]) { g in
            // dx = g − softmax · Σ g
            let grad = Tensor(uninitialized: out.shape)
            let gy = g.data, dx = grad.data
            Parallel.forEach(rows, minChunk: 4) { r in
                let o = r * n
                var total: Float = 0
                for j in 0..<n { total += gy[o + j] }
                for j in 0..<n { dx[o + j] = gy[o + j] - Foundation.exp(y[o + j]) * total }
            }
            return [grad]
        }
    }

    /// (rows, width) of the last axis, refusing an empty axis (softmax over nothing is undefined).
    func lastAxisRows(_ op: String) throws -> (Int, Int) {
        guard let n = shape.last else { throw TensorError(op: op, "needs at least one dimension, got a scalar") }
        guard n > 0 else { throw TensorError(op: op, "last axis is empty in \(shape)") }
        return (count / n, n)
    }
}

extension Kernels {
    static func softmaxRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        Parallel.forEach(rows, minChunk: 4) { r in
            let src = x + r * n, dst = y + r * n
            let sum = FastMath.expShifted(src, dst, count: n, shift: FastMath.max(src, count: n))
            let inv = 1 / sum
            for j in 0..<n { dst[j] *= inv }
        }
    }
}

extension Reference {
    public static func softmax(_ row: [Float]) -> [Float] {
        let m = row.max() ?? 0
        let e = row.map { Foundation.exp(Double($0 - m)) }
        let s = e.reduce(0, +)
        return e.map { Float($0 / s) }
    }
}
