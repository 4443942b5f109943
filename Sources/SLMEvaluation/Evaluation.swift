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
        let teacher = try options.teacherCache.map(EvaluationTeacher.init(path:))
        if let teacher {
            let a = teacher.cache.attributes
            progress.message("teacher cache \(teacher.cache.path): \(teacher.cache.entries.count) samples, top-\(a.k) from \(a.teacher)")
        }
        let evaluator = ModelEvaluator(set: set, options: options, teacher: teacher, progress: progress)
        var columns: [ModelColumn] = [], predictions: [Prediction] = [], teacherView: ModelEvaluator.TeacherView?
        for spec in models {
            progress.message("model \(spec.name): \(spec.path)" + (spec.adapter.map { " + adapter \($0)" } ?? ""))
            let result = evaluator.evaluate(spec)
            columns.append(result.column)
            predictions += result.predictions
            teacherView = teacherView ?? result.teacherView
        }
        if let teacher {
            columns.append(try teacherColumn(teacher, teacherView, names: Set(models.map(\.name)), set: set, options: options))
        }
        let report = EvaluationReport(
            created: ISO8601DateFormatter().string(from: Date()), slmVersion: SLMVersion.current, seed: options.seed,
            settings: .init(
                maxSamples: options.maxSamples, maxNewTokens: options.maxNewTokens, sequenceLength: options.sequenceLength, generate: options.generate,
                keepQuantized: options.keepQuantized, chatTemplate: options.chatTemplate.rawValue, bootstrapResamples: options.bootstrapResamples,
                confidenceLevel: 0.95, targetAccuracy: options.targetAccuracy, teacherCache: options.teacherCache),
            recipe: try recipePath.map(recipeReference),
            dataset: .init(
                path: dataPath, sha256: set.sha256, format: set.format.rawValue, samples: set.records.count, task: set.task,
                taskReason: set.taskReason, labels: set.labels),
            warnings: set.warnings, models: columns)
        return (report, predictions)
    }

    /// The `teacher` column, read from the cache through the samples of the first model whose
    /// tokenizer is the cache's; without one it is a column with that error.
    private static func teacherColumn(
        _ teacher: EvaluationTeacher, _ view: ModelEvaluator.TeacherView?, names: Set<String>, set: EvaluationSet, options: EvaluationOptions
    ) throws -> ModelColumn {
        let name = names.contains("teacher") ? "teacher (cache)" : "teacher"
        guard let view else {
            var column = ModelColumn(name: name, path: teacher.cache.path, adapter: nil)
            column.error = "no model column has the cache's tokenizer (\(teacher.cache.attributes.tokenizer)) to format the held-out samples with"
            return column
        }
        return try teacher.column(
            name: name, samples: view.samples, owners: view.owners, teachers: view.teachers, records: set.records.count,
            bootstrap: Bootstrap(resamples: options.bootstrapResamples, seed: options.seed))
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
