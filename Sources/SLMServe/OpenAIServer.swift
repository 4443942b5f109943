import Foundation
import Hummingbird
import Logging
import SLMModel
import Synchronization

/// An OpenAI-compatible HTTP server for one model: `GET /v1/models`, `POST /v1/completions`,
/// `POST /v1/chat/completions` (streamed as server-sent events with `"stream": true`).
/// Requests are answered one at a time (the model is not thread-safe); the others wait their turn.
public struct OpenAIServer: Sendable {
    public let model: ServedModel
    public let host: String
    public let port: Int
    private let worker: ModelWorker
    private let started = Int(Date().timeIntervalSince1970)

    public init(model: ServedModel, host: String = "127.0.0.1", port: Int = 8080) {
        self.model = model
        self.host = host
        self.port = port
        worker = ModelWorker(generator: model.generator)
    }

    /// Serves until SIGINT or SIGTERM. `onListening` gets the bound port (useful with port 0: a free one).
    /// `log` gets one line per request.
    public func run(onListening: @escaping @Sendable (Int) -> Void, log: @escaping @Sendable (String) -> Void) async throws {
        let router = Router()
        router.middlewares.add(OpenAIErrorMiddleware())
        router.get("/v1/models") { _, _ in try json(ModelList(data: [.init(id: model.id, created: started)])) }
        router.post("/v1/completions") { request, context in
            let body: CompletionRequest = try await decode(request, context)
            let handler = Completions(model: model)
            let job = try handler.job(body)
            let id = "cmpl-" + Self.requestID(), created = Int(Date().timeIntervalSince1970)
            if body.stream == true { return streamCompletion(body, job: job, handler: handler, id: id, created: created, log: log) }
            let begin = Date()
            let result = try await worker.run(job)
            log(Self.summary("/v1/completions", job, result, since: begin))
            return try json(handler.response(body, job: job, result: result, id: id, created: created))
        }
        router.post("/v1/chat/completions") { request, context in
            let body: ChatCompletionRequest = try await decode(request, context)
            let handler = ChatCompletions(model: model)
            let job = try handler.job(body)
            let id = "chatcmpl-" + Self.requestID(), created = Int(Date().timeIntervalSince1970)
            if body.stream == true { return streamChat(job: job, handler: handler, id: id, created: created, log: log) }
            let begin = Date()
            let result = try await worker.run(job)
            log(Self.summary("/v1/chat/completions", job, result, since: begin))
            return try json(handler.response(job: job, result: result, id: id, created: created))
        }
        var logger = Logger(label: "slm.serve")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "slm"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) }, logger: logger)
        try await app.runService()
    }

    // MARK: Streaming

    private enum Event: Sendable {
        case prompt([TokenLogProb])
        case token(JobToken)
        case done(JobResult)
        case failed(APIError)
    }

    /// Runs `job` on the worker, handing its tokens to the returned stream; a client that goes away
    /// ends the stream, which stops the generation at its next token.
    private func events(_ job: GenerationJob) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        Task {
            do {
                let result = try await worker.run(job, onPrompt: { continuation.yield(.prompt($0)) }) { token in
                    if case .terminated = continuation.yield(.token(token)) { return false }
                    return true
                }
                continuation.yield(.done(result))
            } catch {
                continuation.yield(.failed(error as? APIError ?? .server("\(error)")))
            }
            continuation.finish()
        }
        return stream
    }

    private func streamCompletion(
        _ body: CompletionRequest, job: GenerationJob, handler: Completions, id: String, created: Int, log: @escaping @Sendable (String) -> Void
    ) -> Response {
        sse { write in
            let begin = Date()
            var layout = LegacyLayout(tokenizer: model.tokenizer, alternatives: job.tokenLogprobs)
            if body.echo == true, job.promptLogprobs == nil {
                // Echo without logprobs: the prompt's text comes first, unscored.
                try await write(handler.chunk(text: body.prompt, logprobs: [], alternatives: nil, layout: &layout, finish: nil, id: id, created: created))
            }
            for await event in events(job) {
                switch event {
                case .token(let t):
                    let lps = t.isStopToken ? [] : t.logprob.map { [$0] } ?? []
                    if t.token.text.isEmpty && lps.isEmpty { continue }
                    try await write(handler.chunk(text: t.token.text, logprobs: lps, alternatives: job.tokenLogprobs, layout: &layout, finish: nil, id: id, created: created))
                case .prompt(let scores):
                    // The prompt and its scores come first; with max_tokens 0 they are all there is.
                    try await write(handler.chunk(text: body.prompt, logprobs: scores, alternatives: job.tokenLogprobs, layout: &layout, finish: nil, id: id, created: created))
                case .done(let result):
                    try await write(handler.chunk(text: "", logprobs: [], alternatives: nil, layout: &layout, finish: JobParameters.finishReason(result.finishReason), id: id, created: created))
                    log(Self.summary("/v1/completions (stream)", job, result, since: begin))
                case .failed(let error):
                    try await write(error)
                }
            }
        }
    }

    private func streamChat(job: GenerationJob, handler: ChatCompletions, id: String, created: Int, log: @escaping @Sendable (String) -> Void) -> Response {
        sse { write in
            let begin = Date()
            try await write(handler.chunk(role: "assistant", text: "", logprobs: [], wantLogprobs: false, finish: nil, id: id, created: created))
            for await event in events(job) {
                switch event {
                case .prompt: break
                case .token(let t):
                    let lps = t.isStopToken ? [] : t.logprob.map { [$0] } ?? []
                    if t.token.text.isEmpty && lps.isEmpty { continue }
                    try await write(handler.chunk(text: t.token.text, logprobs: lps, wantLogprobs: job.tokenLogprobs != nil, finish: nil, id: id, created: created))
                case .done(let result):
                    try await write(handler.chunk(text: nil, logprobs: [], wantLogprobs: false, finish: JobParameters.finishReason(result.finishReason), id: id, created: created))
                    log(Self.summary("/v1/chat/completions (stream)", job, result, since: begin))
                case .failed(let error):
                    try await write(error)
                }
            }
        }
    }

    // MARK: Helpers

    private static func requestID() -> String {
        String((0..<24).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
    }

    private static func summary(_ path: String, _ job: GenerationJob, _ result: JobResult, since begin: Date) -> String {
        let generated = result.tokens.filter { !$0.isStopToken }.count
        return String(
            format: "%@: prompt %d tokens, generated %d (%@) in %.2f s", path, result.promptTokens, generated,
            JobParameters.finishReason(result.finishReason), Date().timeIntervalSince(begin))
    }
}

