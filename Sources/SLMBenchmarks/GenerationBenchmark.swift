import SLMModel
import SLMTensor

/// Inference speed of a GGUF model, as llama-bench measures it: prompt processing (`-p 512`, one
/// 512-token prompt into an empty cache) and generation (`-n 128`, greedy, batch 1, 128 new tokens
/// after a short prompt, EOS ignored).
public enum GenerationBenchmark {
    public struct Result: Sendable {
        public let promptTokens: Int
        public let promptTokensPerSecond: Double
        public let generatedTokens: Int
        public let generationTokensPerSecond: Double
        /// Share of a generation step spent in matmuls: sgemm/sgemv and `QuantizedGemv` (the
        /// projections and the output head).
        public let generationMatmulShare: Double
    }

    public static let defaultModelPath = "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// Medians of `runs` runs each (after a warm-up) for the model at `path`, its projections kept
    /// in their ggml blocks (`keepQuantized`, as `slm generate` loads it) or dequantized to Float32.
    public static func run(modelPath path: String, keepQuantized: Bool, promptTokens: Int = 512, newTokens: Int = 128, runs: Int) throws -> Result {
        let file = try GGUFFile(path: path)
        let model = try GGUFModelLoader.load(file, keepQuantized: keepQuantized)
        let tokenizer = try BPETokenizer.load(gguf: file)
        let generator = try Generator(model: model, tokenizer: tokenizer, contextLength: promptTokens + newTokens + 64)

        // A prompt of ordinary tokens, the same every run.
        let vocab = UInt64(model.config.vocabSize - 1000)
        let longPrompt = (0..<promptTokens).map { Int32(500 + SplitMix64.next(seed: 7, index: UInt64($0)) % vocab) }
        let promptSeconds = try medianSeconds(runs: runs) {
            generator.cache.reset()
            _ = try model.nextTokenLogits(longPrompt, cache: generator.cache)
        }

        let shortPrompt = tokenizer.encode("<|im_start|>user\nTell me a long story about a lighthouse.<|im_end|>\n<|im_start|>assistant\n")
        let parameters = GenerationParameters(maxTokens: newTokens, stopTokenIds: [])
        var rates: [(tokensPerSecond: Double, matmulShare: Double)] = []
        for _ in 0...runs {
            generator.cache.reset()
            try generator.start(prompt: shortPrompt, parameters: parameters)
            Gemm.resetCounters()
            Gemm.profiling = true
            defer { Gemm.profiling = false }
            _ = try generator.next()
            let begin = Gemm.seconds
            while try generator.next() != nil {}
            let s = generator.statistics
            rates.append((s.generationTokensPerSecond, (Gemm.seconds - begin) / s.generationSeconds))
        }
        rates.removeFirst()
        let median = rates.sorted { $0.tokensPerSecond < $1.tokensPerSecond }[rates.count / 2]
        return Result(
            promptTokens: promptTokens, promptTokensPerSecond: Double(promptTokens) / promptSeconds,
            generatedTokens: newTokens, generationTokensPerSecond: median.tokensPerSecond, generationMatmulShare: median.matmulShare)
    }
}
