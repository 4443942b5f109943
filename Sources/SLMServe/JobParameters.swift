import SLMModel

/// Checks the sampling fields shared by both endpoints and turns them into `GenerationParameters`.
/// OpenAI's defaults: temperature 1, top_p 1; no seed draws a random one.
enum JobParameters {
    static func make(maxTokens: Int, temperature: Float?, topP: Float?, seed: UInt64?, stop: [String]?, n: Int?) throws -> GenerationParameters {
        let temperature = temperature ?? 1
        guard temperature.isFinite, temperature >= 0, temperature <= 2 else {
            throw APIError.badRequest("temperature", "'temperature' must be between 0 and 2, got \(temperature)")
        }
        let topP = topP ?? 1
        guard topP > 0, topP <= 1 else { throw APIError.badRequest("top_p", "'top_p' must be in (0, 1], got \(topP)") }
        if let n, n != 1 { throw APIError.badRequest("n", "'n' must be 1 (one choice per request), got \(n)") }
        let stop = stop ?? []
        guard stop.count <= 4 else { throw APIError.badRequest("stop", "'stop' holds at most 4 strings, got \(stop.count)") }
        return GenerationParameters(
            maxTokens: maxTokens,
            sampling: SamplingParameters(temperature: temperature, topP: topP, seed: seed ?? UInt64.random(in: 0...UInt64.max)),
            stopStrings: stop)
    }

    /// A request naming another model than the one served is refused (404, as OpenAI's); no name is fine.
    static func checkModel(_ name: String?, served: ServedModel) throws {
        if let name, name != served.id {
            throw APIError.notFound("the model '\(name)' does not exist; this server serves '\(served.id)'", param: "model")
        }
    }

    static func logprobCount(_ value: Int?, field: String) throws -> Int? {
        guard let value else { return nil }
        guard (0...20).contains(value) else { throw APIError.badRequest(field, "'\(field)' must be between 0 and 20, got \(value)") }
        return value
    }

    /// OpenAI's finish_reason: "stop" for a stop token or string, "length" otherwise.
    static func finishReason(_ reason: FinishReason?) -> String {
        switch reason {
        case .stopToken, .stopString: "stop"
        case .maxTokens, .contextFull, nil: "length"
        }
    }
}
