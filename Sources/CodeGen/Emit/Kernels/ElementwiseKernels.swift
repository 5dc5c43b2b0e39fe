import ModelSpec

// Elementwise kernels (activations, their derivatives, adds) and the epilogues other kernels
// fold in: per element inside a loop, or as helper passes over a whole output.

extension KernelWriter {
    func activation(_ n: Node, _ a: Activation) -> KernelParts {
        var kern = KernelParts(n)
        let (x, y) = (n.inputs[0], n.outputs[0])
        kern.params = [("x", x, false), ("out", y, true)]
        kern.what = a.name
        kern.doc = "out = \(a.name)(x), \(count(x)) elements"
        kern.body = """
            for (int i = 0; i < \(count(x)); i++) {
                const \(R) v = x[i];
                out[i] = \(c.activation(a, "v"));
            }
        """
        return kern
    }

    func activationBackward(_ n: Node, _ a: Activation, fromOutput: Bool) -> KernelParts {
        var kern = KernelParts(n)
        let (s, dy, dx) = (n.inputs[0], n.inputs[1], n.outputs[0])
        kern.params = [(fromOutput ? "act_out" : "act_in", s, false), ("dout", dy, false), ("dx", dx, true)]
        kern.what = "\(a.name)_backward"
        kern.doc = "dx = dout * \(a.name)'(\(fromOutput ? "from the output" : "from the input")), \(count(dy)) elements"
        kern.body = """
            for (int i = 0; i < \(count(dy)); i++) dx[i] = dout[i] * \(c.derivative(a, "\(fromOutput ? "act_out" : "act_in")[i]", fromOutput: fromOutput));
        """
        return kern
    }

    func add(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (a, b, y) = (n.inputs[0], n.inputs[1], n.outputs[0])
        kern.params = [("a", a, false), ("b", b, false), ("out", y, true)]
        kern.what = n.phase == .forward ? "residual_add" : "grad_sum"
        kern.doc = "out = a + b, \(count(a)) elements"
        kern.body = """
            for (int i = 0; i < \(count(a)); i++) out[i] = a[i] + b[i];
        """
        return kern
    }

    /// The epilogue's extra parameters and its statements applied to `v` at flat index `i`,
    /// last-axis index `col`: the per-element form, for kernels that loop over their outputs.
    func epilogue(_ n: Node, index i: String, col: String, indent: String) -> (params: [(String, TensorID, Bool)], code: String) {
        var params: [(String, TensorID, Bool)] = []
        var lines: [String] = []
        for (k, e) in n.epilogue.enumerated() {
            let name = epilogueParamName(n, k) ?? ""
            switch e {
            case .bias(let t):
                params.append((name, t, false))
                lines.append("v += \(name)[\(col)];")
            case .store(let t):
                params.append((name, t, true))
                lines.append("\(name)[\(i)] = v;  /* kept for backward */")
            case .activation(let a):
                lines.append(a == .identity ? "/* identity */" : "v = \(c.activation(a, "v"));  /* \(a.name) */")
            case .add(let t):
                params.append((name, t, false))
                lines.append("v += \(name)[\(i)];\(n.phase == .forward ? "  /* residual add */" : "  /* gradients meeting at a fork */")")
            case .activationDerivative(let a, let s, let fromOutput):
                params.append((name, s, false))
                lines.append(a == .identity ? "(void)\(name);  /* identity' = 1 */"
                             : "v *= \(c.derivative(a, "\(name)[\(i)]", fromOutput: fromOutput));  /* \(a.name)' */")
            }
        }
        return (params, lines.map { indent + $0 }.joined(separator: "\n"))
    }

    /// The parameter name of the tensor the epilogue's step `k` reads or writes (nil for an
    /// activation, which has none).
    func epilogueParamName(_ n: Node, _ k: Int) -> String? {
        switch n.epilogue[k] {
        case .bias: return "bias"
        case .store: return "keep\(k)"
        case .activation: return nil
        case .add: return epilogueAddName(n, k)
        case .activationDerivative(_, _, let fromOutput): return fromOutput ? "act_out\(k)" : "act_in\(k)"
        }
    }

    /// Describes the epilogue for the comment, e.g. `+ bias + relu`.
    func epilogueDoc(_ n: Node) -> String {
        n.epilogue.compactMap { e -> String? in
            switch e {
            case .bias: return "+ bias"
            case .store: return nil
            case .activation(let a): return "-> \(a.name)"
            case .add: return n.phase == .forward ? "+ residual" : "+ gradient from the other branch"
            case .activationDerivative(let a, _, _): return "* \(a.name)'"
            }
        }.joined(separator: " ")
    }

