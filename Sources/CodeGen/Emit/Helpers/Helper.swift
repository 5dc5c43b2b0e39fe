import ModelSpec

/// A C function that kernels call, written once: its prototype and body come from this enum
/// (one `switch` each, so a helper without a text is a compile error). Every NAME.c defines the
/// helpers it calls `static inline` (cc specialises each call on its literal arguments), and
/// `Sources/NNKernels/nn_kernels.c` holds the same text compiled once with the package for libtcc,
/// which links tcc-compiled models against it (`NN_PRECOMPILED`): both builds run one text.
enum Helper: Hashable {
    // Scalar functions, defined in NAME.c in every build (never precompiled).
    /// `nn_tanhf`: a vectorisable tanh for float32 (float64 uses libm's `tanh`).
    case tanhf
    /// `nn_dsigmoid`, `nn_dgelu`, `nn_dgelu_tanh`, `nn_dsilu`: an activation's derivative from its input.
    case scalarDerivative(Activation)
    // Vector building blocks of other helpers (float32 with vectors only; not exported).
    /// `nn_transpose8_f32`: an 8 x 8 transpose in registers.
    case transpose8
    /// `nn_lane_totals8_f32`: eight rows' lane sums combined in `pairwiseSum`'s order.
    case laneTotals8
    // Matrix products.
    /// `nn_tile`: a register tile of a product.
    case tile
    /// `nn_pack_t`, `nn_pack_n`: a panel of a transposed or row-stored operand, zero-padded.
    case packT, packN
    // Reductions in a fixed order.
    case sum, sumsqDev, dot, colSums
    // Layernorm.
    case rowStats, rowSums, layerNorm
    /// `nn_layernorm_grad`: layernorm backward. With an activation other than the identity
    /// (`nn_layernorm_grad_relu`, `nn_layernorm_grad_tanh_out`...) dx is multiplied, in the loop
    /// that writes it, by that activation's derivative at `s`: the derivative step that follows a
    /// layernorm backward (the layer before it is an activation) without a pass of its own. Keyed
    /// like `activationGrad`; made by `Helper.layerNormGrad(times:fromOutput:_:)`, for the
    /// derivatives `layerNormGradFolds` names.
    case layerNormGrad(Activation, fromOutput: Bool)
    // Epilogue steps over a whole output.
    case biasRows, add
    /// `v = f(v + bias)` over rows x cols, keeping `v + bias` in `keep`; bias and keep optional
    /// (NULL): a kernel's bias, kept pre-activation and activation in one pass. Keyed by
    /// `Helper.key(_:)` (a leaky ReLU's slope is an argument).
    case activate(Activation)
    /// `v[i] *= f'(s[i])`, `s` the activation's output or input.
    case activationGrad(Activation, fromOutput: Bool)
    // Optimizers over the flat parameter array.
    case sgd, sgdMomentum, adam
    /// `nn_clip_norm`: gradient clipping by the global L2 norm of the flat gradient array.
    case clipNorm
    /// `nn_uniform_fill`: n uniform draws of the project's generator into a parameter (NAME_init).
    case uniformFill

    /// Every helper for one scalar type, callees before callers (the order they are defined in).
    static func all(_ scalar: ScalarType) -> [Helper] {
        let c = CSyntax(scalar: scalar)
        let acts = Activation.allCases.map(key)
        var list: [Helper] = scalar == .f32 ? [.tanhf] : []
        list += acts.compactMap { c.scalarDerivativeBody($0) == nil ? nil : .scalarDerivative($0) }
        if scalar == .f32 { list += [.transpose8, .laneTotals8] }
        // Every derivative a helper applies: per activation, from its output, and from its input
        // where that differs.
        var derivatives: [(Activation, Bool)] = []
        for a in acts where a != .identity {
            derivatives.append((a, true))
            if c.derivativeDependsOnSource(a) { derivatives.append((a, false)) }
        }
        list += [.tile, .packT, .packN, .sum, .sumsqDev, .dot, .colSums, .rowStats, .rowSums, .layerNorm,
                 .layerNormGrad(.identity, fromOutput: true), .biasRows, .add]
        list += acts.filter { $0 != .identity }.map { .activate($0) }
        list += derivatives.map { .activationGrad($0.0, fromOutput: $0.1) }
        list += [.sgd, .sgdMomentum, .adam, .clipNorm]
        // Last, so that adding them moved no other helper in nn_kernels.c's compiled code (the
        // precompiled helpers' speed on tcc depends on where they land by a few percent).
        return list + derivatives.filter { layerNormGradFolds($0.0, fromOutput: $0.1) }.map { .layerNormGrad($0.0, fromOutput: $0.1) }
            + [.uniformFill]
    }

