import Foundation
import SLMTraining
import XCTest

final class HeldoutSplitTests: XCTestCase {
    func testAFractionIsSetAsideDisjointInOrderAndTheSameForASeed() {
        let records = Array(0..<1000)
        let (train, heldout) = HeldoutSplit.split(records, fraction: 0.15, seed: 42)
        XCTAssertEqual(heldout.count, 150)
        XCTAssertEqual(Set(train).intersection(heldout), [])
        XCTAssertEqual((train + heldout).sorted(), records)
        XCTAssertEqual(train, train.sorted(), "the file's order is kept")
        XCTAssertEqual(heldout, heldout.sorted())
        XCTAssertGreaterThan(heldout.last! - heldout.first!, 500, "spread over the file, not its head")

        let again = HeldoutSplit.split(records, fraction: 0.15, seed: 42)
        XCTAssertEqual(again.train, train)
        XCTAssertEqual(again.heldout, heldout)
        XCTAssertNotEqual(HeldoutSplit.split(records, fraction: 0.15, seed: 43).heldout, heldout)
    }

    func testAtLeastOneIsHeldOutAndNeverAll() {
        XCTAssertEqual(HeldoutSplit.split(Array(0..<10), fraction: 0.001, seed: 1).heldout.count, 1)
        XCTAssertEqual(HeldoutSplit.split(Array(0..<10), fraction: 0.999, seed: 1).train.count, 1)
        XCTAssertEqual(HeldoutSplit.split(Array(0..<10), fraction: 0.26, seed: 1).heldout.count, 3)
        XCTAssertEqual(HeldoutSplit.split([7], fraction: 0.5, seed: 1).heldout, [], "one record stays for training")
    }

    func testTrainingDataTakesHeldoutFromAFileOrAFraction() throws {
        var section = Recipe.DataSection(train: datasetPath("ticket-routing/train.jsonl"))
        section.heldout = datasetPath("ticket-routing/heldout.jsonl")
        let fromFile = try TrainingData.load(section, seed: 1)
        XCTAssertEqual(fromFile.train.count, 800)
        XCTAssertEqual(fromFile.heldout.count, 200)
        XCTAssertEqual(fromFile.files.map(\.format), [.chat, .chat])

        section.heldout = nil
        section.heldoutFraction = 0.1
        let split = try TrainingData.load(section, seed: 1)
        XCTAssertEqual(split.train.count, 720)
        XCTAssertEqual(split.heldout.count, 80)
        let all = try JSONLDataset.load(path: section.train).records
        XCTAssertEqual((split.train + split.heldout).map { "\($0)" }.sorted(), all.map { "\($0)" }.sorted(), "each record in exactly one part")
        XCTAssertEqual(try TrainingData.load(section, seed: 1).heldout, split.heldout)

        section.heldoutFraction = nil
        XCTAssertEqual(try TrainingData.load(section, seed: 1).heldout, [])
    }
}
