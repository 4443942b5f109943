import SLMTensor
import SLMTraining
import XCTest

final class BatchPlanTests: XCTestCase {
    /// Samples whose token ids say where they come from: sample s, token k has id 1000·(s + 1) + k.
    private func samples(_ count: Int, lengths: ClosedRange<Int> = 3...40, seed: UInt64 = 7) -> [TokenizedSample] {
        (0..<count).map { s in
            let length = lengths.lowerBound + Int(SplitMix64.next(seed: seed, index: UInt64(2 * s)) % UInt64(lengths.count))
            let ids = (0..<length).map { Int32(1000 * (s + 1) + $0) }
            // A prompt of a few tokens, then targets, with one context token in the middle.
            let promptLength = 1 + Int(SplitMix64.next(seed: seed, index: UInt64(2 * s + 1)) % UInt64(length - 1))
            var mask = (0..<length).map { $0 >= promptLength }
            if length > promptLength + 2 { mask[promptLength + 1] = false }
            return TokenizedSample(ids: ids, lossMask: mask)
        }
    }

    private func epoch(_ plan: BatchPlan, _ e: Int) -> [TrainingBatch] {
        (0..<plan.batchesPerEpoch).map { plan.batch(epoch: e, index: $0) }
    }

    /// Every rule a batch keeps, whatever the packing: the layout of each row, and labels inside samples.
    private func assertWellFormed(_ batch: TrainingBatch, _ plan: BatchPlan, file: StaticString = #filePath, line: UInt = #line) {
        let t = plan.sequenceLength
        XCTAssertEqual(batch.batch, plan.batchSize, file: file, line: line)
        XCTAssertEqual(batch.sequence, t, file: file, line: line)
        for array in [batch.ids, batch.labels, batch.positions, batch.segments] { XCTAssertEqual(array.count, plan.batchSize * t, file: file, line: line) }
        var seenSegments: Set<Int32> = []
        var real = 0
        for r in 0..<plan.batchSize {
            for p in r * t..<(r + 1) * t {
                let isPadding = batch.ids[p] < 1000
                let startsSegment = p == r * t || batch.segments[p] != batch.segments[p - 1]
                if startsSegment {
                    XCTAssertTrue(seenSegments.insert(batch.segments[p]).inserted, "segment \(batch.segments[p]) appears twice", file: file, line: line)
                }
                if isPadding {
                    XCTAssertEqual(batch.ids[p], BatchPlan.paddingId, file: file, line: line)
                    XCTAssertEqual(batch.positions[p], 0, file: file, line: line)
                    XCTAssertEqual(batch.labels[p], Tensor.ignoreIndex, file: file, line: line)
                    XCTAssertFalse(p + 1 < (r + 1) * t && batch.ids[p + 1] >= 1000, "padding only at the end of a row", file: file, line: line)
                    XCTAssertTrue(startsSegment || batch.ids[p - 1] < 1000, "padding shares no segment with a sample", file: file, line: line)
                    continue
                }
                real += 1
                // Position = k of the token's sample; it restarts at 0 where a segment starts.
                XCTAssertEqual(Int(batch.positions[p]), Int(batch.ids[p]) % 1000, file: file, line: line)
                XCTAssertEqual(batch.positions[p] == 0, startsSegment, file: file, line: line)
                if batch.labels[p] != Tensor.ignoreIndex {
                    XCTAssertTrue(p + 1 < (r + 1) * t && batch.segments[p + 1] == batch.segments[p], "a label crosses a sample boundary", file: file, line: line)
                    XCTAssertEqual(batch.labels[p], batch.ids[p + 1], file: file, line: line)
                }
            }
        }
        XCTAssertEqual(batch.realTokens, real, file: file, line: line)
    }

    /// Each target token of each sample, as its id, counted over an epoch's labels.
    private func labelCounts(_ batches: [TrainingBatch]) -> [Int32: Int] {
        var counts: [Int32: Int] = [:]
        for b in batches { for label in b.labels where label != Tensor.ignoreIndex { counts[label, default: 0] += 1 } }
        return counts
    }

    private func targets(_ samples: [TokenizedSample]) -> [Int32: Int] {
        var counts: [Int32: Int] = [:]
        for s in samples { for k in 1..<s.ids.count where s.lossMask[k] { counts[s.ids[k], default: 0] += 1 } }
        return counts
    }

