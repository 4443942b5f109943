/// One thing wrong with a recipe, located so the user can go and fix it.
public struct RecipeProblem: Sendable, Equatable, CustomStringConvertible {
    /// The recipe file as the user named it, or `--set` for a value given as an override.
    public var file: String
    /// 1-based; nil when there is no one line to point at (a missing section, an override).
    public var line: Int?
    /// The dotted key, e.g. `train.lr`; empty when the problem is the whole file.
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int?, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    /// `file:line: key.path: message`, the form compilers use, so editors can jump to it.
    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

/// Everything wrong with a recipe, found in one pass so that it can all be fixed at once.
public struct RecipeError: Error, CustomStringConvertible {
    public var problems: [RecipeProblem]

    public init(problems: [RecipeProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
