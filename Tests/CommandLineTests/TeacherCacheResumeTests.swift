import Foundation
import SLMTestSupport
import SLMTraining
import XCTest

/// `slm teacher` as a user runs it: killed with SIGKILL in the middle of writing, its cache still
/// opens with every listed sample complete, and a re-run fills in only what is missing, ending
/// with the same scores as an uninterrupted run. A second writer on the same cache is refused.
final class TeacherCacheResumeTests: XCTestCase {
    var run: TinyRunFolder!
    var folder: String { run.path }

    override func setUpWithError() throws {
        run = try TinyRunFolder(prefix: "slm-teacher")
        // The tiny model (Tests/Fixtures/hf_llama) is its own teacher.
        try run.writeTexts(lines: 3000, seed: 7) { draw in 4 + draw() % 12 }
        try run.writeRecipe("""
              sequence_length: 32
            lora:
              r: 4
            train:
              steps: 2
            distillation:
              teacher:
                model: \(Fixture.path("hf_llama"))
              cache: \(folder)/cache.h5
              k: 5
            """)
    }

    override func tearDown() { run.remove() }

    func testKilledTeacherRunLeavesCompleteSamplesAndResumesToTheSameCache() throws {
        let whole = folder + "/whole.h5", resumed = folder + "/resumed.h5"
        XCTAssertEqual(try slm(["teacher", run.recipe, "--set", "distillation.cache=\(whole)"]).waitForExit(), 0)

        let killed = try slm(["teacher", run.recipe, "--set", "distillation.cache=\(resumed)", "--commit-rows", "40"])
        let deadline = Date().addingTimeInterval(60)
        while killed.isRunning, Date() < deadline, fileSize(resumed) < 100_000 { usleep(1_000) }
        XCTAssertTrue(killed.isRunning, "the run ended before it could be killed; give it more samples")
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        XCTAssertEqual(killed.terminationReason, .uncaughtSignal)

        let reference = try TeacherCache(path: whole)
        let partial = try TeacherCache(path: resumed)
        XCTAssertGreaterThan(partial.entries.count, 0)
        XCTAssertLessThan(partial.entries.count, reference.entries.count, "the killed run must not have finished")
        try assertSameScores(partial, reference)

        let rerun = try slm(["teacher", run.recipe, "--set", "distillation.cache=\(resumed)"], captureError: true)
        XCTAssertEqual(rerun.waitForExit(), 0)
        XCTAssertTrue(rerun.errorText.contains("\(partial.entries.count) were cached already"), rerun.errorText)
        let final = try TeacherCache(path: resumed)
        XCTAssertEqual(final.entries.count, reference.entries.count)
        XCTAssertEqual(Set(final.entries.map(\.key)), Set(reference.entries.map(\.key)), "nothing lost, nothing duplicated")
        try assertSameScores(final, reference)
    }

    func testASecondWriterIsRefusedWithAClearError() throws {
        let first = try slm(["teacher", run.recipe, "--commit-rows", "40"])
        let deadline = Date().addingTimeInterval(60)
        while first.isRunning, Date() < deadline, fileSize(folder + "/cache.h5") == 0 { usleep(1_000) }
        XCTAssertTrue(first.isRunning, "the first writer ended too early")
        let second = try slm(["teacher", run.recipe], captureError: true)
        XCTAssertEqual(second.waitForExit(), 1)
        XCTAssertTrue(second.errorText.contains("another process (pid \(first.processIdentifier)) is writing this teacher cache"), second.errorText)
        XCTAssertEqual(first.waitForExit(), 0)
    }

    /// Every sample of `cache` is complete: its tokens give its key, and its scores equal the reference's.
    private func assertSameScores(_ cache: TeacherCache, _ reference: TeacherCache) throws {
        let scores = try cache.scores(at: Array(cache.entries.indices))
        let expected = try reference.scores(at: cache.entries.map { try XCTUnwrap(reference.entryIndex(of: $0.key)) })
        for (i, s) in scores.enumerated() {
            XCTAssertEqual(TeacherCacheFile.key(of: s.tokenIDs), cache.entries[i].key, "sample \(i) is torn")
            XCTAssertEqual(s, expected[i], "sample \(i) differs from the uninterrupted run's")
        }
    }

    private func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}
