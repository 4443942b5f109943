import Foundation
import SLMModel
import SLMTraining

/// A whole evaluation: the held-out set, every model column, and the report files.
/// ```
/// OUT/report.json        machine-readable, stable keys (docs/evaluation.md)
/// OUT/report.md          the tables, for a terminal or a pull request
/// OUT/report.html        self-contained, with inline SVG charts (no network)
/// OUT/predictions.jsonl  one line per model per sample, for error analysis
/// ```
public enum Evaluation {
    /// Evaluates `models` on `dataPath`. Only a bad held-out file throws; a model that fails gets a
    /// column with its error.
    public static func run(
        models: [ModelSpec], dataPath: String, options: EvaluationOptions, recipePath: String?, progress: ProgressReporter
    ) throws -> (report: EvaluationReport, predictions: [Prediction]) {
        guard !models.isEmpty else { throw EvaluationError("name at least one model to evaluate") }
        if let duplicate = Dictionary(grouping: models, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw EvaluationError("two models are named \"\(duplicate)\": label them, e.g. base=MODEL tuned=MODEL+ADAPTER")
        }
        let set = try EvaluationSet.load(path: dataPath, maxSamples: options.maxSamples, task: options.task, trainPath: options.trainPath)
        progress.message("data \(dataPath): \(set.records.count) \(set.format.rawValue) records; task \(set.task.rawValue) (\(set.taskReason))")
        for warning in set.warnings { progress.message("warning: \(warning)") }
        let evaluator = ModelEvaluator(set: set, options: options, progress: progress)
        var columns: [ModelColumn] = [], predictions: [Prediction] = []
        for spec in models {
            progress.message("model \(spec.name): \(spec.path)" + (spec.adapter.map { " + adapter \($0)" } ?? ""))
            let result = evaluator.evaluate(spec)
            columns.append(result.column)
            predictions += result.predictions
        }
        let report = EvaluationReport(
            created: ISO8601DateFormatter().string(from: Date()), slmVersion: SLMVersion.current, seed: options.seed,
            settings: .init(
                maxSamples: options.maxSamples, maxNewTokens: options.maxNewTokens, sequenceLength: options.sequenceLength, generate: options.generate,
                keepQuantized: options.keepQuantized, chatTemplate: options.chatTemplate.rawValue, bootstrapResamples: options.bootstrapResamples,
                confidenceLevel: 0.95, targetAccuracy: options.targetAccuracy),
            recipe: try recipePath.map(recipeReference),
            dataset: .init(
                path: dataPath, sha256: set.sha256, format: set.format.rawValue, samples: set.records.count, task: set.task,
                taskReason: set.taskReason, labels: set.labels),
            warnings: set.warnings, models: columns)
        return (report, predictions)
    }

    private static func recipeReference(_ path: String) throws -> EvaluationReport.RecipeReference {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw EvaluationError("\(path): cannot be read (the recipe named for the report)")
        }
        return .init(path: path, sha256: SHA256.hex(data), text: text)
    }

    /// Writes the four report files into `folder` (created if needed), each atomically.
    public static func write(_ report: EvaluationReport, predictions: [Prediction], to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder.report
        var json = try encoder.encode(report)
        json.append(0x0A)
        try AtomicFile.write(json, to: folder + "/report.json")
        var lines = Data()
        for prediction in predictions {
            lines.append(try encoder.encode(prediction))
            lines.append(0x0A)
        }
        try AtomicFile.write(lines, to: folder + "/predictions.jsonl")
        try AtomicFile.write(Data(MarkdownReport.render(report).utf8), to: folder + "/report.md")
        try AtomicFile.write(Data(HTMLReport.render(report).utf8), to: folder + "/report.html")
    }
}
