import Foundation
import SLMTestSupport
import SLMTraining
import XCTest

/// The HDF5 teacher cache against h5py: slm reads the file fixtures/make_teacher_cache.py wrote,
/// and writes the same datasets as Tests/Fixtures/teacher_cache_slm.h5, the slm-written file
/// fixtures/check_teacher_cache.py validated with h5py.
final class TeacherCacheFileTests: XCTestCase {
    let attributes = TeacherCacheAttributes(
        teacher: "fixture-teacher", tokenizer: "fixture-tokenizer", k: 4, temperature: 1, source: "slm", created: "2026-11-22T00:00:00Z")

    func fixtureSamples() throws -> [TeacherScores] {
        let fixture = try Fixture("teacher_cache.json")
        return try (0..<3).map { i in
            TeacherScores(
                tokenIDs: try fixture.values("sample\(i).tokens").map { Int32($0) }, k: 4,
                topTokenIDs: try fixture.values("sample\(i).ids").map { Int32($0) },
                topLogProbs: try fixture.values("sample\(i).logprobs").map { $0 <= -1e30 ? -.infinity : Float($0) })
        }
    }

    func temporaryPath(_ name: String) -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slm-cache-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: folder)
        try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder.appendingPathComponent("cache.h5").path
    }

    func testReadsTheCacheH5pyWrote() throws {
        let cache = try TeacherCache(path: Fixture.path("teacher_cache_h5py.h5"))
        XCTAssertEqual(cache.attributes, TeacherCacheAttributes(
            teacher: "fixture-teacher", tokenizer: "fixture-tokenizer", k: 4, temperature: 1, source: "h5py", created: "2026-11-22T00:00:00Z"))
        XCTAssertEqual(cache.logprobBytes, 2)
        let expected = try fixtureSamples()
        XCTAssertEqual(cache.entries.count, 3)
        XCTAssertEqual(cache.tokenCount, 15)
        let keys = try Fixture("teacher_cache.json")
        for (i, sample) in expected.enumerated() {
            XCTAssertEqual(try cache.scores(at: i), sample)
            let halves = try keys.values("sample\(i).key")
            XCTAssertEqual(cache.entries[i].key, UInt64(halves[0]) << 32 | UInt64(halves[1]), "h5py's FNV-1a key")
            XCTAssertEqual(TeacherCacheFile.key(of: sample.tokenIDs), cache.entries[i].key)
        }
    }

    func testWritesTheDatasetsH5pyChecked() throws {
        let path = temporaryPath("write")
        let writer = try TeacherCacheWriter(path: path, attributes: attributes)
        for sample in try fixtureSamples() { try writer.append(sample) }
        try writer.close()
        if ProcessInfo.processInfo.environment["SLM_WRITE_FIXTURES"] == "1" {
            let fixture = Fixture.path("teacher_cache_slm.h5")
            try? FileManager.default.removeItem(atPath: fixture)
            try FileManager.default.copyItem(atPath: path, toPath: fixture)
        }
        let fresh = try TeacherCache(path: path), checked = try TeacherCache(path: Fixture.path("teacher_cache_slm.h5"))
        XCTAssertEqual(fresh.attributes, checked.attributes)
        XCTAssertEqual(fresh.entries, checked.entries)
        XCTAssertEqual(fresh.rows, checked.rows)
        let a = try fresh.readAllRows(), b = try checked.readAllRows()
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.ids, b.ids)
        XCTAssertEqual(a.logprobs, b.logprobs)
        XCTAssertEqual(try fresh.scores(at: [0, 1, 2]), try fixtureSamples())
    }

    func testAppendingSkipsKnownSamplesAndStartsEachCommitAtAChunk() throws {
        let path = temporaryPath("append")
        let samples = try fixtureSamples()
        var writer: TeacherCacheWriter? = try TeacherCacheWriter(path: path, attributes: attributes)
        try writer!.append(samples[0])
        try writer!.close()
        writer = nil
        writer = try TeacherCacheWriter(path: path, attributes: attributes)
        XCTAssertTrue(writer!.contains(tokenIDs: samples[0].tokenIDs))
        for sample in samples { try writer!.append(sample) }
        try writer!.close()
        writer = nil
        let cache = try TeacherCache(path: path)
        XCTAssertEqual(cache.entries.map(\.offset), [0, TeacherCacheFile.chunkRows, TeacherCacheFile.chunkRows + 3])
        XCTAssertEqual(try cache.scores(at: [0, 1, 2]), samples)
    }

    func testASecondWriterIsRefused() throws {
        let path = temporaryPath("lock")
        let first = try TeacherCacheWriter(path: path, attributes: attributes)
        XCTAssertThrowsError(try TeacherCacheWriter(path: path, attributes: attributes)) { error in
            XCTAssertTrue("\(error)".contains("another process (pid \(getpid())) is writing this teacher cache"), "\(error)")
        }
        try first.close()
    }

    func testOtherTeacherSettingsAreRefused() throws {
        let path = temporaryPath("mismatch")
        try TeacherCacheWriter(path: path, attributes: attributes).close()
        var other = attributes
        other.k = 20
        other.teacher = "someone-else"
        XCTAssertThrowsError(try TeacherCacheWriter(path: path, attributes: other)) { error in
            XCTAssertTrue("\(error)".contains("teacher: the cache has \"fixture-teacher\", expected \"someone-else\""), "\(error)")
            XCTAssertTrue("\(error)".contains("k: the cache has 4, expected 20"), "\(error)")
        }
    }

    func testAppendsToAFileH5pyWrote() throws {
        let path = temporaryPath("h5py-append")
        try FileManager.default.copyItem(atPath: Fixture.path("teacher_cache_h5py.h5"), toPath: path)
        var h5pyAttributes = attributes
        h5pyAttributes.source = "h5py"
        let writer = try TeacherCacheWriter(path: path, attributes: h5pyAttributes)
        var extra = try fixtureSamples()[0]
        extra.tokenIDs[0] += 1
        try writer.append(extra)
        try writer.close()
        let cache = try TeacherCache(path: path)
        XCTAssertEqual(cache.entries.count, 4)
        XCTAssertEqual(cache.entries[3].offset, 16, "after the h5py rows (15), at its chunk of 8")
        XCTAssertEqual(try cache.scores(at: 3), extra)
    }

    /// A teacher-written sample (prompt_length > 0) is keyed by its prompt and read back whole; a
    /// version 1 file (h5py's fixture) cannot take one, and scored and written samples do not mix.
    func testTeacherWrittenSamplesAreKeyedByTheirPrompt() throws {
        let path = temporaryPath("written")
        var written = attributes
        written.source = TeacherCacheAttributes.teacherWritten
        var sample = try fixtureSamples()[2]
        sample.promptLength = 3
        var writer: TeacherCacheWriter? = try TeacherCacheWriter(path: path, attributes: written)
        try writer!.append(sample)
        XCTAssertTrue(writer!.contains(tokenIDs: Array(sample.tokenIDs[..<3])))
        XCTAssertFalse(writer!.contains(tokenIDs: sample.tokenIDs))
        try writer!.close()
        writer = nil  // releases the lock
        let cache = try TeacherCache(path: path)
        XCTAssertEqual(cache.version, 2)
        XCTAssertEqual(cache.entries[0].promptLength, 3)
        XCTAssertEqual(cache.entries[0].key, TeacherCacheFile.key(of: sample.tokenIDs[..<3]))
        XCTAssertEqual(try cache.scores(at: 0), sample)
        XCTAssertThrowsError(try TeacherCacheWriter(path: path, attributes: attributes)) { error in
            XCTAssertTrue("\(error)".contains("source: the cache has api-generate, expected slm"), "\(error)")
        }

        let old = temporaryPath("written-v1")
        try FileManager.default.copyItem(atPath: Fixture.path("teacher_cache_h5py.h5"), toPath: old)
        var h5pyAttributes = attributes
        h5pyAttributes.source = "h5py"
        var oldWriter: TeacherCacheWriter? = try TeacherCacheWriter(path: old, attributes: h5pyAttributes)
        XCTAssertThrowsError(try oldWriter!.append(sample)) { error in
            XCTAssertTrue("\(error)".contains("version 1 cache cannot hold teacher-written samples"), "\(error)")
        }
        try oldWriter!.close()
        oldWriter = nil
        XCTAssertEqual(try TeacherCache(path: old).version, 1)
    }

    func testRejectsAFileThatIsNotACache() throws {
        let path = temporaryPath("garbage")
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TeacherCache(path: path)) { error in
            XCTAssertTrue("\(error)".contains("not a readable HDF5 file"), "\(error)")
        }
    }
}
