/* fma_peak.c -- the machine's float32 multiply-add ceiling on one core: 12 independent chains of
 * 8-wide fused multiply-adds held in registers (no memory traffic), the register-only FMA loop of
 * docs/BENCHMARKS.md ("The machine's ceiling"). Prints GFLOP/s (2 per lane per multiply-add), the
 * best of 5 runs.
 * Build: cc -O2 -march=native fma_peak.c (needs AVX + FMA; prints 0 otherwise). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#if defined(__FMA__) && defined(__AVX__)
typedef float v8 __attribute__((vector_size(32)));
#define STEP(a) a = __builtin_ia32_vfmaddps256(a, m, c);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
    const v8 m = {0.9999f, 0.9999f, 0.9999f, 0.9999f, 0.9999f, 0.9999f, 0.9999f, 0.9999f};
    const v8 c = {1e-4f, 1e-4f, 1e-4f, 1e-4f, 1e-4f, 1e-4f, 1e-4f, 1e-4f};
    v8 a0 = c, a1 = c, a2 = c, a3 = c, a4 = c, a5 = c, a6 = c, a7 = c, a8 = c, a9 = c, a10 = c, a11 = c;
    const long n = 50000000;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t = now();
        for (long i = 0; i < n; i++) {
            STEP(a0) STEP(a1) STEP(a2) STEP(a3) STEP(a4) STEP(a5)
            STEP(a6) STEP(a7) STEP(a8) STEP(a9) STEP(a10) STEP(a11)
            /* Every chain passes through the asm, so the compiler can neither merge the twelve
             * identical chains nor drop any: without a6..a11 here gcc computed them once. */
            __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
            __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
        }
        double g = (double)n * 12 * 16 / (now() - t) / 1e9;
        if (g > best) best = g;
    }
    v8 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    printf("%.1f\n", best + 0 * (double)s[0]);
    return 0;
}
#else
int main(void) {
    printf("0\n");
    return 0;
}
#endif
