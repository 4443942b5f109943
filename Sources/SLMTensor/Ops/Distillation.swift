import Foundation

/// What the distillation term of `Tensor.lossHead` measures between the student
/// distribution p and the teacher distribution q (both after temperature), exactly as
/// TRL's `GKDTrainer.generalized_jsd_loss` defines it:
///
/// - `forwardKL`: KL(q‖p) = Σ q·log(q/p), the classic distillation loss (TRL β = 0);
/// - `reverseKL`: KL(p‖q) = Σ p·log(p/q), mode-seeking (TRL β = 1);
/// - `jsd(beta:)`: β·KL(q‖m) + (1−β)·KL(p‖m) with m = (1−β)·p + β·q. As in TRL, β = 0
///   and β = 1 mean the two KLs above (the mixture formula itself vanishes there).
public enum Divergence: Sendable, Equatable {
    case forwardKL
    case reverseKL
    case jsd(beta: Float)
}

/// How a top-k teacher's missing tail is treated.
///
/// - `renormalized`: teacher and student are both restricted to the teacher's k ids and
///   renormalised there; the rest of the vocabulary gets no distillation gradient.
/// - `tailBucket`: k + 1 buckets, the k ids plus one bucket for everything else, holding
///   1 − Σ p over the ids for the student and 1 − Σ exp(logprob) for the teacher.
public enum TopKTail: Sendable, Equatable {
    case renormalized
    case tailBucket
}

/// The teacher side of a distillation loss, one entry per position of `hidden`.
///
/// Temperature T acts on bucket distributions: a distribution (p_b) over buckets becomes
/// p_b^(1/T) / Σ_c p_c^(1/T), for student and teacher alike. With full logits every token is
/// its own bucket, so this is softmax(logits / T). For `.renormalized` the buckets are the k
/// ids, and it equals softmax over the ids of logprob / T: exactly the tempered teacher
/// restricted to its top k. For `.tailBucket` the tail is tempered as if it were one token:
/// q_tail^(1/T), with q_tail = 1 − Σ exp(logprob); the student's buckets are tempered the same
/// way, so a student equal to the teacher has zero loss at every T.
public enum TeacherTargets {
    /// Teacher logits [N, V] (or [..., V] with hidden's leading dimensions). `positions[n]`
    /// false means position n has no teacher entry; nil means every position has one.
    /// Logits must be finite.
    case full(logits: Tensor, positions: [Bool]? = nil)
    /// The teacher's k most likely ids at each position ([N × k], row-major) and their
    /// log-probabilities at T = 1 ([N × k]), as an OpenAI-style `top_logprobs` gives them.
    /// An id of -1 marks an unused slot (a position with fewer than k alternatives); a position
    /// whose k slots are all -1 has no teacher entry. Log-probabilities must be ≤ 0 (−∞ allowed);
    /// below −100 they count as −100, as do empty tail buckets.
    case topK(ids: [Int32], logprobs: [Float], k: Int, tail: TopKTail)
}

/// One position's share of the loss: its cross-entropy (0 without a label), its divergence D
/// at temperature T (before the T² factor) and KL(teacher‖student) at T = 1 over the teacher's
/// support (both 0 without a teacher entry).
struct RowLoss {
    var crossEntropy = 0.0, divergence = 0.0, trueKL = 0.0
    var isFinite: Bool { crossEntropy.isFinite && divergence.isFinite && trueKL.isFinite }
}

/// How much of each term reaches one position's gradient:
/// dL/dlogits = ce · (softmax − onehot(label)) + kd · dD/dlogits.
struct RowScales {
    var ce: Float, kd: Float
}

/// The per-bucket arithmetic of a `Divergence`, on 16 buckets at a time.
struct DivergenceKernel {
    enum Kind { case forwardKL, reverseKL, jsd }
    let kind: Kind
    let beta: Float, logBeta: Float, logOneMinusBeta: Float

    init(_ divergence: Divergence) {
        switch divergence {
        case .forwardKL, .jsd(beta: 0): (kind, beta) = (.forwardKL, 0)
        case .reverseKL, .jsd(beta: 1): (kind, beta) = (.reverseKL, 1)
        case .jsd(let b): (kind, beta) = (.jsd, b)
        }
        logBeta = Foundation.log(beta)
        logOneMinusBeta = Foundation.log(1 - beta)
    }

