import ArgumentParser
import Dispatch
import Foundation
import SLMModel
import SLMServe
import SLMTensor
import Synchronization

/// `slm serve`: an OpenAI-compatible HTTP server for one model.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions).",
        discussion: """
            Binds 127.0.0.1 by default (--host 0.0.0.0 accepts other machines; there is no authentication).

            The model is not thread-safe: requests are answered one at a time, in arrival order, and the others queue.

            Completions support echo and logprobs (legacy layout; with echo the prompt tokens are scored too); chat completions support logprobs and top_logprobs (at most 20); "stream": true sends server-sent events. Port 0 picks a free port; the bound address is printed on stdout. Stops on Ctrl-C. See docs/serve.md.
            """)

    @Argument(help: "A .gguf model file, or a Hugging Face model folder.")
    var model: String

    @Option(help: "A PEFT LoRA adapter folder to apply (adapter_config.json + adapter_model.safetensors).")
    var adapter: String?

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: a free one).")
    var port = 8080

    @Option(help: "The model id clients name in `model` (default: the file or folder name).")
    var name: String?

    @Option(help: "Tokens the KV cache holds, prompt and reply (default: the model's context, at most 4096).")
    var context: Int?

    @Option(help: "Chat template of /v1/chat/completions: auto (the model's own), or chatml, llama3, mistral, phi3, phi4, gemma.")
    var chatTemplate: String = ChatTemplateChoice.auto.rawValue

    @Option(help: "Threads for OpenBLAS and slm's kernels.")
    var threads = 2

    func validate() throws {
        _ = try chatTemplateOption(chatTemplate)
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() throws {
        Parallel.setThreads(threads)
        let served = try ServedModel.load(
            path: model, adapter: adapter, contextLength: context, id: name, chatTemplate: try chatTemplateOption(chatTemplate))
        for note in served.notes { FileHandle.standardError.write(Data("slm: \(note)\n".utf8)) }
        let server = OpenAIServer(model: served, host: host, port: port)
        let host = self.host
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        Task {
            do {
                try await server.run(
                    onListening: { port in
                        let line = "slm serve: \(served.id) on http://\(host):\(port)/v1 (context \(served.contextLength) tokens)\n"
                        FileHandle.standardOutput.write(Data(line.utf8))
                    },
                    log: { FileHandle.standardError.write(Data("\($0)\n".utf8)) })
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
        done.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
