/// Scores of a label task (classification): accuracy, per-class precision/recall/F1 and the
/// confusion matrix. A prediction is its trimmed text; one that is none of the labels counts as
/// wrong for every class and is shown in the matrix's last column, `LabelMetrics.other`.
/// Definitions as scikit-learn's `precision_recall_fscore_support(labels=…, zero_division=0)`.
public struct LabelMetrics: Codable, Sendable, Equatable {
    public static let other = "(other)"

    public struct ClassScores: Codable, Sendable, Equatable {
        public var label: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        /// Reference count of this label.
        public var support: Int
    }

    public var accuracy: Double
    /// Unweighted mean of the classes' F1.
    public var macroF1: Double
    public var classes: [ClassScores]
    /// Row and column labels of `confusion`: `labels` then `other`.
    public var confusionLabels: [String]
    /// confusion[reference][prediction], in `confusionLabels` order (no reference is `other`: its row is all 0).
    public var confusion: [[Int]]

    public init(references: [String], predictions: [String], labels: [String]) {
        precondition(references.count == predictions.count, "one prediction per reference")
        let names = labels + [Self.other]
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: names.count), count: names.count)
        var correct = 0
        for (reference, prediction) in zip(references, predictions) {
            let r = index[reference] ?? labels.count, p = index[prediction] ?? labels.count
            confusion[r][p] += 1
            if reference == prediction { correct += 1 }
        }
        classes = labels.indices.map { c in
            let truePositives = confusion[c][c]
            let predicted = confusion.reduce(0) { $0 + $1[c] }, actual = confusion[c].reduce(0, +)
            let precision = predicted > 0 ? Double(truePositives) / Double(predicted) : 0
            let recall = actual > 0 ? Double(truePositives) / Double(actual) : 0
            return ClassScores(label: labels[c], precision: precision, recall: recall, f1: harmonicMean(precision, recall), support: actual)
        }
        accuracy = references.isEmpty ? .nan : Double(correct) / Double(references.count)
        macroF1 = classes.isEmpty ? .nan : classes.map(\.f1).reduce(0, +) / Double(classes.count)
        confusionLabels = names
        self.confusion = confusion
    }
}

/// 2pr / (p + r), 0 when both are 0.
func harmonicMean(_ p: Double, _ r: Double) -> Double { p + r > 0 ? 2 * p * r / (p + r) : 0 }
