/* ---- nngen prelude: libc/libm only ------------------------------------------------------
 * The random generator below is the project's one generator (docs: README "Random numbers"):
 * splitmix64 seeds the four words of xoshiro256**; a double in [0, 1) is (next >> 11) * 2^-53;
 * uniform(lo, hi) = lo + (hi - lo) * u, computed in double. nngen's Swift code uses the same
 * generator, so the same seed gives the same parameters and the same shuffles in both.
 */
#include <stddef.h>
#include <stdint.h>
#ifdef NN_LIBM_PROTOTYPES
/* The libc and libm functions the generated code calls, declared here rather than through
 * <math.h> and <string.h>: tcc parses these few lines in microseconds, the headers in ~7 ms. */
double exp(double);
double log(double);
double log1p(double);
double fabs(double);
double sqrt(double);
double tanh(double);
double erf(double);
double pow(double, double);
double fma(double, double, double);
float expf(float);
float sqrtf(float);
float tanhf(float);
float erff(float);
float fmaf(float, float, float);
void *memcpy(void *restrict, const void *restrict, size_t);
void *memset(void *, int, size_t);
#else
#include <math.h>
#include <string.h>
#endif

typedef struct { uint64_t s[4]; } nn_rng;

static inline uint64_t nn_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline void nn_rng_seed(nn_rng *r, uint64_t seed) {
    uint64_t x = seed;
    r->s[0] = nn_splitmix64(&x);
    r->s[1] = nn_splitmix64(&x);
    r->s[2] = nn_splitmix64(&x);
    r->s[3] = nn_splitmix64(&x);
}

static inline uint64_t nn_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t nn_rng_next(nn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = nn_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = nn_rotl(s[3], 45);
    return result;
}

static inline double nn_rng_double(nn_rng *r) { return (double)(nn_rng_next(r) >> 11) * 0x1.0p-53; }

static inline double nn_rng_uniform(nn_rng *r, double lo, double hi) {
    double u = nn_rng_double(r);
    double span = hi - lo;
    double scaled = span * u;
    return lo + scaled;
}
