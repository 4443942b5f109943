import Foundation
import SLMTensor

/// How the next token is picked from a row of logits. The defaults pick greedily.
///
/// Order, as transformers' logits processors: logits / temperature, then top-k, then top-p on
/// the tempered probabilities, then one draw from what is left, renormalised.
public struct SamplingParameters: Sendable, Equatable {
    /// Divides the logits before the softmax; 0 takes the most likely token (greedy). Default 0.
    public var temperature: Float
    /// Keeps only the k most likely tokens; nil (or 0) keeps all. Default nil.
    public var topK: Int?
    /// Keeps the fewest most likely tokens whose probabilities sum to at least p (nucleus
    /// sampling); 1 keeps all. Default 1.
    public var topP: Float
    /// The n-th draw of a generation is `SplitMix64.uniform(seed: seed, index: n)`, so a seed
    /// and a prompt fix the output. Default 0.
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int? = nil, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingParameters()

    public var isGreedy: Bool { temperature == 0 || topK == 1 }

    func validated() throws -> SamplingParameters {
        guard temperature >= 0, temperature.isFinite else { throw TensorError(op: "sampling", "temperature must be ≥ 0, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw TensorError(op: "sampling", "top-p must be in (0, 1], got \(topP)") }
        if let k = topK, k < 0 { throw TensorError(op: "sampling", "top-k must be ≥ 0, got \(k)") }
        return self
    }
}

/// Picks tokens from logits by `SamplingParameters`, counting its draws.
public struct Sampler {
    public let parameters: SamplingParameters
    /// Random draws made so far (the index of the next one).
    public private(set) var draws: UInt64 = 0

    public init(_ parameters: SamplingParameters) throws {
        self.parameters = try parameters.validated()
    }

    /// The next token for `logits` [V].
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if parameters.isGreedy { return Self.argmax(logits) }
        let u = Double(SplitMix64.uniform(seed: parameters.seed, index: draws))
        draws += 1
        return Self.pick(Self.candidates(logits, parameters), u: u)
    }

    public mutating func sample(_ logits: [Float]) -> Int32 {
        logits.withUnsafeBufferPointer { sample($0) }
    }

    /// The most likely token (the first one on ties, as torch.argmax).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    /// The tokens that top-k and top-p keep, most likely first (ties by id), with their
    /// renormalised probabilities at `parameters.temperature` (which must be > 0).
    public static func candidates(_ logits: UnsafeBufferPointer<Float>, _ parameters: SamplingParameters) -> [(id: Int32, probability: Double)] {
        let t = Double(parameters.temperature)
        var m = -Double.infinity
        for x in logits { m = max(m, Double(x)) }
        var weights = [Double](repeating: 0, count: logits.count)
        var total = 0.0
        for i in logits.indices {
            weights[i] = Foundation.exp((Double(logits[i]) - m) / t)
            total += weights[i]
        }
        let k = parameters.topK.flatMap { $0 > 0 ? min($0, logits.count) : nil } ?? logits.count
        let p = Double(parameters.topP)
        // Sort only the tokens above a threshold, lowered until they hold what top-k and top-p
        // need: every token left out weighs less than every token sorted, so the order is exact.
        var threshold = total * 1e-3
        var kept: [(id: Int32, probability: Double)] = []
        while true {
            var above: [(id: Int32, probability: Double)] = []
            var mass = 0.0
            for i in weights.indices where weights[i] >= threshold {
                above.append((Int32(i), weights[i] / total))
                mass += weights[i] / total
            }
            if above.count >= k || mass >= p || threshold == 0 {
                above.sort { $0.probability != $1.probability ? $0.probability > $1.probability : $0.id < $1.id }
                kept = above
                break
            }
            threshold = threshold < total * 1e-12 ? 0 : threshold * 1e-3
        }
        if kept.count > k { kept.removeLast(kept.count - k) }
        if p < 1 {
            // transformers' rule: drop the tail whose mass is at most 1 − p, which keeps the
            // fewest leading tokens whose mass reaches p, and always the most likely one.
            let kMass = kept.reduce(0) { $0 + $1.probability }
            var cumulative = 0.0, cut = kept.count
            for (n, c) in kept.enumerated() {
                cumulative += c.probability / kMass
                if cumulative >= p { cut = n + 1; break }
            }
            kept.removeLast(kept.count - cut)
        }
        let mass = kept.reduce(0) { $0 + $1.probability }
        return kept.map { ($0.id, $0.probability / mass) }
    }

    public static func candidates(_ logits: [Float], _ parameters: SamplingParameters) -> [(id: Int32, probability: Double)] {
        logits.withUnsafeBufferPointer { candidates($0, parameters) }
    }

    /// The candidate where the running sum of probabilities first exceeds u ∈ [0, 1).
    public static func pick(_ candidates: [(id: Int32, probability: Double)], u: Double) -> Int32 {
        var cumulative = 0.0
        for c in candidates {
            cumulative += c.probability
            if u < cumulative { return c.id }
        }
        return candidates.last!.id
    }
}
