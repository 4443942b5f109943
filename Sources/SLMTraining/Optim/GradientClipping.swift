import SLMTensor

public enum GradientClipping {
    /// The L2 norm of all gradients together, accumulated in Double in parameter order.
    public static func globalNorm(_ parameters: [Tensor]) -> Double {
        var total = 0.0
        for p in parameters {
            guard let g = p.grad else { continue }
            for i in 0..<g.count { total += Double(g.data[i]) * Double(g.data[i]) }
        }
        return total.squareRoot()
    }

    /// Scales all gradients so their global norm is at most `maxNorm`, as `torch.nn.utils.clip_grad_norm_`
    /// (coefficient maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping;
    /// a NaN or infinite norm is returned as it is, with nothing scaled, so the caller can stop the run.
    @discardableResult
    public static func clip(_ parameters: [Tensor], maxNorm: Float) -> Double {
        let norm = globalNorm(parameters)
        guard norm.isFinite else { return norm }
        let coefficient = Float(Double(maxNorm) / (norm + 1e-6))
        guard coefficient < 1 else { return norm }
        for p in parameters {
            guard let g = p.grad else { continue }
            for i in 0..<g.count { g.data[i] *= coefficient }
        }
        return norm
    }
}
