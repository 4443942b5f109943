import Foundation

extension BPETokenizer {
    /// Loads a Hugging Face `tokenizer.json` whose model is BPE, byte-level or SentencePiece-style.
    ///
    /// Read: `model.vocab` (token → id), `model.merges` ("a b" strings or [a, b] pairs),
    /// `model.byte_fallback`, `fuse_unk`, `ignore_merges`, `unk_token`; `added_tokens` (id, content,
    /// special, lstrip, rstrip); and the text handling, which must be one slm knows:
    /// - byte-level: `pre_tokenizer` ByteLevel (GPT-2 words), Digits(individual) + ByteLevel
    ///   (SmolLM2), or a Split with Llama 3's or Qwen 2's pattern followed by ByteLevel;
    /// - SentencePiece-style (see `Metaspace`): `normalizer` Prepend("▁") / Replace(" ", "▁") /
    ///   Sequence of them / null, `pre_tokenizer` Metaspace or null, `decoder` Replace / ByteFallback /
    ///   Fuse / Strip or Metaspace.
    /// Beside it, tokenizer_config.json (when present) names `bos_token`, `eos_token` and `add_bos_token`;
    /// without `add_bos_token`, a `post_processor` that starts with a special token adds BOS.
    public static func load(tokenizerJSON path: String) throws -> BPETokenizer {
        let root = try JSONObjectFile.read(path)
        guard let model = root["model"] as? [String: Any] else { throw FormatError(file: path, field: "model", "missing") }
        guard (model["type"] as? String) == "BPE" else {
            throw FormatError(file: path, field: "model.type", "\(model["type"] ?? "nil") is not supported (BPE is: byte-level or SentencePiece-style with byte fallback)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key] as? String, !affix.isEmpty {
                throw FormatError(file: path, field: "model.\(key)", "\"\(affix)\" is not supported (only BPE without word affixes is)")
            }
        }
        if let dropout = model["dropout"] as? Double, dropout > 0 {
            throw FormatError(file: path, field: "model.dropout", "\(dropout): BPE dropout is for training tokenizers, not supported")
        }
        guard let vocab = model["vocab"] as? [String: Int] else { throw FormatError(file: path, field: "model.vocab", "missing or not a token → id map") }
        var tokens = [String?](repeating: nil, count: (vocab.values.max() ?? -1) + 1)
        for (token, id) in vocab {
            guard id >= 0, id < 10_000_000 else { throw FormatError(file: path, field: "model.vocab[\(token)]", "id \(id) out of range") }
            tokens[id] = token
        }
        var added: [AddedToken] = []
        for (n, entry) in ((root["added_tokens"] as? [[String: Any]]) ?? []).enumerated() {
            guard let id = entry["id"] as? Int, let content = entry["content"] as? String, id >= 0, id < 10_000_000 else {
                throw FormatError(file: path, field: "added_tokens[\(n)]", "needs an id and a content")
            }
            if id >= tokens.count { tokens += [String?](repeating: nil, count: id + 1 - tokens.count) }
            tokens[id] = content
            added.append(AddedToken(
                content: content, id: Int32(id), special: entry["special"] as? Bool ?? false,
                lstrip: entry["lstrip"] as? Bool ?? false, rstrip: entry["rstrip"] as? Bool ?? false))
        }
        if let hole = tokens.firstIndex(where: { $0 == nil }) {
            throw FormatError(file: path, field: "model.vocab", "no token has id \(hole); ids must be contiguous")
        }
        let merges: [(String, String)] = try ((model["merges"] as? [Any]) ?? []).enumerated().map { n, item in
            if let pair = item as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            if let text = item as? String, let space = text.firstIndex(of: " ") {
                return (String(text[..<space]), String(text[text.index(after: space)...]))
            }
            throw FormatError(file: path, field: "model.merges[\(n)]", "expected \"a b\" or [a, b]")
        }
        let byteFallback = model["byte_fallback"] as? Bool ?? false
        let alphabet: Alphabet
        if let metaspace = try Metaspace(huggingFace: root, file: path) {
            alphabet = .sentencePiece(metaspace)
        } else {
            if byteFallback { throw FormatError(file: path, field: "model.byte_fallback", "byte fallback with a byte-level pre-tokenizer is not supported") }
            alphabet = .byteLevel(try PreTokenizer(huggingFace: root["pre_tokenizer"], file: path))
        }
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
        let config = try JSONObjectFile.readIfPresent(configPath) ?? [:]
        let addedIds = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        func specialId(_ key: String) -> Int32? {
            let value = config[key]
            let text = (value as? String) ?? ((value as? [String: Any])?["content"] as? String)
            return text.flatMap { addedIds[$0] ?? vocab[$0].map(Int32.init) }
        }
        return try BPETokenizer(
            tokens: tokens.map { $0! }, alphabet: alphabet, mergePairs: merges, byteFallback: byteFallback, added: added,
            bosTokenId: specialId("bos_token"), eosTokenId: specialId("eos_token"),
            unknownTokenId: (model["unk_token"] as? String).flatMap { addedIds[$0] ?? vocab[$0].map(Int32.init) },
            addsBOS: GGUFLlamaMetadata.addsBOS(tokenizerConfig: config, tokenizerJSON: root),
            ignoreMerges: model["ignore_merges"] as? Bool ?? false, fuseUnknown: model["fuse_unk"] as? Bool ?? false,
            source: path, mergesField: "model.merges")
    }
}

