import Foundation

/// Settings of `Tensor.lossHead`. `LossHeadConfig()` is plain cross-entropy, plus forward KL
/// at T = 1 with equal weight when a teacher is given.
public struct LossHeadConfig: Sendable, Equatable {
    /// Weight of the cross-entropy term. Default 1.
    public var ceWeight: Float
    /// Weight of the distillation term. Default 1.
    public var kdWeight: Float
    /// Distillation temperature T > 0: student and teacher are softened to p^(1/T)
    /// (renormalised) and the divergence is multiplied by T², which keeps its gradient on the
    /// scale of T = 1 (Hinton et al. 2015). Cross-entropy always uses T = 1. Default 1.
    public var temperature: Float
    /// Default `.forwardKL`, KL(teacher‖student).
    public var divergence: Divergence
    /// Loss positions whose logits are made at once; nil (the default) means
    /// `defaultChunkTokens(vocab:)`, about `defaultChunkBytes` of logits.
    public var chunkTokens: Int?

    /// 64 MB of logits per chunk: 341 positions at V = 49,152. Every chunk streams the whole
    /// weight through two gemms, so small chunks starve OpenBLAS: at D = 576, V = 49,152 on two
    /// cores (SkylakeX kernels), 1024 rows in chunks of 42 / 85 / 170 / 341 / 682 ran both
    /// products at about 0.3 / 0.55 / 0.7 / 0.8 / 0.95 times the speed of one 1024-row gemm.
    public static let defaultChunkBytes = 64 << 20

    public init(
        ceWeight: Float = 1, kdWeight: Float = 1, temperature: Float = 1,
        divergence: Divergence = .forwardKL, chunkTokens: Int? = nil
    ) {
        self.ceWeight = ceWeight
        self.kdWeight = kdWeight
        self.temperature = temperature
        self.divergence = divergence
        self.chunkTokens = chunkTokens
    }

    public static func defaultChunkTokens(vocab: Int) -> Int {
        max(1, defaultChunkBytes / (MemoryLayout<Float>.stride * max(vocab, 1)))
    }

    func validate() throws {
        let op = "lossHead"
        guard ceWeight.isFinite, ceWeight >= 0, kdWeight.isFinite, kdWeight >= 0 else {
            throw TensorError(op: op, "ceWeight and kdWeight must be finite and ≥ 0, got \(ceWeight) and \(kdWeight)")
        }
        guard temperature.isFinite, temperature > 0 else {
            throw TensorError(op: op, "temperature must be finite and > 0, got \(temperature)")
        }
        if case .jsd(let beta) = divergence, !(beta >= 0 && beta <= 1) {
            throw TensorError(op: op, "jsd beta must be in [0, 1], got \(beta)")
        }
        if let chunkTokens, chunkTokens < 1 {
            throw TensorError(op: op, "chunkTokens must be ≥ 1, got \(chunkTokens)")
        }
    }
}

/// What `Tensor.lossHead` returns: the loss on the tape and plain numbers for logging.
public struct LossHeadResult {
    /// ceWeight · crossEntropy + kdWeight · distillation (a term without positions counts 0):
    /// a scalar whose backward reaches hidden and weight.
    public let loss: Tensor
    /// Mean cross-entropy over positions with a label; nil when every label is -100.
    public let crossEntropy: Float?
    /// T² · mean divergence over positions with a teacher entry; nil without any.
    public let distillation: Float?
    /// Mean KL(teacher‖student) at T = 1 over positions with a teacher entry, summed over the
    /// teacher's support: the whole vocabulary for full logits, the teacher's ids for top-k
    /// (Σ q_i·log(q_i / p_i) with the student's full-vocabulary p, nothing renormalised).
    /// Comparable across temperatures, divergences and tail modes.
    public let trueKL: Float?
    /// Positions with a label (not -100).
    public let labelTokens: Int
    /// Positions with a teacher entry.
    public let teacherTokens: Int
    /// Positions whose logits were computed: those with a label, a teacher entry or both.
    public let lossTokens: Int
}

extension Tensor {
    /// The label that marks a position without cross-entropy, as PyTorch's `ignore_index`.
    public static let ignoreIndex: Int32 = -100

