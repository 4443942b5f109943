import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// Phi models as llama.cpp's GGUF (architecture phi3) and back to Hugging Face folders
/// (fixtures/make_phi.py: phi3.gguf and phi4mini.gguf are convert_hf_to_gguf.py's output).
final class PhiExportTests: XCTestCase {
    struct Expected: Decodable {
        let ids: [Int32]
        let hf_phi3: [[Float]]
        let hf_phi4mini: [[Float]]
        let hf_phi4mini_short: [[Float]]
        let merged_logits: [[Float]]
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("phi_expected.json"))))

    override func setUp() { Parallel.setThreads(2) }


    private func assertMatches(_ model: Transformer, _ reference: [[Float]], ids: [Int32]? = nil, _ what: String, line: UInt = #line) throws {
        let out = try model.promptLogits(ids ?? expected.ids)
        XCTAssertLessThanOrEqual(worstDifference(out, reference), 1e-4, "\(what): max |logit − transformers|", line: line)
    }

    /// The converter's files load to transformers' logits: fused attn_qkv / ffn_up, partial rotary
    /// dims, the long and short factors, the sliding window, tied and untied output.
    func testConvertersGGUFMatchesTransformers() throws {
        let phi3 = try ModelLoader.load(path: Fixture.path("phi3.gguf")).model
        XCTAssertEqual(phi3.config.slidingWindow, 6)
        XCTAssertFalse(phi3.config.tieWordEmbeddings)
        try assertMatches(phi3, expected.hf_phi3, "phi3.gguf")
        let phi4 = try ModelLoader.load(path: Fixture.path("phi4mini.gguf")).model
        XCTAssertTrue(phi4.config.tieWordEmbeddings)
        XCTAssertEqual(phi4.config.rope.rotaryDim, 6)
        XCTAssertEqual(phi4.config.longRope?.originalMaxPositions, 16)
        try assertMatches(phi4, expected.hf_phi4mini, "phi4mini.gguf")
        try assertMatches(phi4, expected.hf_phi4mini_short, ids: Array(expected.ids.prefix(12)), "phi4mini.gguf, 12 tokens")
    }

    /// The folders exported as F32 GGUF hold what the converter wrote: every tensor byte for byte
    /// (rope factors included), and every phi3.* key.
    func testFoldersExportAsTheConvertersGGUF() throws {
        for name in ["phi3", "phi4mini"] {
            let out = temporaryPath("slm-phi-export", create: true) + "/\(name).gguf"
            try MergeExport.gguf(try MergeExport.loadBase(Fixture.path("hf_\(name)"), adapter: nil), out: out, fileType: .f32, probe: nil)
            let (written, converter) = (try GGUFFile(path: out), try GGUFFile(path: Fixture.path("\(name).gguf")))
            XCTAssertEqual(written["general.architecture"]?.string, "phi3")
            XCTAssertEqual(Set(written.tensors.map(\.name)), Set(converter.tensors.map(\.name)), name)
            for info in converter.tensors {
                let copy = try XCTUnwrap(written.tensor(named: info.name))
                XCTAssertEqual(copy.shape, info.shape, info.name)
                XCTAssertEqual(Array(written.bytes(of: copy)), Array(converter.bytes(of: info)), info.name)
            }
            for (key, value) in converter.metadata where key.hasPrefix("phi3.") {
                XCTAssertEqual(written[key].map { "\($0)" }, "\(value)", "\(name): \(key)")
            }
        }
    }

    /// `slm merge --format gguf` of base + PEFT adapter: the file reads back to PEFT's merged logits.
    func testMergedPhiGGUFGivesPEFTsMergedLogits() throws {
        let out = temporaryPath("slm-phi-export", create: true) + "/merged.gguf"
        let result = try MergeExport.run(
            .init(base: Fixture.path("hf_phi4mini"), adapter: Fixture.path("peft_phi_adapter"), out: out, format: .gguf, fileType: .f32, dtype: .f32, probe: "Hello"))
        guard case .gguf(let gguf, _, _) = result else { return XCTFail("expected a GGUF outcome") }
        XCTAssertLessThanOrEqual(try XCTUnwrap(gguf.comparison).maxAbsLogitDifference, 1e-4)
        try assertMatches(try ModelLoader.load(path: out).model, expected.merged_logits, "merged GGUF")
    }

    /// `slm merge --format lora-gguf` of the PEFT adapter on the fused projections equals what
    /// llama.cpp's convert_lora_to_gguf.py wrote: attn_qkv / ffn_up names, every tensor byte for byte.
    func testLoRAGGUFEqualsTheLoRAConverters() throws {
        let out = temporaryPath("slm-phi-export", create: true) + "/phi_lora.gguf"
        _ = try MergeExport.run(
            .init(base: Fixture.path("hf_phi4mini"), adapter: Fixture.path("peft_phi_adapter"), out: out, format: .loraGGUF, fileType: .f32, dtype: .f32, probe: nil))
        let (written, converter) = (try GGUFFile(path: out), try GGUFFile(path: Fixture.path("phi_lora.gguf")))
        XCTAssertEqual(Set(written.tensors.map(\.name)), Set(converter.tensors.map(\.name)))
        XCTAssertTrue(converter.tensors.contains { $0.name == "blk.1.attn_qkv.weight.lora_b" })
        for info in converter.tensors {
            let copy = try XCTUnwrap(written.tensor(named: info.name))
            XCTAssertEqual(copy.shape, info.shape, info.name)
            XCTAssertEqual(Array(written.bytes(of: copy)), Array(converter.bytes(of: info)), info.name)
        }
        for key in ["general.architecture", "general.type", "adapter.type", "adapter.lora.alpha"] {
            XCTAssertEqual(written[key].map { "\($0)" }, converter[key].map { "\($0)" }, key)
        }
    }

    /// A Q8_0 phi3 file kept quantized (fused attn_qkv and ffn_up in their blocks) gives the logits of
    /// the same file dequantized, prompt and cached decoding alike. The decoding step multiplies
    /// 16-bit activations (`QuantizedGemv`), whose rounding moves these logits (~12) by ~1e-3.
    func testQuantizedPhiGGUFKeptQuantizedMatchesItsDequantizedSelf() throws {
        let out = temporaryPath("slm-phi-export", create: true) + "/phi4mini.q8_0.gguf"
        try MergeExport.gguf(try MergeExport.loadBase(Fixture.path("hf_phi4mini"), adapter: nil), out: out, fileType: .q8_0, probe: nil)
        let quantized = try ModelLoader.load(path: out, keepQuantized: true).model
        XCTAssertTrue(quantized.layers[0].weights.qkvProj is QuantizedMatrix)
        XCTAssertTrue(quantized.layers[0].weights.gateUpProj is QuantizedMatrix)
        let dense = try ModelLoader.load(path: out).model
        assertClose(try quantized.promptLogits(expected.ids), try dense.promptLogits(expected.ids), tolerance: 1e-3, "prompt")
        let cache = try KVCache(config: quantized.config, maxTokens: 32)
        _ = try quantized.nextTokenLogits(Array(expected.ids.prefix(20)), cache: cache)
        let last = try quantized.nextTokenLogits([expected.ids[20]], cache: cache)
        let reference = try dense.promptLogits(Array(expected.ids.prefix(21)))
        for j in 0..<256 { XCTAssertEqual(last.data[j], reference.data[20 * 256 + j], accuracy: 5e-3) }
    }

    /// A phi3 GGUF exported as a Hugging Face folder is a Phi3ForCausalLM with its LongRoPE in
    /// rope_scaling, and reads back to transformers' logits (transformers itself loads such a folder,
    /// merged with peft_phi_adapter, to PEFT's merged logits within 1e-6: checked by hand, see the report).
    func testPhiGGUFBecomesAPhi3Folder() throws {
        let out = temporaryPath("slm-phi-export", create: true) + "/phi4mini"
        _ = try MergeExport.safetensors(try MergeExport.loadBase(Fixture.path("phi4mini.gguf"), adapter: nil), out: out, dtype: .f32, probe: nil)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        XCTAssertEqual(config["model_type"] as? String, "phi3")
        XCTAssertEqual(config["architectures"] as? [String], ["Phi3ForCausalLM"])
        XCTAssertEqual(config["partial_rotary_factor"] as? Double, 0.75)
        XCTAssertEqual(config["original_max_position_embeddings"] as? Int, 16)
        let scaling = try XCTUnwrap(config["rope_scaling"] as? [String: Any])
        XCTAssertEqual(scaling["type"] as? String, "longrope")
        XCTAssertEqual((scaling["long_factor"] as? [Double])?.count, 3)
        XCTAssertNil(scaling["attention_factor"], "the derived one")
        XCTAssertTrue(config["pad_token_id"] is NSNull, "Phi3Config's default 32000 lies outside the vocabulary")
        let model = try ModelLoader.load(path: out).model
        try assertMatches(model, expected.hf_phi4mini, "phi4mini.gguf → folder")
        try assertMatches(model, expected.hf_phi4mini_short, ids: Array(expected.ids.prefix(12)), "phi4mini.gguf → folder, 12 tokens")
    }
}
