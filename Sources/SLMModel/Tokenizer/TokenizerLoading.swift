import Foundation

extension BPETokenizer {
    /// Loads a Hugging Face `tokenizer.json` whose model is byte-level BPE.
    ///
    /// Read: `model.vocab` (token → id), `model.merges` ("a b" strings or [a, b] pairs),
    /// `added_tokens` (id, content, special), and `pre_tokenizer`, which must be one slm
    /// knows: ByteLevel (GPT-2 words), Digits(individual) + ByteLevel (SmolLM2), or a
    /// Split with Llama 3's or Qwen 2's pattern followed by ByteLevel.
    public static func load(tokenizerJSON path: String) throws -> BPETokenizer {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(file: path, field: nil, "cannot read: \(error.localizedDescription)")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw FormatError(file: path, field: nil, "not a JSON object")
        }
        guard let model = root["model"] as? [String: Any] else { throw FormatError(file: path, field: "model", "missing") }
        guard (model["type"] as? String) == "BPE" else {
            throw FormatError(file: path, field: "model.type", "\(model["type"] ?? "nil") is not supported here (byte-level BPE is)")
        }
        guard let vocab = model["vocab"] as? [String: Int] else { throw FormatError(file: path, field: "model.vocab", "missing or not a token → id map") }
        var tokens = [String?](repeating: nil, count: (vocab.values.max() ?? -1) + 1)
        for (token, id) in vocab {
            guard id >= 0, id < 10_000_000 else { throw FormatError(file: path, field: "model.vocab[\(token)]", "id \(id) out of range") }
            tokens[id] = token
        }
        var added: [String: (id: Int32, special: Bool)] = [:]
        for (n, entry) in ((root["added_tokens"] as? [[String: Any]]) ?? []).enumerated() {
            guard let id = entry["id"] as? Int, let content = entry["content"] as? String, id >= 0, id < 10_000_000 else {
                throw FormatError(file: path, field: "added_tokens[\(n)]", "needs an id and a content")
            }
            if id >= tokens.count { tokens += [String?](repeating: nil, count: id + 1 - tokens.count) }
            tokens[id] = content
            added[content] = (Int32(id), entry["special"] as? Bool ?? false)
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
        let preTokenizer = try PreTokenizer(huggingFace: root["pre_tokenizer"], file: path)
        let config = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json"))) as? [String: Any]
        func specialId(_ key: String) -> Int32? {
            let value = config?[key]
            let text = (value as? String) ?? ((value as? [String: Any])?["content"] as? String)
            return text.flatMap { added[$0]?.id ?? vocab[$0].map(Int32.init) }
        }
        return try BPETokenizer(
            tokens: tokens.map { $0! }, merges: merges, addedTokens: added, preTokenizer: preTokenizer,
            bosTokenId: specialId("bos_token"), eosTokenId: specialId("eos_token"),
            unknownTokenId: (model["unk_token"] as? String).flatMap { vocab[$0].map(Int32.init) }, source: path)
    }

    /// Loads the tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata (model "gpt2").
    public static func load(gguf file: GGUFFile) throws -> BPETokenizer {
        let path = file.path
        guard let model = file["tokenizer.ggml.model"]?.string else { throw FormatError(file: path, field: "tokenizer.ggml.model", "missing") }
        guard model == "gpt2" else {
            throw FormatError(file: path, field: "tokenizer.ggml.model", "\"\(model)\" is not supported here (byte-level BPE, \"gpt2\", is)")
        }
        guard let tokenValues = file["tokenizer.ggml.tokens"]?.array else { throw FormatError(file: path, field: "tokenizer.ggml.tokens", "missing") }
        let tokens = try tokenValues.enumerated().map { n, v in
            guard let s = v.string else { throw FormatError(file: path, field: "tokenizer.ggml.tokens[\(n)]", "not a string") }
            return s
        }
        let types = file["tokenizer.ggml.token_type"]?.array?.map { $0.integer ?? 1 } ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw FormatError(file: path, field: "tokenizer.ggml.token_type", "\(types.count) types for \(tokens.count) tokens")
        }
        var added: [String: (id: Int32, special: Bool)] = [:]
        for (id, type) in types.enumerated() where type == 3 || type == 4 {  // 3 control, 4 user-defined
            added[tokens[id]] = (Int32(id), type == 3)
        }
        let merges: [(String, String)] = try (file["tokenizer.ggml.merges"]?.array ?? []).enumerated().map { n, v in
            guard let text = v.string, let space = text.firstIndex(of: " ") else {
                throw FormatError(file: path, field: "tokenizer.ggml.merges[\(n)]", "expected \"a b\"")
            }
            return (String(text[..<space]), String(text[text.index(after: space)...]))
        }
        let pre = file["tokenizer.ggml.pre"]?.string ?? "default"
        let preTokenizer: PreTokenizer
        switch pre {
        case "smollm": preTokenizer = PreTokenizer(pattern: .gpt2, isolateDigits: true)
        case "llama-bpe", "llama3": preTokenizer = PreTokenizer(pattern: .llama3)
        case "qwen2": preTokenizer = PreTokenizer(pattern: .qwen2)
        case "gpt-2", "gpt2", "default": preTokenizer = PreTokenizer(pattern: .gpt2)
        default: throw FormatError(file: path, field: "tokenizer.ggml.pre", "pre-tokenizer \"\(pre)\" is not supported (smollm, llama-bpe, qwen2, gpt-2 are)")
        }
        func specialId(_ key: String) -> Int32? { file[key]?.integer.map(Int32.init) }
        return try BPETokenizer(
            tokens: tokens, merges: merges, addedTokens: added, preTokenizer: preTokenizer,
            bosTokenId: specialId("tokenizer.ggml.bos_token_id"), eosTokenId: specialId("tokenizer.ggml.eos_token_id"), source: path)
    }
}

extension PreTokenizer {
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Recognises the `pre_tokenizer` section of a tokenizer.json.
    init(huggingFace json: Any?, file: String) throws {
        let unsupported = FormatError(file: file, field: "pre_tokenizer", "this pre-tokenizer is not supported (ByteLevel, Digits + ByteLevel, or a Llama 3 / Qwen 2 Split + ByteLevel are)")
        guard let section = json as? [String: Any], let type = section["type"] as? String else { throw unsupported }
        let stages = type == "Sequence" ? (section["pretokenizers"] as? [[String: Any]] ?? []) : [section]
        let kinds = stages.compactMap { $0["type"] as? String }
        switch kinds {
        case ["ByteLevel"]:
            self.init(pattern: .gpt2)
        case ["Digits", "ByteLevel"] where stages[0]["individual_digits"] as? Bool == true:
            self.init(pattern: .gpt2, isolateDigits: true)
        case ["Split", "ByteLevel"]:
            let regex = (stages[0]["pattern"] as? [String: Any])?["Regex"] as? String
            if regex == Self.llama3Regex { self.init(pattern: .llama3) }
            else if regex == Self.qwen2Regex { self.init(pattern: .qwen2) }
            else { throw unsupported }
        default:
            throw unsupported
        }
    }
}
