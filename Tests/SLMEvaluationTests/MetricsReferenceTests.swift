import Foundation
import SLMEvaluation
import SLMModel
import SLMTestSupport
import SLMTraining
import XCTest

/// The metrics against Tests/Fixtures/eval_metrics.json (fixtures/make_eval_metrics.py): scikit-learn,
/// rouge-score, hashlib and transformers' log-probabilities.
final class MetricsReferenceTests: XCTestCase {
    struct Reference: Decodable {
        struct Label: Decodable {
            let labels, references, predictions: [String]
            let accuracy: Double
            let precision, recall, f1: [Double]
            let support: [Int]
            let confusion: [[Int]]
        }
        struct Rouge: Decodable {
            let reference, prediction: String
            let f1: Double
        }
        struct Extraction: Decodable {
            struct Field: Decodable {
                let field: String
                let precision, recall, f1: Double
                let support: Int
            }
            let references, predictions: [String]
            let valid_json_rate, exact_match, precision, recall, f1: Double
            let fields: [Field]
        }
        struct Digest: Decodable {
            let text, sha256: String
        }
        struct Scored: Decodable {
            let ids: [Int32]
            let mask: [Bool]
            let log_probability: Double
            let targets, correct: Int
        }
        let label: Label
        let rouge: [Rouge]
        let extraction: Extraction
        let sha256: [Digest]
        let scoring: [Scored]
    }

    let reference = try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("eval_metrics.json"))))

    func testLabelMetricsMatchScikitLearn() {
        let r = reference.label
        let metrics = LabelMetrics(references: r.references, predictions: r.predictions, labels: r.labels)
        XCTAssertEqual(metrics.accuracy, r.accuracy, accuracy: 1e-12)
        for (n, c) in metrics.classes.enumerated() {
            XCTAssertEqual(c.label, r.labels[n])
            XCTAssertEqual(c.precision, r.precision[n], accuracy: 1e-12, c.label)
            XCTAssertEqual(c.recall, r.recall[n], accuracy: 1e-12, c.label)
            XCTAssertEqual(c.f1, r.f1[n], accuracy: 1e-12, c.label)
            XCTAssertEqual(c.support, r.support[n], c.label)
        }
        XCTAssertEqual(metrics.macroF1, r.f1.reduce(0, +) / Double(r.f1.count), accuracy: 1e-12)
        XCTAssertEqual(metrics.confusion, r.confusion)
        XCTAssertEqual(metrics.confusionLabels, r.labels + [LabelMetrics.other])
    }

    func testRougeLMatchesRougeScore() {
        for pair in reference.rouge {
            XCTAssertEqual(RougeL.f1(reference: pair.reference, prediction: pair.prediction), pair.f1, accuracy: 1e-12, "\(pair.reference) / \(pair.prediction)")
        }
    }

    func testExtractionMetricsMatchThePythonDefinition() throws {
        let r = reference.extraction
        let metrics = ExtractionMetrics(references: try r.references.map { try XCTUnwrap(JSONValue.object($0)) }, predictions: r.predictions.map(JSONValue.object))
        XCTAssertEqual(metrics.validJSONRate, r.valid_json_rate, accuracy: 1e-12)
        XCTAssertEqual(metrics.exactMatch, r.exact_match, accuracy: 1e-12)
        XCTAssertEqual(metrics.precision, r.precision, accuracy: 1e-12)
        XCTAssertEqual(metrics.recall, r.recall, accuracy: 1e-12)
        XCTAssertEqual(metrics.f1, r.f1, accuracy: 1e-12)
        XCTAssertEqual(metrics.fields.map(\.field), r.fields.map(\.field))
        for (mine, theirs) in zip(metrics.fields, r.fields) {
            XCTAssertEqual(mine.precision, theirs.precision, accuracy: 1e-12, mine.field)
            XCTAssertEqual(mine.recall, theirs.recall, accuracy: 1e-12, mine.field)
            XCTAssertEqual(mine.support, theirs.support, mine.field)
        }
    }

    func testSHA256MatchesHashlib() throws {
        for digest in reference.sha256 {
            XCTAssertEqual(SHA256.hex(Data(digest.text.utf8)), digest.sha256, "\(digest.text.utf8.count) bytes")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
        let long = try XCTUnwrap(reference.sha256.last)
        try Data(long.text.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertEqual(try SHA256.hex(file: file), long.sha256)
    }

    /// Batched, padded scoring (two samples per forward, of different lengths) equals transformers sample by sample.
    func testBatchedScoringMatchesTransformers() throws {
        let (model, _) = try ModelLoader.load(path: Fixture.path("hf_llama"))
        let samples = reference.scoring.map { TokenizedSample(ids: $0.ids, lossMask: $0.mask) }
        let scores = try TokenScorer(model: model, tokensPerBatch: 24, logitRows: 3).score(samples)
        for (score, expected) in zip(scores, reference.scoring) {
            XCTAssertEqual(score.logProbability, expected.log_probability, accuracy: 1e-3 * abs(expected.log_probability))
            XCTAssertEqual(score.targets, expected.targets)
            XCTAssertEqual(score.correct, expected.correct)
        }
    }
}
