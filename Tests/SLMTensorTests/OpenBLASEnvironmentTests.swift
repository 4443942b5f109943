import SLMTensor
import XCTest

final class OpenBLASEnvironmentTests: XCTestCase {
    func testUserSettingsAreKept() {
        let settings = ["OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_THREAD_TIMEOUT": "10"]
        XCTAssertEqual(OpenBLASEnvironment.missing(from: settings), [:])
    }

    func testShortSpinIsRequestedWhenUnset() {
        XCTAssertEqual(OpenBLASEnvironment.missing(from: ["OPENBLAS_CORETYPE": "SkylakeX"]), ["OPENBLAS_THREAD_TIMEOUT": "4"])
    }
}
