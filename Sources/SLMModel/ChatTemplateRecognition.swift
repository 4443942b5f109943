import Foundation

/// Recognising a model's declared chat template (Jinja text: GGUF `tokenizer.chat_template`, or
/// `chat_template` in tokenizer_config.json / chat_template.jinja) by the special tokens and literals
/// it writes:
/// ```
/// <|im_start|> (not Phi-4's <|im_sep|>)     chatml   "<|im_start|>system\n{literal}<|im_end|>" → default system
///                                                    prompt; "<think>" → Qwen3's reasoning turns
/// <|start_header_id|>                       llama3   "Cutting Knowledge Date: X" → date header; its date is
///                                                    strftime_now (today, when given) or the literal
///                                                    `date_string = "…"`
/// <start_of_turn>                           gemma
/// [INST] … [/INST] (not Llama 2's <<SYS>>,  mistral  "[INST] " in a string literal → v0.3's spacing
///   v0.1's " [/INST]", [SYSTEM_PROMPT])
/// <|assistant|> and <|end|>                 phi4 when tags are built as '<|' + message['role'] + '|>', else phi3
/// ```
extension ChatTemplate {
    /// The template `declared` is, or nil when it is none of the known formats. `today` fills Llama 3.2's
    /// date; nil: the template's fixed one, so that the text does not depend on the day (training, caches).
    public init?(declared template: String, today: Date? = Date()) {
        if template.contains("<|im_start|>"), !template.contains("<|im_sep|>") {
            self.init(.chatml)
            defaultSystemPrompt = Self.chatMLDefaultSystemPrompt(template)
            reasoning = template.contains("<think>")
        } else if template.contains("<|start_header_id|>") {
            self.init(.llama3)
            llama3DateHeader = Self.llama3DateHeader(template, today: today)
        } else if template.contains("<start_of_turn>") {
            self.init(.gemma)
        } else if template.contains("[INST]"), template.contains("[/INST]") {
            let older = ["<<SYS>>", "' [/INST]'", "\" [/INST]\"", "[SYSTEM_PROMPT]"]
            guard !older.contains(where: template.contains) else { return nil }
            self.init(.mistral)
            mistralSpaced = template.contains("\"[INST] \"") || template.contains("'[INST] '")
        } else if template.contains("<|assistant|>"), template.contains("<|end|>") {
            let builtTags = ["'<|' + message['role'] + '|>'", "\"<|\" + message[\"role\"] + \"|>\"", "'<|' + message.role + '|>'"]
            self.init(builtTags.contains(where: template.contains) ? .phi4 : .phi3)
        } else {
            return nil
        }
    }

    /// The template a GGUF file declares in `tokenizer.chat_template`; nil when it has none or an unknown one.
    public init?(gguf file: GGUFFile) {
        guard let template = file["tokenizer.chat_template"]?.string else { return nil }
        self.init(declared: template)
    }

    /// The first `<|im_start|>system\n…<|im_end|>` whose text is a literal (no quote or Jinja syntax in it).
    /// The template's string literals hold the newline itself, or (escaped) a backslash and n.
    static func chatMLDefaultSystemPrompt(_ template: String) -> String? {
        for opener in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            var from = template.startIndex
            while let start = template.range(of: opener, range: from..<template.endIndex) {
                from = start.upperBound
                guard let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex) else { break }
                let text = template[start.upperBound..<end.lowerBound]
                if !text.isEmpty, !text.contains(where: { "'\"{}+".contains($0) }) { return String(text) }
            }
        }
        return nil
    }

    /// Llama 3.1/3.2's "Cutting Knowledge Date: …\nToday Date: …" header; nil for Llama 3.0's template.
    static func llama3DateHeader(_ template: String, today: Date?) -> Llama3DateHeader? {
        guard let cutoffStart = template.range(of: "Cutting Knowledge Date: ") else { return nil }
        let cutoff = template[cutoffStart.upperBound...].prefix { !"\\\n\"'".contains($0) }
        if template.contains("strftime_now"), let today {
            return Llama3DateHeader(knowledgeCutoff: String(cutoff), today: Llama3DateHeader.format(today))
        }
        var date = Llama3DateHeader.fixedDate  // should the literal not be found
        for assignment in ["date_string = \"", "date_string = '"] {
            if let start = template.range(of: assignment) {
                date = String(template[start.upperBound...].prefix { $0 != "\"" && $0 != "'" })
                break
            }
        }
        return Llama3DateHeader(knowledgeCutoff: String(cutoff), today: date)
    }
}

/// What `--chat-template` / `model.chat_template` asks for: the model's own template, a format by name, or none.
public enum ChatTemplateChoice: String, Sendable, CaseIterable {
    /// The model's declared template; plain text when it declares none; an error when slm does not know it.
    case auto
    case chatml, llama3, mistral, phi3, phi4, gemma
    /// No template: prompt and completion joined as plain text (base models).
    case none

    /// The template this choice gives for a model that declares `declared` (read from `source`, named in
    /// errors). A named format keeps the declared template's details (default system prompt, dates) when
    /// the declared one is that format. `today` as `ChatTemplate(declared:today:)`'s. nil: plain text.
    public func template(declared: String?, source: String, today: Date? = Date()) throws(ChatTemplateError) -> ChatTemplate? {
        let recognised = declared.flatMap { ChatTemplate(declared: $0, today: today) }
        switch self {
        case .none: return nil
        case .auto:
            guard let declared else { return nil }
            guard let recognised else { throw ChatTemplateError(source: source, declared: declared) }
            return recognised
        case .chatml, .llama3, .mistral, .phi3, .phi4, .gemma:
            let format = ChatFormat(rawValue: rawValue)!
            return recognised?.format == format ? recognised : ChatTemplate(format, today: today)
        }
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// A model's chat template that is none of the formats slm renders.
public struct ChatTemplateError: Error, CustomStringConvertible {
    public let source: String
    public let firstLine: String

    init(source: String, declared: String) {
        self.source = source
        let line = declared.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        firstLine = line.count > 80 ? String(line.prefix(80)) + "…" : line
    }

    public var description: String {
        "\(source) declares a chat template slm does not recognise (\(firstLine)); slm renders "
            + ChatFormat.allCases.map(\.displayName).joined(separator: ", ")
            + ": name the format with --chat-template NAME, or model.chat_template in a recipe (one of "
            + ChatTemplateChoice.names + ")"
    }
}
