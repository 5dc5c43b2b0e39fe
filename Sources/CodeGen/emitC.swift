import ModelSpec

/// The generated C for one model: `NAME.h` and `NAME.c`.
public struct GeneratedC: Sendable {
    /// The model name (the prefix of every exported symbol).
    public var name: String
    /// `NAME.h`.
    public var header: String
    /// `NAME.c` (includes `NAME.h`).
    public var source: String
    /// The scalar type.
    public var scalar: ScalarType
    /// Kernel function names in call order.
    public var kernelNames: [String]
    /// Elements of the arena the generated functions need (`NAME_ARENA_COUNT`): the memory
    /// plan's arena, predict's padded input batch and any scratch the kernels use.
    public var arenaElements: Int

    /// Header and source as one translation unit, for compilers that take a single string (libtcc).
    public var singleUnit: String {
        let include = Array("#include \"\(name).h\"\n".utf8)
        let bytes = Array(source.utf8)
        guard let at = firstIndex(of: include, in: bytes) else { return source }
        return String(decoding: bytes[..<at], as: UTF8.self) + header + "\n"
            + String(decoding: bytes[(at + include.count)...], as: UTF8.self)
    }
}

/// Writes the C for a planned graph: a banner, the prelude, one function per fused kernel
/// (named after its layer, with a comment giving the layer and shapes, literal loop bounds and
/// `restrict` pointers), the optimizer from its template, and the public API.
public func emitC(_ plan: MemoryPlan, scalar: ScalarType) -> GeneratedC {
    var e = CEmitter(plan: plan, scalar: scalar)
    return e.run()
}

private struct CEmitter {
    let plan: MemoryPlan
    let scalar: ScalarType
    let c: CSyntax
    var writer: KernelWriter
    var graph: Graph { plan.graph }
    var analysis: ModelAnalysis { plan.graph.analysis }
    var name: String { analysis.model.name }
    var R: String { c.real }

    init(plan: MemoryPlan, scalar: ScalarType) {
        self.plan = plan
        self.scalar = scalar
        self.c = CSyntax(scalar: scalar)
        self.writer = KernelWriter(graph: plan.graph, scalar: scalar)
    }

    var labels: Bool { analysis.model.loss.usesLabels }
    var targetType: String { labels ? "int32_t" : R }
    var predictPadOffset: Int { plan.arenaElements }
    /// Where kernel scratch starts: after the plan's arena and predict's padded input.
    var scratchOffset: Int { plan.arenaElements + (analysis.inputElements + arenaAlignment - 1) / arenaAlignment * arenaAlignment }
    /// Elements of scratch the hungriest kernel needs (packed weights of a convolution...).
    var scratchElements = 0
    var arenaCount: Int { scratchOffset + scratchElements }

    /// The C expression for a tensor's first element.
    func expr(_ t: TensorID) -> String {
        switch plan.locations[t] {
        case .input: return "x"
        case .target: return "y"
        case .parameters(let o): return o == 0 ? "params" : "params + \(o)"
        case .gradients(let o): return o == 0 ? "grads" : "grads + \(o)"
        case .inputGradient: return "dx"
        case .arena(let o): return o == 0 ? "arena" : "arena + \(o)"
        case nil: return "NULL"
        }
    }

    mutating func run() -> GeneratedC {
        var kernels: [(Node, Kernel)] = []
        for n in graph.nodes {
            if let k = writer.kernel(for: n) { kernels.append((n, k)) }
        }
        scratchElements = ((kernels.map(\.1.scratch).max() ?? 0) + arenaAlignment - 1) / arenaAlignment * arenaAlignment
        writer.usedHelpers.insert(precompiledOptimizer.helper)
        let header = renderHeader()
        var src = banner(kernels.map(\.1)) + "\n#include \"\(name).h\"\n\n"
        src += "#define NN_LIBM_PROTOTYPES 1  /* the prelude declares the few libm functions used */\n"
        src += CSyntax.helpersBegin + Templates.text("prelude.h") + "\n" + CSyntax.optimizationPragmas + c.derivativeHelpers
            + c.helperSection(writer.usedHelpers) + CSyntax.helpersEnd
        src += "/* ---- kernels, in the order they run ---------------------------------------------------- */\n\n"
        for (_, k) in kernels { src += definition(k) + "\n" }
        src += optimizer() + "\n"
        src += initFunction() + "\n"
        src += api(kernels)
        return GeneratedC(name: name, header: header, source: src, scalar: scalar, kernelNames: kernels.map(\.1.name),
                          arenaElements: arenaCount)
    }

