import CBLAS
import Foundation

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

/// How scores are tiled, and what the tiles need to know about the mask: which key
/// chunks a query tile visits, whether a chunk needs element-wise masking, and the masking.
///
/// A query tile is `tile` rows. It visits key chunks of up to `keyChunk` keys below
/// its first row, then the diagonal tile (its own positions), which is cut into a
/// staircase of `diagonalBlock`-row blocks so that the causally masked upper
/// triangle is mostly not computed. Sizes were picked by measurement on
/// SmolLM2-135M shapes (D = 64) with OpenBLAS: 64 / 128 / 16.
struct AttentionTiling {
    /// Query rows per tile, and the size of the diagonal tile.
    static let tile = 64
    /// Rows per step of the diagonal tile's staircase.
    static let diagonalBlock = 16
    /// Keys per chunk below the diagonal tile, a multiple of `tile`: a score tile is at most tile × keyChunk.
    static let keyChunk = 128
    /// Score of a masked pair: finite, so a tile whose row is entirely masked
    /// gives exp(0) there until a visible key's larger maximum rescales it to 0.
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

    /// Calls body(c0, bc, diagonal) for the key chunks that query rows r0..<r1 (one query tile) of
    /// batch row b must visit, in key order: chunks of up to `keyChunk` keys below r0, starting at
    /// the tile holding the lowest visible key, then the diagonal tile r0..<r1 itself.
    @inline(__always)
    func forEachKeyChunk(_ b: Int, _ r0: Int, _ r1: Int, _ body: (Int, Int, Bool) -> Void) {
        var lo = r0
        for i in r0..<r1 { lo = min(lo, lowestKey[b * shape.length + i]) }
        var c0 = lo / Self.tile * Self.tile
        while c0 < r0 {
            let bc = min(Self.keyChunk, r0 - c0)
            body(c0, bc, false)
            c0 += bc
        }
        body(r0, r1 - r0, true)
    }

    /// Work of query rows r0..<r1 of batch row b: the scores of the key chunks they visit.
    func cost(_ b: Int, _ r0: Int, _ r1: Int) -> Int {
        var keys = 0
        forEachKeyChunk(b, r0, r1) { _, bc, _ in keys += bc }
        return keys * (r1 - r0)
    }

    /// Whether some pair of query rows r0..<r1 and keys c0..<c1 is invisible.
    func needsMask(_ b: Int, _ r0: Int, _ r1: Int, _ c0: Int, _ c1: Int) -> Bool {
        if c1 - 1 > r0 { return true }
        if let w = mask.slidingWindow, r1 - 1 - c0 >= w { return true }
        if mask.segments != nil, runStart[b * shape.length + r1 - 1] > c0 { return true }
        return false
    }

    /// Sets invisible scores of the tile s[br × bc] (row stride ld) to `masked`.
    func apply(_ s: UnsafeMutablePointer<Float>, ld: Int, _ b: Int, _ r0: Int, _ br: Int, _ c0: Int, _ bc: Int) {
        let t = shape.length
        for r in 0..<br {
            let i = r0 + r, row = s + r * ld
            // Visible keys of row i lie in lo...i; everything outside is masked.
            var lo = c0
            if let w = mask.slidingWindow { lo = max(lo, i - w + 1) }
            let hi = min(c0 + bc, i + 1)
            if lo >= hi {
                row.update(repeating: Self.masked, count: bc)
                continue
            }
            if lo > c0 { row.update(repeating: Self.masked, count: lo - c0) }
            if hi < c0 + bc { (row + (hi - c0)).update(repeating: Self.masked, count: c0 + bc - hi) }
            if let segments = mask.segments, runStart[b * t + i] > lo {
                segments.withUnsafeBufferPointer { seg in
                    let id = seg[b * t + i], keys = seg.baseAddress! + b * t
                    for j in lo..<hi where keys[j] != id { row[j - c0] = Self.masked }
                }
            }
        }
    }
}

