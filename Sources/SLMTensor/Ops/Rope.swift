import Foundation
import Synchronization

/// The inverse frequencies of rotary position embedding, and the factor cos and sin are scaled by.
///
/// Pair i (i < rotaryDim / 2) of a head turns by the angle position · inverseFrequencies[i].
/// The factories follow Hugging Face transformers' `ROPE_INIT_FUNCTIONS` (computed here in
/// Double): "default" is `.standard`, "linear" is `.linear`, "llama3" is `.llama3`; other
/// schemes (LongRoPE, YaRN) give their frequencies and attention factor to `init`.
///
/// cos and sin are computed in Double and stored as Float in a table by position, built on
/// first use and shared by every copy of this value (so q and k, forward and backward, and
/// every layer reuse it).
public struct RopeFrequencies: Sendable, Equatable {
    /// inv_freq_i, i in 0..<rotaryDim/2.
    public let inverseFrequencies: [Double]
    /// cos and sin are multiplied by this ("attention_factor"; 1 except for YaRN and LongRoPE).
    public let attentionScaling: Double
    /// Leading dimensions of each head that rotate; the rest pass through (partial rotary).
    public var rotaryDim: Int { 2 * inverseFrequencies.count }

    let table: RopeTable

    public init(inverseFrequencies: [Double], attentionScaling: Double = 1) throws {
        guard !inverseFrequencies.isEmpty else {
            throw TensorError(op: "RopeFrequencies", "needs at least one inverse frequency (rotaryDim ≥ 2)")
        }
        if let bad = inverseFrequencies.first(where: { !$0.isFinite }) {
            throw TensorError(op: "RopeFrequencies", "inverse frequency \(bad) is not finite")
        }
        guard attentionScaling.isFinite else {
            throw TensorError(op: "RopeFrequencies", "attention scaling \(attentionScaling) is not finite")
        }
        self.inverseFrequencies = inverseFrequencies
        self.attentionScaling = attentionScaling
        self.table = RopeTable(inverseFrequencies: inverseFrequencies, scaling: attentionScaling)
    }

    /// inv_freq_i = base^(−2i / rotaryDim), i in 0..<rotaryDim/2 ("rope_theta" is the base).
    public static func standard(base: Double, rotaryDim: Int) throws -> RopeFrequencies {
        try RopeFrequencies(inverseFrequencies: standardInverseFrequencies(base: base, rotaryDim: rotaryDim))
    }

    /// Position interpolation: the standard frequencies divided by `factor`.
    public static func linear(base: Double, rotaryDim: Int, factor: Double) throws -> RopeFrequencies {
        guard factor > 0, factor.isFinite else { throw TensorError(op: "RopeFrequencies", "linear factor must be > 0, got \(factor)") }
        return try RopeFrequencies(inverseFrequencies: standardInverseFrequencies(base: base, rotaryDim: rotaryDim).map { $0 / factor })
    }

