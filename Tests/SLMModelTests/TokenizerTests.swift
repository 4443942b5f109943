import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// Byte-level BPE against Hugging Face `tokenizers` (fixtures/make_tokenizer.py).
final class TokenizerTests: XCTestCase {
    struct Expected: Decodable {
        let corpus: [String]
        let ids: [String: [[Int32]]]
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("tokenizer_ids.json"))))
    let tokenizerJSON = Fixture.path("smollm2-tokenizer/tokenizer.json")

    private func assertMatches(_ tokenizer: BPETokenizer, _ variant: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ids = try XCTUnwrap(expected.ids[variant])
        for (text, want) in zip(expected.corpus, ids) {
            XCTAssertEqual(tokenizer.encode(text), want, "\(variant): \(text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.decode(want), text, file: file, line: line)
        }
    }

    func testSmolLM2FromTokenizerJSON() throws {
        let tokenizer = try BPETokenizer.load(tokenizerJSON: tokenizerJSON)
        XCTAssertEqual(tokenizer.vocabularySize, 49152)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        try assertMatches(tokenizer, "smollm2")
    }

    func testSmolLM2FromTheDemoGGUF() throws {
        let tokenizer = try BPETokenizer.load(gguf: try GGUFFile(path: try Fixture.demoModelPath()))
        XCTAssertEqual(tokenizer.bosTokenId, 1)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        try assertMatches(tokenizer, "smollm2")
    }

    func testLlama3Qwen2AndGPT2WordSplitting() throws {
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tokenizerJSON))) as! [String: Any]
        let variants = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixture.path("tokenizer_ids.json")))) as! [String: Any]
        for name in ["llama3", "qwen2", "gpt2"] {
            var spec = base
            spec["pre_tokenizer"] = (variants["pre_tokenizers"] as! [String: Any])[name]
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slm-tok-\(name)-\(getpid())")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("tokenizer.json")
            try JSONSerialization.data(withJSONObject: spec).write(to: file)
            try assertMatches(try BPETokenizer.load(tokenizerJSON: file.path), name)
        }
    }

    func testStreamingDecodeHoldsBackSplitCharacters() throws {
        let tokenizer = try BPETokenizer.load(tokenizerJSON: tokenizerJSON)
        let text = "Emoji 😀 and 中文 ok"
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in tokenizer.encode(text) { pieces.append(decoder.append(id)) }
        pieces.append(decoder.finish())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertFalse(pieces.contains { $0.contains("\u{FFFD}") }, "no replacement characters mid-stream: \(pieces)")
    }

    func testUnsupportedTokenizerFilesAreClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slm-tok-bad-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            (#"{"model": {"type": "Unigram", "vocab": []}}"#, "model.type"),
            (#"{"model": {"type": "BPE"}}"#, "model.vocab"),
            (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#, "model.vocab"),
            (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}}"#, "merges[0]"),
            (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}"#, "pre_tokenizer"),
            ("{not json", "JSON"),
        ]
        for (n, (json, field)) in cases.enumerated() {
            let file = dir.appendingPathComponent("t\(n).json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try BPETokenizer.load(tokenizerJSON: file.path)) { error in
                XCTAssertTrue("\(error)".contains(field) && "\(error)".contains(file.path), "\(error)")
            }
        }
    }
}
