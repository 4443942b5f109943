import Foundation
import SLMModel
import SLMTensor

/// What LoRA training of a 1B-class model costs in memory and time: a transformer of
/// Llama-3.2-1B's shapes with random weights (no download; memory and speed do not depend on the
/// values), its frozen base projections in Float32, in bf16 or kept in ggml blocks, trained as
/// `LoRAStepTiming` trains. The embedding (tied to the output head) stays Float32 either way,
/// as `GGUFModelLoader` keeps it. Peak memory is the process's, so run one base per process.
public enum Memory1BBenchmark {
    public enum Base: String, CaseIterable, Sendable {
        case f32, bf16, q8_0, q4_0, q4_1

        var quantizedType: GGMLType? {
            switch self {
            case .f32, .bf16: nil
            case .q8_0: .q8_0
            case .q4_0: .q4_0
            case .q4_1: .q4_1
            }
        }
    }

    public struct Result: Sendable {
        public let config: ModelConfig
        public let measurement: LoRAStepTiming.Measurement
        public let flops: LoRAStepFlops
        /// Resident memory once the model is built, before training.
        public let modelResidentBytes: Int?
        public let buildSeconds: Double
    }

    /// meta-llama/Llama-3.2-1B's config.json (the keys slm reads).
    static let llama32_1B = """
        {"model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "num_hidden_layers": 16,
         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 8192,
         "rms_norm_eps": 1e-05, "max_position_embeddings": 131072, "tie_word_embeddings": true,
         "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "rope_theta": 500000.0,
         "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 8192}}
        """

    public static func config() throws -> ModelConfig {
        try JSONDecoder().decode(HuggingFaceConfig.self, from: Data(llama32_1B.utf8)).modelConfig(file: "Llama-3.2-1B config.json")
    }

    public static func run(base: Base, batch: Int, sequence: Int, warmupSteps: Int, steps: Int) throws -> Result {
        let config = try config()
        var model: Transformer?
        let buildSeconds = try seconds { model = try randomModel(config, base: base) }
        let resident = ResidentMemory.current()
        let ids = (0..<(batch * sequence)).map { Int32(SplitMix64.next(seed: 11, index: UInt64($0)) % UInt64(config.vocabSize)) }
        let micro = LoRAStepTiming.languageModelingBatch(ids, batch: batch, sequence: sequence)
        let measurement = try LoRAStepTiming.measure(model: model!, warmupSteps: warmupSteps, steps: steps) { _ in micro }
        return Result(
            config: config, measurement: measurement, flops: LoRAStepFlops(config: config, sequence: sequence, rank: LoRAStepTiming.lora.r),
            modelResidentBytes: resident, buildSeconds: buildSeconds)
    }

    /// Weights as `DecoderLayerWeights.random` draws them (the same values for every base); a
    /// quantized base is quantized a few rows at a time, and a bf16 one converted a layer at a time,
    /// so its Float32 form never exists whole.
    static func randomModel(_ config: ModelConfig, base: Base) throws -> Transformer {
        let c = config.layer
        let layers = try (0..<config.layers).map { n -> DecoderLayer in
            let seed = UInt64(n) << 8
            guard let type = base.quantizedType else {
                var weights = DecoderLayerWeights.random(c, seed: seed, requiresGrad: false)
                if base == .bf16 { try weights.holdFrozenProjectionsInBFloat16() }
                return DecoderLayer(config: c, weights: weights)
            }
            func projection(_ out: Int, _ input: Int, _ k: UInt64) throws -> QuantizedMatrix {
                let bound = 1 / Float(input).squareRoot()
                return try QuantizedMatrix(type: type, rows: out, cols: input) { rows, values in
                    Parallel.forEach(rows.count * input, minChunk: 1 << 14) { i in
                        let index = UInt64(rows.lowerBound * input + i)
                        values[i] = -bound + 2 * bound * SplitMix64.uniform(seed: seed &+ k, index: index)
                    }
                }
            }
            let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim
            return DecoderLayer(config: c, weights: DecoderLayerWeights(
                inputLayernorm: .filled([c.hiddenSize], with: 1),
                qProj: try projection(q, c.hiddenSize, 1), kProj: try projection(kv, c.hiddenSize, 2),
                vProj: try projection(kv, c.hiddenSize, 3), oProj: try projection(c.hiddenSize, q, 4),
                postAttentionLayernorm: .filled([c.hiddenSize], with: 1),
                gateProj: try projection(c.intermediateSize, c.hiddenSize, 5), upProj: try projection(c.intermediateSize, c.hiddenSize, 6),
                downProj: try projection(c.hiddenSize, c.intermediateSize, 7)))
        }
        let embedding = Tensor.uniform([config.vocabSize, config.hiddenSize], low: -0.02, high: 0.02, seed: 1 << 40)
        let model = Transformer(config: config, embedTokens: embedding, layers: layers, norm: .filled([config.hiddenSize], with: 1), lmHead: nil)
        // The layers are bf16 already; this gives the head its bf16 copy, as a recipe's run does.
        if base == .bf16 { try model.holdFrozenProjectionsInBFloat16() }
        return model
    }
}
