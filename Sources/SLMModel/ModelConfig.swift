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

    public var layer: DecoderLayerConfig {
        DecoderLayerConfig(
            hiddenSize: hiddenSize, heads: heads, kvHeads: kvHeads, headDim: headDim,
            intermediateSize: intermediateSize, rmsNormEps: rmsNormEps, rope: rope,
            attentionBias: attentionBias, queryKeyNorm: queryKeyNorm, slidingWindow: slidingWindow, longRope: longRope)
    }
}
