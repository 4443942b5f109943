import Foundation
import SLMTensor

/// Writes Float32 tensors as a safetensors file (see `SafetensorsFile` for the layout): the JSON
/// header lists tensors in name order, padded with spaces to a multiple of 8 bytes, and the file
/// is written atomically.
public enum SafetensorsWriter {
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            let bytes = t.count * MemoryLayout<Float>.size
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for name in names {
            let t = tensors[name]!
            data.append(UnsafeBufferPointer(start: t.data, count: t.count))
        }
        try AtomicFile.write(data, to: path)
    }
}
