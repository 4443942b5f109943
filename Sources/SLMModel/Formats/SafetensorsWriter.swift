import Foundation
import SLMTensor

/// Writes tensors as a safetensors file (see `SafetensorsFile` for the layout): the JSON header
/// lists tensors in name order, padded with spaces to a multiple of 8 bytes; values are stored as
/// F32, F16 or BF16 (both rounded to nearest even, as PyTorch's `.to(dtype)`); the file is written
/// atomically, one tensor at a time.
public enum SafetensorsWriter {
    public enum DType: String, CaseIterable, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"

        public var byteCount: Int { self == .f32 ? 4 : 2 }
        /// transformers' name (`torch_dtype` / `dtype` in config.json).
        public var torchName: String {
            switch self {
            case .f32: "float32"
            case .f16: "float16"
            case .bf16: "bfloat16"
            }
        }
    }

    /// A tensor to write: its row-major shape and its Float32 values, made when the writer reaches it.
    public struct Entry {
        public var name: String
        public var shape: [Int]
        public var values: () throws -> Tensor

        public init(name: String, shape: [Int], values: @escaping () throws -> Tensor) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], dtype: DType = .f32, to path: String) throws {
        try write(tensors.map { name, t in Entry(name: name, shape: t.shape) { t } }, metadata: metadata, dtype: dtype, to: path)
    }

    public static func write(_ entries: [Entry], metadata: [String: String] = [:], dtype: DType = .f32, to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        let sorted = entries.sorted { $0.name < $1.name }
        for entry in sorted {
            let bytes = entry.shape.reduce(1, *) * dtype.byteCount
            header[entry.name] = ["dtype": dtype.rawValue, "shape": entry.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        try AtomicFile.write(to: path) { handle in
            var prefix = Data()
            withUnsafeBytes(of: UInt64(json.count).littleEndian) { prefix.append(contentsOf: $0) }
            try handle.write(contentsOf: prefix + json)
            for entry in sorted {
                let t = try entry.values()
                guard t.shape == entry.shape else {
                    throw FormatError(file: path, field: entry.name, "tensor of shape \(t.shape) where \(entry.shape) was announced")
                }
                try handle.write(contentsOf: encoded(t, dtype))
            }
        }
    }

    static func encoded(_ t: Tensor, _ dtype: DType) -> Data {
        switch dtype {
        case .f32: return Data(bytes: t.data, count: t.count * 4)
        case .f16:
            var data = Data(count: t.count * 2)
            data.withUnsafeMutableBytes { Quantize.encode(.f16, t.data, count: t.count, into: $0.baseAddress!) }
            return data
        case .bf16:
            var data = Data(count: t.count * 2)
            data.withUnsafeMutableBytes { raw in
                let out = raw.bindMemory(to: UInt16.self)
                for i in 0..<t.count {
                    let bits = t.data[i].bitPattern
                    out[i] = t.data[i].isNaN ? 0x7FC0 : UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
                }
            }
            return data
        }
    }
}
