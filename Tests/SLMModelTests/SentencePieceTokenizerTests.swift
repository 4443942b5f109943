import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// SentencePiece-style BPE with byte fallback against Hugging Face `tokenizers`, on a tiny
/// SentencePiece model trained by fixtures/make_tokenizers.py (Tests/Fixtures/spm-tiny): its
/// tokenizer.json in each layout the model families use, its `.model` file, and its GGUF vocabulary.
final class SentencePieceTokenizerTests: XCTestCase {
    struct Expected: Decodable {
        struct Tiny: Decodable {
            let ids: [String: [[Int32]]]
            let decoded: [String: [String]]
        }
        let corpus: [String]
        let special_lines: [String: [String]]
        let tiny: Tiny
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("tokenizer_real_ids.json"))))
    var texts: [String] { expected.corpus + expected.special_lines["tiny"]! }
    let dir = Fixture.path("spm-tiny")

    private func assertMatches(_ tokenizer: BPETokenizer, _ layout: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ids = try XCTUnwrap(expected.tiny.ids[layout]), decoded = try XCTUnwrap(expected.tiny.decoded[layout])
        for (n, text) in texts.enumerated() {
            XCTAssertEqual(tokenizer.encode(text), ids[n], "\(layout): \(text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.decode(ids[n]), decoded[n], "\(layout) decode: \(text.debugDescription)", file: file, line: line)
        }
    }

    /// tokenizer.json with one layout's normalizer, pre-tokenizer and decoder put in.
    private func tokenizerJSON(_ layout: String) throws -> BPETokenizer {
        var spec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/tokenizer.json"))) as! [String: Any]
        let all = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixture.path("tokenizer_real_ids.json")))) as! [String: Any]
        let sections = ((all["tiny"] as! [String: Any])["layouts"] as! [String: Any])[layout] as! [String: Any]
        for key in ["normalizer", "pre_tokenizer", "decoder"] { spec[key] = sections[key] }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slm-spm-\(layout)-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: spec).write(to: file)
        return try BPETokenizer.load(tokenizerJSON: file.path)
    }

    func testEveryTokenizerJSONLayout() throws {
        for layout in ["legacy", "first", "always-split", "never", "gemma"] {
            let tokenizer = try tokenizerJSON(layout)
            guard case .sentencePiece = tokenizer.alphabet else { return XCTFail("\(layout) read as byte-level") }
            XCTAssertEqual(tokenizer.byteFallbackIds.count, 256)
            try assertMatches(tokenizer, layout)
        }
    }

    func testSentencePieceModelFile() throws {
        let tokenizer = try BPETokenizer.load(sentencePieceModel: dir + "/tokenizer.model")
        XCTAssertEqual(tokenizer.bosTokenId, 1)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        XCTAssertEqual(tokenizer.unknownTokenId, 0)
        try assertMatches(tokenizer, "legacy")
        let first = try BPETokenizer.load(sentencePieceModel: dir + "/tokenizer.model", metaspace: Metaspace(prefix: .first, decodeStripsLeadingSpace: true))
        try assertMatches(first, "first")
    }

    func testGGUFVocabularyWrittenByGGUFPy() throws {
        let tokenizer = try BPETokenizer.load(gguf: try GGUFFile(path: dir + "/vocab.gguf"))
        XCTAssertTrue(tokenizer.addsBOS)
        try assertMatches(tokenizer, "legacy")
        XCTAssertEqual(tokenizer.encode("hi", addSpecial: true), [1] + tokenizer.encode("hi"))
        XCTAssertEqual(tokenizer.addedTokens["<tool>"]?.special, false)
    }

    func testStreamingDecodeJoinsByteFallbackTokens() throws {
        let tokenizer = try BPETokenizer.load(sentencePieceModel: dir + "/tokenizer.model")
        for text in ["Emoji 😀 and 中文 ok", "日本語のテキスト", " Zürich"] {
            let ids = tokenizer.encode(text)
            XCTAssertTrue(ids.contains { tokenizer.byteFallbackIds.contains($0) }, "the tiny vocabulary should need byte fallback for \(text)")
            var decoder = StreamingDecoder(tokenizer: tokenizer)
            var pieces = ids.map { decoder.append($0) }
            pieces.append(decoder.finish())
            XCTAssertEqual(pieces.joined(), tokenizer.decode(ids))
            XCTAssertFalse(pieces.contains { $0.contains("\u{FFFD}") }, "no replacement characters mid-stream: \(pieces)")
        }
    }

    func testUnsupportedSentencePieceFilesAreClearErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slm-spm-bad-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let vocab = #""vocab": {"<unk>": 0, "a": 1}, "merges": []"#
        let cases: [(String, String)] = [
            (#"{"model": {"type": "WordPiece", "vocab": {}}}"#, "model.type"),
            (#"{"model": {"type": "BPE", "byte_fallback": true, \#(vocab)}, "normalizer": {"type": "NFKC"}}"#, "normalizer"),
            (#"{"model": {"type": "BPE", "byte_fallback": true, \#(vocab)}, "pre_tokenizer": {"type": "Metaspace", "replacement": "_"}}"#, "pre_tokenizer.replacement"),
            (#"{"model": {"type": "BPE", "byte_fallback": true, \#(vocab)}, "pre_tokenizer": {"type": "Metaspace"}, "decoder": {"type": "WordPiece"}}"#, "decoder"),
            (#"{"model": {"type": "BPE", "byte_fallback": true, \#(vocab)}, "pre_tokenizer": {"type": "Metaspace"}}"#, "vocab"),
            (#"{"model": {"type": "BPE", "continuing_subword_prefix": "@@", \#(vocab)}}"#, "model.continuing_subword_prefix"),
        ]
        for (n, (json, field)) in cases.enumerated() {
            let file = folder.appendingPathComponent("t\(n).json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try BPETokenizer.load(tokenizerJSON: file.path)) { error in
                XCTAssertTrue("\(error)".contains(field) && "\(error)".contains(file.path), "\(error)")
            }
        }
        // A Unigram SentencePiece model: one piece, trainer_spec.model_type 1.
        let unigram: [UInt8] = [0x0A, 0x05, 0x0A, 0x01, 0x61, 0x18, 0x01, 0x12, 0x02, 0x18, 0x01]
        let model = folder.appendingPathComponent("unigram.model")
        try Data(unigram).write(to: model)
        XCTAssertThrowsError(try BPETokenizer.load(sentencePieceModel: model.path)) { error in
            XCTAssertTrue("\(error)".contains("trainer_spec.model_type") && "\(error)".contains("unigram"), "\(error)")
        }
        try Data(unigram.prefix(6)).write(to: model)
        XCTAssertThrowsError(try BPETokenizer.load(sentencePieceModel: model.path)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }
}
