/// A weight matrix [rows, cols] kept in one of ggml's block formats, as a GGUF file stores it:
/// each row is cols / blockSize consecutive blocks. Its bytes may live in a memory-mapped file;
/// `owner` keeps that mapping (or any other storage) alive for as long as the matrix is used.
public struct QuantizedMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let bytes: UnsafeRawBufferPointer
    public let owner: AnyObject

    public init(type: GGMLType, rows: Int, cols: Int, bytes: UnsafeRawBufferPointer, owner: AnyObject) throws {
        guard rows > 0, cols > 0, cols % type.blockSize == 0 else {
            throw TensorError(op: "QuantizedMatrix", "\(type) needs rows of a multiple of \(type.blockSize) values, got [\(rows), \(cols)]")
        }
        guard bytes.count == rows * Self.rowBytes(type, cols) else {
            throw TensorError(op: "QuantizedMatrix", "\(bytes.count) bytes do not hold [\(rows), \(cols)] of \(type)")
        }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.bytes = bytes
        self.owner = owner
    }

    public var shape: [Int] { [rows, cols] }
    public var rowBytes: Int { Self.rowBytes(type, cols) }

    static func rowBytes(_ type: GGMLType, _ cols: Int) -> Int { cols / type.blockSize * type.blockBytes }

    /// Rows `range` as Float32 into `out` ([range.count, cols]).
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound * rowBytes)..<(range.upperBound * rowBytes)])
        Dequantize.run(type, slice, count: range.count * cols, into: out)
    }

    /// A copy whose row i is this matrix's row `order[i]` (rows are whole blocks, so they move intact).
    public func reorderingRows(_ order: [Int]) throws -> QuantizedMatrix {
        guard order.count == rows, order.allSatisfy({ $0 >= 0 && $0 < rows }) else {
            throw TensorError(op: "QuantizedMatrix", "row order of \(order.count) entries for \(rows) rows")
        }
        let storage = OwnedBytes(count: bytes.count)
        for (i, source) in order.enumerated() {
            UnsafeMutableRawBufferPointer(rebasing: storage.buffer[(i * rowBytes)..<((i + 1) * rowBytes)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(source * rowBytes)..<((source + 1) * rowBytes)]))
        }
        return try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: UnsafeRawBufferPointer(storage.buffer), owner: storage)
    }

    /// The whole matrix as a Float32 tensor.
    public func dequantized() -> Tensor {
        let t = Tensor(uninitialized: shape)
        dequantize(rows: 0..<rows, into: t.data)
        return t
    }
}

/// Heap bytes freed with their last owner.
final class OwnedBytes {
    let buffer: UnsafeMutableRawBufferPointer
    init(count: Int) { buffer = .allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { buffer.deallocate() }
}
