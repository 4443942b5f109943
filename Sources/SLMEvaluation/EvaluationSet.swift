import Foundation
import SLMModel
import SLMTraining

/// A held-out JSONL file (any format `JSONLDataset` reads) as the evaluator uses it: its records,
/// the answer each expects, the task kind, and what is odd about it (`warnings`).
public struct EvaluationSet: Sendable {
    public let path: String
    public let sha256: String
    public let format: Recipe.DataFormat
    public let records: [DataRecord]
    /// The final reply of each record (nil for text records), trimmed.
    public let references: [String?]
    public let task: TaskKind
    public let taskReason: String
    /// Label tasks: the labels, sorted (those of the training data too, when it is given).
    public let labels: [String]
    public let warnings: [String]

    /// `maxSamples`: the first N records. `trainPath`: the training file, to find held-out labels
    /// training never showed.
    public static func load(path: String, maxSamples: Int?, task choice: Recipe.EvalTask, trainPath: String?) throws -> EvaluationSet {
        let file: JSONLDataset
        do {
            file = try JSONLDataset.load(path: path)
        } catch {
            throw EvaluationError("\(error)\n(a held-out file is JSONL: one record a line, as text, prompt/completion, alpaca or chat messages; see docs/recipes.md)")
        }
        let records = Array(file.records.prefix(maxSamples ?? file.records.count))
        let replies = records.map(\.finalReply)
        let references = replies.compactMap { $0 }
        if !references.isEmpty, references.count < replies.count {
            throw EvaluationError("\(path): \(replies.count - references.count) of \(replies.count) records have no answer to compare with; use one format for the whole file")
        }
        let (task, reason) = TaskKind.decide(references: references, choice: choice)
        var warnings: [String] = []
        if file.skippedLines > 0 { warnings.append("\(file.skippedLines) bad lines skipped") }
        var labels: [String] = []
        if task == .label {
            let heldoutLabels = Set(references)
            labels = heldoutLabels.sorted()
            if let trainPath {
                let train: JSONLDataset
                do {
                    train = try JSONLDataset.load(path: trainPath)
                } catch {
                    throw EvaluationError("\(error) (the training file, read for its labels)")
                }
                let trainLabels = Set(train.records.compactMap(\.finalReply))
                let unseen = heldoutLabels.subtracting(trainLabels).sorted()
                if !unseen.isEmpty {
                    warnings.append("labels never seen in training (\(trainPath)): \(unseen.joined(separator: ", ")); the model cannot have learned them")
                }
                labels = heldoutLabels.union(trainLabels).sorted()
            }
        }
        return EvaluationSet(
            path: path, sha256: try SHA256.hex(file: path), format: file.format, records: records, references: replies,
            task: task, taskReason: reason, labels: labels, warnings: warnings)
    }
}

extension DataRecord {
    /// The answer the record expects, trimmed: the completion, the alpaca output, the last
    /// assistant message; nil for text.
    var finalReply: String? {
        switch self {
        case .text: nil
        case .promptCompletion(_, let completion): trimmed(completion)
        case .alpaca(_, _, let output): trimmed(output)
        case .chat(let messages): messages.last(where: { $0.role == "assistant" }).map { trimmed($0.content) }
        }
    }
}
