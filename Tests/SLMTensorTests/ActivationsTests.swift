import SLMTensor
import SLMTestSupport
import XCTest

final class ActivationsTests: XCTestCase {
    /// Odd sizes (partial last vectors), one big enough to split across threads, and an empty one.
    let shapes = [[13], [3, 5], [1000, 77], [0, 7], [2, 16]]

    /// Values in [-12, 12) with the tails and zero written into the first elements.
    func input(_ shape: [Int], seed: UInt64) -> Tensor {
        let x = LayersTest.leaf(shape, low: -12, high: 12, seed: seed)
        let special: [Float] = [-100, -30, -9, -1e-4, 0, 1e-4, 0.5, 9, 30, 100]
        for (i, v) in special.prefix(x.count).enumerated() { x.data[i] = v }
        return x
    }

    func testUnaryMatchesReference() throws {
        try LayersTest.withThreads(2) {
            for (n, shape) in shapes.enumerated() {
                let x = input(shape, seed: UInt64(n)), g = Tensor.uniform(shape, seed: 50 + UInt64(n))
                let cases: [(String, () throws -> Tensor, Tensor, Tensor)] = [
                    ("silu", { try x.silu() }, Reference.silu(x), Reference.siluBackward(x, grad: g)),
                    ("gelu", { try x.gelu() }, Reference.gelu(x), Reference.geluBackward(x, grad: g)),
                    ("gelu tanh", { try x.gelu(.tanh) }, Reference.gelu(x, .tanh), Reference.geluBackward(x, .tanh, grad: g)),
                ]
                for (name, f, y, dx) in cases {
                    let (out, grads) = try LayersTest.run([x], seed: g, f)
                    // |y| ≤ 100 (ulp 7.6e-6 at the top; seen ≤ 1e-6), and erf's approximation error ≤ 1.5e-7 · |x|.
                    assertClose(out, y, tolerance: 2e-6, "\(name) \(shape)")
                    assertClose(try XCTUnwrap(grads[0]), dx, tolerance: 1e-6, "\(name) dx \(shape)")
                }
            }
        }
    }

    func testGatedMatchesReference() throws {
        try LayersTest.withThreads(2) {
            for (n, shape) in shapes.enumerated() {
                let gate = input(shape, seed: UInt64(n)), up = LayersTest.leaf(shape, low: -3, high: 3, seed: 70 + UInt64(n))
                let g = Tensor.uniform(shape, seed: 50 + UInt64(n))
                let cases: [(String, () throws -> Tensor, Tensor, (gate: Tensor, up: Tensor))] = [
                    ("swiglu", { try Tensor.swiglu(gate: gate, up: up) }, Reference.swiglu(gate: gate, up: up),
                     Reference.swigluBackward(gate: gate, up: up, grad: g)),
                    ("geglu", { try Tensor.geglu(gate: gate, up: up) }, Reference.geglu(gate: gate, up: up),
                     Reference.gegluBackward(gate: gate, up: up, grad: g)),
                    ("geglu tanh", { try Tensor.geglu(gate: gate, up: up, approximation: .tanh) },
                     Reference.geglu(gate: gate, up: up, approximation: .tanh),
                     Reference.gegluBackward(gate: gate, up: up, approximation: .tanh, grad: g)),
                ]
                for (name, f, y, d) in cases {
                    let (out, grads) = try LayersTest.run([gate, up], seed: g, f)
                    // |y| ≤ 300 and |d up| ≤ 100: a few ulp of those.
                    assertClose(out, y, tolerance: 1e-5, "\(name) \(shape)")
                    assertClose(try XCTUnwrap(grads[0]), d.gate, tolerance: 2e-6, "\(name) d gate \(shape)")
                    assertClose(try XCTUnwrap(grads[1]), d.up, tolerance: 5e-6, "\(name) d up \(shape)")
                }
            }
        }
    }

    /// When only one input of a gated op needs a gradient, only that one is computed, and it is the same.
    func testGatedWithOneTrainableInput() throws {
        let gate = input([5, 21], seed: 1), up = Tensor.uniform([5, 21], seed: 2), g = Tensor.uniform([5, 21], seed: 3)
        let (_, grads) = try LayersTest.run([gate, up], seed: g) { try Tensor.swiglu(gate: gate, up: up) }
        XCTAssertNil(grads[1])
        assertClose(try XCTUnwrap(grads[0]), Reference.swigluBackward(gate: gate, up: up, grad: g).gate, tolerance: 2e-6, "d gate")
    }

