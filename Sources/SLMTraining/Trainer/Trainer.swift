import Foundation
import SLMModel
import SLMTensor

/// Micro-batches by position: epoch e, index i. Pure, so a resumed run reads exactly what it would have.
public protocol BatchSource {
    var batchesPerEpoch: Int { get }
    func batch(epoch: Int, index: Int) -> TrainingBatch
}

extension BatchSource {
    /// Where micro-batch `n` of a run (counted from 0 over the whole run) comes from: a run reads
    /// the batches in order, epoch after epoch.
    public func position(ofMicroBatch n: Int) -> (epoch: Int, index: Int) { (n / batchesPerEpoch, n % batchesPerEpoch) }

    /// The micro-batches of optimizer step `step` (0-based): the next `accumulation` in the run's order.
    public func microBatches(step: Int, accumulation: Int) -> [TrainingBatch] {
        (step * accumulation..<(step + 1) * accumulation).map { n in
            let at = position(ofMicroBatch: n)
            return batch(epoch: at.epoch, index: at.index)
        }
    }
}

/// A run stopped for a reason the user can act on; the message says what to do.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct TrainingSummary: Sendable {
    public var steps: Int
    public var lastLoss: Double?
    /// Held-out evaluations by step (step 0: before training).
    public var evaluations: [(step: Int, result: EvaluationResult)]
    /// The final adapter (or model) folder.
    public var result: String
    public var tokensPerSecond: Double
}

/// The training loop: steps of `gradient_accumulation` micro-batches, learning-rate schedule,
/// logging, held-out evaluation, checkpoints, and exact resumption from the latest checkpoint.
public final class Trainer {
    let recipe: Recipe
    let model: Transformer
    let trainable: TrainableParameters
    let data: any BatchSource
    let heldout: HeldoutSet?
    let run: RunFolder
    let progress: ProgressReporter
    let evaluator: HeldoutEvaluator
    public let totalSteps: Int

    public init(
        recipe: Recipe, model: Transformer, tokenizer: BPETokenizer, trainable: TrainableParameters,
        data: any BatchSource, heldout: HeldoutSet?, run: RunFolder, progress: ProgressReporter
    ) throws {
        let train = recipe.train
        guard data.batchesPerEpoch > 0 else { throw TrainingError("the training data gives no batches: check data.train and data.sequence_length") }
        self.recipe = recipe
        self.model = model
        self.trainable = trainable
        self.data = data
        self.heldout = heldout
        self.run = run
        self.progress = progress
        evaluator = HeldoutEvaluator(model: model, tokenizer: tokenizer, maxNewTokens: recipe.eval.maxNewTokens, generate: recipe.eval.generate)
        totalSteps = Self.totalSteps(train, batchesPerEpoch: data.batchesPerEpoch)
    }

    /// `train.steps`, or the whole steps that `train.epochs` (default 1) of micro-batches make, at least one.
    public static func totalSteps(_ train: Recipe.TrainSection, batchesPerEpoch: Int) -> Int {
        train.steps ?? max(Int((train.epochs ?? 1) * Double(batchesPerEpoch)), train.gradientAccumulation) / train.gradientAccumulation
    }

