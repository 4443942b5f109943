import Dispatch
import SLMTensor
import XCTest

/// `Parallel.forEachChunk` on its worker pool: every index once, also when called from inside a
/// chunk or from several threads at once.
final class ParallelTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testEveryIndexRunsOnceAcrossManyCalls() {
        let count = 1000
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: count)
        for _ in 0..<2000 {
            Parallel.forEachChunk(count) { range in for i in range { hits[i] += 1 } }
        }
        XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 2000 })
    }

    func testNestedAndConcurrentCallsRunEveryIndex() {
        let outer = 8, inner = 64
        nonisolated(unsafe) let hits = UnsafeMutablePointer<Int>.allocate(capacity: 2 * outer * inner)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 2 * outer * inner)
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for _ in 0..<200 {
                Parallel.forEach(outer) { o in
                    Parallel.forEach(inner) { i in hits[(caller * outer + o) * inner + i] += 1 }
                }
            }
        }
        XCTAssertTrue((0..<(2 * outer * inner)).allSatisfy { hits[$0] == 200 })
    }
}
