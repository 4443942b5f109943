import SLMModel

/// One training example as a JSONL line holds it, before any template or tokenizer.
public enum DataRecord: Sendable, Equatable {
    /// `{"text": "..."}`: all of it is learned.
    case text(String)
    /// `{"prompt": "...", "completion": "..."}`
    case promptCompletion(prompt: String, completion: String)
    /// `{"instruction": "...", "input": "...", "output": "..."}`; "input" may be missing or empty.
    case alpaca(instruction: String, input: String, output: String)
    /// `{"messages": [{"role": "system" | "user" | "assistant", "content": "..."}, ...]}`,
    /// with at least one assistant message.
    case chat([ChatMessage])

    public var format: Recipe.DataFormat {
        switch self {
        case .text: .text
        case .promptCompletion: .promptCompletion
        case .alpaca: .alpaca
        case .chat: .chat
        }
    }
}
