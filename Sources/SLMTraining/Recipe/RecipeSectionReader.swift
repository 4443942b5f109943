import Yams

/// One section of a recipe (a YAML mapping), read key by key into typed values. A value of the wrong
/// type or out of range is logged and the target keeps its default, so reading carries on and finds
/// every problem. The keys asked for are the section's known keys: whatever else the mapping holds is
/// reported by `logUnknownKeys`.
final class RecipeSectionReader {
    /// `train`; empty for the top level, whose keys are the sections.
    let name: String
    /// The section's key in the file (`train:`), where a missing key is reported; nil when the section is absent.
    let sectionKey: Node?
    private let pairs: [(key: Node, value: Node)]
    private let log: ProblemLog
    private(set) var knownKeys: [String] = []

    init(name: String, sectionKey: Node?, value: Node?, log: ProblemLog) {
        self.name = name
        self.sectionKey = sectionKey
        self.log = log
        switch value {
        case .mapping(let mapping)?:
            pairs = Array(mapping)
        case let value? where !isNull(value):
            log.add(at: value, name, "expected a mapping of \(name) keys, got \(describe(value))")
            pairs = []
        default:
            pairs = []
        }
    }

    /// Whether the file (or an override) gives this section at all, even empty.
    var isPresent: Bool { sectionKey != nil }

    func keyPath(_ key: String) -> String { name.isEmpty ? key : "\(name).\(key)" }

    /// The value of `key`, which becomes a known key; nil when it is absent.
    func value(_ key: String) -> Node? {
        if !knownKeys.contains(key) { knownKeys.append(key) }
        return pair(key)?.value
    }

    private func pair(_ key: String) -> (key: Node, value: Node)? {
        pairs.last { $0.key.string == key }
    }

    /// Given with a value other than null.
    func isGiven(_ key: String) -> Bool {
        value(key).map { !isNull($0) } ?? false
    }

    func section(_ key: String) -> RecipeSectionReader {
        RecipeSectionReader(name: keyPath(key), sectionKey: pair(key)?.key, value: value(key), log: log)
    }

    /// At the value of `key`; or at the key itself; or, when `key` is absent, at this section's key.
    func logProblem(_ key: String, _ message: String, atKey: Bool = false) {
        log.add(at: (atKey ? pair(key)?.key : value(key)) ?? sectionKey, keyPath(key), message)
    }

    // MARK: Typed values. Optional targets: null sets nil; absent keeps the default.

    func int(_ key: String, _ target: inout Int, _ range: ValueRange) {
        if let node = value(key), let x = integer(node, key, range) { target = x }
    }

    func int(_ key: String, _ target: inout Int?, _ range: ValueRange) {
        guard let node = value(key) else { return }
        if isNull(node) { target = nil } else if let x = integer(node, key, range) { target = x }
    }

    func seed(_ key: String, _ target: inout UInt64) {
        guard let node = value(key) else { return }
        if case .scalar(let s) = node, tagName(node) == .int, let x = UInt64.construct(from: s) {
            target = x
        } else if let x = node.int, x < 0 {
            log.add(at: node, keyPath(key), "must be at least 0, got \(x)")
        } else {
            log.add(at: node, keyPath(key), "expected an integer, got \(describe(node))")
        }
    }

    func number(_ key: String, _ target: inout Float, _ range: ValueRange) {
        if let node = value(key), let x = real(node, key, range) { target = float(node) ?? Float(x) }
    }

    func number(_ key: String, _ target: inout Float?, _ range: ValueRange) {
        guard let node = value(key) else { return }
        if isNull(node) { target = nil } else if let x = real(node, key, range) { target = float(node) ?? Float(x) }
    }

    /// Straight from the text: through Double, a Float's shortest decimal could round to its neighbour.
    private func float(_ node: Node) -> Float? { node.scalar.flatMap(Float.construct) }

    func number(_ key: String, _ target: inout Double?, _ range: ValueRange) {
        guard let node = value(key) else { return }
        if isNull(node) { target = nil } else if let x = real(node, key, range) { target = x }
    }

    func bool(_ key: String, _ target: inout Bool) {
        guard let node = value(key) else { return }
        if tagName(node) == .bool, let x = node.bool {
            target = x
        } else {
            log.add(at: node, keyPath(key), "expected true or false, got \(describe(node))")
        }
    }

    func string(_ key: String, _ target: inout String) {
        if let node = value(key), let x = text(node, keyPath(key)) { target = x }
    }

    func string(_ key: String, _ target: inout String?) {
        guard let node = value(key) else { return }
        if isNull(node) { target = nil } else if let x = text(node, keyPath(key)) { target = x }
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, _ target: inout Choice) where Choice.RawValue == String {
        guard let node = value(key) else { return }
        let allowed = Choice.allCases.map(\.rawValue)
        guard case .scalar(let s) = node, !isNull(node) else {
            log.add(at: node, keyPath(key), "expected one of \(allowed.joined(separator: ", ")), got \(describe(node))")
            return
        }
        if let x = Choice(rawValue: s.string) { target = x } else { logNotAllowed(s.string, node, keyPath(key), allowed) }
    }