    func testPackedEpochsKeepSamplesApartAndTeachEveryTargetOnce() throws {
        let all = samples(150)
        let plan = try BatchPlan(samples: all, batchSize: 3, sequenceLength: 64, packing: true, truncation: .right, shuffle: true, seed: 42)
        let stats = plan.statistics
        XCTAssertEqual(stats.samples, 150)
        XCTAssertEqual(stats.dropped, 0)
        XCTAssertEqual(stats.realTokensPerEpoch, all.map(\.ids.count).reduce(0, +))
        XCTAssertLessThan(stats.rows, 150 / 2, "packing puts several samples in a row")
        XCTAssertEqual(plan.batchesPerEpoch, (stats.rows + 2) / 3)
        for e in 0..<3 {
            let batches = epoch(plan, e)
            for b in batches { assertWellFormed(b, plan) }
            XCTAssertEqual(labelCounts(batches), targets(all), "epoch \(e): each target exactly once")
            XCTAssertEqual(batches.map(\.realTokens).reduce(0, +), stats.realTokensPerEpoch)
            let positions = batches.count * 3 * 64
            XCTAssertEqual(stats.paddingFraction, Double(positions - stats.realTokensPerEpoch) / Double(positions), accuracy: 1e-12)
        }
        XCTAssertEqual(stats.targetTokensPerEpoch, targets(all).values.reduce(0, +))
    }

    func testUnpackedRowsHoldOneSampleEachAndTheLastBatchIsFilledWithPaddingRows() throws {
        let all = samples(10)
        let plan = try BatchPlan(samples: all, batchSize: 4, sequenceLength: 48, packing: false, truncation: .right, shuffle: true, seed: 3)
        XCTAssertEqual(plan.statistics.rows, 10)
        XCTAssertEqual(plan.batchesPerEpoch, 3)
        let batches = epoch(plan, 0)
        for b in batches {
            assertWellFormed(b, plan)
            for r in 0..<4 { XCTAssertLessThanOrEqual(Set(b.ids[r * 48..<(r + 1) * 48].filter { $0 >= 1000 }.map { $0 / 1000 }).count, 1) }
        }
        XCTAssertEqual(batches[2].ids[(2 * 48)...].filter { $0 != BatchPlan.paddingId }, [], "rows 2 and 3 of the last batch are padding")
        XCTAssertEqual(batches[2].labels[(2 * 48)...].filter { $0 != Tensor.ignoreIndex }, [])
        XCTAssertEqual(labelCounts(batches), targets(all))
        XCTAssertEqual(plan.statistics.paddingFraction, 1 - Double(plan.statistics.realTokensPerEpoch) / Double(3 * 4 * 48), accuracy: 1e-12)
    }

    func testTheSameSeedAndEpochGiveTheSameBatchesAndOthersDiffer() throws {
        let all = samples(60)
        func plan(seed: UInt64, packing: Bool) throws -> BatchPlan {
            try BatchPlan(samples: all, batchSize: 2, sequenceLength: 80, packing: packing, truncation: .right, shuffle: true, seed: seed)
        }
        for packing in [true, false] {
            let a = try plan(seed: 42, packing: packing), b = try plan(seed: 42, packing: packing)
            XCTAssertEqual(epoch(a, 0), epoch(b, 0))
            XCTAssertEqual(epoch(a, 5), epoch(b, 5))
            XCTAssertEqual(a.batch(epoch: 5, index: 3), epoch(a, 5)[3], "any batch on its own, as a resumed run asks")
            XCTAssertNotEqual(epoch(a, 0), epoch(a, 1))
            XCTAssertNotEqual(epoch(a, 0), epoch(try plan(seed: 43, packing: packing), 0))
            if !packing { XCTAssertEqual(a.batchesPerEpoch, 30, "one row a sample, whatever the seed") }
        }
    }

