extension Tensor {
    /// Causal attention of N new queries against a key/value cache: the incremental (decoding and
    /// prefill) twin of `causalAttention`, for inference only (no gradient).
    ///
    /// - q: [N, Hq, D], the queries of the tokens at positions start..<start+N.
    /// - keys, values: [maxT, Hkv, D] caches whose rows 0..<start+N are filled (row p holds position p,
    ///   the new tokens' own keys and values included). Hq must be a multiple of Hkv; query head h
    ///   reads kv head h / (Hq / Hkv).
    /// - scale: multiplies q·k before the softmax, usually 1/√D.
    /// - slidingWindow: a query at position p sees keys p − window < j ≤ p only (Mistral's); nil: all.
    /// - Returns: [N, Hq, D], out[i, h] = Σ_{j ≤ start+i} softmax_j(scale · q[i, h]·k[j, h/g]) v[j, h/g].
    ///
    /// One new token is a GEMV-shaped problem per head (a row of scores, then a weighted sum of
    /// value rows), done with SIMD loops; tiles of many new tokens (prefill) use sgemm. Heads and
    /// query tiles are spread over `Parallel.threads` workers.
    public static func decodeAttention(q: Tensor, keys: Tensor, values: Tensor, start: Int, scale: Float, slidingWindow: Int? = nil) throws -> Tensor {
        let shape = try DecodeAttentionShape(validating: q, keys, values, start: start, scale: scale, window: slidingWindow)
        if GradMode.isEnabled, q.requiresGrad || keys.requiresGrad || values.requiresGrad {
            throw TensorError(op: "decodeAttention", "has no backward; run it under GradMode.withoutGrad (use causalAttention to train)")
        }
        let out = Tensor(uninitialized: q.shape)
        DecodeAttentionKernels.forward(q: q.data, k: keys.data, v: values.data, out: out.data, scale: scale, shape: shape)
        if EngineChecks.checkFinite { try out.requireFinite("decodeAttention", inputs: [q, keys, values]) }
        return out
    }
}
