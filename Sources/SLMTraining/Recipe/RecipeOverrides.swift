import Foundation
import Yams

/// `--set key.path=value` overrides (`train.lr=1e-4`, `lora.target_modules=[q_proj,v_proj]`), applied
/// to a recipe's YAML tree before it is read, so an overridden value gets every check a value in the
/// file gets. The value is YAML; an empty one is null. A section the file lacks is created.
enum RecipeOverrides {
    /// Malformed overrides are logged and skipped; the rest are applied in order.
    static func apply(_ overrides: [String], to root: inout Node, log: ProblemLog) {
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                log.addOverrideProblem(override, "expected key.path=value")
                continue
            }
            let keyPath = override[..<equals].trimmingCharacters(in: .whitespaces)
            let path = keyPath.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) else {
                log.addOverrideProblem(keyPath, "expected key.path=value, with names between the dots")
                continue
            }
            let value: Node
            do {
                value = try Yams.compose(yaml: String(override[override.index(after: equals)...])) ?? Node("null")
            } catch {
                log.addOverrideProblem(keyPath, "the value is not valid YAML: \(YAMLSyntax.message(of: error))")
                continue
            }
            root = set(withoutMarks(value), at: path[...], in: root)
        }
    }

    /// `node` with `value` at `path`; whatever is in the way that is not a mapping is replaced by one.
    private static func set(_ value: Node, at path: ArraySlice<String>, in node: Node) -> Node {
        guard let key = path.first else { return value }
        var mapping = node.mapping ?? Node.Mapping([])
        if let index = mapping.firstIndex(where: { $0.key.string == key }) {
            let old = mapping[index]
            mapping[index] = (key: old.key, value: set(value, at: path.dropFirst(), in: old.value))
        } else {
            mapping[Node(key)] = set(value, at: path.dropFirst(), in: Node("null"))
        }
        return .mapping(mapping)
    }

    /// Problems about a node without a mark are reported as coming from `--set` (see `ProblemLog`).
    private static func withoutMarks(_ node: Node) -> Node {
        switch node {
        case .scalar(var scalar):
            scalar.mark = nil
            return .scalar(scalar)
        case .mapping(let mapping):
            return .mapping(Node.Mapping(mapping.map { (withoutMarks($0.key), withoutMarks($0.value)) }, mapping.tag, mapping.style))
        case .sequence(let sequence):
            return .sequence(Node.Sequence(sequence.map(withoutMarks), sequence.tag, sequence.style))
        case .alias:
            return node
        }
    }
}
