import SLMTensor

/// sgemm rates at the shapes a SmolLM2-135M training step runs, beside a large square sgemm as the machine's peak.
public enum GemmBenchmark {
    public struct Row: Sendable {
        public let label: String
        public let m: Int, n: Int, k: Int
        public let gflops: Double

        /// The rate of an m × n × k product (2·m·n·k FLOPs) that took `seconds`.
        init(label: String, m: Int, n: Int, k: Int, seconds: Double) {
            (self.label, self.m, self.n, self.k) = (label, m, n, k)
            gflops = 2 * Double(m * n * k) / seconds / 1e9
        }
    }

    /// C[m×n] = op(A)·op(B) timed as a median of `runs` (the fastest run when `fastest`).
    public static func rate(_ label: String, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, runs: Int, fastest: Bool = false) -> Row {
        let multiply = product(transA: transA, transB: transB, m: m, n: n, k: k)
        let seconds = fastest ? fastestSeconds(runs: runs, multiply) : medianSeconds(runs: runs, multiply)
        return Row(label: label, m: m, n: n, k: k, seconds: seconds)
    }

    /// The side of the square product whose rate is the machine's peak.
    static let peakSide = 2048

    /// One run of the peak's product, and its FLOPs: for figures timed alternately with it.
    public static func peakProduct() -> (run: () -> Void, flops: Double) {
        let n = peakSide
        return (product(transA: false, transB: false, m: n, n: n, k: n), 2 * Double(n * n * n))
    }

    /// C[m×n] = op(A)·op(B) on uniform random inputs, as a closure that runs it once.
    private static func product(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> () -> Void {
        let a = Tensor.uniform([m * k], seed: 1), b = Tensor.uniform([k * n], seed: 2), c = Tensor(uninitialized: [m * n])
        return {
            Gemm.sgemm(
                transA: transA, transB: transB, m: m, n: n, k: k,
                a: a.data, lda: transA ? m : k, b: b.data, ldb: transB ? k : n, c: c.data, ldc: n)
        }
    }

    /// The per-tile products fused attention is made of at SmolLM2's head size (D = 64), on one
    /// thread as attention runs them, beside a one-thread 2048³ peak: they bound attention's rate.
    public static func attentionTiles(runs: Int = 5) -> [Row] {
        let threads = Parallel.threads
        Parallel.setThreads(1)
        defer { Parallel.setThreads(threads) }
        return [
            rate("one-thread peak \(peakSide)³", transA: false, transB: false, m: peakSide, n: peakSide, k: peakSide, runs: runs, fastest: true),
            rate("attention S = Q·Kᵀ", transA: false, transB: true, m: 192, n: 256, k: 64, runs: runs),
            rate("attention O = P·V", transA: false, transB: false, m: 192, n: 64, k: 256, runs: runs),
            rate("attention dK = dSᵀ·Q", transA: true, transB: false, m: 256, n: 64, k: 192, runs: runs),
        ]
    }

    /// The same tile products on `SmallGemm`, the kernel attention runs them on where the CPU has
    /// AVX-512 (Kᵀ stored as attention stores it, transposed once per call); empty elsewhere.
    public static func attentionTilesOnSmallGemm(runs: Int = 5) -> [Row] {
        guard SmallGemm.isAvailable else { return [] }
        return [
            smallGemmRate("S = Q·Kᵀ", m: 192, n: 256, k: 64, transposedA: false, runs: runs),
            smallGemmRate("O = P·V", m: 192, n: 64, k: 256, transposedA: false, runs: runs),
            smallGemmRate("dK = dSᵀ·Q", m: 256, n: 64, k: 192, transposedA: true, runs: runs),
        ]
    }

    private static func smallGemmRate(_ label: String, m: Int, n: Int, k: Int, transposedA: Bool, runs: Int) -> Row {
        let a = Tensor.uniform([m * k], seed: 1), b = Tensor.uniform([k * n], seed: 2), c = Tensor(uninitialized: [m * n])
        let seconds = medianSeconds(runs: runs) {
            SmallGemm.multiply(
                m: m, n: n, k: k, a: a.data, aRow: transposedA ? 1 : k, aCol: transposedA ? m : 1, b: b.data, ldb: n,
                c: c.data, ldc: n, epilogue: .plain())
        }
        return Row(label: label, m: m, n: n, k: k, seconds: seconds)
    }

    public static func peak(runs: Int = 5) -> Row {
        rate("peak \(peakSide)³ (fastest run)", transA: false, transB: false, m: peakSide, n: peakSide, k: peakSide, runs: runs, fastest: true)
    }

    /// For each projection [in → out] at `tokens` tokens: forward y = x·Wᵀ, input gradient dx = dy·W,
    /// weight gradient dW = dyᵀ·x.
    public static func trainingShapes(tokens: Int = 1024, runs: Int = 5) -> [Row] {
        let projections = [(576, 576, "q/o"), (576, 192, "k/v"), (576, 1536, "gate/up"), (1536, 576, "down"), (576, 49152, "lm head")]
        return projections.flatMap { input, output, name in
            [
                rate("\(name) forward x·Wᵀ", transA: false, transB: true, m: tokens, n: output, k: input, runs: runs),
                rate("\(name) dx = dy·W", transA: false, transB: false, m: tokens, n: input, k: output, runs: runs),
                rate("\(name) dW = dyᵀ·x", transA: true, transB: false, m: output, n: input, k: tokens, runs: runs),
            ]
        }
    }
}
