extension Tensor {
    /// A LoRA projection as one op: y = x · Wᵀ + s · dropout(x) · Aᵀ · Bᵀ, with W [out, in] frozen,
    /// A [r, in] and B [out, r].
    ///
    /// Composed of separate ops, this keeps three more [tokens, out] tensors alive until backward
    /// (W's output, the update and its scaled copy) and makes three passes over them; here the update
    /// is added into W's output by the second gemm (beta = 1), and only x · Aᵀ [tokens, r] is kept.
    /// The dropout mask is regenerated from `seed` in backward, as `dropout` does.
    /// Backward: dB = s · dyᵀ · xa, g = s · dy · B, dA = gᵀ · dropout(x), dx = dy · W + dropout(g · A).
    public static func loraProjection(
        _ x: Tensor, base: any LinearWeight, a: Tensor, b: Tensor, scaling s: Float, dropout p: Float, seed: UInt64
    ) throws -> Tensor {
        let op = "loraProjection"
        let out = base.shape[0], inFeatures = base.shape[1], r = a.shape[0]
        guard !base.isTrainable else { throw TensorError(op: op, "the base weight \(base.shape) must be frozen") }
        guard a.shape == [r, inFeatures], b.shape == [out, r], x.shape.last == inFeatures else {
            throw TensorError(op: op, "x \(x.shape), A \(a.shape) and B \(b.shape) do not fit base \(base.shape)")
        }
        let tokens = x.count / inFeatures
        let (y, xa) = try GradMode.withoutGrad {
            let y = try base.applied(to: x)
            let dropped = try x.dropout(probability: p, seed: seed)
            let xa = Tensor(uninitialized: [tokens, r])
            Gemm.sgemm(transA: false, transB: true, m: tokens, n: r, k: inFeatures, a: dropped.data, lda: inFeatures, b: a.data, ldb: inFeatures, c: xa.data, ldc: r)
            Gemm.sgemm(transA: false, transB: true, m: tokens, n: out, k: r, alpha: s, a: xa.data, lda: r, b: b.data, ldb: r, beta: 1, c: y.data, ldc: out)
            return (y, xa)
        }
        return try record(op, y, inputs: [x, a, b]) { dy in
            let g = Tensor(uninitialized: [tokens, r])
            Gemm.sgemm(transA: false, transB: false, m: tokens, n: r, k: out, alpha: s, a: dy.data, lda: out, b: b.data, ldb: r, c: g.data, ldc: r)
            var dB: Tensor?, dA: Tensor?, dx: Tensor?
            if b.requiresGrad {
                let grad = Tensor(uninitialized: [out, r])
                Gemm.sgemm(transA: true, transB: false, m: out, n: r, k: tokens, alpha: s, a: dy.data, lda: out, b: xa.data, ldb: r, c: grad.data, ldc: r)
                dB = grad
            }
            if a.requiresGrad {
                let dropped = try GradMode.withoutGrad { try x.dropout(probability: p, seed: seed) }
                let grad = Tensor(uninitialized: [r, inFeatures])
                Gemm.sgemm(transA: true, transB: false, m: r, n: inFeatures, k: tokens, a: g.data, lda: r, b: dropped.data, ldb: inFeatures, c: grad.data, ldc: inFeatures)
                dA = grad
            }
            if x.requiresGrad {
                let grad = try base.inputGradient(dy)
                if p == 0 {
                    Gemm.sgemm(transA: false, transB: false, m: tokens, n: inFeatures, k: r, a: g.data, lda: r, b: a.data, ldb: inFeatures, beta: 1, c: grad.data, ldc: inFeatures)
                } else {
                    let update = Tensor(uninitialized: x.shape)
                    Gemm.sgemm(transA: false, transB: false, m: tokens, n: inFeatures, k: r, a: g.data, lda: r, b: a.data, ldb: inFeatures, c: update.data, ldc: inFeatures)
                    Kernels.dropout(update.data, update.data, count: update.count, p: p, seed: seed)
                    Kernels.binary(.add, grad, update, into: grad)
                }
                dx = grad
            }
            return [dx, dA, dB]
        }
    }
}
