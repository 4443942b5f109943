import CHDF5
import Foundation

/// Appends samples to a teacher cache (layout and crash-safety: `TeacherCacheFile`). Samples are
/// buffered and written in commits of at least `commitRows` rows, and at `close`.
public final class TeacherCacheWriter {
    public let path: String
    public let attributes: TeacherCacheAttributes
    /// Rows buffered before a commit is written.
    public var commitRows: Int
    private let lock: TeacherCacheLock
    private var keys: Set<UInt64>
    /// The file's schema version: 1 files get no `samples/prompt_length`.
    private let version: Int
    /// Samples in the file, committed.
    public private(set) var committedSamples: Int
    private var pending: [TeacherScores] = []
    private var pendingRows = 0

    /// Opens `path` for appending, creating it with `attributes` if it does not exist. An existing
    /// cache must agree with `attributes` on teacher, tokenizer, k and temperature. Throws when
    /// another writer holds the cache.
    public init(path: String, attributes: TeacherCacheAttributes, commitRows: Int = 8 * TeacherCacheFile.chunkRows) throws {
        self.path = path
        self.commitRows = commitRows
        lock = try TeacherCacheLock(cachePath: path)
        if !FileManager.default.fileExists(atPath: path) { try Self.create(path: path, attributes: attributes) }
        let existing = try TeacherCache(path: path)
        let mismatches = existing.attributes.mismatches(expected: attributes)
        guard mismatches.isEmpty else {
            throw HDF5Error(
                path: path,
                "this cache was made with other teacher settings; use another cache path or delete it:\n  " + mismatches.joined(separator: "\n  "))
        }
        self.attributes = existing.attributes
        version = existing.version
        keys = Set(existing.entries.map(\.key))
        committedSamples = existing.entries.count
    }

    /// Whether the cache (committed or buffered) holds a sample keyed by these token ids (a scored
    /// sample's ids, or the prompt of a teacher-written one).
    public func contains(tokenIDs: [Int32]) -> Bool { keys.contains(TeacherCacheFile.key(of: tokenIDs)) }

    /// Adds one sample (ignored if the cache already has it); commits when enough rows are buffered.
    public func append(_ scores: TeacherScores) throws {
        let t = scores.tokenIDs.count
        guard t >= 1, scores.k == attributes.k, scores.topTokenIDs.count == t * scores.k, scores.topLogProbs.count == t * scores.k,
              (0...t).contains(scores.promptLength)
        else {
            throw HDF5Error(
                path: path,
                "a sample of \(t) tokens (prompt \(scores.promptLength)) with k \(scores.k), \(scores.topTokenIDs.count) ids and \(scores.topLogProbs.count) log-probabilities does not fit a cache with k \(attributes.k)")
        }
        guard scores.promptLength == 0 || version >= 2 else {
            throw HDF5Error(path: path, "this version 1 cache cannot hold teacher-written samples (no samples/prompt_length); use a new cache path")
        }
        let key = TeacherCacheFile.key(of: scores.keyTokens)
        guard keys.insert(key).inserted else { return }
        pending.append(scores)
        pendingRows += t
        if pendingRows >= commitRows { try commit() }
    }

    /// Writes the buffered samples as one commit and flushes the file.
    public func commit() throws {
        guard !pending.isEmpty else { return }
        let batch = pending
        try HDF5Serial.run {
            let fapl = try Self.fileAccess(path)
            defer { H5Pclose(fapl) }
            let file = H5Fopen(path, slm_H5F_ACC_RDWR(), fapl)
            guard file >= 0 else { throw HDF5Error(path: path, "cannot open for writing") }
            defer { H5Fclose(file) }
            let layout = try TeacherCacheLayout(file: file, path: path)
            defer { layout.close() }
            try Self.write(batch, into: layout)
            try layout.h5.check(H5Fflush(file, H5F_SCOPE_GLOBAL), "cannot flush")
        }
        committedSamples += batch.count
        pending = []
        pendingRows = 0
    }

    /// Commits what is buffered and releases the lock.
    public func close() throws {
        try commit()
    }

