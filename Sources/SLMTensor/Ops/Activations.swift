import Foundation

/// How GELU evaluates the normal CDF Φ, named as PyTorch's `approximate` argument.
public enum GELUApproximation: String, Sendable, CaseIterable {
    /// gelu(x) = x · Φ(x) = x · ½(1 + erf(x / √2)): PyTorch's default, Hugging Face's "gelu".
    case none
    /// gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))): Hugging Face's "gelu_pytorch_tanh" and "gelu_new".
    case tanh
}

/// Activations of the MLP block, and `narrow` to split fused projections.
///
/// Each activation is one pass over its input(s) writing one output; backward
/// recomputes what it needs from the saved inputs (no intermediate tensors).
/// The math of each is one SIMD16 function below (`SiLU`, `GELUErf`,
/// `GELUTanh`), shared by the plain and the gated (GLU) forms.
extension Tensor {
    /// SiLU (swish): y = x · σ(x).
    public func silu() throws -> Tensor { try activation("silu", SiLU.self) }

    /// GELU with the exact normal CDF (`.none`) or PyTorch's tanh approximation.
    public func gelu(_ approximation: GELUApproximation = .none) throws -> Tensor {
        switch approximation {
        case .none: try activation("gelu", GELUErf.self)
        case .tanh: try activation("gelu", GELUTanh.self)
        }
    }

    /// SwiGLU, the gated MLP of Llama, Qwen, Phi-3: y = silu(gate) ⊙ up; gate and up [..., F] of one shape.
    public static func swiglu(gate: Tensor, up: Tensor) throws -> Tensor {
        try gated("swiglu", SiLU.self, gate: gate, up: up)
    }

    /// GeGLU, Gemma's gated MLP: y = gelu(gate) ⊙ up; gate and up [..., F] of one shape.
    public static func geglu(gate: Tensor, up: Tensor, approximation: GELUApproximation = .none) throws -> Tensor {
        switch approximation {
        case .none: try gated("geglu", GELUErf.self, gate: gate, up: up)
        case .tanh: try gated("geglu", GELUTanh.self, gate: gate, up: up)
        }
    }

    /// The columns `range` of the last axis: x [..., C] → [..., range.count].
    /// Splits fused projections, e.g. Phi-3's qkv_proj output into q, k, v and its
    /// gate_up_proj output into gate (first half) and up. Backward writes the
    /// gradient into those columns of a zero tensor.
    public func narrow(lastAxis range: Range<Int>) throws -> Tensor {
        guard let c = shape.last else { throw TensorError(op: "narrow", "needs at least one dimension, got a scalar") }
        guard range.lowerBound >= 0, range.upperBound <= c else {
            throw TensorError(op: "narrow", "columns \(range) outside the last axis of \(shape) (0..<\(c))")
        }
        let rows = c == 0 ? 0 : count / c, w = range.count, start = range.lowerBound
        let out = Tensor(uninitialized: Array(shape.dropLast()) + [w])
        let src = data, dst = out.data
        if w > 0 {
            Parallel.forEachChunk(rows, minChunk: max(1, Kernels.elementwiseChunk / w)) { r in
                for row in r { (dst + row * w).update(from: src + row * c + start, count: w) }
            }
        }
        let inputShape = shape
        return try Tensor.record("narrow", out, inputs: [self]) { g in
            let grad = Tensor(uninitialized: inputShape)
            let gs = g.data, gd = grad.data
            Parallel.forEachChunk(rows, minChunk: max(1, Kernels.elementwiseChunk / max(c, 1))) { r in
                for row in r {
                    let d = gd + row * c
                    d.initialize(repeating: 0, count: start)
                    (d + start).update(from: gs + row * w, count: w)
                    (d + range.upperBound).initialize(repeating: 0, count: c - range.upperBound)
                }
            }
            return [grad]
        }
    }

    private func activation<A: ActivationMath>(_ op: String, _: A.Type) throws -> Tensor {
        let out = Tensor(uninitialized: shape)
        let x = self, px = data, py = out.data
        Kernels.forEachVectorChunk(count) { r in
            var i = r.lowerBound
            while i + width <= r.upperBound {
                store(A.value(load(px + i)), py + i)
                i += width
            }
            let n = r.upperBound - i
            if n > 0 { store(A.value(load(px + i, n)), py + i, n) }
        }
        return try Tensor.record(op, out, inputs: [x]) { g in
            let grad = Tensor(uninitialized: x.shape)
            let pg = g.data, pd = grad.data
            Kernels.forEachVectorChunk(x.count) { r in
                var i = r.lowerBound
                while i + width <= r.upperBound {
                    store(load(pg + i) * A.valueAndSlope(load(px + i)).slope, pd + i)
                    i += width
                }
                let n = r.upperBound - i
                if n > 0 { store(load(pg + i, n) * A.valueAndSlope(load(px + i, n)).slope, pd + i, n) }
            }
            return [grad]
        }
    }

