import Foundation
import XCTest

/// `slm train` as a user runs it: a run killed with SIGKILL and resumed ends with the same adapter,
/// bit for bit, and the same metrics as a run that was never interrupted.
final class TrainResumeTests: XCTestCase {
    var run: TinyRunFolder!
    var folder: String { run.path }

    override func setUpWithError() throws {
        run = try TinyRunFolder(prefix: "slm-resume")
        try run.writeTexts(lines: 120, seed: 1) { _ in 6 }
        // Dropout is on so that the resumed run must also replay the same dropout masks.
        try run.writeRecipe("""
              sequence_length: 32
            lora:
              r: 4
              dropout: 0.1
              target_modules: [q_proj, v_proj, down_proj]
            train:
              steps: 300
              batch_size: 2
              gradient_accumulation: 2
              lr: 1.0e-3
              warmup_steps: 10
            output:
              checkpoint_every: 5
              log_every: 1
            eval:
              at_start: false
            """)
    }

    override func tearDown() { run.remove() }

    func testKilledRunResumesToTheSameAdapterAsAnUninterruptedRun() throws {
        try assertKilledRunResumesToTheSameAdapter(overrides: [])
    }

    /// The bf16 tile products and the recomputed activations repeat bit for bit too.
    func testKilledRunWithABFloat16BaseAndGradientCheckpointingResumesToTheSameAdapter() throws {
        try assertKilledRunResumesToTheSameAdapter(overrides: ["--set", "model.dtype=bf16", "--set", "train.gradient_checkpointing=true"])
    }

    private func assertKilledRunResumesToTheSameAdapter(overrides: [String]) throws {
        let whole = folder + "/whole", resumed = folder + "/resumed"
        XCTAssertEqual(try slm(["train", folder + "/recipe.yaml", "--set", "output.dir=\(whole)"] + overrides).waitForExit(), 0)

        let killed = try slm(["train", folder + "/recipe.yaml", "--set", "output.dir=\(resumed)"] + overrides)
        let deadline = Date().addingTimeInterval(120)
        while killed.isRunning, Date() < deadline, !FileManager.default.fileExists(atPath: resumed + "/checkpoints/step-000010") {
            usleep(2_000)
        }
        XCTAssertTrue(killed.isRunning, "the run ended before it could be killed; give it more steps")
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        XCTAssertEqual(killed.terminationReason, .uncaughtSignal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: resumed + "/adapter"), "the killed run must not have finished")

        XCTAssertEqual(try slm(["train", folder + "/recipe.yaml", "--set", "output.dir=\(resumed)", "--resume"] + overrides).waitForExit(), 0)
        for file in ["adapter/adapter_model.safetensors", "adapter/adapter_config.json"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: whole + "/" + file))
            let b = try Data(contentsOf: URL(fileURLWithPath: resumed + "/" + file))
            XCTAssertEqual(a, b, "\(file) differs between the uninterrupted and the resumed run")
        }
        XCTAssertEqual(try trainRecords(whole), try trainRecords(resumed), "metrics: every step once, with the same loss")
    }

    func testResumeWithoutCheckpointAndRestartOverAFinishedRunAreRefused() throws {
        let run = folder + "/run"
        let resumeEmpty = try slm(["train", folder + "/recipe.yaml", "--set", "output.dir=\(run)", "--resume"], captureError: true)
        XCTAssertNotEqual(resumeEmpty.waitForExit(), 0)
        XCTAssertTrue(resumeEmpty.errorText.contains("no checkpoint to resume from"), resumeEmpty.errorText)

        XCTAssertEqual(try slm(["train", folder + "/recipe.yaml", "--set", "output.dir=\(run)", "--set", "train.steps=12"]).waitForExit(), 0)
        let again = try slm(["train", folder + "/recipe.yaml", "--set", "output.dir=\(run)", "--set", "train.steps=12"], captureError: true)
        XCTAssertNotEqual(again.waitForExit(), 0)
        XCTAssertTrue(again.errorText.contains("--resume"), again.errorText)
    }

    /// The "train" lines of a run's metrics, as (step, loss).
    private func trainRecords(_ run: String) throws -> [[Double]] {
        try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
            let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard record["type"] as? String == "train" else { return nil }
            return [Double(try XCTUnwrap(record["step"] as? Int)), try XCTUnwrap(record["loss"] as? Double)]
        }
    }
}
