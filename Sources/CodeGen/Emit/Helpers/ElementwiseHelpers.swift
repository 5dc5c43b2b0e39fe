import ModelSpec

// The elementwise helpers: epilogue steps over a whole output (bias, residual add, activation,
// activation derivative) and the scalar functions activations need.

extension CSyntax {
    /// A loop applying `statement` (of `v[i]`, and `t[i]` or `s[i]`) to `n` values, shared among
    /// threads when long enough (elementwise: any split gives the same results).
    func elementwisePass(_ statement: String) -> String {
        parallelWhen("n >= \(KernelWriter.parallelMinimumElements)", """
            for (int i = 0; i < n; i++) \(statement)

        """)
    }

    /// An activation's pass over `rows` x `cols` values: `x = v + bias[j]` (bias optional), kept
    /// in `keep` when given, then `v = f(x)`: the epilogue bias -> keep -> activation of a product
    /// in one pass. `f` is the C expression of `x`.
    func activationPass(_ f: String) -> String {
        let r = real
        return parallelWhen("rows * cols >= \(KernelWriter.parallelMinimumElements) && rows >= 2", """
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) {
                    const \(r) x = bias ? v[i * cols + j] + bias[j] : v[i * cols + j];
                    if (keep) keep[i * cols + j] = x;
                    v[i * cols + j] = \(f);
                }

        """)
    }

    /// `nn_bias_rows`: `v[r * cols + j] += bias[j]`.
    var biasRowsBody: String {
        parallelWhen("rows * cols >= \(KernelWriter.parallelMinimumElements) && rows >= 2", """
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < cols; j++) v[r * cols + j] += bias[j];

        """)
    }

    /// `nn_tanhf`: tanh for float32 as a rational function of x (odd degree 13 over even degree 6,
    /// after clamping |x| to 7.9, where tanh rounds to +-1): within 4e-7 of tanh, and
    /// vectorisable, unlike libm's `tanhf`.
    static let tanhfBody = """
        const float c = 7.90531110763549805f;
        const float xc = x > c ? c : (x < -c ? -c : x);
        const float x2 = xc * xc;
        float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
        float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
        p = x2 * p + -8.60467152213735e-11f;
        p = x2 * p + 5.12229709037114e-08f;
        p = x2 * p + 1.48572235717979e-05f;
        p = x2 * p + 6.37261928875436e-04f;
        p = x2 * p + 4.89352455891786e-03f;
        q = x2 * q + 2.26843463243900e-03f;
        q = x2 * q + 4.89352518554385e-03f;
        return xc * p / q;

    """
}
