import Foundation
import SLMEvaluation
import SLMTestSupport
import SLMTraining
import XCTest

/// Task detection, bad held-out files and model names: what users see when the input is wrong.
final class EvaluationInputTests: XCTestCase {
    var folder: String!

    override func setUp() {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("eval-input-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func write(_ name: String, _ lines: [String]) -> String {
        let path = folder + "/" + name
        try! Data(lines.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func completion(_ prompt: String, _ completion: String) -> String {
        String(data: try! JSONSerialization.data(withJSONObject: ["prompt": prompt, "completion": completion]), encoding: .utf8)!
    }

    func testTaskKindFromTheReferences() {
        XCTAssertEqual(TaskKind.decide(references: ["a", "b", "a", "b"], choice: .auto).kind, .label)
        XCTAssertEqual(TaskKind.decide(references: ["{\"x\": 1}", " {\"y\": null} "], choice: .auto).kind, .extraction)
        XCTAssertEqual(TaskKind.decide(references: ["one answer", "another answer"], choice: .auto).kind, .text)
        XCTAssertEqual(TaskKind.decide(references: ["a", "b", "a", "b"], choice: .text).kind, .text)
        XCTAssertEqual(TaskKind.decide(references: [], choice: .label).kind, .none)
    }

    func testEmptyFileWrongFormatAndMixedRecordsSayWhatIsWrong() {
        XCTAssertThrowsError(try EvaluationSet.load(path: write("empty.jsonl", []), maxSamples: nil, task: .auto, trainPath: nil)) {
            XCTAssertTrue("\($0)".contains("has no records"), "\($0)")
        }
        XCTAssertThrowsError(try EvaluationSet.load(path: write("csv.jsonl", ["ticket,queue", "a,b"]), maxSamples: nil, task: .auto, trainPath: nil)) {
            XCTAssertTrue("\($0)".contains("csv.jsonl:1"), "\($0)")
            XCTAssertTrue("\($0)".contains("JSONL"), "\($0)")
        }
        XCTAssertThrowsError(try EvaluationSet.load(path: folder + "/missing.jsonl", maxSamples: nil, task: .auto, trainPath: nil))
    }

    func testLabelsNeverSeenInTrainingAreWarnedAbout() throws {
        let train = write("train.jsonl", [completion("p1", "billing"), completion("p2", "shipping")])
        let heldout = write("heldout.jsonl", [completion("q1", "billing"), completion("q2", "refunds"), completion("q3", "billing"), completion("q4", "refunds")])
        let set = try EvaluationSet.load(path: heldout, maxSamples: nil, task: .auto, trainPath: train)
        XCTAssertEqual(set.task, .label)
        XCTAssertEqual(set.labels, ["billing", "refunds", "shipping"])
        XCTAssertEqual(set.warnings.count, 1)
        XCTAssertTrue(set.warnings[0].contains("never seen in training") && set.warnings[0].contains("refunds"), set.warnings[0])
    }

    func testModelSpecSyntax() throws {
        XCTAssertEqual(try ModelSpec.parse("m.gguf"), ModelSpec(name: "m.gguf", path: "m.gguf", adapter: nil))
        XCTAssertEqual(try ModelSpec.parse("tuned=base.gguf+runs/qs/adapter"), ModelSpec(name: "tuned", path: "base.gguf", adapter: "runs/qs/adapter"))
        XCTAssertEqual(try ModelSpec.parse("base.gguf+runs/qs/adapter"), ModelSpec(name: "qs", path: "base.gguf", adapter: "runs/qs/adapter"))
        XCTAssertEqual(try ModelSpec.parse("models/a=b.gguf"), ModelSpec(name: "a=b.gguf", path: "models/a=b.gguf", adapter: nil))
        XCTAssertThrowsError(try ModelSpec.parse("=x.gguf"))
    }
}
