import Foundation

/// An ollama `Modelfile` for a GGUF export (`ollama create NAME -f FILE`):
/// ```
/// FROM ./model.gguf
/// TEMPLATE """…"""            the model's chat template in ollama's Go-template form (ChatML or Llama 3)
/// SYSTEM """…"""              the template's default system prompt, if it has one
/// PARAMETER stop "<|im_end|>"  one line per stop token
/// ```
/// A chat template slm does not recognise is left out (ollama then uses the GGUF's own), with a comment.
public enum OllamaModelfile {
    public static func text(ggufFile: String, chatTemplate: String?, eosToken: String?) -> String {
        var lines = ["FROM ./\((ggufFile as NSString).lastPathComponent)", ""]
        var stops: [String] = []
        if let template = chatTemplate, template.contains("<|im_start|>") {
            lines.append(#"""
                TEMPLATE """{{ if .System }}<|im_start|>system
                {{ .System }}<|im_end|>
                {{ end }}{{ if .Prompt }}<|im_start|>user
                {{ .Prompt }}<|im_end|>
                {{ end }}<|im_start|>assistant
                {{ .Response }}<|im_end|>
                """
                """#)
            if let system = ChatTemplate(declared: template)?.defaultSystemPrompt { lines.append("SYSTEM \"\"\"\(system)\"\"\"") }
            stops = ["<|im_start|>", "<|im_end|>"]
        } else if let template = chatTemplate, template.contains("<|start_header_id|>") {
            lines.append(#"""
                TEMPLATE """{{ if .System }}<|start_header_id|>system<|end_header_id|>

                {{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>

                {{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>

                {{ .Response }}<|eot_id|>"""
                """#)
            stops = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        } else if chatTemplate != nil {
            lines.append("# the model's chat template is neither ChatML nor Llama 3; ollama uses the one in the GGUF file")
        }
        if let eos = eosToken, !stops.contains(eos) { stops.append(eos) }
        lines += stops.map { "PARAMETER stop \"\($0)\"" }
        return lines.joined(separator: "\n") + "\n"
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
