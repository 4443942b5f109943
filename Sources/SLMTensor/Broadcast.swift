/// NumPy broadcasting: shapes are aligned from the right; a dimension of 1 stretches.
enum Broadcast {
    static func shape(_ op: String, _ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        return try zip(pa, pb).map { x, y in
            if x == y || y == 1 { return x }
            if x == 1 { return y }
            throw TensorError.shapeMismatch(op, a, b)
        }
    }

    /// Strides that read `shape` as if it had `outShape` (0 on stretched dimensions).
    static func strides(of shape: [Int], in outShape: [Int]) -> [Int] {
        let padded = [Int](repeating: 1, count: outShape.count - shape.count) + shape
        let own = Tensor.strides(padded)
        return zip(padded, own).map { dim, stride in dim == 1 ? 0 : stride }
    }

    /// Sums `g` (of a broadcast result's shape) back down to `shape`.
    static func sum(_ g: Tensor, to shape: [Int]) -> Tensor {
        if g.shape == shape { return g }
        let out = Tensor.zeros(shape)
        let strides = Broadcast.strides(of: shape, in: g.shape)
        let inner = g.shape.last ?? 1
        let innerStride = strides.last ?? 0
        let rows = inner == 0 ? 0 : g.count / inner
        var index = [Int](repeating: 0, count: max(g.rank - 1, 0))
        let src = g.data, dst = out.data
        for row in 0..<rows {
            var base = 0
            for d in 0..<index.count { base += index[d] * strides[d] }
            let s = src + row * inner, o = dst + base
            if innerStride == 0 {
                var acc: Float = 0
                for j in 0..<inner { acc += s[j] }
                o[0] += acc
            } else {
                for j in 0..<inner { o[j] += s[j] }
            }
            var d = index.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < g.shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return out
    }
}
