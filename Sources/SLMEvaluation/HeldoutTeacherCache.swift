import SLMTraining

extension Evaluation {
    /// Fills the recipe's teacher cache (`distillation.cache`) with the held-out samples
    /// (`data.heldout`, the first `eval.max_samples`) exactly as the evaluator scores them, by the
    /// recipe's teacher (local model or API) through the same `TeacherSource` as the training
    /// samples. The cache is keyed by token ids, so both splits live in one file. The student
    /// model is loaded for its tokenizer and chat template.
    public static func fillHeldoutTeacherCache(
        _ recipe: Recipe, progress: ProgressReporter, commitRows: Int = 8 * TeacherCacheFile.chunkRows
    ) throws -> TeacherCache {
        guard let distillation = recipe.distillation else { throw EvaluationError("the recipe has no distillation section: no teacher to score with") }
        guard let heldout = recipe.data.heldout else { throw EvaluationError("the recipe has no held-out file (data.heldout) to score") }
        let student = try TrainingRunSetup.loadModel(recipe.model, log: progress.message)
        let set = try EvaluationSet.load(path: heldout, maxSamples: recipe.eval.maxSamples, task: recipe.eval.task, trainPath: nil)
        let formatter = SampleFormatter(tokenizer: student.tokenizer, template: student.template, lossOn: .completion)
        let samples = try set.scoredSamples(formatter, sequenceLength: recipe.data.sequenceLength).samples
        return try DistillationSetup.fillCache(
            distillation, samples: samples, studentTokenizer: student.tokenizer, progress: progress, commitRows: commitRows, split: "held-out")
    }
}
