import Foundation

/// A read-only memory mapping of a whole file; unmapped when released.
public final class MappedFile {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError(file: path, field: nil, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FormatError(file: path, field: nil, "cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(info.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw FormatError(file: path, field: nil, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// A file that slm could not read: which file, which field, what was wrong.
public struct FormatError: Error, CustomStringConvertible {
    public let file: String
    public let field: String?
    public let message: String

    public init(file: String, field: String?, _ message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String { "\(file)\(field.map { ": \($0)" } ?? ""): \(message)" }
}

/// Reads little-endian values from a byte range, refusing to step past its end.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - offset }

    mutating func require(_ count: Int, _ field: String) throws {
        guard count >= 0, count <= remaining else {
            throw FormatError(file: file, field: field, "needs \(count) bytes at offset \(offset) but the file has \(remaining) left (truncated or corrupt)")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        try require(MemoryLayout<T>.size, field)
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func readFloat(_ field: String) throws -> Float { Float(bitPattern: try read(UInt32.self, field)) }
    mutating func readDouble(_ field: String) throws -> Double { Double(bitPattern: try read(UInt64.self, field)) }

    /// A count read from the file, checked to fit in `limit` before anything is allocated for it.
    mutating func readCount(_ field: String, elementSize: Int) throws -> Int {
        let raw = try read(UInt64.self, field)
        guard raw <= UInt64(remaining / max(elementSize, 1)) else {
            throw FormatError(file: file, field: field, "claims \(raw) elements but only \(remaining) bytes remain")
        }
        return Int(raw)
    }

    mutating func readBytes(_ count: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        try require(count, field)
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    mutating func seek(to position: Int, _ field: String) throws {
        guard position >= 0, position <= bytes.count else {
            throw FormatError(file: file, field: field, "offset \(position) is outside the file (\(bytes.count) bytes)")
        }
        offset = position
    }
}
