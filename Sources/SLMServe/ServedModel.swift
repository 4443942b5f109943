import Foundation
import SLMModel

/// The model `slm serve` answers with: weights (with an adapter attached when given), tokenizer
/// and chat template, and the id clients name it by in `model`.
public struct ServedModel: @unchecked Sendable {
    public let id: String
    let generator: Generator
    let template: ChatTemplate
    /// Startup notes for the log (e.g. a model without a chat template answered in plain ChatML).
    public let notes: [String]

    public var tokenizer: BPETokenizer { generator.tokenizer }
    public var contextLength: Int { generator.cache.maxTokens }

    /// Loads `path` (a .gguf file, whose projections stay quantized, or a Hugging Face folder) and the
    /// PEFT adapter folder `adapter`. `contextLength` as `Generator`'s. `chatTemplate`: the model's own
    /// (plain ChatML when it declares none) or a format by name; an unknown declared template is an error.
    public static func load(
        path: String, adapter: String?, contextLength: Int?, id: String? = nil, chatTemplate: ChatTemplateChoice = .auto
    ) throws -> ServedModel {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let (model, loadedTokenizer) = try ModelLoader.load(path: path, keepQuantized: !isDirectory.boolValue)
        guard let tokenizer = loadedTokenizer else {
            throw FormatError(file: path, field: nil, "carries no tokenizer: put tokenizer.json in the model folder, or use a GGUF file with tokenizer metadata")
        }
        if let adapter { try PEFTAdapter.load(adapter, into: model) }
        var notes: [String] = []
        let chosen = try chatTemplate.template(declared: try ModelLoader.declaredChatTemplate(path: path), source: path)
        if chosen == nil {
            notes.append("the model declares no chat template; /v1/chat/completions uses plain ChatML (--chat-template names another)")
        }
        let template = chosen ?? ChatTemplate(.chatml)
        let name = id ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return ServedModel(
            id: name, generator: try Generator(model: model, tokenizer: tokenizer, contextLength: contextLength),
            template: template, notes: notes)
    }

    /// Token ids of a rendered chat prompt: the template writes the format's own BOS (`<|begin_of_text|>`,
    /// `<s>`, `<bos>`) where it has one, so none is added, as transformers' `apply_chat_template` tokenizes.
    func encodeChat(_ text: String) -> [Int32] { tokenizer.encode(text) }

    /// Token ids of a prompt text (special tokens such as `<|im_start|>` recognised), with BOS first
    /// where the tokenizer adds one (`BPETokenizer.addsBOS`: GGUF `tokenizer.ggml.add_bos_token`, or a
    /// folder's tokenizer_config.json `add_bos_token` or post-processor), as llama.cpp's server and
    /// transformers' `tokenizer(prompt)` do.
    func encode(_ text: String) -> [Int32] { tokenizer.encode(text, addSpecial: true) }
}
