import ModelSpec

/// Spelling of C for one scalar type: literals, libm names, activation formulas.
struct CSyntax {
    let scalar: ScalarType

    /// `float` or `double`.
    var real: String { scalar.cName }

    /// A floating literal that reads back as `v` in the scalar type (`0.5f` or `0.5`).
    func lit(_ v: Double) -> String {
        var s = "\(v)"
        if !s.contains(".") && !s.contains("e") && !s.contains("n") && !s.contains("i") { s += ".0" }
        return scalar == .f32 ? s + "f" : s
    }

    /// A libm function for the scalar type (`expf` or `exp`).
    func fn(_ name: String) -> String { scalar == .f32 ? name + "f" : name }

    /// The tanh the activations use: libm's `tanh` in float64; in float32 `nn_tanhf`, a rational
    /// approximation (within 4e-7 of tanh) that compilers can vectorise, unlike libm's `tanhf`.
    var tanh: String { scalar == .f32 ? "nn_tanhf" : "tanh" }

    /// `f32` or `f64`: the suffix of the helper functions for this scalar type.
    var suffix: String { scalar.rawValue }

    /// Elements in one 32-byte vector (8 floats, 4 doubles).
    var lanes: Int { scalar == .f32 ? 8 : 4 }

    /// `f(v)` for an activation, as a C expression of the variable `v`.
    func activation(_ a: Activation, _ v: String) -> String {
        switch a {
        case .relu: return "(\(v) > 0 ? \(v) : 0)"
        case .leakyReLU(let s): return "(\(v) > 0 ? \(v) : \(lit(s)) * \(v))"
        case .sigmoid: return "(1 / (1 + \(fn("exp"))(-\(v))))"
        case .tanh: return "\(tanh)(\(v))"
        case .gelu: return "(\(lit(0.5)) * \(v) * (1 + \(fn("erf"))(\(v) * \(lit(0.7071067811865476)))))"
        case .geluTanh:
            return "(\(lit(0.5)) * \(v) * (1 + \(tanh)(\(lit(0.7978845608028654)) * (\(v) + \(lit(0.044715)) * \(v) * \(v) * \(v)))))"
        case .identity: return v
        }
    }

    /// `f'` as a C expression of `s`, the activation's output (if `fromOutput`) or input.
    func derivative(_ a: Activation, _ s: String, fromOutput: Bool) -> String {
        switch (a, fromOutput) {
        case (.relu, _): return "(\(s) > 0 ? 1 : 0)"
        case (.leakyReLU(let slope), _): return "(\(s) > 0 ? 1 : \(lit(slope)))"
        case (.sigmoid, true): return "(\(s) * (1 - \(s)))"
        case (.sigmoid, false): return "\(real == "float" ? "nn_dsigmoidf" : "nn_dsigmoid")(\(s))"
        case (.tanh, true): return "(1 - \(s) * \(s))"
        case (.tanh, false): return "(1 - \(tanh)(\(s)) * \(tanh)(\(s)))"
        case (.gelu, _): return "\(scalar == .f32 ? "nn_dgeluf" : "nn_dgelu")(\(s))"
        case (.geluTanh, _): return "\(scalar == .f32 ? "nn_dgelu_tanhf" : "nn_dgelu_tanh")(\(s))"
        case (.identity, _): return "1"
        }
    }

    /// Helper functions the derivatives above call, defined once per file.
    var derivativeHelpers: String {
        let r = real, sfx = scalar == .f32 ? "f" : ""
        return (scalar == .f32 ? CSyntax.tanhfDefinition : "") + """
        /* Derivatives of the activations that need their input (CONVENTIONS.md). */
        static inline \(r) nn_dgelu\(sfx)(\(r) x) {
            /* d/dx 0.5 x (1 + erf(x / sqrt 2)) = Phi(x) + x phi(x) */
            return \(lit(0.5)) * (1 + \(fn("erf"))(x * \(lit(0.7071067811865476)))) + x * \(lit(0.3989422804014327)) * \(fn("exp"))(\(lit(-0.5)) * x * x);
        }
        static inline \(r) nn_dgelu_tanh\(sfx)(\(r) x) {
            \(r) u = \(lit(0.7978845608028654)) * (x + \(lit(0.044715)) * x * x * x);
            \(r) t = \(tanh)(u);
            return \(lit(0.5)) * (1 + t) + \(lit(0.5)) * x * (1 - t * t) * \(lit(0.7978845608028654)) * (1 + \(lit(3 * 0.044715)) * x * x);
        }
        static inline \(r) nn_dsigmoid\(sfx)(\(r) x) {
            \(r) s = 1 / (1 + \(fn("exp"))(-x));
            return s * (1 - s);
        }

        """
    }
}

/// Turns a layer path (`layers[2].layers[1]`) into a C identifier fragment (`layers_2_layers_1`).
/// Paths are made by nngen from indices only, never from user text.
func cIdentifier(_ path: String) -> String {
    var out = ""
    for ch in path {
        if ch.isASCII && (ch.isLetter || ch.isNumber) { out.append(ch) } else if !out.hasSuffix("_") { out.append("_") }
    }
    while out.hasSuffix("_") { out.removeLast() }
    return out.isEmpty ? "model" : out
}

