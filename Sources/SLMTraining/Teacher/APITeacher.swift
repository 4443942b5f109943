import Foundation
import SLMModel
import Synchronization

/// A teacher behind an OpenAI-compatible API (`distillation.teacher.api`), up to `concurrency`
/// requests at a time, its tokens mapped onto the student's vocabulary. Two modes:
///
/// - `echo`: each sample's own text is scored with `/completions`, `echo` and `logprobs`. A server
///   that cannot score the text it is sent (one that ignores `echo`, as llama.cpp's does) is an
///   error, not a cache of empty rows.
/// - `generate`: the teacher writes the reply to each sample's prompt (`/chat/completions` with
///   `logprobs` and `top_logprobs`), for sequence-level distillation (`replies(for:)`).
public final class APITeacher: TeacherSource, Sendable {
    public let identity: String
    public let mode: Recipe.APITeacherMode
    public var sourceKind: String { mode == .generate ? TeacherCacheAttributes.teacherWritten : "api-echo" }
    public let k: Int
    public let temperature = 1.0
    public let batchSize: Int
    private let client: TeacherAPIClient
    private let tokenizer: BPETokenizer

    /// `mode`: echo or generate (resolve `auto` first: `DistillationSetup.resolveMode`).
    public init(
        _ section: Recipe.APITeacherSection, mode: Recipe.APITeacherMode, k: Int, studentTokenizer: BPETokenizer,
        log: @escaping @Sendable (String) -> Void
    ) throws {
        precondition(mode != .auto, "resolve mode auto before making the teacher")
        client = try Self.client(section, k: k, studentTokenizer: studentTokenizer, log: log)
        tokenizer = studentTokenizer
        self.mode = mode
        self.k = k
        batchSize = 4 * section.concurrency
        identity = Self.identity(section, mode: mode)
    }

    /// "api:<model>@<base_url>" (no key); teacher-written replies add how they were written, since
    /// another max_tokens or temperature writes other replies:
    /// "api:<model>@<base_url> generate(max_tokens 256, temperature 0.0)".
    public static func identity(_ section: Recipe.APITeacherSection, mode: Recipe.APITeacherMode) -> String {
        let base = "api:\(section.model)@\(section.baseURL)"
        return mode == .generate ? base + " generate(max_tokens \(section.maxTokens), temperature \(section.temperature))" : base
    }

    private static func client(
        _ section: Recipe.APITeacherSection, k: Int, studentTokenizer: BPETokenizer, log: @escaping @Sendable (String) -> Void
    ) throws -> TeacherAPIClient {
        let settings = TeacherAPISettings(
            baseURL: section.baseURL, model: section.model, apiKeyEnvironmentVariable: section.apiKeyEnv, topLogprobs: k,
            maxConcurrentRequests: section.concurrency, requestTimeout: section.timeout, maxRetries: section.maxRetries,
            temperature: Float(section.temperature), maxTokens: section.maxTokens)
        do {
            return try TeacherAPIClient(settings: settings, tokenizer: studentTokenizer, log: log)
        } catch let error as TeacherAPIError {
            throw TrainingError("distillation.teacher.api: \(error)")
        }
    }

    /// Whether the server scores the text it is sent, found with one short `/completions` request
    /// with `echo`, and why (for `mode: auto`). A server that refuses the request (a chat-only API)
    /// does not echo.
    public static func probeEcho(
        _ section: Recipe.APITeacherSection, studentTokenizer: BPETokenizer, log: @escaping @Sendable (String) -> Void
    ) throws -> (echoes: Bool, reason: String) {
        let client = try client(section, k: 1, studentTokenizer: studentTokenizer, log: log)
        let text = "The quick brown fox jumps over the lazy dog."
        let sample = TeacherAPISample.text(prompt: "", completion: text, studentTokenIDs: studentTokenizer.encode(text, parseSpecial: false))
        let result = wait { () async -> Result<TeacherAPIResult, TeacherAPIError> in
            do { return .success(try await client.score(sample)) } catch { return .failure(error as? TeacherAPIError ?? TeacherAPIError("\(error)")) }
        }
        switch result {
        case .failure(let error) where error.status != nil:
            return (false, "it refused a /completions request with echo (\(error))")
        case .failure(let error):
            throw TrainingError("the teacher API at \(section.baseURL): \(error)")
        case .success(let scored):
            if let unusable = scored.serverBehaviour.first(where: { [.echoIgnored, .noLogprobs, .echoedPromptWithoutLogprobs].contains($0) }) {
                return (false, "\(unusable)")
            }
            return (true, "it scored the text it was sent (/completions with echo returned the prompt with log-probabilities)")
        }
    }

