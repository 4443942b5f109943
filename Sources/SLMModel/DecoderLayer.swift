import SLMTensor

/// Hyper-parameters of one pre-norm decoder layer (Llama / SmolLM2 layout, with the switches of
/// Qwen2, Qwen3, Mistral, Phi-3 and Gemma 3: see `ModelConfig`).
public struct DecoderLayerConfig: Sendable {
    public var hiddenSize: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var rmsNormEps: Float
    public var rope: RopeFrequencies
    public var attentionBias: Bool
    public var queryKeyNorm: Bool
    public var slidingWindow: Int?
    /// Phi-3's LongRoPE: other frequencies once a sequence reaches past the original context (`rope`
    /// holds the short-context ones), or nil.
    public var longRope: LongRope?
    /// Gemma 3's norms, MLP and attention scale (its `slidingLayers` are `ModelConfig.layer(_:)`'s business).
    public var gemma: GemmaLayout?

    public init(
        hiddenSize: Int, heads: Int, kvHeads: Int, headDim: Int, intermediateSize: Int, rmsNormEps: Float, rope: RopeFrequencies,
        attentionBias: Bool = false, queryKeyNorm: Bool = false, slidingWindow: Int? = nil, longRope: LongRope? = nil,
        gemma: GemmaLayout? = nil
    ) {
        self.hiddenSize = hiddenSize
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.rmsNormEps = rmsNormEps
        self.rope = rope
        self.attentionBias = attentionBias
        self.queryKeyNorm = queryKeyNorm
        self.slidingWindow = slidingWindow
        self.longRope = longRope
        self.gemma = gemma
    }

    /// The rotary frequencies of a forward over `positions`: the long ones of LongRoPE when the
    /// sequence reaches past the original context (max(positions) + 1 > originalMaxPositions, the
    /// rule of transformers' `longrope_frequency_update`, applied to the whole batch), else `rope`.
    public func rope(for positions: [Int32]) -> RopeFrequencies {
        guard let longRope, let last = positions.max(), Int(last) + 1 > longRope.originalMaxPositions else { return rope }
        return longRope.long
    }

    /// The scale of every norm's weight w: 1 + w for Gemma, w otherwise.
    var normWeightOffset: Float { gemma == nil ? 0 : 1 }

    /// SmolLM2-135M: 576 wide, 9 query heads and 3 key/value heads of 64, MLP 1536, rope base 100,000.
    public static func smolLM2_135M() throws -> DecoderLayerConfig {
        DecoderLayerConfig(
            hiddenSize: 576, heads: 9, kvHeads: 3, headDim: 64, intermediateSize: 1536, rmsNormEps: 1e-5,
            rope: try .standard(base: 100_000, rotaryDim: 64))
    }
}

/// The weights of one decoder layer, in Hugging Face's names and [out, in] layout.
/// Projections are dense tensors or, for a frozen base, quantized matrices.
///
/// Attention's inputs come from q_proj, k_proj and v_proj, or (Phi-3) from one fused qkv_proj
/// [(Hq + 2·Hkv)·D, C] whose rows are q's, then k's, then v's; the MLP's from gate_proj and up_proj,
/// or (Phi-3) from one gate_up_proj [2·F, C], gate rows then up rows. A layer holds one form or the
/// other (the initialisers make sure), and a fused projection stays one weight, so that a LoRA
/// adapter on it is one `LoRALinear`, as PEFT makes it.
public struct DecoderLayerWeights {
    public var inputLayernorm: Tensor
    /// nil when `qkvProj` holds them.
    public var qProj: (any LinearWeight)?, kProj: (any LinearWeight)?, vProj: (any LinearWeight)?
    /// Phi-3's fused q/k/v projection, or nil.
    public var qkvProj: (any LinearWeight)?
    public var oProj: any LinearWeight
    public var postAttentionLayernorm: Tensor
    /// nil when `gateUpProj` holds them.
    public var gateProj: (any LinearWeight)?, upProj: (any LinearWeight)?
    /// Phi-3's fused gate/up projection, or nil.
    public var gateUpProj: (any LinearWeight)?
    public var downProj: any LinearWeight
    /// q_proj, k_proj and v_proj's biases [out] (Qwen2), or nil.
    public var qBias: Tensor?, kBias: Tensor?, vBias: Tensor?
    /// The per-head query and key RMSNorm weights [headDim] (Qwen3, Gemma 3), or nil.
    public var qNorm: Tensor?, kNorm: Tensor?
    /// Gemma 3's norms around the MLP [hidden] (its `postAttentionLayernorm` then normalises the
    /// attention's output instead of the MLP's input), or nil.
    public var preFeedforwardLayernorm: Tensor?, postFeedforwardLayernorm: Tensor?

