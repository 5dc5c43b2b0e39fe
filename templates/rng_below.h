/* An unbiased integer in [0, n): draws below (2^64 - n) mod n are rejected. */
static inline uint64_t nn_rng_below(nn_rng *r, uint64_t n) {
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = nn_rng_next(r);
        if (x >= threshold) return x % n;
    }
}