    /// The order is part of a checkpoint's meaning: it must not change between versions or machines.
    func testTheShuffledOrderIsPinned() throws {
        let one = (0..<8).map { (s: Int) -> TokenizedSample in
            let id = Int32(1000 * (s + 1))
            return TokenizedSample(ids: [id, id + 1], lossMask: [false, true])
        }
        let plan = try BatchPlan(samples: one, batchSize: 8, sequenceLength: 2, packing: false, truncation: .right, shuffle: true, seed: 42)
        func order(_ e: Int) -> [Int] {
            let ids = plan.batch(epoch: e, index: 0).ids
            return stride(from: 0, to: 16, by: 2).map { Int(ids[$0]) / 1000 - 1 }
        }
        XCTAssertEqual(order(0), [6, 5, 0, 4, 2, 3, 7, 1])
        XCTAssertEqual(order(1), [2, 7, 0, 4, 6, 1, 5, 3])
    }

    func testWithoutShuffleEveryEpochIsInFileOrder() throws {
        let all = samples(7, lengths: 5...5)
        let plan = try BatchPlan(samples: all, batchSize: 7, sequenceLength: 5, packing: false, truncation: .right, shuffle: false, seed: 1)
        for e in [0, 4] { XCTAssertEqual(plan.batch(epoch: e, index: 0).ids, all.flatMap(\.ids)) }
    }

    func testTruncationKeepsTheStartOrTheEndOrDropsTheSample() throws {
        let long = TokenizedSample(ids: (0..<10).map { 1000 + $0 }, lossMask: [false, false, false, true, true, true, true, false, false, false])
        let short = TokenizedSample(ids: [2000, 2001, 2002], lossMask: [false, false, true])
        func firstRow(_ truncation: Recipe.Truncation) throws -> (BatchPlan, [Int32], [Int32]) {
            let plan = try BatchPlan(samples: [long, short], batchSize: 1, sequenceLength: 6, packing: false, truncation: truncation, shuffle: false, seed: 0)
            let batch = plan.batch(epoch: 0, index: 0)
            return (plan, batch.ids, batch.labels)
        }
        let ignore = Tensor.ignoreIndex
        let (right, rightIds, rightLabels) = try firstRow(.right)
        XCTAssertEqual(rightIds, [1000, 1001, 1002, 1003, 1004, 1005])
        XCTAssertEqual(rightLabels, [ignore, ignore, 1003, 1004, 1005, ignore], "the cut target after the end has no label")
        XCTAssertEqual(right.statistics.truncated, 1)
        let (left, leftIds, leftLabels) = try firstRow(.left)
        XCTAssertEqual(leftIds, [1004, 1005, 1006, 1007, 1008, 1009])
        XCTAssertEqual(leftLabels, [1005, 1006, ignore, ignore, ignore, ignore], "1004 became the first token: nothing predicts it")
        XCTAssertEqual(left.statistics.truncated, 1)
        let (drop, dropIds, _) = try firstRow(.drop)
        XCTAssertEqual(dropIds, [2000, 2001, 2002, 0, 0, 0])
        XCTAssertEqual(drop.statistics.droppedTooLong, 1)
        XCTAssertEqual(drop.statistics.samples, 1)
        XCTAssertEqual(drop.batchesPerEpoch, 1)
    }

    func testSamplesWithoutATargetAreLeftOutAndCounted() throws {
        let promptOnly = TokenizedSample(ids: [1000, 1001, 1002], lossMask: [true, false, false])
        let cutOff = TokenizedSample(ids: [2000, 2001, 2002, 2003], lossMask: [false, false, false, true])
        let fine = TokenizedSample(ids: [3000, 3001], lossMask: [false, true])
        let plan = try BatchPlan(samples: [promptOnly, cutOff, fine], batchSize: 1, sequenceLength: 3, packing: true, truncation: .right, shuffle: false, seed: 0)
        XCTAssertEqual(plan.statistics.droppedWithoutTarget, 2)
        XCTAssertEqual(plan.statistics.truncated, 1)
        XCTAssertEqual(plan.statistics.samples, 1)
        XCTAssertEqual(plan.batch(epoch: 0, index: 0).ids, [3000, 3001, 0])
        XCTAssertThrowsError(try BatchPlan(samples: [promptOnly, cutOff], batchSize: 1, sequenceLength: 3, packing: true, truncation: .drop, shuffle: false, seed: 0)) {
            XCTAssertEqual("\($0)", "none of the 2 samples is left to train on: 1 longer than sequence_length 3 (truncation: drop; raise sequence_length or truncate); "
                + "1 with no target token left (is the completion cut off by truncation?)")
        }
    }
}