    /// The rows of `batch`, starting at the first chunk boundary at or after the current end,
    /// then the index entries: the order `TeacherCacheFile` relies on.
    private static func write(_ batch: [TeacherScores], into layout: TeacherCacheLayout) throws {
        let h5 = layout.h5, k = layout.attributes.k
        let chunk = layout.chunkRows
        let start = (layout.rows + chunk - 1) / chunk * chunk
        var tokens: [Int32] = [], ids: [Int32] = [], logprobs: [Float] = []
        var offsets: [Int64] = [], lengths: [Int32] = [], keys: [UInt64] = [], promptLengths: [Int32] = []
        for scores in batch {
            offsets.append(Int64(start + tokens.count))
            lengths.append(Int32(scores.tokenIDs.count))
            promptLengths.append(Int32(scores.promptLength))
            keys.append(TeacherCacheFile.key(of: scores.keyTokens))
            tokens += scores.tokenIDs
            ids += scores.topTokenIDs
            logprobs += scores.topLogProbs
        }
        let s = hsize_t(start), n = hsize_t(tokens.count), end = hsize_t(start + tokens.count), kk = hsize_t(k)
        try tokens.withUnsafeBytes {
            try h5.writeRows(layout.tokens, name: "tokens", memoryType: slm_H5T_NATIVE_INT32(), start: s, rows: n, newRows: end, trailing: [], bytes: $0.baseAddress)
        }
        try ids.withUnsafeBytes {
            try h5.writeRows(layout.topIDs, name: "top_ids", memoryType: slm_H5T_NATIVE_INT32(), start: s, rows: n, newRows: end, trailing: [kk], bytes: $0.baseAddress)
        }
        if layout.logprobBytes == 2 {
            let halves = logprobs.map { Float16($0) }
            try halves.withUnsafeBytes {
                try h5.writeRows(layout.topLogprobs, name: "top_logprobs", memoryType: layout.float16, start: s, rows: n, newRows: end, trailing: [kk], bytes: $0.baseAddress)
            }
        } else {
            try logprobs.withUnsafeBytes {
                try h5.writeRows(layout.topLogprobs, name: "top_logprobs", memoryType: slm_H5T_NATIVE_FLOAT(), start: s, rows: n, newRows: end, trailing: [kk], bytes: $0.baseAddress)
            }
        }
        let first = hsize_t(layout.sampleCount), count = hsize_t(batch.count), total = first + count
        try keys.withUnsafeBytes {
            try h5.writeRows(layout.keys, name: "samples/key", memoryType: slm_H5T_NATIVE_UINT64(), start: first, rows: count, newRows: total, trailing: [], bytes: $0.baseAddress)
        }
        try offsets.withUnsafeBytes {
            try h5.writeRows(layout.offsets, name: "samples/offset", memoryType: slm_H5T_NATIVE_INT64(), start: first, rows: count, newRows: total, trailing: [], bytes: $0.baseAddress)
        }
        if let dataset = layout.promptLengths {
            try promptLengths.withUnsafeBytes {
                try h5.writeRows(dataset, name: "samples/prompt_length", memoryType: slm_H5T_NATIVE_INT32(), start: first, rows: count, newRows: total, trailing: [], bytes: $0.baseAddress)
            }
        }
        // The lengths last: a reader that finds an entry's length finds its key, offset and prompt length too.
        var lengths32 = lengths
        try lengths32.withUnsafeMutableBytes {
            try h5.writeRows(layout.lengths, name: "samples/length", memoryType: slm_H5T_NATIVE_INT32(), start: first, rows: count, newRows: total, trailing: [], bytes: $0.baseAddress)
        }
    }

    /// Access properties of every writer: metadata kept in memory until the commit's flush.
    private static func fileAccess(_ path: String) throws -> hid_t {
        let fapl = H5Pcreate(slm_H5P_FILE_ACCESS())
        guard fapl >= 0, slm_keep_metadata_until_flush(fapl) >= 0 else { throw HDF5Error(path: path, "cannot set up file access") }
        return fapl
    }

    /// A new, empty cache, made beside `path` and renamed into place.
    private static func create(path: String, attributes: TeacherCacheAttributes) throws {
        let temporary = path + ".creating"
        try? FileManager.default.removeItem(atPath: temporary)
        try HDF5Serial.run {
            let h5 = HDF5Calls(path: path)
            let fcpl = try h5.id(H5Pcreate(slm_H5P_FILE_CREATE()), "cannot make file properties")
            defer { H5Pclose(fcpl) }
            try h5.check(H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_NONE, false, 1), "cannot turn off free-space reuse")
            let file = try h5.id(H5Fcreate(temporary, slm_H5F_ACC_TRUNC(), fcpl, slm_H5P_DEFAULT()), "cannot create \(temporary)")
            defer { H5Fclose(file) }
            try h5.writeAttribute(file, "format", string: TeacherCacheFile.format)
            try h5.writeAttribute(file, "version", int64: Int64(TeacherCacheFile.version))
            try h5.writeAttribute(file, "teacher", string: attributes.teacher)
            try h5.writeAttribute(file, "tokenizer", string: attributes.tokenizer)
            try h5.writeAttribute(file, "k", int64: Int64(attributes.k))
            try h5.writeAttribute(file, "temperature", double: attributes.temperature)
            try h5.writeAttribute(file, "source", string: attributes.source)
            try h5.writeAttribute(file, "created", string: attributes.created)
            let chunk = hsize_t(TeacherCacheFile.chunkRows), k = hsize_t(attributes.k)
            let float16 = try h5.id(slm_create_float16_type(), "cannot make a float16 type")
            defer { H5Tclose(float16) }
            let group = try h5.id(H5Gcreate2(file, "samples", slm_H5P_DEFAULT(), slm_H5P_DEFAULT(), slm_H5P_DEFAULT()), "cannot create group samples")
            defer { H5Gclose(group) }
            let index = hsize_t(TeacherCacheFile.indexChunk)
            let datasets = [
                try h5.createExtendable(file, "tokens", type: slm_H5T_STD_I32LE(), trailing: [], chunkRows: chunk, compress: true),
                try h5.createExtendable(file, "top_ids", type: slm_H5T_STD_I32LE(), trailing: [k], chunkRows: chunk, compress: true),
                try h5.createExtendable(file, "top_logprobs", type: float16, trailing: [k], chunkRows: chunk, compress: true),
                try h5.createExtendable(group, "key", type: slm_H5T_STD_U64LE(), trailing: [], chunkRows: index, compress: false),
                try h5.createExtendable(group, "offset", type: slm_H5T_STD_I64LE(), trailing: [], chunkRows: index, compress: false),
                try h5.createExtendable(group, "length", type: slm_H5T_STD_I32LE(), trailing: [], chunkRows: index, compress: false),
                try h5.createExtendable(group, "prompt_length", type: slm_H5T_STD_I32LE(), trailing: [], chunkRows: index, compress: false),
            ]
            datasets.forEach { H5Dclose($0) }
        }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }
}
