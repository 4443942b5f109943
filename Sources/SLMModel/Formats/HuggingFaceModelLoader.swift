import Foundation
import SLMTensor

/// Builds a `Transformer` from a Hugging Face model folder, as `save_pretrained` writes it:
/// ```
/// config.json                          hyper-parameters (see HuggingFaceConfig)
/// model.safetensors                    all weights, or
/// model.safetensors.index.json         weight_map: tensor name → shard, plus
/// model-0000N-of-0000M.safetensors     the shards
/// tokenizer.json or tekken.json        optional; the tokenizer (BPETokenizer.tokenizerFile(inFolder:))
/// ```
/// Tensor names (transformers' Llama, [out, in] row-major, F32/F16/BF16):
/// `model.embed_tokens.weight`, `model.layers.N.input_layernorm.weight`,
/// `model.layers.N.self_attn.{q,k,v,o}_proj.weight`, `model.layers.N.post_attention_layernorm.weight`,
/// `model.layers.N.mlp.{gate,up,down}_proj.weight`, `model.norm.weight`, and `lm_head.weight` unless
/// `tie_word_embeddings`; Qwen2 adds `model.layers.N.self_attn.{q,k,v}_proj.bias`, Qwen3
/// `model.layers.N.self_attn.{q,k}_norm.weight`, Gemma 3 both those norms and
/// `model.layers.N.{pre,post}_feedforward_layernorm.weight`; Phi-3 has `model.layers.N.self_attn.qkv_proj.weight` and
/// `model.layers.N.mlp.gate_up_proj.weight` instead of q/k/v and gate/up. Any other tensor (a bias, a layer beyond num_hidden_layers) is an error
/// rather than silently ignored, except `rotary_emb.inv_freq` buffers and a tied `lm_head.weight`.
public enum HuggingFaceModelLoader {
    public static let configFile = "config.json"
    public static let tokenizerFile = "tokenizer.json"

    /// The model in `folder`, and its tokenizer when the folder has a tokenizer.json or tekken.json (whose
    /// vocabulary must have one token per embedding row).
    public static func load(folder: String) throws -> (model: Transformer, tokenizer: BPETokenizer?) {
        let folderURL = URL(fileURLWithPath: folder)
        let configPath = folderURL.appendingPathComponent(configFile).path
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw FormatError(file: folder, field: nil, "has no \(configFile) (not a Hugging Face model folder)")
        }
        let config = try HuggingFaceConfig.load(path: configPath).modelConfig(file: configPath)
        let checkpoint = try SafetensorsCheckpoint(folder: folder)  // headers only; weights are read below

