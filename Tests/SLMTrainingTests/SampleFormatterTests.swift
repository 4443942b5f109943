import Foundation
import SLMModel
import SLMTestSupport
import SLMTraining
import XCTest

final class SampleFormatterTests: XCTestCase {
    let chatML = { var t = ChatTemplate(.chatml); t.defaultSystemPrompt = "You are helpful."; return t }()
    let chat: [ChatMessage] = [
        .init(role: "user", content: "Hi there"), .init(role: "assistant", content: "Hello!"),
        .init(role: "user", content: "2+2?"), .init(role: "assistant", content: " 4\n"),
    ]

    func testChatMLLearnsEveryAssistantReplyWithItsEndOfTurn() throws {
        let tokenizer = try byteTokenizer()
        let sample = try SampleFormatter(tokenizer: tokenizer, template: chatML, lossOn: .completion).sample(.chat(chat))
        XCTAssertEqual(tokenizer.decode(sample.ids), chatML.render(chat, addGenerationPrompt: false))
        XCTAssertEqual(targetRuns(sample, tokenizer), ["Hello!<|im_end|>", " 4\n<|im_end|>"])
    }

    /// Each format's mask covers exactly its assistant replies as the format writes them (Llama 3 and
    /// Gemma trim them, Mistral v0.3 puts a space first) and their end-of-turn token.
    func testEveryFormatLearnsItsRepliesAndTheirEndOfTurnOnly() throws {
        let tokenizer = try byteTokenizer(extraSpecial: ChatFormat.allCases.map(\.endOfTurn) + [
            "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|system|>", "<|user|>", "<|assistant|>", "<|endoftext|>",
            "<bos>", "<start_of_turn>",
        ])
        let expected: [ChatFormat: [String]] = [
            .chatml: ["Hello!<|im_end|>", " 4\n<|im_end|>"], .llama3: ["Hello!<|eot_id|>", "4<|eot_id|>"], .mistral: [" Hello!</s>", " 4</s>"],
            .phi3: ["Hello!<|end|>", " 4\n<|end|>"], .phi4: ["Hello!<|end|>", " 4\n<|end|>"], .gemma: ["Hello!<end_of_turn>", "4<end_of_turn>"],
        ]
        for format in ChatFormat.allCases {
            let template = ChatTemplate(format)
            let formatter = SampleFormatter(tokenizer: tokenizer, template: template, lossOn: .completion)
            let sample = try formatter.sample(.chat(chat))
            XCTAssertEqual(tokenizer.decode(sample.ids), template.render(chat, addGenerationPrompt: false), "\(format)")
            XCTAssertEqual(targetRuns(sample, tokenizer), expected[format], "\(format)")
            let prompt = try XCTUnwrap(try formatter.evaluationPrompt(.chat(chat)))
            XCTAssertEqual(tokenizer.decode(prompt.promptIds), template.render(Array(chat.prefix(3)), addGenerationPrompt: true), "\(format)")
        }
    }

    func testPromptCompletionAndAlpacaBecomeAUserMessageAndItsReply() throws {
        let tokenizer = try byteTokenizer()
        let formatter = SampleFormatter(tokenizer: tokenizer, template: chatML, lossOn: .completion)
        let cases: [(DataRecord, [ChatMessage])] = [
            (.promptCompletion(prompt: "Route: refund please", completion: "billing"), [.init(role: "user", content: "Route: refund please"), .init(role: "assistant", content: "billing")]),
            (.alpaca(instruction: "Add", input: "2 and 2", output: "4"), [.init(role: "user", content: "Add\n\n2 and 2"), .init(role: "assistant", content: "4")]),
            (.alpaca(instruction: "Say hi", input: "", output: "hi"), [.init(role: "user", content: "Say hi"), .init(role: "assistant", content: "hi")]),
        ]
        for (record, messages) in cases {
            let sample = try formatter.sample(record)
            XCTAssertEqual(sample, try formatter.sample(.chat(messages)))
            XCTAssertEqual(tokenizer.decode(sample.ids), chatML.render(messages, addGenerationPrompt: false))
            XCTAssertEqual(targetRuns(sample, tokenizer), [messages[1].content + "<|im_end|>"])
        }
    }

    func testPlainTextStartsWithBOSAndLearnsTheCompletionAndEOS() throws {
        let tokenizer = try byteTokenizer()
        let formatter = SampleFormatter(tokenizer: tokenizer, template: nil, lossOn: .completion)
        let completion = try formatter.sample(.promptCompletion(prompt: "The capital of France is", completion: " Paris."))
        XCTAssertEqual(completion.ids.first, tokenizer.bosTokenId)
        XCTAssertEqual(tokenizer.decode(completion.ids), "<s>The capital of France is Paris.</s>")
        XCTAssertEqual(targetRuns(completion, tokenizer), [" Paris.</s>"])

        let alpaca = try formatter.sample(.alpaca(instruction: "Add the numbers.", input: "2, 2", output: "4"))
        XCTAssertEqual(tokenizer.decode(alpaca.ids), """
            <s>Below is an instruction that describes a task, paired with an input that provides further context. \
            Write a response that appropriately completes the request.

            ### Instruction:
            Add the numbers.

            ### Input:
            2, 2

            ### Response:
            4</s>
            """)
        XCTAssertEqual(targetRuns(alpaca, tokenizer), ["4</s>"])
        let noInput = tokenizer.decode(try formatter.sample(.alpaca(instruction: "Say hi.", input: "", output: "hi")).ids)
        XCTAssertEqual(noInput, """
            <s>Below is an instruction that describes a task. Write a response that appropriately completes the request.

            ### Instruction:
            Say hi.

            ### Response:
            hi</s>
            """)
    }

