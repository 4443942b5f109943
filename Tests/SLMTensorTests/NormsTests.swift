import SLMTensor
import SLMTestSupport
import XCTest

final class NormsTests: XCTestCase {
    /// Shapes with odd widths, a width past one SIMD vector, several weight-gradient blocks, and zero rows.
    let shapes = [[3, 37], [2, 3, 5], [70, 577], [1, 1], [0, 37], [4, 16]]

    func testRMSNormMatchesReference() throws {
        try LayersTest.withThreads(2) {
            for (n, shape) in shapes.enumerated() {
                let c = shape.last!
                // Float against Double: y and dx within a few ulp of O(1) values; dw sums up to 70 rows.
                for (offset, withWeight) in [(0, true), (1, true), (0, false)] as [(Float, Bool)] {
                    let x = LayersTest.leaf(shape, low: -2, high: 3, seed: UInt64(n))
                    let w = withWeight ? LayersTest.leaf([c], seed: 100 + UInt64(n)) : nil
                    let g = Tensor.uniform(shape, seed: 200 + UInt64(n))
                    let (y, grads) = try LayersTest.run([x] + (w.map { [$0] } ?? []), seed: g) {
                        try x.rmsNorm(weight: w, eps: 1e-5, weightOffset: offset)
                    }
                    let label = "rmsNorm \(shape) offset \(offset) weight \(withWeight)"
                    assertClose(y, Reference.rmsNorm(x, weight: w, eps: 1e-5, weightOffset: offset), tolerance: 1e-6, label)
                    let expected = Reference.rmsNormBackward(x, weight: w, eps: 1e-5, weightOffset: offset, grad: g)
                    assertClose(try XCTUnwrap(grads[0]), expected.x, tolerance: 1e-6, "dx \(label)")
                    if let w {
                        assertClose(try XCTUnwrap(w.grad), try XCTUnwrap(expected.weight), tolerance: 1e-5, "dw \(label)")
                    }
                }
            }
        }
    }

    func testLayerNormMatchesReference() throws {
        try LayersTest.withThreads(2) {
            for (n, shape) in shapes.enumerated() {
                let c = shape.last!
                for (withWeight, withBias) in [(true, true), (true, false), (false, true), (false, false)] {
                    let x = LayersTest.leaf(shape, low: -1, high: 4, seed: UInt64(n))
                    let w = withWeight ? LayersTest.leaf([c], seed: 100 + UInt64(n)) : nil
                    let b = withBias ? LayersTest.leaf([c], seed: 300 + UInt64(n)) : nil
                    let g = Tensor.uniform(shape, seed: 200 + UInt64(n))
                    let inputs = [x] + (w.map { [$0] } ?? []) + (b.map { [$0] } ?? [])
                    let (y, grads) = try LayersTest.run(inputs, seed: g) { try x.layerNorm(weight: w, bias: b, eps: 1e-5) }
                    let label = "layerNorm \(shape) weight \(withWeight) bias \(withBias)"
                    assertClose(y, Reference.layerNorm(x, weight: w, bias: b, eps: 1e-5), tolerance: 1e-6, label)
                    let expected = Reference.layerNormBackward(x, weight: w, bias: b, eps: 1e-5, grad: g)
                    assertClose(try XCTUnwrap(grads[0]), expected.x, tolerance: 1e-6, "dx \(label)")
                    if let w { assertClose(try XCTUnwrap(w.grad), try XCTUnwrap(expected.weight), tolerance: 1e-5, "dw \(label)") }
                    if let b { assertClose(try XCTUnwrap(b.grad), try XCTUnwrap(expected.bias), tolerance: 1e-5, "db \(label)") }
                }
            }
        }
    }

    /// PyTorch's float32 results agree to ~1e-6 (the fixture's values are O(1)).
    func testMatchesPyTorch() throws {
        let f = try Fixture("layers.json")
        let g = try f.tensor("norm_g")
        for (name, offset) in [("rms", Float(0)), ("rms_gemma", 1)] {
            let x = try f.tensor("norm_x", requiresGrad: true), w = try f.tensor("norm_w", requiresGrad: true)
            let (y, grads) = try LayersTest.run([x, w], seed: g) { try x.rmsNorm(weight: w, eps: 1e-5, weightOffset: offset) }
            assertClose(y, try f.tensor("\(name)_y"), tolerance: 2e-6, name)
            assertClose(try XCTUnwrap(grads[0]), try f.tensor("\(name)_dx"), tolerance: 2e-6, "\(name) dx")
            assertClose(try XCTUnwrap(grads[1]), try f.tensor("\(name)_dw"), tolerance: 2e-6, "\(name) dw")
        }
        do {
            let x = try f.tensor("norm_x", requiresGrad: true)
            let (y, grads) = try LayersTest.run([x], seed: g) { try x.rmsNorm(weight: nil, eps: 1e-5) }
            assertClose(y, try f.tensor("rms_plain_y"), tolerance: 2e-6, "rms plain")
            assertClose(try XCTUnwrap(grads[0]), try f.tensor("rms_plain_dx"), tolerance: 2e-6, "rms plain dx")
        }
        do {
            let x = try f.tensor("norm_x", requiresGrad: true)
            let w = try f.tensor("norm_w", requiresGrad: true), b = try f.tensor("norm_b", requiresGrad: true)
            let (y, grads) = try LayersTest.run([x, w, b], seed: g) { try x.layerNorm(weight: w, bias: b, eps: 1e-5) }
            assertClose(y, try f.tensor("ln_y"), tolerance: 2e-6, "ln")
            assertClose(try XCTUnwrap(grads[0]), try f.tensor("ln_dx"), tolerance: 2e-6, "ln dx")
            assertClose(try XCTUnwrap(grads[1]), try f.tensor("ln_dw"), tolerance: 2e-6, "ln dw")
            assertClose(try XCTUnwrap(grads[2]), try f.tensor("ln_db"), tolerance: 2e-6, "ln db")
        }
        do {
            let x = try f.tensor("norm_x", requiresGrad: true)
            let (y, grads) = try LayersTest.run([x], seed: g) { try x.layerNorm(weight: nil, bias: nil, eps: 1e-5) }
            assertClose(y, try f.tensor("ln_plain_y"), tolerance: 2e-6, "ln plain")
            assertClose(try XCTUnwrap(grads[0]), try f.tensor("ln_plain_dx"), tolerance: 2e-6, "ln plain dx")
        }
    }

