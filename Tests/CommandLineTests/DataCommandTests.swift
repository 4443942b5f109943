import Foundation
import XCTest

/// `slm data --jsonl`: the micro-batches it writes are the ones `slm train` reads, step by step and
/// across epochs, and no label reaches from one packed sample into the next.
final class DataCommandTests: XCTestCase {
    struct MicroBatch: Decodable {
        let step: Int, micro_batch: Int, batch: Int, sequence: Int
        let ids: [Int32], labels: [Int32], positions: [Int32], segments: [Int32]
    }

    var run: TinyRunFolder!
    var folder: String { run.path }

    override func setUpWithError() throws {
        run = try TinyRunFolder(prefix: "slm-data")
        // Texts of 2 to 11 words, so that batches hold different numbers of tokens.
        try run.writeTexts(lines: 16, seed: 3) { draw in 2 + draw() % 10 }
        try run.writeRecipe("""
              sequence_length: 32
            lora:
              r: 4
              target_modules: [q_proj, v_proj]
            train:
              steps: 6
              batch_size: 2
              gradient_accumulation: 2
            output:
              dir: \(folder)/run
              log_every: 1
            eval:
              at_start: false
            """)
    }

    override func tearDown() { run.remove() }

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
