import Hummingbird
import Logging

/// Runs `router` on 127.0.0.1 at a free port, quietly, until the returned task is cancelled:
/// the test servers (a faulty OpenAI-compatible one, a replying one, one in the Hub's layout) share it.
public func serveOnLoopback(_ router: Router<BasicRequestContext>, label: String) async throws -> (port: Int, task: Task<Void, any Error>) {
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) },
        logger: { var l = Logger(label: label); l.logLevel = .critical; return l }())
    let task = Task { try await app.runService(gracefulShutdownSignals: []) }
    for await port in ports { return (port, task) }
    throw CancellationError()
}
