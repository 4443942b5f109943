import Foundation
import SLMModel

/// Turns records into token ids and a loss mask, laid out as the model sees text when it is used:
/// through the chat template when there is one, as plain text otherwise. The targets under
/// `loss_on: completion` are in [brackets]; `loss_on: all` makes every token but the first a target.
/// ```
/// ChatML      …<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n[{reply}<|im_end|>]\n
/// Llama 3     …<|start_header_id|>assistant<|end_header_id|>\n\n[{reply}<|eot_id|>]
/// Mistral     <s>[INST] {prompt}[/INST][ {reply}</s>]
/// Phi-3       …<|assistant|>\n[{reply}<|end|>]\n<|endoftext|>       Phi-4-mini: no \n after tags and turns
/// Gemma       …<start_of_turn>model\n[{reply}<end_of_turn>]\n
///             every assistant turn of a chat is a target (`ChatTemplate.segments`); prompt_completion
///             and alpaca become one user message and its reply; the system turn is as the template writes it
/// plain text  <bos>{prompt}[{completion}<eos>]
/// alpaca      <bos>Below is an instruction … ### Response:\n[{output}<eos>]
/// text        <bos>[{text}<eos>]    never templated: <bos> only without a template
/// ```
/// Each piece is tokenized on its own, so the mask follows the pieces exactly.
public struct SampleFormatter: Sendable {
    public let tokenizer: BPETokenizer
    /// nil: plain text (base models).
    public let template: ChatTemplate?
    public let lossOn: Recipe.LossOn

    public init(tokenizer: BPETokenizer, template: ChatTemplate?, lossOn: Recipe.LossOn) {
        self.tokenizer = tokenizer
        self.template = template
        self.lossOn = lossOn
    }

    /// Thrown for a chat record when there is no template to write it with.
    public struct ChatTemplateRequired: Error, CustomStringConvertible {
        public var description: String {
            "chat records need a chat template and the model has none: set model.chat_template to the model's format (\(ChatFormat.allCases.map(\.rawValue).joined(separator: ", "))), or write the data as prompt_completion"
        }
    }

    public func sample(_ record: DataRecord) throws(ChatTemplateRequired) -> TokenizedSample {
        var ids: [Int32] = []
        var mask: [Bool] = []
        for piece in try pieces(record) {
            let pieceIds = tokens(piece)
            ids += pieceIds
            mask += repeatElement(lossOn == .all || piece.role != .context, count: pieceIds.count)
        }
        if !mask.isEmpty { mask[0] = false }  // nothing before the first token predicts it
        return TokenizedSample(ids: ids, lossMask: mask)
    }

    /// The prompt of the record's final reply and the reply itself, for scoring greedy generations
    /// by exact match; nil for text records, which have no prompt.
    public func evaluationPrompt(_ record: DataRecord) throws(ChatTemplateRequired) -> EvaluationPrompt? {
        if case .text = record { return nil }
        let pieces = try pieces(record)
        guard let last = pieces.lastIndex(where: { $0.role == .reply }), case .text(let reference) = pieces[last].content else { return nil }
        return EvaluationPrompt(promptIds: pieces[..<last].flatMap(tokens), reference: reference)
    }

    func pieces(_ record: DataRecord) throws(ChatTemplateRequired) -> [Piece] {
        if let template {
            switch record {
            case .text(let text): return textPieces(text, bos: nil)
            case .promptCompletion(let prompt, let completion): return chatPieces([.init(role: "user", content: prompt), .init(role: "assistant", content: completion)], template)
            case .alpaca(let instruction, let input, let output):
                let user = input.isEmpty ? instruction : instruction + "\n\n" + input
                return chatPieces([.init(role: "user", content: user), .init(role: "assistant", content: output)], template)
            case .chat(let messages): return chatPieces(messages, template)
            }
        }
        switch record {
        case .text(let text): return textPieces(text, bos: tokenizer.bosTokenId)
        case .promptCompletion(let prompt, let completion): return plainPieces(prompt: prompt, reply: completion)
        case .alpaca(let instruction, let input, let output): return plainPieces(prompt: Self.alpacaPrompt(instruction: instruction, input: input), reply: output)
        case .chat: throw ChatTemplateRequired()
        }
    }

    private func textPieces(_ text: String, bos: Int32?) -> [Piece] {
        var pieces: [Piece] = []
        if let bos { pieces.append(Piece(.token(bos), .context)) }
        pieces.append(Piece(.text(text), .reply))
        if let eos = tokenizer.eosTokenId { pieces.append(Piece(.token(eos), .endOfTurn)) }
        return pieces
    }

    private func plainPieces(prompt: String, reply: String) -> [Piece] {
        var pieces: [Piece] = []
        if let bos = tokenizer.bosTokenId { pieces.append(Piece(.token(bos), .context)) }
        pieces += [Piece(.text(prompt), .context), Piece(.text(reply), .reply)]
        if let eos = tokenizer.eosTokenId { pieces.append(Piece(.token(eos), .endOfTurn)) }
        return pieces
    }

    /// The template's segments: replies and their end-of-turn tokens as the format lays them out.
    private func chatPieces(_ messages: [ChatMessage], _ template: ChatTemplate) -> [Piece] {
        template.segments(messages, addGenerationPrompt: false).map { segment in
            switch segment.kind {
            case .context: Piece(.text(segment.text), .context)
            case .reply: Piece(.text(segment.text), .reply)
            case .endOfTurn: Piece(.text(segment.text), .endOfTurn)
            }
        }
    }

    func tokens(_ piece: Piece) -> [Int32] {
        switch piece.content {
        case .text(let text): tokenizer.encode(text)
        case .token(let id): [id]
        }
    }

    /// The Stanford Alpaca prompt, with or without its input section.
    static func alpacaPrompt(instruction: String, input: String) -> String {
        if input.isEmpty {
            return "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
                + "### Instruction:\n\(instruction)\n\n### Response:\n"
        }
        return "Below is an instruction that describes a task, paired with an input that provides further context. "
            + "Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\n\(instruction)\n\n### Input:\n\(input)\n\n### Response:\n"
    }
}

/// A stretch of a laid-out record: text, or one token given by id (<bos>, <eos>).
struct Piece {
    enum Content {
        case text(String)
        case token(Int32)
    }

    enum Role {
        /// Read, never learned under `loss_on: completion`.
        case context
        /// What the model learns to write: a completion, an output, an assistant message.
        case reply
        /// The token that ends a reply (`<|im_end|>`, <eos>), learned with it.
        case endOfTurn
    }

    let content: Content
    let role: Role

    init(_ content: Content, _ role: Role) {
        self.content = content
        self.role = role
    }
}

/// What a held-out record asks and the answer it expects, for scoring greedy generations by exact match.
public struct EvaluationPrompt: Sendable, Equatable {
    /// The tokens before the final reply, ending with the template's generation prompt (`<|im_start|>assistant\n` under ChatML).
    public var promptIds: [Int32]
    /// The final reply: the completion, the alpaca output, the last assistant message.
    public var reference: String

    public init(promptIds: [Int32], reference: String) {
        self.promptIds = promptIds
        self.reference = reference
    }
}
