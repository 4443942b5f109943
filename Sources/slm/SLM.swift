import ArgumentParser
import Foundation
import SLMTensor

@main
struct SLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slm",
        abstract: "Fine-tune, distil, quantize and evaluate small language models on one CPU box.",
        version: VersionInfo.text,
        subcommands: [Bench.self])

    static func main() {
        restartWithFasterBLASIfNeeded()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// OpenBLAS picks its kernels when it is loaded; when it would fall back to slow
    /// generic ones on this CPU, run slm again with the right `OPENBLAS_CORETYPE`.
    private static func restartWithFasterBLASIfNeeded() {
        guard let core = BLASCore.recommendedOverride() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv returns only on failure; carry on with the kernels OpenBLAS chose.
    }
}
