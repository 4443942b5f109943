import SLMModel
import SLMTensor
import SLMTraining

/// The LoRA training step of the PyTorch + PEFT reference (`train_lora.py`) on the demo model:
/// SmolLM2-135M-Instruct from its GGUF file (dequantized to Float32 as the reference's HF copy,
/// held in bf16, or with its projections kept in their ggml blocks), batches of consecutive non-overlapping
/// windows of `EnglishCorpus`, warm-up steps, then measured ones (see `LoRAStepTiming`).
public enum TrainStepBenchmark {
    public struct Result: Sendable {
        public let measurement: LoRAStepTiming.Measurement
        public let flops: LoRAStepFlops
        public let corpusTokens: Int
        public let corpusSeconds: Double
    }

    public static func run(
        modelPath: String, keepQuantized: Bool, bf16: Bool, recomputeActivations: Bool, batch: Int, sequence: Int, warmupSteps: Int, steps: Int) throws -> Result {
        let file = try GGUFFile(path: modelPath)
        let model = try GGUFModelLoader.load(file, keepQuantized: keepQuantized)
        if bf16 { try model.holdFrozenProjectionsInBFloat16() }
        model.recomputesActivations = recomputeActivations
        let tokenizer = try BPETokenizer.load(gguf: file)
        var corpus: [Int32] = []
        let corpusSeconds = seconds { corpus = EnglishCorpus.tokens(tokenizer) }
        let batches = try windows(corpus, batch: batch, sequence: sequence, count: warmupSteps + steps)
        let measurement = try LoRAStepTiming.measure(model: model, warmupSteps: warmupSteps, steps: steps) { batches[$0] }
        return Result(
            measurement: measurement, flops: LoRAStepFlops(config: model.config, sequence: sequence, rank: LoRAStepTiming.lora.r),
            corpusTokens: corpus.count, corpusSeconds: corpusSeconds)
    }

    /// `count` consecutive non-overlapping [batch, sequence] windows of `tokens`, back to the start
    /// when one would run past the end (as the reference's `common.batches`).
    static func windows(_ tokens: [Int32], batch: Int, sequence: Int, count: Int) throws -> [TrainingBatch] {
        let need = batch * sequence
        guard tokens.count >= need else {
            throw TensorError(op: "bench train", "the corpus has \(tokens.count) tokens, fewer than one batch of \(need)")
        }
        var start = 0
        return (0..<count).map { _ in
            if start + need > tokens.count { start = 0 }
            defer { start += need }
            return LoRAStepTiming.languageModelingBatch(Array(tokens[start..<(start + need)]), batch: batch, sequence: sequence)
        }
    }
}
