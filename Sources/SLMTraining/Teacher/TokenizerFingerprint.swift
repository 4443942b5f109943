import SLMModel

extension BPETokenizer {
    /// "bpe-fnv1a64:<16 hex digits>:<vocabulary size>": FNV-1a 64 over every token string in id
    /// order, each followed by a 0 byte, then the added tokens sorted by id. Two tokenizers with
    /// the same fingerprint give token ids the same meaning, which is what a teacher cache needs.
    public var fingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ text: String) {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            hash ^= 0
            hash = hash &* 0x0000_0100_0000_01b3
        }
        tokens.forEach(add)
        for (text, entry) in addedTokens.sorted(by: { $0.value.id < $1.value.id }) { add("\(entry.id):\(text)") }
        let hex = String(hash, radix: 16)
        return "bpe-fnv1a64:\(String(repeating: "0", count: 16 - hex.count) + hex):\(vocabularySize)"
    }
}
