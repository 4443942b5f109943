import Foundation
import SLMModel
import SLMTensor

/// A teacher that is a model slm loads (GGUF or Hugging Face folder, quantized or not, with an
/// optional PEFT adapter): one forward pass per sample, then each position's k most likely next
/// tokens with their log-probabilities log_softmax(logits / temperature).
public final class LocalTeacher: TeacherSource {
    public let identity: String
    public let sourceKind = "local"
    public let k: Int
    public let temperature: Double
    let model: Transformer
    /// The teacher's own tokenizer fingerprint: it must equal the student's.
    public let tokenizerFingerprint: String

    public init(_ section: Recipe.TeacherSection, k: Int, temperature: Double) throws {
        let (model, tokenizer) = try ModelLoader.load(path: section.model, keepQuantized: section.keepQuantized)
        guard let tokenizer else {
            throw TrainingError("the teacher \(section.model) carries no tokenizer: put tokenizer.json in the folder or use a GGUF file with tokenizer metadata")
        }
        if let adapter = section.adapter { _ = try PEFTAdapter.load(adapter, into: model) }
        self.model = model
        self.k = k
        self.temperature = temperature
        tokenizerFingerprint = tokenizer.fingerprint
        identity = Self.identity(section)
    }

    /// "local:<model file or folder name>[+<adapter folder name>][@quantized]".
    public static func identity(_ section: Recipe.TeacherSection) -> String {
        var text = "local:" + URL(fileURLWithPath: section.model).lastPathComponent
        if let adapter = section.adapter { text += "+" + URL(fileURLWithPath: adapter).lastPathComponent }
        if section.keepQuantized { text += "@quantized" }
        return text
    }

    public func scores(for sample: TokenizedSample) throws -> TeacherScores {
        let t = sample.ids.count
        let logits = try GradMode.withoutGrad {
            try model.logits(model.hiddenStates(sample.ids, batch: 1, sequence: t))
        }
        let vocab = logits.shape.last ?? 0
        var ids = [Int32](repeating: -1, count: t * k), logprobs = [Float](repeating: -.infinity, count: t * k)
        let invT = Float(1 / temperature)
        let values = logits.scalars
        values.withUnsafeBufferPointer { all in
            for row in 0..<t {
                let z = UnsafeBufferPointer(rebasing: all[row * vocab..<(row + 1) * vocab])
                let top = Self.topK(z, k: k)
                var m = -Float.infinity
                for v in z { m = max(m, v * invT) }
                var sum = 0.0
                for v in z { sum += Foundation.exp(Double(v * invT - m)) }
                let lse = Double(m) + Foundation.log(sum)
                for (slot, id) in top.enumerated() {
                    ids[row * k + slot] = Int32(id)
                    logprobs[row * k + slot] = Float(Double(z[id] * invT) - lse)
                }
            }
        }
        return TeacherScores(tokenIDs: sample.ids, k: k, topTokenIDs: ids, topLogProbs: logprobs)
    }

    /// Indices of the k largest values, largest first (ties: lower index first).
    static func topK(_ z: UnsafeBufferPointer<Float>, k: Int) -> [Int] {
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for i in z.indices {
            if best.count == k, z[i] <= z[best[k - 1]] { continue }
            var at = best.count
            while at > 0, z[best[at - 1]] < z[i] { at -= 1 }
            best.insert(i, at: at)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
