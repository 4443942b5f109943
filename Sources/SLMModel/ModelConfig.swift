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

    public var layer: DecoderLayerConfig {
        DecoderLayerConfig(
            hiddenSize: hiddenSize, heads: heads, kvHeads: kvHeads, headDim: headDim,
            intermediateSize: intermediateSize, rmsNormEps: rmsNormEps, rope: rope)
    }
}
