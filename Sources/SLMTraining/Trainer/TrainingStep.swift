import SLMModel
import SLMTensor

/// What one optimizer step did.
public struct StepOutcome: Sendable {
    /// Mean cross-entropy over every target token of the step's micro-batches.
    public var loss: Double
    /// Global gradient norm before clipping.
    public var gradientNorm: Double
    public var targetTokens: Int
    public var realTokens: Int
    /// With a teacher: mean KL(teacher‖student) at T = 1 over the teacher's top-k, per target token.
    public var trueKL: Double? = nil
    /// With a teacher: the distillation term (T² · mean divergence) per target token.
    public var distillation: Double? = nil
    /// With a teacher: the share of target tokens that had a teacher distribution (below 1 where
    /// the teacher's tokens did not map onto the student's; those get cross-entropy only).
    public var teacherShare: Double? = nil
}

/// A run stopped on a NaN or infinite loss or gradient.
public struct NonFiniteError: Error, CustomStringConvertible {
    public var step: Int
    public var what: String
    public var description: String { "\(what) is not finite at step \(step)" }
}

/// One optimizer step over several micro-batches: forward and backward through each, gradients
/// accumulated so that they equal those of the mean loss over all target tokens of the step (each
/// micro-batch's mean weighted by its share of the tokens), then clipping and the AdamW update.
public final class TrainingStep {
    let model: Transformer
    let trainable: TrainableParameters
    let optimizer: AdamW
    let maxGradNorm: Float?
    let seed: UInt64
    /// The loss head's settings and tail handling for batches that carry a teacher; nil: cross-entropy only.
    public var distillation: (config: LossHeadConfig, tail: TopKTail)?
    /// LoRA adapters in a fixed order, for their dropout seeds.
    private let adapters: [LoRALinear]

    public init(model: Transformer, trainable: TrainableParameters, optimizer: AdamW, maxGradNorm: Float?, seed: UInt64) {
        self.model = model
        self.trainable = trainable
        self.optimizer = optimizer
        self.maxGradNorm = maxGradNorm
        self.seed = seed
        if case .lora(let byModule, _) = trainable.kind {
            adapters = byModule.keys.sorted().map { byModule[$0]! }
        } else {
            adapters = []
        }
    }

    /// Runs step `step` (0-based) at learning rate `lr`; throws `NonFiniteError` before touching the weights.
    public func run(step: Int, batches: [TrainingBatch], lr: Float) throws -> StepOutcome {
        optimizer.zeroGrad()
        let targets = batches.map { $0.labels.count(where: { $0 != Tensor.ignoreIndex }) }
        let totalTargets = targets.reduce(0, +)
        guard totalTargets > 0 else { throw TensorError(op: "train", "step \(step) has no target tokens") }
        var lossSum = 0.0, klSum = 0.0, distillationSum = 0.0, distilled = false, teacherTokens = 0
        for (m, batch) in batches.enumerated() where targets[m] > 0 {
            setDropoutSeeds(step: step, microBatch: m)
            do {
                let hidden = try model.hiddenStates(
                    batch.ids, batch: batch.batch, sequence: batch.sequence, positions: batch.positions,
                    mask: AttentionMask(segments: batch.segments))
                let head: LossHeadResult
                if let teacher = batch.teacher, let distillation {
                    head = try Tensor.lossHead(
                        hidden: hidden, weight: model.lmHead, labels: batch.labels,
                        teacher: .topK(ids: teacher.ids, logprobs: teacher.logprobs, k: teacher.k, tail: distillation.tail),
                        config: distillation.config, weightInBF16: model.headInBF16)
                    teacherTokens += head.teacherTokens
                    if let kl = head.trueKL, let d = head.distillation {
                        klSum += Double(kl) * Double(targets[m])
                        distillationSum += Double(d) * Double(targets[m])
                        distilled = true
                    }
                } else {
                    head = try Tensor.lossHead(hidden: hidden, weight: model.lmHead, labels: batch.labels, weightInBF16: model.headInBF16)
                }
                let loss = Double(head.crossEntropy ?? .nan)
                guard loss.isFinite else { throw NonFiniteError(step: step, what: "the loss of micro-batch \(m + 1)") }
                try head.loss.scaled(by: Float(targets[m]) / Float(totalTargets)).backward()
                lossSum += loss * Double(targets[m])
            } catch let error as TensorError where error.kind == .nonFiniteValue {
                throw NonFiniteError(step: step, what: "the forward pass of micro-batch \(m + 1) (\(error))")
            }
        }
        let parameters = trainable.tensors
        let norm = maxGradNorm.map { GradientClipping.clip(parameters, maxNorm: $0) } ?? GradientClipping.globalNorm(parameters)
        guard norm.isFinite else { throw NonFiniteError(step: step, what: "the gradient norm") }
        optimizer.update(lr: lr)
        return StepOutcome(
            loss: lossSum / Double(totalTargets), gradientNorm: norm, targetTokens: totalTargets,
            realTokens: batches.reduce(0) { $0 + $1.realTokens },
            trueKL: distilled ? klSum / Double(totalTargets) : nil, distillation: distilled ? distillationSum / Double(totalTargets) : nil,
            teacherShare: distillation == nil ? nil : Double(teacherTokens) / Double(totalTargets))
    }

    /// Dropout masks depend only on (seed, step, micro-batch, adapter), so a resumed run draws the same ones.
    private func setDropoutSeeds(step: Int, microBatch: Int) {
        let base = SplitMix64.next(seed: seed, index: UInt64(step) << 16 | UInt64(microBatch))
        for (n, adapter) in adapters.enumerated() { adapter.dropoutSeed = SplitMix64.next(seed: base, index: UInt64(n)) }
    }
}
