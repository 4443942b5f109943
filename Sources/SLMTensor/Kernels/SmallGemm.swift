import CKernels

/// Float32 products of attention's small tiles (head dim 64, a few hundred keys) on AVX-512
/// (`slm_small_sgemm`): A is read in place, a scalar at a time, and B's rows straight from
/// memory, so nothing is packed first; OpenBLAS's sgemm packs both operands on every call,
/// which at these sizes costs as much as the product. An epilogue can turn the sums into softmax
/// probabilities or the softmax gradient as they are stored, saving a pass over the tile. Where
/// the CPU has no AVX-512 the product goes through `Gemm.sgemm` and the epilogue runs after it.
public enum SmallGemm {
    /// Whether this CPU has AVX512F and the OS saves its registers.
    public static let isAvailable = slm_avx512_available() != 0

    /// Whether products run on the AVX-512 kernel (`isAvailable` unless turned off, as tests do
    /// to check the OpenBLAS path on the same machine).
    nonisolated(unsafe) public static var usesAVX512 = isAvailable

    /// Whether the kernel runs on AVX-512 now: available and not turned off.
    static var runsOnAVX512: Bool { usesAVX512 && isAvailable }

    /// c [m, n] (row stride ldc) from the sums Σ_p A(i, p) · B(p, j), finished by `epilogue`, with
    /// A(i, p) = a[i · aRow + p · aCol]: row-major when aCol is 1 (lda = aRow), transposed when aRow
    /// is 1 (lda = aCol); B [k, n] row-major with row stride ldb. Counted in `Gemm`'s profile like sgemm.
    public static func multiply(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aCol: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: slm_epilogue
    ) {
        guard m > 0, n > 0 else { return }
        guard runsOnAVX512 else {
            multiplyOnOpenBLAS(m: m, n: n, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, epilogue: epilogue)
            return
        }
        Gemm.counting(flops: 2 * Double(m) * Double(n) * Double(k)) {
            withUnsafePointer(to: epilogue) { slm_small_sgemm(m, n, k, a, aRow, aCol, b, ldb, c, ldc, $0) }
        }
    }

    private static func multiplyOnOpenBLAS(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aCol: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue e: slm_epilogue
    ) {
        precondition(aCol == 1 || aRow == 1, "SmallGemm: A must be row-major or transposed")
        let transA = aCol != 1
        let plain = e.kind == SLM_EPILOGUE_PLAIN
        Gemm.sgemm(
            transA: transA, transB: false, m: m, n: n, k: k, alpha: e.alpha, a: a, lda: transA ? aCol : aRow,
            b: b, ldb: ldb, beta: plain ? e.beta : 0, c: c, ldc: ldc)
        guard !plain else { return }
        for i in 0..<m {
            let row = c + i * ldc
            if e.kind == SLM_EPILOGUE_EXP {
                let from = min(max(Int(e.visible_from[i]) - e.column_base, 0), n)
                let to = min(max(Int(e.visible_to[i]) - e.column_base, 0), n)
                if from < to {
                    _ = AttentionKernels.expRow(row, from, to, n, shift: e.row_values[i])
                } else {
                    row.update(repeating: 0, count: n)
                }
            } else {
                AttentionKernels.softmaxGradRow(e.probabilities + i * e.ldp, row, n, e.row_values[i])
            }
        }
    }
}

extension slm_epilogue {
    /// alpha · sum + beta · c.
    public static func plain(alpha: Float = 1, beta: Float = 0) -> slm_epilogue {
        slm_epilogue(
            kind: SLM_EPILOGUE_PLAIN, alpha: alpha, beta: beta, row_values: nil, visible_from: nil, visible_to: nil,
            column_base: 0, probabilities: nil, ldp: 0)
    }

    /// exp(alpha · sum − shift[i]) on row i's visible columns from..<to (counted from column 0 of c), 0 elsewhere.
    public static func exp(
        alpha: Float, shift: UnsafePointer<Float>, from: UnsafePointer<Int32>, to: UnsafePointer<Int32>
    ) -> slm_epilogue {
        slm_epilogue(
            kind: SLM_EPILOGUE_EXP, alpha: alpha, beta: 0, row_values: shift, visible_from: from, visible_to: to,
            column_base: 0, probabilities: nil, ldp: 0)
    }

    /// p[i, j] · (sum − delta[i]), with p laid out as c (row stride ldp).
    public static func softmaxGradient(delta: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, ldp: Int) -> slm_epilogue {
        slm_epilogue(
            kind: SLM_EPILOGUE_SOFTMAX_GRADIENT, alpha: 1, beta: 0, row_values: delta, visible_from: nil, visible_to: nil,
            column_base: 0, probabilities: probabilities, ldp: ldp)
    }

    /// The same epilogue for the block of c that starts `rows` rows and `columns` columns further on.
    public func advanced(rows: Int, columns: Int) -> slm_epilogue {
        var e = self
        e.row_values = row_values.map { $0 + rows }
        e.visible_from = visible_from.map { $0 + rows }
        e.visible_to = visible_to.map { $0 + rows }
        e.column_base += columns
        e.probabilities = probabilities.map { $0 + rows * ldp + columns }
        return e
    }
}
