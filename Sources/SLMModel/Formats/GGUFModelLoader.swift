import Foundation
import SLMTensor

/// Builds a `Transformer` from a GGUF file written by llama.cpp's converter, for the architectures
/// llama (Llama 3.x, SmolLM2, Mistral), qwen2, qwen3, phi3 (Phi-3, Phi-4-mini) and gemma3 (see `config(_:)` for its keys).
///
/// Tensor names map as llama.cpp writes them: `token_embd`, `blk.N.attn_norm`, `blk.N.attn_{q,k,v,output}`,
/// `blk.N.ffn_norm`, `blk.N.ffn_{gate,up,down}`, `output_norm`, `output` (absent when tied), and
/// `rope_freqs` (Llama 3 frequency factors); qwen2 adds `blk.N.attn_{q,k,v}.bias`, qwen3
/// `blk.N.attn_{q,k}_norm.weight`. phi3 has `blk.N.attn_qkv` [(Hq + 2·Hkv)·D, C] (q, k, v rows) instead of
/// attn_q/k/v and `blk.N.ffn_up` [2·F, C] (gate rows, then up rows) instead of ffn_gate/ffn_up, and for
/// LongRoPE `rope_factors_short.weight` / `rope_factors_long.weight` [rotary_dim / 2] with the keys
/// `phi3.rope.scaling.original_context_length` and `phi3.rope.scaling.attn_factor` (see `LongRope`;
/// slm switches to the long factors per sequence as transformers does, where llama.cpp decides by
/// its context size); `phi3.attention.sliding_window` (0: none) is applied as transformers applies
/// it (llama.cpp currently ignores it).
/// gemma3 has qwen3's q/k norms too, names Hugging Face's post_attention_layernorm
/// `blk.N.post_attention_norm`, pre_feedforward_layernorm `blk.N.ffn_norm` and post_feedforward_layernorm
/// `blk.N.post_ffw_norm`, and stores every norm weight as 1 + w (Gemma's scale; w is restored on load).
/// For llama only, llama.cpp stores attn_q/attn_k with the rows of
/// each head interleaved for its rotary kernel; they are put back in Hugging Face's order on load.
///
/// With `keepQuantized`, the layers' projection matrices stay in their ggml blocks (read in place
/// from the file's mapping, frozen): a prompt's matmuls dequantize them tile by tile, a decoding
/// step multiplies straight from the blocks (`Tensor.linear(_: QuantizedMatrix)`), and so does its
/// output projection (`Transformer.decodingHead`) when its type has a block kernel; norms and the
/// embedding are Float32 either way.
public enum GGUFModelLoader {
    public static func load(_ file: GGUFFile, keepQuantized: Bool = false) throws -> Transformer {
        let config = try config(file)
        if let tokens = file["tokenizer.ggml.tokens"]?.array?.count, let rows = file.tensor(named: "token_embd.weight")?.shape.first, rows != tokens {
            throw FormatError(file: file.path, field: "tokenizer.ggml.tokens", "\(tokens) tokens, but token_embd.weight has \(rows) rows (one per token)")
        }
        func info(_ name: String, _ shape: [Int]) throws -> GGUFTensorInfo {
            guard let info = file.tensor(named: name) else { throw FormatError(file: file.path, field: name, "tensor missing") }
            guard info.shape == shape else {
                throw FormatError(file: file.path, field: name, "shape \(info.shape) does not match the config's \(shape)")
            }
            return info
        }
        func weight(_ name: String, _ shape: [Int]) throws -> Tensor {
            let info = try info(name, shape)
            let t = Tensor(uninitialized: shape)
            Dequantize.run(info.type, file.bytes(of: info), count: info.elementCount, into: t.data)
            return t
        }
        /// A projection; `rotaryHeads` restores Hugging Face's row order of attn_q / attn_k.
        func projection(_ name: String, _ shape: [Int], rotaryHeads: Int? = nil) throws -> any LinearWeight {
            let tensorInfo = try info(name, shape)
            if keepQuantized && tensorInfo.type != .f32 {
                let matrix = try file.quantizedMatrix(tensorInfo)
                return try rotaryHeads.map { try matrix.reorderingRows(rotaryRowOrder(rows: shape[0], heads: $0)) } ?? matrix
            }
            let dense = try weight(name, shape)
            return rotaryHeads.map { unpermuteRotaryRows(dense, heads: $0) } ?? dense
        }
        /// A norm weight; gemma3's are stored as 1 + w.
        func norm(_ name: String, _ size: Int) throws -> Tensor {
            let t = try weight(name, [size])
            if config.gemma != nil { for i in 0..<t.count { t.data[i] -= 1 } }
            return t
        }
        let permuted = config.ggufPermutesRotaryRows, gemma = config.gemma != nil
        let layers = try (0..<config.layers).map { n in
            let c = config.layer(n), p = "blk.\(n)."
            if config.fusedProjections {
                let weights = DecoderLayerWeights(
                    inputLayernorm: try norm(p + "attn_norm.weight", c.hiddenSize),
                    qkvProj: try projection(p + "attn_qkv.weight", [(c.heads + 2 * c.kvHeads) * c.headDim, c.hiddenSize]),
                    oProj: try projection(p + "attn_output.weight", [c.hiddenSize, c.heads * c.headDim]),
                    postAttentionLayernorm: try norm(p + "ffn_norm.weight", c.hiddenSize),
                    gateUpProj: try projection(p + "ffn_up.weight", [2 * c.intermediateSize, c.hiddenSize]),
                    downProj: try projection(p + "ffn_down.weight", [c.hiddenSize, c.intermediateSize]))
                return DecoderLayer(config: c, weights: weights)
            }
            let weights = DecoderLayerWeights(
                inputLayernorm: try norm(p + "attn_norm.weight", c.hiddenSize),
                qProj: try projection(p + "attn_q.weight", [c.heads * c.headDim, c.hiddenSize], rotaryHeads: permuted ? c.heads : nil),
                kProj: try projection(p + "attn_k.weight", [c.kvHeads * c.headDim, c.hiddenSize], rotaryHeads: permuted ? c.kvHeads : nil),
                vProj: try projection(p + "attn_v.weight", [c.kvHeads * c.headDim, c.hiddenSize]),
                oProj: try projection(p + "attn_output.weight", [c.hiddenSize, c.heads * c.headDim]),
                postAttentionLayernorm: try norm(p + (gemma ? "post_attention_norm.weight" : "ffn_norm.weight"), c.hiddenSize),
                gateProj: try projection(p + "ffn_gate.weight", [c.intermediateSize, c.hiddenSize]),
                upProj: try projection(p + "ffn_up.weight", [c.intermediateSize, c.hiddenSize]),
                downProj: try projection(p + "ffn_down.weight", [c.hiddenSize, c.intermediateSize]),
                qBias: c.attentionBias ? try weight(p + "attn_q.bias", [c.heads * c.headDim]) : nil,
                kBias: c.attentionBias ? try weight(p + "attn_k.bias", [c.kvHeads * c.headDim]) : nil,
                vBias: c.attentionBias ? try weight(p + "attn_v.bias", [c.kvHeads * c.headDim]) : nil,
                qNorm: c.queryKeyNorm ? try norm(p + "attn_q_norm.weight", c.headDim) : nil,
                kNorm: c.queryKeyNorm ? try norm(p + "attn_k_norm.weight", c.headDim) : nil,
                preFeedforwardLayernorm: gemma ? try norm(p + "ffn_norm.weight", c.hiddenSize) : nil,
                postFeedforwardLayernorm: gemma ? try norm(p + "post_ffw_norm.weight", c.hiddenSize) : nil)
            return DecoderLayer(config: c, weights: weights)
        }
        let headName = config.tieWordEmbeddings ? "token_embd.weight" : "output.weight"
        let embed = try weight("token_embd.weight", [config.vocabSize, config.hiddenSize])
        let head = config.tieWordEmbeddings ? nil : try weight("output.weight", [config.vocabSize, config.hiddenSize])
        let model = Transformer(config: config, embedTokens: embed, layers: layers, norm: try norm("output_norm.weight", config.hiddenSize), lmHead: head)
        if keepQuantized, let headInfo = file.tensor(named: headName), QuantizedMatrix.decodesInPlace(headInfo.type) {
            model.decodingHead = try file.quantizedMatrix(headInfo)
        }
        return model
    }

