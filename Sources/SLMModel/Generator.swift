import Dispatch
import SLMTensor

/// What a generation may produce and when it ends. Defaults are stated on each field.
public struct GenerationParameters: Sendable {
    /// New tokens at most. Default 256.
    public var maxTokens: Int
    /// How each token is picked. Default greedy.
    public var sampling: SamplingParameters
    /// Text that ends the reply; it and what follows are not shown. Default none.
    public var stopStrings: [String]
    /// Tokens that end the reply (not shown). Default nil: the tokenizer's end-of-generation
    /// tokens (`Generator.endOfGenerationIds`).
    public var stopTokenIds: Set<Int32>?

    public init(maxTokens: Int = 256, sampling: SamplingParameters = .greedy, stopStrings: [String] = [], stopTokenIds: Set<Int32>? = nil) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
        self.stopTokenIds = stopTokenIds
    }
}

/// Why a reply ended.
public enum FinishReason: String, Sendable {
    case stopToken, stopString, maxTokens, contextFull
}

/// One generated token and the text it lets through (possibly empty: part of a character, or
/// text that may begin a stop string). The texts of a reply's tokens add up to the reply.
public struct GeneratedToken: Sendable, Equatable {
    public let id: Int32
    public let text: String
}

/// Timings of the last reply.
public struct GenerationStatistics: Sendable {
    /// Prompt tokens run through the model (those already cached are not counted) and the time it took.
    public var promptTokens = 0, promptSeconds = 0.0
    /// Tokens generated and the time from the first to the last (each after the first costs one forward).
    public var generatedTokens = 0, generationSeconds = 0.0

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generationTokensPerSecond: Double { generationSeconds > 0 ? Double(generatedTokens - 1) / generationSeconds : 0 }
}

/// Generates text with a KV cache: `start` reads a prompt, then each `next()` yields one token
/// until a stop token, a stop string, `maxTokens` or a full cache ends the reply.
///
/// ```swift
/// let generator = try Generator(model: model, tokenizer: tokenizer)
/// try generator.start(prompt: tokenizer.encode("Once upon a time"), parameters: .init(maxTokens: 50))
/// while let token = try generator.next() { print(token.text, terminator: "") }
/// ```
///
/// The cache keeps the prompt and the reply, so a conversation passes its whole history each
/// turn and only the tokens after the longest cached prefix are run.
public final class Generator {
    public let model: Transformer
    public let tokenizer: BPETokenizer
    public let cache: KVCache
    /// Prompt tokens per forward while reading a prompt (bounds the activations of a long prompt).
    public var prefillChunk = 512

    public private(set) var finishReason: FinishReason?
    public private(set) var statistics = GenerationStatistics()

    private var parameters = GenerationParameters()
    private var sampler: Sampler
    private var stopIds: Set<Int32> = []
    private var decoder: StreamingDecoder
    private var stops = StopStringMatcher([])
    /// The logits [V] the last token of `next()` was drawn from (after `start`: those of the first
    /// reply token), for callers that report log-probabilities.
    public private(set) var logits: Tensor?
    /// The last token yielded, not yet run through the model.
    private var pending: Int32?
    private var generationStart: UInt64 = 0

    /// A generator whose cache holds `contextLength` tokens (default: the model's context, at most 4096).
    public init(model: Transformer, tokenizer: BPETokenizer, contextLength: Int? = nil) throws {
        self.model = model
        self.tokenizer = tokenizer
        cache = try KVCache(config: model.config, maxTokens: contextLength ?? min(model.config.maxPositions, 4096))
        sampler = try Sampler(.greedy)
        decoder = StreamingDecoder(tokenizer: tokenizer)
    }

