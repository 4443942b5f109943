import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import SLMTraining
import XCTest

/// The trainer against PyTorch (+ PEFT) (fixtures/make_training_run.py): the same packed micro-batches,
/// accumulation, clipping, cosine schedule and AdamW from the same start give the same losses,
/// gradient norms and final weights, for LoRA (Llama's projections and Phi's fused ones) and for full
/// fine-tuning of selected weights.
final class TrainerParityTests: XCTestCase {
    struct Run: Decodable {
        struct Hyper: Decodable {
            let steps: Int, accumulation: Int, lr: Float, warmup: Int
            let weight_decay: Float, max_grad_norm: Float
            let trainable: [String]?
        }
        struct Batch: Decodable {
            let batch: Int, sequence: Int, ids: [Int32], labels: [Int32], positions: [Int32], segments: [Int32], real_tokens: Int
            var trainingBatch: TrainingBatch {
                TrainingBatch(batch: batch, sequence: sequence, ids: ids, labels: labels, positions: positions, segments: segments, realTokens: real_tokens)
            }
        }
        let hyper: Hyper
        let steps: [[Batch]]
        let losses: [Double]
        let grad_norms: [Double]
        let final: [String: [Double]]
    }

    struct FixedBatches: BatchSource {
        let batches: [TrainingBatch]
        var batchesPerEpoch: Int { batches.count }
        func batch(epoch: Int, index: Int) -> TrainingBatch { batches[index] }
    }