    /// The model's hyper-parameters from `{arch}.*` metadata, rope scaling included (`linearRopeFactor`,
    /// `rope_freqs.weight`, `phi3LongRope`). gemma3 adds, as llama.cpp reads them:
    /// ```
    /// gemma3.attention.sliding_window u32          absent: every layer attends to everything
    /// gemma3.attention.sliding_window_pattern      u32 n (every n-th layer full; default 6) or [bool] per layer
    /// gemma3.rope.freq_base_swa f32                the sliding layers' rotary base (default 10,000, unscaled)
    /// gemma3.rope.scaling.type "linear", gemma3.rope.scaling.factor f32   the full-attention layers' only
    /// gemma3.final_logit_softcapping f32           refused when present
    /// ```
    /// The attention scale is llama.cpp's: head_dim^-½, except (hidden / heads)^-½ for the 62-layer 27B.
    public static func config(_ file: GGUFFile) throws -> ModelConfig {
        guard let arch = file["general.architecture"]?.string else { throw FormatError(file: file.path, field: "general.architecture", "missing") }
        guard ["llama", "qwen2", "qwen3", "phi3", "gemma3"].contains(arch) else {
            throw FormatError(file: file.path, field: "general.architecture", "\"\(arch)\" is not supported yet (llama, qwen2, qwen3, phi3 and gemma3 are)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file["\(arch).\(key)"]?.integer, v > 0, v <= 1 << 24 else {
                throw FormatError(file: file.path, field: "\(arch).\(key)", "missing or out of range (\(file["\(arch).\(key)"].map { "\($0)" } ?? "absent"))")
            }
            return v
        }
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        let kvHeads = (try? int("attention.head_count_kv")) ?? heads
        guard hidden % heads == 0 || file["\(arch).attention.key_length"] != nil, heads % kvHeads == 0 else {
            throw FormatError(file: file.path, field: "\(arch).attention.head_count_kv", "\(heads) query heads cannot share \(kvHeads) key/value heads")
        }
        let headDim = (try? int("attention.key_length")) ?? hidden / heads
        let rotaryDim = (try? int("rope.dimension_count")) ?? headDim
        let base = file["\(arch).rope.freq_base"]?.double ?? 10_000
        var rope = try RopeFrequencies.standard(base: base, rotaryDim: rotaryDim)
        if let factors = file.tensor(named: "rope_freqs.weight") {
            guard factors.elementCount == rotaryDim / 2, factors.type == .f32 else {
                throw FormatError(file: file.path, field: "rope_freqs.weight", "expected \(rotaryDim / 2) F32 factors")
            }
            let values = file.bytes(of: factors).bindMemory(to: Float.self)
            rope = try RopeFrequencies(inverseFrequencies: zip(rope.inverseFrequencies, values).map { $0 / Double($1) })
        }
        if let factor = try linearRopeFactor(file, arch: arch) { rope = try .linear(base: base, rotaryDim: rotaryDim, factor: factor) }
        let longRope = try phi3LongRope(file, base: base, rotaryDim: rotaryDim)
        if let longRope { rope = longRope.short }
        let context = (try? int("context_length")) ?? 2048
        var window: Int?
        if arch == "phi3", let span = file["phi3.attention.sliding_window"]?.integer, span > 0, span < context { window = span }
        let vocab = try file["tokenizer.ggml.tokens"]?.array?.count ?? int("vocab_size")
        guard let eps = file["\(arch).attention.layer_norm_rms_epsilon"]?.double, eps > 0, eps < 1 else {
            throw FormatError(file: file.path, field: "\(arch).attention.layer_norm_rms_epsilon", "missing or out of range")
        }
        var config = ModelConfig(
            architecture: arch, vocabSize: vocab, hiddenSize: hidden, layers: try int("block_count"), heads: heads,
            kvHeads: kvHeads, headDim: headDim, intermediateSize: try int("feed_forward_length"), rmsNormEps: Float(eps),
            rope: rope, maxPositions: context, tieWordEmbeddings: file.tensor(named: "output.weight") == nil,
            attentionBias: arch == "qwen2", queryKeyNorm: arch == "qwen3", slidingWindow: window, fusedProjections: arch == "phi3",
            longRope: longRope?.longRope)
        if arch == "gemma3" { try gemmaSettings(file, into: &config) }
        return config
    }

