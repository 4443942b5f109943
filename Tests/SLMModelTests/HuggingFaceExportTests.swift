import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// `slm merge --format safetensors`: folders slm's loader (and transformers: fixtures/check_hf_export.py)
/// reads back as base + adapter; BF16 rounded as PyTorch rounds (fixtures/make_hf_llama.py's hf_llama_bf16).
final class HuggingFaceExportTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }


    func testMergedFolderGivesPEFTsLogits() throws {
        struct Expected: Decodable { let ids: [Int32]; let logits: [[Float]] }
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("peft_adapter_expected.json"))))
        let out = temporaryPath("slm-hf-export")
        let base = try MergeExport.loadBase(Fixture.path("hf_llama"), adapter: Fixture.path("peft_adapter"))
        let result = try MergeExport.safetensors(base, out: out, dtype: .f32, probe: "Hello, wörld! 123 ✓ The quick brown fox.")
        XCTAssertTrue(try XCTUnwrap(result.comparison).sameGreedyOutput)
        for name in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
        }
        let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: out)
        XCTAssertNotNil(tokenizer)
        let reference = try Tensor(expected.logits.flatMap { $0 }, shape: [expected.ids.count, expected.logits[0].count])
        assertClose(try model.promptLogits(expected.ids), reference, tolerance: 1e-4, "exported folder vs PEFT")
    }

    /// BF16 values are PyTorch's `.to(torch.bfloat16)` of the same weights, byte for byte.
    func testBF16IsRoundedAsPyTorchRoundsIt() throws {
        let out = temporaryPath("slm-hf-export")
        try MergeExport.safetensors(try MergeExport.loadBase(Fixture.path("hf_llama"), adapter: nil), out: out, dtype: .bf16, probe: nil)
        let ours = try SafetensorsFile(path: out + "/model.safetensors")
        let torch = try SafetensorsCheckpoint(folder: Fixture.path("hf_llama_bf16"))
        for info in ours.tensors {
            XCTAssertEqual(info.dtype, .BF16, info.name)
            let theirs = try XCTUnwrap(torch.locate(info.name), info.name)
            XCTAssertTrue(ours.bytes(of: info).elementsEqual(theirs.file.bytes(of: theirs.info)), "\(info.name): bytes differ from PyTorch's bf16")
        }
    }

    /// A GGUF base becomes a folder whose tokenizer.json and config.json are built from its metadata.
    func testGGUFBaseBecomesAFolderWithTheSameTokenizerAndLogits() throws {
        let gguf = Fixture.path("export_ref_f32.gguf"), out = temporaryPath("slm-hf-export")
        try MergeExport.safetensors(try MergeExport.loadBase(gguf, adapter: nil), out: out, dtype: .f32, probe: nil)
        let (model, tokenizer) = try HuggingFaceModelLoader.load(folder: out)
        let file = try GGUFFile(path: gguf)
        let original = try BPETokenizer.load(gguf: file)
        let text = "Hello, wörld! 123 ✓"
        XCTAssertEqual(try XCTUnwrap(tokenizer).encode(text), original.encode(text))
        let ids = original.encode(text)
        assertClose(try model.promptLogits(ids), try GGUFModelLoader.load(file).promptLogits(ids), tolerance: 1e-5, "folder vs GGUF")
    }
}
