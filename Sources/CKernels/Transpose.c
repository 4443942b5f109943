#include "CKernels.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define AVX __attribute__((target("avx")))

/// dst[j · ds + i] = src[i · ss + j] for an 8 × 8 block, in registers.
static AVX void transpose_8x8(const float *src, long ss, float *dst, long ds) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ss), r2 = _mm256_loadu_ps(src + 2 * ss),
           r3 = _mm256_loadu_ps(src + 3 * ss), r4 = _mm256_loadu_ps(src + 4 * ss), r5 = _mm256_loadu_ps(src + 5 * ss),
           r6 = _mm256_loadu_ps(src + 6 * ss), r7 = _mm256_loadu_ps(src + 7 * ss);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee), u2 = _mm256_shuffle_ps(t1, t3, 0x44),
           u3 = _mm256_shuffle_ps(t1, t3, 0xee), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}

AVX void slm_transpose(const float *src, long src_stride, long rows, long cols, float *dst, long dst_stride) {
    long rows8 = rows & ~7L, cols8 = cols & ~7L;
    for (long i = 0; i < rows8; i += 8)
        for (long j = 0; j < cols8; j += 8) transpose_8x8(src + i * src_stride + j, src_stride, dst + j * dst_stride + i, dst_stride);
    for (long i = 0; i < rows; i++)
        for (long j = i < rows8 ? cols8 : 0; j < cols; j++) dst[j * dst_stride + i] = src[i * src_stride + j];
}

#else

void slm_transpose(const float *src, long src_stride, long rows, long cols, float *dst, long dst_stride) {
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols; j++) dst[j * dst_stride + i] = src[i * src_stride + j];
}

#endif
