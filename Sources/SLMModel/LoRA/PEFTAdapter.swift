import Foundation
import SLMTensor

/// A LoRA adapter in PEFT's layout, which `PeftModel.from_pretrained` loads:
/// ```
/// adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout", "use_rslora",
///                             "target_modules", "base_model_name_or_path", "task_type", ...}
/// adapter_model.safetensors  base_model.model.<module>.lora_A.weight [r, in]
///                            base_model.model.<module>.lora_B.weight [out, r]
/// ```
/// where <module> is the Hugging Face path, e.g. model.layers.0.self_attn.q_proj.
public enum PEFTAdapter {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    public struct Config: Codable, Equatable, Sendable {
        public var peftType = "LORA"
        public var taskType = "CAUSAL_LM"
        public var r: Int
        public var loraAlpha: Float
        public var loraDropout: Float
        public var useRSLoRA: Bool
        public var targetModules: [String]
        public var baseModelNameOrPath: String?
        public var bias = "none"
        public var fanInFanOut = false
        public var inferenceMode = true

        enum CodingKeys: String, CodingKey {
            case peftType = "peft_type", taskType = "task_type", r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout"
            case useRSLoRA = "use_rslora", targetModules = "target_modules", baseModelNameOrPath = "base_model_name_or_path"
            case bias, fanInFanOut = "fan_in_fan_out", inferenceMode = "inference_mode"
        }

        public init(lora: LoRAConfig, targetModules: [String], baseModel: String?) {
            r = lora.r
            loraAlpha = lora.loraAlpha
            loraDropout = lora.loraDropout
            useRSLoRA = lora.useRSLoRA
            self.targetModules = targetModules
            baseModelNameOrPath = baseModel
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            peftType = try c.decode(String.self, forKey: .peftType)
            taskType = try c.decodeIfPresent(String.self, forKey: .taskType) ?? "CAUSAL_LM"
            r = try c.decode(Int.self, forKey: .r)
            loraAlpha = try c.decode(Float.self, forKey: .loraAlpha)
            loraDropout = try c.decodeIfPresent(Float.self, forKey: .loraDropout) ?? 0
            useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? false
            // PEFT also allows a single regular-expression string; slm needs the list form.
            targetModules = try c.decode([String].self, forKey: .targetModules)
            baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
            bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
            fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
            inferenceMode = try c.decodeIfPresent(Bool.self, forKey: .inferenceMode) ?? true
        }

        public var lora: LoRAConfig { LoRAConfig(r: r, loraAlpha: loraAlpha, loraDropout: loraDropout, useRSLoRA: useRSLoRA) }
    }

    public static func tensorName(_ module: String, _ matrix: String) -> String { "base_model.model.\(module).\(matrix).weight" }

    /// Writes `adapters` (by module path, as `Transformer.addLoRA` returns them) into `folder`.
    public static func save(_ adapters: [String: LoRALinear], config: Config, to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for (module, adapter) in adapters {
            tensors[tensorName(module, "lora_A")] = adapter.loraA
            tensors[tensorName(module, "lora_B")] = adapter.loraB
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder + "/" + weightsFile)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(config), to: folder + "/" + configFile)
    }

    /// Reads the adapter in `folder` and attaches it to `model`, checking every module and shape.
    @discardableResult
    public static func load(_ folder: String, into model: Transformer) throws -> (config: Config, adapters: [String: LoRALinear]) {
        let configPath = folder + "/" + configFile
        let config: Config
        do {
            config = try JSONDecoder().decode(Config.self, from: Data(contentsOf: URL(fileURLWithPath: configPath)))
        } catch let error as DecodingError {
            throw FormatError(file: configPath, field: error.codingPathDescription, "\(error.plainDescription)")
        } catch {
            throw FormatError(file: configPath, field: nil, "cannot read: \(error.localizedDescription)")
        }
        guard config.peftType == "LORA" else { throw FormatError(file: configPath, field: "peft_type", "\"\(config.peftType)\" is not LORA") }
        guard config.r > 0 else { throw FormatError(file: configPath, field: "r", "must be positive, got \(config.r)") }
        guard config.bias == "none", !config.fanInFanOut else {
            throw FormatError(file: configPath, field: "bias", "adapters with bias \"\(config.bias)\" or fan_in_fan_out are not supported")
        }
        let weights = try SafetensorsFile(path: folder + "/" + weightsFile)
        let expected = Set(try model.loraModules(config.targetModules).flatMap { [tensorName($0.2, "lora_A"), tensorName($0.2, "lora_B")] })
        if let extra = weights.tensors.map(\.name).sorted().first(where: { !expected.contains($0) }) {
            throw FormatError(file: weights.path, field: extra, "names a module this model does not have or the config does not target (is the adapter for another base model?)")
        }
        let adapters = try model.addLoRA(targetModules: config.targetModules) { module, base in
            func matrix(_ kind: String, _ shape: [Int]) throws -> Tensor {
                let name = tensorName(module, kind)
                guard let info = weights.tensor(named: name) else {
                    throw FormatError(file: weights.path, field: name, "missing: the adapter does not cover \(module)")
                }
                guard info.shape == shape else {
                    throw FormatError(file: weights.path, field: name, "shape \(info.shape) does not fit the model's \(module) \(base.shape) at r = \(config.r)")
                }
                return try weights.floats(info)
            }
            return try LoRALinear(
                base: base, config: config.lora,
                loraA: try matrix("lora_A", [config.r, base.shape[1]]), loraB: try matrix("lora_B", [base.shape[0], config.r]))
        }
        return (config, adapters)
    }
}

extension DecodingError {
    var codingPathDescription: String? {
        switch self {
        case .keyNotFound(let key, let context): (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            context.codingPath.map(\.stringValue).joined(separator: ".")
        @unknown default: nil
        }
    }

    var plainDescription: String {
        switch self {
        case .keyNotFound: "missing"
        case .typeMismatch(let type, _): "expected \(type)"
        case .valueNotFound(let type, _): "expected a \(type), found null"
        case .dataCorrupted(let context): context.debugDescription
        @unknown default: "invalid"
        }
    }
}
