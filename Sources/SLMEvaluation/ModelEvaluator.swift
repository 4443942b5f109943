import Dispatch
import Foundation
import SLMModel
import SLMTensor
import SLMTraining

/// Evaluates one model column on a held-out set: teacher-forced scoring of the references
/// (loss, perplexity, token accuracy), then greedy answers scored as the task asks, each with a
/// confidence for the routing analysis. With a teacher cache, the scoring pass also measures
/// the agreement with the teacher. A model that fails gives a column with its error.
public struct ModelEvaluator {
    public let set: EvaluationSet
    public let options: EvaluationOptions
    public let teacher: EvaluationTeacher?
    public let progress: ProgressReporter

    public init(set: EvaluationSet, options: EvaluationOptions, teacher: EvaluationTeacher? = nil, progress: ProgressReporter) {
        self.set = set
        self.options = options
        self.teacher = teacher
        self.progress = progress
    }

    /// The samples a column scored with their teacher entries, from which the teacher column is made.
    public struct TeacherView {
        public var samples: [TokenizedSample]
        public var owners: [Int]
        public var teachers: [TeacherScores?]
    }

    public func evaluate(_ spec: ModelSpec) -> (column: ModelColumn, predictions: [Prediction], teacherView: TeacherView?) {
        var column = ModelColumn(name: spec.name, path: spec.path, adapter: spec.adapter)
        var predictions: [Prediction] = set.references.indices.map {
            Prediction(model: spec.name, index: $0, reference: set.references[$0], targetTokens: 0)
        }
        var teacherView: TeacherView?
        do {
            column.files = try spec.fileHashes().sorted { $0.key < $1.key }.map { ModelColumn.FileHash(path: $0.key, sha256: $0.value) }
            if let run = spec.runFolder { column.training = try ModelColumn.TrainingCurves.read(run) }
            if spec.adapter == nil { column.export = try ExportSummary.read(gguf: spec.path) }
            let start = Self.now()
            let loaded = try LoadedModel.load(spec, chatTemplate: options.chatTemplate, keepQuantized: options.keepQuantized)
            column.loadSeconds = Self.now() - start
            column.chatTemplate = loaded.template?.format.rawValue ?? "none"
            let formatter = SampleFormatter(tokenizer: loaded.tokenizer, template: loaded.template, lossOn: .completion)
            var teacherError: Error?
            do {
                try teacher?.check(loaded.tokenizer)
            } catch {
                teacherError = error
            }
            teacherView = try score(loaded, formatter, teacherError == nil ? teacher : nil, &column, &predictions)
            if options.generate, set.task != .none { try generate(loaded, formatter, &column, &predictions) }
            if let teacherError { throw teacherError }
        } catch let error as SampleFormatter.ChatTemplateRequired {
            column.error = "\(error) (with slm eval: --chat-template and the model's format)"
            progress.message("\(spec.name): failed: \(column.error!)")
        } catch {
            column.error = "\(error)"
            progress.message("\(spec.name): failed: \(error)")
        }
        return (column, predictions, teacherView)
    }

    // MARK: Scoring

    /// Loss, perplexity, token accuracy, and the agreement with `teacher` when given; returns
    /// the samples with their teacher entries.
    private func score(
        _ loaded: LoadedModel, _ formatter: SampleFormatter, _ teacher: EvaluationTeacher?, _ column: inout ModelColumn, _ predictions: inout [Prediction]
    ) throws -> TeacherView? {
        let (samples, owners) = try set.scoredSamples(formatter, sequenceLength: options.sequenceLength)
        let teachers = try teacher?.lookup(samples) ?? []
        let start = Self.now()
        let scores = try TokenScorer(model: loaded.model).score(samples, teachers: teachers) { done, total in
            progress.count("\(column.name): scoring", done, of: total, "samples")
        }
        let seconds = Self.now() - start
        var perRecord = [SampleScore](repeating: SampleScore(), count: set.records.count)
        for (score, n) in zip(scores, owners) { perRecord[n].add(score) }
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
        guard let teacher else { return nil }
        column.teacherAgreement = agreement(teacher, perRecord, found: teachers, owners: owners)
        if let a = column.teacherAgreement {
            progress.message(String(format: "%@: top-1 agreement with the teacher %.3f, KL %.4f, over %d of %d target tokens", column.name, a.top1Agreement, a.kl, a.comparedTokens, a.targetTokens))
        }
        return TeacherView(samples: samples, owners: owners, teachers: teachers)
    }

    private func agreement(_ teacher: EvaluationTeacher, _ perRecord: [SampleScore], found: [TeacherScores?], owners: [Int]) -> ModelColumn.TeacherAgreement {
        let missing = Set(zip(found, owners).filter { $0.0 == nil }.map(\.1))
        let compared = perRecord.reduce(0) { $0 + $1.teacherTargets }, targets = perRecord.reduce(0) { $0 + $1.targets }
        func ratio(_ indices: [Int], _ value: (SampleScore) -> Double) -> Double {
            indices.reduce(0) { $0 + value(perRecord[$1]) } / Double(indices.reduce(0) { $0 + perRecord[$1].teacherTargets })
        }
        let all = Array(perRecord.indices)
        let a = teacher.cache.attributes
        return .init(
            cache: teacher.cache.path, teacher: a.teacher, k: a.k, temperature: a.temperature, samples: perRecord.count,
            samplesFound: perRecord.count - missing.count, targetTokens: targets, comparedTokens: compared,
            tokenCoverage: Double(compared) / Double(max(targets, 1)),
            top1Agreement: ratio(all) { Double($0.teacherAgreements) },
            top1AgreementInterval: bootstrap.interval(count: perRecord.count) { ratio($0) { Double($0.teacherAgreements) } },
            kl: ratio(all, \.teacherKL), klInterval: bootstrap.interval(count: perRecord.count) { ratio($0, \.teacherKL) })
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
