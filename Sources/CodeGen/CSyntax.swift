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
        "tile", "pack_t", "pack_n", "bias_rows", "add",
        "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh",
        "relu_grad", "leaky_relu_grad", "sigmoid_grad_out", "sigmoid_grad_in", "tanh_grad_out", "tanh_grad_in",
        "gelu_grad", "gelu_tanh_grad",
    ]

    /// The prototype of a helper (also what the precompiled kernels export).
    func helperPrototype(_ base: String) -> String {
        let r = real, f = helper(base)
        switch base {
        case "tile":
            return "void \(f)(int R, int V, int n, int K, const \(r) *restrict a, int sa, int sp, "
                + "const \(r) *restrict b, int sb, \(r) *restrict c, int ldc, int acc)"
        case "pack_t", "pack_n":
            return "void \(f)(int K, int n, int w, const \(r) *restrict src, int ld, \(r) *restrict p)"
        case "bias_rows":
            return "void \(f)(int rows, int cols, \(r) *restrict v, const \(r) *restrict bias)"
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
        case "pack_t":
            return """
                for (int j = 0; j < w; j++)
                    for (int k = 0; k < K; k++) p[k * w + j] = j < n ? src[j * ld + k] : 0;

            """
        case "pack_n":
            return """
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < w; j++) p[k * w + j] = j < n ? src[k * ld + j] : 0;

            """
        case "bias_rows":
            return "    for (int r = 0; r < rows; r++)\n        for (int j = 0; j < cols; j++) v[r * cols + j] += bias[j];\n"
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
                    if (!acc) s[i][u] = zero;
                    else if (n == \(w) * V) s[i][u] = *(const \(v) *)(c + i * ldc + \(w) * u);
                    else for (int j = 0; j < \(w); j++) s[i][u][j] = \(w) * u + j < n ? c[i * ldc + \(w) * u + j] : 0;
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
        typedef \(r) nn_v\(suffix) __attribute__((vector_size(32), aligned(\(scalar.size)), may_alias));
        #endif
        #if defined(__FMA__) && defined(__x86_64__)
        #define NN_FMA_\(S)(a, b, c) \(fn("fma"))(a, b, c)
        #define NN_VFMA_\(S)(a, b, c) __builtin_ia32_vfmadd\(scalar == .f32 ? "ps" : "pd")256(a, b, c)
        #else
        #define NN_FMA_\(S)(a, b, c) ((a) * (b) + (c))
        #define NN_VFMA_\(S)(a, b, c) ((a) * (b) + (c))
        #endif
        /* NN_PARALLEL_FOR shares a loop's iterations among threads when the file is compiled with OpenMP
         * and -DNN_THREADS=N, N > 1 (each iteration computes whole output elements: same results). */
        #if defined(_OPENMP) && defined(NN_THREADS) && NN_THREADS > 1
        #define NN_PARALLEL_FOR _Pragma("omp parallel for schedule(static) num_threads(NN_THREADS)")
        #else
        #define NN_PARALLEL_FOR
        #endif
        #ifdef NN_PRECOMPILED

        """
        for n in names { s += helperPrototype(n) + ";\n" }
        s += "#else\n"
        for n in names {
            s += "static inline " + helperPrototype(n) + " {\n" + helperBody(n) + "}\n"
        }
        s += "#endif\n\n"
        return s
    }
}
