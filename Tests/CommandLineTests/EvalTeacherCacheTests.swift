import Foundation
import SLMTestSupport
import XCTest

/// `slm eval --teacher-cache` end to end: the held-out samples scored into the cache by
/// `slm teacher --split heldout` with the model itself as the teacher, so the model agrees with
/// its own cache (top-1 agreement ≈ 1, KL ≈ 0); and `slm train` with a distillation section
/// fills the held-out part itself and reports the agreement of base and tuned.
final class EvalTeacherCacheTests: XCTestCase {
    var run: TinyRunFolder!
    var folder: String { run.path }

    override func setUpWithError() throws { run = try TinyRunFolder(prefix: "slm-eval-teacher") }
    override func tearDown() { run.remove() }

    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func writeHeldout(_ count: Int) throws -> String {
        let path = folder + "/heldout.jsonl"
        let capitals = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin")]
        let lines = (0..<count).map { n in
            "{\"prompt\": \"What is the capital of \(capitals[n % 4].0)? Answer with one word.\", \"completion\": \"\(capitals[n % 4].1)\"}"
        }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The demo model (SmolLM2-135M, Q4_1) is its own teacher on four held-out samples; three
    /// are in the cache (the fourth is added to the held-out file afterwards).
    func testDemoModelAgreesWithItsOwnCache() throws {
        let model = try Fixture.demoModelPath()
        _ = try writeHeldout(3)
        try run.writeTexts(lines: 4, seed: 1) { _ in 3 }
        try """
            model:
              path: \(model)
            data:
              train: \(run.trainFile)
              heldout: \(folder)/heldout.jsonl
            lora:
              r: 4
            distillation:
              teacher:
                model: \(model)
              cache: \(folder)/cache.h5
              k: 8

            """.write(toFile: run.recipe, atomically: true, encoding: .utf8)
        let teacher = try slm(["teacher", run.recipe, "--split", "heldout"], captureError: true)
        XCTAssertEqual(teacher.waitForExit(), 0, teacher.errorText)
        XCTAssertTrue(teacher.errorText.contains("teacher: scored 3 samples"), teacher.errorText)
        let data = try writeHeldout(4), out = folder + "/report"
        let eval = try slm(
            ["eval", "student=\(model)", "--data", data, "--teacher-cache", folder + "/cache.h5", "--out", out, "--no-generate", "--bootstrap", "50"],
            captureError: true)
        XCTAssertEqual(eval.waitForExit(), 0, eval.errorText)
        let models = try XCTUnwrap(try json(out + "/report.json")["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["name"] as? String }, ["student", "teacher"])
        let agreement = try XCTUnwrap(models[0]["teacher_agreement"] as? [String: Any])
        XCTAssertEqual(agreement["samples"] as? Int, 4)
        XCTAssertEqual(agreement["samples_found"] as? Int, 3)
        let compared = try XCTUnwrap(agreement["compared_tokens"] as? Int), targets = try XCTUnwrap(agreement["target_tokens"] as? Int)
        XCTAssertTrue(compared > 0 && compared < targets, "\(agreement)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(agreement["top1_agreement"] as? Double), 0.99, "\(agreement)")
        XCTAssertLessThan(abs(try XCTUnwrap(agreement["kl"] as? Double)), 1e-3, "\(agreement)")
        XCTAssertEqual((agreement["top1_agreement_interval"] as? [Double])?.count, 2)
        let own = try XCTUnwrap(models[1]["teacher_cache"] as? [String: Any])
        XCTAssertEqual(own["samples_found"] as? Int, 3)
        let scoring = try XCTUnwrap(models[0]["scoring"] as? [String: Any])
        // Every token the teacher gets right is in its top k.
        let accuracy = try XCTUnwrap(own["token_accuracy"] as? Double), coverage = try XCTUnwrap(own["coverage"] as? Double)
        XCTAssertTrue(accuracy > 0 && accuracy <= 1 && coverage >= accuracy && coverage <= 1, "\(own)")
        XCTAssertEqual(own["target_tokens"] as? Int, compared)
        XCTAssertLessThanOrEqual(try XCTUnwrap(own["loss"] as? Double), try XCTUnwrap(scoring["loss"] as? Double) + 0.05, "covered tokens are the easy ones")
        let markdown = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("| top-1 agreement with teacher |"), markdown)
        XCTAssertTrue(markdown.contains("† The teacher column is read from its cache"), markdown)
        XCTAssertTrue(try String(contentsOfFile: out + "/report.html", encoding: .utf8).contains("KL(teacher ‖ model)"))
    }

    /// A cache of another tokenizer fails the column (its loss is still measured), not the report.
    func testCacheOfAnotherTokenizerFailsTheColumnOnly() throws {
        let data = try writeHeldout(2), out = folder + "/report"
        let eval = try slm(
            ["eval", Fixture.path("hf_llama"), "--data", data, "--teacher-cache", Fixture.path("teacher_cache_slm.h5"), "--out", out,
             "--no-generate", "--chat-template", "none", "--bootstrap", "0"],
            captureError: true)
        XCTAssertEqual(eval.waitForExit(), 1, "every column failed: " + eval.errorText)
        let models = try XCTUnwrap(try json(out + "/report.json")["models"] as? [[String: Any]])
        XCTAssertTrue((models[0]["error"] as? String)?.contains("another tokenizer") == true, "\(models[0])")
        XCTAssertNotNil((models[0]["scoring"] as? [String: Any])?["loss"])
        XCTAssertNotNil(models.last?["error"], "no column can read the cache's token ids")
    }

    /// `slm train` with a distillation section: the held-out samples go into the cache and the
    /// run's report compares base and tuned with the teacher (the tiny model, its own teacher).
    func testTrainReportShowsAgreementWithTheTeacher() throws {
        try run.writeTexts(lines: 12, seed: 3) { draw in 3 + draw() % 6 }
        let heldout = folder + "/heldout.jsonl"
        try (try String(contentsOfFile: run.trainFile, encoding: .utf8)).split(separator: "\n").prefix(3).joined(separator: "\n")
            .write(toFile: heldout, atomically: true, encoding: .utf8)
        try run.writeRecipe("""
              heldout: \(heldout)
              sequence_length: 32
            lora:
              r: 4
            train:
              steps: 2
              batch_size: 2
            output:
              dir: \(folder)/run
            eval:
              at_start: false
              generate: false
            distillation:
              teacher:
                model: \(Fixture.path("hf_llama"))
              cache: \(folder)/cache.h5
              k: 6
            """)
        let train = try slm(["train", run.recipe], captureError: true)
        XCTAssertEqual(train.waitForExit(), 0, train.errorText)
        XCTAssertTrue(train.errorText.contains("held-out samples covered") || train.errorText.contains("scoring 3 samples"), train.errorText)
        let models = try XCTUnwrap(try json(folder + "/run/report/report.json")["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["name"] as? String }, ["base", "tuned", "teacher"])
        let base = try XCTUnwrap(models[0]["teacher_agreement"] as? [String: Any])
        XCTAssertEqual(base["samples_found"] as? Int, 3)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(base["top1_agreement"] as? Double), 0.99, "the base model is the teacher")
        XCTAssertLessThan(try XCTUnwrap(base["kl"] as? Double), 1e-3)
        XCTAssertNotNil((models[1]["teacher_agreement"] as? [String: Any])?["kl"])
    }
}