    public init(
        inputLayernorm: Tensor, qProj: any LinearWeight, kProj: any LinearWeight, vProj: any LinearWeight,
        oProj: any LinearWeight, postAttentionLayernorm: Tensor, gateProj: any LinearWeight,
        upProj: any LinearWeight, downProj: any LinearWeight,
        qBias: Tensor? = nil, kBias: Tensor? = nil, vBias: Tensor? = nil, qNorm: Tensor? = nil, kNorm: Tensor? = nil,
        preFeedforwardLayernorm: Tensor? = nil, postFeedforwardLayernorm: Tensor? = nil
    ) {
        self.inputLayernorm = inputLayernorm
        self.qProj = qProj
        self.kProj = kProj
        self.vProj = vProj
        self.oProj = oProj
        self.postAttentionLayernorm = postAttentionLayernorm
        self.gateProj = gateProj
        self.upProj = upProj
        self.downProj = downProj
        self.qBias = qBias
        self.kBias = kBias
        self.vBias = vBias
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.preFeedforwardLayernorm = preFeedforwardLayernorm
        self.postFeedforwardLayernorm = postFeedforwardLayernorm
    }

    /// A Phi-3 layer: fused qkv_proj and gate_up_proj.
    public init(
        inputLayernorm: Tensor, qkvProj: any LinearWeight, oProj: any LinearWeight, postAttentionLayernorm: Tensor,
        gateUpProj: any LinearWeight, downProj: any LinearWeight
    ) {
        self.inputLayernorm = inputLayernorm
        self.qkvProj = qkvProj
        self.oProj = oProj
        self.postAttentionLayernorm = postAttentionLayernorm
        self.gateUpProj = gateUpProj
        self.downProj = downProj
    }

    /// The projections the layer holds, by Hugging Face module name ("self_attn.q_proj",
    /// "self_attn.qkv_proj", "mlp.gate_up_proj", …), in Hugging Face's order.
    public var projections: [(module: String, path: WritableKeyPath<DecoderLayerWeights, any LinearWeight>)] {
        var list: [(module: String, path: WritableKeyPath<DecoderLayerWeights, any LinearWeight>)]
        if qkvProj != nil {
            list = [("self_attn.qkv_proj", \.qkvProj!)]
        } else {
            list = [("self_attn.q_proj", \.qProj!), ("self_attn.k_proj", \.kProj!), ("self_attn.v_proj", \.vProj!)]
        }
        list.append(("self_attn.o_proj", \.oProj))
        if gateUpProj != nil {
            list.append(("mlp.gate_up_proj", \.gateUpProj!))
        } else {
            list += [("mlp.gate_proj", \.gateProj!), ("mlp.up_proj", \.upProj!)]
        }
        list.append(("mlp.down_proj", \.downProj))
        return list
    }

    /// The dense tensors among the weights (quantized ones are frozen and not listed).
    /// Order: input_layernorm, the attention projections, post_attention_layernorm, the MLP's, then
    /// biases and norms.
    public var all: [Tensor] {
        func dense(_ prefix: String) -> [Tensor] {
            projections.filter { $0.module.hasPrefix(prefix) }.compactMap { self[keyPath: $0.path] as? Tensor }
        }
        return [inputLayernorm] + dense("self_attn.") + [postAttentionLayernorm] + dense("mlp.")
            + [qBias, kBias, vBias, qNorm, kNorm, preFeedforwardLayernorm, postFeedforwardLayernorm].compactMap { $0 }
    }

