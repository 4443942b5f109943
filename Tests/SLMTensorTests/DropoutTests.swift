import SLMTensor
import SLMTestSupport
import XCTest

final class DropoutTests: XCTestCase {
    func testMatchesReference() throws {
        try LayersTest.withThreads(2) {
            for (n, shape) in [[13], [3, 5], [500, 131], [0, 4]].enumerated() {
                for p: Float in [0.1, 0.5, 0.9] {
                    let x = LayersTest.leaf(shape, seed: UInt64(n)), g = Tensor.uniform(shape, seed: 20 + UInt64(n))
                    let (y, grads) = try LayersTest.run([x], seed: g) { try x.dropout(probability: p, seed: 42) }
                    assertClose(y, Reference.dropout(x, probability: p, seed: 42), tolerance: 2e-6, "dropout \(shape) p \(p)")
                    // Dropout is diagonal, so its backward is the same masked scaling applied to g.
                    assertClose(try XCTUnwrap(grads[0]), Reference.dropout(g, probability: p, seed: 42), tolerance: 2e-6, "d \(shape) p \(p)")
                }
            }
        }
    }

    /// Element i is kept exactly when DropoutHash(seed:).uniform(i) ≥ p, including p that are not multiples of 2⁻²⁴.
    func testMaskIsTheHashThreshold() throws {
        let x = Tensor.filled([50_000], with: 1)
        for p: Float in [0.05, 0.1, 1.0 / 3, 0.5, 0.999] {
            let y = try x.dropout(probability: p, seed: 2024)
            let hash = DropoutHash(seed: 2024)
            for i in 0..<x.count {
                let keep = hash.uniform(i) >= p
                if (y.data[i] != 0) != keep { return XCTFail("p \(p): element \(i) kept \(y.data[i] != 0), expected \(keep)") }
            }
        }
    }

    /// The kept fraction of 200,000 elements lies within 5σ of 1 − p, σ = sqrt(p(1 − p) / n),
    /// and kept elements are scaled by exactly 1 / (1 − p).
    func testKeptFractionAndScale() throws {
        let n = 200_000
        let x = Tensor.filled([n], with: 1)
        for p: Float in [0.05, 0.1, 0.5, 0.9] {
            let y = try x.dropout(probability: p, seed: 7)
            let kept = y.scalars.filter { $0 != 0 }
            let sigma = (Double(p) * Double(1 - p) / Double(n)).squareRoot()
            XCTAssertEqual(Double(kept.count) / Double(n), Double(1 - p), accuracy: 5 * sigma, "p \(p)")
            XCTAssertTrue(kept.allSatisfy { $0 == 1 / (1 - p) }, "kept values scaled by 1/(1-p), p \(p)")
            let mean = y.scalars.reduce(0.0) { $0 + Double($1) } / Double(n)
            XCTAssertEqual(mean, 1, accuracy: 5 * sigma / Double(1 - p), "inverted scaling keeps the mean, p \(p)")
        }
    }

    func testMaskIndependentOfThreadCount() throws {
        let x = LayersTest.leaf([300, 257], seed: 1), g = Tensor.uniform([300, 257], seed: 2)
        let results = try [1, 2].map { threads in
            try LayersTest.withThreads(threads) {
                try LayersTest.run([x], seed: g) { try x.dropout(probability: 0.3, seed: 1234) }
            }
        }
        LayersTest.assertIdentical(results[0].0, results[1].0, "forward")
        LayersTest.assertIdentical(results[0].1[0], results[1].1[0], "backward")
    }

    /// Backward regenerates the forward's mask: the gradient is non-zero exactly where the output is.
    func testBackwardUsesForwardMask() throws {
        let x = LayersTest.leaf([64, 99], low: 1, high: 2, seed: 3)  // no zeros of its own
        let g = Tensor.filled([64, 99], with: 1)
        let (y, grads) = try LayersTest.run([x], seed: g) { try x.dropout(probability: 0.4, seed: 99) }
        let dx = try XCTUnwrap(grads[0])
        for i in 0..<y.count {
            XCTAssertEqual(y.data[i] != 0, dx.data[i] != 0, "element \(i)")
            if dx.data[i] != 0 { XCTAssertEqual(dx.data[i], 1 / 0.6, accuracy: 1e-6) }
        }
        let other = try x.dropout(probability: 0.4, seed: 100)
        XCTAssertNotEqual(other.scalars.map { $0 != 0 }, y.scalars.map { $0 != 0 }, "another seed, another mask")
    }

    /// A recomputed forward drops the same elements, so its gradients equal the direct ones.
    func testRecomputedForwardGivesSameGradients() throws {
        let x = LayersTest.leaf([40, 33], seed: 5), g = Tensor.uniform([40, 33], seed: 6)
        let (_, direct) = try LayersTest.run([x], seed: g) { try x.dropout(probability: 0.25, seed: 8).silu() }
        let (_, replayed) = try LayersTest.run([x], seed: g) {
            try Tensor.recomputed([x]) { t in try t[0].dropout(probability: 0.25, seed: 8).silu() }
        }
        LayersTest.assertIdentical(direct[0], replayed[0], "recomputed")
    }

    func testZeroProbabilityIsIdentity() throws {
        let x = LayersTest.leaf([3, 7], seed: 1), g = Tensor.uniform([3, 7], seed: 2)
        let (y, grads) = try LayersTest.run([x], seed: g) { try x.dropout(probability: 0, seed: 1) }
        XCTAssertEqual(y.scalars, x.scalars)
        XCTAssertEqual(grads[0]?.scalars, g.scalars)
    }

    /// Central differences through a fixed mask: step 1e-2, |analytic − numeric| ≤ 1e-3 + 1e-2 · |value|.
    func testGradientCheck() throws {
        let x = LayersTest.leaf([4, 9], seed: 1)
        try GradientCheck.check([x]) { try $0[0].dropout(probability: 0.3, seed: 5) }
    }

    func testBadProbability() throws {
        let x = Tensor.zeros([2, 3])
        for p: Float in [-0.1, 1, 1.5, .nan, .infinity] {
            LayersTest.assertThrows("dropout", mentioning: ["[0, 1)", "[2, 3]"]) { try x.dropout(probability: p, seed: 1) }
        }
    }
}
