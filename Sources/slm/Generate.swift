import ArgumentParser
import Foundation
import SLMModel
import SLMTensor

/// `slm generate`: text from a GGUF model, streamed to stdout; timings to stderr.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a GGUF model, streaming it to stdout as it is produced.",
        discussion: """
            With --prompt, continues the text (special tokens such as <|im_start|> are recognised).
            With --chat, reads one user message per line from stdin and answers each in the model's
            chat template (ChatML, Llama 3, Mistral, Phi-3, Phi-4-mini or Gemma; --chat-template names
            one), keeping the conversation; a reply ends at the format's end-of-turn token. Tokens/s go to stderr.
            """)

    @Argument(help: "A .gguf model file (Llama family, e.g. SmolLM2).")
    var model: String

    @Option(help: "Text to continue.")
    var prompt: String?

    @Flag(help: "Chat: user messages from stdin, one per line.")
    var chat = false

    @Option(help: "Chat: the system message (default: the template's own, if any).")
    var system: String?

    @Option(help: "Chat: the template, auto (the model's own; plain ChatML when it declares none) or chatml, llama3, mistral, phi3, phi4, gemma.")
    var chatTemplate: String = ChatTemplateChoice.auto.rawValue

    @Option(help: "New tokens at most (per reply).")
    var maxTokens = 256

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling: keep the most likely tokens up to this probability mass.")
    var topP: Float = 1

    @Option(help: "Keep only the k most likely tokens (0: all).")
    var topK = 0

    @Option(help: "Seed of the sampling draws.")
    var seed: UInt64 = 0

    @Option(help: "Stop when this text appears (repeatable); it is not printed.")
    var stop: [String] = []

    @Option(help: "Tokens the KV cache holds (default: the model's context, at most 4096).")
    var context: Int?

    @Option(help: "Threads for OpenBLAS and slm's kernels.")
    var threads = 2

    @Flag(help: "Dequantize the projections to Float32 on load (by default they stay in the file's blocks: less memory, faster decoding).")
    var dequantize = false

    func validate() throws {
        guard (prompt != nil) != chat else { throw ValidationError("give exactly one of --prompt TEXT and --chat") }
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
        _ = try chatTemplateOption(chatTemplate)
    }

    func run() throws {
        Parallel.setThreads(threads)
        let file = try GGUFFile(path: model)
        let transformer = try GGUFModelLoader.load(file, keepQuantized: !dequantize)
        let tokenizer = try BPETokenizer.load(gguf: file)
        let generator = try Generator(model: transformer, tokenizer: tokenizer, contextLength: context)
        let parameters = GenerationParameters(
            maxTokens: maxTokens,
            sampling: SamplingParameters(temperature: temperature, topK: topK, topP: topP, seed: seed),
            stopStrings: stop)

        if let prompt {
            // BOS first when the file says so (tokenizer.ggml.add_bos_token, true by default for "llama" vocabularies, as in llama.cpp).
            let ids = tokenizer.encode(prompt, addSpecial: true)
            try generator.generate(prompt: ids, parameters: parameters, onText: write)
            write("\n")
            report(generator)
            return
        }
        let declared = file["tokenizer.chat_template"]?.string
        let chosen = try chatTemplateOption(chatTemplate).template(declared: declared, source: model)
        if chosen == nil { FileHandle.standardError.write(Data("slm: the model declares no chat template; using plain ChatML\n".utf8)) }
        let template = chosen ?? ChatTemplate(.chatml)
        let session = ChatSession(generator: generator, template: template, system: system)
        let interactive = isatty(STDIN_FILENO) != 0
        while true {
            if interactive { FileHandle.standardError.write(Data("> ".utf8)) }
            guard let line = readLine() else { break }
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            try session.reply(to: line, parameters: parameters, onText: write)
            write("\n")
            report(generator)
        }
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    private func report(_ generator: Generator) {
        let s = generator.statistics
        let line = String(
            format: "[prompt %d tokens, %.1f tokens/s; generated %d tokens, %.1f tokens/s; %@]\n",
            s.promptTokens, s.promptTokensPerSecond, s.generatedTokens, s.generationTokensPerSecond,
            generator.finishReason?.rawValue ?? "-")
        FileHandle.standardError.write(Data(line.utf8))
    }
}
