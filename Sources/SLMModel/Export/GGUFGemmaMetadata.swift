/// The keys llama.cpp's converter (Gemma3Model) adds for a Gemma 3 text model beside the llama-like
/// ones `GGUFLlamaMetadata` writes (`rope.freq_base` and `rope.scaling.*` are the full-attention layers'):
/// ```
/// gemma3.attention.sliding_window u32
/// gemma3.rope.freq_base_swa f32                 the sliding layers' rotary base
/// gemma3.attention.sliding_window_pattern [bool] one per layer, only when the layers do not follow
///                                               llama.cpp's default (every 6th layer full attention)
/// ```
enum GGUFGemmaMetadata {
    static func keys(_ config: ModelConfig, hf: HuggingFaceConfig) -> [(key: String, value: GGUFValue)] {
        guard let gemma = config.gemma, let window = config.slidingWindow else { return [] }
        var keys: [(key: String, value: GGUFValue)] = [
            ("gemma3.attention.sliding_window", .uint32(UInt32(window))),
            ("gemma3.rope.freq_base_swa", .float32(Float(hf.slidingAttentionRopeTheta))),
        ]
        if gemma.slidingLayers != GemmaLayout.slidingLayers(count: config.layers, pattern: 6) {
            keys.append(("gemma3.attention.sliding_window_pattern", .array(gemma.slidingLayers.map(GGUFValue.bool))))
        }
        return keys
    }

    /// Refuses what llama.cpp's gemma3 cannot compute as transformers does: it scales attention by
    /// head_dim^-½ (by (hidden / heads)^-½ for the 62-layer 27B) and keeps no query_pre_attn_scalar, and
    /// without a window it gives every layer the full-attention rotary base.
    static func checkExpressible(_ config: ModelConfig, file: String) throws {
        guard let gemma = config.gemma else { return }
        let assumed = config.layers == 62 ? config.hiddenSize / config.heads : config.headDim
        guard gemma.queryPreAttentionScalar == Double(assumed) else {
            throw FormatError(
                file: file, field: "query_pre_attn_scalar",
                "\(gemma.queryPreAttentionScalar), but llama.cpp's gemma3 scales attention by \(assumed)^-½ for this shape, so the GGUF file would give other logits")
        }
        if config.slidingWindow == nil, gemma.slidingLayers.contains(true) {
            throw FormatError(
                file: file, field: "sliding_window",
                "null with sliding_attention layers (their own rope base, no window): llama.cpp's gemma3 cannot express that")
        }
    }
}
