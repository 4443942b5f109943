/// The response bodies slm serve writes, in OpenAI's layouts.

/// A value written as JSON `null` when absent (Swift's synthesized encoding would leave the key out).
struct Nullable<T: Encodable & Sendable>: Encodable, Sendable {
    var value: T?
    init(_ value: T?) { self.value = value }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let value { try c.encode(value) } else { try c.encodeNil() }
    }
}

struct Usage: Encodable, Sendable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }

    enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(completionTokens, forKey: .completionTokens)
        try c.encode(totalTokens, forKey: .totalTokens)
    }
}

/// OpenAI's legacy completions layout of log-probabilities:
/// ```
/// {"tokens": [" a", ...], "token_logprobs": [null, -1.2, ...],
///  "top_logprobs": [null, {" a": -1.2, " the": -2.9}, ...], "text_offset": [0, 2, ...]}
/// ```
struct LegacyLogprobs: Encodable, Sendable {
    var tokens: [String] = []
    var tokenLogprobs: [Float?] = []
    var topLogprobs: [[String: Float]?] = []
    var textOffset: [Int] = []

    enum CodingKeys: String, CodingKey {
        case tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset"
    }
}

struct CompletionChoice: Encodable, Sendable {
    var text: String
    var index = 0
    var logprobs: Nullable<LegacyLogprobs>
    var finishReason: Nullable<String>

    enum CodingKeys: String, CodingKey { case text, index, logprobs, finishReason = "finish_reason" }
}

/// `/v1/completions`: `object` is "text_completion" (also for streamed chunks, as OpenAI's).
struct CompletionResponse: Encodable, Sendable {
    var id: String
    var object = "text_completion"
    var created: Int
    var model: String
    var choices: [CompletionChoice]
    var usage: Usage?
}

/// The chat layout of log-probabilities:
/// ```
/// {"content": [{"token": "The", "logprob": -0.05, "bytes": [84, 104, 101],
///               "top_logprobs": [{"token": "The", "logprob": -0.05, "bytes": [84, 104, 101]}, ...]}, ...]}
/// ```
struct ChatLogprobs: Encodable, Sendable {
    struct Alternative: Encodable, Sendable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
    }
    struct Entry: Encodable, Sendable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
        var topLogprobs: [Alternative]
        enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
    }
    var content: [Entry]
}

struct ChatMessageBody: Encodable, Sendable {
    var role: String?
    var content: String?
}

struct ChatChoice: Encodable, Sendable {
    var index = 0
    var message: ChatMessageBody?
    var delta: ChatMessageBody?
    var logprobs: Nullable<ChatLogprobs>
    var finishReason: Nullable<String>

    enum CodingKeys: String, CodingKey { case index, message, delta, logprobs, finishReason = "finish_reason" }
}

/// `/v1/chat/completions`: `object` is "chat.completion", or "chat.completion.chunk" when streamed.
struct ChatCompletionResponse: Encodable, Sendable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [ChatChoice]
    var usage: Usage?
}

/// `/v1/models`.
struct ModelList: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "slm"
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
    var object = "list"
    var data: [Model]
}
