import SLMModel

/// A training run as a recipe file describes it, with every default filled in. `docs/recipes.md`
/// documents each key; `RecipeLoader` reads and validates the YAML (snake_case keys).
public struct Recipe: Sendable, Equatable {
    public var model: ModelSection
    /// nil: full fine-tuning of the parameters `train.trainable` names.
    public var lora: LoRASection?
    public var data: DataSection
    public var train: TrainSection
    public var output: OutputSection
    public var eval: EvalSection
    /// nil: nothing is exported after training.
    public var export: ExportSection?
    /// nil: no teacher, labels only.
    public var distillation: DistillationSection? = nil

    public init(
        model: ModelSection, lora: LoRASection?, data: DataSection, train: TrainSection, output: OutputSection, eval: EvalSection,
        export: ExportSection? = nil
    ) {
        self.model = model
        self.lora = lora
        self.data = data
        self.train = train
        self.output = output
        self.eval = eval
        self.export = export
    }

    public struct ModelSection: Sendable, Equatable {
        /// A Hugging Face folder or a .gguf file.
        public var path: String
        /// Keep GGUF weights quantized in memory (dequantized inside the matmul).
        public var keepQuantized = false
        /// What the frozen base projections are held and multiplied in.
        public var dtype: BaseDType = .f32
        public var chatTemplate: ChatTemplateChoice = .auto
        /// Written as `base_model_name_or_path` in the adapter; nil: `path`.
        public var name: String?
        /// Depth pruning: keep this many decoder layers; nil: all.
        public var keepLayers: Int?
        /// Which layers `keepLayers` keeps.
        public var layerSelection: LayerSelection = .importance
        /// Training samples the importance is measured on.
        public var calibrationSamples = 32

        public init(path: String) { self.path = path }
    }

    /// `model.dtype`: Float32, or bf16 for the frozen base (mixed precision: its products round their
    /// inputs to bf16 and sum in Float32, on AMX tiles where the CPU has them; what is trained stays Float32).
    public enum BaseDType: String, Sendable, CaseIterable {
        case f32
        case bf16
    }

    public enum LayerSelection: String, Sendable, CaseIterable {
        /// Spread evenly, first and last included.
        case even
        /// The layers that change their input most on calibration samples (1 − cosine, as ShortGPT).
        case importance
    }

    /// `model.chat_template`: auto (the model's own template from tokenizer_config.json or GGUF metadata;
    /// plain text when it has none), a format by name, or none (plain text, base models).
    public typealias ChatTemplateChoice = SLMModel.ChatTemplateChoice

    public struct LoRASection: Sendable, Equatable {
        public var r = 16
        public var alpha: Float = 32
        public var dropout: Float = 0.05
        /// Hugging Face projection names, or `[allLinear]`: every projection the model has (PEFT's
        /// "all-linear": q/k/v/o/gate/up/down_proj on Llama-style models, Phi's fused ones on Phi).
        public var targetModules = [allLinear]
        public static let allLinear = "all-linear"
        public var useRSLoRA = false

        public init() {}
    }

    public struct DataSection: Sendable, Equatable {
        public var train: String
        /// A held-out file; or `heldoutFraction` of the training file set aside (by seed); or neither.
        public var heldout: String?
        public var heldoutFraction: Double?
        public var format: DataFormat = .auto
        public var lossOn: LossOn = .completion
        /// Tokens per sequence of a batch.
        public var sequenceLength = 512
        /// Several samples per sequence, each seeing only itself; false: one sample per row, padded.
        public var packing = true
        public var truncation: Truncation = .right
        public var shuffle = true
        public var onBadLine: BadLinePolicy = .error

        public init(train: String) { self.train = train }
    }

    public enum DataFormat: String, Sendable, CaseIterable {
        /// Decided from the first line's keys.
        case auto, text, promptCompletion = "prompt_completion", alpaca, chat
    }

    public enum LossOn: String, Sendable, CaseIterable {
        /// Completion / assistant tokens only.
        case completion
        case all
    }

    public enum Truncation: String, Sendable, CaseIterable {
        /// Keep the start of a sample longer than the sequence.
        case right
        /// Keep its end.
        case left
        /// Leave it out (counted and reported).
        case drop
    }

    public enum BadLinePolicy: String, Sendable, CaseIterable {
        case error, skip
    }