    private static func gated<A: ActivationMath>(_ op: String, _: A.Type, gate: Tensor, up: Tensor) throws -> Tensor {
        guard gate.shape == up.shape else {
            throw TensorError(op: op, "gate \(gate.shape) and up \(up.shape) must have one shape")
        }
        let out = Tensor(uninitialized: gate.shape)
        let pa = gate.data, pu = up.data, py = out.data
        Kernels.forEachVectorChunk(out.count) { r in
            var i = r.lowerBound
            while i + width <= r.upperBound {
                store(A.value(load(pa + i)) * load(pu + i), py + i)
                i += width
            }
            let n = r.upperBound - i
            if n > 0 { store(A.value(load(pa + i, n)) * load(pu + i, n), py + i, n) }
        }
        return try Tensor.record(op, out, inputs: [gate, up]) { g in
            // d gate = g ⊙ up ⊙ act′(gate),  d up = g ⊙ act(gate)
            let dGate = gate.requiresGrad ? Tensor(uninitialized: gate.shape) : nil
            let dUp = up.requiresGrad ? Tensor(uninitialized: up.shape) : nil
            let pg = g.data, dg = dGate?.data, du = dUp?.data
            Kernels.forEachVectorChunk(out.count) { r in
                var i = r.lowerBound
                while i + width <= r.upperBound {
                    let gv = load(pg + i)
                    let (value, slope) = A.valueAndSlope(load(pa + i))
                    if let dg { store(gv * load(pu + i) * slope, dg + i) }
                    if let du { store(gv * value, du + i) }
                    i += width
                }
                let n = r.upperBound - i
                if n > 0 {
                    let gv = load(pg + i, n)
                    let (value, slope) = A.valueAndSlope(load(pa + i, n))
                    if let dg { store(gv * load(pu + i, n) * slope, dg + i, n) }
                    if let du { store(gv * value, du + i, n) }
                }
            }
            return [dGate, dUp]
        }
    }
}

extension Kernels {
    /// Splits `0..<count` across threads in chunks of whole SIMD16 vectors (only the last chunk may end
    /// in a partial vector), so that every element is computed by the same lane math whatever the thread count.
    static func forEachVectorChunk(_ count: Int, _ body: (Range<Int>) -> Void) {
        let width = SIMD16<Float>.scalarCount
        Parallel.forEachChunk((count + width - 1) / width, minChunk: elementwiseChunk / width) { vectors in
            body((vectors.lowerBound * width)..<min(count, vectors.upperBound * width))
        }
    }
}

private typealias V = SIMD16<Float>

/// One activation's math on 16 lanes: its value, and its value with the derivative.
private protocol ActivationMath {
    static func value(_ x: V) -> V
    static func valueAndSlope(_ x: V) -> (value: V, slope: V)
}

/// silu(x) = x σ(x),  silu′(x) = σ(x) (1 + x (1 − σ(x))).
private enum SiLU: ActivationMath {
    @inline(__always) static func value(_ x: V) -> V { x / (1 + FastMath.exp(-x)) }

    @inline(__always) static func valueAndSlope(_ x: V) -> (value: V, slope: V) {
        let e = FastMath.exp(-x)
        let s = 1 / (1 + e)
        return (x * s, s * (1 + x * (e * s)))  // 1 − σ = e σ, without cancellation
    }
}

/// gelu(x) = x Φ(x),  gelu′(x) = Φ(x) + x φ(x), with erf from Abramowitz & Stegun 7.1.26
/// (absolute error ≤ 1.5e-7; the approximation PyTorch's vectorised CPU kernel uses).
private enum GELUErf: ActivationMath {
    /// (Φ(x), exp(−x²/2)).
    @inline(__always) static func cdf(_ x: V) -> (V, V) {
        let a = abs(x) * Float(0.5.squareRoot())
        let t = 1 / (1 + 0.3275911 * a)
        var p = 1.061405429 * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        let e = FastMath.exp(-a * a)
        let tail = 0.5 * p * t * e  // ½ erfc(|x| / √2) = Φ(−|x|)
        return (tail.replacing(with: 1 - tail, where: x .>= 0), e)
    }

    @inline(__always) static func value(_ x: V) -> V { x * cdf(x).0 }

    @inline(__always) static func valueAndSlope(_ x: V) -> (value: V, slope: V) {
        let (phi, e) = cdf(x)
        return (x * phi, phi + x * e * Float(1 / (2 * Double.pi).squareRoot()))
    }
}

/// ½x(1 + tanh u) = x σ(2u) with u = √(2/π)(x + 0.044715x³), which needs one exp and no cancellation;
/// derivative σ(2u) + 2x σ(2u)(1 − σ(2u)) u′.
private enum GELUTanh: ActivationMath {
    static let k = Float((2 / Double.pi).squareRoot())

    @inline(__always) static func value(_ x: V) -> V {
        let u = k * (x + 0.044715 * x * x * x)
        return x / (1 + FastMath.exp(-2 * u))
    }

    @inline(__always) static func valueAndSlope(_ x: V) -> (value: V, slope: V) {
        let x2 = x * x
        let u = k * (x + 0.044715 * x2 * x)
        let e = FastMath.exp(-2 * u)
        let s = 1 / (1 + e)
        let du = k * (1 + 3 * 0.044715 * x2)
        return (x * s, s + 2 * x * s * (e * s) * du)  // 1 − σ = e σ, without cancellation
    }
}

