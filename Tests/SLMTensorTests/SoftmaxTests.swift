import SLMTensor
import SLMTestSupport
import XCTest

final class SoftmaxTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testMatchesPyTorch() throws {
        let f = try Fixture("softmax.json")
        let x = try f.tensor("x", requiresGrad: true), g = try f.tensor("grad_out")
        let y = try x.softmax()
        assertClose(y, try f.tensor("softmax"), tolerance: 1e-6, "softmax")
        try y.backward(seed: g)
        assertClose(x.grad!, try f.tensor("softmax_grad"), tolerance: 1e-6, "softmax grad")
        x.zeroGrad()
        let ly = try x.logSoftmax()
        assertClose(ly, try f.tensor("log_softmax"), tolerance: 2e-5, "log_softmax")
        try ly.backward(seed: g)
        assertClose(x.grad!, try f.tensor("log_softmax_grad"), tolerance: 2e-5, "log_softmax grad")
    }

    func testMatchesReferenceOnOddWidthsAndExtremes() throws {
        for width in [1, 15, 16, 17, 100] {
            let x = Tensor.uniform([3, width], low: -30, high: 30, seed: UInt64(width))
            let y = try x.softmax()
            for r in 0..<3 {
                let expected = Reference.softmax(Array(x.scalars[r * width..<(r + 1) * width]))
                for j in 0..<width { XCTAssertEqual(y.data[r * width + j], expected[j], accuracy: 1e-6) }
            }
        }
        let masked = try Tensor([0, -.infinity, 1, -.infinity], shape: [1, 4]).softmax()
        XCTAssertEqual(masked.data[1], 0)
        XCTAssertEqual(masked.data[0] + masked.data[2], 1, accuracy: 1e-6)
    }

    func testGradients() throws {
        let x = Tensor.uniform([4, 9], low: -3, high: 3, seed: 8, requiresGrad: true)
        try GradientCheck.check([x]) { try $0[0].softmax() }
        try GradientCheck.check([x]) { try $0[0].logSoftmax() }
    }

    func testEmptyAxisIsAnError() {
        XCTAssertThrowsError(try Tensor.zeros([2, 0]).softmax()) { XCTAssertEqual(($0 as? TensorError)?.op, "softmax") }
        XCTAssertThrowsError(try Tensor.scalar(1).logSoftmax())
        XCTAssertEqual(try Tensor.zeros([0, 3]).softmax().shape, [0, 3])
    }
}
