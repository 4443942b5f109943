import Foundation
import SLMModel
import SLMTestSupport
import SLMTraining
import XCTest

/// Sequence-level distillation from an API teacher (`distillation.teacher.api.mode: generate`):
/// the teacher writes each training record's reply, the cache holds prompt + reply in the student's
/// tokens with the teacher's top-k where its tokens map, and `auto` picks this mode when the server
/// ignores echo.
final class TeacherWrittenReplyTests: XCTestCase {
    private var paths: [String] = []

    override func tearDown() {
        for path in paths {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".lock")
        }
    }

    private func temporary(_ name: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("slm-written-\(UUID().uuidString)-\(name)").path
        paths.append(path)
        return path
    }

    private func section(port: Int, mode: Recipe.APITeacherMode, maxTokens: Int = 256, concurrency: Int = 2) -> Recipe.APITeacherSection {
        var api = Recipe.APITeacherSection(baseURL: "http://127.0.0.1:\(port)/v1", model: "teacher")
        api.mode = mode
        api.maxTokens = maxTokens
        api.concurrency = concurrency
        api.maxRetries = 0
        return api
    }

    private func chatPrompts(_ questions: [String], tokenizer: BPETokenizer, template: ChatTemplate = ChatTemplate(.chatml)) throws -> [TeacherPrompt] {
        let formatter = SampleFormatter(tokenizer: tokenizer, template: template, lossOn: .completion)
        return try questions.map { try formatter.teacherPrompt(.promptCompletion(prompt: $0, completion: "the dataset's own answer")) }
    }

    /// (a) `slm serve` on the demo model writes the replies: the cached reply is the greedy reply the
    /// demo model writes for that prompt, and at every mapped position the teacher's top-1 is the
    /// token that follows.
    func testServedTeacherWritesTheGreedyReply() throws {
        let demo = try Fixture.demoModelPath()
        let server = try ServeProcess(model: demo)
        defer { server.stop() }
        let file = try GGUFFile(path: demo)
        let tokenizer = try BPETokenizer.load(gguf: file)
        var api = section(port: server.port, mode: .generate, maxTokens: 12)
        api.model = "SmolLM2-135M-Instruct.Q4_1"
        let prompts = try chatPrompts(["What is the GPL? Answer in one sentence.", "Name a colour."], tokenizer: tokenizer, template: ChatTemplate(gguf: file) ?? ChatTemplate(.chatml))
        let cache = temporary("served.h5")
        let teacher = try APITeacher(api, mode: .generate, k: 5, studentTokenizer: tokenizer) { _ in }
        let outcome = try TeacherCacheFiller.fillReplies(cache: cache, prompts: prompts, teacher: teacher, tokenizerFingerprint: tokenizer.fingerprint)
        XCTAssertEqual(outcome.scored, 2)
        let filled = try TeacherCache(path: cache)
        XCTAssertEqual(filled.version, 2)
        XCTAssertEqual(filled.attributes.source, "api-generate")
        XCTAssertEqual(filled.attributes.teacher, "api:SmolLM2-135M-Instruct.Q4_1@http://127.0.0.1:\(server.port)/v1 generate(max_tokens 12, temperature 0.0)")
        XCTAssertTrue(teacher.summary?.contains("100.0% of") ?? false, teacher.summary ?? "")

        let (model, _) = try ModelLoader.load(path: demo, keepQuantized: true)
        let generator = try Generator(model: model, tokenizer: tokenizer)
        for prompt in prompts {
            let index = try XCTUnwrap(filled.entryIndex(of: TeacherCacheFile.key(of: prompt.studentPromptIDs)))
            let scores = try filled.scores(at: index)
            let p = prompt.studentPromptIDs.count
            XCTAssertEqual(filled.entries[index].promptLength, p)
            XCTAssertEqual(Array(scores.tokenIDs[..<p]), prompt.studentPromptIDs)

            try generator.start(prompt: prompt.studentPromptIDs, parameters: GenerationParameters(maxTokens: 12))
            var greedy: [Int32] = []
            while let token = try generator.next() { greedy.append(token.id) }
            let stopped = generator.finishReason == .stopToken
            if stopped { greedy.removeLast() }
            var reply = Array(scores.tokenIDs[p...])
            if stopped {
                XCTAssertEqual(reply.last, prompt.endOfReply.last, "a reply the teacher ended itself ends with <|im_end|>")
                reply.removeLast(prompt.endOfReply.count)
            }
            XCTAssertEqual(reply, greedy, "the teacher's reply is slm generate's greedy reply")
            for row in 0..<(p - 1) { XCTAssertFalse(scores.hasDistribution(row: row), "prompt row \(row) has no teacher distribution") }
            for row in (p - 1)..<(p - 1 + reply.count) {
                XCTAssertTrue(scores.hasDistribution(row: row), "row \(row): same tokenizer, every reply token maps")
                XCTAssertEqual(scores.topTokenIDs[row * 5], scores.tokenIDs[row + 1], "top-1 at row \(row) is the greedy token")
            }
        }
    }

    /// (b) A server that ignores echo (llama.cpp's, replayed): `auto` probes it, finds the prompt came
    /// back unscored and picks generate; mode echo refuses it and names the way out.
    func testAutoPicksGenerateWhenTheServerIgnoresEcho() async throws {
        let server = ReplyingServer(tokenizer: StudentTokenizer.shared)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        let api = section(port: port, mode: .auto)
        let probe = try await offThePool { try APITeacher.probeEcho(api, studentTokenizer: StudentTokenizer.shared) { _ in } }
        XCTAssertFalse(probe.echoes)
        XCTAssertTrue(probe.reason.contains("ignored echo"), probe.reason)

        var teacher = Recipe.TeacherSection(model: "")
        teacher.api = section(port: port, mode: .auto)
        let d = Recipe.DistillationSection(teacher: teacher, cache: temporary("auto.h5"))
        let resolved = try await offThePool {
            try DistillationSetup.resolveMode(d, studentTokenizer: StudentTokenizer.shared, progress: ProgressReporter(logEvery: 1, isTerminal: false))
        }
        XCTAssertEqual(resolved.teacher.api?.mode, .generate)

        let echo = try APITeacher(section(port: port, mode: .echo), mode: .echo, k: 5, studentTokenizer: StudentTokenizer.shared) { _ in }
        let ids = StudentTokenizer.shared.encode("Some text to score.")
        let refusal = try await offThePool { () -> String in
            do {
                _ = try echo.scores(for: [TokenizedSample(ids: ids, lossMask: ids.map { _ in true })])
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(refusal.contains("mode to generate (or auto)"), refusal)
    }

    /// (c) A teacher whose tokens are not all student tokens: the mapped share is below 1, the rows
    /// whose next token starts inside a teacher token carry no distribution (k slots of -1), the others
    /// the teacher's candidates that are student tokens.
    func testUnmappedTeacherTokensLeaveRowsWithoutDistribution() async throws {
        let tokenizer = StudentTokenizer.shared
        let server = ReplyingServer(tokenizer: tokenizer, mergedTokens: true)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        let prompts = try chatPrompts(["Is the sky blue on a clear day?", "Does water boil at one hundred degrees?"], tokenizer: tokenizer)
        let teacher = try APITeacher(section(port: port, mode: .generate), mode: .generate, k: 4, studentTokenizer: tokenizer) { _ in }
        let cache = temporary("merged.h5")
        _ = try await offThePool { try TeacherCacheFiller.fillReplies(cache: cache, prompts: prompts, teacher: teacher, tokenizerFingerprint: tokenizer.fingerprint) }
        let summary = try XCTUnwrap(teacher.summary)
        let share = try XCTUnwrap(Double(try XCTUnwrap(summary.firstMatch(of: /([0-9.]+)% of/)).1))
        XCTAssertLessThan(share, 100, summary)
        XCTAssertGreaterThan(share, 30, summary)

        let filled = try TeacherCache(path: cache)
        var unmapped = 0
        for prompt in prompts {
            let scores = try filled.scores(at: try XCTUnwrap(filled.entryIndex(of: TeacherCacheFile.key(of: prompt.studentPromptIDs))))
            let p = prompt.studentPromptIDs.count
            let reply = ReplyingServer.reply(to: prompt.messages[0].content)
            XCTAssertEqual(Array(scores.tokenIDs[p...]), tokenizer.encode(reply, parseSpecial: false) + prompt.endOfReply)
            // Where each teacher token starts, in student tokens after the prompt.
            var starts = Set<Int>(), offset = 0, byteOffsets: [Int: Int] = [:], o = 0
            for (i, id) in scores.tokenIDs[p...].enumerated() {
                byteOffsets[o] = i
                o += tokenizer.bytes(of: id).count
            }
            for token in server.teacherTokens(reply) {
                if let i = byteOffsets[offset] { starts.insert(i) }
                offset += token.count
            }
            for i in 0..<(scores.tokenIDs.count - p) {
                let row = p - 1 + i
                if starts.contains(i) {
                    XCTAssertTrue(scores.hasDistribution(row: row), "row \(row): a teacher token starts at reply token \(i)")
                } else {
                    unmapped += 1
                    XCTAssertEqual(Array(scores.topTokenIDs[(row * 4)..<(row * 4 + 4)]), [-1, -1, -1, -1], "row \(row)")
                    XCTAssertTrue(scores.topLogProbs[(row * 4)..<(row * 4 + 4)].allSatisfy { $0 == -.infinity })
                }
            }
        }
        XCTAssertGreaterThan(unmapped, 2)
    }

    /// (d) A fill stopped half-way (the server refuses one prompt) keeps what it committed; the
    /// re-run asks only for the replies that are missing and the cache holds each prompt once.
    func testInterruptedFillResumesWithoutDuplicates() async throws {
        let tokenizer = StudentTokenizer.shared
        let server = ReplyingServer(tokenizer: tokenizer)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        server.failing.withLock { $0 = true }
        let questions = ["One?", "Two?", "Three?", "Four?", "FAIL five?", "Six?"]
        let prompts = try chatPrompts(questions, tokenizer: tokenizer)
        // concurrency 1: four prompts a batch, each committed as it comes (commitRows 1).
        let teacher = try APITeacher(section(port: port, mode: .generate, concurrency: 1), mode: .generate, k: 2, studentTokenizer: tokenizer) { _ in }
        let cache = temporary("resume.h5")
        let stopped = try await offThePool { () -> Bool in
            (try? TeacherCacheFiller.fillReplies(cache: cache, prompts: prompts, teacher: teacher, tokenizerFingerprint: tokenizer.fingerprint, commitRows: 1)) == nil
        }
        XCTAssertTrue(stopped, "the refused prompt stops the fill")
        XCTAssertEqual(try TeacherCache(path: cache).entries.count, 4)
        let asked = server.chatRequestCount

        server.failing.withLock { $0 = false }
        let again = try await offThePool {
            try TeacherCacheFiller.fillReplies(cache: cache, prompts: prompts + prompts, teacher: teacher, tokenizerFingerprint: tokenizer.fingerprint, commitRows: 1)
        }
        XCTAssertEqual(again.samples, 6)
        XCTAssertEqual(again.alreadyCached, 4)
        XCTAssertEqual(again.scored, 2)
        XCTAssertEqual(server.chatRequestCount - asked, 2)
        let filled = try TeacherCache(path: cache)
        XCTAssertEqual(filled.entries.count, 6)
        XCTAssertEqual(Set(filled.entries.map(\.key)).count, 6)
        XCTAssertEqual(Set(prompts.map { TeacherCacheFile.key(of: $0.studentPromptIDs) }), Set(filled.entries.map(\.key)))

        let third = try await offThePool { try TeacherCacheFiller.fillReplies(cache: cache, prompts: prompts, teacher: teacher, tokenizerFingerprint: tokenizer.fingerprint) }
        XCTAssertEqual(third.scored, 0)
        XCTAssertEqual(server.chatRequestCount - asked, 2)
    }
}
