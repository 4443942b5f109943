extension Tensor {
    /// The same data under a new shape; one dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var dims = newShape
        let known = dims.filter { $0 != -1 }.reduce(1, *)
        if let i = dims.firstIndex(of: -1) {
            guard dims.filter({ $0 == -1 }).count == 1, known > 0, count % known == 0 else {
                throw TensorError(op: "reshape", "cannot infer -1 in \(newShape) for \(count) elements of \(shape)")
            }
            dims[i] = count / known
        }
        guard dims.allSatisfy({ $0 >= 0 }), dims.reduce(1, *) == count else {
            throw TensorError(op: "reshape", "cannot view \(shape) (\(count) elements) as \(newShape)")
        }
        let out = Tensor(sharing: storage, shape: dims)
        let inputShape = shape
        return try Tensor.record("reshape", out, inputs: [self]) { g in
            [Tensor(sharing: g.storage, shape: inputShape)]
        }
    }

    /// Swaps two axes (a copy, since tensors are contiguous).
    public func transposed(_ axis0: Int, _ axis1: Int) throws -> Tensor {
        guard axis0 >= 0, axis1 >= 0, axis0 < rank, axis1 < rank else {
            throw TensorError(op: "transpose", "axes \(axis0), \(axis1) out of range for \(shape)")
        }
        var perm = Array(0..<rank)
        perm.swapAt(axis0, axis1)
        let out = Kernels.permute(self, perm)
        return try Tensor.record("transpose", out, inputs: [self]) { g in [Kernels.permute(g, perm)] }
    }
}

extension Kernels {
    /// out[i_perm[0], …] = x[i_0, …]: out's axis d is x's axis perm[d].
    static func permute(_ x: Tensor, _ perm: [Int]) -> Tensor {
        let outShape = perm.map { x.shape[$0] }
        let out = Tensor(uninitialized: outShape)
        let inStrides = Tensor.strides(x.shape)
        let srcStrides = perm.map { inStrides[$0] }
        let inner = outShape.last ?? 1
        guard inner > 0, out.count > 0 else { return out }
        let innerStride = srcStrides.last ?? 1
        let rows = out.count / inner
        let src = x.data, dst = out.data
        Parallel.forEachChunk(rows, minChunk: 64) { r in
            for row in r {
                var rem = row, off = 0
                for d in stride(from: outShape.count - 2, through: 0, by: -1) {
                    off += (rem % outShape[d]) * srcStrides[d]
                    rem /= outShape[d]
                }
                let o = dst + row * inner
                for j in 0..<inner { o[j] = src[off + j * innerStride] }
            }
        }
        return out
    }
}