    /// The tokens that end a reply by default: EOS, `<|endoftext|>` and the end-of-turn tokens of every
    /// chat format (`ChatFormat.endOfTurn`) that the vocabulary has.
    public static func endOfGenerationIds(_ tokenizer: BPETokenizer) -> Set<Int32> {
        let texts = ["<|endoftext|>"] + ChatFormat.allCases.map(\.endOfTurn)
        var ids = Set(texts.compactMap { tokenizer.addedTokens[$0]?.id })
        if let eos = tokenizer.eosTokenId { ids.insert(eos) }
        return ids
    }

    /// Reads `prompt`, all tokens so far (for a chat, the whole conversation): cached tokens are
    /// kept up to the first difference, the rest run through the model, and a new reply begins.
    public func start(prompt: [Int32], parameters: GenerationParameters) throws {
        // Whatever happens below, the previous reply is over.
        finishReason = nil
        pending = nil
        logits = nil
        guard !prompt.isEmpty else { throw TensorError(op: "Generator", "the prompt is empty") }
        guard prompt.count < cache.maxTokens else {
            throw TensorError(op: "Generator", "the prompt has \(prompt.count) tokens; the context holds \(cache.maxTokens)")
        }
        guard parameters.maxTokens > 0 else { throw TensorError(op: "Generator", "maxTokens must be positive, got \(parameters.maxTokens)") }
        self.parameters = parameters
        sampler = try Sampler(parameters.sampling)
        stopIds = parameters.stopTokenIds ?? Self.endOfGenerationIds(tokenizer)
        decoder = StreamingDecoder(tokenizer: tokenizer)
        stops = StopStringMatcher(parameters.stopStrings)
        statistics = GenerationStatistics()

        // At least the last prompt token runs, for its logits.
        cache.truncate(to: min(cache.commonPrefix(prompt), prompt.count - 1))
        let begin = DispatchTime.now().uptimeNanoseconds
        let reused = cache.count
        var next = reused
        while next < prompt.count {
            let end = min(prompt.count, next + prefillChunk)
            logits = try model.nextTokenLogits(Array(prompt[next..<end]), cache: cache)
            next = end
        }
        statistics.promptTokens = prompt.count - reused
        statistics.promptSeconds = Double(DispatchTime.now().uptimeNanoseconds - begin) * 1e-9
        generationStart = DispatchTime.now().uptimeNanoseconds
    }

    /// The next token of the reply, or nil once it has ended (see `finishReason`).
    public func next() throws -> GeneratedToken? {
        guard finishReason == nil else { return nil }
        if let pending {
            logits = try model.nextTokenLogits([pending], cache: cache)
            self.pending = nil
        }
        guard let logits else { throw TensorError(op: "Generator", "next() called before start(prompt:parameters:)") }
        let id = sampler.sample(UnsafeBufferPointer(start: logits.data, count: logits.count))
        statistics.generatedTokens += 1
        statistics.generationSeconds = Double(DispatchTime.now().uptimeNanoseconds - generationStart) * 1e-9
        var text: String
        if stopIds.contains(id) {
            finishReason = .stopToken
            text = stops.append(decoder.finish()) + stops.finish()
        } else {
            text = stops.append(decoder.append(id))
            if stops.stopped {
                finishReason = .stopString
            } else if statistics.generatedTokens >= parameters.maxTokens || cache.isFull {
                finishReason = statistics.generatedTokens >= parameters.maxTokens ? .maxTokens : .contextFull
                text += stops.append(decoder.finish()) + stops.finish()
            }
        }
        if finishReason == nil { pending = id }
        return GeneratedToken(id: id, text: text)
    }

    /// Runs a whole reply to `prompt`, calling `onText` with each piece of text as it comes; returns the reply.
    @discardableResult
    public func generate(prompt: [Int32], parameters: GenerationParameters, onText: (String) -> Void = { _ in }) throws -> String {
        try start(prompt: prompt, parameters: parameters)
        var reply = ""
        while let token = try next() {
            guard !token.text.isEmpty else { continue }
            reply += token.text
            onText(token.text)
        }
        return reply
    }
}
