/// Which keys a query may see besides causality (key j ≤ query i, always on).
public struct AttentionMask: Sendable, Equatable {
    /// Key j is visible from query i iff 0 ≤ i − j < window (Mistral / Hugging Face semantics);
    /// nil: no window.
    public var slidingWindow: Int?
    /// One segment id per position, [B·T] in batch-major order, for packed samples: a query sees
    /// only keys whose id equals its own. nil: one segment per batch row.
    public var segments: [Int32]?

    public init(slidingWindow: Int? = nil, segments: [Int32]? = nil) {
        self.slidingWindow = slidingWindow
        self.segments = segments
    }

    /// Whether query i may attend to key j in batch row b of a length-T sequence.
    public func allows(query i: Int, key j: Int, batch b: Int, length t: Int) -> Bool {
        guard j <= i else { return false }
        if let w = slidingWindow, i - j >= w { return false }
        if let s = segments, s[b * t + i] != s[b * t + j] { return false }
        return true
    }
}

extension Tensor {
    /// Fused causal self-attention with grouped-query heads, FlashAttention-2 style.
    ///
    /// - q: [B, T, Hq, D], k and v: [B, T, Hkv, D] (a linear layer's output reshaped; no transposes).
    ///   Hq must be a multiple of Hkv; query head h reads kv head h / (Hq / Hkv).
    /// - scale: multiplies q·k before the softmax, usually 1/√D.
    /// - mask: sliding window and packed-sample segments, on top of causality.
    /// - Returns: [B, T, Hq, D], out[b, i, h] = Σ_j softmax_j(scale · q[b, i, h]·k[b, j, h/g]) v[b, j, h/g].
    ///
    /// Scores are made one tile at a time per worker thread, never a T×T matrix: 64 positions of
    /// the g = Hq / Hkv query heads that share a kv head (g·64 rows) against a span of at most 256
    /// keys, with an online softmax across spans when T is longer; key tiles that the mask hides
    /// entirely are skipped. The output and the per-row logsumexp [B, T, Hq] are kept for backward,
    /// which recomputes the score tiles (FlashAttention-2 backward with D_i = rowsum(dO ⊙ O)).
    public static func causalAttention(
        q: Tensor, k: Tensor, v: Tensor, scale: Float, mask: AttentionMask = .init()
    ) throws -> Tensor {
        let shape = try AttentionShape(validating: q, k, v, scale: scale, mask: mask)
        let tiling = AttentionTiling(shape, mask)
        let out = Tensor(uninitialized: q.shape)
        let lse = Tensor(uninitialized: [shape.batch, shape.length, shape.queryHeads])
        AttentionKernels.forward(q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, scale: scale, tiling: tiling)
        return try Tensor.record("causalAttention", out, inputs: [q, k, v]) { g in
            // dV = Pᵀ dO, dS = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O)), dQ = scale · dS K, dK = scale · dSᵀ Q
            let dq = q.requiresGrad ? Tensor(uninitialized: q.shape) : nil
            let dk = k.requiresGrad ? Tensor(uninitialized: k.shape) : nil
            let dv = v.requiresGrad ? Tensor(uninitialized: v.shape) : nil
            AttentionKernels.backward(
                q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, gradOut: g.data,
                dq: dq?.data, dk: dk?.data, dv: dv?.data, scale: scale, tiling: tiling)
            return [dq, dk, dv]
        }
    }
}
