import ModelSpec

/// One C function made from one (possibly fused) node.
struct Kernel {
    /// The function's name, after the layer it came from.
    var name: String
    /// The comment above it: layer, shapes, fusion rules.
    var comment: String
    /// Parameters in order: the tensor each one receives and whether the kernel writes it.
    var params: [(name: String, tensor: TensorID, writes: Bool)]
    /// The body, without braces, indented 4 spaces.
    var body: String
    /// Whether this node must be skipped when the caller gives no input-gradient buffer.
    var inputGradientOnly: Bool
    /// An output the kernel computes only when its pointer is not NULL (see `Node.optionalFirstOutput`).
    var optionalOutput: TensorID? = nil
    /// Elements of arena scratch the kernel uses (its last parameter, `scratch`, when > 0).
    var scratch = 0
}

/// Builds the C text of kernels.
struct KernelWriter {
    let graph: Graph
    let c: CSyntax
    var usedNames = Set<String>()
    /// The helpers (`CSyntax.helperOrder` names) the kernels written so far call.
    var usedHelpers = Set<String>()

    init(graph: Graph, scalar: ScalarType) {
        self.graph = graph
        self.c = CSyntax(scalar: scalar)
    }

    var R: String { c.real }

    func shape(_ t: TensorID) -> [Int] { graph[t].shape }
    func count(_ t: TensorID) -> Int { graph[t].count }
    func shapeText(_ t: TensorID) -> String { "[" + shape(t).map(String.init).joined(separator: ", ") + "]" }

    /// A unique function name from the layer path and what the kernel does.
    mutating func uniqueName(_ base: String) -> String {
        var name = base, k = 2
        while usedNames.contains(name) { name = "\(base)_\(k)"; k += 1 }
        usedNames.insert(name)
        return name
    }