// MARK: - helpers of the product and elementwise kernels

extension CSyntax {
    /// Emitted after the prelude: gcc may assume floating-point operations do not trap from here
    /// on, which lets it turn the selects of relu, clamps and derivatives into vector blends
    /// (values are unchanged: this allows no reassociation, contraction or other rewriting).
    /// Opens the file's helper definitions: clang warns about unused `static inline` functions
    /// in a .c file (gcc does not), and a model calls only some of the helpers.
    static let helpersBegin = """
    #ifdef __clang__
    #pragma clang diagnostic push
    #pragma clang diagnostic ignored "-Wunused-function"  /* the helpers this model does not call */
    #endif

    """

    /// Closes what `helpersBegin` opened.
    static let helpersEnd = """
    #ifdef __clang__
    #pragma clang diagnostic pop
    #endif

    """

    static let optimizationPragmas = """
    #if defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)
    #pragma GCC optimize ("no-trapping-math")
    #endif

    /* NN_PARALLEL_FOR shares a loop's iterations among threads when the file is compiled with OpenMP
     * and -DNN_THREADS=N, N > 1 (each iteration computes whole output elements: same results). */
    #if defined(_OPENMP) && defined(NN_THREADS) && NN_THREADS > 1
    #define NN_PARALLEL_FOR _Pragma("omp parallel for schedule(static) num_threads(NN_THREADS)")
    #else
    #define NN_PARALLEL_FOR
    #endif


    """

    /// An 8 x 8 float transpose in registers (vector extensions; gcc and clang spell shuffles
    /// differently), for packing panels of a transposed operand.
    static let transpose8Definition = """
    typedef int nn_vi32 __attribute__((vector_size(32)));
    #ifdef __clang__
    #define NN_SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
    #else
    #define NN_SHUFFLE8(a, b, ...) __builtin_shuffle(a, b, (nn_vi32){__VA_ARGS__})
    #endif
    /* d[r * ldd + c] = s[c * ld + r] for r, c < 8. */
    NN_TILE_INLINE void nn_transpose8_f32(const float *restrict s, int ld, float *restrict d, int ldd) {
        nn_vf32 r[8], t[8], u[8];
        for (int i = 0; i < 8; i++) r[i] = *(const nn_vf32 *)(s + i * ld);
        for (int i = 0; i < 8; i += 2) {
            t[i] = NN_SHUFFLE8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
            t[i + 1] = NN_SHUFFLE8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
        }
        for (int i = 0; i < 8; i += 4)
            for (int h = 0; h < 2; h++) {
                u[i + 2 * h] = NN_SHUFFLE8(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                u[i + 2 * h + 1] = NN_SHUFFLE8(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
            }
        for (int i = 0; i < 4; i++) {
            *(nn_vf32 *)(d + i * ldd) = NN_SHUFFLE8(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
            *(nn_vf32 *)(d + (i + 4) * ldd) = NN_SHUFFLE8(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        }
    }

    """

    /// `nn_lane_totals8_f32`: the totals of eight rows' lane sums (`lanes[8 q + l]` = lane l of row
    /// q), each row's lanes added in `pairwiseSum`'s order, into `totals[q]`: the 8 x 8 block is
    /// transposed in registers, then the lanes are added as whole vectors. (Results go through
    /// memory: a vector returned by value changes the ABI without AVX.)
    static var laneTotals8Definition: String {
        """
        NN_TILE_INLINE void nn_lane_totals8_f32(const float *restrict lanes, float *restrict totals) {
            float by_lane[64] __attribute__((aligned(32)));
            nn_vf32 T[8];
            nn_transpose8_f32(lanes, 8, by_lane, 8);  /* by_lane[8 l + q] = lane l of row q */
            for (int l = 0; l < 8; l++) T[l] = *(const nn_vf32 *)(by_lane + 8 * l);
            *(nn_vf32 *)totals = \(pairwiseSum("T", lanes: 8));
        }

        """
    }

    /// `nn_tanhf`, emitted into float32 files.
    static let tanhfDefinition = """
    /* tanh for float32 as a rational function of x (odd degree 13 over even degree 6, after clamping |x|
     * to 7.9, where tanh rounds to +-1): within 4e-7 of tanh, and vectorisable, unlike libm's tanhf. */
    static inline float nn_tanhf(float x) {
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
    }


    """

    /// The name of a helper for this scalar type: `nn_tile_f32`.
    func helper(_ base: String) -> String { "nn_\(base)_\(suffix)" }

    /// Columns of one register tile: two vectors (16 floats, 8 doubles).
    var tileColumns: Int { 2 * lanes }

    /// The largest number of rows of one register tile.
    static let tileRows = 6

    /// The elementwise helper applying an activation to `n` values in place, and its extra
    /// argument (the leaky ReLU slope); nil for the identity.
    func activationHelper(_ a: Activation) -> (base: String, extra: String)? {
        switch a {
        case .identity: return nil
        case .relu: return ("relu", "")
        case .leakyReLU(let s): return ("leaky_relu", ", \(lit(s))")
        case .sigmoid: return ("sigmoid", "")
        case .tanh: return ("tanh", "")
        case .gelu: return ("gelu", "")
        case .geluTanh: return ("gelu_tanh", "")
        }
    }

