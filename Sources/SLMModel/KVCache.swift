import SLMTensor

/// The keys and values of the tokens a model has read, per layer, so that each new token costs one
/// token's forward instead of the whole sequence's.
///
/// Layout, allocated once for `maxTokens` positions:
/// ```
/// keys[layer]   [maxTokens, Hkv, D]   row p: the key of position p, after RoPE at p
/// values[layer] [maxTokens, Hkv, D]   row p: the value of position p
/// ```
/// Rows 0..<count are filled, and `tokens` are the ids they came from, so a later prompt that starts
/// with the same ids can keep them (`commonPrefix`, `truncate`).
public final class KVCache {
    public let maxTokens: Int
    public let keys: [Tensor]
    public let values: [Tensor]
    /// The ids of the cached positions, in order.
    public private(set) var tokens: [Int32] = []
    public var count: Int { tokens.count }
    public var isFull: Bool { count == maxTokens }

    /// An empty cache for `maxTokens` positions of a model of this config.
    public init(config: ModelConfig, maxTokens: Int) throws {
        guard maxTokens > 0 else { throw TensorError(op: "KVCache", "maxTokens must be positive, got \(maxTokens)") }
        self.maxTokens = maxTokens
        let shape = [maxTokens, config.kvHeads, config.headDim]
        keys = (0..<config.layers).map { _ in Tensor(uninitialized: shape) }
        values = (0..<config.layers).map { _ in Tensor(uninitialized: shape) }
    }

    /// Forgets everything after the first `n` positions.
    public func truncate(to n: Int) {
        tokens.removeLast(max(0, count - max(0, n)))
    }

    public func reset() { tokens = [] }

    /// How many leading ids of `ids` are already cached.
    public func commonPrefix(_ ids: [Int32]) -> Int {
        zip(tokens, ids).prefix { $0 == $1 }.count
    }

    /// Copies k and v of N new tokens ([N, Hkv, D] and [N, Hkv·D]) into rows start..<start+N of `layer`.
    func write(layer: Int, keys k: Tensor, values v: Tensor, at start: Int) throws {
        let rowSize = keys[layer].count / maxTokens, n = k.count / rowSize
        guard k.count == v.count, k.count == n * rowSize, start + n <= maxTokens else {
            throw TensorError(op: "KVCache", "cannot store keys \(k.shape) and values \(v.shape) at position \(start) of a cache of \(maxTokens) × \(rowSize)")
        }
        (keys[layer].data + start * rowSize).update(from: k.data, count: k.count)
        (values[layer].data + start * rowSize).update(from: v.data, count: v.count)
    }

    /// Records that every layer now holds `ids` after the current positions.
    func commit(_ ids: [Int32]) { tokens += ids }
}