    /// Random weights of the right shapes (for benchmarks and tests), uniform in ±1/√fan-in.
    public static func random(_ c: DecoderLayerConfig, seed: UInt64, requiresGrad: Bool) -> DecoderLayerWeights {
        func linear(_ out: Int, _ input: Int, _ n: UInt64) -> Tensor {
            let bound = 1 / Float(input).squareRoot()
            return Tensor.uniform([out, input], low: -bound, high: bound, seed: seed &+ n, requiresGrad: requiresGrad)
        }
        func norm(_ size: Int = c.hiddenSize) -> Tensor {
            let t = Tensor.filled([size], with: 1 - c.normWeightOffset)
            t.requiresGrad = requiresGrad
            return t
        }
        func bias(_ size: Int, _ n: UInt64) -> Tensor? {
            c.attentionBias ? Tensor.uniform([size], low: -0.1, high: 0.1, seed: seed &+ n, requiresGrad: requiresGrad) : nil
        }
        return DecoderLayerWeights(
            inputLayernorm: norm(),
            qProj: linear(c.heads * c.headDim, c.hiddenSize, 1), kProj: linear(c.kvHeads * c.headDim, c.hiddenSize, 2),
            vProj: linear(c.kvHeads * c.headDim, c.hiddenSize, 3), oProj: linear(c.hiddenSize, c.heads * c.headDim, 4),
            postAttentionLayernorm: norm(),
            gateProj: linear(c.intermediateSize, c.hiddenSize, 5), upProj: linear(c.intermediateSize, c.hiddenSize, 6),
            downProj: linear(c.hiddenSize, c.intermediateSize, 7),
            qBias: bias(c.heads * c.headDim, 8), kBias: bias(c.kvHeads * c.headDim, 9), vBias: bias(c.kvHeads * c.headDim, 10),
            qNorm: c.queryKeyNorm ? norm(c.headDim) : nil, kNorm: c.queryKeyNorm ? norm(c.headDim) : nil,
            preFeedforwardLayernorm: c.gemma == nil ? nil : norm(), postFeedforwardLayernorm: c.gemma == nil ? nil : norm())
    }
}

/// A pre-norm decoder layer: x + Attn(RMSNorm(x)), then + MLP(RMSNorm(·)) with SwiGLU. Attention's
/// q, k and v may carry biases, q and k a per-head RMSNorm, and the causal mask a sliding window;
/// q/k/v and gate/up may come fused (Phi-3), and the rotary frequencies from LongRoPE; Gemma 3 adds
/// norms after attention and after the MLP, and uses GeGLU (see `GemmaLayout`).
public struct DecoderLayer {
    public let config: DecoderLayerConfig
    public var weights: DecoderLayerWeights

    public init(config: DecoderLayerConfig, weights: DecoderLayerWeights) {
        self.config = config
        self.weights = weights
    }

    /// x: [B·T, C] hidden states of `batch` sequences of `sequence` tokens; positions: [B·T].
    public func forward(_ x: Tensor, batch: Int, sequence: Int, positions: [Int32], mask: AttentionMask = .init()) throws -> Tensor {
        let c = config, tokens = batch * sequence
        let (q, k, v) = try attentionInputs(x, positions: positions)
        var mask = mask
        if let window = c.slidingWindow { mask.slidingWindow = min(window, mask.slidingWindow ?? window) }
        let attention = try Tensor.causalAttention(
            q: q.reshaped([batch, sequence, c.heads, c.headDim]),
            k: k.reshaped([batch, sequence, c.kvHeads, c.headDim]),
            v: v.reshaped([batch, sequence, c.kvHeads, c.headDim]),
            scale: attentionScale, mask: mask)
        return try output(x, attention: attention.reshaped([tokens, c.heads * c.headDim]))
    }

    /// x: [N, C] hidden states of the N tokens after the `cache.count` already in `cache`, at positions
    /// cache.count..<cache.count+N. Writes their keys and values into layer `layer` of the cache (which
    /// `Transformer.hiddenStates(_:cache:)` then commits) and attends over everything cached. Inference only.
    public func forward(_ x: Tensor, cache: KVCache, layer: Int) throws -> Tensor {
        let c = config, n = x.shape[0], start = cache.count
        let (q, k, v) = try attentionInputs(x, positions: (start..<(start + n)).map { Int32($0) })
        try cache.write(layer: layer, keys: k, values: v, at: start)
        let attention = try Tensor.decodeAttention(
            q: q, keys: cache.keys[layer], values: cache.values[layer], start: start, scale: attentionScale,
            slidingWindow: c.slidingWindow)
        return try output(x, attention: attention.reshaped([n, c.heads * c.headDim]))
    }

    var attentionScale: Float { Float(1 / (config.gemma?.queryPreAttentionScalar ?? Double(config.headDim)).squareRoot()) }

