import ModelSpec

// The parameter fill of NAME_init: n uniform draws of the project's generator in one loop, so
// that libtcc, which inlines nothing, runs it precompiled rather than one call per draw.

extension CSyntax {
    /// `nn_uniform_fill`: `p[i] = (real)U(-bound, bound)` for i < n, drawn from the xoshiro256**
    /// state `s` (the four words of an `nn_rng`), which it advances; with `p` NULL the draws are
    /// taken and dropped (a frozen parameter's). Each draw is the prelude's
    /// `nn_rng_uniform(&rng, -bound, bound)` step for step: next = rotl(s1 * 5, 7) * 9,
    /// u = (next >> 11) * 2^-53, value = lo + (hi - lo) * u in double, then rounded once to the
    /// scalar type; so the values are bit-identical to a loop of those calls.
    var uniformFillBody: String {
        """
            const double lo = -bound, span = bound - lo;
            uint64_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
            for (int i = 0; i < n; i++) {
                const uint64_t m = s1 * 5, next = ((m << 7) | (m >> 57)) * 9, t = s1 << 17;
                s2 ^= s0;
                s3 ^= s1;
                s1 ^= s2;
                s0 ^= s3;
                s2 ^= t;
                s3 = (s3 << 45) | (s3 >> 19);
                const double u = (double)(next >> 11) * 0x1.0p-53;
                const double scaled = span * u;
                const double value = lo + scaled;
                if (p) p[i] = (\(real))value;
            }
            s[0] = s0;
            s[1] = s1;
            s[2] = s2;
            s[3] = s3;

        """
    }
}