    /// The training loss of a language model from its final hidden states, without ever
    /// holding the [N, V] logits (a fused linear cross-entropy, as in Liger-Kernel, plus
    /// distillation).
    ///
    /// - hidden: [..., D], N positions (the product of the leading dimensions).
    /// - weight: [V, D], the output projection (often the tied embedding table); logits = hidden · weightᵀ.
    /// - labels: [N], the token each position predicts (already shifted), -100 for none.
    /// - teacher: a distribution to distil, per position (see `TeacherTargets`).
    ///
    /// Only positions with a label or a teacher entry are projected, `chunkTokens` at a time:
    /// gather their hidden rows h [C, D], logits = h · Wᵀ [C, V], then per row (in parallel)
    /// the losses and dlogits in place, then dh = dlogits · W and dW += dlogitsᵀ · h. Three
    /// gemms per chunk and nothing recomputed; the backward pass only scales the gradients
    /// made here. Without GradMode, or when neither input requires a gradient, only the first
    /// gemm runs; a frozen weight (a tied embedding) skips the dW gemm.
    ///
    /// Cross-entropy is the mean over labelled positions; distillation is T² times the mean
    /// divergence over positions with a teacher entry (see `Divergence`, `TeacherTargets`).
    ///
    /// `weightInBF16`, the same weight held in bf16, makes the logits and dh products bf16 ones
    /// (mixed precision, see `BFloat16Matrix`) while the weight is frozen.
    public static func lossHead(
        hidden: Tensor, weight: Tensor, labels: [Int32], teacher: TeacherTargets? = nil,
        config: LossHeadConfig = LossHeadConfig(), weightInBF16: BFloat16Matrix? = nil
    ) throws -> LossHeadResult {
        let op = "lossHead"
        guard weight.rank == 2, weight.shape[0] > 0, weight.shape[1] > 0 else {
            throw TensorError(op: op, "weight must be [vocab, dim] with both > 0, got \(weight.shape)")
        }
        let vocab = weight.shape[0], dim = weight.shape[1]
        guard hidden.rank >= 2, hidden.shape.last == dim else {
            throw TensorError(op: op, "hidden \(hidden.shape) does not fit weight \(weight.shape) (expects [..., \(dim)])")
        }
        let positions = hidden.count / dim
        guard labels.count == positions else {
            throw TensorError(op: op, "\(labels.count) labels for the \(positions) positions of hidden \(hidden.shape)")
        }
        if let n = labels.firstIndex(where: { $0 != ignoreIndex && ($0 < 0 || Int($0) >= vocab) }) {
            throw TensorError(
                op: op, "label \(labels[n]) at position \(n) is outside the vocabulary of \(vocab) (weight \(weight.shape)); -100 ignores a position")
        }
        try config.validate()
        if let weightInBF16, weightInBF16.shape != weight.shape {
            throw TensorError(op: op, "the bf16 weight \(weightInBF16.shape) is not the shape of weight \(weight.shape)")
        }
        let hasTeacher = try teacherPositions(teacher, hidden: hidden.shape, weight: weight.shape)
        let active = (0..<positions).filter { labels[$0] != ignoreIndex || hasTeacher[$0] }
        guard !active.isEmpty else {
            throw TensorError(op: op, "no position carries a loss: all \(positions) labels are -100 and no position has a teacher entry")
        }
        let labelTokens = labels.count(where: { $0 != ignoreIndex }), teacherTokens = hasTeacher.count(where: { $0 })
        let temperature = config.temperature
        let ceScale = labelTokens > 0 ? config.ceWeight / Float(labelTokens) : 0
        let kdScale = teacherTokens > 0 ? config.kdWeight * temperature * temperature / Float(teacherTokens) : 0
        let divergence = DivergenceKernel(config.divergence)
        let scratchPerRow: Int  // floats of per-row scratch the distillation kernels need
        switch teacher {
        case .full: scratchPerRow = 2 * vocab
        case .topK(_, _, let k, _): scratchPerRow = 4 * (k + 1)
        case nil: scratchPerRow = 0
        }

        // Gradients are made now, chunk by chunk, for the inputs that will want them.
        let dHidden = GradMode.isEnabled && hidden.requiresGrad ? Tensor.zeros(hidden.shape) : nil
        let dWeight = GradMode.isEnabled && weight.requiresGrad ? Tensor(uninitialized: weight.shape) : nil
        let bf16 = weight.requiresGrad ? nil : weightInBF16
        let chunk = min(config.chunkTokens ?? LossHeadConfig.defaultChunkTokens(vocab: vocab), active.count)
        let rows = withTeacherRows(teacher) { teacherRows in
            projectInChunks(
                hidden: hidden, weight: weight, bf16: bf16, positions: active, chunk: chunk, scratchPerRow: scratchPerRow,
                dHidden: dHidden, dWeight: dWeight
            ) { x, n, writeGrad, scratch in
                let label = labels[n] == ignoreIndex ? nil : Int(labels[n])
                let scales = RowScales(ce: label == nil ? 0 : ceScale, kd: hasTeacher[n] ? kdScale : 0)
                switch teacherRows {
                case .full(let z) where hasTeacher[n]:
                    return Kernels.fullTeacherRow(
                        x, teacher: z + n * vocab, vocab: vocab, label: label, scales: scales, temperature: temperature,
                        divergence: divergence, writeGrad: writeGrad, scratch: scratch)
                case .topK(let ids, let logprobs, let k, let tail) where hasTeacher[n]:
                    return Kernels.topKTeacherRow(
                        x, vocab: vocab, label: label, scales: scales, ids: ids + n * k, logprobs: logprobs + n * k, k: k,
                        tail: tail, temperature: temperature, divergence: divergence, writeGrad: writeGrad,
                        scratch: scratch)
                default:
                    return Kernels.crossEntropyRow(x, vocab: vocab, label: label!, scale: scales.ce, writeGrad: writeGrad)
                }
            }
        }

        // Sums in position order, whatever the thread count.
        var ceSum = 0.0, divergenceSum = 0.0, klSum = 0.0
        for (a, n) in active.enumerated() {
            guard rows[a].isFinite else {
                throw TensorError(op: op, nonFiniteMessage(position: n, hidden: hidden, weight: weight, teacher: teacher), kind: .nonFiniteValue)
            }
            ceSum += rows[a].crossEntropy
            divergenceSum += rows[a].divergence
            klSum += rows[a].trueKL
        }
        let crossEntropy = labelTokens > 0 ? ceSum / Double(labelTokens) : nil
        let distillation = teacherTokens > 0 ? Double(temperature * temperature) * divergenceSum / Double(teacherTokens) : nil
        let total = Double(config.ceWeight) * (crossEntropy ?? 0) + Double(config.kdWeight) * (distillation ?? 0)

        let loss = try Tensor.record(op, Tensor.scalar(Float(total)), inputs: [hidden, weight]) { g in
            // The gradients of the loss itself were made in the forward pass; only the scale is new.
            let s = g.item()
            func scaled(_ t: Tensor?) -> Tensor? { t.map { t in s == 1 ? t : Kernels.map(t) { $0 * s } } }
            return [scaled(dHidden), scaled(dWeight)]
        }
        return LossHeadResult(
            loss: loss, crossEntropy: crossEntropy.map(Float.init), distillation: distillation.map(Float.init),
            trueKL: teacherTokens > 0 ? Float(klSum / Double(teacherTokens)) : nil,
            labelTokens: labelTokens, teacherTokens: teacherTokens, lossTokens: active.count)
    }

