import SLMTensor
import SLMTestSupport
import XCTest

/// `BFloat16Matrix` against PyTorch's bf16 rounding (fixtures/make_bfloat16.py), on AMX tiles where
/// this CPU has them and on the OpenBLAS path everywhere.
final class BFloat16MatrixTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    private var paths: [Bool] { TileGemm.isAvailable ? [true, false] : [false] }

    func testRoundsAsPyTorchDoes() throws {
        let f = try Fixture("bfloat16.json")
        let values = try f.tensor("rounding_in"), expected = try f.values("rounding_out")
        for useTiles in paths {
            let rounded = try BFloat16Matrix(values.reshaped([1, values.count]), useTiles: useTiles).denseWeight()
            XCTAssertEqual(rounded.scalars.map(\.bitPattern), expected.map { Float($0).bitPattern }, "tiles: \(useTiles)")
        }
    }

    func testProductAndInputGradientMatchPyTorch() throws {
        let f = try Fixture("bfloat16.json")
        let weight = try f.tensor("weight"), dy = try f.tensor("grad_out")
        for useTiles in paths {
            let x = try f.tensor("x", requiresGrad: true)
            let w = try BFloat16Matrix(weight, useTiles: useTiles)
            let y = try x.linear(w)
            // Float32 sums of exact bf16 products: within a few ulps of the float64 reference.
            assertClose(y, try f.tensor("y"), tolerance: 2e-5, "y, tiles: \(useTiles)")
            try y.backward(seed: dy)
            assertClose(x.grad!, try f.tensor("dx"), tolerance: 2e-5, "dx, tiles: \(useTiles)")
        }
    }

    func testTilesAgreeWithOpenBLASAcrossShapes() throws {
        try XCTSkipUnless(TileGemm.isAvailable, "this CPU has no AMX-BF16")
        for (tokens, inFeatures, out) in [(1, 1, 1), (31, 33, 17), (32, 32, 32), (65, 576, 192), (100, 1536, 64)] {
            let weight = Tensor.uniform([out, inFeatures], low: -1, high: 1, seed: UInt64(out))
            let x = Tensor.uniform([tokens, inFeatures], low: -1, high: 1, seed: UInt64(tokens))
            let dy = Tensor.uniform([tokens, out], low: -1, high: 1, seed: UInt64(inFeatures))
            let tiles = try BFloat16Matrix(weight, useTiles: true), blas = try BFloat16Matrix(weight, useTiles: false)
            let bound = 1e-6 * Float(max(inFeatures, out))
            assertClose(try x.linear(tiles), try x.linear(blas), tolerance: bound, "y \([tokens, inFeatures, out])")
            assertClose(try tiles.inputGradient(dy), try blas.inputGradient(dy), tolerance: bound, "dx \([tokens, inFeatures, out])")
        }
    }

    func testRepeatsBitwiseAndRefusesMisfits() throws {
        let w = try BFloat16Matrix(Tensor.uniform([96, 64], low: -1, high: 1, seed: 1))
        let x = Tensor.uniform([200, 64], low: -1, high: 1, seed: 2)
        XCTAssertEqual(try x.linear(w).scalars, try x.linear(w).scalars)
        XCTAssertThrowsError(try Tensor.zeros([3, 65]).linear(w)) { XCTAssertTrue("\($0)".contains("[96, 64]"), "\($0)") }
        XCTAssertThrowsError(try w.inputGradient(Tensor.zeros([3, 64])))
        XCTAssertThrowsError(try BFloat16Matrix(Tensor.zeros([0, 4])))
    }
}

/// The loss head with its weight's bf16 copy, against the same bf16 arithmetic in PyTorch.
final class BFloat16LossHeadTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testCrossEntropyAndHiddenGradientMatchPyTorch() throws {
        let f = try Fixture("bfloat16.json")
        let weight = try f.tensor("weight"), labels = try f.values("labels").map { Int32($0) }
        for useTiles in TileGemm.isAvailable ? [true, false] : [false] {
            let hidden = try f.tensor("hidden", requiresGrad: true)
            let head = try Tensor.lossHead(
                hidden: hidden, weight: weight, labels: labels, config: LossHeadConfig(chunkTokens: 7),
                weightInBF16: try BFloat16Matrix(weight, useTiles: useTiles))
            XCTAssertEqual(Double(head.crossEntropy!), try f.values("loss")[0], accuracy: 1e-5, "tiles: \(useTiles)")
            try head.loss.backward()
            // dlogits rounded to bf16 from Float32 here and from float64 there: at most one bf16 step apart.
            assertClose(hidden.grad!, try f.tensor("dh"), tolerance: 2e-4, "dh, tiles: \(useTiles)")
        }
    }

    func testRefusesABFloat16WeightOfAnotherShape() throws {
        let weight = Tensor.uniform([45, 70], low: -1, high: 1, seed: 1)
        XCTAssertThrowsError(
            try Tensor.lossHead(
                hidden: Tensor.zeros([2, 70]), weight: weight, labels: [1, 2],
                weightInBF16: try BFloat16Matrix(Tensor.filled([44, 70], with: 1))))
    }
}