    public struct TrainSection: Sendable, Equatable {
        /// Optimizer steps; exactly one of `steps` and `epochs` is set after loading (default: 1 epoch).
        public var steps: Int?
        public var epochs: Double?
        /// Sequences per micro-batch.
        public var batchSize = 4
        /// Micro-batches per optimizer step.
        public var gradientAccumulation = 1
        public var lr: Float = 2e-4
        public var schedule: Schedule = .cosine
        public var warmupSteps = 0
        public var weightDecay: Float = 0
        public var adamBeta1: Float = 0.9
        public var adamBeta2: Float = 0.999
        public var adamEps: Float = 1e-8
        /// Global-norm clipping; nil: none.
        public var maxGradNorm: Float? = 1
        /// Recompute each decoder layer's activations during backward instead of keeping them.
        public var gradientCheckpointing = false
        public var seed: UInt64 = 42
        /// Full fine-tuning only: glob patterns over Hugging Face parameter names ("model.layers.*.mlp.*").
        public var trainable = ["*"]
        /// Worker threads; nil: one per core.
        public var threads: Int?

        public init() {}
    }

    public typealias Schedule = LearningRateSchedule.Kind

    public struct OutputSection: Sendable, Equatable {
        /// The run folder: effective recipe, metrics, checkpoints, the adapter.
        public var dir: String
        /// Steps between checkpoints; 0: only at the end.
        public var checkpointEvery = 100
        /// Steps between log lines / metrics records.
        public var logEvery = 10

        public init(dir: String) { self.dir = dir }
    }

    public struct EvalSection: Sendable, Equatable {
        /// Steps between held-out evaluations; 0: only at the end.
        public var every = 0
        /// Also evaluate before the first step (the base model's figures).
        public var atStart = true
        /// Evaluate on the first N held-out samples; nil: all.
        public var maxSamples: Int?
        /// Greedy generation of each completion, scored by exact match (after trimming whitespace).
        public var generate = true
        public var maxNewTokens = 64
        /// The evaluation report (`slm eval`'s, docs/evaluation.md) written into the run folder after the last step.
        public var report = true
        /// How generated answers are scored in the report; `auto` decides from the references.
        public var task: EvalTask = .auto
        /// The accuracy the report's routing analysis looks for a confidence threshold to reach.
        public var targetAccuracy = 0.95

        public init() {}
    }

    /// Run after training, as `slm merge` would with the trained adapter (LoRA runs only).
    public struct ExportSection: Sendable, Equatable {
        public var format: MergeExport.Format = .gguf
        /// GGUF quantizations: one file each, from one merge.
        public var quants: [GGUFFileType] = [.q8_0]
        /// safetensors element type.
        public var dtype: ExportDType = .f16
        /// Where to write; nil: `exportPath(outputDir:)`.
        public var path: String?
        /// Read the export back and compare it with base + adapter.
        public var verify = true

        public init() {}

        /// The GGUF types `MergeReport` writes: `quants` for a GGUF, none otherwise.
        public var fileTypes: [GGUFFileType] { format == .gguf ? quants : [] }

        /// Each export's column in the run's evaluation report, in the order written (`fileTypes`, or the
        /// one folder); none for an adapter alone, which is no model.
        public var modelNames: [String] {
            switch format {
            case .gguf: return quants.map { "tuned-\($0.rawValue)" }
            case .safetensors: return ["tuned-\(dtype.rawValue)"]
            case .loraGGUF: return []
            }
        }

        /// `output.dir`/export/model-QUANT.gguf (several quants: model.gguf, written as model.QUANT.gguf
        /// each), model-DTYPE (a folder), or adapter.gguf.
        public func exportPath(outputDir: String) -> String {
            if let path { return path }
            switch format {
            case .gguf: return outputDir + "/export/model" + (quants.count == 1 ? "-\(quants[0].rawValue)" : "") + ".gguf"
            case .safetensors: return outputDir + "/export/model-\(dtype.rawValue)"
            case .loraGGUF: return outputDir + "/export/adapter.gguf"
            }
        }
    }

    public enum ExportDType: String, Sendable, CaseIterable {
        case f32, f16, bf16

        public var safetensors: SafetensorsWriter.DType { SafetensorsWriter.DType(rawValue: rawValue.uppercased())! }
    }

    public enum EvalTask: String, Sendable, CaseIterable {
        /// label when the references are a few short labels, extraction when they are JSON objects, text otherwise.
        case auto
        /// Classification: each reference is one of a few labels.
        case label
        /// Each reference is a JSON object of fields.
        case extraction
        /// Free text, scored by ROUGE-L.
        case text
    }
}
