import Foundation

/// A SentencePiece `.model` file (Llama 2's and Mistral's `tokenizer.model`), a protocol-buffers
/// `ModelProto`; the fields read (field number, wire type):
/// ```
/// ModelProto       1 pieces: SentencePiece (repeated)   2 trainer_spec   3 normalizer_spec
/// SentencePiece    1 piece: string   2 score: float (fixed32)   3 type: enum (default 1)
///                  types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
/// TrainerSpec      3 model_type: enum (1 unigram, 2 BPE, 3 word, 4 char; default 1)
///                  35 byte_fallback: bool   40 unk_id (0)   41 bos_id (1)   42 eos_id (2)   (int32 varints)
/// NormalizerSpec   1 name: string   2 precompiled_charsmap: bytes   3 add_dummy_prefix (true)
///                  4 remove_extra_whitespaces (true)   5 escape_whitespaces (true)   (bools)
/// ```
/// Other fields are skipped by wire type. Only BPE models whose normalizer is the identity are read.
struct SentencePieceModel {
    var pieces: [String] = []
    var scores: [Float] = []
    var types: [Int] = []
    var modelType = 1
    var byteFallback = false
    var unkId = 0, bosId = 1, eosId = 2
    var normalizerName = ""
    var precompiledCharsmapBytes = 0
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(file: path, field: nil, "cannot read: \(error.localizedDescription)")
        }
        let bytes = [UInt8](data)
        var top = ProtoReader(bytes[...], file: path, message: "ModelProto")
        while let (field, value) = try top.next() {
            switch (field, value) {
            case (1, .bytes(let b)):
                var r = ProtoReader(b, file: path, message: "pieces[\(pieces.count)]")
                var piece: String?, score: Float = 0, type = 1
                while let (f, v) = try r.next() {
                    switch (f, v) {
                    case (1, .bytes(let s)): piece = String(decoding: s, as: UTF8.self)
                    case (2, .fixed32(let bits)): score = Float(bitPattern: bits)
                    case (3, .varint(let t)): type = Int(truncatingIfNeeded: t)
                    default: break
                    }
                }
                guard let piece else { throw FormatError(file: path, field: "pieces[\(pieces.count)].piece", "missing") }
                pieces.append(piece)
                scores.append(score)
                types.append(type)
            case (2, .bytes(let b)):
                var r = ProtoReader(b, file: path, message: "trainer_spec")
                while let (f, v) = try r.next() {
                    guard case .varint(let x) = v else { continue }
                    let n = Int(Int32(truncatingIfNeeded: x))
                    switch f {
                    case 3: modelType = n
                    case 35: byteFallback = x != 0
                    case 40: unkId = n
                    case 41: bosId = n
                    case 42: eosId = n
                    default: break
                    }
                }
            case (3, .bytes(let b)):
                var r = ProtoReader(b, file: path, message: "normalizer_spec")
                while let (f, v) = try r.next() {
                    switch (f, v) {
                    case (1, .bytes(let s)): normalizerName = String(decoding: s, as: UTF8.self)
                    case (2, .bytes(let s)): precompiledCharsmapBytes = s.count
                    case (3, .varint(let x)): addDummyPrefix = x != 0
                    case (4, .varint(let x)): removeExtraWhitespaces = x != 0
                    case (5, .varint(let x)): escapeWhitespaces = x != 0
                    default: break
                    }
                }
            default: break
            }
        }
        guard !pieces.isEmpty else { throw FormatError(file: path, field: "pieces", "no pieces; not a SentencePiece model") }
    }
}

/// Reads protocol-buffers fields one at a time from a bounded slice.
struct ProtoReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }
    private var bytes: ArraySlice<UInt8>
    private let file: String
    private let message: String

    init(_ bytes: ArraySlice<UInt8>, file: String, message: String) {
        self.bytes = bytes
        self.file = file
        self.message = message
    }

    /// The next (field number, value), or nil at the end.
    mutating func next() throws -> (Int, Value)? {
        guard !bytes.isEmpty else { return nil }
        let key = try varint()
        let field = Int(key >> 3)
        switch key & 7 {
        case 0: return (field, .varint(try varint()))
        case 1: return (field, .fixed64(UInt64(littleEndian: try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) })))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.count) else { throw truncated(field) }
            return (field, .bytes(try take(Int(length))))
        case 5: return (field, .fixed32(UInt32(try take(4).reversed().reduce(0) { $0 << 8 | UInt64($1) })))
        default: throw FormatError(file: file, field: "\(message) field \(field)", "wire type \(key & 7) is not one protocol buffers write")
        }
    }

    private mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard let b = bytes.popFirst() else { throw truncated(nil) }
            value |= UInt64(b & 0x7F) << UInt64(shift)
            if b & 0x80 == 0 { return value }
        }
        throw FormatError(file: file, field: message, "varint longer than 10 bytes")
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard bytes.count >= n else { throw truncated(nil) }
        defer { bytes = bytes.dropFirst(n) }
        return bytes.prefix(n)
    }

    private func truncated(_ field: Int?) -> FormatError {
        FormatError(file: file, field: field.map { "\(message) field \($0)" } ?? message, "truncated (the file ends inside it)")
    }
}

extension BPETokenizer {
    /// Loads a SentencePiece BPE `.model` file (see `SentencePieceModel`): merges rank by piece
    /// score, as in a GGUF "llama" vocabulary. `add_dummy_prefix` puts "▁" before every piece of text
    /// (as llama.cpp and Hugging Face's legacy Llama conversion do); `metaspace` overrides that
    /// handling (e.g. Metaspace `prepend_scheme: first`, as newer conversions write it).
    public static func load(sentencePieceModel path: String, metaspace: Metaspace? = nil) throws -> BPETokenizer {
        let m = try SentencePieceModel(path: path)
        guard m.modelType == 2 else {
            let name = [1: "unigram", 3: "word", 4: "char"][m.modelType] ?? "\(m.modelType)"
            throw FormatError(file: path, field: "trainer_spec.model_type", "\(name) is not supported (BPE, 2, is)")
        }
        guard m.precompiledCharsmapBytes == 0, !m.removeExtraWhitespaces, m.escapeWhitespaces else {
            throw FormatError(
                file: path, field: "normalizer_spec",
                "normalization \"\(m.normalizerName)\" is not supported (only the identity: no precompiled_charsmap, remove_extra_whitespaces false, escape_whitespaces true)")
        }
        func id(_ n: Int) -> Int32? { n >= 0 && n < m.pieces.count ? Int32(n) : nil }
        let prefix = m.addDummyPrefix ? Metaspace.Prefix.alwaysEvenBeforeSpace : .never
        return try sentencePiece(
            tokens: m.pieces, scores: m.scores, types: m.types,
            metaspace: metaspace ?? Metaspace(prefix: prefix, decodeStripsLeadingSpace: m.addDummyPrefix),
            bosTokenId: id(m.bosId), eosTokenId: id(m.eosId), unknownTokenId: id(m.unkId), addsBOS: true,
            source: path, fields: (scores: "pieces.score", types: "pieces.type"))
    }
}
