import Foundation
import SLMModel
import Synchronization

/// A teacher behind an OpenAI-compatible API (`distillation.teacher.api`): each sample's own text
/// is scored with `/completions`, `echo` and `logprobs`, up to `concurrency` requests at a time,
/// and the teacher's tokens are mapped onto the student's vocabulary. A server that cannot score
/// the text it is sent (one that ignores `echo`, as llama.cpp's does) is an error, not a cache of
/// empty rows.
public final class APITeacher: TeacherSource {
    public let identity: String
    public let sourceKind = "api-echo"
    public let k: Int
    public let temperature = 1.0
    public let batchSize: Int
    private let client: TeacherAPIClient
    private let tokenizer: BPETokenizer

    public init(_ section: Recipe.APITeacherSection, k: Int, studentTokenizer: BPETokenizer, log: @escaping @Sendable (String) -> Void) throws {
        let settings = TeacherAPISettings(
            baseURL: section.baseURL, model: section.model, apiKeyEnvironmentVariable: section.apiKeyEnv, topLogprobs: k,
            maxConcurrentRequests: section.concurrency, requestTimeout: section.timeout, maxRetries: section.maxRetries)
        do {
            client = try TeacherAPIClient(settings: settings, tokenizer: studentTokenizer, log: log)
        } catch let error as TeacherAPIError {
            throw TrainingError("distillation.teacher.api: \(error)")
        }
        tokenizer = studentTokenizer
        self.k = k
        batchSize = 4 * section.concurrency
        identity = Self.identity(section)
    }

    /// "api:<model>@<base_url>" (no key).
    public static func identity(_ section: Recipe.APITeacherSection) -> String {
        "api:\(section.model)@\(section.baseURL)"
    }

    public func scores(for samples: [TokenizedSample]) throws -> [TeacherScores] {
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
                    throw TrainingError("the teacher API at \(client.settings.baseURL) cannot score the dataset's text: \(unusable)")
                }
                return scored.scores
            }
        }
    }

    public var summary: String? {
        let s = client.statistics
        let retries = s.retries.isEmpty ? "" : " (" + s.retries.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
        let mapped = s.positions == 0 ? 0 : 100 * Double(s.mappedPositions) / Double(s.positions)
        return "teacher API: \(s.requests) requests, \(s.totalRetries) retries\(retries), \(s.promptTokens) prompt tokens; "
            + String(format: "%.1f%%", mapped) + " of positions mapped onto the student's vocabulary"
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
