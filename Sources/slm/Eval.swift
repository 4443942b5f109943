import ArgumentParser
import Foundation
import SLMEvaluation
import SLMTraining

/// `slm eval`: one or more models on a held-out set, side by side, written as a report folder.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate models on a held-out JSONL set and write report.json, report.md, report.html and predictions.jsonl.",
        discussion: """
            A MODEL is [NAME=]PATH[+ADAPTER] or a run folder:
              models/x.gguf                  a GGUF file (an export, any quantization)
              models/smollm2-hf              a Hugging Face folder
              tuned=models/x.gguf+runs/qs/adapter
                                             base + LoRA adapter (PEFT), labelled tuned
              runs/qs                        a run of slm train: model, adapter, curves
            Loss, perplexity and token accuracy of the references (batched, no
            tape); greedy answers scored by task (label: accuracy, per-class
            P/R/F1, confusion matrix; extraction: valid JSON, field P/R/F1;
            text: ROUGE-L); latency, tokens/s, bootstrap 95% intervals, and the
            confidence threshold that reaches --target-accuracy (routing).
            --teacher-cache C.h5 adds each model's top-1 agreement with the
            teacher and KL(teacher ‖ model), and a teacher column read from
            the cache (fill its held-out part: slm teacher RECIPE --split heldout).
            A model that fails to load fails its column, not the report.
            docs/evaluation.md describes the report and every key.
            """)

    @Argument(help: ArgumentHelp("Models to compare, each [NAME=]PATH[+ADAPTER] or a run folder.", valueName: "model"))
    var models: [String]

    @Option(help: "The held-out JSONL file (text, prompt/completion, alpaca or chat records).")
    var data: String

    @Option(help: "The report folder.")
    var out = "eval-report"

    @Option(help: "How answers are scored: auto (from the references), label, extraction or text.")
    var task: String = Recipe.EvalTask.auto.rawValue

    @Option(help: "The training file, to warn about held-out labels training never showed.")
    var train: String?

    @Option(help: "A teacher cache (HDF5, docs/teacher-cache.md) holding the held-out samples: agreement with the teacher, and a teacher column.")
    var teacherCache: String?

    @Option(help: "A recipe to record in the report header (its sha256 and text).")
    var recipe: String?

    @Option(help: "Evaluate the first N samples only.")
    var maxSamples: Int?

    @Option(help: "Tokens generated at most per answer.")
    var maxNewTokens = 64

    @Option(help: "Longest sample scored; longer text records are scored in windows of this many tokens.")
    var sequenceLength = 512

    @Option(help: "The accuracy the routing analysis looks for a confidence threshold to reach.")
    var targetAccuracy = 0.95

    @Option(help: "Bootstrap resamples for the 95% intervals (0: none).")
    var bootstrap = 1000

    @Option(help: "Seeds the bootstrap.")
    var seed: UInt64 = 42

    @Option(help: "Chat template: auto (the model's own), a format (chatml, llama3, mistral, phi3, phi4, gemma) or none.")
    var chatTemplate: String = Recipe.ChatTemplateChoice.auto.rawValue

    @Flag(help: "Score the references only (loss, perplexity, token accuracy); generate nothing.")
    var noGenerate = false

    @Flag(help: "Load GGUF weights as Float32 instead of keeping them in their quantized blocks.")
    var dequantize = false

    func run() throws {
        guard let task = Recipe.EvalTask(rawValue: task) else {
            throw ValidationError("--task must be one of \(Recipe.EvalTask.allCases.map(\.rawValue).joined(separator: ", ")), got \(self.task)")
        }
        guard let chatTemplate = Recipe.ChatTemplateChoice(rawValue: chatTemplate) else {
            throw ValidationError("--chat-template must be one of \(Recipe.ChatTemplateChoice.names), got \(self.chatTemplate)")
        }
        guard targetAccuracy > 0, targetAccuracy <= 1 else { throw ValidationError("--target-accuracy must be in (0, 1], got \(targetAccuracy)") }
        var options = EvaluationOptions()
        options.maxSamples = maxSamples
        options.maxNewTokens = maxNewTokens
        options.generate = !noGenerate
        options.task = task
        options.sequenceLength = sequenceLength
        options.keepQuantized = !dequantize
        options.chatTemplate = chatTemplate
        options.bootstrapResamples = bootstrap
        options.seed = seed
        options.targetAccuracy = targetAccuracy
        options.trainPath = train
        options.teacherCache = teacherCache
        do {
            let specs = try models.map(ModelSpec.parse)
            let (report, predictions) = try Evaluation.run(
                models: specs, dataPath: data, options: options, recipePath: recipe, progress: ProgressReporter(logEvery: 1))
            try Evaluation.write(report, predictions: predictions, to: out)
            print(MarkdownReport.comparisonTable(report), terminator: "")
            print("report in \(out)/ (report.html, report.md, report.json, predictions.jsonl)")
            if report.models.allSatisfy({ $0.error != nil }) { throw ExitCode.failure }
        } catch let error as EvaluationError {
            throw failure("\(error)")
        }
    }
}
