import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// GPT-4o's o200k word splitting (Phi-4-mini; llama.cpp's "gpt-4o") and Mistral's Tekken, against Hugging
/// Face `tokenizers` (fixtures/make_cased_tokenizers.py): every family's splits one by one, Mistral's real
/// Tekken file (scripts/setup extracts it from mistral-common; its ids also equal mistral-common's), small
/// Tekken and o200k vocabularies read from tekken.json, tokenizer.json and GGUF.
final class CasedWordTokenizerTests: XCTestCase {
    let expected = try! TokenizerIdsFixture("tokenizer_cased_ids.json")
    /// Per pattern, the (start, end) scalar offsets of each corpus line's words.
    struct Splits: Decodable { let splits: [String: [[[Int]]]] }
    let patternSplits = try! JSONDecoder().decode(Splits.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("tokenizer_cased_ids.json")))).splits

    func testSplitsMatchTokenizersForEveryPattern() throws {
        for pattern in PreTokenizer.Pattern.allCases {
            let splits = try XCTUnwrap(patternSplits[pattern.rawValue], "\(pattern)")
            for (text, want) in zip(expected.corpus, splits) {
                let got = PreTokenizer(pattern: pattern).split(Array(text.unicodeScalars)).map { [$0.lowerBound, $0.upperBound] }
                XCTAssertEqual(got, want, "\(pattern): \(text.debugDescription)")
            }
        }
    }

    func testRealTekkenFile() throws {
        let path = try Fixture.tokenizerVocabulary(expected.vocabularies["tekken_240911"]!.file)
        let tokenizer = try BPETokenizer.load(tekken: path)
        XCTAssertEqual(tokenizer.vocabularySize, 131_072)
        XCTAssertEqual(tokenizer.bosTokenId, 1)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        XCTAssertEqual(tokenizer.id(of: "[INST]"), 3)
        XCTAssertEqual(tokenizer.id(of: "<SPECIAL_999>"), 999)
        XCTAssertTrue(tokenizer.addsBOS)
        try expected.assertMatches(tokenizer, "tekken_240911", specials: "tekken")
    }

    func testTinyTekkenFromTekkenJSONTokenizerJSONAndGGUF() throws {
        let folder = Fixture.path("tekken-tiny")
        let tekken = try BPETokenizer.load(tekken: folder + "/tekken.json")
        XCTAssertEqual(tekken.vocabularySize, 1600)
        XCTAssertEqual(tekken.id(of: "[THINK]"), 20)
        XCTAssertFalse(tekken.isSpecial(20), "is_control false")
        XCTAssertTrue(tekken.isSpecial(21), "<SPECIAL_21> filler")
        try expected.assertMatches(tekken, "tekken-tiny", specials: "tekken")
        try expected.assertMatches(try BPETokenizer.load(tokenizerJSON: folder + "/tokenizer.json"), "tekken-tiny", specials: "tekken")
        let gguf = try BPETokenizer.load(gguf: try GGUFFile(path: folder + "/vocab.gguf"))
        XCTAssertEqual(gguf.alphabet, .byteLevel(PreTokenizer(pattern: .tekken)))
        XCTAssertTrue(gguf.ignoresMerges)
        try expected.assertMatches(gguf, "tekken-tiny", specials: "tekken")
        // A folder with only tekken.json is read through it; tokenizer.json is preferred when both are there.
        XCTAssertEqual(BPETokenizer.tokenizerFile(inFolder: folder), folder + "/tokenizer.json")
        let tekkenOnly = FileManager.default.temporaryDirectory.appendingPathComponent("tekken-only-\(UUID())").path
        try FileManager.default.createDirectory(atPath: tekkenOnly, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tekkenOnly) }
        try FileManager.default.copyItem(atPath: folder + "/tekken.json", toPath: tekkenOnly + "/tekken.json")
        let found = try XCTUnwrap(BPETokenizer.tokenizerFile(inFolder: tekkenOnly))
        XCTAssertEqual(try BPETokenizer.load(tokenizerFile: found).encode(expected.corpus[0]), expected.vocabularies["tekken-tiny"]!.ids[0])
    }

    func testTinyO200kFromTokenizerJSONAndGGUF() throws {
        let folder = Fixture.path("o200k-tiny")
        let json = try BPETokenizer.load(tokenizerJSON: folder + "/tokenizer.json")
        XCTAssertEqual(json.alphabet, .byteLevel(PreTokenizer(pattern: .o200k)))
        try expected.assertMatches(json, "o200k-tiny", specials: "o200k")
        let gguf = try BPETokenizer.load(gguf: try GGUFFile(path: folder + "/vocab.gguf"))
        XCTAssertEqual(gguf.alphabet, .byteLevel(PreTokenizer(pattern: .o200k)))
        try expected.assertMatches(gguf, "o200k-tiny", specials: "o200k")
    }

    /// A broken Tekken file is refused with the file and the field named.
    func testTekkenFieldErrors() throws {
        let original = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixture.path("tekken-tiny/tekken.json")))) as? [String: Any])
        func entry(_ rank: Int, _ base64: String) -> [String: Any] { ["rank": rank, "token_bytes": base64, "token_str": NSNull()] }
        let cases: [(field: String, change: (inout [String: Any]) -> Void)] = [
            ("config.pattern", { $0["config"] = ($0["config"] as! [String: Any]).merging(["pattern": "\\w+"]) { $1 } }),
            ("config.default_vocab_size", { $0["config"] = ($0["config"] as! [String: Any]).merging(["default_vocab_size": -3]) { $1 } }),
            ("config.default_num_special_tokens", { $0["config"] = ($0["config"] as! [String: Any]).merging(["default_num_special_tokens": 1400]) { $1 } }),
            ("config.num_vocab_tokens", { $0["config"] = ($0["config"] as! [String: Any]).merging(["num_vocab_tokens": 7]) { $1 } }),
            ("vocab", { $0["vocab"] = Array(($0["vocab"] as! [Any]).prefix(1000)); $0["config"] = ($0["config"] as! [String: Any]).merging(["num_vocab_tokens": 1000]) { $1 } }),
            ("vocab[300].rank", { var v = $0["vocab"] as! [Any]; v[300] = entry(301, "YWI="); $0["vocab"] = v }),
            ("vocab[300].token_bytes", { var v = $0["vocab"] as! [Any]; v[300] = entry(300, "not base64!"); $0["vocab"] = v }),
            ("vocab[300].token_bytes", { var v = $0["vocab"] as! [Any]; v[300] = entry(300, "YQ=="); $0["vocab"] = v }),  // "a" again
            ("vocab[65].token_bytes", { var v = $0["vocab"] as! [Any]; v[65] = entry(65, "QkI="); $0["vocab"] = v }),
            ("special_tokens[3].rank", { var v = $0["special_tokens"] as! [[String: Any]]; v[3]["rank"] = 9; $0["special_tokens"] = v }),
            ("special_tokens[4].token_str", { var v = $0["special_tokens"] as! [[String: Any]]; v[4]["token_str"] = "<s>"; $0["special_tokens"] = v }),
            ("special_tokens[20]", { var v = $0["special_tokens"] as! [[String: Any]]; v[20]["token_str"] = "er"; $0["special_tokens"] = v }),
            ("special_tokens", { $0["special_tokens"] = nil; $0["config"] = ($0["config"] as! [String: Any]).merging(["version": "v11"]) { $1 } }),
        ]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tekken-errors-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (n, c) in cases.enumerated() {
            var json = original
            c.change(&json)
            let path = folder + "/tekken-\(n).json"
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try BPETokenizer.load(tekken: path), c.field) { error in
                let e = error as? FormatError
                XCTAssertEqual(e?.file, path)
                XCTAssertEqual(e?.field, c.field, "\(error)")
            }
        }
    }

    func testUnknownGGUFPreTokenizerNameIsAnError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pre-\(UUID()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = try GGUFFile(path: Fixture.path("o200k-tiny/vocab.gguf"))
        try GGUFWriter.write(metadata: source.metadata.map { $0.key == "tokenizer.ggml.pre" ? ($0.key, .string("deepseek-llm")) : ($0.key, $0.value) }, tensors: [], to: path)
        XCTAssertThrowsError(try BPETokenizer.load(gguf: try GGUFFile(path: path))) { error in
            XCTAssertEqual((error as? FormatError)?.field, "tokenizer.ggml.pre")
            XCTAssertTrue("\(error)".contains("\"deepseek-llm\" is not supported (smollm, llama-bpe"), "\(error)")
        }
    }

    /// llama.cpp's names of the families slm reads map to their word splitting, and back.
    func testLlamaCppPreTokenizerNames() {
        for (name, pattern, digits) in [("smollm", PreTokenizer.Pattern.gpt2, true), ("llama-bpe", .llama3, false), ("qwen2", .qwen2, false),
                                        ("gpt-4o", .o200k, false), ("tekken", .tekken, false), ("gpt-2", .gpt2, false)] {
            XCTAssertEqual(PreTokenizer(pattern: pattern, isolateDigits: digits).llamaCppName, name)
        }
    }
}
