import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SLMModel
import SLMTestSupport
import SLMTraining
import XCTest

/// The teacher client against `slm serve` running the demo model, and the server's answers checked
/// against llama.cpp's server on the same GGUF (Tests/Fixtures/llamacpp-server, recorded).
final class ServedTeacherTests: XCTestCase {
    nonisolated(unsafe) static var server: ServeProcess?
    static let key = "sk-served-test-NEVER-SHOWN-42c9"

    override class func tearDown() {
        server?.stop()
        server = nil
    }

    private func served() throws -> ServeProcess {
        if let server = Self.server { return server }
        let server = try ServeProcess(model: try Fixture.demoModelPath())
        Self.server = server
        return server
    }

    private func client(_ port: Int, maxTokens: Int = 8) throws -> TeacherAPIClient {
        setenv("SLM_SERVED_TEST_KEY", Self.key, 1)
        return try TeacherAPIClient(
            settings: TeacherAPISettings(
                baseURL: "http://127.0.0.1:\(port)/v1", model: "SmolLM2-135M-Instruct.Q4_1", apiKeyEnvironmentVariable: "SLM_SERVED_TEST_KEY",
                topLogprobs: 5, maxConcurrentRequests: 2, requestTimeout: 60, maxTokens: maxTokens),
            tokenizer: try demoTokenizer())
    }

    private func demoTokenizer() throws -> BPETokenizer { try BPETokenizer.load(gguf: GGUFFile(path: try Fixture.demoModelPath())) }

    /// The dataset's own text scored with echo: same tokenizer, so every position maps, and the
    /// teacher's log-probabilities of the continuation agree with llama.cpp's.
    func testEchoScoringAgreesWithLlamaCpp() async throws {
        let server = try served()
        let tokenizer = try demoTokenizer()
        let reference = try LlamaCppRecording.load("v1_completions_logprobs5_echo")
        let prompt = "The GNU General Public License is"
        let completion = reference.text
        let ids = tokenizer.encode(prompt + completion)
        let result = try await client(server.port).score(.text(prompt: prompt, completion: completion, studentTokenIDs: ids))

        XCTAssertEqual(result.layout, .legacy)
        XCTAssertEqual(result.serverBehaviour, [])
        XCTAssertEqual(result.mappedPositions, ids.count - 1)
        XCTAssertEqual(result.candidateShare, 1)
        let promptCount = tokenizer.encode(prompt).count
        XCTAssertEqual(ids.count - promptCount, reference.positions.count)
        for (n, position) in reference.positions.enumerated() {
            let row = promptCount - 1 + n
            XCTAssertEqual(result.scores.tokenIDs[row + 1], position.id, "the recorded greedy token at \(n)")
            XCTAssertEqual(result.scores.topTokenIDs[row * 5], position.top[0].id, "top-1 at \(n)")
            // llama.cpp's Q4_1 matmuls round the activations to 8 bits; slm's keep them in Float32
            // (and match transformers): log-probabilities differ by up to ~0.3 nats, the ranking agrees.
            for candidate in position.top {
                guard let slot = (0..<5).first(where: { result.scores.topTokenIDs[row * 5 + $0] == candidate.id }) else { continue }
                XCTAssertEqual(result.scores.topLogProbs[row * 5 + slot], candidate.logprob, accuracy: 0.35, "position \(n) token \(candidate.id)")
            }
        }
        XCTAssertFalse(server.errorText.contains(Self.key))
    }

    /// A teacher-written reply through chat completions: the same greedy reply as llama.cpp's, all mapped.
    func testChatReplyAgreesWithLlamaCpp() async throws {
        let server = try served()
        let file = try GGUFFile(path: try Fixture.demoModelPath())
        let tokenizer = try BPETokenizer.load(gguf: file)
        let reference = try LlamaCppRecording.load("v1_chat_completions_logprobs_top5")
        let messages = [ChatMessage(role: "user", content: "What is the GPL? Answer in one sentence.")]
        let promptIDs = tokenizer.encode((ChatTemplate(gguf: file) ?? ChatTemplate(.chatml)).render(messages))
        let result = try await client(server.port).score(.chat(messages: messages, studentPromptTokenIDs: promptIDs))

        XCTAssertEqual(result.reply, reference.text)
        XCTAssertEqual(result.layout, .chat)
        XCTAssertEqual(result.serverBehaviour, [])
        XCTAssertEqual(result.positions, reference.positions.count)
        XCTAssertEqual(result.mappedPositions, reference.positions.count)
        for (n, position) in reference.positions.enumerated() {
            let row = promptIDs.count - 1 + n
            XCTAssertEqual(result.scores.tokenIDs[row + 1], position.id)
            XCTAssertEqual(result.scores.topLogProbs[row * 5], position.top[0].logprob, accuracy: 0.1, "position \(n)")
        }
    }