    /// The fused loop: for each chunk of `positions`, gather their hidden rows h [m, D],
    /// logits = h · Wᵀ [m, V], `row(logits row, position, writeGrad, scratch)` on every row in
    /// parallel (returning its losses and leaving dlogits in place), then dh = dlogits · W into
    /// `dHidden` and dW += dlogitsᵀ · h into `dWeight`, each only if given. With `bf16` (a frozen
    /// weight's bf16 copy) the first two products are bf16 ones.
    private static func projectInChunks(
        hidden: Tensor, weight: Tensor, bf16: BFloat16Matrix?, positions: [Int], chunk: Int, scratchPerRow: Int,
        dHidden: Tensor?, dWeight: Tensor?,
        row: (_ x: UnsafeMutablePointer<Float>, _ position: Int, _ writeGrad: Bool, _ scratch: UnsafeMutablePointer<Float>) -> RowLoss
    ) -> [RowLoss] {
        let vocab = weight.shape[0], dim = weight.shape[1]
        let writeGrad = dHidden != nil || dWeight != nil
        let logits = Tensor(uninitialized: [chunk, vocab])  // then dlogits, in place
        let gathered = Tensor(uninitialized: [chunk, dim]), dGathered = Tensor(uninitialized: [chunk, dim])
        var losses = [RowLoss](repeating: RowLoss(), count: positions.count)
        for start in stride(from: 0, to: positions.count, by: chunk) {
            let m = min(chunk, positions.count - start)
            let first = positions[start]
            // Consecutive positions are read (and their dh written) in place, others gathered.
            let contiguous = positions[start + m - 1] - first == m - 1
            let h = contiguous ? hidden.data + first * dim : gathered.data
            if !contiguous {
                for r in 0..<m { (h + r * dim).update(from: hidden.data + positions[start + r] * dim, count: dim) }
            }
            if let bf16 {
                bf16.multiply(h, rows: m, transposingWeight: true, into: logits.data)
            } else {
                Gemm.sgemm(
                    transA: false, transB: true, m: m, n: vocab, k: dim,
                    a: h, lda: dim, b: weight.data, ldb: dim, c: logits.data, ldc: vocab)
            }
            losses.withUnsafeMutableBufferPointer { out in
                Parallel.forEachChunk(m) { rows in
                    let scratch = Tensor(uninitialized: [scratchPerRow])  // one per thread, from the pool
                    for r in rows { out[start + r] = row(logits.data + r * vocab, positions[start + r], writeGrad, scratch.data) }
                }
            }
            if let dHidden {  // dh [m, D] = dlogits [m, V] · W [V, D]
                let dh = contiguous ? dHidden.data + first * dim : dGathered.data
                if let bf16 {
                    bf16.multiply(logits.data, rows: m, transposingWeight: false, into: dh)
                } else {
                    Gemm.sgemm(
                        transA: false, transB: false, m: m, n: dim, k: vocab,
                        a: logits.data, lda: vocab, b: weight.data, ldb: dim, c: dh, ldc: dim)
                }
                if !contiguous {
                    for r in 0..<m { (dHidden.data + positions[start + r] * dim).update(from: dh + r * dim, count: dim) }
                }
            }
            if let dWeight {  // dW [V, D] += dlogitsᵀ [V, m] · h [m, D]
                Gemm.sgemm(
                    transA: true, transB: false, m: vocab, n: dim, k: m,
                    a: logits.data, lda: vocab, b: h, ldb: dim,
                    beta: start == 0 ? 0 : 1, c: dWeight.data, ldc: dim)
            }
        }
        return losses
    }

