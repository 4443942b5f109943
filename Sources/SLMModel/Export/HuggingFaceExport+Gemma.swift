import Foundation

extension HuggingFaceExport {
    /// The config.json of a Gemma 3 text model exported from a gemma3 GGUF, in transformers 5's keys:
    /// ```
    /// "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_activation": "gelu_pytorch_tanh",
    /// "query_pre_attn_scalar": …, "sliding_window": … (or null), "layer_types": ["sliding_attention", …],
    /// "rope_parameters": { "full_attention":    { "rope_type": "default" | "linear", "factor": …, "rope_theta": freq_base },
    ///                      "sliding_attention": { "rope_type": "default", "rope_theta": freq_base_swa } },
    /// "final_logit_softcapping": null, "attn_logit_softcapping": null, and the sizes as for Llama
    /// ```
    static func gemmaConfig(_ base: ExportBase, dtype: SafetensorsWriter.DType, tied: Bool) throws -> [String: Any] {
        let c = try base.model.config
        func metadata(_ key: String) -> GGUFValue? { base.metadata.first { $0.key == "gemma3.\(key)" }?.value }
        var full: [String: Any] = ["rope_type": "default", "rope_theta": metadata("rope.freq_base")?.double ?? 10_000]
        if metadata("rope.scaling.type")?.string == "linear", let factor = metadata("rope.scaling.factor")?.double {
            full["rope_type"] = "linear"
            full["factor"] = factor
        }
        let sliding: [String: Any] = ["rope_type": "default", "rope_theta": metadata("rope.freq_base_swa")?.double ?? 10_000]
        var config: [String: Any] = [
            "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize,
            "intermediate_size": c.intermediateSize, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
            "num_key_value_heads": c.kvHeads, "head_dim": c.headDim, "hidden_activation": "gelu_pytorch_tanh",
            "rms_norm_eps": Double(c.rmsNormEps), "max_position_embeddings": c.maxPositions, "tie_word_embeddings": tied,
            "query_pre_attn_scalar": c.gemma?.queryPreAttentionScalar ?? Double(c.headDim),
            "sliding_window": c.slidingWindow.map { $0 as Any } ?? NSNull(),
            "layer_types": (c.gemma?.slidingLayers ?? []).map { $0 ? "sliding_attention" : "full_attention" },
            "rope_parameters": ["full_attention": full, "sliding_attention": sliding],
            "attention_bias": false, "final_logit_softcapping": NSNull(), "attn_logit_softcapping": NSNull(),
            "dtype": dtype.torchName,
        ]
        for (key, gguf) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")] {
            if let id = metadataInt(base, "tokenizer.ggml.\(gguf)_token_id") { config[key] = id }
        }
        return config
    }
}
