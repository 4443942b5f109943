import Foundation
import SLMTensor

/// Writes a model (adapters merged) as a Hugging Face folder that transformers and vLLM load:
/// ```
/// config.json              the base's own (dtype updated), or built from GGUF metadata: LlamaForCausalLM
///                          (Qwen2/Qwen3/Mistral/Phi3ForCausalLM for those families; Phi-3's LongRoPE as rope_scaling),
///                          hidden_size, num_*, head_dim, rms_norm_eps, rope_theta (+ linear rope_scaling, or
///                          Llama 3's recovered from rope_freqs.weight: `Llama3RopeScaling`),
///                          max_position_embeddings, tie_word_embeddings, vocab_size, bos/eos_token_id
///                          (Gemma3ForCausalLM's keys for a gemma3 GGUF: `gemmaConfig`)
/// model.safetensors        transformers' Llama names ([out, in]) in F32, F16 or BF16
/// tokenizer.json           the base's own, or built from GGUF's vocabulary, merges and pre-tokenizer name
/// tokenizer_config.json    the base's own, or bos/eos/unk/pad tokens and the chat template
/// generation_config.json   the base's own, or bos/eos (and pad) token ids
/// ```
/// A Hugging Face base also keeps its chat_template.jinja and SentencePiece tokenizer.model (llama.cpp's
/// converter takes the scores and token types from it; without it every score is -1000). The folder is
/// written under a temporary name and renamed when complete (`AtomicFolder`): a killed export leaves nothing under its name,
/// and an earlier export there (these files only) is replaced.
public enum HuggingFaceExport {
    /// The files an export folder may hold.
    public static let files: Set<String> = [
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja",
        "tokenizer.model",
    ]

    public static func write(_ base: ExportBase, dtype: SafetensorsWriter.DType, to path: String) throws {
        try AtomicFolder.write(to: path, replaceable: files) { folder in try write(base, dtype: dtype, into: folder) }
    }