extension Metaspace {
    /// The SentencePiece-style text handling of a tokenizer.json, or nil when its pre-tokenizer is
    /// not Metaspace or absent (a byte-level tokenizer).
    init?(huggingFace root: [String: Any], file: String) throws {
        let pre = root["pre_tokenizer"] as? [String: Any]
        var preStages = pre.map { $0["type"] as? String == "Sequence" ? ($0["pretokenizers"] as? [[String: Any]] ?? []) : [$0] } ?? []
        let normalizer = root["normalizer"] as? [String: Any]
        // Gemma's conversion splits at spaces after its normalizer has replaced them all: a no-op.
        let splitsAtReplacedSpaces = preStages.count == 1 && preStages[0]["type"] as? String == "Split"
            && (preStages[0]["pattern"] as? [String: Any])?["String"] as? String == " "
            && (normalizer?["type"] as? String == "Replace" || normalizer?["type"] as? String == "Sequence")
        if splitsAtReplacedSpaces { preStages = [] }
        guard preStages.allSatisfy({ $0["type"] as? String == "Metaspace" }), preStages.count <= 1 else { return nil }
        var replacesSpaces = false, prefix = Prefix.never, split = false
        let normStages = normalizer.map { $0["type"] as? String == "Sequence" ? ($0["normalizers"] as? [[String: Any]] ?? []) : [$0] } ?? []
        if preStages.isEmpty && normStages.isEmpty && (root["model"] as? [String: Any])?["byte_fallback"] as? Bool != true { return nil }
        for (n, stage) in normStages.enumerated() {
            let field = normalizer?["type"] as? String == "Sequence" ? "normalizer.normalizers[\(n)]" : "normalizer"
            switch stage["type"] as? String {
            case "Prepend" where stage["prepend"] as? String == String(Metaspace.space):
                prefix = .alwaysEvenBeforeSpace
            case "Replace" where (stage["pattern"] as? [String: Any])?["String"] as? String == " " && stage["content"] as? String == String(Metaspace.space):
                replacesSpaces = true
            default:
                throw FormatError(file: file, field: field, "\(stage["type"] ?? "nil") is not supported (Prepend(\"▁\") and Replace(\" \", \"▁\") are)")
            }
        }
        if splitsAtReplacedSpaces && !replacesSpaces {
            throw FormatError(file: file, field: "pre_tokenizer", "a Split at spaces is only supported after a normalizer that replaces them with \"▁\"")
        }
        if let stage = preStages.first {
            guard stage["replacement"] as? String ?? String(Metaspace.space) == String(Metaspace.space) else {
                throw FormatError(file: file, field: "pre_tokenizer.replacement", "only \"▁\" is supported")
            }
            replacesSpaces = true
            split = stage["split"] as? Bool ?? true
            let scheme = (stage["prepend_scheme"] as? String) ?? ((stage["add_prefix_space"] as? Bool ?? true) ? "always" : "never")
            guard let p = Prefix(rawValue: scheme), p != .alwaysEvenBeforeSpace else {
                throw FormatError(file: file, field: "pre_tokenizer.prepend_scheme", "\"\(scheme)\" is not one of first, always, never")
            }
            if prefix == .never { prefix = p }
        }
        self.init(replacesSpaces: replacesSpaces, prefix: prefix, split: split, decodeStripsLeadingSpace: try Self.decoderStrips(root["decoder"], file: file))
    }