    /// `saveInitialAdapter`: a run that starts afresh first writes the trained tensors as initialised
    /// into `RunFolder.initialAdapter`, e.g. for another tool to start from the same adapter.
    public func run(resume: Bool, saveInitialAdapter: Bool = false) throws -> TrainingSummary {
        let train = recipe.train
        let optimizer = AdamW(
            trainable.tensors,
            .init(beta1: train.adamBeta1, beta2: train.adamBeta2, eps: train.adamEps, weightDecay: train.weightDecay))
        var state = CheckpointState(step: 0, totalSteps: totalSteps, epoch: 0, batchIndex: 0, seed: train.seed, tokens: 0)
        try FileManager.default.createDirectory(atPath: run.checkpoints, withIntermediateDirectories: true)
        if resume {
            guard let folder = run.latestCheckpoint else {
                throw TrainingError("\(run.path) has no checkpoint to resume from; run without --resume to start afresh")
            }
            state = try Checkpoint.restore(from: folder, trainable: trainable, optimizer: optimizer)
            guard state.totalSteps == totalSteps, state.seed == train.seed else {
                throw TrainingError(
                    "the checkpoint in \(folder) belongs to a run of \(state.totalSteps) steps with seed \(state.seed), this recipe makes \(totalSteps) steps with seed \(train.seed): resume with the recipe the run started with (\(run.recipe))")
            }
            progress.message("resuming from \(folder) at step \(state.step)/\(totalSteps)")
        } else if let existing = run.latestCheckpoint {
            throw TrainingError("\(run.path) already holds a run (checkpoint \(existing)): pass --resume to continue it, or set output.dir to a new folder")
        }
        if saveInitialAdapter, state.step == 0 { try save(to: run.initialAdapter) }
        let metrics = try MetricsLog(path: run.metrics, keepingStepsThrough: resume ? state.step : nil)
        let schedule = LearningRateSchedule(train.schedule, peak: train.lr, warmupSteps: train.warmupSteps, totalSteps: totalSteps)
        model.recomputesActivations = train.gradientCheckpointing
        let stepper = TrainingStep(model: model, trainable: trainable, optimizer: optimizer, maxGradNorm: train.maxGradNorm, seed: train.seed)
        stepper.distillation = recipe.distillation.map { ($0.lossHead, $0.topKTail) }
        var evaluations: [(Int, EvaluationResult)] = []
        func evaluate(at step: Int) throws {
            guard let heldout else { return }
            let result = try evaluator.evaluate(heldout, progress: progress.evaluation)
            evaluations.append((step, result))
            try metrics.append(["type": "eval", "step": step].merging(result.record) { a, _ in a })
            progress.message("step \(step): \(result.summary)")
        }
        if state.step == 0, recipe.eval.atStart { try evaluate(at: 0) }

        // Time in training steps only: evaluations and checkpoints do not count towards tokens/s.
        var trainingSeconds = 0.0
        let startStep = state.step, startTokens = state.tokens
        var lastLoss: Double?
        while state.step < totalSteps {
            let step = state.step
            let batches = data.microBatches(step: step, accumulation: train.gradientAccumulation)
            (state.epoch, state.batchIndex) = data.position(ofMicroBatch: (step + 1) * train.gradientAccumulation)
            let lr = schedule.rate(at: step)
            let outcome: StepOutcome
            let stepStart = Date()
            do {
                outcome = try stepper.run(step: step, batches: batches, lr: lr)
                trainingSeconds += Date().timeIntervalSince(stepStart)
            } catch let error as NonFiniteError {
                let kept = run.latestCheckpoint.map { "the last good checkpoint, \($0), is intact" } ?? "no checkpoint was written yet"
                throw TrainingError(
                    "\(error.what) became NaN or infinite at step \(step + 1); \(kept). Lower train.lr, set train.max_grad_norm, or check the data, then rerun (with --resume to continue from the checkpoint).")
            }
            state.step += 1
            state.tokens += outcome.realTokens
            lastLoss = outcome.loss
            let tokensPerSecond = Double(state.tokens - startTokens) / max(trainingSeconds, 1e-9)
            let secondsLeft = trainingSeconds / Double(state.step - startStep) * Double(totalSteps - state.step)
            progress.step(state.step, of: totalSteps, loss: outcome.loss, kl: outcome.trueKL, lr: lr, tokensPerSecond: tokensPerSecond, secondsLeft: secondsLeft)
            if state.step % progress.logEvery == 0 || state.step == totalSteps {
                var record: [String: Any] = [
                    "type": "train", "step": state.step, "loss": outcome.loss, "lr": Double(lr), "grad_norm": outcome.gradientNorm,
                    "tokens": state.tokens, "tokens_per_second": tokensPerSecond, "epoch": state.epoch,
                ]
                if let kl = outcome.trueKL { record["kl"] = kl }
                if let d = outcome.distillation { record["distillation_loss"] = d }
                if let share = outcome.teacherShare { record["teacher_share"] = share }
                try metrics.append(record)
            }
            let every = recipe.eval.every, checkpointEvery = recipe.output.checkpointEvery
            if state.step == totalSteps || (every > 0 && state.step % every == 0) { try evaluate(at: state.step) }
            if state.step == totalSteps || (checkpointEvery > 0 && state.step % checkpointEvery == 0) {
                try Checkpoint.save(state, trainable: trainable, optimizer: optimizer, in: run)
            }
        }
        let result = try saveResult()
        return TrainingSummary(
            steps: totalSteps, lastLoss: lastLoss, evaluations: evaluations, result: result,
            tokensPerSecond: trainingSeconds > 0 ? Double(state.tokens - startTokens) / trainingSeconds : 0)
    }

    /// The final adapter (or trained weights).
    private func saveResult() throws -> String {
        var isLoRA = false
        if case .lora = trainable.kind { isLoRA = true }
        let final = run.result(lora: isLoRA)
        try save(to: final)
        return final
    }

    /// The adapter (or trained weights) as they are now, written beside `final` and then renamed into place.
    private func save(to final: String) throws {
        let temporary = final + ".incomplete"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: temporary)
        try trainable.save(to: temporary)
        try? fileManager.removeItem(atPath: final)
        try fileManager.moveItem(atPath: temporary, toPath: final)
    }
}
