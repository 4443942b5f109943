import SLMTensor

/// A GGUF file (llama.cpp's single-file model format), version 2 or 3, read in place from a memory map.
///
/// Layout (all little-endian):
/// ```
/// "GGUF" u32 version  u64 tensor_count  u64 metadata_count
/// metadata_count × { string key, u32 value_type, value }      string = u64 length + UTF-8 bytes
///     value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string,
///                  9 array (u32 element type, u64 count, elements), 10 u64, 11 i64, 12 f64
/// tensor_count × { string name, u32 n_dims, n_dims × u64 dims (innermost first), u32 ggml_type, u64 offset }
/// padding to `general.alignment` (default 32)
/// tensor data; each tensor at data_start + offset
/// ```
public final class GGUFFile {
    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    public let dataStart: Int
    private let file: MappedFile
    private let index: [String: Int]

    public init(path: String) throws {
        file = try MappedFile(path: path)
        self.path = path
        var cursor = ByteCursor(file.bytes, file: path)
        let magic = try cursor.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else { throw FormatError(file: path, field: "magic", "not a GGUF file (first bytes are not \"GGUF\")") }
        version = try cursor.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw FormatError(file: path, field: "version", "GGUF version \(version) is not supported (2 and 3 are)") }
        let tensorCount = try cursor.readCount("tensor_count", elementSize: 24)
        let metadataCount = try cursor.readCount("metadata_kv_count", elementSize: 12)

        var metadata: [(key: String, value: GGUFValue)] = []
        for _ in 0..<metadataCount {
            let key = try cursor.readString("metadata key")
            let type = try cursor.read(UInt32.self, key)
            metadata.append((key, try cursor.readValue(type: type, field: key, depth: 0)))
        }
        self.metadata = metadata
        var alignment = 32
        if let value = metadata.first(where: { $0.key == "general.alignment" })?.value {
            guard let a = value.integer, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw FormatError(file: path, field: "general.alignment", "must be a power of two, got \(value)")
            }
            alignment = a
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        for n in 0..<tensorCount {
            let name = try cursor.readString("tensor \(n) name")
            let dimCount = try cursor.read(UInt32.self, "\(name).n_dims")
            guard (1...4).contains(dimCount) else { throw FormatError(file: path, field: "\(name).n_dims", "\(dimCount) dimensions (1 to 4 allowed)") }
            var dims: [Int] = []
            for d in 0..<Int(dimCount) {
                let value = try cursor.read(UInt64.self, "\(name).dims[\(d)]")
                guard value > 0, value <= 1 << 40 else { throw FormatError(file: path, field: "\(name).dims[\(d)]", "dimension \(value) out of range") }
                dims.append(Int(value))
            }
            let rawType = try cursor.read(UInt32.self, "\(name).type")
            guard let type = GGMLType(rawValue: rawType) else {
                throw FormatError(file: path, field: "\(name).type", "ggml type \(rawType) is not supported (\(GGMLType.supportedNames))")
            }
            let offset = try cursor.read(UInt64.self, "\(name).offset")
            infos.append(try GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset, file: path))
        }
        tensors = infos
        dataStart = (cursor.offset + alignment - 1) / alignment * alignment
        for info in infos {
            guard info.offset % UInt64(alignment) == 0 else {
                throw FormatError(file: path, field: "\(info.name).offset", "offset \(info.offset) is not a multiple of the alignment \(alignment)")
            }
            let end = UInt64(dataStart) + info.offset + UInt64(info.byteCount)
            guard info.offset <= UInt64(Int.max), end <= UInt64(file.bytes.count) else {
                throw FormatError(file: path, field: info.name, "data (\(info.byteCount) bytes at \(info.offset)) runs past the end of the file (\(file.bytes.count) bytes)")
            }
        }
        index = Dictionary(infos.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        guard index.count == infos.count else { throw FormatError(file: path, field: "tensors", "two tensors share a name") }
    }

    public subscript(key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }

    public func tensor(named name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// A 2-D tensor as a quantized matrix that reads its blocks in place from the mapping.
    public func quantizedMatrix(_ info: GGUFTensorInfo) throws -> QuantizedMatrix {
        guard info.dims.count == 2 else { throw FormatError(file: path, field: info.name, "is \(info.dims.count)-D, not a matrix") }
        return try QuantizedMatrix(type: info.type, rows: info.dims[1], cols: info.dims[0], bytes: bytes(of: info), owner: file)
    }

    /// The raw (possibly quantized) bytes of a tensor, in place in the mapping.
    public func bytes(of info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataStart + Int(info.offset)
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + info.byteCount)])
    }
}

/// One tensor's entry in a GGUF file. `dims` are ggml's, innermost first: a weight
/// stored as ne = [in, out] is an [out, in] row-major matrix.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let dims: [Int]
    public let type: GGMLType
    public let offset: UInt64
    public let elementCount: Int
    public let byteCount: Int

    /// The row-major shape, outermost first (PyTorch's order).
    public var shape: [Int] { dims.reversed() }

    init(name: String, dims: [Int], type: GGMLType, offset: UInt64, file: String) throws {
        self.name = name
        self.dims = dims
        self.type = type
        self.offset = offset
        let (count, overflow) = dims.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow, count <= 1 << 40 else { throw FormatError(file: file, field: name, "element count of \(dims) overflows") }
        guard dims[0] % type.blockSize == 0 else {
            throw FormatError(file: file, field: name, "row length \(dims[0]) is not a multiple of \(type)'s block of \(type.blockSize)")
        }
        elementCount = count
        byteCount = count / type.blockSize * type.blockBytes
    }
}

/// A metadata value of a GGUF file.
public indirect enum GGUFValue: Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue]), uint64(UInt64), int64(Int64), float64(Double)

    /// Any integer type as Int (nil for other types or out-of-range values).
    public var integer: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: integer.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var array: [GGUFValue]? { if case .array(let a) = self { a } else { nil } }

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .array(let a): "[\(a.count) values]"
        case .bool(let b): "\(b)"
        default: double.map { "\($0)" } ?? "?"
        }
    }
}

extension ByteCursor {
    mutating func readString(_ field: String) throws -> String {
        let length = try readCount(field, elementSize: 1)
        return String(decoding: try readBytes(length, field), as: UTF8.self)
    }

    mutating func readValue(type: UInt32, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try read(UInt8.self, field))
        case 1: return .int8(try read(Int8.self, field))
        case 2: return .uint16(try read(UInt16.self, field))
        case 3: return .int16(try read(Int16.self, field))
        case 4: return .uint32(try read(UInt32.self, field))
        case 5: return .int32(try read(Int32.self, field))
        case 6: return .float32(try readFloat(field))
        case 7:
            let b = try read(UInt8.self, field)
            guard b <= 1 else { throw FormatError(file: file, field: field, "bool value \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case 8: return .string(try readString(field))
        case 9:
            guard depth == 0 else { throw FormatError(file: file, field: field, "nested arrays are not supported") }
            let elementType = try read(UInt32.self, field + " element type")
            let count = try readCount(field + " count", elementSize: elementType == 8 ? 8 : 1)
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try readValue(type: elementType, field: field, depth: depth + 1)) }
            return .array(values)
        case 10: return .uint64(try read(UInt64.self, field))
        case 11: return .int64(try read(Int64.self, field))
        case 12: return .float64(try readDouble(field))
        default: throw FormatError(file: file, field: field, "unknown metadata value type \(type)")
        }
    }
}