    /// The elementwise helper multiplying `n` values by an activation's derivative read from
    /// `s` (the activation's output if `fromOutput`, else its input); nil for the identity.
    func derivativeHelper(_ a: Activation, fromOutput: Bool) -> (base: String, extra: String)? {
        switch (a, fromOutput) {
        case (.identity, _): return nil
        case (.relu, _): return ("relu_grad", "")
        case (.leakyReLU(let s), _): return ("leaky_relu_grad", ", \(lit(s))")
        case (.sigmoid, true): return ("sigmoid_grad_out", "")
        case (.sigmoid, false): return ("sigmoid_grad_in", "")
        case (.tanh, true): return ("tanh_grad_out", "")
        case (.tanh, false): return ("tanh_grad_in", "")
        case (.gelu, _): return ("gelu_grad", "")
        case (.geluTanh, _): return ("gelu_tanh_grad", "")
        }
    }

    /// Every helper base name, in the order they are defined (`helperSection` emits the used ones).
    static let helperOrder = [
        "tile", "pack_t", "pack_n", "sum", "sumsq_dev", "dot", "col_sums", "sgd", "sgd_momentum", "adam",
        "row_stats", "row_sums", "layernorm", "layernorm_grad",
        "bias_rows", "add",
        "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh",
        "relu_grad", "leaky_relu_grad", "sigmoid_grad_out", "sigmoid_grad_in", "tanh_grad_out", "tanh_grad_in",
        "gelu_grad", "gelu_tanh_grad",
    ]

    /// Helpers that only tcc-compiled code calls: the optimizer loops, which generated files
    /// otherwise write out from their templates (NAME_optimizer).
    static let precompiledOnly: Set<String> = ["sgd", "sgd_momentum", "adam"]

    /// The prototype of a helper (also what the precompiled kernels export), its name
    /// followed by `nameSuffix`.
    func helperPrototype(_ base: String, nameSuffix: String = "") -> String {
        let r = real, f = helper(base) + nameSuffix
        switch base {
        case "tile":
            return "void \(f)(int R, int V, int n, int K, const \(r) *restrict a, int sa, int sp, "
                + "const \(r) *restrict b, int sb, \(r) *restrict c, int ldc, int acc)"
        case "pack_t", "pack_n":
            return "void \(f)(int K, int n, int w, const \(r) *restrict src, int ld, \(r) *restrict p)"
        case "bias_rows":
            return "void \(f)(int rows, int cols, \(r) *restrict v, const \(r) *restrict bias)"
        case "col_sums":
            return "void \(f)(int rows, int cols, const \(r) *restrict x, \(r) *restrict s)"
        case "row_stats":
            return "void \(f)(int rows, int C, \(r) eps, const \(r) *restrict x, \(r) *restrict mean, \(r) *restrict rstd)"
        case "row_sums":
            return "void \(f)(int n, int C, const \(r) *restrict g, const \(r) *restrict xh, \(r) *restrict sum_g, "
                + "\(r) *restrict sum_gx)"
        case "layernorm":
            return "void \(f)(int rows, int C, \(r) eps, const \(r) *restrict x, const \(r) *restrict weight, "
                + "const \(r) *restrict bias, \(r) *restrict out, \(r) *restrict mean, \(r) *restrict rstd)"
        case "layernorm_grad":
            return "void \(f)(int rows, int C, const \(r) *restrict dout, const \(r) *restrict x, const \(r) *restrict mean, "
                + "const \(r) *restrict rstd, const \(r) *restrict weight, \(r) *restrict dx, \(r) *restrict dweight, "
                + "\(r) *restrict dbias, \(r) *restrict xh, \(r) *restrict g)"
        case "sgd":
            return "void \(f)(int n, \(r) *restrict p, const \(r) *restrict g, \(r) lr, \(r) weight_decay)"
        case "sgd_momentum":
            return "void \(f)(int n, \(r) *restrict p, const \(r) *restrict g, \(r) *restrict v, \(r) lr, "
                + "\(r) momentum, \(r) weight_decay, int nesterov, int64_t step)"
        case "adam":
            return "void \(f)(int n, \(r) *restrict p, const \(r) *restrict g, \(r) *restrict m, \(r) *restrict v, "
                + "\(r) lr, \(r) beta1, \(r) beta2, \(r) eps, \(r) weight_decay, int decoupled, int64_t step)"
        case "sum":
            return "\(r) \(f)(int n, const \(r) *restrict x)"
        case "sumsq_dev":
            return "\(r) \(f)(int n, const \(r) *restrict x, \(r) mu)"
        case "dot":
            return "\(r) \(f)(int n, const \(r) *restrict x, const \(r) *restrict y)"
        case "add":
            return "void \(f)(int n, \(r) *restrict v, const \(r) *restrict t)"
        case "leaky_relu":
            return "void \(f)(int n, \(r) *restrict v, \(r) slope)"
        case "leaky_relu_grad":
            return "void \(f)(int n, \(r) *restrict v, const \(r) *restrict s, \(r) slope)"
        case _ where base.contains("_grad"):
            return "void \(f)(int n, \(r) *restrict v, const \(r) *restrict s)"
        default:
            return "void \(f)(int n, \(r) *restrict v)"
        }
    }

