import Foundation
import SLMModel
import SLMTraining
import Synchronization
import XCTest

/// The teacher client against a deliberately faulty server on 127.0.0.1: every sample ends
/// complete and correct, nothing duplicated or lost, and the retries are the ones the faults imply.
final class TeacherClientFaultTests: XCTestCase {
    static let keyVariable = "SLM_TEST_TEACHER_KEY"
    static let key = "sk-test-DO-NOT-PRINT-7f3a9c1e5b"

    override func setUp() {
        setenv(Self.keyVariable, Self.key, 1)
    }

    func testEveryFaultIsRetriedAndEverySampleIsScoredOnce() async throws {
        let tokenizer = StudentTokenizer.shared
        let texts = (0..<6).map { ("Sample \($0): the quick brown fox", " jumps over the lazy dog é ✓ \($0 * 7).") }
        let plans: [String: [FaultyServer.Fault]] = [
            texts[1].0 + texts[1].1: [.tooManyRequests(retryAfter: "1")],
            texts[2].0 + texts[2].1: [.serverError, .serverError],
            texts[3].0 + texts[3].1: [.malformedJSON],
            texts[4].0 + texts[4].1: [.droppedConnection],
            texts[5].0 + texts[5].1: [.slow(seconds: 6)],
        ]
        let server = FaultyServer(plans: plans, tokenizer: tokenizer, expectedAuthorization: "Bearer " + Self.key)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        let logged = Mutex<[String]>([])
        let client = try TeacherAPIClient(
            settings: settings(port: port), tokenizer: tokenizer, log: { line in logged.withLock { $0.append(line) } })

        let begin = Date()
        let samples = texts.map { TeacherAPISample.text(prompt: $0.0, completion: $0.1, studentTokenIDs: tokenizer.encode($0.0 + $0.1)) }
        let results = await client.scoreAll(samples)

        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(begin), 1.0, "Retry-After: 1 was not honoured")
        let vocabulary = StudentVocabularyMap(tokenizer)
        for (i, result) in results.enumerated() {
            let scored = try result.get()
            let ids = tokenizer.encode(texts[i].0 + texts[i].1)
            XCTAssertEqual(scored.scores.tokenIDs, ids)
            XCTAssertEqual(scored.positions, ids.count - 1)
            XCTAssertEqual(scored.mappedPositions, ids.count - 1, "sample \(i)")
            XCTAssertEqual(scored.serverBehaviour, [])
            XCTAssertEqual(scored.layout, .legacy)
            for t in 0..<(ids.count - 1) {
                let expectedAlternative = vocabulary.id(tokenizer.bytes(of: server.alternative(ids[t + 1])))!
                XCTAssertEqual(Array(scored.scores.topTokenIDs[(2 * t)..<(2 * t + 2)]), [ids[t + 1], expectedAlternative], "sample \(i) row \(t)")
                XCTAssertEqual(Array(scored.scores.topLogProbs[(2 * t)..<(2 * t + 2)]), [-0.5, -1.5])
            }
            let last = 2 * (ids.count - 1)
            XCTAssertEqual(Array(scored.scores.topTokenIDs[last...]), [-1, -1], "the last row has no next token")
        }
        let s = client.statistics
        XCTAssertEqual(s.retries, ["429": 1, "5xx": 2, "malformed": 1, "connection": 1, "timeout": 1])
        XCTAssertEqual(s.requests, 6 + 6)
        XCTAssertEqual(s.samplesScored, 6)
        XCTAssertEqual(s.samplesFailed, 0)
        XCTAssertEqual(server.attemptCounts.values.reduce(0, +), 12)
        XCTAssertEqual(s.promptTokens, texts.map { tokenizer.encode($0.0 + $0.1).count }.reduce(0, +))
        for line in logged.withLock({ $0 }) { XCTAssertFalse(line.contains(Self.key)) }
        XCTAssertEqual(logged.withLock { $0.count }, 6)
    }

    func testGivesUpAfterTheLastRetryAndNeverShowsTheKey() async throws {
        let tokenizer = StudentTokenizer.shared
        let failing = "Always failing"
        let careless = "Careless server"
        let server = FaultyServer(
            plans: [failing: [.serverError, .serverError, .serverError], careless: [.unauthorizedEchoingKey]],
            tokenizer: tokenizer, expectedAuthorization: "Bearer " + Self.key)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        var settings = settings(port: port)
        settings.maxRetries = 2
        let client = try TeacherAPIClient(settings: settings, tokenizer: tokenizer)
        let results = await client.scoreAll([failing, careless].map { .text(prompt: $0, completion: "", studentTokenIDs: tokenizer.encode($0)) })

        guard case .failure(let gaveUp) = results[0], case .failure(let refused) = results[1] else { return XCTFail("both should fail") }
        XCTAssertTrue(gaveUp.description.contains("gave up after 2 retries"), gaveUp.description)
        XCTAssertEqual(refused.status, 401)
        XCTAssertTrue(refused.description.contains("bad key: Bearer [key]"), refused.description)
        for error in [gaveUp, refused] { XCTAssertFalse(error.description.contains(Self.key)) }
        XCTAssertEqual(client.statistics.retries, ["5xx": 2])
        XCTAssertEqual(server.attemptCounts, [failing: 3, careless: 1])
        XCTAssertEqual(client.statistics.samplesFailed, 2)
    }

    func testAMissingKeyVariableIsNamedNotGuessed() async throws {
        let tokenizer = StudentTokenizer.shared
        var settings = settings(port: 9)
        settings.apiKeyEnvironmentVariable = "SLM_TEST_NO_SUCH_VARIABLE"
        let client = try TeacherAPIClient(settings: settings, tokenizer: tokenizer)
        do {
            _ = try await client.score(.text(prompt: "x", completion: "", studentTokenIDs: tokenizer.encode("x")))
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue("\(error)".contains("SLM_TEST_NO_SUCH_VARIABLE"), "\(error)")
        }
    }

    /// llama.cpp's recorded answer to echo + max_tokens 0: the prompt unscored, one token generated.
    func testLlamaCppIgnoringEchoIsReported() async throws {
        let tokenizer = StudentTokenizer.shared
        let recorded = try LlamaCppRecording.load("v1_completions_logprobs5_echo_maxtokens0").data
        let server = FaultyServer(plans: [:], tokenizer: tokenizer, expectedAuthorization: "Bearer " + Self.key, recorded: recorded)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        let client = try TeacherAPIClient(settings: settings(port: port), tokenizer: tokenizer)
        let text = "The GNU General Public License is"
        let result = try await client.score(.text(prompt: text, completion: "", studentTokenIDs: tokenizer.encode(text)))
        XCTAssertEqual(result.layout, .chat)
        XCTAssertEqual(result.serverBehaviour, [.echoIgnored, .generatedDespiteMaxTokensZero(1)])
        XCTAssertEqual(result.mappedPositions, 0)
        XCTAssertEqual(result.positions, tokenizer.encode(text).count - 1)
        XCTAssertTrue(result.scores.topTokenIDs.allSatisfy { $0 == -1 })
    }

    /// A server that refuses `cache_prompt` is asked again without it, once, and never again.
    func testARefusedCachePromptFieldIsDropped() async throws {
        let tokenizer = StudentTokenizer.shared
        let server = FaultyServer(plans: [:], tokenizer: tokenizer, expectedAuthorization: "Bearer " + Self.key, refusesCachePrompt: true)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        var settings = settings(port: port)
        settings.disablePromptCache = true
        let client = try TeacherAPIClient(settings: settings, tokenizer: tokenizer)
        let first = try await client.score(.text(prompt: "One", completion: " two", studentTokenIDs: tokenizer.encode("One two")))
        let second = try await client.score(.text(prompt: "Three", completion: " four", studentTokenIDs: tokenizer.encode("Three four")))
        XCTAssertEqual(first.serverBehaviour, [.promptCacheFieldRefused])
        XCTAssertEqual(second.serverBehaviour, [])
        XCTAssertEqual(first.mappedPositions, 1)
        XCTAssertEqual(client.statistics.requests, 3)
        XCTAssertEqual(client.statistics.totalRetries, 0)
    }

    private func settings(port: Int) -> TeacherAPISettings {
        TeacherAPISettings(
            baseURL: "http://127.0.0.1:\(port)/v1", model: "teacher", apiKeyEnvironmentVariable: Self.keyVariable, topLogprobs: 2,
            maxConcurrentRequests: 3, requestTimeout: 2, maxRetries: 4, initialBackoff: 0.05, maxBackoff: 0.2, disablePromptCache: false)
    }
}
