import ArgumentParser
import Foundation
import SLMTensor
import SLMTraining

/// `slm teacher`: fills a recipe's teacher cache with the local teacher's top-k for its training samples.
struct TeacherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher",
        abstract: "Score a recipe's training samples with its teacher and store the top-k in the HDF5 cache (distillation.cache).",
        discussion: """
            Samples already in the cache are skipped, so a stopped run continues where it stopped. The samples are \
            formatted and tokenised exactly as slm train does. docs/teacher-cache.md describes the file.
            """)

    @Argument(help: "A recipe file (YAML) with a distillation section.")
    var recipe: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key, e.g. --set distillation.k=8 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Option(help: "Rows (token positions) buffered before each crash-safe commit to the cache.")
    var commitRows = 8 * TeacherCacheFile.chunkRows

    func run() throws {
        let recipe = try loadRecipe(self.recipe, overrides: overrides)
        guard let distillation = recipe.distillation else {
            throw failure("\(self.recipe) has no distillation section: nothing to score")
        }
        let progress = ProgressReporter(logEvery: recipe.output.logEvery)
        do {
            if let threads = recipe.train.threads { Parallel.setThreads(threads) }
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
        }
    }
}