    /// The helper that applies `a` (nil for the identity, which needs none).
    static func activation(_ a: Activation) -> Helper? { a == .identity ? nil : .activate(key(a)) }

    /// The helper multiplying by `a`'s derivative (nil for the identity).
    static func derivative(_ a: Activation, fromOutput: Bool, _ c: CSyntax) -> Helper? {
        guard a != .identity else { return nil }
        return .activationGrad(key(a), fromOutput: c.derivativeDependsOnSource(a) ? fromOutput : true)
    }

    /// Layernorm backward with its dx multiplied by `a`'s derivative; the plain one (nil) for the
    /// identity and for the derivatives it does not fold (`layerNormGradFolds`).
    static func layerNormGrad(times a: Activation, fromOutput: Bool, _ c: CSyntax) -> Helper? {
        guard a != .identity else { return .layerNormGrad(.identity, fromOutput: true) }
        guard layerNormGradFolds(a, fromOutput: fromOutput) else { return nil }
        return .layerNormGrad(key(a), fromOutput: c.derivativeDependsOnSource(a) ? fromOutput : true)
    }

    /// The derivatives layernorm backward applies as it writes dx: those that are a select or a
    /// product of the activation's output (relu, leaky relu; sigmoid and tanh from their output),
    /// cheap next to the pass over dx they save. The others call a function per element (erf,
    /// exp, tanh), which costs more than that pass, and keep a helper pass of their own.
    static func layerNormGradFolds(_ a: Activation, fromOutput: Bool) -> Bool {
        switch a {
        case .relu, .leakyReLU: return true
        case .sigmoid, .tanh: return fromOutput
        default: return false  // a new activation keeps its pass until it is listed here
        }
    }

    /// `a` with its parameter (a leaky ReLU's slope) set aside: helpers take it as an argument.
    static func key(_ a: Activation) -> Activation {
        if case .leakyReLU = a { return .leakyReLU(negativeSlope: 0) }
        return a
    }

    /// Whether NAME.c defines this helper in every build (tcc included): the scalar functions.
    var isInlineOnly: Bool {
        switch self {
        case .tanhf, .scalarDerivative: return true
        default: return false
        }
    }

    /// Whether nn_kernels.c exports it for tcc-compiled models.
    var isExported: Bool {
        switch self {
        case .tanhf, .scalarDerivative, .transpose8, .laneTotals8: return false
        default: return true
        }
    }

    /// Whether its definition only exists where `NN_VECTORS` is defined (gcc and clang).
    var needsVectors: Bool { self == .transpose8 || self == .laneTotals8 }

    /// The C name for a scalar type: `nn_tile_f32`, `nn_relu_grad_f64`, `nn_tanhf`, `nn_dgelu`.
    func name(_ c: CSyntax) -> String {
        switch self {
        case .tanhf: return "nn_tanhf"
        case .scalarDerivative(let a): return "nn_d\(a.name)" + (c.scalar == .f32 ? "f" : "")
        default: return "nn_\(base(c))_\(c.suffix)"
        }
    }

    /// The name without the `nn_` prefix and the scalar suffix.
    private func base(_ c: CSyntax) -> String {
        switch self {
        case .tanhf: return "tanhf"
        case .scalarDerivative(let a): return "d" + a.name
        case .transpose8: return "transpose8"
        case .laneTotals8: return "lane_totals8"
        case .tile: return "tile"
        case .packT: return "pack_t"
        case .packN: return "pack_n"
        case .sum: return "sum"
        case .sumsqDev: return "sumsq_dev"
        case .dot: return "dot"
        case .colSums: return "col_sums"
        case .rowStats: return "row_stats"
        case .rowSums: return "row_sums"
        case .layerNorm: return "layernorm"
        case .layerNormGrad(let a, let fromOutput):
            return "layernorm_grad" + (a == .identity ? "" : "_" + a.name + c.sourceSuffix(a, fromOutput: fromOutput))
        case .biasRows: return "bias_rows"
        case .add: return "add"
        case .activate(let a): return a.name
        case .activationGrad(let a, let fromOutput):
            return a.name + "_grad" + c.sourceSuffix(a, fromOutput: fromOutput)
        case .sgd: return "sgd"
        case .sgdMomentum: return "sgd_momentum"
        case .adam: return "adam"
        case .clipNorm: return "clip_norm"
        case .uniformFill: return "uniform_fill"
        }
    }

    /// The storage class a definition in NAME.c takes.
    private var storage: String {
        switch self {
        case .tile, .packT, .packN, .transpose8, .laneTotals8: return "NN_TILE_INLINE "
        default: return "static inline "
        }
    }