    /// `distillation.teacher.api` end to end: the cache that `slm teacher` fills through the API
    /// holds the top-k the local teacher computes from the same model (same tokenizer, so every
    /// position maps); a second fill finds everything cached.
    func testAPITeacherFillsTheCacheLikeTheLocalTeacher() throws {
        let server = try served()
        let tokenizer = try demoTokenizer()
        let samples = ["The GNU General Public License is a free software license.", "Route this ticket: my invoice is wrong."].map {
            let ids = tokenizer.encode($0)
            return TokenizedSample(ids: ids, lossMask: [Bool](repeating: true, count: ids.count))
        }
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("slm-api-teacher-\(UUID().uuidString).h5").path
        defer {
            try? FileManager.default.removeItem(atPath: cache)
            try? FileManager.default.removeItem(atPath: cache + ".lock")
        }
        setenv("SLM_SERVED_TEST_KEY", Self.key, 1)
        var api = Recipe.APITeacherSection(baseURL: "http://127.0.0.1:\(server.port)/v1", model: "SmolLM2-135M-Instruct.Q4_1")
        api.apiKeyEnv = "SLM_SERVED_TEST_KEY"
        var teacher = Recipe.TeacherSection(model: "")
        teacher.api = api
        var section = Recipe.DistillationSection(teacher: teacher, cache: cache)
        section.k = 5
        let progress = ProgressReporter(logEvery: 1, isTerminal: false)
        let filled = try DistillationSetup.fillCache(section, samples: samples, studentTokenizer: tokenizer, progress: progress)
        XCTAssertEqual(filled.attributes.source, "api-echo")
        XCTAssertEqual(filled.attributes.teacher, "api:SmolLM2-135M-Instruct.Q4_1@http://127.0.0.1:\(server.port)/v1")
        XCTAssertEqual(filled.entries.count, 2)

        var localSection = Recipe.TeacherSection(model: try Fixture.demoModelPath())
        localSection.keepQuantized = true
        let local = try LocalTeacher(localSection, k: 5, temperature: 1)
        for sample in samples {
            let cached = try filled.scores(at: try XCTUnwrap(filled.entryIndex(of: TeacherCacheFile.key(of: sample.ids))))
            let reference = try local.scores(for: sample)
            XCTAssertEqual(cached.tokenIDs, sample.ids)
            for row in 0..<(sample.ids.count - 1) {
                XCTAssertEqual(cached.topTokenIDs[row * 5], reference.topTokenIDs[row * 5], "top-1 at row \(row)")
                XCTAssertEqual(cached.topLogProbs[row * 5], reference.topLogProbs[row * 5], accuracy: 0.02, "row \(row)")
            }
        }
        XCTAssertEqual(try DistillationSetup.fillCache(section, samples: samples, studentTokenizer: tokenizer, progress: progress).entries.count, 2)
        XCTAssertFalse(server.errorText.contains(Self.key))
    }

    /// Errors in OpenAI's shape with the right statuses, and a stream that ends with [DONE].
    func testErrorsAndStreaming() async throws {
        let server = try served()
        func post(_ path: String, _ body: String) async throws -> (Int, String) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)\(path)")!)
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
        }
        let badTop = try await post("/v1/chat/completions", #"{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}"#)
        XCTAssertEqual(badTop.0, 400)
        XCTAssertTrue(badTop.1.contains(#""param":"top_logprobs""#), badTop.1)
        let missing = try await post("/v1/completions", #"{"max_tokens":1}"#)
        XCTAssertEqual(missing.0, 400)
        XCTAssertTrue(missing.1.contains(#""param":"prompt""#), missing.1)
        let unknown = try await post("/v1/embeddings", "{}")
        XCTAssertEqual(unknown.0, 404)
        XCTAssertTrue(unknown.1.contains(#""error""#))
        let otherModel = try await post("/v1/completions", #"{"model":"gpt-9","prompt":"x"}"#)
        XCTAssertEqual(otherModel.0, 404)
        let long = try await post("/v1/completions", #"{"prompt":""# + String(repeating: "word ", count: 5000) + #"","max_tokens":1}"#)
        XCTAssertEqual(long.0, 413)
        let stream = try await post("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0,"stream":true}"#)
        XCTAssertEqual(stream.0, 200)
        let events = stream.1.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(events.last, "data: [DONE]")
        XCTAssertTrue(events.allSatisfy { $0.hasPrefix("data: ") })
        XCTAssertTrue(events.dropLast().last!.contains(#""finish_reason":"length""#))
    }
}

/// `slm serve MODEL --port 0` as a child process; its port read from its first stdout line.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let errorFile: URL

    init(model: String) throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let executable = directory.appendingPathComponent("slm")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw XCTSkip("no slm executable beside \(CommandLine.arguments[0]); build the package first")
        }
        errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("slm-serve-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else { throw XCTSkip("cannot write \(errorFile.path)") }
        process.executableURL = executable
        process.arguments = ["serve", model, "--port", "0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let match = text.firstRange(of: /:(\d+)\/v1/), let port = Int(text[match].dropFirst().dropLast(3)) else {
            process.terminate()
            throw XCTSkip("slm serve did not start: \(text)")
        }
        self.port = port
    }

    var errorText: String { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: errorFile)
    }
}
