import Foundation
import SLMModel
import SLMTensor

/// What a run trains, and the file it saves them in: LoRA adapters (PEFT's layout, so a
/// checkpoint or the final adapter loads in PEFT as is), or selected base weights (full fine-tuning).
public struct TrainableParameters {
    public enum Kind {
        case lora(adapters: [String: LoRALinear], config: PEFTAdapter.Config)
        case full
    }

    public let kind: Kind
    /// Each trained tensor under the name it has in the saved file, in a fixed order.
    public let named: [(name: String, tensor: Tensor)]
    /// A depth-pruned student's layers, saved beside the tensors (kept_layers.json) so loaders prune the base first.
    public var keptLayers: KeptLayers?

    public var tensors: [Tensor] { named.map(\.tensor) }
    public var scalarCount: Int { named.reduce(0) { $0 + $1.tensor.count } }
    var weightsFile: String { if case .lora = kind { PEFTAdapter.weightsFile } else { "model.safetensors" } }

    /// PEFT-initialised adapters on the recipe's target modules (lora_A of adapter i drawn from seed + i);
    /// `all-linear` is every projection of the model, and the adapter's config lists them, as PEFT's does.
    /// A target the model does not have (q_proj on Phi-3, whose q/k/v are one qkv_proj) is refused
    /// naming the recipe key and the model's own projections.
    public static func lora(_ section: Recipe.LoRASection, model: Transformer, baseModel: String, seed: UInt64) throws -> TrainableParameters {
        let known = model.loraTargets
        let targets = section.targetModules == [Recipe.LoRASection.allLinear] ? known : section.targetModules
        if let missing = targets.first(where: { !known.contains($0) }) {
            throw TensorError(
                op: "lora.target_modules",
                "\"\(missing)\" is not a projection of this \(model.config.architecture) model, which has \(known.joined(separator: ", ")); set lora.target_modules to some of those")
        }
        let config = LoRAConfig(r: section.r, loraAlpha: section.alpha, loraDropout: section.dropout, useRSLoRA: section.useRSLoRA)
        let adapters = try model.addLoRA(config, targetModules: targets, seed: seed)
        return lora(adapters, config: PEFTAdapter.Config(lora: config, targetModules: targets, baseModel: baseModel))
    }

    /// Adapters already attached to the model, e.g. by `PEFTAdapter.load` to continue training one.
    public static func lora(_ adapters: [String: LoRALinear], config: PEFTAdapter.Config) -> TrainableParameters {
        var named: [(String, Tensor)] = []
        for module in adapters.keys.sorted() {
            named.append((PEFTAdapter.tensorName(module, "lora_A"), adapters[module]!.loraA))
            named.append((PEFTAdapter.tensorName(module, "lora_B"), adapters[module]!.loraB))
        }
        return TrainableParameters(kind: .lora(adapters: adapters, config: config), named: named)
    }

    /// The model's dense weights whose Hugging Face names match one of `patterns` (shell globs);
    /// every other weight is frozen.
    public static func full(model: Transformer, patterns: [String]) throws -> TrainableParameters {
        let all = model.namedParameters
        let chosen = all.filter { p in patterns.contains { fnmatch($0, p.name, 0) == 0 } }
        guard !chosen.isEmpty else {
            throw TensorError(
                op: "train.trainable", "\(patterns) matches none of the model's dense weights (e.g. \(all.first?.name ?? "none")); a base kept quantized cannot be fully fine-tuned")
        }
        for p in all { p.tensor.requiresGrad = chosen.contains { $0.tensor === p.tensor } }
        return TrainableParameters(kind: .full, named: chosen)
    }

    /// Writes the trained tensors into `folder` (the adapter files for LoRA), and the kept layers of a pruned student.
    public func save(to folder: String) throws {
        try keptLayers?.write(into: folder)
        switch kind {
        case .lora(let adapters, let config): try PEFTAdapter.save(adapters, config: config, to: folder)
        case .full:
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try SafetensorsWriter.write(
                Dictionary(uniqueKeysWithValues: named.map { ($0.name, $0.tensor) }), metadata: ["format": "pt"],
                to: folder + "/" + weightsFile)
        }
    }

    /// Sets every trained tensor to the value saved in `folder` by `save(to:)`.
    public func restore(from folder: String) throws {
        let file = try SafetensorsFile(path: folder + "/" + weightsFile)
        for (name, tensor) in named {
            guard let info = file.tensor(named: name) else { throw FormatError(file: file.path, field: name, "missing from the checkpoint") }
            guard info.shape == tensor.shape else {
                throw FormatError(file: file.path, field: name, "shape \(info.shape) in the checkpoint, \(tensor.shape) in the model")
            }
            let saved = try file.floats(info)
            tensor.data.update(from: saved.data, count: tensor.count)
        }
    }
}
