import Foundation
import Synchronization

/// A BPE tokenizer of either kind the model families use; the merging (`BPEMerges`) is shared and
/// only the way text becomes symbols, and tokens become bytes again, differs (`Alphabet`):
///
/// - byte-level (GPT-2, SmolLM2, Llama 3, Qwen 2/3, Phi-4): text is cut into words by the family's
///   pre-tokenizer and each word's UTF-8 bytes are spelled in GPT-2's byte alphabet;
/// - SentencePiece-style (Llama 2, Mistral, Gemma, Phi-3): spaces become "▁", a "▁" may be put first,
///   and characters are the symbols, those missing from the vocabulary spelled as `<0xNN>` byte tokens.
///
/// Added tokens (e.g. `<|im_start|>`, `[INST]`) are matched verbatim first and never merged into.
public final class BPETokenizer: Sendable {
    /// How text becomes the symbols that are merged.
    public enum Alphabet: Sendable, Equatable {
        case byteLevel(PreTokenizer)
        case sentencePiece(Metaspace)
    }

    /// A token matched verbatim in text before the model sees it. `lstrip` / `rstrip`: the
    /// whitespace before / after it belongs to it (tokenizer.json's flags of the same names).
    public struct AddedToken: Sendable {
        public var content: String
        public var id: Int32
        public var special: Bool
        public var lstrip: Bool
        public var rstrip: Bool
        public init(content: String, id: Int32, special: Bool, lstrip: Bool = false, rstrip: Bool = false) {
            self.content = content
            self.id = id
            self.special = special
            self.lstrip = lstrip
            self.rstrip = rstrip
        }
    }

    public let tokens: [String]
    public let alphabet: Alphabet
    /// Added tokens matched verbatim in text, and whether each is special (control) or not.
    public let addedTokens: [String: (id: Int32, special: Bool)]
    public let bosTokenId: Int32?
    public let eosTokenId: Int32?
    public let unknownTokenId: Int32?
    /// Whether encoding for the model puts `bosTokenId` first (tokenizer_config.json `add_bos_token`,
    /// a post-processor that starts with it, GGUF `tokenizer.ggml.add_bos_token`).
    public let addsBOS: Bool
    /// SentencePiece scores by id, when the vocabulary came with them (GGUF "llama", `.model` files).
    public let scores: [Float]?

    /// A word that is itself a token is that token, unmerged (tokenizer.json `ignore_merges`, Llama 3).
    public let ignoresMerges: Bool
    /// Runs of unknown characters become one unknown token (tokenizer.json `fuse_unk`).
    public let fusesUnknown: Bool

