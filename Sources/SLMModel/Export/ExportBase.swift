import Foundation
import SLMTensor

/// The model an export starts from, in Float32: a GGUF file (dequantized; it keeps its metadata and
/// `rope_freqs`) or a Hugging Face folder (metadata built by `GGUFLlamaMetadata`). A GGUF base's
/// model is loaded when first asked for: a GGUF export without an adapter re-encodes the file's
/// tensors straight from `ggufFile` and never needs it.
public final class ExportBase {
    public let path: String
    public let tokenizer: BPETokenizer
    public let metadata: [(key: String, value: GGUFValue)]
    public let ropeFactors: [Float]?
    /// The block types the base's matrices were stored in (empty for a Float32/F16/BF16 base): such a
    /// base is dequantized, merged in f32 and quantized once, and the export reports what that costs.
    public let quantizedTypes: [GGMLType]
    /// The file of a .gguf base; nil for a Hugging Face folder.
    public let ggufFile: GGUFFile?
    private var loadedModel: Transformer?

    /// The chat template the model declares (GGUF `tokenizer.chat_template`), if any.
    public var chatTemplate: String? { metadata.first { $0.key == "tokenizer.chat_template" }?.value.string }

    /// The base as a model (with whatever adapters were attached to it since).
    public var model: Transformer {
        get throws {
            if let loadedModel { return loadedModel }
            let model = try GGUFModelLoader.load(ggufFile!, keepQuantized: false)
            loadedModel = model
            return model
        }
    }

    /// Whether the model was built: a GGUF export written from `ggufFile` alone would miss what was done to it.
    public var isModelLoaded: Bool { loadedModel != nil }

    private init(
        path: String, model: Transformer?, ggufFile: GGUFFile?, tokenizer: BPETokenizer,
        metadata: [(key: String, value: GGUFValue)], ropeFactors: [Float]?, quantizedTypes: [GGMLType]
    ) {
        self.path = path
        self.loadedModel = model
        self.ggufFile = ggufFile
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.ropeFactors = ropeFactors
        self.quantizedTypes = quantizedTypes
    }

    public static func load(_ path: String) throws -> ExportBase {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(file: path, field: nil, "does not exist (expected a .gguf file or a Hugging Face model folder)")
        }
        if isDirectory.boolValue {
            let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: path)
            guard let tokenizer else { throw FormatError(file: path, field: nil, "has no tokenizer.json, which a GGUF export needs") }
            let (metadata, ropeFactors) = try GGUFLlamaMetadata.huggingFace(folder: path, tokenizer: tokenizer)
            return ExportBase(
                path: path, model: model, ggufFile: nil, tokenizer: tokenizer, metadata: metadata, ropeFactors: ropeFactors, quantizedTypes: [])
        }
        let file = try GGUFFile(path: path)
        _ = try GGUFModelLoader.config(file)  // refuse a file that is not a model slm can load before any work
        var ropeFactors: [Float]?
        if let info = file.tensor(named: "rope_freqs.weight") {  // checked by GGUFModelLoader.config: F32, head_dim / 2
            ropeFactors = Array(file.bytes(of: info).bindMemory(to: Float.self))
        }
        let quantized = Set(file.tensors.map(\.type)).filter { $0.blockSize > 1 }.sorted { $0.rawValue < $1.rawValue }
        return ExportBase(
            path: path, model: nil, ggufFile: file, tokenizer: try BPETokenizer.load(gguf: file), metadata: file.metadata,
            ropeFactors: ropeFactors, quantizedTypes: quantized)
    }
}
