import ArgumentParser
import SLMModel

/// The `--chat-template` of `slm generate --chat` and `slm serve`: `auto` or a format name (a chat needs
/// a template, so not `none`).
func chatTemplateOption(_ name: String) throws -> ChatTemplateChoice {
    guard let choice = ChatTemplateChoice(rawValue: name), choice != .none else {
        let allowed = ChatTemplateChoice.allCases.filter { $0 != .none }.map(\.rawValue).joined(separator: ", ")
        throw ValidationError("--chat-template must be one of \(allowed), got \(name)")
    }
    return choice
}
