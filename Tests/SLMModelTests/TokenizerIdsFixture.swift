import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// Token ids made by Hugging Face `tokenizers` (fixtures/make_tokenizers.py, fixtures/make_cased_tokenizers.py):
/// a corpus, lines with each family's special tokens, and per vocabulary the ids and decoded text of
/// every line (the corpus first, then the special lines).
struct TokenizerIdsFixture: Decodable {
    struct Vocabulary: Decodable {
        let file: String
        let ids: [[Int32]]
        let decoded: [String]
    }

    let corpus: [String]
    let special_lines: [String: [String]]
    let vocabularies: [String: Vocabulary]

    init(_ name: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path(name))))
    }

    /// `tokenizer` encodes every corpus line and `specials`' lines to vocabulary `name`'s ids and decodes them to its text.
    func assertMatches(_ tokenizer: BPETokenizer, _ name: String, specials: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let v = try XCTUnwrap(vocabularies[name])
        for (n, text) in (corpus + special_lines[specials]!).enumerated() {
            XCTAssertEqual(tokenizer.encode(text), v.ids[n], "\(name): \(text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.decode(v.ids[n]), v.decoded[n], "\(name) decode: \(text.debugDescription)", file: file, line: line)
        }
    }
}
