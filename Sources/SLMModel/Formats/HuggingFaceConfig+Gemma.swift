import SLMTensor

/// The keys of transformers' Gemma3TextConfig (`model_type` "gemma3_text") beside Llama's:
/// ```
/// "hidden_activation": "gelu_pytorch_tanh",   "query_pre_attn_scalar": 256,
/// "sliding_window": 512,                       (null: the sliding layers see everything)
/// "layer_types": ["sliding_attention", …, "full_attention", …],   or, older,
/// "sliding_window_pattern": 6,                 (every 6th layer full; also the default)
/// "rope_parameters": {                                                          transformers 5.x
///   "full_attention":    { "rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0 },
///   "sliding_attention": { "rope_type": "default", "rope_theta": 10000.0 } },
/// "rope_theta": 1000000.0, "rope_scaling": {…}, "rope_local_base_freq": 10000.0,   transformers 4.x
/// "final_logit_softcapping": null, "attn_logit_softcapping": null, "use_bidirectional_attention": false
/// ```
/// Defaults as Gemma3TextConfig's: head_dim 256, tie_word_embeddings true, rope_theta 1,000,000 for
/// full-attention layers and 10,000 for sliding ones. Soft-capping (Gemma 2's) and bidirectional
/// attention (EmbeddingGemma's) are refused rather than ignored.
extension HuggingFaceConfig {
    struct GemmaSettings {
        var layout: GemmaLayout
        var fullRope: RopeFrequencies
        var window: Int?
    }

    func gemmaLayout(layers: Int, headDim: Int, file: String) throws -> GemmaSettings {
        func fail(_ key: String, _ message: String) -> FormatError { FormatError(file: file, field: key, message) }
        if let act = hiddenActivation, act != "gelu_pytorch_tanh" {
            throw fail("hidden_activation", "\"\(act)\" is not supported (gelu_pytorch_tanh is)")
        }
        if let cap = finalLogitSoftcapping { throw fail("final_logit_softcapping", "\(cap): soft-capped logits are not supported (Gemma 3 has none: null)") }
        if let cap = attnLogitSoftcapping { throw fail("attn_logit_softcapping", "\(cap): soft-capped attention is not supported (Gemma 3 has none: null)") }
        if useBidirectionalAttention == true { throw fail("use_bidirectional_attention", "bidirectional attention is not supported (a causal language model has false)") }

        let scalar = queryPreAttnScalar ?? 256
        guard scalar > 0, scalar.isFinite else { throw fail("query_pre_attn_scalar", "must be > 0, got \(scalar)") }
        if let slidingWindow, slidingWindow <= 0 { throw fail("sliding_window", "must be > 0, got \(slidingWindow)") }

        let sliding: [Bool]
        if let layerTypes {
            guard layerTypes.count == layers else {
                throw fail("layer_types", "\(layerTypes.count) entries for num_hidden_layers \(layers)")
            }
            sliding = try layerTypes.enumerated().map { n, type in
                switch type {
                case "sliding_attention": return true
                case "full_attention": return false
                default: throw fail("layer_types[\(n)]", "\"\(type)\" is not sliding_attention or full_attention")
                }
            }
        } else {
            let pattern = slidingWindowPattern ?? 6
            guard pattern > 0 else { throw fail("sliding_window_pattern", "must be > 0, got \(pattern)") }
            sliding = GemmaLayout.slidingLayers(count: layers, pattern: pattern)
        }

        let full: RopeFrequencies, local: RopeFrequencies
        if let parameters = ropeParameters {
            guard parameters.fullAttention != nil || parameters.slidingAttention != nil else {
                throw fail("rope_parameters", "expected one set per layer type (full_attention, sliding_attention)")
            }
            full = try layerTypeRope(parameters.fullAttention?.value, theta: 1_000_000, key: "rope_parameters.full_attention", headDim: headDim, file: file)
            local = try layerTypeRope(parameters.slidingAttention?.value, theta: 10_000, key: "rope_parameters.sliding_attention", headDim: headDim, file: file)
        } else {
            var global = self
            global.ropeTheta = ropeTheta ?? 1_000_000
            full = try global.rope(rotaryDim: headDim, maxPositions: maxPositionEmbeddings ?? 2048, file: file).0
            local = try layerTypeRope(nil, theta: ropeLocalBaseFreq ?? 10_000, key: "rope_local_base_freq", headDim: headDim, file: file)
        }
        return GemmaSettings(
            layout: GemmaLayout(queryPreAttentionScalar: scalar, slidingLayers: sliding, slidingRope: local),
            fullRope: full, window: slidingWindow)
    }

    /// The rotary base and scaling of the full-attention layers: Gemma 3's `rope_parameters.full_attention`
    /// (5.x) or top-level `rope_theta` and `rope_scaling` (4.x, default base 1,000,000); for other models
    /// the one set there is.
    var fullAttentionRope: (theta: Double?, scaling: RopeScaling?) {
        guard modelType == "gemma3_text" else { return (ropeParameters?.ropeTheta ?? ropeTheta, ropeParameters ?? ropeScaling) }
        if let parameters = ropeParameters { return (parameters.fullAttention?.value.ropeTheta ?? 1_000_000, parameters.fullAttention?.value) }
        return (ropeTheta ?? 1_000_000, ropeScaling)
    }

    /// Gemma 3's sliding layers' rotary base: `rope_parameters.sliding_attention.rope_theta` (5.x) or
    /// `rope_local_base_freq` (4.x), default 10,000.
    var slidingAttentionRopeTheta: Double {
        ropeParameters?.slidingAttention?.value.ropeTheta ?? ropeLocalBaseFreq ?? 10_000
    }

    /// One layer type's rotary frequencies (`parameters` nil: the default kind with base `theta`), through
    /// `rope(rotaryDim:maxPositions:file:)` so that its checks apply; errors name the key under `key`.
    private func layerTypeRope(_ parameters: RopeScaling?, theta: Double, key: String, headDim: Int, file: String) throws -> RopeFrequencies {
        var one = HuggingFaceConfig()
        one.ropeParameters = parameters ?? RopeScaling(ropeType: "default")
        if one.ropeParameters?.ropeTheta == nil { one.ropeParameters?.ropeTheta = theta }
        do {
            return try one.rope(rotaryDim: headDim, maxPositions: maxPositionEmbeddings ?? 2048, file: file).0
        } catch let error as FormatError {
            let field = error.field.map { $0.replacingOccurrences(of: "rope_parameters", with: key) }
            throw FormatError(file: error.file, field: field, error.message)
        }
    }
}
