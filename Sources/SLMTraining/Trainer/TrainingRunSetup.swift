import Foundation
import SLMModel
import SLMTensor

/// Everything a recipe asks for before the first step: the model and tokenizer, the chat template,
/// the data as batches, the held-out set, and what is trained. Each piece reports what it found
/// through `log`, one line at a time.
public enum TrainingRunSetup {
    /// A recipe's model section, loaded.
    public struct LoadedModel {
        public var model: Transformer
        public let tokenizer: BPETokenizer
        /// nil: plain text.
        public let template: ChatTemplate?
    }

    /// A recipe's data section, read and laid out in batches.
    public struct PreparedData {
        public let records: TrainingData
        public let formatter: SampleFormatter
        /// The training batches, as the trainer reads them.
        public let plan: BatchPlan
    }

    public static func prepare(_ recipe: Recipe, progress: ProgressReporter) throws -> Trainer {
        if let threads = recipe.train.threads { Parallel.setThreads(threads) }
        var loaded = try loadModel(recipe.model, log: progress.message)
        let data = try prepareData(recipe, tokenizer: loaded.tokenizer, template: loaded.template, log: progress.message)
        var keptLayers: KeptLayers?
        if let keep = recipe.model.keepLayers {
            let kept = try layersToKeep(loaded.model, keep: keep, recipe.model, calibration: data.plan.samples, log: progress.message)
            keptLayers = KeptLayers(baseLayers: loaded.model.layers.count, keptLayers: kept)
            loaded.model = loaded.model.keepingLayers(kept)
        }
        let heldout = try heldoutSet(data.records.heldout, formatter: data.formatter, recipe: recipe)
        var trainable: TrainableParameters
        if let lora = recipe.lora {
            trainable = try .lora(lora, model: loaded.model, baseModel: recipe.model.name ?? recipe.model.path, seed: recipe.train.seed)
        } else {
            trainable = try .full(model: loaded.model, patterns: recipe.train.trainable)
        }
        trainable.keptLayers = keptLayers
        if recipe.model.dtype == .bf16 {
            let converted = try loaded.model.holdFrozenProjectionsInBFloat16()
            progress.message("\(converted) frozen projections held in bf16, multiplied \(TileGemm.pathDescription)")
        }
        progress.message("training \(trainable.scalarCount) parameters in \(trainable.named.count) tensors" + (recipe.lora == nil ? " (full fine-tuning)" : " (LoRA)"))

        var batches: any BatchSource = data.plan
        if let d = recipe.distillation {
            let cache = try DistillationSetup.fillCache(d, data: data, studentTokenizer: loaded.tokenizer, progress: progress)
            batches = try DistillationSetup.batches(cache: cache, data: data, recipe: recipe, progress: progress)
            progress.message("distillation: \(d.loss.rawValue) at T \(d.temperature), alpha \(d.alpha) on the labels, top-\(d.k) teacher (\(d.tail.rawValue))")
        }

        let run = RunFolder(recipe.output.dir)
        try FileManager.default.createDirectory(atPath: run.path, withIntermediateDirectories: true)
        return try Trainer(
            recipe: recipe, model: loaded.model, tokenizer: loaded.tokenizer, trainable: trainable, data: batches, heldout: heldout,
            run: run, progress: progress)
    }

    public static func loadModel(_ m: Recipe.ModelSection, log: (String) -> Void) throws -> LoadedModel {
        let (model, loadedTokenizer) = try ModelLoader.load(path: m.path, keepQuantized: m.keepQuantized)
        guard let tokenizer = loadedTokenizer else {
            throw TrainingError("\(m.path) carries no tokenizer: put tokenizer.json in the model folder, or use a GGUF file with tokenizer metadata")
        }
        let template = try chatTemplate(m)
        log(
            "model \(m.path): \(model.config.layers) layers, \(model.config.hiddenSize) wide, vocabulary \(model.config.vocabSize)"
                + (m.keepQuantized ? ", base kept quantized" : "") + "; chat template: \(template?.format.displayName ?? "none")")
        return LoadedModel(model: model, tokenizer: tokenizer, template: template)
    }

