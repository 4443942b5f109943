import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// A depth-pruned student (`model.keep_layers`) trained by `slm train` and evaluated by `slm eval`
/// from its run folder: the adapter records the layers it was trained on (kept_layers.json), and the
/// evaluation prunes the base the same way, giving the training run's own held-out loss; exports refuse it.
final class PrunedStudentTests: XCTestCase {
    var run: TinyRunFolder!

    override func setUpWithError() throws {
        run = try TinyRunFolder(prefix: "slm-pruned")
        try run.writeTexts(lines: 24, seed: 5) { draw in 3 + draw() % 6 }
        try FileManager.default.copyItem(atPath: run.trainFile, toPath: run.path + "/heldout.jsonl")
        try """
            model:
              path: \(Fixture.path("hf_llama"))
              chat_template: none
              keep_layers: 1
              layer_selection: even
            data:
              train: \(run.trainFile)
              heldout: \(run.path)/heldout.jsonl
              sequence_length: 32
            lora:
              r: 4
            train:
              steps: 3
              batch_size: 2
              lr: 0.01
            output:
              dir: \(run.path)/run
            eval:
              at_start: false
              generate: false
              report: false
            """.write(toFile: run.recipe, atomically: true, encoding: .utf8)
    }

    override func tearDown() { run.remove() }

    func testEvalOfAPrunedRunFolderPrunesTheBaseAsTrainingDid() throws {
        let train = try slm(["train", run.recipe], captureError: true)
        XCTAssertEqual(train.waitForExit(), 0, train.errorText)
        let kept = try XCTUnwrap(try KeptLayers.read(folder: run.path + "/run/adapter"))
        XCTAssertEqual(kept, KeptLayers(baseLayers: 2, keptLayers: [0]))

        let out = run.path + "/report"
        let eval = try slm(
            ["eval", "student=\(run.path)/run", "--data", run.path + "/heldout.jsonl", "--out", out, "--chat-template", "none",
             "--no-generate", "--bootstrap", "0", "--dequantize"], captureError: true)
        XCTAssertEqual(eval.waitForExit(), 0, eval.errorText)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let column = try XCTUnwrap((report["models"] as? [[String: Any]])?.first)
        XCTAssertNil(column["error"], "\(column["error"] ?? "")")
        let loss = try XCTUnwrap((column["scoring"] as? [String: Any])?["loss"] as? Double)

        // The training run's own held-out loss after the last step (the same records, every token scored).
        // The trainer scores packed rows and slm eval one sample at a time: they differ by ~0.3% on this
        // tiny model, pruned or not. Unpruned, the one-layer adapter would not load at all (layer 1 missing).
        let metrics = try String(contentsOfFile: run.path + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let trained = try XCTUnwrap(metrics.last { $0["type"] as? String == "eval" }?["loss"] as? Double)
        XCTAssertEqual(loss, trained, accuracy: 1e-2 * trained)

        let merge = try slm(["merge", "--base", Fixture.path("hf_llama"), "--adapter", run.path + "/run/adapter", "--out", run.path + "/x.gguf"], captureError: true)
        XCTAssertEqual(merge.waitForExit(), 1)
        XCTAssertTrue(merge.errorText.contains("depth-pruned student (1 of 2 layers): exporting a pruned model is not supported yet"), merge.errorText)
    }

    func testAStudentAdapterOnABaseOfAnotherDepthIsRefused() throws {
        let folder = run.path + "/adapter"
        try KeptLayers(baseLayers: 30, keptLayers: [0, 29]).write(into: folder)
        let (model, _) = try ModelLoader.load(path: Fixture.path("hf_llama"))
        XCTAssertThrowsError(try model.keepingLayers(of: folder)) { error in
            XCTAssertTrue("\(error)".contains("kept_layers.json: base_layers: the student was pruned from a model of 30 layers, this base has 2"), "\(error)")
        }
        try KeptLayers(baseLayers: 2, keptLayers: [1]).write(into: folder)
        XCTAssertEqual(try model.keepingLayers(of: folder).layers.count, 1)
        XCTAssertTrue(try model.keepingLayers(of: run.path).layers.count == 2, "no kept_layers.json: the model as it is")
    }
}
