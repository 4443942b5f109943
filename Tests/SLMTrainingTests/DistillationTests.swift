import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import SLMTraining
import XCTest

/// Distillation pieces: the local teacher against transformers, the recipe section, and the
/// batches that line the teacher's rows up with the labels.
final class DistillationTests: XCTestCase {
    // MARK: Local teacher

    func testLocalTeacherTopKEqualsTransformers() throws {
        let fixture = try Fixture("local_teacher.json")
        for temperature in [1, 2] {
            let teacher = try LocalTeacher(Recipe.TeacherSection(model: Fixture.path("hf_llama")), k: 5, temperature: Double(temperature))
            for i in 0..<2 {
                let ids = try fixture.values("seq\(i).ids").map { Int32($0) }
                let scores = try teacher.scores(for: TokenizedSample(ids: ids, lossMask: ids.map { _ in true }))
                XCTAssertEqual(scores.tokenIDs, ids)
                XCTAssertEqual(scores.topTokenIDs, try fixture.values("seq\(i).t\(temperature).top_ids").map { Int32($0) })
                let expected = try fixture.values("seq\(i).t\(temperature).top_logprobs")
                for (a, b) in zip(scores.topLogProbs, expected) { XCTAssertEqual(Double(a), b, accuracy: 1e-4) }
            }
        }
        XCTAssertEqual(LocalTeacher.identity(Recipe.TeacherSection(model: "/m/SmolLM2.gguf")), "local:SmolLM2.gguf")
    }

    // MARK: Recipe section

    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("slm-distill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("{\"text\": \"hi\"}\n".utf8).write(to: folder.appendingPathComponent("train.jsonl"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func recipe(_ distillation: String) throws -> Recipe {
        try RecipeLoader.load(yaml: """
            model:
              path: \(Fixture.path("hf_llama"))
            data:
              train: \(folder.appendingPathComponent("train.jsonl").path)
            distillation:
            \(distillation)
            """, fileName: "recipes/distill.yaml")
    }

    private func problems(_ distillation: String) -> [String] {
        do {
            _ = try recipe(distillation)
            XCTFail("expected problems")
        } catch let error as RecipeError {
            return error.problems.map { "\($0.keyPath): \($0.message)" }
        } catch {
            XCTFail("expected a RecipeError, got \(error)")
        }
        return []
    }

    func testDistillationSectionEveryKeyAndDefaults() throws {
        let full = try recipe("""
              teacher:
                model: \(Fixture.path("hf_llama"))
                keep_quantized: true
              cache: cache.h5
              k: 8
              teacher_temperature: 1.5
              loss: jsd
              beta: 0.25
              temperature: 2
              alpha: 0.3
              tail: renormalized
            """).distillation
        var expected = Recipe.DistillationSection(teacher: Recipe.TeacherSection(model: Fixture.path("hf_llama")), cache: "cache.h5")
        expected.teacher.keepQuantized = true
        (expected.k, expected.teacherTemperature, expected.loss, expected.beta) = (8, 1.5, .jsd, 0.25)
        (expected.temperature, expected.alpha, expected.tail) = (2, 0.3, .renormalized)
        XCTAssertEqual(full, expected)
        XCTAssertEqual(full?.lossHead, LossHeadConfig(ceWeight: 0.3, kdWeight: 0.7, temperature: 2, divergence: .jsd(beta: 0.25)))

        let defaults = try recipe("  teacher:\n    model: \(Fixture.path("hf_llama"))\n  cache: c.h5")
        XCTAssertEqual(defaults.distillation?.k, 20)
        XCTAssertEqual(defaults.distillation?.lossHead, LossHeadConfig(ceWeight: 0.5, kdWeight: 0.5, temperature: 1, divergence: .forwardKL))
        XCTAssertEqual(defaults.distillation?.tail, .tailBucket)

        let written = RecipeWriter.yaml(full.map { var r = defaults; r.distillation = $0; return r }!)
        XCTAssertEqual(try RecipeLoader.load(yaml: written, fileName: "effective.yaml").distillation, full)
    }

    func testDistillationSectionProblems() {
        let found = problems("""
              teacher:
                model: /no/such/model
                adapters: x
              k: 0
              loss: kl
              beta: 0.5
              alpha: 1.5
              temprature: 2
            """)
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.teacher.model: no such file or folder: /no/such/model") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.teacher.adapters: unknown key adapters; did you mean adapter?") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.k: must be") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.loss: kl is not allowed") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.alpha: must be") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.temprature: unknown key temprature; did you mean temperature?") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.cache: missing") }, "\(found)")
    }

