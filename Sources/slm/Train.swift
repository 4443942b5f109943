import ArgumentParser
import Foundation
import SLMEvaluation
import SLMModel
import SLMTraining

/// `slm train`: runs a recipe from validation to the final adapter and its held-out figures.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a model as a recipe describes: LoRA, or full fine-tuning when it has no lora section.",
        discussion: """
            Writes the effective recipe, metrics.jsonl, checkpoints and the final adapter (PEFT layout) into output.dir,
            then (eval.report) the evaluation report of base and tuned model on data.heldout into output.dir/report.
            A run that was stopped continues with --resume from its latest checkpoint, exactly as if it had not stopped.
            --save-initial-adapter also writes the adapter as initialised, for another tool (e.g. PEFT) to start from the same weights.
            """)

    @Argument(help: "A recipe file (YAML); docs/recipes.md lists every key.")
    var recipe: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key, e.g. --set train.lr=1e-4 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Flag(help: "Continue the run in output.dir from its latest checkpoint.")
    var resume = false

    @Flag(help: "Before the first step, write the adapter as initialised into output.dir/initial-adapter (PEFT layout).")
    var saveInitialAdapter = false

    func run() throws {
        let recipe = try loadRecipe(self.recipe, overrides: overrides)
        if saveInitialAdapter, recipe.lora == nil {
            throw failure("--save-initial-adapter needs a LoRA run; this recipe has no lora section")
        }
        let progress = ProgressReporter(logEvery: recipe.output.logEvery)
        do {
            let trainer = try TrainingRunSetup.prepare(recipe, progress: progress)
            try writeEffectiveRecipe(recipe, to: RunFolder(recipe.output.dir))
            progress.message("\(trainer.totalSteps) optimizer steps; run folder \(recipe.output.dir)")
            let summary = try trainer.run(resume: resume, saveInitialAdapter: saveInitialAdapter)
            report(summary)
            var exports: [ModelSpec] = []
            if let export = recipe.export {
                var request = MergeExport.Request(
                    base: recipe.model.path, adapter: summary.result, out: export.exportPath(outputDir: recipe.output.dir),
                    format: export.format, fileType: export.quants[0], dtype: export.dtype.safetensors,
                    probe: export.verify ? ExportComparison.defaultProbe : nil)
                if export.verify { request.probeIds = try ExportProbe.heldoutIds(recipe) }
                try FileManager.default.createDirectory(
                    atPath: (request.out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let written = try MergeReport.run(request, fileTypes: export.fileTypes, progress: progress)
                exports += zip(export.modelNames, written).map { ModelSpec(name: $0, path: $1, adapter: nil) }
            }
            if let folder = try Evaluation.reportRun(recipe, exports: exports, progress: progress) {
                print("evaluation report: \(folder)/report.html (report.md, report.json, predictions.jsonl)")
            }
        } catch let error as EvaluationError {
            throw failure("evaluation report: \(error)")
        } catch let error as TrainingError {
            throw failure("\(error)")
        }
    }

    /// The recipe as run goes into the run folder; a resumed run must use the same one.
    private func writeEffectiveRecipe(_ recipe: Recipe, to run: RunFolder) throws {
        let text = RecipeWriter.yaml(recipe)
        if resume, let previous = try? String(contentsOfFile: run.recipe, encoding: .utf8), previous != text {
            throw TrainingError(
                "the recipe differs from the one this run started with (\(run.recipe)); resume with that file: slm train \(run.recipe) --resume")
        }
        try AtomicFile.write(Data(text.utf8), to: run.recipe)
    }

    private func report(_ summary: TrainingSummary) {
        if let first = summary.evaluations.first, let last = summary.evaluations.last, first.step != last.step {
            print("held-out     step \(first.step)    step \(last.step)")
            print(String(format: "loss        %8.4f  %8.4f", first.result.loss, last.result.loss))
            if let before = first.result.exactMatch, let after = last.result.exactMatch {
                print(String(format: "exact match %7.1f%%  %7.1f%%", 100 * before, 100 * after))
            }
        } else if let last = summary.evaluations.last {
            print(String(format: "held-out loss %.4f", last.result.loss) + (last.result.exactMatch.map { String(format: ", exact match %.1f%%", 100 * $0) } ?? ""))
        }
        print(String(format: "%d steps, %.0f tokens/s; result in %@", summary.steps, summary.tokensPerSecond, summary.result))
    }
}
