import Foundation
import SLMTensor

/// `slm merge`'s pipeline: load the base in Float32, attach the adapter, write the merged model
/// (W + s·B·A, merged tensor by tensor while writing), then read the written file back and compare
/// it with base + adapter.
public enum MergeExport {
    /// What to write: a GGUF file (with an ollama Modelfile beside it), a Hugging Face folder, or
    /// the adapter alone in llama.cpp's LoRA GGUF format.
    public enum Format: String, CaseIterable, Sendable {
        case gguf, safetensors, loraGGUF = "lora-gguf"
    }

    /// One export, as `slm merge`'s options or a recipe's `export:` section give it.
    public struct Request: Sendable {
        public var base: String
        public var adapter: String?
        public var out: String
        public var format: Format
        public var fileType: GGUFFileType
        public var dtype: SafetensorsWriter.DType
        /// The text to verify on; nil: no verification.
        public var probe: String?
        /// Token ids to verify on instead of `probe`'s (held-out samples as training formats them).
        public var probeIds: [Int32]?

        public init(base: String, adapter: String?, out: String, format: Format, fileType: GGUFFileType, dtype: SafetensorsWriter.DType, probe: String?) {
            self.base = base
            self.adapter = adapter
            self.out = out
            self.format = format
            self.fileType = fileType
            self.dtype = dtype
            self.probe = probe
        }
    }

    public enum Outcome {
        case gguf(GGUFResult, modelfile: String, report: String)
        case folder(FolderResult)
        case adapter
    }

    /// Loads the base and adapter and writes what `request` asks for; `progress(done, total)` while a GGUF is written.
    /// `notice` hears about an adapter whose config names another base model than `request.base`
    /// (its shapes fit, or loading would have failed: e.g. trained on the GGUF of this HF folder).
    public static func run(_ request: Request, notice: (String) -> Void = { _ in }, progress: (Int, Int) -> Void = { _, _ in }) throws -> Outcome {
        try write(load(request, notice: notice), request, progress: progress)
    }

    /// Loads `request`'s base in Float32 with its adapter attached (see `run`).
    public static func load(_ request: Request, notice: (String) -> Void = { _ in }) throws -> ExportBase {
        guard request.format != .loraGGUF || request.adapter != nil else {
            throw FormatError(file: request.out, field: nil, "a lora-gguf export writes an adapter, and none was given")
        }
        let loaded = try ExportBase.load(request.base)
        if let adapter = request.adapter {
            try refusePrunedStudent(adapter)
            let config = try PEFTAdapter.load(adapter, into: loaded.model).config
            if let trainedOn = config.baseModelNameOrPath, !sameModel(trainedOn, request.base) {
                notice("the adapter's adapter_config.json names base model \(trainedOn), not \(request.base); its modules and shapes fit, so it is merged")
            }
        }
        return loaded
    }

    /// Writes `loaded` (as `load` gave it for `request`, or with its adapters already merged) as
    /// `request` asks: several exports of one base load it once.
    public static func write(_ loaded: ExportBase, _ request: Request, progress: (Int, Int) -> Void = { _, _ in }) throws -> Outcome {
        switch request.format {
        case .loraGGUF:
            let name = URL(fileURLWithPath: request.adapter!).standardizedFileURL.lastPathComponent
            try LoRAAdapterGGUF.write(loaded.model, architecture: loaded.model.config.ggufArchitecture, name: name, to: request.out)
            return .adapter
        case .safetensors:
            return .folder(try safetensors(loaded, out: request.out, dtype: request.dtype, probe: request.probe, probeIds: request.probeIds))
        case .gguf:
            let result = try gguf(
                loaded, out: request.out, fileType: request.fileType, probe: request.probe, probeIds: request.probeIds, progress: progress)
            return .gguf(
                result, modelfile: try OllamaModelfile.write(for: request.out, base: loaded),
                report: try ExportReport.write(result, for: request.out, fileType: request.fileType))
        }
    }

    /// `out` for one of several GGUF types written in one call: the type before the extension
    /// (smol.gguf → smol.q4_0.gguf); `out` itself when there is one type.
    public static func path(_ out: String, fileType: GGUFFileType, of count: Int) -> String {
        guard count > 1 else { return out }
        let stem = out.hasSuffix(".gguf") ? String(out.dropLast(5)) : out
        return stem + "." + fileType.rawValue + ".gguf"
    }

