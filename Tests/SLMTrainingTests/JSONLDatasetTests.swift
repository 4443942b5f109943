import Foundation
import SLMModel
import SLMTraining
import XCTest

final class JSONLDatasetTests: XCTestCase {
    private func load(_ lines: [String], format: Recipe.DataFormat = .auto, onBadLine: Recipe.BadLinePolicy = .error, maxLineBytes: Int = JSONLDataset.maxLineBytes) throws -> JSONLDataset {
        let path = try temporaryFile(lines.joined(separator: "\n"), test: self)
        return try JSONLDataset.load(path: path, format: format, onBadLine: onBadLine, maxLineBytes: maxLineBytes)
    }

    /// The error loading `lines` gives, with its file:line prefix checked.
    private func error(_ lines: [String], line: Int, format: Recipe.DataFormat = .auto, file: StaticString = #filePath, at: UInt = #line) throws -> String {
        let path = try temporaryFile(lines.joined(separator: "\n"), test: self)
        do throws(DataError) {
            let loaded = try JSONLDataset.load(path: path, format: format)
            XCTFail("loaded \(loaded.records.count) records, expected an error", file: file, line: at)
            return ""
        } catch {
            XCTAssertEqual(error.file, path, file: file, line: at)
            XCTAssertEqual(error.line, line, file: file, line: at)
            XCTAssertTrue(error.description.hasPrefix("\(path):\(line): "), error.description, file: file, line: at)
            return error.description
        }
    }

