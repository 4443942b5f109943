import Foundation
import SLMModel

/// Reads one JSONL line as a record of the file's format, or says what is wrong with it.
/// A line's format shows in its keys (table below); other keys are ignored.
enum DataRecordParser {
    /// What is wrong with a line, in words for the user.
    struct BadLine: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// The keys that identify each format (alpaca's "input" is optional).
    static let identifyingKeys: [(format: Recipe.DataFormat, keys: [String])] = [
        (.text, ["text"]), (.promptCompletion, ["prompt", "completion"]), (.alpaca, ["instruction", "output"]), (.chat, ["messages"]),
    ]

    static let chatRoles: Set = ["system", "user", "assistant"]

    /// The record on `line`. `format`: the file's, or nil while it is undecided (the line's keys decide);
    /// `decidedBy` says where the file's format came from, for the message about a line of another format.
    static func record(line: [UInt8], format: Recipe.DataFormat?, decidedBy: String) throws(BadLine) -> DataRecord {
        let object = try jsonObject(line)
        let matching = identifyingKeys.filter { entry in entry.keys.allSatisfy { object[$0] != nil } }.map(\.format)
        if let format {
            if matching.contains(format) { return try record(object, as: format) }
            if let other = matching.first {
                throw BadLine("a \(other.rawValue) line (keys \(keyList(object))) in a \(format.rawValue) file (\(decidedBy)); every line must have the file's format")
            }
            let needed = identifyingKeys.first { $0.format == format }!.keys
            let missing = needed.filter { object[$0] == nil }
            throw BadLine("missing \(quotedList(missing)): a \(format.rawValue) line needs \(quotedList(needed)); found keys \(keyList(object))")
        }
        switch matching.count {
        case 0:
            throw BadLine("no data format has these keys (\(keyList(object))); expected \"text\", \"prompt\" and \"completion\", \"instruction\" and \"output\", or \"messages\"")
        case 1:
            return try record(object, as: matching[0])
        default:
            throw BadLine("the keys fit several formats (\(matching.map(\.rawValue).joined(separator: ", "))); set data.format to say which")
        }
    }

    private static func jsonObject(_ line: [UInt8]) throws(BadLine) -> [String: Any] {
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
            let start = String(decoding: line.prefix(60), as: UTF8.self)
            throw BadLine("not valid JSON (\(detail)): \(start)\(line.count > 60 ? "…" : "")")
        }
        guard let object = value as? [String: Any] else {
            throw BadLine("\(describe(value)), not a JSON object; each line must be one object such as {\"text\": \"...\"}")
        }
        return object
    }

    private static func record(_ object: [String: Any], as format: Recipe.DataFormat) throws(BadLine) -> DataRecord {
        switch format {
        case .text:
            return .text(try learned("text", in: object))
        case .promptCompletion:
            return .promptCompletion(prompt: try string("prompt", in: object), completion: try learned("completion", in: object))
        case .alpaca:
            let input = try (object["input"] is NSNull ? "" : string("input", in: object, optional: true))
            return .alpaca(instruction: try string("instruction", in: object), input: input, output: try learned("output", in: object))
        case .chat:
            return .chat(try messages(object["messages"]!))
        case .auto:
            preconditionFailure("a file's format is decided before its lines are read")
        }
    }

    private static func messages(_ value: Any) throws(BadLine) -> [ChatMessage] {
        guard let items = value as? [Any], !items.isEmpty else {
            throw BadLine("\"messages\" must be a non-empty array of {\"role\", \"content\"} objects, found \(describe(value))")
        }
        var messages: [ChatMessage] = []
        for (n, item) in items.enumerated() {
            guard let object = item as? [String: Any] else { throw BadLine("messages[\(n)] must be a {\"role\", \"content\"} object, found \(describe(item))") }
            let role = try string("role", in: object, at: "messages[\(n)].")
            guard chatRoles.contains(role) else { throw BadLine("messages[\(n)].role \"\(role)\" is not system, user or assistant") }
            let content = try string("content", in: object, at: "messages[\(n)].")
            if role == "assistant" && isBlank(content) { throw BadLine("messages[\(n)] is an assistant message with empty content: nothing to learn") }
            messages.append(ChatMessage(role: role, content: content))
        }
        guard messages.contains(where: { $0.role == "assistant" }) else { throw BadLine("no assistant message: nothing to learn") }
        return messages
    }

    private static func string(_ key: String, in object: [String: Any], at path: String = "", optional: Bool = false) throws(BadLine) -> String {
        guard let value = object[key] else {
            if optional { return "" }
            throw BadLine("missing \"\(path)\(key)\"")
        }
        guard let text = value as? String else { throw BadLine("\"\(path)\(key)\" must be a string, found \(describe(value))") }
        return text
    }

    /// A string the model learns to write: empty would leave nothing to learn.
    private static func learned(_ key: String, in object: [String: Any]) throws(BadLine) -> String {
        let text = try string(key, in: object)
        if isBlank(text) { throw BadLine("\"\(key)\" is empty: nothing to learn") }
        return text
    }

    private static func isBlank(_ text: String) -> Bool { text.allSatisfy(\.isWhitespace) }

    private static func keyList(_ object: [String: Any]) -> String {
        object.isEmpty ? "none" : quotedList(object.keys.sorted())
    }

    private static func quotedList(_ keys: [String]) -> String {
        keys.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    /// The kind of a JSON value, for messages (Foundation reads true and false as numbers).
    private static func describe(_ value: Any) -> String {
        switch value {
        case is NSNull: "null"
        case is String: "a string"
        case is [Any]: "an array"
        case is [String: Any]: "an object"
        default: "a number or boolean"
        }
    }
}
