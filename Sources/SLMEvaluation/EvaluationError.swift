/// An evaluation that cannot go on, said so a user can act on it: the file or model, what was
/// expected, what was found.
public struct EvaluationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