    /// The prototype, with the function named `name(c) + nameSuffix`.
    func prototype(_ c: CSyntax, nameSuffix: String = "") -> String {
        let r = c.real, f = name(c) + nameSuffix
        switch self {
        case .tanhf: return "float \(f)(float x)"
        case .scalarDerivative: return "\(r) \(f)(\(r) x)"
        case .transpose8: return "void \(f)(const float *restrict s, int ld, float *restrict d, int ldd)"
        case .laneTotals8: return "void \(f)(const float *restrict lanes, float *restrict totals)"
        case .tile:
            return "void \(f)(int R, int V, int n, int K, const \(r) *restrict a, int sa, int sp, "
                + "const \(r) *restrict b, int sb, \(r) *restrict c, int ldc, int acc)"
        case .packT, .packN:
            return "void \(f)(int K, int n, int w, const \(r) *restrict src, int ld, \(r) *restrict p)"
        case .biasRows: return "void \(f)(int rows, int cols, \(r) *restrict v, const \(r) *restrict bias)"
        case .colSums: return "void \(f)(int rows, int cols, const \(r) *restrict x, \(r) *restrict s)"
        case .rowStats:
            return "void \(f)(int rows, int C, \(r) eps, const \(r) *restrict x, \(r) *restrict mean, \(r) *restrict rstd)"
        case .rowSums:
            return "void \(f)(int n, int C, const \(r) *restrict g, const \(r) *restrict xh, \(r) *restrict sum_g, "
                + "\(r) *restrict sum_gx)"
        case .layerNorm:
            return "void \(f)(int rows, int C, \(r) eps, const \(r) *restrict x, const \(r) *restrict weight, "
                + "const \(r) *restrict bias, \(r) *restrict out, \(r) *restrict mean, \(r) *restrict rstd)"
        case .layerNormGrad(let a, _):
            return "void \(f)(int rows, int C, const \(r) *restrict dout, const \(r) *restrict x, const \(r) *restrict mean, "
                + "const \(r) *restrict rstd, const \(r) *restrict weight, \(r) *restrict dx, \(r) *restrict dweight, "
                + "\(r) *restrict dbias, \(r) *restrict xh, \(r) *restrict g"
                + (a == .identity ? "" : ", const \(r) *restrict s") + (a.hasParameter ? ", \(r) slope" : "") + ")"
        case .sgd: return "void \(f)(int n, \(r) *restrict p, const \(r) *restrict g, \(r) lr, \(r) weight_decay)"
        case .sgdMomentum:
            return "void \(f)(int n, \(r) *restrict p, const \(r) *restrict g, \(r) *restrict v, \(r) lr, "
                + "\(r) momentum, \(r) weight_decay, int nesterov, int64_t step)"
        case .adam:
            return "void \(f)(int n, \(r) *restrict p, const \(r) *restrict g, \(r) *restrict m, \(r) *restrict v, "
                + "\(r) lr, \(r) beta1, \(r) beta2, \(r) eps, \(r) weight_decay, int decoupled, int64_t step)"
        case .clipNorm: return "double \(f)(int n, \(r) *restrict g, \(r) max_norm)"
        case .uniformFill: return "void \(f)(int n, \(r) *restrict p, double bound, uint64_t *restrict s)"
        case .sum: return "\(r) \(f)(int n, const \(r) *restrict x)"
        case .sumsqDev: return "\(r) \(f)(int n, const \(r) *restrict x, \(r) mu)"
        case .dot: return "\(r) \(f)(int n, const \(r) *restrict x, const \(r) *restrict y)"
        case .add: return "void \(f)(int n, \(r) *restrict v, const \(r) *restrict t)"
        case .activate(let a):
            return "void \(f)(int rows, int cols, \(r) *restrict v, const \(r) *restrict bias, \(r) *restrict keep"
                + "\(a.hasParameter ? ", \(r) slope" : ""))"
        case .activationGrad(let a, _):
            return "void \(f)(int n, \(r) *restrict v, const \(r) *restrict s\(a.hasParameter ? ", \(r) slope" : ""))"
        }
    }

