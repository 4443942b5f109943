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
            W' = W + s·B·A (s = lora_alpha / r, or lora_alpha / √r with rsLoRA). A quantized GGUF base is dequantized, merged in f32 and quantized once. \
            The written file is read back and compared with base + adapter on a probe text (logits, perplexity, greedy output); --no-verify skips that. \
            A GGUF export gets an ollama Modelfile (NAME.Modelfile) and a report (NAME.report.json) beside it. docs/export.md describes every format.
            """)

    @Option(help: "The base model: a .gguf file or a Hugging Face folder (config.json, safetensors, tokenizer.json).")
    var base: String

    @Option(help: "A PEFT adapter folder (adapter_config.json + adapter_model.safetensors); without it the base is only converted.")
    var adapter: String?

    @Option(help: "The file (gguf, lora-gguf) or folder (safetensors) to write.")
    var out: String

    @Option(help: "gguf (one file for llama.cpp / ollama), safetensors (a Hugging Face folder), or lora-gguf (the adapter alone, llama.cpp's LoRA format).")
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
        guard let format = MergeExport.Format(rawValue: format) else { throw ValidationError("--format must be gguf, safetensors or lora-gguf, got \(format)") }
        guard format != .loraGGUF || adapter != nil else { throw ValidationError("--format lora-gguf writes an adapter: give --adapter") }
        guard SafetensorsWriter.DType(rawValue: dtype.uppercased()) != nil else { throw ValidationError("--dtype must be f32, f16 or bf16, got \(dtype)") }
        guard GGUFFileType(name: quant) != nil else { throw ValidationError("--quant must be one of \(GGUFFileType.names), got \(quant)") }
    }

    func run() throws {
        Parallel.setThreads(threads)
        let probeText = try probe.map { path in
            do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ValidationError("cannot read --probe \(path): \(error.localizedDescription)")
            }
        } ?? ExportComparison.defaultProbe
        let request = MergeExport.Request(
            base: base, adapter: adapter, out: out, format: MergeExport.Format(rawValue: format)!, fileType: GGUFFileType(name: quant)!,
            dtype: SafetensorsWriter.DType(rawValue: dtype.uppercased())!, probe: noVerify ? nil : probeText)
        try MergeReport.run(request, progress: ProgressReporter(logEvery: 1))
    }
}
