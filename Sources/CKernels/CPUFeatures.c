#include "CKernels.h"

#if defined(__x86_64__)

#include <cpuid.h>

#include "cpu.h"

static int detect_avx512(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0;  // OSXSAVE
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((b >> 16) & 1)) return 0;  // AVX512F
    return (slm_xcr0() & 0xe6) == 0xe6;  // the OS saves SSE, AVX and AVX-512 state
}

int slm_avx512_available(void) {
    static int state = -1;
    return slm_detect_once(&state, detect_avx512);
}

#else

int slm_avx512_available(void) { return 0; }

#endif
