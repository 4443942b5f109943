import SLMModel
import SLMTensor

/// A token's log-probability under the model, with the most likely alternatives at its position.
public struct TokenLogProb: Sendable {
    public var id: Int32
    /// Natural log of the token's probability (softmax of the raw logits, temperature 1); nil for
    /// the first prompt token, which nothing predicts.
    public var logprob: Float?
    /// The `n` most likely tokens at this position, highest first (empty when none were asked).
    public var top: [(id: Int32, logprob: Float)]
}

/// Log-probabilities from rows of logits.
enum TokenLogProbs {
    /// For each row r of `logits` [N, V]: the log-probability of `next[r]` and the `n` most likely tokens.
    static func rows(_ logits: Tensor, next: [Int32], n: Int) throws -> [TokenLogProb] {
        let v = logits.shape.last ?? 0
        let rows = logits.count / max(v, 1)
        guard rows == next.count else { throw TensorError(op: "TokenLogProbs", "\(rows) rows of logits for \(next.count) tokens") }
        let logp = try GradMode.withoutGrad { try logits.logSoftmax() }
        return (0..<rows).map { r in
            let row = UnsafeBufferPointer(start: logp.data + r * v, count: v)
            return TokenLogProb(id: next[r], logprob: row[Int(next[r])], top: top(row, n: n))
        }
    }

    /// The `n` largest entries of `row`, highest first (ties: lower id first).
    static func top(_ row: UnsafeBufferPointer<Float>, n: Int) -> [(id: Int32, logprob: Float)] {
        guard n > 0 else { return [] }
        var best: [(id: Int32, logprob: Float)] = []
        best.reserveCapacity(n + 1)
        for i in row.indices where best.count < n || row[i] > best[best.count - 1].logprob {
            var at = best.count
            while at > 0 && best[at - 1].logprob < row[i] { at -= 1 }
            best.insert((Int32(i), row[i]), at: at)
            if best.count > n { best.removeLast() }
        }
        return best
    }
}

/// How a token is shown in a response: its text, or `bytes:\xNN…` when its bytes are not valid
/// UTF-8 alone (OpenAI's convention), and its raw bytes for the chat layout's `bytes` field.
struct TokenText {
    let text: String
    let bytes: [UInt8]

    init(_ id: Int32, tokenizer: BPETokenizer) {
        bytes = tokenizer.bytes(of: id)
        if let valid = String(validating: bytes, as: UTF8.self) {
            text = valid
        } else {
            text = "bytes:" + bytes.map { "\\x" + String($0, radix: 16).leftPadded(to: 2) }.joined()
        }
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
