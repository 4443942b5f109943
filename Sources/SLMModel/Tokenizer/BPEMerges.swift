/// The merge step every BPE tokenizer here shares, byte-level or SentencePiece-style: a word
/// arrives as a list of symbol ids, and the adjacent pair with the best rank is merged into one
/// symbol again and again (ties: the leftmost pair), until no pair can merge.
///
/// Ranks come either from a merge list in order (tokenizer.json `model.merges`: the first merge
/// has rank 0), or from token scores (SentencePiece models, GGUF `tokenizer.ggml.model` "llama"):
/// a pair may merge when the text of both is itself a token, and ranks higher the higher that
/// token's score, as llama.cpp's SentencePiece tokenizer and Hugging Face's conversion both order them.
struct BPEMerges: Sendable {
    struct Merge: Sendable {
        let rank: Int32
        let merged: Int32
    }
    private let table: [UInt64: Merge]

    var count: Int { table.count }

    private static func key(_ left: Int32, _ right: Int32) -> UInt64 { UInt64(UInt32(left)) << 32 | UInt64(UInt32(right)) }

    /// From a merge list in rank order; `ids` maps token text to id. A pair listed twice keeps its first rank.
    init(pairs: [(String, String)], ids: [String: Int32], source: String, field: String) throws {
        var table = [UInt64: Merge](minimumCapacity: pairs.count)
        for (rank, (a, b)) in pairs.enumerated() {
            guard let left = ids[a], let right = ids[b], let merged = ids[a + b] else {
                throw FormatError(file: source, field: "\(field)[\(rank)]", "merge \"\(a) \(b)\" uses a token missing from the vocabulary")
            }
            let key = Self.key(left, right)
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), merged: merged) }
        }
        self.table = table
    }

    /// From token scores: every split of a token's text into two tokens is a merge, ranked by the
    /// merged token's score (higher first; equal scores by lower id). `mergeable` excludes tokens
    /// that text never merges into or out of (byte tokens `<0xNN>` are not text).
    init(tokens: [String], scores: [Float], ids: [String: Int32], mergeable: (Int) -> Bool) {
        let order = tokens.indices.filter(mergeable).sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var table = [UInt64: Merge](minimumCapacity: tokens.count * 2)
        for (rank, id) in order.enumerated() {
            let scalars = Array(tokens[id].unicodeScalars)
            guard scalars.count > 1 else { continue }
            var left = String.UnicodeScalarView()
            for cut in 1..<scalars.count {
                left.append(scalars[cut - 1])
                var right = String.UnicodeScalarView()
                right.append(contentsOf: scalars[cut...])
                guard let l = ids[String(left)], let r = ids[String(right)], mergeable(Int(l)), mergeable(Int(r)) else { continue }
                let key = Self.key(l, r)
                if table[key] == nil { table[key] = Merge(rank: Int32(rank), merged: Int32(id)) }
            }
        }
        self.table = table
    }

    /// The pairs in rank order, as "a b" merge lists write them.
    func pairs(tokens: [String]) -> [(String, String)] {
        table.sorted { $0.value.rank != $1.value.rank ? $0.value.rank < $1.value.rank : $0.key < $1.key }
            .map { (tokens[Int($0.key >> 32)], tokens[Int($0.key & 0xFFFF_FFFF)]) }
    }

    /// `symbols` merged: a linked list over the symbols and a min-heap of candidate pairs by
    /// (rank, position); a popped pair whose sides changed since it was pushed is stale and skipped.
    func apply(_ symbols: [Int32]) -> [Int32] {
        let n = symbols.count
        guard n > 1 else { return symbols }
        var ids = symbols
        var next = Array(1...n)  // n: end of list
        var prev = Array(-1..<(n - 1))
        var heap = CandidateHeap()
        func push(_ at: Int) {
            let right = next[at]
            guard right < n, let m = table[Self.key(ids[at], ids[right])] else { return }
            heap.push(Candidate(rank: m.rank, at: Int32(at), left: ids[at], right: ids[right], merged: m.merged))
        }
        for i in 0..<(n - 1) { push(i) }
        while let c = heap.pop() {
            let at = Int(c.at)
            let right = next[at]
            guard ids[at] == c.left, right < n, ids[right] == c.right else { continue }
            ids[at] = c.merged
            ids[right] = -1
            next[at] = next[right]
            if next[at] < n { prev[next[at]] = at }
            if prev[at] >= 0 { push(prev[at]) }
            push(at)
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var i = 0
        while i < n {
            out.append(ids[i])
            i = next[i]
        }
        return out
    }
}

private struct Candidate {
    let rank: Int32
    let at: Int32
    let left: Int32
    let right: Int32
    let merged: Int32
    func precedes(_ other: Candidate) -> Bool { rank != other.rank ? rank < other.rank : at < other.at }
}

/// A binary min-heap of merge candidates.
private struct CandidateHeap {
    private var items: [Candidate] = []

    mutating func push(_ c: Candidate) {
        items.append(c)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].precedes(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < items.count && items[l].precedes(items[best]) { best = l }
            if r < items.count && items[r].precedes(items[best]) { best = r }
            guard best != i else { return top }
            items.swapAt(i, best)
            i = best
        }
    }
}
