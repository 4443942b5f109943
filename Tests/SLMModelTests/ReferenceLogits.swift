import SLMModel
import SLMTensor

extension Transformer {
    /// The logits [T, V] of one sequence of token ids, computed without a tape.
    func promptLogits(_ ids: [Int32]) throws -> Tensor {
        try GradMode.withoutGrad { try logits(try hiddenStates(ids, batch: 1, sequence: ids.count)) }
    }
}

/// The largest |out − reference| for logits [T, V] against rows recorded by transformers.
func worstDifference(_ out: Tensor, _ reference: [[Float]]) -> Float {
    let v = reference[0].count
    var worst: Float = 0
    for (t, row) in reference.enumerated() {
        for (j, value) in row.enumerated() { worst = max(worst, abs(out.data[t * v + j] - value)) }
    }
    return worst
}
