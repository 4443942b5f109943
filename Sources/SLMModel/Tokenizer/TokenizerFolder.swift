import Foundation

extension BPETokenizer {
    /// The tokenizer files a model folder may hold, in the order they are preferred: Hugging Face's
    /// tokenizer.json, then Mistral's tekken.json (folders Mistral ships with only that).
    public static let folderTokenizerFiles = ["tokenizer.json", "tekken.json"]

    /// The path of the tokenizer file in `folder` (see `folderTokenizerFiles`), or nil when it has none.
    public static func tokenizerFile(inFolder folder: String) -> String? {
        folderTokenizerFiles.map { URL(fileURLWithPath: folder).appendingPathComponent($0).path }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// A tokenizer.json, or a Tekken file when the name is tekken*.json (as mistral-common recognises them).
    public static func load(tokenizerFile path: String) throws -> BPETokenizer {
        let name = URL(fileURLWithPath: path).lastPathComponent
        return name.hasPrefix("tekken") && name.hasSuffix(".json") ? try load(tekken: path) : try load(tokenizerJSON: path)
    }

    /// The field of `path` that holds the vocabulary, for errors about its size.
    static func vocabularyField(tokenizerFile path: String) -> String {
        URL(fileURLWithPath: path).lastPathComponent.hasPrefix("tekken") ? "config.default_vocab_size" : "model.vocab"
    }
}
