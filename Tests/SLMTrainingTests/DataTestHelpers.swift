import Foundation
import SLMModel
import SLMTraining
import XCTest

/// A tokenizer with one token per byte and no merges, plus ChatML's markers and <s>, </s> (and
/// `extraSpecial` after them): its tokens map one to one onto the text, so a mask can be checked
/// character by character.
func byteTokenizer(extraSpecial: [String] = []) throws -> BPETokenizer {
    let printable = Array(33...126) + Array(161...172) + Array(174...255)
    var next: UInt32 = 256
    let bytes = (0..<256).map { byte -> String in
        if printable.contains(byte) { return String(Unicode.Scalar(UInt32(byte))!) }
        defer { next += 1 }
        return String(Unicode.Scalar(next)!)
    }
    var added = ["<|im_start|>", "<|im_end|>", "<s>", "</s>"]
    for token in extraSpecial where !added.contains(token) { added.append(token) }
    return try BPETokenizer(
        tokens: bytes + added, merges: [],
        addedTokens: Dictionary(uniqueKeysWithValues: added.enumerated().map { ($1, (Int32(256 + $0), true)) }),
        preTokenizer: PreTokenizer(pattern: .gpt2), bosTokenId: 258, eosTokenId: 259, source: "byte tokenizer")
}

/// The text of each run of consecutive target tokens.
func targetRuns(_ sample: TokenizedSample, _ tokenizer: BPETokenizer) -> [String] {
    var runs: [[Int32]] = []
    for (k, id) in sample.ids.enumerated() where sample.lossMask[k] {
        if k > 0 && sample.lossMask[k - 1] { runs[runs.count - 1].append(id) } else { runs.append([id]) }
    }
    return runs.map { tokenizer.decode($0) }
}

/// A file in a fresh temporary folder, removed when the test ends.
func temporaryFile(_ contents: String, name: String = "data.jsonl", test: XCTestCase) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slm-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent(name)
    try Data(contents.utf8).write(to: url)
    return url.path
}

/// The shipped example datasets, from the package root.
func datasetPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("datasets").appendingPathComponent(name).path
}
