import SLMTensor
import XCTest

final class ReduceAndShapeTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testSumAndMeanOverAxes() throws {
        let x = try Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        XCTAssertEqual(try x.sum().item(), 276)
        XCTAssertEqual(try x.sum(axis: 1).scalars, [12, 15, 18, 21, 48, 51, 54, 57])
        XCTAssertEqual(try x.sum(axis: -1, keepDims: true).shape, [2, 3, 1])
        XCTAssertEqual(try x.mean(axis: 0).scalars.first, 6)
        for axis in [0, 1, 2, -1] {
            let t = Tensor.uniform([2, 3, 4], seed: 9, requiresGrad: true)
            try GradientCheck.check([t]) { try $0[0].mean(axis: axis) }
            try GradientCheck.check([t]) { try $0[0].sum(axis: axis, keepDims: true) }
        }
        let t = Tensor.uniform([3, 5], seed: 1, requiresGrad: true)
        try GradientCheck.check([t]) { try $0[0].mean() }
    }

    func testEmptyReductions() throws {
        XCTAssertEqual(try Tensor.zeros([0, 3]).sum().item(), 0)
        XCTAssertEqual(try Tensor.zeros([0, 3]).sum(axis: 0).scalars, [0, 0, 0])
        XCTAssertThrowsError(try Tensor.zeros([0, 3]).mean()) { XCTAssertEqual(($0 as? TensorError)?.op, "mean") }
        XCTAssertThrowsError(try Tensor.zeros([2, 0]).mean(axis: 1))
        XCTAssertThrowsError(try Tensor.zeros([2]).sum(axis: 3))
    }

    func testReshapeAndTranspose() throws {
        let x = Tensor.uniform([2, 3, 4], seed: 4, requiresGrad: true)
        XCTAssertEqual(try x.reshaped([6, -1]).shape, [6, 4])
        XCTAssertThrowsError(try x.reshaped([5, -1]))
        XCTAssertThrowsError(try x.reshaped([-1, -1]))
        let t = try x.transposed(0, 2)
        XCTAssertEqual(t.shape, [4, 3, 2])
        XCTAssertEqual(t.data[1 * 6 + 2 * 2 + 1], x.data[1 * 12 + 2 * 4 + 1])
        try GradientCheck.check([x]) { try $0[0].transposed(1, 2).reshaped([2, -1]) }
    }

    func testEmbeddingGatherAndScatterAdd() throws {
        let table = Tensor.uniform([7, 5], seed: 2, requiresGrad: true)
        let ids: [Int32] = [3, 0, 3, 6, 3]
        let rows = try table.embedding(ids)
        XCTAssertEqual(rows.shape, [5, 5])
        XCTAssertEqual(Array(rows.scalars[0..<5]), Array(table.scalars[15..<20]))
        try GradientCheck.check([table]) { try $0[0].embedding(ids) }
        table.zeroGrad()
        try rows.sum().backward()
        XCTAssertEqual(table.grad?.data[15], 3)  // id 3 appears three times
        XCTAssertEqual(table.grad?.data[5], 0)
        XCTAssertThrowsError(try table.embedding([7])) { XCTAssertTrue("\($0)".contains("7")) }
        XCTAssertThrowsError(try table.embedding([-1]))
        XCTAssertEqual(try table.embedding([]).shape, [0, 5])
    }
}
