import Foundation
import SLMTestSupport
import XCTest

/// `slm eval` and the report at the end of `slm train`, on the tiny model (Tests/Fixtures/hf_llama).
final class EvalCommandTests: XCTestCase {
    var run: TinyRunFolder!
    var folder: String { run.path }

    override func setUpWithError() throws { run = try TinyRunFolder(prefix: "slm-eval") }
    override func tearDown() { run.remove() }

    /// Label records: 6 prompts answered "yes" or "no".
    func writeLabelSet() throws -> String {
        let path = folder + "/heldout.jsonl"
        let lines = (0..<6).map { n in "{\"prompt\": \"question \(n)? \", \"completion\": \"\(n % 2 == 0 ? "yes" : "no")\"}" }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func testTwoModelsSideBySideAndAModelThatFailsItsColumnOnly() throws {
        let data = try writeLabelSet(), out = folder + "/report"
        let process = try slm(
            ["eval", "tiny=\(Fixture.path("hf_llama"))", "broken=\(folder)/missing.gguf", "--data", data, "--out", out,
             "--chat-template", "none", "--max-new-tokens", "3", "--bootstrap", "50"], captureError: true)
        XCTAssertEqual(process.waitForExit(), 0, process.errorText)
        let report = try json(out + "/report.json")
        XCTAssertEqual(report["format"] as? String, "slm-eval-report")
        XCTAssertEqual((report["dataset"] as? [String: Any])?["task"] as? String, "label")
        let models = try XCTUnwrap(report["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["name"] as? String }, ["tiny", "broken"])
        XCTAssertNil(models[0]["error"])
        XCTAssertNotNil((models[0]["scoring"] as? [String: Any])?["perplexity"])
        XCTAssertNotNil(models[0]["label"])
        XCTAssertNotNil(models[0]["routing"])
        XCTAssertEqual(((models[0]["files"] as? [[String: Any]])?.first?["sha256"] as? String)?.count, 64)
        XCTAssertTrue((models[1]["error"] as? String)?.contains("does not exist") == true)
        let predictions = try String(contentsOfFile: out + "/predictions.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(predictions.count, 12, "one line per model per sample")
        XCTAssertTrue(try String(contentsOfFile: out + "/report.md", encoding: .utf8).contains("| metric | tiny | broken |"))
    }

    func testEmptyHeldoutFileIsAClearError() throws {
        let data = folder + "/empty.jsonl"
        try "".write(toFile: data, atomically: true, encoding: .utf8)
        let process = try slm(["eval", Fixture.path("hf_llama"), "--data", data, "--out", folder + "/r"], captureError: true)
        XCTAssertEqual(process.waitForExit(), 1)
        XCTAssertTrue(process.errorText.contains("empty.jsonl: the file has no records"), process.errorText)
    }

    /// The report renders in headless Chromium (scripts/render-report). Chromium is a test
    /// dependency: scripts/setup installs it, and this test fails rather than skips without it.
    func testReportRendersInHeadlessChromium() throws {
        let data = try writeLabelSet(), out = folder + "/report"
        XCTAssertEqual(
            try slm(["eval", Fixture.path("hf_llama"), "--data", data, "--out", out, "--chat-template", "none", "--max-new-tokens", "2", "--bootstrap", "20"]).waitForExit(), 0)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/render-report").path
        let render = Process()
        render.executableURL = URL(fileURLWithPath: script)
        render.arguments = [out + "/report.html", out + "/report.png", "1000", "1400"]
        let errors = Pipe()
        render.standardError = errors
        render.standardOutput = FileHandle.nullDevice
        try render.run()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        render.waitUntilExit()
        XCTAssertEqual(render.terminationStatus, 0, "rendering failed (scripts/setup installs chromium): \(errorText)")
        let png = try Data(contentsOf: URL(fileURLWithPath: out + "/report.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG signature")
        // IHDR: width and height, big-endian, at bytes 16..<24.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual([width, height], [1000, 1400])
        XCTAssertGreaterThan(png.count, 20_000, "a page with tables and charts, not a blank image")
    }

    func testTrainWritesTheReportIntoTheRunFolder() throws {
        try run.writeTexts(lines: 40, seed: 3) { _ in 6 }
        try run.writeRecipe("""
              heldout: \(run.trainFile)
              sequence_length: 32
            lora:
              r: 2
              target_modules: [q_proj, v_proj]
            train:
              steps: 3
              batch_size: 2
            output:
              dir: \(folder)/run
              log_every: 1
            eval:
              at_start: false
            """)
        let process = try slm(["train", run.recipe], captureError: true)
        XCTAssertEqual(process.waitForExit(), 0, process.errorText)
        let report = try json(folder + "/run/report/report.json")
        let models = try XCTUnwrap(report["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["name"] as? String }, ["base", "tuned"])
        XCTAssertEqual((report["dataset"] as? [String: Any])?["task"] as? String, "none", "text records: loss and perplexity only")
        XCTAssertEqual((report["recipe"] as? [String: Any])?["path"] as? String, folder + "/run/recipe.yaml")
        let curves = try XCTUnwrap(models[1]["training"] as? [String: Any])
        XCTAssertEqual((curves["train"] as? [[Double]])?.count, 3, "the run's logged steps")
        for file in ["report.md", "report.html", "predictions.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/run/report/" + file), file)
        }
    }
}