    func paramType(_ p: (name: String, tensor: TensorID, writes: Bool)) -> String {
        if graph[p.tensor].role == .target && labels { return "const int32_t *restrict \(p.name)" }
        return p.writes ? "\(R) *restrict \(p.name)" : "const \(R) *restrict \(p.name)"
    }

    func definition(_ k: Kernel) -> String {
        let params = k.params.map(paramType) + (k.scratch > 0 ? ["\(R) *restrict scratch"] : [])
        var sig = "static void \(k.name)(" + params.joined(separator: ", ") + ")"
        if sig.count > 110 {
            sig = "static void \(k.name)(\n    " + params.joined(separator: ",\n    ") + ")"
        }
        return "\(k.comment)\n\(sig) {\n\(k.body)\n}\n"
    }

    func call(_ k: Kernel) -> String {
        let args = k.params.map { p -> String in
            let e = expr(p.tensor)
            if p.tensor == k.optionalOutput && e != "dx" { return "dx ? \(e) : NULL" }
            return e
        } + (k.scratch > 0 ? [scratchOffset == 0 ? "arena" : "arena + \(scratchOffset)"] : [])
        return "\(k.name)(" + args.joined(separator: ", ") + ");"
    }

    func banner(_ kernels: [Kernel]) -> String {
        let m = analysis.model
        var lines = [
            "/* \(name).c -- generated by nngen from model \"\(name)\". Do not edit: regenerate instead.",
            " *",
            " * input \(m.input.shape) x batch \(m.batch), loss \(m.loss.rawValue), optimizer \(m.optimizer.typeName), \(R)",
            " *",
        ]
        for l in analysis.layers {
            let indent = String(repeating: "  ", count: l.depth)
            lines.append(" *   \(indent)\(l.path) \(l.layer.typeName): \(l.input) -> \(l.output)"
                         + (l.parameterCount > 0 ? ", \(l.parameterCount) parameters" : ""))
        }
        lines += [
            " *",
            " * parameters \(analysis.parameterCount), arena \(plan.arenaElements) elements (naive sum \(plan.naiveElements))"
                + " + \(scratchOffset - plan.arenaElements) for predict's padded input"
                + (scratchElements > 0 ? " + \(scratchElements) of kernel scratch" : ""),
            " * \(kernels.count) kernels; fusion rules applied: "
                + Array(Set(graph.nodes.flatMap(\.fusedBy))).sorted().joined(separator: ", "),
            " */",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    func renderHeader() -> String {
        let m = analysis.model
        let slots = m.optimizer.stateSlotsPerParameter
        let stateDoc: String
        switch m.optimizer {
        case .sgd: stateDoc = slots == 0 ? "none for plain SGD" : "the momentum buffer"
        case .adam, .adamw: stateDoc = "first moments m, then second moments v"
        }
        let table = analysis.parameters.map {
            " *   \($0.name) [\($0.shape.map(String.init).joined(separator: ", "))] at \($0.offset), \($0.count) elements"
        }.joined(separator: "\n")
        let summary = "\(m.input.shape) -> \(analysis.outputShape) per sample, batch \(m.batch), \(analysis.layers.count) layers, "
            + "loss \(m.loss.rawValue), optimizer \(m.optimizer.typeName), \(R)"
        return render(Templates.text("header.h"), [
            "NAME": name,
            "GUARD": name.uppercased() + "_H",
            "SUMMARY": summary,
            "REAL": R,
            "OPT_STATE_DOC": stateDoc,
            "TARGET_DOC": labels ? "\(name)_BATCH labels (int32_t, 0 .. \(name)_OUTPUT_SIZE-1)"
                : "\(name)_BATCH * \(name)_OUTPUT_SIZE target values",
            "TARGET_T": targetType,
            "BATCH": "\(m.batch)",
            "INPUT_SIZE": "\(m.input.shape.elementCount)",
            "OUTPUT_SIZE": "\(analysis.outputCount)",
            "TARGET_COUNT": "\(analysis.targetElements)",
            "LABELS": labels ? "1" : "0",
            "PARAM_COUNT": "\(analysis.parameterCount)",
            "OPT_STATE_COUNT": "\(max(analysis.optimizerStateElements, 1))",
            "ARENA_COUNT": "\(arenaCount)",
            "SCALAR_BYTES": "\(scalar.size)",
            "PARAM_TABLE": table,
            "OPTIMIZER": optimizerDoc(m.optimizer),
        ])
    }

    func optimizerDoc(_ o: Optimizer) -> String {
        switch o {
        case .sgd(_, let m, let n, let wd): return "sgd, momentum \(m)\(n ? " nesterov" : ""), weight decay \(wd)"
        case .adam(_, let b1, let b2, let eps, let wd): return "adam, betas \(b1)/\(b2), eps \(eps), weight decay \(wd)"
        case .adamw(_, let b1, let b2, let eps, let wd): return "adamw, betas \(b1)/\(b2), eps \(eps), decoupled weight decay \(wd)"
        }
    }

    /// The precompiled helper running the optimizer's loop for tcc, and the call of it that stands
    /// in for `NAME_optimizer(p, g, state, step, lr)`.
    var precompiledOptimizer: (helper: String, call: String) {
        let count = analysis.parameterCount
        switch analysis.model.optimizer {
        case .sgd(_, 0, _, let wd):
            return ("sgd", "(void)(state), (void)(step), \(c.helper("sgd"))(\(count), p, g, lr, \(c.lit(wd)))")
        case .sgd(_, let m, let nesterov, let wd):
            return ("sgd_momentum", "\(c.helper("sgd_momentum"))(\(count), p, g, state, lr, \(c.lit(m)), \(c.lit(wd)), "
                + "\(nesterov ? 1 : 0), step)")
        case .adam(_, let b1, let b2, let eps, let wd), .adamw(_, let b1, let b2, let eps, let wd):
            let decoupled = analysis.model.optimizer.typeName == "adamw" ? 1 : 0
            return ("adam", "\(c.helper("adam"))(\(count), p, g, state, (state) + \(count), lr, \(c.lit(b1)), \(c.lit(b2)), "
                + "\(c.lit(eps)), \(c.lit(wd)), \(decoupled), step)")
        }
    }

    func optimizer() -> String {
        let count = analysis.parameterCount
        var v: [String: String] = ["NAME": name, "REAL": R, "COUNT": "\(count)", "SQRT": c.fn("sqrt")]
        let file: String
        switch analysis.model.optimizer {
        case .sgd(_, let m, let nesterov, let wd):
            v["WEIGHT_DECAY"] = c.lit(wd)
            if m == 0 {
                file = "optimizer_sgd.c"
            } else {
                file = "optimizer_sgd_momentum.c"
                v["MOMENTUM"] = c.lit(m)
                v["NESTEROV_DOC"] = nesterov ? ", nesterov" : ""
                v["STEP_DOC"] = nesterov ? "(g + momentum * v)" : "v"
                v["STEP_EXPR"] = nesterov ? "gi + \(c.lit(m)) * v[i]" : "v[i]"
            }
        case .adam(_, let b1, let b2, let eps, let wd), .adamw(_, let b1, let b2, let eps, let wd):
            file = analysis.model.optimizer.typeName == "adam" ? "optimizer_adam.c" : "optimizer_adamw.c"
            v["BETA1"] = c.lit(b1)
            v["BETA2"] = c.lit(b2)
            v["EPS"] = c.lit(eps)
            v["WEIGHT_DECAY"] = c.lit(wd)
        }
        var text = render(Templates.text(file), v)
        if count >= KernelWriter.parallelMinimumElements {  // elementwise: any split gives the same results
            text = text.replacingOccurrences(of: "    for (int i = 0; i < \(count); i++)",
                                             with: "    NN_PARALLEL_FOR\n    for (int i = 0; i < \(count); i++)")
        }
        // tcc with nngen's precompiled helpers: the call runs the same loop, precompiled and vectorised.
        let precompiled = """
            #ifdef NN_PRECOMPILED  /* tcc: the loop above, precompiled (vectorised) */
            #define \(name)_optimizer(p, g, state, step, lr) \\
                ((void)\(name)_optimizer, \(precompiledOptimizer.call))
            #endif

            """
        return "/* ---- optimizer (all parameters, one loop; fused: optimizer_flat_loop) ---------------- */\n"
            + text + precompiled
    }

    func initFunction() -> String {
        var s = "void \(name)_init(\(R) *params, uint64_t seed) {\n    nn_rng rng;\n    nn_rng_seed(&rng, seed);\n"
        for p in analysis.parameters {
            let shape = p.shape.map(String.init).joined(separator: ", ")
            let at = p.offset == 0 ? "params" : "params + \(p.offset)"
            switch p.initializer {
            case .uniform:
                let fanIn = p.role == .weight ? p.shape.dropFirst().reduce(1, *) : fanInOfBias(p)
                s += "    {   /* \(p.name) [\(shape)]: U(-1/sqrt(\(fanIn)), 1/sqrt(\(fanIn))) */\n"
                s += "        const double bound = 1.0 / sqrt(\(fanIn).0);\n"
                s += "        \(R) *p = \(at);\n"
                s += "        for (int i = 0; i < \(p.count); i++) p[i] = (\(R))nn_rng_uniform(&rng, -bound, bound);\n    }\n"
            case .constant(let v):
                s += "    {   /* \(p.name) [\(shape)]: \(v) */\n"
                s += "        \(R) *p = \(at);\n"
                s += "        for (int i = 0; i < \(p.count); i++) p[i] = \(c.lit(v));\n    }\n"
            }
        }
        return s + "}\n"
    }

    /// A bias's fan-in is its layer weight's.
    func fanInOfBias(_ p: ParameterInfo) -> Int {
        analysis.parameters.first { $0.layerPath == p.layerPath && $0.role == .weight }.map { $0.shape.dropFirst().reduce(1, *) } ?? 1
    }

    func api(_ kernels: [(Node, Kernel)]) -> String {
        let T = targetType
        var s = "/* ---- API --------------------------------------------------------------------------- */\n\n"
        // forward
        s += "\(R) \(name)_forward(const \(R) *params, const \(R) *x, const \(T) *y, \(R) *arena) {\n"
        s += "    (void)params; (void)x; (void)y;\n"
        for (n, k) in kernels where n.phase == .forward { s += "    " + call(k) + "\n" }
        s += "    return arena[\(plan.lossOffset)];\n}\n\n"
        // backward
        s += "void \(name)_backward(const \(R) *params, const \(R) *x, const \(T) *y, \(R) *grads, \(R) *dx, \(R) *arena) {\n"
        s += "    (void)params; (void)x; (void)y; (void)grads; (void)dx; (void)arena;\n"
        for (n, k) in kernels where n.phase == .backward {
            s += n.inputGradientOnly ? "    if (dx) " + call(k) + "\n" : "    " + call(k) + "\n"
        }
        s += "}\n\n"
        // update
        s += "void \(name)_update(\(R) *params, const \(R) *grads, \(R) *opt_state, int64_t *step, \(R) lr) {\n"
        s += "    *step += 1;\n    \(name)_optimizer(params, grads, opt_state, *step, lr);\n}\n\n"
        // train step
        s += "\(R) \(name)_train_step(\(R) *params, \(R) *grads, \(R) *opt_state, int64_t *step,\n"
        s += "        const \(R) *x, const \(T) *y, \(R) lr, \(R) *arena) {\n"
        s += "    \(R) loss = \(name)_forward(params, x, y, arena);\n"
        s += "    \(name)_backward(params, x, y, grads, NULL, arena);\n"
        s += "    \(name)_update(params, grads, opt_state, step, lr);\n    return loss;\n}\n\n"
        // predict
        let inSize = analysis.model.input.shape.elementCount, outSize = analysis.outputCount
        let B = analysis.model.batch
        s += "void \(name)_predict(const \(R) *params, const \(R) *x_in, int n, \(R) *out, \(R) *arena) {\n"
        s += "    /* The kernels have the batch of \(B) built in: copy the n rows into a padded batch. */\n"
        s += "    \(R) *x = arena + \(predictPadOffset);\n"
        s += "    if (n < 1) return;\n    if (n > \(B)) n = \(B);\n"
        s += "    memcpy(x, x_in, (size_t)n * \(inSize) * sizeof(\(R)));\n"
        s += "    memset(x + (size_t)n * \(inSize), 0, (size_t)(\(B) - n) * \(inSize) * sizeof(\(R)));\n"
        s += "    (void)params;\n"
        for (n, k) in kernels where n.phase == .forward && n.layerPath != "loss" { s += "    " + call(k) + "\n" }
        s += "    memcpy(out, \(expr(graph.output)), (size_t)n * \(outSize) * sizeof(\(R)));\n}\n"
        return s
    }
}

/// Where `needle` first occurs in `haystack`.
private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    var i = 0
    let last = haystack.count - needle.count
    while i <= last {
        if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}

/// `Templates.render` in one pass over the template (Foundation's replacingOccurrences, once
/// per key, took half of the time from model to C): every `{{KEY}}` replaced by its value.
private func render(_ template: String, _ values: [String: String]) -> String {
    let t = Array(template.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(t.count * 2)
    var i = 0
    while i < t.count {
        if t[i] == UInt8(ascii: "{"), i + 1 < t.count, t[i + 1] == UInt8(ascii: "{") {
            var j = i + 2
            while j + 1 < t.count && !(t[j] == UInt8(ascii: "}") && t[j + 1] == UInt8(ascii: "}")) { j += 1 }
            let key = String(decoding: t[(i + 2)..<j], as: UTF8.self)
            if j + 1 < t.count, let v = values[key] {
                out.append(contentsOf: v.utf8)
                i = j + 2
                continue
            }
            preconditionFailure("template placeholder {{\(key)}} has no value")
        }
        out.append(t[i])
        i += 1
    }
    return String(decoding: out, as: UTF8.self)
}
