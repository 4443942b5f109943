import Foundation
import SLMTestSupport
import XCTest

/// `slm data --jsonl`: the micro-batches it writes are the ones `slm train` reads, step by step and
/// across epochs, and no label reaches from one packed sample into the next.
final class DataCommandTests: XCTestCase {
    struct MicroBatch: Decodable {
        let step: Int, micro_batch: Int, batch: Int, sequence: Int
        let ids: [Int32], labels: [Int32], positions: [Int32], segments: [Int32]
    }

    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "slm-data-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Texts of 2 to 11 words, so that batches hold different numbers of tokens.
        var state: UInt64 = 3
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 59)
        }
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
        let lines = (0..<16).map { _ in
            "{\"text\": \"" + (0..<(2 + next() % 10)).map { _ in words[next() % words.count] }.joined(separator: " ") + "\"}"
        }
        try lines.joined(separator: "\n").write(toFile: folder + "/train.jsonl", atomically: true, encoding: .utf8)
        let recipe = """
            model:
              path: \(Fixture.path("hf_llama"))
              chat_template: none
            lora:
              r: 4
              target_modules: [q_proj, v_proj]
            data:
              train: \(folder)/train.jsonl
              sequence_length: 32
            train:
              steps: 6
              batch_size: 2
              gradient_accumulation: 2
            output:
              dir: \(folder)/run
              log_every: 1
            eval:
              at_start: false
            """
        try recipe.write(toFile: folder + "/recipe.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testJSONLHoldsTheMicroBatchesTrainingReads() throws {
        let file = folder + "/batches.jsonl"
        XCTAssertEqual(try slm(["data", folder + "/recipe.yaml", "--steps", "6", "--jsonl", file]).waitForExit(), 0)
        let batches = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(MicroBatch.self, from: Data($0.utf8)) }
        XCTAssertEqual(batches.map { [$0.step, $0.micro_batch] }, (1...6).flatMap { [[$0, 0], [$0, 1]] })

        var realTokens = [Int](repeating: 0, count: 6)
        for b in batches {
            XCTAssertEqual([b.ids.count, b.labels.count, b.positions.count, b.segments.count], Array(repeating: b.batch * b.sequence, count: 4))
            for p in b.labels.indices where b.labels[p] != -100 {
                let sameRow = (p + 1) % b.sequence != 0
                XCTAssertTrue(sameRow && b.segments[p + 1] == b.segments[p], "step \(b.step): label at \(p) crosses into another sample")
                XCTAssertEqual(b.labels[p], b.ids[p + 1], "step \(b.step): label at \(p) is not the next token")
                XCTAssertEqual(b.positions[p + 1], b.positions[p] + 1, "step \(b.step): positions at \(p)")
            }
            // Every sample has a target; padding has none.
            let samples = Set(b.labels.indices.filter { b.labels[$0] != -100 }.map { b.segments[$0] })
            realTokens[b.step - 1] += b.segments.count { samples.contains($0) }
        }
        XCTAssertGreaterThan(Set(realTokens).count, 1, "give the batches different sizes, or the comparison below proves little")

        XCTAssertEqual(try slm(["train", folder + "/recipe.yaml"]).waitForExit(), 0)
        let trained = try String(contentsOfFile: folder + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["type"] as? String == "train" }
        XCTAssertGreaterThan(try XCTUnwrap(trained.last?["epoch"] as? Int), 0, "the steps should reach into a second epoch")
        XCTAssertEqual(trained.map { $0["tokens"] as? Int }, realTokens.indices.map { realTokens[...$0].reduce(0, +) }, "tokens trained on by step")
    }
}
