import Foundation
import SLMTensor

/// Writes a `Transformer` (llama, qwen2, qwen3, phi3 or gemma3 architecture: see `ModelConfig.ggufArchitecture`)
/// as a GGUF file llama.cpp runs.
///
/// Tensors, in llama.cpp's names and order (shapes row-major, [out, in]; the file stores dims reversed):
/// ```
/// token_embd.weight        [vocab, hidden]
/// rope_freqs.weight        [head_dim / 2]   F32, only for Llama 3 rope scaling (1 / factor per frequency)
/// rope_factors_long.weight, rope_factors_short.weight [rotary_dim / 2]  F32, phi3 LongRoPE only (divisors)
/// blk.N.attn_norm.weight   [hidden]          F32
/// blk.N.attn_q.weight      [heads·D, hidden]     llama: rows of each head interleaved for llama.cpp's rotary kernel
/// blk.N.attn_k.weight      [kv_heads·D, hidden]  likewise
/// blk.N.attn_{q,k,v}.bias  [out]             F32, qwen2 only
/// blk.N.attn_{q,k}_norm.weight [D]           F32, qwen3 and gemma3
/// blk.N.attn_v.weight      [kv_heads·D, hidden]
/// blk.N.attn_qkv.weight    [(heads + 2·kv_heads)·D, hidden]   phi3, instead of attn_q/k/v
/// blk.N.attn_output.weight [hidden, heads·D]
/// blk.N.post_attention_norm.weight [hidden]  F32, gemma3 only (Hugging Face's post_attention_layernorm)
/// blk.N.ffn_norm.weight    [hidden]          F32 (gemma3: pre_feedforward_layernorm)
/// blk.N.post_ffw_norm.weight [hidden]        F32, gemma3 only (post_feedforward_layernorm)
/// blk.N.ffn_gate.weight    [ffn, hidden]
/// blk.N.ffn_up.weight      [ffn, hidden]     phi3: [2·ffn, hidden], gate rows then up rows, and no ffn_gate
/// blk.N.ffn_down.weight    [hidden, ffn]
/// output_norm.weight       [hidden]          F32
/// output.weight            [vocab, hidden]   absent when tied to token_embd
/// ```
/// The interleaving is llama.cpp's converter's `permute`: GGUF row h·D + 2i + j holds Hugging Face row
/// h·D + j·D/2 + i (the inverse of what `GGUFModelLoader` undoes on load). gemma3's norm weights are
/// written as 1 + w, as its converter does (Gemma scales by 1 + w). Each matrix's type comes from
/// `GGUFFileType.tensorType`.
public enum GGUFExport {
    /// One written tensor: its type and how far its stored values are from the Float32 ones
    /// (root-mean-square error relative to the tensor's root-mean-square value).
    public struct TensorReport: Sendable {
        public var name: String
        public var shape: [Int]
        public var type: GGMLType
        public var bytes: Int
        public var relativeRMSError: Double
    }

