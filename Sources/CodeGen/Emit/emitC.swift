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
    /// The kernel that writes each parameter's gradient, by parameter name (`layers.0.weight`),
    /// the input's (`x`) and the loss (`loss`): what `nngen check` names beside a failing row.
    public var gradientWriters: [String: String] = [:]
    /// Whether the frozen parameters are read from `NAME_frozen_params` and `params` holds the
    /// trainable ones only (`CompileOptions.frozenApart` on a model with frozen parameters).
    public var frozenApart = false
    /// Elements of `nn_locals`, the static buffer that holds the kernels' local arrays (packed
    /// panels, padded samples) when NAME.c is compiled with NN_STATIC_LOCALS (the device build);
    /// 0 when no kernel has one.
    public var localElements = 0
    /// Whether the backward marks finished gradients (`NN_GRADS_READY`) and NAME.c defines
    /// `NAME_update_range`: what `train_mpi` uses (`CompileOptions.gradientHooks`).
    public var gradientHooks = false

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
/// `restrict` pointers), the optimizer from its template, and the public API. With `frozenApart`
/// (`CompileOptions.frozenApart`) a model's frozen parameters are read from `NAME_frozen_params`;
/// with `gradientHooks`, the backward marks where gradients are final (see ``gradientHookLines``).
public func emitC(_ plan: MemoryPlan, scalar: ScalarType, frozenApart: Bool = false, gradientHooks: Bool = false) -> GeneratedC {
    var e = CEmitter(plan: plan, scalar: scalar, frozenApart: frozenApart, gradientHooks: gradientHooks)
    return e.run()
}

private struct CEmitter {
    let plan: MemoryPlan
    let scalar: ScalarType
    let gradientHooks: Bool
    let c: CSyntax
    var writer: KernelWriter
    var graph: Graph { plan.graph }
    var analysis: ModelAnalysis { plan.graph.analysis }
    var name: String { analysis.model.name }
    var R: String { c.real }
    /// Frozen parameters in `NAME_frozen_params`, the trainable ones in `params` at their gradient
    /// offsets (only when the model has frozen parameters and `frozenApart` was asked).
    let apart: Bool
    /// With `apart`: where each frozen parameter starts in `NAME_frozen_params`, by name.
    let frozenOffsets: [String: Int]
    var frozenCount: Int { analysis.parameterCount - analysis.gradientCount }

    init(plan: MemoryPlan, scalar: ScalarType, frozenApart: Bool, gradientHooks: Bool) {
        self.plan = plan
        self.scalar = scalar
        self.gradientHooks = gradientHooks
        self.c = CSyntax(scalar: scalar)
        self.writer = KernelWriter(graph: plan.graph, scalar: scalar)
        let analysis = plan.graph.analysis
        self.apart = frozenApart && analysis.hasFrozenParameters
        var offsets: [String: Int] = [:], next = 0
        for p in analysis.parameters where !p.trainable {
            offsets[p.name] = next
            next += p.count
        }
        self.frozenOffsets = offsets
    }

    /// The C expression of parameter element `o` of the flat layout: `params + o`, or with `apart`
    /// `params + gradient offset` (trainable) or `NAME_frozen_params + frozen offset` (frozen).
    func parameterAddress(_ o: Int) -> String {
        func at(_ base: String, _ k: Int) -> String { k == 0 ? base : "\(base) + \(k)" }
        guard apart, let p = analysis.parameters.first(where: { o >= $0.offset && o < $0.offset + $0.count }) else {
            return at("params", o)
        }
        if let g = p.gradientOffset { return at("params", g + o - p.offset) }
        return at("\(name)_frozen_params", (frozenOffsets[p.name] ?? 0) + o - p.offset)
    }

    var labels: Bool { analysis.model.loss.usesLabels }
    var targetType: String { labels ? "int32_t" : R }
    var predictPadOffset: Int { plan.arenaElements }
    /// Where kernel scratch starts: after the plan's arena and predict's padded input.
    var scratchOffset: Int { plan.arenaElements + (analysis.inputElements + arenaAlignment - 1) / arenaAlignment * arenaAlignment }
    /// Elements of scratch the hungriest kernel needs (packed weights of a convolution...).
    var scratchElements = 0
    var arenaCount: Int { scratchOffset + scratchElements }