    /// Which positions have a teacher entry, after checking the teacher against hidden [..., D] and weight [V, D].
    private static func teacherPositions(_ teacher: TeacherTargets?, hidden: [Int], weight: [Int]) throws -> [Bool] {
        let op = "lossHead"
        let vocab = weight[0], positions = hidden.dropLast().reduce(1, *)
        switch teacher {
        case nil:
            return [Bool](repeating: false, count: positions)
        case .full(let logits, let mask):
            guard logits.shape == Array(hidden.dropLast()) + [vocab] || logits.shape == [positions, vocab] else {
                throw TensorError(
                    op: op, "teacher logits \(logits.shape) do not fit hidden \(hidden) and weight \(weight): expected [\(positions), \(vocab)]")
            }
            guard let mask else { return [Bool](repeating: true, count: positions) }
            guard mask.count == positions else {
                throw TensorError(op: op, "teacher positions has \(mask.count) entries for the \(positions) positions of hidden \(hidden)")
            }
            return mask
        case .topK(let ids, let logprobs, let k, let tail):
            guard k > 0 else { throw TensorError(op: op, "top-k teacher needs k ≥ 1, got k = \(k)") }
            guard ids.count == positions * k, logprobs.count == positions * k else {
                throw TensorError(
                    op: op, "top-k teacher ids (\(ids.count) values) and logprobs (\(logprobs.count)) must each hold positions × k = \(positions) × \(k) = \(positions * k) for hidden \(hidden)")
            }
            var present = [Bool](repeating: false, count: positions)
            for n in 0..<positions {
                var mass = 0.0
                for s in 0..<k where ids[n * k + s] != -1 {
                    let id = ids[n * k + s], lp = logprobs[n * k + s]
                    guard id >= 0, Int(id) < vocab else {
                        throw TensorError(
                            op: op, "teacher id \(id) at position \(n), slot \(s) is outside the vocabulary of \(vocab) (weight \(weight)); -1 marks an unused slot")
                    }
                    guard (n * k..<n * k + s).allSatisfy({ ids[$0] != id }) else {
                        throw TensorError(op: op, "teacher id \(id) appears twice at position \(n)")
                    }
                    guard !lp.isNaN, lp <= 1e-3 else {
                        throw TensorError(op: op, "teacher logprob \(lp) at position \(n), slot \(s) is not a log-probability (≤ 0)")
                    }
                    mass += Foundation.exp(Double(lp))
                    present[n] = true
                }
                if tail == .tailBucket, mass > 1.001 {
                    throw TensorError(
                        op: op, "teacher probabilities at position \(n) sum to \(mass) > 1, which leaves the tail bucket negative")
                }
            }
            return present
        }
    }

