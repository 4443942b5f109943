import SLMTensor
import XCTest

/// Helpers shared by the layer-op tests (NormsTests, ActivationsTests, RopeTests, DropoutTests).
enum LayersTest {
    /// Runs `body` with `n` threads, restoring the previous setting afterwards.
    static func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let saved = Parallel.threads
        Parallel.setThreads(n)
        defer { Parallel.setThreads(saved) }
        return try body()
    }

    /// Fresh leaves with uniform values in [low, high), one seed each.
    static func leaf(_ shape: [Int], low: Float = -1, high: Float = 1, seed: UInt64) -> Tensor {
        Tensor.uniform(shape, low: low, high: high, seed: seed, requiresGrad: true)
    }

    /// The output of `f` and the gradients its inputs receive for the upstream gradient `seed`.
    static func run(_ inputs: [Tensor], seed: Tensor? = nil, _ f: () throws -> Tensor) throws -> (Tensor, [Tensor?]) {
        for x in inputs { x.zeroGrad() }
        let y = try f()
        let g = seed ?? Tensor.uniform(y.shape, seed: 99)
        if y.requiresGrad { try y.backward(seed: g) }
        return (y, inputs.map(\.grad))
    }

    /// Asserts `body` throws a `TensorError` from `op` whose message mentions every string in `mentions`.
    static func assertThrows(
        _ op: String, mentioning mentions: [String] = [], file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> Any
    ) {
        do {
            _ = try body()
            XCTFail("expected a \(op) error", file: file, line: line)
        } catch let error as TensorError {
            XCTAssertEqual(error.op, op, "\(error)", file: file, line: line)
            for m in mentions { XCTAssertTrue(error.message.contains(m), "\(error) should mention \(m)", file: file, line: line) }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    /// Asserts two tensors hold bitwise identical values.
    static func assertIdentical(_ a: Tensor?, _ b: Tensor?, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let a, let b else { return XCTFail("missing tensor: \(message)", file: file, line: line) }
        XCTAssertEqual(a.shape, b.shape, message, file: file, line: line)
        XCTAssertTrue(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern), "not bitwise identical: \(message)", file: file, line: line)
    }

    /// Median wall time and median process CPU time of `body` in milliseconds over `runs` runs after one warm-up.
    /// On a shared machine the CPU time of a 1-thread run is the steadier figure.
    static func milliseconds(runs: Int = 20, _ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
        func cpuNow() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
            return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
        }
        try body()
        var wall: [Double] = [], cpu: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds, cpuStart = cpuNow()
            try body()
            wall.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            cpu.append(cpuNow() - cpuStart)
        }
        return (wall.sorted()[runs / 2], cpu.sorted()[runs / 2])
    }
}