    /// The epilogue of a product, applied to its whole output `out` (`rows` x `cols`) once the
    /// tiles are done, while it is in cache: one helper pass per step (bias, activation,
    /// residual add, derivative), which cc inlines and vectorises and tcc runs precompiled.
    /// The steps before `first` are the caller's (it applies them itself and reads their tensors).
    /// Returns the parameters of every step and the statements, one a line.
    func epilogueSteps(_ n: Node, out: String, rows: Int, cols: Int, from first: Int = 0)
        -> (params: [(String, TensorID, Bool)], code: String) {
        var lines: [String] = []
        let total = rows * cols
        let params = epilogue(n, index: "i", col: "j", indent: "").params
        let steps = n.epilogue
        let callers = Set((0..<first).compactMap { epilogueParamName(n, $0) })
        var k = first
        while k < steps.count {
            defer { k += 1 }
            // bias, keep, activation (each but the activation optional): one pass of the activation's helper.
            var bias: String?, keep: String?, j = k
            if case .bias = steps[j] { bias = epilogueParamName(n, j); j += 1 }
            if j < steps.count, case .store = steps[j] { keep = epilogueParamName(n, j); j += 1 }
            if j < steps.count, case .activation(let a) = steps[j], let h = Helper.activation(a) {
                let slope = a.parameter.map { ", \(c.lit($0))" } ?? ""
                let what = [bias.map { _ in "+ bias" }, keep.map { _ in "kept for backward" }, a.name].compactMap { $0 }
                lines.append("\(h.name(c))(\(rows), \(cols), \(out), \(bias ?? "NULL"), \(keep ?? "NULL")\(slope));  /* "
                             + what.joined(separator: ", ") + " */")
                k = j
                continue
            }
            let name = epilogueParamName(n, k) ?? ""
            switch steps[k] {
            case .bias:
                lines.append("\(Helper.biasRows.name(c))(\(rows), \(cols), \(out), \(name));")
            case .store:
                lines.append("memcpy(\(name), \(out), \(total) * sizeof(\(c.real)));  /* kept for backward */")
            case .activation:
                continue  // the identity
            case .add:
                lines.append("\(Helper.add.name(c))(\(total), \(out), \(name));\(n.phase == .forward ? "  /* residual add */" : "  /* gradients meeting at a fork */")")
            case .activationDerivative(let a, _, let fromOutput):
                guard let h = Helper.derivative(a, fromOutput: fromOutput, c) else { continue }
                let slope = a.parameter.map { ", \(c.lit($0))" } ?? ""
                lines.append("\(h.name(c))(\(total), \(out), \(name)\(slope));  /* * \(a.name)' */")
            }
        }
        for p in params where !callers.contains(p.0) && !lines.contains(where: { $0.contains(p.0) }) {
            lines.append("(void)\(p.0);  /* read by the identity's derivative only */")
        }
        return (params, lines.map { "    " + $0 }.joined(separator: "\n"))
    }

    /// The parameter name of the tensor the epilogue's step `k` adds: `residual` (numbered when
    /// a forward kernel adds several) or `grad_other` numbered.
    func epilogueAddName(_ n: Node, _ k: Int) -> String {
        guard n.phase == .forward else { return "grad_other\(k)" }
        let adds = n.epilogue.filter { if case .add = $0 { return true }; return false }.count
        return adds > 1 ? "residual\(k)" : "residual"
    }

    /// A kernel whose `loops` (ending in a newline) compute its output `out` (`rows` x `cols`)
    /// from `operands`, followed by the node's epilogue as passes over that output: what it does
    /// (the end of its name), its math (the epilogue's is added) and its scratch elements.
    func loopsWithEpilogue(_ n: Node, _ loops: String, operands: [(String, TensorID, Bool)],
                           out: (name: String, tensor: TensorID), rows: Int, cols: Int,
                           what: String, doc: String, scratch: Int = 0) -> KernelParts {
        var kern = KernelParts(n)
        let ep = epilogueSteps(n, out: out.name, rows: rows, cols: cols)
        kern.body = loops + (ep.code.isEmpty ? "" : "    /* epilogue, over \(out.name) while it is in cache */\n" + ep.code)
        if ep.code.isEmpty { kern.body.removeLast() }
        kern.params = operands + ep.params + [(out.name, out.tensor, true)]
        (kern.what, kern.doc, kern.scratch) = (what, doc + " " + epilogueDoc(n), scratch)
        return kern
    }
}
