import Dispatch
import Foundation
import Synchronization

/// The threads behind `Parallel.forEachChunk`: `workers` threads that live until `stop()` and
/// wait for jobs, spinning for `spinNanoseconds` after each one before they sleep.
///
/// A job is `chunks` calls `run(c)`, c in 0..<chunks. Its caller publishes it, then claims chunks
/// itself like any worker, and returns when all have run; a chunk is claimed by one thread with a
/// compare-and-swap on `state` (the job's generation in the high 32 bits, the next chunk in the
/// low), so a worker that wakes late finds nothing left, or a newer generation it has not read the
/// job of, and never runs a chunk twice or of a finished job. Which thread runs a chunk varies;
/// what a chunk computes does not, so results stay bitwise repeatable.
///
/// Why not `DispatchQueue.concurrentPerform`: it wakes a worker for every call, ~12 µs on this
/// 2-core machine, while a decoding step of SmolLM2-135M makes ~400 parallel calls of 5–50 µs each;
/// with it, 2 threads generated no faster than 1 (51.7 vs 49.3 tokens/s, benchmarks/README.md).
final class WorkerPool: @unchecked Sendable {
    /// A job's body, reached through an unretained reference while its caller keeps it alive.
    private final class Job {
        let run: (Int) -> Void
        init(_ run: @escaping (Int) -> Void) { self.run = run }
    }

    let workers: Int
    private let spinNanoseconds: UInt64
    private let state = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    /// Written by the caller before it publishes a generation, read by a worker only after it has
    /// claimed a chunk of that generation (so while the caller waits for it).
    nonisolated(unsafe) private var job: Unmanaged<Job>?
    /// The job's generation (high 32 bits) and chunk count (low): a worker that read `state` of the
    /// job before, then was descheduled while the caller set up this one, sees that the count is
    /// not its job's, instead of claiming a chunk past its job's end that belongs to this one.
    private let chunks = Atomic<Int>(0)

    init(workers: Int, spinNanoseconds: UInt64 = 100_000) {
        self.workers = workers
        self.spinNanoseconds = spinNanoseconds
        for _ in 0..<workers {
            let thread = Thread {
                Thread.current.name = "slm worker"  // for ps, top, perf and debuggers
                self.work()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Runs `run(c)` for c in 0..<chunks on the caller and the workers. A call made while the pool is
    /// busy (from inside a chunk, or from another thread) runs its chunks in order on its own thread.
    func run(chunks: Int, _ run: (Int) -> Void) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0..<chunks { run(c) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(run) { run in
            let body = Job(run)
            job = Unmanaged.passUnretained(body)
            finished.store(0, ordering: .relaxed)
            let generation = publishGeneration(chunks: chunks)
            claimChunks(of: generation)
            while finished.load(ordering: .acquiring) < chunks {}
            job = nil
            withExtendedLifetime(body) {}
        }
    }

    /// Waits for a job running on the pool to end, then ends the workers. Calls made after run their
    /// chunks on the caller, as calls made while the pool is busy do.
    func stop() {
        while !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {}
        stopping.store(true, ordering: .sequentiallyConsistent)
        _ = publishGeneration(chunks: 0)
    }

    /// Publishes the next generation, a job of `chunks` chunks (`job` set before), and wakes the
    /// sleeping workers; returns the generation.
    private func publishGeneration(chunks: Int) -> Int {
        let generation = (state.load(ordering: .relaxed) >> 32 + 1) & 0x7FFF_FFFF
        self.chunks.store(generation << 32 | chunks, ordering: .relaxed)
        state.store(generation << 32, ordering: .sequentiallyConsistent)
        for _ in 0..<sleepers.load(ordering: .sequentiallyConsistent) { wake.signal() }
        return generation
    }

    /// A worker: wait for a new generation (spinning, then asleep), claim its chunks, repeat until stopped.
    private func work() {
        var seen = state.load(ordering: .acquiring) >> 32
        while !stopping.load(ordering: .sequentiallyConsistent) {
            var spins = 0, since: UInt64 = 0
            while state.load(ordering: .acquiring) >> 32 == seen {
                spins += 1
                guard spins & 63 == 0 else { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if since == 0 {
                    since = now
                } else if now - since > spinNanoseconds {
                    // Counted before the last look, so a caller publishing after it signals us.
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    if state.load(ordering: .sequentiallyConsistent) >> 32 == seen { wake.wait() }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    since = 0
                }
            }
            seen = state.load(ordering: .acquiring) >> 32
            claimChunks(of: seen)
        }
    }

    /// Claims and runs chunks of `generation` until none is left or a newer job has replaced it.
    private func claimChunks(of generation: Int) {
        while true {
            var current = state.load(ordering: .acquiring), chunk = 0
            while true {
                guard current >> 32 == generation else { return }
                chunk = current & 0xFFFF_FFFF
                let published = chunks.load(ordering: .relaxed)
                guard published >> 32 == generation, chunk < published & 0xFFFF_FFFF else { return }
                let (claimed, now) = state.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
                if claimed { break }
                current = now
            }
            job!._withUnsafeGuaranteedRef { $0.run(chunk) }
            finished.add(1, ordering: .releasing)
        }
    }
}
