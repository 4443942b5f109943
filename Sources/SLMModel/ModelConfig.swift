import SLMTensor

/// The hyper-parameters of a decoder-only transformer, in Hugging Face's terms.
public struct ModelConfig: Sendable {
    public var architecture: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var rmsNormEps: Float
    public var rope: RopeFrequencies
    public var maxPositions: Int
    public var tieWordEmbeddings: Bool
    /// Qwen2: q_proj, k_proj and v_proj add a bias (o_proj does not).
    public var attentionBias = false
    /// Qwen3: an RMSNorm over each head's query and key, before the rotary embedding.
    public var queryKeyNorm = false
    /// Mistral: a query sees only the `slidingWindow` latest positions, its own included; nil: all.
    public var slidingWindow: Int? = nil
    /// Phi-3: q/k/v come from one qkv_proj and gate/up from one gate_up_proj (see `DecoderLayerWeights`).
    public var fusedProjections = false
    /// Phi-3's LongRoPE (`rope` then holds the short-context frequencies), or nil.
    public var longRope: LongRope? = nil
    /// Gemma 3: the settings of `GemmaLayout`; nil for the Llama layout.
    public var gemma: GemmaLayout? = nil

    /// The configuration every layer shares (layer 0's when Gemma's layers differ: see `layer(_:)`).
    public var layer: DecoderLayerConfig {
        DecoderLayerConfig(
            hiddenSize: hiddenSize, heads: heads, kvHeads: kvHeads, headDim: headDim,
            intermediateSize: intermediateSize, rmsNormEps: rmsNormEps, rope: rope,
            attentionBias: attentionBias, queryKeyNorm: queryKeyNorm, slidingWindow: slidingWindow, longRope: longRope,
            gemma: gemma)
    }

    /// Layer `n`'s configuration: a Gemma 3 full-attention layer has no window and `rope`, a sliding
    /// one `slidingWindow` and `gemma.slidingRope`; every other model's layers are all `layer`.
    public func layer(_ n: Int) -> DecoderLayerConfig {
        var c = layer
        if let gemma {
            c.slidingWindow = gemma.slidingLayers[n] ? slidingWindow : nil
            c.rope = gemma.slidingLayers[n] ? gemma.slidingRope : rope
        }
        return c
    }
}

/// What sets Gemma 3 apart from the Llama layout (transformers' Gemma3TextConfig):
/// - every RMSNorm scales by 1 + w (w stored as in the checkpoint), the q/k norms and the final one included;
/// - four norms per layer: x + post_attention_layernorm(Attn(input_layernorm(x))), then
///   + post_feedforward_layernorm(MLP(pre_feedforward_layernorm(·)));
/// - the MLP is GeGLU with gelu's tanh approximation (gelu_pytorch_tanh), not SwiGLU;
/// - the token embeddings are multiplied by √hidden_size;
/// - attention scores are scaled by query_pre_attn_scalar^-½ instead of head_dim^-½;
/// - layers alternate between sliding-window attention with their own rotary base
///   (rope_local_base_freq, unscaled) and full attention with `ModelConfig.rope` (rope_theta and its scaling).
public struct GemmaLayout: Sendable {
    public var queryPreAttentionScalar: Double
    /// Per layer: true for "sliding_attention" (transformers' layer_types), false for "full_attention".
    public var slidingLayers: [Bool]
    /// The rotary frequencies of the sliding layers.
    public var slidingRope: RopeFrequencies

    public init(queryPreAttentionScalar: Double, slidingLayers: [Bool], slidingRope: RopeFrequencies) {
        self.queryPreAttentionScalar = queryPreAttentionScalar
        self.slidingLayers = slidingLayers
        self.slidingRope = slidingRope
    }

    /// transformers' default `layer_types` for a `sliding_window_pattern` (6 in Gemma 3, which llama.cpp
    /// assumes too): every pattern-th layer is full attention, the others slide.
    public static func slidingLayers(count: Int, pattern: Int) -> [Bool] {
        (0..<count).map { ($0 + 1) % pattern != 0 }
    }
}