    /// The body of a helper.
    func helperBody(_ base: String) -> String {
        let r = real
        func each(_ expr: String) -> String {
            "    for (int i = 0; i < n; i++) {\n        const \(r) x = v[i];\n        v[i] = \(expr);\n    }\n"
        }
        func scale(_ expr: String) -> String {
            "    for (int i = 0; i < n; i++) v[i] *= \(expr);\n"
        }
        switch base {
        case "tile": return tileBody
        case "sum": return laneSum("x[k]")
        case "sumsq_dev": return laneSum("(x[k] - mu) * (x[k] - mu)", vector: "(xv - muv) * (xv - muv)")
        case "dot": return laneSum("x[k] * y[k]", vector: "xv * yv")
        case "pack_t" where scalar == .f32:
            return """
            #ifdef NN_VECTORS
                if (n == w && w % 8 == 0) {  /* whole 8 x 8 blocks, each transposed in registers */
                    const int K8 = K - K % 8;
                    for (int k = 0; k < K8; k += 8)
                        for (int j = 0; j < w; j += 8) nn_transpose8_f32(src + j * ld + k, ld, p + k * w + j, w);
                    for (int k = K8; k < K; k++)
                        for (int j = 0; j < w; j++) p[k * w + j] = src[j * ld + k];
                    return;
                }
            #endif
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < w; j++) p[k * w + j] = j < n ? src[j * ld + k] : 0;

            """
        case "pack_t":
            return """
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < w; j++) p[k * w + j] = j < n ? src[j * ld + k] : 0;

            """
        case "pack_n":
            return """
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < w; j++) p[k * w + j] = j < n ? src[k * ld + j] : 0;

            """
        case "bias_rows":
            return "    for (int r = 0; r < rows; r++)\n        for (int j = 0; j < cols; j++) v[r * cols + j] += bias[j];\n"
        case "row_stats": return rowStatsBody
        case "layernorm":  // KernelWriter.layerNormForwardBody with weight and bias optional (NULL)
            return """
                \(helper("row_stats"))(rows, C, eps, x, mean, rstd);
                for (int r = 0; r < rows; r++) {
                    const \(r) *xr = x + r * C;
                    const \(r) mu = mean[r], rs = rstd[r];
                    if (weight)
                        for (int k = 0; k < C; k++) out[r * C + k] = (xr[k] - mu) * rs * weight[k] + bias[k];
                    else
                        for (int k = 0; k < C; k++) out[r * C + k] = (xr[k] - mu) * rs;
                }

            """
        case "row_sums": return rowSumsBody
        case "layernorm_grad":  // the layerNormGrad kernel with weight (and so g, dweight, dbias) and dx optional;
            // xh and g hold 8 rows of C
            return """
                if (weight)
                    for (int k = 0; k < C; k++) { dweight[k] = 0; dbias[k] = 0; }
                for (int r0 = 0; r0 < rows; r0 += 8) {
                    const int n = rows - r0 < 8 ? rows - r0 : 8;
                    const \(r) *G = weight ? g : dout + r0 * C;
                    \(r) sum_g[8], sum_gx[8];
                    for (int q = 0; q < n; q++) {
                        const \(r) *xr = x + (r0 + q) * C, *dr = dout + (r0 + q) * C;
                        const \(r) mu = mean[r0 + q], rs = rstd[r0 + q];
                        \(r) *xq = xh + q * C;
                        for (int k = 0; k < C; k++) xq[k] = (xr[k] - mu) * rs;
                        if (weight) {
                            \(r) *gq = g + q * C;
                            for (int k = 0; k < C; k++) {
                                gq[k] = dr[k] * weight[k];
                                dweight[k] += dr[k] * xq[k];
                                dbias[k] += dr[k];
                            }
                        }
                    }
                    \(helper("row_sums"))(n, C, G, xh, sum_g, sum_gx);
                    if (!dx) continue;
                    for (int q = 0; q < n; q++) {
                        const int r = r0 + q;
                        const \(r) rs = rstd[r], mean_g = sum_g[q] / C, mean_gx = sum_gx[q] / C;
                        const \(r) *Gq = G + q * C, *xq = xh + q * C;
                        for (int k = 0; k < C; k++) dx[r * C + k] = rs * (Gq[k] - mean_g - xq[k] * mean_gx);
                    }
                }

            """
        case "col_sums":
            return """
                for (int j = 0; j < cols; j++) s[j] = 0;
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < cols; j++) s[j] += x[r * cols + j];

            """
        case "sgd":  // templates/optimizer_sgd.c, with the weight decay as an argument
            return """
                for (int i = 0; i < n; i++) {
                    \(r) gi = g[i] + weight_decay * p[i];
                    p[i] -= lr * gi;
                }

            """
        case "sgd_momentum":  // templates/optimizer_sgd_momentum.c, constants as arguments
            return """
                for (int i = 0; i < n; i++) {
                    \(r) gi = g[i] + weight_decay * p[i];
                    v[i] = step == 1 ? gi : momentum * v[i] + gi;
                    p[i] -= lr * (nesterov ? gi + momentum * v[i] : v[i]);
                }

            """
        case "adam":  // templates/optimizer_adam.c and optimizer_adamw.c (decoupled), constants as arguments
            return """
                const \(r) bc1 = (\(r))(1.0 - pow(beta1, (double)step));
                const \(r) bc2 = (\(r))(1.0 - pow(beta2, (double)step));
                for (int i = 0; i < n; i++) {
                    \(r) gi;
                    if (decoupled) {
                        gi = g[i];
                        p[i] -= lr * weight_decay * p[i];
                    } else {
                        gi = g[i] + weight_decay * p[i];
                    }
                    m[i] = beta1 * m[i] + (1 - beta1) * gi;
                    v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
                    p[i] -= lr * (m[i] / bc1) / (\(fn("sqrt"))(v[i] / bc2) + eps);
                }

            """
        case "add": return "    for (int i = 0; i < n; i++) v[i] += t[i];\n"
        case "relu": return each(activation(.relu, "x"))
        case "leaky_relu": return each("(x > 0 ? x : slope * x)")
        case "sigmoid": return each(activation(.sigmoid, "x"))
        case "tanh": return each(activation(.tanh, "x"))
        case "gelu": return each(activation(.gelu, "x"))
        case "gelu_tanh": return each(activation(.geluTanh, "x"))
        case "relu_grad": return scale(derivative(.relu, "s[i]", fromOutput: true))
        case "leaky_relu_grad": return scale("(s[i] > 0 ? 1 : slope)")
        case "sigmoid_grad_out": return scale(derivative(.sigmoid, "s[i]", fromOutput: true))
        case "sigmoid_grad_in": return scale(derivative(.sigmoid, "s[i]", fromOutput: false))
        case "tanh_grad_out": return scale(derivative(.tanh, "s[i]", fromOutput: true))
        case "tanh_grad_in": return scale(derivative(.tanh, "s[i]", fromOutput: false))
        case "gelu_grad": return scale(derivative(.gelu, "s[i]", fromOutput: false))
        case "gelu_tanh_grad": return scale(derivative(.geluTanh, "s[i]", fromOutput: false))
        default: return ""
        }
    }

