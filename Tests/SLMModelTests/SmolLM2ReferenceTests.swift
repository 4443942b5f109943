import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// The demo model against transformers loading the same GGUF (fixtures/make_smollm2_reference.py).
final class SmolLM2ReferenceTests: XCTestCase {
    struct Reference: Decodable {
        struct Chat: Decodable {
            let prompt_ids: [Int32]
            let greedy_ids: [Int32]
        }
        let text_ids: [Int32]
        let perplexity: Double
        let probe_positions: Int
        let probe_logits_first_256: [[Float]]
        let probe_argmax: [Int]
        let probe_logsumexp: [Double]
        let chats: [Chat]
    }

    nonisolated(unsafe) static var model: Transformer?

    override func setUpWithError() throws {
        Parallel.setThreads(2)
        let path = try Fixture.demoModelPath()
        if Self.model == nil { Self.model = try GGUFModelLoader.load(try GGUFFile(path: path)) }
    }

    let reference = try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("smollm2_reference.json"))))

    func testConfigFromMetadata() throws {
        let c = try XCTUnwrap(Self.model).config
        XCTAssertEqual([c.vocabSize, c.hiddenSize, c.layers, c.heads, c.kvHeads, c.headDim, c.intermediateSize], [49152, 576, 30, 9, 3, 64, 1536])
        XCTAssertTrue(c.tieWordEmbeddings)
    }

    func testLogitsAndPerplexityMatchTransformers() throws {
        let model = try XCTUnwrap(Self.model)
        let ids = reference.text_ids
        let logits = try model.promptLogits(ids)
        let vocab = model.config.vocabSize
        var worst: Float = 0
        for p in 0..<reference.probe_positions {
            let row = logits.data + p * vocab
            for j in 0..<256 { worst = max(worst, abs(row[j] - reference.probe_logits_first_256[p][j])) }
            let argmax = (0..<vocab).max { row[$0] < row[$1] }!
            XCTAssertEqual(argmax, reference.probe_argmax[p], "argmax at position \(p)")
        }
        XCTAssertLessThan(worst, 2e-3, "max |logit − transformers|")
        var nll = 0.0
        for p in 0..<(ids.count - 1) {
            let row = logits.data + p * vocab
            let m = Double((0..<vocab).map { row[$0] }.max()!)
            let lse = m + Foundation.log((0..<vocab).reduce(0.0) { $0 + Foundation.exp(Double(row[$1]) - m) })
            if p < reference.probe_positions { XCTAssertEqual(lse, reference.probe_logsumexp[p], accuracy: 1e-3) }
            nll += lse - Double(row[Int(ids[p + 1])])
        }
        let perplexity = Foundation.exp(nll / Double(ids.count - 1))
        XCTAssertEqual(perplexity / reference.perplexity, 1, accuracy: 5e-5, "perplexity \(perplexity) vs \(reference.perplexity)")
    }

    /// Greedy decoding with the KV cache: the prompt in one forward, then one token per step.
    func testGreedyContinuationsMatchTransformers() throws {
        let model = try XCTUnwrap(Self.model)
        let cache = try KVCache(config: model.config, maxTokens: 128)
        for chat in reference.chats {
            cache.reset()
            var logits = try model.nextTokenLogits(chat.prompt_ids, cache: cache)
            var generated: [Int32] = []
            while generated.count < chat.greedy_ids.count {
                let next = logits.scalars.withUnsafeBufferPointer { Sampler.argmax($0) }
                generated.append(next)
                if next == 2 { break }
                logits = try model.nextTokenLogits([next], cache: cache)
            }
            XCTAssertEqual(generated, chat.greedy_ids)
        }
    }

    func testWeightsKeptQuantizedGiveTheSameLogits() throws {
        let dense = try XCTUnwrap(Self.model)
        let quantized = try GGUFModelLoader.load(try GGUFFile(path: try Fixture.demoModelPath()), keepQuantized: true)
        XCTAssertTrue(quantized.layers[0].weights.qProj is QuantizedMatrix)
        let ids = Array(reference.text_ids.prefix(48))
        let a = try GradMode.withoutGrad { try dense.logits(try dense.hiddenStates(ids, batch: 1, sequence: ids.count)) }
        let b = try GradMode.withoutGrad { try quantized.logits(try quantized.hiddenStates(ids, batch: 1, sequence: ids.count)) }
        assertClose(b, a, tolerance: 1e-3, "quantized vs dense logits")
    }

    /// Kept quantized, decoding's logits come from the file's Q8_0 embedding blocks: the same as the
    /// dense model's, step after step. The first step (16 tokens) runs the layers on dequantized tiles
    /// and only the head on 16-bit activations; the next ones run every projection on them
    /// (`QuantizedGemv`), whose rounding moves these logits (±25) by up to ~5e-3 after 30 layers,
    /// where llama.cpp's 8-bit activations move them by 0.2–1.1; the greedy token stays the same.
    func testDecodingReadsTheTiedOutputProjectionFromItsBlocks() throws {
        let dense = try XCTUnwrap(Self.model)
        let quantized = try GGUFModelLoader.load(try GGUFFile(path: try Fixture.demoModelPath()), keepQuantized: true)
        XCTAssertEqual(try XCTUnwrap(quantized.decodingHead).type, .q8_0)
        XCTAssertNil(dense.decodingHead)
        let denseCache = try KVCache(config: dense.config, maxTokens: 64), quantizedCache = try KVCache(config: quantized.config, maxTokens: 64)
        var ids = Array(reference.text_ids.prefix(16))
        for step in 0..<3 {
            let a = try dense.nextTokenLogits(ids, cache: denseCache), b = try quantized.nextTokenLogits(ids, cache: quantizedCache)
            assertClose(b, a, tolerance: step == 0 ? 1e-3 : 1e-2, "decoding logits at step \(step), quantized vs dense")
            ids = [a.scalars.withUnsafeBufferPointer { Sampler.argmax($0) }]
            XCTAssertEqual(b.scalars.withUnsafeBufferPointer { Sampler.argmax($0) }, ids[0], "greedy token at step \(step)")
        }
    }
}