    /// Llama 3.1 scaling, as transformers' `_compute_llama3_parameters`: wavelengths 2π / inv_freq
    /// shorter than originalMaxPositions / highFreqFactor are kept, longer than
    /// originalMaxPositions / lowFreqFactor are divided by `factor`, and those between are
    /// interpolated with smooth = (originalMaxPositions / wavelength − low) / (high − low).
    public static func llama3(
        base: Double, rotaryDim: Int, factor: Double, lowFreqFactor: Double, highFreqFactor: Double,
        originalMaxPositions: Int
    ) throws -> RopeFrequencies {
        guard factor > 0, lowFreqFactor > 0, highFreqFactor > lowFreqFactor, originalMaxPositions > 0 else {
            throw TensorError(
                op: "RopeFrequencies",
                "llama3 needs factor > 0, 0 < lowFreqFactor < highFreqFactor and originalMaxPositions > 0; got factor \(factor), "
                    + "lowFreqFactor \(lowFreqFactor), highFreqFactor \(highFreqFactor), originalMaxPositions \(originalMaxPositions)")
        }
        let oldContext = Double(originalMaxPositions)
        let lowFreqWavelength = oldContext / lowFreqFactor, highFreqWavelength = oldContext / highFreqFactor
        let scaled = try standardInverseFrequencies(base: base, rotaryDim: rotaryDim).map { f -> Double in
            let wavelength = 2 * Double.pi / f
            if wavelength < highFreqWavelength { return f }
            if wavelength > lowFreqWavelength { return f / factor }
            let smooth = (oldContext / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
            return (1 - smooth) * f / factor + smooth * f
        }
        return try RopeFrequencies(inverseFrequencies: scaled)
    }

    private static func standardInverseFrequencies(base: Double, rotaryDim: Int) throws -> [Double] {
        guard rotaryDim > 0, rotaryDim % 2 == 0 else {
            throw TensorError(op: "RopeFrequencies", "rotaryDim must be even and > 0, got \(rotaryDim)")
        }
        guard base > 0, base.isFinite else { throw TensorError(op: "RopeFrequencies", "base must be > 0, got \(base)") }
        return (0..<rotaryDim / 2).map { i in 1 / Foundation.pow(base, Double(2 * i) / Double(rotaryDim)) }
    }

    public static func == (a: RopeFrequencies, b: RopeFrequencies) -> Bool {
        a.inverseFrequencies == b.inverseFrequencies && a.attentionScaling == b.attentionScaling
    }
}

extension Tensor {
    /// Rotary position embedding, Hugging Face's rotate_half layout, on x [N, H, D]
    /// (N = B·T tokens, H heads, head dim D) with one position per token (packed
    /// samples restart at 0). With half = rotaryDim / 2, c = cos(p · inv_freq_i) and
    /// s = sin(p · inv_freq_i), each scaled by the attention factor, for i < half:
    ///
    ///     y[i]        = x[i] · c − x[i + half] · s
    ///     y[i + half] = x[i + half] · c + x[i] · s
    ///
    /// and dimensions rotaryDim..<D pass through. Backward applies the inverse rotation.
    public func rope(positions: [Int32], frequencies: RopeFrequencies) throws -> Tensor {
        let op = "rope"
        guard rank == 3 else { throw TensorError(op: op, "input must be [tokens, heads, headDim], got \(shape)") }
        let n = shape[0], h = shape[1], d = shape[2], half = frequencies.inverseFrequencies.count
        guard positions.count == n else {
            throw TensorError(op: op, "\(positions.count) positions for \(n) tokens of input \(shape)")
        }
        guard 2 * half <= d else {
            throw TensorError(op: op, "rotaryDim \(2 * half) exceeds the head dimension of input \(shape)")
        }
        if let bad = positions.firstIndex(where: { $0 < 0 }) {
            throw TensorError(op: op, "position \(positions[bad]) of token \(bad) is negative")
        }
        let (rows, tableRow) = frequencies.table.rows(for: positions)
        let out = Tensor(uninitialized: shape)
        Kernels.rope(data, out.data, rows: rows, tableRow: tableRow, n: n, h: h, d: d, half: half, sinSign: 1)
        let inputShape = shape
        return try Tensor.record(op, out, inputs: [self]) { g in
            let grad = Tensor(uninitialized: inputShape)
            Kernels.rope(g.data, grad.data, rows: rows, tableRow: tableRow, n: n, h: h, d: d, half: half, sinSign: -1)
            return [grad]
        }
    }
}

/// cos and sin rows of a `RopeFrequencies`, row p holding position p, grown on demand.
/// A snapshot is immutable once built, so readers keep using theirs while it is replaced.
final class RopeTable: Sendable {
    final class Rows: Sendable {
        let count: Int
        let cos: [Float], sin: [Float]  // [count, half]

        init(_ positions: some Collection<Int>, _ inverseFrequencies: [Double], _ scaling: Double) {
            count = positions.count
            var cos = [Float](), sin = [Float]()
            cos.reserveCapacity(count * inverseFrequencies.count)
            sin.reserveCapacity(count * inverseFrequencies.count)
            for p in positions {
                for f in inverseFrequencies {
                    let angle = Double(p) * f
                    cos.append(Float(Foundation.cos(angle) * scaling))
                    sin.append(Float(Foundation.sin(angle) * scaling))
                }
            }
            self.cos = cos
            self.sin = sin
        }
    }

    /// Positions beyond this are not cached (the table would be too large); such calls build rows per token.
    static let maxCachedPositions = 1 << 16

    private let inverseFrequencies: [Double]
    private let scaling: Double
    private let cached = Mutex<Rows?>(nil)

