import Foundation
import SLMTensor
import SLMTestSupport
import XCTest

final class RopeTests: XCTestCase {
    func testStandardAndLinearFrequencies() throws {
        let f = try RopeFrequencies.standard(base: 10000, rotaryDim: 64)
        XCTAssertEqual(f.rotaryDim, 64)
        XCTAssertEqual(f.attentionScaling, 1)
        for i in 0..<32 { XCTAssertEqual(f.inverseFrequencies[i], Foundation.pow(10000, -Double(2 * i) / 64), accuracy: 1e-15) }
        let linear = try RopeFrequencies.linear(base: 10000, rotaryDim: 64, factor: 4)
        for i in 0..<32 { XCTAssertEqual(linear.inverseFrequencies[i], f.inverseFrequencies[i] / 4, accuracy: 1e-15) }
        XCTAssertEqual(try RopeFrequencies(inverseFrequencies: f.inverseFrequencies), f)
        XCTAssertNotEqual(try RopeFrequencies(inverseFrequencies: f.inverseFrequencies, attentionScaling: 2), f)
    }

    /// transformers' `_compute_llama3_parameters` (float32) for the fixture's config, and its plain frequencies for Phi-3.
    func testFrequenciesMatchTransformers() throws {
        let fixture = try Fixture("layers.json")
        let llama3 = try RopeFrequencies.llama3(
            base: 500000, rotaryDim: 16, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64)
        let phi = try RopeFrequencies.standard(base: 10000, rotaryDim: 12)
        for (mine, name) in [(llama3, "rope_inv_freq"), (phi, "prope_inv_freq")] {
            let expected = try fixture.values(name)
            XCTAssertEqual(mine.inverseFrequencies.count, expected.count)
            for (a, b) in zip(mine.inverseFrequencies, expected) { XCTAssertEqual(a, b, accuracy: 1e-6 * b, name) }
        }
    }

    func testMatchesReference() throws {
        let positions70k: [Int32] = [0, 70_000, 5, 65_535, 1]  // beyond the cached table: rows built per call
        let cases: [(shape: [Int], frequencies: RopeFrequencies, positions: [Int32]?)] = [
            ([37, 5, 64], try .standard(base: 10000, rotaryDim: 64), nil),
            ([37, 3, 24], try .standard(base: 10000, rotaryDim: 18), nil),  // partial, half 9: no full vector
            ([9, 2, 96], try .llama3(base: 500000, rotaryDim: 72, factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
                                     originalMaxPositions: 8192), nil),
            ([5, 4, 32], try .standard(base: 10000, rotaryDim: 32), positions70k),
            ([0, 2, 8], try .standard(base: 10000, rotaryDim: 8), nil),
            ([300, 9, 64], try RopeFrequencies(
                inverseFrequencies: (0..<32).map { 1 / Foundation.pow(10000, Double($0) / 32) / 1.5 }, attentionScaling: 1.19), nil),
        ]
        try LayersTest.withThreads(2) {
            for (n, c) in cases.enumerated() {
                // A packed sample from 0, then one continuing at offset 500.
                let half = c.shape[0] / 2
                let positions = c.positions ?? (0..<c.shape[0]).map { t in Int32(t < half ? t : t - half + 500) }
                let x = LayersTest.leaf(c.shape, low: -2, high: 2, seed: UInt64(n)), g = Tensor.uniform(c.shape, seed: 10 + UInt64(n))
                let (y, grads) = try LayersTest.run([x], seed: g) { try x.rope(positions: positions, frequencies: c.frequencies) }
                let label = "rope \(c.shape) rotaryDim \(c.frequencies.rotaryDim)"
                // cos and sin come from Double at every position, so even position 70,000 stays within a few ulp of |x| ≤ 2.
                let tolerance: Float = 1e-6
                assertClose(y, Reference.rope(x, positions: positions, frequencies: c.frequencies), tolerance: tolerance, label)
                assertClose(
                    try XCTUnwrap(grads[0]), Reference.ropeBackward(positions: positions, frequencies: c.frequencies, grad: g),
                    tolerance: tolerance, "d \(label)")
                if c.frequencies.rotaryDim < c.shape[2], c.shape[0] > 0 {
                    let d = c.shape[2], rot = c.frequencies.rotaryDim
                    for row in 0..<(c.shape[0] * c.shape[1]) {
                        for j in rot..<d { XCTAssertEqual(y.data[row * d + j], x.data[row * d + j], "pass-through dims are copied") }
                    }
                }
            }
        }
    }