    /// Names the input that most likely made position `n` non-finite.
    private static func nonFiniteMessage(position n: Int, hidden: Tensor, weight: Tensor, teacher: TeacherTargets?) -> String {
        let dim = weight.shape[1], vocab = weight.shape[0]
        if (0..<dim).contains(where: { !hidden.data[n * dim + $0].isFinite }) {
            return "hidden \(hidden.shape) holds a non-finite value at position \(n)"
        }
        if case .full(let logits, _) = teacher, (0..<vocab).contains(where: { !logits.data[n * vocab + $0].isFinite }) {
            return "teacher logits \(logits.shape) hold a non-finite value at position \(n)"
        }
        return "the loss at position \(n) is not finite: weight \(weight.shape) holds NaN or Inf, or the logits overflow"
    }
}

/// Pointers to the teacher's data, valid while the chunks run.
enum TeacherRows {
    case none
    case full(UnsafePointer<Float>)
    case topK(ids: UnsafePointer<Int32>, logprobs: UnsafePointer<Float>, k: Int, tail: TopKTail)
}

private func withTeacherRows<R>(_ teacher: TeacherTargets?, _ body: (TeacherRows) throws -> R) rethrows -> R {
    switch teacher {
    case nil:
        return try body(.none)
    case .full(let logits, _):
        return try body(.full(logits.data))
    case .topK(let ids, let logprobs, let k, let tail):
        return try ids.withUnsafeBufferPointer { i in
            try logprobs.withUnsafeBufferPointer { l in
                try body(.topK(ids: i.baseAddress!, logprobs: l.baseAddress!, k: k, tail: tail))
            }
        }
    }
}

extension Kernels {
    /// One position with a label and no teacher: returns its cross-entropy, and when `writeGrad`
    /// overwrites the logits `x` [V] with scale · (softmax(x) − onehot(label)) (scratch otherwise).
    static func crossEntropyRow(_ x: UnsafeMutablePointer<Float>, vocab: Int, label: Int, scale: Float, writeGrad: Bool) -> RowLoss {
        let xLabel = x[label]
        let shift = FastMath.max(x, count: vocab)
        let sum = FastMath.expShifted(x, x, count: vocab, shift: shift)
        var row = RowLoss()
        row.crossEntropy = Double(shift) + Foundation.log(Double(sum)) - Double(xLabel)
        if writeGrad {
            let a = scale / sum
            for j in 0..<vocab { x[j] *= a }
            x[label] -= scale
        }
        return row
    }
}

extension Reference {
    /// What the plain twin of `Tensor.lossHead` returns, all in Double.
    public struct LossHead {
        public var loss: Double
        public var crossEntropy: Double?, distillation: Double?, trueKL: Double?
        /// dloss/dhidden [N·D] and dloss/dweight [V·D], row-major.
        public var dHidden: [Double], dWeight: [Double]
    }

