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

    /// `f(v)` for an activation, as a C expression of the variable `v`; a leaky ReLU's slope is
    /// `slope` when given (a helper's argument), else its literal value.
    func activation(_ a: Activation, _ v: String, slope: String? = nil) -> String {
        switch a {
        case .relu: return "(\(v) > 0 ? \(v) : 0)"
        case .leakyReLU(let s): return "(\(v) > 0 ? \(v) : \(slope ?? lit(s)) * \(v))"
        case .sigmoid: return "(1 / (1 + \(fn("exp"))(-\(v))))"
        case .tanh: return "\(tanh)(\(v))"
        case .gelu: return "(\(lit(0.5)) * \(v) * (1 + \(fn("erf"))(\(v) * \(lit(0.7071067811865476)))))"
        case .geluTanh:
            return "(\(lit(0.5)) * \(v) * (1 + \(tanh)(\(lit(0.7978845608028654)) * (\(v) + \(lit(0.044715)) * \(v) * \(v) * \(v)))))"
        case .identity: return v
        case .silu: return "(\(v) / (1 + \(fn("exp"))(-\(v))))"
        }
    }

    /// `f'` as a C expression of `s`, the activation's output (if `fromOutput`) or input; a leaky
    /// ReLU's slope as in `activation`.
    func derivative(_ a: Activation, _ s: String, fromOutput: Bool, slope: String? = nil) -> String {
        switch (a, fromOutput) {
        case (.relu, _): return "(\(s) > 0 ? 1 : 0)"
        case (.leakyReLU(let k), _): return "(\(s) > 0 ? 1 : \(slope ?? lit(k)))"
        case (.sigmoid, true): return "(\(s) * (1 - \(s)))"
        case (.tanh, true): return "(1 - \(s) * \(s))"
        case (.tanh, false): return "(1 - \(tanh)(\(s)) * \(tanh)(\(s)))"
        case (.sigmoid, false), (.gelu, _), (.geluTanh, _), (.silu, _):
            return "\(Helper.scalarDerivative(a).name(self))(\(s))"
        case (.identity, _): return "1"
        }
    }

    /// The body of `nn_dNAME`, the derivative of an activation from its input where it needs a
    /// function of its own (nil where `derivative` is an expression).
    func scalarDerivativeBody(_ a: Activation) -> String? {
        let r = real
        switch a {
        case .gelu:
            return """
                /* d/dx 0.5 x (1 + erf(x / sqrt 2)) = Phi(x) + x phi(x) */
                return \(lit(0.5)) * (1 + \(fn("erf"))(x * \(lit(0.7071067811865476)))) + x * \(lit(0.3989422804014327)) * \(fn("exp"))(\(lit(-0.5)) * x * x);

            """
        case .geluTanh:
            return """
                \(r) u = \(lit(0.7978845608028654)) * (x + \(lit(0.044715)) * x * x * x);
                \(r) t = \(tanh)(u);
                return \(lit(0.5)) * (1 + t) + \(lit(0.5)) * x * (1 - t * t) * \(lit(0.7978845608028654)) * (1 + \(lit(3 * 0.044715)) * x * x);

            """
        case .sigmoid:
            return """
                \(r) s = 1 / (1 + \(fn("exp"))(-x));
                return s * (1 - s);

            """
        case .silu:
            return """
                \(r) s = 1 / (1 + \(fn("exp"))(-x));
                return s * (1 + x * (1 - s));

            """
        case .relu, .leakyReLU, .tanh, .identity: return nil
        }
    }

    /// Whether `a`'s derivative reads a different tensor when taken from its input rather than
    /// its output (sigmoid, tanh): such activations have two derivative helpers.
    func derivativeDependsOnSource(_ a: Activation) -> Bool {
        derivative(a, "s", fromOutput: true, slope: "slope") != derivative(a, "s", fromOutput: false, slope: "slope")
    }

    /// The end of the name of a helper applying `a`'s derivative: `_out` or `_in` where it depends
    /// on the source, else nothing.
    func sourceSuffix(_ a: Activation, fromOutput: Bool) -> String {
        derivativeDependsOnSource(a) ? (fromOutput ? "_out" : "_in") : ""
    }

    /// Columns of one register tile: two vectors (16 floats, 8 doubles).
    var tileColumns: Int { 2 * lanes }

    /// The largest number of rows of one register tile.
    static let tileRows = 6
}