    /// `{arch}.rope.scaling.type` "linear" with `{arch}.rope.scaling.factor` (or the older
    /// `{arch}.rope.scale_linear`): positions divided by the factor. nil when absent or "none"; Llama 3's
    /// scaling comes as `rope_freqs.weight` and Phi-3's LongRoPE as its factor tensors, so "longrope" is
    /// left to those; other types (yarn) are refused.
    static func linearRopeFactor(_ file: GGUFFile, arch: String) throws -> Double? {
        func fail(_ key: String, _ message: String) -> FormatError { FormatError(file: file.path, field: "\(arch).\(key)", message) }
        guard let type = file["\(arch).rope.scaling.type"] else {
            guard let old = file["\(arch).rope.scale_linear"] else { return nil }
            guard let factor = old.double, factor > 0 else { throw fail("rope.scale_linear", "expected a factor > 0, got \(old)") }
            return factor
        }
        switch type.string {
        case "none", "longrope": return nil
        case "linear":
            guard let factor = file["\(arch).rope.scaling.factor"]?.double, factor > 0 else {
                throw fail("rope.scaling.factor", "missing or not > 0 (linear rope scaling needs it)")
            }
            return factor
        default:
            throw fail("rope.scaling.type", "\(type) is not supported (none and linear are; Llama 3's scaling comes as rope_freqs.weight)")
        }
    }

