import ArgumentParser
import Foundation
import SLMModel
import SLMTensor
import SLMTraining

/// `slm merge`: base + LoRA adapter → one deployable file, verified by reading it back.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a LoRA adapter into its base model and export it as GGUF (llama.cpp, ollama) or a Hugging Face folder.",
        discussion: """
            W' = W + s·B·A (s = lora_alpha / r, or lora_alpha / √r with rsLoRA). A quantized GGUF base is
            dequantized, merged in f32 and quantized once. The written file is read back and compared with
            base + adapter on a probe text (logits, perplexity, greedy output); --no-verify skips that.
            """)

    @Option(help: "The base model: a .gguf file or a Hugging Face folder (config.json, safetensors, tokenizer.json).")
    var base: String

    @Option(help: "A PEFT adapter folder (adapter_config.json + adapter_model.safetensors); without it the base is only converted.")
    var adapter: String?

    @Option(help: "The file to write.")
    var out: String

    @Option(help: "Output format: gguf (one file for llama.cpp / ollama, with a NAME.Modelfile beside it), safetensors (a Hugging Face folder), or lora-gguf (the adapter alone, in llama.cpp's LoRA format).")
    var format = "gguf"

    @Option(help: "GGUF quantization: \(GGUFFileType.names).")
    var quant = "q8_0"

    @Option(help: "safetensors element type: f32, f16 or bf16.")
    var dtype = "f32"

    @Option(help: "A text file to verify on (e.g. held-out text; its first 256 tokens). Default: a built-in paragraph.")
    var probe: String?

    @Flag(help: "Do not read the export back to compare it with base + adapter.")
    var noVerify = false

    @Option(help: "Threads for OpenBLAS and slm's kernels.")
    var threads = 2

    func validate() throws {
        guard ["gguf", "safetensors", "lora-gguf"].contains(format) else { throw ValidationError("--format must be gguf, safetensors or lora-gguf, got \(format)") }
        guard format != "lora-gguf" || adapter != nil else { throw ValidationError("--format lora-gguf writes an adapter: give --adapter") }
        guard SafetensorsWriter.DType(rawValue: dtype.uppercased()) != nil else { throw ValidationError("--dtype must be f32, f16 or bf16, got \(dtype)") }
        guard GGUFFileType(name: quant) != nil else { throw ValidationError("--quant must be one of \(GGUFFileType.names), got \(quant)") }
    }

    func run() throws {
        Parallel.setThreads(threads)
        let fileType = GGUFFileType(name: quant)!
        let progress = ProgressReporter(logEvery: 1)
        let probeText = try probe.map { path in
            do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ValidationError("cannot read --probe \(path): \(error.localizedDescription)")
            }
        } ?? ExportComparison.defaultProbe

        progress.message("loading \(base)\(adapter.map { " + adapter \($0)" } ?? "")")
        let loaded = try MergeExport.loadBase(base, adapter: adapter)
        if !loaded.quantizedTypes.isEmpty {
            progress.message("the base is stored as \(loaded.quantizedTypes.map(\.description).joined(separator: ", ")): dequantized, merged in f32, quantized once to \(fileType.rawValue)")
        }
        if format == "lora-gguf" {
            let name = URL(fileURLWithPath: adapter!).standardizedFileURL.lastPathComponent
            try LoRAAdapterGGUF.write(loaded.model, architecture: loaded.model.config.architecture, name: name, to: out)
            print("wrote \(out) (LoRA adapter for llama.cpp: llama-cli -m BASE.gguf --lora \(out))")
            return
        }
        if format == "safetensors" {
            let result = try MergeExport.safetensors(
                loaded, out: out, dtype: SafetensorsWriter.DType(rawValue: dtype.uppercased())!, probe: noVerify ? nil : probeText)
            print(String(format: "wrote %@ (Hugging Face folder, %@) in %.2f s", out, dtype, result.seconds))
            if let c = result.comparison { print(MergeReport.verification(c)) }
            return
        }
        let result = try MergeExport.gguf(loaded, out: out, fileType: fileType, probe: noVerify ? nil : probeText) { done, total in
            if done == total || done % 25 == 0 { progress.message("writing \(out): \(done)/\(total) tensors") }
        }
        print(MergeReport.text(result, out: out, fileType: fileType))
        print("ollama: \(try OllamaModelfile.write(for: out, base: loaded)) (ollama create NAME -f that file)")
    }
}