    /// `name[0] + ... + name[lanes - 1]` added pairwise, halves first: for 8 lanes
    /// `((n[0] + n[4]) + (n[2] + n[6])) + ((n[1] + n[5]) + (n[3] + n[7]))`. The one order every lane
    /// sum of generated code combines its lanes in (`laneSum`, `nn_lane_totals8_f32`).
    static func pairwiseSum(_ name: String, lanes: Int) -> String {
        var parts = (0..<lanes).map { "\(name)[\($0)]" }
        while parts.count > 1 {
            let h = parts.count / 2
            parts = (0..<h).map { "(\(parts[$0]) + \(parts[$0 + h]))" }
        }
        return String(parts[0].dropFirst().dropLast())
    }

    /// A sum over `k < n` of `term` in a fixed order that vectorises: lane `l` adds the terms
    /// `l, l + W, l + 2 W, ...` (W = lanes), the lanes are added pairwise, then the last `n mod W`
    /// terms in order. The same order with vectors (gcc, clang) or arrays (other compilers).
    func laneSum(_ term: String, vector: String? = nil) -> String {
        let r = real, w = lanes, v = "nn_v\(suffix)"
        // Pairwise: (0 + W/2), (1 + W/2 + 1) ... then halves again.
        func combine(_ name: String) -> String { CSyntax.pairwiseSum(name, lanes: w) }
        let vterm = vector ?? "xv"
        let loads = ["xv = *(const \(v) *)(x + k)"] + (term.contains("y[k]") ? ["yv = *(const \(v) *)(y + k)"] : [])
        let muv = term.contains("mu") ? "    const \(v) muv = {\((0..<w).map { _ in "mu" }.joined(separator: ", "))};\n" : ""
        return """
            int k = 0;
        #ifdef NN_VECTORS
            \(v) acc = {0};
        \(muv)    for (; k + \(w) <= n; k += \(w)) {
                const \(v) \(loads.joined(separator: ", "));
                acc += \(vterm);
            }
        #else
            \(r) acc[\(w)] = {0};
            for (; k + \(w) <= n; k += \(w))
                for (int l = 0; l < \(w); l++) acc[l] += \(term.replacingOccurrences(of: "[k]", with: "[k + l]"));
        #endif
            \(r) s = \(combine("acc"));
            for (; k < n; k++) s += \(term);
            return s;

        """
    }

