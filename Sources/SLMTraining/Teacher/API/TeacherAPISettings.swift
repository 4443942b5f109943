/// How the teacher API client talks to an OpenAI-compatible server. Defaults are stated on each field.
///
/// The API key is never held here: only the NAME of the environment variable that holds it
/// (`api_key_env: OPENAI_API_KEY`); the client reads the variable when it sends a request, and
/// the key is never logged, printed, stored or put in an error.
public struct TeacherAPISettings: Sendable {
    /// The API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    public var baseURL: String
    /// The teacher model's name, sent as `model`.
    public var model: String
    /// The environment variable that holds the key, sent as `Authorization: Bearer …`; nil: no key
    /// (a local server).
    public var apiKeyEnvironmentVariable: String?
    /// Candidates per position (`logprobs` / `top_logprobs`), 1…20. Default 20.
    public var topLogprobs: Int
    /// Requests in flight at most. Default 4.
    public var maxConcurrentRequests: Int
    /// Seconds a request may take, from sending to the last byte, before it is abandoned (and
    /// retried). Default 120.
    public var requestTimeout: Double
    /// Retries of one request after a 429, a 5xx, a timeout, a dropped connection or an unreadable
    /// body; then the request fails. Default 6.
    public var maxRetries: Int
    /// The first retry waits about this many seconds, each next one twice as long (up to
    /// `maxBackoff`), each drawn between half and all of that (jitter). A `Retry-After` header is
    /// honoured instead, up to `maxRetryAfter`. Defaults 1, 60 and 300.
    public var initialBackoff: Double
    public var maxBackoff: Double
    public var maxRetryAfter: Double
    /// Teacher-written replies: temperature (default 0: the teacher's most likely reply) and new
    /// tokens at most (default 512).
    public var temperature: Float
    public var maxTokens: Int
    /// Send `"cache_prompt": false`, which llama.cpp's server needs for reproducible log-probabilities
    /// (a reused prompt cache shifts them slightly). A server that refuses the field with a 400 is
    /// asked again without it, once, and the client stops sending it. Default true.
    public var disablePromptCache: Bool

    public init(
        baseURL: String, model: String, apiKeyEnvironmentVariable: String? = nil, topLogprobs: Int = 20, maxConcurrentRequests: Int = 4,
        requestTimeout: Double = 120, maxRetries: Int = 6, initialBackoff: Double = 1, maxBackoff: Double = 60, maxRetryAfter: Double = 300,
        temperature: Float = 0, maxTokens: Int = 512, disablePromptCache: Bool = true
    ) {
        self.baseURL = baseURL
        self.model = model
        self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable
        self.topLogprobs = topLogprobs
        self.maxConcurrentRequests = maxConcurrentRequests
        self.requestTimeout = requestTimeout
        self.maxRetries = maxRetries
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxRetryAfter = maxRetryAfter
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.disablePromptCache = disablePromptCache
    }

    func validated() throws -> TeacherAPISettings {
        guard baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://") else {
            throw TeacherAPIError("base_url must start with http:// or https://, got \"\(baseURL)\"")
        }
        guard !model.isEmpty else { throw TeacherAPIError("model is empty") }
        guard (1...20).contains(topLogprobs) else { throw TeacherAPIError("top_logprobs must be between 1 and 20, got \(topLogprobs)") }
        guard maxConcurrentRequests >= 1 else { throw TeacherAPIError("concurrency must be at least 1, got \(maxConcurrentRequests)") }
        guard requestTimeout > 0, maxRetries >= 0, initialBackoff >= 0, maxBackoff >= initialBackoff, maxRetryAfter >= 0 else {
            throw TeacherAPIError("timeout must be positive, retries and backoff not negative (max_backoff ≥ initial_backoff)")
        }
        guard maxTokens > 0 else { throw TeacherAPIError("max_tokens must be positive, got \(maxTokens)") }
        return self
    }
}

/// What went wrong talking to the teacher API, said so that a user can act on it. Never holds the key.
public struct TeacherAPIError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The HTTP status, when a server answered.
    public let status: Int?
    public init(_ description: String, status: Int? = nil) {
        self.description = description
        self.status = status
    }
}
