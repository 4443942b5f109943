/// Something that scores a sample: a local model (`LocalTeacher`), or an OpenAI-compatible API.
/// `slm teacher` and `slm train` fill the cache through this protocol alone.
public protocol TeacherSource: AnyObject {
    /// Who the teacher is, as the cache's `teacher` attribute records it (never a secret).
    var identity: String { get }
    /// How the scores are obtained, for the cache's `source` attribute: "local", "api-echo", …
    var sourceKind: String { get }
    /// Top-k candidates kept per position.
    var k: Int { get }
    /// The teacher's softmax temperature for the log-probabilities it returns.
    var temperature: Double { get }
    /// The teacher's top-k for every position of one sample, in the student's vocabulary;
    /// `tokenIDs` of the result must equal `sample.ids`.
    func scores(for sample: TokenizedSample) throws -> TeacherScores
}

extension TeacherSource {
    /// The cache attributes of this teacher for a student tokenizer with `tokenizerFingerprint`.
    public func cacheAttributes(tokenizerFingerprint: String) -> TeacherCacheAttributes {
        TeacherCacheAttributes(teacher: identity, tokenizer: tokenizerFingerprint, k: k, temperature: temperature, source: sourceKind)
    }
}