    /// Whether the `decoder` section drops a leading space; throws for decoders slm does not follow.
    private static func decoderStrips(_ json: Any?, file: String) throws -> Bool {
        guard let decoder = json as? [String: Any] else { return false }
        let stages = decoder["type"] as? String == "Sequence" ? (decoder["decoders"] as? [[String: Any]] ?? []) : [decoder]
        var strips = false
        for (n, stage) in stages.enumerated() {
            let field = decoder["type"] as? String == "Sequence" ? "decoder.decoders[\(n)]" : "decoder"
            switch stage["type"] as? String {
            case "ByteFallback", "Fuse": break
            case "Replace" where (stage["pattern"] as? [String: Any])?["String"] as? String == String(Metaspace.space) && stage["content"] as? String == " ": break
            case "Strip" where stage["content"] as? String == " " && (stage["start"] as? Int ?? 0) <= 1 && (stage["stop"] as? Int ?? 0) == 0:
                strips = (stage["start"] as? Int ?? 0) == 1
            case "Metaspace":
                let scheme = (stage["prepend_scheme"] as? String) ?? ((stage["add_prefix_space"] as? Bool ?? true) ? "always" : "never")
                strips = scheme != "never"
            default:
                throw FormatError(file: file, field: field, "\(stage["type"] ?? "nil") is not supported (Replace(\"▁\", \" \"), ByteFallback, Fuse, Strip(\" \", 1, 0) and Metaspace are)")
            }
        }
        return strips
    }
}

extension PreTokenizer {
    /// Recognises the `pre_tokenizer` section of a tokenizer.json.
    init(huggingFace json: Any?, file: String) throws {
        let unsupported = FormatError(
            file: file, field: "pre_tokenizer",
            "this pre-tokenizer is not supported (ByteLevel, Digits + ByteLevel, a Split with Llama 3's, Qwen 2's, GPT-4o's (o200k) or Tekken's pattern + ByteLevel, or Metaspace are)")
        guard let section = json as? [String: Any], let type = section["type"] as? String else { throw unsupported }
        let stages = type == "Sequence" ? (section["pretokenizers"] as? [[String: Any]] ?? []) : [section]
        let kinds = stages.compactMap { $0["type"] as? String }
        switch kinds {
        case ["ByteLevel"]:
            self.init(pattern: .gpt2)
        case ["Digits", "ByteLevel"] where stages[0]["individual_digits"] as? Bool == true:
            self.init(pattern: .gpt2, isolateDigits: true)
        case ["Split", "ByteLevel"]:
            guard let regex = (stages[0]["pattern"] as? [String: Any])?["Regex"] as? String, let pattern = Pattern(regex: regex) else { throw unsupported }
            self.init(pattern: pattern)
        default:
            throw unsupported
        }
    }
}