    /// PyTorch's float32 results (|x| ≤ 30) agree to ~1e-6.
    func testMatchesPyTorch() throws {
        let f = try Fixture("layers.json")
        let g = try f.tensor("act_g")
        for (name, op) in [("silu", { (x: Tensor) in try x.silu() }), ("gelu", { try $0.gelu() }), ("gelu_tanh", { try $0.gelu(.tanh) })] {
            let x = try f.tensor("act_x", requiresGrad: true)
            let (y, grads) = try LayersTest.run([x], seed: g) { try op(x) }
            assertClose(y, try f.tensor("\(name)_y"), tolerance: 2e-6, name)
            assertClose(try XCTUnwrap(grads[0]), try f.tensor("\(name)_dx"), tolerance: 2e-6, "\(name) dx")
        }
        let gg = try f.tensor("glu_g")
        let gated: [(String, (Tensor, Tensor) throws -> Tensor)] = [
            ("swiglu", { try Tensor.swiglu(gate: $0, up: $1) }),
            ("geglu", { try Tensor.geglu(gate: $0, up: $1) }),
            ("geglu_tanh", { try Tensor.geglu(gate: $0, up: $1, approximation: .tanh) }),
        ]
        for (name, op) in gated {
            let gate = try f.tensor("glu_gate", requiresGrad: true), up = try f.tensor("glu_up", requiresGrad: true)
            let (y, grads) = try LayersTest.run([gate, up], seed: gg) { try op(gate, up) }
            assertClose(y, try f.tensor("\(name)_y"), tolerance: 2e-6, name)
            assertClose(try XCTUnwrap(grads[0]), try f.tensor("\(name)_dgate"), tolerance: 2e-6, "\(name) d gate")
            assertClose(try XCTUnwrap(grads[1]), try f.tensor("\(name)_dup"), tolerance: 2e-6, "\(name) d up")
        }
    }

    /// Central differences on [2, 7] in [-4, 4] in Float: step 1e-2, |analytic − numeric| ≤ 1e-3 + 1e-2 · |value|.
    func testGradientCheck() throws {
        let x = LayersTest.leaf([2, 7], low: -4, high: 4, seed: 11), up = LayersTest.leaf([2, 7], low: -2, high: 2, seed: 12)
        try GradientCheck.check([x]) { try $0[0].silu() }
        try GradientCheck.check([x]) { try $0[0].gelu() }
        try GradientCheck.check([x]) { try $0[0].gelu(.tanh) }
        try GradientCheck.check([x, up]) { try Tensor.swiglu(gate: $0[0], up: $0[1]) }
        try GradientCheck.check([x, up]) { try Tensor.geglu(gate: $0[0], up: $0[1]) }
        try GradientCheck.check([x, up]) { try Tensor.geglu(gate: $0[0], up: $0[1], approximation: .tanh) }
        try GradientCheck.check([x]) { try $0[0].narrow(lastAxis: 2..<5).squared() }
    }

    func testNarrowMatchesReference() throws {
        try LayersTest.withThreads(2) {
            for (shape, range) in [([3, 10], 2..<7), ([600, 129], 0..<64), ([600, 129], 64..<129), ([4, 5], 0..<5),
                                   ([4, 5], 3..<3), ([0, 6], 1..<4), ([6], 1..<4), ([3, 0], 0..<0)] {
                let x = LayersTest.leaf(shape, seed: 1), g = Tensor.uniform(Array(shape.dropLast()) + [range.count], seed: 2)
                let (y, grads) = try LayersTest.run([x], seed: g) { try x.narrow(lastAxis: range) }
                LayersTest.assertIdentical(y, Reference.narrow(x, lastAxis: range), "narrow \(shape) \(range)")
                LayersTest.assertIdentical(
                    grads[0], Reference.narrowBackward(inputShape: shape, lastAxis: range, grad: g), "narrow backward \(shape) \(range)")
            }
        }
    }

    /// Phi-3's fused gate_up_proj output [T, 2F], gate first, split and fed to swiglu.
    func testNarrowSplitsFusedGateUp() throws {
        let fused = LayersTest.leaf([5, 2 * 11], low: -3, high: 3, seed: 1), g = Tensor.uniform([5, 11], seed: 2)
        let (y, grads) = try LayersTest.run([fused], seed: g) {
            try Tensor.swiglu(gate: fused.narrow(lastAxis: 0..<11), up: fused.narrow(lastAxis: 11..<22))
        }
        let gate = Reference.narrow(fused, lastAxis: 0..<11), up = Reference.narrow(fused, lastAxis: 11..<22)
        assertClose(y, Reference.swiglu(gate: gate, up: up), tolerance: 2e-6, "fused swiglu")
        let d = Reference.swigluBackward(gate: gate, up: up, grad: g)
        let dFused = try XCTUnwrap(grads[0])
        assertClose(Reference.narrow(dFused, lastAxis: 0..<11), d.gate, tolerance: 1e-6, "d gate half")
        assertClose(Reference.narrow(dFused, lastAxis: 11..<22), d.up, tolerance: 1e-6, "d up half")
    }

    func testBadInput() throws {
        let a = Tensor.zeros([3, 8]), b = Tensor.zeros([3, 9])
        LayersTest.assertThrows("swiglu", mentioning: ["[3, 8]", "[3, 9]"]) { try Tensor.swiglu(gate: a, up: b) }
        LayersTest.assertThrows("geglu", mentioning: ["[3, 8]", "[8]"]) { try Tensor.geglu(gate: a, up: Tensor.zeros([8])) }
        LayersTest.assertThrows("narrow", mentioning: ["4..<9", "[3, 8]"]) { try a.narrow(lastAxis: 4..<9) }
        LayersTest.assertThrows("narrow", mentioning: ["-1..<2"]) { try a.narrow(lastAxis: -1..<2) }
        LayersTest.assertThrows("narrow", mentioning: ["scalar"]) { try Tensor.scalar(1).narrow(lastAxis: 0..<1) }
    }
}
