import Foundation

extension BPETokenizer {
    /// The special tokens mistral-common gives a Tekken file that lists none (versions up to v7), ranks 0–19.
    public static let tekkenDefaultSpecialTokens = [
        "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
        "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]",
        "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]",
    ]

    /// Loads Mistral's Tekken tokenizer (`tekken.json`, as mistral-common's `Tekkenizer.from_file` reads it):
    /// ```
    /// {"config": {"pattern": "[^\\r\\n\\p{L}\\p{N}]?…",   word splitting (tiktoken's pat_str): Tekken's, or another PreTokenizer knows
    ///             "num_vocab_tokens": 150000,            entries in "vocab" (checked when present)
    ///             "default_vocab_size": 131072,           ids in all: special tokens, then the first ordinary ranks
    ///             "default_num_special_tokens": 1000,
    ///             "version": "v3"},
    ///  "vocab": [{"rank": 0, "token_bytes": "AA==", "token_str": "\u0000"}, …],   rank = position; base64 bytes;
    ///                                                                              ranks 0–255 are the single bytes
    ///  "special_tokens": [{"rank": 0, "token_str": "<unk>", "is_control": true}, …],   optional before v7 (then
    ///                                                                              `tekkenDefaultSpecialTokens`)
    ///  "image": {…}, "audio": {…}}                     not read
    /// ```
    /// Ids: special token of rank r is r; the rest up to `default_num_special_tokens` are "<SPECIAL_r>";
    /// ordinary rank r is `default_num_special_tokens + r`, for the first `default_vocab_size −
    /// default_num_special_tokens` ranks. It is byte-level BPE as tiktoken runs it: a word that is a token
    /// is that token, else the pair whose bytes together are the lowest-ranked token merges first.
    /// "<s>" is BOS and put first when encoding with `addSpecial` (as mistral-common's instruct tokenizer does), "</s>" EOS.
    public static func load(tekken path: String) throws -> BPETokenizer {
        let root = try JSONObjectFile.read(path)
        func fail(_ field: String, _ message: String) -> FormatError { FormatError(file: path, field: field, message) }
        guard let config = root["config"] as? [String: Any] else { throw fail("config", "missing or not an object") }
        guard let regex = config["pattern"] as? String else { throw fail("config.pattern", "missing or not a string") }
        guard let pattern = PreTokenizer.Pattern(regex: regex) else {
            throw fail("config.pattern", "not a word splitting slm knows (Tekken's, GPT-4o's, Llama 3's or Qwen 2's regular expression)")
        }
        guard let vocabSize = config["default_vocab_size"] as? Int, (257...10_000_000).contains(vocabSize) else {
            throw fail("config.default_vocab_size", "missing or not an integer from 257 to 10,000,000")
        }
        guard let specialCount = config["default_num_special_tokens"] as? Int, (0..<(vocabSize - 256)).contains(specialCount) else {
            throw fail("config.default_num_special_tokens", "missing or not an integer from 0 to default_vocab_size − 257 (\(vocabSize - 257))")
        }
        guard let vocab = root["vocab"] as? [Any] else { throw fail("vocab", "missing or not an array") }
        if let declared = config["num_vocab_tokens"], declared as? Int != vocab.count {
            throw fail("config.num_vocab_tokens", "\(declared), but vocab has \(vocab.count) entries")
        }
        let ordinaryCount = vocabSize - specialCount
        guard vocab.count >= ordinaryCount else {
            throw fail("vocab", "\(vocab.count) entries, but default_vocab_size \(vocabSize) less default_num_special_tokens \(specialCount) needs \(ordinaryCount)")
        }

        let specials = try tekkenSpecialTokens(root, config: config, count: specialCount, file: path)
        var ordinary: [String] = []
        ordinary.reserveCapacity(ordinaryCount)
        var seen = [String: Int](minimumCapacity: ordinaryCount)
        for (rank, item) in vocab.prefix(ordinaryCount).enumerated() {
            let field = "vocab[\(rank)]"
            guard let entry = item as? [String: Any] else { throw fail(field, "not an object") }
            guard entry["rank"] as? Int == rank else { throw fail(field + ".rank", "\(entry["rank"] ?? "nil"), expected \(rank): ranks are the entries' positions") }
            guard let base64 = entry["token_bytes"] as? String, let bytes = Data(base64Encoded: base64), !bytes.isEmpty else {
                throw fail(field + ".token_bytes", "not the base64 of one or more bytes")
            }
            if rank < 256, bytes != Data([UInt8(rank)]) { throw fail(field + ".token_bytes", "ranks 0–255 must be the single bytes 0–255") }
            let spelled = ByteLevel.encode(bytes)
            if let earlier = seen.updateValue(rank, forKey: spelled) { throw fail(field + ".token_bytes", "the same bytes as rank \(earlier)") }
            ordinary.append(spelled)
        }
        for (rank, special) in specials.enumerated() {
            if let clash = seen[special.text] { throw fail("special_tokens[\(rank)]", "\"\(special.text)\" is also ordinary rank \(clash)'s text") }
        }

        let added = specials.enumerated().map { AddedToken(content: $1.text, id: Int32($0), special: $1.control) }
        let specialId = { (text: String) in specials.firstIndex { $0.text == text }.map(Int32.init) }
        return try BPETokenizer(
            tokens: specials.map(\.text) + ordinary, alphabet: .byteLevel(PreTokenizer(pattern: pattern)), mergePairs: nil,
            scores: specials.map { _ in -Float.infinity } + ordinary.indices.map { -Float($0) },
            added: added, bosTokenId: specialId("<s>"), eosTokenId: specialId("</s>"), unknownTokenId: nil,
            addsBOS: true, ignoreMerges: true, source: path, mergesField: "vocab")
    }

