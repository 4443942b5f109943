import SLMTensor

/// Permutations drawn from SplitMix64, so a seed gives the same order on every machine and Swift
/// version (the standard library's shuffle promises neither).
enum SeededShuffle {
    /// Fisher–Yates over 0..<count with the k-th draw SplitMix64(seed, k).
    static func permutation(count: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<count)
        var draw: UInt64 = 0
        for i in stride(from: count - 1, to: 0, by: -1) {
            // The high word of r · (i + 1) is uniform in 0...i up to a bias of (i + 1) / 2⁶⁴.
            let j = Int(SplitMix64.next(seed: seed, index: draw).multipliedFullWidth(by: UInt64(i + 1)).high)
            draw += 1
            order.swapAt(i, j)
        }
        return order
    }

    /// The seeds of the data pipeline's independent streams, all derived from the run's seed.
    static func packingSeed(_ seed: UInt64) -> UInt64 { SplitMix64.next(seed: seed, index: 0) }
    static func heldoutSeed(_ seed: UInt64) -> UInt64 { SplitMix64.next(seed: seed, index: 1) }
    static func epochSeed(_ seed: UInt64, epoch: Int) -> UInt64 { SplitMix64.next(seed: seed, index: 2 + UInt64(epoch)) }
}
