import Foundation

/// Fills a teacher cache with the scores of the samples it lacks, committing as it goes, so an
/// interrupted fill resumes where it stopped.
public enum TeacherCacheFiller {
    public struct Outcome: Sendable {
        /// Distinct samples asked for.
        public var samples: Int
        /// Of them, already in the cache before this fill.
        public var alreadyCached: Int
        public var scored: Int
        public var scoredTokens: Int
    }

    /// Scores every sample of `samples` whose token ids the cache at `path` lacks, committing every
    /// `commitRows` rows or more, asking the teacher for `teacher.batchSize` samples at a time.
    /// `progress` gets (done, to do, tokens scored, seconds) after each sample.
    public static func fill(
        cache path: String, samples: [TokenizedSample], teacher: any TeacherSource, tokenizerFingerprint: String,
        commitRows: Int = 8 * TeacherCacheFile.chunkRows, progress: (Int, Int, Int, Double) -> Void = { _, _, _, _ in }
    ) throws -> Outcome {
        let writer = try TeacherCacheWriter(
            path: path, attributes: teacher.cacheAttributes(tokenizerFingerprint: tokenizerFingerprint), commitRows: commitRows)
        var seen = Set<UInt64>(), missing: [TokenizedSample] = [], distinct = 0
        for sample in samples where seen.insert(TeacherCacheFile.key(of: sample.ids)).inserted {
            distinct += 1
            if !writer.contains(tokenIDs: sample.ids) { missing.append(sample) }
        }
        let start = Date()
        var tokens = 0
        var done = 0
        for first in stride(from: 0, to: missing.count, by: max(teacher.batchSize, 1)) {
            let batch = Array(missing[first..<min(first + max(teacher.batchSize, 1), missing.count)])
            for (sample, scores) in zip(batch, try teacher.scores(for: batch)) {
                guard scores.tokenIDs == sample.ids else {
                    throw TrainingError("the teacher \(teacher.identity) returned scores for other tokens than the sample it was given")
                }
                try writer.append(scores)
                tokens += sample.ids.count
                done += 1
                progress(done, missing.count, tokens, Date().timeIntervalSince(start))
            }
        }
        try writer.close()
        return Outcome(samples: distinct, alreadyCached: distinct - missing.count, scored: missing.count, scoredTokens: tokens)
    }
}