    /// The indices of the `keep` layers of `model` to keep, chosen as `m.layerSelection` says; importance
    /// is measured on the first `m.calibrationSamples` training samples.
    static func layersToKeep(_ model: Transformer, keep: Int, _ m: Recipe.ModelSection, calibration: [TokenizedSample], log: (String) -> Void) throws -> [Int] {
        let total = model.layers.count
        guard keep <= total else { throw TrainingError("model.keep_layers is \(keep), but \(m.path) has only \(total) layers") }
        let kept: [Int]
        switch m.layerSelection {
        case .even:
            kept = DepthPruning.evenLayers(total: total, keep: keep)
            log("depth pruning: keeping \(keep) of \(total) layers, evenly: \(kept)")
        case .importance:
            let scores = try DepthPruning.importance(of: model, calibration: calibration.prefix(m.calibrationSamples).map(\.ids))
            kept = DepthPruning.mostImportant(scores, keep: keep)
            log("depth pruning: keeping \(keep) of \(total) layers by importance (1 − cos(input, output)): \(kept); scores "
                + scores.map { String(format: "%.3f", $0) }.joined(separator: " "))
        }
        return kept
    }

    /// The data files read, their training records formatted and planned into batches.
    public static func prepareData(
        _ recipe: Recipe, tokenizer: BPETokenizer, template: ChatTemplate?, log: (String) -> Void
    ) throws -> PreparedData {
        let records = try TrainingData.load(recipe.data, seed: recipe.train.seed)
        for file in records.files {
            var line = "data \(file.path): \(file.records) \(file.format.rawValue) records"
            if file.skippedLines > 0 {
                line += ", \(file.skippedLines) bad lines skipped (first: \(file.skipReasons.first.map(String.init(describing:)) ?? "?"))"
            }
            log(line)
        }
        let formatter = SampleFormatter(tokenizer: tokenizer, template: template, lossOn: recipe.data.lossOn)
        let plan = try BatchPlan(samples: try records.train.map(formatter.sample), recipe: recipe)
        let s = plan.statistics
        log(
            "train: \(s.samples) samples in \(plan.batchesPerEpoch) batches of \(recipe.train.batchSize) × \(recipe.data.sequenceLength) per epoch; "
                + "\(s.realTokensPerEpoch) tokens, \(s.targetTokensPerEpoch) with loss; "
                + String(format: "%.1f%% padding", 100 * s.paddingFraction)
                + (s.truncated > 0 ? "; \(s.truncated) truncated" : "") + (s.dropped > 0 ? "; \(s.dropped) left out" : ""))
        return PreparedData(records: records, formatter: formatter, plan: plan)
    }

    /// The chat template `model.chat_template` asks for, from the model's declared one when it has one.
    /// Llama 3.2's date is its template's fixed one, so samples do not change with the day (resumed runs,
    /// teacher caches).
    public static func chatTemplate(_ model: Recipe.ModelSection) throws -> ChatTemplate? {
        guard model.chatTemplate != .none else { return nil }
        return try model.chatTemplate.template(declared: try ModelLoader.declaredChatTemplate(path: model.path), source: model.path, today: nil)
    }

    /// Held-out batches in file order (the first `eval.max_samples` records) and their generation prompts.
    static func heldoutSet(_ records: [DataRecord], formatter: SampleFormatter, recipe: Recipe) throws -> HeldoutSet? {
        guard !records.isEmpty else { return nil }
        let chosen = Array(records.prefix(recipe.eval.maxSamples ?? records.count))
        let plan = try BatchPlan(
            samples: try chosen.map(formatter.sample), batchSize: recipe.train.batchSize, sequenceLength: recipe.data.sequenceLength,
            packing: recipe.data.packing, truncation: recipe.data.truncation, shuffle: false, seed: recipe.train.seed)
        let prompts = recipe.eval.generate ? try chosen.compactMap(formatter.evaluationPrompt) : []
        return HeldoutSet(batches: (0..<plan.batchesPerEpoch).map { plan.batch(epoch: 0, index: $0) }, prompts: prompts)
    }
}

extension BatchPlan: BatchSource {}
