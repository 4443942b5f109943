import ArgumentParser
import Foundation
import SLMTensor

@main
struct SLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slm",
        abstract: "Fine-tune, distil, quantize and evaluate small language models on one CPU box.",
        version: VersionInfo.text,
        subcommands: [Train.self, TeacherCommand.self, Eval.self, DataCommand.self, RecipeCommand.self, Generate.self, Inspect.self, Serve.self, Merge.self, Pull.self, Bench.self])

    static func main() {
        restartWithFasterBLASIfNeeded()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// OpenBLAS reads its settings when it is loaded; when the environment lacks the ones
    /// slm wants (see `OpenBLASEnvironment`), run slm again with them set.
    private static func restartWithFasterBLASIfNeeded() {
        let missing = OpenBLASEnvironment.missing()
        guard !missing.isEmpty else { return }
        for (name, value) in missing { setenv(name, value, 1) }
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv returns only on failure; carry on with the kernels OpenBLAS chose.
    }
}
