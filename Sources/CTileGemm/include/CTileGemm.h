#ifndef SLM_TILE_GEMM_H
#define SLM_TILE_GEMM_H

#include <stdint.h>

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
