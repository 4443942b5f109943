import Foundation
import SLMTensor
import SLMTestSupport
import XCTest

final class LossHeadTests: XCTestCase {
    // MARK: - Inputs

    /// hidden [N, D], weight [V, D] and teacher logits [N, V] drawn from `seed`.
    private func inputs(_ n: Int, _ d: Int, _ v: Int, seed: UInt64) -> (hidden: Tensor, weight: Tensor, teacher: Tensor) {
        (Tensor.uniform([n, d], seed: seed, requiresGrad: true),
         Tensor.uniform([v, d], low: -0.7, high: 0.7, seed: seed + 1, requiresGrad: true),
         Tensor.uniform([n, v], low: -3, high: 3, seed: seed + 2))
    }

    /// Labels with -100 wherever `masked` says so, others drawn from `seed`.
    private func labels(_ n: Int, vocab: Int, seed: UInt64, masked: (Int) -> Bool) -> [Int32] {
        (0..<n).map { i in masked(i) ? -100 : Int32(SplitMix64.next(seed: seed, index: UInt64(i)) % UInt64(vocab)) }
    }

    /// The teacher's k most likely ids and their log-probabilities at T = 1, all slots -1
    /// where `present` is false; position `shortAt` keeps only its first two slots.
    private func topK(_ logits: Tensor, k: Int, present: [Bool], shortAt: Int? = nil) -> (ids: [Int32], logprobs: [Float]) {
        let n = logits.shape[0], v = logits.shape[1]
        var ids = [Int32](repeating: -1, count: n * k), logprobs = [Float](repeating: 0, count: n * k)
        for i in 0..<n where present[i] {
            let row = (0..<v).map { Double(logits.data[i * v + $0]) }
            let lse = Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +))
            let best = row.indices.sorted { row[$0] > row[$1] }
            for s in 0..<(i == shortAt ? 2 : k) {
                ids[i * k + s] = Int32(best[s])
                logprobs[i * k + s] = Float(row[best[s]] - lse)
            }
        }
        return (ids, logprobs)
    }

    /// Every teacher form × divergence the loss head knows, for `logits` [N, V].
    private func teachers(_ logits: Tensor, k: Int, present: [Bool]) -> [(String, TeacherTargets?, Divergence)] {
        var (ids, logprobs) = topK(logits, k: k, present: present, shortAt: present.firstIndex(of: true))
        logprobs[present.lastIndex(of: true)! * k + k - 1] = -.infinity  // a zero-probability slot
        let divergences: [(String, Divergence)] = [("fwd", .forwardKL), ("rev", .reverseKL), ("jsd", .jsd(beta: 0.3))]
        var all: [(String, TeacherTargets?, Divergence)] = [("ce", nil, .forwardKL)]
        for (name, d) in divergences {
            all.append(("full-\(name)", .full(logits: logits, positions: present), d))
            all.append(("renorm-\(name)", .topK(ids: ids, logprobs: logprobs, k: k, tail: .renormalized), d))
            all.append(("tail-\(name)", .topK(ids: ids, logprobs: logprobs, k: k, tail: .tailBucket), d))
        }
        return all
    }

    /// |actual − expected| ≤ relative · max |expected| elementwise.
    private func assertClose(_ actual: Tensor?, _ expected: [Double], relative: Double, _ message: String, line: UInt = #line) {
        guard let actual else { return XCTFail("\(message): no gradient", line: line) }
        XCTAssertEqual(actual.count, expected.count, message, line: line)
        let scale = expected.map(abs).max() ?? 0
        var worst = 0.0
        for i in 0..<min(actual.count, expected.count) { worst = max(worst, abs(Double(actual.data[i]) - expected[i])) }
        XCTAssertLessThanOrEqual(worst, relative * scale + 1e-9, "\(message): max |diff| \(worst), scale \(scale)", line: line)
    }

    private func assertClose(_ actual: Float?, _ expected: Double?, relative: Double, _ message: String, line: UInt = #line) {
        guard let expected else { return XCTAssertNil(actual, message, line: line) }
        guard let actual else { return XCTFail("\(message): nil, expected \(expected)", line: line) }
        XCTAssertEqual(Double(actual), expected, accuracy: relative * max(1, abs(expected)), message, line: line)
    }

    // MARK: - 1. Against the plain twin

    func testMatchesReferenceForEveryModeAndChunking() throws {
        let (n, d, v, k) = (11, 8, 37, 4)
        let (hidden, weight, teacherLogits) = inputs(n, d, v, seed: 11)
        let present = (0..<n).map { $0 % 4 != 1 }
        let labels = labels(n, vocab: v, seed: 5) { $0 % 3 == 0 }
        for (name, teacher, divergence) in teachers(teacherLogits, k: k, present: present) {
            for temperature: Float in [1, 2.5] {
                let config = LossHeadConfig(ceWeight: 0.7, kdWeight: 1.3, temperature: temperature, divergence: divergence)
                let expected = Reference.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: teacher, config: config)
                for chunk in [1, 4, 7, 64] {
                    var c = config
                    c.chunkTokens = chunk
                    let what = "\(name) T=\(temperature) chunk=\(chunk)"
                    hidden.zeroGrad()
                    weight.zeroGrad()
                    let result = try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: teacher, config: c)
                    try result.loss.backward()
                    assertClose(result.loss.item(), expected.loss, relative: 1e-5, "\(what) loss")
                    assertClose(result.crossEntropy, expected.crossEntropy, relative: 1e-5, "\(what) CE")
                    assertClose(result.distillation, expected.distillation, relative: 1e-5, "\(what) KD")
                    assertClose(result.trueKL, expected.trueKL, relative: 1e-5, "\(what) trueKL")
                    assertClose(hidden.grad, expected.dHidden, relative: 1e-5, "\(what) dHidden")
                    assertClose(weight.grad, expected.dWeight, relative: 1e-5, "\(what) dWeight")
                    XCTAssertEqual(result.labelTokens, labels.count(where: { $0 != -100 }), what)
                    XCTAssertEqual(result.teacherTokens, teacher == nil ? 0 : present.count(where: { $0 }), what)
                }
            }
        }
    }

    func testAllButOnePositionMasked() throws {
        let (n, d, v, k) = (9, 6, 21, 3)
        let (hidden, weight, teacherLogits) = inputs(n, d, v, seed: 21)
        let onlyLabel = labels(n, vocab: v, seed: 3) { $0 != 6 }
        let nothing = [Int32](repeating: -100, count: n)
        let onlyTeacher = (0..<n).map { $0 == 2 }
        let (ids, logprobs) = topK(teacherLogits, k: k, present: onlyTeacher)
        let cases: [(String, [Int32], TeacherTargets?)] = [
            ("one label", onlyLabel, nil),
            ("one full teacher row", nothing, .full(logits: teacherLogits, positions: onlyTeacher)),
            ("one top-k teacher row", nothing, .topK(ids: ids, logprobs: logprobs, k: k, tail: .tailBucket)),
        ]
        for (what, labels, teacher) in cases {
            let config = LossHeadConfig(temperature: 2, divergence: .jsd(beta: 0.6), chunkTokens: 4)
            let expected = Reference.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: teacher, config: config)
            hidden.zeroGrad()
            weight.zeroGrad()
            let result = try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: teacher, config: config)
            try result.loss.backward()
            XCTAssertEqual(result.lossTokens, 1, what)
            assertClose(result.loss.item(), expected.loss, relative: 1e-5, "\(what) loss")
            assertClose(hidden.grad, expected.dHidden, relative: 1e-5, "\(what) dHidden")
            assertClose(weight.grad, expected.dWeight, relative: 1e-5, "\(what) dWeight")
            for i in 0..<n where i != 6 && i != 2 {
                XCTAssertEqual(Array(hidden.grad!.scalars[i * d..<(i + 1) * d]), [Float](repeating: 0, count: d), "\(what): position \(i) has no loss")
            }
        }
    }

    func testFrozenWeightBatchedHiddenAndUpstreamScale() throws {
        let (b, t, d, v) = (2, 5, 6, 19)
        let hidden = Tensor.uniform([b, t, d], seed: 31, requiresGrad: true)
        let weight = Tensor.uniform([v, d], seed: 32)  // a frozen tied embedding
        let teacher = Tensor.uniform([b, t, v], low: -2, high: 2, seed: 33)
        let labels = labels(b * t, vocab: v, seed: 34) { $0 % 4 == 0 }
        let config = LossHeadConfig(ceWeight: 0.5, kdWeight: 2, temperature: 1.5, divergence: .reverseKL, chunkTokens: 3)
        let expected = Reference.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: .full(logits: teacher), config: config)
        let result = try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: .full(logits: teacher), config: config)
        try result.loss.scaled(by: 3).backward()
        XCTAssertNil(weight.grad)
        XCTAssertEqual(hidden.grad?.shape, [b, t, d])
        assertClose(hidden.grad, expected.dHidden.map { 3 * $0 }, relative: 1e-5, "dHidden × 3")
        assertClose(result.loss.item(), expected.loss, relative: 1e-5, "loss")
    }

    func testEvaluationRecordsNothing() throws {
        let (hidden, weight, _) = inputs(6, 4, 9, seed: 41)
        let labels = labels(6, vocab: 9, seed: 42) { _ in false }
        let training = try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels)
        let evaluation = try GradMode.withoutGrad { try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels) }
        XCTAssertTrue(training.loss.requiresGrad)
        XCTAssertFalse(evaluation.loss.requiresGrad)
        XCTAssertEqual(training.loss.item(), evaluation.loss.item())
    }

    // MARK: - 2. Against PyTorch

    func testMatchesPyTorchFixture() throws {
        let f = try Fixture("losshead.json")
        let hiddenValues = try f.tensor("hidden"), weightValues = try f.tensor("weight")
        let labels = try f.values("labels").map { Int32($0) }
        let teacherLogits = try f.tensor("teacher_logits")
        let mask = try f.values("teacher_mask").map { $0 != 0 }
        let ids = try f.values("ids").map { Int32($0) }, logprobs = try f.values("logprobs").map { Float($0) }
        let k = try f.tensor("ids").shape[1]
        let cases: [(String, TeacherTargets?, Divergence, Float, Float, Float)] = [
            ("ce", nil, .forwardKL, 1, 1, 0),
            ("full_fwd", .full(logits: teacherLogits, positions: mask), .forwardKL, 2, 0.5, 0.7),
            ("full_rev", .full(logits: teacherLogits, positions: mask), .reverseKL, 1.5, 1, 1),
            ("full_jsd", .full(logits: teacherLogits, positions: mask), .jsd(beta: 0.3), 2, 1, 0.5),
            ("renorm_fwd", .topK(ids: ids, logprobs: logprobs, k: k, tail: .renormalized), .forwardKL, 2, 1, 1),
            ("renorm_jsd", .topK(ids: ids, logprobs: logprobs, k: k, tail: .renormalized), .jsd(beta: 0.5), 1.5, 0.3, 1),
            ("tail_fwd", .topK(ids: ids, logprobs: logprobs, k: k, tail: .tailBucket), .forwardKL, 2, 1, 1),
            ("tail_rev", .topK(ids: ids, logprobs: logprobs, k: k, tail: .tailBucket), .reverseKL, 1.5, 0, 1),
            ("tail_jsd", .topK(ids: ids, logprobs: logprobs, k: k, tail: .tailBucket), .jsd(beta: 0.7), 1, 1, 2),
        ]
        for (name, teacher, divergence, temperature, ceWeight, kdWeight) in cases {
            let hidden = hiddenValues.detached(requiresGrad: true), weight = weightValues.detached(requiresGrad: true)
            let config = LossHeadConfig(
                ceWeight: ceWeight, kdWeight: kdWeight, temperature: temperature, divergence: divergence, chunkTokens: 5)
            let result = try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: teacher, config: config)
            try result.loss.backward()
            let metrics = try f.values("\(name)_metrics")
            assertClose(result.loss.item(), try f.values("\(name)_loss")[0], relative: 1e-5, "\(name) loss")
            assertClose(result.crossEntropy, metrics[0], relative: 1e-5, "\(name) CE")
            assertClose(result.distillation, teacher == nil ? nil : metrics[1], relative: 1e-5, "\(name) KD")
            assertClose(result.trueKL, teacher == nil ? nil : metrics[2], relative: 1e-5, "\(name) trueKL")
            assertClose(hidden.grad, try f.values("\(name)_dh"), relative: 1e-5, "\(name) dh")
            assertClose(weight.grad, try f.values("\(name)_dW"), relative: 1e-5, "\(name) dW")
        }
    }

    // MARK: - 3. Finite differences

    func testGradientCheckEveryMode() throws {
        let (n, d, v, k) = (5, 3, 7, 3)
        let (hidden, weight, teacherLogits) = inputs(n, d, v, seed: 51)
        let present = [true, false, true, true, true]
        let labels = labels(n, vocab: v, seed: 52) { $0 == 3 }
        for (name, teacher, divergence) in teachers(teacherLogits, k: k, present: present) {
            let config = LossHeadConfig(ceWeight: 0.8, kdWeight: 1.5, temperature: 2, divergence: divergence, chunkTokens: 2)
            do {
                try GradientCheck.check([hidden, weight]) { x in
                    try Tensor.lossHead(hidden: x[0], weight: x[1], labels: labels, teacher: teacher, config: config).loss
                }
            } catch {
                XCTFail("\(name): \(error)")
            }
        }
    }

    // MARK: - 4. Work only where there is loss

    func testProjectionWorkScalesWithLossPositions() throws {
        let (d, v) = (8, 50)
        defer { Gemm.profiling = false }
        Gemm.profiling = true
        for positions in [64, 256] {
            let (hidden, weight, teacherLogits) = inputs(positions, d, v, seed: 61)
            for active in [1, 8, 33] {
                // Labels on the last `active` positions (a completion after a prompt), a teacher on the same ones.
                let labels = labels(positions, vocab: v, seed: 62) { $0 < positions - active }
                let present = labels.map { $0 != -100 }
                let perGemm = 2.0 * Double(active * d * v)
                let runs: [(String, Tensor, Tensor, Double)] = [
                    ("both trainable", hidden, weight, 3 * perGemm),
                    ("weight frozen", hidden, weight.detached(), 2 * perGemm),
                ]
                for (what, h, w, expected) in runs {
                    Gemm.resetCounters()
                    _ = try Tensor.lossHead(
                        hidden: h, weight: w, labels: labels, teacher: .full(logits: teacherLogits, positions: present),
                        config: LossHeadConfig(chunkTokens: 16))
                    XCTAssertEqual(Gemm.flops, expected, "\(what), \(active) of \(positions) positions")
                }
                Gemm.resetCounters()
                _ = try GradMode.withoutGrad { try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels) }
                XCTAssertEqual(Gemm.flops, perGemm, "evaluation, \(active) of \(positions) positions")
            }
        }
    }

    // MARK: - 5. Bad input and determinism

    func testBadInputThrowsNamingTheField() throws {
        let (n, d, v, k) = (4, 3, 7, 2)
        let (hidden, weight, teacherLogits) = inputs(n, d, v, seed: 71)
        let labels: [Int32] = [1, -100, 6, 0]
        let ids: [Int32] = [1, 2, -1, -1, 0, 6, 3, 4]
        let logprobs: [Float] = [-0.5, -1.5, 0, 0, -1, -2, -0.1, -3]
        func topK(_ ids: [Int32] = ids, _ logprobs: [Float] = logprobs, k: Int = k, tail: TopKTail = .renormalized) -> TeacherTargets {
            .topK(ids: ids, logprobs: logprobs, k: k, tail: tail)
        }
        let nanHidden = hidden.detached()
        nanHidden.data[4] = .nan
        let nanTeacher = teacherLogits.detached()
        nanTeacher.data[2 * v + 1] = .nan
        let cases: [(String, () throws -> LossHeadResult)] = [
            ("does not fit weight", { try Tensor.lossHead(hidden: Tensor.zeros([n, d + 1]), weight: weight, labels: labels) }),
            ("weight must be [vocab, dim]", { try Tensor.lossHead(hidden: hidden, weight: Tensor.zeros([v * d]), labels: labels) }),
            ("3 labels for the 4 positions", { try Tensor.lossHead(hidden: hidden, weight: weight, labels: [1, 2, 3]) }),
            ("label 7 at position 2 is outside the vocabulary of 7", { try Tensor.lossHead(hidden: hidden, weight: weight, labels: [1, 2, 7, 0]) }),
            ("label -5 at position 0", { try Tensor.lossHead(hidden: hidden, weight: weight, labels: [-5, 2, 1, 0]) }),
            ("no position carries a loss", { try Tensor.lossHead(hidden: hidden, weight: weight, labels: [-100, -100, -100, -100]) }),
            ("teacher logits [4, 6]", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: .full(logits: Tensor.zeros([n, v - 1])))
            }),
            ("teacher positions has 3 entries", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: .full(logits: teacherLogits, positions: [true, true, false]))
            }),
            ("k ≥ 1, got k = 0", { try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: topK([], [], k: 0)) }),
            ("ids (7 values)", { try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: topK(Array(ids.dropLast()))) }),
            ("teacher id 7 at position 3, slot 0 is outside the vocabulary of 7", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: topK([1, 2, -1, -1, 0, 6, 7, 4]))
            }),
            ("teacher id -2 at position 0, slot 1", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: topK([1, -2, -1, -1, 0, 6, 3, 4]))
            }),
            ("teacher id 6 appears twice at position 2", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: topK([1, 2, -1, -1, 6, 6, 3, 4]))
            }),
            ("teacher logprob nan at position 3, slot 1", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: topK(ids, [-0.5, -1.5, 0, 0, -1, -2, -0.1, .nan]))
            }),
            ("teacher logprob 0.5 at position 0, slot 0", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: topK(ids, [0.5, -1.5, 0, 0, -1, -2, -0.1, -3]))
            }),
            ("at position 3 sum to", {
                try Tensor.lossHead(
                    hidden: hidden, weight: weight, labels: labels, teacher: topK(ids, [-0.5, -1.5, 0, 0, -1, -2, -0.1, -0.2], tail: .tailBucket))
            }),
            ("temperature must be finite and > 0", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, config: LossHeadConfig(temperature: 0))
            }),
            ("jsd beta must be in [0, 1], got 1.5", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, config: LossHeadConfig(divergence: .jsd(beta: 1.5)))
            }),
            ("chunkTokens must be ≥ 1", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, config: LossHeadConfig(chunkTokens: 0))
            }),
            ("hidden [4, 3] holds a non-finite value at position 1", {
                try Tensor.lossHead(hidden: nanHidden, weight: weight, labels: [1, 2, -100, 0])
            }),
            ("teacher logits [4, 7] hold a non-finite value at position 2", {
                try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: .full(logits: nanTeacher))
            }),
        ]
        for (expected, call) in cases {
            XCTAssertThrowsError(try call(), expected) { error in
                guard let error = error as? TensorError else { return XCTFail("\(expected): \(error) is not a TensorError") }
                XCTAssertEqual(error.op, "lossHead")
                XCTAssertTrue(error.message.contains(expected), "expected “\(expected)” in “\(error.message)”")
            }
        }
    }

    func testBitwiseDeterministicWithTwoThreads() throws {
        let saved = Parallel.threads
        defer { Parallel.setThreads(saved) }
        Parallel.setThreads(2)
        let (n, d, v, k) = (40, 32, 300, 8)
        let (hidden, weight, teacherLogits) = inputs(n, d, v, seed: 81)
        let labels = labels(n, vocab: v, seed: 82) { $0 % 5 == 0 }
        let present = (0..<n).map { $0 % 7 != 3 }
        let (ids, logprobs) = topK(teacherLogits, k: k, present: present)
        let teachers: [TeacherTargets] = [
            .full(logits: teacherLogits, positions: present),
            .topK(ids: ids, logprobs: logprobs, k: k, tail: .tailBucket),
        ]
        for teacher in teachers {
            var runs: [[Float]] = []
            for _ in 0..<2 {
                hidden.zeroGrad()
                weight.zeroGrad()
                let config = LossHeadConfig(temperature: 2, divergence: .jsd(beta: 0.4), chunkTokens: 6)
                let result = try Tensor.lossHead(hidden: hidden, weight: weight, labels: labels, teacher: teacher, config: config)
                try result.loss.backward()
                runs.append([result.loss.item(), result.trueKL!] + hidden.grad!.scalars + weight.grad!.scalars)
            }
            XCTAssertEqual(runs[0].map(\.bitPattern), runs[1].map(\.bitPattern))
        }
    }
}
