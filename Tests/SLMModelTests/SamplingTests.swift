import Foundation
import SLMModel
import XCTest

/// Sampling and stop strings on hand-made inputs (no model).
final class SamplingTests: XCTestCase {
    /// Probabilities 0.4, 0.25, 0.15, 0.1, 0.06, 0.04 for ids 3, 0, 5, 1, 4, 2 (logits are their logs).
    let probabilities: [Float] = [0.25, 0.1, 0.04, 0.4, 0.06, 0.15]
    var logits: [Float] { probabilities.map { Foundation.log($0) + 7 } }

    func ids(_ c: [(id: Int32, probability: Double)]) -> [Int32] { c.map(\.id) }

    func testGreedyTakesTheFirstLargest() throws {
        var sampler = try Sampler(.greedy)
        XCTAssertEqual(sampler.sample(logits), 3)
        XCTAssertEqual(sampler.sample([1, 5, 2, 5]), 1)
        XCTAssertEqual(sampler.draws, 0)
    }

    func testTemperatureOneKeepsTheDistribution() {
        let c = Sampler.candidates(logits, SamplingParameters(temperature: 1))
        XCTAssertEqual(ids(c), [3, 0, 5, 1, 4, 2])
        for (id, p) in c { XCTAssertEqual(p, Double(probabilities[Int(id)]), accuracy: 1e-6) }
    }

    func testTopKKeepsTheKMostLikelyRenormalised() {
        let c = Sampler.candidates(logits, SamplingParameters(temperature: 1, topK: 3))
        XCTAssertEqual(ids(c), [3, 0, 5])
        XCTAssertEqual(c.map(\.probability), [0.4 / 0.8, 0.25 / 0.8, 0.15 / 0.8], accuracy: 1e-6)
    }

    func testTopPKeepsTheFewestTokensReachingP() {
        // Running sums 0.4, 0.65, 0.8, 0.9, 0.96, 1.
        XCTAssertEqual(ids(Sampler.candidates(logits, SamplingParameters(temperature: 1, topP: 0.3))), [3])
        XCTAssertEqual(ids(Sampler.candidates(logits, SamplingParameters(temperature: 1, topP: 0.65))), [3, 0])
        XCTAssertEqual(ids(Sampler.candidates(logits, SamplingParameters(temperature: 1, topP: 0.7))), [3, 0, 5])
        XCTAssertEqual(ids(Sampler.candidates(logits, SamplingParameters(temperature: 1, topP: 0.95))), [3, 0, 5, 1, 4])
        let c = Sampler.candidates(logits, SamplingParameters(temperature: 1, topP: 0.7))
        XCTAssertEqual(c.map(\.probability), [0.4 / 0.8, 0.25 / 0.8, 0.15 / 0.8], accuracy: 1e-6)
        // After top-k 2 the mass is renormalised: 0.4 / 0.65 ≈ 0.615 already reaches 0.6.
        XCTAssertEqual(ids(Sampler.candidates(logits, SamplingParameters(temperature: 1, topK: 2, topP: 0.6))), [3])
    }

    func testTemperatureSharpensAndFlattens() {
        let cold = Sampler.candidates(logits, SamplingParameters(temperature: 0.5))
        let hot = Sampler.candidates(logits, SamplingParameters(temperature: 2))
        XCTAssertEqual(cold[0].probability, 0.16 / probabilities.map { Double($0 * $0) }.reduce(0, +), accuracy: 1e-6)
        XCTAssertLessThan(hot[0].probability, 0.4)
        XCTAssertGreaterThan(cold[0].probability, 0.4)
    }

    func testTopPOverALargeVocabularyFindsTheNucleus() {
        // 50,000 tokens: three likely ones (0.665, 0.245, 0.090), then a flat tail of mass 7e-5.
        var big = [Float](repeating: 0, count: 50_000)
        big[17] = 20; big[40_000] = 19; big[3] = 18
        XCTAssertEqual(ids(Sampler.candidates(big, SamplingParameters(temperature: 1, topP: 0.9))), [17, 40_000])
        XCTAssertEqual(ids(Sampler.candidates(big, SamplingParameters(temperature: 1, topP: 0.95))), [17, 40_000, 3])
        let all = Sampler.candidates(big, SamplingParameters(temperature: 1, topP: 0.99999))
        XCTAssertGreaterThan(all.count, 3)
        XCTAssertEqual(Array(ids(all).prefix(5)), [17, 40_000, 3, 0, 1])
    }

    func testSeedFixesTheDrawsAndFrequenciesFollowTheDistribution() throws {
        let parameters = SamplingParameters(temperature: 1, seed: 42)
        var a = try Sampler(parameters), b = try Sampler(parameters)
        var other = try Sampler(SamplingParameters(temperature: 1, seed: 43))
        let first = (0..<200).map { _ in a.sample(logits) }
        XCTAssertEqual(first, (0..<200).map { _ in b.sample(logits) })
        XCTAssertNotEqual(first, (0..<200).map { _ in other.sample(logits) })
        var counts = [Int](repeating: 0, count: probabilities.count)
        for _ in 0..<20_000 { counts[Int(a.sample(logits))] += 1 }
        for (id, p) in probabilities.enumerated() {
            XCTAssertEqual(Double(counts[id]) / 20_000, Double(p), accuracy: 0.015, "id \(id)")
        }
        var k = try Sampler(SamplingParameters(temperature: 1, topK: 2, seed: 1))
        XCTAssertEqual(Set((0..<500).map { _ in k.sample(logits) }), [3, 0])
    }

    func testRejectsBadParameters() {
        XCTAssertThrowsError(try Sampler(SamplingParameters(temperature: -1)))
        XCTAssertThrowsError(try Sampler(SamplingParameters(temperature: 1, topP: 0)))
        XCTAssertThrowsError(try Sampler(SamplingParameters(temperature: 1, topK: -2)))
    }

    // MARK: stop strings

    func testStopStringEndsTheStreamAndHoldsBackPrefixes() {
        var m = StopStringMatcher(["\nUser:", "###"])
        XCTAssertEqual(m.append("Hello"), "Hello")
        XCTAssertEqual(m.append(" world\nUs"), " world")       // "\nUs" may begin "\nUser:"
        XCTAssertEqual(m.append("ual"), "\nUsual")              // it did not
        XCTAssertEqual(m.append(" text #"), " text ")
        XCTAssertEqual(m.append("#"), "")
        XCTAssertEqual(m.append("# after"), "")
        XCTAssertTrue(m.stopped)
        XCTAssertEqual(m.append("more"), "")
        XCTAssertEqual(m.finish(), "")
    }

    func testEarliestStopStringWinsAndUnfinishedPrefixIsFlushed() {
        var m = StopStringMatcher(["bc", "abcd"])
        XCTAssertEqual(m.append("xab"), "x")
        XCTAssertEqual(m.append("cd"), "")  // "abcd" starts before "bc"
        XCTAssertTrue(m.stopped)
        var n = StopStringMatcher(["END"])
        XCTAssertEqual(n.append("the EN"), "the ")
        XCTAssertEqual(n.finish(), "EN")
        var none = StopStringMatcher([])
        XCTAssertEqual(none.append("anything"), "anything")
    }
}

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
