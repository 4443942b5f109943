/// The numbers a recipe key accepts, with the words that say so in a problem message.
struct ValueRange {
    var lower: Double?
    var lowerIncluded = true
    var upper: Double?
    var upperIncluded = false

    static let any = ValueRange()
    static func atLeast(_ x: Double) -> ValueRange { ValueRange(lower: x) }
    static func above(_ x: Double) -> ValueRange { ValueRange(lower: x, lowerIncluded: false) }
    /// [a, b)
    static func from(_ a: Double, below b: Double) -> ValueRange { ValueRange(lower: a, upper: b) }
    /// (a, b)
    static func between(_ a: Double, _ b: Double) -> ValueRange { ValueRange(lower: a, lowerIncluded: false, upper: b) }

    func contains(_ x: Double) -> Bool {
        guard x.isFinite else { return false }
        if let lower, lowerIncluded ? x < lower : x <= lower { return false }
        if let upper, upperIncluded ? x > upper : x >= upper { return false }
        return true
    }

    var description: String {
        switch (lower, upper) {
        case let (lower?, upper?):
            return "in \(lowerIncluded ? "[" : "(")\(format(lower)), \(format(upper))\(upperIncluded ? "]" : ")")"
        case let (lower?, nil): return lowerIncluded ? "at least \(format(lower))" : "greater than \(format(lower))"
        case let (nil, upper?): return upperIncluded ? "at most \(format(upper))" : "less than \(format(upper))"
        case (nil, nil): return "a finite number"
        }
    }

    private func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}