@inline(__always) private func abs(_ x: V) -> V {
    unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: V.self)
}

private let width = 16  // V.scalarCount

/// The first n (< 16) floats at p as a vector; missing lanes are zero.
private func load(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> V {
    var v = V()
    for k in 0..<n { v[k] = p[k] }
    return v
}

private func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for k in 0..<n { p[k] = v[k] }
}

extension Reference {
    /// silu(x) = x / (1 + e^−x) in Double.
    public static func silu(_ x: Tensor) -> Tensor { map(x) { siluValueAndSlope($0).0 } }

    /// d x = g · σ(x)(1 + x(1 − σ(x))) in Double.
    public static func siluBackward(_ x: Tensor, grad: Tensor) -> Tensor {
        zip(x, grad) { x, g in g * siluValueAndSlope(x).1 }
    }

    /// gelu in Double: x·½(1 + erf(x/√2)), or ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    public static func gelu(_ x: Tensor, _ approximation: GELUApproximation = .none) -> Tensor {
        map(x) { geluValueAndSlope($0, approximation).0 }
    }

    public static func geluBackward(_ x: Tensor, _ approximation: GELUApproximation = .none, grad: Tensor) -> Tensor {
        zip(x, grad) { x, g in g * geluValueAndSlope(x, approximation).1 }
    }

    /// silu(gate) ⊙ up in Double.
    public static func swiglu(gate: Tensor, up: Tensor) -> Tensor {
        zip(gate, up) { a, u in siluValueAndSlope(a).0 * u }
    }

    /// (d gate, d up) of swiglu: (g · up · silu′(gate), g · silu(gate)).
    public static func swigluBackward(gate: Tensor, up: Tensor, grad: Tensor) -> (gate: Tensor, up: Tensor) {
        let gu = zip(up, grad) { $0 * $1 }
        return (zip(gate, gu) { a, gu in gu * siluValueAndSlope(a).1 }, zip(gate, grad) { a, g in g * siluValueAndSlope(a).0 })
    }

    /// gelu(gate) ⊙ up in Double.
    public static func geglu(gate: Tensor, up: Tensor, approximation: GELUApproximation = .none) -> Tensor {
        zip(gate, up) { a, u in geluValueAndSlope(a, approximation).0 * u }
    }

    /// (d gate, d up) of geglu: (g · up · gelu′(gate), g · gelu(gate)).
    public static func gegluBackward(
        gate: Tensor, up: Tensor, approximation: GELUApproximation = .none, grad: Tensor
    ) -> (gate: Tensor, up: Tensor) {
        let gu = zip(up, grad) { $0 * $1 }
        return (
            zip(gate, gu) { a, gu in gu * geluValueAndSlope(a, approximation).1 },
            zip(gate, grad) { a, g in g * geluValueAndSlope(a, approximation).0 }
        )
    }

    /// Columns `range` of the last axis, copied element by element.
    public static func narrow(_ x: Tensor, lastAxis range: Range<Int>) -> Tensor {
        let c = x.shape.last!, rows = c == 0 ? 0 : x.count / c
        let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [range.count])
        for r in 0..<rows {
            for (k, j) in range.enumerated() { out.data[r * range.count + k] = x.data[r * c + j] }
        }
        return out
    }

    /// The gradient of `narrow`: `grad` in columns `range` of zeros shaped like the input.
    public static func narrowBackward(inputShape: [Int], lastAxis range: Range<Int>, grad: Tensor) -> Tensor {
        let c = inputShape.last!, out = Tensor.zeros(inputShape), rows = c == 0 ? 0 : out.count / c
        for r in 0..<rows {
            for (k, j) in range.enumerated() { out.data[r * c + j] = grad.data[r * range.count + k] }
        }
        return out
    }

    private static func siluValueAndSlope(_ x: Double) -> (Double, Double) {
        let s = 1 / (1 + Foundation.exp(-x))
        return (x * s, s * (1 + x * (1 - s)))
    }

    private static func geluValueAndSlope(_ x: Double, _ approximation: GELUApproximation) -> (Double, Double) {
        switch approximation {
        case .none:
            let cdf = 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot()))
            let pdf = Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot()
            return (x * cdf, cdf + x * pdf)
        case .tanh:
            let k = (2 / Double.pi).squareRoot()
            let t = Foundation.tanh(k * (x + 0.044715 * x * x * x))
            let slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
            return (0.5 * x * (1 + t), slope)
        }
    }

    private static func map(_ x: Tensor, _ f: (Double) -> Double) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        for i in 0..<x.count { out.data[i] = Float(f(Double(x.data[i]))) }
        return out
    }

    private static func zip(_ x: Tensor, _ y: Tensor, _ f: (Double, Double) -> Double) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        for i in 0..<x.count { out.data[i] = Float(f(Double(x.data[i]), Double(y.data[i]))) }
        return out
    }
}
