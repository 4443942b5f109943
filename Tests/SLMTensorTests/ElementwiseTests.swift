import SLMTensor
import XCTest

final class ElementwiseTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    let shapePairs: [([Int], [Int])] = [
        ([3, 4], [3, 4]), ([3, 4], [4]), ([3, 4], [3, 1]), ([2, 1, 5], [3, 1]), ([1], [2, 3]), ([2, 3, 33], [2, 1, 33]), ([0, 4], [4]),
    ]

    func testBroadcastKernelsMatchReference() throws {
        for (n, (sa, sb)) in shapePairs.enumerated() {
            let a = Tensor.uniform(sa, seed: UInt64(n)), b = Tensor.uniform(sb, low: 0.5, high: 2, seed: UInt64(100 + n))
            for op in [BinaryOp.add, .sub, .mul, .div] {
                let fast = try a.binary(op, b), slow = try Reference.binary(op, a, b)
                XCTAssertEqual(fast.shape, slow.shape)
                XCTAssertEqual(fast.scalars, slow.scalars, "\(op) \(sa) \(sb)")
            }
        }
    }

    func testBroadcastGradients() throws {
        for (n, (sa, sb)) in shapePairs.enumerated() {
            for op in [BinaryOp.add, .sub, .mul, .div] {
                let a = Tensor.uniform(sa, seed: UInt64(n), requiresGrad: true)
                let b = Tensor.uniform(sb, low: 0.5, high: 2, seed: UInt64(100 + n), requiresGrad: true)
                try GradientCheck.check([a, b], epsilon: 1e-2, absolute: 2e-3) { x in try x[0].binary(op, x[1]) }
            }
        }
    }

    func testUnaryGradients() throws {
        let x = Tensor.uniform([5, 7], low: 0.5, high: 2, seed: 3, requiresGrad: true)
        try GradientCheck.check([x]) { try $0[0].exp() }
        try GradientCheck.check([x], epsilon: 1e-3) { try $0[0].log() }
        try GradientCheck.check([x]) { try $0[0].squared() }
        try GradientCheck.check([x]) { try $0[0].scaled(by: -3).adding(2) }
    }

    func testIncompatibleShapesNameOpAndShapes() {
        let a = Tensor.zeros([3, 4]), b = Tensor.zeros([5])
        XCTAssertThrowsError(try a + b) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("add") && text.contains("[3, 4]") && text.contains("[5]"), text)
        }
    }

    func testFiniteChecksNameTheOp() throws {
        EngineChecks.checkFinite = true
        defer { EngineChecks.checkFinite = false }
        let x = try Tensor([1, -1], shape: [2])
        XCTAssertThrowsError(try x.log()) { error in
            XCTAssertEqual((error as? TensorError)?.op, "log", "\(error)")
        }
        let inf = try Tensor([Float.infinity, 1], shape: [2])
        XCTAssertThrowsError(try inf + x)
    }

    func testFastExpAgreesWithLibm() {
        var worst: Float = 0
        for i in 0..<20_000 {
            let x = -87 + Float(i) * (175.0 / 20_000)
            let fast = FastMath.exp(FastMath.Vector(repeating: x))[0], exact = Foundation.exp(x)
            worst = max(worst, abs(fast - exact) / exact)
        }
        XCTAssertLessThan(worst, 4e-7)
        XCTAssertEqual(FastMath.exp(FastMath.Vector(repeating: -.infinity))[0], 0)
        XCTAssertEqual(FastMath.exp(FastMath.Vector(repeating: -100))[0], 0)
    }
}
