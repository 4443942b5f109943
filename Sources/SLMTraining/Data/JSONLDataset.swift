/// The records of a JSONL file: one JSON object a line, every line of one format (see `DataRecord`).
/// Blank lines are ignored. A bad line (invalid JSON, missing or mistyped keys, nothing to learn,
/// another format than the file's, longer than `maxLineBytes`) stops the load with a `DataError`
/// naming file:line, or under `on_bad_line: skip` is left out and counted.
public struct JSONLDataset: Sendable {
    public static let maxLineBytes = 16 << 20
    /// How many skip reasons are kept for the report.
    public static let keptSkipReasons = 5

    public let path: String
    /// The file's format: as asked, or (asked `auto`) the format of its first good line.
    public let format: Recipe.DataFormat
    public let records: [DataRecord]
    /// Bad lines left out under `on_bad_line: skip`.
    public let skippedLines: Int
    /// The first `keptSkipReasons` of them.
    public let skipReasons: [DataError]

    public static func load(
        path: String, format: Recipe.DataFormat = .auto, onBadLine: Recipe.BadLinePolicy = .error, maxLineBytes: Int = maxLineBytes
    ) throws(DataError) -> JSONLDataset {
        var reader = try LineReader(path: path, maxLineBytes: maxLineBytes)
        var fileFormat = format == .auto ? nil : format
        var decidedBy = "data.format: \(format.rawValue)"
        var records: [DataRecord] = []
        var skipped = 0
        var reasons: [DataError] = []
        while let line = try reader.next() {
            let reason: String
            switch line {
            case .tooLong:
                reason = "longer than \(maxLineBytes >> 20) MiB (\(maxLineBytes) bytes); is this a JSONL file?"
            case .bytes(let bytes):
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                do {
                    let record = try DataRecordParser.record(line: bytes, format: fileFormat, decidedBy: decidedBy)
                    if fileFormat == nil {
                        fileFormat = record.format
                        decidedBy = "as line \(reader.lineNumber) shows"
                    }
                    records.append(record)
                    continue
                } catch {
                    reason = error.reason
                }
            }
            let bad = DataError(file: path, line: reader.lineNumber, reason)
            guard onBadLine == .skip else {
                throw DataError(file: path, line: reader.lineNumber, reason + " (fix or remove the line, or set data.on_bad_line: skip)")
            }
            skipped += 1
            if reasons.count < keptSkipReasons { reasons.append(bad) }
        }
        guard let fileFormat else {
            let why = skipped == 0 ? "the file has no records" : "all \(skipped) non-blank lines are bad; the first: \(reasons[0])"
            throw DataError(file: path, line: nil, why)
        }
        return JSONLDataset(path: path, format: fileFormat, records: records, skippedLines: skipped, skipReasons: reasons)
    }
}
