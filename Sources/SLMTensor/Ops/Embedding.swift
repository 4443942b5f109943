extension Tensor {
    /// Rows of `self` (an embedding table [V, D]) picked by `ids`: result [ids.count, D].
    /// Backward scatter-adds into the table; each thread owns a column range so the
    /// sums run in token order whatever the thread count.
    public func embedding(_ ids: [Int32]) throws -> Tensor {
        guard rank == 2 else { throw TensorError(op: "embedding", "table must be [vocab, dim], got \(shape)") }
        let vocab = shape[0], dim = shape[1]
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw TensorError(op: "embedding", "token id \(bad) outside vocabulary of \(vocab) (table \(shape))")
        }
        let out = Tensor(uninitialized: [ids.count, dim])
        let table = data, dst = out.data
        Parallel.forEach(ids.count, minChunk: 16) { t in
            (dst + t * dim).update(from: table + Int(ids[t]) * dim, count: dim)
        }
        let tableShape = shape
        return try Tensor.record("embedding", out, inputs: [self]) { g in
            let grad = Tensor.zeros(tableShape)
            let src = g.data, gt = grad.data
            Parallel.forEachChunk(dim, minChunk: 16) { cols in
                for t in 0..<ids.count {
                    let row = gt + Int(ids[t]) * dim, s = src + t * dim
                    for j in cols { row[j] += s[j] }
                }
            }
            return [grad]
        }
    }
}
