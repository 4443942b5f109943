import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// Sends one HTTP request with a deadline on the whole exchange (URLSession's own timeout only
/// bounds the wait for each next byte).
struct HTTPSender: Sendable {
    struct TimedOut: Error {}

    let session: URLSession

    init(maxConnections: Int, timeout: Double) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = maxConnections
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration)
    }

    /// The response's body and head, `TimedOut` after `timeout` seconds, or URLSession's error.
    func send(_ request: URLRequest, timeout: Double) async throws -> (Data, HTTPURLResponse) {
        let session = self.session
        let exchange = Task { try await session.data(for: request) }
        let waiting = FirstOutcome()
        let (data, response) = try await withCheckedThrowingContinuation { continuation in
            waiting.continuation.withLock { $0 = continuation }
            let timer = Task {
                try await Task.sleep(for: .seconds(timeout))
                exchange.cancel()
                waiting.resume(with: .failure(TimedOut()))
            }
            Task {
                let result = await exchange.result
                timer.cancel()
                waiting.resume(with: result)
            }
        }
        guard let http = response as? HTTPURLResponse else { throw URLError(.badServerResponse) }
        return (data, http)
    }
}

/// Resumes a continuation with whichever outcome comes first; later ones are dropped.
private final class FirstOutcome: Sendable {
    let continuation = Mutex<CheckedContinuation<(Data, URLResponse), any Error>?>(nil)

    func resume(with result: Result<(Data, URLResponse), any Error>) {
        continuation.withLock {
            $0?.resume(with: result)
            $0 = nil
        }
    }
}

/// At most `limit` holders at a time; the others wait in arrival order.
actor ConcurrencyLimit {
    private let limit: Int
    private var active = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { self.limit = limit }

    func acquire() async {
        if active < limit {
            active += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            active -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
