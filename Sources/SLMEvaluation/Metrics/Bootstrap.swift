import SLMTensor

/// Percentile bootstrap confidence intervals: `resamples` draws of n samples with replacement
/// (indices from SplitMix64 of the seed, so a seed gives the same interval on any machine), the
/// statistic of each draw, and the 2.5th and 97.5th percentiles of those (for 95%).
public struct Bootstrap: Sendable {
    public var resamples: Int
    public var seed: UInt64
    public var level: Double

    public init(resamples: Int = 1000, seed: UInt64 = 42, level: Double = 0.95) {
        self.resamples = resamples
        self.seed = seed
        self.level = level
    }

    /// [low, high] of `statistic` over resampled index lists of `count` samples; nil when count is 0.
    public func interval(count: Int, _ statistic: ([Int]) -> Double) -> [Double]? {
        guard count > 0, resamples > 0 else { return nil }
        var values: [Double] = []
        values.reserveCapacity(resamples)
        var indices = [Int](repeating: 0, count: count)
        for b in 0..<resamples {
            for i in 0..<count {
                indices[i] = Int(SplitMix64.next(seed: seed, index: UInt64(b * count + i)) % UInt64(count))
            }
            let value = statistic(indices)
            if value.isFinite { values.append(value) }
        }
        guard !values.isEmpty else { return nil }
        values.sort()
        let tail = (1 - level) / 2
        func quantile(_ q: Double) -> Double { values[min(values.count - 1, max(0, Int((q * Double(values.count - 1)).rounded())))] }
        return [quantile(tail), quantile(1 - tail)]
    }

    /// The interval of a mean of per-sample values.
    public func meanInterval(_ values: [Double]) -> [Double]? {
        interval(count: values.count) { indices in indices.reduce(0) { $0 + values[$1] } / Double(indices.count) }
    }
}