    /// For student log-probabilities `lp` and teacher log-probabilities `lq` of 16 buckets:
    /// `term`, each bucket's share of D; `g` = ∂D/∂lp, reading D as a function of
    /// unnormalised log-probabilities; `p` = exp(lp).
    ///
    /// Forward KL: term q·(lq − lp), g = −q. Reverse KL: term p·(lp − lq), g = p·(lp − lq)
    /// (the exact g has + p, which the softmax Jacobian cancels). JSD: term
    /// β·q·(lq − lm) + (1−β)·p·(lp − lm), g = (1−β)·p·(lp − lm), lm = log m computed as a
    /// log-sum-exp so that it stays finite when p or q underflows.
    @inline(__always)
    func terms(_ lp: FastMath.Vector, _ lq: FastMath.Vector) -> (term: FastMath.Vector, g: FastMath.Vector, p: FastMath.Vector) {
        let p = FastMath.exp(lp)
        switch kind {
        case .forwardKL:
            let q = FastMath.exp(lq)
            return (q * (lq - lp), -q, p)
        case .reverseKL:
            let t = p * (lp - lq)
            return (t, t, p)
        case .jsd:
            let q = FastMath.exp(lq)
            let a = lp + logOneMinusBeta, b = lq + logBeta
            let aIsHigher = a .> b  // not pointwiseMax/Min, which are lowered lane by lane
            let hi = b.replacing(with: a, where: aIsHigher), lo = a.replacing(with: b, where: aIsHigher)
            let lm = hi + FastMath.log(1 + FastMath.exp(lo - hi))
            let g = (1 - beta) * p * (lp - lm)
            return (beta * q * (lq - lm) + g, g, p)
        }
    }
}

/// Loops over an array 16 lanes at a time; the last block may be partial.
enum SIMDBlocks {
    typealias Vector = FastMath.Vector
    static let width = Vector.scalarCount
    static let laneIndex = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// Calls `body(offset, lanes)` for consecutive blocks of `count` elements.
    @inline(__always)
    static func forEach(_ count: Int, _ body: (_ offset: Int, _ lanes: Int) -> Void) {
        var i = 0
        while i < count {
            body(i, Swift.min(width, count - i))
            i += width
        }
    }

    /// `lanes` values from `p`, the remaining lanes set to `pad`.
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ lanes: Int, pad: Float) -> Vector {
        if lanes == width { return UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }
        var v = Vector(repeating: pad)
        for l in 0..<lanes { v[l] = p[l] }
        return v
    }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        if lanes == width {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
        } else {
            for l in 0..<lanes { p[l] = v[l] }
        }
    }

    /// A sum of blocks: 64 blocks at a time in Float lanes, then in Double.
    struct Sum {
        private var lanes = Vector(), blocks = 0
        private var total = 0.0

        /// Adds the first `count` lanes of `v`.
        @inline(__always)
        mutating func add(_ v: Vector, _ count: Int) {
            lanes += count == width ? v : v.replacing(with: 0, where: laneIndex .>= Int32(count))
            blocks += 1
            if blocks == 64 {
                total += Double(lanes.sum())
                lanes = Vector()
                blocks = 0
            }
        }

        var value: Double { total + Double(lanes.sum()) }
    }
}

extension Kernels {
    /// Log-probabilities below this (and empty buckets) count as this, keeping every
    /// divergence finite: e^-100 is below the smallest Float.
    static let logProbabilityFloor = -100.0

