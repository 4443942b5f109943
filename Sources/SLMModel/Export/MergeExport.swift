import Foundation
import SLMTensor

/// `slm merge`'s pipeline: load the base in Float32, attach the adapter, write the merged model
/// (W + s·B·A, merged tensor by tensor while writing), then read the written file back and compare
/// it with base + adapter.
public enum MergeExport {
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
    public static func safetensors(_ base: ExportBase, out: String, dtype: SafetensorsWriter.DType, probe: String?) throws -> FolderResult {
        let start = Date()
        try HuggingFaceExport.write(base, dtype: dtype, to: out)
        let seconds = Date().timeIntervalSince(start)
        var comparison: ExportComparison?
        if let probe {
            let (exported, _) = try HuggingFaceModelLoader.load(folder: out)
            comparison = try ExportComparison(reference: base.model, exported: exported, tokenizer: base.tokenizer, probe: probe)
        }
        return FolderResult(seconds: seconds, comparison: comparison)
    }

    /// Loads `basePath` (a .gguf file or a Hugging Face folder) and attaches the PEFT adapter in
    /// `adapterPath` when there is one; an adapter that does not fit the model is refused naming the tensor.
    public static func loadBase(_ basePath: String, adapter adapterPath: String?) throws -> ExportBase {
        let base = try ExportBase.load(basePath)
        if let adapterPath { try PEFTAdapter.load(adapterPath, into: base.model) }
        return base
    }

    /// Writes `base` (with its adapter) to `out` as GGUF of `fileType`; with a `probe` text, reads the
    /// file back and compares it with base + adapter.
    public static func gguf(
        _ base: ExportBase, out: String, fileType: GGUFFileType, probe: String?, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> GGUFResult {
        let start = Date()
        let reports = try GGUFExport.write(
            base.model, metadata: base.metadata, fileType: fileType, ropeFactors: base.ropeFactors, to: out, progress: progress)
        let seconds = Date().timeIntervalSince(start)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        var comparison: ExportComparison?
        if let probe {
            let exported = try GGUFModelLoader.load(try GGUFFile(path: out), keepQuantized: false)
            comparison = try ExportComparison(reference: base.model, exported: exported, tokenizer: base.tokenizer, probe: probe)
        }
        return GGUFResult(base: base, tensors: reports, fileBytes: bytes, seconds: seconds, comparison: comparison)
    }
}
