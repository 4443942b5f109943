import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// The composed layer against transformers' LlamaDecoderLayer (fixtures/make_decoder_layer.py).
final class DecoderLayerTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testMatchesTransformersLlamaDecoderLayer() throws {
        let f = try Fixture("decoder_layer.json")
        let names = [
            "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
            "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
            "mlp.down_proj.weight",
        ]
        let p = try names.map { try f.tensor($0, requiresGrad: true) }
        let weights = DecoderLayerWeights(
            inputLayernorm: p[0], qProj: p[1], kProj: p[2], vProj: p[3], oProj: p[4],
            postAttentionLayernorm: p[5], gateProj: p[6], upProj: p[7], downProj: p[8])
        let config = DecoderLayerConfig(
            hiddenSize: 32, heads: 4, kvHeads: 2, headDim: 8, intermediateSize: 48, rmsNormEps: 1e-5,
            rope: try .standard(base: 10_000, rotaryDim: 8))
        let layer = DecoderLayer(config: config, weights: weights)
        let x = try f.tensor("x", requiresGrad: true)
        let positions: [Int32] = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
        let out = try layer.forward(try x.reshaped([10, 32]), batch: 2, sequence: 5, positions: positions)
        assertClose(try out.reshaped([2, 5, 32]), try f.tensor("out"), tolerance: 1e-5, "output")
        try out.backward(seed: try f.tensor("grad_out").reshaped([10, 32]))
        assertClose(try XCTUnwrap(x.grad), try f.tensor("grad_x"), tolerance: 1e-4, "dx")
        for (name, tensor) in zip(names, p) {
            assertClose(try XCTUnwrap(tensor.grad), try f.tensor("grad." + name), tolerance: 1e-4, name)
        }
    }

    func testRecomputedLayerGivesTheSameGradients() throws {
        let config = DecoderLayerConfig(
            hiddenSize: 32, heads: 4, kvHeads: 2, headDim: 8, intermediateSize: 48, rmsNormEps: 1e-5,
            rope: try .standard(base: 10_000, rotaryDim: 8))
        let layer = DecoderLayer(config: config, weights: .random(config, seed: 3, requiresGrad: true))
        let x = Tensor.uniform([12, 32], seed: 4, requiresGrad: true)
        let positions = (0..<12).map { Int32($0 % 6) }
        func grads(recompute: Bool) throws -> [[Float]] {
            ([x] + layer.weights.all).forEach { $0.zeroGrad() }
            let y = recompute
                ? try Tensor.recomputed([x]) { try layer.forward($0[0], batch: 2, sequence: 6, positions: positions) }
                : try layer.forward(x, batch: 2, sequence: 6, positions: positions)
            try y.sum().backward()
            return ([x] + layer.weights.all).map { $0.grad!.scalars }
        }
        XCTAssertEqual(try grads(recompute: true), try grads(recompute: false))
    }

    func testLayerForwardBackwardIsBitwiseRepeatable() throws {
        let config = try DecoderLayerConfig.smolLM2_135M()
        let layer = DecoderLayer(config: config, weights: .random(config, seed: 5, requiresGrad: true))
        let positions = (0..<128).map { Int32($0 % 64) }
        let segments = (0..<128).map { Int32($0 / 40) }
        func run() throws -> [[UInt32]] {
            layer.weights.all.forEach { $0.zeroGrad() }
            let x = Tensor.uniform([128, config.hiddenSize], seed: 6, requiresGrad: true)
            let y = try layer.forward(x, batch: 2, sequence: 64, positions: positions, mask: AttentionMask(segments: segments))
            try y.backward(seed: Tensor.uniform(y.shape, seed: 7))
            return ([y, x.grad!] + layer.weights.all.map { $0.grad! }).map { $0.scalars.map(\.bitPattern) }
        }
        let first = try run()
        XCTAssertEqual(try run(), first)
    }
}
