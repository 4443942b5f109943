import SLMModel

/// `/v1/completions`: a prompt continued, with `echo` and `logprobs` in OpenAI's legacy layout.
struct Completions {
    let model: ServedModel

    /// The job a request asks for, after checking every field.
    func job(_ request: CompletionRequest) throws -> GenerationJob {
        try JobParameters.checkModel(request.model, served: model)
        let echo = request.echo ?? false
        let maxTokens = request.maxTokens ?? 16
        guard maxTokens >= 0, maxTokens > 0 || echo else {
            throw APIError.badRequest("max_tokens", "'max_tokens' must be positive (0 only with echo, to score the prompt), got \(maxTokens)")
        }
        guard !request.prompt.isEmpty else { throw APIError.badRequest("prompt", "'prompt' is empty") }
        let prompt = model.encode(request.prompt)
        try Self.checkFits(prompt.count, model: model)
        let logprobs = try JobParameters.logprobCount(request.logprobs, field: "logprobs")
        return GenerationJob(
            prompt: prompt,
            parameters: try JobParameters.make(
                maxTokens: maxTokens, temperature: request.temperature, topP: request.topP, seed: request.seed, stop: request.stop, n: request.n),
            promptLogprobs: echo ? logprobs : nil, tokenLogprobs: logprobs)
    }

    static func checkFits(_ promptTokens: Int, model: ServedModel) throws {
        guard promptTokens < model.contextLength else {
            throw APIError.tooLarge("prompt", "the prompt has \(promptTokens) tokens; the context holds \(model.contextLength) (prompt and reply)")
        }
    }

    /// The whole response once the job is done.
    func response(_ request: CompletionRequest, job: GenerationJob, result: JobResult, id: String, created: Int) -> CompletionResponse {
        var layout = LegacyLayout(tokenizer: model.tokenizer, alternatives: job.tokenLogprobs)
        var text = ""
        if request.echo ?? false {
            text = request.prompt
            for p in result.prompt { layout.add(p) }
        }
        var generated = 0
        for t in result.tokens {
            text += t.token.text
            guard !t.isStopToken else { continue }
            generated += 1
            if let lp = t.logprob { layout.add(lp) }
        }
        let choice = CompletionChoice(
            text: text, logprobs: Nullable(job.tokenLogprobs == nil ? nil : layout.logprobs),
            finishReason: Nullable(JobParameters.finishReason(result.finishReason)))
        return CompletionResponse(
            id: id, created: created, model: model.id, choices: [choice],
            usage: Usage(promptTokens: result.promptTokens, completionTokens: generated))
    }

    /// A streamed chunk: a piece of text (and its tokens' log-probabilities), or the final one with `finish_reason`.
    func chunk(text: String, logprobs: [TokenLogProb], alternatives: Int?, layout: inout LegacyLayout, finish: String?, id: String, created: Int) -> CompletionResponse {
        var piece = LegacyLayout(tokenizer: model.tokenizer, alternatives: alternatives, offset: layout.offset)
        for lp in logprobs {
            piece.add(lp)
            layout.add(lp)
        }
        let choice = CompletionChoice(text: text, logprobs: Nullable(alternatives == nil ? nil : piece.logprobs), finishReason: Nullable(finish))
        return CompletionResponse(id: id, created: created, model: model.id, choices: [choice], usage: nil)
    }
}

/// Builds `LegacyLogprobs` token by token; `text_offset` counts Unicode scalars (Python's string
/// index), a token that splits a character getting the offset of that character.
struct LegacyLayout {
    let tokenizer: BPETokenizer
    let alternatives: Int?
    private(set) var logprobs = LegacyLogprobs()
    /// Scalars begun so far: UTF-8 bytes that are not continuation bytes.
    private(set) var offset: Int

    init(tokenizer: BPETokenizer, alternatives: Int?, offset: Int = 0) {
        self.tokenizer = tokenizer
        self.alternatives = alternatives
        self.offset = offset
    }

    mutating func add(_ p: TokenLogProb) {
        let token = TokenText(p.id, tokenizer: tokenizer)
        logprobs.tokens.append(token.text)
        logprobs.tokenLogprobs.append(p.logprob.map(Self.floor))
        if p.logprob == nil {
            logprobs.topLogprobs.append(nil)
        } else {
            var top: [String: Float] = [:]
            for alt in p.top { top[TokenText(alt.id, tokenizer: tokenizer).text] = Self.floor(alt.logprob) }
            logprobs.topLogprobs.append(top)
        }
        logprobs.textOffset.append(offset)
        offset += token.bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
    }

    /// JSON has no -infinity: as OpenAI, the lowest log-probability reported is -9999.
    static func floor(_ x: Float) -> Float { max(x, -9999) }
}