    func testEachFormatIsReadAndAutoDetected() throws {
        let cases: [(Recipe.DataFormat, [String], [DataRecord])] = [
            (.text, [#"{"text": "hello world"}"#, #"{"text": "ünïcode ✓", "id": 7}"#], [.text("hello world"), .text("ünïcode ✓")]),
            (.promptCompletion, [#"{"prompt": "2+2=", "completion": "4"}"#, #"{"prompt": "", "completion": "x"}"#],
             [.promptCompletion(prompt: "2+2=", completion: "4"), .promptCompletion(prompt: "", completion: "x")]),
            (.alpaca, [#"{"instruction": "Add", "input": "2, 2", "output": "4"}"#, #"{"instruction": "Say hi", "input": "", "output": "hi"}"#,
                       #"{"instruction": "Say hi", "output": "hi"}"#, #"{"instruction": "Say hi", "input": null, "output": "hi"}"#],
             [.alpaca(instruction: "Add", input: "2, 2", output: "4")] + Array(repeating: .alpaca(instruction: "Say hi", input: "", output: "hi"), count: 3)),
            (.chat, [#"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}"#,
                     #"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}"#],
             [.chat([.init(role: "system", content: "Be brief."), .init(role: "user", content: "Hi"), .init(role: "assistant", content: "Hello")]),
              .chat([.init(role: "user", content: "a"), .init(role: "assistant", content: "b"), .init(role: "user", content: "c"), .init(role: "assistant", content: "d")])]),
        ]
        for (format, lines, records) in cases {
            for asked in [Recipe.DataFormat.auto, format] {
                let file = try load(lines, format: asked)
                XCTAssertEqual(file.format, format)
                XCTAssertEqual(file.records, records, "\(format) read as \(asked)")
                XCTAssertEqual(file.skippedLines, 0)
            }
        }
    }

    func testBlankLinesAndCRLFEndingsAreIgnored() throws {
        let file = try load(["", #"{"text": "a"}"#, "   ", "\t", #"{"text": "b"}"# + "\r", "", ""])
        XCTAssertEqual(file.records, [.text("a"), .text("b")])
    }

    func testEachKindOfBadLineNamesFileLineAndWhatIsWrong() throws {
        let good = #"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#
        let bad: [(String, String)] = [
            (#"{"messages": [}"#, "not valid JSON"),
            (#"[1, 2]"#, "an array, not a JSON object"),
            (#""just a string""#, "a string, not a JSON object"),
            (#"{"text": "a text line"}"#, "a text line (keys \"text\") in a chat file (as line 1 shows)"),
            (#"{"prompt": "p", "completion": "c"}"#, "a prompt_completion line"),
            (#"{"conversation": []}"#, "missing \"messages\": a chat line needs \"messages\"; found keys \"conversation\""),
            (#"{"messages": "hi"}"#, "\"messages\" must be a non-empty array of {\"role\", \"content\"} objects, found a string"),
            (#"{"messages": []}"#, "\"messages\" must be a non-empty array"),
            (#"{"messages": [5]}"#, "messages[0] must be a {\"role\", \"content\"} object, found a number or boolean"),
            (#"{"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}]}"#, "messages[1].role \"tool\" is not system, user or assistant"),
            (#"{"messages": [{"role": "user", "content": null}, {"role": "assistant", "content": "a"}]}"#, "\"messages[0].content\" must be a string, found null"),
            (#"{"messages": [{"content": "q"}, {"role": "assistant", "content": "a"}]}"#, "missing \"messages[0].role\""),
            (#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]}"#, "messages[1] is an assistant message with empty content"),
            (#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}"#, "no assistant message"),
        ]
        for (line, expected) in bad {
            let message = try error([good, "", line, good], line: 3)
            XCTAssertTrue(message.contains(expected), "\(message) should say \(expected)")
            XCTAssertTrue(message.hasSuffix("(fix or remove the line, or set data.on_bad_line: skip)"), message)
        }
        let typed: [(String, Recipe.DataFormat, String)] = [
            (#"{"text": 42}"#, .text, "\"text\" must be a string, found a number or boolean"),
            (#"{"text": ""}"#, .text, "\"text\" is empty: nothing to learn"),
            (#"{"prompt": "p"}"#, .promptCompletion, "missing \"completion\": a prompt_completion line needs \"prompt\", \"completion\"; found keys \"prompt\""),
            (#"{"prompt": ["p"], "completion": "c"}"#, .promptCompletion, "\"prompt\" must be a string, found an array"),
            (#"{"prompt": "p", "completion": ""}"#, .promptCompletion, "\"completion\" is empty"),
            (#"{"instruction": "i", "input": {}, "output": "o"}"#, .alpaca, "\"input\" must be a string, found an object"),
            (#"{"instruction": "i", "output": "\n"}"#, .alpaca, "\"output\" is empty"),
        ]
        for (line, format, expected) in typed {
            let message = try error([line], line: 1, format: format)
            XCTAssertTrue(message.contains(expected), "\(message) should say \(expected)")
        }
    }

    func testAutoNeedsKeysOfExactlyOneFormat() throws {
        let unknown = try error([#"{"question": "q", "answer": "a"}"#], line: 1)
        XCTAssertTrue(unknown.contains("no data format has these keys (\"answer\", \"question\")"), unknown)
        let ambiguous = try error([#"{"text": "t", "prompt": "p", "completion": "c"}"#], line: 1)
        XCTAssertTrue(ambiguous.contains("several formats (text, prompt_completion); set data.format"), ambiguous)
        // With the format given, the other keys are ignored.
        XCTAssertEqual(try load([#"{"text": "t", "prompt": "p", "completion": "c"}"#], format: .text).records, [.text("t")])
    }

    func testSkipPolicyCountsBadLinesAndKeepsTheFirstReasons() throws {
        let lines = ["not json", #"{"text": "a"}"#, "[]", "", #"{"text": 1}"#, #"{"text": "b"}"#, "{", "{}", #"{"prompt": "p", "completion": "c"}"#, "nope", #"{"text": "c"}"#]
        let file = try load(lines, onBadLine: .skip)
        XCTAssertEqual(file.format, .text)
        XCTAssertEqual(file.records, [.text("a"), .text("b"), .text("c")])
        XCTAssertEqual(file.skippedLines, 7)
        XCTAssertEqual(file.skipReasons.map(\.line), [1, 3, 5, 7, 8])
        XCTAssertTrue(file.skipReasons.allSatisfy { $0.file == file.path && !$0.message.contains("on_bad_line") })
        XCTAssertTrue(file.skipReasons[2].message.contains("\"text\" must be a string"), file.skipReasons[2].message)
    }

    func testAutoFormatComesFromTheFirstGoodLine() throws {
        let file = try load(["{bad", #"{"messages": []}"#, #"{"prompt": "p", "completion": "c"}"#, #"{"text": "t"}"#], onBadLine: .skip)
        XCTAssertEqual(file.format, .promptCompletion)
        XCTAssertEqual(file.records, [.promptCompletion(prompt: "p", completion: "c")])
        XCTAssertEqual(file.skippedLines, 3)
        XCTAssertTrue(file.skipReasons[2].message.contains("a text line (keys \"text\") in a prompt_completion file (as line 3 shows)"), file.skipReasons[2].message)
    }

    func testOverlongLineIsABadLineWhateverItsLength() throws {
        // 3 MiB spans several read chunks; 600 bytes fits in one.
        for length in [600, 3 << 20] {
            let long = #"{"text": ""# + String(repeating: "x", count: length) + #""}"#
            let lines = [#"{"text": "a"}"#, long, #"{"text": "b"}"#]
            let file = try load(lines, onBadLine: .skip, maxLineBytes: 500)
            XCTAssertEqual(file.records, [.text("a"), .text("b")])
            XCTAssertEqual(file.skipReasons.map(\.line), [2])
            XCTAssertTrue(file.skipReasons[0].message.hasPrefix("longer than"), file.skipReasons[0].message)
            XCTAssertThrowsError(try load(lines, maxLineBytes: 500)) { XCTAssertEqual(($0 as? DataError)?.line, 2) }
            // The last line, without a newline after it.
            XCTAssertEqual(try load([#"{"text": "a"}"#, long], onBadLine: .skip, maxLineBytes: 500).skippedLines, 1)
        }
        XCTAssertEqual(try load([#"{"text": "a"}"#], maxLineBytes: 13).records, [.text("a")], "a line of exactly the limit is fine")
    }

    func testEmptyMissingAndAllBadFilesAreErrors() throws {
        XCTAssertThrowsError(try load(["", "  "])) { XCTAssertEqual(($0 as? DataError)?.message, "the file has no records") }
        XCTAssertThrowsError(try load(["x", "y"], onBadLine: .skip)) {
            let message = ($0 as? DataError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("all 2 non-blank lines are bad; the first: "), message)
        }
        XCTAssertThrowsError(try JSONLDataset.load(path: "/nonexistent/train.jsonl")) {
            XCTAssertEqual(($0 as? DataError)?.description, "/nonexistent/train.jsonl: cannot open the file")
        }
    }
}
