import Foundation

/// When and how long to wait before retrying a request.
struct RetryPolicy: Sendable {
    let initialBackoff: Double
    let maxBackoff: Double
    let maxRetryAfter: Double

    /// 429, 408 and every 5xx are worth another try; other statuses are the request's own fault.
    static func isRetryable(status: Int) -> Bool { status == 429 || status == 408 || (500...599).contains(status) }

    /// Seconds to wait before retry number `retry` (1 for the first): the server's `Retry-After`
    /// when it sent one (capped at `maxRetryAfter`), else exponential backoff with jitter, drawn
    /// between half and all of `initialBackoff · 2^(retry − 1)` capped at `maxBackoff`.
    func delay(retry: Int, retryAfter: Double?, random: Double = Double.random(in: 0...1)) -> Double {
        if let retryAfter { return min(max(retryAfter, 0), maxRetryAfter) }
        let base = min(maxBackoff, initialBackoff * pow(2, Double(max(retry - 1, 0))))
        return base * (0.5 + 0.5 * random)
    }

    /// A `Retry-After` header: delay-seconds, or an HTTP-date (RFC 9110), as seconds from `now`.
    static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Double? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds.isFinite { return max(seconds, 0) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(date.timeIntervalSince(now), 0)
    }
}
