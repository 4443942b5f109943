import SLMTensor
/// What `slm inspect` shows of a GGUF file: its model, its tensors by type, its tokenizer and chat template.
public struct GGUFSummary: Sendable {
    public struct TypeCount: Sendable {
        public let type: GGMLType
        public let tensors: Int
        public let elements: Int
        public let bytes: Int
    }

    public let path: String
    public let version: UInt32
    public let architecture: String?
    public let name: String?
    /// `{arch}.context_length`.
    public let contextLength: Int?
    public let parameters: Int
    public let tensorBytes: Int
    /// Per element type, most bytes first.
    public let types: [TypeCount]
    public let tokenizerModel: String?
    public let vocabularySize: Int?
    /// `tokenizer.ggml.*_token_id` keys that are present: bos, eos, unknown, padding, ….
    public let specialTokenIds: [(name: String, id: Int)]
    /// The first line of `tokenizer.chat_template`; nil when there is none.
    public let chatTemplateFirstLine: String?

    public init(_ file: GGUFFile) {
        path = file.path
        version = file.version
        let arch = file["general.architecture"]?.string
        architecture = arch
        name = file["general.name"]?.string
        contextLength = arch.flatMap { file["\($0).context_length"]?.integer }
        parameters = file.tensors.reduce(0) { $0 + $1.elementCount }
        tensorBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        types = Dictionary(grouping: file.tensors, by: \.type).map { type, infos in
            TypeCount(type: type, tensors: infos.count, elements: infos.reduce(0) { $0 + $1.elementCount }, bytes: infos.reduce(0) { $0 + $1.byteCount })
        }.sorted { $0.bytes > $1.bytes }
        tokenizerModel = file["tokenizer.ggml.model"]?.string
        vocabularySize = file["tokenizer.ggml.tokens"]?.array?.count
        specialTokenIds = file.metadata.compactMap { key, value in
            guard key.hasPrefix("tokenizer.ggml."), key.hasSuffix("_token_id"), let id = value.integer else { return nil }
            return (String(key.dropFirst("tokenizer.ggml.".count).dropLast("_token_id".count)), id)
        }
        chatTemplateFirstLine = file["tokenizer.chat_template"]?.string.map { String($0.split(separator: "\n", omittingEmptySubsequences: false).first ?? "") }
    }
}
