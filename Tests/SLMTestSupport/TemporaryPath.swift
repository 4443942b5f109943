import Foundation
import XCTest

extension XCTestCase {
    /// A fresh path under the temporary directory, named `prefix`-UUID and removed after the test;
    /// with `create`, an empty folder is made there.
    public func temporaryPath(_ prefix: String, create: Bool = false) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        if create { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}
