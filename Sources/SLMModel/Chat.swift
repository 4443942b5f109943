/// One message of a conversation, with the role names chat templates use ("system", "user", "assistant").
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A conversation with a model: each user message gets a reply generated from the whole history,
/// reusing the cached tokens of the earlier turns.
public final class ChatSession {
    public let generator: Generator
    public let template: ChatTemplate
    public private(set) var messages: [ChatMessage]

    public init(generator: Generator, template: ChatTemplate, system: String? = nil) {
        self.generator = generator
        self.template = template
        messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
    }

    /// The prompt tokens of the conversation so far, ready for the assistant's next reply.
    public var promptIds: [Int32] { generator.tokenizer.encode(template.render(messages)) }

    /// Adds the user's message, streams the reply through `onText`, and adds it to the conversation.
    /// The reply ends at the template's end of turn or EOS unless `parameters` names its own stop tokens.
    @discardableResult
    public func reply(to user: String, parameters: GenerationParameters, onText: (String) -> Void = { _ in }) throws -> String {
        messages.append(ChatMessage(role: "user", content: user))
        var parameters = parameters
        if parameters.stopTokenIds == nil { parameters.stopTokenIds = template.stopTokenIds(generator.tokenizer) }
        do {
            let reply = try generator.generate(prompt: promptIds, parameters: parameters, onText: onText)
            messages.append(ChatMessage(role: "assistant", content: reply))
            return reply
        } catch {
            messages.removeLast()
            throw error
        }
    }
}
