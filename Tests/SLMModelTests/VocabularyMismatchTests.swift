import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// A GGUF file whose tokenizer has one token fewer than its embedding has rows is refused at load,
/// naming the file, the metadata field and both counts (Hugging Face folders: HuggingFaceLoaderTests).
final class VocabularyMismatchTests: XCTestCase {
    func testGGUFTokensMustMatchEmbeddingRows() throws {
        let source = try GGUFFile(path: Fixture.path("qwen2.gguf"))
        var metadata = source.metadata
        let n = try XCTUnwrap(metadata.firstIndex { $0.key == "tokenizer.ggml.tokens" })
        metadata[n].value = .array(Array(try XCTUnwrap(metadata[n].value.array).dropLast()))
        let tensors = source.tensors.map { info in
            GGUFWriter.TensorEntry(name: info.name, shape: info.shape, type: info.type) { $0.copyMemory(from: source.bytes(of: info)) }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("slm-vocab-mismatch-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try GGUFWriter.write(metadata: metadata, tensors: tensors, to: path)
        XCTAssertThrowsError(try ModelLoader.load(path: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(path) && text.contains("tokenizer.ggml.tokens") && text.contains("255 tokens") && text.contains("256 rows"), text)
        }
    }
}
