import Foundation
import SLMTestSupport
import XCTest

/// `slm merge --quant A,B --heldout FILE`: one GGUF file per type from one load and merge, and a
/// quantization report (f32 and each type side by side) in the evaluation report's format.
final class QuantizationReportCommandTests: XCTestCase {
    var run: TinyRunFolder!
    var folder: String { run.path }

    override func setUpWithError() throws {
        run = try TinyRunFolder(prefix: "slm-quant-report")
        try run.writeTexts(lines: 6, seed: 7) { draw in 3 + draw() % 5 }
    }

    override func tearDown() { run.remove() }

    func testSeveralTypesGiveOneFileEachAndAReportWithTheirSizeErrorAndPerplexity() throws {
        let process = try slm([
            "merge", "--base", Fixture.path("hf_llama"), "--adapter", Fixture.path("peft_adapter"), "--out", folder + "/tiny.gguf",
            "--quant", "q8_0,q4_0", "--heldout", run.trainFile, "--no-verify",
        ], captureError: true)
        XCTAssertEqual(process.waitForExit(), 0, process.errorText)
        for file in ["tiny.q8_0.gguf", "tiny.q4_0.gguf", "tiny.q8_0.report.json", "tiny.q4_0.Modelfile"] + ["json", "md", "html"].map({ "tiny.quant-report/report." + $0 }) {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + file), file)
        }
        // Merged once for both types, the bytes are those of a one-type export.
        let single = try slm([
            "merge", "--base", Fixture.path("hf_llama"), "--adapter", Fixture.path("peft_adapter"), "--out", folder + "/single.gguf",
            "--quant", "q4_0", "--no-verify",
        ], captureError: true)
        XCTAssertEqual(single.waitForExit(), 0, single.errorText)
        XCTAssertEqual(FileManager.default.contents(atPath: folder + "/single.gguf"), FileManager.default.contents(atPath: folder + "/tiny.q4_0.gguf"))

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/tiny.quant-report/report.json"))) as! [String: Any]
        let models = try XCTUnwrap(report["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["name"] as? String }, ["f32", "q8_0", "q4_0"])
        let exports = models.map { $0["export"] as? [String: Any] ?? [:] }
        let bits = exports.map { $0["bits_per_weight"] as? Double ?? 0 }
        XCTAssertEqual(bits[0], 32)
        XCTAssertTrue((8.5..<9).contains(bits[1]), "\(bits)")  // Q8_0: 34 bytes per 32 values, and a few F32 norms
        XCTAssertLessThan(bits[2], bits[1])
        XCTAssertEqual(exports[1]["reference"] as? String, "f32")
        let errors = exports.map { $0["mean_relative_rms_error"] as? Double ?? -1 }
        XCTAssertEqual(errors[0], 0)
        XCTAssertGreaterThan(errors[1], 0)
        XCTAssertGreaterThan(errors[2], errors[1])
        XCTAssertEqual((exports[2]["worst_tensors"] as? [Any])?.count, 3)
        let perplexities = models.map { ($0["scoring"] as? [String: Any])?["perplexity"] as? Double ?? .nan }
        XCTAssertTrue(perplexities.allSatisfy(\.isFinite), "\(perplexities)")
        // Q8_0 is close to f32 (the tiny random model's perplexity moves by ~1%); the report states the change.
        XCTAssertEqual(perplexities[1] / perplexities[0], 1, accuracy: 0.03)
        let markdown = try String(contentsOfFile: folder + "/tiny.quant-report/report.md", encoding: .utf8)
        for row in ["| bits/weight |", "| mean tensor error |", "| perplexity change |", "vs f32"] {
            XCTAssertTrue(markdown.contains(row), "report.md lacks \(row)")
        }
    }

    /// `slm eval` on an export shows its size and tensor error (read from NAME.report.json).
    func testEvalColumnOfAnExportShowsItsSize() throws {
        let out = folder + "/tiny.q8_0.gguf"
        let merge = try slm(["merge", "--base", Fixture.path("hf_llama"), "--out", out, "--quant", "q8_0", "--no-verify"], captureError: true)
        XCTAssertEqual(merge.waitForExit(), 0, merge.errorText)
        let eval = try slm(["eval", out, "--data", run.trainFile, "--no-generate", "--out", folder + "/eval"], captureError: true)
        XCTAssertEqual(eval.waitForExit(), 0, eval.errorText)
        let markdown = try String(contentsOfFile: folder + "/eval/report.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("| bits/weight | 8."), markdown)
    }

    func testRefusesARepeatedType() throws {
        let process = try slm(["merge", "--base", Fixture.path("hf_llama"), "--out", folder + "/x.gguf", "--quant", "q8_0,q8_0"], captureError: true)
        XCTAssertNotEqual(process.waitForExit(), 0)
        XCTAssertTrue(process.errorText.contains("twice"), process.errorText)
    }
}
