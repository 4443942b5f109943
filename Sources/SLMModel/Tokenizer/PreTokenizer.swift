/// How a byte-level BPE tokenizer cuts text into words before merging, as the regular
/// expressions of each model family define it (hand-written matchers, same results; `Pattern.regex`
/// holds each expression as tokenizer.json writes it):
///
/// - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `llama3`: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// - `qwen2`: as llama3 with `\p{N}` (one digit per word)
/// - `o200k` (GPT-4o's, Phi-4-mini's; llama.cpp's "gpt-4o"): words cut where case changes, with a
///   contraction suffix: `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
///   `|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
///   `|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+` (see `PreTokenizerCasedWords.swift`)
/// - `tekken` (Mistral's Tekken): as o200k without the contraction suffixes and with `\p{N}` (one digit per word)
///
/// `isolateDigits` first splits every digit into its own piece (SmolLM2's Digits pre-tokenizer).
public struct PreTokenizer: Sendable, Equatable {
    public enum Pattern: String, Sendable, CaseIterable { case gpt2, llama3, qwen2, o200k, tekken }
    public var pattern: Pattern
    public var isolateDigits: Bool

    public init(pattern: Pattern, isolateDigits: Bool = false) {
        self.pattern = pattern
        self.isolateDigits = isolateDigits
    }

    /// The words of `text`, as ranges of its Unicode scalars.
    public func split(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        guard isolateDigits else { return words(text, in: 0..<text.count) }
        var out: [Range<Int>] = []
        var start = 0
        for i in 0..<text.count where isNumber(text[i]) {
            if start < i { out += words(text, in: start..<i) }
            out.append(i..<(i + 1))
            start = i + 1
        }
        if start < text.count { out += words(text, in: start..<text.count) }
        return out
    }

    private func words(_ s: [Unicode.Scalar], in range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let next = matchLength(s, at: i, end: end)
            out.append(i..<(i + next))
            i += next
        }
        return out
    }

    /// Length of the word starting at i (always ≥ 1).
    private func matchLength(_ s: [Unicode.Scalar], at i: Int, end: Int) -> Int {
        if pattern == .o200k || pattern == .tekken { return casedWordLength(s, at: i, end: end) }
        if let n = contraction(s, at: i, end: end) { return n }
        let c = s[i]
        switch pattern {
        case .gpt2:
            let lead = (c == " " && i + 1 < end) ? 1 : 0
            let first = s[i + lead]
            if lead == 0 || !isWhitespace(first) {
                if isLetter(first) { return lead + run(s, from: i + lead, end: end, isLetter) }
                if isNumber(first) { return lead + run(s, from: i + lead, end: end, isNumber) }
                if !isWhitespace(first) { return lead + run(s, from: i + lead, end: end, isOther) }
            }
        case .llama3, .qwen2:
            let prefixed = !isNewline(c) && !isLetter(c) && !isNumber(c) && i + 1 < end && isLetter(s[i + 1])
            if isLetter(c) || prefixed {
                let start = prefixed ? i + 1 : i
                return start - i + run(s, from: start, end: end, isLetter)
            }
            if isNumber(c) { return min(run(s, from: i, end: end, isNumber), pattern == .llama3 ? 3 : 1) }
            let lead = (c == " " && i + 1 < end && isOther(s[i + 1])) ? 1 : 0
            if isOther(s[i + lead]) {
                var j = i + lead + run(s, from: i + lead, end: end, isOther)
                while j < end && isNewline(s[j]) { j += 1 }
                return j - i
            }
            // \s*[\r\n]+ : whitespace up to and including the last newline of the run
            let spaces = run(s, from: i, end: end, isWhitespace)
            if let lastNewline = (i..<(i + spaces)).last(where: { isNewline(s[$0]) }) { return lastNewline + 1 - i }
        case .o200k, .tekken:
            break
        }
        return whitespaceLength(s, at: i, end: end)
    }

    /// `\s+(?!\S)|\s+`: a run of whitespace, less its last character when a word follows it.
    func whitespaceLength(_ s: [Unicode.Scalar], at i: Int, end: Int) -> Int {
        let spaces = run(s, from: i, end: end, isWhitespace)
        if i + spaces == end || spaces == 1 { return spaces }
        return spaces - 1
    }

    /// Length of `'s|'t|'re|'ve|'m|'ll|'d` at i, case-insensitive except for GPT-2 (where "ſ" folds to "s", as
    /// the regular expression engines fold it).
    func contraction(_ s: [Unicode.Scalar], at i: Int, end: Int) -> Int? {
        guard s[i] == "'", i + 1 < end else { return nil }
        let caseless = pattern != .gpt2
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            guard caseless else { return c }
            if c == "\u{17F}" { return "s" }
            return c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c
        }
        let a = lower(s[i + 1])
        if ["s", "t", "m", "d"].contains(a) { return 2 }
        if i + 2 < end {
            let b = lower(s[i + 2])
            if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
        }
        return nil
    }

    func run(_ s: [Unicode.Scalar], from i: Int, end: Int, _ test: (Unicode.Scalar) -> Bool) -> Int {
        var j = i
        while j < end && test(s[j]) { j += 1 }
        return j - i
    }

    func isOther(_ c: Unicode.Scalar) -> Bool { !isWhitespace(c) && !isLetter(c) && !isNumber(c) }
    func isNewline(_ c: Unicode.Scalar) -> Bool { c == "\n" || c == "\r" }
}

func isWhitespace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }

func isLetter(_ c: Unicode.Scalar) -> Bool {
    if c.isASCII { return (c.value | 0x20) >= 97 && (c.value | 0x20) <= 122 }
    switch c.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
    default: return false
    }
}

func isNumber(_ c: Unicode.Scalar) -> Bool {
    if c.isASCII { return c.value >= 48 && c.value <= 57 }
    switch c.properties.generalCategory {
    case .decimalNumber, .letterNumber, .otherNumber: return true
    default: return false
    }
}

extension PreTokenizer.Pattern {
    /// The regular expression as tokenizer.json's Split writes it (and tiktoken's `pat_str`); nil for
    /// GPT-2's, which tokenizer.json spells as a ByteLevel pre-tokenizer with `use_regex`.
    public var regex: String? {
        switch self {
        case .gpt2: nil
        case .llama3: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .qwen2: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .o200k:
            #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#
                + #"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#
                + #"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .tekken:
            #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"#
                + #"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"#
                + #"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        }
    }

    /// The pattern whose regular expression is exactly `regex`, or nil.
    public init?(regex: String) {
        guard let match = Self.allCases.first(where: { $0.regex == regex }) else { return nil }
        self = match
    }
}
