/// Puts a teacher's positions onto the student's tokens by where they start in the text.
///
/// Both token sequences spell the same bytes. A teacher position whose token starts at byte offset o
/// holds the teacher's distribution over the token at o given the text before o; it fills the row
/// of the student token before the student token that starts at o (row t predicts token t + 1). A
/// student token with no teacher token starting where it starts (the tokenizers cut the text
/// differently) leaves its row unmapped: id -1, log-probability -infinity.
public enum TeacherScoreAlignment {
    /// A teacher position at byte `offset` of the text.
    public struct Placed: Sendable {
        public var offset: Int
        public var position: APITokenPosition
        public init(offset: Int, position: APITokenPosition) {
            self.offset = offset
            self.position = position
        }
    }

    public struct Aligned: Sendable {
        public var scores: TeacherScores
        /// Rows in `rows` that got a teacher distribution (a candidate that is a student token).
        public var mappedRows: Int
        /// Candidates placed, and those whose token is one student vocabulary entry.
        public var candidates: Int, mappedCandidates: Int
    }

    /// `studentTokenBytes`: the bytes of each student token; `rows`: the rows to fill (the others stay unmapped).
    public static func align(
        studentIDs: [Int32], studentTokenBytes: [[UInt8]], teacher: [Placed], rows: Range<Int>, k: Int, vocabulary: StudentVocabularyMap
    ) -> Aligned {
        let t = studentIDs.count
        var starts: [Int: Int] = [:]  // byte offset → student token index
        var offset = 0
        for (i, bytes) in studentTokenBytes.enumerated() {
            starts[offset] = i
            offset += bytes.count
        }
        starts[offset] = t  // the token after the text (its row is the last one)
        var ids = [Int32](repeating: -1, count: t * k)
        var logprobs = [Float](repeating: -.infinity, count: t * k)
        var filled = Set<Int>(), mapped = 0, candidates = 0, mappedCandidates = 0
        for placed in teacher {
            guard let next = starts[placed.offset], next >= 1 else { continue }
            let row = next - 1
            guard rows.contains(row), !placed.position.top.isEmpty, filled.insert(row).inserted else { continue }
            var slot = 0
            for candidate in placed.position.top {
                candidates += 1
                guard let id = vocabulary.id(candidate.bytes) else { continue }
                mappedCandidates += 1
                guard slot < k, !ids[(row * k)..<(row * k + slot)].contains(id) else { continue }
                ids[row * k + slot] = id
                logprobs[row * k + slot] = candidate.logprob
                slot += 1
            }
            // A row is mapped when one of its candidates is a student token.
            if slot > 0 { mapped += 1 }
        }
        return Aligned(
            scores: TeacherScores(tokenIDs: studentIDs, k: k, topTokenIDs: ids, topLogProbs: logprobs),
            mappedRows: mapped, candidates: candidates, mappedCandidates: mappedCandidates)
    }
}
