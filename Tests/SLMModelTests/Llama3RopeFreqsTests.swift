import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// A Hugging Face base with Llama 3 rope scaling gets the rope_freqs.weight llama.cpp's
/// convert_hf_to_gguf.py writes (fixtures/make_rope_freqs.py), for the tiny fixture's config and Llama 3.1's:
/// the same factors, the interpolated ones within a few float32 steps (the converter takes torch's float32
/// `pow`, slm the Float64 ratio of transformers' frequencies; the 1 and `factor` ends are exact).
final class Llama3RopeFreqsTests: XCTestCase {
    func testRopeFactorsEqualTheConvertersValueForValue() throws {
        let expected = try Fixture("llama3_rope_freqs.json")
        let cases: [(name: String, headDim: Int, factor: Double, originalContext: Int)] = [("tiny", 16, 4, 64), ("llama31", 128, 8, 8192)]
        let tokenizer = try BPETokenizer.load(tokenizerJSON: Fixture.path("hf_llama/tokenizer.json"))
        for c in cases {
            let folder = NSTemporaryDirectory() + "slm-rope-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixture.path("hf_llama3_f16/config.json")))) as? [String: Any])
            config["head_dim"] = c.headDim
            config["max_position_embeddings"] = 4 * c.originalContext
            config["rope_parameters"] = [
                "rope_type": "llama3", "rope_theta": 500_000.0, "factor": c.factor, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": c.originalContext,
            ] as [String: Any]
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
            let factors = try XCTUnwrap(GGUFLlamaMetadata.huggingFace(folder: folder, tokenizer: tokenizer).ropeFactors, c.name)
            let reference = try expected.values(c.name).map { Float($0) }
            XCTAssertEqual(factors.count, reference.count, c.name)
            for (ours, theirs) in zip(factors, reference) {
                if theirs == 1 || theirs == Float(c.factor) { XCTAssertEqual(ours, theirs, c.name) }
                XCTAssertLessThanOrEqual(abs(ours - theirs) / theirs, 4 * Float.ulpOfOne, "\(c.name): \(factors) vs \(reference)")
            }
        }
    }

    /// gguf-py's converter-style file of hf_llama3_f16 (rope_freqs, no rope_scaling keys) exported as a
    /// Hugging Face folder: config.json gets back the original rope_scaling, and the folder gives the
    /// GGUF model's logits.
    func testGGUFWithRopeFreqsBecomesAFolderWithLlama3RopeScaling() throws {
        let gguf = Fixture.path("hf_llama3_f16.gguf")
        let out = NSTemporaryDirectory() + "slm-rope-folder-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try MergeExport.safetensors(try MergeExport.loadBase(gguf, adapter: nil), out: out, dtype: .f32, probe: nil)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        let scaling = try XCTUnwrap(config["rope_scaling"] as? [String: Any])
        XCTAssertEqual(scaling["rope_type"] as? String, "llama3")
        XCTAssertEqual(scaling["factor"] as? Double, 4)
        XCTAssertEqual(scaling["low_freq_factor"] as? Double, 1)
        XCTAssertEqual(scaling["high_freq_factor"] as? Double, 4)
        XCTAssertEqual(scaling["original_max_position_embeddings"] as? Int, 64)
        let (folderModel, _) = try HuggingFaceModelLoader.load(folder: out)
        let ggufModel = try GGUFModelLoader.load(try GGUFFile(path: gguf), keepQuantized: false)
        let ids: [Int32] = Array(0..<40).map { Int32($0 * 7 % 256) }
        let a = try GradMode.withoutGrad { try folderModel.logits(try folderModel.hiddenStates(ids, batch: 1, sequence: ids.count)) }
        let b = try GradMode.withoutGrad { try ggufModel.logits(try ggufModel.hiddenStates(ids, batch: 1, sequence: ids.count)) }
        let worst = (0..<a.count).map { abs(a.data[$0] - b.data[$0]) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4)
    }
}
