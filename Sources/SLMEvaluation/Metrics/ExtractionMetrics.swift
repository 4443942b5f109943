/// Scores of an extraction task, where each reference is a JSON object of fields. A field of a
/// prediction is right when the reference has the same key with an equal value (`JSONValue`).
/// Precision and recall are micro-averaged over all fields of all samples; a prediction that is
/// not a JSON object contributes no predicted fields (its reference fields are all missed).
public struct ExtractionMetrics: Codable, Sendable, Equatable {
    public struct FieldScores: Codable, Sendable, Equatable {
        public var field: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        /// References that have this field.
        public var support: Int
    }

    /// Share of predictions that parse as a JSON object.
    public var validJSONRate: Double
    /// Share of predictions equal to their reference as objects.
    public var exactMatch: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// Per key of the references, in sorted order.
    public var fields: [FieldScores]

    enum CodingKeys: String, CodingKey {
        case validJSONRate = "validJsonRate", exactMatch, precision, recall, f1, fields
    }

    public init(references: [[String: JSONValue]], predictions: [[String: JSONValue]?]) {
        precondition(references.count == predictions.count, "one prediction per reference")
        var right: [String: Int] = [:], predicted: [String: Int] = [:], expected: [String: Int] = [:]
        var valid = 0, exact = 0
        for (reference, prediction) in zip(references, predictions) {
            for key in reference.keys { expected[key, default: 0] += 1 }
            guard let prediction else { continue }
            valid += 1
            if prediction == reference { exact += 1 }
            for (key, value) in prediction {
                predicted[key, default: 0] += 1
                if reference[key] == value { right[key, default: 0] += 1 }
            }
        }
        let n = Double(references.count)
        validJSONRate = references.isEmpty ? .nan : Double(valid) / n
        exactMatch = references.isEmpty ? .nan : Double(exact) / n
        let totalRight = right.values.reduce(0, +), totalPredicted = predicted.values.reduce(0, +), totalExpected = expected.values.reduce(0, +)
        precision = totalPredicted > 0 ? Double(totalRight) / Double(totalPredicted) : 0
        recall = totalExpected > 0 ? Double(totalRight) / Double(totalExpected) : 0
        f1 = harmonicMean(precision, recall)
        fields = expected.keys.sorted().map { key in
            let p = predicted[key].map { Double(right[key] ?? 0) / Double($0) } ?? 0
            let r = Double(right[key] ?? 0) / Double(expected[key]!)
            return FieldScores(field: key, precision: p, recall: r, f1: harmonicMean(p, r), support: expected[key]!)
        }
    }
}
