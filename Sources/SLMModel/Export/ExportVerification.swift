import Foundation
import SLMTensor

/// How an exported model compares with the model it was exported from (base + adapter) on a probe
/// text: next-token logits at every position, the text's perplexity, and the greedy continuation.
public struct ExportComparison: Sendable {
    public var probeTokens: Int
    public var maxAbsLogitDifference: Float
    public var meanAbsLogitDifference: Double
    public var referencePerplexity: Double
    public var exportPerplexity: Double
    public var referenceGreedy: String
    public var exportGreedy: String
    public var sameGreedyOutput: Bool { referenceGreedy == exportGreedy }

    /// Runs both models on `probe` (at most `maxTokens` of it) and greedily continues its first
    /// `promptTokens` tokens for `greedyTokens` tokens with each.
    public init(
        reference: Transformer, exported: Transformer, tokenizer: BPETokenizer, probe: String,
        maxTokens: Int = 256, promptTokens: Int = 24, greedyTokens: Int = 24
    ) throws {
        try self.init(
            reference: reference, exported: exported, tokenizer: tokenizer, probeIds: tokenizer.encode(probe),
            maxTokens: maxTokens, promptTokens: promptTokens, greedyTokens: greedyTokens)
    }

    /// The same on token ids (e.g. held-out samples as training formats them).
    public init(
        reference: Transformer, exported: Transformer, tokenizer: BPETokenizer, probeIds: [Int32],
        maxTokens: Int = 256, promptTokens: Int = 24, greedyTokens: Int = 24
    ) throws {
        let ids = Array(probeIds.prefix(maxTokens))
        guard ids.count >= 2 else { throw TensorError(op: "ExportComparison", "the probe text has \(ids.count) tokens; at least 2 are needed") }
        let (a, nllA) = try Self.logits(reference, ids)
        let (b, nllB) = try Self.logits(exported, ids)
        var maxDiff: Float = 0, sum = 0.0
        for i in 0..<a.count {
            let d = abs(a.data[i] - b.data[i])
            maxDiff = max(maxDiff, d)
            sum += Double(d)
        }
        probeTokens = ids.count
        maxAbsLogitDifference = maxDiff
        meanAbsLogitDifference = sum / Double(a.count)
        referencePerplexity = exp(nllA)
        exportPerplexity = exp(nllB)
        let prompt = Array(ids.prefix(promptTokens))
        let parameters = GenerationParameters(maxTokens: greedyTokens, sampling: .greedy)
        referenceGreedy = try Generator(model: reference, tokenizer: tokenizer, contextLength: prompt.count + greedyTokens + 1)
            .generate(prompt: prompt, parameters: parameters)
        exportGreedy = try Generator(model: exported, tokenizer: tokenizer, contextLength: prompt.count + greedyTokens + 1)
            .generate(prompt: prompt, parameters: parameters)
    }

    /// Logits [T, V] of `ids` and the mean negative log-likelihood of tokens 1..<T.
    static func logits(_ model: Transformer, _ ids: [Int32]) throws -> (Tensor, Double) {
        try GradMode.withoutGrad {
            let logits = try model.logits(model.hiddenStates(ids, batch: 1, sequence: ids.count))
            let logProbabilities = try logits.logSoftmax()
            let vocab = model.config.vocabSize
            var nll = 0.0
            for t in 0..<(ids.count - 1) { nll -= Double(logProbabilities.data[t * vocab + Int(ids[t + 1])]) }
            return (logits, nll / Double(ids.count - 1))
        }
    }

    /// A short English text with a ChatML exchange, used when no held-out text is given.
    public static let defaultProbe = """
        The history of the bicycle begins in the early nineteenth century, when inventors in Europe tried \
        to build a machine that a person could ride without a horse. The first designs had no pedals; riders \
        pushed themselves along with their feet. Pedals, chains and air-filled tyres came later, and by 1900 \
        the bicycle had become one of the most common ways to travel in cities.
        <|im_start|>user
        What is the capital of France?<|im_end|>
        <|im_start|>assistant
        The capital of France is Paris.<|im_end|>
        """
}