    /// The epilogue's extra parameters and its statements applied to `v` at flat index `i`,
    /// last-axis index `col`.
    func epilogue(_ n: Node, index i: String, col: String, indent: String) -> (params: [(String, TensorID, Bool)], code: String) {
        var params: [(String, TensorID, Bool)] = []
        var lines: [String] = []
        for (k, e) in n.epilogue.enumerated() {
            switch e {
            case .bias(let t):
                params.append(("bias", t, false))
                lines.append("v += bias[\(col)];")
            case .store(let t):
                let name = "keep\(k)"
                params.append((name, t, true))
                lines.append("\(name)[\(i)] = v;  /* kept for backward */")
            case .activation(let a):
                lines.append(a == .identity ? "/* identity */" : "v = \(c.activation(a, "v"));  /* \(a.name) */")
            case .add(let t):
                let name = n.phase == .forward ? (n.epilogue.filter { if case .add = $0 { return true }; return false }.count > 1 ? "residual\(k)" : "residual") : "grad_other\(k)"
                params.append((name, t, false))
                lines.append("v += \(name)[\(i)];\(n.phase == .forward ? "  /* residual add */" : "  /* gradients meeting at a fork */")")
            case .activationDerivative(let a, let s, let fromOutput):
                let name = fromOutput ? "act_out\(k)" : "act_in\(k)"
                params.append((name, s, false))
                lines.append(a == .identity ? "(void)\(name);  /* identity' = 1 */"
                             : "v *= \(c.derivative(a, "\(name)[\(i)]", fromOutput: fromOutput));  /* \(a.name)' */")
            }
        }
        return (params, lines.map { indent + $0 }.joined(separator: "\n"))
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

    mutating func kernel(for n: Node) -> Kernel? {
        let layer = cIdentifier(n.layerPath)
        var params: [(String, TensorID, Bool)] = []
        var body = ""
        var scratch = 0
        var what = n.kind.name
        var doc = ""
        let o = n.outputs.first
        switch n.kind {
        case .reshape:
            return nil
        case .matmul:
            let (x, w, y) = (n.inputs[0], n.inputs[1], o!)
            let (M, K, N) = (count(x) / shape(x).last!, shape(x).last!, shape(w)[0])
            let loops: String
            if N < c.tileColumns && M >= c.tileColumns {
                // Fewer outputs than a tile is wide (a classifier's last layer): out^T = weight x^T
                // fills whole tiles, rows from weight read in place, panels of x^T packed. Every
                // element is the same chain of multiply-adds as out = x weight^T: the same bits.
                scratch = N * M
                loops = "    /* out^T in register tiles (\(N) outputs fill no tile of \(c.tileColumns)); each panel of x^T packed first */\n"
                    + "    \(R) *const out_t = scratch;  /* out^T, \(N) rows of \(M); arena scratch */\n"
                    + productLoops(ProductShape(rows: N, cols: M, depth: K, a: "weight", aRow: K, aStep: 1,
                                                b: .transposed("x", stride: K), c: "out_t"))
                    + "    for (int i = 0; i < \(M); i++)\n"
                    + "        for (int j = 0; j < \(N); j++) out[i * \(N) + j] = out_t[j * \(M) + i];\n"
            } else {
                loops = "    /* register tiles of out; each panel of weight^T packed first */\n"
                    + productLoops(ProductShape(rows: M, cols: N, depth: K, a: "x", aRow: K, aStep: 1,
                                                b: .transposed("weight", stride: K), c: "out"))
            }
            let ep = epiloguePasses(n, out: "out", rows: M, cols: N)
            params = [("x", x, false), ("weight", w, false)] + ep.params + [("out", y, true)]
            what = "forward"
            doc = "out[\(M), \(N)] = x[\(M), \(K)] weight[\(N), \(K)]^T \(epilogueDoc(n))"
            body = loops
                + (ep.code.isEmpty ? "" : "    /* epilogue, over out while it is in cache */\n" + ep.code)
            if ep.code.isEmpty { body.removeLast() }
        case .matmulGradInput:
            let (dy, w, dx) = (n.inputs[0], n.inputs[1], o!)
            let (N, K) = (shape(w)[0], shape(w)[1])
            let M = count(dy) / N
            let loops = productLoops(ProductShape(rows: M, cols: K, depth: N, a: "dout", aRow: N, aStep: 1,
                                                  b: .rows("weight", stride: K), c: "dx"))
            let ep = epiloguePasses(n, out: "dx", rows: M, cols: K)
            params = [("dout", dy, false), ("weight", w, false)] + ep.params + [("dx", dx, true)]
            what = "backward_input"
            doc = "dx[\(M), \(K)] = dout[\(M), \(N)] weight[\(N), \(K)] \(epilogueDoc(n))"
            body = "    /* register tiles of dx, from panels of weight's rows */\n" + loops
                + (ep.code.isEmpty ? "" : "    /* epilogue, over dx while it is in cache */\n" + ep.code)
            if ep.code.isEmpty { body.removeLast() }
        case .matmulGradWeight:
            let (dy, x, dw) = (n.inputs[0], n.inputs[1], o!)
            let (N, K) = (shape(dw)[0], shape(dw)[1])
            let M = count(dy) / N
            params = [("dout", dy, false), ("x", x, false), ("dweight", dw, true)]
            what = "backward_weight"
            doc = "dweight[\(N), \(K)] = dout[\(M), \(N)]^T x[\(M), \(K)]"
            var product = ProductShape(rows: N, cols: K, depth: M, a: "dout", aRow: 1, aStep: N, b: .rows("x", stride: K),
                                       c: "dweight")
            if N > 1 && N * M * c.scalar.size > 2 * KernelWriter.packBytes && !stripsOutermost(product) {
                // Column panels outermost, and dout bigger than the level-1 cache: every panel's tiles
                // would read dout down its columns, one element per row N apart (cache lines that
                // collide in the level-1 cache). dout^T is packed once instead, so each tile reads its
                // rows of a contiguously (W2's weight gradients: 10% faster).
                usedHelpers.insert("pack_t")
                body = "    /* dout^T packed once (\(N) rows of \(M)); then register tiles of dweight, panels from x's rows */\n"
                    + "    \(c.real) *const at = scratch;  /* arena scratch */\n"
                    + "    \(c.helper("pack_t"))(\(N), \(M), \(M), dout, \(N), at);\n"
                product.a = "at"
                product.aRow = M
                product.aStep = 1
                scratch = N * M
            } else {
                body = "    /* register tiles of dweight: rows from columns of dout, panels from x's rows */\n"
            }
            body += productLoops(product).dropLast().description
        case .biasAdd:
            let (x, b, y) = (n.inputs[0], n.inputs[1], o!)
            let N = shape(b)[0], rows = count(x) / N
            params = [("x", x, false), ("bias", b, false), ("out", y, true)]
            what = "bias"
            doc = "out[\(rows), \(N)] = x + bias"
            body = """
                for (int r = 0; r < \(rows); r++)
                    for (int j = 0; j < \(N); j++) out[r * \(N) + j] = x[r * \(N) + j] + bias[j];
            """
        case .biasGrad:
            let (dy, db) = (n.inputs[0], o!)
            let N = shape(db)[0], rows = count(dy) / N
            params = [("dout", dy, false), ("dbias", db, true)]
            what = "backward_bias"
            doc = "dbias[\(N)] = sum over \(rows) rows of dout"
            usedHelpers.insert("col_sums")
            body = "    \(c.helper("col_sums"))(\(rows), \(N), dout, dbias);  /* row by row, in order */"
        case .activation(let a):
            let (x, y) = (n.inputs[0], o!)
            params = [("x", x, false), ("out", y, true)]
            what = a.name
            doc = "out = \(a.name)(x), \(count(x)) elements"
            body = """
                for (int i = 0; i < \(count(x)); i++) {
                    const \(R) v = x[i];
                    out[i] = \(c.activation(a, "v"));
                }
            """
        case .activationGrad(let a, let fromOutput):
            let (s, dy, dx) = (n.inputs[0], n.inputs[1], o!)
            params = [(fromOutput ? "act_out" : "act_in", s, false), ("dout", dy, false), ("dx", dx, true)]
            what = "\(a.name)_backward"
            doc = "dx = dout * \(a.name)'(\(fromOutput ? "from the output" : "from the input")), \(count(dy)) elements"
            body = """
                for (int i = 0; i < \(count(dy)); i++) dx[i] = dout[i] * \(c.derivative(a, "\(fromOutput ? "act_out" : "act_in")[i]", fromOutput: fromOutput));
            """
        case .add:
            let (a, b, y) = (n.inputs[0], n.inputs[1], o!)
            params = [("a", a, false), ("b", b, false), ("out", y, true)]
            what = n.phase == .forward ? "residual_add" : "grad_sum"
            doc = "out = a + b, \(count(a)) elements"
            body = """
                for (int i = 0; i < \(count(a)); i++) out[i] = a[i] + b[i];
            """
        case .conv1d(let at) where convForwardFits(at):
            let (x, w, y) = (n.inputs[0], n.inputs[1], o!)
            let B = shape(x)[0]
            let k = convProductForward(at, batch: B)
            let ep = epiloguePasses(n, out: "out", rows: B * at.outLength, cols: at.outChannels)
            params = [("x", x, false), ("weight", w, false)] + ep.params + [("out", y, true)]
            what = "forward"
            doc = "out[\(B), \(at.outLength), \(at.outChannels)] = conv1d(x[\(B), \(at.inLength), \(at.inChannels)], weight[\(at.outChannels), \(at.inChannels), \(at.kernel)]; stride \(at.stride), left pad \(at.padLeft)) \(epilogueDoc(n))"
            body = k.body + (ep.code.isEmpty ? "" : "    /* epilogue, over out while it is in cache */\n" + ep.code)
            if ep.code.isEmpty { body.removeLast() }
            scratch = k.scratch
        case .conv1dGradInput(let at) where convInputFits(at):
            let (dy, w, dx) = (n.inputs[0], n.inputs[1], o!)
            let B = shape(dx)[0]
            let k = convProductInput(at, batch: B)
            let ep = epiloguePasses(n, out: "dx", rows: B * at.inLength, cols: at.inChannels)
            params = [("dout", dy, false), ("weight", w, false)] + ep.params + [("dx", dx, true)]
            what = "backward_input"
            doc = "dx[\(B), \(at.inLength), \(at.inChannels)] from dout[\(B), \(at.outLength), \(at.outChannels)] and weight \(epilogueDoc(n))"
            body = k.body + (ep.code.isEmpty ? "" : "    /* epilogue, over dx while it is in cache */\n" + ep.code)
            if ep.code.isEmpty { body.removeLast() }
            scratch = k.scratch
        case .conv1dGradWeight(let at) where convWeightFits(at):
            let (dy, x, dw) = (n.inputs[0], n.inputs[1], o!)
            let B = shape(x)[0]
            let k = convProductWeight(at, batch: B)
            params = [("dout", dy, false), ("x", x, false), ("dweight", dw, true)]
            what = "backward_weight"
            doc = "dweight[\(at.outChannels), \(at.inChannels), \(at.kernel)] from dout[\(B), \(at.outLength), \(at.outChannels)] and x[\(B), \(at.inLength), \(at.inChannels)]"
            body = k.body
            body.removeLast()
            scratch = k.scratch
        case .conv1d(let at):
            let (x, w, y) = (n.inputs[0], n.inputs[1], o!)
            let B = shape(x)[0]
            let ep = epilogue(n, index: "i", col: "oc", indent: "                ")
            params = [("x", x, false), ("weight", w, false)] + ep.params + [("out", y, true)]
            what = "forward"
            doc = "out[\(B), \(at.outLength), \(at.outChannels)] = conv1d(x[\(B), \(at.inLength), \(at.inChannels)], weight[\(at.outChannels), \(at.inChannels), \(at.kernel)]; stride \(at.stride), dilation \(at.dilation), left pad \(at.padLeft)) \(epilogueDoc(n))"
            body = """
                for (int b = 0; b < \(B); b++) {
                    for (int t = 0; t < \(at.outLength); t++) {
                        for (int oc = 0; oc < \(at.outChannels); oc++) {
                            \(R) v = 0;
                            for (int j = 0; j < \(at.kernel); j++) {
                                const int pos = t * \(at.stride) + j * \(at.dilation) - \(at.padLeft);
                                if (pos < 0 || pos >= \(at.inLength)) continue;  /* zero padding */
                                const \(R) *xr = x + (b * \(at.inLength) + pos) * \(at.inChannels);
                                const \(R) *wr = weight + oc * \(at.inChannels * at.kernel) + j;
                                for (int ic = 0; ic < \(at.inChannels); ic++) v += wr[ic * \(at.kernel)] * xr[ic];
                            }
                            const int i = (b * \(at.outLength) + t) * \(at.outChannels) + oc;
            \(ep.code)
                            out[i] = v;
                        }
                    }
                }
            """
        case .conv1dGradInput(let at):
            let (dy, w, dx) = (n.inputs[0], n.inputs[1], o!)
            let B = shape(dx)[0]
            let total = count(dx)
            let ep = epilogue(n, index: "i", col: "i % \(at.inChannels)", indent: "        ")
            params = [("dout", dy, false), ("weight", w, false)] + ep.params + [("dx", dx, true)]
            what = "backward_input"
            doc = "dx[\(B), \(at.inLength), \(at.inChannels)] from dout[\(B), \(at.outLength), \(at.outChannels)] and weight \(epilogueDoc(n))"
            body = """
                for (int i = 0; i < \(total); i++) dx[i] = 0;
                for (int b = 0; b < \(B); b++) {
                    for (int t = 0; t < \(at.outLength); t++) {
                        for (int j = 0; j < \(at.kernel); j++) {
                            const int pos = t * \(at.stride) + j * \(at.dilation) - \(at.padLeft);
                            if (pos < 0 || pos >= \(at.inLength)) continue;
                            \(R) *dxr = dx + (b * \(at.inLength) + pos) * \(at.inChannels);
                            for (int oc = 0; oc < \(at.outChannels); oc++) {
                                const \(R) d = dout[(b * \(at.outLength) + t) * \(at.outChannels) + oc];
                                const \(R) *wr = weight + oc * \(at.inChannels * at.kernel) + j;
                                for (int ic = 0; ic < \(at.inChannels); ic++) dxr[ic] += d * wr[ic * \(at.kernel)];
                            }
                        }
                    }
                }
            """ + (n.epilogue.isEmpty ? "" : """

                for (int i = 0; i < \(total); i++) {
                    \(R) v = dx[i];
            \(ep.code)
                    dx[i] = v;
                }
            """)
        case .conv1dGradWeight(let at):
            let (dy, x, dw) = (n.inputs[0], n.inputs[1], o!)
            let B = shape(x)[0]
            params = [("dout", dy, false), ("x", x, false), ("dweight", dw, true)]
            what = "backward_weight"
            doc = "dweight[\(at.outChannels), \(at.inChannels), \(at.kernel)] from dout[\(B), \(at.outLength), \(at.outChannels)] and x[\(B), \(at.inLength), \(at.inChannels)]"
            body = """
                for (int i = 0; i < \(count(dw)); i++) dweight[i] = 0;
                for (int b = 0; b < \(B); b++) {
                    for (int t = 0; t < \(at.outLength); t++) {
                        for (int j = 0; j < \(at.kernel); j++) {
                            const int pos = t * \(at.stride) + j * \(at.dilation) - \(at.padLeft);
                            if (pos < 0 || pos >= \(at.inLength)) continue;
                            const \(R) *xr = x + (b * \(at.inLength) + pos) * \(at.inChannels);
                            for (int oc = 0; oc < \(at.outChannels); oc++) {
                                const \(R) d = dout[(b * \(at.outLength) + t) * \(at.outChannels) + oc];
                                \(R) *dwr = dweight + oc * \(at.inChannels * at.kernel) + j;
                                for (int ic = 0; ic < \(at.inChannels); ic++) dwr[ic * \(at.kernel)] += d * xr[ic];
                            }
                        }
                    }
                }
            """
        case .layerNormalize(let eps):
            let x = n.inputs[0]
            let C = shape(x).last!, rows = count(x) / C
            params = [("x", x, false), ("xhat", n.outputs[0], true), ("mean", n.outputs[1], true), ("rstd", n.outputs[2], true)]
            what = "normalize"
            doc = "xhat = (x - mean) / sqrt(var + \(c.lit(eps))) over the last axis, \(rows) rows of \(C)"
            body = layerNormForwardBody(rows: rows, C: C, eps: eps, affine: false, out: "xhat", ep: "")
        case .layerNorm(let eps, let affine):
            let x = n.inputs[0]
            let C = shape(x).last!, rows = count(x) / C
            let ep = epilogue(n, index: "r * \(C) + k", col: "k", indent: "            ")
            params = [("x", x, false)] + (affine ? [("weight", n.inputs[1], false), ("bias", n.inputs[2], false)] : [])
                + ep.params + [("out", n.outputs[0], true), ("mean", n.outputs[1], true), ("rstd", n.outputs[2], true)]
            what = "forward"
            doc = "layernorm over the last axis, \(rows) rows of \(C), eps \(c.lit(eps))\(affine ? ", * weight + bias" : "") \(epilogueDoc(n)); keeps mean and 1/std"
            usedHelpers.insert("layernorm")
            let steps = epilogueSteps(n, out: "out", rows: rows, cols: C)
            body = "#ifndef NN_PRECOMPILED\n" + layerNormForwardBody(rows: rows, C: C, eps: eps, affine: affine, out: "out", ep: ep.code)
                + "\n#else  /* tcc: the same loops, precompiled\(steps.lines.isEmpty ? "" : ", then the epilogue as passes") */\n"
                + "    \(c.helper("layernorm"))(\(rows), \(C), \(c.lit(eps)), x, \(affine ? "weight, bias" : "NULL, NULL"), out, mean, rstd);\n"
                + steps.lines.map { "    " + $0 + "\n" }.joined() + "#endif"
        case .scaleShift:
            let (xhat, w, b) = (n.inputs[0], n.inputs[1], n.inputs[2])
            let C = shape(w)[0], rows = count(xhat) / C
            let ep = epilogue(n, index: "r * \(C) + k", col: "k", indent: "        ")
            params = [("xhat", xhat, false), ("weight", w, false), ("bias", b, false)] + ep.params + [("out", o!, true)]
            what = "scale_shift"
            doc = "out = xhat * weight + bias, \(rows) rows of \(C) \(epilogueDoc(n))"
            body = """
                for (int r = 0; r < \(rows); r++)
                    for (int k = 0; k < \(C); k++) {
                        \(R) v = xhat[r * \(C) + k] * weight[k] + bias[k];
            \(ep.code)
                        out[r * \(C) + k] = v;
                    }
            """
        case .scaleShiftGrad:
            let (dy, xhat, w) = (n.inputs[0], n.inputs[1], n.inputs[2])
            let C = shape(w)[0], rows = count(dy) / C
            params = [("dout", dy, false), ("xhat", xhat, false), ("weight", w, false),
                      ("dxhat", n.outputs[0], true), ("dweight", n.outputs[1], true), ("dbias", n.outputs[2], true)]
            what = "scale_shift_backward"
            doc = "dxhat = dout * weight; dweight = sum dout * xhat; dbias = sum dout; \(rows) rows of \(C)"
            body = """
                for (int k = 0; k < \(C); k++) { dweight[k] = 0; dbias[k] = 0; }
                for (int r = 0; r < \(rows); r++)
                    for (int k = 0; k < \(C); k++) {
                        const int i = r * \(C) + k;
                        dxhat[i] = dout[i] * weight[k];
                        dweight[k] += dout[i] * xhat[i];
                        dbias[k] += dout[i];
                    }
            """
        case .layerNormalizeGrad:
            let (dxh, xhat, rstd) = (n.inputs[0], n.inputs[1], n.inputs[2])
            let C = shape(xhat).last!, rows = count(xhat) / C
            let ep = epilogue(n, index: "r * \(C) + k", col: "k", indent: "            ")
            params = [("dxhat", dxh, false), ("xhat", xhat, false), ("rstd", rstd, false)] + ep.params + [("dx", o!, true)]
            what = "normalize_backward"
            doc = "dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), \(rows) rows of \(C) \(epilogueDoc(n))"
            body = """
                for (int r = 0; r < \(rows); r++) {
                    const \(R) *g = dxhat + r * \(C);
                    const \(R) *xh = xhat + r * \(C);
                    \(R) sum_g = 0, sum_gx = 0;
                    for (int k = 0; k < \(C); k++) { sum_g += g[k]; sum_gx += g[k] * xh[k]; }
                    const \(R) mean_g = sum_g / \(C), mean_gx = sum_gx / \(C);
                    for (int k = 0; k < \(C); k++) {
                        \(R) v = rstd[r] * (g[k] - mean_g - xh[k] * mean_gx);
            \(ep.code)
                        dx[r * \(C) + k] = v;
                    }
                }
            """
        case .layerNormGrad(let affine):
            let (dy, x, mean, rstd) = (n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3])
            let C = shape(x).last!, rows = count(x) / C
            let ep = epilogue(n, index: "r * \(C) + k", col: "k", indent: "                ")
            params = [("dout", dy, false), ("x", x, false), ("mean", mean, false), ("rstd", rstd, false)]
                + (affine ? [("weight", n.inputs[4], false)] : []) + ep.params + [("dx", n.outputs[0], true)]
                + (affine ? [("dweight", n.outputs[1], true), ("dbias", n.outputs[2], true)] : [])
            what = "backward"
            doc = "layernorm backward, \(rows) rows of \(C): dx\(affine ? ", dweight, dbias" : "") eight rows at a time \(epilogueDoc(n))"
            usedHelpers.formUnion(["sum", "dot", "row_sums"])
            // Eight rows at a time (their sums reduced together: nn_row_sums); two blocks of eight rows
            // of scratch, on the stack when small, else in the arena.
            let block = 8 * C
            let onStack = (affine ? 2 : 1) * block * c.scalar.size <= KernelWriter.convStackBytes
            let rowBuffers = onStack ? "\(R) xh[\(block)]\(affine ? ", g[\(block)]" : "");"
                : "\(R) *xh = scratch\(affine ? ", *g = scratch + \(block)" : "");"
            if !onStack { scratch = (affine ? 2 : 1) * block }
            let G = affine ? "g" : "dout + r0 * \(C)"
            body = (affine ? "    for (int k = 0; k < \(C); k++) { dweight[k] = 0; dbias[k] = 0; }\n" : "") + """
                for (int r0 = 0; r0 < \(rows); r0 += 8) {
                    const int n = \(rows) - r0 < 8 ? \(rows) - r0 : 8;
                    \(rowBuffers)  /* 8 rows normalised\(affine ? ", and the gradients reaching them (dout * weight)" : "") */
                    \(R) sum_g[8], sum_gx[8];
                    for (int q = 0; q < n; q++) {
                        const \(R) *xr = x + (r0 + q) * \(C);
                        const \(R) mu = mean[r0 + q], rs = rstd[r0 + q];
                        for (int k = 0; k < \(C); k++) xh[q * \(C) + k] = (xr[k] - mu) * rs;

            """ + (affine ? """
                        const \(R) *dr = dout + (r0 + q) * \(C);
                        for (int k = 0; k < \(C); k++) {
                            g[q * \(C) + k] = dr[k] * weight[k];
                            dweight[k] += dr[k] * xh[q * \(C) + k];
                            dbias[k] += dr[k];
                        }

            """ : "") + """
                    }
                    \(c.helper("row_sums"))(n, \(C), \(G), xh, sum_g, sum_gx);  /* per row: sum of the gradient, and its dot with xh */

            """ + (n.optionalFirstOutput ? "        if (!dx) continue;  /* dx only when the input gradient is asked for */\n" : "") + """
                    for (int q = 0; q < n; q++) {
                        const int r = r0 + q;
                        const \(R) rs = rstd[r], mean_g = sum_g[q] / \(C), mean_gx = sum_gx[q] / \(C);
                        for (int k = 0; k < \(C); k++) {
                            \(R) v = rs * (\(affine ? "g[q * \(C) + k]" : "dout[r * \(C) + k]") - mean_g - xh[q * \(C) + k] * mean_gx);

            """ + (ep.code.isEmpty ? "" : ep.code + "\n") + """
                            dx[r * \(C) + k] = v;
                        }
                    }
                }
            """
            usedHelpers.insert("layernorm_grad")
            let steps = epilogueSteps(n, out: "dx", rows: rows, cols: C)
            let call = "\(c.helper("layernorm_grad"))(\(rows), \(C), dout, x, mean, rstd, \(affine ? "weight" : "NULL"), dx, "
                + "\(affine ? "dweight, dbias" : "NULL, NULL"), xh, \(affine ? "g" : "NULL"));"
            let passes = steps.lines.map { "        " + $0 + "\n" }.joined()
            body = "#ifndef NN_PRECOMPILED\n" + body
                + "\n#else  /* tcc: the same loops, precompiled\(steps.lines.isEmpty ? "" : ", then the epilogue as passes") */\n"
                + "    \(rowBuffers)\n    \(call)\n"
                + (passes.isEmpty ? "" : (n.optionalFirstOutput ? "    if (dx) {\n" : "    {\n") + passes + "    }\n")
                + "#endif"
        case .maxPool1d(let k, let s), .avgPool1d(let k, let s):
            let (x, y) = (n.inputs[0], o!)
            let (B, L, C, Lo) = (shape(x)[0], shape(x)[1], shape(x)[2], shape(y)[1])
            let isMax = n.kind == .maxPool1d(kernel: k, stride: s)
            params = [("x", x, false), ("out", y, true)]
            what = isMax ? "maxpool" : "avgpool"
            doc = "\(isMax ? "max" : "mean") over windows of \(k) positions, stride \(s): x[\(B), \(L), \(C)] -> out[\(B), \(Lo), \(C)]"
            let reduce = isMax
                ? "\(R) v = xr[0];\n                for (int j = 1; j < \(k); j++) if (xr[j * \(C)] > v) v = xr[j * \(C)];"
                : "\(R) v = 0;\n                for (int j = 0; j < \(k); j++) v += xr[j * \(C)];\n                v /= \(k);"
            body = """
                for (int b = 0; b < \(B); b++)
                    for (int t = 0; t < \(Lo); t++)
                        for (int ch = 0; ch < \(C); ch++) {
                            const \(R) *xr = x + (b * \(L) + t * \(s)) * \(C) + ch;
                            \(reduce)
                            out[(b * \(Lo) + t) * \(C) + ch] = v;
                        }
            """
        case .maxPool1dGrad(let k, let s):
            let (dy, x, dx) = (n.inputs[0], n.inputs[1], o!)
            let (B, L, C, Lo) = (shape(x)[0], shape(x)[1], shape(x)[2], shape(dy)[1])
            params = [("dout", dy, false), ("x", x, false), ("dx", dx, true)]
            what = "maxpool_backward"
            doc = "each window's gradient goes to its first maximal position"
            body = """
                for (int i = 0; i < \(count(dx)); i++) dx[i] = 0;
                for (int b = 0; b < \(B); b++)
                    for (int t = 0; t < \(Lo); t++)
                        for (int ch = 0; ch < \(C); ch++) {
                            const int base = (b * \(L) + t * \(s)) * \(C) + ch;
                            int best = 0;
                            for (int j = 1; j < \(k); j++) if (x[base + j * \(C)] > x[base + best * \(C)]) best = j;
                            dx[base + best * \(C)] += dout[(b * \(Lo) + t) * \(C) + ch];
                        }
            """
        case .avgPool1dGrad(let k, let s):
            let (dy, dx) = (n.inputs[0], o!)
            let (B, L, C, Lo) = (shape(dx)[0], shape(dx)[1], shape(dx)[2], shape(dy)[1])
            params = [("dout", dy, false), ("dx", dx, true)]
            what = "avgpool_backward"
            doc = "each window's gradient spread evenly over its \(k) positions"
            body = """
                for (int i = 0; i < \(count(dx)); i++) dx[i] = 0;
                for (int b = 0; b < \(B); b++)
                    for (int t = 0; t < \(Lo); t++)
                        for (int ch = 0; ch < \(C); ch++) {
                            const \(R) d = dout[(b * \(Lo) + t) * \(C) + ch] / \(k);
                            for (int j = 0; j < \(k); j++) dx[(b * \(L) + t * \(s) + j) * \(C) + ch] += d;
                        }
            """
        case .globalAvgPool1d:
            let (x, y) = (n.inputs[0], o!)
            let (B, L, C) = (shape(x)[0], shape(x)[1], shape(x)[2])
            params = [("x", x, false), ("out", y, true)]
            what = "forward"
            doc = "out[\(B), \(C)] = mean over \(L) positions of x[\(B), \(L), \(C)]"
            body = """
                for (int b = 0; b < \(B); b++)
                    for (int ch = 0; ch < \(C); ch++) {
                        \(R) v = 0;
                        for (int t = 0; t < \(L); t++) v += x[(b * \(L) + t) * \(C) + ch];
                        out[b * \(C) + ch] = v / \(L);
                    }
            """
        case .globalAvgPool1dGrad:
            let (dy, dx) = (n.inputs[0], o!)
            let (B, L, C) = (shape(dx)[0], shape(dx)[1], shape(dx)[2])
            params = [("dout", dy, false), ("dx", dx, true)]
            what = "backward"
            doc = "dx[b, t, c] = dout[b, c] / \(L)"
            body = """
                for (int b = 0; b < \(B); b++)
                    for (int t = 0; t < \(L); t++)
                        for (int ch = 0; ch < \(C); ch++) dx[(b * \(L) + t) * \(C) + ch] = dout[b * \(C) + ch] / \(L);
            """
        case .softmax:
            let (z, p) = (n.inputs[0], o!)
            let N = shape(z).last!, rows = count(z) / N
            params = [("logits", z, false), ("probs", p, true)]
            what = "softmax"
            doc = "row-wise softmax of logits[\(rows), \(N)]"
            body = """
                for (int r = 0; r < \(rows); r++) {
                    const \(R) *zr = logits + r * \(N);
                    \(R) *pr = probs + r * \(N);
                    \(R) mx = zr[0];
                    for (int j = 1; j < \(N); j++) if (zr[j] > mx) mx = zr[j];
                    \(R) sum = 0;
                    for (int j = 0; j < \(N); j++) { pr[j] = \(c.fn("exp"))(zr[j] - mx); sum += pr[j]; }
                    for (int j = 0; j < \(N); j++) pr[j] /= sum;
                }
            """
        case .crossEntropy:
            let (p, lab) = (n.inputs[0], n.inputs[1])
            let N = shape(p).last!, rows = count(p) / N
            params = [("probs", p, false), ("labels", lab, false), ("loss", o!, true)]
            what = "cross_entropy"
            doc = "loss = mean over \(rows) rows of -log probs[label]"
            body = """
                double sum = 0;
                for (int r = 0; r < \(rows); r++) sum -= log((double)probs[r * \(N) + labels[r]]);
                loss[0] = (\(R))(sum / \(rows));
            """
        case .crossEntropyGrad:
            let (p, lab) = (n.inputs[0], n.inputs[1])
            let N = shape(p).last!, rows = count(p) / N
            params = [("probs", p, false), ("labels", lab, false), ("dprobs", o!, true)]
            what = "cross_entropy_backward"
            doc = "dprobs = -1 / (\(rows) probs[label]) at the label, 0 elsewhere"
            body = """
                for (int i = 0; i < \(rows * N); i++) dprobs[i] = 0;
                for (int r = 0; r < \(rows); r++) dprobs[r * \(N) + labels[r]] = -1 / (\(rows) * probs[r * \(N) + labels[r]]);
            """
        case .softmaxGrad:
            let (p, dp) = (n.inputs[0], n.inputs[1])
            let N = shape(p).last!, rows = count(p) / N
            params = [("probs", p, false), ("dprobs", dp, false), ("dlogits", o!, true)]
            what = "softmax_backward"
            doc = "dlogits = probs * (dprobs - sum(dprobs * probs)) per row"
            body = """
                for (int r = 0; r < \(rows); r++) {
                    \(R) dot = 0;
                    for (int j = 0; j < \(N); j++) dot += dprobs[r * \(N) + j] * probs[r * \(N) + j];
                    for (int j = 0; j < \(N); j++) dlogits[r * \(N) + j] = probs[r * \(N) + j] * (dprobs[r * \(N) + j] - dot);
                }
            """
        case .softmaxCrossEntropy:
            let (z, lab) = (n.inputs[0], n.inputs[1])
            let N = shape(z).last!, rows = count(z) / N
            params = [("logits", z, false), ("labels", lab, false), ("loss", n.outputs[0], true), ("dlogits", n.outputs[1], true)]
            what = "forward_backward"
            doc = "loss = mean over \(rows) rows of logsumexp(logits) - logits[label]; dlogits = (softmax - onehot) / \(rows)"
            body = """
                double total = 0;
                for (int r = 0; r < \(rows); r++) {
                    const \(R) *zr = logits + r * \(N);
                    \(R) *dr = dlogits + r * \(N);
                    \(R) mx = zr[0];
                    for (int j = 1; j < \(N); j++) if (zr[j] > mx) mx = zr[j];
                    \(R) sum = 0;
                    for (int j = 0; j < \(N); j++) { dr[j] = \(c.fn("exp"))(zr[j] - mx); sum += dr[j]; }
                    total += (double)mx + log((double)sum) - (double)zr[labels[r]];
                    const \(R) scale = 1 / (sum * \(rows));
                    for (int j = 0; j < \(N); j++) dr[j] *= scale;
                    dr[labels[r]] -= \(c.lit(1.0 / Double(rows)));
                }
                loss[0] = (\(R))(total / \(rows));
            """
        case .mse:
            let (yh, y) = (n.inputs[0], n.inputs[1])
            params = [("pred", yh, false), ("target", y, false), ("loss", o!, true)]
            what = "forward"
            doc = "loss = mean over \(count(yh)) elements of (pred - target)^2"
            body = """
                double sum = 0;
                for (int i = 0; i < \(count(yh)); i++) { const double d = (double)pred[i] - (double)target[i]; sum += d * d; }
                loss[0] = (\(R))(sum / \(count(yh)));
            """
        case .mseGrad:
            let (yh, y) = (n.inputs[0], n.inputs[1])
            params = [("pred", yh, false), ("target", y, false), ("dpred", o!, true)]
            what = "backward"
            doc = "dpred = 2 (pred - target) / \(count(yh))"
            body = """
                for (int i = 0; i < \(count(yh)); i++) dpred[i] = (pred[i] - target[i]) * \(c.lit(2.0 / Double(count(yh))));
            """
        case .bceWithLogits:
            let (z, y) = (n.inputs[0], n.inputs[1])
            params = [("logits", z, false), ("target", y, false), ("loss", o!, true)]
            what = "forward"
            doc = "loss = mean over \(count(z)) elements of max(z, 0) - z y + log1p(exp(-|z|)) (no overflow)"
            body = """
                double sum = 0;
                for (int i = 0; i < \(count(z)); i++) {
                    const double zi = logits[i];
                    sum += (zi > 0 ? zi : 0) - zi * (double)target[i] + log1p(exp(-fabs(zi)));
                }
                loss[0] = (\(R))(sum / \(count(z)));
            """
        case .bceWithLogitsGrad:
            let (z, y) = (n.inputs[0], n.inputs[1])
            params = [("logits", z, false), ("target", y, false), ("dlogits", o!, true)]
            what = "backward"
            doc = "dlogits = (sigmoid(z) - target) / \(count(z))"
            body = """
                for (int i = 0; i < \(count(z)); i++) {
                    const \(R) zi = logits[i];
                    const \(R) s = zi >= 0 ? 1 / (1 + \(c.fn("exp"))(-zi)) : \(c.fn("exp"))(zi) / (1 + \(c.fn("exp"))(zi));
                    dlogits[i] = (s - target[i]) * \(c.lit(1.0 / Double(count(z))));
                }
            """
        case .optimizerUpdate, .optimizerStep:
            return nil  // emitted from the optimizer templates
        }
        let base = cIdentifier(n.layerPath) + "_" + (n.layerType.isEmpty ? "" : n.layerType + "_") + what
        let name = uniqueName(base)
        let fused = n.fusedBy.isEmpty ? "" : "\n * fused: " + n.fusedBy.joined(separator: ", ")
        let comment = "/* \(n.layerPath) (\(n.layerType)), \(n.phase.rawValue): \(doc.trimmingCharacters(in: " "))\(fused) */"
        _ = layer
        return Kernel(name: name, comment: comment, params: params.map { (name: $0.0, tensor: $0.1, writes: $0.2) },
                      body: body, inputGradientOnly: n.inputGradientOnly,
                      optionalOutput: n.optionalFirstOutput ? n.outputs.first : nil, scratch: scratch)
    }

