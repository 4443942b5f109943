extension Tensor {
    /// Inverted dropout: element i is kept, and scaled by 1 / (1 − p), iff
    /// `DropoutHash(seed: seed).uniform(i) ≥ p`; otherwise it is zeroed.
    ///
    /// The mask is a pure function of (seed, flat index), so it is the same for any
    /// thread count, is never stored (backward regenerates it), and a recomputed
    /// forward (`Tensor.recomputed`) drops the same elements. Use a fresh seed per
    /// call site and step. p = 0 returns `self` unchanged; p must lie in [0, 1).
    public func dropout(probability p: Float, seed: UInt64) throws -> Tensor {
        guard p >= 0, p < 1 else {
            throw TensorError(op: "dropout", "probability must be in [0, 1), got \(p) (input \(shape))")
        }
        if p == 0 { return self }
        let out = Tensor(uninitialized: shape)
        Kernels.dropout(data, out.data, count: count, p: p, seed: seed)
        return try Tensor.record("dropout", out, inputs: [self]) { g in
            let grad = Tensor(uninitialized: g.shape)
            Kernels.dropout(g.data, grad.data, count: g.count, p: p, seed: seed)
            return [grad]
        }
    }
}

extension Kernels {
    /// dst[i] = uniform(seed, i) ≥ p ? src[i] / (1 − p) : 0.
    ///
    /// uniform = k · 2⁻²⁴ with k = `DropoutHash.bits24`, exactly, so uniform ≥ p ⇔ k ≥ ⌈p · 2²⁴⌉:
    /// the test runs on the integer, skipping the conversion to Float. `src` and `dst` may be the same.
    static func dropout(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, p: Float, seed: UInt64) {
        let scale = 1 / (1 - p)
        let threshold = UInt32((p * 0x1p24).rounded(.up))
        let hash = DropoutHash(seed: seed)
        Parallel.forEachChunk(count, minChunk: elementwiseChunk) { r in
            for i in r {
                dst[i] = hash.bits24(i) >= threshold ? src[i] * scale : 0
            }
        }
    }
}

extension Reference {
    /// Dropout element by element from the definition.
    public static func dropout(_ x: Tensor, probability p: Float, seed: UInt64) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        let hash = DropoutHash(seed: seed)
        for i in 0..<x.count {
            let keep = hash.uniform(i) >= p
            out.data[i] = keep ? x.data[i] / (1 - p) : 0
        }
        return out
    }
}
