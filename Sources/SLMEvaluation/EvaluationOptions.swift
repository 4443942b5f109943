import SLMTraining

/// What `slm eval` and the end of `slm train` ask of an evaluation. Defaults are stated on each field.
public struct EvaluationOptions: Sendable {
    /// Evaluate the first N records; nil (default): all.
    public var maxSamples: Int?
    /// Tokens generated at most per answer. Default 64.
    public var maxNewTokens = 64
    /// Generate answers and score them (task metrics, latency, routing). Default true.
    public var generate = true
    /// How answers are scored. Default auto (decided from the references).
    public var task: Recipe.EvalTask = .auto
    /// Longest sample scored, in tokens: longer text records are scored in windows of this many
    /// tokens (as `llama-perplexity -c`), other samples keep their last this many. Default 512.
    public var sequenceLength = 512
    /// GGUF projections stay in their quantized blocks (as llama.cpp runs them). Default true.
    public var keepQuantized = true
    public var chatTemplate: Recipe.ChatTemplateChoice = .auto
    /// Bootstrap resamples for the confidence intervals; 0: none. Default 1000.
    public var bootstrapResamples = 1000
    /// Seeds the bootstrap. Default 42.
    public var seed: UInt64 = 42
    /// The accuracy the routing analysis looks for. Default 0.95.
    public var targetAccuracy = 0.95
    /// The training file, to warn about held-out labels it never shows. Default none.
    public var trainPath: String?
    /// A teacher cache (docs/teacher-cache.md): each model's agreement with the teacher, and a
    /// `teacher` column from the cache alone. Default none.
    public var teacherCache: String?

    public init() {}

    /// The options a recipe's `eval:` section and data section ask for.
    public init(recipe: Recipe) {
        maxSamples = recipe.eval.maxSamples
        maxNewTokens = recipe.eval.maxNewTokens
        generate = recipe.eval.generate
        task = recipe.eval.task
        sequenceLength = recipe.data.sequenceLength
        keepQuantized = recipe.model.keepQuantized
        chatTemplate = recipe.model.chatTemplate
        seed = recipe.train.seed
        targetAccuracy = recipe.eval.targetAccuracy
        trainPath = recipe.data.train
    }
}
