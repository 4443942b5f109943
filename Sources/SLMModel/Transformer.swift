import SLMTensor

/// A decoder-only transformer: token embedding (times √hidden_size for Gemma), decoder layers, final
/// RMSNorm, and the output projection (the embedding itself when tied).
public final class Transformer {
    public let config: ModelConfig
    public let embedTokens: Tensor
    public internal(set) var layers: [DecoderLayer]
    public let norm: Tensor
    public let lmHead: Tensor
    /// The output projection still in its ggml blocks (a GGUF loaded with `keepQuantized`): a decoding
    /// step's logits read it instead of `lmHead`'s Float32 copy, a quarter of the bytes or less per
    /// token. Unused while `lmHead` is being trained.
    public var decodingHead: QuantizedMatrix?
    /// `lmHead` held in bf16 for mixed-precision training (`holdFrozenProjectionsInBFloat16`): the loss
    /// head's products read it while `lmHead` is frozen.
    public internal(set) var headInBF16: BFloat16Matrix?
    /// Activation recomputation (gradient checkpointing): while recording, each decoder layer keeps
    /// only its input, and its forward pass runs again during backward. One more forward pass per
    /// step for the memory of every layer's saved activations but one.
    public var recomputesActivations = false

    public init(config: ModelConfig, embedTokens: Tensor, layers: [DecoderLayer], norm: Tensor, lmHead: Tensor?) {
        self.config = config
        self.embedTokens = embedTokens
        self.layers = layers
        self.norm = norm
        self.lmHead = lmHead ?? embedTokens
    }

    /// Final hidden states [B·T, C] of `batch` sequences of `sequence` tokens each.
    /// `positions` defaults to 0..<T in every row; packed samples pass their own with `mask.segments`.
    public func hiddenStates(_ ids: [Int32], batch: Int, sequence: Int, positions: [Int32]? = nil, mask: AttentionMask = .init()) throws -> Tensor {
        guard ids.count == batch * sequence else {
            throw TensorError(op: "Transformer", "\(ids.count) token ids do not fill batch \(batch) × sequence \(sequence)")
        }
        let positions = positions ?? (0..<ids.count).map { Int32($0 % max(sequence, 1)) }
        var x = try embedded(ids)
        for layer in layers {
            if recomputesActivations && GradMode.isEnabled {
                x = try Tensor.recomputed([x]) { try layer.forward($0[0], batch: batch, sequence: sequence, positions: positions, mask: mask) }
            } else {
                x = try layer.forward(x, batch: batch, sequence: sequence, positions: positions, mask: mask)
            }
        }
        return try finalNorm(x)
    }

    /// Final hidden states [N, C] of `ids`, the N tokens that follow the ones in `cache`: each layer
    /// reads only the new tokens and attends over the cached keys and values, which grow by these N.
    /// Equals the rows of `hiddenStates(_:batch:sequence:)` over the whole sequence. Inference only.
    public func hiddenStates(_ ids: [Int32], cache: KVCache) throws -> Tensor {
        guard !ids.isEmpty, cache.count + ids.count <= cache.maxTokens else {
            throw TensorError(op: "Transformer", "\(ids.count) new tokens do not fit after the \(cache.count) cached ones (cache of \(cache.maxTokens))")
        }
        guard cache.keys.count == layers.count else {
            throw TensorError(op: "Transformer", "the cache has \(cache.keys.count) layers, the model \(layers.count)")
        }
        return try GradMode.withoutGrad {
            var x = try embedded(ids)
            for (n, layer) in layers.enumerated() {
                x = try layer.forward(x, cache: cache, layer: n)
            }
            cache.commit(ids)
            return try finalNorm(x)
        }
    }

    /// The rows of the token embedding for `ids` [N] → [N, C], multiplied by √hidden_size for Gemma
    /// (in Float32, as transformers' Gemma3TextScaledWordEmbedding).
    public func embedded(_ ids: [Int32]) throws -> Tensor {
        let x = try embedTokens.embedding(ids)
        return try config.gemma == nil ? x : x.scaled(by: Float(config.hiddenSize).squareRoot())
    }

    func finalNorm(_ x: Tensor) throws -> Tensor {
        try x.rmsNorm(weight: norm, eps: config.rmsNormEps, weightOffset: config.layer.normWeightOffset)
    }

    /// Logits [V] of the token after `ids`, which are appended to `cache`; only the last row goes
    /// through the output projection.
    public func nextTokenLogits(_ ids: [Int32], cache: KVCache) throws -> Tensor {
        let hidden = try hiddenStates(ids, cache: cache)
        let c = config.hiddenSize
        let last = Tensor(uninitialized: [1, c])
        last.data.update(from: hidden.data + (ids.count - 1) * c, count: c)
        return try GradMode.withoutGrad {
            let logits = try decodingHead.flatMap { lmHead.requiresGrad ? nil : $0 }.map { try last.linear($0) } ?? logits(last)
            return try logits.reshaped([config.vocabSize])
        }
    }

    /// Logits [N, V] for hidden states [N, C]. Training uses `Tensor.lossHead` instead, which never
    /// materialises all of them.
    public func logits(_ hidden: Tensor) throws -> Tensor { try hidden.linear(lmHead) }
}
