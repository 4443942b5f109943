#ifndef SLM_KERNELS_H
#define SLM_KERNELS_H

#include <stdint.h>

/// 1 when this CPU has AVX512F and the OS saves its registers; 0 otherwise.
int slm_avx512_available(void);

/// What `slm_small_sgemm` stores for the sum s = Σ_p A(i, p) B(p, j) of row i, column j of c.
typedef enum {
    /// alpha · s + beta · c[i, j] (c is not read when beta is 0).
    SLM_EPILOGUE_PLAIN,
    /// exp(alpha · s − row_values[i]) where visible_from[i] ≤ column_base + j < visible_to[i], else 0:
    /// softmax probabilities from scores and each row's logsumexp.
    SLM_EPILOGUE_EXP,
    /// probabilities[i · ldp + j] · (alpha · s − row_values[i]): the softmax backward, dS = P ⊙ (dP − D).
    SLM_EPILOGUE_SOFTMAX_GRADIENT,
} slm_epilogue_kind;

typedef struct {
    slm_epilogue_kind kind;
    float alpha, beta;
    /// One value per row of c (EXP: the shift; SOFTMAX_GRADIENT: D).
    const float *row_values;
    /// EXP: each row's visible columns, numbered from column_base at c's column 0.
    const int32_t *visible_from, *visible_to;
    long column_base;
    /// SOFTMAX_GRADIENT: P, laid out as c with row stride ldp.
    const float *probabilities;
    long ldp;
} slm_epilogue;

/// c [m, n] (row stride ldc) from the sums s = Σ_p A(i, p) · b[p · ldb + j], finished as `epilogue` says,
/// on AVX-512: A(i, p) = a[i · a_row + p · a_col] (row-major or transposed, read a scalar at a time)
/// and B's rows contiguous, so nothing is packed first (sgemm packs both operands, which at
/// attention's sizes, head dim 64, costs as much as the product). Each sum runs over p in order,
/// so results repeat bitwise. Needs `slm_avx512_available()`.
void slm_small_sgemm(
    long m, long n, long k, const float *a, long a_row, long a_col, const float *b, long ldb, float *c, long ldc,
    const slm_epilogue *epilogue);

/// The largest of row[a ..< e] (a < e), on AVX-512.
float slm_row_max(const float *row, long a, long e);

/// row[j] = exp(row[j] − shift) for a ≤ j < e and 0 for the other j < n, returning their sum, on
/// AVX-512 (the exp of `SLM_EPILOGUE_EXP`): one softmax row. row[j] − shift must be ≤ 0.
float slm_exp_row(float *row, long a, long e, long n, float shift);

/// dst[j · dst_stride + i] = src[i · src_stride + j] for i < rows, j < cols (8 × 8 blocks in AVX registers).
void slm_transpose(const float *src, long src_stride, long rows, long cols, float *dst, long dst_stride);

/// bf16 matrix products on Intel AMX tiles (AMX-BF16), with Float32 inputs and outputs.
///
/// A packed matrix B [k, n] holds bf16 values (round to nearest even) in 1 KB tiles: with
/// kPad = k rounded up to 32 and nPad = n rounded up to 32, tile (nb, kb) for nb < nPad / 16 and
/// kb < kPad / 32 starts at element (nb · kPad / 32 + kb) · 512. Its row r (0..<16) holds, for
/// the 16 columns j = 16 nb + c, the pair B[32 kb + 2r, j], B[32 kb + 2r + 1, j] (the layout
/// TDPBF16PS reads); entries beyond k or n are zero.

/// 1 when this CPU has AMX-BF16 and AVX512-BF16 and the kernel lets this process use the tile
/// registers (Linux asks for it once, with arch_prctl); 0 otherwise.
int slm_tiles_available(void);

/// x rounded up to a multiple of 32: a packed [k, n] matrix has kPad · nPad elements, and
/// `slm_tiles_gemm` needs mPad · kPad elements of scratch.
long slm_tiles_padded(long x);

/// Packs B[i, j] = src[i · stride_k + j · stride_n] for i < k, j < n, rounded to bf16.
void slm_tiles_pack(const float *src, long stride_k, long stride_n, long k, long n, uint16_t *packed);

/// Unpacks rows [k_begin, k_end) of a packed [k, n] matrix into dst [(k_end − k_begin), n], as Float32.
void slm_tiles_unpack(const uint16_t *packed, long k, long n, long k_begin, long k_end, float *dst);

/// dst[i] = src[i] rounded to bf16 (nearest even) and widened back to Float32.
void slm_bf16_round(const float *src, float *dst, long count);

/// c[i, j] = Σ_p a[i, p] · B[p, j] for i < m, j < n, with a rounded to bf16 and the sums in
/// Float32. a is [m, k] with row stride lda, c [m, n] with row stride ldc. scratch holds
/// mPad · kPad bf16 values. Needs `slm_tiles_available()`.
void slm_tiles_gemm(
    const float *a, long lda, long m, long k, const uint16_t *packed, long n, float *c, long ldc, uint16_t *scratch);

#endif
