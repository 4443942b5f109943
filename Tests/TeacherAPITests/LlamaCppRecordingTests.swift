import Foundation
import SLMTestSupport
import SLMTraining
import XCTest

/// A response of llama.cpp's server recorded on the demo model (Tests/Fixtures/llamacpp-server):
/// the chat layout, with token ids, on both endpoints.
struct LlamaCppRecording {
    struct Position {
        var id: Int32
        var top: [(id: Int32, logprob: Float)]
    }
    var text: String
    var positions: [Position]
    var data: Data

    static func load(_ name: String) throws -> LlamaCppRecording {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.path("llamacpp-server/\(name).raw-response.json")))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let choice = (json["choices"] as! [[String: Any]])[0]
        let text = choice["text"] as? String ?? (choice["message"] as! [String: Any])["content"] as! String
        let content = (choice["logprobs"] as! [String: Any])["content"] as! [[String: Any]]
        let positions = content.map { entry in
            Position(
                id: Int32(entry["id"] as! Int),
                top: (entry["top_logprobs"] as! [[String: Any]]).map { (Int32($0["id"] as! Int), Float($0["logprob"] as! Double)) })
        }
        return LlamaCppRecording(text: text, positions: positions, data: data)
    }
}

/// The client's reader on llama.cpp's recorded responses and on OpenAI's legacy layout.
final class LlamaCppRecordingTests: XCTestCase {
    func testChatLayoutOnCompletionsIsRead() throws {
        let recording = try LlamaCppRecording.load("v1_completions_logprobs5_echo")
        let response = try APIResponse.parse(recording.data, source: "fixture")
        XCTAssertEqual(response.layout, .chat)
        XCTAssertEqual(response.text, " a non-profit organization that promotes the")
        XCTAssertEqual(response.positions.count, 8)
        XCTAssertEqual(response.positions.flatMap(\.bytes), Array(response.text.utf8), "echo ignored: only the reply's tokens")
        XCTAssertEqual(response.positions[0].bytes, Array(" a".utf8))
        XCTAssertEqual(response.positions[0].logprob!, -1.2293063, accuracy: 1e-6)
        XCTAssertEqual(response.positions[0].top.map(\.logprob), recording.positions[0].top.map(\.logprob))
        XCTAssertEqual(response.promptTokens, 6)
    }

    func testMaxTokensZeroStillGeneratesOneToken() throws {
        let response = try APIResponse.parse(try LlamaCppRecording.load("v1_completions_logprobs5_echo_maxtokens0").data, source: "fixture")
        XCTAssertEqual(response.positions.count, 1)
        XCTAssertEqual(response.completionTokens, 1)
    }

    func testChatCompletionsLayout() throws {
        let recording = try LlamaCppRecording.load("v1_chat_completions_logprobs_top5")
        let response = try APIResponse.parse(recording.data, source: "fixture")
        XCTAssertEqual(response.layout, .chat)
        XCTAssertEqual(response.text, "The GNU General Public License is a open")
        XCTAssertEqual(response.positions.count, 8)
        XCTAssertEqual(response.positions[1].top.count, 5)
        XCTAssertEqual(response.positions[1].top[0].bytes, Array(" GNU".utf8))
    }

    /// OpenAI's legacy layout: a `null` first entry, maps sorted by log-probability, `bytes:` tokens.
    func testLegacyLayout() throws {
        let body = #"""
            {"choices": [{"text": "Hi é", "index": 0, "finish_reason": "length",
              "logprobs": {"tokens": ["Hi", " ", "bytes:\\xc3", "bytes:\\xa9"], "token_logprobs": [null, -1.5, -0.25, -0.01],
                           "top_logprobs": [null, {" ": -1.5, "!": -0.5}, {"bytes:\\xc3": -0.25}, {"bytes:\\xa9": -0.01, "x": -5}],
                           "text_offset": [0, 2, 3, 3]}}],
             "usage": {"prompt_tokens": 4, "completion_tokens": 0}}
            """#
        let response = try APIResponse.parse(Data(body.utf8), source: "legacy")
        XCTAssertEqual(response.layout, .legacy)
        XCTAssertEqual(response.positions.map(\.bytes), [Array("Hi".utf8), [32], [0xC3], [0xA9]])
        XCTAssertNil(response.positions[0].logprob)
        XCTAssertEqual(response.positions[1].top.map(\.bytes), [Array("!".utf8), [32]])
        XCTAssertEqual(response.positions[3].top.map(\.logprob), [-0.01, -5])
    }

    func testMalformedBodiesAreErrorsNamingTheRequest() {
        XCTAssertThrowsError(try APIResponse.parse(Data("{\"choices\": [".utf8), source: "POST completions")) {
            XCTAssertTrue("\($0)".contains("POST completions"))
        }
        XCTAssertThrowsError(try APIResponse.parse(Data("{\"choices\": []}".utf8), source: "x"))
    }

    /// Different tokenizers: positions where the teacher cut the text differently stay unmapped.
    func testAlignmentLeavesDifferentlyCutPositionsUnmapped() {
        let tokenizer = StudentTokenizer.shared
        let text = "Hello world"
        let ids = tokenizer.encode(text)  // "Hello", " world"
        XCTAssertEqual(ids.count, 2)
        let teacher: [TeacherScoreAlignment.Placed] = [
            .init(offset: 0, position: APITokenPosition(bytes: Array("Hel".utf8), logprob: nil, top: [])),
            .init(offset: 3, position: APITokenPosition(bytes: Array("lo".utf8), logprob: -1, top: [APICandidate(bytes: Array("lo".utf8), logprob: -1)])),
            .init(offset: 5, position: APITokenPosition(bytes: Array(" world".utf8), logprob: -2, top: [
                APICandidate(bytes: Array(" world".utf8), logprob: -2), APICandidate(bytes: [0xFF, 0xFE], logprob: -3),
                APICandidate(bytes: Array(" there".utf8), logprob: -4),
            ])),
        ]
        let aligned = TeacherScoreAlignment.align(
            studentIDs: ids, studentTokenBytes: ids.map { tokenizer.bytes(of: $0) }, teacher: teacher, rows: 0..<1, k: 3,
            vocabulary: StudentVocabularyMap(tokenizer))
        XCTAssertEqual(aligned.mappedRows, 1)
        XCTAssertEqual(Array(aligned.scores.topTokenIDs[0..<3]), [ids[1], tokenizer.encode(" there")[0], -1])
        XCTAssertEqual(Array(aligned.scores.topLogProbs[0..<3]), [-2, -4, -.infinity])
        XCTAssertEqual(aligned.candidates, 3)
        XCTAssertEqual(aligned.mappedCandidates, 2)
    }
}
