/// The hybrid set-up: the small model answers when its confidence is at least a threshold, the
/// big one takes the rest. For each threshold (every distinct confidence, highest first), the
/// share answered locally and the accuracy on that share; the recommended threshold is the lowest
/// one (most answered locally) whose local accuracy meets the target.
public struct RoutingAnalysis: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var threshold: Double
        /// Share of samples with confidence ≥ threshold.
        public var coverage: Double
        /// Accuracy on those samples.
        public var accuracy: Double
    }

    public var targetAccuracy: Double
    /// nil: no threshold reaches the target (send everything to the big model).
    public var recommendedThreshold: Double?
    public var recommendedCoverage: Double?
    public var recommendedAccuracy: Double?
    public var curve: [Point]

    public init(confidences: [Double], correct: [Bool], targetAccuracy: Double) {
        precondition(confidences.count == correct.count, "one confidence per answer")
        self.targetAccuracy = targetAccuracy
        let order = confidences.indices.sorted { confidences[$0] > confidences[$1] }
        var curve: [Point] = []
        var taken = 0, right = 0
        for (n, i) in order.enumerated() {
            taken += 1
            if correct[i] { right += 1 }
            // A threshold admits every sample with that confidence: close the point after the last of a tie.
            if n + 1 < order.count, confidences[order[n + 1]] == confidences[i] { continue }
            curve.append(Point(threshold: confidences[i], coverage: Double(taken) / Double(order.count), accuracy: Double(right) / Double(taken)))
        }
        self.curve = curve
        if let best = curve.last(where: { $0.accuracy >= targetAccuracy }) {
            recommendedThreshold = best.threshold
            recommendedCoverage = best.coverage
            recommendedAccuracy = best.accuracy
        }
    }
}
