import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// Hugging Face model folders (fixtures/make_hf_llama.py) against the logits transformers computes
/// for them, and every way a folder can be wrong.
final class HuggingFaceLoaderTests: XCTestCase {
    struct Expected: Decodable {
        let text: String
        let ids: [Int32]
        let hf_llama: [[Float]]
        let hf_llama_bf16: [[Float]]
        let hf_llama3_f16: [[Float]]
    }

    let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("hf_llama_expected.json"))))

    override func setUp() { Parallel.setThreads(2) }

    private func assertMatches(_ model: Transformer, _ reference: [[Float]], line: UInt = #line) throws {
        let out = try model.promptLogits(expected.ids)
        XCTAssertEqual(out.shape, [reference.count, 256], line: line)
        XCTAssertLessThanOrEqual(worstDifference(out, reference), 1e-4, "max |logit − transformers|", line: line)
    }

    // MARK: parity with transformers

    func testF32FolderAndTokenizerMatchTransformers() throws {
        let (model, tokenizer) = try ModelLoader.load(path: Fixture.path("hf_llama"))
        let c = model.config
        XCTAssertEqual([c.vocabSize, c.hiddenSize, c.layers, c.heads, c.kvHeads, c.headDim, c.intermediateSize], [256, 32, 2, 4, 2, 8, 64])
        XCTAssertFalse(c.tieWordEmbeddings)
        XCTAssertFalse(model.lmHead === model.embedTokens)
        XCTAssertEqual(c.rope, try .standard(base: 10_000, rotaryDim: 8))
        XCTAssertEqual(c.rmsNormEps, 1e-5)
        XCTAssertEqual(c.maxPositions, 256)
        let tok = try XCTUnwrap(tokenizer)
        XCTAssertEqual(tok.vocabularySize, 256)
        XCTAssertEqual(tok.encode(expected.text), expected.ids)
        try assertMatches(model, expected.hf_llama)
    }

    func testShardedAndSingleFileLoadsAgreeExactly() throws {
        let single = try ModelLoader.load(path: Fixture.path("hf_llama")).model
        let (sharded, tokenizer) = try ModelLoader.load(path: Fixture.path("hf_llama_sharded"))
        XCTAssertNil(tokenizer)
        XCTAssertEqual(try SafetensorsCheckpoint(folder: Fixture.path("hf_llama_sharded")).files.count, 3)
        XCTAssertEqual(single.parameters.count, sharded.parameters.count)
        for (a, b) in zip(single.parameters, sharded.parameters) {
            XCTAssertEqual(a.shape, b.shape)
            XCTAssertEqual(memcmp(a.data, b.data, a.count * 4), 0)
        }
        let la = try single.promptLogits(expected.ids), lb = try sharded.promptLogits(expected.ids)
        XCTAssertEqual(memcmp(la.data, lb.data, la.count * 4), 0)
        try assertMatches(sharded, expected.hf_llama)
    }

    func testBF16ShardsMatchTransformersOnTheRoundedWeights() throws {
        let model = try ModelLoader.load(path: Fixture.path("hf_llama_bf16")).model
        XCTAssertEqual(try SafetensorsCheckpoint(folder: Fixture.path("hf_llama_bf16")).locate("lm_head.weight")?.info.dtype, .BF16)
        try assertMatches(model, expected.hf_llama_bf16)
    }

    func testLlama3RopeExplicitHeadDimTiedF16MatchTransformers() throws {
        let model = try ModelLoader.load(path: Fixture.path("hf_llama3_f16")).model
        let c = model.config
        XCTAssertEqual([c.heads, c.kvHeads, c.headDim], [4, 2, 16])
        XCTAssertTrue(c.tieWordEmbeddings)
        XCTAssertTrue(model.lmHead === model.embedTokens)
        XCTAssertEqual(c.rope, try .llama3(base: 500_000, rotaryDim: 16, factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64))
        try assertMatches(model, expected.hf_llama3_f16)
    }

    func testTransformers4ConfigReadsTheSameAsTransformers5() throws {
        let folder = try copy("hf_llama3_f16")
        try edit(folder, "config.json") { config in
            let parameters = config.removeValue(forKey: "rope_parameters") as! [String: Any]
            config["rope_theta"] = parameters["rope_theta"]
            config["rope_scaling"] = parameters.filter { $0.key != "rope_theta" && $0.key != "rope_type" }.merging(["type": "llama3"]) { $1 }
        }
        let model = try ModelLoader.load(path: folder).model
        XCTAssertEqual(model.config.rope, try .llama3(base: 500_000, rotaryDim: 16, factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64))
        try assertMatches(model, expected.hf_llama3_f16)
    }

    func testMistralWithoutSlidingWindowIsLlama() throws {
        let folder = try copy("hf_llama")
        try edit(folder, "config.json") { $0["model_type"] = "mistral"; $0["sliding_window"] = NSNull() }
        try assertMatches(try ModelLoader.load(path: folder).model, expected.hf_llama)
    }

    func testGGUFOfTheSameModelLoadsThroughModelLoaderAlike() throws {
        let (model, tokenizer) = try ModelLoader.load(path: Fixture.path("hf_llama3_f16.gguf"))
        let folder = try ModelLoader.load(path: Fixture.path("hf_llama3_f16")).model
        let (a, b) = (model.config, folder.config)
        XCTAssertEqual([a.vocabSize, a.hiddenSize, a.layers, a.heads, a.kvHeads, a.headDim, a.intermediateSize],
                       [b.vocabSize, b.hiddenSize, b.layers, b.heads, b.kvHeads, b.headDim, b.intermediateSize])
        XCTAssertTrue(a.tieWordEmbeddings)
        for (x, y) in zip(a.rope.inverseFrequencies, b.rope.inverseFrequencies) { XCTAssertEqual(x / y, 1, accuracy: 1e-6) }
        XCTAssertEqual(try XCTUnwrap(tokenizer).encode(expected.text), expected.ids)
        try assertMatches(model, expected.hf_llama3_f16)
    }

    // MARK: bad folders

    /// A copy of a fixture folder in a temporary directory, removed after the test.
    private func copy(_ name: String) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("slm-hf-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: Fixture.path(name), toPath: out.path)
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        return out.path
    }

    private func edit(_ folder: String, _ file: String, _ change: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: folder).appendingPathComponent(file)
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    /// The load fails with a FormatError whose text names `file` (a path inside the folder) and every word.
    private func assertRejected(_ path: String, file: String, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try ModelLoader.load(path: path), line: line) { error in
            XCTAssertTrue(error is FormatError, "a FormatError, not \(type(of: error))", line: line)
            let text = "\(error)"
            XCTAssertTrue(text.contains(file), "names \(file): \(text)", line: line)
            for word in words { XCTAssertTrue(text.contains(word), "mentions \(word): \(text)", line: line) }
        }
    }

    private func assertConfigRejected(_ change: @escaping (inout [String: Any]) -> Void, mentioning words: [String], line: UInt = #line) throws {
        let folder = try copy("hf_llama")
        try edit(folder, "config.json", change)
        assertRejected(folder, file: folder + "/config.json", mentioning: words, line: line)
    }

    func testConfigWithMissingOrContradictoryFields() throws {
        try assertConfigRejected({ $0["hidden_size"] = nil }, mentioning: ["hidden_size", "missing"])
        try assertConfigRejected({ $0["model_type"] = nil }, mentioning: ["model_type", "missing"])
        try assertConfigRejected({ $0["vocab_size"] = 0 }, mentioning: ["vocab_size", "out of range"])
        try assertConfigRejected({ $0["hidden_size"] = "32" }, mentioning: ["hidden_size", "expected an integer"])
        try assertConfigRejected({ $0["num_key_value_heads"] = 3 }, mentioning: ["num_key_value_heads", "3"])
        try assertConfigRejected({ $0["num_attention_heads"] = 5; $0["num_key_value_heads"] = 5; $0["head_dim"] = nil }, mentioning: ["num_attention_heads", "not divisible"])
        try assertConfigRejected({ $0["rope_theta"] = 5.0 }, mentioning: ["rope_theta", "contradicts"])
        try assertConfigRejected({ $0["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0] }, mentioning: ["rope_parameters.rope_type", "yarn"])
        try assertConfigRejected({ $0["rope_parameters"] = ["rope_type": "llama3", "rope_theta": 10000.0, "factor": 2.0] }, mentioning: ["rope_parameters.", "missing"])
        try assertConfigRejected({ $0["rope_parameters"] = ["rope_type": "linear", "rope_theta": 10000.0, "factor": -2.0] }, mentioning: ["rope_parameters", "factor"])
        try assertConfigRejected({ $0["rope_parameters"] = ["rope_theta": 10000.0] }, mentioning: ["rope_parameters.rope_type", "missing"])
        try assertConfigRejected({ $0["model_type"] = "gemma" }, mentioning: ["model_type", "gemma", "not supported"])
        try assertConfigRejected({ $0["model_type"] = "mistral"; $0["sliding_window"] = 0 }, mentioning: ["sliding_window"])
        try assertConfigRejected({ $0["model_type"] = "qwen2"; $0["use_sliding_window"] = true }, mentioning: ["use_sliding_window"])
        try assertConfigRejected({ $0["attention_bias"] = true }, mentioning: ["attention_bias"])
        try assertConfigRejected({ $0["hidden_act"] = "gelu" }, mentioning: ["hidden_act", "gelu"])
        try assertConfigRejected({ $0["rms_norm_eps"] = -1.0 }, mentioning: ["rms_norm_eps"])
        let folder = try copy("hf_llama")
        try Data("{\"model_type\": ".utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        assertRejected(folder, file: folder + "/config.json", mentioning: ["JSON"])
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        assertRejected(folder, file: folder + "/config.json", mentioning: ["not a JSON object"])
        try Data(#"{"model_type": "llama", "rope_parameters": {"rope_type": 3}}"#.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        assertRejected(folder, file: folder + "/config.json", mentioning: ["rope_parameters.rope_type", "expected a string"])
    }

    func testConfigThatDisagreesWithTheWeights() throws {
        var folder = try copy("hf_llama")
        try edit(folder, "config.json") { $0["vocab_size"] = 300 }
        assertRejected(folder, file: folder + "/model.safetensors", mentioning: ["model.embed_tokens.weight", "[256, 32]", "[300, 32]", "config.json"])
        folder = try copy("hf_llama")
        try edit(folder, "config.json") { $0["num_hidden_layers"] = 1 }
        assertRejected(folder, file: folder + "/model.safetensors", mentioning: ["model.layers.1.", "num_hidden_layers", "config.json"])
        folder = try copy("hf_llama")
        try edit(folder, "config.json") { $0["num_hidden_layers"] = 3 }
        assertRejected(folder, file: folder + "/model.safetensors", mentioning: ["model.layers.2.input_layernorm.weight", "missing", "num_hidden_layers is 3"])
        folder = try copy("hf_llama3_f16")
        try edit(folder, "config.json") { $0["tie_word_embeddings"] = false }
        assertRejected(folder, file: folder + "/model.safetensors", mentioning: ["lm_head.weight", "missing", "tie_word_embeddings is false"])
    }

    func testTokenizerVocabularyMustMatchTheEmbedding() throws {
        let folder = try copy("hf_llama")
        try edit(folder, "tokenizer.json") { tokenizer in
            tokenizer["added_tokens"] = [["id": 256, "content": "<|extra|>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false]]
        }
        assertRejected(folder, file: folder + "/tokenizer.json", mentioning: ["257 tokens", "config.json", "vocab_size 256", "model.safetensors"])
    }

    func testShardIndexErrors() throws {
        var folder = try copy("hf_llama_sharded")
        try edit(folder, "model.safetensors.index.json") { index in
            var map = index["weight_map"] as! [String: String]
            map["model.norm.weight"] = "model-00009-of-00003.safetensors"
            index["weight_map"] = map
        }
        assertRejected(folder, file: folder + "/model.safetensors.index.json", mentioning: ["weight_map[model.norm.weight]", "model-00009-of-00003.safetensors", "does not exist"])

        folder = try copy("hf_llama_sharded")
        var moved = ""
        try edit(folder, "model.safetensors.index.json") { index in
            var map = index["weight_map"] as! [String: String]
            moved = map.keys.sorted().first { map[$0] != "model-00003-of-00003.safetensors" }!
            map[moved] = "model-00003-of-00003.safetensors"
            index["weight_map"] = map
        }
        assertRejected(folder, file: folder + "/model-00003-of-00003.safetensors", mentioning: [moved, "missing", "model.safetensors.index.json"])

        folder = try copy("hf_llama_sharded")
        try edit(folder, "model.safetensors.index.json") { index in
            index["weight_map"] = ["model.norm.weight": "../hf_llama/model.safetensors"]
        }
        assertRejected(folder, file: folder + "/model.safetensors.index.json", mentioning: ["weight_map[model.norm.weight]", "not a file name"])

        folder = try copy("hf_llama_sharded")
        try edit(folder, "model.safetensors.index.json") { $0["weight_map"] = nil }
        assertRejected(folder, file: folder + "/model.safetensors.index.json", mentioning: ["weight_map", "missing"])

        // A truncated shard is reported by its own name.
        folder = try copy("hf_llama_sharded")
        let shard = URL(fileURLWithPath: folder + "/model-00002-of-00003.safetensors")
        try Data(try Data(contentsOf: shard).prefix(1000)).write(to: shard)
        assertRejected(folder, file: shard.path, mentioning: [])
    }

    func testPathsThatAreNotModels() throws {
        assertRejected("/nonexistent/slm-model", file: "/nonexistent/slm-model", mentioning: ["does not exist"])
        assertRejected(Fixture.path("hf_llama/model.safetensors"), file: "model.safetensors", mentioning: ["model folder"])
        let folder = try copy("hf_llama")
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
        assertRejected(folder, file: folder, mentioning: ["model.safetensors", "model.safetensors.index.json"])
        try FileManager.default.removeItem(atPath: folder + "/config.json")
        assertRejected(folder, file: folder, mentioning: ["config.json"])
        // A GGUF file goes to the GGUF loader, whose errors name the GGUF key (small.gguf has tensors, no model).
        assertRejected(Fixture.path("small.gguf"), file: "small.gguf", mentioning: ["llama."])
    }
}
