import SLMTensor

/// The batches of a `BatchPlan`, each with the teacher's top-k from a cache at every position that
/// has a label (`TrainingBatch.teacher`). Every sample of the plan must be in the cache; the
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
        let scores = try cache.scores(at: indices)
        for (n, s) in scores.enumerated() where s.tokenIDs != plan.samples[n].ids {
            throw TrainingError("\(cache.path): the cached tokens of training sample \(n + 1) differ from the sample's (a key collision or a damaged file)")
        }
        self.plan = plan
        self.k = cache.attributes.k
        teacher = scores
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
