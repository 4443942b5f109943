import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// Phi-3 and Phi-4-mini (fixtures/make_phi.py): tiny random models with fused qkv_proj and
/// gate_up_proj, partial rotary dimensions and LongRoPE, against the logits transformers computes.
final class PhiFamilyTests: XCTestCase {
    struct Expected: Decodable {
        let ids: [Int32]
        let hf_phi3: [[Float]]
        let hf_phi4mini: [[Float]]
        let hf_phi4mini_short: [[Float]]
        let hf_phi4mini_decode: [[Float]]
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("phi_expected.json"))))

    override func setUp() { Parallel.setThreads(2) }

    @discardableResult
    private func assertMatches(_ path: String, _ reference: [[Float]], ids: [Int32]? = nil, line: UInt = #line) throws -> Transformer {
        let model = try ModelLoader.load(path: path.hasPrefix("/") ? path : Fixture.path(path)).model
        let out = try model.promptLogits(ids ?? expected.ids)
        XCTAssertEqual(out.shape, [reference.count, 256], line: line)
        XCTAssertLessThanOrEqual(worstDifference(out, reference), 1e-4, "\(path): max |logit − transformers|", line: line)
        return model
    }

    func testPhi3WithFusedProjectionsMatchesTransformers() throws {
        let model = try assertMatches("hf_phi3", expected.hf_phi3)
        XCTAssertEqual(model.config.architecture, "phi3")
        XCTAssertTrue(model.config.fusedProjections)
        XCTAssertFalse(model.config.tieWordEmbeddings)
        XCTAssertEqual(model.config.slidingWindow, 6)
        XCTAssertEqual(model.config.rope.rotaryDim, 8)
        XCTAssertNil(model.config.longRope)
        let names = Set(model.namedParameters.map(\.name))
        XCTAssertTrue(names.contains("model.layers.1.self_attn.qkv_proj.weight"))
        XCTAssertTrue(names.contains("model.layers.1.mlp.gate_up_proj.weight"))
        XCTAssertFalse(names.contains("model.layers.1.self_attn.q_proj.weight"))
        XCTAssertEqual(model.loraTargets, ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
    }

    /// 22 tokens reach past the original context of 16: every position uses the long factors.
    func testPhi4MiniWithPartialRotaryAndLongRopeMatchesTransformers() throws {
        let model = try assertMatches("hf_phi4mini", expected.hf_phi4mini)
        XCTAssertTrue(model.config.tieWordEmbeddings)
        XCTAssertEqual(model.config.rope.rotaryDim, 6)
        XCTAssertEqual(model.config.longRope?.originalMaxPositions, 16)
        // factor 64 / 16 = 4: cos and sin scaled by √(1 + ln 4 / ln 16) = √1.5
        XCTAssertEqual(model.config.rope.attentionScaling, 1.5.squareRoot(), accuracy: 1e-12)
    }

    /// 12 tokens fit in the original context: the short factors apply.
    func testPhi4MiniWithinTheOriginalContextUsesTheShortFactors() throws {
        try assertMatches("hf_phi4mini", expected.hf_phi4mini_short, ids: Array(expected.ids.prefix(12)))
    }

    /// Decoding one token at a time crosses the original context at position 16 as transformers'
    /// cache does: new tokens switch to the long factors, cached keys keep the short ones.
    func testPhi4MiniCachedDecodingAcrossTheOriginalContextMatchesTransformers() throws {
        let model = try ModelLoader.load(path: Fixture.path("hf_phi4mini")).model
        let cache = try KVCache(config: model.config, maxTokens: 32)
        var logits = try model.nextTokenLogits([expected.ids[0]], cache: cache)
        for position in 1..<expected.ids.count {
            logits = try model.nextTokenLogits([expected.ids[position]], cache: cache)
            guard position >= 12 else { continue }
            let worst = (0..<256).map { abs(logits.data[$0] - expected.hf_phi4mini_decode[position - 12][$0]) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-4, "position \(position)")
        }
    }

    /// A temporary copy of fixture folder `name` with its config.json changed by `change`.
    private func copy(_ name: String, config change: (inout [String: Any]) -> Void) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("slm-phi-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: Fixture.path(name), toPath: out.path)
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        let url = out.appendingPathComponent("config.json")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return out.path
    }

    /// Phi-4-mini's own config.json (transformers 4.x): partial_rotary_factor and
    /// original_max_position_embeddings top-level, rope_scaling {type longrope, short/long factors}.
    func testTransformers4PhiConfigReadsTheSameAsTransformers5() throws {
        let folder = try copy("hf_phi4mini") { config in
            let parameters = config.removeValue(forKey: "rope_parameters") as! [String: Any]
            config["rope_theta"] = parameters["rope_theta"]
            config["rope_scaling"] = ["type": "longrope", "short_factor": parameters["short_factor"]!, "long_factor": parameters["long_factor"]!]
        }
        try assertMatches(folder, expected.hf_phi4mini)
    }

    func testLongRopeFactorsOfTheWrongLengthAreRefusedNamingTheKey() throws {
        let folder = try copy("hf_phi4mini") { config in
            var parameters = config["rope_parameters"] as! [String: Any]
            parameters["long_factor"] = [1.0, 2.0]
            config["rope_parameters"] = parameters
        }
        XCTAssertThrowsError(try ModelLoader.load(path: folder)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("config.json") && text.contains("rope_parameters") && text.contains("long_factor"), text)
        }
    }
}