    public func scores(for samples: [TokenizedSample]) throws -> [TeacherScores] {
        guard mode == .echo else { throw TrainingError("a teacher in mode generate writes replies (replies(for:)); it does not score samples") }
        let requests = try samples.map { sample -> TeacherAPISample in
            let bytes = sample.ids.flatMap { tokenizer.bytes(of: $0) }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw TrainingError("a training sample's tokens do not spell valid UTF-8 text, which an API teacher needs to score it")
            }
            return .text(prompt: "", completion: text, studentTokenIDs: sample.ids)
        }
        let results = Self.wait { [client] in await client.scoreAll(requests) }
        return try results.map { result in
            switch result {
            case .failure(let error): throw TrainingError("the teacher API: \(error)")
            case .success(let scored):
                if let unusable = scored.serverBehaviour.first(where: { $0 == .echoIgnored || $0 == .noLogprobs }) {
                    throw TrainingError(
                        "the teacher API at \(client.settings.baseURL) cannot score the dataset's text: \(unusable). Set distillation.teacher.api.mode to generate (or auto) to train on replies the teacher writes")
                }
                return scored.scores
            }
        }
    }

    /// The teacher's reply to each prompt, as a teacher-written sample: the student's prompt ids,
    /// the reply as the student tokenizes it, then `endOfReply` when the teacher ended the reply
    /// itself (finish reason "stop"). Reply rows carry the teacher's top-k where its tokens mapped
    /// onto the student's vocabulary; the other rows (the prompt's, unmapped ones, the end) carry none.
    public func replies(for prompts: [TeacherPrompt]) throws -> [TeacherScores] {
        guard mode == .generate else { throw TrainingError("a teacher in mode echo scores samples; it does not write replies") }
        let requests = prompts.map { TeacherAPISample.chat(messages: $0.messages, studentPromptTokenIDs: $0.studentPromptIDs) }
        let results = Self.wait { [client] in await client.scoreAll(requests) }
        return try zip(prompts, results).map { prompt, result -> TeacherScores in
            switch result {
            case .failure(let error): throw TrainingError("the teacher API: \(error)")
            case .success(let written):
                var scores = written.scores
                scores.promptLength = prompt.studentPromptIDs.count
                if written.finishReason == "stop", !prompt.endOfReply.isEmpty {
                    scores.tokenIDs += prompt.endOfReply
                    scores.topTokenIDs += [Int32](repeating: -1, count: prompt.endOfReply.count * k)
                    scores.topLogProbs += [Float](repeating: -.infinity, count: prompt.endOfReply.count * k)
                }
                return scores
            }
        }
    }

    public var summary: String? {
        let s = client.statistics
        let retries = s.retries.isEmpty ? "" : " (" + s.retries.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
        let mapped = s.positions == 0 ? 0 : 100 * Double(s.mappedPositions) / Double(s.positions)
        let written = mode == .generate ? ", \(s.completionTokens) tokens written by the teacher" : ""
        return "teacher API: \(s.requests) requests, \(s.totalRetries) retries\(retries), \(s.promptTokens) prompt tokens\(written); "
            + String(format: "%.1f%%", mapped) + " of \(s.positions) positions mapped onto the student's vocabulary"
    }

    public func scores(for sample: TokenizedSample) throws -> TeacherScores {
        try scores(for: [sample])[0]
    }

    /// Runs async work to completion from synchronous code (the cache filler's loop).
    private static func wait<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await work()
            box.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return box.withLock { $0! }
    }
}
