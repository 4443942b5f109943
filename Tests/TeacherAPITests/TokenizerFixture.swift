import SLMModel
import SLMTestSupport

/// SmolLM2's tokenizer, committed under Tests/Fixtures.
enum StudentTokenizer {
    static let shared: BPETokenizer = try! BPETokenizer.load(tokenizerJSON: Fixture.path("smollm2-tokenizer/tokenizer.json"))
}
