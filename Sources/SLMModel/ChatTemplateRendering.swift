/// Each format's layout (`ChatFormat`'s doc comment), as segments that say which text is a reply.
extension ChatTemplate {
    /// The conversation cut into context, replies and their end-of-turn tokens; joined, the segments are
    /// `render(messages, addGenerationPrompt:)`.
    public func segments(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [ChatSegment] {
        var out = SegmentList()
        switch format {
        case .chatml: chatML(messages, &out)
        case .llama3: llama3(messages, &out)
        case .mistral: mistral(messages, &out)
        case .phi3: phi(messages, &out, afterTag: "\n", afterTurn: "\n", skipsEmptySystem: true)
        case .phi4: phi(messages, &out, afterTag: "", afterTurn: "", skipsEmptySystem: false)
        case .gemma: gemma(messages, &out)
        }
        switch format {
        case .chatml: if addGenerationPrompt { out.context("<|im_start|>assistant\n") }
        case .llama3: if addGenerationPrompt { out.context("<|start_header_id|>assistant<|end_header_id|>\n\n") }
        case .mistral: break  // the prompt ends with [/INST]; the reply follows directly
        case .phi3: out.context(addGenerationPrompt ? "<|assistant|>\n" : "<|endoftext|>")
        case .phi4: out.context(addGenerationPrompt ? "<|assistant|>" : "<|endoftext|>")
        case .gemma: if addGenerationPrompt { out.context("<start_of_turn>model\n") }
        }
        return out.segments
    }

    private func chatML(_ messages: [ChatMessage], _ out: inout SegmentList) {
        if let system = defaultSystemPrompt, let first = messages.first, first.role != "system" {
            out.context("<|im_start|>system\n\(system)<|im_end|>\n")
        }
        let lastQuery = messages.lastIndex { $0.role == "user" && !isToolResponse($0.content) } ?? messages.count - 1
        for (i, m) in messages.enumerated() {
            guard m.role == "assistant" else {
                out.context("<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n")
                continue
            }
            out.context("<|im_start|>assistant\n")
            out.reply(reasoning ? qwen3Reply(m.content, thinks: i > lastQuery, isLast: i == messages.count - 1) : m.content)
            out.endOfTurn("<|im_end|>")
            out.context("\n")
        }
    }

    /// Qwen3's assistant turn: the `<think>` block kept (empty when there is none) for the last reply
    /// after the last user message, dropped from earlier replies.
    private func qwen3Reply(_ content: String, thinks: Bool, isLast: Bool) -> String {
        var text = content
        var thought = ""
        if let firstClose = content.range(of: "</think>"), let lastClose = content.range(of: "</think>", options: .backwards) {
            // content.split('</think>')[-1].lstrip('\n') and
            // content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
            text = JinjaText.lstrip(String(content[lastClose.upperBound...]), "\n")
            let head = JinjaText.rstrip(String(content[..<firstClose.lowerBound]), "\n")
            thought = JinjaText.lstrip(head.range(of: "<think>", options: .backwards).map { String(head[$0.upperBound...]) } ?? head, "\n")
        }
        guard thinks, isLast || !thought.isEmpty else { return text }
        return "<think>\n" + JinjaText.strip(thought, "\n") + "\n</think>\n\n" + JinjaText.lstrip(text, "\n")
    }

    private func isToolResponse(_ content: String) -> Bool {
        content.hasPrefix("<tool_response>") && content.hasSuffix("</tool_response>")
    }

    private func llama3(_ messages: [ChatMessage], _ out: inout SegmentList) {
        var turns = messages[...]
        if let header = llama3DateHeader {
            var system = ""
            if let first = turns.first, first.role == "system" {
                system = JinjaText.trim(first.content)
                turns = turns.dropFirst()
            }
            out.context(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: \(header.knowledgeCutoff)\n"
                    + "Today Date: \(header.today)\n\n\(system)<|eot_id|>")
        } else if !turns.isEmpty {
            out.context("<|begin_of_text|>")
        }
        for m in turns {
            let head = "<|start_header_id|>\(m.role)<|end_header_id|>\n\n"
            guard m.role == "assistant" else {
                out.context(head + JinjaText.trim(m.content) + "<|eot_id|>")
                continue
            }
            out.context(head)
            out.reply(JinjaText.trim(m.content))
            out.endOfTurn("<|eot_id|>")
        }
    }

    private func mistral(_ messages: [ChatMessage], _ out: inout SegmentList) {
        var turns = messages[...]
        var system: String?
        if let first = turns.first, first.role == "system" {
            system = first.content
            turns = turns.dropFirst()
        }
        let open = mistralSpaced ? "[INST] " : "[INST]"
        out.context("<s>")
        for (i, m) in turns.enumerated() {
            guard m.role == "assistant" else {
                let isLast = i == turns.count - 1
                out.context(open + (isLast ? system.map { $0 + "\n\n" } ?? "" : "") + m.content + "[/INST]")
                continue
            }
            out.reply(mistralSpaced ? " " + JinjaText.trim(m.content) : m.content)
            out.endOfTurn("</s>")
        }
    }

    /// Phi-3/3.5 (`\n` after each tag and turn; a system message with empty content is left out) and
    /// Phi-4-mini (nothing between tags and content).
    private func phi(_ messages: [ChatMessage], _ out: inout SegmentList, afterTag: String, afterTurn: String, skipsEmptySystem: Bool) {
        for m in messages {
            if skipsEmptySystem, m.role == "system", m.content.isEmpty { continue }
            guard m.role == "assistant" else {
                out.context("<|\(m.role)|>" + afterTag + m.content + "<|end|>" + afterTurn)
                continue
            }
            out.context("<|assistant|>" + afterTag)
            out.reply(m.content)
            out.endOfTurn("<|end|>")
            if !afterTurn.isEmpty { out.context(afterTurn) }
        }
    }

    private func gemma(_ messages: [ChatMessage], _ out: inout SegmentList) {
        var turns = messages[...]
        var prefix = ""
        if let first = turns.first, first.role == "system" {
            prefix = first.content + "\n\n"
            turns = turns.dropFirst()
        }
        out.context("<bos>")
        for (i, m) in turns.enumerated() {
            let head = "<start_of_turn>\(m.role == "assistant" ? "model" : m.role)\n" + (i == 0 ? prefix : "")
            guard m.role == "assistant" else {
                out.context(head + JinjaText.trim(m.content) + "<end_of_turn>\n")
                continue
            }
            out.context(head)
            out.reply(JinjaText.trim(m.content))
            out.endOfTurn("<end_of_turn>")
            out.context("\n")
        }
    }
}

/// Segments in order, adjacent context merged.
private struct SegmentList {
    var segments: [ChatSegment] = []

