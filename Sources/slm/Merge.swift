import ArgumentParser
import Foundation
import SLMEvaluation
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
            A GGUF export gets an ollama Modelfile (NAME.Modelfile) and a report (NAME.report.json) beside it. \
            --quant q8_0,q4_0,q4_k_m writes one file per type (smol.gguf → smol.q8_0.gguf, …) from one load and merge; \
            --heldout FILE.jsonl then writes a quantization report (size, bits/weight, tensor error, held-out perplexity and its change from f32) \
            in the evaluation report's format. docs/export.md describes every format.
            """)

    @Option(help: "The base model: a .gguf file or a Hugging Face folder (config.json, safetensors, tokenizer.json).")
    var base: String

    @Option(help: "A PEFT adapter folder (adapter_config.json + adapter_model.safetensors); without it the base is only converted.")
    var adapter: String?

    @Option(help: "The file (gguf, lora-gguf) or folder (safetensors) to write.")
    var out: String

    @Option(help: "gguf (one file for llama.cpp / ollama), safetensors (a Hugging Face folder), or lora-gguf (the adapter alone, llama.cpp's LoRA format).")
    var format = "gguf"

    @Option(help: "GGUF quantization: \(GGUFFileType.names); several, comma-separated, write one file each.")
    var quant = "q8_0"

    @Option(help: "A held-out JSONL file: write a quantization report comparing f32 (base + adapter) and each GGUF type on it.")
    var heldout: String?

    @Option(help: "Score the first N held-out records only.")
    var heldoutSamples: Int?

    @Option(help: "The quantization report's folder (default: OUT without .gguf, plus .quant-report).")
    var report: String?

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
        for name in quantNames where GGUFFileType(name: name) == nil {
            throw ValidationError("--quant must be one of \(GGUFFileType.names) (or several, comma-separated), got \(name)")
        }
        guard quantNames.count == 1 || format == .gguf else { throw ValidationError("several --quant types need --format gguf") }
        guard heldout == nil || format == .gguf else { throw ValidationError("--heldout reports on GGUF quantizations: it needs --format gguf") }
        guard Set(quantNames).count == quantNames.count else { throw ValidationError("--quant names a type twice: \(quant)") }
    }

    private var quantNames: [String] { quant.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func run() throws {
        Parallel.setThreads(threads)
        let probeText = try probe.map { path in
            do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ValidationError("cannot read --probe \(path): \(error.localizedDescription)")
            }
        } ?? ExportComparison.defaultProbe
        let fileTypes = quantNames.map { GGUFFileType(name: $0)! }
        let request = MergeExport.Request(
            base: base, adapter: adapter, out: out, format: MergeExport.Format(rawValue: format)!, fileType: fileTypes[0],
            dtype: SafetensorsWriter.DType(rawValue: dtype.uppercased())!, probe: noVerify ? nil : probeText)
        let progress = ProgressReporter(logEvery: 1)
        let written = try MergeReport.run(request, fileTypes: fileTypes, progress: progress)
        if let heldout {
            do {
                try QuantizationReport.write(
                    base: base, adapter: adapter, exports: Array(zip(fileTypes, written)), heldout: heldout, maxSamples: heldoutSamples,
                    to: report ?? QuantizationReport.defaultFolder(out: out), progress: progress)
            } catch let error as EvaluationError {
                throw failure("quantization report: \(error)")
            }
        }
    }
}
