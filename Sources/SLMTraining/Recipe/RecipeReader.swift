import Foundation
import SLMModel
import Yams

/// Builds a `Recipe` from a recipe's YAML tree: every key checked, the defaults filled in, every
/// problem logged. The recipe returned is only meaningful when the log stays empty.
enum RecipeReader {
    /// The projections LoRA can adapt, by their Hugging Face names (`qkv_proj` and `gate_up_proj`: Phi-3's fused ones).
    static let targetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "qkv_proj", "gate_up_proj"]

    /// `recipeName`: the file's name without extension, for the default `output.dir`.
    static func read(_ root: Node, recipeName: String, log: ProblemLog) -> Recipe {
        let top = RecipeSectionReader(name: "", sectionKey: nil, value: root, log: log)
        let sections = ["model", "lora", "data", "train", "output", "eval", "export", "distillation"].map(top.section)
        let (modelSection, loraSection, dataSection, trainSection, outputSection, evalSection, exportSection, distillationSection) =
            (sections[0], sections[1], sections[2], sections[3], sections[4], sections[5], sections[6], sections[7])

        let lora = self.lora(loraSection)
        var recipe = Recipe(
            model: model(modelSection),
            lora: loraSection.isPresent ? lora : nil,
            data: data(dataSection),
            train: train(trainSection),
            output: output(outputSection, recipeName: recipeName),
            eval: eval(evalSection),
            export: exportSection.isPresent ? export(exportSection) : nil)
        if exportSection.isPresent, !loraSection.isPresent {
            top.logProblem("export", "exports merge the trained LoRA adapter; a full fine-tuning run (no lora section) cannot use it yet", atKey: true)
        }
        if distillationSection.isPresent { recipe.distillation = distillation(distillationSection) }
        if loraSection.isPresent, trainSection.isGiven("trainable") {
            trainSection.logProblem("trainable", "only applies to full fine-tuning (no lora section); LoRA trains the adapters of lora.target_modules")
        }

        top.logUnknownKeys(otherSections: sections)
        for section in sections {
            section.logUnknownKeys(otherSections: sections.filter { $0 !== section })
        }
        return recipe
    }

    private static func model(_ s: RecipeSectionReader) -> Recipe.ModelSection {
        var path: String?
        s.string("path", &path)
        var model = Recipe.ModelSection(path: path ?? "")
        s.bool("keep_quantized", &model.keepQuantized)
        s.choice("dtype", &model.dtype)
        if model.keepQuantized && model.dtype == .bf16 {
            s.logProblem("dtype", "bf16 holds the base in bf16, keep_quantized keeps it in its GGUF blocks; set one of them")
        }
        s.choice("chat_template", &model.chatTemplate)
        s.string("name", &model.name)
        s.int("keep_layers", &model.keepLayers, .atLeast(1))
        s.choice("layer_selection", &model.layerSelection)
        s.int("calibration_samples", &model.calibrationSamples, .atLeast(1))
        require(s, "path", "a Hugging Face model folder or a .gguf file")
        checkExists(s, "path", path, "file or folder")
        return model
    }

    private static func lora(_ s: RecipeSectionReader) -> Recipe.LoRASection {
        var lora = Recipe.LoRASection()
        s.int("r", &lora.r, .atLeast(1))
        s.number("alpha", &lora.alpha, .above(0))
        s.number("dropout", &lora.dropout, .from(0, below: 1))
        if s.value("target_modules")?.string == Recipe.LoRASection.allLinear {
            lora.targetModules = [Recipe.LoRASection.allLinear]
        } else {
            s.strings("target_modules", &lora.targetModules, allowed: targetModules)
        }
        s.bool("use_rslora", &lora.useRSLoRA)
        return lora
    }

    private static func data(_ s: RecipeSectionReader) -> Recipe.DataSection {
        var train: String?
        s.string("train", &train)
        var data = Recipe.DataSection(train: train ?? "")
        s.string("heldout", &data.heldout)
        s.number("heldout_fraction", &data.heldoutFraction, .between(0, 1))
        s.choice("format", &data.format)
        s.choice("loss_on", &data.lossOn)
        s.int("sequence_length", &data.sequenceLength, .atLeast(8))
        s.bool("packing", &data.packing)
        s.choice("truncation", &data.truncation)
        s.bool("shuffle", &data.shuffle)
        s.choice("on_bad_line", &data.onBadLine)
        require(s, "train", "a training data file")
        checkExists(s, "train", train, "file")
        checkExists(s, "heldout", data.heldout, "file")
        if s.isGiven("heldout"), s.isGiven("heldout_fraction") {
            s.logProblem("heldout_fraction", "give heldout (a file) or heldout_fraction (of the training file), not both")
        }
        return data
    }

    private static func train(_ s: RecipeSectionReader) -> Recipe.TrainSection {
        var train = Recipe.TrainSection()
        s.int("steps", &train.steps, .atLeast(1))
        s.number("epochs", &train.epochs, .above(0))
        s.int("batch_size", &train.batchSize, .atLeast(1))
        s.int("gradient_accumulation", &train.gradientAccumulation, .atLeast(1))
        s.number("lr", &train.lr, .above(0))
        s.choice("schedule", &train.schedule)
        s.int("warmup_steps", &train.warmupSteps, .atLeast(0))
        s.number("weight_decay", &train.weightDecay, .atLeast(0))
        s.number("adam_beta1", &train.adamBeta1, .from(0, below: 1))
        s.number("adam_beta2", &train.adamBeta2, .from(0, below: 1))
        s.number("adam_eps", &train.adamEps, .above(0))
        s.number("max_grad_norm", &train.maxGradNorm, .above(0))
        s.bool("gradient_checkpointing", &train.gradientCheckpointing)
        s.seed("seed", &train.seed)
        s.strings("trainable", &train.trainable)
        s.int("threads", &train.threads, .atLeast(1))
        if s.isGiven("steps"), s.isGiven("epochs") {
            s.logProblem("epochs", "give steps or epochs, not both")
        }
        if train.steps == nil, train.epochs == nil { train.epochs = 1 }
        if let steps = train.steps, train.warmupSteps > steps {
            s.logProblem("warmup_steps", "is \(train.warmupSteps), more than steps (\(steps))")
        }
        return train
    }

    private static func export(_ s: RecipeSectionReader) -> Recipe.ExportSection {
        var export = Recipe.ExportSection()
        s.choice("format", &export.format)
        if case .sequence? = s.value("quant") {
            var names = export.quants.map(\.rawValue)
            s.strings("quant", &names, allowed: GGUFFileType.allCases.map(\.rawValue))
            export.quants = names.compactMap(GGUFFileType.init(rawValue:))
        } else {
            var quant = export.quants[0]
            s.choice("quant", &quant)
            export.quants = [quant]
        }
        s.choice("dtype", &export.dtype)
        s.string("path", &export.path)
        s.bool("verify", &export.verify)
        return export
    }

    private static func output(_ s: RecipeSectionReader, recipeName: String) -> Recipe.OutputSection {
        var output = Recipe.OutputSection(dir: "runs/\(recipeName)")
        s.string("dir", &output.dir)
        s.int("checkpoint_every", &output.checkpointEvery, .atLeast(0))
        s.int("log_every", &output.logEvery, .atLeast(1))
        return output
    }

    private static func eval(_ s: RecipeSectionReader) -> Recipe.EvalSection {
        var eval = Recipe.EvalSection()
        s.int("every", &eval.every, .atLeast(0))
        s.bool("at_start", &eval.atStart)
        s.int("max_samples", &eval.maxSamples, .atLeast(1))
        s.bool("generate", &eval.generate)
        s.int("max_new_tokens", &eval.maxNewTokens, .atLeast(1))
        s.bool("report", &eval.report)
        s.choice("task", &eval.task)
        var target: Double? = eval.targetAccuracy
        s.number("target_accuracy", &target, ValueRange(lower: 0, lowerIncluded: false, upper: 1, upperIncluded: true))
        eval.targetAccuracy = target ?? eval.targetAccuracy
        return eval
    }

    /// A required key left out or null (a value of the wrong type has been reported already).
    static func require(_ s: RecipeSectionReader, _ key: String, _ what: String) {
        if !s.isGiven(key) { s.logProblem(key, "missing: give \(what)") }
    }

    /// Relative paths are resolved against the current directory, as the trainer will open them.
    static func checkExists(_ s: RecipeSectionReader, _ key: String, _ path: String?, _ what: String) {
        guard let path, !path.isEmpty, !FileManager.default.fileExists(atPath: path) else { return }
        let cwd = FileManager.default.currentDirectoryPath
        let resolution = path.hasPrefix("/") ? "" : " (relative paths are resolved against the current directory, \(cwd))"
        s.logProblem(key, "no such \(what): \(path)\(resolution)")
    }
}
