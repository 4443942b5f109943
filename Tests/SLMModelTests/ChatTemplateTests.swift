import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// Real chat templates (Tests/Fixtures/chat_templates) recognised as slm's formats, and conversations
/// rendered byte for byte as transformers' apply_chat_template renders them (fixtures/make_chat_templates.py).
final class ChatTemplateTests: XCTestCase {
    private struct Recorded: Decodable {
        struct Template: Decodable {
            let format: String
            let variables: [String: String]
        }

        struct Message: Decodable {
            let role: String
            let content: String
        }

        struct Render: Decodable {
            let template: String
            let conversation: String
            let add_generation_prompt: Bool
            let text: String?
        }

        let templates: [String: Template]
        let conversations: [String: [Message]]
        let renders: [Render]
    }

    private func recorded() throws -> Recorded {
        try JSONDecoder().decode(Recorded.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("chat_templates.json"))))
    }

    private func templateText(_ file: String) throws -> String {
        try String(contentsOfFile: Fixture.path("chat_templates/" + file), encoding: .utf8)
    }

    /// The template as slm recognises it, with the fixture's template variables (Llama 3.2's date).
    private func template(_ file: String, _ spec: Recorded.Template) throws -> ChatTemplate {
        var template = try XCTUnwrap(ChatTemplate(declared: try templateText(file)), "\(file) not recognised")
        if let date = spec.variables["date_string"] { template.llama3DateHeader?.today = date }
        return template
    }

    func testEachRealTemplateIsRecognisedAsItsFormat() throws {
        let fixture = try recorded()
        XCTAssertEqual(fixture.templates.count, 12)
        for (file, spec) in fixture.templates {
            XCTAssertEqual(try template(file, spec).format.rawValue, spec.format, file)
        }
    }

    func testRecognitionReadsTheTemplatesDetails() throws {
        XCTAssertEqual(
            ChatTemplate(declared: try templateText("smollm2.jinja"))?.defaultSystemPrompt,
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        XCTAssertEqual(
            ChatTemplate(declared: try templateText("qwen2.5.jinja"))?.defaultSystemPrompt,
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
        let qwen3 = try XCTUnwrap(ChatTemplate(declared: try templateText("qwen3.jinja")))
        XCTAssertNil(qwen3.defaultSystemPrompt)
        XCTAssertTrue(qwen3.reasoning)
        XCTAssertNil(ChatTemplate(declared: try templateText("llama3.jinja"))?.llama3DateHeader)
        XCTAssertEqual(
            ChatTemplate(declared: try templateText("llama3.1.jinja"))?.llama3DateHeader,
            ChatTemplate.Llama3DateHeader(knowledgeCutoff: "December 2023", today: "26 Jul 2024"))
        let day = Date(timeIntervalSince1970: 1_741_132_800)  // 5 March 2025, 00:00 UTC
        XCTAssertEqual(ChatTemplate(declared: try templateText("llama3.2.jinja"), today: day)?.llama3DateHeader?.today, "05 Mar 2025")
        XCTAssertEqual(ChatTemplate(declared: try templateText("llama3.2.jinja"), today: nil)?.llama3DateHeader?.today, "26 Jul 2024")
        XCTAssertEqual(ChatTemplate(.llama3, today: nil).llama3DateHeader?.today, "26 Jul 2024")
        XCTAssertEqual(ChatTemplate(declared: try templateText("mistral-v0.3.jinja"))?.mistralSpaced, true)
        XCTAssertEqual(ChatTemplate(declared: try templateText("mistral-nemo.jinja"))?.mistralSpaced, false)
    }

    func testRenderingEqualsTransformersApplyChatTemplate() throws {
        let fixture = try recorded()
        var compared = 0
        for render in fixture.renders {
            guard let expected = render.text else { continue }  // the real template refuses this conversation
            let spec = try XCTUnwrap(fixture.templates[render.template])
            let messages = try XCTUnwrap(fixture.conversations[render.conversation]).map { ChatMessage(role: $0.role, content: $0.content) }
            let template = try template(render.template, spec)
            let label = "\(render.template) \(render.conversation) generation prompt \(render.add_generation_prompt)"
            XCTAssertEqual(template.render(messages, addGenerationPrompt: render.add_generation_prompt), expected, label)
            compared += 1
        }
        XCTAssertEqual(compared, 186)
    }

    /// Gemma 2's template refuses a system message; Gemma 3's folds it into the first user turn, which
    /// is what slm renders for both.
    func testGemmaFoldsTheSystemMessageAsGemma3Does() throws {
        let fixture = try recorded()
        let gemma2 = fixture.renders.filter { $0.template == "gemma2.jinja" && $0.conversation.hasPrefix("system") }
        XCTAssertTrue(!gemma2.isEmpty && gemma2.allSatisfy { $0.text == nil })
        let gemma3 = try XCTUnwrap(fixture.renders.first { $0.template == "gemma3.jinja" && $0.conversation == "system_user" && $0.add_generation_prompt })
        XCTAssertEqual(gemma3.text, "<bos><start_of_turn>user\nYou are terse.\n\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n")
    }

    /// Replies and their end-of-turn tokens are exactly the assistant's part of each format; joined,
    /// the segments are the rendered text.
    func testSegmentsMarkEachReplyAndItsEndOfTurn() throws {
        let messages = [
            ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi"),
            ChatMessage(role: "assistant", content: "Hello."), ChatMessage(role: "user", content: "Bye"),
            ChatMessage(role: "assistant", content: "Bye."),
        ]
        let expectedReplies: [ChatFormat: [String]] = [
            .chatml: ["Hello.", "Bye."], .llama3: ["Hello.", "Bye."], .mistral: [" Hello.", " Bye."], .phi3: ["Hello.", "Bye."],
            .phi4: ["Hello.", "Bye."], .gemma: ["Hello.", "Bye."],
        ]
        for format in ChatFormat.allCases {
            let template = ChatTemplate(format, today: Date(timeIntervalSince1970: 0))
            let segments = template.segments(messages, addGenerationPrompt: false)
            XCTAssertEqual(segments.map(\.text).joined(), template.render(messages, addGenerationPrompt: false), "\(format)")
            XCTAssertEqual(segments.filter { $0.kind == .reply }.map(\.text), expectedReplies[format], "\(format)")
            XCTAssertEqual(segments.filter { $0.kind == .endOfTurn }.map(\.text), [format.endOfTurn, format.endOfTurn], "\(format)")
            for (i, s) in segments.enumerated() where s.kind == .reply {
                XCTAssertEqual(segments[i + 1].kind, .endOfTurn, "\(format): a reply is followed by its end of turn")
            }
        }
    }

    func testUnknownTemplatesAreRefusedNamingTheFileAndTheWayOut() throws {
        XCTAssertNil(ChatTemplate(declared: "{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}"))
        XCTAssertNil(ChatTemplate(declared: "{{ bos_token }}{% for m in messages %}{{ '[INST] <<SYS>>' }}{{ ' [/INST]' }}{% endfor %}"))
        XCTAssertNil(ChatTemplate(declared: "{{'<|im_start|>system<|im_sep|>'}}"))  // Phi-4 (14B), not ChatML
        XCTAssertThrowsError(try ChatTemplateChoice.auto.template(declared: "### {{ messages }}", source: "models/x/tokenizer_config.json")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("models/x/tokenizer_config.json"), text)
            XCTAssertTrue(text.contains("--chat-template") && text.contains("model.chat_template"), text)
        }
    }

    func testChoosingAFormatByNameKeepsTheDeclaredDetailsOfThatFormatOnly() throws {
        let smol = try templateText("smollm2.jinja")
        XCTAssertEqual(try ChatTemplateChoice.chatml.template(declared: smol, source: "m")?.defaultSystemPrompt, ChatTemplate(declared: smol)?.defaultSystemPrompt)
        let asGemma = try XCTUnwrap(try ChatTemplateChoice.gemma.template(declared: smol, source: "m"))
        XCTAssertEqual(asGemma.format, .gemma)
        XCTAssertNil(try ChatTemplateChoice.none.template(declared: smol, source: "m"))
        XCTAssertNil(try ChatTemplateChoice.auto.template(declared: nil, source: "m"))
        XCTAssertEqual(try ChatTemplateChoice.phi4.template(declared: nil, source: "m")?.stopTokens, ["<|end|>"])
    }
}
