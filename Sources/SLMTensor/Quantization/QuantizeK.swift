/// ggml's "K" super-block quantizers, as llama-quantize runs them without an importance matrix
/// (`quantize_row_q4_K_ref`, `quantize_row_q5_K_ref`, `quantize_row_q6_K_ref`), in Float32 with
/// each product and sum rounded separately. Block layouts (256 values each):
/// ```
/// Q4_K  f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) × 8 sub-blocks of 32, 128 bytes of nibbles
///       (byte 32g + l: value 64g + l low, 64g + 32 + l high); x ≈ d·scale·q − dmin·min, q in 0...15
/// Q5_K  as Q4_K, with 32 bytes of fifth bits before the nibbles (byte l, bit 2g / 2g + 1); q in 0...31
/// Q6_K  128 bytes of low nibbles, 64 bytes of high 2 bits, 16 × i8 scales (sub-blocks of 16), f16 d;
///       x ≈ d·scale·(q − 32), q in 0...63
/// ```
/// Q4_K / Q5_K fit each sub-block's scale and min by a weighted least-squares search over 21 / 16
/// candidate grids (`bestScalesAndMins`), weights |x| + rms(sub-block); the 8 scales and mins are
/// themselves quantized to 6 bits against the block's largest. Q6_K picks each sub-block's scale among
/// 19 candidates by weighted (x²) least squares (`bestSignedScales`), then quantizes the scales to
/// int8 against the largest-magnitude one. The searches run eight sub-blocks at once, one per SIMD
/// lane: the sums inside a sub-block keep ggml's order, so the bytes stay ggml's.
enum QuantizeK {
    /// ggml's `nearest_int`: round half to even.
    @inline(__always)
    static func nearest(_ x: Float) -> Int { Int(nearestFloat(x)) }

    /// x rounded half to even, as a Float, for |x| < 2^22 (all values these quantizers round): adding and
    /// subtracting 1.5·2^23 leaves no fraction bits, so the hardware's round-to-nearest-even does it.
    /// The same as `x.rounded(.toNearestOrEven)`, without a call to libm's rint per value.
    @inline(__always)
    static func nearestFloat(_ x: Float) -> Float { (x + 12_582_912) - 12_582_912 }

    @inline(__always)
    static func half(_ v: Float) -> Float { Float(Float16(v)) }

    /// Eight sub-blocks side by side, one per lane. Every comparison is between two vectors: Swift's
    /// vector-with-scalar comparisons go through a generic loop over the lanes.
    typealias Lanes = SIMD8<Float>

    /// ggml's nearest_int of each lane clamped to lowest...highest, kept in Float: `min(highest, max(lowest, n))`
    /// as the scalar reference compares (lanes of NaN, which the callers mask out, stay NaN).
    @inline(__always)
    static func clampedLevel(_ v: Lanes, _ lowest: Lanes, _ highest: Lanes) -> Lanes {
        var level = (v + 12_582_912) - 12_582_912  // `nearestFloat` lane by lane
        level.replace(with: lowest, where: level .< lowest)
        level.replace(with: highest, where: level .> highest)
        return level
    }

    /// |v| of each lane, as `abs` compares: −v where v < 0.
    @inline(__always)
    static func magnitude(_ v: Lanes) -> Lanes { v.replacing(with: -v, where: v .< Lanes()) }

