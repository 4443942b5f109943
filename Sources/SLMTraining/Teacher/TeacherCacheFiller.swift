import Foundation

/// Fills a teacher cache with what it lacks (the scores of samples, or the teacher's replies to
/// prompts), committing as it goes, so an interrupted fill resumes where it stopped.
public enum TeacherCacheFiller {
    public struct Outcome: Sendable {
        /// Distinct samples (or prompts) asked for.
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
        return try fill(writer, items: samples, keyTokens: \.ids, batchSize: teacher.batchSize, progress: progress) { batch in
            let scores = try teacher.scores(for: batch)
            for (sample, s) in zip(batch, scores) where s.tokenIDs != sample.ids {
                throw TrainingError("the teacher \(teacher.identity) returned scores for other tokens than the sample it was given")
            }
            return scores
        }
    }

    /// Has the API teacher write the reply to every prompt whose reply the cache at `path` lacks
    /// (teacher-written samples are keyed by their prompt), as `fill` does for samples.
    public static func fillReplies(
        cache path: String, prompts: [TeacherPrompt], teacher: APITeacher, tokenizerFingerprint: String,
        commitRows: Int = 8 * TeacherCacheFile.chunkRows, progress: (Int, Int, Int, Double) -> Void = { _, _, _, _ in }
    ) throws -> Outcome {
        let writer = try TeacherCacheWriter(
            path: path, attributes: teacher.cacheAttributes(tokenizerFingerprint: tokenizerFingerprint), commitRows: commitRows)
        return try fill(writer, items: prompts, keyTokens: \.studentPromptIDs, batchSize: teacher.batchSize, progress: progress) { batch in
            let replies = try teacher.replies(for: batch)
            for (prompt, s) in zip(batch, replies) where Array(s.keyTokens) != prompt.studentPromptIDs {
                throw TrainingError("the teacher \(teacher.identity) returned a reply after another prompt than the one it was given")
            }
            return replies
        }
    }

    /// The loop both share: the items the writer lacks (by `keyTokens`, each once), asked
    /// `batchSize` at a time, each answer appended (and committed as rows accumulate).
    private static func fill<Item>(
        _ writer: TeacherCacheWriter, items: [Item], keyTokens: (Item) -> [Int32], batchSize: Int,
        progress: (Int, Int, Int, Double) -> Void, answer: ([Item]) throws -> [TeacherScores]
    ) throws -> Outcome {
        var seen = Set<UInt64>(), missing: [Item] = [], distinct = 0
        for item in items where seen.insert(TeacherCacheFile.key(of: keyTokens(item))).inserted {
            distinct += 1
            if !writer.contains(tokenIDs: keyTokens(item)) { missing.append(item) }
        }
        let start = Date()
        var tokens = 0, done = 0
        let step = max(batchSize, 1)
        for first in stride(from: 0, to: missing.count, by: step) {
            for scores in try answer(Array(missing[first..<min(first + step, missing.count)])) {
                try writer.append(scores)
                tokens += scores.tokenIDs.count
                done += 1
                progress(done, missing.count, tokens, Date().timeIntervalSince(start))
            }
        }
        try writer.close()
        return Outcome(samples: distinct, alreadyCached: distinct - missing.count, scored: missing.count, scoredTokens: tokens)
    }
}
