import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// Depth pruning: even layer choice, layer importance against transformers (forward hooks), and the
/// pruned model equal to running only the kept layers.
final class DepthPruningTests: XCTestCase {
    func testEvenLayersKeepFirstAndLastSpreadEvenly() {
        XCTAssertEqual(DepthPruning.evenLayers(total: 30, keep: 15), [0, 2, 4, 6, 8, 10, 12, 15, 17, 19, 21, 23, 25, 27, 29])
        XCTAssertEqual(DepthPruning.evenLayers(total: 4, keep: 4), [0, 1, 2, 3])
        XCTAssertEqual(DepthPruning.evenLayers(total: 5, keep: 1), [0])
        XCTAssertEqual(DepthPruning.mostImportant([0.1, 0.5, 0.2, 0.5], keep: 2), [1, 3])
    }

    func testImportanceEqualsTransformersBlockInfluence() throws {
        let fixture = try Fixture("depth_pruning.json")
        let (model, _) = try ModelLoader.load(path: Fixture.path("hf_llama"))
        let calibration = try (0..<2).map { try fixture.values("seq\($0).ids").map { Int32($0) } }
        let importance = try DepthPruning.importance(of: model, calibration: calibration)
        let expected = try fixture.values("importance")
        XCTAssertEqual(importance.count, expected.count)
        for (a, b) in zip(importance, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testPrunedModelRunsOnlyTheKeptLayers() throws {
        let (model, _) = try ModelLoader.load(path: Fixture.path("hf_llama"))
        let pruned = model.keepingLayers([1])
        XCTAssertEqual(pruned.config.layers, 1)
        let ids: [Int32] = [5, 80, 12, 33]
        let positions = (0..<4).map(Int32.init)
        let expected = try model.layers[1].forward(model.embedTokens.embedding(ids), batch: 1, sequence: 4, positions: positions)
            .rmsNorm(weight: model.norm, eps: model.config.rmsNormEps)
        XCTAssertEqual(try pruned.hiddenStates(ids, batch: 1, sequence: 4).scalars, expected.scalars)
    }
}