    private let ids: [String: Int32]
    private let merges: BPEMerges
    /// Byte-level: the token of each byte's symbol; SentencePiece: the `<0xNN>` tokens when the
    /// model falls back to bytes. nil where the vocabulary lacks it (such bytes become
    /// `unknownTokenId`, or are dropped when there is none, as Hugging Face's BPE does).
    private let byteIds: [Int32?]
    private let tokenBytes: [[UInt8]]
    private let added: [AddedToken]
    private let addedByFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], index: Int)]]
    private let cache = Mutex([String: [Int32]]())

    /// A byte-level tokenizer from its merge list.
    public convenience init(
        tokens: [String], merges: [(String, String)], addedTokens: [String: (id: Int32, special: Bool)],
        preTokenizer: PreTokenizer, bosTokenId: Int32?, eosTokenId: Int32?, unknownTokenId: Int32? = nil, source: String
    ) throws {
        try self.init(
            tokens: tokens, alphabet: .byteLevel(preTokenizer), mergePairs: merges,
            added: addedTokens.map { AddedToken(content: $0.key, id: $0.value.id, special: $0.value.special) },
            bosTokenId: bosTokenId, eosTokenId: eosTokenId, unknownTokenId: unknownTokenId, source: source)
    }

    /// `mergePairs` in rank order, or nil to rank merges by `scores` (SentencePiece vocabularies).
    init(
        tokens: [String], alphabet: Alphabet, mergePairs: [(String, String)]?, scores: [Float]? = nil, byteFallback: Bool = false,
        added: [AddedToken], bosTokenId: Int32?, eosTokenId: Int32?, unknownTokenId: Int32?, addsBOS: Bool = false,
        ignoreMerges: Bool = false, fuseUnknown: Bool = false, source: String, mergesField: String = "merges"
    ) throws {
        self.tokens = tokens
        self.alphabet = alphabet
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.unknownTokenId = unknownTokenId
        self.addsBOS = addsBOS && bosTokenId != nil
        self.scores = scores
        self.ignoresMerges = ignoreMerges
        self.fusesUnknown = fuseUnknown
        var ids = [String: Int32](minimumCapacity: tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        self.ids = ids
        for entry in added where entry.id < 0 || Int(entry.id) >= tokens.count {
            throw FormatError(file: source, field: "added_tokens", "\"\(entry.content)\" has id \(entry.id) outside the vocabulary of \(tokens.count)")
        }
        for (name, id) in [("bos", bosTokenId), ("eos", eosTokenId), ("unknown", unknownTokenId)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw FormatError(file: source, field: "\(name) token", "id \(id) is outside the vocabulary of \(tokens.count)")
            }
        }
        let pairMerges = try mergePairs.map { try BPEMerges(pairs: $0, ids: ids, source: source, field: mergesField) }
        let addedIds = Set(added.map(\.id))
        switch alphabet {
        case .byteLevel:
            byteIds = (0..<256).map { ids[String(ByteLevel.byteToScalar[$0])] }
            guard byteIds.compactMap({ $0 }).count >= 128 else {
                throw FormatError(file: source, field: "vocab", "most single-byte symbols are missing; not a byte-level BPE vocabulary")
            }
            tokenBytes = tokens.enumerated().map { id, t in addedIds.contains(Int32(id)) ? Array(t.utf8) : ByteLevel.decode(t) ?? Array(t.utf8) }
        case .sentencePiece:
            byteIds = (0..<256).map { byteFallback ? ids[String(format: "<0x%02X>", $0)] : nil }
            if byteFallback, let missing = byteIds.firstIndex(where: { $0 == nil }) {
                throw FormatError(file: source, field: "vocab", "byte fallback needs the 256 tokens <0x00>…<0xFF>; <0x\(String(format: "%02X", missing))> is missing")
            }
            tokenBytes = tokens.enumerated().map { id, t in
                if addedIds.contains(Int32(id)) { return Array(t.utf8) }
                if byteFallback, let b = Metaspace.fallbackByte(t) { return [b] }
                return Metaspace.unescape(t)
            }
        }
        if let pairMerges {
            merges = pairMerges
        } else {
            let scores = scores ?? []
            guard scores.count == tokens.count else {
                throw FormatError(file: source, field: "scores", "\(scores.count) scores for \(tokens.count) tokens")
            }
            // SentencePiece: byte tokens are not text; byte-level: added tokens are matched whole, never merged into.
            let unmergeable: Set<Int32> = if case .sentencePiece = alphabet { Set(byteIds.compactMap { $0 }) } else { addedIds }
            merges = BPEMerges(tokens: tokens, scores: scores, ids: ids) { !unmergeable.contains(Int32($0)) }
        }
        self.added = added
        var tuples: [String: (id: Int32, special: Bool)] = [:]
        for entry in added { tuples[entry.content] = (entry.id, entry.special) }
        addedTokens = tuples
        addedByFirstScalar = Dictionary(grouping: added.indices.filter { !added[$0].content.isEmpty }.map { (Array(added[$0].content.unicodeScalars), $0) }, by: { $0.0[0] })
            .mapValues { $0.map { (scalars: $0.0, index: $0.1) }.sorted { $0.scalars.count > $1.scalars.count } }
    }

    public var vocabularySize: Int { tokens.count }

    /// The merges in rank order, as a merge list writes them (GGUF and tokenizer.json export).
    public var mergePairs: [(String, String)] { merges.pairs(tokens: tokens) }

    /// Token ids of `text`. Added tokens in the text are recognised when `parseSpecial` is true;
    /// `addSpecial` puts the BOS token first when the tokenizer says so (`addsBOS`), as Hugging
    /// Face's `encode(text)` and llama.cpp's tokenizer do for the start of a model's input.
    public func encode(_ text: String, parseSpecial: Bool = true, addSpecial: Bool = false) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var out: [Int32] = addSpecial && addsBOS ? [bosTokenId!] : []
        var start = 0, i = 0
        while i < scalars.count {
            if parseSpecial, let candidates = addedByFirstScalar[scalars[i]],
               let hit = candidates.first(where: { i + $0.scalars.count <= scalars.count && scalars[i..<(i + $0.scalars.count)].elementsEqual($0.scalars) }) {
                let token = added[hit.index]
                var end = i
                if token.lstrip { while end > start && isWhitespace(scalars[end - 1]) { end -= 1 } }
                encodeOrdinary(scalars[start..<end], atStart: start == 0, into: &out)
                out.append(token.id)
                i += hit.scalars.count
                if token.rstrip { while i < scalars.count && isWhitespace(scalars[i]) { i += 1 } }
                start = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(scalars[start..<scalars.count], atStart: start == 0, into: &out)
        return out
    }

    private func encodeOrdinary(_ text: ArraySlice<Unicode.Scalar>, atStart: Bool, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        switch alphabet {
        case .byteLevel(let preTokenizer):
            let piece = Array(text)
            for range in preTokenizer.split(piece) {
                var word = String.UnicodeScalarView()
                word.append(contentsOf: piece[range])
                let key = String(word)
                out += cached(key) { byteLevelSymbols(key) }
            }
        case .sentencePiece(let metaspace):
            for word in metaspace.words(text, atStart: atStart) {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: word)
                out += cached(String(view)) { characterSymbols(word) }
            }
        }
    }

    /// The tokens of one word: itself when `ignoreMerges` and it is a token, else its symbols merged.
    private func cached(_ word: String, symbols: () -> (spelled: String, ids: [Int32])) -> [Int32] {
        if let hit = cache.withLock({ $0[word] }) { return hit }
        let (spelled, initial) = symbols()
        let result = ignoresMerges ? ids[spelled].map { [$0] } ?? merges.apply(initial) : merges.apply(initial)
        if word.utf8.count <= 256 { cache.withLock { if $0.count < 100_000 { $0[word] = result } } }
        return result
    }

    private func byteLevelSymbols(_ word: String) -> (spelled: String, ids: [Int32]) {
        (ignoresMerges ? ByteLevel.encode(word.utf8) : "", word.utf8.compactMap { byteIds[Int($0)] ?? unknownTokenId })
    }

    private func characterSymbols(_ word: [Unicode.Scalar]) -> (spelled: String, ids: [Int32]) {
        var out: [Int32] = []
        out.reserveCapacity(word.count)
        var view = String.UnicodeScalarView()
        for c in word {
            let text = String(c)
            if ignoresMerges { view.append(c) }
            if let id = ids[text] {
                out.append(id)
            } else if let first = byteIds[Int(text.utf8.first!)], text.utf8.allSatisfy({ byteIds[Int($0)] != nil }) {
                out.append(first)
                out += text.utf8.dropFirst().map { byteIds[Int($0)]! }
            } else if let unknownTokenId, !(fusesUnknown && out.last == unknownTokenId) {
                out.append(unknownTokenId)
            }
        }
        return (String(view), out)
    }

    /// The `<0xNN>` tokens a SentencePiece-style vocabulary spells unknown characters with (empty without byte fallback).
    public var byteFallbackIds: [Int32] {
        if case .sentencePiece = alphabet { return byteIds.compactMap { $0 } }
        return []
    }

    /// Decoding drops one leading space (SentencePiece tokenizers that put a "▁" first).
    public var decodingStripsLeadingSpace: Bool {
        if case .sentencePiece(let m) = alphabet { return m.decodeStripsLeadingSpace }
        return false
    }

    /// The bytes a token stands for (added tokens: their UTF-8 text; byte tokens: their byte).
    public func bytes(of id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        return tokenBytes[Int(id)]
    }

    /// Text of `ids`; invalid UTF-8 becomes U+FFFD. `skipSpecial` drops special tokens.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if skipSpecial, isSpecial(id) { continue }
            bytes += self.bytes(of: id)
        }
        if decodingStripsLeadingSpace && bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `id` is a special (control) added token.
    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < tokens.count && addedTokens[tokens[Int(id)]]?.id == id && addedTokens[tokens[Int(id)]]?.special == true
    }

    public func id(of token: String) -> Int32? { addedTokens[token]?.id ?? ids[token] }
}
