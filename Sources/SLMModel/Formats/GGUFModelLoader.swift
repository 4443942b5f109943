import Foundation
import SLMTensor

/// Builds a `Transformer` from a GGUF file written by llama.cpp's converter, for the architectures
/// llama (Llama 3.x, SmolLM2, Mistral), qwen2 and qwen3.
///
/// Tensor names map as llama.cpp writes them: `token_embd`, `blk.N.attn_norm`, `blk.N.attn_{q,k,v,output}`,
/// `blk.N.ffn_norm`, `blk.N.ffn_{gate,up,down}`, `output_norm`, `output` (absent when tied), and
/// `rope_freqs` (Llama 3 frequency factors); qwen2 adds `blk.N.attn_{q,k,v}.bias`, qwen3
/// `blk.N.attn_{q,k}_norm.weight`. For llama only, llama.cpp stores attn_q/attn_k with the rows of
/// each head interleaved for its rotary kernel; they are put back in Hugging Face's order on load.
///
/// With `keepQuantized`, the layers' projection matrices stay in their ggml blocks (read in place
/// from the file's mapping, frozen): a prompt's matmuls dequantize them tile by tile, a decoding
/// step multiplies straight from the blocks (`Tensor.linear(_: QuantizedMatrix)`); norms and the
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
        let c = config.layer, permuted = config.ggufPermutesRotaryRows
        let layers = try (0..<config.layers).map { n in
            let p = "blk.\(n)."
            let weights = DecoderLayerWeights(
                inputLayernorm: try weight(p + "attn_norm.weight", [c.hiddenSize]),
                qProj: try projection(p + "attn_q.weight", [c.heads * c.headDim, c.hiddenSize], rotaryHeads: permuted ? c.heads : nil),
                kProj: try projection(p + "attn_k.weight", [c.kvHeads * c.headDim, c.hiddenSize], rotaryHeads: permuted ? c.kvHeads : nil),
                vProj: try projection(p + "attn_v.weight", [c.kvHeads * c.headDim, c.hiddenSize]),
                oProj: try projection(p + "attn_output.weight", [c.hiddenSize, c.heads * c.headDim]),
                postAttentionLayernorm: try weight(p + "ffn_norm.weight", [c.hiddenSize]),
                gateProj: try projection(p + "ffn_gate.weight", [c.intermediateSize, c.hiddenSize]),
                upProj: try projection(p + "ffn_up.weight", [c.intermediateSize, c.hiddenSize]),
                downProj: try projection(p + "ffn_down.weight", [c.hiddenSize, c.intermediateSize]),
                qBias: c.attentionBias ? try weight(p + "attn_q.bias", [c.heads * c.headDim]) : nil,
                kBias: c.attentionBias ? try weight(p + "attn_k.bias", [c.kvHeads * c.headDim]) : nil,
                vBias: c.attentionBias ? try weight(p + "attn_v.bias", [c.kvHeads * c.headDim]) : nil,
                qNorm: c.queryKeyNorm ? try weight(p + "attn_q_norm.weight", [c.headDim]) : nil,
                kNorm: c.queryKeyNorm ? try weight(p + "attn_k_norm.weight", [c.headDim]) : nil)
            return DecoderLayer(config: c, weights: weights)
        }
        let embed = try weight("token_embd.weight", [config.vocabSize, config.hiddenSize])
        let head = config.tieWordEmbeddings ? nil : try weight("output.weight", [config.vocabSize, config.hiddenSize])
        return Transformer(config: config, embedTokens: embed, layers: layers, norm: try weight("output_norm.weight", [config.hiddenSize]), lmHead: head)
    }

    /// The model's hyper-parameters from `{arch}.*` metadata.
    public static func config(_ file: GGUFFile) throws -> ModelConfig {
        guard let arch = file["general.architecture"]?.string else { throw FormatError(file: file.path, field: "general.architecture", "missing") }
        guard ["llama", "qwen2", "qwen3"].contains(arch) else {
            throw FormatError(file: file.path, field: "general.architecture", "\"\(arch)\" is not supported yet (llama, qwen2 and qwen3 are)")
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
        let vocab = try file["tokenizer.ggml.tokens"]?.array?.count ?? int("vocab_size")
        guard let eps = file["\(arch).attention.layer_norm_rms_epsilon"]?.double, eps > 0, eps < 1 else {
            throw FormatError(file: file.path, field: "\(arch).attention.layer_norm_rms_epsilon", "missing or out of range")
        }
        return ModelConfig(
            architecture: arch, vocabSize: vocab, hiddenSize: hidden, layers: try int("block_count"), heads: heads,
            kvHeads: kvHeads, headDim: headDim, intermediateSize: try int("feed_forward_length"), rmsNormEps: Float(eps),
            rope: rope, maxPositions: (try? int("context_length")) ?? 2048, tieWordEmbeddings: file.tensor(named: "output.weight") == nil,
            attentionBias: arch == "qwen2", queryKeyNorm: arch == "qwen3")
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
