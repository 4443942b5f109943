import SLMTensor

extension Transformer {
    /// Every dense weight with its Hugging Face name ("model.layers.0.self_attn.q_proj.weight", Qwen2's
    /// "….q_proj.bias", Qwen3's and Gemma's "….self_attn.q_norm.weight", Phi-3's "….self_attn.qkv_proj.weight",
    /// Gemma's "….pre_feedforward_layernorm.weight"), in a fixed order. Quantized projections and projections wrapped in LoRA are not dense and not listed.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        var named: [(String, Tensor)] = [("model.embed_tokens.weight", embedTokens)]
        for (n, layer) in layers.enumerated() {
            let w = layer.weights
            let projections = w.projections.map { ($0.module, w[keyPath: $0.path]) }
            let attention = projections.filter { $0.0.hasPrefix("self_attn.") }, mlp = projections.filter { $0.0.hasPrefix("mlp.") }
            let entries: [(String, any LinearWeight)] = [("input_layernorm", w.inputLayernorm)] + attention
                + [("post_attention_layernorm", w.postAttentionLayernorm)] + mlp
            for (module, weight) in entries {
                if let tensor = weight as? Tensor { named.append(("model.layers.\(n).\(module).weight", tensor)) }
            }
            let optional: [(String, Tensor?)] = [
                ("self_attn.q_proj.bias", w.qBias), ("self_attn.k_proj.bias", w.kBias), ("self_attn.v_proj.bias", w.vBias),
                ("self_attn.q_norm.weight", w.qNorm), ("self_attn.k_norm.weight", w.kNorm),
                ("pre_feedforward_layernorm.weight", w.preFeedforwardLayernorm),
                ("post_feedforward_layernorm.weight", w.postFeedforwardLayernorm),
            ]
            for case let (name, tensor?) in optional { named.append(("model.layers.\(n).\(name)", tensor)) }
        }
        named.append(("model.norm.weight", norm))
        if lmHead !== embedTokens { named.append(("lm_head.weight", lmHead)) }
        return named
    }

    /// All trainable tensors, in a fixed order.
    public var parameters: [Tensor] { namedParameters.map(\.tensor) }
}