    mutating func context(_ text: String) {
        guard !text.isEmpty else { return }
        if let last = segments.last, last.kind == .context {
            segments[segments.count - 1].text += text
        } else {
            segments.append(ChatSegment(text, .context))
        }
    }

    mutating func reply(_ text: String) { segments.append(ChatSegment(text, .reply)) }
    mutating func endOfTurn(_ text: String) { segments.append(ChatSegment(text, .endOfTurn)) }
}

/// Jinja's (Python's) string stripping: `trim` strips whitespace as `str.strip()` does; the others strip
/// the given characters.
enum JinjaText {
    static func trim(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let start = scalars.firstIndex(where: { !isPythonSpace($0) }) else { return "" }
        let end = scalars.lastIndex { !isPythonSpace($0) }!
        return String(scalars[start...end])
    }

    static func lstrip(_ s: String, _ character: Unicode.Scalar) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.drop { $0 == character }))
    }

    static func rstrip(_ s: String, _ character: Unicode.Scalar) -> String {
        var scalars = s.unicodeScalars
        while scalars.last == character { scalars.removeLast() }
        return String(scalars)
    }

    static func strip(_ s: String, _ character: Unicode.Scalar) -> String { lstrip(rstrip(s, character), character) }

    /// `str.isspace()`: Unicode white space plus the ASCII separators U+001C…U+001F.
    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }
}
