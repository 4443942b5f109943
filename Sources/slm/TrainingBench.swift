import ArgumentParser
import Foundation
import SLMBenchmarks
import SLMTensor

extension Memory1BBenchmark.Base: ExpressibleByArgument {}

/// The options and printout of `slm bench`'s training parts: `train` (the PyTorch reference's
/// LoRA step on the demo model) and `memory-1b` (a Llama-3.2-1B-shaped model's LoRA step).
struct TrainingOptions: ParsableArguments {
    @Flag(help: "train: keep the demo model's projections in their ggml blocks instead of dequantizing them to Float32.")
    var keepQuantized = false

    @Flag(help: "train: hold the frozen base projections in bf16 and multiply them in bf16 (a recipe's model.dtype: bf16).")
    var bf16 = false

    @Flag(help: "train: recompute each layer's activations in backward (a recipe's train.gradient_checkpointing).")
    var gradientCheckpointing = false

    @Option(help: "memory-1b: the frozen base projections' format (\(Memory1BBenchmark.Base.allCases.map(\.rawValue).joined(separator: ", "))).")
    var base = Memory1BBenchmark.Base.f32

    @Option(help: "Rows per step (default: train 4, memory-1b 1).")
    var batch: Int?

    @Option(help: "Tokens per row (default: train 256, memory-1b 512).")
    var sequence: Int?

    @Option(help: "Unmeasured steps first (default: train 2, memory-1b 1).")
    var warmup: Int?

    @Option(help: "Measured steps (default: train 10, memory-1b 2).")
    var steps: Int?

    @Option(help: "Also write the figures of a training part to this JSON file.")
    var json: String?

    func validate() throws {
        for (name, value) in [("batch", batch), ("sequence", sequence), ("steps", steps)] where value.map({ $0 < 1 }) ?? false {
            throw ValidationError("--\(name) must be at least 1")
        }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be 0 or more") }
        if bf16 && keepQuantized { throw ValidationError("--bf16 and --keep-quantized are two forms of the base; give one") }
    }

    func train(model: String, peak: GemmBenchmark.Row) throws {
        guard FileManager.default.fileExists(atPath: model) else {
            print("train: skipped, no model at \(model) (run scripts/setup, or pass --model)")
            return
        }
        let (b, t) = (batch ?? 4, sequence ?? 256)
        let r = try TrainStepBenchmark.run(
            modelPath: model, keepQuantized: keepQuantized, bf16: bf16, recomputeActivations: gradientCheckpointing, batch: b, sequence: t, warmupSteps: warmup ?? 2, steps: steps ?? 10)
        let weights = keepQuantized ? "projections kept quantized"
            : bf16 ? "projections in bf16, multiplied \(TileGemm.pathDescription)" : "weights dequantized to f32"
        let recompute = gradientCheckpointing ? ", activations recomputed in backward" : ""
        print("LoRA training step as train_lora.py: \((model as NSString).lastPathComponent) (\(weights)\(recompute)), LoRA r=16 α=32 on all 7 projections, AdamW lr 2e-4, batch \(b) × \(t):")
        line("corpus", String(format: "%d tokens (built and tokenized in %.1f s)", r.corpusTokens, r.corpusSeconds))
        try report(r.measurement, flops: r.flops, peak: peak, extra: ["corpus_tokens": r.corpusTokens, "keep_quantized": keepQuantized, "bf16": bf16, "gradient_checkpointing": gradientCheckpointing])
    }

    func memory1B(peak: GemmBenchmark.Row) throws {
        let (b, t) = (batch ?? 1, sequence ?? 512)
        let r = try Memory1BBenchmark.run(base: base, batch: b, sequence: t, warmupSteps: warmup ?? 1, steps: steps ?? 2)
        let c = r.config
        print("LoRA training of a Llama-3.2-1B-shaped model (random weights: \(c.layers) layers, hidden \(c.hiddenSize), \(c.heads)/\(c.kvHeads) heads, MLP \(c.intermediateSize), vocab \(c.vocabSize), tied), frozen base \(base.rawValue), LoRA r=16 on all 7 projections, batch \(b) × \(t):")
        line("resident after building", (r.modelResidentBytes.map(mib) ?? "unknown") + String(format: " (built in %.1f s)", r.buildSeconds))
        try report(r.measurement, flops: r.flops, peak: peak, extra: ["base": base.rawValue, "model_resident_mib": (r.modelResidentBytes ?? 0) / (1 << 20)])
    }

    private func report(_ m: LoRAStepTiming.Measurement, flops: LoRAStepFlops, peak: GemmBenchmark.Row, extra: [String: Any]) throws {
        let rate = m.tokensPerSecond
        let sorted = m.stepSeconds.sorted()
        let achieved = rate.median * flops.total / 1e9
        line("tokens/s", String(format: "%.1f, median of %d steps (%.1f–%.1f); median step %.3f s", rate.median, m.stepSeconds.count, rate.low, rate.high, sorted[sorted.count / 2]))
        line("first-step loss", String(format: "%.4f", m.losses[0]))
        line("peak RSS", mib(m.peakResidentBytes))
        line("FLOPs per token", String(format: "%.3f G (forward %.3f, backward %.3f; frozen base, attention over the full T × T)", flops.total / 1e9, flops.forward / 1e9, flops.backward / 1e9))
        line("model-FLOPs utilisation", String(format: "%.1f%% of the sgemm peak (%.1f of %.1f GFLOP/s)", 100 * achieved / peak.gflops, achieved, peak.gflops))
        line("time in matmuls", String(format: "%.1f%% of the step (other %.1f%%)", 100 * m.matmulShare, 100 * (1 - m.matmulShare)))
        guard let json else { return }
        let record: [String: Any] = [
            "tokens_per_step": m.tokensPerStep,
            "tokens_per_s_median": rate.median, "tokens_per_s_min": rate.low, "tokens_per_s_max": rate.high,
            "step_s_all": m.stepSeconds, "warmup_step_s": m.warmupSeconds, "losses": m.losses,
            "peak_rss_mib": Double(m.peakResidentBytes) / Double(1 << 20), "gflop_per_token": flops.total / 1e9,
            "sgemm_peak_gflops": peak.gflops, "mfu": achieved / peak.gflops, "matmul_share": m.matmulShare, "threads": Parallel.threads,
        ].merging(extra) { a, _ in a }
        try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
    }

    private func line(_ label: String, _ text: String) { print(label.padding(toLength: 24, withPad: " ", startingAt: 0) + " " + text) }

    private func mib(_ bytes: Int) -> String { String(format: "%.0f MiB", Double(bytes) / Double(1 << 20)) }
}