    /// Q4_K (`five` false) or Q5_K (`five` true) of the 256 values at `x`.
    static func q4Kq5K(five: Bool, _ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 4 * 32) { lanes in  // values, weights, levels, trial levels
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 12) { bytes in
                let values = lanes.baseAddress!
                q4Kq5K(five: five, x, p, values: values, weights: values + 32, levels: values + 64, trial: values + 96,
                       levelBytes: bytes.baseAddress!, packed: bytes.baseAddress! + 256)
            }
        }
    }

    private static func q4Kq5K(
        five: Bool, _ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, values: UnsafeMutablePointer<Lanes>,
        weights: UnsafeMutablePointer<Lanes>, levels: UnsafeMutablePointer<Lanes>, trial: UnsafeMutablePointer<Lanes>,
        levelBytes: UnsafeMutablePointer<UInt8>, packed: UnsafeMutablePointer<UInt8>
    ) {
        let nmax = five ? 31 : 15
        for i in 0..<32 {
            for j in 0..<8 { values[i][j] = x[32 * j + i] }
        }
        var sumX2 = Lanes()
        for i in 0..<32 { sumX2 += values[i] * values[i] }
        let average = (sumX2 / 32).squareRoot()
        for i in 0..<32 { weights[i] = average + magnitude(values[i]) }
        let (scales, mins) = bestScalesAndMins(
            nmax: Float(nmax), values, weights, levels: levels, trial: trial, rmin: five ? -0.5 : -1, rdelta: 0.1, steps: five ? 15 : 20)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            if scales[j] > maxScale { maxScale = scales[j] }  // strict, as ggml: a −0 min must not replace 0
            if mins[j] > maxMin { maxMin = mins[j] }
            for i in 0..<32 { levelBytes[32 * j + i] = UInt8(levels[i][j]) }
        }
        let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0, inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
        for j in 0..<12 { packed[j] = 0 }
        for j in 0..<8 {
            let ls = min(63, UInt8(truncatingIfNeeded: nearest(inverseScale * scales[j])))
            let lm = min(63, UInt8(truncatingIfNeeded: nearest(inverseMin * mins[j])))
            if j < 4 {
                packed[j] = ls
                packed[j + 4] = lm
            } else {
                packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                packed[j - 4] |= (ls >> 4) << 6
                packed[j] |= (lm >> 4) << 6
            }
        }
        let d = half(maxScale / 63), dmin = half(maxMin / 63)
        p.storeBytes(of: Float16(maxScale / 63).bitPattern, as: UInt16.self)
        p.storeBytes(of: Float16(maxMin / 63).bitPattern, toByteOffset: 2, as: UInt16.self)
        for j in 0..<12 { p.storeBytes(of: packed[j], toByteOffset: 4 + j, as: UInt8.self) }
        for j in 0..<8 {
            let (sc, m) = scaleAndMin(j, packed)
            let dj = d * Float(sc)
            guard dj != 0 else { continue }
            let dm = dmin * Float(m)
            for i in 0..<32 { levelBytes[32 * j + i] = UInt8(max(0, min(nmax, nearest((x[32 * j + i] + dm) / dj)))) }
        }
        let low = five ? 48 : 16
        if five { for l in 0..<32 { p.storeBytes(of: UInt8(0), toByteOffset: 16 + l, as: UInt8.self) } }
        for g in 0..<4 {
            for l in 0..<32 {
                var a = levelBytes[64 * g + l], b = levelBytes[64 * g + 32 + l]
                if five {
                    var high = p.load(fromByteOffset: 16 + l, as: UInt8.self)
                    if a > 15 { a -= 16; high |= 1 << (2 * g) }
                    if b > 15 { b -= 16; high |= 2 << (2 * g) }
                    p.storeBytes(of: high, toByteOffset: 16 + l, as: UInt8.self)
                }
                p.storeBytes(of: a | (b << 4), toByteOffset: low + 32 * g + l, as: UInt8.self)
            }
        }
    }

    /// Sub-block j's 6-bit scale and min from the 12 packed bytes (ggml's `get_scale_min_k4`).
    @inline(__always)
    static func scaleAndMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    /// ggml's `make_qkx2_quants` (squared error) for eight sub-blocks of 32 at once, value i of
    /// sub-block j in lane j of `x[i]`: levels L in 0...nmax and (scale, min) per lane with
    /// x ≈ scale·L − min, min ≥ 0, trying grids of nmax + rmin + rdelta·k steps over [min(x, 0), max(x)].
    /// A grid that wins moves that lane's lower end for the grids after it, so the grids of one lane
    /// run in order; each lane does the scalar reference's operations in its order, bit for bit.
    static func bestScalesAndMins(
        nmax: Float, _ x: UnsafePointer<Lanes>, _ w: UnsafePointer<Lanes>, levels: UnsafeMutablePointer<Lanes>,
        trial: UnsafeMutablePointer<Lanes>, rmin: Float, rdelta: Float, steps: Int
    ) -> (scales: Lanes, mins: Lanes) {
        var low = x[0], high = x[0], sumW = w[0], sumX = w[0] * x[0]
        for i in 1..<32 {
            low.replace(with: x[i], where: x[i] .< low)
            high.replace(with: x[i], where: x[i] .> high)
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        let zero = Lanes(), top = Lanes(repeating: nmax)
        low.replace(with: zero, where: low .> zero)
        let flat = high .== low  // every value the same and ≤ 0: levels 0, scale 0, min −low
        let flatMin = -low
        var inverse = nmax / (high - low)
        var scale = 1 / inverse
        var bestError = Lanes()
        for i in 0..<32 {
            levels[i] = clampedLevel(inverse * (x[i] - low), zero, top)
            let diff = scale * levels[i] + low - x[i]
            bestError += w[i] * (diff * diff)
        }
        for step in 0...steps {
            inverse = (rmin + rdelta * Float(step) + nmax) / (high - low)
            var sumL = Lanes(), sumL2 = Lanes(), sumXL = Lanes()
            for i in 0..<32 {
                let level = clampedLevel(inverse * (x[i] - low), zero, top)
                trial[i] = level
                let weighted = w[i] * level
                sumL += weighted
                sumL2 += weighted * level
                sumXL += weighted * x[i]
            }
            let det = sumW * sumL2 - sumL * sumL
            var thisScale = (sumW * sumXL - sumX * sumL) / det
            var thisMin = (sumL2 * sumX - sumL * sumXL) / det
            let positiveMin = thisMin .> zero
            thisMin.replace(with: zero, where: positiveMin)
            thisScale.replace(with: sumXL / sumL2, where: positiveMin)
            var error = Lanes()
            for i in 0..<32 {
                let diff = thisScale * trial[i] + thisMin - x[i]
                error += w[i] * (diff * diff)
            }
            let better = (det .> zero) .& (error .< bestError)
            guard any(better) else { continue }
            for i in 0..<32 { levels[i].replace(with: trial[i], where: better) }
            bestError.replace(with: error, where: better)
            scale.replace(with: thisScale, where: better)
            low.replace(with: thisMin, where: better)
        }
        for i in 0..<32 { levels[i].replace(with: zero, where: flat) }
        scale.replace(with: zero, where: flat)
        var mins = -low
        mins.replace(with: flatMin, where: flat)
        return (scale, mins)
    }

    /// Q6_K of the 256 values at `x`.
    static func q6K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 4 * 16) { lanes in  // values, levels of sub-blocks 0..<8, then 8..<16
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levelBytes in
                let values = lanes.baseAddress!
                q6K(x, p, values: values, levels: values + 32, levelBytes: levelBytes.baseAddress!)
            }
        }
    }

    private static func q6K(
        _ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, values: UnsafeMutablePointer<Lanes>,
        levels: UnsafeMutablePointer<Lanes>, levelBytes: UnsafeMutablePointer<Int8>
    ) {
        for b in 0..<16 {
            for i in 0..<16 { values[16 * (b / 8) + i][b % 8] = x[16 * b + i] }
        }
        let firstScales = bestSignedScales(nmax: 32, values, levels: levels)
        let lastScales = bestSignedScales(nmax: 32, values + 16, levels: levels + 16)
        var maxScale: Float = 0, maxAbsScale: Float = 0
        for b in 0..<16 {
            let scale = b < 8 ? firstScales[b] : lastScales[b - 8]
            if abs(scale) > maxAbsScale {
                maxAbsScale = abs(scale)
                maxScale = scale
            }
            for i in 0..<16 { levelBytes[16 * b + i] = Int8(levels[16 * (b / 8) + i][b % 8]) + 32 }
        }
        guard maxAbsScale >= 1e-15 else {
            p.initializeMemory(as: UInt8.self, repeating: 0, count: GGMLType.q6_K.blockBytes)
            return
        }
        let inverse = -128 / maxScale
        p.storeBytes(of: Float16(1 / inverse).bitPattern, toByteOffset: 208, as: UInt16.self)
        let d = half(1 / inverse)
        for b in 0..<16 {
            let q = Int8(min(127, nearest(inverse * (b < 8 ? firstScales[b] : lastScales[b - 8]))))
            p.storeBytes(of: q, toByteOffset: 192 + b, as: Int8.self)
            let db = d * Float(q)
            guard db != 0 else { continue }
            for i in 0..<16 { levelBytes[16 * b + i] = Int8(max(-32, min(31, nearest(x[16 * b + i] / db))) + 32) }
        }
        for half in 0..<2 {
            let L = 128 * half, ql = 64 * half, qh = 128 + 32 * half
            for l in 0..<32 {
                let q1 = UInt8(levelBytes[L + l]), q2 = UInt8(levelBytes[L + l + 32])
                let q3 = UInt8(levelBytes[L + l + 64]), q4 = UInt8(levelBytes[L + l + 96])
                p.storeBytes(of: (q1 & 0xF) | ((q3 & 0xF) << 4), toByteOffset: ql + l, as: UInt8.self)
                p.storeBytes(of: (q2 & 0xF) | ((q4 & 0xF) << 4), toByteOffset: ql + l + 32, as: UInt8.self)
                p.storeBytes(of: (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6), toByteOffset: qh + l, as: UInt8.self)
            }
        }
    }

    /// ggml's `make_qx_quants` with rmse_type 1 (weights x²) for eight sub-blocks of 16 at once,
    /// value i of sub-block b in lane b of `x[i]`: levels L in −nmax..<nmax and the scale s per lane
    /// with x ≈ s·L, the best of 19 grids −(nmax + 0.1k) / max (max: the value of largest magnitude).
    /// A lane whose values are all (nearly) zero gets scale 0 and levels −nmax. Each lane does the
    /// scalar reference's operations in its order, bit for bit.
    static func bestSignedScales(nmax: Float, _ x: UnsafePointer<Lanes>, levels: UnsafeMutablePointer<Lanes>) -> Lanes {
        let zero = Lanes(), lowest = Lanes(repeating: -nmax), highest = Lanes(repeating: nmax - 1)
        var amax = Lanes(), signedMax = Lanes()
        for i in 0..<16 {
            let size = magnitude(x[i]), larger = size .> amax
            amax.replace(with: size, where: larger)
            signedMax.replace(with: x[i], where: larger)
        }
        var inverse = -nmax / signedMax
        var sumLX = Lanes(), sumL2 = Lanes()
        for i in 0..<16 {
            levels[i] = clampedLevel(inverse * x[i], lowest, highest)
            let w = x[i] * x[i]
            sumLX += w * x[i] * levels[i]
            sumL2 += w * levels[i] * levels[i]
        }
        var scale = sumLX / sumL2
        scale.replace(with: zero, where: sumL2 .== zero)
        var best = scale * sumLX
        for k in -9...9 where k != 0 {
            inverse = -(nmax + 0.1 * Float(k)) / signedMax
            sumLX = zero
            sumL2 = zero
            for i in 0..<16 {
                let w = x[i] * x[i], level = clampedLevel(inverse * x[i], lowest, highest)
                sumLX += w * x[i] * level
                sumL2 += w * level * level
            }
            let better = (sumL2 .> zero) .& (sumLX * sumLX .> best * sumL2)
            guard any(better) else { continue }
            for i in 0..<16 { levels[i].replace(with: clampedLevel(inverse * x[i], lowest, highest), where: better) }
            scale.replace(with: sumLX / sumL2, where: better)
            best.replace(with: scale * sumLX, where: better)
        }
        let tiny = amax .< Lanes(repeating: 1e-15)
        for i in 0..<16 { levels[i].replace(with: lowest, where: tiny) }
        scale.replace(with: zero, where: tiny)
        return scale
    }
}
