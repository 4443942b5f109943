import Foundation

/// An ollama `Modelfile` for a GGUF export (`ollama create NAME -f FILE`):
/// ```
/// FROM ./model.gguf
/// TEMPLATE """…"""            the model's chat template in ollama's Go-template form (`ollamaTemplate`)
/// SYSTEM """…"""              the template's default system prompt, if it has one (SmolLM2, Qwen2.5)
/// PARAMETER stop "<|im_end|>"  one line per stop token: the format's markers and the tokenizer's EOS
/// ```
/// A chat template slm does not recognise is left out (ollama then uses the GGUF's own), with a comment.
public enum OllamaModelfile {
    public static func text(ggufFile: String, chatTemplate: String?, eosToken: String?) -> String {
        var lines = ["FROM ./\((ggufFile as NSString).lastPathComponent)", ""]
        var stops: [String] = []
        if let declared = chatTemplate, let template = ChatTemplate(declared: declared) {
            lines.append("TEMPLATE \"\"\"\(ollamaTemplate(template))\"\"\"")
            if let system = template.defaultSystemPrompt { lines.append("SYSTEM \"\"\"\(system)\"\"\"") }
            stops = stopMarkers(template.format)
        } else if chatTemplate != nil {
            lines.append("# the model's chat template is none of slm's formats; ollama uses the one in the GGUF file")
        }
        if let eos = eosToken, !stops.contains(eos) { stops.append(eos) }
        lines += stops.map { "PARAMETER stop \"\($0)\"" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The markers that end a reply in ollama: the format's end of turn and the tags that would open another turn.
    static func stopMarkers(_ format: ChatFormat) -> [String] {
        switch format {
        case .chatml: ["<|im_start|>", "<|im_end|>"]
        case .llama3: ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        case .mistral: ["[INST]", "[/INST]", "</s>"]
        case .phi3, .phi4: ["<|end|>", "<|user|>", "<|assistant|>"]
        case .gemma: ["<start_of_turn>", "<end_of_turn>"]
        }
    }

    /// The template in ollama's Go-template form. ollama passes the system prompt (the conversation's system
    /// messages, or SYSTEM) as `.System` and every message, system ones included, in `.Messages`; BOS is
    /// added by the runner from the GGUF, so the templates leave it out. A conversation ending with a user
    /// turn gets the generation prompt, one ending with an assistant turn is continued (no end of turn).
    /// Without those two differences, the text equals `ChatTemplate.render` (Llama 3.2's date is the
    /// export's, as ollama's templates have no clock).
    public static func ollamaTemplate(_ template: ChatTemplate) -> String {
        let head = #"""
            {{- range $i, $_ := .Messages }}
            {{- $last := eq (len (slice $.Messages $i)) 1 }}
            """#
        switch template.format {
        case .chatml:
            return #"""
                {{- if .System }}<|im_start|>system
                {{ .System }}<|im_end|>
                {{ end }}
                """# + head + #"""

                {{- if eq .Role "user" }}<|im_start|>user
                {{ .Content }}<|im_end|>
                {{ if $last }}<|im_start|>assistant
                {{ end }}
                {{- else if eq .Role "assistant" }}<|im_start|>assistant
                {{ .Content }}{{ if not $last }}<|im_end|>
                {{ end }}
                {{- end }}
                {{- end }}
                """#
        case .llama3:
            var system = "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
            if let header = template.llama3DateHeader {
                system = "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: \(header.knowledgeCutoff)\n"
                    + "Today Date: \(header.today)\n\n{{ if .System }}{{ .System }}{{ end }}<|eot_id|>"
            }
            return system + "\n" + head + #"""

                {{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>

                {{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

                {{ end }}
                {{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>

                {{ .Content }}{{ if not $last }}<|eot_id|>{{ end }}
                {{- end }}
                {{- end }}
                """#
        case .mistral:
            let open = template.mistralSpaced ? "[INST] " : "[INST]", space = template.mistralSpaced ? " " : ""
            return head + """

                {{- if eq .Role "user" }}\(open){{ if and $last $.System }}{{ $.System }}

                {{ end }}{{ .Content }}[/INST]
                {{- else if eq .Role "assistant" }}\(space){{ .Content }}{{ if not $last }}</s>{{ end }}
                {{- end }}
                {{- end }}
                """
        case .phi3, .phi4:
            let nl = template.format == .phi3 ? "\n" : ""
            return "{{- if .System }}<|system|>\(nl){{ .System }}<|end|>\(nl){{ end }}\n" + head + """

                {{- if eq .Role "user" }}<|user|>\(nl){{ .Content }}<|end|>\(nl){{ if $last }}<|assistant|>\(nl){{ end }}
                {{- else if eq .Role "assistant" }}<|assistant|>\(nl){{ .Content }}{{ if not $last }}<|end|>\(nl){{ end }}
                {{- end }}
                {{- end }}
                """
        case .gemma:
            return "{{- $first := true }}\n" + head + #"""

                {{- if eq .Role "user" }}<start_of_turn>user
                {{ if and $first $.System }}{{ $.System }}

                {{ end }}{{ $first = false }}{{ .Content }}<end_of_turn>
                {{ if $last }}<start_of_turn>model
                {{ end }}
                {{- else if eq .Role "assistant" }}<start_of_turn>model
                {{ .Content }}{{ if not $last }}<end_of_turn>
                {{ end }}
                {{- end }}
                {{- end }}
                """#
        }
    }

    /// Writes the Modelfile for the GGUF export at `ggufPath` beside it, as NAME.Modelfile; returns its path.
    @discardableResult
    public static func write(for ggufPath: String, base: ExportBase) throws -> String {
        let path = ((ggufPath as NSString).deletingPathExtension) + ".Modelfile"
        let eos = base.tokenizer.eosTokenId.map { base.tokenizer.tokens[Int($0)] }
        try AtomicFile.write(Data(text(ggufFile: ggufPath, chatTemplate: base.chatTemplate, eosToken: eos).utf8), to: path)
        return path
    }
}
