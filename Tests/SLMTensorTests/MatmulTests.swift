import SLMTensor
import XCTest

final class MatmulTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Reads `t` as [rows, cols] (or its transpose) for the reference product.
    private func reference(_ a: Tensor, _ b: Tensor, _ ta: Bool, _ tb: Bool, m: Int, n: Int, k: Int, batch: Int) -> [Float] {
        var out = [Float](repeating: 0, count: batch * m * n)
        out.withUnsafeMutableBufferPointer { c in
            for i in 0..<batch {
                Reference.sgemm(
                    transA: ta, transB: tb, m: m, n: n, k: k,
                    a: a.data + i * m * k, lda: ta ? m : k, b: b.data + i * k * n, ldb: tb ? k : n,
                    c: c.baseAddress! + i * m * n, ldc: n)
            }
        }
        return out
    }

    func testAllTransposesAgainstReference() throws {
        // m = 1 (one token's projection) goes through sgemv.
        for (m, n, k) in [(37, 19, 53), (1, 19, 53)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    for batch in [1, 3] {
                        let a = Tensor.uniform((batch > 1 ? [batch] : []) + (ta ? [k, m] : [m, k]), seed: 1)
                        let b = Tensor.uniform((batch > 1 ? [batch] : []) + (tb ? [n, k] : [k, n]), seed: 2)
                        let c = try a.matmul(b, transposeA: ta, transposeB: tb)
                        XCTAssertEqual(c.shape, (batch > 1 ? [batch] : []) + [m, n])
                        let expected = reference(a, b, ta, tb, m: m, n: n, k: k, batch: batch)
                        for (x, y) in zip(c.scalars, expected) { XCTAssertEqual(x, y, accuracy: 1e-4) }
                    }
                }
            }
        }
    }

    func testGradientsForEveryTransposeAndBatch() throws {
        for ta in [false, true] {
            for tb in [false, true] {
                for batched in [false, true] {
                    let lead = batched ? [2] : []
                    let a = Tensor.uniform(lead + (ta ? [4, 3] : [3, 4]), seed: 5, requiresGrad: true)
                    let b = Tensor.uniform(lead + (tb ? [5, 4] : [4, 5]), seed: 6, requiresGrad: true)
                    try GradientCheck.check([a, b]) { x in try x[0].matmul(x[1], transposeA: ta, transposeB: tb) }
                }
            }
        }
    }

    func testLinearFlattensLeadingDimensionsAndAddsBias() throws {
        let x = Tensor.uniform([2, 3, 4], seed: 1, requiresGrad: true)
        let w = Tensor.uniform([5, 4], seed: 2, requiresGrad: true)
        let bias = Tensor.uniform([5], seed: 3, requiresGrad: true)
        let y = try x.linear(w, bias: bias)
        XCTAssertEqual(y.shape, [2, 3, 5])
        var expected = [Float](repeating: 0, count: 6 * 5)
        expected.withUnsafeMutableBufferPointer { c in
            Reference.sgemm(transA: false, transB: true, m: 6, n: 5, k: 4, a: x.data, lda: 4, b: w.data, ldb: 4, c: c.baseAddress!, ldc: 5)
        }
        for i in 0..<30 { XCTAssertEqual(y.data[i], expected[i] + bias.data[i % 5], accuracy: 1e-5) }
        try GradientCheck.check([x, w, bias]) { v in try v[0].linear(v[1], bias: v[2]) }
    }

    func testFrozenWeightGetsNoGradient() throws {
        let x = Tensor.uniform([3, 4], seed: 1, requiresGrad: true)
        let w = Tensor.uniform([5, 4], seed: 2)
        try x.linear(w).sum().backward()
        XCTAssertNil(w.grad)
        XCTAssertNotNil(x.grad)
    }

    func testZeroInnerDimensionGivesZeros() throws {
        let c = try Tensor.zeros([3, 0]).matmul(Tensor.zeros([0, 2]))
        XCTAssertEqual(c.scalars, [Float](repeating: 0, count: 6))
    }

    func testMismatchNamesShapes() {
        XCTAssertThrowsError(try Tensor.zeros([3, 4]).matmul(Tensor.zeros([5, 2]))) { error in
            XCTAssertTrue("\(error)".contains("matmul") && "\(error)".contains("[3, 4]") && "\(error)".contains("[5, 2]"), "\(error)")
        }
        XCTAssertThrowsError(try Tensor.zeros([2, 3, 4]).matmul(Tensor.zeros([3, 4, 2])))
        XCTAssertThrowsError(try Tensor.zeros([3, 4]).linear(Tensor.zeros([5, 3])))
    }
}
