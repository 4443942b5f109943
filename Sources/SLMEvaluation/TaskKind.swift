import SLMTraining

/// How generated answers are scored, decided from the references unless a recipe or flag says
/// (`Recipe.EvalTask`).
public enum TaskKind: String, Codable, Sendable {
    case label, extraction, text
    /// Text records: nothing to generate, the report has loss and perplexity only.
    case none

    /// At most this many distinct labels, each at most `longestLabel` characters on one line.
    public static let mostLabels = 50
    public static let longestLabel = 40

    /// The kind `choice` asks for, or under `auto`: none without references; extraction when every
    /// reference is a JSON object; label when every reference is one line of at most 40 characters
    /// and there are at most 50 distinct ones, no more than half the references (labels repeat);
    /// text otherwise. Returns the kind and a sentence saying why.
    public static func decide(references: [String], choice: Recipe.EvalTask) -> (kind: TaskKind, reason: String) {
        guard !references.isEmpty else { return (.none, "the records have no answers to generate (text records)") }
        switch choice {
        case .label: return (.label, "asked for (task: label)")
        case .extraction: return (.extraction, "asked for (task: extraction)")
        case .text: return (.text, "asked for (task: text)")
        case .auto: break
        }
        if references.allSatisfy({ JSONValue.object($0) != nil }) { return (.extraction, "every reference is a JSON object") }
        let distinct = Set(references.map(trimmed))
        let short = references.allSatisfy { $0.count <= longestLabel && !$0.contains("\n") }
        if short, distinct.count <= mostLabels, distinct.count * 2 <= references.count {
            return (.label, "the \(references.count) references are \(distinct.count) short labels")
        }
        return (.text, "the references are free text")
    }
}

func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