    init(inverseFrequencies: [Double], scaling: Double) {
        self.inverseFrequencies = inverseFrequencies
        self.scaling = scaling
    }

    /// The rows to use for `positions`, and the row of each token in them.
    func rows(for positions: [Int32]) -> (Rows, [Int32]) {
        let maxPosition = Int(positions.max() ?? 0)
        guard maxPosition < Self.maxCachedPositions else {
            return (Rows(positions.lazy.map { Int($0) }, inverseFrequencies, scaling), positions.indices.map { Int32($0) })
        }
        let rows = cached.withLock { table -> Rows in
            if let table, table.count > maxPosition { return table }
            var capacity = 1024
            while capacity <= maxPosition { capacity *= 2 }
            let grown = Rows(0..<capacity, inverseFrequencies, scaling)
            table = grown
            return grown
        }
        return (rows, positions)
    }
}

extension Kernels {
    /// Rotates the first 2·half dims of every head of `src` [n, h, d] into `dst`, token t by the
    /// cos/sin row tableRow[t]; sinSign −1 turns the other way (the inverse, for backward).
    static func rope(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: RopeTable.Rows, tableRow: [Int32],
        n: Int, h: Int, d: Int, half: Int, sinSign: Float
    ) {
        rows.cos.withUnsafeBufferPointer { cosTable in
            rows.sin.withUnsafeBufferPointer { sinTable in
                tableRow.withUnsafeBufferPointer { tableRow in
                    let cosBase = cosTable.baseAddress!, sinBase = sinTable.baseAddress!
                    Parallel.forEachChunk(n, minChunk: max(1, elementwiseChunk / max(h * d, 1))) { tokens in
                        for t in tokens {
                            let c = cosBase + Int(tableRow[t]) * half, s = sinBase + Int(tableRow[t]) * half
                            for head in 0..<h {
                                let x = src + (t * h + head) * d, y = dst + (t * h + head) * d
                                var i = 0
                                while i + V.scalarCount <= half {
                                    let x1 = load(x + i), x2 = load(x + half + i)
                                    let cv = load(c + i), sv = load(s + i) * sinSign
                                    store(x1 * cv - x2 * sv, y + i)
                                    store(x2 * cv + x1 * sv, y + half + i)
                                    i += V.scalarCount
                                }
                                while i < half {
                                    let x1 = x[i], x2 = x[half + i], cv = c[i], sv = s[i] * sinSign
                                    y[i] = x1 * cv - x2 * sv
                                    y[half + i] = x2 * cv + x1 * sv
                                    i += 1
                                }
                                if 2 * half < d { (y + 2 * half).update(from: x + 2 * half, count: d - 2 * half) }
                            }
                        }
                    }
                }
            }
        }
    }
}

private typealias V = SIMD16<Float>

extension Reference {
    /// RoPE element by element, cos and sin in Double from the inverse frequencies.
    public static func rope(_ x: Tensor, positions: [Int32], frequencies: RopeFrequencies) -> Tensor {
        rotate(x, positions: positions, frequencies: frequencies, direction: 1)
    }

    /// The gradient of RoPE: the transpose of the rotation, i.e. rotation by −angle.
    public static func ropeBackward(positions: [Int32], frequencies: RopeFrequencies, grad: Tensor) -> Tensor {
        rotate(grad, positions: positions, frequencies: frequencies, direction: -1)
    }

    private static func rotate(_ x: Tensor, positions: [Int32], frequencies: RopeFrequencies, direction: Double) -> Tensor {
        let (n, h, d) = (x.shape[0], x.shape[1], x.shape[2])
        let half = frequencies.inverseFrequencies.count
        let out = x.copy()
        for t in 0..<n {
            for head in 0..<h {
                let base = (t * h + head) * d
                for i in 0..<half {
                    let angle = Double(positions[t]) * frequencies.inverseFrequencies[i]
                    let c = Foundation.cos(angle) * frequencies.attentionScaling
                    let s = direction * Foundation.sin(angle) * frequencies.attentionScaling
                    let x1 = Double(x.data[base + i]), x2 = Double(x.data[base + half + i])
                    out.data[base + i] = Float(x1 * c - x2 * s)
                    out.data[base + half + i] = Float(x2 * c + x1 * s)
                }
            }
        }
        return out
    }
}
