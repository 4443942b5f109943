import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SLMModel
import Synchronization

/// One sample to score with the teacher API.
public enum TeacherAPISample: Sendable {
    /// The dataset's own text, `prompt + completion`, whose student token ids spell exactly that
    /// text: scored with `/completions`, `echo: true`, `logprobs: k`, `max_tokens: 0`.
    case text(prompt: String, completion: String, studentTokenIDs: [Int32])
    /// A conversation the teacher answers: `/chat/completions` with `logprobs` and `top_logprobs: k`.
    /// `studentPromptTokenIDs` are the conversation as the student's chat template renders it, up to
    /// the assistant's generation prompt; the teacher's reply, tokenized by the student, follows them.
    case chat(messages: [ChatMessage], studentPromptTokenIDs: [Int32])
}

/// A sample's teacher scores in the student's vocabulary, and how well the teacher's tokens mapped.
public struct TeacherAPIResult: Sendable {
    public var scores: TeacherScores
    /// The teacher's reply (chat samples), which the student tokens after the prompt spell.
    public var reply: String?
    /// Why the server stopped: "stop" (the teacher ended its reply), "length" (max_tokens), …
    public var finishReason: String?
    /// Rows that had a next token to predict and were meant to be scored, and those the teacher filled.
    public var positions: Int, mappedPositions: Int
    /// Share of `positions` filled. What is left (tokenizers that cut the text differently) is for
    /// sequence-level distillation: training on the teacher's text.
    public var mappedShare: Double { positions == 0 ? 0 : Double(mappedPositions) / Double(positions) }
    /// Share of the teacher's candidates that are one student vocabulary entry.
    public var candidateShare: Double
    public var layout: APILogprobsLayout?
    public var serverBehaviour: [ServerBehaviour]
}

/// Scores samples with an OpenAI-compatible teacher API: bounded concurrency, a per-request
/// timeout, retries with exponential backoff and jitter (honouring `Retry-After`) on 429, 5xx,
/// timeouts, dropped connections and unreadable bodies, and running counts (`statistics`).
///
/// ```swift
/// let client = try TeacherAPIClient(settings: .init(baseURL: "http://127.0.0.1:8080/v1", model: "teacher"), tokenizer: student)
/// let result = try await client.score(.text(prompt: p, completion: c, studentTokenIDs: ids))
/// ```
public final class TeacherAPIClient: Sendable {
    public let settings: TeacherAPISettings
    private let tokenizer: BPETokenizer
    private let vocabulary: StudentVocabularyMap
    private let sender: HTTPSender
    private let limit: ConcurrencyLimit
    private let retry: RetryPolicy
    private let counts = Mutex(TeacherAPIStatistics())
    private let sendPromptCacheField: Atomic<Bool>
    private let log: @Sendable (String) -> Void

    /// `log` gets one line per retry (status or error, wait); it never sees the key.
    public init(settings: TeacherAPISettings, tokenizer: BPETokenizer, log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.settings = try settings.validated()
        self.tokenizer = tokenizer
        vocabulary = StudentVocabularyMap(tokenizer)
        sender = HTTPSender(maxConnections: settings.maxConcurrentRequests, timeout: settings.requestTimeout)
        limit = ConcurrencyLimit(settings.maxConcurrentRequests)
        retry = RetryPolicy(initialBackoff: settings.initialBackoff, maxBackoff: settings.maxBackoff, maxRetryAfter: settings.maxRetryAfter)
        sendPromptCacheField = Atomic(settings.disablePromptCache)
        self.log = log
    }

    /// The counts so far.
    public var statistics: TeacherAPIStatistics { counts.withLock { $0 } }

    /// Scores one sample (see `TeacherAPISample`).
    public func score(_ sample: TeacherAPISample) async throws -> TeacherAPIResult {
        do {
            let result: TeacherAPIResult
            switch sample {
            case .text(let prompt, let completion, let ids): result = try await scoreText(prompt + completion, ids: ids)
            case .chat(let messages, let promptIDs): result = try await scoreChat(messages, promptIDs: promptIDs)
            }
            counts.withLock {
                $0.samplesScored += 1
                $0.positions += result.positions
                $0.mappedPositions += result.mappedPositions
            }
            return result
        } catch {
            counts.withLock { $0.samplesFailed += 1 }
            throw error
        }
    }

