import Foundation
import SLMTensor

/// AdamW with exactly PyTorch's update (`torch.optim.AdamW`, non-fused, amsgrad off): decoupled
/// weight decay p ← p·(1 − lr·λ), then the bias-corrected Adam step
/// p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε), in that order of operations.
public final class AdamW {
    public struct Hyperparameters: Sendable, Equatable, Codable {
        /// Default 0.9 and 0.999, as PyTorch.
        public var beta1: Float = 0.9, beta2: Float = 0.999
        /// Default 1e-8.
        public var eps: Float = 1e-8
        /// Decoupled weight decay λ; default 0.01, as PyTorch's AdamW.
        public var weightDecay: Float = 0.01

        public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.eps = eps
            self.weightDecay = weightDecay
        }
    }

    public let parameters: [Tensor]
    public let hyperparameters: Hyperparameters
    /// First and second moments, one pair per parameter (PyTorch's exp_avg, exp_avg_sq).
    public private(set) var exp_avg: [Tensor]
    public private(set) var exp_avg_sq: [Tensor]
    /// Steps taken so far.
    public private(set) var step = 0

    public init(_ parameters: [Tensor], _ hyperparameters: Hyperparameters = .init()) {
        self.parameters = parameters
        self.hyperparameters = hyperparameters
        exp_avg = parameters.map { Tensor.zeros($0.shape) }
        exp_avg_sq = parameters.map { Tensor.zeros($0.shape) }
    }

    /// One update at learning rate `lr` from each parameter's `grad` (a parameter with none is skipped,
    /// as PyTorch skips it). Gradients are left in place; clear them with `zeroGrad()`.
    public func update(lr: Float) {
        step += 1
        let h = hyperparameters
        let biasCorrection1 = 1 - Float(pow(Double(h.beta1), Double(step)))
        let biasCorrection2Sqrt = Float(Double(1 - pow(Double(h.beta2), Double(step))).squareRoot())
        let stepSize = lr / biasCorrection1
        let decay = 1 - lr * h.weightDecay
        for (n, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let w = p.data, grad = g.data, m = exp_avg[n].data, v = exp_avg_sq[n].data
            Parallel.forEachChunk(p.count, minChunk: 1 << 14) { range in
                for i in range {
                    w[i] *= decay
                    m[i] += (grad[i] - m[i]) * (1 - h.beta1)  // lerp, as PyTorch
                    v[i] = v[i] * h.beta2 + (1 - h.beta2) * grad[i] * grad[i]
                    let denominator = v[i].squareRoot() / biasCorrection2Sqrt + h.eps
                    w[i] += -stepSize * m[i] / denominator
                }
            }
        }
    }

    public func zeroGrad() { parameters.forEach { $0.zeroGrad() } }

    /// Continues from saved state: `step` updates taken, and each parameter's two moments.
    public func restore(step: Int, expAvg: [Tensor], expAvgSq: [Tensor]) throws {
        guard step >= 0, expAvg.count == parameters.count, expAvgSq.count == parameters.count else {
            throw TensorError(op: "AdamW.restore", "state for \(expAvg.count)/\(expAvgSq.count) parameters at step \(step), optimizer has \(parameters.count)")
        }
        for (n, p) in parameters.enumerated() {
            guard expAvg[n].shape == p.shape, expAvgSq[n].shape == p.shape else {
                throw TensorError(op: "AdamW.restore", "moments \(expAvg[n].shape) / \(expAvgSq[n].shape) for parameter \(n) of shape \(p.shape)")
            }
            exp_avg[n].data.update(from: expAvg[n].data, count: p.count)
            exp_avg_sq[n].data.update(from: expAvgSq[n].data, count: p.count)
        }
        self.step = step
    }
}
