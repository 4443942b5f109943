import ArgumentParser
import Foundation
import SLMModel
import SLMTensor
import SLMTraining

/// `slm data`: what a recipe's training run will read, shown before it runs.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Show what training will see: the data's statistics and the first sample, its targets marked.",
        discussion: """
            The first sample of the first batch is decoded with the tokens the loss is taken on between ⟦ and ⟧.
            --jsonl writes the micro-batches of the first --steps optimizer steps in the order the trainer reads them, one line each:
              {"step": 1, "micro_batch": 0, "batch": B, "sequence": T, "ids": [B·T], "labels": [B·T], "positions": [B·T], "segments": [B·T]}
            step counts from 1 (as in metrics.jsonl), micro_batch from 0 to gradient_accumulation - 1. labels[p] is the token \
            position p predicts, -100 where there is no loss; each packed sample has its own segment id and positions from 0, \
            and sees only its own segment.
            """)

    @Argument(help: "A recipe file (YAML); docs/recipes.md lists every key.")
    var recipe: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key, e.g. --set train.lr=1e-4 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Option(help: "Optimizer steps to write with --jsonl (default: every step of the run).")
    var steps: Int?

    @Option(help: ArgumentHelp("Write the micro-batches of the first steps to this file, one JSON object a line.", valueName: "file"))
    var jsonl: String?

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
    }

    func run() throws {
        let recipe = try loadRecipe(self.recipe, overrides: overrides)
        let loaded: TrainingRunSetup.LoadedModel
        let data: TrainingRunSetup.PreparedData
        do {
            loaded = try TrainingRunSetup.loadModel(recipe.model, log: { print($0) })
            data = try TrainingRunSetup.prepareData(recipe, tokenizer: loaded.tokenizer, template: loaded.template, log: { print($0) })
        } catch let error as TrainingError {
            throw failure("\(error)")
        }
        let accumulation = recipe.train.gradientAccumulation
        let totalSteps = Trainer.totalSteps(recipe.train, batchesPerEpoch: data.plan.batchesPerEpoch)
        print("\(totalSteps) optimizer steps of \(accumulation) micro-batch\(accumulation == 1 ? "" : "es")")
        print(firstSample(of: data.plan.batch(epoch: 0, index: 0), tokenizer: loaded.tokenizer))
        if let jsonl {
            let count = steps ?? totalSteps
            try writeMicroBatches(of: data.plan, steps: count, accumulation: accumulation, to: jsonl)
            print("wrote the \(count * accumulation) micro-batches of steps 1–\(count) to \(jsonl)")
        }
    }

    /// The first sample of the batch's first row, decoded, with its target tokens between ⟦ and ⟧.
    private func firstSample(of batch: TrainingBatch, tokenizer: BPETokenizer) -> String {
        let length = batch.segments.prefix(batch.sequence).prefix { $0 == batch.segments[0] }.count
        let ids = Array(batch.ids.prefix(length))
        // Token k is a target when the token before it predicts it.
        let isTarget = (0..<length).map { $0 > 0 && batch.labels[$0 - 1] != Tensor.ignoreIndex }
        var text = "", start = 0
        for end in 1...length where end == length || isTarget[end] != isTarget[start] {
            let piece = tokenizer.decode(Array(ids[start..<end]))
            text += isTarget[start] ? "⟦" + piece + "⟧" : piece
            start = end
        }
        return "first sample (\(length) tokens, \(isTarget.count { $0 }) targets in ⟦⟧):\n" + text
    }

    private func writeMicroBatches(of plan: BatchPlan, steps: Int, accumulation: Int, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? file.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for step in 0..<steps {
            for (m, batch) in plan.microBatches(step: step, accumulation: accumulation).enumerated() {
                try file.write(contentsOf: encoder.encode(MicroBatchLine(step: step + 1, microBatch: m, batch)) + Data("\n".utf8))
            }
        }
    }
}

/// One line of `slm data --jsonl`.
private struct MicroBatchLine: Encodable {
    let step: Int
    let microBatch: Int
    let batch: Int
    let sequence: Int
    let ids: [Int32]
    let labels: [Int32]
    let positions: [Int32]
    let segments: [Int32]

    enum CodingKeys: String, CodingKey {
        case step, microBatch = "micro_batch", batch, sequence, ids, labels, positions, segments
    }

    init(step: Int, microBatch: Int, _ b: TrainingBatch) {
        (self.step, self.microBatch) = (step, microBatch)
        (batch, sequence, ids, labels, positions, segments) = (b.batch, b.sequence, b.ids, b.labels, b.positions, b.segments)
    }
}
