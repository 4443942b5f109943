/// An error raised by a tensor op, naming the op and the shapes it was given
/// so that a user can find the line of model code that caused it.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable { case invalidInput, nonFiniteValue }

    public let op: String
    public let message: String
    /// `.nonFiniteValue`: a NaN or infinity turned up in the numbers (a diverging run), not a bad call.
    public let kind: Kind

    public init(op: String, _ message: String, kind: Kind = .invalidInput) {
        self.op = op
        self.message = message
        self.kind = kind
    }

    public var description: String { "\(op): \(message)" }

    static func shapeMismatch(_ op: String, _ shapes: [Int]...) -> TensorError {
        TensorError(op: op, "incompatible shapes " + shapes.map { "\($0)" }.joined(separator: " and "))
    }
}

func describe(_ shapes: [[Int]]) -> String {
    shapes.map { "\($0)" }.joined(separator: ", ")
}
