import Foundation

/// An error as OpenAI's API returns it, with its HTTP status:
/// ```
/// {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}
/// ```
public struct APIError: Error, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// 400: a field of the request is missing or wrong.
    static func badRequest(_ param: String?, _ message: String) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param)
    }

    static func notFound(_ message: String, param: String? = nil) -> APIError {
        APIError(status: 404, message: message, type: "invalid_request_error", param: param, code: param == "model" ? "model_not_found" : nil)
    }

    /// 413: the prompt does not fit the context, or the body is too large.
    static func tooLarge(_ param: String?, _ message: String) -> APIError {
        APIError(status: 413, message: message, type: "invalid_request_error", param: param, code: "context_length_exceeded")
    }

    static func server(_ message: String) -> APIError { APIError(status: 500, message: message, type: "server_error") }

    var json: Data { (try? JSONEncoder().encode(self)) ?? Data() }
}

extension APIError: Encodable {
    private enum Outer: String, CodingKey { case error }
    private enum Inner: String, CodingKey { case message, type, param, code }

    public func encode(to encoder: Encoder) throws {
        var outer = encoder.container(keyedBy: Outer.self)
        var c = outer.nestedContainer(keyedBy: Inner.self, forKey: .error)
        try c.encode(message, forKey: .message)
        try c.encode(type, forKey: .type)
        try c.encode(param, forKey: .param)
        try c.encode(code, forKey: .code)
    }
}

extension DecodingError {
    /// The request field a decoding error is about, as a dotted path (`messages.0.role`), and what went wrong.
    var apiError: APIError {
        func path(_ keys: [CodingKey]) -> String? {
            keys.isEmpty ? nil : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch self {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key]) ?? key.stringValue
            return .badRequest(field, "missing required field '\(field)'")
        case .typeMismatch(let type, let context):
            return .badRequest(path(context.codingPath), "'\(path(context.codingPath) ?? "body")' should be \(Self.describe(type))")
        case .valueNotFound(let type, let context):
            return .badRequest(path(context.codingPath), "'\(path(context.codingPath) ?? "body")' is null; expected \(Self.describe(type))")
        case .dataCorrupted(let context):
            return .badRequest(path(context.codingPath), context.codingPath.isEmpty ? "the body is not valid JSON" : "'\(path(context.codingPath)!)': \(context.debugDescription)")
        @unknown default:
            return .badRequest(nil, "the body could not be read")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(type)"
        }
    }
}
