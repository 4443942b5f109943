import Foundation
import SLMModel
import XCTest

/// `.NAME.PID.tmp` files of a dead process (a killed export) are removed when NAME is written again;
/// those of a running process are not.
final class StaleTemporaryFileTests: XCTestCase {
    func testRemovesOnlyTheTemporariesOfDeadProcesses() throws {
        let folder = NSTemporaryDirectory() + "slm-stale-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = ".x.gguf.\(finished.processIdentifier).tmp", alive = ".x.gguf.\(getppid()).tmp"
        let other = ".y.gguf.\(finished.processIdentifier).tmp", odd = ".x.gguf.notapid.tmp"
        for name in [dead, alive, other, odd] { try Data("partial".utf8).write(to: URL(fileURLWithPath: folder + "/" + name)) }
        try AtomicFile.write(Data("whole".utf8), to: folder + "/x.gguf")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(), [alive, odd, other, "x.gguf"].sorted())
    }
}
