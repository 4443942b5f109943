import Foundation
import Hummingbird
import LoopbackServer
import SLMModel
import Synchronization

/// A deliberately faulty OpenAI-compatible server on 127.0.0.1 for the teacher client's tests.
/// `/v1/completions` answers each prompt's first attempts with that prompt's planned faults, then
/// with a good legacy-layout echo response: the prompt in the student's own tokens, each position
/// with two candidates, the true token at -0.5 and the next vocabulary entry at -1.5.
final class FaultyServer: Sendable {
    enum Fault: Sendable {
        case tooManyRequests(retryAfter: String)
        case serverError
        case malformedJSON
        case droppedConnection
        case slow(seconds: Double)
        /// 401 whose body quotes the Authorization header it got (a careless server).
        case unauthorizedEchoingKey
    }

    let plans: [String: [Fault]]
    let tokenizer: BPETokenizer
    let expectedAuthorization: String?
    /// Answer every good request with this body (a recorded response) instead of the echo response.
    let recorded: Data?
    /// Refuse a request holding `cache_prompt` with a 400, as OpenAI's API does with unknown fields.
    let refusesCachePrompt: Bool
    private let attempts = Mutex<[String: Int]>([:])

    init(plans: [String: [Fault]], tokenizer: BPETokenizer, expectedAuthorization: String?, recorded: Data? = nil, refusesCachePrompt: Bool = false) {
        self.plans = plans
        self.recorded = recorded
        self.refusesCachePrompt = refusesCachePrompt
        self.tokenizer = tokenizer
        self.expectedAuthorization = expectedAuthorization
    }

    /// Attempts seen per prompt.
    var attemptCounts: [String: Int] { attempts.withLock { $0 } }

    /// Serves until the returned task is cancelled; returns the port.
    func start() async throws -> (port: Int, task: Task<Void, any Error>) {
        let router = Router()
        router.post("/v1/completions") { request, context in try await self.respond(request, context) }
        return try await serveOnLoopback(router, label: "faulty")
    }

    private func respond(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as! [String: Any]
        let prompt = json["prompt"] as! String
        let attempt = attempts.withLock { counts -> Int in
            counts[prompt, default: 0] += 1
            return counts[prompt]!
        }
        let authorization = request.headers[.authorization]
        if let fault = plans[prompt].flatMap({ attempt <= $0.count ? $0[attempt - 1] : nil }) {
            switch fault {
            case .tooManyRequests(let retryAfter):
                var headers = HTTPFields()
                headers[.retryAfter] = retryAfter
                return Response(status: .tooManyRequests, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "{\"error\":{\"message\":\"slow down\"}}")))
            case .serverError:
                return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "oops")))
            case .malformedJSON:
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "{\"choices\": [{\"text\": \"unfinished")))
            case .droppedConnection:
                struct Dropped: Error {}
                return Response(status: .ok, body: ResponseBody(contentLength: 10_000) { writer in
                    try await writer.write(ByteBuffer(string: "{\"choices\": ["))
                    throw Dropped()
                })
            case .slow(let seconds):
                try await Task.sleep(for: .seconds(seconds))
            case .unauthorizedEchoingKey:
                return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "bad key: \(authorization ?? "none")")))
            }
        }
        if refusesCachePrompt, json["cache_prompt"] != nil {
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "Unrecognized request argument supplied: cache_prompt")))
        }
        guard authorization == expectedAuthorization else {
            return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "missing or wrong key")))
        }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: try recorded ?? goodResponse(prompt))))
    }

    /// The alternative candidate offered at every position.
    func alternative(_ id: Int32) -> Int32 { (id + 1) % Int32(tokenizer.vocabularySize) }

    private func goodResponse(_ prompt: String) throws -> Data {
        let ids = tokenizer.encode(prompt)
        func text(_ id: Int32) -> String {
            let bytes = tokenizer.bytes(of: id)
            return String(validating: bytes, as: UTF8.self) ?? "bytes:" + bytes.map { String(format: "\\x%02x", $0) }.joined()
        }
        var tokenLogprobs: [Any] = [NSNull()], top: [Any] = [NSNull()], offsets: [Int] = [], offset = 0
        for (i, id) in ids.enumerated() {
            offsets.append(offset)
            offset += text(id).count
            guard i > 0 else { continue }
            tokenLogprobs.append(-0.5)
            top.append([text(id): -0.5, text(alternative(id)): -1.5])
        }
        let body: [String: Any] = [
            "id": "cmpl-faulty", "object": "text_completion", "model": "teacher",
            "choices": [["text": prompt, "index": 0, "finish_reason": "length",
                         "logprobs": ["tokens": ids.map(text), "token_logprobs": tokenLogprobs, "top_logprobs": top, "text_offset": offsets]]],
            "usage": ["prompt_tokens": ids.count, "completion_tokens": 0, "total_tokens": ids.count],
        ]
        return try JSONSerialization.data(withJSONObject: body)
    }
}
