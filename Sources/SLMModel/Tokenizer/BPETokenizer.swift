import Foundation
import Synchronization

/// Byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen 2/3, Phi-4): text is cut into words by the
/// family's pre-tokenizer, each word's UTF-8 bytes are spelled in GPT-2's byte alphabet, and
/// adjacent symbols are merged in merge-rank order. Added tokens (e.g. `<|im_start|>`) are
/// matched verbatim first and never merged into.
public final class BPETokenizer: Sendable {
    public let tokens: [String]
    public let preTokenizer: PreTokenizer
    /// Added tokens matched verbatim in text, and whether each is special (control) or not.
    public let addedTokens: [String: (id: Int32, special: Bool)]
    public let bosTokenId: Int32?
    public let eosTokenId: Int32?
    /// The merges in rank order, as the tokenizer file lists them (GGUF export writes them back).
    public let mergePairs: [(String, String)]

    private let ids: [String: Int32]
    private let merges: [UInt64: (rank: Int32, merged: Int32)]
    /// The token of each byte's symbol; nil where the vocabulary lacks it (such bytes become
    /// `unknownTokenId`, or are dropped when there is none, as Hugging Face's BPE does).
    private let byteIds: [Int32?]
    public let unknownTokenId: Int32?
    private let addedByFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int32)]]
    private let cache = Mutex([String: [Int32]]())

    public init(
        tokens: [String], merges: [(String, String)], addedTokens: [String: (id: Int32, special: Bool)],
        preTokenizer: PreTokenizer, bosTokenId: Int32?, eosTokenId: Int32?, unknownTokenId: Int32? = nil, source: String
    ) throws {
        self.tokens = tokens
        self.preTokenizer = preTokenizer
        self.addedTokens = addedTokens
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.unknownTokenId = unknownTokenId
        mergePairs = merges
        var ids = [String: Int32](minimumCapacity: tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        self.ids = ids
        var table = [UInt64: (rank: Int32, merged: Int32)](minimumCapacity: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let left = ids[a], let right = ids[b], let merged = ids[a + b] else {
                throw FormatError(file: source, field: "merges[\(rank)]", "merge \"\(a) \(b)\" uses a token missing from the vocabulary")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if table[key] == nil { table[key] = (Int32(rank), merged) }
        }
        self.merges = table
        byteIds = (0..<256).map { ids[String(ByteLevel.byteToScalar[$0])] }
        guard byteIds.compactMap({ $0 }).count >= 128 else {
            throw FormatError(file: source, field: "vocab", "most single-byte symbols are missing; not a byte-level BPE vocabulary")
        }
        for (text, entry) in addedTokens where entry.id < 0 || Int(entry.id) >= tokens.count {
            throw FormatError(file: source, field: "added_tokens", "\"\(text)\" has id \(entry.id) outside the vocabulary of \(tokens.count)")
        }
        addedByFirstScalar = Dictionary(grouping: addedTokens.filter { !$0.key.isEmpty }.map { (Array($0.key.unicodeScalars), $0.value.id) }, by: { $0.0[0] })
            .mapValues { $0.map { (scalars: $0.0, id: $0.1) }.sorted { $0.scalars.count > $1.scalars.count } }
    }

    public var vocabularySize: Int { tokens.count }

    /// Token ids of `text`. Added tokens in the text are recognised when `parseSpecial` is true.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var out: [Int32] = []
        var start = 0, i = 0
        while i < scalars.count {
            if parseSpecial, let candidates = addedByFirstScalar[scalars[i]],
               let hit = candidates.first(where: { i + $0.scalars.count <= scalars.count && Array(scalars[i..<(i + $0.scalars.count)]) == $0.scalars }) {
                encodeOrdinary(scalars[start..<i], into: &out)
                out.append(hit.id)
                i += hit.scalars.count
                start = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(scalars[start..<scalars.count], into: &out)
        return out
    }

    private func encodeOrdinary(_ text: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        let piece = Array(text)
        for range in preTokenizer.split(piece) {
            var word = String.UnicodeScalarView()
            word.append(contentsOf: piece[range])
            out += encodeWord(String(word))
        }
    }

    private func encodeWord(_ word: String) -> [Int32] {
        if let hit = cache.withLock({ $0[word] }) { return hit }
        var symbols = Array(word.utf8).compactMap { byteIds[Int($0)] ?? unknownTokenId }
        while symbols.count > 1 {
            var best: (rank: Int32, merged: Int32, at: Int)?
            for j in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[j])) << 32 | UInt64(UInt32(symbols[j + 1]))
                if let m = merges[key], m.rank < (best?.rank ?? .max) { best = (m.rank, m.merged, j) }
            }
            guard let best else { break }
            let left = symbols[best.at], right = symbols[best.at + 1]
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var j = 0
            while j < symbols.count {
                if j + 1 < symbols.count && symbols[j] == left && symbols[j + 1] == right {
                    merged.append(best.merged)
                    j += 2
                } else {
                    merged.append(symbols[j])
                    j += 1
                }
            }
            symbols = merged
        }
        cache.withLock { if $0.count < 100_000 { $0[word] = symbols } }
        return symbols
    }

    /// The bytes a token stands for (added tokens: their UTF-8 text).
    public func bytes(of id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        let token = tokens[Int(id)]
        if addedTokens[token] != nil { return Array(token.utf8) }
        return ByteLevel.decode(token) ?? Array(token.utf8)
    }

    /// Text of `ids`; invalid UTF-8 becomes U+FFFD. `skipSpecial` drops special tokens.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if skipSpecial, Int(id) < tokens.count, addedTokens[tokens[Int(id)]]?.special == true { continue }
            bytes += self.bytes(of: id)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func id(of token: String) -> Int32? { ids[token] ?? addedTokens[token]?.id }
}

/// Turns a stream of token ids into text as it arrives, holding back the bytes of a
/// character split across tokens until it is complete.
public struct StreamingDecoder {
    private let tokenizer: BPETokenizer
    private var pending: [UInt8] = []

    public init(tokenizer: BPETokenizer) { self.tokenizer = tokenizer }

    /// The text completed by `id` (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        pending += tokenizer.bytes(of: id)
        let complete = completePrefixLength(pending)
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is left, with incomplete characters as U+FFFD.
    public mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of `bytes` without a trailing, still-incomplete UTF-8 sequence.
    private func completePrefixLength(_ bytes: [UInt8]) -> Int {
        var i = bytes.count - 1
        var back = 0
        while i >= 0 && back < 4 {
            let b = bytes[i]
            if b & 0xC0 != 0x80 {
                let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                return back + 1 >= need ? bytes.count : i
            }
            i -= 1
            back += 1
        }
        return bytes.count
    }
}
