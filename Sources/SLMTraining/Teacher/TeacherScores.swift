/// A teacher's view of one sample, in the student's vocabulary: for each position t, its top-k
/// candidates for token t+1 with their natural-log probabilities, highest first.
///
/// `topTokenIDs` and `topLogProbs` are T × k, row-major. A slot the teacher gave no student token
/// for holds token id -1 and log-probability -infinity.
public struct TeacherScores: Sendable, Equatable {
    public var tokenIDs: [Int32]
    public var k: Int
    public var topTokenIDs: [Int32]
    public var topLogProbs: [Float]

    public init(tokenIDs: [Int32], k: Int, topTokenIDs: [Int32], topLogProbs: [Float]) {
        self.tokenIDs = tokenIDs
        self.k = k
        self.topTokenIDs = topTokenIDs
        self.topLogProbs = topLogProbs
    }
}
