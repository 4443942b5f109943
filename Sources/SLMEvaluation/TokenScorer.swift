import Foundation
import SLMModel
import SLMTensor
import SLMTraining

/// Teacher-forced scores of one sample's target tokens (those its loss mask marks).
public struct SampleScore: Sendable, Equatable {
    /// Σ log p(target token | the tokens before it), natural log.
    public var logProbability: Double
    public var targets: Int
    /// Targets that are the model's top-1 prediction.
    public var correct: Int

    public init(logProbability: Double = 0, targets: Int = 0, correct: Int = 0) {
        self.logProbability = logProbability
        self.targets = targets
        self.correct = correct
    }

    public var meanLogProbability: Double { targets > 0 ? logProbability / Double(targets) : .nan }
}

/// Scores samples in batches with no tape: rows of similar length together (sorted by length,
/// padded to the longest of the batch, at most `tokensPerBatch` positions), one forward per batch,
/// and the output projection only at target positions, `logitRows` at a time.
public struct TokenScorer {
    public let model: Transformer
    /// Positions (rows × longest) per forward. Default 4096.
    public var tokensPerBatch: Int
    /// Target positions whose logits are made at once: 256 × V 49,152 is 50 MB. Default 256.
    public var logitRows: Int

    public init(model: Transformer, tokensPerBatch: Int = 4096, logitRows: Int = 256) {
        self.model = model
        self.tokensPerBatch = tokensPerBatch
        self.logitRows = logitRows
    }

    /// One score per sample, in the order given; `progress(done, total)` after each batch.
    public func score(_ samples: [TokenizedSample], progress: (Int, Int) -> Void = { _, _ in }) throws -> [SampleScore] {
        var scores = [SampleScore](repeating: SampleScore(), count: samples.count)
        let order = samples.indices.sorted { samples[$0].ids.count < samples[$1].ids.count }
        var start = 0, done = 0
        try GradMode.withoutGrad {
            while start < order.count {
                // Sorted ascending, so the last sample taken is the longest of the batch.
                var end = start + 1
                while end < order.count, (end - start + 1) * samples[order[end]].ids.count <= tokensPerBatch { end += 1 }
                let batch = Array(order[start..<end])
                for (index, score) in try scoreBatch(batch.map { samples[$0] }) .enumerated() { scores[batch[index]] = score }
                done += batch.count
                progress(done, samples.count)
                start = end
            }
        }
        return scores
    }

    private func scoreBatch(_ samples: [TokenizedSample]) throws -> [SampleScore] {
        let rows = samples.count, length = samples.map(\.ids.count).max() ?? 0
        guard length >= 2 else { return samples.map { _ in SampleScore() } }
        var ids = [Int32](repeating: BatchPlan.paddingId, count: rows * length)
        var positions = [Int32](repeating: 0, count: rows * length)
        var segments = [Int32](repeating: 0, count: rows * length)
        // Position p (row-major) predicts the token at p + 1; its label and which sample it scores.
        var targetPositions: [Int32] = [], labels: [Int32] = [], owners: [Int] = []
        for (r, sample) in samples.enumerated() {
            for k in 0..<length {
                let p = r * length + k
                segments[p] = Int32(2 * r + (k < sample.ids.count ? 0 : 1))
                guard k < sample.ids.count else { continue }
                ids[p] = sample.ids[k]
                positions[p] = Int32(k)
                if k + 1 < sample.ids.count, sample.lossMask[k + 1] {
                    targetPositions.append(Int32(p))
                    labels.append(sample.ids[k + 1])
                    owners.append(r)
                }
            }
        }
        var scores = [SampleScore](repeating: SampleScore(), count: rows)
        guard !targetPositions.isEmpty else { return scores }
        let hidden = try model.hiddenStates(ids, batch: rows, sequence: length, positions: positions, mask: AttentionMask(segments: segments))
        let vocab = model.config.vocabSize
        for chunk in stride(from: 0, to: targetPositions.count, by: logitRows) {
            let range = chunk..<min(chunk + logitRows, targetPositions.count)
            let logits = try model.logits(try hidden.embedding(Array(targetPositions[range])))
            let logProbabilities = try logits.logSoftmax()
            for (n, t) in range.enumerated() {
                let row = UnsafeBufferPointer(start: logits.data + n * vocab, count: vocab)
                let label = Int(labels[t])
                guard label >= 0, label < vocab else { throw EvaluationError("token id \(label) is outside the model's vocabulary of \(vocab)") }
                scores[owners[t]].logProbability += Double(logProbabilities.data[n * vocab + label])
                scores[owners[t]].targets += 1
                if Self.argmax(row) == label { scores[owners[t]].correct += 1 }
            }
        }
        return scores
    }

    /// The first index of the largest value.
    static func argmax(_ row: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in row.indices where row[i] > bestValue {
            best = i
            bestValue = row[i]
        }
        return best
    }
}
