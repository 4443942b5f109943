import Foundation
import SLMTensor

/// A LoRA adapter as a GGUF file in llama.cpp's adapter format (what `convert_lora_to_gguf.py`
/// writes and `llama-cli --lora` / ollama's ADAPTER read):
/// ```
/// general.architecture  the base's ("llama")     general.type "adapter"     general.name
/// adapter.type "lora"   adapter.lora.alpha f32   llama.cpp scales B·A by alpha / r, so rsLoRA's
///                                               alpha / √r is stored as alpha' = alpha·√r
/// blk.N.<proj>.weight.lora_a  [r, in]   F32      (PEFT's lora_A)
/// blk.N.<proj>.weight.lora_b  [out, r]  F32      (PEFT's lora_B; for attn_q / attn_k its rows are
///                                               interleaved as the base's are, see `GGUFExport`)
/// ```
/// <proj> is llama.cpp's name of the projection (attn_q, attn_k, attn_v, attn_output, ffn_gate,
/// ffn_up, ffn_down; Phi-3's fused attn_qkv, and ffn_up for its gate_up_proj). Shapes are row-major as elsewhere; the file stores dims innermost first.
public enum LoRAAdapterGGUF {
    /// llama.cpp's names of the Hugging Face projections.
    static let tensorNames: [String: String] = [
        "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
        "self_attn.qkv_proj": "attn_qkv", "mlp.gate_up_proj": "ffn_up",
    ]

    /// Writes the adapters attached to `model` (by `PEFTAdapter.load`) to `path`.
    public static func write(_ model: Transformer, architecture: String, name: String, to path: String) throws {
        var entries: [GGUFWriter.TensorEntry] = []
        var configs: [LoRAConfig] = []
        for (n, layer) in model.layers.enumerated() {
            for (module, keyPath) in layer.weights.projections {
                guard let adapter = layer.weights[keyPath: keyPath] as? LoRALinear, let gguf = tensorNames[module] else { continue }
                configs.append(adapter.config)
                let heads = !model.config.ggufPermutesRotaryRows ? nil : gguf == "attn_q" ? layer.config.heads : gguf == "attn_k" ? layer.config.kvHeads : nil
                let base = "blk.\(n).\(gguf).weight"
                entries.append(floats(base + ".lora_a", adapter.loraA))
                entries.append(floats(base + ".lora_b", heads.map { GGUFExport.permuteRotaryRows(adapter.loraB, heads: $0) } ?? adapter.loraB))
            }
        }
        guard let config = configs.first else { throw FormatError(file: path, field: nil, "the model has no LoRA adapter to write") }
        guard configs.allSatisfy({ $0.scaling == config.scaling }) else {
            throw FormatError(file: path, field: "adapter.lora.alpha", "the adapters have different scalings; llama.cpp's format holds one alpha")
        }
        let alpha = config.useRSLoRA ? config.loraAlpha * Float(config.r).squareRoot() : config.loraAlpha
        let metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(architecture)), ("general.type", .string("adapter")), ("general.name", .string(name)),
            ("adapter.type", .string("lora")), ("adapter.lora.alpha", .float32(alpha)),
        ]
        try GGUFWriter.write(metadata: metadata, tensors: entries, to: path)
    }

    static func floats(_ name: String, _ t: Tensor) -> GGUFWriter.TensorEntry {
        GGUFWriter.TensorEntry(name: name, shape: t.shape, type: .f32) { out in out.copyMemory(from: UnsafeRawBufferPointer(start: t.data, count: t.count * 4)) }
    }
}
