import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// KV-cached decoding and `Generator` on the demo model, against the full forward and the
/// greedy continuations transformers recorded (Tests/Fixtures/smollm2_reference.json).
final class GenerationTests: XCTestCase {
    struct Reference: Decodable {
        struct Chat: Decodable {
            let prompt_ids: [Int32]
            let greedy_ids: [Int32]
        }
        let text_ids: [Int32]
        let chats: [Chat]
    }

    nonisolated(unsafe) static var model: Transformer?
    /// The same file with its projections kept in Q4_1 blocks, as `slm generate` loads it.
    nonisolated(unsafe) static var quantizedModel: Transformer?
    nonisolated(unsafe) static var tokenizer: BPETokenizer?
    nonisolated(unsafe) static var template: ChatTemplate?

    override func setUpWithError() throws {
        Parallel.setThreads(2)
        let path = try Fixture.demoModelPath()
        if Self.model == nil {
            let file = try GGUFFile(path: path)
            Self.model = try GGUFModelLoader.load(file)
            Self.quantizedModel = try GGUFModelLoader.load(file, keepQuantized: true)
            Self.tokenizer = try BPETokenizer.load(gguf: file)
            Self.template = ChatTemplate(gguf: file)
        }
    }

    let reference = try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("smollm2_reference.json"))))

    /// Prefill in chunks, then single tokens, then another chunk: every row's logits equal the full forward's.
    func testCachedForwardMatchesFullForward() throws {
        let model = try XCTUnwrap(Self.model)
        let ids = Array(reference.text_ids.prefix(120))
        let full = try model.promptLogits(ids)
        let cache = try KVCache(config: model.config, maxTokens: 128)
        var worst: Float = 0
        var fed = 0
        for size in [70, 1, 1, 1, 1, 1, 45] {
            let hidden = try model.hiddenStates(Array(ids[fed..<(fed + size)]), cache: cache)
            let logits = try GradMode.withoutGrad { try model.logits(hidden) }
            for i in 0..<(size * model.config.vocabSize) {
                worst = max(worst, abs(logits.data[i] - full.data[fed * model.config.vocabSize + i]))
            }
            fed += size
        }
        XCTAssertEqual(cache.count, ids.count)
        XCTAssertEqual(cache.tokens, ids)
        XCTAssertLessThan(worst, 1e-4, "max |cached − full| logit")
        XCTAssertThrowsError(try model.hiddenStates(Array(ids.prefix(9)), cache: cache)) { error in
            XCTAssertTrue("\(error)".contains("do not fit"), "\(error)")
        }
    }

    func testTemplateRendersTheReferencePrompts() throws {
        let tokenizer = try XCTUnwrap(Self.tokenizer), template = try XCTUnwrap(Self.template)
        XCTAssertEqual(template.defaultSystemPrompt, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        var usedDefault = false
        for chat in reference.chats {
            // "<|im_start|>role\ncontent<|im_end|>\n" × messages, then "<|im_start|>assistant\n".
            var messages = tokenizer.decode(chat.prompt_ids).components(separatedBy: "<|im_start|>").dropFirst().dropLast().map { turn in
                let body = turn.components(separatedBy: "<|im_end|>")[0]
                let newline = body.firstIndex(of: "\n")!
                return ChatMessage(role: String(body[..<newline]), content: String(body[body.index(after: newline)...]))
            }
            if messages[0] == ChatMessage(role: "system", content: template.defaultSystemPrompt!) {
                messages.removeFirst()
                usedDefault = true
            }
            XCTAssertEqual(tokenizer.encode(template.render(messages)), chat.prompt_ids)
        }
        XCTAssertTrue(usedDefault)
    }

    /// The generator's greedy replies are transformers' (the EOS that ends one is yielded without text).
    func testGeneratorGreedyMatchesReferenceAndStreamsText() throws {
        try assertGreedyMatchesReference(try XCTUnwrap(Self.model))
    }

    /// The same replies token for token with the projections kept quantized: decoding multiplies
    /// straight from the Q4_1 blocks (`QuantizedGemv`), the prompt goes through dequantized tiles.
    func testGeneratorGreedyMatchesReferenceWithQuantizedWeights() throws {
        let model = try XCTUnwrap(Self.quantizedModel)
        XCTAssertTrue(model.layers[0].weights.qProj is QuantizedMatrix)
        try assertGreedyMatchesReference(model)
    }

    private func assertGreedyMatchesReference(_ model: Transformer, file: StaticString = #filePath, line: UInt = #line) throws {
        let tokenizer = try XCTUnwrap(Self.tokenizer)
        let generator = try Generator(model: model, tokenizer: tokenizer, contextLength: 256)
        for chat in reference.chats {
            try generator.start(prompt: chat.prompt_ids, parameters: GenerationParameters(maxTokens: chat.greedy_ids.count))
            var ids: [Int32] = [], text = ""
            while let token = try generator.next() {
                ids.append(token.id)
                text += token.text
            }
            XCTAssertEqual(ids, chat.greedy_ids, file: file, line: line)
            let ended = chat.greedy_ids.last == tokenizer.eosTokenId
            XCTAssertEqual(generator.finishReason, ended ? .stopToken : .maxTokens, file: file, line: line)
            XCTAssertEqual(text, tokenizer.decode(ended ? Array(chat.greedy_ids.dropLast()) : chat.greedy_ids), file: file, line: line)
            XCTAssertEqual(generator.statistics.generatedTokens, ids.count, file: file, line: line)
            XCTAssertNil(try generator.next(), file: file, line: line)
        }
    }

    func testStopStringCutsTheReply() throws {
        let model = try XCTUnwrap(Self.model), tokenizer = try XCTUnwrap(Self.tokenizer)
        let chat = try XCTUnwrap(reference.chats.max { $0.greedy_ids.count < $1.greedy_ids.count })
        let whole = tokenizer.decode(chat.greedy_ids.filter { $0 != 2 })
        let words = whole.split(separator: " ")
        XCTAssertGreaterThan(words.count, 4, whole)
        let stop = " " + words[3]
        let expected = String(whole[..<whole.range(of: stop)!.lowerBound])
        let generator = try Generator(model: model, tokenizer: tokenizer, contextLength: 256)
        let reply = try generator.generate(prompt: chat.prompt_ids, parameters: GenerationParameters(maxTokens: 64, stopStrings: [stop]))
        XCTAssertEqual(reply, expected)
        XCTAssertEqual(generator.finishReason, .stopString)
    }

    /// A reply stops when the cache is full: the last token sampled needs no room.
    func testReplyEndsWhenTheContextIsFull() throws {
        let model = try XCTUnwrap(Self.model), tokenizer = try XCTUnwrap(Self.tokenizer)
        let chat = try XCTUnwrap(reference.chats.max { $0.greedy_ids.count < $1.greedy_ids.count })
        let generator = try Generator(model: model, tokenizer: tokenizer, contextLength: chat.prompt_ids.count + 3)
        try generator.start(prompt: chat.prompt_ids, parameters: GenerationParameters(maxTokens: 20))
        var ids: [Int32] = []
        while let token = try generator.next() { ids.append(token.id) }
        XCTAssertEqual(ids, Array(chat.greedy_ids.prefix(4)))
        XCTAssertEqual(generator.finishReason, .contextFull)
        XCTAssertThrowsError(try generator.start(prompt: chat.prompt_ids + [1, 2, 3], parameters: GenerationParameters()))
        XCTAssertThrowsError(try generator.next(), "a failed start leaves nothing to sample from")
    }

    /// Sampling with a seed repeats itself; a chat's second turn reuses the first turn's cache.
    func testSeededSamplingRepeatsAndChatReusesTheCache() throws {
        let model = try XCTUnwrap(Self.model), tokenizer = try XCTUnwrap(Self.tokenizer)
        let generator = try Generator(model: model, tokenizer: tokenizer, contextLength: 512)
        let prompt = reference.chats[0].prompt_ids
        let sampling = SamplingParameters(temperature: 0.9, topK: 50, topP: 0.95, seed: 1234)
        let parameters = GenerationParameters(maxTokens: 20, sampling: sampling)
        let first = try generator.generate(prompt: prompt, parameters: parameters)
        let again = try generator.generate(prompt: prompt, parameters: parameters)
        XCTAssertEqual(first, again)
        XCTAssertEqual(generator.statistics.promptTokens, 1, "the whole prompt but its last token was cached")

        let session = ChatSession(generator: generator, template: try XCTUnwrap(Self.template))
        let chatParameters = GenerationParameters(maxTokens: 12)
        try session.reply(to: "What is the capital of France?", parameters: chatParameters)
        let firstPrompt = tokenizer.encode(session.template.render(Array(session.messages.prefix(1)))).count
        try session.reply(to: "And of Italy?", parameters: chatParameters)
        XCTAssertEqual(session.messages.map(\.role), ["user", "assistant", "user", "assistant"])
        let secondPrompt = tokenizer.encode(session.template.render(Array(session.messages.prefix(3))))
        XCTAssertLessThanOrEqual(generator.statistics.promptTokens, secondPrompt.count - firstPrompt, "the first turn's prompt stayed cached")
        XCTAssertTrue(generator.cache.tokens.starts(with: secondPrompt))
    }
}
