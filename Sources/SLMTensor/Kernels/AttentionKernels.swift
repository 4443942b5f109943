import CBLAS
import CKernels
import Foundation
import Synchronization

/// Sizes of one attention call and the offsets of a head's rows in the
/// [B, T, H, D] layouts: q, out, dq are [B, T, Hq, D]; k, v, dk, dv are
/// [B, T, Hkv, D]. One head's T×D matrix is a strided view whose rows sit
/// H·D floats apart, which sgemm reads through lda/ldb without copying.
struct AttentionShape {
    let batch: Int, length: Int, queryHeads: Int, kvHeads: Int, headDim: Int

    /// Query heads per kv head: query head h reads kv head h / group.
    var group: Int { queryHeads / kvHeads }
    /// Row stride of one head in q, out, dq (Hq·D).
    var qStride: Int { queryHeads * headDim }
    /// Row stride of one head in k, v, dk, dv (Hkv·D).
    var kvStride: Int { kvHeads * headDim }
    /// Row stride of a head's D rows in `AttentionKernels.transposedHeads`: T and 16 floats more, so
    /// that at T = 256 (1 KB) the rows a product reads do not all fall into a few L1 cache sets.
    var transposedStride: Int { length + 16 }

    @inline(__always) func qOffset(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * length + t) * queryHeads + h) * headDim }
    @inline(__always) func kvOffset(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * length + t) * kvHeads + h) * headDim }
    /// Index of query row (b, t, h) in the [B, T, Hq] logsumexp and rowsum(dO ⊙ O) buffers.
    @inline(__always) func row(_ b: Int, _ t: Int, _ h: Int) -> Int { (b * length + t) * queryHeads + h }

    /// Checks q [B, T, Hq, D], k and v [B, T, Hkv, D], and the mask, naming `causalAttention` and the shapes.
    init(validating q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float, mask: AttentionMask) throws {
        let op = "causalAttention"
        let given = "q \(q.shape), k \(k.shape), v \(v.shape)"
        guard q.rank == 4, k.rank == 4, v.rank == 4 else {
            throw TensorError(op: op, "expects q [B, T, Hq, D] and k, v [B, T, Hkv, D], got \(given)")
        }
        guard k.shape == v.shape else { throw TensorError(op: op, "k and v must have one shape [B, T, Hkv, D], got \(given)") }
        guard q.shape[0] == k.shape[0], q.shape[1] == k.shape[1], q.shape[3] == k.shape[3] else {
            throw TensorError(op: op, "q [B, T, Hq, D] and k, v [B, T, Hkv, D] disagree on B, T or D: \(given)")
        }
        guard q.shape.allSatisfy({ $0 > 0 }), k.shape[2] > 0 else {
            throw TensorError(op: op, "every dimension must be non-zero, got \(given)")
        }
        guard q.shape[2] % k.shape[2] == 0 else {
            throw TensorError(op: op, "query heads Hq = \(q.shape[2]) are not a multiple of kv heads Hkv = \(k.shape[2]): \(given)")
        }
        guard scale.isFinite else { throw TensorError(op: op, "scale must be finite, got \(scale) for \(given)") }
        if let w = mask.slidingWindow, w < 1 {
            throw TensorError(op: op, "sliding window must be at least 1, got \(w) for \(given)")
        }
        if let s = mask.segments, s.count != q.shape[0] * q.shape[1] {
            throw TensorError(op: op, "segments has \(s.count) ids, expected B·T = \(q.shape[0] * q.shape[1]) for \(given)")
        }
        batch = q.shape[0]
        length = q.shape[1]
        queryHeads = q.shape[2]
        kvHeads = k.shape[2]
        headDim = q.shape[3]
    }
}

/// How scores are tiled, and what the tiles need to know about the mask.
///
/// A query tile is `tile` positions of one batch row and all `g` query heads that share
/// a kv head, packed into g·tile contiguous rows ordered (position, head), so that every
/// gemm against that kv head's K or V has g times more rows. The tile visits spans of
/// up to `keySpan` keys: first the top span, which ends with the diagonal tile (its own
/// positions) and reaches `keySpan − tile` keys below it, then spans further down. At
/// T ≤ keySpan a tile's whole row of scores is one span, so the softmax needs no online
/// rescaling. The diagonal tile is cut into a staircase of `diagonalBlock`-position
/// blocks so that the causally masked upper triangle is mostly not computed. Sizes were
/// picked by measurement on SmolLM2-135M shapes (T = 256, g = 3, D = 64).
struct AttentionTiling {
    /// Query positions per tile, and the size of the diagonal tile.
    static let tile = 64
    /// Positions per step of the diagonal tile's staircase (a multiple of 16, the SIMD width).
    static let diagonalBlock = 16
    /// Keys per span, a multiple of `tile`: a score tile is at most g·tile × keySpan.
    static let keySpan = 256
    /// Score of a key that segments hide inside a row's visible range: finite, and exp of it
    /// minus any row maximum is 0.
    static let masked = -Float.greatestFiniteMagnitude

    let shape: AttentionShape
    let mask: AttentionMask
    /// [B·T]: the smallest key index query t of row b can see (window and segments).
    let lowestKey: [Int]
    /// [B·T]: where the run of equal segment ids holding position t starts (0 without segments).
    let runStart: [Int]

