import Foundation
import SLMTensor

/// The GGUF metadata of a model exported from a Hugging Face folder, as llama.cpp's
/// `convert_hf_to_gguf.py` writes it (a model that came as GGUF keeps its own metadata instead).
/// `llama` below stands for the architecture (`ModelConfig.ggufArchitecture`: llama, qwen2, qwen3, phi3
/// or gemma3, whose own keys are `GGUFGemmaMetadata`'s):
/// ```
/// general.architecture "llama"   general.type "model"   general.name (the folder's name)
/// llama.block_count, context_length, embedding_length, feed_forward_length         u32
/// llama.attention.head_count, head_count_kv                                          u32
/// llama.rope.freq_base, llama.attention.layer_norm_rms_epsilon                       f32
/// llama.attention.key_length, value_length          u32, when head_dim ≠ hidden / heads (gemma3: always)
/// llama.rope.scaling.type "linear", llama.rope.scaling.factor f32   (linear scaling; Llama 3
///                                      scaling is the rope_freqs.weight tensor instead)
/// llama.vocab_size, llama.rope.dimension_count (the rotary dimensions of a head)      u32
/// phi3 also: phi3.rope.scaling.original_context_length u32, phi3.attention.sliding_window u32 (0: none),
///            phi3.rope.scaling.attn_factor f32 (LongRoPE only; its factors are tensors, see `GGUFExport`)
/// tokenizer.ggml.model "gpt2"   tokenizer.ggml.pre (smollm | llama-bpe | qwen2 | gpt-2)   (byte-level BPE), or
/// tokenizer.ggml.model "llama"  tokenizer.ggml.scores [f32]                          (SentencePiece-style BPE)
/// tokenizer.ggml.tokens [string]   tokenizer.ggml.token_type [i32: 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte]
/// tokenizer.ggml.merges ["a b"] (gpt2, when there are any)   tokenizer.ggml.{bos,eos,unknown,padding}_token_id u32
/// tokenizer.ggml.add_space_prefix, add_bos_token bool   tokenizer.chat_template string
/// ```
/// Special tokens come from tokenizer_config.json (`bos_token`, …, as text), else config.json
/// (`bos_token_id`, …); the chat template from tokenizer_config.json or chat_template.jinja.
public enum GGUFLlamaMetadata {
    public static func huggingFace(folder: String, tokenizer: BPETokenizer) throws -> (metadata: [(key: String, value: GGUFValue)], ropeFactors: [Float]?) {
        let folderURL = URL(fileURLWithPath: folder)
        let configPath = folderURL.appendingPathComponent(HuggingFaceModelLoader.configFile).path
        let hf = try HuggingFaceConfig.load(path: configPath)
        let config = try hf.modelConfig(file: configPath)
        let tokenizerConfig = try JSONObjectFile.readIfPresent(folderURL.appendingPathComponent("tokenizer_config.json").path) ?? [:]
        let configJSON = try JSONObjectFile.readIfPresent(configPath) ?? [:]
        let tokenizerJSON = try JSONObjectFile.readIfPresent(folderURL.appendingPathComponent(HuggingFaceModelLoader.tokenizerFile).path) ?? [:]

        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(v)) }
        let a = config.ggufArchitecture
        var m: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.type", .string("model")),
            ("general.name", .string(folderURL.standardizedFileURL.lastPathComponent)),
            ("\(a).block_count", u32(config.layers)),
            ("\(a).context_length", u32(config.maxPositions)),
            ("\(a).embedding_length", u32(config.hiddenSize)),
            ("\(a).feed_forward_length", u32(config.intermediateSize)),
            ("\(a).attention.head_count", u32(config.heads)),
            ("\(a).attention.head_count_kv", u32(config.kvHeads)),
            ("\(a).rope.freq_base", .float32(Float(hf.fullAttentionRope.theta ?? 10_000))),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(config.rmsNormEps)),
        ]
        if config.headDim * config.heads != config.hiddenSize || config.gemma != nil {
            m += [("\(a).attention.key_length", u32(config.headDim)), ("\(a).attention.value_length", u32(config.headDim))]
        }
        var ropeFactors: [Float]?
        let scaling = hf.fullAttentionRope.scaling
        switch scaling?.ropeType ?? scaling?.type ?? "default" {
        case "linear":
            m += [("\(a).rope.scaling.type", .string("linear")), ("\(a).rope.scaling.factor", .float32(Float(scaling?.factor ?? 1)))]
        case "llama3":
            let theta = scaling?.ropeTheta ?? hf.ropeTheta ?? 10_000
            let standard = try RopeFrequencies.standard(base: theta, rotaryDim: config.headDim)
            ropeFactors = zip(standard.inverseFrequencies, config.rope.inverseFrequencies).map { Float($0 / $1) }
        default: break
        }
        if a == "phi3" {
            let original = scaling?.originalMaxPositionEmbeddings ?? hf.originalMaxPositionEmbeddings ?? config.maxPositions
            m += [("phi3.rope.scaling.original_context_length", u32(original)), ("phi3.attention.sliding_window", u32(hf.slidingWindow ?? 0))]
            if config.longRope != nil { m.append(("phi3.rope.scaling.attn_factor", .float32(Float(config.rope.attentionScaling)))) }
        }
        m += [("\(a).vocab_size", u32(config.vocabSize)), ("\(a).rope.dimension_count", u32(config.rope.rotaryDim))]
        if config.gemma != nil { m += GGUFGemmaMetadata.keys(config, hf: hf) }

        m += vocabularyEntries(tokenizer)
        for (kind, key) in [("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")] {
            if let id = specialTokenId(kind, tokenizerConfig: tokenizerConfig, config: configJSON, tokenizer: tokenizer) {
                m.append(("tokenizer.ggml.\(key)_token_id", u32(Int(id))))
            }
        }
        m += [
            ("tokenizer.ggml.add_space_prefix", .bool(addsSpacePrefix(tokenizer))),
            ("tokenizer.ggml.add_bos_token", .bool(addsBOS(tokenizerConfig: tokenizerConfig, tokenizerJSON: tokenizerJSON))),
        ]
        if let template = try chatTemplate(folder: folderURL, tokenizerConfig: tokenizerConfig) {
            m.append(("tokenizer.chat_template", .string(template)))
        }
        return (m, ropeFactors)
    }

    /// `tokenizer.ggml.model` and what it needs: byte-level BPE as "gpt2" with `pre` and `merges`,
    /// SentencePiece-style BPE as "llama" with `scores` (the vocabulary's own, or, from a merge list,
    /// minus the rank of the first merge that makes each token, so that merging by score repeats it).
    static func vocabularyEntries(_ tokenizer: BPETokenizer) -> [(key: String, value: GGUFValue)] {
        var m: [(key: String, value: GGUFValue)]
        switch tokenizer.alphabet {
        case .byteLevel(let pre):
            m = [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre.llamaCppName))]
        case .sentencePiece:
            m = [("tokenizer.ggml.model", .string("llama"))]
        }
        m += [
            ("tokenizer.ggml.tokens", .array(tokenizer.tokens.map(GGUFValue.string))),
            ("tokenizer.ggml.token_type", .array(tokenTypes(tokenizer).map(GGUFValue.int32))),
        ]
        let merges = tokenizer.mergePairs
        if case .sentencePiece = tokenizer.alphabet {
            var scores = tokenizer.scores ?? [Float](repeating: -Float(merges.count), count: tokenizer.vocabularySize)
            if tokenizer.scores == nil {
                for (rank, (a, b)) in merges.enumerated().reversed() {
                    if let id = tokenizer.id(of: a + b) { scores[Int(id)] = -Float(rank) }
                }
            }
            m.append(("tokenizer.ggml.scores", .array(scores.map(GGUFValue.float32))))
        } else if !merges.isEmpty {
            m.append(("tokenizer.ggml.merges", .array(merges.map { .string("\($0.0) \($0.1)") })))
        }
        return m
    }

    /// Whether llama.cpp should put "▁" before text (`tokenizer.ggml.add_space_prefix`).
    static func addsSpacePrefix(_ tokenizer: BPETokenizer) -> Bool {
        if case .sentencePiece(let m) = tokenizer.alphabet { return m.prefix != .never }
        return false
    }

    /// 1 normal, 2 unknown, 3 control (special added tokens), 4 user-defined (other added tokens), 6 byte (`<0xNN>`).
    static func tokenTypes(_ tokenizer: BPETokenizer) -> [Int32] {
        var types = [Int32](repeating: 1, count: tokenizer.vocabularySize)
        for id in tokenizer.byteFallbackIds { types[Int(id)] = 6 }
        for (_, entry) in tokenizer.addedTokens { types[Int(entry.id)] = entry.special ? 3 : 4 }
        if let unk = tokenizer.unknownTokenId, case .sentencePiece = tokenizer.alphabet { types[Int(unk)] = 2 }
        return types
    }

    static func specialTokenId(_ kind: String, tokenizerConfig: [String: Any], config: [String: Any], tokenizer: BPETokenizer) -> Int32? {
        let value = tokenizerConfig["\(kind)_token"]
        if let text = (value as? String) ?? ((value as? [String: Any])?["content"] as? String), let id = tokenizer.id(of: text) { return id }
        if let id = config["\(kind)_token_id"] as? Int, id >= 0, id < tokenizer.vocabularySize { return Int32(id) }
        return nil
    }

    /// tokenizer_config.json's `add_bos_token`, else whether tokenizer.json's post-processor puts a special token first.
    static func addsBOS(tokenizerConfig: [String: Any], tokenizerJSON: [String: Any]) -> Bool {
        if let explicit = tokenizerConfig["add_bos_token"] as? Bool { return explicit }
        guard let post = tokenizerJSON["post_processor"] as? [String: Any], post["type"] as? String == "TemplateProcessing",
              let single = post["single"] as? [[String: Any]], let first = single.first
        else { return false }
        return first["SpecialToken"] != nil
    }

    static func chatTemplate(folder: URL, tokenizerConfig: [String: Any]) throws -> String? {
        if let template = tokenizerConfig["chat_template"] as? String { return template }
        let path = folder.appendingPathComponent("chat_template.jinja").path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw FormatError(file: path, field: nil, "cannot read: \(error.localizedDescription)")
        }
    }

}
