import SLMTensor
import XCTest

/// Forward + backward timings of the layer ops at SmolLM2-135M sizes (1024 tokens, C 576, F 1536, 9 heads × 64),
/// 2 threads (SLM_BENCH_THREADS=n for another count). Skipped unless SLM_BENCH=1, since timings need a quiet machine:
///     SLM_BENCH=1 swift test -c release --disable-swift-testing --filter LayersTimingTests
final class LayersTimingTests: XCTestCase {
    func testTimings() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["SLM_BENCH"] == "1", "set SLM_BENCH=1 to time the layer ops")
        let threads = Int(ProcessInfo.processInfo.environment["SLM_BENCH_THREADS"] ?? "") ?? 2
        print("layer op timings, \(threads) threads, median of 20")
        try LayersTest.withThreads(threads) {
            let x = LayersTest.leaf([1024, 576], seed: 1), w = LayersTest.leaf([576], seed: 2), b = LayersTest.leaf([576], seed: 3)
            let gate = LayersTest.leaf([1024, 1536], seed: 4), up = LayersTest.leaf([1024, 1536], seed: 5)
            let q = LayersTest.leaf([1024, 9, 64], seed: 6)
            let positions = (0..<1024).map { Int32($0 % 256) }
            let frequencies = try RopeFrequencies.standard(base: 100_000, rotaryDim: 64)
            let cases: [(String, [Tensor], () throws -> Tensor)] = [
                ("rmsNorm [1024, 576]", [x, w], { try x.rmsNorm(weight: w, eps: 1e-5) }),
                ("layerNorm [1024, 576]", [x, w, b], { try x.layerNorm(weight: w, bias: b, eps: 1e-5) }),
                ("swiglu [1024, 1536]", [gate, up], { try Tensor.swiglu(gate: gate, up: up) }),
                ("geglu tanh [1024, 1536]", [gate, up], { try Tensor.geglu(gate: gate, up: up, approximation: .tanh) }),
                ("gelu [1024, 1536]", [gate], { try gate.gelu() }),
                ("silu [1024, 1536]", [gate], { try gate.silu() }),
                ("rope [1024, 9, 64]", [q], { try q.rope(positions: positions, frequencies: frequencies) }),
                ("dropout [1024, 576]", [x], { try x.dropout(probability: 0.1, seed: 3) }),
                ("narrow [1024, 1536] → 768", [gate], { try gate.narrow(lastAxis: 0..<768) }),
            ]
            for (name, inputs, f) in cases {
                let forward = try LayersTest.milliseconds { _ = try GradMode.withoutGrad(f) }
                let g = try GradMode.withoutGrad(f).detached()
                let both = try LayersTest.milliseconds {
                    for t in inputs { t.zeroGrad() }
                    try f().backward(seed: g)
                }
                print(String(
                    format: "%@: forward %.3f ms (cpu %.3f), forward + backward %.3f ms (cpu %.3f)",
                    name, forward.wall, forward.cpu, both.wall, both.cpu))
            }
        }
    }
}
