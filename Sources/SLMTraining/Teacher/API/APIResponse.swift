import Foundation

/// Which of the two log-probability layouts a server answered in.
public enum APILogprobsLayout: String, Sendable {
    /// OpenAI's legacy completions layout:
    /// `{"tokens": [...], "token_logprobs": [null, ...], "top_logprobs": [null, {"tok": lp, ...}], "text_offset": [...]}`
    /// (tokens that are not valid UTF-8 alone are written `bytes:\xNN…`).
    case legacy
    /// The chat layout (OpenAI's chat completions; llama.cpp's server on both endpoints):
    /// `{"content": [{"token": "…", "logprob": lp, "bytes": [..], "top_logprobs": [{"token", "logprob", "bytes"}]}]}`.
    case chat
}

/// One token of a response with its log-probability and the server's alternatives at that
/// position, highest first. Tokens are raw bytes (a token may be part of a character).
public struct APITokenPosition: Sendable, Equatable {
    public var bytes: [UInt8]
    /// nil where the server gave none (the first token of an echoed prompt).
    public var logprob: Float?
    public var top: [APICandidate]

    public init(bytes: [UInt8], logprob: Float?, top: [APICandidate]) {
        self.bytes = bytes
        self.logprob = logprob
        self.top = top
    }
}

public struct APICandidate: Sendable, Equatable {
    public var bytes: [UInt8]
    public var logprob: Float

    public init(bytes: [UInt8], logprob: Float) {
        self.bytes = bytes
        self.logprob = logprob
    }
}

/// The parts of a completions or chat completions response the teacher client reads.
public struct APIResponse: Sendable {
    /// `choices[0].text`, or `choices[0].message.content`.
    public var text: String
    public var finishReason: String?
    public var layout: APILogprobsLayout?
    public var positions: [APITokenPosition]
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Set by the client: this exchange had to drop `cache_prompt` (see `TeacherAPISettings.disablePromptCache`).
    public var refusedPromptCacheField = false

    /// Reads `data`; `source` names the request in errors.
    public static func parse(_ data: Data, source: String) throws -> APIResponse {
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: data)
        } catch let error as DecodingError {
            throw TeacherAPIError("\(source): the response is not the JSON expected (\(error.fieldDescription))")
        } catch {
            throw TeacherAPIError("\(source): the response is not JSON")
        }
        guard let choice = body.choices.first else { throw TeacherAPIError("\(source): the response has no choices") }
        var response = APIResponse(
            text: choice.text ?? choice.message?.content ?? "", finishReason: choice.finishReason, layout: nil, positions: [],
            promptTokens: body.usage?.promptTokens, completionTokens: body.usage?.completionTokens)
        if let lp = choice.logprobs {
            if let content = lp.content {
                response.layout = .chat
                response.positions = content.map { entry in
                    APITokenPosition(
                        bytes: entry.bytes ?? Array(entry.token.utf8), logprob: Float(entry.logprob),
                        top: (entry.topLogprobs ?? []).map { APICandidate(bytes: $0.bytes ?? Array($0.token.utf8), logprob: Float($0.logprob)) }
                            .sorted { $0.logprob > $1.logprob })
                }
            } else if let tokens = lp.tokens {
                response.layout = .legacy
                let logprobs = lp.tokenLogprobs ?? []
                let tops = lp.topLogprobs ?? []
                response.positions = tokens.enumerated().map { i, token in
                    APITokenPosition(
                        bytes: bytesOfLegacyToken(token), logprob: i < logprobs.count ? logprobs[i].map(Float.init) : nil,
                        top: ((i < tops.count ? tops[i] : nil) ?? [:]).map { APICandidate(bytes: bytesOfLegacyToken($0.key), logprob: Float($0.value)) }
                            .sorted { $0.logprob != $1.logprob ? $0.logprob > $1.logprob : $0.bytes.lexicographicallyPrecedes($1.bytes) })
                }
            }
        }
        return response
    }

    /// A legacy-layout token's bytes: its UTF-8, or the bytes spelled in `bytes:\xe2\x80`.
    public static func legacyTokenBytes(_ token: String) -> [UInt8] { bytesOfLegacyToken(token) }

    private struct Body: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable { var content: String? }
            var text: String?
            var message: Message?
            var logprobs: Logprobs?
            var finishReason: String?
            enum CodingKeys: String, CodingKey { case text, message, logprobs, finishReason = "finish_reason" }
        }
        struct Logprobs: Decodable {
            struct Candidate: Decodable {
                var token: String
                var logprob: Double
                var bytes: [UInt8]?
            }
            struct Entry: Decodable {
                var token: String
                var logprob: Double
                var bytes: [UInt8]?
                var topLogprobs: [Candidate]?
                enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
            }
            var content: [Entry]?
            var tokens: [String]?
            var tokenLogprobs: [Double?]?
            var topLogprobs: [[String: Double]?]?
            enum CodingKeys: String, CodingKey {
                case content, tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs"
            }
        }
        struct Usage: Decodable {
            var promptTokens: Int?
            var completionTokens: Int?
            enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens" }
        }
        var choices: [Choice]
        var usage: Usage?
    }
}

private func bytesOfLegacyToken(_ token: String) -> [UInt8] {
    guard token.hasPrefix("bytes:") else { return Array(token.utf8) }
    var out: [UInt8] = []
    var rest = Substring(token.dropFirst(6))
    while !rest.isEmpty {
        if rest.hasPrefix("\\x"), rest.count >= 4, let byte = UInt8(rest.dropFirst(2).prefix(2), radix: 16) {
            out.append(byte)
            rest = rest.dropFirst(4)
        } else {
            out += Array(String(rest.first!).utf8)
            rest = rest.dropFirst()
        }
    }
    return out
}

extension DecodingError {
    /// The field path and what went wrong, for error messages.
    var fieldDescription: String {
        func path(_ keys: [CodingKey]) -> String { keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch self {
        case .keyNotFound(let key, let c): return "missing \(path(c.codingPath + [key]))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type at \(path(c.codingPath))"
        case .dataCorrupted(let c): return c.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(c.codingPath))"
        @unknown default: return "unreadable"
        }
    }
}