    /// The mean and 1/std of each row of `C` values: `mean = sum / C`, `rstd = 1 / sqrt(sum of
    /// squared deviations / C + eps)`, each sum in `laneSum`'s order. For float32 with vectors,
    /// eight rows at a time: their lane sums are transposed (8 x 8 in registers) and combined as
    /// vectors in the same pairwise order, which gives the per-row results bit for bit while
    /// hiding the latency of eight rows' reductions behind each other.
    var rowStatsBody: String {
        let r = real
        let perRow = """
                for (int i = batched; i < rows; i++) {
                    const \(r) *xr = x + i * C;
                    const \(r) mu = \(helper("sum"))(C, xr) / C;
                    mean[i] = mu;
                    rstd[i] = 1 / \(fn("sqrt"))(\(helper("sumsq_dev"))(C, xr, mu) / C + eps);
                }

            """
        guard scalar == .f32 else { return "    const int batched = 0;\n" + perRow }
        return """
            #ifdef NN_VECTORS
                const int batched = C % 8 == 0 ? rows - rows % 8 : 0;  /* rows done eight at a time */
                for (int i = 0; i < batched; i += 8) {
                    nn_vf32 acc[8];
                    float lanes[64] __attribute__((aligned(32))), totals[8] __attribute__((aligned(32)));
                    for (int q = 0; q < 8; q++) {
                        acc[q] = (nn_vf32){0};
                        for (int k = 0; k < C; k += 8) acc[q] += *(const nn_vf32 *)(x + (i + q) * C + k);
                        *(nn_vf32 *)(lanes + 8 * q) = acc[q];
                    }
                    nn_lane_totals8_f32(lanes, totals);
                    const nn_vf32 mu = *(const nn_vf32 *)totals / (float)C;
                    *(nn_vf32 *)(mean + i) = mu;
                    for (int q = 0; q < 8; q++) {
                        const float m = mu[q];
                        const nn_vf32 mv = {m, m, m, m, m, m, m, m};
                        acc[q] = (nn_vf32){0};
                        for (int k = 0; k < C; k += 8) {
                            const nn_vf32 d = *(const nn_vf32 *)(x + (i + q) * C + k) - mv;
                            acc[q] += d * d;
                        }
                        *(nn_vf32 *)(lanes + 8 * q) = acc[q];
                    }
                    nn_lane_totals8_f32(lanes, totals);
                    const nn_vf32 var = *(const nn_vf32 *)totals / (float)C + eps;
                    for (int q = 0; q < 8; q++) rstd[i + q] = 1 / \(fn("sqrt"))(var[q]);
                }
            #else
                const int batched = 0;
            #endif

            """ + perRow
    }

    /// For `n` <= 8 rows of `C` (rows `C` apart): `sum_g[q]` = the sum of row q of g, `sum_gx[q]` =
    /// the dot product of row q of g with row q of xh, in `laneSum`'s order (`nn_sum`, `nn_dot`).
    /// Eight float32 rows with vectors combine their lane sums transposed, as `rowStatsBody`.
    var rowSumsBody: String {
        let perRow = """
                for (int q = 0; q < n; q++) {
                    sum_g[q] = \(helper("sum"))(C, g + q * C);
                    sum_gx[q] = \(helper("dot"))(C, g + q * C, xh + q * C);
                }

            """
        guard scalar == .f32 else { return perRow }
        return """
            #ifdef NN_VECTORS
                if (n == 8 && C % 8 == 0) {
                    float lanes_g[64] __attribute__((aligned(32))), lanes_gx[64] __attribute__((aligned(32)));
                    for (int q = 0; q < 8; q++) {
                        nn_vf32 a = {0}, b = {0};
                        for (int k = 0; k < C; k += 8) {
                            const nn_vf32 gv = *(const nn_vf32 *)(g + q * C + k), xv = *(const nn_vf32 *)(xh + q * C + k);
                            a += gv;
                            b += gv * xv;
                        }
                        *(nn_vf32 *)(lanes_g + 8 * q) = a;
                        *(nn_vf32 *)(lanes_gx + 8 * q) = b;
                    }
                    nn_lane_totals8_f32(lanes_g, sum_g);
                    nn_lane_totals8_f32(lanes_gx, sum_gx);
                    return;
                }
            #endif

            """ + perRow
    }

    /// The register tile: vectors with gcc and clang, the same loops on arrays elsewhere.
    var tileBody: String {
        let r = real, w = lanes, v = "nn_v\(suffix)"
        let fma = "NN_VFMA_\(suffix.uppercased())", sfma = "NN_FMA_\(suffix.uppercased())"
        let splat = (0..<w).map { _ in "x" }.joined(separator: ", ")
        return """
        #ifdef NN_VECTORS
            const \(v) zero = {0};
            \(v) s[6][2], bv[2];
            for (int i = 0; i < R; i++)
                for (int u = 0; u < V; u++) {
                    s[i][u] = zero;
                    if (acc && n == \(w) * V) s[i][u] = *(const \(v) *)(c + i * ldc + \(w) * u);
                    else if (acc) for (int j = 0; j < \(w) && \(w) * u + j < n; j++) s[i][u][j] = c[i * ldc + \(w) * u + j];
                }
            for (int p = 0; p < K; p++) {
                for (int u = 0; u < V; u++) bv[u] = *(const \(v) *)(b + p * sb + \(w) * u);
                for (int i = 0; i < R; i++) {
                    const \(r) x = a[i * sa + p * sp];
                    const \(v) ax = {\(splat)};
                    for (int u = 0; u < V; u++) s[i][u] = \(fma)(ax, bv[u], s[i][u]);
                }
            }
            for (int i = 0; i < R; i++)
                for (int u = 0; u < V; u++) {
                    if (n == \(w) * V) *(\(v) *)(c + i * ldc + \(w) * u) = s[i][u];
                    else for (int j = 0; j < \(w) && \(w) * u + j < n; j++) c[i * ldc + \(w) * u + j] = s[i][u][j];
                }
        #else
            \(r) s[6][\(2 * w)];
            for (int i = 0; i < R; i++)
                for (int j = 0; j < \(w) * V; j++) s[i][j] = acc && j < n ? c[i * ldc + j] : 0;
            for (int p = 0; p < K; p++)
                for (int i = 0; i < R; i++) {
                    const \(r) x = a[i * sa + p * sp];
                    for (int j = 0; j < \(w) * V; j++) s[i][j] = \(sfma)(x, b[p * sb + j], s[i][j]);
                }
            for (int i = 0; i < R; i++)
                for (int j = 0; j < n; j++) c[i * ldc + j] = s[i][j];
        #endif

        """
    }

