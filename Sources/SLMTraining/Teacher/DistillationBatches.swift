import SLMTensor

/// The batches of a `BatchPlan`, each with the teacher's top-k from a cache at every position that
/// has a label and a teacher distribution (`TrainingBatch.teacher`; a position without one keeps
/// k slots of -1 and gets cross-entropy only). Every sample of the plan must be in the cache; the
/// scores are read once, at the start (about 8·k bytes a token in memory).
public struct DistillationBatches: BatchSource {
    public let plan: BatchPlan
    public let k: Int
    /// The teacher's scores of each of the plan's samples, in the plan's order.
    private let teacher: [TeacherScores]

    public var batchesPerEpoch: Int { plan.batchesPerEpoch }

    public init(plan: BatchPlan, cache: TeacherCache) throws {
        var indices: [Int] = []
        for (n, sample) in plan.samples.enumerated() {
            guard let i = cache.entryIndex(of: TeacherCacheFile.key(of: sample.ids)) else {
                throw TrainingError("\(cache.path) lacks the teacher's scores of training sample \(n + 1): run slm teacher on this recipe first")
            }
            indices.append(i)
        }
        try self.init(plan: plan, teacher: try cache.scores(at: indices), k: cache.attributes.k, source: cache.path)
    }

    /// `teacher[n]`: the scores of `plan.samples[n]` (the same tokens), from `source` (named in errors).
    public init(plan: BatchPlan, teacher: [TeacherScores], k: Int, source: String) throws {
        guard teacher.count == plan.samples.count else {
            throw TrainingError("\(source): \(teacher.count) teacher entries for the \(plan.samples.count) training samples")
        }
        for (n, s) in teacher.enumerated() where s.tokenIDs != plan.samples[n].ids || s.k != k {
            throw TrainingError("\(source): the cached tokens of training sample \(n + 1) differ from the sample's (a key collision or a damaged file)")
        }
        self.plan = plan
        self.k = k
        self.teacher = teacher
    }

    /// Positions the plan trains on (a label), and those of them with a teacher distribution.
    public var coverage: (targets: Int, withTeacher: Int) {
        var targets = 0, withTeacher = 0
        for (sample, scores) in zip(plan.samples, teacher) {
            for t in 0..<(sample.ids.count - 1) where sample.lossMask[t + 1] {
                targets += 1
                if scores.hasDistribution(row: t) { withTeacher += 1 }
            }
        }
        return (targets, withTeacher)
    }

    public func batch(epoch: Int, index: Int) -> TrainingBatch {
        var batch = plan.batch(epoch: epoch, index: index)
        var ids = [Int32](repeating: -1, count: batch.ids.count * k)
        var logprobs = [Float](repeating: -.infinity, count: batch.ids.count * k)
        for (r, row) in plan.rowSamples(epoch: epoch, index: index).enumerated() {
            var p = r * batch.sequence
            for s in row {
                let scores = teacher[s]
                for j in scores.tokenIDs.indices where batch.labels[p + j] != Tensor.ignoreIndex {
                    for slot in 0..<k {
                        ids[(p + j) * k + slot] = scores.topTokenIDs[j * k + slot]
                        logprobs[(p + j) * k + slot] = scores.topLogProbs[j * k + slot]
                    }
                }
                p += scores.tokenIDs.count
            }
        }
        batch.teacher = BatchTeacher(k: k, ids: ids, logprobs: logprobs)
        return batch
    }
}
