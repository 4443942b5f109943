#include "CKernels.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include "cpu.h"

/// Rows of c a block holds: 2 × 12 accumulators, 2 rows of B and a broadcast fit AVX-512's 32 registers.
enum { BLOCK_ROWS = 12 };

#define AVX512 __attribute__((target("avx512f,fma")))
/// Loops over a block's rows are unrolled whatever the optimisation level, so that the accumulators
/// are registers and not an array on the stack.
#define UNROLLED _Pragma("clang loop unroll(full)")

/// exp(x) for x ≤ 0 (softmax arguments), 16 lanes: Cephes' expf with fused multiply-adds, exactly 0
/// below −87: the steps of the Swift `AttentionKernels.expNonPositive` (the path without AVX-512), with
/// the last step, y · 2ⁿ, as one VSCALEFPS instead of building 2ⁿ's bits: the same values (every
/// non-positive float was checked) in fewer instructions.
static inline __attribute__((always_inline)) AVX512 __m512 exp_non_positive(__m512 x) {
    const __m512 lower = _mm512_set1_ps(-87.0f);
    __mmask16 kept = _mm512_cmp_ps_mask(x, lower, _CMP_NLT_UQ);
    __m512 v = _mm512_max_ps(lower, x);
    const __m512 shifter = _mm512_set1_ps(0x1.8p23f);
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(v, _mm512_set1_ps(1.44269504088896341f), shifter), shifter);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), v);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 q = _mm512_fmadd_ps(r, _mm512_set1_ps(1.9875691500e-4f), _mm512_set1_ps(1.3981999507e-3f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(8.3334519073e-3f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(4.1665795894e-2f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.6666665459e-1f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(q, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_scalef_ps(kept, y, n);
}

/// Stores the sums acc of row i, columns j0 .. j0 + 16 (mask m) of c, as the epilogue says.
static inline __attribute__((always_inline)) AVX512 void finish(
    const slm_epilogue *e, long i, long j0, __m512 acc, __mmask16 m, float *ci) {
    __m512 s = _mm512_mul_ps(_mm512_set1_ps(e->alpha), acc);
    switch (e->kind) {
    case SLM_EPILOGUE_EXP: {
        long first = e->visible_from[i] - e->column_base - j0, end = e->visible_to[i] - e->column_base - j0;
        __mmask16 visible = (__mmask16)(m & slm_first_lanes(end) & ~slm_first_lanes(first));
        __m512 p = exp_non_positive(_mm512_sub_ps(s, _mm512_set1_ps(e->row_values[i])));
        _mm512_mask_storeu_ps(ci, m, _mm512_maskz_mov_ps(visible, p));
        break;
    }
    case SLM_EPILOGUE_SOFTMAX_GRADIENT: {
        __m512 p = _mm512_maskz_loadu_ps(m, e->probabilities + i * e->ldp + j0);
        _mm512_mask_storeu_ps(ci, m, _mm512_mul_ps(p, _mm512_sub_ps(s, _mm512_set1_ps(e->row_values[i]))));
        break;
    }
    default:
        if (e->beta != 0) s = _mm512_fmadd_ps(_mm512_set1_ps(e->beta), _mm512_maskz_loadu_ps(m, ci), s);
        _mm512_mask_storeu_ps(ci, m, s);
    }
}

/// c[rows × 16 · vectors] from the sums over p of A(i, p) B(p, j), the columns cut by the masks m0, m1,
/// and finished by the epilogue (its rows and columns counted from i0, j0). rows and vectors are
/// constants at each call below, so the accumulators stay in registers.
static inline __attribute__((always_inline)) AVX512 void block(
    const int rows, const int vectors, long k, const float *a, long a_row, long a_col, const float *b, long ldb,
    __mmask16 m0, __mmask16 m1, float *c, long ldc, const slm_epilogue *e, long i0, long j0) {
    __m512 acc0[BLOCK_ROWS], acc1[BLOCK_ROWS];
    UNROLLED for (int i = 0; i < rows; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (long p = 0; p < k; p++) {
        const float *bp = b + p * ldb, *ap = a + p * a_col;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bp);
        __m512 b1 = vectors == 2 ? _mm512_maskz_loadu_ps(m1, bp + 16) : b0;
        UNROLLED for (int i = 0; i < rows; i++) {
            __m512 x = _mm512_set1_ps(ap[i * a_row]);
            acc0[i] = _mm512_fmadd_ps(x, b0, acc0[i]);
            if (vectors == 2) acc1[i] = _mm512_fmadd_ps(x, b1, acc1[i]);
        }
    }
    UNROLLED for (int i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        finish(e, i0 + i, j0, acc0[i], m0, ci);
        if (vectors == 2) finish(e, i0 + i, j0 + 16, acc1[i], m1, ci + 16);
    }
}

typedef void (*block_kernel)(
    long, const float *, long, long, const float *, long, __mmask16, __mmask16, float *, long, const slm_epilogue *, long, long);

#define BLOCK_KERNEL(ROWS, VECTORS) \
    static AVX512 void block_##ROWS##_##VECTORS( \
        long k, const float *a, long a_row, long a_col, const float *b, long ldb, __mmask16 m0, __mmask16 m1, \
        float *c, long ldc, const slm_epilogue *e, long i0, long j0) { \
        block(ROWS, VECTORS, k, a, a_row, a_col, b, ldb, m0, m1, c, ldc, e, i0, j0); \
    }
#define BLOCK_KERNELS(ROWS) BLOCK_KERNEL(ROWS, 1) BLOCK_KERNEL(ROWS, 2)
BLOCK_KERNELS(1) BLOCK_KERNELS(2) BLOCK_KERNELS(3) BLOCK_KERNELS(4) BLOCK_KERNELS(5) BLOCK_KERNELS(6)
BLOCK_KERNELS(7) BLOCK_KERNELS(8) BLOCK_KERNELS(9) BLOCK_KERNELS(10) BLOCK_KERNELS(11) BLOCK_KERNELS(12)

/// kernels[rows − 1][vectors − 1]
static const block_kernel kernels[BLOCK_ROWS][2] = {
    {block_1_1, block_1_2}, {block_2_1, block_2_2}, {block_3_1, block_3_2}, {block_4_1, block_4_2},
    {block_5_1, block_5_2}, {block_6_1, block_6_2}, {block_7_1, block_7_2}, {block_8_1, block_8_2},
    {block_9_1, block_9_2}, {block_10_1, block_10_2}, {block_11_1, block_11_2}, {block_12_1, block_12_2},
};

void slm_small_sgemm(
    long m, long n, long k, const float *a, long a_row, long a_col, const float *b, long ldb, float *c, long ldc,
    const slm_epilogue *epilogue) {
    for (long i0 = 0; i0 < m; i0 += BLOCK_ROWS) {
        long rows = m - i0 < BLOCK_ROWS ? m - i0 : BLOCK_ROWS;
        for (long j0 = 0; j0 < n; j0 += 32) {
            long left = n - j0;
            kernels[rows - 1][left > 16 ? 1 : 0](
                k, a + i0 * a_row, a_row, a_col, b + j0, ldb, slm_first_lanes(left), slm_first_lanes(left - 16),
                c + i0 * ldc + j0, ldc, epilogue, i0, j0);
        }
    }
}

AVX512 float slm_row_max(const float *row, long a, long e) {
    __m512 m = _mm512_set1_ps(-__builtin_inff());
    for (long j = a; j < e; j += 16) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, slm_first_lanes(e - j), row + j));
    return _mm512_reduce_max_ps(m);
}

AVX512 float slm_exp_row(float *row, long a, long e, long n, float shift) {
    __m512 sum = _mm512_setzero_ps(), s = _mm512_set1_ps(shift);
    for (long j = 0; j < n; j += 16) {
        __mmask16 inside = slm_first_lanes(n - j);
        __mmask16 visible = (__mmask16)(inside & slm_first_lanes(e - j) & ~slm_first_lanes(a - j));
        __m512 p = _mm512_maskz_mov_ps(visible, exp_non_positive(_mm512_sub_ps(_mm512_maskz_loadu_ps(visible, row + j), s)));
        _mm512_mask_storeu_ps(row + j, inside, p);
        sum = _mm512_add_ps(sum, p);
    }
    return _mm512_reduce_add_ps(sum);
}

#else

void slm_small_sgemm(
    long m, long n, long k, const float *a, long a_row, long a_col, const float *b, long ldb, float *c, long ldc,
    const slm_epilogue *epilogue) {
    (void)m, (void)n, (void)k, (void)a, (void)a_row, (void)a_col, (void)b, (void)ldb, (void)c, (void)ldc, (void)epilogue;
}

float slm_row_max(const float *row, long a, long e) {
    (void)row, (void)a, (void)e;
    return 0;
}

float slm_exp_row(float *row, long a, long e, long n, float shift) {
    (void)row, (void)a, (void)e, (void)n, (void)shift;
    return 0;
}

#endif
