import Foundation
import SLMModel

/// Encoding speed of slm's tokenizers on one text, one thread, each vocabulary read from the file
/// it ships in (benchmarks/tokenizer/hf_tokenizers.py times Hugging Face `tokenizers` on the same
/// vocabularies and text): SmolLM2 from the demo GGUF, Llama 3's tiktoken file, Mistral's
/// SentencePiece model and Tekken file (the last three from models/tokenizers, which scripts/setup fills).
public enum TokenizerBenchmark {
    public struct Row {
        public let name: String
        public let tokens: Int
        public let seconds: Double
        public var tokensPerSecond: Double { Double(tokens) / seconds }
    }

    /// The vocabularies present, by name.
    public static func vocabularies(modelPath: String) throws -> [(name: String, tokenizer: BPETokenizer)] {
        var out: [(String, BPETokenizer)] = []
        let fm = FileManager.default
        if fm.fileExists(atPath: modelPath) { out.append(("smollm2 (byte-level)", try BPETokenizer.load(gguf: try GGUFFile(path: modelPath)))) }
        let llama3 = "models/tokenizers/llama3/tokenizer.model"
        if fm.fileExists(atPath: llama3) {
            out.append(("llama3 (byte-level)", try BPETokenizer.load(tiktoken: llama3, preTokenizer: PreTokenizer(pattern: .llama3), specialTokens: BPETokenizer.llama3SpecialTokens)))
        }
        let mistral = "models/tokenizers/mistral/tokenizer.model.v1"
        if fm.fileExists(atPath: mistral) { out.append(("mistral-v1 (sentencepiece)", try BPETokenizer.load(sentencePieceModel: mistral))) }
        let tekken = "models/tokenizers/mistral/tekken_240911.json"
        if fm.fileExists(atPath: tekken) { out.append(("tekken (byte-level)", try BPETokenizer.load(tekken: tekken))) }
        return out
    }

    /// The median time of `runs` encodings of `text` (after one untimed encoding, so both tools'
    /// word caches are warm), one line at a time as a data loader would.
    public static func run(name: String, tokenizer: BPETokenizer, lines: [String], runs: Int) -> Row {
        var tokens = 0
        for line in lines { tokens += tokenizer.encode(line).count }
        var times: [Double] = []
        for _ in 0..<max(runs, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            var n = 0
            for line in lines { n += tokenizer.encode(line).count }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            precondition(n == tokens)
        }
        return Row(name: name, tokens: tokens, seconds: times.sorted()[times.count / 2])
    }
}
