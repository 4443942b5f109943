/// The request bodies slm serve reads. Field names are OpenAI's; fields OpenAI defines that are
/// not listed here are ignored (see docs/serve.md).

/// POST /v1/completions.
struct CompletionRequest: Decodable {
    var model: String?
    var prompt: String
    /// Default 16, as OpenAI's. 0 with `echo` scores the prompt only.
    var maxTokens: Int?
    var temperature: Float?
    var topP: Float?
    var seed: UInt64?
    var stop: [String]?
    var echo: Bool?
    /// Report this many alternatives per token (0…20).
    var logprobs: Int?
    var stream: Bool?
    var n: Int?

    enum CodingKeys: String, CodingKey {
        case model, prompt, temperature, seed, stop, echo, logprobs, stream, n
        case maxTokens = "max_tokens", topP = "top_p"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        // A string, or an array holding one string.
        if let list = try? c.decode([String].self, forKey: .prompt) {
            guard list.count == 1 else {
                throw APIError.badRequest("prompt", "'prompt' must be one string (batches of \(list.count) prompts are not supported)")
            }
            prompt = list[0]
        } else {
            prompt = try c.decode(String.self, forKey: .prompt)
        }
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Float.self, forKey: .topP)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        stop = try StopField.decode(c, .stop)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        n = try c.decodeIfPresent(Int.self, forKey: .n)
    }
}

/// POST /v1/chat/completions.
struct ChatCompletionRequest: Decodable {
    struct Message: Decodable {
        var role: String
        var content: String
    }
    var model: String?
    var messages: [Message]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Float?
    var topP: Float?
    var seed: UInt64?
    var stop: [String]?
    var logprobs: Bool?
    /// Alternatives per token (0…20); needs `logprobs: true`.
    var topLogprobs: Int?
    var stream: Bool?
    var n: Int?

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, seed, stop, logprobs, stream, n
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p", topLogprobs = "top_logprobs"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        messages = try c.decode([Message].self, forKey: .messages)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxCompletionTokens = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Float.self, forKey: .topP)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        stop = try StopField.decode(c, .stop)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        n = try c.decodeIfPresent(Int.self, forKey: .n)
    }
}

/// `stop`: a string or a list of strings.
enum StopField {
    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> [String]? {
        if let list = try? c.decodeIfPresent([String].self, forKey: key) { return list }
        return try c.decodeIfPresent(String.self, forKey: key).map { [$0] }
    }
}
