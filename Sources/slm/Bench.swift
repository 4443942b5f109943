import ArgumentParser
import Foundation
import SLMBenchmarks
import SLMTensor

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the training engine: sgemm rates and a SmolLM2-135M block and loss head.")

    @Option(help: "Threads for OpenBLAS and slm's kernels.")
    var threads = 2

    @Option(help: "Timed runs per figure (the median is reported).")
    var runs = 5

    func run() throws {
        Parallel.setThreads(threads)
        print("slm bench: \(threads) threads, median of \(runs) runs")
        let peak = GemmBenchmark.peak(runs: runs)
        print(String(format: "sgemm %-24@ %8.1f GFLOP/s", peak.label, peak.gflops))
        for row in GemmBenchmark.trainingShapes(runs: runs) {
            print(String(format: "sgemm %-24@ %5d×%5d×%5d %8.1f GFLOP/s  %5.1f%% of peak",
                         row.label, row.m, row.n, row.k, row.gflops, 100 * row.gflops / peak.gflops))
        }
    }
}
