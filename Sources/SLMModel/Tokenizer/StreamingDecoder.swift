/// Turns a stream of token ids into text as it arrives, holding back the bytes of a
/// character split across tokens (byte-level symbols or `<0xNN>` byte tokens) until it is
/// complete. Like `BPETokenizer.decode`, it drops the leading space of the first text when the
/// tokenizer's decoder does (SentencePiece "▁" prefixes).
public struct StreamingDecoder {
    private let tokenizer: BPETokenizer
    private var pending: [UInt8] = []
    private var atStart = true

    public init(tokenizer: BPETokenizer) { self.tokenizer = tokenizer }

    /// The text completed by `id` (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        pending += tokenizer.bytes(of: id)
        if atStart, !pending.isEmpty {
            if tokenizer.decodingStripsLeadingSpace && pending[0] == 0x20 { pending.removeFirst() }
            atStart = false
        }
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
