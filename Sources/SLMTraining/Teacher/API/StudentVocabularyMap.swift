import SLMModel

/// Maps an API token (its bytes) to the student's token id when those bytes are exactly one entry
/// of the student's vocabulary: a byte-level BPE token, or an added token's text (`<|im_end|>`).
public struct StudentVocabularyMap: Sendable {
    private let ids: [[UInt8]: Int32]

    public init(_ tokenizer: BPETokenizer) {
        var ids = [[UInt8]: Int32](minimumCapacity: tokenizer.vocabularySize)
        for id in 0..<Int32(tokenizer.vocabularySize) {
            let bytes = tokenizer.bytes(of: id)
            if !bytes.isEmpty, ids[bytes] == nil { ids[bytes] = id }
        }
        // An added token's text maps to the added token, not to an ordinary token spelling the same bytes.
        for (text, entry) in tokenizer.addedTokens { ids[Array(text.utf8)] = entry.id }
        self.ids = ids
    }

    public func id(_ bytes: [UInt8]) -> Int32? { ids[bytes] }
}