    /// One position against full teacher logits `z` [V]. Returns its losses; overwrites the
    /// student logits `x` [V] with dL/dlogits when `writeGrad`, with scratch otherwise.
    /// `scratch` holds 2·V floats.
    ///
    /// Four passes over the row: the two maxima; the softmax sums at T = 1 and at T; the
    /// divergence and Σg, keeping p̃ (the tempered student softmax) and g; the gradient
    /// ce·(p − onehot) + kd·(1/T)·(g − p̃·Σg), the chain rule through log-softmax(x/T).
    static func fullTeacherRow(
        _ x: UnsafeMutablePointer<Float>, teacher z: UnsafePointer<Float>, vocab: Int, label: Int?,
        scales: RowScales, temperature: Float, divergence: DivergenceKernel, writeGrad: Bool,
        scratch: UnsafeMutablePointer<Float>
    ) -> RowLoss {
        let invT = 1 / temperature, tempered = temperature != 1
        let xLabel = label.map { x[$0] } ?? 0
        let mx = FastMath.max(x, count: vocab), mz = FastMath.max(z, count: vocab)
        var sx = SIMDBlocks.Vector(), sz = SIMDBlocks.Vector(), sxT = SIMDBlocks.Vector(), szT = SIMDBlocks.Vector()
        SIMDBlocks.forEach(vocab) { i, n in
            let dx = SIMDBlocks.load(x + i, n, pad: -.infinity) - mx, dz = SIMDBlocks.load(z + i, n, pad: -.infinity) - mz
            sx += FastMath.exp(dx)
            sz += FastMath.exp(dz)
            if tempered {
                sxT += FastMath.exp(dx * invT)
                szT += FastMath.exp(dz * invT)
            }
        }
        // log p = dx − cx at T = 1 and log p̃ = dx/T − cxT at T (likewise for the teacher)
        let cx = Foundation.log(sx.sum()), cz = Foundation.log(sz.sum())
        let cxT = tempered ? Foundation.log(sxT.sum()) : cx, czT = tempered ? Foundation.log(szT.sum()) : cz
        var row = RowLoss()
        if label != nil { row.crossEntropy = Double(mx) + Double(cx) - Double(xLabel) }
        let pTRow = scratch, gRow = scratch + vocab
        var d = SIMDBlocks.Sum(), gSum = SIMDBlocks.Sum(), kl = SIMDBlocks.Sum()
        SIMDBlocks.forEach(vocab) { i, n in
            let dx = SIMDBlocks.load(x + i, n, pad: 0) - mx, dz = SIMDBlocks.load(z + i, n, pad: 0) - mz
            let t = divergence.terms(dx * invT - cxT, dz * invT - czT)
            let lp = dx - cx, lq = dz - cz
            d.add(t.term, n)
            gSum.add(t.g, n)
            kl.add(FastMath.exp(lq) * (lq - lp), n)
            if writeGrad {
                SIMDBlocks.store(t.p, pTRow + i, n)
                SIMDBlocks.store(t.g, gRow + i, n)
            }
        }
        row.divergence = d.value
        row.trueKL = kl.value
        guard writeGrad else { return row }
        let ce = scales.ce, kd = scales.kd * invT, gTotal = Float(gSum.value)
        SIMDBlocks.forEach(vocab) { i, n in
            let pT = SIMDBlocks.load(pTRow + i, n, pad: 0)
            let p = tempered ? FastMath.exp(SIMDBlocks.load(x + i, n, pad: 0) - mx - cx) : pT
            SIMDBlocks.store(ce * p + kd * (SIMDBlocks.load(gRow + i, n, pad: 0) - pT * gTotal), x + i, n)
        }
        if let label { x[label] -= ce }
        return row
    }