    /// RMSNorm over the last axis with one of this layer's norm weights.
    func normalized(_ x: Tensor, _ weight: Tensor) throws -> Tensor {
        try x.rmsNorm(weight: weight, eps: config.rmsNormEps, weightOffset: config.normWeightOffset)
    }

    /// The attention inputs of x [N, C]: q [N, Hq, D] and k [N, Hkv, D] rotated to `positions`, v [N, Hkv·D].
    func attentionInputs(_ x: Tensor, positions: [Int32]) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        let c = config, w = weights, tokens = x.shape[0]
        let h = try normalized(x, w.inputLayernorm)
        let frequencies = c.rope(for: positions)
        /// [N, heads, D], each head normalised by `norm` when the model has one, then rotated.
        func rotated(_ y: Tensor, heads: Int, norm: Tensor?) throws -> Tensor {
            var y = y
            if let norm { y = try normalized(y.reshaped([tokens * heads, c.headDim]), norm) }
            return try y.reshaped([tokens, heads, c.headDim]).rope(positions: positions, frequencies: frequencies)
        }
        let (q, k, v) = try queryKeyValue(h)
        return (try rotated(q, heads: c.heads, norm: w.qNorm), try rotated(k, heads: c.kvHeads, norm: w.kNorm), v)
    }

    /// q [N, Hq·D], k and v [N, Hkv·D] of the normalised input h [N, C], before any norm or rotation:
    /// three projections (plus their biases), or the columns of one fused qkv_proj.
    func queryKeyValue(_ h: Tensor) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        let c = config, w = weights, qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim
        if let qkv = w.qkvProj {
            let y = try h.linear(qkv)
            return (try y.narrow(lastAxis: 0..<qWidth), try y.narrow(lastAxis: qWidth..<(qWidth + kvWidth)),
                    try y.narrow(lastAxis: (qWidth + kvWidth)..<(qWidth + 2 * kvWidth)))
        }
        guard let qProj = w.qProj, let kProj = w.kProj, let vProj = w.vProj else {
            throw TensorError(op: "DecoderLayer", "the layer has neither q_proj, k_proj and v_proj nor qkv_proj")
        }
        func projected(_ weight: any LinearWeight, bias: Tensor?) throws -> Tensor {
            let y = try h.linear(weight)
            return try bias.map { try y + $0 } ?? y
        }
        return (try projected(qProj, bias: w.qBias), try projected(kProj, bias: w.kBias), try projected(vProj, bias: w.vBias))
    }

    /// The rest of the layer after attention [N, Hq·D]: x + o_proj(attention), then + MLP(RMSNorm(·));
    /// Gemma: x + RMSNorm(o_proj(attention)), then + RMSNorm(MLP(RMSNorm(·))).
    func output(_ x: Tensor, attention: Tensor) throws -> Tensor {
        let w = weights
        if let pre = w.preFeedforwardLayernorm, let post = w.postFeedforwardLayernorm {
            let x1 = try x + normalized(attention.linear(w.oProj), w.postAttentionLayernorm)
            return try x1 + normalized(mlp(normalized(x1, pre)), post)
        }
        let x1 = try x + attention.linear(w.oProj)
        return try x1 + mlp(normalized(x1, w.postAttentionLayernorm))
    }

    /// down_proj(act(gate) ⊙ up): SwiGLU, or Gemma's GeGLU with gelu's tanh approximation.
    func mlp(_ h: Tensor) throws -> Tensor {
        let (gate, up) = try gateAndUp(h)
        let gated = try config.gemma == nil ? Tensor.swiglu(gate: gate, up: up) : Tensor.geglu(gate: gate, up: up, approximation: .tanh)
        return try gated.linear(weights.downProj)
    }

    /// The MLP's gate and up [N, F] of h [N, C]: two projections, or the halves of one fused gate_up_proj.
    func gateAndUp(_ h: Tensor) throws -> (gate: Tensor, up: Tensor) {
        let f = config.intermediateSize, w = weights
        if let gateUp = w.gateUpProj {
            let y = try h.linear(gateUp)
            return (try y.narrow(lastAxis: 0..<f), try y.narrow(lastAxis: f..<(2 * f)))
        }
        guard let gateProj = w.gateProj, let upProj = w.upProj else {
            throw TensorError(op: "DecoderLayer", "the layer has neither gate_proj and up_proj nor gate_up_proj")
        }
        return (try h.linear(gateProj), try h.linear(upProj))
    }
}
