#ifndef SLM_CPU_H
#define SLM_CPU_H

#include <stdint.h>

/// Helpers the x86 kernels share.

/// XCR0: which register states the OS saves on a context switch (bit 1 SSE, 2 AVX, 5–7 AVX-512,
/// 17–18 AMX tiles).
static inline uint64_t slm_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/// detect()'s answer, asked once and kept in *state (−1 until then); a race only repeats the same answer.
static inline int slm_detect_once(int *state, int (*detect)(void)) {
    int s = __atomic_load_n(state, __ATOMIC_ACQUIRE);
    if (s < 0) {
        s = detect();
        __atomic_store_n(state, s, __ATOMIC_RELEASE);
    }
    return s;
}

/// A 16-lane mask of the first `count` lanes (none for count ≤ 0, all for count ≥ 16): the part of a
/// 16-float step that lies inside a row, for AVX-512 masked loads and stores.
static inline uint16_t slm_first_lanes(long count) {
    return count >= 16 ? 0xffff : count <= 0 ? 0 : (uint16_t)((1u << count) - 1);
}

#endif