    func testAnAPITeacherSection() throws {
        let api = try recipe("""
              teacher:
                api:
                  base_url: http://127.0.0.1:8080/v1
                  model: big-teacher
                  api_key_env: TEACHER_KEY
                  concurrency: 2
                  timeout: 30
              cache: c.h5
              k: 5
            """).distillation
        var expected = Recipe.APITeacherSection(baseURL: "http://127.0.0.1:8080/v1", model: "big-teacher")
        (expected.apiKeyEnv, expected.concurrency, expected.timeout) = ("TEACHER_KEY", 2, 30)
        XCTAssertEqual(api?.teacher.api, expected)
        XCTAssertEqual(api?.k, 5)
        let written = RecipeWriter.yaml(try recipe("  teacher:\n    model: \(Fixture.path("hf_llama"))\n  cache: c.h5").with(distillation: api))
        XCTAssertEqual(try RecipeLoader.load(yaml: written, fileName: "effective.yaml").distillation, api)

        let found = problems("""
              teacher:
                model: \(Fixture.path("hf_llama"))
                api:
                  base_url: ftp://example.com
                  mdel: x
              cache: c.h5
              k: 30
              teacher_temperature: 2
            """)
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.teacher.model: applies to a local teacher") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.teacher.api.base_url: must start with http:// or https://") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.teacher.api.model: missing") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.teacher.api.mdel: unknown key mdel; did you mean model?") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.k: an API teacher returns at most 20") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("distillation.teacher_temperature: an API teacher") }, "\(found)")
    }

    // MARK: Batches

    /// Each labelled position gets the teacher row of its own sample and position; others get none.
    func testBatchesCarryTheTeacherRowOfEachLabelledPosition() throws {
        let samples = [
            TokenizedSample(ids: [1, 2, 3, 4], lossMask: [false, false, true, true]),
            TokenizedSample(ids: [5, 6, 7], lossMask: [false, true, true]),
            TokenizedSample(ids: [8, 9], lossMask: [true, true]),
        ]
        let plan = try BatchPlan(samples: samples, batchSize: 2, sequenceLength: 6, packing: true, truncation: .right, shuffle: true, seed: 3)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("slm-distill-batches-\(getpid()).h5").path
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".lock") }
        try? FileManager.default.removeItem(atPath: path)
        let writer = try TeacherCacheWriter(
            path: path, attributes: TeacherCacheAttributes(teacher: "t", tokenizer: "tok", k: 2, temperature: 1, source: "test"))
        // Teacher row j of a sample: ids (100·first id + j, -1), log-probs (-j, -inf).
        for s in samples {
            let t = s.ids.count
            try writer.append(TeacherScores(
                tokenIDs: s.ids, k: 2, topTokenIDs: (0..<t).flatMap { [s.ids[0] * 100 + Int32($0), -1] },
                topLogProbs: (0..<t).flatMap { [-Float($0), -.infinity] }))
        }
        try writer.close()
        let batches = try DistillationBatches(plan: plan, cache: TeacherCache(path: path))
        var seen = 0
        for index in 0..<batches.batchesPerEpoch {
            let batch = batches.batch(epoch: 1, index: index)
            XCTAssertEqual(batch.ids, plan.batch(epoch: 1, index: index).ids)
            let teacher = try XCTUnwrap(batch.teacher)
            for p in batch.ids.indices {
                if batch.labels[p] == Tensor.ignoreIndex {
                    XCTAssertEqual(Array(teacher.ids[2 * p..<2 * p + 2]), [-1, -1])
                    continue
                }
                // position p holds token j of the sample that starts with `first`
                let j = Int(batch.positions[p]), first = batch.ids[p - j]
                XCTAssertEqual(Array(teacher.ids[2 * p..<2 * p + 2]), [first * 100 + Int32(j), -1])
                XCTAssertEqual(teacher.logprobs[2 * p], -Float(j))
                seen += 1
            }
        }
        XCTAssertEqual(seen, 2 + 2 + 1)
    }
}

private extension Recipe {
    func with(distillation: DistillationSection?) -> Recipe {
        var recipe = self
        recipe.distillation = distillation
        return recipe
    }
}
