/// Why a pull failed, with what to do about it; never holds the token.
public struct HubError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// Worth another attempt: rate limiting, a server error, a short read.
    public let retryable: Bool

    public init(_ description: String, retryable: Bool = false) {
        self.description = description
        self.retryable = retryable
    }
}