/// FlashAttention-2 forward and backward on OpenBLAS tiles.
///
/// Work is split into (b, h, query tile) items (forward) or (b, kv head, part)
/// items (backward), spread over `Parallel.threads` workers by a static plan that
/// depends only on the shapes, the mask and the thread count; every output
/// element is written by one item in a fixed order, so results are bitwise
/// reproducible. OpenBLAS runs single-threaded inside the region (each worker
/// calls it for its own small tiles) and is restored to `Parallel.threads` after.
enum AttentionKernels {
    /// out[B, T, Hq, D] = softmax(scale · q kᵀ + mask) v per head, and lse[B, T, Hq] = log Σ_j exp(scores).
    static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        scale: Float, tiling: AttentionTiling
    ) {
        let shape = tiling.shape, tile = AttentionTiling.tile
        let d = shape.headDim, nQ = tiling.tiles
        let ldq = shape.qStride, ldkv = shape.kvStride

        // Items (b, h, query tile), costed by the scores they compute.
        let items = shape.batch * shape.queryHeads * nQ
        var costs = [Int](repeating: 0, count: items)
        for item in 0..<items {
            let qt = item % nQ, b = item / nQ / shape.queryHeads
            costs[item] = tiling.cost(b, qt * tile, min(shape.length, (qt + 1) * tile))
        }
        // Per worker: the score tile S [tile × keyChunk], then m, l, Δm, α, Σ p per row.
        let ldS = AttentionTiling.keyChunk
        let perWorker = roundUp(tile * ldS + 5 * tile)
        onWorkers(costs, scratchPerWorker: perWorker) { range, scratch in
            let s = scratch, m = s + tile * ldS, l = m + tile, dm = l + tile, alpha = dm + tile, rowSum = alpha + tile
            for item in range {
                let qt = item % nQ, bh = item / nQ, h = bh % shape.queryHeads, b = bh / shape.queryHeads
                let r0 = qt * tile, br = min(tile, shape.length - r0), hk = h / shape.group
                let qi = q + shape.qOffset(b, r0, h), oi = out + shape.qOffset(b, r0, h)
                m.update(repeating: -.infinity, count: br)
                l.update(repeating: 0, count: br)
                var first = true
                tiling.forEachKeyChunk(b, r0, r0 + br) { c0, bc, diagonal in
                    let kj = k + shape.kvOffset(b, c0, hk), vj = v + shape.kvOffset(b, c0, hk)
                    // S = scale · Q_i K_jᵀ   [br × bc]
                    forEachRowBlock(br, bc, diagonal: diagonal) { rb, rows, cols in
                        Gemm.sgemm(
                            transA: false, transB: true, m: rows, n: cols, k: d, alpha: scale,
                            a: qi + rb * ldq, lda: ldq, b: kj, ldb: ldkv, c: s + rb * ldS, ldc: ldS)
                    }
                    if tiling.needsMask(b, r0, r0 + br, c0, c0 + bc) { tiling.apply(s, ld: ldS, b, r0, br, c0, bc) }
                    // Online softmax: P = exp(S − m_new), α = exp(m_old − m_new), l = α·l + Σ P.
                    forEachRowBlock(br, bc, diagonal: diagonal) { rb, rows, cols in
                        for r in rb..<(rb + rows) {
                            let row = s + r * ldS
                            let mNew = max(m[r], rowMax(row, cols))
                            rowSum[r] = FastMath.expShifted(row, row, count: cols, shift: mNew)
                            dm[r] = m[r] - mNew
                            m[r] = mNew
                        }
                    }
                    _ = FastMath.expShifted(dm, alpha, count: br, shift: 0)
                    for r in 0..<br { l[r] = l[r] * alpha[r] + rowSum[r] }
                    if !first {
                        for r in 0..<br where alpha[r] != 1 { scaleRow(oi + r * ldq, d, by: alpha[r]) }
                    }
                    // O_i = α·O_i + P V_j   [br × D]
                    forEachRowBlock(br, bc, diagonal: diagonal) { rb, rows, cols in
                        Gemm.sgemm(
                            transA: false, transB: false, m: rows, n: d, k: cols,
                            a: s + rb * ldS, lda: ldS, b: vj, ldb: ldkv,
                            beta: first ? 0 : 1, c: oi + rb * ldq, ldc: ldq)
                    }
                    first = false
                }
                for r in 0..<br {
                    scaleRow(oi + r * ldq, d, by: 1 / l[r])
                    lse[shape.row(b, r0 + r, h)] = m[r] + Foundation.log(l[r])
                }
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
        let d = shape.headDim, nQ = tiling.tiles
        let ldq = shape.qStride, ldkv = shape.kvStride, group = shape.group

        // D_i = Σ_d dO ⊙ O for every query row (b, t, h).
        let rows = shape.batch * shape.length * shape.queryHeads
        let rowDot = Tensor(uninitialized: [rows])
        let delta = rowDot.data
        Parallel.forEachChunk(rows, minChunk: 256) { range in
            for i in range {
                let o = out + i * d, g = gradOut + i * d
                var acc: Float = 0
                for j in 0..<d { acc += o[j] * g[j] }
                delta[i] = acc
            }
        }

        // Each (b, kv head) group's units (query head of the group, query tile) are split into
        // `parts` contiguous runs of similar cost; an item is one run. With one part an item owns
        // its group's dk, dv rows; with more, items accumulate into private buffers summed after.
        let groups = shape.batch * shape.kvHeads
        let workers = Parallel.threads
        var parts = 1
        while parts < workers, groups * parts % workers != 0, groups * parts < 4 * workers { parts += 1 }
        var unitCosts = [Int](repeating: 0, count: group * nQ)
        var itemUnits: [Range<Int>] = []
        var itemCosts: [Int] = []
        for gi in 0..<groups {
            let b = gi / shape.kvHeads
            for u in unitCosts.indices {
                let qt = u % nQ
                unitCosts[u] = tiling.cost(b, qt * tile, min(shape.length, (qt + 1) * tile))
            }
            for run in balancedRanges(unitCosts, parts: parts) {
                itemUnits.append(run)
                itemCosts.append(run.reduce(0) { $0 + unitCosts[$1] })
            }
        }
        let partial = parts > 1 ? Tensor(uninitialized: [2, groups * parts, shape.length, d]) : nil
        let partLength = shape.length * d, partialStride = groups * parts * partLength

        // Per worker: P and dP/dS tiles [tile × keyChunk], lse and D of the tile's rows.
        let ldS = AttentionTiling.keyChunk
        let perWorker = roundUp(2 * tile * ldS + 2 * tile)
        let runs = itemUnits
        onWorkers(itemCosts, scratchPerWorker: perWorker) { range, scratch in
            let p = scratch, ds = p + tile * ldS, rowLse = ds + tile * ldS, rowDelta = rowLse + tile
            for item in range {
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
                for t in 0..<shape.length {
                    dkBase?.advanced(by: t * ldOut).update(repeating: 0, count: d)
                    dvBase?.advanced(by: t * ldOut).update(repeating: 0, count: d)
                }
                for u in runs[item] {
                    let h = hk * group + u / nQ, qt = u % nQ
                    let r0 = qt * tile, br = min(tile, shape.length - r0)
                    let qi = q + shape.qOffset(b, r0, h), doi = gradOut + shape.qOffset(b, r0, h)
                    let dqi = dq.map { $0 + shape.qOffset(b, r0, h) }
                    for r in 0..<br {
                        rowLse[r] = lse[shape.row(b, r0 + r, h)]
                        rowDelta[r] = delta[shape.row(b, r0 + r, h)]
                    }
                    var firstKey = true
                    tiling.forEachKeyChunk(b, r0, r0 + br) { c0, bc, diagonal in
                        let kj = k + shape.kvOffset(b, c0, hk), vj = v + shape.kvOffset(b, c0, hk)
                        // P = exp(scale · Q_i K_jᵀ − lse)   [br × bc]
                        forEachRowBlock(br, bc, diagonal: diagonal) { rb, rows, cols in
                            Gemm.sgemm(
                                transA: false, transB: true, m: rows, n: cols, k: d, alpha: scale,
                                a: qi + rb * ldq, lda: ldq, b: kj, ldb: ldkv, c: p + rb * ldS, ldc: ldS)
                        }
                        if tiling.needsMask(b, r0, r0 + br, c0, c0 + bc) { tiling.apply(p, ld: ldS, b, r0, br, c0, bc) }
                        forEachRowBlock(br, bc, diagonal: diagonal) { rb, rows, cols in
                            for r in rb..<(rb + rows) {
                                _ = FastMath.expShifted(p + r * ldS, p + r * ldS, count: cols, shift: rowLse[r])
                            }
                        }
                        // dV_j += Pᵀ dO_i   [bc × D]
                        if let dvBase {
                            forEachKeyBlock(br, bc, diagonal: diagonal) { kb, keys, r in
                                Gemm.sgemm(
                                    transA: true, transB: false, m: keys, n: d, k: br - r,
                                    a: p + r * ldS + kb, lda: ldS, b: doi + r * ldq, ldb: ldq,
                                    beta: 1, c: dvBase + (c0 + kb) * ldOut, ldc: ldOut)
                            }
                        }
                        guard dqi != nil || dkBase != nil else { return }
                        // dS = P ⊙ (dO_i V_jᵀ − D_i)   [br × bc]
                        forEachRowBlock(br, bc, diagonal: diagonal) { rb, rows, cols in
                            Gemm.sgemm(
                                transA: false, transB: true, m: rows, n: cols, k: d,
                                a: doi + rb * ldq, lda: ldq, b: vj, ldb: ldkv, c: ds + rb * ldS, ldc: ldS)
                            for r in rb..<(rb + rows) { softmaxGradRow(p + r * ldS, ds + r * ldS, cols, rowDelta[r]) }
                        }
                        // dQ_i += scale · dS K_j   [br × D]
                        if let dqi {
                            forEachRowBlock(br, bc, diagonal: diagonal) { rb, rows, cols in
                                Gemm.sgemm(
                                    transA: false, transB: false, m: rows, n: d, k: cols, alpha: scale,
                                    a: ds + rb * ldS, lda: ldS, b: kj, ldb: ldkv,
                                    beta: firstKey ? 0 : 1, c: dqi + rb * ldq, ldc: ldq)
                            }
                        }
                        // dK_j += scale · dSᵀ Q_i   [bc × D]
                        if let dkBase {
                            forEachKeyBlock(br, bc, diagonal: diagonal) { kb, keys, r in
                                Gemm.sgemm(
                                    transA: true, transB: false, m: keys, n: d, k: br - r, alpha: scale,
                                    a: ds + r * ldS + kb, lda: ldS, b: qi + r * ldq, ldb: ldq,
                                    beta: 1, c: dkBase + (c0 + kb) * ldOut, ldc: ldOut)
                            }
                        }
                        firstKey = false
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

    /// Calls body(rb, rows, cols) for the row blocks of a br × bc score tile whose keys start at its
    /// first query (`diagonal`) or end before it: the diagonal tile is cut into a staircase of
    /// `diagonalBlock`-row blocks, each computing only the `cols` keys up to its last row, the
    /// rest being causally masked; any other tile is one block.
    @inline(__always)
    static func forEachRowBlock(_ br: Int, _ bc: Int, diagonal: Bool, _ body: (Int, Int, Int) -> Void) {
        guard diagonal else { return body(0, br, bc) }
        var rb = 0
        while rb < br {
            let rows = min(AttentionTiling.diagonalBlock, br - rb)
            body(rb, rows, min(bc, rb + rows))
            rb += rows
        }
    }

    /// Calls body(kb, keys, firstRow) for the key blocks of a br × bc tile, the transpose of
    /// `forEachRowBlock`: on the diagonal, keys kb..<kb+keys are seen by rows firstRow = kb onward.
    @inline(__always)
    static func forEachKeyBlock(_ br: Int, _ bc: Int, diagonal: Bool, _ body: (Int, Int, Int) -> Void) {
        guard diagonal else { return body(0, bc, 0) }
        var kb = 0
        while kb < bc {
            let keys = min(AttentionTiling.diagonalBlock, bc - kb)
            body(kb, keys, kb)
            kb += keys
        }
    }

    /// ds[j] = p[j] · (ds[j] − delta): the softmax backward of one row, in place on dP.
    @inline(__always)
    static func softmaxGradRow(_ p: UnsafePointer<Float>, _ ds: UnsafeMutablePointer<Float>, _ n: Int, _ delta: Float) {
        for j in 0..<n { ds[j] = p[j] * (ds[j] - delta) }
    }

    /// Largest of x[0..<n] (four SIMD4 accumulators stay in registers; `FastMath.max`'s SIMD16
    /// accumulator round-trips through the stack at the x86-64 baseline).
    @inline(__always)
    static func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD4<Float>
        var m0 = V(repeating: -.infinity), m1 = m0, m2 = m0, m3 = m0
        var j = 0
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        while j + 16 <= n {
            let a = load(x + j), b = load(x + j + 4), c = load(x + j + 8), d = load(x + j + 12)
            m0 = m0.replacing(with: a, where: a .> m0)
            m1 = m1.replacing(with: b, where: b .> m1)
            m2 = m2.replacing(with: c, where: c .> m2)
            m3 = m3.replacing(with: d, where: d .> m3)
            j += 16
        }
        m0 = m0.replacing(with: m1, where: m1 .> m0)
        m2 = m2.replacing(with: m3, where: m3 .> m2)
        m0 = m0.replacing(with: m2, where: m2 .> m0)
        var best = max(max(m0[0], m0[1]), max(m0[2], m0[3]))
        while j < n {
            best = max(best, x[j])
            j += 1
        }
        return best
    }

    @inline(__always)
    static func scaleRow(_ x: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        for j in 0..<n { x[j] *= s }
    }

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
        let scratch = Tensor(uninitialized: [workers, scratchPerWorker])
        let base = scratch.data
        if workers > 1 { openblas_set_num_threads(1) }
        Parallel.forEach(workers) { w in body(runs[w], base + w * scratchPerWorker) }
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
