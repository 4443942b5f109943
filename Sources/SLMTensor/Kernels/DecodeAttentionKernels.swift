import Foundation

/// Sizes of one `decodeAttention` call: N new queries [N, Hq, D] at positions start..<start+N,
/// against caches [maxT, Hkv, D] (rows 0..<start+N used).
struct DecodeAttentionShape {
    let newTokens: Int, start: Int, queryHeads: Int, kvHeads: Int, headDim: Int
    /// A sliding window's span, or nil.
    let window: Int?

    var group: Int { queryHeads / kvHeads }
    /// Row stride of q and out (Hq·D) and of the caches (Hkv·D).
    var qStride: Int { queryHeads * headDim }
    var kvStride: Int { kvHeads * headDim }
    /// Keys visible to new token i: positions firstKey(i)...start+i.
    @inline(__always) func visibleKeys(_ i: Int) -> Int { start + i + 1 }
    /// The first key new token i sees: 0, or the window's start.
    @inline(__always) func firstKey(_ i: Int) -> Int { window.map { max(0, start + i + 1 - $0) } ?? 0 }

    init(validating q: Tensor, _ k: Tensor, _ v: Tensor, start: Int, scale: Float, window: Int?) throws {
        let op = "decodeAttention"
        let given = "q \(q.shape), keys \(k.shape), values \(v.shape), start \(start)"
        guard q.rank == 3, k.rank == 3, k.shape == v.shape else {
            throw TensorError(op: op, "expects q [N, Hq, D] and keys, values [maxT, Hkv, D] of one shape, got \(given)")
        }
        guard q.shape.allSatisfy({ $0 > 0 }), k.shape[1] > 0, q.shape[2] == k.shape[2] else {
            throw TensorError(op: op, "dimensions must be non-zero and q and the caches must share D: \(given)")
        }
        guard q.shape[1] % k.shape[1] == 0 else {
            throw TensorError(op: op, "query heads Hq = \(q.shape[1]) are not a multiple of kv heads Hkv = \(k.shape[1]): \(given)")
        }
        guard start >= 0, start + q.shape[0] <= k.shape[0] else {
            throw TensorError(op: op, "positions \(start)..<\(start + q.shape[0]) do not fit a cache of \(k.shape[0]) rows: \(given)")
        }
        guard scale.isFinite else { throw TensorError(op: op, "scale must be finite, got \(scale) for \(given)") }
        if let window, window < 1 { throw TensorError(op: op, "sliding window must be at least 1, got \(window) for \(given)") }
        self.window = window
        newTokens = q.shape[0]
        self.start = start
        queryHeads = q.shape[1]
        kvHeads = k.shape[1]
        headDim = q.shape[2]
    }
}

/// The kernel of `Tensor.decodeAttention`.
///
/// Items are (query head, tile of up to `tile` new tokens), costed by the scores they compute and
/// spread over the workers in contiguous runs (`AttentionKernels.onWorkers`); each writes its own
/// output rows, so results do not depend on the thread count. A tile of fewer than `gemmRows`
/// tokens (decoding) runs row by row: scores s_j = scale · q·k_j as SIMD dot products, an exact
/// softmax, then Σ_j p_j v_j one 16-wide column slab at a time so the slab stays in registers.
/// Bigger tiles (prefill) compute S = scale · Q Kᵀ and O = P V with sgemm, masking the keys
/// above each row's position.
enum DecodeAttentionKernels {
    /// New tokens per item.
    static let tile = 64
    /// Tiles at least this tall use sgemm.
    static let gemmRows = 8
    /// Below this many scores in all (about 64 multiply-adds each at D = 64), one thread does everything.
    static let minParallelScores = 4096

