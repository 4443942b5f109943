#include "CKernels.h"

#include <string.h>

/// Rows of a multiplied a step at a time: their bf16 copy stays in L2 while every column of B passes.
enum { CHUNK_ROWS = 64 };

static long round_up_32(long x) { return (x + 31) & ~31L; }

long slm_tiles_padded(long x) { return round_up_32(x); }

static uint16_t bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN stays a (quiet) NaN
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static float f32_from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

void slm_bf16_round(const float *src, float *dst, long count) {
    for (long i = 0; i < count; i++) dst[i] = f32_from_bf16(bf16_from_f32(src[i]));
}

/// Index of B[i, j] in the packed layout (see the header).
static long packed_index(long i, long j, long k_blocks) {
    long tile = (j / 16) * k_blocks + i / 32;
    return tile * 512 + ((i % 32) / 2) * 32 + (j % 16) * 2 + (i % 2);
}

void slm_tiles_pack(const float *src, long stride_k, long stride_n, long k, long n, uint16_t *packed) {
    long k_pad = round_up_32(k), n_pad = round_up_32(n), k_blocks = k_pad / 32;
    memset(packed, 0, (size_t)(k_pad * n_pad) * sizeof(uint16_t));
    for (long j = 0; j < n; j++)
        for (long i = 0; i < k; i++) packed[packed_index(i, j, k_blocks)] = bf16_from_f32(src[i * stride_k + j * stride_n]);
}

void slm_tiles_unpack(const uint16_t *packed, long k, long n, long k_begin, long k_end, float *dst) {
    long k_blocks = round_up_32(k) / 32;
    for (long i = k_begin; i < k_end; i++)
        for (long j = 0; j < n; j++) dst[(i - k_begin) * n + j] = f32_from_bf16(packed[packed_index(i, j, k_blocks)]);
}

#if defined(__x86_64__) && defined(__linux__)

#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int detect(void) {
    if (!slm_avx512_available()) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx512bw = (b >> 30) & 1;
    int amx = ((d >> 22) & 1) && ((d >> 24) & 1);  // AMX-BF16, AMX-TILE
    if (!avx512bw || !amx || !__get_cpuid_count(7, 1, &a, &b, &c, &d) || !((a >> 5) & 1)) return 0;  // AVX512-BF16
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    return (slm_xcr0() & 0x60000) == 0x60000;  // tile configuration and tile data
}

int slm_tiles_available(void) {
    static int state = -1;
    return slm_detect_once(&state, detect);
}

/// Rows of a [m, k] (row stride lda) as bf16 in dst [m_pad, k_pad], zero beyond m and k.
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static void bf16_rows(const float *a, long lda, long m, long k, long m_pad, long k_pad, uint16_t *dst) {
    for (long i = 0; i < m_pad; i++) {
        uint16_t *row = dst + i * k_pad;
        if (i >= m) {
            memset(row, 0, (size_t)k_pad * sizeof(uint16_t));
            continue;
        }
        const float *src = a + i * lda;
        for (long p = 0; p < k_pad; p += 32) {
            __m512 lo = _mm512_maskz_loadu_ps(slm_first_lanes(k - p), src + p);
            __m512 hi = _mm512_maskz_loadu_ps(slm_first_lanes(k - p - 16), src + p + 16);
            _mm512_storeu_si512(row + p, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} tile_config;

/// c[i0 .. i0 + 32, j0 .. j0 + cols] = the bf16 rows i0 .. i0 + 32 of a (in scratch) · B's columns
/// j0 .. j0 + 32 (strips b0 and b1). Tiles 0–3 hold the 32 × 32 block of c, 4–5 two 16-row strips
/// of a, 6–7 the two 16-column strips of B. Blocks that cross row m or column n go through `edge`.
__attribute__((target("amx-tile,amx-bf16")))
static void multiply_block(
    const uint16_t *scratch, long k_pad, const uint16_t *b0, const uint16_t *b1,
    float *c, long ldc, long m, long i0, long j0, long cols) {
    float edge[32 * 32] __attribute__((aligned(64)));
    long rows = m - i0 < 32 ? m - i0 : 32;
    int whole = rows == 32 && cols == 32;
    float *block = whole ? c + i0 * ldc + j0 : edge;
    long stride = whole ? ldc : 32;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const uint16_t *a0 = scratch + i0 * k_pad, *a1 = a0 + 16 * k_pad;
    for (long kb = 0; kb < k_pad / 32; kb++) {
        _tile_loadd(4, a0 + kb * 32, k_pad * 2);
        _tile_loadd(5, a1 + kb * 32, k_pad * 2);
        _tile_loadd(6, b0 + kb * 512, 64);
        _tile_loadd(7, b1 + kb * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, block, stride * 4);
    _tile_stored(1, block + 16, stride * 4);
    _tile_stored(2, block + 16 * stride, stride * 4);
    _tile_stored(3, block + 16 * stride + 16, stride * 4);
    if (!whole)
        for (long r = 0; r < rows; r++) memcpy(c + (i0 + r) * ldc + j0, edge + r * 32, (size_t)cols * sizeof(float));
}

__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))
void slm_tiles_gemm(
    const float *a, long lda, long m, long k, const uint16_t *packed, long n, float *c, long ldc, uint16_t *scratch) {
    if (m <= 0 || n <= 0) return;
    long k_pad = round_up_32(k), n_pad = round_up_32(n), m_pad = round_up_32(m), strip = k_pad * 16;
    bf16_rows(a, lda, m, k, m_pad, k_pad, scratch);
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.bytes_per_row[t] = 64;
        config.rows[t] = 16;
    }
    _tile_loadconfig(&config);
    for (long chunk = 0; chunk < m_pad; chunk += CHUNK_ROWS) {
        long chunk_end = chunk + CHUNK_ROWS < m_pad ? chunk + CHUNK_ROWS : m_pad;
        for (long j0 = 0; j0 < n_pad; j0 += 32) {
            const uint16_t *b0 = packed + (j0 / 16) * strip;
            long cols = n - j0 < 32 ? n - j0 : 32;
            for (long i0 = chunk; i0 < chunk_end; i0 += 32)
                multiply_block(scratch, k_pad, b0, b0 + strip, c, ldc, m, i0, j0, cols);
        }
    }
    _tile_release();
}

#else

int slm_tiles_available(void) { return 0; }

void slm_tiles_gemm(
    const float *a, long lda, long m, long k, const uint16_t *packed, long n, float *c, long ldc, uint16_t *scratch) {
    (void)a, (void)lda, (void)m, (void)k, (void)packed, (void)n, (void)c, (void)ldc, (void)scratch;
}

#endif
