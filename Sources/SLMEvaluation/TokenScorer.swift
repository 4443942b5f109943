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
    /// Targets at which a teacher was given and has an entry.
    public var teacherTargets: Int
    /// Of those, where the model's top-1 is the teacher's top-1.
    public var teacherAgreements: Int
    /// Σ KL(teacher ‖ model) over those, on the teacher's top-k plus one tail bucket (nats).
    public var teacherKL: Double

    public init(logProbability: Double = 0, targets: Int = 0, correct: Int = 0, teacherTargets: Int = 0, teacherAgreements: Int = 0, teacherKL: Double = 0) {
        self.logProbability = logProbability
        self.targets = targets
        self.correct = correct
        self.teacherTargets = teacherTargets
        self.teacherAgreements = teacherAgreements
        self.teacherKL = teacherKL
    }

    /// Adds another piece of the same sample (a window of a long text).
    public mutating func add(_ other: SampleScore) {
        logProbability += other.logProbability
        targets += other.targets
        correct += other.correct
        teacherTargets += other.teacherTargets
        teacherAgreements += other.teacherAgreements
        teacherKL += other.teacherKL
    }

    public var meanLogProbability: Double { targets > 0 ? logProbability / Double(targets) : .nan }
}

/// Scores samples in batches with no tape: rows of similar length together (sorted by length,
/// padded to the longest of the batch, at most `tokensPerBatch` positions), one forward per batch,
/// and the output projection only at target positions, `logitRows` at a time. Given a teacher's
/// top-k for a sample, the same logits also give the agreement with it and KL(teacher ‖ model)
/// as the distillation loss measures it (`Kernels.topKDivergence`: top-k plus a tail bucket, T = 1).
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
    /// `teachers`: empty, or per sample its teacher's scores (nil: none), whose `tokenIDs` must
    /// be the sample's ids: row t of the teacher predicts token t + 1, as position t does here.
    public func score(
        _ samples: [TokenizedSample], teachers: [TeacherScores?] = [], progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> [SampleScore] {
        guard teachers.isEmpty || teachers.count == samples.count else {
            throw EvaluationError("\(teachers.count) teacher entries for \(samples.count) samples")
        }
        for (sample, teacher) in zip(samples, teachers) {
            guard let teacher else { continue }
            guard teacher.tokenIDs == sample.ids, teacher.k > 0, teacher.topTokenIDs.count == sample.ids.count * teacher.k,
                  teacher.topLogProbs.count == teacher.topTokenIDs.count
            else { throw EvaluationError("a teacher entry does not fit its sample (other tokens, or not T × k slots)") }
        }
        var scores = [SampleScore](repeating: SampleScore(), count: samples.count)
        let order = samples.indices.sorted { samples[$0].ids.count < samples[$1].ids.count }
        var start = 0, done = 0
        try GradMode.withoutGrad {
            while start < order.count {
                // Sorted ascending, so the last sample taken is the longest of the batch.
                var end = start + 1
                while end < order.count, (end - start + 1) * samples[order[end]].ids.count <= tokensPerBatch { end += 1 }
                let batch = Array(order[start..<end])
                for (index, score) in try scoreBatch(batch.map { samples[$0] }, teachers.isEmpty ? [] : batch.map { teachers[$0] }).enumerated() { scores[batch[index]] = score }
                done += batch.count
                progress(done, samples.count)
                start = end
            }
        }
        return scores
    }

    private func scoreBatch(_ samples: [TokenizedSample], _ teachers: [TeacherScores?]) throws -> [SampleScore] {
        let rows = samples.count, length = samples.map(\.ids.count).max() ?? 0
        guard length >= 2 else { return samples.map { _ in SampleScore() } }
        var ids = [Int32](repeating: BatchPlan.paddingId, count: rows * length)
        var positions = [Int32](repeating: 0, count: rows * length)
        var segments = [Int32](repeating: 0, count: rows * length)
        // Position p (row-major) predicts the token at p + 1; its label and which sample it scores.
        var targetPositions: [Int32] = [], labels: [Int32] = [], owners: [Int] = [], offsets: [Int] = []
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
                    offsets.append(k)
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
                let top = Self.argmax(row)
                if top == label { scores[owners[t]].correct += 1 }
                if !teachers.isEmpty, let teacher = teachers[owners[t]] {
                    try compare(UnsafeMutablePointer(mutating: row.baseAddress!), top: top, with: teacher, row: offsets[t], into: &scores[owners[t]])
                }
            }
        }
        return scores
    }

    /// Adds the agreement with the teacher's row `row` and the KL from it, when the teacher has
    /// an entry there. Overwrites `logits` [V].
    private func compare(_ logits: UnsafeMutablePointer<Float>, top: Int, with teacher: TeacherScores, row: Int, into score: inout SampleScore) throws {
        let k = teacher.k, vocab = model.config.vocabSize
        let slots = row * k..<(row + 1) * k
        guard let first = teacher.topTokenIDs[slots].first(where: { $0 >= 0 }) else { return }
        if let bad = teacher.topTokenIDs[slots].first(where: { $0 >= vocab }) {
            throw EvaluationError("the teacher's token id \(bad) is outside the model's vocabulary of \(vocab)")
        }
        score.teacherTargets += 1
        if Int(first) == top { score.teacherAgreements += 1 }
        teacher.topTokenIDs.withUnsafeBufferPointer { ids in
            teacher.topLogProbs.withUnsafeBufferPointer { logprobs in
                score.teacherKL += Kernels.topKDivergence(
                    logits: logits, vocab: vocab, ids: ids.baseAddress! + row * k, logprobs: logprobs.baseAddress! + row * k, k: k).divergence
            }
        }
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
