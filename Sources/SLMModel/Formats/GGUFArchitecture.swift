/// How llama.cpp's GGUF files name and lay out each model family slm runs.
extension ModelConfig {
    /// `general.architecture` and the prefix of the hyper-parameter keys: qwen2, qwen3, phi3, gemma3 (for
    /// gemma3_text), or llama for Llama, SmolLM2 and Mistral (llama.cpp runs Mistral as llama, without a
    /// sliding window).
    public var ggufArchitecture: String {
        if architecture == "gemma3_text" { return "gemma3" }
        return ["qwen2", "qwen3", "phi3"].contains(architecture) ? architecture : "llama"
    }

    /// Whether attn_q / attn_k rows are interleaved per head for llama.cpp's rotary kernel: only the
    /// llama architecture's are (qwen2, qwen3 and phi3 use the Hugging Face "neox" halves as they are).
    public var ggufPermutesRotaryRows: Bool { ggufArchitecture == "llama" }
}
