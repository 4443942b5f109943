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
        final class Owner { let buffer: UnsafeMutableRawBufferPointer; init(_ b: UnsafeMutableRawBufferPointer) { buffer = b }; deinit { buffer.deallocate() } }
        return try QuantizedMatrix(type: type, rows: rows, cols: 512, bytes: UnsafeRawBufferPointer(buffer), owner: Owner(buffer))
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

    /// Decoding's fused kernel (≤ 4 tokens of Q4_0, Q4_1, Q8_0) against the dense product on the
    /// dequantized weight and against the tile path (the same tokens at the head of a 5-token input).
    /// Row counts are not multiples of the parallel chunk (64) or of a tile (256).
    func testFusedDecodingKernelMatchesTilePathAndDenseReference() throws {
        for type in [GGMLType.q4_1, .q4_0, .q8_0] {
            for rows in [1, 37, 601] {
                let w = try matrix(type, rows: rows)
                let dense = w.dequantized()
                let five = Tensor.uniform([5, 512], seed: 3)
                let tiled = try five.linear(w)  // 5 tokens: dequantized tiles and sgemm
                for tokens in [1, 3] {
                    let x = Tensor(uninitialized: [tokens, 512])
                    x.data.update(from: five.data, count: tokens * 512)
                    let y = try x.linear(w)
                    let reference = try x.linear(dense)
                    let tileRows = Tensor(uninitialized: [tokens, rows])
                    tileRows.data.update(from: tiled.data, count: tokens * rows)
                    // Float32 sums of 512 products in another order (Q4_1: d·Σq·x + m·Σx instead of Σ(d·q + m)·x):
                    // within 1e-5 of the largest output.
                    let tolerance = 1e-5 * (reference.scalars.map(abs).max() ?? 1)
                    assertClose(y, reference, tolerance: tolerance, "\(type) \(tokens)×\(rows) vs dense")
                    assertClose(y, tileRows, tolerance: tolerance, "\(type) \(tokens)×\(rows) vs tile path")
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
