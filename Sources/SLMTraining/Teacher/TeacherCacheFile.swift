import CHDF5
import Foundation

/// The teacher cache: one HDF5 file of teacher top-k log-probabilities for many samples,
/// written once (by `slm teacher`, or by h5py) and read by every student run.
///
/// ```
/// cache.h5
/// ├── @format       "slm-teacher-cache"             (string attributes: variable-length UTF-8 or fixed)
/// ├── @version      2                               (integer; version 1 files, without prompt_length, are read too)
/// ├── @teacher      "local:SmolLM2-135M-Instruct.Q4_1.gguf"   who scored: local model, or api:<base_url>#<model>
/// ├── @tokenizer    "bpe-fnv1a64:3f0c…:49152"       fingerprint of the student tokenizer the ids belong to
/// ├── @k            20                              (integer) slots per position
/// ├── @temperature  1.0                             (float) the teacher's softmax temperature for the log-probs
/// ├── @source       "local" | "api-echo" | "api-generate" | "h5py" …  how the scores were obtained
/// ├── @created      "2026-11-22T03:30:00Z"          ISO 8601, UTC
/// ├── samples/                                      one entry per scored sample, S in all
/// │   ├── key       uint64 [S]   FNV-1a 64 of the dataset's tokens of the sample (their int32 little-endian
/// │   │                          bytes): all T tokens when prompt_length is 0, else the first prompt_length
/// │   ├── offset    int64  [S]   row of its first token in the row arrays below
/// │   ├── length    int32  [S]   its token count T (≥ 1)
/// │   └── prompt_length int32 [S]  0: the teacher scored the dataset's own sample (local, api-echo);
/// │                              p in 1…T: tokens 0..<p are the dataset's prompt, p..<T the reply the
/// │                              teacher wrote (api-generate: sequence-level distillation). Version 2.
/// ├── tokens        int32  [R]          student token ids, the rows offset..<offset+T of each sample
/// ├── top_ids       int32  [R, k]       row t: the teacher's k most likely ids for token t+1,
/// │                                     highest first; -1 in an unused slot. A row whose k slots
/// │                                     are all -1 has NO teacher distribution: the prompt rows of a
/// │                                     teacher-written sample, and rows whose teacher token did not
/// │                                     map onto the student's vocabulary (cross-entropy only there)
/// └── top_logprobs  float16 [R, k]      their natural-log probabilities (float32 accepted); -inf unused
/// ```
///
/// A teacher-written sample (`@source` "api-generate") is the student-tokenized prompt followed by
/// the teacher's reply as the student tokenizes it (and the end-of-turn token when the teacher
/// stopped by itself); its rows carry the teacher's top-k where the teacher's tokens mapped. It is
/// keyed by its prompt, so a re-run finds which prompts are answered without asking again.
///
/// Why this layout: flat row arrays chunked by 1,024 rows (shuffle + deflate) hold millions of
/// tokens at ~120 bytes a token for k = 20 before compression, read and written in whole
/// chunks; the small per-sample index says where each sample lies, and its `key` lets a run
/// find a sample by content, whatever its order in the dataset. Rows between samples may be
/// unused (see appending): readers go through `samples/`, never assume the rows are dense.
///
/// Appending is crash-safe: samples are written in commits. A commit starts its rows at a
/// chunk boundary (so no chunk already on disk is ever rewritten), writes the rows, then
/// extends `samples/` (uncompressed, so its chunks are rewritten with identical bytes for the
/// entries already there), then flushes. Metadata stays in memory until that flush (no
/// evictions) and freed file space is never reused, so a writer killed at any point leaves the
/// file as its last flush wrote it: every sample listed is complete. One writer at a time: the
/// writer holds an exclusive `flock` on `cache.h5.lock`.
public enum TeacherCacheFile {
    public static let format = "slm-teacher-cache"
    public static let version = 2
    /// Versions this slm reads: 1 (no `samples/prompt_length`: every sample scored) and 2.
    public static let readableVersions = [1, 2]
    /// Rows per chunk of the row arrays, and the alignment of each commit.
    public static let chunkRows = 1024
    /// Entries per chunk of `samples/`.
    static let indexChunk = 4096
    /// The most slots per position slm accepts in a file.
    public static let maxK = 4096