        // The tokenizer is checked before the weights are converted, so a mismatch fails fast.
        var tokenizer: BPETokenizer?
        if let tokenizerPath = BPETokenizer.tokenizerFile(inFolder: folder) {
            let loaded = try BPETokenizer.load(tokenizerFile: tokenizerPath)
            let embedding = checkpoint.locate("model.embed_tokens.weight")
            let rows = embedding?.info.shape.first ?? config.vocabSize
            guard loaded.vocabularySize == rows else {  // (rows ≠ vocab_size is the weights' error, below)
                throw FormatError(
                    file: tokenizerPath, field: BPETokenizer.vocabularyField(tokenizerFile: tokenizerPath),
                    "\(loaded.vocabularySize) tokens (with added_tokens), but \(configPath) has vocab_size \(config.vocabSize) "
                        + "and model.embed_tokens.weight in \(embedding?.file.path ?? checkpoint.source) has \(rows) rows")
            }
            tokenizer = loaded
        }
        return (try load(checkpoint, config: config, configPath: configPath), tokenizer)
    }

    /// The transformer whose weights `checkpoint` holds, with the hyper-parameters of `config`.
    public static func load(_ checkpoint: SafetensorsCheckpoint, config: ModelConfig, configPath: String) throws -> Transformer {
        var expected: Set<String> = []
        func weight(_ name: String, _ shape: [Int]) throws -> Tensor {
            expected.insert(name)
            guard let (file, info) = checkpoint.locate(name) else {
                let reason = name == "lm_head.weight" ? "tie_word_embeddings is false"
                    : name.hasSuffix(".bias") || name.hasSuffix("_norm.weight") || name.contains("feedforward") || config.fusedProjections
                        ? "model_type is \(config.architecture)"
                    : "num_hidden_layers is \(config.layers)"
                throw FormatError(file: checkpoint.source, field: name, "tensor missing (\(configPath) needs it: \(reason))")
            }
            guard info.shape == shape else {
                throw FormatError(file: file.path, field: name, "shape \(info.shape) does not match \(shape) from \(configPath)")
            }
            return try file.floats(info)
        }
        let layers = try (0..<config.layers).map { n in
            let c = config.layer(n), p = "model.layers.\(n)."
            if config.fusedProjections {
                let weights = DecoderLayerWeights(
                    inputLayernorm: try weight(p + "input_layernorm.weight", [c.hiddenSize]),
                    qkvProj: try weight(p + "self_attn.qkv_proj.weight", [(c.heads + 2 * c.kvHeads) * c.headDim, c.hiddenSize]),
                    oProj: try weight(p + "self_attn.o_proj.weight", [c.hiddenSize, c.heads * c.headDim]),
                    postAttentionLayernorm: try weight(p + "post_attention_layernorm.weight", [c.hiddenSize]),
                    gateUpProj: try weight(p + "mlp.gate_up_proj.weight", [2 * c.intermediateSize, c.hiddenSize]),
                    downProj: try weight(p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize]))
                return DecoderLayer(config: c, weights: weights)
            }
            let weights = DecoderLayerWeights(
                inputLayernorm: try weight(p + "input_layernorm.weight", [c.hiddenSize]),
                qProj: try weight(p + "self_attn.q_proj.weight", [c.heads * c.headDim, c.hiddenSize]),
                kProj: try weight(p + "self_attn.k_proj.weight", [c.kvHeads * c.headDim, c.hiddenSize]),
                vProj: try weight(p + "self_attn.v_proj.weight", [c.kvHeads * c.headDim, c.hiddenSize]),
                oProj: try weight(p + "self_attn.o_proj.weight", [c.hiddenSize, c.heads * c.headDim]),
                postAttentionLayernorm: try weight(p + "post_attention_layernorm.weight", [c.hiddenSize]),
                gateProj: try weight(p + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize]),
                upProj: try weight(p + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize]),
                downProj: try weight(p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize]),
                qBias: c.attentionBias ? try weight(p + "self_attn.q_proj.bias", [c.heads * c.headDim]) : nil,
                kBias: c.attentionBias ? try weight(p + "self_attn.k_proj.bias", [c.kvHeads * c.headDim]) : nil,
                vBias: c.attentionBias ? try weight(p + "self_attn.v_proj.bias", [c.kvHeads * c.headDim]) : nil,
                qNorm: c.queryKeyNorm ? try weight(p + "self_attn.q_norm.weight", [c.headDim]) : nil,
                kNorm: c.queryKeyNorm ? try weight(p + "self_attn.k_norm.weight", [c.headDim]) : nil,
                preFeedforwardLayernorm: c.gemma != nil ? try weight(p + "pre_feedforward_layernorm.weight", [c.hiddenSize]) : nil,
                postFeedforwardLayernorm: c.gemma != nil ? try weight(p + "post_feedforward_layernorm.weight", [c.hiddenSize]) : nil)
            return DecoderLayer(config: c, weights: weights)
        }
        let embed = try weight("model.embed_tokens.weight", [config.vocabSize, config.hiddenSize])
        let norm = try weight("model.norm.weight", [config.hiddenSize])
        let head = config.tieWordEmbeddings ? nil : try weight("lm_head.weight", [config.vocabSize, config.hiddenSize])
        if config.tieWordEmbeddings { expected.insert("lm_head.weight") }

        for name in checkpoint.names where !expected.contains(name) && !name.hasSuffix("rotary_emb.inv_freq") {
            let file = checkpoint.locate(name)!.file.path
            if name.hasPrefix("model.layers."), let n = Int(name.dropFirst("model.layers.".count).prefix { $0 != "." }), n >= config.layers {
                throw FormatError(file: file, field: name, "layer \(n) is beyond num_hidden_layers \(config.layers) in \(configPath)")
            }
            throw FormatError(file: file, field: name, "a \(config.architecture) model has no such tensor (it would be ignored, so the model would be wrong)")
        }
        return Transformer(config: config, embedTokens: embed, layers: layers, norm: norm, lmHead: head)
    }
}

/// One entry point for every model format slm reads.
public enum ModelLoader {
    /// A Hugging Face model folder (config.json + safetensors, and tokenizer.json when present), or a
    /// GGUF file (its tokenizer from the `tokenizer.ggml.*` metadata when present).
    /// `keepQuantized`: a GGUF file's quantized projections stay quantized (see `GGUFModelLoader`).
    public static func load(path: String, keepQuantized: Bool = false) throws -> (model: Transformer, tokenizer: BPETokenizer?) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(file: path, field: nil, "does not exist")
        }
        if isDirectory.boolValue {
            guard !keepQuantized else { throw FormatError(file: path, field: nil, "only GGUF weights can stay quantized; this is a safetensors folder") }
            return try HuggingFaceModelLoader.load(folder: path)
        }
        let name = URL(fileURLWithPath: path).lastPathComponent
        if name.hasSuffix(".safetensors") || name.hasSuffix(".json") {
            throw FormatError(file: path, field: nil, "pass the model folder that holds this file (config.json and safetensors weights), or a .gguf file")
        }
        let file = try GGUFFile(path: path)
        let model = try GGUFModelLoader.load(file, keepQuantized: keepQuantized)
        let tokenizer = file["tokenizer.ggml.model"] == nil ? nil : try BPETokenizer.load(gguf: file)
        return (model, tokenizer)
    }

    /// The chat template the model declares (Jinja text): GGUF metadata `tokenizer.chat_template`, or
    /// `chat_template` in a folder's tokenizer_config.json, or its chat_template.jinja; nil when it has none.
    public static func declaredChatTemplate(path: String) throws -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(file: path, field: nil, "does not exist")
        }
        guard isDirectory.boolValue else { return try GGUFFile(path: path)["tokenizer.chat_template"]?.string }
        let config = try JSONObjectFile.readIfPresent(path + "/tokenizer_config.json") ?? [:]
        return try GGUFLlamaMetadata.chatTemplate(folder: URL(fileURLWithPath: path), tokenizerConfig: config)
    }
}
