extension BPETokenizer {
    /// Loads the tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata, as llama.cpp's
    /// converter writes it:
    /// ```
    /// tokenizer.ggml.model        "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE)
    /// tokenizer.ggml.tokens       [string]   one per id
    /// tokenizer.ggml.token_type   [i32]      1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    /// tokenizer.ggml.merges       ["a b"]    gpt2: in rank order
    /// tokenizer.ggml.scores       [f32]      llama: merges rank by the merged token's score
    /// tokenizer.ggml.pre          string     gpt2: the word splitting (smollm, llama-bpe, qwen2, gpt-4o, tekken, gpt-2)
    /// tokenizer.ggml.add_space_prefix bool   llama: "▁" before each piece of text (default true)
    /// tokenizer.ggml.{bos,eos,unknown}_token_id u32, tokenizer.ggml.add_bos_token bool
    /// ```
    /// Unknown, control and user-defined tokens are matched verbatim in text (control ones are special).
    public static func load(gguf file: GGUFFile) throws -> BPETokenizer {
        let path = file.path
        guard let model = file["tokenizer.ggml.model"]?.string else { throw FormatError(file: path, field: "tokenizer.ggml.model", "missing") }
        guard model == "gpt2" || model == "llama" else {
            throw FormatError(file: path, field: "tokenizer.ggml.model", "\"\(model)\" is not supported (\"gpt2\", byte-level BPE, and \"llama\", SentencePiece BPE, are)")
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
        func specialId(_ key: String) -> Int32? { file[key]?.integer.map(Int32.init) }
        func flag(_ key: String) -> Bool? { if case .bool(let b)? = file[key] { b } else { nil } }
        if model == "llama" {
            guard let scoreValues = file["tokenizer.ggml.scores"]?.array else { throw FormatError(file: path, field: "tokenizer.ggml.scores", "missing (a \"llama\" vocabulary merges by score)") }
            let scores = try scoreValues.enumerated().map { n, v in
                guard let s = v.double else { throw FormatError(file: path, field: "tokenizer.ggml.scores[\(n)]", "not a number") }
                return Float(s)
            }
            let prefix = flag("tokenizer.ggml.add_space_prefix") ?? true
            return try sentencePiece(
                tokens: tokens, scores: scores, types: types.isEmpty ? [Int](repeating: 1, count: tokens.count) : types,
                metaspace: Metaspace(prefix: prefix ? .alwaysEvenBeforeSpace : .never, decodeStripsLeadingSpace: prefix),
                bosTokenId: specialId("tokenizer.ggml.bos_token_id"), eosTokenId: specialId("tokenizer.ggml.eos_token_id"),
                unknownTokenId: specialId("tokenizer.ggml.unknown_token_id"), addsBOS: flag("tokenizer.ggml.add_bos_token") ?? true,
                source: path, fields: (scores: "tokenizer.ggml.scores", types: "tokenizer.ggml.token_type"))
        }
        var added: [AddedToken] = []
        for (id, type) in types.enumerated() where type == 3 || type == 4 {  // 3 control, 4 user-defined
            added.append(AddedToken(content: tokens[id], id: Int32(id), special: type == 3))
        }
        let merges: [(String, String)] = try (file["tokenizer.ggml.merges"]?.array ?? []).enumerated().map { n, v in
            guard let text = v.string, let space = text.firstIndex(of: " ") else {
                throw FormatError(file: path, field: "tokenizer.ggml.merges[\(n)]", "expected \"a b\"")
            }
            return (String(text[..<space]), String(text[text.index(after: space)...]))
        }
        let preTokenizer = try PreTokenizer(llamaCppName: file["tokenizer.ggml.pre"]?.string ?? "default", file: path)
        return try BPETokenizer(
            tokens: tokens, alphabet: .byteLevel(preTokenizer), mergePairs: merges, added: added,
            bosTokenId: specialId("tokenizer.ggml.bos_token_id"), eosTokenId: specialId("tokenizer.ggml.eos_token_id"),
            unknownTokenId: nil, addsBOS: flag("tokenizer.ggml.add_bos_token") ?? false,
            ignoreMerges: preTokenizer.pattern == .llama3 || preTokenizer.pattern == .tekken,  // as llama.cpp does (and HF's tokenizer.json says)
            source: path, mergesField: "tokenizer.ggml.merges")
    }

    /// A SentencePiece BPE vocabulary (GGUF "llama", `.model` files): pieces with scores and
    /// SentencePiece's types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    /// Byte tokens turn on byte fallback; unknown, control and user-defined pieces are matched in text.
    static func sentencePiece(
        tokens: [String], scores: [Float], types: [Int], metaspace: Metaspace, bosTokenId: Int32?, eosTokenId: Int32?,
        unknownTokenId: Int32?, addsBOS: Bool, source: String, fields: (scores: String, types: String)
    ) throws -> BPETokenizer {
        guard scores.count == tokens.count else { throw FormatError(file: source, field: fields.scores, "\(scores.count) scores for \(tokens.count) tokens") }
        guard types.count == tokens.count else { throw FormatError(file: source, field: fields.types, "\(types.count) types for \(tokens.count) tokens") }
        var added: [AddedToken] = []
        for (id, type) in types.enumerated() where (2...4).contains(type) {
            added.append(AddedToken(content: tokens[id], id: Int32(id), special: type != 4))
        }
        let byteTokens = types.enumerated().filter { $0.element == 6 }.count
        guard byteTokens == 0 || byteTokens == 256 else {
            throw FormatError(file: source, field: fields.types, "\(byteTokens) byte tokens (type 6); byte fallback needs all 256")
        }
        return try BPETokenizer(
            tokens: tokens, alphabet: .sentencePiece(metaspace), mergePairs: nil, scores: scores, byteFallback: byteTokens == 256,
            added: added, bosTokenId: bosTokenId, eosTokenId: eosTokenId,
            unknownTokenId: unknownTokenId ?? types.firstIndex(of: 2).map(Int32.init), addsBOS: addsBOS, fuseUnknown: true,
            source: source, mergesField: fields.scores)
    }
}

extension PreTokenizer {
    /// llama.cpp's names (`tokenizer.ggml.pre`) of the word splittings of the families slm reads:
    /// SmolLM2 "smollm", Llama 3 "llama-bpe" (older files "llama3", "llama-v3"), Qwen 2/2.5/3 "qwen2",
    /// Phi-4-mini "gpt-4o", Mistral Nemo and later (Tekken) "tekken", GPT-2 "gpt-2" (and "default").
    static let llamaCppNames: [(name: String, preTokenizer: PreTokenizer)] = [
        ("smollm", PreTokenizer(pattern: .gpt2, isolateDigits: true)),
        ("llama-bpe", PreTokenizer(pattern: .llama3)), ("llama3", PreTokenizer(pattern: .llama3)), ("llama-v3", PreTokenizer(pattern: .llama3)),
        ("qwen2", PreTokenizer(pattern: .qwen2)),
        ("gpt-4o", PreTokenizer(pattern: .o200k)),
        ("tekken", PreTokenizer(pattern: .tekken)),
        ("gpt-2", PreTokenizer(pattern: .gpt2)), ("gpt2", PreTokenizer(pattern: .gpt2)), ("default", PreTokenizer(pattern: .gpt2)),
    ]

    /// The word splitting llama.cpp calls `name`; an error naming the file and `tokenizer.ggml.pre` for others.
    init(llamaCppName name: String, file: String) throws {
        guard let known = Self.llamaCppNames.first(where: { $0.name == name }) else {
            let names = Self.llamaCppNames.map(\.name).joined(separator: ", ")
            throw FormatError(file: file, field: "tokenizer.ggml.pre", "pre-tokenizer \"\(name)\" is not supported (\(names) are)")
        }
        self = known.preTokenizer
    }

    /// The name llama.cpp knows this word splitting by (the first of `llamaCppNames` that is it).
    public var llamaCppName: String { Self.llamaCppNames.first { $0.preTokenizer == self }?.name ?? "gpt-2" }
}