    /// Where a tensor starts, as the C expression the API functions bind its name to.
    func location(_ t: TensorID) -> String? {
        switch plan.locations[t] {
        case .input: return "x"
        case .target: return "y"
        case .parameters(let o): return parameterAddress(o)
        case .gradients(let o): return o == 0 ? "grads" : "grads + \(o)"
        case .inputGradient: return "dx"
        case .arena(let o): return o == 0 ? "arena" : "arena + \(o)"
        case nil: return nil
        }
    }

    mutating func run() -> GeneratedC {
        var kernels: [(Node, Kernel)] = []
        for n in graph.nodes {
            if let k = writer.kernel(for: n) { kernels.append((n, k)) }
        }
        scratchElements = ((kernels.map(\.1.scratch).max() ?? 0) + arenaAlignment - 1) / arenaAlignment * arenaAlignment
        let header = renderHeader()
        var definitions = "", localElements = 0
        for i in kernels.indices {
            let placed = CSyntax.placeLocals(kernels[i].1.body)
            kernels[i].1.body = placed.body
            localElements = max(localElements, placed.elements)
        }
        for (_, k) in kernels { definitions += definition(k) + "\n" }
        definitions += optimizerFunction(model: name, optimizer: analysis.model.optimizer, analysis: analysis,
                                         trainableOnly: apart, c)
        definitions += "\n" + clipFunction(model: name, count: analysis.gradientCount, c)
        if gradientHooks {
            definitions += "\n" + optimizerRangeFunction(model: name, optimizer: analysis.model.optimizer, analysis: analysis, c)
        }
        var src = banner(kernels.map(\.1)) + "\n#include \"\(name).h\"\n\n"
        src += "#define NN_LIBM_PROTOTYPES 1  /* the prelude declares the few libm functions used */\n"
        src += Templates.text("prelude.h") + "\n" + CSyntax.optimizationPragmas
        let initText = initFunction()
        src += HelperIndex(c).section(forKernels: definitions + initText)
        if localElements > 0 { src += c.localsSection(elements: localElements) }
        src += "/* ---- kernels, in the order they run ---------------------------------------------------- */\n\n"
        src += definitions + "\n"
        src += initText + "\n"
        src += validationLossFunction(model: name, loss: analysis.model.loss, outputs: analysis.outputCount, c) + "\n"
        src += api(kernels)
        var writers: [String: String] = [:]
        for (_, k) in kernels {
            for p in k.params where p.writes {
                switch graph[p.tensor].role {
                case .parameterGradient(let info): writers[info.name] = k.name
                case .inputGradient: writers["x"] = k.name
                case .loss: writers["loss"] = k.name
                default: break
                }
            }
        }
        return GeneratedC(name: name, header: header, source: src, scalar: scalar, kernelNames: kernels.map(\.1.name),
                          arenaElements: arenaCount, gradientWriters: writers, frozenApart: apart,
                          localElements: localElements, gradientHooks: gradientHooks)
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

    /// A kernel's call, every argument a tensor's name (`names`) or NULL.
    /// The body of an API function that runs `kernels` in order: the named pointers they take
    /// (and `extra`), `(void)` of the function's parameters `voids` (each may go unused), then
    /// one call per kernel, `if (dx)` before those only the input gradient needs.
    /// `after[i]`: lines to put after kernel i's call.
    func calls(_ kernels: [(Node, Kernel)], voids: [String], extra: [TensorID] = [],
               after: [Int: [String]] = [:]) -> (TensorNames, String) {
        let (names, decl) = tensorNames(kernels.map(\.1), extra: extra)
        let unused: [String] = voids.map { "(void)" + $0 + ";" }
        var s = decl + "    " + unused.joined(separator: " ") + "\n"
        for (i, (n, k)) in kernels.enumerated() {
            let guarded = n.inputGradientOnly ? "if (dx) " : ""
            s += "    " + guarded + call(k, names) + "\n"
            for line in after[i] ?? [] { s += "    " + line + "\n" }
        }
        return (names, s)
    }

    /// The backward's gradient hooks: after the last kernel that writes a parameter gradient,
    /// `NN_GRADS_READY(offset, count);` for the gradients it finished (adjacent ones as one range,
    /// highest offset first, the order the backward finishes layers in).
    func gradientHookLines(_ backward: [(Node, Kernel)]) -> [Int: [String]] {
        var last: [TensorID: Int] = [:]
        for (i, (_, k)) in backward.enumerated() {
            for p in k.params where p.writes {
                if case .parameterGradient = graph[p.tensor].role { last[p.tensor] = i }
            }
        }
        var finished: [Int: [(offset: Int, count: Int, name: String)]] = [:]
        for (t, i) in last {
            guard case .gradients(let o)? = plan.locations[t] else { continue }
            finished[i, default: []].append((o, graph[t].shape.reduce(1, *), graph[t].name))
        }
        var lines: [Int: [String]] = [:]
        for (i, ranges) in finished {
            var merged: [(offset: Int, count: Int, names: [String])] = []
            for r in ranges.sorted(by: { $0.offset > $1.offset }) {
                if let m = merged.last, r.offset + r.count == m.offset {
                    merged[merged.count - 1] = (r.offset, r.count + m.count, [r.name] + m.names)
                } else {
                    merged.append((r.offset, r.count, [r.name]))
                }
            }
            lines[i] = merged.map { "NN_GRADS_READY(\($0.offset), \($0.count));  /* final: \($0.names.joined(separator: ", ")) */" }
        }
        return lines
    }

    func call(_ k: Kernel, _ names: TensorNames) -> String {
        let args = k.params.map { p -> String in
            guard let e = names[p.tensor] else { return "NULL" }
            if p.tensor == k.optionalOutput && e != "dx" { return "dx ? \(e) : NULL" }
            return e
        } + (k.scratch > 0 ? ["scratch"] : [])
        return "\(k.name)(" + args.joined(separator: ", ") + ");"
    }

    /// Names for the tensors `kernels` touch, and their declarations: named pointers into the
    /// parameters, gradients and arena, each with its shape (the caller's x, y and dx keep
    /// their names).
    func tensorNames(_ kernels: [Kernel], extra: [TensorID] = [], inputAt: String? = nil) -> (TensorNames, String) {
        var names = TensorNames()
        var taken: Set<String> = ["x", "y", "dx", "params", "grads", "arena", "scratch", "x_in", "out", "n"]
        var decls: [String] = []
        var nextSuffix: [String: Int] = [:]
        let tensors = kernels.flatMap { $0.params.map(\.tensor) } + extra
        for t in tensors where names[t] == nil {
            guard let at = location(t) else { continue }
            if ["x", "y", "dx"].contains(at) { names[t] = at; continue }
            let base = cIdentifier(graph[t].name)
            var id = base, k = nextSuffix[base] ?? 2
            if k > 2 { id = base + "_\(k)" }
            while taken.contains(id) { id = base + "_\(k)"; k += 1 }
            nextSuffix[base] = k  // the suffixes below k are taken: the next search starts at k
            taken.insert(id)
            names[t] = id
            let constness: String
            switch plan.locations[t] {
            case .parameters: constness = "const "
            default: constness = ""
            }
            let shape = "[" + graph[t].shape.map(String.init).joined(separator: ", ") + "]"
            decls.append("    \(constness)\(R) *const \(id) = \(at);  /* \(graph[t].name) \(shape) */")
        }
        if kernels.contains(where: { $0.scratch > 0 }) {
            decls.append("    \(R) *const scratch = arena + \(scratchOffset);  /* kernel scratch, \(scratchElements) elements */")
        }
        return (names, decls.isEmpty ? "" : decls.joined(separator: "\n") + "\n")
    }

    func banner(_ kernels: [Kernel]) -> String {
        let m = analysis.model
        var lines = [
            "/* \(name).c -- generated by nngen from model \"\(name)\". Do not edit: regenerate instead.",
            " *",
            " * input \(m.input.shape) x batch \(m.batch), loss \(m.loss.typeName), optimizer \(m.optimizer.typeName), \(R)",
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
        let frozen = analysis.hasFrozenParameters
        let table = analysis.parameters.map { p -> String in
            let head = " *   \(p.name) [\(p.shape.map(String.init).joined(separator: ", "))] "
            if apart {
                return head + (p.gradientOffset.map { "at \($0) in params and grads, \(p.count) elements" }
                    ?? "frozen: at \(frozenOffsets[p.name] ?? 0) in \(name)_frozen_params, \(p.count) elements")
            }
            return head + "at \(p.offset), \(p.count) elements"
                + (!frozen ? "" : p.gradientOffset.map { ", gradient at \($0)" } ?? ", frozen (no gradient)")
        }.joined(separator: "\n")
        // Only a model with frozen parameters has a gradient array shorter than its parameters.
        let gradCountDefine = frozen
            ? "\n#define \(name)_GRAD_COUNT \(max(analysis.gradientCount, 1))  /* grads: the trainable parameters only */"
                + (apart ? "\n#define \(name)_FROZEN_COUNT \(frozenCount)  /* \(name)_frozen_params: the frozen parameters */" : "")
            : ""
        let frozenDecl = !apart ? "" : """


            /* The frozen parameters, read-only (offsets above): the program defines this array (the embedded
             * target: in \(name)_params.c, const, so it stays in flash). params holds the others. */
            extern const \(R) \(name)_frozen_params[\(name)_FROZEN_COUNT];
            """

        let summary = "\(m.input.shape) -> \(analysis.outputShape) per sample, batch \(m.batch), \(analysis.layers.count) layers, "
            + "loss \(m.loss.typeName), optimizer \(m.optimizer.typeName), \(R)"
        return render(Templates.text("header.h"), [
            "NAME": name,
            // Not NAME_H uppercased: `_stdint` would give _STDINT_H, the guard of <stdint.h>, and
            // `ab` and `AB` would share one. The prefix keeps it out of every reserved and system
            // name (identifiers starting with `_` and a capital are the implementation's), the
            // name's own case keeps it unique per model.
            "GUARD": "NNGEN_" + name + "_H",
            "SUMMARY": summary,
            "REAL": R,
            "OPT_STATE_DOC": stateDoc,
            "GRADS_DOC": frozen ? "\(name)_GRAD_COUNT         gradients of the trainable parameters only (offsets below)"
                : "\(name)_PARAM_COUNT        gradients, same offsets",
            "TARGET_DOC": labels ? "\(name)_BATCH labels (int32_t, 0 .. \(name)_OUTPUT_SIZE-1)"
                : "\(name)_BATCH * \(name)_OUTPUT_SIZE target values",
            "TARGET_T": targetType,
            "BATCH": "\(m.batch)",
            "INPUT_SIZE": "\(m.input.shape.elementCount)",
            "OUTPUT_SIZE": "\(analysis.outputCount)",
            "TARGET_COUNT": "\(analysis.targetElements)",
            "LABELS": labels ? "1" : "0",
            "PARAM_COUNT": "\(analysis.parameterCount)",
            "OPT_STATE_COUNT": "\(max(analysis.optimizerStateElements, 1))" + gradCountDefine,
            "ARENA_COUNT": "\(arenaCount)",
            "SCALAR_BYTES": "\(scalar.size)",
            "PARAM_TABLE": table,
            "FROZEN_DECL": frozenDecl,
            "PARAM_WHERE": apart ? "and where they are" : "in the flat array",
            "PARAMS_DOC": apart ? "\(name)_GRAD_COUNT         the trainable parameters only (frozen: \(name)_frozen_params)"
                : "\(name)_PARAM_COUNT        flat parameters (names and offsets below)",
            "OPTIMIZER": optimizerDoc(m.optimizer),
            "LOSS_TERMS": validationLossTerms(m.loss),
            "UPDATE_RANGE_DECL": !gradientHooks ? "" : """


                /* train_mpi: \(name)_update on the gradients grads[lo .. hi) alone and the parameters and optimizer
                 * state they belong to; step is the step being taken (counted by the caller). */
                void \(name)_update_range(\(R) *params, const \(R) *grads, \(R) *opt_state, int64_t step, \(R) lr,
                                        int64_t lo, int64_t hi);
                """,
        ])
    }

    func optimizerDoc(_ o: Optimizer) -> String {
        switch o {
        case .sgd(_, let m, let n, let wd): return "sgd, momentum \(m)\(n ? " nesterov" : ""), weight decay \(wd)"
        case .adam(_, let b1, let b2, let eps, let wd): return "adam, betas \(b1)/\(b2), eps \(eps), weight decay \(wd)"
        case .adamw(_, let b1, let b2, let eps, let wd): return "adamw, betas \(b1)/\(b2), eps \(eps), decoupled weight decay \(wd)"
        }
    }

    func initFunction() -> String {
        // Uniform draws go through one helper (precompiled for tcc, which would otherwise make a
        // call per draw); it takes them exactly as nn_rng_uniform(&rng, -bound, bound) would.
        let fill = Helper.uniformFill.name(c)
        var s = "void \(name)_init(\(R) *params, uint64_t seed) {\n    nn_rng rng;\n    nn_rng_seed(&rng, seed);\n"
        s += "    (void)nn_rng_uniform;  /* \(fill) takes its draws, step for step (clang warns otherwise) */\n"
        // A bias's fan-in is its layer weight's (the first weight of its layer).
        var weightFanIn: [String: Int] = [:]
        for p in analysis.parameters where p.role == .weight && weightFanIn[p.layerPath] == nil {
            weightFanIn[p.layerPath] = p.shape.dropFirst().reduce(1, *)
        }
        for p in analysis.parameters {
            let shape = p.shape.map(String.init).joined(separator: ", ")
            let at = parameterAddress(p.offset)
            if apart && !p.trainable {
                // Frozen: in NAME_frozen_params. Its draws are still taken, so the others get the values
                // the flat layout gives them.
                guard case .uniform = p.initializer else { continue }
                let fanIn = p.role == .weight ? p.shape.dropFirst().reduce(1, *) : weightFanIn[p.layerPath] ?? 1
                s += "    {   /* \(p.name) [\(shape)]: frozen (\(name)_frozen_params), its draws skipped */\n"
                s += "        const double bound = 1.0 / sqrt(\(fanIn).0);\n"
                s += "        \(fill)(\(p.count), NULL, bound, rng.s);\n    }\n"
                continue
            }
            switch p.initializer {
            case .uniform:
                let fanIn = p.role == .weight ? p.shape.dropFirst().reduce(1, *) : weightFanIn[p.layerPath] ?? 1
                s += "    {   /* \(p.name) [\(shape)]: U(-1/sqrt(\(fanIn)), 1/sqrt(\(fanIn))) */\n"
                s += "        const double bound = 1.0 / sqrt(\(fanIn).0);\n"
                s += "        \(fill)(\(p.count), \(at), bound, rng.s);\n    }\n"
            case .constant(let v):
                s += "    {   /* \(p.name) [\(shape)]: \(v) */\n"
                s += "        \(R) *p = \(at);\n"
                s += "        for (int i = 0; i < \(p.count); i++) p[i] = \(c.lit(v));\n    }\n"
            }
        }
        return s + "}\n"
    }

    func api(_ kernels: [(Node, Kernel)]) -> String {
        let T = targetType
        var s = "/* ---- API --------------------------------------------------------------------------- */\n\n"
        // forward
        let forward = kernels.filter { $0.0.phase == .forward }
        let (fn, ftext) = calls(forward, voids: ["params", "x", "y"])
        s += "\(R) \(name)_forward(const \(R) *params, const \(R) *x, const \(T) *y, \(R) *arena) {\n" + ftext
        let loss = forward.flatMap(\.1.params).first { graph[$0.tensor].role == .loss }.flatMap { fn[$0.tensor] }
        s += "    return \(loss.map { $0 + "[0]" } ?? "arena[\(plan.lossOffset)]");\n}\n\n"
        // backward
        let backward = kernels.filter { $0.0.phase == .backward }
        let (_, btext) = calls(backward, voids: ["params", "x", "y", "grads", "dx", "arena"],
                               after: gradientHooks ? gradientHookLines(backward) : [:])
        if gradientHooks {
            s += "/* NN_GRADS_READY(offset, count): the backward below has finished grads[offset .. offset + count).\n"
            s += " * train_mpi (this file compiled with -DNN_MPI) starts averaging those gradients over the processes\n"
            s += " * while the backward goes on (nn_mpi_grads_ready, in the runtime's MPI file); every other build\n"
            s += " * compiles it to nothing. */\n"
            s += "#ifdef NN_MPI\nvoid nn_mpi_grads_ready(size_t offset, size_t count);\n"
            s += "#define NN_GRADS_READY(offset, count) nn_mpi_grads_ready(offset, count)\n"
            s += "#else\n#define NN_GRADS_READY(offset, count) ((void)0)\n#endif\n\n"
        }
        s += "void \(name)_backward(const \(R) *params, const \(R) *x, const \(T) *y, \(R) *grads, \(R) *dx, \(R) *arena) {\n"
        s += btext + "}\n\n"
        // update
        s += "void \(name)_update(\(R) *params, const \(R) *grads, \(R) *opt_state, int64_t *step, \(R) lr) {\n"
        s += "    *step += 1;\n    \(name)_optimizer(params, grads, opt_state, *step, lr);\n}\n\n"
        // train step, with and without clipping
        s += "\(R) \(name)_train_step_clip(\(R) *params, \(R) *grads, \(R) *opt_state, int64_t *step,\n"
        s += "        const \(R) *x, const \(T) *y, \(R) lr, \(R) max_norm, \(R) *arena) {\n"
        s += "    \(R) loss = \(name)_forward(params, x, y, arena);\n"
        s += "    \(name)_backward(params, x, y, grads, NULL, arena);\n"
        s += "    if (max_norm > 0) \(name)_clip_grad_norm(grads, max_norm);\n"
        s += "    \(name)_update(params, grads, opt_state, step, lr);\n    return loss;\n}\n\n"
        s += "\(R) \(name)_train_step(\(R) *params, \(R) *grads, \(R) *opt_state, int64_t *step,\n"
        s += "        const \(R) *x, const \(T) *y, \(R) lr, \(R) *arena) {\n"
        s += "    return \(name)_train_step_clip(params, grads, opt_state, step, x, y, lr, 0, arena);\n}\n\n"
        // predict
        let inSize = analysis.model.input.shape.elementCount, outSize = analysis.outputCount
        let B = analysis.model.batch
        let (pn, ptext) = calls(forward.filter { $0.0.layerPath != "loss" }, voids: ["params"], extra: [graph.output])
        s += "void \(name)_predict(const \(R) *params, const \(R) *x_in, int n, \(R) *out, \(R) *arena) {\n"
        s += "    /* The kernels have the batch of \(B) built in: copy the n rows into a padded batch. */\n"
        s += "    \(R) *x = arena + \(predictPadOffset);\n"
        s += "    if (n < 1) return;\n    if (n > \(B)) n = \(B);\n"
        s += "    memcpy(x, x_in, (size_t)n * \(inSize) * sizeof(\(R)));\n"
        s += "    memset(x + (size_t)n * \(inSize), 0, (size_t)(\(B) - n) * \(inSize) * sizeof(\(R)));\n"
        s += ptext + "    memcpy(out, \(pn[graph.output] ?? "x"), (size_t)n * \(outSize) * sizeof(\(R)));\n}\n"
        return s
    }
}

/// The C names the API functions give tensors.
typealias TensorNames = [TensorID: String]

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