    /// Tiles along T (the last may be short).
    var tiles: Int { (shape.length + Self.tile - 1) / Self.tile }

    init(_ shape: AttentionShape, _ mask: AttentionMask) {
        self.shape = shape
        self.mask = mask
        let t = shape.length
        var lowest = [Int](repeating: 0, count: shape.batch * t)
        var runs = [Int](repeating: 0, count: shape.batch * t)
        for b in 0..<shape.batch {
            var first: [Int32: Int] = [:]
            for i in 0..<t {
                var lo = 0
                if let w = mask.slidingWindow { lo = max(lo, i - w + 1) }
                if let s = mask.segments {
                    let id = s[b * t + i]
                    if first[id] == nil { first[id] = i }
                    lo = max(lo, first[id]!)
                    runs[b * t + i] = i > 0 && s[b * t + i - 1] == id ? runs[b * t + i - 1] : i
                }
                lowest[b * t + i] = lo
            }
        }
        lowestKey = lowest
        runStart = runs
    }

    /// Calls body(c0, c1) for the key spans c0..<c1 that query positions r0..<r1 (one tile) of batch
    /// row b must visit: the top span (c1 = r1) first, then downward to the tile holding the
    /// lowest visible key. Every span but the top one ends at or below r0.
    @inline(__always)
    func forEachKeySpan(_ b: Int, _ r0: Int, _ r1: Int, _ body: (Int, Int) -> Void) {
        var lo = r0
        for i in r0..<r1 { lo = min(lo, lowestKey[b * shape.length + i]) }
        let bottom = lo / Self.tile * Self.tile
        var c0 = max(bottom, r0 - (Self.keySpan - Self.tile))
        body(c0, r1)
        while c0 > bottom {
            let c1 = c0
            c0 = max(bottom, c1 - Self.keySpan)
            body(c0, c1)
        }
    }

    /// Work of query positions r0..<r1 of batch row b (one head): the scores of the spans they visit.
    func cost(_ b: Int, _ r0: Int, _ r1: Int) -> Int {
        var keys = 0
        forEachKeySpan(b, r0, r1) { c0, c1 in keys += c1 - c0 }
        return keys * (r1 - r0)
    }

    /// Of query i's row in a span of keys c0..<c1: the visible range a..<e in local columns (from c0),
    /// empty (a ≥ e) when none is visible. Segments can still hide keys inside it (`hideOtherSegments`).
    @inline(__always)
    func visibleRange(_ b: Int, _ i: Int, _ c0: Int, _ c1: Int) -> (Int, Int) {
        (max(c0, lowestKey[b * shape.length + i]) - c0, min(c1, i + 1) - c0)
    }

    /// Sets row[j] = value for the keys j in a..<e (local columns from c0) that segments hide from query i.
    @inline(__always)
    func hideOtherSegments(_ row: UnsafeMutablePointer<Float>, _ b: Int, _ i: Int, _ c0: Int, _ a: Int, _ e: Int, value: Float) {
        let t = shape.length
        guard a < e, let segments = mask.segments, runStart[b * t + i] > a + c0 else { return }
        segments.withUnsafeBufferPointer { seg in
            let id = seg[b * t + i], keys = seg.baseAddress! + b * t + c0
            for j in a..<e where keys[j] != id { row[j] = value }
        }
    }
}

