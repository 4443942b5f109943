import Foundation
import SLMTestSupport
import XCTest

/// A Hugging Face folder export is written under a temporary name: killed, it leaves nothing under
/// the final name, and the next export of that name removes what the killed one left.
final class KilledFolderExportTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "slm-killed-folder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    private func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] }

    /// SIGKILL while the demo model is written as an F32 folder (515 MiB of safetensors).
    func testKilledSafetensorsExportLeavesNoFolderAndTheNextRunCleansUp() throws {
        let base = try Fixture.demoModelPath(), out = folder + "/killed"
        let process = try slm(["merge", "--base", base, "--out", out, "--format", "safetensors", "--dtype", "f32", "--no-verify"])
        let temporary = ".killed.\(process.processIdentifier).tmp"
        let deadline = Date().addingTimeInterval(60)
        func writing() -> Bool {
            (try? FileManager.default.contentsOfDirectory(atPath: folder + "/" + temporary))?.contains { $0.hasPrefix(".model.safetensors.") } ?? false
        }
        while process.isRunning, Date() < deadline, !writing() { usleep(2_000) }
        XCTAssertTrue(process.isRunning && writing(), "the export ended (or never started writing) before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(contents(), [temporary], "a killed export leaves only its temporary folder")

        let next = try slm(["merge", "--base", Fixture.path("hf_llama"), "--out", out, "--format", "safetensors", "--no-verify"], captureError: true)
        XCTAssertEqual(next.waitForExit(), 0, next.errorText)
        XCTAssertEqual(contents(), ["killed"], "the dead process's temporary folder is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
    }

    /// An earlier export under the name is replaced; a folder holding anything else is refused, untouched.
    func testReplacesAnEarlierExportButRefusesAnotherFolder() throws {
        let out = folder + "/tiny"
        for _ in 0..<2 {
            let process = try slm(["merge", "--base", Fixture.path("hf_llama"), "--out", out, "--format", "safetensors", "--no-verify"], captureError: true)
            XCTAssertEqual(process.waitForExit(), 0, process.errorText)
        }
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        let refused = try slm(["merge", "--base", Fixture.path("hf_llama"), "--out", out, "--format", "safetensors", "--no-verify"], captureError: true)
        XCTAssertNotEqual(refused.waitForExit(), 0)
        XCTAssertTrue(refused.errorText.contains("notes.txt"), refused.errorText)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/notes.txt"))
        XCTAssertEqual(contents(), ["tiny"])
    }
}