    /// transformers computes the angles in float32; positions ≤ 42 keep that error near 1e-6.
    func testMatchesPyTorch() throws {
        let f = try Fixture("layers.json")
        let llama3 = try RopeFrequencies.llama3(
            base: 500000, rotaryDim: 16, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64)
        let phi = try RopeFrequencies.standard(base: 10000, rotaryDim: 12)
        for (name, frequencies) in [("rope", llama3), ("prope", phi)] {
            let x = try f.tensor("\(name)_x", requiresGrad: true)
            let positions = try f.values("\(name)_positions").map { Int32($0) }
            let (y, grads) = try LayersTest.run([x], seed: try f.tensor("\(name)_g")) {
                try x.rope(positions: positions, frequencies: frequencies)
            }
            assertClose(y, try f.tensor("\(name)_y"), tolerance: 2e-6, name)
            assertClose(try XCTUnwrap(grads[0]), try f.tensor("\(name)_dx"), tolerance: 2e-6, "\(name) dx")
        }
    }

    /// Central differences on [3, 2, 10] with rotaryDim 6 in Float: step 1e-2, |analytic − numeric| ≤ 1e-3 + 1e-2 · |value|.
    func testGradientCheck() throws {
        let x = LayersTest.leaf([3, 2, 10], seed: 1)
        let frequencies = try RopeFrequencies.standard(base: 100, rotaryDim: 6)
        try GradientCheck.check([x]) { try $0[0].rope(positions: [4, 0, 9], frequencies: frequencies) }
    }

    /// The rotation is orthogonal: backward of y with seed y returns x.
    func testBackwardIsInverseRotation() throws {
        let x = LayersTest.leaf([6, 2, 32], seed: 3)
        let frequencies = try RopeFrequencies.standard(base: 10000, rotaryDim: 32)
        let y = try x.rope(positions: [0, 1, 2, 3, 100, 1000], frequencies: frequencies)
        try y.backward(seed: y.detached())
        assertClose(try XCTUnwrap(x.grad), x.detached(), tolerance: 5e-7, "inverse rotation")
    }

    func testBadInput() throws {
        let x = Tensor.zeros([4, 2, 8])
        let f8 = try RopeFrequencies.standard(base: 10000, rotaryDim: 8)
        LayersTest.assertThrows("rope", mentioning: ["3 positions", "4 tokens"]) { try x.rope(positions: [0, 1, 2], frequencies: f8) }
        LayersTest.assertThrows("rope", mentioning: ["-1", "token 2"]) { try x.rope(positions: [0, 1, -1, 2], frequencies: f8) }
        LayersTest.assertThrows("rope", mentioning: ["rotaryDim 10", "[4, 2, 8]"]) {
            try x.rope(positions: [0, 1, 2, 3], frequencies: try .standard(base: 10000, rotaryDim: 10))
        }
        LayersTest.assertThrows("rope", mentioning: ["[8, 8]"]) { try Tensor.zeros([8, 8]).rope(positions: [Int32](repeating: 0, count: 8), frequencies: f8) }
        LayersTest.assertThrows("RopeFrequencies", mentioning: ["7"]) { try RopeFrequencies.standard(base: 10000, rotaryDim: 7) }
        LayersTest.assertThrows("RopeFrequencies", mentioning: ["0"]) { try RopeFrequencies.standard(base: 10000, rotaryDim: 0) }
        LayersTest.assertThrows("RopeFrequencies", mentioning: ["base"]) { try RopeFrequencies.standard(base: -1, rotaryDim: 8) }
        LayersTest.assertThrows("RopeFrequencies", mentioning: ["factor"]) { try RopeFrequencies.linear(base: 10000, rotaryDim: 8, factor: 0) }
        LayersTest.assertThrows("RopeFrequencies", mentioning: ["highFreqFactor"]) {
            try RopeFrequencies.llama3(base: 10000, rotaryDim: 8, factor: 8, lowFreqFactor: 4, highFreqFactor: 4, originalMaxPositions: 8192)
        }
        LayersTest.assertThrows("RopeFrequencies", mentioning: ["at least one"]) { try RopeFrequencies(inverseFrequencies: []) }
        LayersTest.assertThrows("RopeFrequencies", mentioning: ["inf"]) { try RopeFrequencies(inverseFrequencies: [1, .infinity]) }
    }
}