    /// `Tensor.lossHead` the plain way, in Double: all N×V logits, each position's losses from
    /// the textbook definitions (explicit bucket probabilities, tempered as p^(1/T) renormalised,
    /// `Reference.divergence`), and dloss/dlogits by central differences of those formulas
    /// (step 1e-4). O(N·V²): for tests on small shapes. Expects valid input.
    public static func lossHead(
        hidden: Tensor, weight: Tensor, labels: [Int32], teacher: TeacherTargets? = nil,
        config: LossHeadConfig = LossHeadConfig()
    ) -> LossHead {
        let vocab = weight.shape[0], dim = weight.shape[1], positions = hidden.count / dim
        let floor = Foundation.exp(Kernels.logProbabilityFloor)
        let temperature = Double(config.temperature)

        func logSoftmax(_ s: [Double]) -> [Double] {
            let m = s.max()!
            let lse = m + Foundation.log(s.reduce(0) { $0 + Foundation.exp($1 - m) })
            return s.map { $0 - lse }
        }
        func tempered(_ p: [Double]) -> [Double] {
            let w = p.map { Foundation.pow($0, 1 / temperature) }
            let total = w.reduce(0, +)
            return w.map { $0 / total }
        }
        /// Student and teacher bucket probabilities at T = 1, and the teacher's support for trueKL.
        func buckets(_ n: Int, _ p: [Double]) -> (student: [Double], teacher: [Double], support: [(q: Double, p: Double)])? {
            switch teacher {
            case nil: return nil
            case .full(let logits, let mask):
                if let mask, !mask[n] { return nil }
                let q = logSoftmax((0..<vocab).map { Double(logits.data[n * vocab + $0]) }).map { Foundation.exp($0) }
                return (p, q, Array(zip(q, p)))
            case .topK(let ids, let logprobs, let k, let tail):
                let slots = (0..<k).filter { ids[n * k + $0] >= 0 }
                if slots.isEmpty { return nil }
                let members = slots.map { Int(ids[n * k + $0]) }
                var sp = members.map { p[$0] }
                var sq = slots.map { Swift.max(Foundation.exp(Double(logprobs[n * k + $0])), floor) }
                let support = zip(sq, sp).map { (q: $0, p: $1) }
                if tail == .tailBucket {
                    let rest = (0..<vocab).filter { !members.contains($0) }.reduce(0) { $0 + p[$1] }
                    sp.append(Swift.max(rest, floor))
                    sq.append(Swift.max(1 - sq.reduce(0, +), floor))
                }
                return (sp, sq, support)
            }
        }
        let labelTokens = labels.count(where: { $0 != Tensor.ignoreIndex })
        let teacherTokens = (0..<positions).count(where: { buckets($0, [Double](repeating: 1 / Double(vocab), count: vocab)) != nil })

        /// (cross-entropy, T²·divergence, trueKL) of position n for logits s.
        func losses(_ n: Int, _ s: [Double]) -> (ce: Double?, kd: Double?, kl: Double?) {
            let logp = logSoftmax(s), p = logp.map { Foundation.exp($0) }
            let ce = labels[n] == Tensor.ignoreIndex ? nil : -logp[Int(labels[n])]
            guard let b = buckets(n, p) else { return (ce, nil, nil) }
            let d = divergence(config.divergence, student: tempered(b.student), teacher: tempered(b.teacher))
            let kl = b.support.reduce(0) { $0 + ($1.q > 0 ? $1.q * Foundation.log($1.q / $1.p) : 0) }
            return (ce, temperature * temperature * d, kl)
        }
        func weighted(_ n: Int, _ s: [Double]) -> Double {
            let l = losses(n, s)
            return Double(config.ceWeight) * (l.ce ?? 0) / Double(max(labelTokens, 1))
                + Double(config.kdWeight) * (l.kd ?? 0) / Double(max(teacherTokens, 1))
        }

        var result = LossHead(
            loss: 0, crossEntropy: nil, distillation: nil, trueKL: nil,
            dHidden: [Double](repeating: 0, count: positions * dim), dWeight: [Double](repeating: 0, count: vocab * dim))
        var ceSum = 0.0, kdSum = 0.0, klSum = 0.0
        for n in 0..<positions {
            var s = [Double](repeating: 0, count: vocab)
            for j in 0..<vocab {
                for d in 0..<dim { s[j] += Double(hidden.data[n * dim + d]) * Double(weight.data[j * dim + d]) }
            }
            let l = losses(n, s)
            ceSum += l.ce ?? 0
            kdSum += l.kd ?? 0
            klSum += l.kl ?? 0
            guard l.ce != nil || l.kd != nil else { continue }
            let step = 1e-4
            for j in 0..<vocab {
                var up = s, down = s
                up[j] += step
                down[j] -= step
                let ds = (weighted(n, up) - weighted(n, down)) / (2 * step)
                for d in 0..<dim {
                    result.dHidden[n * dim + d] += ds * Double(weight.data[j * dim + d])
                    result.dWeight[j * dim + d] += ds * Double(hidden.data[n * dim + d])
                }
            }
        }
        if labelTokens > 0 { result.crossEntropy = ceSum / Double(labelTokens) }
        if teacherTokens > 0 {
            result.distillation = kdSum / Double(teacherTokens)
            result.trueKL = klSum / Double(teacherTokens)
        }
        result.loss = Double(config.ceWeight) * (result.crossEntropy ?? 0) + Double(config.kdWeight) * (result.distillation ?? 0)
        return result
    }
}
