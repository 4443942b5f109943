import Foundation

/// Normalisation over the last axis: RMSNorm (Llama, Qwen, Gemma, Phi-3) and LayerNorm (Phi-2, GPT-2).
///
/// The input is read as R rows of width C (all leading dimensions flattened).
/// Forward keeps one Float per row (the reciprocal standard deviation, and for
/// LayerNorm the mean) for backward. Rows are split across threads; the weight
/// and bias gradients are summed over fixed blocks of `Kernels.normBlockRows`
/// rows, each block writing its own partial sum, and the partials are then
/// added in block order, so those gradients are bitwise identical for any
/// thread count.
extension Tensor {
    /// RMSNorm over the last axis: x [R, C] → y [R, C],
    /// y = x / sqrt(mean(x²) + eps) · (weightOffset + w), w [C].
    ///
    /// Llama-style models use `weightOffset` 0; Gemma stores w so that the scale is 1 + w
    /// (`weightOffset` 1). Without a weight the output is only normalised and
    /// `weightOffset` is ignored.
    public func rmsNorm(weight: Tensor?, eps: Float, weightOffset: Float = 0) throws -> Tensor {
        let op = "rmsNorm"
        let (rows, c) = try lastAxisRows(op)
        try Kernels.checkNormArguments(op, input: shape, eps: eps, ("weight", weight))
        let scale = weight.map { w in Kernels.map(w) { weightOffset + $0 } }
        let out = Tensor(uninitialized: shape)
        let rstd = Tensor(uninitialized: [rows])
        Kernels.rmsNormForward(
            x: data, scale: scale.map { UnsafePointer($0.data) }, y: out.data, rstd: rstd.data,
            rows: rows, c: c, eps: eps)
        let x = self
        return try Tensor.record(op, out, inputs: [x] + (weight.map { [$0] } ?? [])) { g in
            let dx = x.requiresGrad ? Tensor(uninitialized: x.shape) : nil
            let dw = weight?.requiresGrad == true ? Tensor(uninitialized: [c]) : nil
            Kernels.rmsNormBackward(
                x: x.data, scale: scale.map { UnsafePointer($0.data) }, rstd: rstd.data, g: g.data,
                dx: dx?.data, dw: dw?.data, rows: rows, c: c)
            return [dx, dw]
        }
    }

    /// LayerNorm over the last axis: x [R, C] → y [R, C],
    /// y = (x − mean(x)) / sqrt(var(x) + eps) · w + b, with the biased variance
    /// (as PyTorch), w [C] and b [C] each optional.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
        let op = "layerNorm"
        let (rows, c) = try lastAxisRows(op)
        try Kernels.checkNormArguments(op, input: shape, eps: eps, ("weight", weight), ("bias", bias))
        let out = Tensor(uninitialized: shape)
        let stats = Tensor(uninitialized: [rows, 2])  // per row: mean, 1/std
        Kernels.layerNormForward(
            x: data, w: weight.map { UnsafePointer($0.data) }, b: bias.map { UnsafePointer($0.data) },
            y: out.data, stats: stats.data, rows: rows, c: c, eps: eps)
        let x = self
        let inputs = [x] + (weight.map { [$0] } ?? []) + (bias.map { [$0] } ?? [])
        return try Tensor.record(op, out, inputs: inputs) { g in
            let dx = x.requiresGrad ? Tensor(uninitialized: x.shape) : nil
            let dw = weight?.requiresGrad == true ? Tensor(uninitialized: [c]) : nil
            let db = bias?.requiresGrad == true ? Tensor(uninitialized: [c]) : nil
            Kernels.layerNormBackward(
                x: x.data, w: weight.map { UnsafePointer($0.data) }, stats: stats.data, g: g.data,
                dx: dx?.data, dw: dw?.data, db: db?.data, rows: rows, c: c)
            var grads: [Tensor?] = [dx]
            if weight != nil { grads.append(dw) }
            if bias != nil { grads.append(db) }
            return grads
        }
    }
}

extension Kernels {
    /// Rows per block of the weight-gradient partial sums (fixed, so sums do not depend on the thread count).
    static let normBlockRows = 32

    static func checkNormArguments(_ op: String, input: [Int], eps: Float, _ parameters: (String, Tensor?)...) throws {
        guard eps >= 0, eps.isFinite else { throw TensorError(op: op, "eps must be finite and ≥ 0, got \(eps)") }
        let c = input.last ?? 0
        for case let (name, p?) in parameters where p.shape != [c] {
            throw TensorError(op: op, "\(name) \(p.shape) does not match the last axis of input \(input) (expects [\(c)])")
        }
    }

    // MARK: RMSNorm

