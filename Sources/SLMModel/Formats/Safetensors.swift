import Foundation
import SLMTensor

/// A safetensors file (Hugging Face's tensor container), read in place from a memory map.
///
/// Layout:
/// ```
/// u64 LE  N                                   header length in bytes
/// N bytes header, UTF-8 JSON (may be padded with spaces):
///         { "<tensor name>": { "dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end] },
///           ...,
///           "__metadata__": { "<key>": "<string value>", ... } }     (optional)
/// data    bytes of every tensor, little-endian, row-major; offsets are relative to the start of
///         this section (8 + N), and end − begin = product(shape) × size of dtype
/// ```
/// Everything is checked before it is used: the header length against the file size and
/// `maxHeaderBytes`, each tensor's dtype, shape and offsets against the data section, and that
/// no two tensors share bytes. Each error is a `FormatError` naming the file and the tensor or field.
public final class SafetensorsFile {
    /// Headers larger than this are refused (the Rust reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// Tensors in data order.
    public let tensors: [SafetensorsTensorInfo]
    /// The `__metadata__` map (string → string), empty when absent.
    public let metadata: [String: String]
    /// File offset of the data section (8 + header length).
    public let dataStart: Int
    private let file: MappedFile
    private let index: [String: Int]

    public init(path: String) throws {
        file = try MappedFile(path: path)
        self.path = path
        var cursor = ByteCursor(file.bytes, file: path)
        let headerLength = try cursor.read(UInt64.self, "header length")
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw FormatError(file: path, field: "header length", "\(headerLength) bytes is more than the \(Self.maxHeaderBytes) allowed (not a safetensors file, or corrupt)")
        }
        guard headerLength <= UInt64(cursor.remaining) else {
            throw FormatError(file: path, field: "header length", "\(headerLength) bytes, but only \(cursor.remaining) follow it (truncated or corrupt)")
        }
        let header = try cursor.readBytes(Int(headerLength), "header")
        dataStart = cursor.offset
        let dataSize = file.bytes.count - dataStart

        guard let root = (try? JSONSerialization.jsonObject(with: Data(header))) as? [String: Any] else {
            throw FormatError(file: path, field: "header", "is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let raw = root["__metadata__"] {
            guard let map = raw as? [String: String] else {
                throw FormatError(file: path, field: "__metadata__", "must map strings to strings")
            }
            metadata = map
        }
        self.metadata = metadata
        var infos = try root.filter { $0.key != "__metadata__" }.sorted { $0.key < $1.key }.map { name, entry in
            try SafetensorsTensorInfo(name: name, header: entry, dataSize: dataSize, file: path)
        }
        infos.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name) }
        for (previous, next) in zip(infos, infos.dropFirst()) where next.dataOffsets.lowerBound < previous.dataOffsets.upperBound {
            throw FormatError(
                file: path, field: next.name,
                "data_offsets [\(next.dataOffsets.lowerBound), \(next.dataOffsets.upperBound)] overlap \(previous.name)'s "
                    + "[\(previous.dataOffsets.lowerBound), \(previous.dataOffsets.upperBound)]")
        }
        tensors = infos
        index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The raw little-endian bytes of a tensor, in place in the mapping.
    public func bytes(of info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + info.dataOffsets.lowerBound)..<(dataStart + info.dataOffsets.upperBound)])
    }

    /// A floating-point tensor (F32, F16 or BF16) converted to Float32, with its stored shape.
    public func floats(_ info: SafetensorsTensorInfo) throws -> Tensor {
        let type: GGMLType
        switch info.dtype {
        case .F32: type = .f32
        case .F16: type = .f16
        case .BF16: type = .bf16
        default: throw FormatError(file: path, field: info.name, "dtype \(info.dtype) cannot be read as Float32 weights (F32, F16, BF16 can)")
        }
        let t = Tensor(uninitialized: info.shape)
        Dequantize.run(type, bytes(of: info), count: info.elementCount, into: t.data)
        return t
    }
}

/// The element types a safetensors header may name.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

    public var byteSize: Int {
        switch self {
        case .F64, .I64: 8
        case .F32, .I32: 4
        case .F16, .BF16, .I16: 2
        case .I8, .U8, .BOOL: 1
        }
    }
}

