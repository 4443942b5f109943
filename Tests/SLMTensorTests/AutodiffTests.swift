import SLMTensor
import XCTest

final class AutodiffTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// A small two-layer network: enough ops to exercise accumulation, broadcasting and reuse.
    private func network(_ x: Tensor, _ w1: Tensor, _ b1: Tensor, _ w2: Tensor) throws -> Tensor {
        let h = try x.linear(w1, bias: b1).softmax()
        return try (h.linear(w2) * h.linear(w2)).mean()
    }

    func testReusedTensorAccumulatesBothPaths() throws {
        let x = Tensor.uniform([3], seed: 1, requiresGrad: true)
        try (x + x).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [2, 2, 2])
        let y = Tensor.uniform([3], seed: 1, requiresGrad: true)
        let z = try y * y
        try (z + y).sum().backward()
        for i in 0..<3 { XCTAssertEqual(y.grad!.data[i], 2 * y.data[i] + 1, accuracy: 1e-6) }
    }

    func testGradientsAccumulateAcrossBackwardCallsUntilZeroed() throws {
        let w = Tensor.uniform([4], seed: 2, requiresGrad: true)
        try w.sum().backward()
        try w.sum().backward()
        XCTAssertEqual(w.grad?.scalars, [2, 2, 2, 2])
        w.zeroGrad()
        XCTAssertNil(w.grad)
    }

    func testNoGradModeRecordsNothing() throws {
        let w = Tensor.uniform([4], seed: 2, requiresGrad: true)
        let y = try GradMode.withoutGrad { try w.scaled(by: 2) }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.node)
        XCTAssertThrowsError(try y.sum().backward())
    }

    func testBackwardNeedsScalarOrSeed() throws {
        let w = Tensor.uniform([4], seed: 2, requiresGrad: true)
        XCTAssertThrowsError(try w.scaled(by: 2).backward())
        XCTAssertThrowsError(try w.scaled(by: 2).backward(seed: Tensor.zeros([3])))
    }

    func testSavedActivationsAreReleasedByTheSweep() throws {
        let w = Tensor.uniform([8, 8], seed: 3, requiresGrad: true)
        let x = Tensor.uniform([4, 8], seed: 4)
        let h = try x.linear(w).softmax()
        let loss = try h.sum()
        weak var weakHidden = h
        try loss.backward()
        XCTAssertNil(loss.node)
        XCTAssertNil(h.node, "the op's VJP and the activations it saved are dropped once used")
        XCTAssertNil(h.grad, "intermediate gradients are not kept")
        XCTAssertNotNil(w.grad)
        _ = weakHidden
    }

    func testRecomputationGivesTheSameGradients() throws {
        let x = Tensor.uniform([5, 6], seed: 1, requiresGrad: true)
        let w1 = Tensor.uniform([7, 6], seed: 2, requiresGrad: true), b1 = Tensor.uniform([7], seed: 3, requiresGrad: true)
        let w2 = Tensor.uniform([3, 7], seed: 4, requiresGrad: true)
        try network(x, w1, b1, w2).backward()
        let plain = [x, w1, b1, w2].map { $0.grad!.scalars }
        [x, w1, b1, w2].forEach { $0.zeroGrad() }
        let y = try Tensor.recomputed([x]) { inputs in try self.network(inputs[0], w1, b1, w2) }
        try y.backward()
        let replayed = [x, w1, b1, w2].map { $0.grad!.scalars }
        XCTAssertEqual(plain, replayed)
    }

    func testSameInputsGiveBitwiseIdenticalResults() throws {
        func run() throws -> [[Float]] {
            let x = Tensor.uniform([64, 96], seed: 1), w1 = Tensor.uniform([130, 96], seed: 2, requiresGrad: true)
            let b1 = Tensor.uniform([130], seed: 3, requiresGrad: true), w2 = Tensor.uniform([40, 130], seed: 4, requiresGrad: true)
            let table = Tensor.uniform([50, 96], seed: 5, requiresGrad: true)
            let ids = (0..<64).map { Int32(($0 * 7) % 50) }
            let loss = try network(try x + table.embedding(ids), w1, b1, w2)
            try loss.backward()
            return [[loss.item()], w1.grad!.scalars, b1.grad!.scalars, w2.grad!.scalars, table.grad!.scalars]
        }
        let first = try run()
        for _ in 0..<3 { XCTAssertEqual(try run(), first) }
    }

    func testSteadyStateTrainingStepAllocatesNoNewBuffers() throws {
        let w1 = Tensor.uniform([33, 16], seed: 2, requiresGrad: true), b1 = Tensor.uniform([33], seed: 3, requiresGrad: true)
        let w2 = Tensor.uniform([5, 33], seed: 4, requiresGrad: true)
        func step() throws {
            [w1, b1, w2].forEach { $0.zeroGrad() }
            try network(Tensor.uniform([8, 16], seed: 1), w1, b1, w2).backward()
        }
        try step()
        try step()
        let before = BufferPool.shared.misses
        for _ in 0..<5 { try step() }
        XCTAssertEqual(BufferPool.shared.misses, before)
    }
}
