import SLMTraining

extension EvaluationSet {
    /// The token samples the evaluator scores, and the record each comes from: every record
    /// formatted by `formatter`; a text record longer than `sequenceLength` becomes windows of
    /// that many tokens (each window's first token is context only), any other sample keeps its
    /// last `sequenceLength` tokens. `slm teacher --split heldout` scores exactly these, so the
    /// teacher cache holds them under the keys the evaluator looks up.
    public func scoredSamples(_ formatter: SampleFormatter, sequenceLength: Int) throws -> (samples: [TokenizedSample], owners: [Int]) {
        var samples: [TokenizedSample] = [], owners: [Int] = []
        for (n, record) in records.enumerated() {
            for piece in Self.windows(try formatter.sample(record), isText: record.format == .text, length: sequenceLength) {
                samples.append(piece)
                owners.append(n)
            }
        }
        return (samples, owners)
    }

    private static func windows(_ sample: TokenizedSample, isText: Bool, length: Int) -> [TokenizedSample] {
        guard sample.ids.count > length else { return [sample] }
        guard isText else { return [TokenizedSample(ids: Array(sample.ids.suffix(length)), lossMask: Array(sample.lossMask.suffix(length)))] }
        return stride(from: 0, to: sample.ids.count - 1, by: length).map { start in
            let end = min(start + length, sample.ids.count)
            var mask = Array(sample.lossMask[start..<end])
            mask[0] = false
            return TokenizedSample(ids: Array(sample.ids[start..<end]), lossMask: mask)
        }
    }
}