    /// Trains the PEFT adapter `adapter` on the model folder `model` as the recorded run `run` did.
    private func assertLoRARunEqualsPEFT(_ run: String, model folder: String, adapter: String) throws {
        let run = try load(run)
        let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: Fixture.path(folder))
        let loaded = try PEFTAdapter.load(Fixture.path(adapter), into: model)
        let saved = try train(run, model, try XCTUnwrap(tokenizer), TrainableParameters.lora(loaded.adapters, config: loaded.config))
        try assertFinal(run, saved + "/" + PEFTAdapter.weightsFile) { $0.replacingOccurrences(of: ".default.", with: ".") }
    }

    func testLoRALossesGradientNormsAndAdapterEqualPyTorchPEFT() throws {
        try assertLoRARunEqualsPEFT("training_run.json", model: "hf_llama", adapter: "peft_adapter")
    }

    /// LoRA on Phi's fused qkv_proj and gate_up_proj (fixtures/make_phi.py), one adapter each as PEFT's.
    func testPhiLoRAOnFusedProjectionsEqualsPyTorchPEFT() throws {
        try assertLoRARunEqualsPEFT("training_run_phi.json", model: "hf_phi4mini", adapter: "peft_phi_adapter")
    }

    /// Mixed precision: with every frozen projection and the output head in bf16, the same run follows
    /// PyTorch's Float32 losses and gradient norms within bf16's rounding, and the adapters are trained.
    func testLoRAWithTheBaseInBFloat16FollowsPEFT() throws {
        let run = try load("training_run.json")
        let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: Fixture.path("hf_llama"))
        let loaded = try PEFTAdapter.load(Fixture.path("peft_adapter"), into: model)
        XCTAssertEqual(try model.holdFrozenProjectionsInBFloat16(), model.layers.count * 7)
        XCTAssertNotNil(model.headInBF16)
        _ = try train(
            run, model, try XCTUnwrap(tokenizer), TrainableParameters.lora(loaded.adapters, config: loaded.config),
            relativeTolerance: (loss: 1e-2, gradientNorm: 3e-2))
    }

    /// Recomputing each layer's activations in backward changes memory, not the run.
    func testGradientCheckpointingFollowsPEFTAsClosely() throws {
        let run = try load("training_run.json")
        let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: Fixture.path("hf_llama"))
        let loaded = try PEFTAdapter.load(Fixture.path("peft_adapter"), into: model)
        let saved = try train(
            run, model, try XCTUnwrap(tokenizer), TrainableParameters.lora(loaded.adapters, config: loaded.config), gradientCheckpointing: true)
        XCTAssertTrue(model.recomputesActivations)
        try assertFinal(run, saved + "/" + PEFTAdapter.weightsFile) { $0.replacingOccurrences(of: ".default.", with: ".") }
    }

    func testFullFineTuningOfSelectedWeightsEqualsPyTorch() throws {
        let run = try load("training_run_full.json")
        let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: Fixture.path("hf_llama"))
        let trainable = try TrainableParameters.full(model: model, patterns: try XCTUnwrap(run.hyper.trainable))
        XCTAssertEqual(trainable.named.count, 2 * 3 + 1, "three MLP projections in each of two layers, and the final norm")
        XCTAssertFalse(model.embedTokens.requiresGrad, "weights outside the patterns stay frozen")
        let saved = try train(run, model, try XCTUnwrap(tokenizer), trainable)
        try assertFinal(run, saved + "/model.safetensors") { $0 }
    }

    func testPatternsThatMatchNothingAreRefused() throws {
        let model = try HuggingFaceModelLoader.load(folder: Fixture.path("hf_llama")).model
        XCTAssertThrowsError(try TrainableParameters.full(model: model, patterns: ["model.layer.*"])) { error in
            XCTAssertTrue("\(error)".contains("matches none"), "\(error)")
        }
    }

    /// A source that poisons one weight with NaN when micro-batch `poisonAt` is read (a blow-up mid-run).
    struct PoisoningBatches: BatchSource {
        let batches: [TrainingBatch]
        let poisonAt: Int
        let victim: Tensor
        var batchesPerEpoch: Int { batches.count }
        func batch(epoch: Int, index: Int) -> TrainingBatch {
            if index == poisonAt { victim.data[0] = .nan }
            return batches[index]
        }
    }

    func testNaNStopsTheRunAndKeepsTheLastGoodCheckpoint() throws {
        let run = try load("training_run.json")
        let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: Fixture.path("hf_llama"))
        let loaded = try PEFTAdapter.load(Fixture.path("peft_adapter"), into: model)
        let trainable = TrainableParameters.lora(loaded.adapters, config: loaded.config)
        var recipe = Recipe(
            model: .init(path: Fixture.path("hf_llama")), lora: .init(), data: .init(train: "unused"), train: .init(),
            output: .init(dir: NSTemporaryDirectory() + "slm-nan-\(UUID().uuidString)"), eval: .init())
        recipe.train.steps = run.hyper.steps
        recipe.train.gradientAccumulation = run.hyper.accumulation
        recipe.output.checkpointEvery = 2
        let folder = RunFolder(recipe.output.dir)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder.path) }
        // Micro-batch 6 is the first of step 4: steps 1-3 are good, checkpoint 2 is the last one written.
        let data = PoisoningBatches(batches: run.steps.flatMap { $0.map(\.trainingBatch) }, poisonAt: 6, victim: trainable.named[0].tensor)
        let trainer = try Trainer(
            recipe: recipe, model: model, tokenizer: try XCTUnwrap(tokenizer), trainable: trainable, data: data, heldout: nil,
            run: folder, progress: ProgressReporter(logEvery: 1, isTerminal: false))
        XCTAssertThrowsError(try trainer.run(resume: false)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("step 4"), message)
            XCTAssertTrue(message.contains("step-000002"), message)
        }
        XCTAssertEqual(folder.latestCheckpoint, folder.checkpoint(step: 2))
        let saved = try SafetensorsFile(path: folder.checkpoint(step: 2) + "/" + PEFTAdapter.weightsFile)
        for info in saved.tensors { XCTAssertTrue(try saved.floats(info).scalars.allSatisfy(\.isFinite), info.name) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.result(lora: true)), "no final adapter from a failed run")
    }

    private func load(_ fixture: String) throws -> Run {
        try JSONDecoder().decode(Run.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path(fixture))))
    }

    /// Trains as the fixture did, checks every step's loss and gradient norm, and returns the result folder.
    private func train(
        _ run: Run, _ model: Transformer, _ tokenizer: BPETokenizer, _ trainable: TrainableParameters,
        relativeTolerance: (loss: Double, gradientNorm: Double) = (1e-5, 1e-4), gradientCheckpointing: Bool = false
    ) throws -> String {
        var recipe = Recipe(
            model: .init(path: Fixture.path("hf_llama")), lora: .init(), data: .init(train: "unused"), train: .init(),
            output: .init(dir: NSTemporaryDirectory() + "slm-parity-\(UUID().uuidString)"), eval: .init())
        recipe.train.steps = run.hyper.steps
        recipe.train.gradientAccumulation = run.hyper.accumulation
        recipe.train.lr = run.hyper.lr
        recipe.train.warmupSteps = run.hyper.warmup
        recipe.train.weightDecay = run.hyper.weight_decay
        recipe.train.maxGradNorm = run.hyper.max_grad_norm
        recipe.train.schedule = .cosine
        recipe.train.gradientCheckpointing = gradientCheckpointing
        recipe.output.logEvery = 1
        let folder = RunFolder(recipe.output.dir)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder.path) }

        let trainer = try Trainer(
            recipe: recipe, model: model, tokenizer: tokenizer, trainable: trainable,
            data: FixedBatches(batches: run.steps.flatMap { $0.map(\.trainingBatch) }), heldout: nil, run: folder,
            progress: ProgressReporter(logEvery: 1, isTerminal: false))
        let summary = try trainer.run(resume: false)
        XCTAssertEqual(summary.steps, run.hyper.steps)

        let records = try String(contentsOfFile: folder.metrics, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["type"] as? String == "train" }
        XCTAssertEqual(records.map { $0["step"] as? Int }, (1...run.hyper.steps).map { $0 })
        for (n, record) in records.enumerated() {
            let loss = try XCTUnwrap(record["loss"] as? Double), norm = try XCTUnwrap(record["grad_norm"] as? Double)
            XCTAssertEqual(loss, run.losses[n], accuracy: relativeTolerance.loss * run.losses[n], "loss of step \(n + 1)")
            XCTAssertEqual(norm, run.grad_norms[n], accuracy: relativeTolerance.gradientNorm * run.grad_norms[n], "gradient norm of step \(n + 1)")
        }
        return summary.result
    }

    /// The trained tensors slm saved equal PyTorch's final ones (`fileName` maps PyTorch's names to the file's).
    private func assertFinal(_ run: Run, _ path: String, fileName: (String) -> String) throws {
        let saved = try SafetensorsFile(path: path)
        XCTAssertEqual(saved.tensors.count, run.final.count)
        for (name, expected) in run.final {
            let actual = try saved.floats(try XCTUnwrap(saved.tensor(named: fileName(name)), fileName(name))).scalars
            let worst = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 2e-5, "\(name) after \(run.hyper.steps) steps")
        }
    }
}
