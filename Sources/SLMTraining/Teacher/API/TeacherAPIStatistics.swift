/// Running counts of a teacher client's work, safe to read while requests are in flight.
public struct TeacherAPIStatistics: Sendable, Equatable {
    /// HTTP requests sent (first tries and retries).
    public var requests = 0
    /// Samples scored, and samples given up on after the last retry (or a non-retryable error).
    public var samplesScored = 0, samplesFailed = 0
    /// Retries, by what caused them: "429", "5xx" (and 408), "timeout", "connection" (refused or
    /// dropped), "malformed" (a body that was not the JSON expected).
    public var retries: [String: Int] = [:]
    /// Tokens as the server counted them (`usage`), and the rows of the student's tokens filled.
    public var promptTokens = 0, completionTokens = 0, mappedPositions = 0, positions = 0

    public var totalRetries: Int { retries.values.reduce(0, +) }

    public init() {}
}

/// What a server did that differs from what was asked, noticed in its responses.
public enum ServerBehaviour: Sendable, Equatable, CustomStringConvertible {
    /// `echo: true` was accepted but the prompt did not come back scored (llama.cpp's server):
    /// the dataset's own text cannot be scored here; use teacher-written replies.
    case echoIgnored
    /// Prompt tokens came back without log-probabilities.
    case echoedPromptWithoutLogprobs
    /// `max_tokens: 0` still generated this many tokens (llama.cpp generates one); they are dropped.
    case generatedDespiteMaxTokensZero(Int)
    /// The response carries no log-probabilities at all.
    case noLogprobs
    /// Fewer alternatives per position than asked, at some positions.
    case fewerAlternatives(asked: Int, got: Int)
    /// The server refused `cache_prompt`; it is no longer sent.
    case promptCacheFieldRefused
    /// The scored tokens do not spell the text sent (or the reply), so some positions may not align.
    case tokensDoNotSpellText

    public var description: String {
        switch self {
        case .echoIgnored: "the server ignored echo: the prompt came back unscored (its own text cannot be scored; use teacher-written replies)"
        case .echoedPromptWithoutLogprobs: "the server echoed the prompt without log-probabilities"
        case .generatedDespiteMaxTokensZero(let n): "max_tokens 0 still generated \(n) token(s); dropped"
        case .noLogprobs: "the response carries no log-probabilities"
        case .fewerAlternatives(let asked, let got): "asked \(asked) alternatives per position, got as few as \(got)"
        case .promptCacheFieldRefused: "the server refused cache_prompt; no longer sent"
        case .tokensDoNotSpellText: "the server's tokens do not spell the text sent"
        }
    }
}
