import SLMModel
import SLMTensor
import SLMTraining

/// Times LoRA optimizer steps as the PyTorch + PEFT reference (`train_lora.py`) does: adapters
/// r = 16, α = 32, no dropout, on all seven projections; AdamW at lr 2e-4 with PyTorch's defaults
/// (weight decay 0.01), no clipping; each step one micro-batch, loss over every next token.
public enum LoRAStepTiming {
    public struct Measurement: Sendable {
        public let tokensPerStep: Int
        public let warmupSeconds: [Double]
        /// The steps after warm-up.
        public let stepSeconds: [Double]
        /// The loss of every step, warm-up included.
        public let losses: [Double]
        /// Wall time inside sgemm (and slm's quantized matmul kernels) over the measured steps.
        public let matmulSeconds: Double
        /// The process's peak resident memory when the last step ended.
        public let peakResidentBytes: Int

        public var tokensPerSecond: (median: Double, low: Double, high: Double) {
            let sorted = stepSeconds.sorted()
            let rate = { Double(tokensPerStep) / $0 }
            return (rate(sorted[sorted.count / 2]), rate(sorted.last!), rate(sorted.first!))
        }

        public var matmulShare: Double { matmulSeconds / stepSeconds.reduce(0, +) }
    }

    public static let lora = {
        var section = Recipe.LoRASection()
        section.dropout = 0
        return section
    }()

    /// Attaches fresh adapters to `model`, then runs `warmupSteps` + `steps` steps, step i on `batch(i)`.
    public static func measure(model: Transformer, warmupSteps: Int, steps: Int, batch: (Int) -> TrainingBatch) throws -> Measurement {
        let trainable = try TrainableParameters.lora(lora, model: model, baseModel: "benchmark", seed: 0)
        let stepper = TrainingStep(model: model, trainable: trainable, optimizer: AdamW(trainable.tensors), maxGradNorm: nil, seed: 0)
        var times: [Double] = [], losses: [Double] = [], matmulSeconds = 0.0
        var tokensPerStep = 0
        for i in 0..<(warmupSteps + steps) {
            let micro = batch(i)
            tokensPerStep = micro.batch * micro.sequence
            Gemm.resetCounters()
            Gemm.profiling = true
            defer { Gemm.profiling = false }
            var outcome: StepOutcome?
            times.append(try seconds { outcome = try stepper.run(step: i, batches: [micro], lr: 2e-4) })
            losses.append(outcome!.loss)
            if i >= warmupSteps { matmulSeconds += Gemm.seconds }
        }
        return Measurement(
            tokensPerStep: tokensPerStep, warmupSeconds: Array(times.prefix(warmupSteps)), stepSeconds: Array(times.dropFirst(warmupSteps)),
            losses: losses, matmulSeconds: matmulSeconds, peakResidentBytes: ResidentMemory.peak())
    }

    /// Rows of `sequence` tokens from `ids` [batch · sequence], each token labelled with the next one
    /// in its row, as Hugging Face's causal-LM loss reads `labels=input_ids` (the last of a row has none).
    public static func languageModelingBatch(_ ids: [Int32], batch: Int, sequence: Int) -> TrainingBatch {
        let labels = ids.indices.map { p in (p + 1) % sequence == 0 ? Tensor.ignoreIndex : ids[p + 1] }
        let positions = ids.indices.map { Int32($0 % sequence) }
        let rows = ids.indices.map { Int32($0 / sequence) }
        return TrainingBatch(batch: batch, sequence: sequence, ids: ids, labels: labels, positions: positions, segments: rows, realTokens: ids.count)
    }
}
