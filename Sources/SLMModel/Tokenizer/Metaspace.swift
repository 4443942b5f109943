/// SentencePiece's handling of spaces (Llama 2, Mistral, Gemma): a space is written "▁" (U+2581)
/// inside tokens, a "▁" may be put before the text so that its first word looks like any other,
/// and text is merged character by character, with characters missing from the vocabulary spelled
/// as byte tokens `<0xNN>` (byte fallback). In a tokenizer.json this is some of:
///
/// - normalizer `Replace(" ", "▁")`, `Prepend("▁")`, or a `Sequence` of them (Llama 2, Mistral v0.1, Gemma);
/// - pre-tokenizer `Metaspace` (replacement "▁", `prepend_scheme` first / always / never, `split`);
/// - decoder `Replace("▁", " ")`, `ByteFallback`, `Fuse`, `Strip(" ", 1, 0)`, or `Metaspace`.
///
/// In GGUF metadata (`tokenizer.ggml.model` "llama") and SentencePiece `.model` files, spaces are
/// always "▁" and `add_space_prefix` / `add_dummy_prefix` prepend one to every piece of text
/// (as llama.cpp does: at the start and after each special token, even before a space).
public struct Metaspace: Sendable, Equatable {
    public static let space: Unicode.Scalar = "\u{2581}"

    /// Where a "▁" is put before a piece of text (the text between added tokens).
    public enum Prefix: String, Sendable {
        /// Never (Gemma).
        case never
        /// Before the text at the very start of the input only, unless it starts with a space (Metaspace "first").
        case first
        /// Before every piece of text that does not start with a space (Metaspace "always").
        case always
        /// Before every piece of text, even one that starts with a space (the `Prepend("▁")` normalizer, llama.cpp).
        case alwaysEvenBeforeSpace
    }

    /// Spaces become "▁" (false only for an odd tokenizer.json that leaves them to byte fallback).
    public var replacesSpaces: Bool
    public var prefix: Prefix
    /// Words are cut before every "▁" before merging (Metaspace `split: true`); otherwise the whole
    /// piece of text is merged as one word.
    public var split: Bool
    /// Decoding drops one leading space from the text (decoder `Strip(" ", 1, 0)` or Metaspace with a prefix).
    public var decodeStripsLeadingSpace: Bool

    public init(replacesSpaces: Bool = true, prefix: Prefix, split: Bool = false, decodeStripsLeadingSpace: Bool) {
        self.replacesSpaces = replacesSpaces
        self.prefix = prefix
        self.split = split
        self.decodeStripsLeadingSpace = decodeStripsLeadingSpace
    }

    /// The words of one piece of text, spaces written "▁" and the prefix added; `atStart` says
    /// whether the piece begins the input.
    func words(_ text: ArraySlice<Unicode.Scalar>, atStart: Bool) -> [[Unicode.Scalar]] {
        guard !text.isEmpty else { return [] }
        var s: [Unicode.Scalar] = []
        s.reserveCapacity(text.count + 1)
        let startsWithSpace = text.first == Self.space || (replacesSpaces && text.first == " ")
        switch prefix {
        case .never: break
        case .first: if atStart && !startsWithSpace { s.append(Self.space) }
        case .always: if !startsWithSpace { s.append(Self.space) }
        case .alwaysEvenBeforeSpace: s.append(Self.space)
        }
        for c in text { s.append(replacesSpaces && c == " " ? Self.space : c) }
        guard split else { return [s] }
        var out: [[Unicode.Scalar]] = []
        var start = 0
        for i in 1..<max(s.count, 1) where s[i] == Self.space {
            out.append(Array(s[start..<i]))
            start = i
        }
        out.append(Array(s[start...]))
        return out
    }

    /// A token's text as it reads: "▁" back to a space.
    static func unescape(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for c in token.unicodeScalars {
            if c == space { out.append(0x20) } else { out += Array(String(c).utf8) }
        }
        return out
    }

    /// The byte of a byte-fallback token `<0xNN>`, or nil.
    static func fallbackByte(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}