    /// Scores `samples` with up to `maxConcurrentRequests` in flight; results in the samples' order.
    public func scoreAll(_ samples: [TeacherAPISample]) async -> [Result<TeacherAPIResult, TeacherAPIError>] {
        await withTaskGroup(of: (Int, Result<TeacherAPIResult, TeacherAPIError>).self) { group in
            for index in samples.indices {
                let sample = samples[index]
                group.addTask { [index, sample] in
                    do {
                        let result = try await self.score(sample)
                        return (index, .success(result))
                    } catch {
                        return (index, .failure(error as? TeacherAPIError ?? TeacherAPIError("\(error)")))
                    }
                }
            }
            var results: [(index: Int, result: Result<TeacherAPIResult, TeacherAPIError>)] = []
            while let next = await group.next() { results.append((next.0, next.1)) }
            return results.sorted { $0.index < $1.index }.map(\.result)
        }
    }

    // MARK: The two kinds of sample

    private func scoreText(_ text: String, ids: [Int32]) async throws -> TeacherAPIResult {
        let studentBytes = ids.map { tokenizer.bytes(of: $0) }
        guard studentBytes.flatMap({ $0 }) == Array(text.utf8) else {
            throw TeacherAPIError("the student token ids do not spell the sample's text (prompt + completion)")
        }
        let k = settings.topLogprobs
        let body: [String: Any] = [
            "model": settings.model, "prompt": text, "max_tokens": 0, "echo": true, "logprobs": k, "temperature": 0,
        ]
        let response = try await post("completions", body)
        var behaviour: [ServerBehaviour] = []
        var placed: [TeacherScoreAlignment.Placed] = []
        var offset = 0
        let textBytes = Array(text.utf8)
        let joined = response.positions.flatMap(\.bytes)
        if response.layout == nil {
            behaviour.append(.noLogprobs)
        } else if response.layout == .chat || !joined.starts(with: textBytes) {
            behaviour.append(.echoIgnored)
            if !response.positions.isEmpty { behaviour.append(.generatedDespiteMaxTokensZero(response.positions.count)) }
        } else {
            var generated = 0
            for p in response.positions {
                if offset >= textBytes.count { generated += 1 } else { placed.append(.init(offset: offset, position: p)) }
                offset += p.bytes.count
            }
            if generated > 0 { behaviour.append(.generatedDespiteMaxTokensZero(generated)) }
            if placed.count > 1, placed.dropFirst().allSatisfy({ $0.position.top.isEmpty }) { behaviour.append(.echoedPromptWithoutLogprobs) }
        }
        return finish(ids: ids, bytes: studentBytes, placed: placed, rows: 0..<max(ids.count - 1, 0), reply: nil, response: response, behaviour: behaviour)
    }

    private func scoreChat(_ messages: [ChatMessage], promptIDs: [Int32]) async throws -> TeacherAPIResult {
        guard !promptIDs.isEmpty else { throw TeacherAPIError("the student prompt token ids are empty") }
        let body: [String: Any] = [
            "model": settings.model, "messages": messages.map { ["role": $0.role, "content": $0.content] },
            "max_tokens": settings.maxTokens, "temperature": Double(settings.temperature), "logprobs": true, "top_logprobs": settings.topLogprobs,
        ]
        let response = try await post("chat/completions", body)
        let ids = promptIDs + tokenizer.encode(response.text, parseSpecial: false)
        let studentBytes = ids.map { tokenizer.bytes(of: $0) }
        let start = studentBytes[..<promptIDs.count].reduce(0) { $0 + $1.count }
        var behaviour: [ServerBehaviour] = response.layout == nil ? [.noLogprobs] : []
        if response.layout != nil, response.positions.flatMap(\.bytes) != Array(response.text.utf8) { behaviour.append(.tokensDoNotSpellText) }
        var placed: [TeacherScoreAlignment.Placed] = []
        var offset = start
        for p in response.positions {
            placed.append(.init(offset: offset, position: p))
            offset += p.bytes.count
        }
        return finish(
            ids: ids, bytes: studentBytes, placed: placed, rows: (promptIDs.count - 1)..<max(ids.count - 1, promptIDs.count - 1),
            reply: response.text, response: response, behaviour: behaviour)
    }

    private func finish(
        ids: [Int32], bytes: [[UInt8]], placed: [TeacherScoreAlignment.Placed], rows: Range<Int>, reply: String?, response: APIResponse,
        behaviour: [ServerBehaviour]
    ) -> TeacherAPIResult {
        var behaviour = behaviour
        let k = settings.topLogprobs
        let fewest = placed.map(\.position.top.count).filter { $0 > 0 }.min()
        if let fewest, fewest < k { behaviour.append(.fewerAlternatives(asked: k, got: fewest)) }
        let aligned = TeacherScoreAlignment.align(studentIDs: ids, studentTokenBytes: bytes, teacher: placed, rows: rows, k: k, vocabulary: vocabulary)
        return TeacherAPIResult(
            scores: aligned.scores, reply: reply, finishReason: response.finishReason, positions: rows.count, mappedPositions: aligned.mappedRows,
            candidateShare: aligned.candidates == 0 ? 0 : Double(aligned.mappedCandidates) / Double(aligned.candidates),
            layout: response.layout, serverBehaviour: behaviour + (response.refusedPromptCacheField ? [.promptCacheFieldRefused] : []))
    }

