import SLMTensor

extension LoRALinear {
    /// W + scaling · B · A as one dense [out, in] weight (a quantized or bf16 base is widened to Float32 first).
    public func mergedWeight() throws -> Tensor {
        try GradMode.withoutGrad {
            let update = try loraB.matmul(loraA).scaled(by: config.scaling)
            return try base.denseWeight() + update
        }
    }
}

extension Transformer {
    /// Folds every LoRA adapter into its projection, leaving a model with dense weights and no
    /// adapters: the same outputs as base + adapters, without their cost.
    public func mergeLoRA() throws {
        for n in layers.indices {
            for (_, path) in layers[n].weights.projections {
                guard let adapter = layers[n].weights[keyPath: path] as? LoRALinear else { continue }
                layers[n].weights[keyPath: path] = try adapter.mergedWeight()
            }
        }
    }
}
