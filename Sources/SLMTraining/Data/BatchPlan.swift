import SLMTensor

/// The batches of every epoch of a run, fixed by the samples and the seed: the same (epoch, index)
/// gives the same batch on any machine, and each batch is made on its own, so a resumed run
/// continues exactly where it stopped.
///
/// - A sample longer than `sequenceLength` is cut (`right` keeps its start, `left` its end) or,
///   with `drop`, left out; a sample left with no target token is left out too. Both are counted.
/// - Rows: with packing, samples are laid first-fit into rows of `sequenceLength` tokens, in an
///   order shuffled by the seed; without, each sample is its own row. The rows are made once, not
///   per epoch, so every epoch has the same number of batches; a packed sample sees only itself,
///   so which samples share a row changes nothing but the batch's token count.
/// - Epoch e takes the rows in an order shuffled by (seed, e) (file order without `shuffle`),
///   `batchSize` rows a batch. The last batch of an epoch is filled up with padding rows, so
///   every batch is [batchSize, sequenceLength].
/// - In a row each sample's positions start at 0 and it has its own segment id; the padding at the
///   end of a row has a segment id of its own, position 0, token `paddingId` and no label.
public struct BatchPlan: Sendable {
    public static let paddingId: Int32 = 0

    public struct Statistics: Sendable, Equatable {
        /// Samples in the plan, each seen once an epoch.
        public var samples = 0
        /// Of them, how many were cut to `sequenceLength`.
        public var truncated = 0
        /// Left out: longer than `sequenceLength` under `truncation: drop`.
        public var droppedTooLong = 0
        /// Left out: no target token (after truncation, or from the start).
        public var droppedWithoutTarget = 0
        public var rows = 0
        /// Tokens that are not padding, per epoch.
        public var realTokensPerEpoch = 0
        /// Labels that are not `Tensor.ignoreIndex`, per epoch.
        public var targetTokensPerEpoch = 0
        /// Padding over all positions of an epoch's batches, padding rows of the last batch included.
        public var paddingFraction = 0.0

        public var dropped: Int { droppedTooLong + droppedWithoutTarget }
    }

    public let batchSize: Int
    public let sequenceLength: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let statistics: Statistics
    /// The samples after truncation, as the model sees them; rows hold indices into it.
    public let samples: [TokenizedSample]
    private let rows: [[Int]]

    public var batchesPerEpoch: Int { (rows.count + batchSize - 1) / batchSize }

    /// Throws when no sample is left to train on.
    public init(
        samples all: [TokenizedSample], batchSize: Int, sequenceLength: Int, packing: Bool,
        truncation: Recipe.Truncation, shuffle: Bool, seed: UInt64
    ) throws(BatchPlanError) {
        precondition(batchSize >= 1 && sequenceLength >= 2, "a batch needs a row of at least two tokens")
        var statistics = Statistics()
        var samples: [TokenizedSample] = []
        for sample in all {
            var sample = sample
            if sample.ids.count > sequenceLength {
                switch truncation {
                case .drop:
                    statistics.droppedTooLong += 1
                    continue
                case .right:
                    sample = TokenizedSample(ids: Array(sample.ids.prefix(sequenceLength)), lossMask: Array(sample.lossMask.prefix(sequenceLength)))
                case .left:
                    sample = TokenizedSample(ids: Array(sample.ids.suffix(sequenceLength)), lossMask: Array(sample.lossMask.suffix(sequenceLength)))
                }
                statistics.truncated += 1
            }
            let targets = sample.lossMask.dropFirst().count { $0 }
            guard targets > 0 else {
                statistics.droppedWithoutTarget += 1
                continue
            }
            samples.append(sample)
            statistics.realTokensPerEpoch += sample.ids.count
            statistics.targetTokensPerEpoch += targets
        }
        guard !samples.isEmpty else { throw BatchPlanError(of: all.count, statistics, sequenceLength: sequenceLength) }
        let order = shuffle ? SeededShuffle.permutation(count: samples.count, seed: SeededShuffle.packingSeed(seed)) : Array(samples.indices)
        rows = packing ? RowPacking.firstFit(lengths: samples.map(\.ids.count), order: order, capacity: sequenceLength) : order.map { [$0] }
        statistics.samples = samples.count
        statistics.rows = rows.count
        let positions = (rows.count + batchSize - 1) / batchSize * batchSize * sequenceLength
        statistics.paddingFraction = Double(positions - statistics.realTokensPerEpoch) / Double(positions)
        self.samples = samples
        self.statistics = statistics
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.shuffle = shuffle
        self.seed = seed
    }

