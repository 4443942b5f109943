import Foundation
import SLMTestSupport
import XCTest

/// `slm train` with an `export:` section writes the merged model (one file per quant) at the end of the run, and
/// `slm merge` refuses an adapter for another model without leaving a file.
final class ExportCommandTests: XCTestCase {
    var run: TinyRunFolder!
    var folder: String { run.path }

    override func setUpWithError() throws {
        run = try TinyRunFolder(prefix: "slm-export")
        try run.writeTexts(lines: 8, seed: 5) { draw in 2 + draw() % 6 }
    }

    override func tearDown() { run.remove() }

    func testTrainingRunEndsWithTheRecipesExport() throws {
        try run.writeRecipe("""
              sequence_length: 32
              heldout_fraction: 0.25
            lora:
              r: 4
              target_modules: [q_proj, v_proj]
            train:
              steps: 2
              batch_size: 2
            output:
              dir: \(folder)/run
            eval:
              at_start: false
              generate: false
            export:
              format: gguf
              quant: [q8_0, q4_0]
            """)
        let process = try slm(["train", run.recipe], captureError: true)
        XCTAssertEqual(process.waitForExit(), 0, process.errorText)
        for type in ["q8_0", "q4_0"] {
            for file in ["run/export/model.\(type).gguf", "run/export/model.\(type).Modelfile", "run/export/model.\(type).report.json"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + file), file)
            }
        }
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/run/export/model.q8_0.report.json"))) as? [String: Any]
        XCTAssertEqual((report?["tensors"] as? [Any])?.count, 2 * 9 + 3)
        let verification = report?["verification"] as? [String: Any]
        XCTAssertNotNil(verification?["perplexity"])
        // verified on the held-out samples (2 records of a few words), not on the longer built-in text
        XCTAssertLessThan(verification?["probe_tokens"] as? Int ?? .max, 64)
    }

    func testMismatchedAdapterIsRefusedAndNothingIsWritten() throws {
        let out = folder + "/model.gguf"
        let base = folder + "/llama3"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        for (name, source) in [("config.json", "hf_llama3_f16/config.json"), ("model.safetensors", "hf_llama3_f16/model.safetensors"), ("tokenizer.json", "hf_llama/tokenizer.json")] {
            try FileManager.default.copyItem(atPath: Fixture.path(source), toPath: base + "/" + name)
        }
        let process = try slm(["merge", "--base", base, "--adapter", Fixture.path("peft_adapter"), "--out", out], captureError: true)
        XCTAssertNotEqual(process.waitForExit(), 0)
        XCTAssertTrue(process.errorText.contains("self_attn.q_proj.lora_B.weight"), process.errorText)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains("model.gguf") }, [])
    }

    /// SIGKILL while the demo model is being written (as F32, 515 MiB): the bytes were going to a
    /// temporary file, so nothing is left under the final name.
    func testKilledExportLeavesNoFileUnderTheFinalName() throws {
        let base = try Fixture.demoModelPath(), out = folder + "/killed.gguf"
        let process = try slm(["merge", "--base", base, "--out", out, "--quant", "f32", "--no-verify"])
        let deadline = Date().addingTimeInterval(60)
        func writing() -> Bool { (try? FileManager.default.contentsOfDirectory(atPath: folder))?.contains { $0.hasPrefix(".killed.gguf.") } ?? false }
        while process.isRunning, Date() < deadline, !writing() { usleep(2_000) }
        XCTAssertTrue(process.isRunning && writing(), "the export ended (or never started writing) before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a killed export must not leave a file under the final name")
    }
}
