import Foundation

/// The conversation formats slm renders. Each is a known layout of special tokens, not a Jinja
/// interpreter: a model's declared template is recognised as one of them (`ChatTemplate(declared:)`),
/// or one is chosen by name. Rendered with and without a system message and a generation prompt,
/// each equals transformers' `apply_chat_template` on the model's real template
/// (fixtures/make_chat_templates.py). `{…}` is a message's content, `trim` Jinja's filter:
/// ```
/// chatml   [<|im_start|>system\n{default system}<|im_end|>\n]      SmolLM2, Qwen2.5 (own default); Qwen3 none
///          <|im_start|>{role}\n{content}<|im_end|>\n …             gen: <|im_start|>assistant\n
///          Qwen3: the last assistant turn after the last user one is <think>\n{reasoning}\n</think>\n\n{content};
///          earlier turns lose their <think> block
/// llama3   <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n
///          Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n{system|trim}<|eot_id|>   (3.1, 3.2: always)
///          <|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|> …
///          gen: <|start_header_id|>assistant<|end_header_id|>\n\n
///          Llama 3.0: no date header; a system message is an ordinary turn
/// mistral  <s>[INST]{user}[/INST]{assistant}</s> …                 (Nemo; v0.3: "[INST] " and " {assistant|trim}")
///          the system message goes before the LAST user message only ([INST]{system}\n\n{user}[/INST]), and
///          is dropped when the conversation ends with the assistant; no generation prompt
/// phi3     <|system|>\n{system}<|end|>\n<|user|>\n{user}<|end|>\n<|assistant|>\n{assistant}<|end|>\n …
///          gen: <|assistant|>\n, otherwise <|endoftext|> at the end   (Phi-3, Phi-3.5)
/// phi4     <|system|>{system}<|end|><|user|>{user}<|end|><|assistant|>{assistant}<|end|> …
///          gen: <|assistant|>, otherwise <|endoftext|> at the end    (Phi-4-mini)
/// gemma    <bos><start_of_turn>user\n[{system}\n\n]{user|trim}<end_of_turn>\n
///          <start_of_turn>model\n{assistant|trim}<end_of_turn>\n …   gen: <start_of_turn>model\n
///          the system message is folded into the first user turn, as Gemma 3 does (Gemma 2 refuses one)
/// ```
/// Mistral and Gemma templates refuse conversations whose roles do not alternate; slm renders them
/// turn by turn as written.
public enum ChatFormat: String, Sendable, CaseIterable {
    case chatml, llama3, mistral, phi3, phi4, gemma

    public var displayName: String {
        switch self {
        case .chatml: "ChatML"
        case .llama3: "Llama 3"
        case .mistral: "Mistral"
        case .phi3: "Phi-3"
        case .phi4: "Phi-4-mini"
        case .gemma: "Gemma"
        }
    }

    /// The token that ends an assistant turn; a reply stops there.
    public var endOfTurn: String {
        switch self {
        case .chatml: "<|im_end|>"
        case .llama3: "<|eot_id|>"
        case .mistral: "</s>"
        case .phi3, .phi4: "<|end|>"
        case .gemma: "<end_of_turn>"
        }
    }
}

/// A stretch of a rendered conversation and what training learns from it: under `loss_on: completion`
/// the assistant's replies and their end-of-turn tokens are targets, everything else is read only.
public struct ChatSegment: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Headers, system and user turns, the generation prompt: read, not learned.
        case context
        /// What the model writes after the generation prompt (an assistant message as the format lays it out).
        case reply
        /// The token that ends the reply (`ChatFormat.endOfTurn`).
        case endOfTurn
    }

    public var text: String
    public var kind: Kind

    public init(_ text: String, _ kind: Kind) {
        self.text = text
        self.kind = kind
    }
}

/// A chat format with the details a model's own template adds: the default system prompt, Llama 3's
/// date header, Mistral's spacing, Qwen3's reasoning blocks.
public struct ChatTemplate: Sendable, Equatable {
    public var format: ChatFormat
    /// ChatML: put first when a conversation has no system message (SmolLM2, Qwen2.5); nil: none.
    public var defaultSystemPrompt: String?
    /// ChatML: Qwen3's `<think>` handling of assistant turns.
    public var reasoning = false
    /// Llama 3.1 and 3.2's system header; nil: Llama 3.0's layout, without one.
    public var llama3DateHeader: Llama3DateHeader?
    /// Mistral: v0.3's `[INST] ` and ` {reply|trim}`; false: Nemo's `[INST]` and `{reply}`.
    public var mistralSpaced = false

    /// The system header of Llama 3.1 and 3.2: `Cutting Knowledge Date: {knowledgeCutoff}\nToday Date: {today}\n\n`.
    public struct Llama3DateHeader: Sendable, Equatable {
        public var knowledgeCutoff: String
        /// As the template writes it ("26 Jul 2024"): Llama 3.1 has it fixed, Llama 3.2 uses today's date
        /// (its template's fixed one, 26 Jul 2024, where rendering must not depend on the day: training).
        public var today: String

        public init(knowledgeCutoff: String = "December 2023", today: String) {
            self.knowledgeCutoff = knowledgeCutoff
            self.today = today
        }

        /// The date Llama 3.1's template has, and Llama 3.2's when it has no clock.
        public static let fixedDate = "26 Jul 2024"

        /// `date` as Llama 3.2's template formats today (`strftime("%d %b %Y")`, English month names, UTC).
        public static func format(_ date: Date) -> String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "dd MMM yyyy"
            return formatter.string(from: date)
        }
    }

    /// The format as its most common current model writes it when the model declares nothing: ChatML without
    /// a default system prompt, Llama 3.2 (date header with `today`; nil: the template's fixed 26 Jul 2024),
    /// Mistral v0.3, Phi-3.5, Phi-4-mini, Gemma 3.
    public init(_ format: ChatFormat, today: Date? = Date()) {
        self.format = format
        if format == .llama3 { llama3DateHeader = Llama3DateHeader(today: today.map(Llama3DateHeader.format) ?? Llama3DateHeader.fixedDate) }
        if format == .mistral { mistralSpaced = true }
    }

    /// The tokens that end a reply, as text: the format's end of turn.
    public var stopTokens: [String] { [format.endOfTurn] }

    /// The ids that end a reply under this template: its stop tokens the vocabulary has, and EOS.
    public func stopTokenIds(_ tokenizer: BPETokenizer) -> Set<Int32> {
        var ids = Set(stopTokens.compactMap { tokenizer.addedTokens[$0]?.id })
        if let eos = tokenizer.eosTokenId { ids.insert(eos) }
        return ids
    }

    /// The conversation as text, ending with the assistant's generation prompt when asked.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        segments(messages, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }
}
