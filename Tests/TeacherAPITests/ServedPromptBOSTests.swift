import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SLMModel
import SLMTestSupport
import XCTest

/// `/v1/completions` on a Hugging Face folder puts BOS before the prompt exactly when the folder's
/// tokenizer adds one (tokenizer_config.json `add_bos_token`), as on a GGUF file and in `slm generate`.
final class ServedPromptBOSTests: XCTestCase {
    func testCompletionPromptStartsWithBOSWhenTheFolderTokenizerAddsIt() async throws {
        let prompt = "hello world"
        let plain = try folder(tokenizerConfig: nil)
        let withBOS = try folder(tokenizerConfig: #"{"bos_token": "Ā", "add_bos_token": true}"#)
        let words = try BPETokenizer.load(tokenizerJSON: plain + "/tokenizer.json").encode(prompt).count
        XCTAssertGreaterThan(words, 0)
        let servedPlain = try await promptTokens(servedFrom: plain, prompt)
        let servedWithBOS = try await promptTokens(servedFrom: withBOS, prompt)
        XCTAssertEqual(servedPlain, words)
        XCTAssertEqual(servedWithBOS, words + 1)
    }

    /// A copy of the tiny Llama fixture, with the given tokenizer_config.json.
    private func folder(tokenizerConfig: String?) throws -> String {
        let path = temporaryPath("served-bos")
        try FileManager.default.copyItem(atPath: Fixture.path("hf_llama"), toPath: path)
        if let tokenizerConfig { try Data(tokenizerConfig.utf8).write(to: URL(fileURLWithPath: path + "/tokenizer_config.json")) }
        return path
    }

    /// `usage.prompt_tokens` of a one-token completion of `prompt` from `slm serve folder`.
    private func promptTokens(servedFrom folder: String, _ prompt: String) async throws -> Int {
        let server = try ServeProcess(model: folder)
        defer { server.stop() }
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/v1/completions")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: ["prompt": prompt, "max_tokens": 1, "temperature": 0])
        let (data, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200, String(decoding: data, as: UTF8.self))
        let usage = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["usage"] as? [String: Any])
        return try XCTUnwrap(usage["prompt_tokens"] as? Int)
    }
}
