/// Elementwise kernels: a fast path for equal shapes and for a broadcast
/// trailing block (bias, per-row scale), a general strided walk otherwise.
/// `Reference.binary` is the plain twin the tests compare against.
public enum Kernels {
    static let elementwiseChunk = 1 << 15

    /// `a op b` broadcast into `out`, which already has the broadcast shape.
    static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, into out: Tensor) {
        let pa = a.data, pb = b.data, po = out.data
        if a.shape == b.shape {
            Parallel.forEachChunk(out.count, minChunk: elementwiseChunk) { r in
                for i in r { po[i] = op.apply(pa[i], pb[i]) }
            }
            return
        }
        let sa = Broadcast.strides(of: a.shape, in: out.shape)
        let sb = Broadcast.strides(of: b.shape, in: out.shape)
        let inner = out.shape.last ?? 1
        guard inner > 0, out.count > 0 else { return }
        let ia = sa.last ?? 0, ib = sb.last ?? 0
        let rows = out.count / inner
        let outerShape = Array(out.shape.dropLast())
        Parallel.forEachChunk(rows, minChunk: max(1, elementwiseChunk / inner)) { r in
            for row in r {
                var rem = row, offA = 0, offB = 0
                for d in stride(from: outerShape.count - 1, through: 0, by: -1) {
                    let idx = rem % outerShape[d]
                    rem /= outerShape[d]
                    offA += idx * sa[d]
                    offB += idx * sb[d]
                }
                let x = pa + offA, y = pb + offB, o = po + row * inner
                switch (ia, ib) {
                case (1, 1): for j in 0..<inner { o[j] = op.apply(x[j], y[j]) }
                case (1, 0): let c = y[0]; for j in 0..<inner { o[j] = op.apply(x[j], c) }
                case (0, 1): let c = x[0]; for j in 0..<inner { o[j] = op.apply(c, y[j]) }
                default: let v = op.apply(x[0], y[0]); for j in 0..<inner { o[j] = v }
                }
            }
        }
    }

    /// A broadcast binary op outside any graph (used inside VJPs).
    static func broadcasting(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = (try? Broadcast.shape(op.rawValue, a.shape, b.shape)) ?? a.shape
        let out = Tensor(uninitialized: shape)
        binary(op, a, b, into: out)
        return out
    }

    static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        let src = x.data, dst = out.data
        Parallel.forEachChunk(x.count, minChunk: elementwiseChunk) { r in
            for i in r { dst[i] = f(src[i]) }
        }
        return out
    }

    static func zip(_ x: Tensor, _ y: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        let a = x.data, b = y.data, dst = out.data
        Parallel.forEachChunk(x.count, minChunk: elementwiseChunk) { r in
            for i in r { dst[i] = f(a[i], b[i]) }
        }
        return out
    }
}

/// Plain, obviously-correct twins of the optimised kernels, for tests.
public enum Reference {
    /// Broadcast binary op by unravelling every output index.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try Broadcast.shape(op.rawValue, a.shape, b.shape)
        let out = Tensor(uninitialized: shape)
        let sa = Broadcast.strides(of: a.shape, in: shape), sb = Broadcast.strides(of: b.shape, in: shape)
        for flat in 0..<out.count {
            var rem = flat, ia = 0, ib = 0
            for d in stride(from: shape.count - 1, through: 0, by: -1) {
                let idx = rem % shape[d]
                rem /= shape[d]
                ia += idx * sa[d]
                ib += idx * sb[d]
            }
            out.data[flat] = op.apply(a.data[ia], b.data[ib])
        }
        return out
    }
}
