import SLMTensor

extension LoRALinear {
    /// W + scaling · B · A as one dense [out, in] weight (a quantized base is dequantized first).
    public func mergedWeight() throws -> Tensor {
        try GradMode.withoutGrad {
            let update = try loraB.matmul(loraA).scaled(by: config.scaling)
            let merged: Tensor
            switch base {
            case let dense as Tensor: merged = try dense.detached() + update
            case let quantized as QuantizedMatrix:
                let weight = Tensor(uninitialized: quantized.shape)
                quantized.dequantize(rows: 0..<quantized.rows, into: weight.data)
                merged = try weight + update
            default:
                throw TensorError(op: "merge", "cannot merge into a base weight of type \(type(of: base))")
            }
            return merged
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
