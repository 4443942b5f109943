import Yams

/// Collects a recipe's problems while it is read, locating each by the YAML node it is about.
final class ProblemLog {
    static let overrideFile = "--set"

    let file: String
    private(set) var problems: [RecipeProblem] = []

    init(file: String) { self.file = file }

    /// `node` nil: no line to point at (something missing from the file). A node without a mark came
    /// from a `--set` override (overrides strip the marks their own tiny YAML documents gave them).
    func add(at node: Node?, _ keyPath: String, _ message: String) {
        guard let node else {
            problems.append(RecipeProblem(file: file, line: nil, keyPath: keyPath, message: message))
            return
        }
        if let mark = node.mark {
            problems.append(RecipeProblem(file: file, line: mark.line, keyPath: keyPath, message: message))
        } else {
            problems.append(RecipeProblem(file: Self.overrideFile, line: nil, keyPath: keyPath, message: message))
        }
    }

    func addOverrideProblem(_ keyPath: String, _ message: String) {
        problems.append(RecipeProblem(file: Self.overrideFile, line: nil, keyPath: keyPath, message: message))
    }

    /// In file order, lineless ones first; overrides after the file.
    var sorted: [RecipeProblem] {
        problems.enumerated().sorted { a, b in
            let ka = (a.element.file == Self.overrideFile ? 1 : 0, a.element.line ?? 0, a.offset)
            let kb = (b.element.file == Self.overrideFile ? 1 : 0, b.element.line ?? 0, b.offset)
            return ka < kb
        }.map(\.element)
    }
}