    /// phi3's LongRoPE from `rope_factors_short.weight` / `rope_factors_long.weight` (F32, rotary_dim / 2
    /// each), `phi3.rope.scaling.original_context_length` and `phi3.rope.scaling.attn_factor` (1 when
    /// absent, as llama.cpp reads it); nil when the file has no factors.
    static func phi3LongRope(_ file: GGUFFile, base: Double, rotaryDim: Int) throws -> (short: RopeFrequencies, longRope: LongRope)? {
        let (shortInfo, longInfo) = (file.tensor(named: "rope_factors_short.weight"), file.tensor(named: "rope_factors_long.weight"))
        guard shortInfo != nil || longInfo != nil else { return nil }
        func factors(_ info: GGUFTensorInfo?, _ name: String) throws -> [Double] {
            guard let info, info.type == .f32, info.elementCount == rotaryDim / 2 else {
                throw FormatError(file: file.path, field: name, "expected \(rotaryDim / 2) F32 factors (rope_factors_short and rope_factors_long go together)")
            }
            return file.bytes(of: info).bindMemory(to: Float.self).map(Double.init)
        }
        let arch = file["general.architecture"]?.string ?? "phi3"
        guard let original = file["\(arch).rope.scaling.original_context_length"]?.integer, original > 0 else {
            throw FormatError(file: file.path, field: "\(arch).rope.scaling.original_context_length", "missing or not positive (LongRoPE's factors need it)")
        }
        do {
            return try LongRope.frequencies(
                base: base, rotaryDim: rotaryDim, shortFactors: factors(shortInfo, "rope_factors_short.weight"),
                longFactors: factors(longInfo, "rope_factors_long.weight"), originalMaxPositions: original,
                attentionFactor: file["\(arch).rope.scaling.attn_factor"]?.double ?? 1)
        } catch let error as TensorError {
            throw FormatError(file: file.path, field: "rope_factors_long.weight", error.message)
        }
    }

    /// gemma3's keys (see `config(_:)`) on top of the llama-like ones `config` was built from.
    static func gemmaSettings(_ file: GGUFFile, into config: inout ModelConfig) throws {
        func fail(_ key: String, _ message: String) -> FormatError { FormatError(file: file.path, field: "gemma3.\(key)", message) }
        if let cap = file["gemma3.final_logit_softcapping"]?.double, cap != 0 {
            throw fail("final_logit_softcapping", "\(cap): soft-capped logits are not supported (Gemma 3 has none)")
        }
        let n = config.layers
        var window: Int?
        if let value = file["gemma3.attention.sliding_window"] {
            guard let w = value.integer, w >= 0, w <= 1 << 24 else { throw fail("attention.sliding_window", "expected a size, got \(value)") }
            window = w > 0 ? w : nil
        }
        var sliding = [Bool](repeating: false, count: n)
        if window != nil {
            switch file["gemma3.attention.sliding_window_pattern"] {
            case nil: sliding = GemmaLayout.slidingLayers(count: n, pattern: 6)
            case .array(let values)?:
                sliding = try values.map { value -> Bool in
                    guard case .bool(let b) = value else { throw fail("attention.sliding_window_pattern", "expected one bool per layer") }
                    return b
                }
                guard sliding.count == n else { throw fail("attention.sliding_window_pattern", "\(sliding.count) entries for block_count \(n)") }
            case let value?:
                guard let pattern = value.integer, pattern > 0 else { throw fail("attention.sliding_window_pattern", "expected a layer count, got \(value)") }
                sliding = GemmaLayout.slidingLayers(count: n, pattern: pattern)
            }
        }
        let local = try RopeFrequencies.standard(base: file["gemma3.rope.freq_base_swa"]?.double ?? 10_000, rotaryDim: config.headDim)
        let scalar = n == 62 ? Double(config.hiddenSize / config.heads) : Double(config.headDim)
        config.architecture = "gemma3_text"
        config.queryKeyNorm = true
        config.tieWordEmbeddings = file.tensor(named: "output.weight") == nil
        config.slidingWindow = window
        config.gemma = GemmaLayout(queryPreAttentionScalar: scalar, slidingLayers: sliding, slidingRope: local)
    }

    /// llama.cpp interleaves each head's rows for its rotary kernel: GGUF row h·D + 2i + j holds
    /// Hugging Face row h·D + j·D/2 + i. Entry r of the result is the GGUF row that HF row r comes from.
    static func rotaryRowOrder(rows: Int, heads: Int) -> [Int] {
        let d = rows / heads, half = d / 2
        var order = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 { order[h * d + j * half + i] = h * d + 2 * i + j }
            }
        }
        return order
    }

    static func unpermuteRotaryRows(_ w: Tensor, heads: Int) -> Tensor {
        let cols = w.shape[1]
        let out = Tensor(uninitialized: w.shape)
        for (row, source) in rotaryRowOrder(rows: w.shape[0], heads: heads).enumerated() {
            (out.data + row * cols).update(from: w.data + source * cols, count: cols)
        }
        return out
    }
}
