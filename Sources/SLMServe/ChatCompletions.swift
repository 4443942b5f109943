import SLMModel

/// `/v1/chat/completions`: messages rendered by the model's chat template, log-probabilities in the chat layout.
struct ChatCompletions {
    let model: ServedModel

    func job(_ request: ChatCompletionRequest) throws -> GenerationJob {
        try JobParameters.checkModel(request.model, served: model)
        guard !request.messages.isEmpty else { throw APIError.badRequest("messages", "'messages' is empty") }
        for (i, m) in request.messages.enumerated() where !["system", "user", "assistant"].contains(m.role) {
            throw APIError.badRequest("messages.\(i).role", "'messages.\(i).role' must be system, user or assistant, got \"\(m.role)\"")
        }
        let text = model.template.render(request.messages.map { ChatMessage(role: $0.role, content: $0.content) })
        let prompt = model.encodeChat(text)
        try Completions.checkFits(prompt.count, model: model)
        let field = request.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens"
        let maxTokens = request.maxCompletionTokens ?? request.maxTokens ?? (model.contextLength - prompt.count)
        guard maxTokens > 0 else { throw APIError.badRequest(field, "'\(field)' must be positive, got \(maxTokens)") }
        var top = try JobParameters.logprobCount(request.topLogprobs, field: "top_logprobs")
        if top != nil, request.logprobs != true {
            throw APIError.badRequest("top_logprobs", "'top_logprobs' needs 'logprobs': true")
        }
        if request.logprobs == true, top == nil { top = 0 }
        var parameters = try JobParameters.make(
            maxTokens: maxTokens, temperature: request.temperature, topP: request.topP, seed: request.seed, stop: request.stop, n: request.n)
        parameters.stopTokenIds = model.template.stopTokenIds(model.tokenizer)
        return GenerationJob(prompt: prompt, parameters: parameters, promptLogprobs: nil, tokenLogprobs: top)
    }

    func response(job: GenerationJob, result: JobResult, id: String, created: Int) -> ChatCompletionResponse {
        var text = ""
        var entries: [ChatLogprobs.Entry] = []
        for t in result.tokens {
            text += t.token.text
            if !t.isStopToken, let lp = t.logprob { entries.append(entry(lp)) }
        }
        let generated = result.tokens.filter { !$0.isStopToken }.count
        let choice = ChatChoice(
            message: ChatMessageBody(role: "assistant", content: text),
            logprobs: Nullable(job.tokenLogprobs == nil ? nil : ChatLogprobs(content: entries)),
            finishReason: Nullable(JobParameters.finishReason(result.finishReason)))
        return ChatCompletionResponse(
            id: id, object: "chat.completion", created: created, model: model.id, choices: [choice],
            usage: Usage(promptTokens: result.promptTokens, completionTokens: generated))
    }

    /// A streamed chunk: the first carries the role, the last `finish_reason`.
    func chunk(role: String? = nil, text: String?, logprobs: [TokenLogProb], wantLogprobs: Bool, finish: String?, id: String, created: Int) -> ChatCompletionResponse {
        let choice = ChatChoice(
            delta: ChatMessageBody(role: role, content: text),
            logprobs: Nullable(wantLogprobs && !logprobs.isEmpty ? ChatLogprobs(content: logprobs.map(entry)) : nil),
            finishReason: Nullable(finish))
        return ChatCompletionResponse(id: id, object: "chat.completion.chunk", created: created, model: model.id, choices: [choice], usage: nil)
    }

    func entry(_ p: TokenLogProb) -> ChatLogprobs.Entry {
        let token = TokenText(p.id, tokenizer: model.tokenizer)
        return ChatLogprobs.Entry(
            token: token.text, logprob: LegacyLayout.floor(p.logprob ?? 0), bytes: token.bytes,
            topLogprobs: p.top.map {
                let alt = TokenText($0.id, tokenizer: model.tokenizer)
                return ChatLogprobs.Alternative(token: alt.text, logprob: LegacyLayout.floor($0.logprob), bytes: alt.bytes)
            })
    }
}