    static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, scale: Float, shape: DecodeAttentionShape
    ) {
        let n = shape.newTokens, tiles = (n + tile - 1) / tile
        let items = shape.queryHeads * tiles
        let costs = (0..<items).map { item in
            let r0 = (item % tiles) * tile, r1 = min(n, r0 + tile)
            return (r1 - r0) * shape.visibleKeys(r1 - 1)
        }
        // Per worker: scores [tile × keys] and one reciprocal row sum per row.
        let keys = shape.visibleKeys(n - 1)
        let ldS = AttentionKernels.roundUp(keys)
        let inverseOffset = min(tile, n) * ldS
        let perWorker = AttentionKernels.roundUp(inverseOffset + tile)
        let body = { (range: Range<Int>, scratch: UnsafeMutablePointer<Float>) in
            for item in range {
                let h = item / tiles, r0 = (item % tiles) * tile, br = min(n, r0 + tile) - r0
                let qi = q + r0 * shape.qStride + h * shape.headDim, oi = out + r0 * shape.qStride + h * shape.headDim
                let hk = h / shape.group
                let kh = k + hk * shape.headDim, vh = v + hk * shape.headDim
                if br >= gemmRows {
                    tileWithGemm(qi, kh, vh, oi, r0: r0, rows: br, scale: scale, shape: shape, s: scratch, ldS: ldS, inverse: scratch + inverseOffset)
                } else {
                    for r in 0..<br {
                        let first = shape.firstKey(r0 + r), ld = shape.kvStride
                        row(qi + r * shape.qStride, kh + first * ld, vh + first * ld, oi + r * shape.qStride,
                            keys: shape.visibleKeys(r0 + r) - first, scale: scale, shape: shape, s: scratch)
                    }
                }
            }
        }
        if costs.reduce(0, +) < minParallelScores || Parallel.threads == 1 {
            let scratch = Tensor(uninitialized: [perWorker])
            body(0..<items, scratch.data)
        } else {
            AttentionKernels.onWorkers(costs, scratchPerWorker: perWorker, body)
        }
    }

    /// One query row against `keys` cached keys: s_j = scale · q·k_j, p = softmax(s), out = Σ_j p_j v_j.
    @inline(__always)
    static func row(
        _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        keys: Int, scale: Float, shape: DecodeAttentionShape, s: UnsafeMutablePointer<Float>
    ) {
        let d = shape.headDim, ld = shape.kvStride, width = V.scalarCount
        let vectors = d / width
        for j in 0..<keys {
            let kj = k + j * ld
            var acc = V()
            for c in 0..<vectors { acc += load(q + c * width) * load(kj + c * width) }
            var dot = acc.sum()
            for c in (vectors * width)..<d { dot += q[c] * kj[c] }
            s[j] = scale * dot
        }
        let m = FastMath.max(s, count: keys)
        let inverse = 1 / FastMath.expShifted(s, s, count: keys, shift: m)
        for c in 0..<vectors {
            var acc = V()
            let vc = v + c * width
            for j in 0..<keys { acc += s[j] * load(vc + j * ld) }
            store(acc * inverse, out + c * width)
        }
        for c in (vectors * width)..<d {
            var acc: Float = 0
            for j in 0..<keys { acc += s[j] * v[j * ld + c] }
            out[c] = acc * inverse
        }
    }

    /// Rows r0..<r0+rows of one head: S = scale · Q Kᵀ over the keys from the first row's first to the
    /// last row's last, the keys outside each row's own span zeroed after the softmax, then O = P V / Σ P.
    static func tileWithGemm(
        _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        r0: Int, rows: Int, scale: Float, shape: DecodeAttentionShape,
        s: UnsafeMutablePointer<Float>, ldS: Int, inverse: UnsafeMutablePointer<Float>
    ) {
        let d = shape.headDim, low = shape.firstKey(r0), keys = shape.visibleKeys(r0 + rows - 1) - low
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: keys, k: d, alpha: scale,
            a: q, lda: shape.qStride, b: k + low * shape.kvStride, ldb: shape.kvStride, c: s, ldc: ldS)
        for r in 0..<rows {
            let row = s + r * ldS, first = shape.firstKey(r0 + r) - low, visible = shape.visibleKeys(r0 + r) - low
            let m = FastMath.max(row + first, count: visible - first)
            inverse[r] = 1 / FastMath.expShifted(row + first, row + first, count: visible - first, shift: m)
            row.update(repeating: 0, count: first)
            if visible < keys { (row + visible).update(repeating: 0, count: keys - visible) }
        }
        Gemm.sgemm(
            transA: false, transB: false, m: rows, n: d, k: keys,
            a: s, lda: ldS, b: v + low * shape.kvStride, ldb: shape.kvStride, c: out, ldc: shape.qStride)
        for r in 0..<rows {
            let o = out + r * shape.qStride, f = inverse[r]
            for c in 0..<d { o[c] *= f }
        }
    }
}

private typealias V = SIMD16<Float>

extension Reference {
    /// `decodeAttention` from each new query's full row of scores, accumulated in Double:
    /// q [N, Hq, D] at positions start..<start+N, keys and values [maxT, Hkv, D] → [N, Hq, D].
    public static func decodeAttention(q: Tensor, keys: Tensor, values: Tensor, start: Int, scale: Float, slidingWindow: Int? = nil) throws -> Tensor {
        let shape = try DecodeAttentionShape(validating: q, keys, values, start: start, scale: scale, window: slidingWindow)
        let out = Tensor(uninitialized: q.shape)
        let d = shape.headDim
        for i in 0..<shape.newTokens {
            for h in 0..<shape.queryHeads {
                let qi = (i * shape.queryHeads + h) * d
                let visible = shape.visibleKeys(i), first = shape.firstKey(i)
                var scores = [Double](repeating: -.infinity, count: visible)
                for j in first..<visible {
                    let kj = (j * shape.kvHeads + h / shape.group) * d
                    var acc = 0.0
                    for c in 0..<d { acc += Double(q.data[qi + c]) * Double(keys.data[kj + c]) }
                    scores[j] = acc * Double(scale)
                }
                let m = scores.max()!
                let p = scores.map { Foundation.exp($0 - m) }
                let sum = p.reduce(0, +)
                for c in 0..<d {
                    var acc = 0.0
                    for j in 0..<visible { acc += p[j] * Double(values.data[(j * shape.kvHeads + h / shape.group) * d + c]) }
                    out.data[qi + c] = Float(acc / sum)
                }
            }
        }
        return out
    }
}
