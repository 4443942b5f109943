import Foundation
import SLMHub
import XCTest

/// `slm pull` against a server in the Hub's URL layout on 127.0.0.1 (HubServer), including one that
/// drops connections, ignores Range, serves corrupt bytes or wants a token.
final class HubPullTests: XCTestCase {
    static let repo = "test-org/tiny-model"
    /// A 300 kB "weights" file kept in LFS, small files kept in git, and files a model folder does not need.
    static let files: [HubServer.File] = [
        .init(path: "config.json", content: Data(#"{"model_type": "llama"}"#.utf8), lfs: false),
        .init(path: "tokenizer.json", content: Data(#"{"model": {"type": "BPE"}}"#.utf8), lfs: false),
        .init(path: "model.safetensors", content: Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }), lfs: true),
        .init(path: "sub/extra.json", content: Data("{}".utf8), lfs: false),
        .init(path: "pytorch_model.bin", content: Data(repeating: 1, count: 1000), lfs: true),
        .init(path: "onnx/model.onnx", content: Data(repeating: 2, count: 10), lfs: true),
    ]

    private var tasks: [Task<Void, any Error>] = []
    override func tearDown() { tasks.forEach { $0.cancel() } }

    private func serve(_ server: HubServer) async throws -> URL {
        let (port, task) = try await server.start()
        tasks.append(task)
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    private func temporaryFolder() -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slm-pull-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        return folder
    }

    private func pull(_ endpoint: URL, token: String? = nil, revision: String = "main", into folder: String) async throws -> HubPull.Result {
        var pull = HubPull(repository: try HubRepository(endpoint: endpoint, id: Self.repo, revision: revision), token: token)
        pull.timeout = 10
        return try await Task.detached { try pull.run(into: folder) }.value
    }

    private func assertFolderHoldsTheModelFiles(_ folder: String, line: UInt = #line) throws {
        for file in Self.files {
            let path = folder + "/" + file.path
            if file.path.hasSuffix(".bin") || file.path.hasSuffix(".onnx") {
                XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(file.path) is not a model-folder file", line: line)
            } else {
                XCTAssertEqual(FileManager.default.contents(atPath: path), file.content, file.path, line: line)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/.slm-pull"), "staging folder left behind", line: line)
    }

    func testPullsTheModelFilesAtTheRevisionsCommitAndChecksThem() async throws {
        let server = HubServer(repo: Self.repo, files: Self.files)
        let folder = temporaryFolder()
        let result = try await pull(try await serve(server), into: folder)
        try assertFolderHoldsTheModelFiles(folder)
        XCTAssertEqual(result.commit, server.commit)
        XCTAssertEqual(Set(result.downloaded.map(\.path)), ["config.json", "tokenizer.json", "model.safetensors", "sub/extra.json"])
        XCTAssertEqual(Set(result.skipped), ["pytorch_model.bin", "onnx/model.onnx"])
        // Both pages of the listing were read, and every file was fetched at the commit, not "main".
        let paths = server.log.withLock { $0.map(\.path) }
        XCTAssertEqual(paths.filter { $0.contains("/tree/") }.count, 2)
        XCTAssertTrue(paths.filter { $0.contains("/resolve/") }.allSatisfy { $0.contains("/resolve/\(server.commit)/") }, "\(paths)")

        // A second pull finds everything in place and downloads nothing.
        let again = try await pull(try await serve(HubServer(repo: Self.repo, files: Self.files)), into: folder)
        XCTAssertEqual(again.downloaded.count, 0)
        XCTAssertEqual(again.alreadyThere.count, 4)
    }

    func testADroppedConnectionResumesWithARangeRequest() async throws {
        let server = HubServer(repo: Self.repo, files: Self.files, faults: ["model.safetensors": .dropAfter(100_000), "config.json": .unavailableOnce])
        let folder = temporaryFolder()
        _ = try await pull(try await serve(server), into: folder)
        try assertFolderHoldsTheModelFiles(folder)
        let ranges = server.log.withLock { $0.filter { $0.path == "/cdn/model.safetensors" }.map(\.range) }
        XCTAssertEqual(ranges.count, 2)
        XCTAssertNil(ranges[0])
        let resumedFrom = try XCTUnwrap(ranges[1].flatMap { Int($0.dropFirst("bytes=".count).dropLast()) })
        XCTAssertGreaterThan(resumedFrom, 0, "the second request continues where the first stopped")
        XCTAssertLessThanOrEqual(resumedFrom, 100_000)
    }

    func testAServerThatIgnoresRangeStillGivesTheRightFile() async throws {
        let server = HubServer(repo: Self.repo, files: Self.files, faults: ["model.safetensors": .ignoresRange])
        let folder = temporaryFolder()
        // A partial file from an interrupted earlier pull, at the same commit.
        try FileManager.default.createDirectory(atPath: folder + "/.slm-pull", withIntermediateDirectories: true)
        try Data(server.commit.utf8).write(to: URL(fileURLWithPath: folder + "/.slm-pull/commit"))
        try Self.files[2].content.prefix(5000).write(to: URL(fileURLWithPath: folder + "/.slm-pull/model.safetensors.part"))
        _ = try await pull(try await serve(server), into: folder)
        try assertFolderHoldsTheModelFiles(folder)
        XCTAssertEqual(server.log.withLock { $0.first { $0.path == "/cdn/model.safetensors" }?.range }, "bytes=5000-")
    }

    func testCorruptBytesAreRefusedAndNothingLandsUnderTheFinalName() async throws {
        let server = HubServer(repo: Self.repo, files: Self.files, faults: ["model.safetensors": .corrupt])
        let folder = temporaryFolder()
        do {
            _ = try await pull(try await serve(server), into: folder)
            XCTFail("corrupt bytes accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("model.safetensors") && "\(error)".contains("sha256"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/model.safetensors"))
    }

    func testTheTokenGoesToTheHubOnlyAndAMissingOneSaysWhatToDo() async throws {
        let server = HubServer(repo: Self.repo, files: Self.files, token: "hf_secret123")
        let endpoint = try await serve(server)
        do {
            _ = try await pull(endpoint, into: temporaryFolder())
            XCTFail("pulled a gated repository without a token")
        } catch {
            XCTAssertTrue("\(error)".contains("401") && "\(error)".contains("HF_TOKEN"), "\(error)")
        }
        let folder = temporaryFolder()
        _ = try await pull(endpoint, token: "hf_secret123", into: folder)
        try assertFolderHoldsTheModelFiles(folder)
        let cdn = server.log.withLock { $0.filter { $0.path.hasPrefix("/cdn/") } }
        XCTAssertFalse(cdn.isEmpty)
        XCTAssertFalse(cdn.contains { $0.authorized }, "the token followed a redirect to another host")
    }

    func testUnknownRevisionAndBadIds() async throws {
        let endpoint = try await serve(HubServer(repo: Self.repo, files: Self.files))
        do {
            _ = try await pull(endpoint, revision: "no-such-branch", into: temporaryFolder())
            XCTFail("pulled a revision that does not exist")
        } catch {
            XCTAssertTrue("\(error)".contains("no-such-branch") && "\(error)".contains("404"), "\(error)")
        }
        for id in ["just-a-name", "a/b/c", "../etc", "org/", "org/na me"] {
            XCTAssertThrowsError(try HubRepository(endpoint: endpoint, id: id), id)
        }
        XCTAssertEqual(try HubRepository.endpoint(environment: ["HF_ENDPOINT": "http://127.0.0.1:9/"]).absoluteString, "http://127.0.0.1:9")
        XCTAssertThrowsError(try HubRepository.endpoint(environment: ["HF_ENDPOINT": "ftp://x"]))
        XCTAssertEqual(HubPull.token(environment: ["HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "b"]), "b")
    }

    /// The command a user runs: `slm pull ORG/NAME` with HF_ENDPOINT and HF_TOKEN set, a progress
    /// line and a summary, the token nowhere in the output.
    func testCommandLinePullNeverPrintsTheToken() async throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("slm").path
        guard FileManager.default.isExecutableFile(atPath: executable) else { throw XCTSkip("no slm executable beside the tests; build the package first") }
        let server = HubServer(repo: Self.repo, files: Self.files, faults: ["model.safetensors": .dropAfter(50_000)], token: "hf_secret123")
        let endpoint = try await serve(server)
        let folder = temporaryFolder()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["pull", Self.repo, "--out", folder]
        process.environment = ProcessInfo.processInfo.environment.merging(["HF_ENDPOINT": endpoint.absoluteString, "HF_TOKEN": "hf_secret123"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("pulled \(Self.repo)@main (commit \(server.commit))") && text.contains("4 files downloaded"), text)
        XCTAssertTrue(text.contains("pytorch_model.bin"), "names what it left out: \(text)")
        XCTAssertFalse(text.contains("hf_secret123"), text)
        try assertFolderHoldsTheModelFiles(folder)
    }
}
