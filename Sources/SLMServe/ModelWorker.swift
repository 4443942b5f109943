import Dispatch
import SLMModel
import SLMTensor

/// One request for the model: a prompt, what to generate, and which log-probabilities to report.
struct GenerationJob: Sendable {
    var prompt: [Int32]
    /// `maxTokens` 0 generates nothing (with `promptLogprobs`: only the prompt is scored).
    var parameters: GenerationParameters
    /// Score every prompt token and report this many alternatives (nil: the prompt is not scored).
    var promptLogprobs: Int?
    /// Report each generated token's log-probability and this many alternatives (nil: none).
    var tokenLogprobs: Int?
}

/// One generated token as a response shows it. `logprob` is nil unless the job asked for it.
struct JobToken: Sendable {
    var token: GeneratedToken
    var logprob: TokenLogProb?
    /// The stop token that ended the reply: its text (a flushed remainder) is shown, the token is not.
    var isStopToken: Bool
}

struct JobResult: Sendable {
    var promptTokens: Int
    var prompt: [TokenLogProb]
    var tokens: [JobToken]
    var finishReason: FinishReason?
}

/// Owns the model, which is not thread-safe: jobs run one at a time on a serial queue, in the
/// order they arrive; the others wait.
final class ModelWorker: @unchecked Sendable {
    private let generator: Generator
    private let queue = DispatchQueue(label: "slm.serve.model")
    let contextLength: Int

    init(generator: Generator) {
        self.generator = generator
        contextLength = generator.cache.maxTokens
    }

    /// Runs `job` when the model is free; `onPrompt` sees the prompt's scores (when asked for),
    /// `onToken` each token as it comes, returning false to stop early (a client that went away).
    func run(
        _ job: GenerationJob, onPrompt: @escaping @Sendable ([TokenLogProb]) -> Void = { _ in },
        onToken: @escaping @Sendable (JobToken) -> Bool = { _ in true }
    ) async throws -> JobResult {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.runNow(job, onPrompt: onPrompt, onToken: onToken) })
            }
        }
    }

    private func runNow(_ job: GenerationJob, onPrompt: ([TokenLogProb]) -> Void, onToken: (JobToken) -> Bool) throws -> JobResult {
        var result = JobResult(promptTokens: job.prompt.count, prompt: [], tokens: [], finishReason: nil)
        if let n = job.promptLogprobs {
            result.prompt = try scorePrompt(job.prompt, n: n)
            onPrompt(result.prompt)
        }
        guard job.parameters.maxTokens > 0 else { return result }
        try generator.start(prompt: job.prompt, parameters: job.parameters)
        while let token = try generator.next() {
            let isStop = generator.finishReason == .stopToken
            var logprob: TokenLogProb?
            if let n = job.tokenLogprobs, !isStop, let logits = generator.logits {
                logprob = try TokenLogProbs.rows(logits.reshaped([1, logits.count]), next: [token.id], n: n)[0]
            }
            let shown = JobToken(token: token, logprob: logprob, isStopToken: isStop)
            result.tokens.append(shown)
            guard onToken(shown) else { break }
        }
        result.finishReason = generator.finishReason
        return result
    }

    /// Every prompt token's log-probability given the ones before it (the first has none), run
    /// through the generator's cache so that the reply that follows reuses it.
    private func scorePrompt(_ prompt: [Int32], n: Int) throws -> [TokenLogProb] {
        let model = generator.model, cache = generator.cache
        cache.truncate(to: 0)
        var scores = [TokenLogProb(id: prompt[0], logprob: nil, top: [])]
        var start = 0
        while start < prompt.count {
            let end = min(prompt.count, start + generator.prefillChunk)
            let hidden = try model.hiddenStates(Array(prompt[start..<end]), cache: cache)
            // Row i predicts prompt[start + i + 1]; the chunk's last row of the whole prompt predicts the reply.
            let rows = min(end, prompt.count - 1) - start
            if rows > 0 {
                let c = model.config.hiddenSize
                let kept = Tensor(uninitialized: [rows, c])
                kept.data.update(from: hidden.data, count: rows * c)
                let logits = try GradMode.withoutGrad { try model.logits(kept) }
                scores += try TokenLogProbs.rows(logits, next: Array(prompt[(start + 1)...(start + rows)]), n: n)
            }
            start = end
        }
        return scores
    }
}
