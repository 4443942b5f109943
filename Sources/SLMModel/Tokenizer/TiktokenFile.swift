import Foundation

extension BPETokenizer {
    /// Llama 3's special tokens, ids 128000 onwards after its 128000 ranks (llama-models'
    /// `llama3/tokenizer.py`): `<|begin_of_text|>`, `<|end_of_text|>`, …, `<|reserved_special_token_N|>`.
    public static let llama3SpecialTokens: [String] = {
        let named = [
            "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
            "<|eot_id|>", "<|python_tag|>", "<|image|>",
        ]
        return named + (0..<(256 - named.count)).map { "<|reserved_special_token_\($0 + 2)|>" }
    }()

    /// Loads a tiktoken BPE file (Llama 3's original `tokenizer.model`), one token a line:
    /// ```
    /// IQ== 0          base64 of the token's bytes, a space, its rank (= its id)
    /// Ig== 1
    /// ```
    /// It is byte-level BPE: a pair merges when both halves' bytes together are a token, the lowest
    /// rank first. `specialTokens` follow the ranks as special added tokens; the first is BOS and
    /// put first when encoding with `addSpecial`, the second EOS (Llama 3's order).
    public static func load(tiktoken path: String, preTokenizer: PreTokenizer, specialTokens: [String]) throws -> BPETokenizer {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw FormatError(file: path, field: nil, "cannot read: \(error.localizedDescription)")
        }
        var tokens: [String?] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let bytes = Data(base64Encoded: String(parts[0])), let rank = Int(parts[1]), rank >= 0, rank < 10_000_000 else {
                throw FormatError(file: path, field: "line \(n + 1)", "expected \"<base64 token> <rank>\"")
            }
            if rank >= tokens.count { tokens += [String?](repeating: nil, count: rank + 1 - tokens.count) }
            tokens[rank] = ByteLevel.encode(bytes)
        }
        if let hole = tokens.firstIndex(where: { $0 == nil }) { throw FormatError(file: path, field: "rank \(hole)", "no token has this rank; ranks must be contiguous") }
        let base = tokens.map { $0! }
        let added = specialTokens.enumerated().map { AddedToken(content: $1, id: Int32(base.count + $0), special: true) }
        var ids = [String: Int32](minimumCapacity: base.count)
        for (i, t) in base.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        return try BPETokenizer(
            tokens: base + specialTokens, alphabet: .byteLevel(preTokenizer), mergePairs: nil,
            scores: base.indices.map { -Float($0) } + specialTokens.map { _ in -Float.infinity },
            added: added, bosTokenId: added.first?.id, eosTokenId: added.dropFirst().first?.id, unknownTokenId: nil,
            addsBOS: !added.isEmpty, ignoreMerges: true, source: path, mergesField: "ranks")
    }
}