    /// y[r] = x[r] · rstd[r] · scale, rstd[r] = 1 / sqrt(Σ x[r]² / C + eps).
    static func rmsNormForward(
        x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>, rows: Int, c: Int, eps: Float
    ) {
        Parallel.forEachChunk(rows, minChunk: 8) { range in
            for r in range {
                let xr = x + r * c, yr = y + r * c
                var acc = V()
                var j = 0
                while j + V.scalarCount <= c {
                    let v = load(xr + j)
                    acc += v * v
                    j += V.scalarCount
                }
                var ss = acc.sum()
                while j < c {
                    ss += xr[j] * xr[j]
                    j += 1
                }
                let s = 1 / (ss / Float(c) + eps).squareRoot()
                rstd[r] = s
                j = 0
                if let scale {
                    while j + V.scalarCount <= c {
                        store(load(xr + j) * s * load(scale + j), yr + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        yr[j] = xr[j] * s * scale[j]
                        j += 1
                    }
                } else {
                    while j + V.scalarCount <= c {
                        store(load(xr + j) * s, yr + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        yr[j] = xr[j] * s
                        j += 1
                    }
                }
            }
        }
    }

    /// With s = rstd[r] and u = g ⊙ scale:
    /// dx[r] = s · (u − x[r] · s² · Σ(u ⊙ x[r]) / C),   dw = Σ_r g[r] ⊙ x[r] · s.
    static func rmsNormBackward(
        x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, rstd: UnsafePointer<Float>, g: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?, rows: Int, c: Int
    ) {
        let blocks = (rows + normBlockRows - 1) / normBlockRows
        let partials = dw == nil ? nil : Tensor(uninitialized: [blocks, c])
        let pp = partials?.data
        Parallel.forEach(blocks) { b in
            let p = pp.map { $0 + b * c }
            p?.initialize(repeating: 0, count: c)
            for r in (b * normBlockRows)..<min(rows, (b + 1) * normBlockRows) {
                let xr = x + r * c, gr = g + r * c, s = rstd[r]
                if let dx {
                    let dr = dx + r * c
                    if let scale {
                        var acc = V()
                        var j = 0
                        while j + V.scalarCount <= c {
                            acc += load(gr + j) * load(scale + j) * load(xr + j)
                            j += V.scalarCount
                        }
                        var dot = acc.sum()
                        while j < c {
                            dot += gr[j] * scale[j] * xr[j]
                            j += 1
                        }
                        let k = dot * s * s / Float(c)
                        j = 0
                        while j + V.scalarCount <= c {
                            store(s * (load(gr + j) * load(scale + j) - load(xr + j) * k), dr + j)
                            j += V.scalarCount
                        }
                        while j < c {
                            dr[j] = s * (gr[j] * scale[j] - xr[j] * k)
                            j += 1
                        }
                    } else {
                        let dot = Kernels.dot(gr, xr, c)
                        let k = dot * s * s / Float(c)
                        var j = 0
                        while j + V.scalarCount <= c {
                            store(s * (load(gr + j) - load(xr + j) * k), dr + j)
                            j += V.scalarCount
                        }
                        while j < c {
                            dr[j] = s * (gr[j] - xr[j] * k)
                            j += 1
                        }
                    }
                }
                if let p {
                    var j = 0
                    while j + V.scalarCount <= c {
                        store(load(p + j) + load(gr + j) * load(xr + j) * s, p + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        p[j] += gr[j] * xr[j] * s
                        j += 1
                    }
                }
            }
        }
        if let dw, let pp { sumBlocks(pp, blocks: blocks, c: c, into: dw) }
    }

    // MARK: LayerNorm

    /// stats[r] = (mean, rstd) of row r; y[r] = (x[r] − mean) · rstd · w + b.
    static func layerNormForward(
        x: UnsafePointer<Float>, w: UnsafePointer<Float>?, b: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
        stats: UnsafeMutablePointer<Float>, rows: Int, c: Int, eps: Float
    ) {
        Parallel.forEachChunk(rows, minChunk: 8) { range in
            for r in range {
                let xr = x + r * c, yr = y + r * c
                var acc = V()
                var j = 0
                while j + V.scalarCount <= c {
                    acc += load(xr + j)
                    j += V.scalarCount
                }
                var total = acc.sum()
                while j < c {
                    total += xr[j]
                    j += 1
                }
                let mean = total / Float(c)
                acc = V()
                j = 0
                while j + V.scalarCount <= c {
                    let d = load(xr + j) - mean
                    acc += d * d
                    j += V.scalarCount
                }
                var ss = acc.sum()
                while j < c {
                    ss += (xr[j] - mean) * (xr[j] - mean)
                    j += 1
                }
                let s = 1 / (ss / Float(c) + eps).squareRoot()
                stats[2 * r] = mean
                stats[2 * r + 1] = s
                // Missing weight or bias read as 1 and 0 lane-wise; the branches stay outside the loop.
                j = 0
                switch (w, b) {
                case let (w?, b?):
                    while j + V.scalarCount <= c {
                        store((load(xr + j) - mean) * s * load(w + j) + load(b + j), yr + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        yr[j] = (xr[j] - mean) * s * w[j] + b[j]
                        j += 1
                    }
                case let (w?, nil):
                    while j + V.scalarCount <= c {
                        store((load(xr + j) - mean) * s * load(w + j), yr + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        yr[j] = (xr[j] - mean) * s * w[j]
                        j += 1
                    }
                case let (nil, b?):
                    while j + V.scalarCount <= c {
                        store((load(xr + j) - mean) * s + load(b + j), yr + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        yr[j] = (xr[j] - mean) * s + b[j]
                        j += 1
                    }
                case (nil, nil):
                    while j + V.scalarCount <= c {
                        store((load(xr + j) - mean) * s, yr + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        yr[j] = (xr[j] - mean) * s
                        j += 1
                    }
                }
            }
        }
    }

    /// With x̂ = (x − mean) · rstd and u = g ⊙ w:
    /// dx = rstd · (u − mean(u) − x̂ · mean(u ⊙ x̂)),   dw = Σ_r g ⊙ x̂,   db = Σ_r g.
    static func layerNormBackward(
        x: UnsafePointer<Float>, w: UnsafePointer<Float>?, stats: UnsafePointer<Float>, g: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?,
        rows: Int, c: Int
    ) {
        let blocks = (rows + normBlockRows - 1) / normBlockRows
        // Per block: the weight partial sum in the first C floats, the bias partial in the next C.
        let partials = dw == nil && db == nil ? nil : Tensor(uninitialized: [blocks, 2, c])
        let pp = partials?.data
        let ones = w == nil ? Tensor.filled([c], with: 1) : nil
        let scale = w ?? UnsafePointer(ones!.data)
        Parallel.forEach(blocks) { blk in
            let pw = pp.map { $0 + blk * 2 * c }, pb = pw.map { $0 + c }
            pw?.initialize(repeating: 0, count: 2 * c)
            for r in (blk * normBlockRows)..<min(rows, (blk + 1) * normBlockRows) {
                let xr = x + r * c, gr = g + r * c
                let mean = stats[2 * r], s = stats[2 * r + 1]
                if let dx {
                    let dr = dx + r * c
                    var accU = V(), accUX = V()
                    var j = 0
                    while j + V.scalarCount <= c {
                        let u = load(gr + j) * load(scale + j)
                        accU += u
                        accUX += u * ((load(xr + j) - mean) * s)
                        j += V.scalarCount
                    }
                    var sumU = accU.sum(), sumUX = accUX.sum()
                    while j < c {
                        let u = gr[j] * scale[j]
                        sumU += u
                        sumUX += u * ((xr[j] - mean) * s)
                        j += 1
                    }
                    let meanU = sumU / Float(c), meanUX = sumUX / Float(c)
                    j = 0
                    while j + V.scalarCount <= c {
                        let xhat = (load(xr + j) - mean) * s
                        store(s * (load(gr + j) * load(scale + j) - meanU - xhat * meanUX), dr + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        let xhat = (xr[j] - mean) * s
                        dr[j] = s * (gr[j] * scale[j] - meanU - xhat * meanUX)
                        j += 1
                    }
                }
                if let pw, let pb {
                    var j = 0
                    while j + V.scalarCount <= c {
                        let gv = load(gr + j)
                        store(load(pw + j) + gv * ((load(xr + j) - mean) * s), pw + j)
                        store(load(pb + j) + gv, pb + j)
                        j += V.scalarCount
                    }
                    while j < c {
                        pw[j] += gr[j] * ((xr[j] - mean) * s)
                        pb[j] += gr[j]
                        j += 1
                    }
                }
            }
        }
        guard let pp else { return }
        if let dw { sumBlocks(pp, blocks: blocks, c: c, stride: 2 * c, into: dw) }
        if let db { sumBlocks(pp + c, blocks: blocks, c: c, stride: 2 * c, into: db) }
    }

    // MARK: helpers

    /// out[j] = Σ_b partials[b · stride + j], added in block order.
    private static func sumBlocks(
        _ partials: UnsafePointer<Float>, blocks: Int, c: Int, stride: Int? = nil, into out: UnsafeMutablePointer<Float>
    ) {
        let stride = stride ?? c
        out.initialize(repeating: 0, count: c)
        for b in 0..<blocks {
            let p = partials + b * stride
            var j = 0
            while j + V.scalarCount <= c {
                store(load(out + j) + load(p + j), out + j)
                j += V.scalarCount
            }
            while j < c {
                out[j] += p[j]
                j += 1
            }
        }
    }

    private static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V()
        var j = 0
        while j + V.scalarCount <= n {
            acc += load(a + j) * load(b + j)
            j += V.scalarCount
        }
        var total = acc.sum()
        while j < n {
            total += a[j] * b[j]
            j += 1
        }
        return total
    }
}

private typealias V = SIMD16<Float>

extension Reference {
    /// RMSNorm in Double, row by row, straight from the definition.
    public static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, weightOffset: Float = 0) -> Tensor {
        let c = x.shape.last!, rows = c == 0 ? 0 : x.count / c
        let out = Tensor(uninitialized: x.shape)
        for r in 0..<rows {
            var ss = 0.0
            for j in 0..<c { ss += Double(x.data[r * c + j]) * Double(x.data[r * c + j]) }
            let inv = 1 / (ss / Double(c) + Double(eps)).squareRoot()
            for j in 0..<c {
                let w = weight.map { Double(weightOffset) + Double($0.data[j]) } ?? 1
                out.data[r * c + j] = Float(Double(x.data[r * c + j]) * inv * w)
            }
        }
        return out
    }

    /// Gradients of RMSNorm from its Jacobian, ∂y_k/∂x_j = w_k (δ_kj · s − x_k x_j s³ / C), in Double.
    public static func rmsNormBackward(
        _ x: Tensor, weight: Tensor?, eps: Float, weightOffset: Float = 0, grad g: Tensor
    ) -> (x: Tensor, weight: Tensor?) {
        let c = x.shape.last!, rows = c == 0 ? 0 : x.count / c
        let dx = Tensor.zeros(x.shape)
        var dw = [Double](repeating: 0, count: c)
        for r in 0..<rows {
            let xs = (0..<c).map { Double(x.data[r * c + $0]) }, gs = (0..<c).map { Double(g.data[r * c + $0]) }
            let ws = (0..<c).map { j in weight.map { Double(weightOffset) + Double($0.data[j]) } ?? 1 }
            let s = 1 / (xs.reduce(0) { $0 + $1 * $1 } / Double(c) + Double(eps)).squareRoot()
            for j in 0..<c {
                var acc = 0.0
                for k in 0..<c {
                    let jac = ws[k] * ((k == j ? s : 0) - xs[k] * xs[j] * s * s * s / Double(c))
                    acc += gs[k] * jac
                }
                dx.data[r * c + j] = Float(acc)
                dw[j] += gs[j] * xs[j] * s
            }
        }
        return (dx, weight == nil ? nil : try! Tensor(dw.map { Float($0) }, shape: [c]))
    }

    /// LayerNorm in Double, straight from the definition (biased variance).
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let c = x.shape.last!, rows = c == 0 ? 0 : x.count / c
        let out = Tensor(uninitialized: x.shape)
        for r in 0..<rows {
            let xs = (0..<c).map { Double(x.data[r * c + $0]) }
            let mean = xs.reduce(0, +) / Double(c)
            let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(c)
            let s = 1 / (variance + Double(eps)).squareRoot()
            for j in 0..<c {
                let w = weight.map { Double($0.data[j]) } ?? 1, b = bias.map { Double($0.data[j]) } ?? 0
                out.data[r * c + j] = Float((xs[j] - mean) * s * w + b)
            }
        }
        return out
    }

    /// Gradients of LayerNorm from its Jacobian, ∂y_k/∂x_j = w_k s (δ_kj − 1/C − x̂_k x̂_j / C), in Double.
    public static func layerNormBackward(
        _ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, grad g: Tensor
    ) -> (x: Tensor, weight: Tensor?, bias: Tensor?) {
        let c = x.shape.last!, rows = c == 0 ? 0 : x.count / c
        let dx = Tensor.zeros(x.shape)
        var dw = [Double](repeating: 0, count: c), db = [Double](repeating: 0, count: c)
        for r in 0..<rows {
            let xs = (0..<c).map { Double(x.data[r * c + $0]) }, gs = (0..<c).map { Double(g.data[r * c + $0]) }
            let ws = (0..<c).map { j in weight.map { Double($0.data[j]) } ?? 1 }
            let mean = xs.reduce(0, +) / Double(c)
            let s = 1 / (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(c) + Double(eps)).squareRoot()
            let xhat = xs.map { ($0 - mean) * s }
            for j in 0..<c {
                var acc = 0.0
                for k in 0..<c {
                    acc += gs[k] * ws[k] * s * ((k == j ? 1 : 0) - 1 / Double(c) - xhat[k] * xhat[j] / Double(c))
                }
                dx.data[r * c + j] = Float(acc)
                dw[j] += gs[j] * xhat[j]
                db[j] += gs[j]
            }
        }
        return (
            dx, weight == nil ? nil : try! Tensor(dw.map { Float($0) }, shape: [c]),
            bias == nil ? nil : try! Tensor(db.map { Float($0) }, shape: [c])
        )
    }
}
