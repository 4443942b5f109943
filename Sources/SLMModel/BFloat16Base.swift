import SLMTensor

extension DecoderLayerWeights {
    /// Holds every frozen dense projection, a LoRA adapter's base included, in bf16 (`BFloat16Matrix`).
    /// Returns how many it converted.
    @discardableResult
    public mutating func holdFrozenProjectionsInBFloat16() throws -> Int {
        var converted = 0
        for (_, path) in projections {
            switch self[keyPath: path] {
            case let dense as Tensor where !dense.requiresGrad:
                self[keyPath: path] = try BFloat16Matrix(dense)
                converted += 1
            case let adapter as LoRALinear:
                guard let dense = adapter.base as? Tensor, !dense.requiresGrad else { continue }
                adapter.base = try BFloat16Matrix(dense)
                converted += 1
            default: continue
            }
        }
        return converted
    }
}

extension Transformer {
    /// Mixed-precision training: every frozen projection is held in bf16 and its products run in bf16
    /// (see `BFloat16Matrix`), while everything trained (adapters, selected weights, their gradients
    /// and optimizer state) stays Float32. A frozen output head gets a bf16 copy (`headInBF16`) for
    /// the loss head's products; its Float32 form stays, as the embedding it may be tied to. Returns
    /// how many projections it converted.
    ///
    /// The Float32 projections it replaces are given back to the system rather than kept in
    /// `BufferPool` (which recycles by exact size, and training asks for few of theirs).
    @discardableResult
    public func holdFrozenProjectionsInBFloat16() throws -> Int {
        if !lmHead.requiresGrad { headInBF16 = try BFloat16Matrix(lmHead) }
        let converted = try layers.indices.reduce(0) { $0 + (try layers[$1].weights.holdFrozenProjectionsInBFloat16()) }
        BufferPool.shared.drain()
        return converted
    }
}
