import Foundation
import Hummingbird
import LoopbackServer
import SLMModel
import SLMTestSupport
import Synchronization

/// An OpenAI-compatible teacher on 127.0.0.1 that behaves like llama.cpp's server where it matters
/// for sequence-level distillation: `/v1/completions` ignores `echo` (it answers with the recorded
/// llama.cpp response, Tests/Fixtures/llamacpp-server, which holds only generated tokens), and
/// `/v1/chat/completions` writes the reply "Yes: {the last user message}" in the chat layout with
/// `bytes`, each position's own token at -0.1 and the next vocabulary entry at -2.5.
///
/// With `mergedTokens`, every third token of the reply is sent glued to the one after it, as a
/// teacher with another tokenizer would cut the text: those tokens are not student tokens.
/// A user message holding "FAIL" is refused with a 400 while `failing` is set.
final class ReplyingServer: Sendable {
    let tokenizer: BPETokenizer
    let mergedTokens: Bool
    let failing = Mutex(false)
    private let chatRequests = Mutex(0)

    init(tokenizer: BPETokenizer, mergedTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.mergedTokens = mergedTokens
    }

    /// `/v1/chat/completions` requests answered so far.
    var chatRequestCount: Int { chatRequests.withLock { $0 } }

    static func reply(to content: String) -> String { "Yes: " + content }

    /// Serves until the returned task is cancelled; returns the port.
    func start() async throws -> (port: Int, task: Task<Void, any Error>) {
        let router = Router()
        let recorded = try Data(contentsOf: URL(fileURLWithPath: Fixture.path("llamacpp-server/v1_completions_logprobs5_echo.raw-response.json")))
        router.post("/v1/completions") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: recorded))) }
        router.post("/v1/chat/completions") { request, _ in try await self.chat(request) }
        return try await serveOnLoopback(router, label: "replying")
    }

    /// The teacher's tokens of `reply`: the student's, some glued in pairs with `mergedTokens`.
    func teacherTokens(_ reply: String) -> [[UInt8]] {
        let ids = tokenizer.encode(reply, parseSpecial: false)
        var tokens: [[UInt8]] = [], i = 0
        while i < ids.count {
            if mergedTokens, i % 3 == 1, i + 1 < ids.count {
                tokens.append(tokenizer.bytes(of: ids[i]) + tokenizer.bytes(of: ids[i + 1]))
                i += 2
            } else {
                tokens.append(tokenizer.bytes(of: ids[i]))
                i += 1
            }
        }
        return tokens
    }

    private func chat(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as! [String: Any]
        let messages = json["messages"] as! [[String: String]]
        let content = messages.last(where: { $0["role"] == "user" })?["content"] ?? ""
        if content.contains("FAIL"), failing.withLock({ $0 }) {
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "{\"error\":{\"message\":\"refused\"}}")))
        }
        chatRequests.withLock { $0 += 1 }
        let reply = Self.reply(to: content)
        func entry(_ bytes: [UInt8], _ logprob: Double) -> [String: Any] {
            ["token": String(decoding: bytes, as: UTF8.self), "logprob": logprob, "bytes": bytes.map(Int.init)]
        }
        let positions = teacherTokens(reply).map { bytes -> [String: Any] in
            let first = tokenizer.encode(String(decoding: bytes, as: UTF8.self), parseSpecial: false).first ?? 0
            let alternative = tokenizer.bytes(of: (first + 1) % Int32(tokenizer.vocabularySize))
            var position = entry(bytes, -0.1)
            position["top_logprobs"] = [entry(bytes, -0.1), entry(alternative, -2.5)]
            return position
        }
        let response: [String: Any] = [
            "id": "chatcmpl-replying", "object": "chat.completion", "model": "teacher",
            "choices": [["index": 0, "finish_reason": "stop", "message": ["role": "assistant", "content": reply], "logprobs": ["content": positions]]],
            "usage": ["prompt_tokens": 10, "completion_tokens": positions.count, "total_tokens": 10 + positions.count],
        ]
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: response))))
    }
}

/// Runs blocking work (a teacher fill, a child process) on a Dispatch thread, so that the Swift
/// concurrency threads stay free for the in-process server that work talks to.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