    /// One position against a top-k teacher (`ids`, `logprobs`: this position's k slots).
    /// Returns its losses; overwrites the student logits `x` [V] with dL/dlogits when
    /// `writeGrad`, with scratch otherwise. `scratch` holds 4·(k + 1) floats.
    ///
    /// With student bucket log-probabilities u_b (T = 1), D is computed on the tempered
    /// buckets ũ = u/T − logsumexp(u/T); h_b = ∂D/∂u_b = (1/T)·(g_b − p̃_b·Σg), and then
    /// dD/dx_j = r_j·h_b(j) − p_j·Σh with r_j = p_j / p_b(j) (1 for an id, e_j / tail sum in the
    /// tail bucket, 0 outside every bucket), where Σh = 0 because the p̃_b sum to one.
    static func topKTeacherRow(
        _ x: UnsafeMutablePointer<Float>, vocab: Int, label: Int?, scales: RowScales,
        ids: UnsafePointer<Int32>, logprobs: UnsafePointer<Float>, k: Int, tail: TopKTail,
        temperature: Float, divergence: DivergenceKernel, writeGrad: Bool, scratch: UnsafeMutablePointer<Float>
    ) -> RowLoss {
        // u: student bucket log-probs at T = 1, v: the teacher's; ut, vt: the same tempered.
        let u = scratch, v = scratch + (k + 1), ut = scratch + 2 * (k + 1), vt = scratch + 3 * (k + 1)
        var used = 0
        for s in 0..<k where ids[s] >= 0 {
            u[used] = x[Int(ids[s])]
            v[used] = Float(Swift.max(Double(logprobs[s]), logProbabilityFloor))
            used += 1
        }
        let xLabel = label.map { x[$0] } ?? 0
        let shift = FastMath.max(x, count: vocab)
        let total = Double(FastMath.expShifted(x, x, count: vocab, shift: shift))  // x[j] = e_j = exp(x_j − shift)
        let lse = Double(shift) + Foundation.log(total)
        var row = RowLoss()
        if label != nil { row.crossEntropy = lse - Double(xLabel) }
        var teacherMass = 0.0
        for b in 0..<used {
            let lp = Double(u[b]) - lse, lq = Double(v[b]), q = Foundation.exp(lq)
            row.trueKL += q * (lq - lp)
            teacherMass += q
            u[b] = Float(lp)
        }
        var buckets = used, tailSum = 0.0
        if tail == .tailBucket {
            for s in 0..<k where ids[s] >= 0 { x[Int(ids[s])] = 0 }
            var acc = SIMDBlocks.Vector()
            SIMDBlocks.forEach(vocab) { i, n in acc += SIMDBlocks.load(x + i, n, pad: 0) }
            tailSum = Double(acc.sum())
            u[used] = Float(Swift.max(Foundation.log(tailSum / total), logProbabilityFloor))
            v[used] = Float(Swift.max(Foundation.log(Swift.max(1 - teacherMass, 0)), logProbabilityFloor))
            buckets += 1
        }
        let invT = 1 / temperature
        temper(u, into: ut, count: buckets, invT: Double(invT))
        temper(v, into: vt, count: buckets, invT: Double(invT))
        var d = SIMDBlocks.Sum(), gSum = SIMDBlocks.Sum()
        SIMDBlocks.forEach(buckets) { i, n in
            let t = divergence.terms(SIMDBlocks.load(ut + i, n, pad: 0), SIMDBlocks.load(vt + i, n, pad: 0))
            d.add(t.term, n)
            gSum.add(t.g, n)
        }
        row.divergence = d.value
        guard writeGrad else { return row }
        let h = v  // v is spent; h_b takes its place
        let gTotal = Float(gSum.value)
        SIMDBlocks.forEach(buckets) { i, n in
            let t = divergence.terms(SIMDBlocks.load(ut + i, n, pad: 0), SIMDBlocks.load(vt + i, n, pad: 0))
            SIMDBlocks.store(invT * (t.g - t.p * gTotal), h + i, n)
        }
        var tailScale = Double(scales.ce) / total
        if tail == .tailBucket, tailSum > 0 { tailScale += Double(scales.kd) * Double(h[used]) / tailSum }
        let a = Float(tailScale)
        for j in 0..<vocab { x[j] *= a }
        var b = 0
        for s in 0..<k where ids[s] >= 0 {
            x[Int(ids[s])] = scales.ce * Foundation.exp(u[b]) + scales.kd * h[b]
            b += 1
        }
        if let label { x[label] -= scales.ce }
        return row
    }

    /// dst = src/T − logsumexp(src/T): log-probabilities of the tempered distribution.
    private static func temper(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int, invT: Double) {
        var m = -Double.infinity
        for b in 0..<count { m = Swift.max(m, Double(src[b]) * invT) }
        var s = 0.0
        for b in 0..<count { s += Foundation.exp(Double(src[b]) * invT - m) }
        let lse = m + Foundation.log(s)
        for b in 0..<count { dst[b] = Float(Double(src[b]) * invT - lse) }
    }
}

extension Reference {
    /// D(p, q) for two distributions over the same buckets, from the textbook definitions
    /// (0·log 0 = 0), in Double.
    public static func divergence(_ divergence: Divergence, student p: [Double], teacher q: [Double]) -> Double {
        func kl(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).reduce(0) { acc, ab in ab.0 > 0 ? acc + ab.0 * Foundation.log(ab.0 / ab.1) : acc }
        }
        switch divergence {
        case .forwardKL, .jsd(beta: 0): return kl(q, p)
        case .reverseKL, .jsd(beta: 1): return kl(p, q)
        case .jsd(let beta):
            let b = Double(beta)
            let m = zip(p, q).map { (1 - b) * $0 + b * $1 }
            return b * kl(q, m) + (1 - b) * kl(p, m)
        }
    }
}
