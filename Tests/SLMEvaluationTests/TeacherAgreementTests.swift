import Foundation
import SLMEvaluation
import SLMModel
import SLMTestSupport
import SLMTraining
import XCTest

/// Agreement with a teacher and the teacher column against Tests/Fixtures/eval_metrics.json
/// ("teacher", fixtures/make_eval_metrics.py): transformers' logits of Tests/Fixtures/hf_llama and
/// a made-up top-4 teacher, KL on the ids plus a tail bucket computed from the textbook definition.
final class TeacherAgreementTests: XCTestCase {
    struct Reference: Decodable {
        struct Scored: Decodable {
            let ids: [Int32]
            let mask: [Bool]
        }
        struct LogProbability: Decodable {
            let value: Float
            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let number = try? container.decode(Float.self) {
                    value = number
                } else {
                    value = try container.decode(String.self) == "-inf" ? -.infinity : .nan
                }
            }
        }
        struct Teacher: Decodable {
            struct Cache: Decodable {
                let targets, correct, covered: Int
                let log_probability: Double
            }
            let k: Int
            let top_ids: [Int32]
            let top_logprobs: [LogProbability]
            let targets, agreements: Int
            let kl: Double
            let cache: Cache
        }
        let scoring: [Scored]
        let teacher: [Teacher]

        var samples: [TokenizedSample] { scoring.map { TokenizedSample(ids: $0.ids, lossMask: $0.mask) } }
        var teacherScores: [TeacherScores] {
            zip(scoring, teacher).map { TeacherScores(tokenIDs: $0.ids, k: $1.k, topTokenIDs: $1.top_ids, topLogProbs: $1.top_logprobs.map(\.value)) }
        }
    }

    let reference = try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("eval_metrics.json"))))

    /// Batched and padded as slm eval scores, beside the loss, from the same logits.
    func testAgreementAndKLMatchTheReference() throws {
        let (model, _) = try ModelLoader.load(path: Fixture.path("hf_llama"))
        let scores = try TokenScorer(model: model, tokensPerBatch: 24, logitRows: 3).score(reference.samples, teachers: reference.teacherScores)
        for (n, (score, expected)) in zip(scores, reference.teacher).enumerated() {
            XCTAssertEqual(score.teacherTargets, expected.targets, "sample \(n)")
            XCTAssertEqual(score.teacherAgreements, expected.agreements, "sample \(n)")
            XCTAssertEqual(score.teacherKL, expected.kl, accuracy: 1e-4 + 1e-3 * expected.kl, "sample \(n)")
        }
        let withoutTeacher = try TokenScorer(model: model, tokensPerBatch: 24, logitRows: 3).score(reference.samples)
        XCTAssertEqual(zip(scores, withoutTeacher).map { $0.logProbability - $1.logProbability }, [0, 0, 0, 0], "the teacher changes nothing else")
        XCTAssertEqual(withoutTeacher.map(\.teacherTargets), [0, 0, 0, 0])
    }

    /// A sample without an entry is left out; a teacher for other tokens is refused.
    func testMissingTeacherEntriesAreSkippedAndMismatchesRefused() throws {
        let (model, _) = try ModelLoader.load(path: Fixture.path("hf_llama"))
        var teachers: [TeacherScores?] = reference.teacherScores
        teachers[1] = nil
        let scores = try TokenScorer(model: model).score(reference.samples, teachers: teachers)
        XCTAssertEqual(scores[1].teacherTargets, 0)
        XCTAssertEqual(scores[0].teacherTargets, reference.teacher[0].targets)
        var wrong = reference.teacherScores
        wrong[0].tokenIDs[0] += 1
        XCTAssertThrowsError(try TokenScorer(model: model).score(reference.samples, teachers: wrong))
    }

    /// The teacher column's figures, through a cache file (float16 log-probabilities) as slm eval reads it.
    func testTeacherColumnFromTheCacheMatchesTheReference() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("teacher-column-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/cache.h5"
        let writer = try TeacherCacheWriter(
            path: path, attributes: TeacherCacheAttributes(teacher: "fixture", tokenizer: "none", k: 4, temperature: 1, source: "test"))
        for scores in reference.teacherScores.dropLast() { try writer.append(scores) }  // the last sample is missing
        try writer.close()
        let teacher = try EvaluationTeacher(path: path)
        let samples = reference.samples
        let found = try teacher.lookup(samples)
        XCTAssertEqual(found.map { $0 != nil }, [true, true, true, false])
        XCTAssertEqual(found[0]?.topTokenIDs, reference.teacherScores[0].topTokenIDs)
        let column = try teacher.column(
            name: "teacher", samples: samples, owners: [0, 1, 2, 3], teachers: found, records: 4, bootstrap: Bootstrap(resamples: 50))
        let figures = try XCTUnwrap(column.teacherCache)
        let expected = reference.teacher.dropLast().map(\.cache)
        let targets = expected.reduce(0) { $0 + $1.targets }, covered = expected.reduce(0) { $0 + $1.covered }
        XCTAssertEqual(figures.samples, 4)
        XCTAssertEqual(figures.samplesFound, 3)
        XCTAssertEqual(figures.targetTokens, targets)
        XCTAssertEqual(figures.tokenAccuracy, Double(expected.reduce(0) { $0 + $1.correct }) / Double(targets), accuracy: 1e-12)
        XCTAssertEqual(figures.coveredTokens, covered)
        XCTAssertEqual(figures.coverage, Double(covered) / Double(targets), accuracy: 1e-12)
        let loss = -expected.reduce(0) { $0 + $1.log_probability } / Double(covered)
        XCTAssertEqual(figures.loss, loss, accuracy: 2e-3 * loss, "float16 in the file")
        XCTAssertEqual(figures.perplexity, exp(figures.loss), accuracy: 1e-9)
        XCTAssertNil(column.error)
    }
}
