import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// Gemma 3 text models (fixtures/make_gemma.py): tiny random models against the logits transformers
/// computes for them, from a transformers 5 folder, a transformers 4.x config.json and a GGUF file laid
/// out as llama.cpp's converter writes it (norms stored + 1).
final class GemmaFamilyTests: XCTestCase {
    struct Expected: Decodable {
        let ids: [Int32]
        let hf_gemma3: [[Float]]
        let hf_gemma3_v4: [[Float]]
        let peft: [[Float]]
        let merged: [[Float]]
        let lora_loss: Float
        let lora_grads: [String: [Float]]
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("gemma_expected.json"))))

    override func setUp() { Parallel.setThreads(2) }

    /// The largest |logit − reference| of the full forward over the probe.
    private func worstError(_ model: Transformer, _ reference: [[Float]]) throws -> Float {
        let out = try model.promptLogits(expected.ids)
        XCTAssertEqual(out.shape, [reference.count, 256])
        return worstDifference(out, reference)
    }

    @discardableResult
    private func assertMatches(_ path: String, _ reference: [[Float]], line: UInt = #line) throws -> Transformer {
        let model = try ModelLoader.load(path: path.hasPrefix("/") ? path : Fixture.path(path)).model
        XCTAssertLessThanOrEqual(try worstError(model, reference), 1e-4, "\(path): max |logit − transformers|", line: line)
        return model
    }

    func testGemma3FolderMatchesTransformers() throws {
        let model = try assertMatches("hf_gemma3", expected.hf_gemma3)
        XCTAssertEqual(model.config.architecture, "gemma3_text")
        XCTAssertEqual(model.config.gemma?.slidingLayers, [true, true, true, true, true, false])
        XCTAssertEqual(model.config.slidingWindow, 4)
        XCTAssertTrue(model.config.tieWordEmbeddings)
        XCTAssertEqual(model.layers[0].config.slidingWindow, 4)
        XCTAssertNil(model.layers[5].config.slidingWindow)
        let names = Set(model.namedParameters.map(\.name))
        for module in ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm", "self_attn.q_norm", "self_attn.k_norm"] {
            XCTAssertTrue(names.contains("model.layers.5.\(module).weight"), module)
        }
    }

    /// A transformers 4.x config.json (rope_theta, rope_scaling, rope_local_base_freq,
    /// sliding_window_pattern) with query_pre_attn_scalar ≠ head_dim and an untied lm_head.
    func testGemma3V4ConfigMatchesTransformers() throws {
        let model = try assertMatches("hf_gemma3_v4", expected.hf_gemma3_v4)
        XCTAssertEqual(model.config.gemma?.slidingLayers, [true, false, true])
        XCTAssertEqual(model.config.gemma?.queryPreAttentionScalar, 24)
        XCTAssertFalse(model.config.tieWordEmbeddings)
    }

    /// Token-by-token decoding with the KV cache gives transformers' logits at every position, far past
    /// the sliding window of 4 (after a prefill of 1 token, and of 9 that spans the window).
    func testCachedDecodingMatchesTransformersPastTheSlidingWindow() throws {
        let model = try ModelLoader.load(path: Fixture.path("hf_gemma3")).model
        for prefill in [1, 9] {
            let cache = try KVCache(config: model.config, maxTokens: 32)
            var logits = try model.nextTokenLogits(Array(expected.ids.prefix(prefill)), cache: cache)
            for position in (prefill - 1)..<expected.ids.count {
                if position >= prefill { logits = try model.nextTokenLogits([expected.ids[position]], cache: cache) }
                let worst = (0..<256).map { abs(logits.data[$0] - expected.hf_gemma3[position][$0]) }.max()!
                XCTAssertLessThanOrEqual(worst, 1e-4, "prefill \(prefill), position \(position)")
            }
        }
    }

    /// Settings slm cannot honour are refused by name rather than ignored.
    func testUnsupportedGemmaSettingsAreRefused() throws {
        let source = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixture.path("hf_gemma3/config.json")))) as? [String: Any])
        let cases: [(String, Any, String)] = [
            ("final_logit_softcapping", 30.0, "final_logit_softcapping"),
            ("attn_logit_softcapping", 50.0, "attn_logit_softcapping"),
            ("use_bidirectional_attention", true, "use_bidirectional_attention"),
            ("hidden_activation", "gelu", "hidden_activation"),
            ("layer_types", ["sliding_attention"], "layer_types"),
        ]
        for (key, value, field) in cases {
            var json = source
            json[key] = value
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("slm-gemma-\(UUID().uuidString).json").path
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            XCTAssertThrowsError(try HuggingFaceConfig.load(path: path).modelConfig(file: path), key) { error in
                XCTAssertEqual((error as? FormatError)?.field, field, "\(error)")
            }
        }
    }

    /// The converter-layout GGUF file (norms stored as 1 + w, gemma3 keys) gives the folder's logits.
    func testGemma3GGUFMatchesTransformers() throws {
        let model = try assertMatches("gemma3.gguf", expected.hf_gemma3)
        XCTAssertEqual(model.config.architecture, "gemma3_text")
        XCTAssertEqual(model.config.gemma?.slidingLayers, [true, true, true, true, true, false])
        XCTAssertEqual(model.config.gemma?.queryPreAttentionScalar, 16)
        XCTAssertEqual(model.config.slidingWindow, 4)
        let folder = try ModelLoader.load(path: Fixture.path("hf_gemma3")).model
        XCTAssertEqual(model.config.rope, folder.config.rope)
        XCTAssertEqual(model.config.gemma?.slidingRope, folder.config.gemma?.slidingRope)
    }

    // MARK: LoRA

    /// PEFT's adapter on q/k/v/o/gate/up/down loads onto the Gemma projections and gives PEFT's logits;
    /// merged into the weights it gives those of PEFT's merge_and_unload.
    func testPEFTAdapterOnEveryProjectionGivesPEFTsLogitsAndMerges() throws {
        let model = try ModelLoader.load(path: Fixture.path("hf_gemma3")).model
        let (config, adapters) = try PEFTAdapter.load(Fixture.path("peft_gemma_adapter"), into: model)
        XCTAssertEqual(Set(config.targetModules), Set(model.loraTargets))
        XCTAssertEqual(adapters.count, 7 * 6)
        XCTAssertLessThanOrEqual(try worstError(model, expected.peft), 1e-4, "base + adapter")
        try model.mergeLoRA()
        XCTAssertLessThanOrEqual(try worstError(model, expected.merged), 1e-4, "merged")
    }

    /// Training through Gemma's layers: the probe's cross-entropy under base + adapter and the adapter's
    /// gradients (lora_A and lora_B of attention and MLP projections, sliding and full layers) equal
    /// PyTorch + PEFT's.
    func testLoRAGradientsThroughGemmaEqualPEFTs() throws {
        let model = try ModelLoader.load(path: Fixture.path("hf_gemma3")).model
        let (_, adapters) = try PEFTAdapter.load(Fixture.path("peft_gemma_adapter"), into: model)
        for adapter in adapters.values { for t in adapter.parameters { t.requiresGrad = true } }
        let ids = expected.ids
        let labels = Array(ids.dropFirst()) + [Tensor.ignoreIndex]
        let hidden = try model.hiddenStates(ids, batch: 1, sequence: ids.count)
        let head = try Tensor.lossHead(hidden: hidden, weight: model.lmHead, labels: labels)
        XCTAssertEqual(try XCTUnwrap(head.crossEntropy), expected.lora_loss, accuracy: 1e-5)
        try head.loss.backward()
        for (name, reference) in expected.lora_grads {
            let module = String(name.dropLast(".lora_A".count))  // "model.layers.N.self_attn.q_proj"
            let adapter = try XCTUnwrap(adapters[module], name)
            let tensor = name.hasSuffix("lora_A") ? adapter.loraA : adapter.loraB
            let grad = try XCTUnwrap(tensor.grad, name).scalars
            XCTAssertEqual(grad.count, reference.count, name)
            let scale = reference.map(abs).max()!
            let worst = zip(grad, reference).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-4 * max(scale, 1), "\(name): max |grad − PEFT| (largest \(scale))")
        }
    }

    /// An adapter slm trains and saves on a Gemma model loads back to the same logits.
    func testAdapterSavedOnGemmaLoadsBack() throws {
        let model = try ModelLoader.load(path: Fixture.path("hf_gemma3")).model
        let adapters = try model.addLoRA(LoRAConfig(r: 2, loraAlpha: 4), targetModules: model.loraTargets, seed: 7)
        for adapter in adapters.values { for i in 0..<adapter.loraB.count { adapter.loraB.data[i] = Float(i % 5) * 0.05 - 0.1 } }
        let ids = expected.ids
        let before = try model.promptLogits(ids)
        let folder = temporaryPath("slm-gemma", create: true) + "/adapter"
        try PEFTAdapter.save(adapters, config: .init(lora: LoRAConfig(r: 2, loraAlpha: 4), targetModules: model.loraTargets, baseModel: "hf_gemma3"), to: folder)
        let reloaded = try ModelLoader.load(path: Fixture.path("hf_gemma3")).model
        try PEFTAdapter.load(folder, into: reloaded)
        let after = try GradMode.withoutGrad { try reloaded.logits(try reloaded.hiddenStates(ids, batch: 1, sequence: ids.count)) }
        XCTAssertEqual(before.scalars, after.scalars)
    }

    // MARK: export


    /// The folder exported as F32 GGUF holds what the converter-layout fixture holds (its tensor names,
    /// norms + 1, bytes, and every gemma3.* key), and reads back to transformers' logits.
    func testGemma3FolderExportsAsTheConvertersGGUF() throws {
        let out = temporaryPath("slm-gemma", create: true) + "/gemma3.gguf"
        try MergeExport.gguf(try MergeExport.loadBase(Fixture.path("hf_gemma3"), adapter: nil), out: out, fileType: .f32, probe: nil)
        let (written, converter) = (try GGUFFile(path: out), try GGUFFile(path: Fixture.path("gemma3.gguf")))
        XCTAssertEqual(written["general.architecture"]?.string, "gemma3")
        XCTAssertEqual(Set(written.tensors.map(\.name)), Set(converter.tensors.map(\.name)))
        for info in converter.tensors {
            let copy = try XCTUnwrap(written.tensor(named: info.name))
            XCTAssertEqual(copy.shape, info.shape, info.name)
            XCTAssertEqual(Array(written.bytes(of: copy)), Array(converter.bytes(of: info)), info.name)
        }
        for (key, value) in converter.metadata where key.hasPrefix("gemma3.") {
            XCTAssertEqual(written[key].map { "\($0)" }, "\(value)", key)
        }
        XCTAssertNil(written["gemma3.attention.sliding_window_pattern"], "llama.cpp's default pattern needs no key")
        try assertMatches(out, expected.hf_gemma3)
    }

    /// Base + PEFT adapter merged and exported (F32 GGUF and a folder) gives PEFT's merge_and_unload logits.
    func testMergedGemmaExportsToGGUFAndFolder() throws {
        let base = try MergeExport.loadBase(Fixture.path("hf_gemma3"), adapter: Fixture.path("peft_gemma_adapter"))
        let gguf = temporaryPath("slm-gemma", create: true) + "/merged.gguf"
        try MergeExport.gguf(base, out: gguf, fileType: .f32, probe: nil)
        try assertMatches(gguf, expected.merged)
        let folder = temporaryPath("slm-gemma", create: true) + "/merged"
        _ = try MergeExport.safetensors(base, out: folder, dtype: .f32, probe: nil)
        try assertMatches(folder, expected.merged)
    }

    /// The adapter alone in llama.cpp's LoRA format names the base's GGUF architecture (gemma3, not
    /// gemma3_text) and llama.cpp's projection names, B rows not interleaved.
    func testAdapterAloneExportsForTheGemma3Architecture() throws {
        let out = temporaryPath("slm-gemma", create: true) + "/adapter.gguf"
        let request = MergeExport.Request(
            base: Fixture.path("hf_gemma3"), adapter: Fixture.path("peft_gemma_adapter"), out: out, format: .loraGGUF,
            fileType: .f32, dtype: .f32, probe: nil)
        _ = try MergeExport.run(request)
        let file = try GGUFFile(path: out)
        XCTAssertEqual(file["general.architecture"]?.string, "gemma3")
        XCTAssertEqual(file.tensors.count, 6 * 7 * 2)
        let (_, adapters) = try PEFTAdapter.load(Fixture.path("peft_gemma_adapter"), into: try ModelLoader.load(path: Fixture.path("hf_gemma3")).model)
        let b = try XCTUnwrap(file.tensor(named: "blk.3.attn_q.weight.lora_b"))
        XCTAssertEqual(Array(file.bytes(of: b).bindMemory(to: Float.self)), try XCTUnwrap(adapters["model.layers.3.self_attn.q_proj"]).loraB.scalars)
    }

    /// A gemma3 GGUF exported as a Hugging Face folder gets Gemma3ForCausalLM's config.json
    /// (layer_types, rope_parameters per layer type, query_pre_attn_scalar) and the same logits.
    func testGemma3GGUFBecomesAGemma3TextFolder() throws {
        let out = temporaryPath("slm-gemma", create: true) + "/gemma3"
        _ = try MergeExport.safetensors(try MergeExport.loadBase(Fixture.path("gemma3.gguf"), adapter: nil), out: out, dtype: .f32, probe: nil)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        XCTAssertEqual(config["model_type"] as? String, "gemma3_text")
        XCTAssertEqual(config["architectures"] as? [String], ["Gemma3ForCausalLM"])
        XCTAssertEqual(config["layer_types"] as? [String], Array(repeating: "sliding_attention", count: 5) + ["full_attention"])
        let rope = try XCTUnwrap(config["rope_parameters"] as? [String: [String: Any]])
        XCTAssertEqual(rope["full_attention"]?["rope_type"] as? String, "linear")
        XCTAssertEqual(rope["full_attention"]?["factor"] as? Double, 8)
        XCTAssertEqual(rope["sliding_attention"]?["rope_theta"] as? Double, 10_000)
        try assertMatches(out, expected.hf_gemma3)
    }

    /// The transformers 4.x folder's query_pre_attn_scalar (24 ≠ head_dim 16) is refused for GGUF:
    /// llama.cpp would scale attention otherwise. Its folder export is fine.
    func testGGUFExportRefusesAScaleLlamaCppCannotExpress() throws {
        let out = temporaryPath("slm-gemma", create: true) + "/v4.gguf"
        XCTAssertThrowsError(try MergeExport.gguf(try MergeExport.loadBase(Fixture.path("hf_gemma3_v4"), adapter: nil), out: out, fileType: .f32, probe: nil)) {
            XCTAssertEqual(($0 as? FormatError)?.field, "query_pre_attn_scalar", "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let folder = temporaryPath("slm-gemma", create: true) + "/v4"
        _ = try MergeExport.safetensors(try MergeExport.loadBase(Fixture.path("hf_gemma3_v4"), adapter: nil), out: folder, dtype: .f32, probe: nil)
        try assertMatches(folder, expected.hf_gemma3_v4)
    }
}
