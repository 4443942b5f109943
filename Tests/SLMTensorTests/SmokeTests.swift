import XCTest
import SLMTensor

final class SmokeTests: XCTestCase {
    func testAddBackward() throws {
        let a = try Tensor([1, 2, 3], shape: [3], requiresGrad: true)
        let b = try Tensor([4], shape: [1], requiresGrad: true)
        let y = try (a * b).sum()
        try y.backward()
        XCTAssertEqual(a.grad?.scalars, [4, 4, 4])
        XCTAssertEqual(b.grad?.scalars, [6])
    }
}
