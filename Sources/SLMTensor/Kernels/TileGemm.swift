import CKernels

/// bf16 matrix products on Intel AMX tiles (`CKernels`): Float32 in and out, the inputs rounded
/// to bf16 and the products summed in Float32. On this kind of machine a thread multiplies at
/// ~5× OpenBLAS's Float32 sgemm rate. `BFloat16Matrix` uses it where `isAvailable` says the CPU
/// and the kernel allow it.
public enum TileGemm {
    /// Whether this CPU has AMX-BF16 and the OS lets slm use it.
    public static let isAvailable = slm_tiles_available() != 0

    /// How `BFloat16Matrix` multiplies on this machine, for logs.
    public static var pathDescription: String {
        isAvailable ? "on AMX tiles" : "through OpenBLAS (this CPU has no AMX-BF16, so at Float32 speed)"
    }

    /// A [k, n] matrix in bf16, laid out in the tiles `multiply` reads (see CKernels.h).
    final class PackedMatrix: @unchecked Sendable {
        let k: Int, n: Int
        let elements: UnsafeMutablePointer<UInt16>

        /// B[i, j] = source[i · strideK + j · strideN], rounded to bf16.
        init(_ source: UnsafePointer<Float>, strideK: Int, strideN: Int, k: Int, n: Int) {
            self.k = k
            self.n = n
            let count = slm_tiles_padded(k) * slm_tiles_padded(n)
            elements = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 2, alignment: 64).bindMemory(to: UInt16.self, capacity: count)
            slm_tiles_pack(source, strideK, strideN, k, n, elements)
        }

        deinit { elements.deallocate() }

        /// Rows `rows` of B as Float32, [rows.count, n].
        func unpack(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
            slm_tiles_unpack(elements, k, n, rows.lowerBound, rows.upperBound, destination)
        }
    }

    /// c [m, n] = a [m, k] · b, with row strides lda and ldc. The rows are
    /// split over `Parallel`'s threads in blocks of 32, each written by one thread.
    static func multiply(
        _ a: UnsafePointer<Float>, lda: Int, m: Int, _ b: PackedMatrix,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, b.n > 0 else { return }
        let k = b.k, blocks = (m + 31) / 32, paddedK = slm_tiles_padded(k)
        Gemm.counting(flops: 2 * Double(m) * Double(b.n) * Double(k)) {
            let scratch = Tensor(uninitialized: [blocks * 32 * paddedK / 2])  // bf16 values, two per float
            let bf16 = UnsafeMutableRawPointer(scratch.data).assumingMemoryBound(to: UInt16.self)
            Parallel.forEachChunk(blocks) { range in
                let first = range.lowerBound * 32, rows = min(m, range.upperBound * 32) - first
                slm_tiles_gemm(
                    a + first * lda, lda, rows, k, b.elements, b.n, c + first * ldc, ldc, bf16 + first * paddedK)
            }
        }
    }

    /// Each value rounded to bf16 (nearest even) and widened back.
    static func round(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        slm_bf16_round(x, y, count)
    }
}
