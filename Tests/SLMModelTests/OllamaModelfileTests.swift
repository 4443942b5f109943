import Foundation
import SLMModel
import SLMTestSupport
import XCTest

/// The Modelfile's TEMPLATE for each format, run by Go's text/template as ollama runs it
/// (fixtures/make_ollama_renders.py), renders the next-reply prompt as transformers renders the model's
/// own template (without BOS, which ollama's runner adds).
final class OllamaModelfileTests: XCTestCase {
    private struct Recorded: Decodable {
        struct Template: Codable, Equatable {
            let template: String
            let system: String?
        }

        struct Render: Decodable {
            let template: String
            let conversation: String
            let text: String
        }

        let templates: [String: Template]
        let renders: [Render]
    }

    private struct ChatRenders: Decodable {
        struct Render: Decodable {
            let template: String
            let conversation: String
            let add_generation_prompt: Bool
            let text: String?
        }

        let renders: [Render]
    }

    private static let templateFiles = [
        "smollm2.jinja", "qwen2.5.jinja", "qwen3.jinja", "llama3.jinja", "llama3.1.jinja", "llama3.2.jinja", "mistral-nemo.jinja",
        "mistral-v0.3.jinja", "phi3.5.jinja", "phi4-mini.jinja", "gemma2.jinja", "gemma3.jinja",
    ]

    /// slm's TEMPLATE and SYSTEM for each real template (Llama 3.2's date as the fixtures render it).
    private func currentTemplates() throws -> [String: Recorded.Template] {
        var out: [String: Recorded.Template] = [:]
        for file in Self.templateFiles {
            let text = try String(contentsOfFile: Fixture.path("chat_templates/" + file), encoding: .utf8)
            var template = try XCTUnwrap(ChatTemplate(declared: text))
            if file == "llama3.2.jinja" { template.llama3DateHeader?.today = "05 Mar 2025" }
            out[file] = Recorded.Template(template: OllamaModelfile.ollamaTemplate(template), system: template.defaultSystemPrompt)
        }
        return out
    }

    func testTemplatesAreTheOnesOllamaRenderingWasRecordedWith() throws {
        let current = try currentTemplates()
        // The input of fixtures/make_ollama_renders.py, for re-recording after a template changes.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(current).write(to: URL(fileURLWithPath: "/tmp/slm-ollama-templates.json"))
        let recorded = try JSONDecoder().decode(Recorded.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("ollama_renders.json"))))
        for file in Self.templateFiles {
            XCTAssertEqual(current[file], recorded.templates[file], "\(file): re-run fixtures/make_ollama_renders.py")
        }
    }

    func testOllamaRendersTheNextReplysPromptAsTransformersDoes() throws {
        let recorded = try JSONDecoder().decode(Recorded.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("ollama_renders.json"))))
        let chat = try JSONDecoder().decode(ChatRenders.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("chat_templates.json"))))
        var compared = 0
        for render in recorded.renders {
            let reference = try XCTUnwrap(chat.renders.first {
                $0.template == render.template && $0.conversation == render.conversation && $0.add_generation_prompt
            }?.text)
            let withoutBOS = ["<|begin_of_text|>", "<s>", "<bos>"].reduce(reference) { $0.hasPrefix($1) ? String($0.dropFirst($1.count)) : $0 }
            XCTAssertEqual(render.text, withoutBOS, "\(render.template) \(render.conversation)")
            compared += 1
        }
        XCTAssertEqual(compared, 35)  // 3 conversations × 12 templates, less Gemma 2 with a system message (its template refuses it)
    }

    func testEachFormatGetsItsTemplateSystemAndStops() throws {
        let cases: [(String, [String], String?)] = [
            ("smollm2.jinja", ["<|im_start|>", "<|im_end|>"], "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
            ("llama3.2.jinja", ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], nil),
            ("mistral-v0.3.jinja", ["[INST]", "[/INST]", "</s>"], nil),
            ("phi3.5.jinja", ["<|end|>", "<|user|>", "<|assistant|>"], nil),
            ("phi4-mini.jinja", ["<|end|>", "<|user|>", "<|assistant|>"], nil),
            ("gemma3.jinja", ["<start_of_turn>", "<end_of_turn>"], nil),
        ]
        for (file, stops, system) in cases {
            let declared = try String(contentsOfFile: Fixture.path("chat_templates/" + file), encoding: .utf8)
            let text = OllamaModelfile.text(ggufFile: "/tmp/out/model.gguf", chatTemplate: declared, eosToken: "<eos-token>")
            XCTAssertTrue(text.hasPrefix("FROM ./model.gguf\n\nTEMPLATE \"\"\""), file)
            XCTAssertTrue(text.contains(OllamaModelfile.ollamaTemplate(try XCTUnwrap(ChatTemplate(declared: declared)))), file)
            XCTAssertEqual(text.contains("SYSTEM \"\"\"\(system ?? "")\"\"\""), system != nil, file)
            let stopLines = text.split(separator: "\n").filter { $0.hasPrefix("PARAMETER stop ") }.map(String.init)
            XCTAssertEqual(stopLines, (stops + ["<eos-token>"]).map { "PARAMETER stop \"\($0)\"" }, file)
        }
        let unknown = OllamaModelfile.text(ggufFile: "m.gguf", chatTemplate: "{{ messages }}", eosToken: nil)
        XCTAssertFalse(unknown.contains("TEMPLATE"))
        XCTAssertTrue(unknown.contains("# the model's chat template is none of slm's formats"))
    }
}
