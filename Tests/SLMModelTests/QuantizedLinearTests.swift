import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// Linear layers over weights kept in ggml blocks, against the same weights dequantized.
final class QuantizedLinearTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// A [rows, 512] matrix made by repeating the blocks of one fixture tensor (gguf-py wrote them).
    private func matrix(_ type: GGMLType, rows: Int) throws -> QuantizedMatrix {
        let file = try GGUFFile(path: Fixture.path("small.gguf"))
        let info = try XCTUnwrap(file.tensor(named: "tensor.\(type)"))
        let source = file.bytes(of: info)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: source.count / 2 * rows, alignment: 64)
        for r in 0..<rows {
            let row = UnsafeRawBufferPointer(rebasing: source[((r % 2) * source.count / 2)..<((r % 2 + 1) * source.count / 2)])
            UnsafeMutableRawBufferPointer(rebasing: buffer[(r * row.count)..<((r + 1) * row.count)]).copyMemory(from: row)
        }
        return try QuantizedMatrix(type: type, rows: rows, cols: 512, bytes: UnsafeRawBufferPointer(buffer), owner: Owner(buffer))
    }

    private static func matrix(_ type: GGMLType, rows: Int, cols: Int, bytes: [UInt8]) throws -> QuantizedMatrix {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 64)
        buffer.copyBytes(from: bytes)
        return try QuantizedMatrix(type: type, rows: rows, cols: cols, bytes: UnsafeRawBufferPointer(buffer), owner: Owner(buffer))
    }

    func testMatchesDenseLinearOnTheDequantizedWeight() throws {
        for type in [GGMLType.q4_1, .q8_0, .q4_0, .q4_K, .q6_K, .f16] {
            let w = try matrix(type, rows: 600)  // more than two tiles, the last one partial
            let dense = w.dequantized()
            let x = Tensor.uniform([3, 5, 512], seed: 1, requiresGrad: true)
            let y = try x.linear(w)
            let g = Tensor.uniform(y.shape, seed: 2)
            try y.backward(seed: g)
            let quantizedGrad = try XCTUnwrap(x.grad)
            x.zeroGrad()
            let reference = try x.linear(dense)
            try reference.backward(seed: g)
            // Float32 sums over 512 (forward) or 600 (dx) products in another order: relative to the largest value.
            func scale(_ t: Tensor) -> Float { t.scalars.map(abs).max() ?? 1 }
            assertClose(y, reference, tolerance: 1e-6 * scale(reference), "\(type) forward")
            assertClose(quantizedGrad, try XCTUnwrap(x.grad), tolerance: 1e-6 * scale(x.grad!), "\(type) dx")
        }
    }

    /// Decoding's kernel (≤ 4 tokens of Q4_0, Q4_1, Q8_0) quantizes x to 16 bits per block of 32 and sums
    /// integers, as llama.cpp does with 8: against fixtures/make_integer_dot.py (numpy, ggml's formulas,
    /// exact integer sums in float64) and against its plain twin.
    func testDecodingKernelMatchesIntegerDotsPerBlock() throws {
        let fixture = try Fixture("integer_dot.json")
        let x = try fixture.tensor("x")  // [3, 256]
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            let bytes = try fixture.values("\(type)_blocks").map { UInt8($0) }
            let w = try Self.matrix(type, rows: 9, cols: 256, bytes: bytes)
            let expected = try fixture.tensor("\(type)_y"), dense = try fixture.tensor("\(type)_dense")
            let tolerance = 1e-6 * (expected.scalars.map(abs).max() ?? 1)
            assertClose(try x.linear(w), expected, tolerance: tolerance, "\(type) kernel vs numpy")
            assertClose(try Reference.quantizedGemv(x, w), expected, tolerance: tolerance, "\(type) reference vs numpy")
            // Quantizing x moves the result well beyond Float32 rounding, so the checks above see it.
            XCTAssertGreaterThan(zip(expected.scalars, dense.scalars).map { abs($0 - $1) }.max() ?? 0, 10 * tolerance, "\(type)")
            let first = Tensor(uninitialized: [1, 256])
            first.data.update(from: x.data, count: 256)
            let one = try first.linear(w)
            XCTAssertEqual(one.scalars, Array(try x.linear(w).scalars.prefix(9)), "\(type): a token's outputs do not depend on the others")
        }
    }

    /// On the demo model's block layouts (rows not multiples of the parallel chunk (64) or of a tile (256)):
    /// the kernel equals its plain twin up to Float32 summation, and stays within x's rounding of the
    /// tile path (dequantize + sgemm): |y − W·x| ≤ Σ_k |W[n, k]| · d_x / 2, d_x = max |x_b| / 127.
    /// Float32 sums are allowed 1e-6 of Σ_k |W[n, k] · x[k]|.
    func testDecodingKernelStaysWithinTheRoundingOfItsActivations() throws {
        for type in [GGMLType.q4_1, .q4_0, .q8_0] {
            for rows in [1, 37, 601] {
                let w = try matrix(type, rows: rows)
                let dense = w.dequantized()
                let five = Tensor.uniform([5, 512], seed: 3)
                let tiled = try five.linear(w)  // 5 tokens: dequantized tiles and sgemm
                for tokens in [1, 3] {
                    let x = Tensor(uninitialized: [tokens, 512])
                    x.data.update(from: five.data, count: tokens * 512)
                    let y = try x.linear(w), twin = try Reference.quantizedGemv(x, w)
                    var worstTwin: Float = 0, worstTile: Float = 0
                    for t in 0..<tokens {
                        let xt = (0..<512).map { x.data[t * 512 + $0] }
                        let steps = (0..<16).map { b in xt[(32 * b)..<(32 * b + 32)].map(abs).max()! / 127 }
                        for r in 0..<rows {
                            let wr = (0..<512).map { dense.data[r * 512 + $0] }
                            let rounding = (0..<512).reduce(Float(0)) { $0 + abs(wr[$1]) * steps[$1 / 32] / 2 }
                            let summation = 1e-6 * (0..<512).reduce(Float(0)) { $0 + abs(wr[$1] * xt[$1]) }
                            let i = t * rows + r
                            worstTwin = max(worstTwin, abs(y.data[i] - twin.data[i]) / summation)
                            worstTile = max(worstTile, abs(y.data[i] - tiled.data[t * rows + r]) / (rounding + summation))
                        }
                    }
                    XCTAssertLessThanOrEqual(worstTwin, 1, "\(type) \(tokens)×\(rows): difference to its twin over Float32 rounding")
                    XCTAssertLessThanOrEqual(worstTile, 1, "\(type) \(tokens)×\(rows): error over the rounding bound")
                }
            }
        }
    }

    /// With few tokens the forward is fused; the input's gradient still comes from the tile path.
    func testFusedForwardKeepsTheTiledBackward() throws {
        let w = try matrix(.q4_1, rows: 300)
        let x = Tensor.uniform([1, 3, 512], seed: 4, requiresGrad: true)
        let y = try x.linear(w)
        let g = Tensor.uniform(y.shape, seed: 5)
        try y.backward(seed: g)
        let quantizedGrad = try XCTUnwrap(x.grad)
        x.zeroGrad()
        try x.linear(w.dequantized()).backward(seed: g)
        let expected = try XCTUnwrap(x.grad)
        assertClose(quantizedGrad, expected, tolerance: 1e-6 * (expected.scalars.map(abs).max() ?? 1), "dx")
    }

    func testRefusesMismatchedShapesAndSizes() throws {
        let w = try matrix(.q8_0, rows: 4)
        XCTAssertThrowsError(try Tensor.zeros([2, 256]).linear(w)) { XCTAssertTrue("\($0)".contains("[4, 512]"), "\($0)") }
        XCTAssertThrowsError(try QuantizedMatrix(type: .q8_0, rows: 5, cols: 512, bytes: w.bytes, owner: w.owner))
        XCTAssertThrowsError(try QuantizedMatrix(type: .q4_K, rows: 1, cols: 100, bytes: w.bytes, owner: w.owner))
    }
}

/// Frees a test matrix's bytes with the matrix.
private final class Owner {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }
    deinit { buffer.deallocate() }
}