/// A server-sent-events response: each value written becomes a `data: <json>` event; `data: [DONE]` ends it.
private func sse(_ produce: @escaping @Sendable (_ write: (any Encodable) async throws -> Void) async throws -> Void) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "text/event-stream"
    headers[.cacheControl] = "no-cache"
    return Response(status: .ok, headers: headers, body: ResponseBody { writer in
        let encoder = JSONEncoder()
        try await produce { value in
            var buffer = ByteBuffer(string: "data: ")
            buffer.writeBytes(try encoder.encode(value))
            buffer.writeString("\n\n")
            try await writer.write(buffer)
        }
        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
        try await writer.finish(nil)
    })
}

private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(value))))
}

private func decode<T: Decodable>(_ request: Request, _ context: some RequestContext) async throws -> T {
    var request = request
    let buffer: ByteBuffer
    do {
        buffer = try await request.collectBody(upTo: context.maxUploadSize)
    } catch {
        throw APIError.tooLarge(nil, "the request body is larger than \(context.maxUploadSize) bytes")
    }
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    } catch let error as DecodingError {
        throw error.apiError
    }
}

/// Every error leaves as OpenAI's error JSON: the handlers' `APIError`s, and Hummingbird's own
/// (an unknown path: 404; a wrong method: 405).
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let apiError: APIError
        do {
            return try await next(request, context)
        } catch let e as APIError {
            apiError = e
        } catch let e as HTTPError {
            let status = Int(e.status.code)
            apiError = APIError(
                status: status, message: status == 404 ? "no such endpoint: \(request.method) \(request.uri.path)" : (e.body ?? "\(e.status)"),
                type: "invalid_request_error")
        } catch {
            apiError = .server("\(error)")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: HTTPResponse.Status(code: apiError.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: apiError.json)))
    }
}