    /// Batch `index` (0..<batchesPerEpoch) of epoch `epoch` (0, 1, …).
    public func batch(epoch: Int, index: Int) -> TrainingBatch {
        let t = sequenceLength
        var ids = [Int32](repeating: Self.paddingId, count: batchSize * t)
        var labels = [Int32](repeating: Tensor.ignoreIndex, count: batchSize * t)
        var positions = [Int32](repeating: 0, count: batchSize * t)
        var segments = [Int32](repeating: 0, count: batchSize * t)
        var segment: Int32 = 0
        var realTokens = 0
        for (r, row) in rowSamples(epoch: epoch, index: index).enumerated() {
            var p = r * t
            for s in row {
                let sample = samples[s]
                for k in sample.ids.indices {
                    ids[p + k] = sample.ids[k]
                    positions[p + k] = Int32(k)
                    segments[p + k] = segment
                    if k + 1 < sample.ids.count && sample.lossMask[k + 1] { labels[p + k] = sample.ids[k + 1] }
                }
                p += sample.ids.count
                realTokens += sample.ids.count
                segment += 1
            }
            if p < (r + 1) * t {
                for q in p..<(r + 1) * t { segments[q] = segment }
                segment += 1
            }
        }
        return TrainingBatch(batch: batchSize, sequence: t, ids: ids, labels: labels, positions: positions, segments: segments, realTokens: realTokens)
    }

    /// The samples (indices into `samples`) laid in each of the `batchSize` rows of batch `index` of
    /// epoch `epoch`, in order from the row's start; a padding row has none.
    public func rowSamples(epoch: Int, index: Int) -> [[Int]] {
        precondition(epoch >= 0 && index >= 0 && index < batchesPerEpoch, "no batch \(index) in epoch \(epoch) of \(batchesPerEpoch) batches")
        let order = shuffle ? SeededShuffle.permutation(count: rows.count, seed: SeededShuffle.epochSeed(seed, epoch: epoch)) : Array(rows.indices)
        return (0..<batchSize).map { r in
            let rowIndex = index * batchSize + r
            return rowIndex < order.count ? rows[order[rowIndex]] : []
        }
    }
}

extension BatchPlan {
    /// The plan a recipe asks for: its data section's sequence, packing, truncation and shuffle,
    /// its train section's batch size and seed.
    public init(samples: [TokenizedSample], recipe: Recipe) throws(BatchPlanError) {
        try self.init(
            samples: samples, batchSize: recipe.train.batchSize, sequenceLength: recipe.data.sequenceLength,
            packing: recipe.data.packing, truncation: recipe.data.truncation, shuffle: recipe.data.shuffle, seed: recipe.train.seed)
    }
}

/// No sample is left to make batches of.
public struct BatchPlanError: Error, CustomStringConvertible, Equatable {
    public let description: String

    init(of count: Int, _ statistics: BatchPlan.Statistics, sequenceLength: Int) {
        if count == 0 {
            description = "no samples to train on"
            return
        }
        var reasons: [String] = []
        if statistics.droppedTooLong > 0 {
            reasons.append("\(statistics.droppedTooLong) longer than sequence_length \(sequenceLength) (truncation: drop; raise sequence_length or truncate)")
        }
        if statistics.droppedWithoutTarget > 0 {
            reasons.append("\(statistics.droppedWithoutTarget) with no target token left (is the completion cut off by truncation?)")
        }
        description = "none of the \(count) samples is left to train on: " + reasons.joined(separator: "; ")
    }
}