    mutating func layerNormForwardBody(rows: Int, C: Int, eps: Double, affine: Bool, out: String, ep: String) -> String {
        let scale = affine ? " * weight[k] + bias[k]" : ""
        usedHelpers.formUnion(["sum", "sumsq_dev", "row_stats"])
        return """
            \(c.helper("row_stats"))(\(rows), \(C), \(c.lit(eps)), x, mean, rstd);  /* mean and 1/std of every row */
            for (int r = 0; r < \(rows); r++) {
                const \(R) *xr = x + r * \(C);
                const \(R) mu = mean[r], rs = rstd[r];
                for (int k = 0; k < \(C); k++) {
                    \(R) v = (xr[k] - mu) * rs\(scale);

        """ + (ep.isEmpty ? "" : ep + "\n") + """
                    \(out)[r * \(C) + k] = v;
                }
            }
        """
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = self[...]
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

// MARK: - matrix products as register tiles

/// How the tiles of one product read their right-hand operand `b(p, j)`.
enum ProductB {
    /// `b(p, j) = B[p * stride + j]`: rows of B run along the output columns. Panels are
    /// copied into a contiguous buffer first unless `ProductShape.inPlace`.
    case rows(String, stride: Int)
    /// `b(p, j) = B[j * stride + p]`: B is stored transposed; panels are packed first.
    case transposed(String, stride: Int)
    /// Already packed by the kernel: the panel of columns `j0 ..< j0 + w` is at `B + j0 * depth`,
    /// `depth` rows of `w` (`w` = the panel's width: a full tile, or the last panel's vectors).
    case panels(String)
}

/// One product `C[rows, cols] = sum over p < depth of a(i, p) b(p, j)`, with
/// `a(i, p) = A[i * aRow + p * aStep]` and C row-major with `cols` columns.
struct ProductShape {
    var rows: Int, cols: Int, depth: Int
    var a: String, aRow: Int, aStep: Int
    var b: ProductB
    var c: String
    /// Whether the tiles add to what C holds (an expression: `"0"`, `"1"`, `"b > 0"`).
    var accumulate = "0"
    /// `.rows` operands are read where they are (the caller guarantees whole readable panels).
    var inPlace = false
    /// Whether the column panels may be shared among threads.
    var parallel = true
    /// Indentation of the emitted loops.
    var indent = "    "
    /// Multiply-adds of the product.
    var macs: Int { rows * cols * depth }
}

extension KernelWriter {
    /// Products of at least this many multiply-adds split their column panels over threads
    /// (`NN_PARALLEL_FOR`, OpenMP when compiled with it); smaller ones would lose more to the
    /// fork and join than they gain.
    static let parallelMinimumMACs = 1 << 21

    /// Elementwise loops over at least this many elements (epilogues, the optimizer) are shared
    /// among threads too.
    static let parallelMinimumElements = 1 << 15

    /// Bytes of one packed panel of b at most (the stack buffer `bp` of a product kernel): it
    /// stays in the level-1 cache while the row tiles stream past it.
    static let packBytes = 16384

    /// Operands stored by rows are read in place when the rows a panel spans fit in this many
    /// bytes (a level-1-sized window); longer strided panels are copied, which keeps them in cache.
    static let inPlaceBytes = 65536

    /// The longest run of the reduction packed at once.
    var packDepth: Int { KernelWriter.packBytes / (c.tileColumns * c.scalar.size) }

    /// Whether `productLoops` runs row tiles outermost for this product: `a` read down its columns
    /// (`aRow` 1), `b` stored by rows and read in place, at least one full panel, and a strip of
    /// `a` small enough to pack on the stack.
    func stripsOutermost(_ s: ProductShape) -> Bool {
        guard case .rows(_, let stride) = s.b, s.aRow == 1, s.aStep != 1, s.cols >= c.tileColumns else { return false }
        let bInPlace = s.inPlace || s.depth * stride * c.scalar.size <= KernelWriter.inPlaceBytes
        return bInPlace && s.depth * CSyntax.tileRows * c.scalar.size <= KernelWriter.packBytes * 2
    }

    /// Loops over the register tiles of a product, with literal bounds: column panels of
    /// `tileColumns` (16 floats, 8 doubles), rows in tiles of 6 and one shorter tile for the
    /// rest, and a last, narrower panel for the remaining columns (read from a zero-padded
    /// copy). Panels are packed into a stack buffer in blocks of at most `packDepth` along the
    /// reduction; each block's tiles add to what the previous ones left in C, continuing the
    /// same chain of multiply-adds.
    mutating func productLoops(_ s: ProductShape) -> String {
        let R = c.real, NB = c.tileColumns, w = c.lanes, TR = CSyntax.tileRows
        let tile = c.helper("tile"), packN = c.helper("pack_n"), packT = c.helper("pack_t")
        usedHelpers.insert("tile")
        let fullCols = s.cols / NB * NB, edgeCols = s.cols - fullCols
        // Rows in tiles of 6 and 5 when they add up (any count from 20 on), else 6s and the rest.
        let sixes = stride(from: s.rows / TR, through: 0, by: -1).first { (s.rows - TR * $0) % (TR - 1) == 0 }
        let fullRows = TR * (sixes ?? s.rows / TR)
        let fives = sixes == nil ? 0 : (s.rows - fullRows) / (TR - 1)
        let edgeRows = s.rows - fullRows - (TR - 1) * fives
        let parallel = s.parallel && s.macs >= KernelWriter.parallelMinimumMACs && s.cols / NB >= 2
        func plus(_ base: String, _ terms: [String?]) -> String {
            let t = terms.compactMap { $0 }
            return t.isEmpty ? base : base + " + " + t.joined(separator: " + ")
        }

        // The tiles of one panel whose columns start at `col`, `n` columns wide in `V` vectors,
        // reading b from `bExpr` with row stride `sb`, over reduction rows `k0 ..< k0 + kc`.
        func tiles(col: String, n: Int, V: Int, bExpr: String, sb: Int, k0: String, kc: Int, acc: String,
                   indent: String) -> String {
            func call(_ rows: Int, _ m0: String) -> String {
                let aBase = plus(s.a, [m0 == "0" ? nil : (s.aRow == 1 ? m0 : "\(m0) * \(s.aRow)"),
                                       k0 == "0" ? nil : (s.aStep == 1 ? k0 : "\(k0) * \(s.aStep)")])
                let cBase = plus(s.c, [m0 == "0" ? nil : "\(m0) * \(s.cols)", col == "0" ? nil : col])
                return "\(tile)(\(rows), \(V), \(n), \(kc), \(aBase), \(s.aRow), \(s.aStep), \(bExpr), \(sb), "
                    + "\(cBase), \(s.cols), \(acc));"
            }
            var out = ""
            if fullRows == TR {
                out += indent + call(TR, "0") + "\n"
            } else if fullRows > 0 {
                out += indent + "for (int i0 = 0; i0 < \(fullRows); i0 += \(TR)) " + call(TR, "i0") + "\n"
            }
            if fives == 1 {
                out += indent + call(TR - 1, "\(fullRows)") + "\n"
            } else if fives > 1 {
                out += indent + "for (int i0 = \(fullRows); i0 < \(s.rows); i0 += \(TR - 1)) " + call(TR - 1, "i0") + "\n"
            }
            if edgeRows > 0 { out += indent + call(edgeRows, "\(fullRows)") + "\n" }
            return out
        }

        // One panel (full or the edge): in place, pre-packed, or packed block by block.
        func panel(col: String, n: Int, indent: String) -> String {
            let V = (n + w - 1) / w, width = V * w
            let pack: (String, Int) -> String  // (k0, rows) -> the statement packing them
            switch s.b {
            case .rows(let B, let stride) where s.inPlace || (n == NB && s.depth * stride * c.scalar.size <= KernelWriter.inPlaceBytes):
                return tiles(col: col, n: n, V: V, bExpr: plus(B, [col == "0" ? nil : col]), sb: stride, k0: "0",
                             kc: s.depth, acc: s.accumulate, indent: indent)
            case .panels(let B):
                return tiles(col: col, n: n, V: V, bExpr: plus(B, [col == "0" ? nil : "\(col) * \(s.depth)"]), sb: width,
                             k0: "0", kc: s.depth, acc: s.accumulate, indent: indent)
            case .rows(let B, let stride):
                usedHelpers.insert("pack_n")
                pack = { k0, kc in
                    "\(packN)(\(kc), \(n), \(width), \(plus(B, [k0 == "0" ? nil : "\(k0) * \(stride)", col == "0" ? nil : col])), \(stride), bp);"
                }
            case .transposed(let B, let stride):
                usedHelpers.insert("pack_t")
                pack = { k0, kc in
                    "\(packT)(\(kc), \(n), \(width), \(plus(B, [col == "0" ? nil : "\(col) * \(stride)", k0 == "0" ? nil : k0])), \(stride), bp);"
                }
            }
            let blocks = (s.depth + packDepth - 1) / packDepth
            let kc = (s.depth + blocks - 1) / blocks
            let fullBlocks = s.depth / kc, tail = s.depth - fullBlocks * kc
            let later = s.accumulate == "0" ? "k0 > 0" : "k0 > 0 || (\(s.accumulate))"
            var out = indent + "\(R) bp[\(kc * width)];  /* a panel of b, packed: \(kc) rows of \(width) */\n"
            if fullBlocks == 1 {
                out += indent + pack("0", kc) + "\n"
                out += tiles(col: col, n: n, V: V, bExpr: "bp", sb: width, k0: "0", kc: kc, acc: s.accumulate, indent: indent)
            } else {
                out += indent + "for (int k0 = 0; k0 < \(fullBlocks * kc); k0 += \(kc)) {\n"
                out += indent + "    " + pack("k0", kc) + "\n"
                out += tiles(col: col, n: n, V: V, bExpr: "bp", sb: width, k0: "k0", kc: kc, acc: later, indent: indent + "    ")
                out += indent + "}\n"
            }
            if tail > 0 {
                out += indent + pack("\(fullBlocks * kc)", tail) + "\n"
                out += tiles(col: col, n: n, V: V, bExpr: "bp", sb: width, k0: "\(fullBlocks * kc)", kc: tail, acc: "1", indent: indent)
            }
            return out
        }

        let i = s.indent
        var out = ""
        // a read down columns (a(i, p) = A[i + p * aStep], the weight gradient's dout^T) and b read in
        // place: row tiles outermost, each tile's a packed once into a contiguous strip, then every
        // panel. (Panels outermost would stream all of a, at a stride, once per panel.)
        if stripsOutermost(s), case .rows(let B, let stride) = s.b {
            usedHelpers.insert("pack_n")
            func strip(_ rows: Int, first: Int, count: Int) -> String {
                guard count > 0 else { return "" }
                let loop = count == 1 ? "{\n" : "for (int i0 = \(first); i0 < \(first + rows * count); i0 += \(rows)) {\n"
                let i0 = count == 1 ? "\(first)" : "i0"
                var t = i + loop
                t += i + "    \(R) ap[\(s.depth * rows)];  /* rows \(i0) ... of a, as \(s.depth) rows of \(rows) */\n"
                t += i + "    \(packN)(\(s.depth), \(rows), \(rows), \(plus(s.a, [i0 == "0" ? nil : i0])), \(s.aStep), ap);\n"
                t += i + "    for (int j0 = 0; j0 < \(fullCols); j0 += \(NB)) \(tile)(\(rows), 2, \(NB), \(s.depth), ap, 1, \(rows), "
                    + "\(B) + j0, \(stride), \(plus(s.c, [i0 == "0" ? nil : "\(i0) * \(s.cols)"])) + j0, \(s.cols), \(s.accumulate));\n"
                return t + i + "}\n"
            }
            if parallel && fullRows / TR >= 2 { out += i + "NN_PARALLEL_FOR\n" }
            out += strip(TR, first: 0, count: fullRows / TR)
            out += strip(TR - 1, first: fullRows, count: fives)
            out += strip(edgeRows, first: fullRows + (TR - 1) * fives, count: edgeRows > 0 ? 1 : 0)
            if edgeCols > 0 {
                out += i + "{   /* the last \(edgeCols) column\(edgeCols == 1 ? "" : "s") */\n"
                    + panel(col: "\(fullCols)", n: edgeCols, indent: i + "    ") + i + "}\n"
            }
            return out
        }
        if fullCols == NB {
            out += i + "{\n" + panel(col: "0", n: NB, indent: i + "    ") + i + "}\n"
        } else if fullCols > 0 {
            if parallel { out += i + "NN_PARALLEL_FOR\n" }
            out += i + "for (int j0 = 0; j0 < \(fullCols); j0 += \(NB)) {\n" + panel(col: "j0", n: NB, indent: i + "    ") + i + "}\n"
        }
        if edgeCols > 0 {
            out += i + "{   /* the last \(edgeCols) column\(edgeCols == 1 ? "" : "s") */\n"
                + panel(col: "\(fullCols)", n: edgeCols, indent: i + "    ") + i + "}\n"
        }
        return out
    }

    /// The epilogue steps of a kernel as helper calls over its whole output `out` (`rows` x `cols`),
    /// one line each; every parameter the fused per-element form takes is used (`(void)` if not).
    mutating func epilogueSteps(_ n: Node, out: String, rows: Int, cols: Int) -> (params: [(String, TensorID, Bool)], lines: [String]) {
        var lines: [String] = []
        let total = rows * cols
        for (k, e) in n.epilogue.enumerated() {
            switch e {
            case .bias:
                usedHelpers.insert("bias_rows")
                lines.append("\(c.helper("bias_rows"))(\(rows), \(cols), \(out), bias);")
            case .store:
                let name = "keep\(k)"
                lines.append("memcpy(\(name), \(out), \(total) * sizeof(\(c.real)));  /* kept for backward */")
            case .activation(let a):
                guard let h = c.activationHelper(a) else { continue }
                usedHelpers.insert(h.base)
                lines.append("\(c.helper(h.base))(\(total), \(out)\(h.extra));  /* \(a.name) */")
            case .add:
                let name = n.phase == .forward ? (n.epilogue.filter { if case .add = $0 { return true }; return false }.count > 1 ? "residual\(k)" : "residual") : "grad_other\(k)"
                usedHelpers.insert("add")
                lines.append("\(c.helper("add"))(\(total), \(out), \(name));\(n.phase == .forward ? "  /* residual add */" : "  /* gradients meeting at a fork */")")
            case .activationDerivative(let a, _, let fromOutput):
                let name = fromOutput ? "act_out\(k)" : "act_in\(k)"
                guard let h = c.derivativeHelper(a, fromOutput: fromOutput) else { continue }
                usedHelpers.insert(h.base)
                lines.append("\(c.helper(h.base))(\(total), \(out), \(name)\(h.extra));  /* * \(a.name)' */")
            }
        }
        let params = epilogue(n, index: "i", col: "j", indent: "").params
        for p in params where !lines.contains(where: { $0.contains(p.0) }) {
            lines.append("(void)\(p.0);  /* read by the identity's derivative only */")
        }
        return (params, lines)
    }

    /// The epilogue of a product, applied to its whole output `out` (`rows` x `cols`) after the
    /// tiles: one fused loop doing every step per element; or, where `NN_PRECOMPILED` (tcc with
    /// nngen's precompiled helpers), one vectorised helper pass per step, which tcc's own code
    /// could not match. Returns the extra parameters and the statements.
    mutating func epiloguePasses(_ n: Node, out: String, rows: Int, cols: Int) -> (params: [(String, TensorID, Bool)], code: String) {
        let (params, lines) = epilogueSteps(n, out: out, rows: rows, cols: cols)
        if lines.isEmpty { return (params, "") }
        let fused = epilogue(n, index: "i", col: "j", indent: "            ")
        let code = """
            #ifndef NN_PRECOMPILED
            \(rows * cols >= KernelWriter.parallelMinimumElements && rows >= 2 ? "    NN_PARALLEL_FOR\n" : "")    for (int r = 0; r < \(rows); r++)
                    for (int j = 0; j < \(cols); j++) {
                        const int i = r * \(cols) + j;
                        \(c.real) v = \(out)[i];
            \(fused.code)
                        \(out)[i] = v;
                    }
            #else

            """ + lines.map { "    " + $0 }.joined(separator: "\n") + "\n#endif"
        return (params, code)
    }
}

// MARK: - conv1d as products

extension KernelWriter {
    /// Bytes a product-form conv1d kernel may put on the stack for one buffer; bigger weight
    /// panels go to arena scratch, bigger padded samples fall back to the direct loops.
    static let convStackBytes = 65536

    /// A buffer of `elements` for packed weights: on the stack when small, else `scratch + offset`.
    /// Returns the declaration and the scratch elements used.
    func convBuffer(_ name: String, elements: Int, scratchOffset: Int, what: String) -> (decl: String, scratch: Int) {
        if elements * c.scalar.size <= KernelWriter.convStackBytes {
            return ("    \(c.real) \(name)[\(elements)];  /* \(what) */\n", 0)
        }
        let at = scratchOffset == 0 ? "scratch" : "scratch + \(scratchOffset)"
        return ("    \(c.real) *const \(name) = \(at);  /* \(what); arena scratch */\n", scratchOffset + elements)
    }

    /// Columns of the packed panels of `cols` output columns: whole tiles, then the last
    /// panel rounded up to whole vectors.
    func paddedColumns(_ cols: Int) -> Int {
        let NB = c.tileColumns, w = c.lanes
        return cols / NB * NB + (cols % NB + w - 1) / w * w
    }

    /// Packs `weight[oc][ic][j]` into panels of output columns for a product whose reduction
    /// index is `p = j' * inner + q`: `panel[j0 * depth + p * width + (col - j0)]`.
    /// `index(col, jp, q)` gives the weight element of output column `col`, kernel row `jp`, inner index `q`.
    func convPackLoops(into name: String, cols: Int, taps: Int, inner: Int, index: String) -> String {
        let NB = c.tileColumns, padded = paddedColumns(cols), depth = taps * inner
        let full = cols / NB * NB, edgeWidth = padded - full
        let width = edgeWidth == 0 ? "\(NB)" : "(col < \(full) ? \(NB) : \(edgeWidth))"
        return """
            for (int col = 0; col < \(padded); col++) {
                const int j0 = col / \(NB) * \(NB), width = \(width);
                for (int jp = 0; jp < \(taps); jp++)
                    for (int q = 0; q < \(inner); q++)
                        \(name)[j0 * \(depth) + (jp * \(inner) + q) * width + col - j0] = \(padded > cols ? "col < \(cols) ? \(index) : 0" : index);
            }

        """
    }

    /// Copies sample `b` of a `[B, rows, ch]` tensor into a zeroed buffer at row `offset`.
    func paddedCopy(into name: String, from src: String, rows: Int, ch: Int, offset: Int, total: Int) -> String {
        let R = c.real
        var s = ""
        if offset > 0 { s += "        memset(\(name), 0, \(offset * ch) * sizeof(\(R)));\n" }
        s += "        memcpy(\(name)\(offset > 0 ? " + \(offset * ch)" : ""), \(src) + b * \(rows * ch), \(rows * ch) * sizeof(\(R)));\n"
        if total > offset * ch + rows * ch {
            s += "        memset(\(name) + \(offset * ch + rows * ch), 0, \(total - offset * ch - rows * ch) * sizeof(\(R)));\n"
        }
        return s
    }

    /// conv1d forward as one product per sample: output positions x output channels, reduced
    /// over `p = j * C_in + ic`. With dilation 1 the `k * C_in` inputs of position t are
    /// contiguous in the zero-padded sample, so the rows of the product are read in place.
    func convForwardFits(_ at: Conv1DAttributes) -> Bool {
        let rows = max((at.outLength - 1) * at.stride + at.kernel, at.padLeft + at.inLength)
        return at.dilation == 1 && rows * at.inChannels * c.scalar.size <= KernelWriter.convStackBytes
    }

    mutating func convProductForward(_ at: Conv1DAttributes, batch B: Int) -> (body: String, scratch: Int) {
        let (Cin, Cout, k, s, L, Lo, padL) = (at.inChannels, at.outChannels, at.kernel, at.stride, at.inLength, at.outLength, at.padLeft)
        let depth = k * Cin
        let rows = max((Lo - 1) * s + k, padL + L)  // rows of the padded sample
        let xpElements = rows * Cin
        let wp = convBuffer("wp", elements: paddedColumns(Cout) * depth, scratchOffset: 0,
                            what: "weight as panels of output channels, rows p = j * \(Cin) + ic")
        var body = "    /* conv1d as a product per sample: out[t][oc] = sum over p of xp[t * \(s * Cin) + p] * wp(p, oc) */\n"
        body += wp.decl
        body += convPackLoops(into: "wp", cols: Cout, taps: k, inner: Cin, index: "weight[(col * \(Cin) + q) * \(k) + jp]")
        let direct = padL == 0 && rows <= L
        let macs = B * Lo * Cout * depth
        if macs >= KernelWriter.parallelMinimumMACs { body += "    NN_PARALLEL_FOR\n" }
        body += "    for (int b = 0; b < \(B); b++) {\n"
        if direct {
            body += "        const \(c.real) *xp = x + b * \(L * Cin);  /* no padding: the sample itself */\n"
        } else {
            body += "        \(c.real) xp[\(xpElements)];  /* the sample with \(padL) zero rows before and \(rows - padL - L) after */\n"
            body += paddedCopy(into: "xp", from: "x", rows: L, ch: Cin, offset: padL, total: xpElements)
        }
        body += productLoops(ProductShape(rows: Lo, cols: Cout, depth: depth, a: "xp", aRow: s * Cin, aStep: 1,
                                            b: .panels("wp"), c: "out + b * \(Lo * Cout)", parallel: false,
                                            indent: "        "))
        body += "    }\n"
        return (body, wp.scratch)
    }

    /// conv1d input gradient (stride 1, dilation 1) as a product per sample: input positions x
    /// input channels, reduced over `p = j' * C_out + oc` with `j' = k - 1 - j` (the kernel
    /// flipped), reading the output gradient zero-padded by `k - 1 - pad_left` rows in place.
    func convInputFits(_ at: Conv1DAttributes) -> Bool {
        at.dilation == 1 && at.stride == 1 && at.padLeft <= at.kernel - 1 && at.outLength <= at.inLength + at.padLeft
            && (at.inLength + at.kernel - 1) * at.outChannels * c.scalar.size <= KernelWriter.convStackBytes
    }

    mutating func convProductInput(_ at: Conv1DAttributes, batch B: Int) -> (body: String, scratch: Int) {
        let (Cin, Cout, k, L, Lo, padL) = (at.inChannels, at.outChannels, at.kernel, at.inLength, at.outLength, at.padLeft)
        let depth = k * Cout
        let rows = L + k - 1, lead = k - 1 - padL
        let ypElements = rows * Cout
        let wq = convBuffer("wq", elements: paddedColumns(Cin) * depth, scratchOffset: 0,
                            what: "weight flipped, as panels of input channels, rows p = j' * \(Cout) + oc")
        var body = "    /* the input gradient as a product per sample: dx[t][ic] = sum over p of yp[t * \(Cout) + p] * wq(p, ic) */\n"
        body += wq.decl
        body += convPackLoops(into: "wq", cols: Cin, taps: k, inner: Cout, index: "weight[(q * \(Cin) + col) * \(k) + \(k - 1) - jp]")
        let macs = B * L * Cin * depth
        if macs >= KernelWriter.parallelMinimumMACs { body += "    NN_PARALLEL_FOR\n" }
        body += "    for (int b = 0; b < \(B); b++) {\n"
        body += "        \(c.real) yp[\(ypElements)];  /* dout of the sample with \(lead) zero rows before and \(rows - lead - Lo) after */\n"
        body += paddedCopy(into: "yp", from: "dout", rows: Lo, ch: Cout, offset: lead, total: ypElements)
        body += productLoops(ProductShape(rows: L, cols: Cin, depth: depth, a: "yp", aRow: Cout, aStep: 1,
                                            b: .panels("wq"), c: "dx + b * \(L * Cin)", parallel: false,
                                            indent: "        "))
        body += "    }\n"
        return (body, wq.scratch)
    }

    /// conv1d weight gradient (dilation 1) as products accumulated over the samples: output
    /// channels x `p = j * C_in + ic`, reduced over positions, rows of the zero-padded sample
    /// read in place; then permuted into the `[C_out, C_in, k]` layout.
    func convWeightFits(_ at: Conv1DAttributes) -> Bool {
        let rows = max((at.outLength - 1) * at.stride + at.kernel, at.padLeft + at.inLength)
        return at.dilation == 1 && (rows * at.inChannels + c.tileColumns) * c.scalar.size <= KernelWriter.convStackBytes
    }

    mutating func convProductWeight(_ at: Conv1DAttributes, batch B: Int) -> (body: String, scratch: Int) {
        let (Cin, Cout, k, s, L, Lo, padL) = (at.inChannels, at.outChannels, at.kernel, at.stride, at.inLength, at.outLength, at.padLeft)
        let depth = k * Cin
        let rows = max((Lo - 1) * s + k, padL + L)
        let xpElements = rows * Cin + c.tileColumns  // + slack: the last panel reads whole vectors
        let dwt = convBuffer("dwt", elements: Cout * depth, scratchOffset: 0,
                             what: "the gradient as [oc][j * \(Cin) + ic]")
        var body = "    /* dwt[oc][p] = sum over samples b, positions t of dout[b][t][oc] * xp_b[t * \(s * Cin) + p] */\n"
        body += dwt.decl
        body += "    for (int b = 0; b < \(B); b++) {\n"
        body += "        \(c.real) xp[\(xpElements)];  /* the sample with \(padL) zero rows before, zeros after */\n"
        body += paddedCopy(into: "xp", from: "x", rows: L, ch: Cin, offset: padL, total: xpElements)
        body += productLoops(ProductShape(rows: Cout, cols: depth, depth: Lo, a: "dout + b * \(Lo * Cout)", aRow: 1,
                                            aStep: Cout, b: .rows("xp", stride: s * Cin), c: "dwt", accumulate: "b > 0",
                                            inPlace: true, indent: "        "))
        body += "    }\n"
        body += """
            for (int oc = 0; oc < \(Cout); oc++)
                for (int ic = 0; ic < \(Cin); ic++)
                    for (int j = 0; j < \(k); j++) dweight[(oc * \(Cin) + ic) * \(k) + j] = dwt[oc * \(depth) + j * \(Cin) + ic];

        """
        return (body, dwt.scratch)
    }
}
