import CBLAS
import Synchronization

/// Thread settings shared by OpenBLAS and slm's own kernels.
///
/// Work is split into `threads` contiguous chunks whose boundaries depend only
/// on the problem size and the thread count, and every output element is
/// written by exactly one chunk, so results are bitwise identical from run to
/// run for the same thread count. The chunks run on the calling thread and the
/// `WorkerPool`'s threads.
public enum Parallel {
    nonisolated(unsafe) private static var configuredThreads = 1
    /// Workers for `threads` − 1; replaced, and the old one stopped, when the thread count changes.
    nonisolated(unsafe) private static var pool: WorkerPool?
    private static let workerRegions = Atomic<Int>(0)

    /// True while some `forEachChunk` is running its chunks on several threads.
    public static var isInsideWorkers: Bool { workerRegions.load(ordering: .relaxed) > 0 }

    /// Threads used by OpenBLAS and by `forEachChunk`.
    public static var threads: Int { configuredThreads }

    public static func setThreads(_ n: Int) {
        configuredThreads = max(1, n)
        openblas_set_num_threads(Int32(configuredThreads))
        guard (pool?.workers ?? 0) != configuredThreads - 1 else { return }
        pool?.stop()
        pool = configuredThreads > 1 ? WorkerPool(workers: configuredThreads - 1) : nil
    }

    /// Calls `body` on disjoint contiguous sub-ranges of `0..<count`, in parallel.
    /// `minChunk` keeps tiny problems on one thread.
    public static func forEachChunk(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(configuredThreads, max(1, count / max(minChunk, 1)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        workerRegions.add(1, ordering: .relaxed)
        defer { workerRegions.subtract(1, ordering: .relaxed) }
        guard let pool else {
            for c in 0..<chunks { body(chunkRange(c, of: chunks, count: count)) }
            return
        }
        pool.run(chunks: chunks) { c in body(chunkRange(c, of: chunks, count: count)) }
    }

    /// Calls `body(i)` for every i in `0..<count`, split across threads.
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Int) -> Void) {
        forEachChunk(count, minChunk: minChunk) { range in
            for i in range { body(i) }
        }
    }

    static func chunkRange(_ c: Int, of chunks: Int, count: Int) -> Range<Int> {
        let base = count / chunks, extra = count % chunks
        let start = c * base + min(c, extra)
        return start..<(start + base + (c < extra ? 1 : 0))
    }
}
