/// A teacher's view of one sample, in the student's vocabulary: for each position t, its top-k
/// candidates for token t+1 with their natural-log probabilities, highest first.
///
/// `topTokenIDs` and `topLogProbs` are T × k, row-major. A slot the teacher gave no student token
/// for holds token id -1 and log-probability -infinity; a row whose k slots all hold -1 has no
/// teacher distribution (the loss there is cross-entropy only).
///
/// `promptLength` says whose tokens these are: 0 when the teacher scored the dataset's own sample
/// (a local teacher, an API with echo); p > 0 when the first p tokens are the dataset's prompt and
/// the rest the reply the teacher wrote for it (sequence-level distillation, `api-generate`).
public struct TeacherScores: Sendable, Equatable {
    public var tokenIDs: [Int32]
    public var k: Int
    public var topTokenIDs: [Int32]
    public var topLogProbs: [Float]
    public var promptLength: Int

    public init(tokenIDs: [Int32], k: Int, topTokenIDs: [Int32], topLogProbs: [Float], promptLength: Int = 0) {
        self.tokenIDs = tokenIDs
        self.k = k
        self.topTokenIDs = topTokenIDs
        self.topLogProbs = topLogProbs
        self.promptLength = promptLength
    }

    /// The tokens the cache names this sample by: the dataset's part of it (all of it when scored,
    /// the prompt when the teacher wrote the reply), so a re-run finds it from the dataset alone.
    public var keyTokens: ArraySlice<Int32> { promptLength > 0 ? tokenIDs[..<promptLength] : tokenIDs[...] }

    /// Row t has a teacher distribution (some slot holds a token id).
    public func hasDistribution(row t: Int) -> Bool { (0..<k).contains { topTokenIDs[t * k + $0] != -1 } }

    /// The first `count` positions (a sample cut to fit a row), or the last ones with `fromEnd`.
    public func truncated(to count: Int, fromEnd: Bool) -> TeacherScores {
        let t = tokenIDs.count
        guard count < t else { return self }
        let rows = fromEnd ? (t - count)..<t : 0..<count
        return TeacherScores(
            tokenIDs: Array(tokenIDs[rows]), k: k, topTokenIDs: Array(topTokenIDs[(rows.lowerBound * k)..<(rows.upperBound * k)]),
            topLogProbs: Array(topLogProbs[(rows.lowerBound * k)..<(rows.upperBound * k)]),
            promptLength: fromEnd ? max(promptLength - (t - count), 0) : min(promptLength, count))
    }
}
