import Dispatch
import Foundation
import SLMModel
import SLMTensor
import SLMTraining

/// Evaluates one model column on a held-out set: teacher-forced scoring of the references
/// (loss, perplexity, token accuracy), then greedy answers scored as the task asks, each with a
/// confidence for the routing analysis. A model that fails gives a column with its error.
public struct ModelEvaluator {
    public let set: EvaluationSet
    public let options: EvaluationOptions
    public let progress: ProgressReporter

    public init(set: EvaluationSet, options: EvaluationOptions, progress: ProgressReporter) {
        self.set = set
        self.options = options
        self.progress = progress
    }

    public func evaluate(_ spec: ModelSpec) -> (column: ModelColumn, predictions: [Prediction]) {
        var column = ModelColumn(name: spec.name, path: spec.path, adapter: spec.adapter)
        var predictions: [Prediction] = set.references.indices.map {
            Prediction(model: spec.name, index: $0, reference: set.references[$0], targetTokens: 0)
        }
        do {
            column.files = try spec.fileHashes().sorted { $0.key < $1.key }.map { ModelColumn.FileHash(path: $0.key, sha256: $0.value) }
            if let run = spec.runFolder { column.training = try ModelColumn.TrainingCurves.read(run) }
            if spec.adapter == nil { column.export = try ExportSummary.read(gguf: spec.path) }
            let start = Self.now()
            let loaded = try LoadedModel.load(spec, chatTemplate: options.chatTemplate, keepQuantized: options.keepQuantized)
            column.loadSeconds = Self.now() - start
            let formatter = SampleFormatter(tokenizer: loaded.tokenizer, template: loaded.template, lossOn: .completion)
            try score(loaded, formatter, &column, &predictions)
            if options.generate, set.task != .none { try generate(loaded, formatter, &column, &predictions) }
        } catch let error as SampleFormatter.ChatTemplateRequired {
            column.error = "\(error) (with slm eval: --chat-template chatml)"
            progress.message("\(spec.name): failed: \(column.error!)")
        } catch {
            column.error = "\(error)"
            progress.message("\(spec.name): failed: \(error)")
        }
        return (column, predictions)
    }

    // MARK: Scoring

    private func score(_ loaded: LoadedModel, _ formatter: SampleFormatter, _ column: inout ModelColumn, _ predictions: inout [Prediction]) throws {
        var samples: [TokenizedSample] = [], owners: [Int] = []
        for (n, record) in set.records.enumerated() {
            for piece in try windows(formatter.sample(record), isText: record.format == .text) {
                samples.append(piece)
                owners.append(n)
            }
        }
        let start = Self.now()
        let scores = try TokenScorer(model: loaded.model).score(samples) { done, total in
            progress.count("\(column.name): scoring", done, of: total, "samples")
        }
        let seconds = Self.now() - start
        var perRecord = [SampleScore](repeating: SampleScore(), count: set.records.count)
        for (score, n) in zip(scores, owners) {
            perRecord[n].logProbability += score.logProbability
            perRecord[n].targets += score.targets
            perRecord[n].correct += score.correct
        }
        for n in perRecord.indices where perRecord[n].targets > 0 {
            predictions[n].loss = -perRecord[n].meanLogProbability
            predictions[n].targetTokens = perRecord[n].targets
        }
        let targets = perRecord.reduce(0) { $0 + $1.targets }
        guard targets > 0 else { throw EvaluationError("\(set.path): no record has a token to score with this model") }
        let loss = -perRecord.reduce(0) { $0 + $1.logProbability } / Double(targets)
        let tokens = samples.reduce(0) { $0 + $1.ids.count }
        let interval = bootstrap.interval(count: perRecord.count) { indices in
            let picked = indices.map { perRecord[$0] }
            return -picked.reduce(0) { $0 + $1.logProbability } / Double(picked.reduce(0) { $0 + $1.targets })
        }
        column.scoring = .init(
            loss: loss, lossInterval: interval, perplexity: exp(loss), tokenAccuracy: Double(perRecord.reduce(0) { $0 + $1.correct }) / Double(targets),
            targetTokens: targets, tokens: tokens, seconds: seconds, tokensPerSecond: Double(tokens) / max(seconds, 1e-9))
        progress.message(String(format: "%@: loss %.4f, perplexity %.3f, %.0f tokens/s scored", column.name, loss, exp(loss), Double(tokens) / max(seconds, 1e-9)))
    }

    /// A text record longer than `sequenceLength` becomes windows of that many tokens (each window's
    /// first token is context only); any other sample keeps its last `sequenceLength` tokens.
    private func windows(_ sample: TokenizedSample, isText: Bool) -> [TokenizedSample] {
        let length = options.sequenceLength
        guard sample.ids.count > length else { return [sample] }
        guard isText else { return [TokenizedSample(ids: Array(sample.ids.suffix(length)), lossMask: Array(sample.lossMask.suffix(length)))] }
        return stride(from: 0, to: sample.ids.count - 1, by: length).map { start in
            let end = min(start + length, sample.ids.count)
            var mask = Array(sample.lossMask[start..<end])
            mask[0] = false
            return TokenizedSample(ids: Array(sample.ids[start..<end]), lossMask: mask)
        }
    }

    // MARK: Generation

    private struct Answer {
        var text: String
        var ids: [Int32]
        var seconds: Double
    }

