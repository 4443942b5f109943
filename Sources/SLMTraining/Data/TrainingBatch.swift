/// One training sample as token ids, with the tokens the loss is taken on.
public struct TokenizedSample: Sendable, Equatable {
    public var ids: [Int32]
    /// lossMask[i]: token i is a target (predicted from the tokens before it).
    public var lossMask: [Bool]

    public init(ids: [Int32], lossMask: [Bool]) {
        precondition(ids.count == lossMask.count, "one mask entry per token")
        self.ids = ids
        self.lossMask = lossMask
    }
}

/// A micro-batch ready for the model: `batch` rows of `sequence` positions, batch-major.
public struct TrainingBatch: Sendable, Equatable {
    public var batch: Int
    public var sequence: Int
    /// [batch · sequence] token ids (padding: any valid id, never a target and never attended to by real tokens).
    public var ids: [Int32]
    /// [batch · sequence]: the token position p predicts (ids[p + 1] of the same sample, when that
    /// token is a target), `Tensor.ignoreIndex` otherwise, so `Tensor.lossHead` reads it as is.
    public var labels: [Int32]
    /// [batch · sequence]: the position of each token within its own sample (restarting at 0 for each packed sample).
    public var positions: [Int32]
    /// [batch · sequence] sample ids for the attention mask: a token attends only to its own sample.
    public var segments: [Int32]
    /// Tokens that are not padding.
    public var realTokens: Int
    /// The teacher's top-k for distillation; nil: labels only.
    public var teacher: BatchTeacher? = nil

    public init(batch: Int, sequence: Int, ids: [Int32], labels: [Int32], positions: [Int32], segments: [Int32], realTokens: Int) {
        self.batch = batch
        self.sequence = sequence
        self.ids = ids
        self.labels = labels
        self.positions = positions
        self.segments = segments
        self.realTokens = realTokens
    }
}

/// A teacher's top-k candidates at every position of a batch: `ids` and `logprobs` are
/// [batch · sequence × k], row-major; a position without a teacher entry has all k ids -1.
public struct BatchTeacher: Sendable, Equatable {
    public var k: Int
    public var ids: [Int32]
    public var logprobs: [Float]

    public init(k: Int, ids: [Int32], logprobs: [Float]) {
        self.k = k
        self.ids = ids
        self.logprobs = logprobs
    }
}
