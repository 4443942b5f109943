extension Kernels {
    /// The distillation loss's divergence at one position against a top-k teacher, for a caller
    /// that already holds the student's logits (the evaluator's agreement with a teacher cache):
    /// the same arithmetic `Tensor.lossHead` uses (`topKTeacherRow`), without a gradient.
    ///
    /// - logits: the student's logits [V] at the position; overwritten (used as scratch).
    /// - ids, logprobs: the teacher's k slots there (id -1: an unused slot; every id < V).
    /// - Returns `divergence`, D between the (tempered) bucket distributions (k ids, plus the
    ///   remaining mass as one bucket for `.tailBucket`; forward KL at T = 1 by default), and
    ///   `trueKL`, Σ over the teacher's ids of q·log(q/p) with the student's full-vocabulary p.
    public static func topKDivergence(
        logits: UnsafeMutablePointer<Float>, vocab: Int, ids: UnsafePointer<Int32>, logprobs: UnsafePointer<Float>, k: Int,
        tail: TopKTail = .tailBucket, temperature: Float = 1, divergence: Divergence = .forwardKL
    ) -> (divergence: Double, trueKL: Double) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * (k + 1)) { scratch in
            let row = topKTeacherRow(
                logits, vocab: vocab, label: nil, scales: RowScales(ce: 0, kd: 0), ids: ids, logprobs: logprobs, k: k, tail: tail,
                temperature: temperature, divergence: DivergenceKernel(divergence), writeGrad: false, scratch: scratch.baseAddress!)
            return (row.divergence, row.trueKL)
        }
    }
}