    public struct GGUFResult {
        public var base: ExportBase
        public var tensors: [GGUFExport.TensorReport]
        public var fileBytes: Int
        public var seconds: Double
        /// nil when verification was skipped.
        public var comparison: ExportComparison?
    }

    public struct FolderResult {
        public var seconds: Double
        public var comparison: ExportComparison?
    }

    /// Writes `base` (with its adapter) to the Hugging Face folder `out` in `dtype`; with a `probe`
    /// text, loads the folder back and compares it with base + adapter.
    public static func safetensors(_ base: ExportBase, out: String, dtype: SafetensorsWriter.DType, probe: String?, probeIds: [Int32]? = nil) throws -> FolderResult {
        let start = Date()
        try HuggingFaceExport.write(base, dtype: dtype, to: out)
        let seconds = Date().timeIntervalSince(start)
        var comparison: ExportComparison?
        if probe != nil || probeIds != nil {
            let (exported, _) = try HuggingFaceModelLoader.load(folder: out)
            comparison = try compare(base, exported, probe: probe, probeIds: probeIds)
        }
        return FolderResult(seconds: seconds, comparison: comparison)
    }

    static func compare(_ base: ExportBase, _ exported: Transformer, probe: String?, probeIds: [Int32]?) throws -> ExportComparison {
        if let probeIds { return try ExportComparison(reference: base.model, exported: exported, tokenizer: base.tokenizer, probeIds: probeIds) }
        return try ExportComparison(reference: base.model, exported: exported, tokenizer: base.tokenizer, probe: probe ?? ExportComparison.defaultProbe)
    }

    /// Whether two model names or paths point at the same thing (same resolved path, or same last component).
    static func sameModel(_ a: String, _ b: String) -> Bool {
        let x = URL(fileURLWithPath: a).standardizedFileURL, y = URL(fileURLWithPath: b).standardizedFileURL
        return x.resolvingSymlinksInPath() == y.resolvingSymlinksInPath() || x.lastPathComponent == y.lastPathComponent
    }

    /// Loads `basePath` (a .gguf file or a Hugging Face folder) and attaches the PEFT adapter in
    /// `adapterPath` when there is one; an adapter that does not fit the model is refused naming the tensor.
    public static func loadBase(_ basePath: String, adapter adapterPath: String?) throws -> ExportBase {
        let base = try ExportBase.load(basePath)
        if let adapterPath {
            try refusePrunedStudent(adapterPath)
            try PEFTAdapter.load(adapterPath, into: base.model)
        }
        return base
    }

    /// A depth-pruned student's adapter (kept_layers.json beside it) fits its kept layers only, and
    /// exports do not write pruned models yet: refused with that reason rather than a missing-module error.
    static func refusePrunedStudent(_ adapter: String) throws {
        guard let kept = try KeptLayers.read(folder: adapter) else { return }
        throw FormatError(
            file: adapter + "/" + KeptLayers.file, field: nil,
            "the adapter of a depth-pruned student (\(kept.keptLayers.count) of \(kept.baseLayers) layers): exporting a pruned model is not supported yet")
    }

    /// Writes `base` (with its adapter) to `out` as GGUF of `fileType`; with a `probe` text, reads the
    /// file back and compares it with base + adapter.
    public static func gguf(
        _ base: ExportBase, out: String, fileType: GGUFFileType, probe: String?, probeIds: [Int32]? = nil,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> GGUFResult {
        let start = Date()
        let reports = try GGUFExport.write(
            base.model, metadata: base.metadata, fileType: fileType, ropeFactors: base.ropeFactors, to: out, progress: progress)
        let seconds = Date().timeIntervalSince(start)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        var comparison: ExportComparison?
        if probe != nil || probeIds != nil {
            let exported = try GGUFModelLoader.load(try GGUFFile(path: out), keepQuantized: false)
            comparison = try compare(base, exported, probe: probe, probeIds: probeIds)
        }
        return GGUFResult(base: base, tensors: reports, fileBytes: bytes, seconds: seconds, comparison: comparison)
    }
}
