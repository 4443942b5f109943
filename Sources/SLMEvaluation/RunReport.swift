import SLMTraining

extension Evaluation {
    /// The report `slm train` writes into the run folder after the last step (`eval.report`): the
    /// base model and the tuned one (base + the run's adapter) side by side on `data.heldout`, with
    /// the run's loss curves, under the recipe's `eval` settings, followed by `exports` (the run's
    /// exported models). With a `distillation:` section, the held-out samples are scored by the
    /// teacher into its cache first (those missing), and the report adds the agreement with the
    /// teacher and a teacher column. Returns the report folder, or nil (saying why through `progress`) when the
    /// run cannot have one.
    public static func reportRun(_ recipe: Recipe, exports: [ModelSpec] = [], progress: ProgressReporter) throws -> String? {
        guard recipe.eval.report else { return nil }
        guard recipe.lora != nil else {
            progress.message("no evaluation report: full fine-tuning writes the trained tensors only; evaluate a merged export with slm eval")
            return nil
        }
        guard let heldout = recipe.data.heldout else {
            progress.message("no evaluation report: it needs a held-out file (data.heldout); evaluate later with slm eval \(recipe.output.dir) --data FILE")
            return nil
        }
        let run = RunFolder(recipe.output.dir)
        let models = [
            ModelSpec(name: "base", path: recipe.model.path, adapter: nil),
            ModelSpec(name: "tuned", path: recipe.model.path, adapter: run.result(lora: true)),
        ] + exports
        var options = EvaluationOptions(recipe: recipe)
        if let distillation = recipe.distillation {
            do {
                _ = try fillHeldoutTeacherCache(recipe, progress: progress)
                options.teacherCache = distillation.cache
            } catch {
                progress.message("no agreement with the teacher in the report: its held-out scores could not be made: \(error)")
            }
        }
        var (report, predictions) = try Evaluation.run(models: models, dataPath: heldout, options: options, recipePath: run.recipe, progress: progress)
        report.compareExports(with: "tuned", describeReference: false)
        try write(report, predictions: predictions, to: run.report)
        return run.report
    }
}