    /// A list of strings, each one of `allowed` when that is given.
    func strings(_ key: String, _ target: inout [String], allowed: [String]? = nil) {
        guard let node = value(key) else { return }
        guard case .sequence(let sequence) = node else {
            let hint = tagName(node) == .str ? " (write [\(node.string ?? "")] for a list of one)" : ""
            log.add(at: node, keyPath(key), "expected a list of strings, got \(describe(node))\(hint)")
            return
        }
        guard !sequence.isEmpty else {
            log.add(at: node, keyPath(key), "needs at least one entry")
            return
        }
        var entries: [String] = []
        var valid = true
        for entry in sequence {
            guard let x = text(entry, keyPath(key)) else { valid = false; continue }
            if let allowed, !allowed.contains(x) {
                logNotAllowed(x, entry, keyPath(key), allowed)
                valid = false
            } else if entries.contains(x) {
                log.add(at: entry, keyPath(key), "lists \(x) twice")
                valid = false
            }
            entries.append(x)
        }
        if valid { target = entries }
    }

    /// Every key of the mapping that no reader asked for. A key of one of `otherSections` is pointed there
    /// (`train.sequence_length`: did you mean `data.sequence_length`?).
    func logUnknownKeys(otherSections: [RecipeSectionReader]) {
        for (key, _) in pairs {
            guard let name = key.string, key.scalar != nil else {
                log.add(at: key, self.name, "keys must be plain names, got \(describe(key))")
                continue
            }
            guard !knownKeys.contains(name) else { continue }
            var message = "unknown key \(name)"
            if let suggestion = KeySuggestion.suggestion(for: name, known: knownKeys) {
                message += "; did you mean \(suggestion)?"
            } else if let elsewhere = otherSections.lazy.compactMap({ other in
                KeySuggestion.sameKey(name, known: other.knownKeys).map(other.keyPath)
            }).first {
                message += "; did you mean \(elsewhere)?"
            } else {
                let what = self.name.isEmpty ? "sections" : "\(self.name) keys"
                message += " (the \(what) are \(knownKeys.joined(separator: ", ")))"
            }
            log.add(at: key, keyPath(name), message)
        }
    }

    // MARK: Scalars

    private func integer(_ node: Node, _ key: String, _ range: ValueRange) -> Int? {
        guard let x = wholeNumber(node) else {
            log.add(at: node, keyPath(key), "expected an integer, got \(describe(node))")
            return nil
        }
        guard range.contains(Double(x)) else {
            log.add(at: node, keyPath(key), "must be \(range.description), got \(x)")
            return nil
        }
        return x
    }

    /// An integer, or a float with no fraction (`steps: 1e4`).
    private func wholeNumber(_ node: Node) -> Int? {
        switch tagName(node) {
        case .int: return node.int
        case .float:
            guard let x = node.float, x == x.rounded(), abs(x) < 9e15 else { return nil }
            return Int(x)
        default: return nil
        }
    }

    private func real(_ node: Node, _ key: String, _ range: ValueRange) -> Double? {
        let x: Double?
        switch tagName(node) {
        case .int: x = node.int.map(Double.init)
        case .float: x = node.float
        default: x = nil
        }
        guard let x else {
            log.add(at: node, keyPath(key), "expected a number, got \(describe(node))")
            return nil
        }
        guard range.contains(x) else {
            log.add(at: node, keyPath(key), "must be \(range.description), got \(node.string ?? String(x))")
            return nil
        }
        return x
    }

    /// Any scalar but null and true/false, which are almost certainly not meant as text.
    private func text(_ node: Node, _ keyPath: String) -> String? {
        guard case .scalar(let s) = node, tagName(node) != .null, tagName(node) != .bool else {
            let hint = tagName(node) == .bool ? " (put it in quotes to mean the text)" : ""
            log.add(at: node, keyPath, "expected a string, got \(describe(node))\(hint)")
            return nil
        }
        guard !s.string.isEmpty else {
            log.add(at: node, keyPath, "must not be empty")
            return nil
        }
        return s.string
    }

    private func logNotAllowed(_ value: String, _ node: Node, _ keyPath: String, _ allowed: [String]) {
        let guess = KeySuggestion.suggestion(for: value, known: allowed).map { "did you mean \($0)? " } ?? ""
        log.add(at: node, keyPath, "\(value) is not allowed; \(guess)allowed: \(allowed.joined(separator: ", "))")
    }
}

func isNull(_ node: Node) -> Bool { tagName(node) == .null }

/// What a node is, for "expected …, got …" messages.
func describe(_ node: Node) -> String {
    switch node {
    case .scalar(let s):
        switch tagName(node) {
        case .null: return "null"
        case .bool: return "the boolean \(s.string)"
        case .int: return "the integer \(s.string)"
        case .float: return "the number \(s.string)"
        default: return "the string \"\(s.string)\""
        }
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    }
}

/// The node's resolved type: `.str`, `.int`, `.float`, `.bool`, `.null`, `.map`, `.seq`.
func tagName(_ node: Node) -> Tag.Name { Tag.Name(rawValue: node.tag.rawValue) }
