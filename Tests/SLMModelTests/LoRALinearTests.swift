import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// LoRALinear against PEFT's LoRA layer (fixtures/make_lora.py).
final class LoRALinearTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testMatchesPEFTForwardAndGradients() throws {
        let f = try Fixture("lora.json")
        for (name, rslora) in [("lora", false), ("rslora", true)] {
            let base = try f.tensor("\(name).base")
            let lora = try LoRALinear(
                base: base, config: LoRAConfig(r: 4, loraAlpha: 8, useRSLoRA: rslora),
                loraA: try f.tensor("\(name).lora_A"), loraB: try f.tensor("\(name).lora_B"))
            let x = try f.tensor("\(name).x", requiresGrad: true)
            let y = try x.linear(lora)
            assertClose(y, try f.tensor("\(name).y"), tolerance: 1e-5, "\(name) y")
            try y.backward(seed: try f.tensor("\(name).grad_y"))
            // Gradients are Float32 sums over 15 tokens in another order than PyTorch's; dA reaches ~120.
            assertClose(try XCTUnwrap(x.grad), try f.tensor("\(name).grad_x"), tolerance: 1e-5, "\(name) dx")
            assertClose(try XCTUnwrap(lora.loraA.grad), try f.tensor("\(name).grad_A"), tolerance: 3e-5, "\(name) dA")
            assertClose(try XCTUnwrap(lora.loraB.grad), try f.tensor("\(name).grad_B"), tolerance: 3e-5, "\(name) dB")
            XCTAssertNil(base.grad, "the base stays frozen")
        }
    }

    func testStartsAsTheBaseLayerWithPEFTsInitialisation() throws {
        let base = Tensor.uniform([10, 64], seed: 1)
        let lora = try LoRALinear(base: base, config: LoRAConfig(r: 8, loraAlpha: 16), seed: 3)
        let x = Tensor.uniform([4, 64], seed: 2)
        XCTAssertEqual(try x.linear(lora).scalars, try x.linear(base, bias: nil).scalars)
        let bound = 1 / Float(64).squareRoot()
        XCTAssertTrue(lora.loraA.scalars.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(lora.loraA.scalars.map(abs).max()!, 0.9 * bound)
        XCTAssertTrue(lora.loraB.scalars.allSatisfy { $0 == 0 })
    }

    func testWrapsAQuantizedBaseAndGradientChecks() throws {
        let base = Tensor.uniform([6, 32], seed: 1)
        let lora = try LoRALinear(
            base: base, config: LoRAConfig(r: 2, loraAlpha: 4, useRSLoRA: true),
            loraA: Tensor.uniform([2, 32], seed: 2), loraB: Tensor.uniform([6, 2], seed: 3))
        let x = Tensor.uniform([3, 32], seed: 4, requiresGrad: true)
        try GradientCheck.check([x, lora.loraA, lora.loraB]) { v in try v[0].linear(lora) }
    }

    func testDropoutIsSeededAndOffInEvaluation() throws {
        let base = Tensor.uniform([6, 32], seed: 1)
        let lora = try LoRALinear(
            base: base, config: LoRAConfig(r: 2, loraAlpha: 4, loraDropout: 0.5),
            loraA: Tensor.uniform([2, 32], seed: 2), loraB: Tensor.uniform([6, 2], seed: 3))
        let x = Tensor.uniform([3, 32], seed: 4, requiresGrad: true)
        lora.dropoutSeed = 7
        let first = try x.linear(lora).scalars
        XCTAssertEqual(try x.linear(lora).scalars, first, "same seed, same mask")
        lora.dropoutSeed = 8
        XCTAssertNotEqual(try x.linear(lora).scalars, first)
        let evaluation = try GradMode.withoutGrad { try x.linear(lora).scalars }
        let noDropout = try LoRALinear(base: base, config: LoRAConfig(r: 2, loraAlpha: 4), loraA: lora.loraA, loraB: lora.loraB)
        XCTAssertEqual(evaluation, try GradMode.withoutGrad { try x.linear(noDropout).scalars })
    }

    func testFusedProjectionWithDropoutEqualsTheComposedOpsAndGradientChecks() throws {
        let base = Tensor.uniform([6, 32], seed: 1)
        let a = Tensor.uniform([2, 32], seed: 2, requiresGrad: true), b = Tensor.uniform([6, 2], seed: 3, requiresGrad: true)
        let x = Tensor.uniform([5, 32], seed: 4, requiresGrad: true)
        let seedGrad = Tensor.uniform([5, 6], seed: 5)
        func composed(_ v: [Tensor]) throws -> Tensor {
            try v[0].linear(base, bias: nil) + v[0].dropout(probability: 0.3, seed: 9).linear(v[1], bias: nil).linear(v[2], bias: nil).scaled(by: 1.5)
        }
        func fused(_ v: [Tensor]) throws -> Tensor {
            try Tensor.loraProjection(v[0], base: base, a: v[1], b: v[2], scaling: 1.5, dropout: 0.3, seed: 9)
        }
        var results: [[Float]] = []
        for f in [composed, fused] {
            [x, a, b].forEach { $0.zeroGrad() }
            let y = try f([x, a, b])
            try y.backward(seed: seedGrad)
            results.append(y.scalars + x.grad!.scalars + a.grad!.scalars + b.grad!.scalars)
        }
        for (c, f) in zip(results[0], results[1]) { XCTAssertEqual(c, f, accuracy: 1e-5) }
        try GradientCheck.check([x, a, b], fused)
        XCTAssertThrowsError(try Tensor.loraProjection(x, base: a, a: a, b: b, scaling: 1, dropout: 0, seed: 0), "a trainable base cannot be folded")
    }

    func testRefusesMismatchedShapes() {
        let base = Tensor.zeros([6, 32])
        XCTAssertThrowsError(try LoRALinear(base: base, config: LoRAConfig(r: 2, loraAlpha: 4), loraA: .zeros([2, 31]), loraB: .zeros([6, 2])))
        XCTAssertThrowsError(try LoRALinear(base: base, config: LoRAConfig(r: 0, loraAlpha: 4), seed: 1))
        XCTAssertThrowsError(try LoRALinear(base: base, config: LoRAConfig(r: 2, loraAlpha: 4, loraDropout: 1), seed: 1))
    }
}
