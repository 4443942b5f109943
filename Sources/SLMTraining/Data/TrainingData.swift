/// The records a recipe's `data` section names: the training file's, and the held-out ones from
/// the `heldout` file or, with `heldout_fraction`, set aside from the training file by the seed.
public struct TrainingData: Sendable {
    public var train: [DataRecord]
    /// Empty when the recipe names no held-out data.
    public var heldout: [DataRecord]
    /// The files as read: their resolved formats and skipped lines, for the run's report.
    public var files: [FileSummary]

    public struct FileSummary: Sendable {
        public var path: String
        public var format: Recipe.DataFormat
        public var records: Int
        public var skippedLines: Int
        public var skipReasons: [DataError]
    }

    public static func load(_ data: Recipe.DataSection, seed: UInt64) throws(DataError) -> TrainingData {
        let trainFile = try JSONLDataset.load(path: data.train, format: data.format, onBadLine: data.onBadLine)
        var result = TrainingData(train: trainFile.records, heldout: [], files: [FileSummary(trainFile)])
        if let path = data.heldout {
            let heldoutFile = try JSONLDataset.load(path: path, format: data.format, onBadLine: data.onBadLine)
            result.heldout = heldoutFile.records
            result.files.append(FileSummary(heldoutFile))
        } else if let fraction = data.heldoutFraction {
            (result.train, result.heldout) = HeldoutSplit.split(trainFile.records, fraction: fraction, seed: seed)
        }
        return result
    }
}

extension TrainingData.FileSummary {
    init(_ file: JSONLDataset) {
        self.init(path: file.path, format: file.format, records: file.records.count, skippedLines: file.skippedLines, skipReasons: file.skipReasons)
    }
}
