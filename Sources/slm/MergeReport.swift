import Foundation
import SLMModel
import SLMTensor
import SLMTraining

/// Runs an export (`slm merge`, or a recipe's `export:` section after `slm train`) and prints what it
/// wrote: size, per-type error, and the verification against base + adapter.
enum MergeReport {
    /// Exports `request` once per GGUF type of `fileTypes` (none: `request.fileType` alone), loading
    /// the base once and, with several types, merging the adapter once; returns the paths written.
    @discardableResult
    static func run(_ request: MergeExport.Request, fileTypes: [GGUFFileType] = [], progress: ProgressReporter) throws -> [String] {
        let types = fileTypes.isEmpty ? [request.fileType] : fileTypes
        progress.message("exporting \(request.base)\(request.adapter.map { " + adapter \($0)" } ?? "") to \(request.out) (\(request.format.rawValue))")
        let loaded = try MergeExport.load(request, notice: { progress.message("note: " + $0) })
        if types.count > 1, request.adapter != nil { try loaded.model.mergeLoRA() }
        var written: [String] = []
        for type in types {
            var one = request
            one.fileType = type
            one.out = MergeExport.path(request.out, fileType: type, of: types.count)
            let outcome = try MergeExport.write(loaded, one) { done, total in
                if done == total || done % 25 == 0 { progress.message("writing \(one.out): \(done)/\(total) tensors") }
            }
            switch outcome {
            case .adapter:
                print("wrote \(one.out) (LoRA adapter for llama.cpp: llama-cli -m BASE.gguf --lora \(one.out))")
            case .folder(let result):
                print(String(format: "wrote %@ (Hugging Face folder, %@) in %.2f s", one.out, one.dtype.torchName, result.seconds))
                if let c = result.comparison { print(verification(c)) }
            case .gguf(let result, let modelfile, let report):
                print(text(result, out: one.out, fileType: type))
                print("ollama: \(modelfile) (ollama create NAME -f that file); report: \(report)")
            }
            written.append(one.out)
        }
        return written
    }

    static func text(_ r: MergeExport.GGUFResult, out: String, fileType: GGUFFileType) -> String {
        var lines = [String(format: "wrote %@ (%@, %.1f MiB) in %.2f s", out, fileType.rawValue, Double(r.fileBytes) / 1_048_576, r.seconds)]
        if !r.base.quantizedTypes.isEmpty {
            lines.append("the base was stored as \(r.base.quantizedTypes.map(\.description).joined(separator: ", ")): dequantized, merged in f32, quantized once; the errors below are that one quantization's")
        }
        let byType = Dictionary(grouping: r.tensors, by: \.type).sorted { $0.key.rawValue < $1.key.rawValue }
        lines.append("type     tensors        MiB   mean rel. RMS error   worst tensor")
        for (type, reports) in byType {
            let worst = reports.max { $0.relativeRMSError < $1.relativeRMSError }!
            let mean = reports.map(\.relativeRMSError).reduce(0, +) / Double(reports.count)
            lines.append(String(
                format: "%-6@ %9d %10.1f   %19.2e   %@ (%.2e)", type.description, reports.count,
                Double(reports.map(\.bytes).reduce(0, +)) / 1_048_576, mean, worst.name, worst.relativeRMSError))
        }
        if let c = r.comparison { lines.append(verification(c)) }
        return lines.joined(separator: "\n")
    }

    static func verification(_ c: ExportComparison) -> String {
        [
            String(format: "verify (re-read, vs base + adapter, %d probe tokens):", c.probeTokens),
            String(format: "  logits      max |Δ| %.4g   mean |Δ| %.4g", c.maxAbsLogitDifference, c.meanAbsLogitDifference),
            String(format: "  perplexity  %.4f → %.4f (%+.3f%%)", c.referencePerplexity, c.exportPerplexity,
                   100 * (c.exportPerplexity / c.referencePerplexity - 1)),
            "  greedy      \(c.sameGreedyOutput ? "same output" : "differs") (\(c.referenceGreedy.debugDescription) vs \(c.exportGreedy.debugDescription))",
        ].joined(separator: "\n")
    }
}
