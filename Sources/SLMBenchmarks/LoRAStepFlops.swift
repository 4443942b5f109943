import SLMModel

/// Model FLOPs per token of one LoRA training step on a frozen base (the work the step must do,
/// not what an implementation happens to run; a multiply-add is 2 FLOPs), for model-FLOPs
/// utilisation. With L layers, the projections' weights P_proj = L·(q, k, v, o, gate, up, down)
/// and the output head's V·C in P_matmul, sequence length T, Hq·D query width, LoRA rank r on
/// every projection [in → out]:
///
///     forward  = 2·P_matmul                       every projection and the output head
///              + L · 4·T·Hq·D                     attention S = Q·Kᵀ and O = P·V over the full T × T
///              + Σ 2·r·(in + out)                 the adapters, x·Aᵀ then ·Bᵀ
///     backward = 2·P_matmul                       input gradients only: the base is frozen
///              + L · 8·T·Hq·D                     dP, dS→dQ, dK, dV
///              + Σ 4·r·(in + out)                 adapters' input and weight gradients
///
/// Attention is counted over the full T × T, as PaLM's MFU and the PyTorch reference figure
/// (0.62 GFLOP per token for SmolLM2-135M at T = 256) count it; only the causal half is needed.
public struct LoRAStepFlops: Sendable {
    public let forward: Double
    public let backward: Double
    public var total: Double { forward + backward }

    public init(config: ModelConfig, sequence: Int, rank: Int) {
        let c = config.layer
        let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim
        let projections = [(c.hiddenSize, q), (c.hiddenSize, kv), (c.hiddenSize, kv), (q, c.hiddenSize),
                           (c.hiddenSize, c.intermediateSize), (c.hiddenSize, c.intermediateSize), (c.intermediateSize, c.hiddenSize)]
        let layers = Double(config.layers)
        let matmulWeights = layers * Double(projections.reduce(0) { $0 + $1.0 * $1.1 }) + Double(config.vocabSize * config.hiddenSize)
        let adapters = layers * Double(projections.reduce(0) { $0 + 2 * rank * ($1.0 + $1.1) })
        let attention = layers * 4 * Double(sequence * q)
        forward = 2 * matmulWeights + attention + adapters
        backward = 2 * matmulWeights + 2 * attention + 2 * adapters
    }
}
