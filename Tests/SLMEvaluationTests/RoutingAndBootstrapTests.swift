import SLMEvaluation
import XCTest

final class RoutingAndBootstrapTests: XCTestCase {
    func testRoutingCurveAndRecommendedThreshold() {
        // Confidences 0.9 (right), 0.8 (right), 0.8 (wrong), 0.5 (right), 0.2 (wrong).
        let routing = RoutingAnalysis(confidences: [0.5, 0.9, 0.8, 0.2, 0.8], correct: [true, true, false, false, true], targetAccuracy: 0.75)
        XCTAssertEqual(routing.curve.map(\.threshold), [0.9, 0.8, 0.5, 0.2])
        XCTAssertEqual(routing.curve.map(\.coverage), [0.2, 0.6, 0.8, 1.0])
        XCTAssertEqual(routing.curve.map(\.accuracy), [1, 2.0 / 3, 0.75, 0.6])
        // The lowest threshold whose local accuracy reaches 0.75 is 0.5 (80% answered locally).
        XCTAssertEqual(routing.recommendedThreshold, 0.5)
        XCTAssertEqual(routing.recommendedCoverage, 0.8)
        XCTAssertNil(RoutingAnalysis(confidences: [0.3, 0.4], correct: [false, false], targetAccuracy: 0.5).recommendedThreshold)
    }

    func testBootstrapIsSeededAndBracketsTheMean() throws {
        let values = (0..<50).map { Double($0 % 3 == 0 ? 1 : 0) }
        let a = try XCTUnwrap(Bootstrap(resamples: 500, seed: 7).meanInterval(values))
        let b = try XCTUnwrap(Bootstrap(resamples: 500, seed: 7).meanInterval(values))
        let c = try XCTUnwrap(Bootstrap(resamples: 500, seed: 8).meanInterval(values))
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        let mean = values.reduce(0, +) / Double(values.count)
        XCTAssertLessThan(a[0], mean)
        XCTAssertGreaterThan(a[1], mean)
        // A binomial proportion of 0.34 over 50 samples: the 95% interval is about ±0.13.
        XCTAssertEqual(a[1] - a[0], 0.26, accuracy: 0.06)
        XCTAssertNil(Bootstrap().meanInterval([]))
    }
}