    /// The helpers section of a file: the vector type and multiply-add macros, then each used
    /// helper, defined (`static inline`, so compilers specialise every call on its literal
    /// arguments) or, when `NN_PRECOMPILED` is defined, declared only (tcc: nngen links its
    /// precompiled copies).
    func helperSection(_ used: Set<String>) -> String {
        let names = CSyntax.helperOrder.filter { used.contains($0) }
        guard !names.isEmpty else { return "" }
        let S = suffix.uppercased(), r = real, w = lanes
        let rowBlocks = used.contains("row_stats") || used.contains("row_sums")
        var s = """
        /* ---- helpers of the kernels ------------------------------------------------------------
         * \(helper("tile"))(R, V, n, K, a, sa, sp, b, sb, c, ldc, acc): a register tile of a matrix product,
         *     c[i*ldc + j] = (acc ? c[i*ldc + j] : 0) + sum over p = 0, 1, ..., K-1 of a[i*sa + p*sp] * b[p*sb + j]
         * for rows i < R (R <= 6) and columns j < n (n <= \(w) V, V <= 2 vectors of \(w)); b needs \(w) V readable
         * columns (a zero-padded panel when n < \(w) V). The sum runs in p order as one chain of multiply-adds
         * (fused where the target has FMA, in every tile alike): each result depends on the shapes alone,
         * never on the tile or the thread that computed it. The R x V accumulators stay in registers.
         * The elementwise helpers apply an epilogue step to n values in place.
         */
        #if defined(__GNUC__) && !defined(__TINYC__) && !defined(NN_PLAIN_C)
        #define NN_VECTORS 1
        #define NN_TILE_INLINE static inline __attribute__((always_inline))
        typedef \(r) nn_v\(suffix) __attribute__((vector_size(32), aligned(\(scalar.size)), may_alias));
        \(scalar == .f32 && (used.contains("pack_t") || rowBlocks) ? CSyntax.transpose8Definition : "")\(scalar == .f32 && rowBlocks ? CSyntax.laneTotals8Definition : "")#else
        #define NN_TILE_INLINE static inline
        #endif
        #if defined(__FMA__) && defined(__x86_64__)
        #define NN_FMA_\(S)(a, b, c) \(fn("fma"))(a, b, c)
        #define NN_VFMA_\(S)(a, b, c) __builtin_ia32_vfmadd\(scalar == .f32 ? "ps" : "pd")256(a, b, c)
        #else
        #define NN_FMA_\(S)(a, b, c) ((a) * (b) + (c))
        #define NN_VFMA_\(S)(a, b, c) ((a) * (b) + (c))
        #endif
        #ifdef NN_PRECOMPILED

        """
        for n in names { s += helperPrototype(n) + ";\n" }
        s += "#else\n"
        for n in names where !CSyntax.precompiledOnly.contains(n) {
            s += (["tile", "pack_t", "pack_n"].contains(n) ? "NN_TILE_INLINE " : "static inline ") + helperPrototype(n) + " {\n" + helperBody(n) + "}\n"
        }
        s += "#endif\n\n"
        return s
    }
}


// MARK: - the precompiled helpers (libtcc)

extension CSyntax {
    /// The C types and names of the helpers both scalar types export, in table order.
    static var exportedHelpers: [(scalar: ScalarType, base: String)] {
        [ScalarType.f32, .f64].flatMap { s in helperOrder.map { (s, $0) } }
    }

