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
/// candidate grids (`bestScaleAndMin`), weights |x| + rms(sub-block); the 8 scales and mins are
/// themselves quantized to 6 bits against the block's largest. Q6_K picks each sub-block's scale among
/// 19 candidates by weighted (x²) least squares (`bestSignedScale`), then quantizes the scales to
/// int8 against the largest-magnitude one.
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

    /// Q4_K (`five` false) or Q5_K (`five` true) of the 256 values at `x`.
    static func q4Kq5K(five: Bool, _ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 12) { bytes in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + 8 + 8 + 32) { floats in  // weights, scales, mins, trial levels
                q4Kq5K(five: five, x, p, levels: bytes.baseAddress!, trial: floats.baseAddress! + 48, packed: bytes.baseAddress! + 256,
                       weights: floats.baseAddress!, scales: floats.baseAddress! + 32, mins: floats.baseAddress! + 40)
            }
        }
    }

    private static func q4Kq5K(
        five: Bool, _ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, levels: UnsafeMutablePointer<UInt8>,
        trial: UnsafeMutablePointer<Float>, packed: UnsafeMutablePointer<UInt8>, weights: UnsafeMutablePointer<Float>,
        scales: UnsafeMutablePointer<Float>, mins: UnsafeMutablePointer<Float>
    ) {
        let nmax = five ? 31 : 15
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let sub = x + 32 * j
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += sub[l] * sub[l] }
            let average = (sumX2 / 32).squareRoot()
            for l in 0..<32 { weights[l] = average + abs(sub[l]) }
            (scales[j], mins[j]) = bestScaleAndMin(
                nmax: nmax, n: 32, sub, weights, levels + 32 * j, trial: trial, rmin: five ? -0.5 : -1, rdelta: 0.1, steps: five ? 15 : 20)
            if scales[j] > maxScale { maxScale = scales[j] }  // strict, as ggml: a −0 min must not replace 0
            if mins[j] > maxMin { maxMin = mins[j] }
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
            for i in 0..<32 { levels[32 * j + i] = UInt8(max(0, min(nmax, nearest((x[32 * j + i] + dm) / dj)))) }
        }
        let low = five ? 48 : 16
        if five { for l in 0..<32 { p.storeBytes(of: UInt8(0), toByteOffset: 16 + l, as: UInt8.self) } }
        for g in 0..<4 {
            for l in 0..<32 {
                var a = levels[64 * g + l], b = levels[64 * g + 32 + l]
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

    /// ggml's `make_qkx2_quants` (squared error): levels L in 0...nmax and (scale, min) with
    /// x ≈ scale·L − min, min ≥ 0, trying grids of nmax + rmin + rdelta·k steps over [min(x, 0), max(x)].
    static func bestScaleAndMin(
        nmax: Int, n: Int, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<UInt8>,
        trial: UnsafeMutablePointer<Float>, rmin: Float, rdelta: Float, steps: Int
    ) -> (scale: Float, min: Float) {
        var low = x[0], high = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < low { low = x[i] }
            if x[i] > high { high = x[i] }
            sumW += weights[i]
            sumX += weights[i] * x[i]
        }
        if low > 0 { low = 0 }
        if high == low {
            for i in 0..<n { levels[i] = 0 }
            return (0, -low)
        }
        var inverse = Float(nmax) / (high - low)
        var scale = 1 / inverse
        var bestError: Float = 0
        for i in 0..<n {
            levels[i] = UInt8(max(0, min(nmax, nearest(inverse * (x[i] - low)))))
            let diff = scale * Float(levels[i]) + low - x[i]
            bestError += weights[i] * (diff * diff)
        }
        for step in 0...steps {
            inverse = (rmin + rdelta * Float(step) + Float(nmax)) / (high - low)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                // nearest_int clamped to 0...nmax, kept in Float (the same integer, without a trapping conversion)
                let fl = min(Float(nmax), max(0, nearestFloat(inverse * (x[i] - low))))
                trial[i] = fl
                let w = weights[i]
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let det = sumW * sumL2 - sumL * sumL
            guard det > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / det
            var thisMin = (sumL2 * sumX - sumL * sumXL) / det
            if thisMin > 0 {
                thisMin = 0
                thisScale = sumXL / sumL2
            }
            var error: Float = 0
            for i in 0..<n {
                let diff = thisScale * trial[i] + thisMin - x[i]
                error += weights[i] * (diff * diff)
            }
            if error < bestError {
                for i in 0..<n { levels[i] = UInt8(trial[i]) }
                bestError = error
                scale = thisScale
                low = thisMin
            }
        }
        return (scale, -low)
    }

    /// Q6_K of the 256 values at `x`.
    static func q6K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levels in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scales in
                q6K(x, p, levels: levels.baseAddress!, scales: scales.baseAddress!)
            }
        }
    }

    private static func q6K(_ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, levels: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>) {
        var maxScale: Float = 0, maxAbsScale: Float = 0
        for b in 0..<16 {
            scales[b] = bestSignedScale(nmax: 32, x + 16 * b, levels + 16 * b)
            if abs(scales[b]) > maxAbsScale {
                maxAbsScale = abs(scales[b])
                maxScale = scales[b]
            }
        }
        guard maxAbsScale >= 1e-15 else {
            p.initializeMemory(as: UInt8.self, repeating: 0, count: GGMLType.q6_K.blockBytes)
            return
        }
        let inverse = -128 / maxScale
        p.storeBytes(of: Float16(1 / inverse).bitPattern, toByteOffset: 208, as: UInt16.self)
        let d = half(1 / inverse)
        for b in 0..<16 {
            let q = Int8(min(127, nearest(inverse * scales[b])))
            p.storeBytes(of: q, toByteOffset: 192 + b, as: Int8.self)
            let db = d * Float(q)
            guard db != 0 else { continue }
            for i in 0..<16 { levels[16 * b + i] = Int8(max(-32, min(31, nearest(x[16 * b + i] / db))) + 32) }
        }
        for half in 0..<2 {
            let L = 128 * half, ql = 64 * half, qh = 128 + 32 * half
            for l in 0..<32 {
                let q1 = UInt8(levels[L + l]), q2 = UInt8(levels[L + l + 32]), q3 = UInt8(levels[L + l + 64]), q4 = UInt8(levels[L + l + 96])
                p.storeBytes(of: (q1 & 0xF) | ((q3 & 0xF) << 4), toByteOffset: ql + l, as: UInt8.self)
                p.storeBytes(of: (q2 & 0xF) | ((q4 & 0xF) << 4), toByteOffset: ql + l + 32, as: UInt8.self)
                p.storeBytes(of: (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6), toByteOffset: qh + l, as: UInt8.self)
            }
        }
    }

    /// ggml's `make_qx_quants` with rmse_type 1 (weights x²): levels L + nmax in 0..<2·nmax and the
    /// scale s with x ≈ s·L, the best of 19 grids −(nmax + 0.1k) / max (max: the value of largest magnitude).
    static func bestSignedScale(nmax: Int, _ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<Int8>) -> Float {
        let n = 16
        var amax: Float = 0, signedMax: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            signedMax = x[i]
        }
        guard amax >= 1e-15 else {
            for i in 0..<n { levels[i] = 0 }
            return 0
        }
        /// nearest_int clamped to −nmax..<nmax, kept in Float.
        func level(_ inverse: Float, _ i: Int) -> Float { min(Float(nmax - 1), max(Float(-nmax), nearestFloat(inverse * x[i]))) }
        var inverse = Float(-nmax) / signedMax
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let fl = level(inverse, i)
            levels[i] = Int8(fl) + Int8(nmax)
            let w = x[i] * x[i]
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for k in -9...9 where k != 0 {
            inverse = -(Float(nmax) + 0.1 * Float(k)) / signedMax
            sumLX = 0
            sumL2 = 0
            for i in 0..<n {
                let w = x[i] * x[i], fl = level(inverse, i)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { levels[i] = Int8(level(inverse, i)) + Int8(nmax) }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }
}
