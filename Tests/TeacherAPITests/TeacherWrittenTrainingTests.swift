import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// `slm train` with `distillation.teacher.api.mode: generate`: the teacher writes the replies, the
/// student trains on them a few steps, and the share of positions with a teacher distribution is
/// reported on standard error and in metrics.jsonl (`teacher_share`).
final class TeacherWrittenTrainingTests: XCTestCase {
    private var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "slm-written-train-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let records = ["What is two and two?", "Name a fruit.", "Which way is north?", "Say hello."].map {
            #"{"prompt": "\#($0)", "completion": "The dataset's answer."}"#
        }
        try records.joined(separator: "\n").write(toFile: folder + "/train.jsonl", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    private func writeRecipe(model: String, chatTemplate: String, port: Int, modelName: String) throws -> String {
        let recipe = """
            model:
              path: \(model)
              chat_template: \(chatTemplate)
            data:
              train: \(folder)/train.jsonl
              sequence_length: 64
            lora:
              r: 4
            train:
              steps: 2
              batch_size: 2
            output:
              dir: \(folder)/run
              log_every: 1
            eval:
              at_start: false
            distillation:
              teacher:
                api:
                  base_url: http://127.0.0.1:\(port)/v1
                  model: \(modelName)
                  mode: generate
                  max_tokens: 8
              cache: \(folder)/teacher.h5
              k: 5
            """
        try recipe.write(toFile: folder + "/recipe.yaml", atomically: true, encoding: .utf8)
        return folder + "/recipe.yaml"
    }

    /// Runs the built slm with `arguments`; its exit status and standard error.
    private static func runSLM(_ arguments: [String]) throws -> (status: Int32, errorText: String) {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("slm")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else { throw XCTSkip("no slm executable beside the tests") }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("slm-train-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
    }

    private func teacherShares() throws -> [Double] {
        let lines = try String(contentsOfFile: folder + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["type"] as? String == "train" }
        return try records.map { try XCTUnwrap($0["teacher_share"] as? Double) }
    }

    /// The demo model served by `slm serve` teaches itself: every reply token maps.
    func testTrainOnRepliesWrittenBySLMServe() throws {
        let demo = try Fixture.demoModelPath()
        let server = try ServeProcess(model: demo)
        defer { server.stop() }
        let recipe = try writeRecipe(model: demo, chatTemplate: "auto", port: server.port, modelName: "SmolLM2-135M-Instruct.Q4_1")
        let run = try Self.runSLM(["train", recipe])
        XCTAssertEqual(run.status, 0, run.errorText)
        XCTAssertTrue(run.errorText.contains("teacher: wrote 4 replies"), run.errorText)
        XCTAssertNotNil(run.errorText.firstMatch(of: /100\.0% of \d+ positions mapped onto the student's vocabulary/), run.errorText)
        XCTAssertTrue(run.errorText.contains("train on the teacher's replies: 4 samples"), run.errorText)
        let shares = try teacherShares()
        XCTAssertEqual(shares.count, 2)
        for share in shares { XCTAssertGreaterThan(share, 0.8) }

        let again = try Self.runSLM(["teacher", recipe])
        XCTAssertEqual(again.status, 0, again.errorText)
        XCTAssertTrue(again.errorText.contains("replies to 4 of the 4 prompts there"), again.errorText)
        XCTAssertFalse(again.errorText.contains("asking the teacher"), again.errorText)
    }

    /// (c) A teacher whose tokens are not all student tokens: the tiny student still trains, on the
    /// teacher's text everywhere and its top-k where the tokens mapped; the share below 1 is reported.
    func testTrainWhenSomeTeacherTokensDoNotMap() async throws {
        let model = Fixture.path("hf_llama")
        let tokenizer = try BPETokenizer.load(tokenizerJSON: model + "/tokenizer.json")
        let server = ReplyingServer(tokenizer: tokenizer, mergedTokens: true)
        let (port, task) = try await server.start()
        defer { task.cancel() }
        let recipe = try writeRecipe(model: model, chatTemplate: "none", port: port, modelName: "teacher")
        let run = try await offThePool { try Self.runSLM(["train", recipe]) }
        XCTAssertEqual(run.status, 0, run.errorText)
        let line = try XCTUnwrap(run.errorText.split(separator: "\n").first { $0.contains("distillation targets:") }, run.errorText)
        XCTAssertFalse(line.contains("(100.0%)"), String(line))
        let shares = try teacherShares()
        XCTAssertEqual(shares.count, 2)
        for share in shares { XCTAssertTrue(share > 0.2 && share < 1, "\(share)") }
    }
}
