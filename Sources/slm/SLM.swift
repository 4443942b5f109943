import ArgumentParser
import SLMTensor

@main
struct SLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slm",
        abstract: "Fine-tune, distil, quantize and evaluate small language models on one CPU box.",
        version: VersionInfo.text)
}
