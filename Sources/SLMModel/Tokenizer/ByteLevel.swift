/// GPT-2's reversible map between bytes and printable Unicode characters, which byte-level
/// BPE vocabularies (GPT-2, SmolLM2, Llama 3, Qwen) are written in: printable Latin-1 bytes
/// stand for themselves, the other 68 bytes for U+0100 onwards (so a space is "Ġ").
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next = 256
        for byte in 0..<256 {
            if printable.contains(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(UInt32(next))!
                next += 1
            }
        }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        Dictionary(uniqueKeysWithValues: byteToScalar.enumerated().map { ($1.value, UInt8($0)) })
    }()

    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }

    /// The bytes a vocabulary entry stands for; nil if it has a character outside the map.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let b = scalarToByte[scalar.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
