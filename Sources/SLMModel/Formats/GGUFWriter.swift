import Foundation
import SLMTensor

/// Writes a GGUF file (version 3) that llama.cpp and gguf-py read; `GGUFFile` reads it back.
///
/// Layout (all little-endian), as `GGUFFile` documents it:
/// ```
/// "GGUF" u32 3  u64 tensor_count  u64 metadata_count
/// metadata_count × { string key, u32 value_type, value }      string = u64 length + UTF-8 bytes
///     arrays: u32 element type, u64 count, elements (the element type is the first element's; u8 when empty)
/// tensor_count × { string name, u32 n_dims, n_dims × u64 dims (innermost first), u32 ggml_type, u64 offset }
/// zero padding to 32 bytes
/// tensor data in the order of the infos, each padded with zeros to 32 bytes; offsets count from the data start
/// ```
/// Tensors are produced one at a time by their `encode` closure, so a model is never held twice in
/// memory; the file appears under its name only when complete (`AtomicFile`).
public enum GGUFWriter {
    public static let alignment = 32

    /// One tensor to write: `shape` is row-major, outermost first (PyTorch's order; the file stores
    /// it reversed), `encode` fills exactly `byteCount` bytes of `type` blocks.
    public struct TensorEntry {
        public var name: String
        public var shape: [Int]
        public var type: GGMLType
        public var encode: (UnsafeMutableRawBufferPointer) throws -> Void

        public init(name: String, shape: [Int], type: GGMLType, encode: @escaping (UnsafeMutableRawBufferPointer) throws -> Void) {
            self.name = name
            self.shape = shape
            self.type = type
            self.encode = encode
        }

        public var byteCount: Int { shape.reduce(1, *) / type.blockSize * type.blockBytes }
    }

    /// Writes `metadata` (in order) and `tensors` to `path`; `progress(done, total)` after each tensor.
    public static func write(
        metadata: [(key: String, value: GGUFValue)], tensors: [TensorEntry], to path: String,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws {
        var seen = Set<String>()
        for entry in tensors {
            guard seen.insert(entry.name).inserted else { throw FormatError(file: path, field: entry.name, "two tensors share this name") }
            guard (1...4).contains(entry.shape.count), entry.shape.allSatisfy({ $0 > 0 }) else {
                throw FormatError(file: path, field: entry.name, "shape \(entry.shape) cannot be stored (1 to 4 positive dimensions)")
            }
            guard entry.shape.last! % entry.type.blockSize == 0 else {
                throw FormatError(file: path, field: entry.name, "row length \(entry.shape.last!) is not a multiple of \(entry.type)'s block of \(entry.type.blockSize)")
            }
        }
        for (key, value) in metadata {
            guard let elements = value.array else { continue }
            guard elements.allSatisfy({ $0.typeCode == elements[0].typeCode && $0.array == nil }) else {
                throw FormatError(file: path, field: key, "a GGUF array holds values of one type and no arrays")
            }
        }
        var header = ByteWriter()
        header.append(UInt32(0x4655_4747))
        header.append(UInt32(3))
        header.append(UInt64(tensors.count))
        header.append(UInt64(metadata.count))
        for (key, value) in metadata {
            header.appendString(key)
            header.append(value.typeCode)
            header.appendValue(value)
        }
        var offset = 0
        for entry in tensors {
            header.appendString(entry.name)
            header.append(UInt32(entry.shape.count))
            for d in entry.shape.reversed() { header.append(UInt64(d)) }
            header.append(entry.type.rawValue)
            header.append(UInt64(offset))
            offset += padded(entry.byteCount)
        }
        header.pad(to: alignment)

        try AtomicFile.write(to: path) { handle in
            try handle.write(contentsOf: header.data)
            for (n, entry) in tensors.enumerated() {
                let size = padded(entry.byteCount)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 64)
                defer { buffer.deallocate() }
                UnsafeMutableRawBufferPointer(rebasing: buffer[entry.byteCount..<size]).initializeMemory(as: UInt8.self, repeating: 0)
                try entry.encode(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<entry.byteCount]))
                try handle.write(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<size]))
                progress(n + 1, tensors.count)
            }
        }
    }

    static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

extension GGUFValue {
    /// GGUF's value-type code (see `GGUFFile`).
    var typeCode: UInt32 {
        switch self {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }
}

/// Little-endian bytes for a GGUF header.
struct ByteWriter {
    var data = Data()

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }

    mutating func appendString(_ s: String) {
        let bytes = Array(s.utf8)
        append(UInt64(bytes.count))
        data.append(contentsOf: bytes)
    }

    mutating func appendValue(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): appendString(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float64(let v): append(v.bitPattern)
        case .array(let elements):
            append(elements.first?.typeCode ?? 0)
            append(UInt64(elements.count))
            for e in elements { appendValue(e) }
        }
    }

    mutating func pad(to alignment: Int) {
        data.append(contentsOf: [UInt8](repeating: 0, count: (alignment - data.count % alignment) % alignment))
    }
}