    /// FNV-1a 64 of the token ids' int32 little-endian bytes: how the cache names a sample.
    public static func key<Tokens: Collection<Int32>>(of tokenIDs: Tokens) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for id in tokenIDs {
            var v = UInt32(bitPattern: id)
            for _ in 0..<4 {
                hash ^= UInt64(v & 0xff)
                hash = hash &* 0x0000_0100_0000_01b3
                v >>= 8
            }
        }
        return hash
    }
}

/// The attributes of a cache: who the teacher is and what its numbers mean.
public struct TeacherCacheAttributes: Sendable, Equatable {
    public var teacher: String
    public var tokenizer: String
    public var k: Int
    public var temperature: Double
    public var source: String
    public var created: String

    public init(teacher: String, tokenizer: String, k: Int, temperature: Double, source: String, created: String = Self.now()) {
        self.teacher = teacher
        self.tokenizer = tokenizer
        self.k = k
        self.temperature = temperature
        self.source = source
        self.created = created
    }

    /// The `source` of caches whose samples hold teacher-written replies.
    public static let teacherWritten = "api-generate"

    public static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    /// What differs in the settings that decide the numbers (teacher, tokenizer, k, temperature, and
    /// the source when one side holds teacher-written replies),
    /// one "name: cache has X, expected Y" line each; empty when they agree.
    public func mismatches(expected: TeacherCacheAttributes) -> [String] {
        var lines: [String] = []
        if teacher != expected.teacher { lines.append("teacher: the cache has \"\(teacher)\", expected \"\(expected.teacher)\"") }
        if tokenizer != expected.tokenizer { lines.append("tokenizer: the cache has \(tokenizer), expected \(expected.tokenizer)") }
        if k != expected.k { lines.append("k: the cache has \(k), expected \(expected.k)") }
        if source != expected.source, source == Self.teacherWritten || expected.source == Self.teacherWritten {
            lines.append("source: the cache has \(source), expected \(expected.source) (teacher-written replies and scored samples do not mix)")
        }
        if abs(temperature - expected.temperature) > 1e-6 {
            lines.append("temperature: the cache has \(temperature), expected \(expected.temperature)")
        }
        return lines
    }
}

/// Where one sample lies in the row arrays.
public struct TeacherCacheEntry: Sendable, Equatable {
    public var key: UInt64
    public var offset: Int
    public var length: Int
    /// 0: a scored sample; p > 0: a teacher-written reply after a prompt of p tokens.
    public var promptLength: Int
}

/// A cache opened for reading: its attributes and index in memory, rows read on demand.
public final class TeacherCache: @unchecked Sendable {
    public let path: String
    public let attributes: TeacherCacheAttributes
    public let entries: [TeacherCacheEntry]
    /// Rows in the row arrays (≥ the tokens of all samples).
    public let rows: Int
    /// Bytes per log-probability in the file: 2 (float16) or 4 (float32).
    public let logprobBytes: Int
    /// The schema version (`TeacherCacheFile.readableVersions`).
    public let version: Int
    private let indexByKey: [UInt64: Int]

    public var tokenCount: Int { entries.reduce(0) { $0 + $1.length } }

    public func contains(_ key: UInt64) -> Bool { indexByKey[key] != nil }
    public func entryIndex(of key: UInt64) -> Int? { indexByKey[key] }

