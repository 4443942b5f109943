import Foundation
import SLMTestSupport
import XCTest

/// `slm train` with a distillation section: it fills the cache first, reports the true KL in its
/// metrics, and refuses a cache made with other teacher settings.
final class DistillationTrainTests: XCTestCase {
    var run: TinyRunFolder!

    override func setUpWithError() throws {
        run = try TinyRunFolder(prefix: "slm-distill")
        try run.writeTexts(lines: 40, seed: 3) { draw in 3 + draw() % 6 }
        try run.writeRecipe("""
              sequence_length: 32
            lora:
              r: 4
            train:
              steps: 4
              batch_size: 2
            output:
              dir: \(run.path)/run
              log_every: 1
            eval:
              at_start: false
            distillation:
              teacher:
                model: \(Fixture.path("hf_llama"))
              cache: \(run.path)/cache.h5
              k: 6
              temperature: 2
            """)
    }

    override func tearDown() { run.remove() }

    func testTrainFillsTheCacheAndLogsTrueKL() throws {
        let train = try slm(["train", run.recipe], captureError: true)
        XCTAssertEqual(train.waitForExit(), 0, train.errorText)
        XCTAssertTrue(train.errorText.contains("; 0 were cached already"), train.errorText)
        XCTAssertTrue(train.errorText.contains("step 4/4  loss ") && train.errorText.contains("  KL "), "the progress line shows the KL: \(train.errorText)")
        let lines = try String(contentsOfFile: run.path + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["type"] as? String == "train" }
        XCTAssertEqual(records.count, 4)
        for record in records {
            let kl = try XCTUnwrap(record["kl"] as? Double)
            XCTAssertTrue(kl > 0 && kl < 10, "\(record)")
            XCTAssertNotNil(record["distillation_loss"] as? Double)
        }

        let other = try slm(["train", run.recipe, "--set", "distillation.k=4", "--set", "output.dir=\(run.path)/other"], captureError: true)
        XCTAssertEqual(other.waitForExit(), 1)
        XCTAssertTrue(other.errorText.contains("does not match the recipe's distillation settings"), other.errorText)
        XCTAssertTrue(other.errorText.contains("k: the cache has 6, expected 4"), other.errorText)
    }
}
