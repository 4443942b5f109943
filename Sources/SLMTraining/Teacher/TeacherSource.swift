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
    /// Samples handed to `scores(for samples:)` at once (an API teacher keeps that many requests in flight).
    var batchSize: Int { get }
    /// `scores(for:)` of each sample, in order.
    func scores(for samples: [TokenizedSample]) throws -> [TeacherScores]
    /// What the teacher has to say after a fill (requests, retries, mapped share), if anything.
    var summary: String? { get }
}

extension TeacherSource {
    public var batchSize: Int { 1 }
    public var summary: String? { nil }

    public func scores(for samples: [TokenizedSample]) throws -> [TeacherScores] {
        try samples.map { try scores(for: $0) }
    }

    /// The cache attributes of this teacher for a student tokenizer with `tokenizerFingerprint`.
    public func cacheAttributes(tokenizerFingerprint: String) -> TeacherCacheAttributes {
        TeacherCacheAttributes(teacher: identity, tokenizer: tokenizerFingerprint, k: k, temperature: temperature, source: sourceKind)
    }
}