    private static func write(_ base: ExportBase, dtype: SafetensorsWriter.DType, into folder: String) throws {
        let model = try base.model
        var entries = [SafetensorsWriter.Entry(name: "model.embed_tokens.weight", shape: model.embedTokens.shape) { model.embedTokens }]
        for (n, layer) in model.layers.enumerated() {
            let w = layer.weights, p = "model.layers.\(n)."
            entries.append(.init(name: p + "input_layernorm.weight", shape: w.inputLayernorm.shape) { w.inputLayernorm })
            entries.append(.init(name: p + "post_attention_layernorm.weight", shape: w.postAttentionLayernorm.shape) { w.postAttentionLayernorm })
            for (module, path) in w.projections {
                let weight = w[keyPath: path]
                entries.append(.init(name: p + module + ".weight", shape: weight.shape) { try weight.denseWeight() })
            }
            let optional: [(String, Tensor?)] = [
                ("self_attn.q_proj.bias", w.qBias), ("self_attn.k_proj.bias", w.kBias), ("self_attn.v_proj.bias", w.vBias),
                ("self_attn.q_norm.weight", w.qNorm), ("self_attn.k_norm.weight", w.kNorm),
                ("pre_feedforward_layernorm.weight", w.preFeedforwardLayernorm),
                ("post_feedforward_layernorm.weight", w.postFeedforwardLayernorm),
            ]
            for case let (name, tensor?) in optional { entries.append(.init(name: p + name, shape: tensor.shape) { tensor }) }
        }
        entries.append(.init(name: "model.norm.weight", shape: model.norm.shape) { model.norm })
        let tied = model.lmHead === model.embedTokens
        if !tied { entries.append(.init(name: "lm_head.weight", shape: model.lmHead.shape) { model.lmHead }) }
        try SafetensorsWriter.write(entries, metadata: ["format": "pt"], dtype: dtype, to: folder + "/model.safetensors")

        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: base.path, isDirectory: &isDirectory), isDirectory.boolValue {
            var config = try JSONObjectFile.readIfPresent(base.path + "/config.json") ?? [:]
            config["torch_dtype"] = nil
            config["dtype"] = dtype.torchName
            try writeJSON(config, to: folder + "/config.json")
            for name in ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja", "tokenizer.model"] {
                let source = base.path + "/" + name
                guard FileManager.default.fileExists(atPath: source) else { continue }
                guard let data = FileManager.default.contents(atPath: source) else { throw FormatError(file: source, field: nil, "cannot read") }
                try AtomicFile.write(data, to: folder + "/" + name)
            }
            if !FileManager.default.fileExists(atPath: folder + "/generation_config.json") {
                try writeJSON(generationConfig(base), to: folder + "/generation_config.json")
            }
            return
        }
        try writeJSON(try config(base, dtype: dtype, tied: tied), to: folder + "/config.json")
        try writeJSON(tokenizerJSON(base.tokenizer), to: folder + "/tokenizer.json")
        try writeJSON(tokenizerConfig(base), to: folder + "/tokenizer_config.json")
        try writeJSON(generationConfig(base), to: folder + "/generation_config.json")
    }

    static func metadataInt(_ base: ExportBase, _ key: String) -> Int? { base.metadata.first { $0.key == key }?.value.integer }

    static func config(_ base: ExportBase, dtype: SafetensorsWriter.DType, tied: Bool) throws -> [String: Any] {
        let c = try base.model.config
        if c.gemma != nil { return try gemmaConfig(base, dtype: dtype, tied: tied) }
        let theta = base.metadata.first { $0.key == "\(c.architecture).rope.freq_base" }?.value.double ?? 10_000
        let family = ["qwen2": "Qwen2", "qwen3": "Qwen3", "mistral": "Mistral", "phi3": "Phi3"][c.architecture] ?? "Llama"
        var llama3: [String: Any]?
        if let factors = base.ropeFactors {
            llama3 = Llama3RopeScaling.recover(factors: factors, theta: theta, headDim: c.headDim)
            guard llama3 != nil else {
                throw FormatError(
                    file: base.path, field: "rope_freqs.weight",
                    "these rope factors are not Llama 3 scaling with low_freq_factor 1 and high_freq_factor 4, so config.json's rope_scaling cannot be rebuilt; export from the Hugging Face folder instead")
            }
        }
        var config: [String: Any] = [
            "architectures": ["\(family)ForCausalLM"], "model_type": family.lowercased(), "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize,
            "intermediate_size": c.intermediateSize, "num_hidden_layers": c.layers, "num_attention_heads": c.heads,
            "num_key_value_heads": c.kvHeads, "head_dim": c.headDim, "hidden_act": "silu", "rms_norm_eps": Double(c.rmsNormEps),
            "max_position_embeddings": c.maxPositions, "tie_word_embeddings": tied, "rope_theta": theta, "attention_bias": false,
            "mlp_bias": false, "dtype": dtype.torchName,
        ]
        if c.architecture == "qwen2" { config["attention_bias"] = nil }
        if let window = c.slidingWindow { config["sliding_window"] = window }
        if base.metadata.first(where: { $0.key == "\(c.architecture).rope.scaling.type" })?.value.string == "linear",
           let factor = base.metadata.first(where: { $0.key == "\(c.architecture).rope.scaling.factor" })?.value.double {
            config["rope_scaling"] = ["rope_type": "linear", "factor": factor]
        }
        if let llama3 { config["rope_scaling"] = llama3 }
        for (key, gguf) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")] {
            if let id = metadataInt(base, "tokenizer.ggml.\(gguf)_token_id") { config[key] = id }
        }
        if c.architecture == "phi3" { phi3(c, base: base, into: &config) }
        return config
    }

    /// Phi3Config's own keys (transformers 4.x layout, which 5.x reads too): partial_rotary_factor,
    /// original_max_position_embeddings, and LongRoPE's rope_scaling {type longrope, short_factor,
    /// long_factor, attention_factor when it is not the one transformers derives}; no bias keys; token
    /// ids the metadata lacks written as null (Phi3Config's defaults, 1 and 32000, lie outside a small vocabulary).
    static func phi3(_ c: ModelConfig, base: ExportBase, into config: inout [String: Any]) {
        config["attention_bias"] = nil
        config["mlp_bias"] = nil
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] where config[key] == nil { config[key] = NSNull() }
        config["partial_rotary_factor"] = Double(c.rope.rotaryDim) / Double(c.headDim)
        let original = metadataInt(base, "phi3.rope.scaling.original_context_length") ?? c.longRope?.originalMaxPositions ?? c.maxPositions
        config["original_max_position_embeddings"] = original
        guard let longRope = c.longRope else { return }
        var scaling: [String: Any] = ["type": "longrope", "short_factor": longRope.shortFactors, "long_factor": longRope.longFactors]
        let derived = LongRope.attentionFactor(factor: Double(c.maxPositions) / Double(original), originalMaxPositions: original)
        if abs(c.rope.attentionScaling - derived) > 1e-6 { scaling["attention_factor"] = c.rope.attentionScaling }
        config["rope_scaling"] = scaling
    }

    static func generationConfig(_ base: ExportBase) -> [String: Any] {
        var config: [String: Any] = [:]
        if let id = base.tokenizer.bosTokenId { config["bos_token_id"] = Int(id) }
        if let id = base.tokenizer.eosTokenId { config["eos_token_id"] = Int(id) }
        if let id = metadataInt(base, "tokenizer.ggml.padding_token_id") { config["pad_token_id"] = id }
        return config
    }

    static func tokenizerConfig(_ base: ExportBase) throws -> [String: Any] {
        var config: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": try base.model.config.maxPositions]
        let tokens = base.tokenizer.tokens
        for (key, gguf) in [("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"), ("pad_token", "padding")] {
            if let id = metadataInt(base, "tokenizer.ggml.\(gguf)_token_id"), id >= 0, id < tokens.count { config[key] = tokens[id] }
        }
        if let add = base.metadata.first(where: { $0.key == "tokenizer.ggml.add_bos_token" })?.value, case .bool(let b) = add { config["add_bos_token"] = b }
        if let template = base.chatTemplate { config["chat_template"] = template }
        return config
    }

    /// A tokenizer.json in the `tokenizers` library's format: byte-level BPE, or SentencePiece-style
    /// BPE with byte fallback (`Metaspace`'s sections).
    static func tokenizerJSON(_ tokenizer: BPETokenizer) -> [String: Any] {
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        var normalizer: Any = NSNull()
        var pre: Any
        var decoder: [String: Any] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
        var postProcessor: Any = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true]
        switch tokenizer.alphabet {
        case .byteLevel(let p) where p.pattern == .gpt2 && p.isolateDigits:
            pre = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
        case .byteLevel(let p):
            if let regex = p.pattern.regex {
                pre = ["type": "Sequence", "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
                ]]
            } else {
                pre = byteLevel
            }
        case .sentencePiece(let m):
            let space = String(Metaspace.space)
            let replace: [String: Any] = ["type": "Replace", "pattern": ["String": " "], "content": space]
            if m.prefix == .alwaysEvenBeforeSpace {
                normalizer = ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": space], replace]]
                pre = NSNull()
            } else if m.replacesSpaces {
                pre = ["type": "Metaspace", "replacement": space, "prepend_scheme": m.prefix.rawValue, "split": m.split]
            } else {
                pre = NSNull()
            }
            var steps: [[String: Any]] = [["type": "Replace", "pattern": ["String": space], "content": " "], ["type": "ByteFallback"], ["type": "Fuse"]]
            if m.decodeStripsLeadingSpace { steps.append(["type": "Strip", "content": " ", "start": 1, "stop": 0]) }
            decoder = ["type": "Sequence", "decoders": steps]
            postProcessor = NSNull()
        }
        var vocab: [String: Int] = [:]
        for (id, token) in tokenizer.tokens.enumerated() where vocab[token] == nil { vocab[token] = id }
        let added = tokenizer.addedTokens.sorted { $0.value.id < $1.value.id }.map { content, entry -> [String: Any] in
            ["id": Int(entry.id), "content": content, "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": entry.special]
        }
        return [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": normalizer,
            "pre_tokenizer": pre, "post_processor": postProcessor, "decoder": decoder,
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": tokenizer.unknownTokenId.map { tokenizer.tokens[Int($0)] as Any } ?? NSNull(),
                "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": tokenizer.fusesUnknown,
                "byte_fallback": !tokenizer.byteFallbackIds.isEmpty, "ignore_merges": tokenizer.ignoresMerges,
                "vocab": vocab, "merges": tokenizer.mergePairs.map { [$0.0, $0.1] },
            ] as [String: Any],
        ]
    }

    static func writeJSON(_ object: [String: Any], to path: String) throws {
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), to: path)
    }
}
