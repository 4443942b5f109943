import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import SLMTraining
import XCTest

/// A recipe's LoRA on a Phi model (Tests/Fixtures/hf_phi4mini): the fused projections are targets,
/// `all-linear` (the default) is those, and Llama's names are refused naming the recipe key and the model's own projections.
final class PhiLoRATrainingTests: XCTestCase {
    private func model() throws -> Transformer { try ModelLoader.load(path: Fixture.path("hf_phi4mini")).model }

    func testFusedProjectionsAreTargets() throws {
        var section = Recipe.LoRASection()
        section.targetModules = ["qkv_proj", "gate_up_proj"]
        let trainable = try TrainableParameters.lora(section, model: try model(), baseModel: "hf_phi4mini", seed: 1)
        XCTAssertEqual(trainable.named.map(\.name).first, "base_model.model.model.layers.0.mlp.gate_up_proj.lora_A.weight")
        XCTAssertEqual(trainable.named.count, 2 * 2 * 2)
    }

    func testDefaultAllLinearTakesTheFusedProjectionsAndListsThem() throws {
        let trainable = try TrainableParameters.lora(Recipe.LoRASection(), model: try model(), baseModel: "hf_phi4mini", seed: 1)
        guard case .lora(_, let config) = trainable.kind else { return XCTFail("not LoRA") }
        XCTAssertEqual(Set(config.targetModules), ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
        XCTAssertEqual(trainable.named.count, 4 * 2 * 2)
    }

    func testLlamaNamesAreRefusedNamingPhisProjections() throws {
        var section = Recipe.LoRASection()
        section.targetModules = ["q_proj", "v_proj"]
        XCTAssertThrowsError(try TrainableParameters.lora(section, model: try model(), baseModel: "hf_phi4mini", seed: 1)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("lora.target_modules") && text.contains("\"q_proj\"") && text.contains("qkv_proj, o_proj, gate_up_proj, down_proj"), text)
        }
    }
}
