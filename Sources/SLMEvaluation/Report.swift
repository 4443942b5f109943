import Foundation

/// report.json, documented key by key in docs/evaluation.md. Keys are snake_case and stable: new
/// keys may be added, existing ones keep their meaning. NaN and infinities are written as the
/// strings "nan", "inf" and "-inf".
public struct EvaluationReport: Codable, Sendable {
    public static let formatName = "slm-eval-report"
    public static let formatVersion = 1

    public var format = formatName
    public var version = formatVersion
    public var created: String
    public var slmVersion: String
    public var seed: UInt64
    public var settings: Settings
    /// The recipe the run used (its text), when the report comes from `slm train` or names one.
    public var recipe: RecipeReference?
    public var dataset: DatasetSummary
    public var warnings: [String]
    public var models: [ModelColumn]

    public struct Settings: Codable, Sendable {
        public var maxSamples: Int?
        public var maxNewTokens: Int
        public var sequenceLength: Int
        public var generate: Bool
        public var keepQuantized: Bool
        public var chatTemplate: String
        public var bootstrapResamples: Int
        public var confidenceLevel: Double
        public var targetAccuracy: Double
        public var teacherCache: String?
    }

    public struct RecipeReference: Codable, Sendable {
        public var path: String
        public var sha256: String
        public var text: String
    }

    public struct DatasetSummary: Codable, Sendable {
        public var path: String
        public var sha256: String
        public var format: String
        public var samples: Int
        public var task: TaskKind
        public var taskReason: String
        public var labels: [String]
    }
}

/// One model's results. `error` set: it failed (to load, or while evaluated) and the other keys
/// hold what was measured before.
public struct ModelColumn: Codable, Sendable {
    public var name: String
    public var path: String
    public var adapter: String?
    public var files: [FileHash]
    public var error: String?
    public var loadSeconds: Double?
    /// The chat template the samples were formatted with: a format ("chatml", "llama3", …) or "none" (per column: with
    /// `--chat-template auto` each model's own declared template).
    public var chatTemplate: String?
    public var scoring: Scoring?
    public var generation: GenerationSummary?
    public var label: LabelMetrics?
    public var extraction: ExtractionMetrics?
    public var text: TextMetrics?
    /// The task's main figure: accuracy (label), field F1 (extraction), ROUGE-L (text).
    public var headline: Headline?
    public var routing: RoutingAnalysis?
    /// Loss curves of the run the adapter came from (its metrics.jsonl).
    public var training: TrainingCurves?
    /// A GGUF export's size and quantization error (from the NAME.report.json beside it).
    public var export: ExportSummary?
    /// With `--teacher-cache`: how often this model agrees with the teacher, and KL from it.
    public var teacherAgreement: TeacherAgreement?
    /// The teacher column alone: its figures read from the cache (no model is run).
    public var teacherCache: TeacherCacheScoring?

    public init(name: String, path: String, adapter: String?) {
        self.name = name
        self.path = path
        self.adapter = adapter
        files = []
    }

    public struct FileHash: Codable, Sendable {
        public var path: String
        public var sha256: String
    }

    /// Teacher-forced scoring of the references, batched, no tape.
    public struct Scoring: Codable, Sendable {
        /// Mean negative log-likelihood per target token (nats).
        public var loss: Double
        public var lossInterval: [Double]?
        public var perplexity: Double
        /// Share of target tokens that are the model's top-1 prediction.
        public var tokenAccuracy: Double
        public var targetTokens: Int
        /// Tokens run through the model (prompt and target), and the wall time.
        public var tokens: Int
        public var seconds: Double
        public var tokensPerSecond: Double
    }

    /// At the target positions of the held-out samples found in the teacher cache, where the
    /// teacher has an entry: the share where the model's top-1 token is the teacher's top-1, and
    /// the mean KL(teacher ‖ model) over the teacher's k ids plus one bucket for the rest of the
    /// vocabulary (the distillation loss's `tail_bucket`, at T = 1 on the cache's numbers).
    public struct TeacherAgreement: Codable, Sendable {
        public var cache: String
        /// The cache's `teacher` attribute, its k and temperature.
        public var teacher: String
        public var k: Int
        public var temperature: Double
        /// Held-out samples, and those whose every scored piece is in the cache.
        public var samples: Int
        public var samplesFound: Int
        /// Target tokens of all samples, and those compared with the teacher.
        public var targetTokens: Int
        public var comparedTokens: Int
        /// comparedTokens / targetTokens.
        public var tokenCoverage: Double
        public var top1Agreement: Double
        public var top1AgreementInterval: [Double]?
        /// Mean per compared token (nats).
        public var kl: Double
        public var klInterval: [Double]?
    }

    /// The teacher column's figures from its cache alone, over the target positions of the
    /// held-out samples found there. Token accuracy (the teacher's top-1 is the reference token)
    /// covers them all; the loss only the `coverage` share where the reference token is among the
    /// k ids (elsewhere its probability is unknown), so it is not the teacher's full loss.
    public struct TeacherCacheScoring: Codable, Sendable {
        public var cache: String
        public var teacher: String
        public var k: Int
        public var temperature: Double
        public var samples: Int
        public var samplesFound: Int
        public var targetTokens: Int
        public var tokenAccuracy: Double
        public var tokenAccuracyInterval: [Double]?
        /// Target tokens among the teacher's k ids, and their share of targetTokens.
        public var coveredTokens: Int
        public var coverage: Double
        /// Mean negative log-probability of the covered tokens (nats), and its exp.
        public var loss: Double
        public var lossInterval: [Double]?
        public var perplexity: Double
    }

    public struct GenerationSummary: Codable, Sendable {
        public var samples: Int
        /// Share of trimmed answers equal to the trimmed reference.
        public var exactMatch: Double
        public var exactMatchInterval: [Double]?
        public var meanLatencySeconds: Double
        public var p50LatencySeconds: Double
        public var p95LatencySeconds: Double
        public var generatedTokens: Int
        /// Generated tokens over the time spent generating them (prompt reading included).
        public var tokensPerSecond: Double
    }

    public struct TextMetrics: Codable, Sendable {
        public var rougeL: Double
        public var rougeLInterval: [Double]?
    }

    public struct Headline: Codable, Sendable {
        public var metric: String
        public var value: Double
        public var interval: [Double]?
    }

    public struct TrainingCurves: Codable, Sendable {
        public var metricsFile: String
        /// [step, loss] of each logged training step.
        public var train: [[Double]]
        /// [step, held-out loss] of each evaluation during training.
        public var heldout: [[Double]]
    }
}

/// One line of predictions.jsonl.
public struct Prediction: Codable, Sendable {
    public var model: String
    public var index: Int
    public var reference: String?
    public var prediction: String?
    public var correct: Bool?
    /// Label tasks: the probability of the whole answer; otherwise exp(mean token log-probability).
    public var confidence: Double?
    public var meanLogProbability: Double?
    public var latencySeconds: Double?
    public var generatedTokens: Int?
    /// Mean negative log-likelihood of the reference's tokens.
    public var loss: Double?
    public var targetTokens: Int
    public var rougeL: Double?
}

extension JSONEncoder {
    /// The encoder of report.json and predictions.jsonl: snake_case keys, sorted, NaN as null.
    static var report: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }
}
