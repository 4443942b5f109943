import SLMTensor
import SLMTestSupport
import SLMTraining
import XCTest

/// AdamW, clipping and schedules against torch.optim.AdamW, clip_grad_norm_ and transformers' schedules
/// (fixtures/make_optimizer.py).
final class OptimizerTests: XCTestCase {
    func testAdamWWithClippingMatchesPyTorchStepByStep() throws {
        let f = try Fixture("optimizer.json")
        let params = [try f.tensor("p0.initial", requiresGrad: true), try f.tensor("p1.initial", requiresGrad: true)]
        let optimizer = AdamW(params, .init(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1))
        let norms = try f.values("norms")
        for step in 0..<6 {
            for (n, p) in params.enumerated() {
                p.zeroGrad()
                try (p * (try f.tensor("step\(step).g\(n)"))).sum().backward()  // sets grad = g
            }
            let norm = GradientClipping.clip(params, maxNorm: 1)
            XCTAssertEqual(norm, norms[step], accuracy: 1e-5 * norms[step], "norm at step \(step)")
            optimizer.update(lr: 1e-2)
            assertClose(params[0], try f.tensor("step\(step).p0"), tolerance: 2e-6, "p0 after step \(step)")
            assertClose(params[1], try f.tensor("step\(step).p1"), tolerance: 2e-6, "p1 after step \(step)")
        }
        XCTAssertEqual(optimizer.step, 6)
    }

    func testSchedulesMatchTransformers() throws {
        let f = try Fixture("optimizer.json")
        let schedules: [(String, LearningRateSchedule)] = [
            ("constant", .init(.constant, peak: 3e-4, warmupSteps: 5, totalSteps: 25)),
            ("linear", .init(.linear, peak: 3e-4, warmupSteps: 5, totalSteps: 25)),
            ("cosine", .init(.cosine, peak: 3e-4, warmupSteps: 5, totalSteps: 25)),
        ]
        for (name, schedule) in schedules {
            for (step, expected) in try f.values("schedule.\(name)").enumerated() {
                XCTAssertEqual(Double(schedule.rate(at: step)), expected, accuracy: 1e-9, "\(name) at step \(step)")
            }
        }
    }

    func testNonFiniteGradientsAreReportedNotScaled() throws {
        let p = Tensor.uniform([4], seed: 1, requiresGrad: true)
        try (p * (try Tensor([1, .nan, 2, 3], shape: [4]))).sum().backward()
        XCTAssertTrue(GradientClipping.clip([p], maxNorm: 1).isNaN)
        XCTAssertEqual(p.grad?.data[0], 1)
    }
}
