import SLMTensor

/// Settings of a LoRA adapter on one linear layer, as PEFT's LoraConfig names them.
public struct LoRAConfig: Sendable, Equatable {
    /// Rank r of the update B·A.
    public var r: Int
    /// The update is scaled by lora_alpha / r (or lora_alpha / √r with rsLoRA).
    public var loraAlpha: Float
    /// Dropout on the adapter's input during training (0 = none).
    public var loraDropout: Float
    /// Rank-stabilised scaling, lora_alpha / √r (Kalajdzievski 2023).
    public var useRSLoRA: Bool

    public init(r: Int, loraAlpha: Float, loraDropout: Float = 0, useRSLoRA: Bool = false) {
        self.r = r
        self.loraAlpha = loraAlpha
        self.loraDropout = loraDropout
        self.useRSLoRA = useRSLoRA
    }

    public var scaling: Float { useRSLoRA ? loraAlpha / Float(r).squareRoot() : loraAlpha / Float(r) }
}

/// A frozen base projection plus a trainable low-rank update, as PEFT computes it:
/// y = base(x) + scaling · dropout(x) · Aᵀ · Bᵀ, with A [r, in] and B [out, r].
///
/// It is a `LinearWeight`, so it stands in for any projection of a layer, dense or quantized.
public final class LoRALinear: LinearWeight {
    /// Replaced only by another form of the same frozen weight (`holdFrozenProjectionsInBFloat16`).
    public internal(set) var base: any LinearWeight
    public let config: LoRAConfig
    /// lora_A: [r, in]
    public let loraA: Tensor
    /// lora_B: [out, r]
    public let loraB: Tensor
    /// Seed of the dropout mask; a trainer sets a new one every step (and the same one when replaying).
    public var dropoutSeed: UInt64 = 0

    /// Initialised as PEFT does: A Kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in), drawn from
    /// `seed`; B zero, so the adapter starts as the identity update.
    public convenience init(base: any LinearWeight, config: LoRAConfig, seed: UInt64) throws {
        let (out, input) = (base.shape[0], base.shape[1])
        let bound = 1 / Float(input).squareRoot()
        try self.init(
            base: base, config: config,
            loraA: Tensor.uniform([config.r, input], low: -bound, high: bound, seed: seed),
            loraB: Tensor.zeros([out, config.r]))
    }

    /// An adapter with given matrices (e.g. read from a PEFT adapter file).
    public init(base: any LinearWeight, config: LoRAConfig, loraA: Tensor, loraB: Tensor) throws {
        guard base.shape.count == 2, config.r > 0 else {
            throw TensorError(op: "LoRALinear", "needs a 2-D base weight and r > 0, got \(base.shape) and r = \(config.r)")
        }
        guard loraA.shape == [config.r, base.shape[1]], loraB.shape == [base.shape[0], config.r] else {
            throw TensorError(op: "LoRALinear", "lora_A \(loraA.shape) and lora_B \(loraB.shape) do not fit base \(base.shape) at r = \(config.r)")
        }
        guard (0..<1).contains(config.loraDropout) else {
            throw TensorError(op: "LoRALinear", "lora_dropout must be in [0, 1), got \(config.loraDropout)")
        }
        self.base = base
        self.config = config
        self.loraA = loraA
        self.loraB = loraB
        loraA.requiresGrad = true
        loraB.requiresGrad = true
    }

    public var shape: [Int] { base.shape }
    public var parameters: [Tensor] { [loraA, loraB] }

    public var isTrainable: Bool { true }
    public func denseWeight() throws -> Tensor { try mergedWeight() }

    public func applied(to x: Tensor) throws -> Tensor {
        let dropout = GradMode.isEnabled ? config.loraDropout : 0
        guard !base.isTrainable else {
            let update = try x.dropout(probability: dropout, seed: dropoutSeed).linear(loraA, bias: nil).linear(loraB, bias: nil)
            return try base.applied(to: x) + update.scaled(by: config.scaling)
        }
        return try Tensor.loraProjection(x, base: base, a: loraA, b: loraB, scaling: config.scaling, dropout: dropout, seed: dropoutSeed)
    }

    /// dx = dy · (W + s · B · A), the input gradient of the projection without dropout.
    public func inputGradient(_ dy: Tensor) throws -> Tensor {
        try GradMode.withoutGrad { try dy.matmul(mergedWeight()) }
    }
}