/// One tensor's header entry: dtype, row-major shape (outermost first, PyTorch's order), and its
/// byte range relative to the data section.
public struct SafetensorsTensorInfo: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public let dataOffsets: Range<Int>
    public let elementCount: Int

    /// Validates one header entry against a data section of `dataSize` bytes.
    init(name: String, header entry: Any, dataSize: Int, file: String) throws {
        func fail(_ message: String) -> FormatError { FormatError(file: file, field: name, message) }
        /// A JSON integer ≥ 0. JSONSerialization gives booleans as NSNumbers of type "c" (and `is Bool`
        /// holds for the numbers 0 and 1 too), so those are told apart by their type code.
        func count(_ value: Any) -> Int? {
            guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
            return (value as? Int).flatMap { $0 >= 0 ? $0 : nil }
        }

        guard let entry = entry as? [String: Any] else { throw fail("header entry is not an object") }
        guard let dtypeName = entry["dtype"] as? String else { throw fail("dtype missing or not a string") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw fail("dtype \"\(dtypeName)\" is not supported (\(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")) are)")
        }
        guard let rawShape = entry["shape"] as? [Any], rawShape.count <= 8 else { throw fail("shape missing, not a list, or more than 8 dimensions") }
        let shape = try rawShape.map { d in
            guard let n = count(d) else { throw fail("shape \(rawShape) has an entry that is not a non-negative integer") }
            return n
        }
        guard let rawOffsets = entry["data_offsets"] as? [Any], rawOffsets.count == 2,
              let begin = count(rawOffsets[0]), let end = count(rawOffsets[1]), begin <= end
        else { throw fail("data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got \(entry["data_offsets"] ?? "nothing")") }
        guard end <= dataSize else {
            throw fail("data_offsets [\(begin), \(end)] run past the end of the data section (\(dataSize) bytes; truncated or corrupt)")
        }
        var elements = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("shape \(shape) has more elements than can be counted") }
            elements = p
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == end - begin else {
            throw fail("shape \(shape) of \(dtype) needs \(overflow ? "more" : "\(bytes)") bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = begin..<end
        self.elementCount = elements
    }
}

/// The safetensors weights of a Hugging Face model folder: `model.safetensors`, or the shards
/// listed by `model.safetensors.index.json`:
/// ```
/// { "metadata": { "total_size": ... }, "weight_map": { "<tensor name>": "model-00001-of-00003.safetensors", ... } }
/// ```
/// Every shard is opened (and its header checked) up front; each tensor the index names must be
/// in the shard it names.
public final class SafetensorsCheckpoint {
    public static let singleFile = "model.safetensors"
    public static let indexFile = "model.safetensors.index.json"

    /// The index file, or model.safetensors when there is no index.
    public let source: String
    public let files: [SafetensorsFile]
    private let index: [String: (file: Int, info: SafetensorsTensorInfo)]

    /// Opens `model.safetensors.index.json` in `folder` if present, else `model.safetensors`.
    public init(folder: String) throws {
        let folderURL = URL(fileURLWithPath: folder)
        let indexPath = folderURL.appendingPathComponent(Self.indexFile).path
        let singlePath = folderURL.appendingPathComponent(Self.singleFile).path
        if FileManager.default.fileExists(atPath: indexPath) {
            let weightMap = try Self.weightMap(indexPath)
            let shardNames = Set(weightMap.values).sorted()
            var files: [SafetensorsFile] = []
            for name in shardNames {
                let shardPath = folderURL.appendingPathComponent(name).path
                guard FileManager.default.fileExists(atPath: shardPath) else {
                    let example = weightMap.filter { $0.value == name }.keys.sorted().first ?? ""
                    throw FormatError(file: indexPath, field: "weight_map[\(example)]", "shard \"\(name)\" does not exist in \(folder)")
                }
                files.append(try SafetensorsFile(path: shardPath))
            }
            let fileOfShard = Dictionary(uniqueKeysWithValues: shardNames.enumerated().map { ($1, $0) })
            var index: [String: (file: Int, info: SafetensorsTensorInfo)] = [:]
            for (name, shard) in weightMap.sorted(by: { $0.key < $1.key }) {
                let n = fileOfShard[shard]!  // every value of weightMap is in shardNames
                guard let info = files[n].tensor(named: name) else {
                    throw FormatError(file: files[n].path, field: name, "tensor missing, though \(Self.indexFile) puts it in this shard")
                }
                index[name] = (n, info)
            }
            self.files = files
            self.index = index
            source = indexPath
        } else if FileManager.default.fileExists(atPath: singlePath) {
            let file = try SafetensorsFile(path: singlePath)
            files = [file]
            source = singlePath
            index = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, (0, $0)) })
        } else {
            throw FormatError(file: folder, field: nil, "has neither \(Self.singleFile) nor \(Self.indexFile)")
        }
    }

    /// `weight_map` of an index file: tensor name → shard file name (a plain name in the same folder).
    static func weightMap(_ path: String) throws -> [String: String] {
        let root = try JSONObjectFile.read(path)
        guard let map = root["weight_map"] as? [String: String] else {
            throw FormatError(file: path, field: "weight_map", "missing or not a map of tensor names to shard file names")
        }
        for (name, shard) in map where shard.isEmpty || shard.contains("/") || shard == "." || shard == ".." {
            throw FormatError(file: path, field: "weight_map[\(name)]", "\"\(shard)\" is not a file name in the model folder")
        }
        return map
    }

    /// All tensor names, sorted.
    public var names: [String] { index.keys.sorted() }

    /// The file holding a tensor and its header entry.
    public func locate(_ name: String) -> (file: SafetensorsFile, info: SafetensorsTensorInfo)? {
        index[name].map { (files[$0.file], $0.info) }
    }

    /// A floating-point tensor as Float32, checked to have `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let (file, info) = locate(name) else {
            throw FormatError(file: source, field: name, "tensor missing")
        }
        guard info.shape == shape else {
            throw FormatError(file: file.path, field: name, "shape \(info.shape) does not match the config's \(shape)")
        }
        return try file.floats(info)
    }
}
