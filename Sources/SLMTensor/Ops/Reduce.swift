extension Tensor {
    /// Sum of all elements (accumulated in Double, in a fixed order).
    public func sum() throws -> Tensor {
        var acc = 0.0
        for i in 0..<count { acc += Double(data[i]) }
        let out = Tensor.scalar(Float(acc))
        let inputShape = shape
        return try Tensor.record("sum", out, inputs: [self]) { g in [Tensor.filled(inputShape, with: g.item())] }
    }

    /// Mean of all elements; an empty tensor has no mean.
    public func mean() throws -> Tensor {
        guard count > 0 else { throw TensorError(op: "mean", "mean of an empty tensor \(shape)") }
        return try sum().scaled(by: 1 / Float(count))
    }

    /// Sum over one axis (negative counts from the end).
    public func sum(axis: Int, keepDims: Bool = false) throws -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        guard ax >= 0, ax < rank else { throw TensorError(op: "sum", "axis \(axis) out of range for \(shape)") }
        let outer = shape[..<ax].reduce(1, *), n = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        var kept = shape
        kept[ax] = 1
        let out = Tensor.zeros(kept)
        let src = data, dst = out.data
        Parallel.forEach(outer, minChunk: 1) { o in
            let d = dst + o * inner
            for k in 0..<n {
                let s = src + (o * n + k) * inner
                for j in 0..<inner { d[j] += s[j] }
            }
        }
        let reduced = keepDims ? out : Tensor(sharing: out.storage, shape: kept.enumerated().filter { $0.offset != ax }.map(\.element))
        let inputShape = shape
        return try Tensor.record("sum", reduced, inputs: [self]) { g in
            let expanded = Tensor(sharing: g.storage, shape: kept)
            return [Kernels.broadcasting(.add, Tensor.zeros(inputShape), expanded)]
        }
    }

    public func mean(axis: Int, keepDims: Bool = false) throws -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        guard ax >= 0, ax < rank else { throw TensorError(op: "mean", "axis \(axis) out of range for \(shape)") }
        guard shape[ax] > 0 else { throw TensorError(op: "mean", "mean over empty axis \(axis) of \(shape)") }
        return try sum(axis: axis, keepDims: keepDims).scaled(by: 1 / Float(shape[ax]))
    }
}
