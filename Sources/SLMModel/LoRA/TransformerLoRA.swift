import SLMTensor

extension Transformer {
    /// Projection names LoRA can target in this model, as PEFT's `target_modules` names them: q_proj,
    /// k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or Phi-3's qkv_proj, o_proj, gate_up_proj, down_proj.
    public var loraTargets: [String] {
        (layers.first?.weights.projections ?? []).map { String($0.module.split(separator: ".").last!) }
    }

    /// Wraps every projection named in `targetModules` (e.g. ["q_proj", "v_proj"]) in a `LoRALinear`.
    /// `make(module, base)` builds the adapter for the module at Hugging Face path `module`
    /// (e.g. "model.layers.3.self_attn.q_proj"). Returns the adapters by that path.
    /// All or nothing: every adapter is built before the first is attached, so an error leaves the model as it was.
    @discardableResult
    public func addLoRA(
        targetModules: [String], _ make: (String, any LinearWeight) throws -> LoRALinear
    ) throws -> [String: LoRALinear] {
        var planned: [(layer: Int, path: WritableKeyPath<DecoderLayerWeights, any LinearWeight>, module: String, adapter: LoRALinear)] = []
        for (n, path, module) in try loraModules(targetModules) {
            guard !(layers[n].weights[keyPath: path] is LoRALinear) else {
                throw TensorError(op: "addLoRA", "\(module) already has an adapter")
            }
            planned.append((n, path, module, try make(module, layers[n].weights[keyPath: path])))
        }
        for p in planned { layers[p.layer].weights[keyPath: p.path] = p.adapter }
        return Dictionary(uniqueKeysWithValues: planned.map { ($0.module, $0.adapter) })
    }

    /// The projections `targetModules` names: layer index, where the weight sits, and its Hugging Face path.
    func loraModules(_ targetModules: [String]) throws -> [(Int, WritableKeyPath<DecoderLayerWeights, any LinearWeight>, String)] {
        let known = loraTargets
        if let unknown = targetModules.first(where: { !known.contains($0) }) {
            throw TensorError(op: "addLoRA", "unknown target module \"\(unknown)\"; this \(config.architecture) model has \(known.joined(separator: ", "))")
        }
        return layers.indices.flatMap { n in
            layers[n].weights.projections
                .filter { targetModules.contains(String($0.module.split(separator: ".").last!)) }
                .map { (n, $0.path, "model.layers.\(n).\($0.module)") }
        }
    }

    /// New PEFT-initialised adapters on `targetModules`; adapter i of the model draws lora_A from `seed` + i.
    @discardableResult
    public func addLoRA(_ config: LoRAConfig, targetModules: [String], seed: UInt64) throws -> [String: LoRALinear] {
        var count: UInt64 = 0
        return try addLoRA(targetModules: targetModules) { _, base in
            defer { count += 1 }
            return try LoRALinear(base: base, config: config, seed: seed &+ count)
        }
    }
}
