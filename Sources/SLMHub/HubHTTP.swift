import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The Hub's HTTP side: small JSON requests, and files streamed to disk from an offset with Range
/// requests. The token goes only to the endpoint's own host, never to a redirect's CDN.
final class HubHTTP: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let endpointHost: String?
    let token: String?
    let timeout: Double
    private var session: URLSession!
    private let lock = NSLock()
    private var transfers: [Int: Transfer] = [:]

    init(endpoint: URL, token: String?, timeout: Double) {
        endpointHost = endpoint.host
        self.token = token
        self.timeout = timeout
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    func invalidate() { session.finishTasksAndInvalidate() }

    func request(_ url: URL) -> URLRequest {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.setValue("slm", forHTTPHeaderField: "User-Agent")
        if let token, url.host == endpointHost { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        return request
    }

    /// The body of a GET (at most `limit` bytes), its status and headers.
    func get(_ url: URL, limit: Int = 64 << 20) throws -> (body: Data, response: HTTPURLResponse) {
        let transfer = Transfer(sink: nil, limit: limit)
        return try run(request(url), transfer)
    }

    /// Streams `url` into `file` from byte `offset` (a Range request when offset > 0), calling
    /// `received` with the bytes written so far. Returns the response (and an error reply's body); a server that ignores the
    /// range (200 instead of 206) has its body written from the start of the file instead.
    func download(_ url: URL, into file: String, offset: Int, received: @escaping @Sendable (Int) -> Void) throws -> (body: Data, response: HTTPURLResponse) {
        var req = request(url)
        if offset > 0 { req.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let transfer = Transfer(sink: FileSink(path: file, offset: offset, received: received), limit: 64 << 10)
        return try run(req, transfer)
    }

    private func run(_ request: URLRequest, _ transfer: Transfer) throws -> (body: Data, response: HTTPURLResponse) {
        let task = session.dataTask(with: request)
        lock.withLock { transfers[task.taskIdentifier] = transfer }
        task.resume()
        transfer.done.wait()
        lock.withLock { transfers[task.taskIdentifier] = nil }
        if let error = transfer.error { throw error }
        guard let response = transfer.response else { throw HubError("\(request.url!.absoluteString): no response") }
        return (transfer.body, response)
    }

    private func transfer(_ task: URLSessionTask) -> Transfer? { lock.withLock { transfers[task.taskIdentifier] } }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let transfer = transfer(dataTask), let http = response as? HTTPURLResponse else { return completionHandler(.cancel) }
        transfer.response = http
        do {
            // Error bodies are kept in memory (bounded) for the message; only a 200/206 body goes to the file.
            if let sink = transfer.sink, http.statusCode == 200 || http.statusCode == 206 {
                try sink.open(status: http.statusCode, contentRange: http.value(forHTTPHeaderField: "Content-Range"))
                transfer.writing = true
            }
            completionHandler(.allow)
        } catch {
            transfer.error = error
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let transfer = transfer(dataTask) else { return }
        do {
            if transfer.writing, let sink = transfer.sink {
                try sink.write(data)
            } else if transfer.body.count + data.count <= transfer.limit {
                transfer.body.append(data)
            } else {
                throw HubError("\(dataTask.originalRequest?.url?.absoluteString ?? "a response"): more than \(transfer.limit) bytes where a small reply was expected")
            }
        } catch {
            transfer.error = transfer.error ?? error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let transfer = transfer(task) else { return }
        if let error, transfer.error == nil { transfer.error = error }
        do { try transfer.sink?.close() } catch { transfer.error = transfer.error ?? error }
        transfer.done.signal()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        var next = request
        if request.url?.host != endpointHost { next.setValue(nil, forHTTPHeaderField: "Authorization") }
        completionHandler(next)
    }

    /// One request's state, touched by the delegate queue and read after `done`.
    private final class Transfer: @unchecked Sendable {
        let sink: FileSink?
        let limit: Int
        let done = DispatchSemaphore(value: 0)
        var response: HTTPURLResponse?
        var body = Data()
        var writing = false
        var error: (any Error)?

        init(sink: FileSink?, limit: Int) {
            self.sink = sink
            self.limit = limit
        }
    }
}

/// Appends a download's bytes to a partial file, from where an earlier attempt stopped.
final class FileSink: @unchecked Sendable {
    let path: String
    private(set) var offset: Int
    let received: @Sendable (Int) -> Void
    private var handle: FileHandle?

    init(path: String, offset: Int, received: @escaping @Sendable (Int) -> Void) {
        self.path = path
        self.offset = offset
        self.received = received
    }

    /// 206 must continue at `offset` ("bytes OFFSET-…/…"); 200 is the whole file, written from byte 0.
    func open(status: Int, contentRange: String?) throws {
        if status == 206 {
            let start = contentRange.flatMap { range -> Int? in
                guard range.hasPrefix("bytes ") else { return nil }
                return Int(range.dropFirst(6).prefix { $0 != "-" })
            }
            guard start == offset else {
                throw HubError("\(path): asked for bytes from \(offset), the server sent Content-Range \(contentRange ?? "(none)")")
            }
        } else {
            offset = 0
        }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw HubError("\(path): cannot be written") }
        try handle.truncate(atOffset: UInt64(offset))
        try handle.seek(toOffset: UInt64(offset))
        self.handle = handle
    }

    func write(_ data: Data) throws {
        try handle?.write(contentsOf: data)
        offset += data.count
        received(offset)
    }

    func close() throws {
        try handle?.synchronize()
        try handle?.close()
        handle = nil
    }
}