    /// `special_tokens` (rank = position, unique non-empty `token_str`, `is_control`), or mistral-common's
    /// defaults for files before v7, then "<SPECIAL_r>" up to `count`.
    private static func tekkenSpecialTokens(_ root: [String: Any], config: [String: Any], count: Int, file: String) throws -> [(text: String, control: Bool)] {
        var specials: [(text: String, control: Bool)] = []
        if let list = root["special_tokens"] {
            guard let entries = list as? [Any], entries.count <= count else {
                throw FormatError(file: file, field: "special_tokens", "not an array of at most default_num_special_tokens (\(count)) entries")
            }
            for (rank, item) in entries.enumerated() {
                let field = "special_tokens[\(rank)]"
                guard let entry = item as? [String: Any] else { throw FormatError(file: file, field: field, "not an object") }
                guard entry["rank"] as? Int == rank else {
                    throw FormatError(file: file, field: field + ".rank", "\(entry["rank"] ?? "nil"), expected \(rank): ranks are the entries' positions")
                }
                guard let text = entry["token_str"] as? String, !text.isEmpty else { throw FormatError(file: file, field: field + ".token_str", "missing or empty") }
                guard entry["is_control"] == nil || entry["is_control"] is Bool else { throw FormatError(file: file, field: field + ".is_control", "not true or false") }
                specials.append((text, entry["is_control"] as? Bool ?? true))
            }
        } else {
            let version = (config["version"] as? String).flatMap { Int($0.dropFirst()) } ?? 0
            guard version <= 7 else {
                throw FormatError(file: file, field: "special_tokens", "missing; Tekken files after v7 must list their special tokens (config.version is \(config["version"] ?? "nil"))")
            }
            guard tekkenDefaultSpecialTokens.count <= count else {
                throw FormatError(file: file, field: "config.default_num_special_tokens", "\(count), fewer than the \(tekkenDefaultSpecialTokens.count) default special tokens")
            }
            specials = tekkenDefaultSpecialTokens.map { ($0, true) }
        }
        specials += (specials.count..<count).map { ("<SPECIAL_\($0)>", true) }
        var unique = Set<String>()
        for (rank, special) in specials.enumerated() where !unique.insert(special.text).inserted {
            throw FormatError(file: file, field: "special_tokens[\(rank)].token_str", "\"\(special.text)\" appears twice")
        }
        return specials
    }
}
