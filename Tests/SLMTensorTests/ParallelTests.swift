import Dispatch
import SLMTensor
import XCTest

/// `Parallel.forEachChunk` on its worker pool: every index once, also when called from inside a
/// chunk, from several threads at once, or in jobs of different sizes; a new thread count ends the
/// old workers.
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

    /// Jobs of different chunk counts back to back: a worker descheduled between reading one job's
    /// progress and its chunk count must not run a chunk of the next, larger job.
    func testJobsOfDifferentSizesRunEachChunkOnce() {
        Parallel.setThreads(3)
        defer { Parallel.setThreads(2) }
        let calls = 100_000
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 3)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 3)
        var expected = [0, 0, 0]
        for call in 0..<calls {
            let count = 2 + call % 2
            Parallel.forEachChunk(count) { range in for i in range { hits[i] += 1 } }
            for i in 0..<count { expected[i] += 1 }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: hits, count: 3)), expected)
    }

    /// Each thread count gets its own workers; the old ones end instead of sleeping for ever.
    func testChangingTheThreadCountEndsTheOldWorkers() throws {
        for round in 0..<20 {
            Parallel.setThreads(2 + round % 3)
            Parallel.forEachChunk(8) { _ in }
        }
        Parallel.setThreads(2)
        var workers = try poolThreads()
        for _ in 0..<200 where workers != 1 {
            usleep(5_000)
            workers = try poolThreads()
        }
        XCTAssertEqual(workers, 1, "2 threads need one worker beside the caller; the others are left from earlier thread counts")
    }

    /// Threads of this process named as `WorkerPool` names its workers.
    private func poolThreads() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) == "slm worker\n"
        }.count
    }
}