    /// Opens and checks a cache: attributes present, datasets of the documented types and shapes,
    /// every sample inside the row arrays.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw HDF5Error(path: path, "no such file") }
        self.path = path
        let read = try HDF5Serial.run { () throws -> (TeacherCacheAttributes, [TeacherCacheEntry], Int, Int, Int) in
            let file = H5Fopen(path, slm_H5F_ACC_RDONLY(), slm_H5P_DEFAULT())
            guard file >= 0 else {
                throw TeacherCacheLock.busyError(cachePath: path) ?? HDF5Error(path: path, "not a readable HDF5 file")
            }
            defer { H5Fclose(file) }
            let layout = try TeacherCacheLayout(file: file, path: path)
            defer { layout.close() }
            return (layout.attributes, try layout.readEntries(), layout.rows, layout.logprobBytes, layout.version)
        }
        (attributes, entries, rows, logprobBytes, version) = read
        var byKey: [UInt64: Int] = [:]
        for (i, entry) in entries.enumerated() where byKey[entry.key] == nil { byKey[entry.key] = i }
        indexByKey = byKey
    }

    /// The scores of entry `index`.
    public func scores(at index: Int) throws -> TeacherScores {
        try scores(at: [index])[0]
    }

    /// The scores of several entries, in the order given, read under one lock.
    public func scores(at indices: [Int]) throws -> [TeacherScores] {
        for i in indices where !entries.indices.contains(i) { throw HDF5Error(path: path, "no sample \(i) in \(entries.count)") }
        return try HDF5Serial.run {
            let file = H5Fopen(path, slm_H5F_ACC_RDONLY(), slm_H5P_DEFAULT())
            guard file >= 0 else { throw HDF5Error(path: path, "cannot reopen the file") }
            defer { H5Fclose(file) }
            let layout = try TeacherCacheLayout(file: file, path: path)
            defer { layout.close() }
            return try indices.map { try layout.readScores(entries[$0], k: attributes.k) }
        }
    }

    /// Every row of the three row arrays at once (for bulk readers and benchmarks):
    /// tokens [rows], ids [rows × k], log-probabilities [rows × k] as Float.
    public func readAllRows() throws -> (tokens: [Int32], ids: [Int32], logprobs: [Float]) {
        try HDF5Serial.run {
            let file = H5Fopen(path, slm_H5F_ACC_RDONLY(), slm_H5P_DEFAULT())
            guard file >= 0 else { throw HDF5Error(path: path, "cannot reopen the file") }
            defer { H5Fclose(file) }
            let layout = try TeacherCacheLayout(file: file, path: path)
            defer { layout.close() }
            return try layout.readRows(start: 0, count: rows, k: attributes.k)
        }
    }
}

/// The open datasets of a cache file and the checks on them; used under `HDF5Serial`.
struct TeacherCacheLayout {
    let h5: HDF5Calls
    let file: hid_t
    let attributes: TeacherCacheAttributes
    let tokens: hid_t, topIDs: hid_t, topLogprobs: hid_t
    let keys: hid_t, offsets: hid_t, lengths: hid_t
    /// `samples/prompt_length`: nil in a version 1 file.
    let promptLengths: hid_t?
    let version: Int
    let rows: Int, sampleCount: Int
    let logprobBytes: Int
    /// The row arrays' chunk rows: commits start at a multiple of it.
    let chunkRows: Int
    let float16: hid_t

    init(file: hid_t, path: String) throws {
        let h5 = HDF5Calls(path: path)
        self.h5 = h5
        self.file = file
        let format = (try? h5.readStringAttribute(file, "format")) ?? ""
        guard format == TeacherCacheFile.format else {
            throw HDF5Error(path: path, "not a teacher cache: attribute format should be \"\(TeacherCacheFile.format)\", found \"\(format)\"")
        }
        let version = try h5.readNumberAttribute(file, "version")
        guard let readable = TeacherCacheFile.readableVersions.first(where: { Double($0) == version }) else {
            throw HDF5Error(
                path: path,
                "teacher cache version \(version) is not supported (this slm reads versions \(TeacherCacheFile.readableVersions.map(String.init).joined(separator: ", ")))")
        }
        self.version = readable
        let k = try h5.readNumberAttribute(file, "k")
        guard k >= 1, k <= Double(TeacherCacheFile.maxK), k == k.rounded() else {
            throw HDF5Error(path: path, "attribute k should be a whole number in 1...\(TeacherCacheFile.maxK), found \(k)")
        }
        let temperature = try h5.readNumberAttribute(file, "temperature")
        guard temperature.isFinite, temperature > 0 else { throw HDF5Error(path: path, "attribute temperature should be > 0, found \(temperature)") }
        attributes = TeacherCacheAttributes(
            teacher: try h5.readStringAttribute(file, "teacher"), tokenizer: try h5.readStringAttribute(file, "tokenizer"),
            k: Int(k), temperature: temperature, source: try h5.readStringAttribute(file, "source"),
            created: try h5.readStringAttribute(file, "created"))

        var opened: [hid_t] = []
        func open(_ name: String) throws -> hid_t {
            guard h5.exists(file, name.split(separator: "/").first.map(String.init) ?? name), h5.exists(file, name) else {
                opened.forEach { H5Dclose($0) }
                throw HDF5Error(path: path, "dataset \(name) is missing")
            }
            let id = H5Dopen2(file, name, slm_H5P_DEFAULT())
            guard id >= 0 else {
                opened.forEach { H5Dclose($0) }
                throw HDF5Error(path: path, "cannot open dataset \(name)")
            }
            opened.append(id)
            return id
        }
        tokens = try open("tokens")
        topIDs = try open("top_ids")
        topLogprobs = try open("top_logprobs")
        keys = try open("samples/key")
        offsets = try open("samples/offset")
        lengths = try open("samples/length")
        promptLengths = try readable >= 2 ? open("samples/prompt_length") : nil
        float16 = slm_create_float16_type()
        var layout = (rows: 0, samples: 0, logprobBytes: 0, chunkRows: 0)
        do {
            layout = try Self.checkShapes(
                h5: h5, k: Int(k), tokens: tokens, topIDs: topIDs, topLogprobs: topLogprobs, keys: keys, offsets: offsets, lengths: lengths,
                promptLengths: promptLengths)
        } catch {
            opened.forEach { H5Dclose($0) }
            H5Tclose(float16)
            throw error
        }
        (rows, sampleCount, logprobBytes, chunkRows) = layout
    }