    /// The body, without braces.
    func body(_ c: CSyntax) -> String {
        switch self {
        case .tanhf: return CSyntax.tanhfBody
        case .scalarDerivative(let a): return c.scalarDerivativeBody(a) ?? ""
        case .transpose8: return CSyntax.transpose8Body
        case .laneTotals8: return CSyntax.laneTotals8Body
        case .tile: return c.tileBody
        case .packT: return c.packTBody
        case .packN: return c.packNBody
        case .sum: return c.laneSum("x[k]")
        case .sumsqDev: return c.laneSum("(x[k] - mu) * (x[k] - mu)", vector: "(xv - muv) * (xv - muv)")
        case .dot: return c.laneSum("x[k] * y[k]", vector: "xv * yv")
        case .colSums: return c.colSumsBody
        case .rowStats: return c.rowStatsBody
        case .rowSums: return c.rowSumsBody
        case .layerNorm: return c.layerNormBody
        case .layerNormGrad(let a, let fromOutput):
            return c.layerNormGradBody(times: a == .identity ? nil : c.derivative(a, "s[i * C + k]", fromOutput: fromOutput, slope: "slope"))
        case .biasRows: return c.biasRowsBody
        case .add: return c.elementwisePass("v[i] += t[i];")
        case .activate(let a): return c.activationPass(c.activation(a, "x", slope: "slope"))
        case .activationGrad(let a, let fromOutput):
            return c.elementwisePass("v[i] *= \(c.derivative(a, "s[i]", fromOutput: fromOutput, slope: "slope"));")
        case .sgd: return c.sgdBody
        case .sgdMomentum: return c.sgdMomentumBody
        case .adam: return c.adamBody
        case .clipNorm: return c.clipNormBody
        case .uniformFill: return c.uniformFillBody
        }
    }

    /// The definition NAME.c carries.
    func definition(_ c: CSyntax) -> String {
        let d = storage + prototype(c) + " {\n" + body(c) + "}\n"
        return needsVectors ? "#ifdef NN_VECTORS\n" + d + "#endif\n" : d
    }
}

extension Activation {
    /// The activation's parameter, which its helpers take as an argument (a leaky ReLU's slope).
    var parameter: Double? {
        if case .leakyReLU(let s) = self { return s }
        return nil
    }

    /// Whether the activation has a parameter.
    var hasParameter: Bool { parameter != nil }
}

// MARK: - which helpers a file needs

/// The helpers that C text calls, found by their names (every helper name starts with `nn_`).
struct HelperIndex {
    let c: CSyntax
    private let byName: [String: Helper]
    private let order: [Helper]

    init(_ c: CSyntax) {
        self.c = c
        order = Helper.all(c.scalar)
        byName = Dictionary(order.map { ($0.name(c), $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The helpers named in `text`.
    func called(in text: String) -> Set<Helper> {
        var found = Set<Helper>()
        let bytes = Array(text.utf8)
        var i = 0
        func isIdent(_ b: UInt8) -> Bool {
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95
        }
        while i < bytes.count {
            guard isIdent(bytes[i]) else { i += 1; continue }
            let start = i
            while i < bytes.count && isIdent(bytes[i]) { i += 1 }
            if i - start > 3, bytes[start] == 110, bytes[start + 1] == 110, bytes[start + 2] == 95,
               let h = byName[String(decoding: bytes[start..<i], as: UTF8.self)] {
                found.insert(h)
            }
        }
        return found
    }

    /// `roots` and every helper their bodies call, transitively; bodies of helpers in `opaque`
    /// are not looked into (they are precompiled).
    func closure(_ roots: Set<Helper>, opaque: (Helper) -> Bool = { _ in false }) -> Set<Helper> {
        var seen = roots, work = Array(roots)
        while let h = work.popLast() {
            if opaque(h) { continue }
            for d in called(in: h.body(c)) where !seen.contains(d) {
                seen.insert(d)
                work.append(d)
            }
        }
        return seen
    }

    /// `set` in definition order.
    func ordered(_ set: Set<Helper>) -> [Helper] { order.filter { set.contains($0) } }

    /// The helpers section of NAME.c for kernels whose text is `kernels`: the vector types and
    /// multiply-add macros, the scalar functions the kernels call, then the other helpers they
    /// call, defined (`static inline`) or, where `NN_PRECOMPILED` (tcc), declared only (nngen
    /// links its precompiled copies). Nothing is defined that the build does not call.
    func section(forKernels kernels: String) -> String {
        let direct = called(in: kernels)
        // Scalar functions call only each other (nn_dgelu_tanhf -> nn_tanhf).
        let inlineDirect = closure(direct.filter(\.isInlineOnly))
        let exportedDirect = direct.filter(\.isExported)
        let full = closure(direct).subtracting(inlineDirect)
        guard !direct.isEmpty else { return "" }
        var s = c.helpersPreamble(vectors: !full.isEmpty)
        for h in ordered(inlineDirect) { s += h.definition(c) }
        if !full.isEmpty {
            s += "#ifdef NN_PRECOMPILED  /* tcc: nngen's precompiled copies of these helpers */\n"
            for h in ordered(exportedDirect) { s += h.prototype(c) + ";\n" }
            s += "#else\n"
            for h in ordered(full) { s += h.definition(c) }
            s += "#endif\n"
        }
        return s + "\n"
    }
}