/// Turns a layer path (`layers[2].layers[1]`) into a C identifier fragment (`layers_2_layers_1`).
/// Paths are made by nngen from indices only, never from user text.
func cIdentifier(_ path: String) -> String {
    if path.utf8.allSatisfy({ $0 < 128 }) {
        // The same on bytes (ASCII text; "\r\n", one Character, gives one "_" either way).
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for b in path.utf8 {
            let alnum = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
            if alnum { out.append(b) } else if out.last != 95 { out.append(95) }
        }
        while out.last == 95 { out.removeLast() }
        return out.isEmpty ? "model" : String(decoding: out, as: UTF8.self)
    }
    var out = ""
    for ch in path {
        if ch.isASCII && (ch.isLetter || ch.isNumber) { out.append(ch) } else if !out.hasSuffix("_") { out.append("_") }
    }
    while out.hasSuffix("_") { out.removeLast() }
    return out.isEmpty ? "model" : out
}

// MARK: - what every generated file starts with

extension CSyntax {
    /// Emitted after the prelude: gcc may assume floating-point operations do not trap from here
    /// on, which lets it turn the selects of relu, clamps and derivatives into vector blends
    /// (values are unchanged: this allows no reassociation, contraction or other rewriting).
    /// `NN_PARALLEL_FOR` shares a loop among OpenMP threads.
    static let optimizationPragmas = """
    #if defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)
    #pragma GCC optimize ("no-trapping-math")
    #endif

    /* NN_PARALLEL_FOR shares a loop's iterations among threads when the file is compiled with OpenMP
     * and -DNN_THREADS=N, N > 1 (each iteration computes whole output elements: same results). */
    #if defined(_OPENMP) && defined(NN_THREADS) && NN_THREADS > 1
    #define NN_THREADED 1
    #define NN_PARALLEL_FOR _Pragma("omp parallel for schedule(static) num_threads(NN_THREADS)")
    #else
    #define NN_PARALLEL_FOR
    #endif


    """

    /// The declaration of a kernel's local array `name` of `count` elements (a packed panel, a padded
    /// sample): `NN_LOCAL(name, count)`, to which `emitC` adds the array's offset in the kernel's
    /// share of `nn_locals` (`localsSection`). A plain array on the stack unless NN_STATIC_LOCALS.
    func local(_ name: String, _ count: Int) -> String { "NN_LOCAL(\(name), \(count))" }

    /// Gives every `NN_LOCAL(name, count)` of a kernel's body its offset, one after the other (so
    /// none overlaps another of the same kernel): `NN_LOCAL(name, count, offset)`. Returns the body
    /// and the elements its locals take.
    static func placeLocals(_ body: String) -> (body: String, elements: Int) {
        var out = "", rest = Substring(body), total = 0
        while let open = rest.range(of: "NN_LOCAL(") {
            guard let close = rest[open.upperBound...].firstIndex(of: ")") else { break }
            let args = rest[open.upperBound..<close]
            let count = args.split(separator: ",").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0
            out += rest[..<close] + ", \(total))"
            total += count
            rest = rest[rest.index(after: close)...]
        }
        return (out + rest, total)
    }

