import SLMTensor

/// A GGUF export's quantization, as `llama-quantize` names it, with llama.cpp's `general.file_type`
/// number (LLAMA_FTYPE_*) and its rule for each tensor's type.
///
/// The rule is llama.cpp's `llama_tensor_get_type` for the Llama family (one expert, not 70B):
/// - 1-D tensors (norms, `rope_freqs`) stay F32.
/// - F32 / F16 exports store every matrix in that type.
/// - The output projection, or the token embedding when it is tied to the output, is Q6_K (Q8_0 in
///   a Q8_0 export, or when its rows are not whole blocks of the file's type).
/// - Q4_K_M / Q5_K_M: `attn_v` and `ffn_down` of layers i with i < n/8, i ≥ 7n/8 or (i − n/8) % 3 == 2
///   are Q6_K. Q4_K_S: `attn_v` of the first 4 layers and `ffn_down` of the first n/8 are Q5_K.
/// - Then rows that are not whole blocks fall back: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, and F16
///   when even those do not fit (SmolLM2-135M's 576-wide rows are 18 blocks of 32, not whole blocks of 256).
public enum GGUFFileType: String, CaseIterable, Sendable {
    case f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k

    /// `--quant` values: the names above, plus llama-quantize's aliases q4_k (Q4_K_M) and q5_k (Q5_K_M).
    public init?(name: String) {
        switch name.lowercased() {
        case "q4_k": self = .q4_k_m
        case "q5_k": self = .q5_k_m
        default:
            guard let type = GGUFFileType(rawValue: name.lowercased()) else { return nil }
            self = type
        }
    }

    public static var names: String { (allCases.map(\.rawValue) + ["q4_k", "q5_k"]).joined(separator: "|") }

    /// llama.cpp's LLAMA_FTYPE_* (gguf-py's `LlamaFileType`).
    public var generalFileType: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q8_0: 7
        case .q5_0: 8
        case .q5_1: 9
        case .q4_k_s: 14
        case .q4_k_m: 15
        case .q5_k_s: 16
        case .q5_k_m: 17
        case .q6_k: 18
        }
    }

    /// The type of most matrices (llama.cpp's `llama_ftype_get_default_type`).
    public var defaultType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q5_0: .q5_0
        case .q5_1: .q5_1
        case .q4_k_s, .q4_k_m: .q4_K
        case .q5_k_s, .q5_k_m: .q5_K
        case .q6_k: .q6_K
        }
    }

    /// The type of tensor `name` (llama.cpp's name, e.g. "blk.3.attn_v.weight") of row-major `shape`
    /// in a model of `layers` layers whose output projection is tied to the embedding when `tiedOutput`.
    public func tensorType(name: String, shape: [Int], layers: Int, tiedOutput: Bool) -> GGMLType {
        guard shape.count >= 2, name.hasSuffix("weight"), !name.hasSuffix("_norm.weight") else { return .f32 }
        let base = defaultType
        guard base != .f32, base != .f16 else { return base }
        let rowLength = shape.last!
        let layer = Self.layerIndex(name)
        func moreBits(_ i: Int) -> Bool { i < layers / 8 || i >= 7 * layers / 8 || (i - layers / 8) % 3 == 2 }

        var type = base
        if name == "output.weight" || (tiedOutput && name == "token_embd.weight") {
            if rowLength % base.blockSize != 0 { type = .q8_0 } else if base != .q8_0 { type = .q6_K }
        } else if name.hasSuffix("attn_v.weight") || name.hasSuffix("attn_qkv.weight"), let i = layer {  // llama.cpp's category_is_attn_v
            if (self == .q4_k_m || self == .q5_k_m) && moreBits(i) { type = .q6_K }
            else if self == .q4_k_s && i < 4 { type = .q5_K }
        } else if name.hasSuffix("ffn_down.weight"), let i = layer {
            if self == .q4_k_m || self == .q5_k_m { if moreBits(i) { type = .q6_K } }
            else if self == .q4_k_s && i < layers / 8 { type = .q5_K }
        }
        return Self.fallback(type, rowLength: rowLength)
    }

    /// llama.cpp's `tensor_type_fallback`: a type whose blocks divide the row.
    static func fallback(_ type: GGMLType, rowLength: Int) -> GGMLType {
        guard rowLength % type.blockSize != 0 else { return type }
        let next: GGMLType
        switch type {
        case .q4_K: next = .q5_0
        case .q5_K: next = .q5_1
        case .q6_K: next = .q8_0
        default: next = .f16
        }
        return rowLength % next.blockSize == 0 ? next : .f16
    }

    /// N of "blk.N.…".
    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        return Int(name.dropFirst(4).prefix { $0.isNumber })
    }
}
