import Foundation
import SLMTensor

/// The `config.json` of a Hugging Face model folder, in transformers' own key names.
///
/// ```
/// { "model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "num_hidden_layers": 30,
///   "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "intermediate_size": 1536,
///   "rms_norm_eps": 1e-05, "max_position_embeddings": 8192, "tie_word_embeddings": true,
///   "rope_theta": 100000.0, "rope_scaling": null,                          transformers 4.x
///   "rope_parameters": { "rope_type": "default", "rope_theta": 100000.0 }, transformers 5.x
///   ... }
/// ```
/// `model_type` llama, mistral (`sliding_window`: its attention span, or null), qwen2 (q/k/v biases
/// always; `use_sliding_window` must be false), qwen3 (q/k RMSNorm always; `attention_bias`, which
/// would add o_proj's bias too, must be false) and phi3 (Phi-3, Phi-4-mini: fused qkv_proj and
/// gate_up_proj; `sliding_window` as Mistral's; `partial_rotary_factor` top-level (4.x) or in
/// rope_parameters (5.x): the first int(head_dim · factor) dimensions of each head rotate; rope type
/// "longrope" with `short_factor`, `long_factor` and `original_max_position_embeddings`, in the rope
/// section or top-level, and optional `factor` / `attention_factor`: see `LongRope`)
/// and gemma3_text (its keys: `HuggingFaceConfig+Gemma`).
/// Every field is optional here so that a missing one is reported by name in `modelConfig`;
/// keys slm does not use are ignored. Defaults (LlamaConfig's) for fields that may be absent:
/// num_key_value_heads = num_attention_heads, head_dim = hidden_size / num_attention_heads,
/// rms_norm_eps = 1e-6, rope_theta = 10,000, max_position_embeddings = 2048,
/// tie_word_embeddings = false, hidden_act = "silu", attention_bias = mlp_bias = false.
public struct HuggingFaceConfig: Codable, Sendable {
    public var modelType: String?
    public var vocabSize: Int?
    public var hiddenSize: Int?
    public var numHiddenLayers: Int?
    public var numAttentionHeads: Int?
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var intermediateSize: Int?
    public var rmsNormEps: Double?
    public var ropeTheta: Double?
    /// transformers 4.x: the scaling alone (`rope_theta` is top-level).
    public var ropeScaling: RopeScaling?
    /// transformers 5.x: type, theta and scaling together.
    public var ropeParameters: RopeScaling?
    public var maxPositionEmbeddings: Int?
    public var tieWordEmbeddings: Bool?
    public var hiddenAct: String?
    public var attentionBias: Bool?
    public var mlpBias: Bool?
    /// Mistral's sliding-window attention span (null when attention is global).
    public var slidingWindow: Int?
    /// Qwen2/Qwen3: whether `sliding_window` applies (to the layers `layer_types` names "sliding_attention").
    public var useSlidingWindow: Bool?
    /// Phi-3 (4.x): the share of each head's dimensions that rotate (5.x keeps it in rope_parameters).
    public var partialRotaryFactor: Double?
    /// Phi-3 (4.x): LongRoPE's original context (5.x keeps it in rope_parameters too).
    public var originalMaxPositionEmbeddings: Int?
    /// Gemma 3's keys (see `HuggingFaceConfig+Gemma.swift`).
    public var hiddenActivation: String?
    public var queryPreAttnScalar: Double?
    public var layerTypes: [String]?
    public var slidingWindowPattern: Int?
    public var ropeLocalBaseFreq: Double?
    public var finalLogitSoftcapping: Double?
    public var attnLogitSoftcapping: Double?
    public var useBidirectionalAttention: Bool?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case intermediateSize = "intermediate_size"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case hiddenAct = "hidden_act"
        case attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
        case slidingWindow = "sliding_window"
        case useSlidingWindow = "use_sliding_window"
        case partialRotaryFactor = "partial_rotary_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        case hiddenActivation = "hidden_activation"
        case queryPreAttnScalar = "query_pre_attn_scalar"
        case layerTypes = "layer_types"
        case slidingWindowPattern = "sliding_window_pattern"
        case ropeLocalBaseFreq = "rope_local_base_freq"
        case finalLogitSoftcapping = "final_logit_softcapping"
        case attnLogitSoftcapping = "attn_logit_softcapping"
        case useBidirectionalAttention = "use_bidirectional_attention"
    }

    /// `rope_scaling` (4.x) or `rope_parameters` (5.x, which also holds `rope_theta`).
    public struct RopeScaling: Codable, Sendable {
        public var ropeType: String?
        /// The older name of `rope_type`.
        public var type: String?
        public var ropeTheta: Double?
        public var factor: Double?
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var originalMaxPositionEmbeddings: Int?
        /// LongRoPE (Phi-3): per-frequency divisors within and beyond the original context, and the
        /// cos/sin scale (derived from `factor` when absent).
        public var shortFactor: [Double]?
        public var longFactor: [Double]?
        public var attentionFactor: Double?
        public var partialRotaryFactor: Double?
        /// Gemma 3 (5.x): one set per layer type instead of one for all.
        public var fullAttention: Nested?, slidingAttention: Nested?

        /// A set inside a set (a struct cannot hold itself directly).
        public final class Nested: Codable, Sendable {
            public let value: RopeScaling
            public init(from decoder: any Decoder) throws { value = try RopeScaling(from: decoder) }
            public func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
        }

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type"
            case type
            case ropeTheta = "rope_theta"
            case factor
            case lowFreqFactor = "low_freq_factor"
            case highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case shortFactor = "short_factor", longFactor = "long_factor", attentionFactor = "attention_factor"
            case partialRotaryFactor = "partial_rotary_factor"
            case fullAttention = "full_attention"
            case slidingAttention = "sliding_attention"
        }
    }

    /// Reads and decodes a config.json (values of the wrong JSON type are errors naming the key).
    public static func load(path: String) throws -> HuggingFaceConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(file: path, field: nil, "cannot read: \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(HuggingFaceConfig.self, from: data)
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch(_, let context) where context.codingPath.isEmpty:
                throw FormatError(file: path, field: nil, "is not a JSON object")
            case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
                throw FormatError(file: path, field: Self.keyPath(context.codingPath), "expected \(Self.jsonKind(type))")
            case .dataCorrupted(let context):
                throw FormatError(file: path, field: context.codingPath.isEmpty ? nil : Self.keyPath(context.codingPath), "not valid JSON: \(context.debugDescription)")
            case .keyNotFound(let key, let context):
                throw FormatError(file: path, field: Self.keyPath(context.codingPath + [key]), "missing")
            @unknown default:
                throw FormatError(file: path, field: nil, "\(error)")
            }
        }
    }

    private static func jsonKind(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: "\(type)"
        }
    }

    private static func keyPath(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }

    /// Checks the fields slm needs and builds its `ModelConfig`; `file` names config.json in errors.
    public func modelConfig(file: String) throws -> ModelConfig {
        func fail(_ key: String, _ message: String) -> FormatError { FormatError(file: file, field: key, message) }
        func required(_ value: Int?, _ key: String) throws -> Int {
            guard let value else { throw fail(key, "missing") }
            guard value > 0, value <= 1 << 24 else { throw fail(key, "\(value) is out of range (1 to \(1 << 24))") }
            return value
        }

        guard let modelType else { throw fail("model_type", "missing") }
        let maxPositions = maxPositionEmbeddings ?? 2048
        guard maxPositions > 0 else { throw fail("max_position_embeddings", "must be > 0, got \(maxPositions)") }
        var window: Int?
        switch modelType {
        case "llama", "qwen2", "qwen3":
            if useSlidingWindow == true { throw fail("use_sliding_window", "sliding-window layers of \(modelType) are not supported yet") }
        case "gemma3_text":
            break
        case "mistral", "phi3":
            if let slidingWindow {
                guard slidingWindow > 0 else { throw fail("sliding_window", "must be > 0, got \(slidingWindow)") }
                if slidingWindow < maxPositions { window = slidingWindow }
            }
        default:
            throw fail("model_type", "\"\(modelType)\" is not supported (llama, mistral, phi3, qwen2, qwen3 and gemma3_text are)")
        }
        if let act = hiddenAct, act != "silu", modelType != "gemma3_text" { throw fail("hidden_act", "\"\(act)\" is not supported (silu is)") }
        if attentionBias == true { throw fail("attention_bias", "o_proj biases are not supported (\(modelType) would add one to q/k/v/o)") }
        if mlpBias == true { throw fail("mlp_bias", "MLP biases are not supported") }

        let vocab = try required(vocabSize, "vocab_size")
        let hidden = try required(hiddenSize, "hidden_size")
        let layers = try required(numHiddenLayers, "num_hidden_layers")
        let heads = try required(numAttentionHeads, "num_attention_heads")
        let intermediate = try required(intermediateSize, "intermediate_size")
        let kvHeads = try required(numKeyValueHeads ?? heads, "num_key_value_heads")
        guard heads % kvHeads == 0 else {
            throw fail("num_key_value_heads", "\(kvHeads) key/value heads cannot be shared evenly by num_attention_heads \(heads)")
        }
        let dim: Int
        if let headDim = headDim ?? (modelType == "gemma3_text" ? 256 : nil) {
            dim = try required(headDim, "head_dim")
        } else {
            guard hidden % heads == 0 else {
                throw fail("num_attention_heads", "hidden_size \(hidden) is not divisible by \(heads) heads, and there is no head_dim")
            }
            dim = hidden / heads
        }
        guard dim % 2 == 0 else { throw fail("head_dim", "\(dim) must be even for rotary embedding") }
        let eps = rmsNormEps ?? 1e-6
        guard eps > 0, eps < 1 else { throw fail("rms_norm_eps", "\(eps) is out of range (0 to 1)") }
        let gemma = modelType == "gemma3_text" ? try gemmaLayout(layers: layers, headDim: dim, file: file) : nil
        let (rope, longRope) = try gemma.map { ($0.fullRope, nil) } ?? self.rope(rotaryDim: rotaryDim(headDim: dim, file: file), maxPositions: maxPositions, file: file)

        return ModelConfig(
            architecture: modelType, vocabSize: vocab, hiddenSize: hidden, layers: layers, heads: heads, kvHeads: kvHeads,
            headDim: dim, intermediateSize: intermediate, rmsNormEps: Float(eps),
            rope: rope, maxPositions: maxPositions, tieWordEmbeddings: tieWordEmbeddings ?? (gemma != nil),
            attentionBias: modelType == "qwen2", queryKeyNorm: modelType == "qwen3" || gemma != nil, slidingWindow: gemma?.window ?? window,
            fusedProjections: modelType == "phi3", longRope: longRope, gemma: gemma?.layout)
    }

    /// int(head_dim · partial_rotary_factor) (transformers' rule), from rope_parameters or top-level; head_dim when absent.
    func rotaryDim(headDim: Int, file: String) throws -> Int {
        let inner = ropeParameters?.partialRotaryFactor ?? ropeScaling?.partialRotaryFactor
        guard let factor = inner ?? partialRotaryFactor else { return headDim }
        let key = inner != nil ? "rope_parameters.partial_rotary_factor" : "partial_rotary_factor"
        let dim = Int(Double(headDim) * factor)
        guard factor > 0, factor <= 1, dim >= 2, dim % 2 == 0 else {
            throw FormatError(file: file, field: key, "\(factor) of head_dim \(headDim) gives \(dim) rotary dimensions (expected an even number ≥ 2, factor in (0, 1])")
        }
        return dim
    }

    /// The rotary frequencies from `rope_parameters` (5.x) or `rope_theta` + `rope_scaling` (4.x), and
    /// for rope type longrope the `LongRope` that replaces them past the original context.
    func rope(rotaryDim headDim: Int, maxPositions: Int, file: String) throws -> (RopeFrequencies, LongRope?) {
        let section = ropeParameters != nil ? "rope_parameters" : "rope_scaling"
        let scaling = ropeParameters ?? ropeScaling
        func fail(_ key: String, _ message: String) -> FormatError { FormatError(file: file, field: key, message) }

        if let inner = ropeParameters?.ropeTheta, let outer = ropeTheta, inner != outer {
            throw fail("rope_theta", "\(outer) contradicts rope_parameters.rope_theta \(inner)")
        }
        let theta = scaling?.ropeTheta ?? ropeTheta ?? 10_000
        guard theta > 0, theta.isFinite else { throw fail(ropeParameters?.ropeTheta != nil ? "rope_parameters.rope_theta" : "rope_theta", "must be > 0, got \(theta)") }
        if let a = ropeParameters?.ropeType ?? ropeParameters?.type, let b = ropeScaling?.ropeType ?? ropeScaling?.type, a != b {
            throw fail("rope_scaling", "type \"\(b)\" contradicts rope_parameters' \"\(a)\"")
        }
        if let a = scaling?.ropeType, let b = scaling?.type, a != b {
            throw fail("\(section).type", "\"\(b)\" contradicts rope_type \"\(a)\"")
        }
        let type: String
        if let scaling {
            guard let named = scaling.ropeType ?? scaling.type else { throw fail("\(section).rope_type", "missing") }
            type = named
        } else {
            type = "default"
        }
        func need(_ value: Double?, _ key: String) throws -> Double {
            guard let value else { throw fail("\(section).\(key)", "missing (rope_type \(type) needs it)") }
            return value
        }
        do {
            switch type {
            case "default":
                return (try .standard(base: theta, rotaryDim: headDim), nil)
            case "linear":
                return (try .linear(base: theta, rotaryDim: headDim, factor: need(scaling?.factor, "factor")), nil)
            case "llama3":
                guard let original = scaling?.originalMaxPositionEmbeddings else {
                    throw fail("\(section).original_max_position_embeddings", "missing (rope_type llama3 needs it)")
                }
                return (try .llama3(
                    base: theta, rotaryDim: headDim, factor: need(scaling?.factor, "factor"),
                    lowFreqFactor: need(scaling?.lowFreqFactor, "low_freq_factor"),
                    highFreqFactor: need(scaling?.highFreqFactor, "high_freq_factor"), originalMaxPositions: original), nil)
            case "longrope", "su":
                guard let original = scaling?.originalMaxPositionEmbeddings ?? originalMaxPositionEmbeddings else {
                    throw fail("\(section).original_max_position_embeddings", "missing (rope_type longrope needs it)")
                }
                guard let short = scaling?.shortFactor else { throw fail("\(section).short_factor", "missing (rope_type longrope needs it)") }
                guard let long = scaling?.longFactor else { throw fail("\(section).long_factor", "missing (rope_type longrope needs it)") }
                let factor = scaling?.factor ?? Double(maxPositions) / Double(max(original, 1))
                let attention = scaling?.attentionFactor ?? LongRope.attentionFactor(factor: factor, originalMaxPositions: original)
                let frequencies = try LongRope.frequencies(
                    base: theta, rotaryDim: headDim, shortFactors: short, longFactors: long, originalMaxPositions: original,
                    attentionFactor: attention)
                return (frequencies.short, frequencies.longRope)
            default:
                throw fail("\(section).rope_type", "\"\(type)\" is not supported (default, linear, llama3, longrope are)")
            }
        } catch let error as TensorError {
            throw fail(section, error.message)
        }
    }
}
