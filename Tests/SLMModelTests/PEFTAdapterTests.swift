import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// PEFT adapters both ways (fixtures/make_peft_adapter.py): PEFT's file into slm, and slm's file back.
final class PEFTAdapterTests: XCTestCase {
    struct Expected: Decodable {
        let ids: [Int32]
        let logits: [[Float]]
    }

    override func setUp() { Parallel.setThreads(2) }

    private func base() throws -> Transformer { try ModelLoader.load(path: Fixture.path("hf_llama")).model }


    func testPEFTMadeAdapterGivesPEFTsLogits() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("peft_adapter_expected.json"))))
        let model = try base()
        let (config, adapters) = try PEFTAdapter.load(Fixture.path("peft_adapter"), into: model)
        XCTAssertEqual(config.lora, LoRAConfig(r: 4, loraAlpha: 8, useRSLoRA: true))
        XCTAssertEqual(adapters.count, 2 * 3)
        let reference = try Tensor(expected.logits.flatMap { $0 }, shape: [expected.ids.count, expected.logits[0].count])
        assertClose(try model.promptLogits(expected.ids), reference, tolerance: 1e-4, "base + PEFT adapter")
    }

    func testMergedModelGivesTheLogitsOfBasePlusAdapter() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("peft_adapter_expected.json"))))
        let model = try base()
        try PEFTAdapter.load(Fixture.path("peft_adapter"), into: model)
        let unmerged = try model.promptLogits(expected.ids)
        try model.mergeLoRA()
        XCTAssertFalse(model.layers.contains { layer in DecoderLayerWeights.projectionsForTests(layer.weights).contains { $0 is LoRALinear } })
        let merged = try model.promptLogits(expected.ids)
        assertClose(merged, unmerged, tolerance: 1e-5, "merged vs base + adapter")
        let reference = try Tensor(expected.logits.flatMap { $0 }, shape: [expected.ids.count, expected.logits[0].count])
        assertClose(merged, reference, tolerance: 1e-4, "merged vs PEFT")
    }

    func testSavedAdapterLoadsBackToTheSameModel() throws {
        let model = try base()
        let lora = LoRAConfig(r: 2, loraAlpha: 4)
        let adapters = try model.addLoRA(lora, targetModules: ["k_proj", "o_proj", "gate_proj", "up_proj"], seed: 9)
        for adapter in adapters.values {  // B starts at zero; give the update something to carry
            for i in 0..<adapter.loraB.count { adapter.loraB.data[i] = Float(i % 7) * 0.01 - 0.03 }
        }
        let folder = temporaryPath("slm-adapter")
        let config = PEFTAdapter.Config(lora: lora, targetModules: ["k_proj", "o_proj", "gate_proj", "up_proj"], baseModel: "hf_llama")
        try PEFTAdapter.save(adapters, config: config, to: folder)
        let reloaded = try base()
        let (readConfig, _) = try PEFTAdapter.load(folder, into: reloaded)
        XCTAssertEqual(readConfig, config)
        let ids: [Int32] = [5, 9, 200, 31]
        XCTAssertEqual(try reloaded.promptLogits(ids).scalars, try model.promptLogits(ids).scalars)
        XCTAssertNotEqual(try reloaded.promptLogits(ids).scalars, try base().promptLogits(ids).scalars)
    }

    func testMismatchedAdaptersAreRefusedNamingTheTensor() throws {
        let folder = temporaryPath("slm-adapter")
        let model = try base()
        let adapters = try model.addLoRA(LoRAConfig(r: 2, loraAlpha: 4), targetModules: ["q_proj"], seed: 1)
        // The config claims r = 3, the tensors have r = 2; the model is left as it was.
        try PEFTAdapter.save(adapters, config: .init(lora: LoRAConfig(r: 3, loraAlpha: 4), targetModules: ["q_proj"], baseModel: nil), to: folder)
        let untouched = try base()
        XCTAssertThrowsError(try PEFTAdapter.load(folder, into: untouched)) {
            XCTAssertTrue("\($0)".contains("model.layers.0.self_attn.q_proj.lora_A.weight"), "\($0)")
        }
        XCTAssertFalse(untouched.layers.contains { $0.weights.qProj is LoRALinear }, "no adapter attached after an error")
        // The config targets a module the file has no tensors for.
        try PEFTAdapter.save(adapters, config: .init(lora: LoRAConfig(r: 2, loraAlpha: 4), targetModules: ["q_proj", "v_proj"], baseModel: nil), to: folder)
        XCTAssertThrowsError(try PEFTAdapter.load(folder, into: try base())) { XCTAssertTrue("\($0)".contains("v_proj"), "\($0)") }
        XCTAssertThrowsError(try model.addLoRA(LoRAConfig(r: 2, loraAlpha: 4), targetModules: ["qkv_proj"], seed: 1)) {
            XCTAssertTrue("\($0)".contains("qkv_proj"), "\($0)")
        }
        try "{\"peft_type\": \"LORA\", \"r\": 2}".write(toFile: folder + "/adapter_config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PEFTAdapter.load(folder, into: try base())) {
            XCTAssertTrue("\($0)".contains("adapter_config.json") && "\($0)".contains("lora_alpha"), "\($0)")
        }
    }
}

extension DecoderLayerWeights {
    static func projectionsForTests(_ w: DecoderLayerWeights) -> [any LinearWeight] {
        w.projections.map { w[keyPath: $0.path] }
    }
}
