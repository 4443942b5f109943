extension PreTokenizer {
    /// Length of the word at i under GPT-4o's o200k expression and Mistral's Tekken one, whose
    /// alternatives are tried in this order, each as a backtracking regular expression engine would:
    /// ```
    /// 1  P? U* L+ C?          P = [^\r\n\p{L}\p{N}]   (any character but a newline, letter or number)
    /// 2  P? U+ L* C?          U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]   (upper- and titlecase, other letters, marks)
    /// 3  \p{N}{1,3}  (o200k)  L = [\p{Ll}\p{Lm}\p{Lo}\p{M}]         (lowercase, other letters, marks)
    ///    \p{N}       (tekken) C = (?i:'s|'t|'re|'ve|'m|'ll|'d)       (o200k only)
    /// 4   ?[^\s\p{L}\p{N}]+[\r\n/]*
    /// 5  \s*[\r\n]+
    /// 6  \s+(?!\S)
    /// 7  \s+
    /// ```
    /// So "HTTPServer" is one word (U* "HTTPS", L+ "erver") and "getHTTP" two, "get" (1) and "HTTP" (2).
    func casedWordLength(_ s: [Unicode.Scalar], at i: Int, end: Int) -> Int {
        let c = s[i]
        let optionalPrefix = !isNewline(c) && !isLetter(c) && !isNumber(c) && i + 1 < end
        func withSuffix(_ wordEnd: Int) -> Int {
            let suffix = pattern == .o200k && wordEnd < end ? contraction(s, at: wordEnd, end: end) ?? 0 : 0
            return wordEnd + suffix - i
        }
        if optionalPrefix, let wordEnd = upperThenLower(s, i + 1, end) { return withSuffix(wordEnd) }
        if let wordEnd = upperThenLower(s, i, end) { return withSuffix(wordEnd) }
        if optionalPrefix, let wordEnd = upperRun(s, i + 1, end) { return withSuffix(wordEnd) }
        if let wordEnd = upperRun(s, i, end) { return withSuffix(wordEnd) }
        if isNumber(c) { return min(run(s, from: i, end: end, isNumber), pattern == .o200k ? 3 : 1) }
        let lead = (c == " " && i + 1 < end && isOther(s[i + 1])) ? 1 : 0
        if isOther(s[i + lead]) {
            var j = i + lead + run(s, from: i + lead, end: end, isOther)
            while j < end && (isNewline(s[j]) || s[j] == "/") { j += 1 }
            return j - i
        }
        let spaces = run(s, from: i, end: end, isWhitespace)
        if let lastNewline = (i..<(i + spaces)).last(where: { isNewline(s[$0]) }) { return lastNewline + 1 - i }
        return whitespaceLength(s, at: i, end: end)
    }

    /// `U* L+` from `start`: the end of the match, or nil. U* takes the longest run it can, then gives
    /// back characters until one that L accepts starts L+ (the run's end, or its last L-class character).
    private func upperThenLower(_ s: [Unicode.Scalar], _ start: Int, _ end: Int) -> Int? {
        let upper = start + run(s, from: start, end: end, isCasedUpper)
        let lowerStart: Int? = upper < end && isCasedLower(s[upper]) ? upper : (start..<upper).last { isCasedLower(s[$0]) }
        guard let lowerStart else { return nil }
        return lowerStart + run(s, from: lowerStart, end: end, isCasedLower)
    }

    /// `U+ L*` from `start`: the end of the match, or nil.
    private func upperRun(_ s: [Unicode.Scalar], _ start: Int, _ end: Int) -> Int? {
        let upper = run(s, from: start, end: end, isCasedUpper)
        guard upper > 0 else { return nil }
        return start + upper + run(s, from: start + upper, end: end, isCasedLower)
    }
}

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`
func isCasedUpper(_ c: Unicode.Scalar) -> Bool {
    if c.isASCII { return c.value >= 65 && c.value <= 90 }
    switch c.properties.generalCategory {
    case .uppercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .nonspacingMark, .spacingMark, .enclosingMark: return true
    default: return false
    }
}

/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`
func isCasedLower(_ c: Unicode.Scalar) -> Bool {
    if c.isASCII { return c.value >= 97 && c.value <= 122 }
    switch c.properties.generalCategory {
    case .lowercaseLetter, .modifierLetter, .otherLetter, .nonspacingMark, .spacingMark, .enclosingMark: return true
    default: return false
    }
}
