import ArgumentParser
import Foundation
import SLMBenchmarks
import SLMTensor

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine: sgemm rates, a SmolLM2-135M block, attention and loss head, a LoRA training step, and generation speed.")

    enum Part: String, ExpressibleByArgument, CaseIterable {
        case gemm, block, attention, loss, train, generate
        /// Not in the default set: minutes of work and gigabytes, and its peak memory needs a process of its own.
        case memory1B = "memory-1b"
        /// Not in the default set: writes and reads a 1M-token teacher cache (~100 MB) in the temporary folder.
        case teacherCache = "teacher-cache"
        /// Not in the default set: encoding speed of each tokenizer vocabulary on the `--text` file.
        case tokenizer

        static let defaults: [Part] = [.gemm, .block, .attention, .loss, .train, .generate]
    }

    @Option(help: "Threads for OpenBLAS and slm's kernels.")
    var threads = 2

    @Option(help: "Timed runs per figure (the median is reported).")
    var runs = 5

    @Option(help: "The GGUF model of the generate part.")
    var model = GenerationBenchmark.defaultModelPath

    @Option(help: "Run only these parts (\(Part.allCases.map(\.rawValue).joined(separator: ", "))); default all but memory-1b.")
    var only: [Part] = []

    @Option(help: "The text file the tokenizer part encodes, line by line (benchmarks/tokenizer/run.sh makes one).")
    var text: String?

    @OptionGroup(title: "Training parts (train, memory-1b)")
    var training: TrainingOptions

    func validate() throws {
        if runs < 1 { throw ValidationError("--runs must be at least 1, got \(runs)") }
        if only.contains(.memory1B) && only.count > 1 {
            throw ValidationError("memory-1b reports the process's peak memory, so it runs alone: slm bench --only memory-1b --base q8_0")
        }
    }

    func run() throws {
        Parallel.setThreads(threads)
        let parts = only.isEmpty ? Part.defaults : only
        if parts == [.teacherCache] { return try teacherCache() }
        if parts == [.tokenizer] { return try tokenizer() }
        print("slm bench: \(threads) threads, median of \(runs) runs")
        let peak = GemmBenchmark.peak(runs: runs)
        print(String(format: "sgemm %-28@ %27@ %6.1f GFLOP/s", peak.label, "", peak.gflops))
        // The peak's matrices would otherwise stay pooled and count in the training parts' peak memory.
        BufferPool.shared.drain()
        if parts.contains(.train) { try training.train(model: model, peak: peak) }
        if parts.contains(.memory1B) { try training.memory1B(peak: peak) }
        if parts.contains(.gemm) || parts.contains(.attention) {
            let tiles = GemmBenchmark.attentionTiles(runs: runs), onePeak = tiles[0].gflops
            func printTile(_ kernel: String, _ row: GemmBenchmark.Row) {
                print(String(format: "%-34@ %5d × %5d × %5d %8.1f GFLOP/s  %5.1f%% of one-thread peak (%.1f)",
                             "\(kernel) \(row.label)", row.m, row.n, row.k, row.gflops, 100 * row.gflops / onePeak, onePeak))
            }
            for row in tiles.dropFirst() { printTile("sgemm", row) }
            for row in GemmBenchmark.attentionTilesOnSmallGemm(runs: runs) { printTile("slm tile kernel", row) }
        }
        if parts.contains(.gemm) {
            for row in GemmBenchmark.trainingShapes(runs: runs) {
                print(String(format: "sgemm %-28@ %5d × %5d × %5d %8.1f GFLOP/s  %5.1f%% of peak",
                             row.label, row.m, row.n, row.k, row.gflops, 100 * row.gflops / peak.gflops))
            }
        }
        var steps: [StepBenchmark.Row] = []
        if parts.contains(.block) {
            steps.append(try StepBenchmark.block(trainWeights: false, runs: runs))
            steps.append(try StepBenchmark.block(trainWeights: true, runs: runs))
        }
        if parts.contains(.attention) {
            steps.append(try StepBenchmark.attention(runs: runs))
            // A long sequence, where attention's share of a training step grows with T and its per-tile
            // work (the diagonal tile's staircase, each row's softmax passes) weighs less.
            steps.append(try StepBenchmark.attention(batch: 1, sequence: 2048, runs: runs))
        }
        if parts.contains(.loss) { steps.append(try StepBenchmark.lossHead(runs: runs)) }
        if !steps.isEmpty { print("forward+backward at batch 4 × 256 tokens where a row names no other shape (SmolLM2-135M shapes):") }
        for row in steps {
            print(String(format: "%-44@ %7.2f ms  matmul %7.2f ms  other %5.1f%%  %6.1f GFLOP/s  %5.1f%% of peak",
                         row.label, row.seconds * 1e3, row.matmulSeconds * 1e3, 100 * row.otherShare,
                         row.gflops, 100 * row.gflops / peak.gflops))
            if let share = row.alternatedShareOfPeak {
                print(String(format: "  (alternated run by run with the 2048³ sgemm: median %.1f%% of the peak right after it, "
                             + "%.1f%% on the next run, caches warm again)", 100 * share.afterPeak, 100 * share.warm))
            }
            if let counted = row.flopsCounted {
                print(String(format: "  (fastest of the %d runs: %.2f ms, %.1f%% of the peak, itself a fastest run)",
                             runs, row.fastestSeconds * 1e3, 100 * row.flops / row.fastestSeconds / 1e9 / peak.gflops))
                print(String(format: "  (%@: GFLOP/s count %.0f FLOPs per run, %@)", row.label, row.flops, counted))
            }
        }
        if parts.contains(.teacherCache) { try teacherCache() }
        if parts.contains(.generate) {
            guard FileManager.default.fileExists(atPath: model) else {
                print("generate: skipped, no model at \(model) (run scripts/setup, or pass --model)")
                return
            }
            for keepQuantized in [true, false] {
                let r = try GenerationBenchmark.run(modelPath: model, keepQuantized: keepQuantized, runs: runs)
                let weights = keepQuantized ? "projections kept quantized, as slm generate" : "weights dequantized to f32, --dequantize"
                print("generation, \((model as NSString).lastPathComponent) (\(weights)), batch 1, greedy:")
                print(String(format: "prompt processing, %d-token prompt %27.1f tokens/s", r.promptTokens, r.promptTokensPerSecond))
                print(String(format: "generation, %d new tokens after a short prompt %15.1f tokens/s  (%.0f%% in matmuls)",
                             r.generatedTokens, r.generationTokensPerSecond, 100 * r.generationMatmulShare))
            }
        }
    }

    /// Tokens per second of each tokenizer vocabulary on `--text`, one thread.
    private func tokenizer() throws {
        guard let text else { throw ValidationError("the tokenizer part needs --text FILE") }
        guard let data = FileManager.default.contents(atPath: text) else { throw ValidationError("cannot read \(text)") }
        // Split at "\n" bytes, as Python's str.split("\n") does (a Swift Character would keep "\r\n" whole).
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        print("slm tokenizer bench: \(data.count) bytes in \(lines.count) lines, one thread, median of \(runs) runs")
        for (name, tokenizer) in try TokenizerBenchmark.vocabularies(modelPath: model) {
            let r = TokenizerBenchmark.run(name: name, tokenizer: tokenizer, lines: lines, runs: runs)
            print(String(format: "slm   %-28@ %9d tokens %8.3f s %11.0f tokens/s", r.name, r.tokens, r.seconds, r.tokensPerSecond))
        }
    }

    /// Top-20 entries for 1M tokens written to and read from an HDF5 teacher cache.
    private func teacherCache() throws {
        let path = NSTemporaryDirectory() + "slm-bench-teacher-cache-\(getpid()).h5"
        let r = try TeacherCacheBenchmark.run(path: path)
        let raw = Double(r.tokens * (4 + 8 * r.k)) / 1e6  // tokens int32 + ids int32 + log-probs float32, as in memory
        print(String(format: "teacher cache, %d tokens × top-%d, file %.1f MB (%.1f bytes/token):", r.tokens, r.k, Double(r.fileBytes) / 1e6, Double(r.fileBytes) / Double(r.tokens)))
        print(String(format: "  write %6.2f s  %9.0f tokens/s  %7.1f MB/s of file  %7.1f MB/s in memory", r.writeSeconds, Double(r.tokens) / r.writeSeconds, Double(r.fileBytes) / 1e6 / r.writeSeconds, raw / r.writeSeconds))
        print(String(format: "  read  %6.2f s  %9.0f tokens/s  %7.1f MB/s of file  %7.1f MB/s in memory", r.readSeconds, Double(r.tokens) / r.readSeconds, Double(r.fileBytes) / 1e6 / r.readSeconds, raw / r.readSeconds))
    }
}
