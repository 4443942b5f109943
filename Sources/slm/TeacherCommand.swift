import ArgumentParser
import Foundation
import SLMEvaluation
import SLMTensor
import SLMTraining

/// `slm teacher`: fills a recipe's teacher cache with the teacher's top-k for its training
/// samples, or (`--split heldout`) for its held-out samples as `slm eval` scores them.
struct TeacherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher",
        abstract: "Score a recipe's training (or held-out) samples with its teacher and store the top-k in the HDF5 cache (distillation.cache).",
        discussion: """
            Samples already in the cache are skipped, so a stopped run continues where it stopped. The training samples are \
            formatted and tokenised exactly as slm train does; with --split heldout, the held-out samples (data.heldout) \
            exactly as slm eval scores them, into the same file, for slm eval --teacher-cache. docs/teacher-cache.md \
            describes the file.
            """)

    @Argument(help: "A recipe file (YAML) with a distillation section.")
    var recipe: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key, e.g. --set distillation.k=8 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Option(help: "Which samples to score: train (data.train) or heldout (data.heldout, for slm eval --teacher-cache).")
    var split = "train"

    @Option(help: "Rows (token positions) buffered before each crash-safe commit to the cache.")
    var commitRows = 8 * TeacherCacheFile.chunkRows

    func run() throws {
        let recipe = try loadRecipe(self.recipe, overrides: overrides)
        guard let distillation = recipe.distillation else {
            throw failure("\(self.recipe) has no distillation section: nothing to score")
        }
        guard split == "train" || split == "heldout" else { throw ValidationError("--split must be train or heldout, got \(split)") }
        let progress = ProgressReporter(logEvery: recipe.output.logEvery)
        do {
            if let threads = recipe.train.threads { Parallel.setThreads(threads) }
            if split == "heldout" {
                let cache = try Evaluation.fillHeldoutTeacherCache(recipe, progress: progress, commitRows: max(commitRows, 1))
                print("\(cache.path): \(cache.entries.count) samples, \(cache.tokenCount) tokens, top-\(cache.attributes.k) from \(cache.attributes.teacher)")
                return
            }
            let student = try TrainingRunSetup.loadModel(recipe.model, log: progress.message)
            let data = try TrainingRunSetup.prepareData(recipe, tokenizer: student.tokenizer, template: student.template, log: progress.message)
            let cache = try DistillationSetup.fillCache(
                distillation, data: data, studentTokenizer: student.tokenizer, progress: progress,
                commitRows: max(commitRows, 1))
            print("\(cache.path): \(cache.entries.count) samples, \(cache.tokenCount) tokens, top-\(cache.attributes.k) from \(cache.attributes.teacher)")
        } catch let error as TrainingError {
            throw failure("\(error)")
        } catch let error as HDF5Error {
            throw failure("\(error)")
        } catch let error as EvaluationError {
            throw failure("\(error)")
        }
    }
}
