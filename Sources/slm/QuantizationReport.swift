import Foundation
import SLMEvaluation
import SLMModel
import SLMTraining

/// The quantization report of `slm merge --heldout`: the unquantized merged model (column f32:
/// base + adapter in Float32) and each written GGUF type side by side on a held-out set, in the
/// evaluation report's format (report.json, report.md, report.html, predictions.jsonl): size,
/// bits per weight, per-tensor error, held-out loss and perplexity and their change from f32.
enum QuantizationReport {
    static func write(
        base: String, adapter: String?, exports: [(type: GGUFFileType, path: String)], heldout: String, maxSamples: Int?,
        to folder: String, progress: ProgressReporter
    ) throws {
        var options = EvaluationOptions()
        options.generate = false
        options.maxSamples = maxSamples
        let reference = "f32"
        let models = [ModelSpec(name: reference, path: base, adapter: adapter)]
            + exports.map { ModelSpec(name: $0.type.rawValue, path: $0.path, adapter: nil) }
        var (report, predictions) = try Evaluation.run(models: models, dataPath: heldout, options: options, recipePath: nil, progress: progress)
        report.compareExports(with: reference, describeReference: true)
        try Evaluation.write(report, predictions: predictions, to: folder)
        print(MarkdownReport.comparisonTable(report), terminator: "")
        print("quantization report in \(folder)/ (report.html, report.md, report.json, predictions.jsonl)")
    }

    /// The report folder when none is named: beside the GGUF file(s), smol.gguf → smol.quant-report.
    static func defaultFolder(out: String) -> String {
        (out.hasSuffix(".gguf") ? String(out.dropLast(5)) : out) + ".quant-report"
    }
}
