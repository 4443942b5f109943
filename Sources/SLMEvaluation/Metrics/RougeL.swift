/// ROUGE-L F-measure as Google's `rouge-score` computes it without stemming: both texts lower-cased,
/// every character other than a–z and 0–9 made a space, split on spaces; F = 2PR / (P + R) of the
/// longest common subsequence of tokens (0 when either side has no token).
public enum RougeL {
    public static func f1(reference: String, prediction: String) -> Double {
        let r = tokens(reference), p = tokens(prediction)
        guard !r.isEmpty, !p.isEmpty else { return 0 }
        let common = Double(longestCommonSubsequence(r, p))
        return harmonicMean(common / Double(p.count), common / Double(r.count))
    }

    static func tokens(_ text: String) -> [Substring] {
        let cleaned = String(text.lowercased().unicodeScalars.map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? Character($0) : " " })
        return cleaned.split(separator: " ")
    }

    static func longestCommonSubsequence(_ a: [Substring], _ b: [Substring]) -> Int {
        var previous = [Int](repeating: 0, count: b.count + 1), current = previous
        for x in a {
            for (j, y) in b.enumerated() { current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j]) }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