    private static func checkShapes(
        h5: HDF5Calls, k: Int, tokens: hid_t, topIDs: hid_t, topLogprobs: hid_t, keys: hid_t, offsets: hid_t, lengths: hid_t,
        promptLengths: hid_t?
    ) throws -> (rows: Int, samples: Int, logprobBytes: Int, chunkRows: Int) {
        func type(_ dataset: hid_t) -> (H5T_class_t, Int) {
            let t = H5Dget_type(dataset)
            defer { H5Tclose(t) }
            return (H5Tget_class(t), H5Tget_size(t))
        }
        func expect(_ dataset: hid_t, _ name: String, _ typeClass: H5T_class_t, sizes: [Int], what: String) throws {
            let (c, size) = type(dataset)
            guard c == typeClass, sizes.contains(size) else { throw HDF5Error(path: h5.path, "dataset \(name) should hold \(what)") }
        }
        try expect(tokens, "tokens", H5T_INTEGER, sizes: [4], what: "int32")
        try expect(topIDs, "top_ids", H5T_INTEGER, sizes: [4], what: "int32")
        try expect(topLogprobs, "top_logprobs", H5T_FLOAT, sizes: [2, 4], what: "float16 or float32")
        try expect(keys, "samples/key", H5T_INTEGER, sizes: [8], what: "uint64")
        try expect(offsets, "samples/offset", H5T_INTEGER, sizes: [8], what: "int64")
        try expect(lengths, "samples/length", H5T_INTEGER, sizes: [4, 8], what: "int32")
        if let promptLengths { try expect(promptLengths, "samples/prompt_length", H5T_INTEGER, sizes: [4, 8], what: "int32") }
        let tokenDims = try h5.dims(tokens, name: "tokens")
        guard tokenDims.count == 1 else { throw HDF5Error(path: h5.path, "tokens should be one-dimensional, found rank \(tokenDims.count)") }
        let rows = tokenDims[0]
        for (dataset, name) in [(topIDs, "top_ids"), (topLogprobs, "top_logprobs")] {
            let dims = try h5.dims(dataset, name: name)
            guard dims == [rows, hsize_t(k)] else {
                throw HDF5Error(path: h5.path, "\(name) should have shape [\(rows), \(k)] (rows of tokens × attribute k), found \(dims)")
            }
        }
        let sampleDims = try h5.dims(keys, name: "samples/key")
        guard sampleDims.count == 1 else { throw HDF5Error(path: h5.path, "samples/key should be one-dimensional") }
        var index: [(hid_t, String)] = [(offsets, "samples/offset"), (lengths, "samples/length")]
        if let promptLengths { index.append((promptLengths, "samples/prompt_length")) }
        for (dataset, name) in index {
            guard try h5.dims(dataset, name: name) == sampleDims else {
                throw HDF5Error(path: h5.path, "\(name) should have \(sampleDims[0]) entries, like samples/key")
            }
        }
        let chunk = h5.chunkDims(topIDs, rank: 2)?[0] ?? 1
        return (Int(rows), Int(sampleDims[0]), type(topLogprobs).1, Int(max(chunk, 1)))
    }

    func close() {
        for id in [tokens, topIDs, topLogprobs, keys, offsets, lengths] + (promptLengths.map { [$0] } ?? []) { H5Dclose(id) }
        H5Tclose(float16)
    }

