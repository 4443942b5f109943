import Yams

/// The line and the words of a YAML parse error, without Yams' echo of the whole document.
enum YAMLSyntax {
    static func line(of error: Error) -> Int? {
        switch error as? YamlError {
        case let .scanner(_, _, mark, _)?, let .parser(_, _, mark, _)?, let .composer(_, _, mark, _)?: return mark.line
        case let .duplicatedKeysInMapping(_, context)?: return context.mark.line
        default: return nil
        }
    }

    static func message(of error: Error) -> String {
        switch error as? YamlError {
        case let .scanner(context, problem, _, _)?, let .parser(context, problem, _, _)?, let .composer(context, problem, _, _)?:
            return "YAML syntax error: \(problem)" + (context.map { " (\($0.text) on line \($0.mark.line))" } ?? "")
        case let .reader(problem, _, _, _)?:
            return "cannot read the text: \(problem)"
        case let .duplicatedKeysInMapping(duplicates, _)?:
            return "a key given twice in one mapping: \(duplicates.joined(separator: ", "))"
        default:
            return "\(error)"
        }
    }
}
