import SLMModel
import SLMTensor

/// Forward+backward timings of the pieces of a SmolLM2-135M training step at `batch` × `sequence` tokens,
/// split into time inside sgemm and everything else.
public enum StepBenchmark {
    public struct Row: Sendable {
        public let label: String
        public let seconds: Double
        public let matmulSeconds: Double
        /// The fastest of the runs (the figures above are the median run's).
        public var fastestSeconds: Double = 0
        /// The FLOPs the rate counts: every sgemm's 2·M·N·K, or the useful FLOPs the caller gave.
        public let flops: Double
        /// How `flops` was counted, printed under the figure; nil for 2·M·N·K over the sgemm calls.
        public var flopsCounted: String?
        /// When measured (`alternatingWithPeak`): medians, over runs each alternated with one run of
        /// the peak's 2048³ product, of the run's rate over that product's. Drift in a shared machine's
        /// speed moves both timings of a pair alike, so these shares move less than one against a peak
        /// timed apart. `afterPeak` times the run right after the product, whose 48 MB of operands
        /// evicted the body's data from the caches; `warm` times the run after that, with its data cached
        /// again, as in back-to-back runs.
        public var alternatedShareOfPeak: (afterPeak: Double, warm: Double)?
        public var otherShare: Double { max(0, seconds - matmulSeconds) / seconds }
        public var gflops: Double { flops / seconds / 1e9 }
    }

    /// The median and fastest of `runs` runs of `body` (after a warm-up that fills the buffer pool), timed
    /// with `Gemm`'s counters off, as training runs; then as many runs with them on, whose median run
    /// gives the matmul share, applied to the median time. The counters read the clock and take a lock
    /// around every product, which in attention's ~1,700 small products per call would otherwise
    /// count as other work and slow the timed runs. The rate counts `usefulFlops` when given, else
    /// the FLOPs of the sgemm calls. With `alternatingWithPeak`, as many pairs of runs again, each
    /// pair after one 2048³ sgemm, give `alternatedShareOfPeak`.
    static func profile(
        _ label: String, runs: Int, usefulFlops: Double? = nil, alternatingWithPeak: Bool = false, _ body: () throws -> Void
    ) throws -> Row {
        try body()
        var times: [Double] = []
        for _ in 0..<runs { times.append(try seconds(body)) }
        var counted: [(seconds: Double, matmul: Double, flops: Double)] = []
        for _ in 0..<runs {
            Gemm.resetCounters()
            Gemm.profiling = true
            defer { Gemm.profiling = false }
            let elapsed = try seconds(body)
            counted.append((elapsed, Gemm.seconds, Gemm.flops))
        }
        times.sort()
        let split = counted.sorted { $0.seconds < $1.seconds }[runs / 2]
        let median = times[runs / 2]
        var row = Row(
            label: label, seconds: median, matmulSeconds: median * min(1, split.matmul / split.seconds),
            flops: usefulFlops ?? split.flops)
        row.fastestSeconds = times[0]
        if alternatingWithPeak {
            let peak = GemmBenchmark.peakProduct()
            var afterPeak: [Double] = [], warm: [Double] = []
            for _ in 0..<runs {
                let peakRate = peak.flops / seconds(peak.run)
                afterPeak.append(row.flops / (try seconds(body)) / peakRate)
                warm.append(row.flops / (try seconds(body)) / peakRate)
            }
            row.alternatedShareOfPeak = (afterPeak.sorted()[runs / 2], warm.sorted()[runs / 2])
        }
        return row
    }

    public static func block(batch: Int = 4, sequence: Int = 256, trainWeights: Bool, runs: Int) throws -> Row {
        let config = try DecoderLayerConfig.smolLM2_135M()
        let layer = DecoderLayer(config: config, weights: .random(config, seed: 1, requiresGrad: trainWeights))
        let tokens = batch * sequence
        let positions = (0..<tokens).map { Int32($0 % sequence) }
        let x = Tensor.uniform([tokens, config.hiddenSize], seed: 2, requiresGrad: true)
        let seed = Tensor.uniform([tokens, config.hiddenSize], seed: 3)
        let label = trainWeights ? "block fwd+bwd, all weights trained" : "block fwd+bwd, frozen weights (LoRA base)"
        return try profile(label, runs: runs) {
            layer.weights.all.forEach { $0.zeroGrad() }
            x.zeroGrad()
            try layer.forward(x, batch: batch, sequence: sequence, positions: positions).backward(seed: seed)
        }
    }

    /// Fused causal attention; its rate counts only the useful FLOPs (`causalAttentionFlops`). The label
    /// names the shape when it is not the other rows' batch 4 × 256.
    public static func attention(batch: Int = 4, sequence: Int = 256, runs: Int) throws -> Row {
        let config = try DecoderLayerConfig.smolLM2_135M()
        let flops = causalAttentionFlops(batch: batch, sequence: sequence, queryHeads: config.heads, headDim: config.headDim)
        let q = Tensor.uniform([batch, sequence, config.heads, config.headDim], seed: 1, requiresGrad: true)
        let k = Tensor.uniform([batch, sequence, config.kvHeads, config.headDim], seed: 2, requiresGrad: true)
        let v = Tensor.uniform([batch, sequence, config.kvHeads, config.headDim], seed: 3, requiresGrad: true)
        let seed = Tensor.uniform(q.shape, seed: 4)
        let label = (batch, sequence) == (4, 256) ? "attention fwd+bwd" : "attention fwd+bwd, \(batch) × \(sequence) tokens"
        var row = try profile(label, runs: runs, usefulFlops: flops, alternatingWithPeak: true) {
            [q, k, v].forEach { $0.zeroGrad() }
            try Tensor.causalAttention(q: q, k: k, v: v, scale: 0.125).backward(seed: seed)
        }
        row.flopsCounted = "useful FLOPs only: 2·D per visible (query, key) pair and head, T(T+1)/2 pairs per sequence, "
            + "for 7 products (forward Q·Kᵀ, P·V; backward Q·Kᵀ recomputed, dO·Vᵀ, Pᵀ·dO, dS·K, dSᵀ·Q); "
            + "masked scores the kernel computes anyway are not counted"
        return row
    }

    /// Useful FLOPs of causal attention forward+backward over `batch` sequences of `sequence` tokens:
    /// each of the 7 products (forward Q·Kᵀ and P·V; backward Q·Kᵀ again, as FlashAttention recomputes
    /// it, dO·Vᵀ, Pᵀ·dO, dS·K and dSᵀ·Q) costs 2·D per visible (query, key) pair and query head.
    public static func causalAttentionFlops(batch: Int, sequence: Int, queryHeads: Int, headDim: Int) -> Double {
        let pairs = Double(sequence) * Double(sequence + 1) / 2
        return 7 * 2 * Double(headDim) * pairs * Double(batch * queryHeads)
    }

    /// Cross-entropy head over SmolLM2's 49,152-token vocabulary with the tied embedding frozen.
    public static func lossHead(tokens: Int = 1024, runs: Int) throws -> Row {
        let vocab = 49_152, hiddenSize = 576
        let hidden = Tensor.uniform([tokens, hiddenSize], seed: 1, requiresGrad: true)
        let weight = Tensor.uniform([vocab, hiddenSize], low: -0.05, high: 0.05, seed: 2)
        let labels = (0..<tokens).map { Int32(($0 * 7919) % vocab) }
        return try profile("loss head fwd+bwd (49,152 vocab)", runs: runs, alternatingWithPeak: true) {
            hidden.zeroGrad()
            try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels).loss.backward()
        }
    }
}