    func testTextIsLearnedWholeAndNeverTemplated() throws {
        let tokenizer = try byteTokenizer()
        let plain = try SampleFormatter(tokenizer: tokenizer, template: nil, lossOn: .completion).sample(.text("Once upon"))
        XCTAssertEqual(tokenizer.decode(plain.ids), "<s>Once upon</s>")
        XCTAssertEqual(plain.lossMask, [false] + Array(repeating: true, count: 10))
        let templated = try SampleFormatter(tokenizer: tokenizer, template: chatML, lossOn: .completion).sample(.text("Once upon"))
        XCTAssertEqual(tokenizer.decode(templated.ids), "Once upon</s>")
        XCTAssertEqual(templated.lossMask, [false] + Array(repeating: true, count: 9), "every token but the first, which nothing predicts")
    }

    func testLossOnAllLearnsEveryTokenButTheFirst() throws {
        let tokenizer = try byteTokenizer()
        for template in [chatML, nil] {
            for record in [DataRecord.chat(chat), .promptCompletion(prompt: "p", completion: "c"), .alpaca(instruction: "i", input: "x", output: "o")] {
                guard template != nil || record.format != .chat else { continue }
                let sample = try SampleFormatter(tokenizer: tokenizer, template: template, lossOn: .all).sample(record)
                XCTAssertEqual(sample.lossMask, [false] + Array(repeating: true, count: sample.ids.count - 1))
                XCTAssertEqual(sample.ids, try SampleFormatter(tokenizer: tokenizer, template: template, lossOn: .completion).sample(record).ids)
            }
        }
    }

    func testChatWithoutATemplateIsAnError() throws {
        let formatter = SampleFormatter(tokenizer: try byteTokenizer(), template: nil, lossOn: .completion)
        XCTAssertThrowsError(try formatter.sample(.chat(chat))) {
            XCTAssertTrue("\($0)".contains("set model.chat_template to the model's format (chatml, llama3"), "\($0)")
        }
    }

    func testEvaluationPromptIsEverythingBeforeTheFinalReply() throws {
        let tokenizer = try byteTokenizer()
        let templated = SampleFormatter(tokenizer: tokenizer, template: chatML, lossOn: .completion)
        let withTrailingUser = chat + [.init(role: "user", content: "thanks")]
        let eval = try XCTUnwrap(try templated.evaluationPrompt(.chat(withTrailingUser)))
        XCTAssertEqual(tokenizer.decode(eval.promptIds), chatML.render(Array(chat.prefix(3)), addGenerationPrompt: true))
        XCTAssertEqual(eval.reference, " 4\n")
        let sample = try templated.sample(.chat(chat))
        XCTAssertEqual(Array(sample.ids.prefix(eval.promptIds.count)), eval.promptIds, "the prompt is the training sample's own start")

        let plain = SampleFormatter(tokenizer: tokenizer, template: nil, lossOn: .completion)
        let completion = try XCTUnwrap(try plain.evaluationPrompt(.promptCompletion(prompt: "Q: 1+1\nA:", completion: " 2")))
        XCTAssertEqual(completion.promptIds, [258] + tokenizer.encode("Q: 1+1\nA:"))
        XCTAssertEqual(completion.reference, " 2")
        XCTAssertEqual(try plain.evaluationPrompt(.alpaca(instruction: "i", input: "", output: "o"))?.reference, "o")
        XCTAssertNil(try plain.evaluationPrompt(.text("no prompt here")))
    }

    /// The shipped datasets through the demo model's own tokenizer and template: tokenizing piece by
    /// piece (for the mask) gives exactly the ids of the whole rendered conversation.
    func testPiecewiseTokensEqualTheWholeRenderingOnTheShippedDatasets() throws {
        let gguf = try GGUFFile(path: try Fixture.demoModelPath())
        let tokenizer = try BPETokenizer.load(gguf: gguf)
        let template = try XCTUnwrap(ChatTemplate(gguf: gguf))
        let formatter = SampleFormatter(tokenizer: tokenizer, template: template, lossOn: .completion)
        var checked = 0
        for file in ["ticket-routing/train.jsonl", "ticket-routing/heldout.jsonl", "note-extraction/train.jsonl", "note-extraction/heldout.jsonl"] {
            for record in try JSONLDataset.load(path: datasetPath(file), format: .chat).records {
                guard case .chat(let messages) = record else { return XCTFail("\(file): not a chat record") }
                let sample = try formatter.sample(record)
                XCTAssertEqual(sample.ids, tokenizer.encode(template.render(messages, addGenerationPrompt: false)), "\(file): \(messages.last!.content)")
                let replies = messages.filter { $0.role == "assistant" }.map { $0.content + "<|im_end|>" }
                XCTAssertEqual(targetRuns(sample, tokenizer), replies)
                let eval = try XCTUnwrap(try formatter.evaluationPrompt(record))
                XCTAssertEqual(eval.promptIds, tokenizer.encode(template.render(Array(messages.dropLast()), addGenerationPrompt: true)))
                XCTAssertEqual(eval.reference, messages.last!.content)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 2000)
    }
}
