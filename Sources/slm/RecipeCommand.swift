import ArgumentParser
import Foundation
import SLMModel
import SLMTraining

/// `slm recipe check`: validates a recipe file, reporting every problem or summarising the run.
struct RecipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipe",
        abstract: "Work with recipe files (the YAML a training run reads; see docs/recipes.md).",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a recipe: list every problem as file:line: key: message, or summarise the run.",
            discussion: "Relative paths in the recipe are resolved against the current directory. Exits 1 when there are problems.")

        @Argument(help: "A recipe file (YAML).")
        var recipe: String

        @Option(name: .customLong("set"), help: ArgumentHelp("Override a key, e.g. --set train.lr=1e-4 (repeatable).", valueName: "key.path=value"))
        var overrides: [String] = []

        func run() throws {
            let r: Recipe
            do {
                r = try RecipeLoader.load(path: recipe, overrides: overrides)
            } catch let error as RecipeError {
                let count = error.problems.count
                FileHandle.standardError.write(Data("\(error)\n\(count) problem\(count == 1 ? "" : "s")\n".utf8))
                throw ExitCode.failure
            }
            print("\(recipe): ok")
            print("model:  \(r.model.path) (chat template \(r.model.chatTemplate.rawValue)\(r.model.keepQuantized ? ", kept quantized" : ""))")
            if let lora = r.lora {
                print("method: LoRA r \(lora.r), alpha \(compact(lora.alpha))\(lora.useRSLoRA ? " (rsLoRA)" : ""), dropout \(compact(lora.dropout)) on \(lora.targetModules == [Recipe.LoRASection.allLinear] ? "all-linear (every projection of the model)" : lora.targetModules.joined(separator: ", "))")
            } else {
                print("method: full fine-tuning of \(r.train.trainable.joined(separator: ", "))")
            }
            let heldout = r.data.heldout ?? r.data.heldoutFraction.map { "\(compact($0 * 100))% of the training file" } ?? "none"
            print("data:   \(r.data.train) (format \(r.data.format.rawValue), loss on \(r.data.lossOn.rawValue)); held out: \(heldout)")
            let length = r.train.steps.map { "\($0) steps" } ?? r.train.epochs.map { "\(compact($0)) epoch\($0 == 1 ? "" : "s")" } ?? ""
            print("train:  \(length), lr \(compact(r.train.lr)) \(r.train.schedule.rawValue), \(r.train.warmupSteps) warmup steps")
            print("tokens per optimizer step: \(r.train.batchSize) batch × \(r.train.gradientAccumulation) accumulation × \(r.data.sequenceLength) tokens = \(r.tokensPerOptimizerStep)")
            print("output: \(r.output.dir)")
            if let x = r.export {
                let kind = x.format == .gguf ? "GGUF \(x.quants.map(\.rawValue).joined(separator: ", "))" : x.format == .safetensors ? "Hugging Face folder, \(x.dtype.rawValue)" : "LoRA adapter GGUF"
                let out = x.exportPath(outputDir: r.output.dir), types = x.fileTypes
                let paths = types.count > 1 ? types.map { MergeExport.path(out, fileType: $0, of: types.count) } : [out]
                print("export: \(kind) → \(paths.joined(separator: ", "))\(x.verify ? ", verified" : "")")
            }
        }

        /// 32 rather than 32.0; 0.0002 as it is.
        private func compact<Number: BinaryFloatingPoint>(_ x: Number) -> String { String(format: "%g", Double(x)) }
    }
}