    private func generate(_ loaded: LoadedModel, _ formatter: SampleFormatter, _ column: inout ModelColumn, _ predictions: inout [Prediction]) throws {
        let prompts = try set.records.map { record -> EvaluationPrompt in
            guard let prompt = try formatter.evaluationPrompt(record) else { throw EvaluationError("\(set.path): a record has no prompt to answer") }
            return prompt
        }
        let longest = prompts.map(\.promptIds.count).max() ?? 0
        let generator = try Generator(model: loaded.model, tokenizer: loaded.tokenizer, contextLength: longest + options.maxNewTokens + 1)
        let parameters = GenerationParameters(maxTokens: options.maxNewTokens)
        var answers: [Answer] = []
        for (n, prompt) in prompts.enumerated() {
            let start = Self.now()
            try generator.start(prompt: prompt.promptIds, parameters: parameters)
            var answer = Answer(text: "", ids: [], seconds: 0)
            while let token = try generator.next() {
                answer.ids.append(token.id)
                answer.text += token.text
            }
            answer.seconds = Self.now() - start
            answers.append(answer)
            progress.count("\(column.name): answering", n + 1, of: prompts.count, "samples")
        }
        // The model's own probability of each answer it gave (the stop token included), scored in batches.
        let answerScores = try TokenScorer(model: loaded.model).score(zip(prompts, answers).map { prompt, answer in
            TokenizedSample(ids: prompt.promptIds + answer.ids, lossMask: [Bool](repeating: false, count: prompt.promptIds.count) + [Bool](repeating: true, count: answer.ids.count))
        })
        let texts = answers.map { trimmed($0.text) }
        let references = set.references.map { $0 ?? "" }
        let correct = try taskMetrics(texts, references, &column, &predictions)
        var confidences: [Double] = []
        for n in answers.indices {
            let score = answerScores[n]
            let confidence = set.task == .label ? exp(score.logProbability) : exp(score.meanLogProbability)
            confidences.append(confidence)
            predictions[n].prediction = texts[n]
            predictions[n].correct = correct[n]
            predictions[n].confidence = confidence
            predictions[n].meanLogProbability = score.meanLogProbability
            predictions[n].latencySeconds = answers[n].seconds
            predictions[n].generatedTokens = answers[n].ids.count
        }
        let latencies = answers.map(\.seconds).sorted()
        let exact = zip(texts, references).map { $0 == $1 ? 1.0 : 0.0 }
        let generated = answers.reduce(0) { $0 + $1.ids.count }
        column.generation = .init(
            samples: answers.count, exactMatch: exact.reduce(0, +) / Double(max(exact.count, 1)), exactMatchInterval: bootstrap.meanInterval(exact),
            meanLatencySeconds: latencies.reduce(0, +) / Double(max(latencies.count, 1)), p50LatencySeconds: Self.percentile(latencies, 0.5),
            p95LatencySeconds: Self.percentile(latencies, 0.95), generatedTokens: generated,
            tokensPerSecond: Double(generated) / max(latencies.reduce(0, +), 1e-9))
        column.routing = RoutingAnalysis(confidences: confidences, correct: correct, targetAccuracy: options.targetAccuracy)
    }

    /// Scores the answers as the task asks; returns which are right (for the routing analysis).
    private func taskMetrics(_ texts: [String], _ references: [String], _ column: inout ModelColumn, _ predictions: inout [Prediction]) throws -> [Bool] {
        switch set.task {
        case .label:
            let metrics = LabelMetrics(references: references, predictions: texts, labels: set.labels)
            column.label = metrics
            let right = zip(texts, references).map { $0 == $1 ? 1.0 : 0.0 }
            column.headline = .init(metric: "accuracy", value: metrics.accuracy, interval: bootstrap.meanInterval(right))
            return right.map { $0 == 1 }
        case .extraction:
            let referenceObjects = try references.map { text in
                guard let object = JSONValue.object(text) else { throw EvaluationError("\(set.path): a reference is not a JSON object: \(text.prefix(80))") }
                return object
            }
            let predicted = texts.map(JSONValue.object)
            let metrics = ExtractionMetrics(references: referenceObjects, predictions: predicted)
            column.extraction = metrics
            let interval = bootstrap.interval(count: texts.count) { indices in
                ExtractionMetrics(references: indices.map { referenceObjects[$0] }, predictions: indices.map { predicted[$0] }).f1
            }
            column.headline = .init(metric: "field_f1", value: metrics.f1, interval: interval)
            return zip(predicted, referenceObjects).map { $0 == $1 }
        case .text, .none:
            let rouge = zip(references, texts).map { RougeL.f1(reference: $0, prediction: $1) }
            for n in rouge.indices { predictions[n].rougeL = rouge[n] }
            let mean = rouge.reduce(0, +) / Double(max(rouge.count, 1))
            let interval = bootstrap.meanInterval(rouge)
            column.text = .init(rougeL: mean, rougeLInterval: interval)
            column.headline = .init(metric: "rouge_l", value: mean, interval: interval)
            return zip(texts, references).map { $0 == $1 }
        }
    }

    private var bootstrap: Bootstrap { Bootstrap(resamples: options.bootstrapResamples, seed: options.seed) }

    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((q * Double(sorted.count - 1)).rounded()))]
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