/// FlashAttention-2 forward and backward, the query heads of a kv head stacked, the tiles'
/// products on `SmallGemm` (AVX-512, nothing packed; OpenBLAS without AVX-512).
///
/// Work is split into (b, kv head, query tile) items (forward) or (b, kv head, part)
/// items (backward), which `Parallel.threads` workers claim one at a time, costliest
/// first. The items depend only on the shapes, the mask and the thread count; every
/// output element is written by one item in a fixed order, whichever worker runs it,
/// so results are bitwise reproducible. OpenBLAS, where it is used, runs single-threaded
/// inside the region (each worker calls it for its own tiles) and is restored after.
///
/// Keys and values are read as rows of their [B, T, Hkv, D] tensors, and also transposed once
/// per call (`transposedHeads`) for the products with Kᵀ and Vᵀ. Per span, the forward's score
/// rows go through one fused pass each: the mask as a range of visible columns (segments only
/// add element-wise work where a row's range spans several runs), then max, exp and sum, with the
/// computed but hidden columns zeroed. The backward knows each row's logsumexp, so its products
/// store P = exp(S − lse) and dS = P ⊙ (dP − D) directly (`slm_epilogue`).
enum AttentionKernels {
    /// out[B, T, Hq, D] = softmax(scale · q kᵀ + mask) v per head, and lse[B, T, Hq] = log Σ_j exp(scores).
    static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        scale: Float, tiling: AttentionTiling
    ) {
        let shape = tiling.shape, tile = AttentionTiling.tile
        let d = shape.headDim, nQ = tiling.tiles, g = shape.group
        let ldkv = shape.kvStride, ldS = AttentionTiling.keySpan, maxRows = g * tile

        // Items (b, kv head, query tile), costed by the scores they compute.
        let items = shape.batch * shape.kvHeads * nQ
        var costs = [Int](repeating: 0, count: items)
        for item in 0..<items {
            let qt = item % nQ, b = item / nQ / shape.kvHeads
            costs[item] = tiling.cost(b, qt * tile, min(shape.length, (qt + 1) * tile))
        }
        let keysT = transposedHeads(k, shape)
        // Per worker: packed Q and O [g·tile × D], the score tile S [g·tile × keySpan], then m and l per row.
        let perWorker = roundUp(2 * maxRows * d) + tileFloats(rows: maxRows, ldS: ldS) + 2 * roundUp(maxRows)
        onWorkersClaiming(costs, scratchPerWorker: perWorker) { item, _, scratch in
            let qp = scratch, op = qp + maxRows * d
            let s = scratch + roundUp(2 * maxRows * d)
            let m = s + tileFloats(rows: maxRows, ldS: ldS), l = m + roundUp(maxRows)
            let qt = item % nQ, gi = item / nQ, hk = gi % shape.kvHeads, b = gi / shape.kvHeads
            let r0 = qt * tile, br = min(tile, shape.length - r0), rows = g * br
            for p in 0..<br {
                (qp + p * g * d).update(from: q + shape.qOffset(b, r0 + p, hk * g), count: g * d)
            }
            var top = true
            tiling.forEachKeySpan(b, r0, r0 + br) { c0, c1 in
                // Keys below the diagonal tile, computed for every row as one block.
                let below = (top ? r0 : c1) - c0
                let vj = v + shape.kvOffset(b, c0, hk)
                // S = scale · Q Kᵀ   [rows × (below + diagonal staircase)]
                scores(qp, keysT.data + gi * d * shape.transposedStride, c0: c0, r0: r0, below: below, top: top, br: br,
                       g: g, d: d, ldT: shape.transposedStride, c: s, ldc: ldS, .plain(alpha: scale))
                // P = exp(S − m_new), l = α·l + Σ P, O = α·O
                for r in 0..<rows {
                    let i = r0 + r / g, row = s + r * ldS
                    let n = top ? below + diagonalColumns(i - r0, br) : below
                    let (a, e) = tiling.visibleRange(b, i, c0, c1)
                    tiling.hideOtherSegments(row, b, i, c0, a, e, value: AttentionTiling.masked)
                    guard a < e else {
                        row.update(repeating: 0, count: n)
                        continue
                    }
                    let mNew = top ? softmaxRowMax(row, a, e) : max(m[r], softmaxRowMax(row, a, e))
                    let sum = softmaxExpRow(row, a, e, n, shift: mNew)
                    if top {
                        l[r] = sum
                    } else {
                        let alpha = Foundation.exp(m[r] - mNew)
                        l[r] = l[r] * alpha + sum
                        if alpha != 1 { scaleRow(op + r * d, d, by: alpha) }
                    }
                    m[r] = mNew
                }
                // O += P V   [rows × D]; the top span's staircase writes every row first.
                if top {
                    forEachRowBlock(br) { pb, positions, cols in
                        SmallGemm.multiply(
                            m: g * positions, n: d, k: cols, a: s + pb * g * ldS + below, aRow: ldS, aCol: 1,
                            b: v + shape.kvOffset(b, r0, hk), ldb: ldkv, c: op + pb * g * d, ldc: d, epilogue: .plain())
                    }
                }
                if below > 0 {
                    SmallGemm.multiply(
                        m: rows, n: d, k: below, a: s, aRow: ldS, aCol: 1, b: vj, ldb: ldkv, c: op, ldc: d, epilogue: .plain(beta: 1))
                }
                top = false
            }
            for r in 0..<rows {
                let p = r / g, h = hk * g + r % g
                let o = out + shape.qOffset(b, r0 + p, h), src = op + r * d, inv = 1 / l[r]
                for j in 0..<d { o[j] = src[j] * inv }
                lse[shape.row(b, r0 + p, h)] = m[r] + Foundation.log(l[r])
            }
        }
    }

    /// dq[B, T, Hq, D], dk and dv [B, T, Hkv, D] from dO = `gradOut` [B, T, Hq, D],
    /// recomputing each score tile from q, k and the saved lse; D_i = rowsum(dO ⊙ O).
    /// dk and dv sum over the query heads of a group; a gradient whose pointer is nil is skipped.
    static func backward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>, gradOut: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
        scale: Float, tiling: AttentionTiling
    ) {
        let shape = tiling.shape, tile = AttentionTiling.tile
        let d = shape.headDim, nQ = tiling.tiles, g = shape.group
        let ldkv = shape.kvStride, ldS = AttentionTiling.keySpan, maxRows = g * tile

        // Each (b, kv head) group's query tiles are split into `parts` contiguous runs of similar
        // cost; an item is one run. With one part an item owns its group's dk, dv rows; with
        // more, items accumulate into private buffers summed after.
        let groups = shape.batch * shape.kvHeads
        let workers = Parallel.threads
        var parts = 1
        while parts < workers, groups * parts % workers != 0, groups * parts < 4 * workers { parts += 1 }
        var unitCosts = [Int](repeating: 0, count: nQ)
        var itemUnits: [Range<Int>] = []
        var itemCosts: [Int] = []
        for gi in 0..<groups {
            let b = gi / shape.kvHeads
            for qt in 0..<nQ { unitCosts[qt] = tiling.cost(b, qt * tile, min(shape.length, (qt + 1) * tile)) }
            for run in balancedRanges(unitCosts, parts: parts) {
                itemUnits.append(run)
                itemCosts.append(run.reduce(0) { $0 + unitCosts[$1] })
            }
        }
        let partial = parts > 1 ? Tensor(uninitialized: [2, groups * parts, shape.length, d]) : nil
        let partLength = shape.length * d, partialStride = groups * parts * partLength

        let keysT = transposedHeads(k, shape), valuesT = transposedHeads(v, shape)
        // Per worker: packed Q, dO, dQ [g·tile × D]; P and dP/dS tiles [g·tile × keySpan]; lse and D per row.
        let packed = roundUp(3 * maxRows * d), tiles = tileFloats(rows: maxRows, ldS: ldS)
        let perWorker = packed + 2 * tiles + 2 * roundUp(maxRows)
        let runs = itemUnits
        // Per worker: each row's visible keys in the current span, for the epilogue that makes P.
        let ranges = UnsafeMutablePointer<Int32>.allocate(capacity: Parallel.threads * 2 * maxRows)
        defer { ranges.deallocate() }
        onWorkersClaiming(itemCosts, scratchPerWorker: perWorker) { item, worker, scratch in
            let qp = scratch, dop = qp + maxRows * d, dqp = dop + maxRows * d
            let p = scratch + packed, ds = p + tiles
            let rowLse = ds + tiles, rowDelta = rowLse + roundUp(maxRows)
            let visibleFrom = ranges + worker * 2 * maxRows, visibleTo = visibleFrom + maxRows
            let gi = item / parts, b = gi / shape.kvHeads, hk = gi % shape.kvHeads
            // Where this item's dk, dv rows go: the outputs themselves, or its private buffers.
            let dkBase: UnsafeMutablePointer<Float>?, dvBase: UnsafeMutablePointer<Float>?, ldOut: Int
            if let partial {
                dkBase = dk.map { _ in partial.data + item * partLength }
                dvBase = dv.map { _ in partial.data + partialStride + item * partLength }
                ldOut = d
            } else {
                dkBase = dk.map { $0 + shape.kvOffset(b, 0, hk) }
                dvBase = dv.map { $0 + shape.kvOffset(b, 0, hk) }
                ldOut = ldkv
            }
            // The item's own diagonal keys are first written by their staircase (`keysTimesRows`);
            // only the rows outside them start at zero.
            let ownKeys = runs[item].lowerBound * tile..<min(shape.length, runs[item].upperBound * tile)
            for t in 0..<shape.length where !ownKeys.contains(t) {
                dkBase?.advanced(by: t * ldOut).update(repeating: 0, count: d)
                dvBase?.advanced(by: t * ldOut).update(repeating: 0, count: d)
            }
            for qt in runs[item] {
                let r0 = qt * tile, br = min(tile, shape.length - r0), rows = g * br
                // Pack Q and dO; D = Σ dO ⊙ O and lse per row.
                for r in 0..<rows {
                    let pos = r0 + r / g, h = hk * g + r % g, at = shape.qOffset(b, pos, h)
                    (qp + r * d).update(from: q + at, count: d)
                    (dop + r * d).update(from: gradOut + at, count: d)
                    rowDelta[r] = dot(out + at, gradOut + at, d)
                    rowLse[r] = lse[shape.row(b, pos, h)]
                }
                var top = true
                tiling.forEachKeySpan(b, r0, r0 + br) { c0, c1 in
                    defer { top = false }
                    let below = (top ? r0 : c1) - c0
                    let kj = k + shape.kvOffset(b, c0, hk), kd = k + shape.kvOffset(b, r0, hk)
                    let headT = gi * d * shape.transposedStride
                    // P = exp(scale · Q Kᵀ − lse)   [rows × (below + diagonal staircase)], 0 where masked
                    for r in 0..<rows {
                        let (a, e) = tiling.visibleRange(b, r0 + r / g, c0, c1)
                        visibleFrom[r] = Int32(a)
                        visibleTo[r] = Int32(max(a, e))
                    }
                    scores(qp, keysT.data + headT, c0: c0, r0: r0, below: below, top: top, br: br, g: g, d: d,
                           ldT: shape.transposedStride, c: p, ldc: ldS,
                           .exp(alpha: scale, shift: rowLse, from: visibleFrom, to: visibleTo))
                    for r in 0..<rows {
                        let i = r0 + r / g
                        tiling.hideOtherSegments(p + r * ldS, b, i, c0, Int(visibleFrom[r]), Int(visibleTo[r]), value: 0)
                    }
                    // dV += Pᵀ dO   [keys × D]
                    if let dvBase {
                        keysTimesRows(p, dop, below: below, top: top, br: br, g: g, d: d, ldS: ldS, alpha: 1,
                                      c: dvBase + c0 * ldOut, ldc: ldOut)
                    }
                    guard dq != nil || dkBase != nil else { return }
                    // dS = P ⊙ (dO Vᵀ − D)   [rows × (below + diagonal staircase)]
                    scores(dop, valuesT.data + headT, c0: c0, r0: r0, below: below, top: top, br: br, g: g, d: d,
                           ldT: shape.transposedStride, c: ds, ldc: ldS, .softmaxGradient(delta: rowDelta, probabilities: p, ldp: ldS))
                    // dQ += scale · dS K   [rows × D]; the top span's staircase writes every row first.
                    if dq != nil {
                        if top {
                            forEachRowBlock(br) { pb, positions, cols in
                                SmallGemm.multiply(
                                    m: g * positions, n: d, k: cols, a: ds + pb * g * ldS + below, aRow: ldS, aCol: 1,
                                    b: kd, ldb: ldkv, c: dqp + pb * g * d, ldc: d, epilogue: .plain(alpha: scale))
                            }
                        }
                        if below > 0 {
                            SmallGemm.multiply(
                                m: rows, n: d, k: below, a: ds, aRow: ldS, aCol: 1, b: kj, ldb: ldkv, c: dqp, ldc: d,
                                epilogue: .plain(alpha: scale, beta: 1))
                        }
                    }
                    // dK += scale · dSᵀ Q   [keys × D]
                    if let dkBase {
                        keysTimesRows(ds, qp, below: below, top: top, br: br, g: g, d: d, ldS: ldS, alpha: scale,
                                      c: dkBase + c0 * ldOut, ldc: ldOut)
                    }
                }
                if let dq {
                    for r in 0..<rows {
                        (dq + shape.qOffset(b, r0 + r / g, hk * g + r % g)).update(from: dqp + r * d, count: d)
                    }
                }
            }
        }

        // Sum the parts of each group in part order.
        guard let partial else { return }
        func sumParts(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>) {
            dst.update(from: src, count: d)
            for part in 1..<parts {
                let s = src + part * partLength
                for j in 0..<d { dst[j] += s[j] }
            }
        }
        Parallel.forEachChunk(shape.batch * shape.length, minChunk: 16) { range in
            for bt in range {
                let b = bt / shape.length, t = bt % shape.length
                for hk in 0..<shape.kvHeads {
                    let first = (b * shape.kvHeads + hk) * parts * partLength + t * d
                    if let dk { sumParts(dk + shape.kvOffset(b, t, hk), partial.data + first) }
                    if let dv { sumParts(dv + shape.kvOffset(b, t, hk), partial.data + partialStride + first) }
                }
            }
        }
    }

    /// C = alpha · X Yᵀ over a span's score layout: X is packed [g·br × D]; Y's rows are keys, read
    /// transposed from yT [D × T] with row stride ldT (one head of `transposedHeads`): `below` keys from c0, then,
    /// when `top`, the diagonal tile's br keys from r0, as a staircase.
    @inline(__always)
    static func scores(
        _ x: UnsafePointer<Float>, _ yT: UnsafePointer<Float>, c0: Int, r0: Int,
        below: Int, top: Bool, br: Int, g: Int, d: Int, ldT: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, _ epilogue: slm_epilogue
    ) {
        SmallGemm.multiply(
            m: g * br, n: below, k: d, a: x, aRow: d, aCol: 1, b: yT + c0, ldb: ldT, c: c, ldc: ldc, epilogue: epilogue)
        guard top else { return }
        forEachRowBlock(br) { pb, positions, cols in
            SmallGemm.multiply(
                m: g * positions, n: cols, k: d, a: x + pb * g * d, aRow: d, aCol: 1, b: yT + r0, ldb: ldT,
                c: c + pb * g * ldc + below, ldc: ldc, epilogue: epilogue.advanced(rows: pb * g, columns: below))
        }
    }

    /// C[keys × D] += alpha · Aᵀ X for a span's score-layout A [g·br × keys] and packed X [g·br × D]:
    /// the keys below the diagonal tile as one block, the diagonal ones (rows `below` onward of C)
    /// in blocks seen only by the positions from their own onward. The diagonal keys are set, not
    /// added to: queries are visited tile by tile upward, so no earlier tile can have seen them.
    @inline(__always)
    static func keysTimesRows(
        _ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
        below: Int, top: Bool, br: Int, g: Int, d: Int, ldS: Int, alpha: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        SmallGemm.multiply(
            m: below, n: d, k: g * br, a: a, aRow: 1, aCol: ldS, b: x, ldb: d, c: c, ldc: ldc,
            epilogue: .plain(alpha: alpha, beta: 1))
        guard top else { return }
        var kb = 0
        while kb < br {
            let keys = min(AttentionTiling.diagonalBlock, br - kb)
            SmallGemm.multiply(
                m: keys, n: d, k: g * (br - kb), a: a + kb * g * ldS + below + kb, aRow: 1, aCol: ldS,
                b: x + kb * g * d, ldb: d, c: c + (below + kb) * ldc, ldc: ldc, epilogue: .plain(alpha: alpha))
            kb += keys
        }
    }

    /// x's kv heads transposed, [B, Hkv, D, T] with rows `transposedStride` apart, so that score
    /// products read keys as contiguous rows: head (b, hk) starts at (b · Hkv + hk) · D · transposedStride.
    static func transposedHeads(_ x: UnsafePointer<Float>, _ shape: AttentionShape) -> Tensor {
        let t = shape.length, d = shape.headDim, ldT = shape.transposedStride
        let result = Tensor(uninitialized: [shape.batch * shape.kvHeads, d, ldT])
        let out = result.data
        Parallel.forEachChunk(shape.batch * shape.kvHeads, minChunk: 1) { heads in
            for head in heads {
                let b = head / shape.kvHeads, hk = head % shape.kvHeads
                slm_transpose(x + shape.kvOffset(b, 0, hk), shape.kvStride, t, d, out + head * d * ldT, ldT)
            }
        }
        return result
    }

    /// Calls body(pb, positions, cols) for the staircase of a diagonal tile of br positions:
    /// blocks of `diagonalBlock` positions from pb, each computing only the `cols` keys up to
    /// its last position, the rest being causally masked.
    @inline(__always)
    static func forEachRowBlock(_ br: Int, _ body: (Int, Int, Int) -> Void) {
        var pb = 0
        while pb < br {
            let positions = min(AttentionTiling.diagonalBlock, br - pb)
            body(pb, positions, pb + positions)
            pb += positions
        }
    }

    /// Diagonal-tile columns the staircase computes for the row at position p of a br-position tile.
    @inline(__always)
    static func diagonalColumns(_ p: Int, _ br: Int) -> Int {
        min(br, (p / AttentionTiling.diagonalBlock + 1) * AttentionTiling.diagonalBlock)
    }

    typealias Vector = FastMath.Vector

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self) }

    /// `rowMax` on AVX-512 where `SmallGemm` runs there.
    @inline(__always)
    static func softmaxRowMax(_ x: UnsafePointer<Float>, _ a: Int, _ e: Int) -> Float {
        SmallGemm.runsOnAVX512 ? slm_row_max(x, a, e) : rowMax(x, a, e)
    }

    /// `expRow` on AVX-512 where `SmallGemm` runs there.
    @inline(__always)
    static func softmaxExpRow(_ x: UnsafeMutablePointer<Float>, _ a: Int, _ e: Int, _ n: Int, shift: Float) -> Float {
        SmallGemm.runsOnAVX512 ? slm_exp_row(x, a, e, n, shift) : expRow(x, a, e, n, shift: shift)
    }

    /// Largest of x[a..<e] (a < e); two SIMD8 (one AVX2 register each) accumulators. The last step
    /// loads 8 floats and ignores those from e on: reads reach up to 7 floats past e, which
    /// `AttentionKernels.tileFloats` keeps inside a score tile.
    @inline(__always)
    static func rowMax(_ x: UnsafePointer<Float>, _ a: Int, _ e: Int) -> Float {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var m0 = V(repeating: -.infinity), m1 = m0
        var j = a
        while j + 16 <= e {
            let u = load(x + j), w = load(x + j + 8)
            m0 = m0.replacing(with: u, where: u .> m0)
            m1 = m1.replacing(with: w, where: w .> m1)
            j += 16
        }
        while j < e {
            let u = load(x + j).replacing(with: -.infinity, where: lanes .>= Float(e - j))
            m1 = m1.replacing(with: u, where: u .> m1)
            j += 8
        }
        m0 = m0.replacing(with: m1, where: m1 .> m0)
        let half = m0.lowHalf.replacing(with: m0.highHalf, where: m0.highHalf .> m0.lowHalf)
        return max(max(half[0], half[1]), max(half[2], half[3]))
    }

    /// 0, 1, …, 7: lane numbers, to mask a row's last partial step (as floats: SIMD8<Int32>
    /// comparisons are made lane by lane through the stack).
    static var lanes: SIMD8<Float> { SIMD8(0, 1, 2, 3, 4, 5, 6, 7) }

    /// x[j] = exp(x[j] − shift) for j in a..<e and 0 for the other columns below n, returning the
    /// sum (two SIMD8 partial sums in a fixed order). x[j] − shift must be ≤ 0, as softmax arguments are.
    /// Like `rowMax`, the last step reads and rewrites up to 7 floats past e, unchanged.
    @inline(__always)
    static func expRow(_ x: UnsafeMutablePointer<Float>, _ a: Int, _ e: Int, _ n: Int, shift: Float) -> Float {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        if a > 0 { x.update(repeating: 0, count: a) }
        var s0 = V(), s1 = V()
        var j = a
        while j + 16 <= e {
            let p0 = expNonPositive(load(x + j) - shift), p1 = expNonPositive(load(x + j + 8) - shift)
            store(p0, x + j)
            store(p1, x + j + 8)
            s0 += p0
            s1 += p1
            j += 16
        }
        while j < e {
            // Lanes from e on are read as `masked` (exp exactly 0) and written back unchanged.
            let u = load(x + j), past = lanes .>= Float(e - j)
            let p = expNonPositive(u.replacing(with: AttentionTiling.masked, where: past) - shift)
            store(p.replacing(with: u, where: past), x + j)
            s1 += p
            j += 8
        }
        if e < n { (x + e).update(repeating: 0, count: n - e) }
        let total = s0 + s1
        let half = total.lowHalf + total.highHalf
        return (half[0] + half[2]) + (half[1] + half[3])
    }

    /// exp(x) for x ≤ 0 (softmax arguments): `FastMath.exp`'s Cephes expf on one AVX2 register with
    /// fused multiply-adds; exactly 0 below −87. The cut sits above FastMath's −87.3 because exp there
    /// is subnormal, and every lane clamped to the cut (masked scores, padding) would otherwise make a
    /// subnormal product, which costs a microcode assist.
    @inline(__always)
    static func expNonPositive(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let lower: Float = -87
        let underflow = x .< lower
        let v = x.replacing(with: lower, where: underflow)
        // 1.5·2²³ rounds v·log2(e) to an integer kept in the low mantissa bits (see `FastMath.exp`).
        let shifter = V(repeating: 0x1.8p23)
        let shifted = shifter.addingProduct(v, V(repeating: 1.44269504088896341))
        let n = shifted - shifter
        let r = v.addingProduct(n, V(repeating: -0.693359375)).addingProduct(n, V(repeating: 2.12194440e-4))
        var p = V(repeating: 1.3981999507e-3).addingProduct(r, V(repeating: 1.9875691500e-4))
        p = V(repeating: 8.3334519073e-3).addingProduct(p, r)
        p = V(repeating: 4.1665795894e-2).addingProduct(p, r)
        p = V(repeating: 1.6666665459e-1).addingProduct(p, r)
        p = V(repeating: 5.0000001201e-1).addingProduct(p, r)
        let y = (r + 1).addingProduct(p, r * r)
        let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return (y * unsafeBitCast(bits, to: V.self)).replacing(with: 0, where: underflow)
    }

    /// Σ x[j]·y[j] over n floats.
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD4<Float>
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var a0 = V(), a1 = V()
        var j = 0
        while j + 8 <= n {
            a0 += load(x + j) * load(y + j)
            a1 += load(x + j + 4) * load(y + j + 4)
            j += 8
        }
        a0 += a1
        var acc = (a0[0] + a0[2]) + (a0[1] + a0[3])
        while j < n {
            acc += x[j] * y[j]
            j += 1
        }
        return acc
    }

    /// ds[j] = p[j] · (ds[j] − delta): the softmax backward of one row, in place on dP.
    @inline(__always)
    static func softmaxGradRow(_ p: UnsafePointer<Float>, _ ds: UnsafeMutablePointer<Float>, _ n: Int, _ delta: Float) {
        var j = 0
        while j + 16 <= n {
            store(load(p + j) * (load(ds + j) - delta), ds + j)
            j += 16
        }
        while j < n {
            ds[j] = p[j] * (ds[j] - delta)
            j += 1
        }
    }

    @inline(__always)
    static func scaleRow(_ x: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        for j in 0..<n { x[j] *= s }
    }

    /// Floats of a score tile of `rows` rows `ldS` apart, with room for the 8-float steps of `rowMax`
    /// and `expRow` that read past a row's last column.
    static func tileFloats(rows: Int, ldS: Int) -> Int { roundUp(rows * ldS + 8) }

    /// Floats rounded up to a 64-byte multiple, so workers' scratch never shares a cache line.
    static func roundUp(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    /// Runs `body(items, scratch)` on `Parallel.threads` workers, each taking a contiguous run of
    /// items of similar total cost and its own `scratchPerWorker` floats; OpenBLAS is
    /// single-threaded meanwhile.
    static func onWorkers(
        _ costs: [Int], scratchPerWorker: Int, _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void
    ) {
        let workers = min(Parallel.threads, max(costs.count, 1))
        let runs = balancedRanges(costs, parts: workers)
        onWorkerThreads(workers, scratchPerWorker: scratchPerWorker) { w, scratch in body(runs[w], scratch) }
    }

    /// Runs `body(item, worker, scratch)` for every item on min(`Parallel.threads`, items) workers,
    /// numbered from 0, each with its own `scratchPerWorker` floats; OpenBLAS is single-threaded
    /// meanwhile. Workers claim items one at a time, costliest first, so a worker the OS delays
    /// leaves its share to the others; which worker runs an item does not change what it computes.
    static func onWorkersClaiming(
        _ costs: [Int], scratchPerWorker: Int, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        let workers = min(Parallel.threads, max(costs.count, 1))
        let order = costs.indices.sorted { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }
        let next = Atomic<Int>(0)
        onWorkerThreads(workers, scratchPerWorker: scratchPerWorker) { worker, scratch in
            while true {
                let claimed = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard claimed < order.count else { return }
                body(order[claimed], worker, scratch)
            }
        }
    }

    /// `body(worker, its scratch)` on `workers` threads, with OpenBLAS single-threaded meanwhile
    /// (each worker calls it for its own tiles).
    private static func onWorkerThreads(
        _ workers: Int, scratchPerWorker: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        let scratch = Tensor(uninitialized: [workers, scratchPerWorker])
        let base = scratch.data
        if workers > 1 { openblas_set_num_threads(1) }
        Parallel.forEach(workers) { w in body(w, base + w * scratchPerWorker) }
        if workers > 1 { openblas_set_num_threads(Int32(Parallel.threads)) }
    }

    /// Splits items with the given costs into `parts` contiguous runs of near-equal total cost:
    /// item i goes to the part holding the midpoint of its cost in the running total.
    static func balancedRanges(_ costs: [Int], parts: Int) -> [Range<Int>] {
        let total = costs.reduce(0, +)
        var bounds = [Int](repeating: costs.count, count: parts + 1)
        bounds[0] = 0
        var prefix = 0, part = 0
        for (i, c) in costs.enumerated() {
            let p = total == 0 ? 0 : min(parts - 1, (2 * prefix + c) * parts / (2 * total))
            while part < p {
                part += 1
                bounds[part] = i
            }
            prefix += c
        }
        return (0..<parts).map { bounds[$0]..<bounds[$0 + 1] }
    }
}

