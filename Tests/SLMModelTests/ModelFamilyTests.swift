import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// The Llama-like families beside Llama (fixtures/make_families.py): tiny random Qwen2, Qwen3 and
/// sliding-window Mistral models (and a Qwen2 with linear rope scaling) against the logits transformers computes for them, from their
/// Hugging Face folders and from GGUF files laid out as llama.cpp's converter writes them.
final class ModelFamilyTests: XCTestCase {
    struct Expected: Decodable {
        let ids: [Int32]
        let hf_qwen2: [[Float]]
        let hf_qwen3: [[Float]]
        let hf_mistral_swa: [[Float]]
        let hf_qwen2_linear_rope: [[Float]]
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("families_expected.json"))))

    override func setUp() { Parallel.setThreads(2) }

    private func assertMatches(_ path: String, _ reference: [[Float]], line: UInt = #line) throws -> Transformer {
        let model = try ModelLoader.load(path: path.hasPrefix("/") ? path : Fixture.path(path)).model
        let out = try model.promptLogits(expected.ids)
        XCTAssertEqual(out.shape, [reference.count, 256], line: line)
        XCTAssertLessThanOrEqual(worstDifference(out, reference), 1e-4, "\(path): max |logit − transformers|", line: line)
        return model
    }

    func testQwen2WithAttentionBiasesMatchesTransformers() throws {
        for path in ["hf_qwen2", "qwen2.gguf"] {
            let model = try assertMatches(path, expected.hf_qwen2)
            XCTAssertEqual(model.config.architecture, "qwen2")
            XCTAssertTrue(model.config.attentionBias)
            XCTAssertTrue(model.config.tieWordEmbeddings)
            XCTAssertTrue(model.namedParameters.contains { $0.name == "model.layers.1.self_attn.v_proj.bias" })
        }
    }

    /// Linear rope scaling from config.json's rope_parameters and from GGUF's rope.scaling.type / factor.
    func testLinearRopeScalingMatchesTransformers() throws {
        for path in ["hf_qwen2_linear_rope", "qwen2_linear_rope.gguf"] {
            _ = try assertMatches(path, expected.hf_qwen2_linear_rope)
        }
    }

    func testQwen3WithQueryKeyNormMatchesTransformers() throws {
        for path in ["hf_qwen3", "qwen3.gguf"] {
            let model = try assertMatches(path, expected.hf_qwen3)
            XCTAssertEqual(model.config.headDim, 16)
            XCTAssertTrue(model.config.queryKeyNorm)
            XCTAssertTrue(model.namedParameters.contains { $0.name == "model.layers.0.self_attn.k_norm.weight" })
        }
    }

    func testMistralSlidingWindowMatchesTransformers() throws {
        let model = try assertMatches("hf_mistral_swa", expected.hf_mistral_swa)
        XCTAssertEqual(model.config.slidingWindow, 5)
    }

    /// The KV-cached decoder gives transformers' logits: Qwen3 after a prefill, Mistral one token at
    /// a time far past its window of 5 (and after a prefill that spans it).
    func testCachedDecodingMatchesTransformersAcrossTheSlidingWindow() throws {
        let qwen = try ModelLoader.load(path: Fixture.path("hf_qwen3")).model
        let last = try qwen.nextTokenLogits(Array(expected.ids.prefix(8)), cache: try KVCache(config: qwen.config, maxTokens: 16))
        for j in 0..<256 { XCTAssertEqual(last.data[j], expected.hf_qwen3[7][j], accuracy: 1e-4) }

        let mistral = try ModelLoader.load(path: Fixture.path("hf_mistral_swa")).model
        for prefill in [1, 9] {
            let cache = try KVCache(config: mistral.config, maxTokens: 32)
            var logits = try mistral.nextTokenLogits(Array(expected.ids.prefix(prefill)), cache: cache)
            for position in (prefill - 1)..<expected.ids.count {
                if position >= prefill { logits = try mistral.nextTokenLogits([expected.ids[position]], cache: cache) }
                let worst = (0..<256).map { abs(logits.data[$0] - expected.hf_mistral_swa[position][$0]) }.max()!
                XCTAssertLessThanOrEqual(worst, 1e-4, "prefill \(prefill), position \(position)")
            }
        }
    }

    // MARK: export


    /// The folders exported as F32 GGUF hold what the converter-layout fixture holds (qwen rows not
    /// permuted, biases and q/k norms under llama.cpp's names, the qwen2/qwen3 keys), and read back
    /// to transformers' logits.
    func testQwenFoldersExportAsTheConvertersGGUF() throws {
        for (name, arch, reference) in [
            ("qwen2", "qwen2", expected.hf_qwen2), ("qwen3", "qwen3", expected.hf_qwen3), ("qwen2_linear_rope", "qwen2", expected.hf_qwen2_linear_rope),
        ] {
            let out = temporaryPath("slm-families", create: true) + "/\(name).gguf"
            try MergeExport.gguf(try MergeExport.loadBase(Fixture.path("hf_\(name)"), adapter: nil), out: out, fileType: .f32, probe: nil)
            let (written, converter) = (try GGUFFile(path: out), try GGUFFile(path: Fixture.path("\(name).gguf")))
            XCTAssertEqual(written["general.architecture"]?.string, arch)
            XCTAssertEqual(Set(written.tensors.map(\.name)), Set(converter.tensors.map(\.name)), name)
            for info in converter.tensors {
                let copy = try XCTUnwrap(written.tensor(named: info.name))
                XCTAssertEqual(copy.shape, info.shape, info.name)
                XCTAssertEqual(Array(written.bytes(of: copy)), Array(converter.bytes(of: info)), info.name)
            }
            for (key, value) in converter.metadata where key.hasPrefix(arch + ".") {
                XCTAssertEqual(written[key].map { "\($0)" }, "\(value)", key)
            }
            let model = try ModelLoader.load(path: out).model
            let ids = expected.ids
            let logits = try model.promptLogits(ids)
            for (t, row) in reference.enumerated() {
                for (j, value) in row.enumerated() { XCTAssertEqual(logits.data[t * 256 + j], value, accuracy: 1e-4) }
            }
        }
    }

    /// A qwen3 GGUF exported as a Hugging Face folder names its family, and reads back to the same logits.
    func testQwen3GGUFBecomesAQwen3Folder() throws {
        let out = temporaryPath("slm-families", create: true) + "/qwen3"
        _ = try MergeExport.safetensors(try MergeExport.loadBase(Fixture.path("qwen3.gguf"), adapter: nil), out: out, dtype: .f32, probe: nil)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        XCTAssertEqual(config["model_type"] as? String, "qwen3")
        XCTAssertEqual(config["architectures"] as? [String], ["Qwen3ForCausalLM"])
        let model = try assertMatches(out, expected.hf_qwen3)
        XCTAssertTrue(model.config.queryKeyNorm)
    }
}
