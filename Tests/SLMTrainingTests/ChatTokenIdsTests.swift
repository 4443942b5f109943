import Foundation
import SLMModel
import SLMTestSupport
import SLMTraining
import XCTest

/// Training samples are tokenized segment by segment (so the loss mask follows the template's pieces);
/// their ids must still be those of the whole rendered conversation, as transformers'
/// apply_chat_template(tokenize=True) gives them (fixtures/make_chat_token_ids.py): Mistral's
/// SentencePiece v3 vocabulary in both tokenizer.json layouts with Mistral v0.3's template, and Tekken with
/// Mistral Nemo's.
final class ChatTokenIdsTests: XCTestCase {
    struct Expected: Decodable {
        struct Message: Decodable {
            let role: String
            let content: String
        }
        struct Rendered: Decodable {
            let ids: [Int32]
            let text: String
        }
        struct Vocabulary: Decodable {
            let file: String
            let template: String
            let conversations: [String: Rendered]
        }
        let conversations: [String: [Message]]
        let vocabularies: [String: Vocabulary]
    }

    func testSegmentBySegmentIdsEqualTheWholeConversationsIds() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("chat_token_ids.json"))))
        for (name, vocabulary) in expected.vocabularies.sorted(by: { $0.key < $1.key }) {
            let path = try Fixture.tokenizerVocabulary(vocabulary.file)
            let tokenizer = switch name {
            case "mistral-v3/legacy": try BPETokenizer.load(sentencePieceModel: path)
            case "mistral-v3/first": try BPETokenizer.load(sentencePieceModel: path, metaspace: Metaspace(prefix: .first, decodeStripsLeadingSpace: true))
            default: try BPETokenizer.load(tekken: path)
            }
            let text = try String(contentsOfFile: Fixture.path("chat_templates/" + vocabulary.template), encoding: .utf8)
            let template = try XCTUnwrap(ChatTemplate(declared: text, today: nil), vocabulary.template)
            let formatter = SampleFormatter(tokenizer: tokenizer, template: template, lossOn: .completion)
            for (conversation, rendered) in vocabulary.conversations.sorted(by: { $0.key < $1.key }) {
                let messages = expected.conversations[conversation]!.map { ChatMessage(role: $0.role, content: $0.content) }
                XCTAssertEqual(template.render(messages, addGenerationPrompt: false), rendered.text, "\(name) \(conversation)")
                let sample = try formatter.sample(.chat(messages))
                XCTAssertEqual(sample.ids, rendered.ids, "\(name) \(conversation): \(tokenizer.decode(sample.ids).debugDescription)")
            }
        }
    }
}
