/// Sets records aside for evaluation.
public enum HeldoutSplit {
    /// `fraction` of `records` (rounded, at least one, never all; none when there are fewer than two)
    /// chosen by `seed`: the same seed and records give the same split. Both parts keep the records'
    /// order, and together hold each record exactly once.
    public static func split<Record>(_ records: [Record], fraction: Double, seed: UInt64) -> (train: [Record], heldout: [Record]) {
        precondition(fraction > 0 && fraction < 1, "heldout_fraction must be between 0 and 1")
        guard records.count >= 2 else { return (records, []) }
        let count = min(max(1, Int((fraction * Double(records.count)).rounded())), records.count - 1)
        var isHeldout = [Bool](repeating: false, count: records.count)
        for i in SeededShuffle.permutation(count: records.count, seed: SeededShuffle.heldoutSeed(seed)).prefix(count) { isHeldout[i] = true }
        var train: [Record] = [], heldout: [Record] = []
        for (record, out) in zip(records, isHeldout) {
            if out { heldout.append(record) } else { train.append(record) }
        }
        return (train, heldout)
    }
}