    // MARK: HTTP with retries

    /// POSTs `body` (plus `cache_prompt: false` while the server takes it) to `baseURL/path`,
    /// retrying what is worth retrying, and reads the response.
    private func post(_ path: String, _ body: [String: Any]) async throws -> APIResponse {
        let url = settings.baseURL.hasSuffix("/") ? settings.baseURL + path : settings.baseURL + "/" + path
        guard let endpoint = URL(string: url) else { throw TeacherAPIError("base_url \"\(settings.baseURL)\" does not make a URL") }
        let key = try apiKey()
        await limit.acquire()
        defer { Task { await limit.release() } }
        var failures = 0, refusedCacheField = false
        while true {
            var fields = body
            let withCacheField = sendPromptCacheField.load(ordering: .relaxed)
            if withCacheField { fields["cache_prompt"] = false }
            var request = URLRequest(url: endpoint)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            if let key { request.setValue("Bearer " + key, forHTTPHeaderField: "Authorization") }
            request.httpBody = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            counts.withLock { $0.requests += 1 }

            let reason: String
            var retryAfter: Double?
            do {
                let (data, head) = try await sender.send(request, timeout: settings.requestTimeout)
                if head.statusCode == 200 {
                    do {
                        var response = try APIResponse.parse(data, source: "POST \(path)")
                        response.refusedPromptCacheField = refusedCacheField
                        counts.withLock {
                            $0.promptTokens += response.promptTokens ?? 0
                            $0.completionTokens += response.completionTokens ?? 0
                        }
                        return response
                    } catch {
                        reason = "malformed"
                    }
                } else if head.statusCode == 400, withCacheField, String(decoding: data, as: UTF8.self).contains("cache_prompt") {
                    sendPromptCacheField.store(false, ordering: .relaxed)
                    refusedCacheField = true
                    log("POST \(path): the server refused cache_prompt; sending without it")
                    continue
                } else if RetryPolicy.isRetryable(status: head.statusCode) {
                    reason = head.statusCode == 429 ? "429" : "5xx"
                    retryAfter = RetryPolicy.parseRetryAfter(head.value(forHTTPHeaderField: "Retry-After"))
                } else {
                    throw TeacherAPIError("POST \(url): HTTP \(head.statusCode): \(scrub(excerpt(data), key: key))", status: head.statusCode)
                }
            } catch is HTTPSender.TimedOut {
                reason = "timeout"
            } catch let error as URLError where ![.badURL, .unsupportedURL, .cancelled].contains(error.code) {
                reason = error.code == .timedOut ? "timeout" : "connection"
            } catch let error as TeacherAPIError {
                throw error
            } catch {
                throw TeacherAPIError("POST \(url): \(scrub("\(error)", key: key))")
            }
            failures += 1
            guard failures <= settings.maxRetries else {
                throw TeacherAPIError("POST \(url): gave up after \(settings.maxRetries) retries (last: \(reason))")
            }
            counts.withLock { $0.retries[reason, default: 0] += 1 }
            let wait = retry.delay(retry: failures, retryAfter: retryAfter)
            log(String(format: "POST %@: %@, retry %d of %d in %.1f s", path, reason, failures, settings.maxRetries, wait))
            try await Task.sleep(for: .seconds(wait))
        }
    }

    /// The key from the environment variable the settings name (nil when they name none).
    private func apiKey() throws -> String? {
        guard let name = settings.apiKeyEnvironmentVariable else { return nil }
        guard let key = ProcessInfo.processInfo.environment[name], !key.isEmpty else {
            throw TeacherAPIError("the environment variable \(name) (api_key_env) is not set")
        }
        return key
    }

    private func excerpt(_ data: Data) -> String {
        let text = String(decoding: data.prefix(300), as: UTF8.self)
        return data.count > 300 ? text + "…" : text
    }

    /// A server may echo the key back in an error body; it never reaches a message.
    private func scrub(_ text: String, key: String?) -> String {
        guard let key, !key.isEmpty else { return text }
        return text.replacingOccurrences(of: key, with: "[key]")
    }
}
