/// One message of a conversation, with the role names chat templates use ("system", "user", "assistant").
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The ChatML conversation format (SmolLM2, Qwen), as SmolLM2's `tokenizer.chat_template` writes it:
/// ```
/// <|im_start|>system\n{system}<|im_end|>\n     (the default system prompt when the chat has none)
/// <|im_start|>user\n{content}<|im_end|>\n
/// <|im_start|>assistant\n{content}<|im_end|>\n
/// <|im_start|>assistant\n                      (the generation prompt)
/// ```
public struct ChatMLTemplate: Sendable, Equatable {
    /// Put first when a conversation has no system message; nil: none.
    public var defaultSystemPrompt: String?

    public init(defaultSystemPrompt: String? = nil) {
        self.defaultSystemPrompt = defaultSystemPrompt
    }

    /// The template a GGUF file declares: its `tokenizer.chat_template` must be ChatML, and a
    /// literal `<|im_start|>system\n…<|im_end|>` in it becomes the default system prompt.
    /// nil when the file has no template or another format.
    public init?(gguf file: GGUFFile) {
        guard let template = file["tokenizer.chat_template"]?.string else { return nil }
        self.init(declared: template)
    }

    /// The template a model declares as Jinja text (GGUF `tokenizer.chat_template`, or
    /// `chat_template` in tokenizer_config.json), when it is ChatML; nil for another format.
    public init?(declared template: String) {
        guard template.contains("<|im_start|>") else { return nil }
        // The template's string literals hold the newline itself, or (escaped) a backslash and n.
        let start = template.range(of: "<|im_start|>system\n") ?? template.range(of: "<|im_start|>system\\n")
        if let start, let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex) {
            defaultSystemPrompt = String(template[start.upperBound..<end.lowerBound])
        } else {
            defaultSystemPrompt = nil
        }
    }

    /// The conversation as text, ending with the assistant's generation prompt when asked.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var text = ""
        if let system = defaultSystemPrompt, messages.first?.role != "system" {
            text += "<|im_start|>system\n\(system)<|im_end|>\n"
        }
        for m in messages { text += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        return text
    }
}

/// A conversation with a model: each user message gets a reply generated from the whole history,
/// reusing the cached tokens of the earlier turns.
public final class ChatSession {
    public let generator: Generator
    public let template: ChatMLTemplate
    public private(set) var messages: [ChatMessage]

    public init(generator: Generator, template: ChatMLTemplate, system: String? = nil) {
        self.generator = generator
        self.template = template
        messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
    }

    /// The prompt tokens of the conversation so far, ready for the assistant's next reply.
    public var promptIds: [Int32] { generator.tokenizer.encode(template.render(messages)) }

    /// Adds the user's message, streams the reply through `onText`, and adds it to the conversation.
    @discardableResult
    public func reply(to user: String, parameters: GenerationParameters, onText: (String) -> Void = { _ in }) throws -> String {
        messages.append(ChatMessage(role: "user", content: user))
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