extension Reference {
    /// Causal attention from the full score matrix of each head, accumulated in Double:
    /// q [B, T, Hq, D], k and v [B, T, Hkv, D] → [B, T, Hq, D].
    public static func causalAttention(
        q: Tensor, k: Tensor, v: Tensor, scale: Float, mask: AttentionMask = .init()
    ) throws -> Tensor {
        let shape = try AttentionShape(validating: q, k, v, scale: scale, mask: mask)
        let out = Tensor(uninitialized: q.shape)
        let t = shape.length, d = shape.headDim
        for b in 0..<shape.batch {
            for h in 0..<shape.queryHeads {
                let p = referenceProbabilities(q, k, shape, scale, mask, b, h)
                let hk = h / shape.group
                for i in 0..<t {
                    for c in 0..<d {
                        var acc = 0.0
                        for j in 0..<t where p[i][j] != 0 { acc += p[i][j] * Double(v.data[shape.kvOffset(b, j, hk) + c]) }
                        out.data[shape.qOffset(b, i, h) + c] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    /// Gradients of `causalAttention` for output gradient dO [B, T, Hq, D], from the full
    /// probability matrix: dV = Pᵀ dO, dS = P ⊙ (dO Vᵀ − rowsum(P ⊙ dO Vᵀ)), dQ = scale · dS K,
    /// dK = scale · dSᵀ Q, with dK and dV summed over the query heads of each kv head.
    public static func causalAttentionBackward(
        q: Tensor, k: Tensor, v: Tensor, gradOut: Tensor, scale: Float, mask: AttentionMask = .init()
    ) throws -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let shape = try AttentionShape(validating: q, k, v, scale: scale, mask: mask)
        guard gradOut.shape == q.shape else { throw TensorError.shapeMismatch("causalAttention", gradOut.shape, q.shape) }
        let t = shape.length, d = shape.headDim
        var dq = [Double](repeating: 0, count: q.count)
        var dk = [Double](repeating: 0, count: k.count), dv = [Double](repeating: 0, count: v.count)
        for b in 0..<shape.batch {
            for h in 0..<shape.queryHeads {
                let hk = h / shape.group
                let p = referenceProbabilities(q, k, shape, scale, mask, b, h)
                for i in 0..<t {
                    var dp = [Double](repeating: 0, count: t)
                    var rowDot = 0.0
                    for j in 0..<t where p[i][j] != 0 {
                        for c in 0..<d {
                            dp[j] += Double(gradOut.data[shape.qOffset(b, i, h) + c]) * Double(v.data[shape.kvOffset(b, j, hk) + c])
                        }
                        rowDot += p[i][j] * dp[j]
                    }
                    for j in 0..<t where p[i][j] != 0 {
                        let ds = p[i][j] * (dp[j] - rowDot) * Double(scale)
                        for c in 0..<d {
                            let qi = shape.qOffset(b, i, h) + c, kj = shape.kvOffset(b, j, hk) + c
                            dq[qi] += ds * Double(k.data[kj])
                            dk[kj] += ds * Double(q.data[qi])
                            dv[kj] += p[i][j] * Double(gradOut.data[qi])
                        }
                    }
                }
            }
        }
        return (
            try Tensor(dq.map { Float($0) }, shape: q.shape),
            try Tensor(dk.map { Float($0) }, shape: k.shape),
            try Tensor(dv.map { Float($0) }, shape: v.shape))
    }

    /// Softmax probabilities P[i][j] of head h in batch row b (0 where the mask hides key j from query i).
    private static func referenceProbabilities(
        _ q: Tensor, _ k: Tensor, _ shape: AttentionShape, _ scale: Float, _ mask: AttentionMask, _ b: Int, _ h: Int
    ) -> [[Double]] {
        let t = shape.length, d = shape.headDim, hk = h / shape.group
        var p = [[Double]](repeating: [Double](repeating: 0, count: t), count: t)
        for i in 0..<t {
            var scores = [Double?](repeating: nil, count: t)
            for j in 0..<t where mask.allows(query: i, key: j, batch: b, length: t) {
                var acc = 0.0
                for c in 0..<d { acc += Double(q.data[shape.qOffset(b, i, h) + c]) * Double(k.data[shape.kvOffset(b, j, hk) + c]) }
                scores[j] = acc * Double(scale)
            }
            let m = scores.compactMap { $0 }.max()!
            var sum = 0.0
            for j in 0..<t { if let s = scores[j] { p[i][j] = Foundation.exp(s - m); sum += p[i][j] } }
            for j in 0..<t { p[i][j] /= sum }
        }
        return p
    }
}
