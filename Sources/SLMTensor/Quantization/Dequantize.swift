

/// Dequantization of ggml's block formats to Float32, block by block, as ggml defines them.
public enum Dequantize {
    /// Writes `count` values decoded from `bytes` (which must hold count / blockSize blocks) to `out`,
    /// on the worker threads unless `threaded` is false (for a caller that is one of them).
    public static func run(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutablePointer<Float>, threaded: Bool = true) {
        let blocks = count / type.blockSize
        precondition(bytes.count >= blocks * type.blockBytes, "dequantize: \(bytes.count) bytes cannot hold \(blocks) \(type) blocks")
        guard let base = bytes.baseAddress, blocks > 0 else { return }
        if type == .f32 {  // a copy: whole chunks at once rather than a call per value
            Parallel.forEachChunk(threaded ? count : 1, minChunk: 1 << 16) { range in
                let range = threaded ? range : 0..<count
                UnsafeMutableRawPointer(out + range.lowerBound).copyMemory(from: base + 4 * range.lowerBound, byteCount: 4 * range.count)
            }
            return
        }
        guard threaded else {
            for b in 0..<blocks { block(type, base + b * type.blockBytes, out + b * type.blockSize) }
            return
        }
        Parallel.forEachChunk(blocks, minChunk: 64) { range in
            for b in range {
                block(type, base + b * type.blockBytes, out + b * type.blockSize)
            }
        }
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> Int { Int(p.load(fromByteOffset: offset, as: UInt8.self)) }

    static func block(_ type: GGMLType, _ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32: y[0] = Float(bitPattern: p.loadUnaligned(as: UInt32.self))
        case .f16: y[0] = half(p)
        case .bf16: y[0] = Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self)) << 16)
        case .q8_0:
            let d = half(p)
            for j in 0..<32 { y[j] = d * Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) }
        case .q4_0:
            let d = half(p)
            for j in 0..<16 {
                let q = byte(p, 2 + j)
                y[j] = d * Float((q & 0xF) - 8)
                y[j + 16] = d * Float((q >> 4) - 8)
            }
        case .q4_1:
            let d = half(p), m = half(p, 2)
            for j in 0..<16 {
                let q = byte(p, 4 + j)
                y[j] = d * Float(q & 0xF) + m
                y[j + 16] = d * Float(q >> 4) + m
            }
        case .q5_0, .q5_1:
            let hasMin = type == .q5_1
            let d = half(p), m = hasMin ? half(p, 2) : 0
            let at = hasMin ? 4 : 2
            let high = Int(p.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            for j in 0..<16 {
                let q = byte(p, at + 4 + j)
                let q0 = (q & 0xF) | (((high >> j) << 4) & 0x10)
                let q1 = (q >> 4) | ((high >> (j + 12)) & 0x10)
                if hasMin {
                    y[j] = d * Float(q0) + m
                    y[j + 16] = d * Float(q1) + m
                } else {
                    y[j] = d * Float(q0 - 16)
                    y[j + 16] = d * Float(q1 - 16)
                }
            }
        case .q4_K, .q5_K: kQuant4or5(type == .q5_K, p, y)
        case .q6_K: q6K(p, y)
        }
    }

    /// The 6-bit scale and min of sub-block j (0..<8) from the 12 packed bytes at `s`.
    @inline(__always)
    static func scaleMin(_ j: Int, _ p: UnsafeRawPointer, _ s: Int) -> (Float, Float) {
        if j < 4 { return (Float(byte(p, s + j) & 63), Float(byte(p, s + j + 4) & 63)) }
        let scale = (byte(p, s + j + 4) & 0xF) | ((byte(p, s + j - 4) >> 6) << 4)
        let min = (byte(p, s + j + 4) >> 4) | ((byte(p, s + j) >> 6) << 4)
        return (Float(scale), Float(min))
    }

    /// Q4_K and Q5_K: 8 sub-blocks of 32, each y = d·scale·q − dmin·min.
    static func kQuant4or5(_ five: Bool, _ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p), dmin = half(p, 2)
        let highBits = 16, lowBits = five ? 48 : 16
        for group in 0..<4 {
            let (sc0, m0) = scaleMin(2 * group, p, 4), (sc1, m1) = scaleMin(2 * group + 1, p, 4)
            let d0 = d * sc0, d1 = d * sc1, o0 = dmin * m0, o1 = dmin * m1
            for l in 0..<32 {
                let q = byte(p, lowBits + 32 * group + l)
                var lo = q & 0xF, hi = q >> 4
                if five {
                    let h = byte(p, highBits + l)
                    lo |= ((h >> (2 * group)) & 1) << 4
                    hi |= ((h >> (2 * group + 1)) & 1) << 4
                }
                y[64 * group + l] = d0 * Float(lo) - o0
                y[64 * group + 32 + l] = d1 * Float(hi) - o1
            }
        }
    }

    /// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales, 6-bit values offset by 32.
    static func q6K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for half in 0..<2 {
            let ql = 64 * half, qh = 128 + 32 * half, sc = 192 + 8 * half, out = y + 128 * half
            for l in 0..<32 {
                let s = l / 16
                let low0 = byte(p, ql + l), low1 = byte(p, ql + l + 32), h = byte(p, qh + l)
                let q1 = ((low0 & 0xF) | ((h & 3) << 4)) - 32
                let q2 = ((low1 & 0xF) | (((h >> 2) & 3) << 4)) - 32
                let q3 = ((low0 >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = ((low1 >> 4) | (((h >> 6) & 3) << 4)) - 32
                func scale(_ i: Int) -> Float { d * Float(p.load(fromByteOffset: sc + i, as: Int8.self)) }
                out[l] = scale(s) * Float(q1)
                out[l + 32] = scale(s + 2) * Float(q2)
                out[l + 64] = scale(s + 4) * Float(q3)
                out[l + 96] = scale(s + 6) * Float(q4)
            }
        }
    }
}
