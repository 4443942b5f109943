import Foundation
import SLMTestSupport

/// A temporary folder holding what an `slm` run on the tiny model (Tests/Fixtures/hf_llama) needs:
/// a JSONL file of word texts and a recipe.
struct TinyRunFolder {
    let path: String

    init(prefix: String) throws {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    var trainFile: String { path + "/train.jsonl" }
    var recipe: String { path + "/recipe.yaml" }

    /// `lines` {"text"} records of words drawn by a fixed linear congruential generator;
    /// `wordsPerLine` picks each line's length from the same draws.
    func writeTexts(lines: Int, seed: UInt64, wordsPerLine: (() -> Int) -> Int) throws {
        var state = seed
        func draw() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 59)
        }
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
        let records = (0..<lines).map { _ in
            "{\"text\": \"" + (0..<wordsPerLine(draw)).map { _ in words[draw() % words.count] }.joined(separator: " ") + "\"}"
        }
        try records.joined(separator: "\n").write(toFile: trainFile, atomically: true, encoding: .utf8)
    }

    /// A recipe for the tiny model on `trainFile`: the model and data.train keys, then `sections`
    /// (YAML starting inside `data:`, e.g. "  sequence_length: 32\ntrain:\n  steps: 6").
    func writeRecipe(_ sections: String) throws {
        let text = """
            model:
              path: \(Fixture.path("hf_llama"))
              chat_template: none
            data:
              train: \(trainFile)

            """ + sections
        try text.write(toFile: recipe, atomically: true, encoding: .utf8)
    }
}