    /// Writes `model` with `metadata` (whose `general.file_type` and `general.quantization_version`
    /// are set here) to `path`, atomically. Adapters still attached are merged on the fly.
    @discardableResult
    public static func write(
        _ model: Transformer, metadata: [(key: String, value: GGUFValue)], fileType: GGUFFileType,
        ropeFactors: [Float]? = nil, to path: String, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> [TensorReport] {
        try GGUFGemmaMetadata.checkExpressible(model.config, file: path)
        return try write(tensorEntries(model, fileType: fileType, ropeFactors: ropeFactors), metadata: metadata, fileType: fileType, to: path, progress: progress)
    }

    /// Writes `entries`, each encoded in its type from its Float32 values, and reports each one's error.
    static func write(
        _ entries: [Entry], metadata: [(key: String, value: GGUFValue)], fileType: GGUFFileType, to path: String,
        progress: (Int, Int) -> Void
    ) throws -> [TensorReport] {
        for entry in entries where !Quantize.canEncode(entry.type) {
            throw FormatError(file: path, field: entry.name, "slm cannot write \(entry.type) yet (the \(fileType.rawValue) export needs it)")
        }
        let reports = ReportLog()
        let written = entries.map { entry in
            GGUFWriter.TensorEntry(name: entry.name, shape: entry.shape, type: entry.type) { out in
                try entry.withValues { values in
                    let count = entry.shape.reduce(1, *)
                    let error = Quantize.encodeMeasuringError(entry.type, values, count: count, into: out.baseAddress!)
                    reports.append(TensorReport(name: entry.name, shape: entry.shape, type: entry.type, bytes: out.count, relativeRMSError: error))
                }
            }
        }
        try GGUFWriter.write(metadata: exportMetadata(metadata, fileType: fileType), tensors: written, to: path, progress: progress)
        return reports.items
    }

    /// `metadata` without the keys an export sets, then `general.file_type` and `general.quantization_version`.
    static func exportMetadata(_ metadata: [(key: String, value: GGUFValue)], fileType: GGUFFileType) -> [(key: String, value: GGUFValue)] {
        let replaced: Set<String> = ["general.file_type", "general.quantization_version", "general.alignment"]
        return metadata.filter { !replaced.contains($0.key) } + [
            ("general.file_type", .uint32(fileType.generalFileType)),
            ("general.quantization_version", .uint32(2)),
        ]
    }

    /// A tensor to write: name, row-major shape, type, and its Float32 values, lent to a closure
    /// when asked (made then, so that only one tensor's copy is alive at a time, or read in place).
    struct Entry {
        var name: String
        var shape: [Int]
        var type: GGMLType
        var withValues: (_ body: (UnsafePointer<Float>) -> Void) throws -> Void

        init(name: String, shape: [Int], type: GGMLType, withValues: @escaping (_ body: (UnsafePointer<Float>) -> Void) throws -> Void) {
            self.name = name
            self.shape = shape
            self.type = type
            self.withValues = withValues
        }

        /// An entry whose values are a tensor made when asked.
        init(name: String, shape: [Int], type: GGMLType, values: @escaping () throws -> Tensor) {
            self.init(name: name, shape: shape, type: type) { body in
                let tensor = try values()
                withExtendedLifetime(tensor) { body(tensor.data) }
            }
        }
    }

    static func tensorEntries(_ model: Transformer, fileType: GGUFFileType, ropeFactors: [Float]?) throws -> [Entry] {
        let config = model.config
        let tied = model.lmHead === model.embedTokens
        func entry(_ name: String, _ shape: [Int], _ values: @escaping () throws -> Tensor) -> Entry {
            Entry(name: name, shape: shape, type: fileType.tensorType(name: name, shape: shape, layers: config.layers, tiedOutput: tied), values: values)
        }
        var entries: [Entry] = []
        if let longRope = config.longRope {
            for (name, factors) in [("rope_factors_long.weight", longRope.longFactors), ("rope_factors_short.weight", longRope.shortFactors)] {
                entries.append(entry(name, [factors.count]) { try Tensor(factors.map(Float.init), shape: [factors.count]) })
            }
        }
        entries.append(entry("token_embd.weight", model.embedTokens.shape) { model.embedTokens })
        if let ropeFactors {
            guard ropeFactors.count == config.headDim / 2 else {
                throw TensorError(op: "GGUFExport", "\(ropeFactors.count) rope factors for head_dim \(config.headDim) (expected \(config.headDim / 2))")
            }
            entries.append(entry("rope_freqs.weight", [ropeFactors.count]) { try Tensor(ropeFactors, shape: [ropeFactors.count]) })
        }
        let permuted = config.ggufPermutesRotaryRows, gemma = config.gemma != nil
        /// A norm weight, + 1 for gemma3.
        func norm(_ name: String, _ weight: Tensor) -> Entry {
            entry(name, weight.shape) { gemma ? try GradMode.withoutGrad { try weight.adding(1) } : weight }
        }
        for (n, layer) in model.layers.enumerated() {
            let w = layer.weights, c = layer.config, p = "blk.\(n)."
            func projection(_ name: String, _ weight: any LinearWeight, rotaryHeads: Int? = nil) -> Entry {
                entry(p + name, weight.shape) {
                    let dense = try weight.denseWeight()
                    return rotaryHeads.map { permuteRotaryRows(dense, heads: $0) } ?? dense
                }
            }
            entries.append(norm(p + "attn_norm.weight", w.inputLayernorm))
            if let qkv = w.qkvProj {
                entries.append(projection("attn_qkv.weight", qkv))
            } else if let q = w.qProj, let k = w.kProj, let v = w.vProj {
                entries += [
                    projection("attn_q.weight", q, rotaryHeads: permuted ? c.heads : nil),
                    projection("attn_k.weight", k, rotaryHeads: permuted ? c.kvHeads : nil),
                    projection("attn_v.weight", v),
                ]
            }
            entries += [
                projection("attn_output.weight", w.oProj),
                norm(p + (gemma ? "post_attention_norm.weight" : "ffn_norm.weight"), w.postAttentionLayernorm),
            ]
            if let gateUp = w.gateUpProj {
                entries.append(projection("ffn_up.weight", gateUp))
            } else if let gate = w.gateProj, let up = w.upProj {
                entries += [projection("ffn_gate.weight", gate), projection("ffn_up.weight", up)]
            }
            entries.append(projection("ffn_down.weight", w.downProj))
            let biases: [(String, Tensor?)] = [("attn_q.bias", w.qBias), ("attn_k.bias", w.kBias), ("attn_v.bias", w.vBias)]
            for case let (name, tensor?) in biases { entries.append(entry(p + name, tensor.shape) { tensor }) }
            let norms: [(String, Tensor?)] = [
                ("attn_q_norm.weight", w.qNorm), ("attn_k_norm.weight", w.kNorm),
                ("ffn_norm.weight", w.preFeedforwardLayernorm), ("post_ffw_norm.weight", w.postFeedforwardLayernorm),
            ]
            for case let (name, tensor?) in norms { entries.append(norm(p + name, tensor)) }
        }
        entries.append(norm("output_norm.weight", model.norm))
        if !tied { entries.append(entry("output.weight", model.lmHead.shape) { model.lmHead }) }
        return entries
    }

    /// Hugging Face's row order → llama.cpp's interleaved one (see the type's documentation).
    static func permuteRotaryRows(_ w: Tensor, heads: Int) -> Tensor {
        let cols = w.shape[1]
        let out = Tensor(uninitialized: w.shape)
        for (row, target) in GGUFModelLoader.rotaryRowOrder(rows: w.shape[0], heads: heads).enumerated() {
            (out.data + target * cols).update(from: w.data + row * cols, count: cols)
        }
        return out
    }

    /// Collects reports from the writer's encode closures (called one after another).
    final class ReportLog: @unchecked Sendable {
        var items: [TensorReport] = []
        func append(_ report: TensorReport) { items.append(report) }
    }
}