    /// The index, each entry checked to lie inside the row arrays.
    func readEntries() throws -> [TeacherCacheEntry] {
        let n = hsize_t(sampleCount)
        var keyValues = [UInt64](repeating: 0, count: sampleCount)
        var offsetValues = [Int64](repeating: 0, count: sampleCount)
        var lengthValues = [Int64](repeating: 0, count: sampleCount)
        try keyValues.withUnsafeMutableBytes {
            try h5.readRows(keys, name: "samples/key", memoryType: slm_H5T_NATIVE_UINT64(), start: 0, rows: n, trailing: [], into: $0.baseAddress)
        }
        try offsetValues.withUnsafeMutableBytes {
            try h5.readRows(offsets, name: "samples/offset", memoryType: slm_H5T_NATIVE_INT64(), start: 0, rows: n, trailing: [], into: $0.baseAddress)
        }
        try lengthValues.withUnsafeMutableBytes {
            try h5.readRows(lengths, name: "samples/length", memoryType: slm_H5T_NATIVE_INT64(), start: 0, rows: n, trailing: [], into: $0.baseAddress)
        }
        var promptLengthValues = [Int64](repeating: 0, count: sampleCount)
        if let promptLengths {
            try promptLengthValues.withUnsafeMutableBytes {
                try h5.readRows(
                    promptLengths, name: "samples/prompt_length", memoryType: slm_H5T_NATIVE_INT64(), start: 0, rows: n, trailing: [], into: $0.baseAddress)
            }
        }
        return try (0..<sampleCount).map { i in
            let offset = offsetValues[i], length = lengthValues[i]
            guard offset >= 0, length >= 1, offset <= Int64(rows) - length else {
                throw HDF5Error(
                    path: h5.path, "sample \(i): rows \(offset)..<\(offset + length) do not lie inside the \(rows) rows of tokens")
            }
            let promptLength = promptLengthValues[i]
            guard promptLength >= 0, promptLength <= length else {
                throw HDF5Error(path: h5.path, "sample \(i): samples/prompt_length is \(promptLength), expected 0…\(length) (its length)")
            }
            return TeacherCacheEntry(key: keyValues[i], offset: Int(offset), length: Int(length), promptLength: Int(promptLength))
        }
    }

    func readScores(_ entry: TeacherCacheEntry, k: Int) throws -> TeacherScores {
        let r = try readRows(start: entry.offset, count: entry.length, k: k)
        return TeacherScores(tokenIDs: r.tokens, k: k, topTokenIDs: r.ids, topLogProbs: r.logprobs, promptLength: entry.promptLength)
    }

    func readRows(start: Int, count: Int, k: Int) throws -> (tokens: [Int32], ids: [Int32], logprobs: [Float]) {
        let s = hsize_t(start), n = hsize_t(count), kk = hsize_t(k)
        var tokenValues = [Int32](repeating: 0, count: count)
        var ids = [Int32](repeating: 0, count: count * k)
        try tokenValues.withUnsafeMutableBytes {
            try h5.readRows(tokens, name: "tokens", memoryType: slm_H5T_NATIVE_INT32(), start: s, rows: n, trailing: [], into: $0.baseAddress)
        }
        try ids.withUnsafeMutableBytes {
            try h5.readRows(topIDs, name: "top_ids", memoryType: slm_H5T_NATIVE_INT32(), start: s, rows: n, trailing: [kk], into: $0.baseAddress)
        }
        var logprobs: [Float]
        if logprobBytes == 2 {
            var halves = [Float16](repeating: 0, count: count * k)
            try halves.withUnsafeMutableBytes {
                try h5.readRows(topLogprobs, name: "top_logprobs", memoryType: float16, start: s, rows: n, trailing: [kk], into: $0.baseAddress)
            }
            logprobs = halves.map(Float.init)
        } else {
            logprobs = [Float](repeating: 0, count: count * k)
            try logprobs.withUnsafeMutableBytes {
                try h5.readRows(topLogprobs, name: "top_logprobs", memoryType: slm_H5T_NATIVE_FLOAT(), start: s, rows: n, trailing: [kk], into: $0.baseAddress)
            }
        }
        for id in ids where id < -1 {
            throw HDF5Error(path: h5.path, "top_ids holds \(id), below -1")
        }
        return (tokenValues, ids, logprobs)
    }
}