    /// Where the kernels' local arrays live, before the kernels: on the stack (each kernel's
    /// arrays in its frame, per thread), or with NN_STATIC_LOCALS, which the device build defines
    /// (one thread, a small stack), in one static buffer the kernels share, `elements` long.
    func localsSection(elements: Int) -> String {
        """
        /* Kernel-local arrays (packed panels, padded samples): NN_LOCAL(name, count, offset) declares one.
         * On the stack by default; with -DNN_STATIC_LOCALS (the device build: one thread, a small stack)
         * at `offset` in nn_locals, one static buffer the kernels share (\(elements) elements: the most
         * any one kernel takes). Same arithmetic either way. */
        #ifdef NN_STATIC_LOCALS
        #ifdef NN_THREADED
        #error "NN_STATIC_LOCALS shares one buffer among the kernels: build it without OpenMP threads"
        #endif
        static \(real) nn_locals[\(elements)];
        #define NN_LOCAL(name, count, offset) \(real) *const name = nn_locals + (offset)
        #else
        #define NN_LOCAL(name, count, offset) \(real) name[count]
        #endif


        """
    }

    /// A helper's `loop` (statements ending in a newline), shared among threads when `condition`
    /// holds in a threaded build (`NN_THREADED`); elsewhere, and for small sizes, the plain loop, so
    /// no call pays for an OpenMP region it does not split. The same loop text either way.
    func parallelWhen(_ condition: String, _ loop: String) -> String {
        let indented = loop.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }
            .joined(separator: "\n")
        return """
        #ifdef NN_THREADED
            if (\(condition)) {
                NN_PARALLEL_FOR
        \(indented)        return;
            }
        #endif

        """ + loop
    }

    /// What the helpers' bodies need before them: with `vectors`, the vector types of gcc and
    /// clang (`NN_VECTORS`), `NN_TILE_INLINE`, and the multiply-add macros of the tiles.
    func helpersPreamble(vectors: Bool) -> String {
        let S = suffix.uppercased()
        var s = """
        /* ---- helpers of the kernels ------------------------------------------------------------
         * Defined once for every model (nngen's Helper enum); tcc-compiled code links nngen's precompiled
         * copies of the same text instead (NN_PRECOMPILED).
         * \(Helper.tile.name(self))(R, V, n, K, a, sa, sp, b, sb, c, ldc, acc): a register tile of a matrix product,
         *     c[i*ldc + j] = (acc ? c[i*ldc + j] : 0) + sum over p = 0, 1, ..., K-1 of a[i*sa + p*sp] * b[p*sb + j]
         * for rows i < R (R <= 6) and columns j < n (n <= \(lanes) V, V <= 2 vectors of \(lanes)); b needs \(lanes) V readable
         * columns (a zero-padded panel when n < \(lanes) V). The sum runs in p order as one chain of multiply-adds
         * (fused where the target has FMA, in every tile alike): each result depends on the shapes alone,
         * never on the tile or the thread that computed it. The R x V accumulators stay in registers.
         * The elementwise helpers apply an epilogue step to n values in place.
         */

        """
        guard vectors else { return s }
        s += """
        #if defined(__GNUC__) && !defined(__TINYC__) && !defined(NN_PLAIN_C)
        #define NN_VECTORS 1
        #define NN_TILE_INLINE static inline __attribute__((always_inline))
        typedef \(real) nn_v\(suffix) __attribute__((vector_size(32), aligned(\(scalar.size)), may_alias));
        \(scalar == .f32 ? CSyntax.shuffleDefinitions : "")#else
        #define NN_TILE_INLINE static inline
        #endif
        #if defined(__FMA__) && defined(__x86_64__)
        #define NN_FMA_\(S)(a, b, c) \(fn("fma"))(a, b, c)
        #define NN_VFMA_\(S)(a, b, c) __builtin_ia32_vfmadd\(scalar == .f32 ? "ps" : "pd")256(a, b, c)
        #else
        #define NN_FMA_\(S)(a, b, c) ((a) * (b) + (c))
        #define NN_VFMA_\(S)(a, b, c) ((a) * (b) + (c))
        #endif

        """
        return s
    }

    /// Two vectors' elements picked by index (gcc and clang spell shuffles differently).
    static let shuffleDefinitions = """
    typedef int nn_vi32 __attribute__((vector_size(32)));
    #ifdef __clang__
    #define NN_SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
    #else
    #define NN_SHUFFLE8(a, b, ...) __builtin_shuffle(a, b, (nn_vi32){__VA_ARGS__})
    #endif

    """
}