    /// The helpers of one scalar type for one instruction-set variant: shared inline bodies
    /// (`_body`) and the exported functions, each named `nn_BASE_SUFFIX_VARIANT`. The tile is
    /// exported as a dispatcher that calls the inlined body with literal R and V.
    func precompiledDefinitions(variant: String) -> String {
        let v = "_" + variant
        // Helpers calling helpers (layernorm -> sum) reach this variant's copies.
        var s = CSyntax.helperOrder.map { "#define \(helper($0)) \(helper($0))\(v)\n" }.joined()
        for base in CSyntax.helperOrder {
            let body = helperBody(base)
            if base == "tile" {
                s += "NN_TILE_INLINE " + helperPrototype(base, nameSuffix: "_body" + v) + " {\n" + body + "}\n"
                let args = "n, K, a, sa, sp, b, sb, c, ldc, acc"
                s += helperPrototype(base, nameSuffix: v) + " {\n"
                s += "    switch (R * 4 + V) {  /* literal R and V: the accumulators stay in registers */\n"
                for r in 1...CSyntax.tileRows {
                    for vv in 1...2 {
                        s += "    case \(r * 4 + vv): \(helper(base))_body\(v)(\(r), \(vv), \(args)); break;\n"
                    }
                }
                s += "    default: break;\n    }\n}\n"
            } else {
                s += helperPrototype(base, nameSuffix: v) + " {\n" + body + "}\n"
            }
        }
        s += CSyntax.helperOrder.map { "#undef \(helper($0))\n" }.joined()
        return s
    }
}

/// The C source of nngen's precompiled helpers, `Sources/NNKernels/nn_kernels.c`: the helpers
/// generated code calls (register tiles, packing, lane sums, epilogue steps) for float32 and
/// float64, compiled once with the package at -O3 for AVX2 + FMA and for the baseline
/// instruction set. libtcc cannot vectorise, so `CompiledModel` links tcc-compiled models
/// against these (`NN_PRECOMPILED`). The text comes from the same generator as the helpers
/// written into every NAME.c, so both compute the same things in the same order; a test keeps
/// the checked-in file equal to this function's output.
public func precompiledHelpersSource() -> String {
    let f32 = CSyntax(scalar: .f32), f64 = CSyntax(scalar: .f64)
    var s = """
    /* nn_kernels.c -- generated by nngen (CodeGen.precompiledHelpersSource()). Do not edit: regenerate with
     *     NNGEN_RECORD_KERNELS=1 swift test --filter PrecompiledHelpersTests
     *
     * The helpers of generated code (register tiles of matrix products, panel packing, lane sums,
     * epilogue steps), compiled with nngen for libtcc, which cannot vectorise: twice, for AVX2 + FMA
     * and for the baseline instruction set; nn_kernel_symbols() picks what the CPU runs. The text of
     * each function is the one written into every generated NAME.c, so results match the cc back end.
     */
    #include "nn_kernels.h"

    #include <math.h>
    #include <stdint.h>
    #include <string.h>

    #pragma STDC FP_CONTRACT OFF  /* as gcc -std=c99: multiply-adds are fused only where written */

    #define NN_VECTORS 1
    #define NN_TILE_INLINE static inline __attribute__((always_inline))
    typedef float nn_vf32 __attribute__((vector_size(32), aligned(4), may_alias));
    typedef double nn_vf64 __attribute__((vector_size(32), aligned(8), may_alias));


    """
    s += CSyntax.transpose8Definition + CSyntax.laneTotals8Definition + f32.derivativeHelpers + f64.derivativeHelpers
    s += """
    /* ---- AVX2 + FMA ------------------------------------------------------------------------- */
    #if defined(__x86_64__)
    #pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)
    #define NN_FMA_F32(a, b, c) fmaf(a, b, c)
    #define NN_VFMA_F32(a, b, c) __builtin_ia32_vfmaddps256(a, b, c)
    #define NN_FMA_F64(a, b, c) fma(a, b, c)
    #define NN_VFMA_F64(a, b, c) __builtin_ia32_vfmaddpd256(a, b, c)

    """
    s += f32.precompiledDefinitions(variant: "avx2") + f64.precompiledDefinitions(variant: "avx2")
    s += """
    #undef NN_FMA_F32
    #undef NN_VFMA_F32
    #undef NN_FMA_F64
    #undef NN_VFMA_F64
    #pragma clang attribute pop
    #endif

    /* ---- the baseline instruction set ------------------------------------------------------- */
    #define NN_FMA_F32(a, b, c) ((a) * (b) + (c))
    #define NN_VFMA_F32(a, b, c) ((a) * (b) + (c))
    #define NN_FMA_F64(a, b, c) ((a) * (b) + (c))
    #define NN_VFMA_F64(a, b, c) ((a) * (b) + (c))

    """
    s += f32.precompiledDefinitions(variant: "generic") + f64.precompiledDefinitions(variant: "generic")
    func table(_ variant: String) -> String {
        CSyntax.exportedHelpers.map { e in
            let name = "nn_\(e.base)_\(e.scalar.rawValue)"
            return "    {\"\(name)\", (void (*)(void))\(name)_\(variant)},\n"
        }.joined()
    }
    s += """

    /* ---- the table libtcc links against ------------------------------------------------------ */
    static const nn_kernel_symbol nn_generic_symbols[] = {
    \(table("generic"))};

    #if defined(__x86_64__)
    static const nn_kernel_symbol nn_avx2_symbols[] = {
    \(table("avx2"))};
    #endif

    const nn_kernel_symbol *nn_kernel_symbols(int *count, const char **variant) {
        *count = (int)(sizeof nn_generic_symbols / sizeof nn_generic_symbols[0]);
    #if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            *variant = "avx2+fma";
            return nn_avx2_symbols;
        }
    #endif
        *variant = "baseline";
        return nn_generic_symbols;
    }

    """
    return s
}
