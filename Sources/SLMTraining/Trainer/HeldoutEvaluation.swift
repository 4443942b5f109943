import Foundation
import SLMModel
import SLMTensor

/// Held-out data for evaluation: batches for the loss, and prompts with the completion expected
/// of each for generation.
public struct HeldoutSet: Sendable {
    public var batches: [TrainingBatch]
    public var prompts: [EvaluationPrompt]

    public init(batches: [TrainingBatch], prompts: [EvaluationPrompt]) {
        self.batches = batches
        self.prompts = prompts
    }
}

public struct EvaluationResult: Sendable {
    /// Mean cross-entropy over the target tokens of the held-out batches.
    public var loss: Double
    public var perplexity: Double { exp(loss) }
    public var targetTokens: Int
    /// Share of prompts whose greedy completion equals the reference (both trimmed of surrounding whitespace).
    public var exactMatch: Double?
    public var generatedSamples: Int

    var record: [String: Any] {
        var r: [String: Any] = ["loss": loss, "perplexity": perplexity, "target_tokens": targetTokens]
        if let exactMatch { r["exact_match"] = exactMatch; r["samples"] = generatedSamples }
        return r
    }

    var summary: String {
        var text = String(format: "held-out loss %.4f  perplexity %.2f", loss, perplexity)
        if let exactMatch { text += String(format: "  exact match %.1f%% of %d", 100 * exactMatch, generatedSamples) }
        return text
    }
}

/// Held-out loss (no gradients, nothing recorded on the tape) and greedy exact-match accuracy.
struct HeldoutEvaluator {
    let model: Transformer
    let tokenizer: BPETokenizer
    let maxNewTokens: Int
    let generate: Bool

    /// `progress(done, total)` is called after each generated prompt.
    func evaluate(_ set: HeldoutSet, progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationResult {
        try GradMode.withoutGrad {
            var lossSum = 0.0, tokens = 0
            for batch in set.batches {
                let targets = batch.labels.count(where: { $0 != Tensor.ignoreIndex })
                guard targets > 0 else { continue }
                let hidden = try model.hiddenStates(
                    batch.ids, batch: batch.batch, sequence: batch.sequence, positions: batch.positions,
                    mask: AttentionMask(segments: batch.segments))
                let head = try Tensor.lossHead(hidden: hidden, weight: model.lmHead, labels: batch.labels, weightInBF16: model.headInBF16)
                lossSum += Double(head.crossEntropy ?? .nan) * Double(targets)
                tokens += targets
            }
            var result = EvaluationResult(loss: tokens > 0 ? lossSum / Double(tokens) : .nan, targetTokens: tokens, generatedSamples: 0)
            if generate, let longest = set.prompts.map(\.promptIds.count).max() {
                let generator = try Generator(model: model, tokenizer: tokenizer, contextLength: longest + maxNewTokens + 1)
                var matches = 0
                for (n, prompt) in set.prompts.enumerated() {
                    defer { progress(n + 1, set.prompts.count) }
                    let reply = try generator.generate(prompt: prompt.promptIds, parameters: GenerationParameters(maxTokens: maxNewTokens))
                    if reply.trimmingCharacters(in: .whitespacesAndNewlines) == prompt.reference.trimmingCharacters(in: .whitespacesAndNewlines) {
                        matches += 1
                    }
                }
                result.exactMatch = Double(matches) / Double(set.prompts.count)
                result.generatedSamples = set.prompts.count
            }
            return result
        }
    }
}
