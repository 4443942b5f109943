import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// LoRA on Phi's fused projections (fixtures/make_phi.py): one adapter on qkv_proj and one on
/// gate_up_proj, as PEFT makes them, both ways between PEFT and slm, and merged.
final class PhiLoRATests: XCTestCase {
    struct Expected: Decodable {
        let ids: [Int32]
        let peft_logits: [[Float]]
        let merged_logits: [[Float]]
        let merged_qkv_rows: [[Float]]
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("phi_expected.json"))))

    override func setUp() { Parallel.setThreads(2) }

    private func base() throws -> Transformer { try ModelLoader.load(path: Fixture.path("hf_phi4mini")).model }


    func testPEFTAdapterOnFusedProjectionsGivesPEFTsLogits() throws {
        let model = try base()
        let (config, adapters) = try PEFTAdapter.load(Fixture.path("peft_phi_adapter"), into: model)
        XCTAssertEqual(Set(config.targetModules), ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
        XCTAssertEqual(adapters.count, 2 * 4)
        let qkv = try XCTUnwrap(model.layers[0].weights.qkvProj as? LoRALinear)
        XCTAssertEqual(qkv.loraB.shape, [(4 + 2 * 2) * 8, 4])
        XCTAssertEqual(try XCTUnwrap(model.layers[1].weights.gateUpProj as? LoRALinear).loraB.shape, [2 * 64, 4])
        let out = try model.promptLogits(expected.ids)
        XCTAssertLessThanOrEqual(worstDifference(out, expected.peft_logits), 1e-4, "base + PEFT adapter vs PEFT")
    }

    /// W + s·B·A folded into the fused weights equals PEFT's merge_and_unload, weights and logits.
    func testMergeMatchesPEFTsMergeAndUnload() throws {
        let model = try base()
        try PEFTAdapter.load(Fixture.path("peft_phi_adapter"), into: model)
        try model.mergeLoRA()
        let qkv = try XCTUnwrap(model.layers[1].weights.qkvProj as? Tensor)
        for (row, reference) in zip([0, 32, 48], expected.merged_qkv_rows) {
            for (j, value) in reference.enumerated() { XCTAssertEqual(qkv.data[row * 32 + j], value, accuracy: 1e-6, "row \(row)") }
        }
        let out = try model.promptLogits(expected.ids)
        XCTAssertLessThanOrEqual(worstDifference(out, expected.merged_logits), 1e-4, "merged vs PEFT's merge_and_unload")
    }

    /// An adapter slm makes on the fused projections is written with PEFT's names and shapes (those
    /// of the PEFT-made fixture), and loads back to the same model.
    func testSavedAdapterHasPEFTsNamesAndShapesAndLoadsBack() throws {
        let model = try base()
        let targets = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
        let lora = LoRAConfig(r: 4, loraAlpha: 8)
        let adapters = try model.addLoRA(lora, targetModules: targets, seed: 3)
        for adapter in adapters.values {  // B starts at zero; give the update something to carry
            for i in 0..<adapter.loraB.count { adapter.loraB.data[i] = Float(i % 7) * 0.01 - 0.03 }
        }
        let folder = temporaryPath("slm-phi-adapter")
        try PEFTAdapter.save(adapters, config: PEFTAdapter.Config(lora: lora, targetModules: targets, baseModel: "hf_phi4mini"), to: folder)
        let (written, peft) = (try SafetensorsFile(path: folder + "/adapter_model.safetensors"),
                               try SafetensorsFile(path: Fixture.path("peft_phi_adapter/adapter_model.safetensors")))
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: written.tensors.map { ($0.name, $0.shape) }),
                       Dictionary(uniqueKeysWithValues: peft.tensors.map { ($0.name, $0.shape) }))
        let ids = Array(expected.ids.prefix(10))
        let before = try model.promptLogits(ids)
        let reloaded = try base()
        try PEFTAdapter.load(folder, into: reloaded)
        assertClose(try reloaded.promptLogits(ids), before, tolerance: 0, "saved and reloaded adapter")
    }

    /// A Llama projection name on a Phi model is refused, naming the projections the model has.
    func testUnknownTargetNamesTheModelsProjections() throws {
        let model = try base()
        XCTAssertThrowsError(try model.addLoRA(LoRAConfig(r: 2, loraAlpha: 4), targetModules: ["q_proj", "v_proj"], seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("\"q_proj\"") && "\(error)".contains("qkv_proj, o_proj, gate_up_proj, down_proj"), "\(error)")
        }
        XCTAssertNil(model.layers[0].weights.qkvProj as? LoRALinear, "no adapter attached after an error")
    }
}