    /// Central differences on [3, 5] in Float: step 1e-2, |analytic − numeric| ≤ 2e-3 + 2e-2 · |value|.
    func testGradientCheck() throws {
        let x = LayersTest.leaf([3, 5], low: -2, high: 2, seed: 1)
        let w = LayersTest.leaf([5], seed: 2), b = LayersTest.leaf([5], seed: 3)
        try GradientCheck.check([x, w], absolute: 2e-3, relative: 2e-2) { t in try t[0].rmsNorm(weight: t[1], eps: 1e-5) }
        try GradientCheck.check([x, w], absolute: 2e-3, relative: 2e-2) { t in
            try t[0].rmsNorm(weight: t[1], eps: 1e-5, weightOffset: 1)
        }
        try GradientCheck.check([x, w, b], absolute: 2e-3, relative: 2e-2) { t in
            try t[0].layerNorm(weight: t[1], bias: t[2], eps: 1e-5)
        }
    }

    /// Outputs and all gradients are bitwise identical for 1 and 2 threads (weight sums run over fixed row blocks).
    func testSameBitsForAnyThreadCount() throws {
        let x = LayersTest.leaf([301, 96], seed: 4), w = LayersTest.leaf([96], seed: 5), b = LayersTest.leaf([96], seed: 6)
        for op in ["rmsNorm", "layerNorm"] {
            let results = try [1, 2].map { threads in
                try LayersTest.withThreads(threads) {
                    try LayersTest.run([x, w, b]) {
                        op == "rmsNorm" ? try x.rmsNorm(weight: w, eps: 1e-6) : try x.layerNorm(weight: w, bias: b, eps: 1e-6)
                    }
                }
            }
            LayersTest.assertIdentical(results[0].0, results[1].0, "\(op) y")
            LayersTest.assertIdentical(results[0].1[0], results[1].1[0], "\(op) dx")
            LayersTest.assertIdentical(results[0].1[1], results[1].1[1], "\(op) dw")
        }
    }

    func testZeroRowsGiveZeroWeightGradient() throws {
        let x = LayersTest.leaf([0, 7], seed: 1), w = LayersTest.leaf([7], seed: 2), b = LayersTest.leaf([7], seed: 3)
        let (y, grads) = try LayersTest.run([x, w, b], seed: Tensor.zeros([0, 7])) { try x.layerNorm(weight: w, bias: b, eps: 1e-5) }
        XCTAssertEqual(y.shape, [0, 7])
        XCTAssertEqual(grads[1]?.scalars, [Float](repeating: 0, count: 7))
        XCTAssertEqual(grads[2]?.scalars, [Float](repeating: 0, count: 7))
        let (_, rmsGrads) = try LayersTest.run([x, w], seed: Tensor.zeros([0, 7])) { try x.rmsNorm(weight: w, eps: 1e-5) }
        XCTAssertEqual(rmsGrads[1]?.scalars, [Float](repeating: 0, count: 7))
    }

    func testBadInput() throws {
        let x = Tensor.uniform([4, 6], seed: 1)
        LayersTest.assertThrows("rmsNorm", mentioning: ["[5]", "[4, 6]"]) { try x.rmsNorm(weight: Tensor.zeros([5]), eps: 1e-5) }
        LayersTest.assertThrows("rmsNorm", mentioning: ["[1, 6]"]) { try x.rmsNorm(weight: Tensor.zeros([1, 6]), eps: 1e-5) }
        LayersTest.assertThrows("rmsNorm", mentioning: ["empty", "[4, 0]"]) { try Tensor.zeros([4, 0]).rmsNorm(weight: nil, eps: 1e-5) }
        LayersTest.assertThrows("rmsNorm", mentioning: ["scalar"]) { try Tensor.scalar(1).rmsNorm(weight: nil, eps: 1e-5) }
        LayersTest.assertThrows("rmsNorm", mentioning: ["eps"]) { try x.rmsNorm(weight: nil, eps: -1) }
        LayersTest.assertThrows("layerNorm", mentioning: ["bias", "[7]"]) {
            try x.layerNorm(weight: Tensor.zeros([6]), bias: Tensor.zeros([7]), eps: 1e-5)
        }
        LayersTest.assertThrows("layerNorm", mentioning: ["weight"]) { try x.layerNorm(weight: Tensor.zeros([3]), bias: nil, eps: 1e-5) }
        LayersTest.assertThrows("layerNorm", mentioning: ["empty"]) { try Tensor.zeros([0]).layerNorm(weight: nil, bias: nil, eps: 1e-5) }
        LayersTest.assertThrows("layerNorm", mentioning: ["eps"]) { try x.layerNorm(weight: nil, bias: nil, eps: .nan) }
    }
}
