import ModelSpec

// Layernorm: forward and backward through the layernorm helpers, and the unfused pieces
// (normalise, scale and shift) the graph has without the layernorm fusion rules.

extension KernelWriter {
    func scaleShift(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (xhat, w, b) = (n.inputs[0], n.inputs[1], n.inputs[2])
        let C = shape(w)[0], rows = count(xhat) / C
        let ep = epilogue(n, index: "r * \(C) + k", col: "k", indent: "        ")
        kern.params = [("xhat", xhat, false), ("weight", w, false), ("bias", b, false)] + ep.params + [("out", n.outputs[0], true)]
        kern.what = "scale_shift"
        kern.doc = "out = xhat * weight + bias, \(rows) rows of \(C) \(epilogueDoc(n))"
        kern.body = """
            for (int r = 0; r < \(rows); r++)
                for (int k = 0; k < \(C); k++) {
                    \(R) v = xhat[r * \(C) + k] * weight[k] + bias[k];
        \(ep.code)
                    out[r * \(C) + k] = v;
                }
        """
        return kern
    }

    func scaleShiftBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, xhat, w) = (n.inputs[0], n.inputs[1], n.inputs[2])
        let C = shape(w)[0], rows = count(dy) / C
        kern.params = [("dout", dy, false), ("xhat", xhat, false), ("weight", w, false),
                  ("dxhat", n.outputs[0], true), ("dweight", n.outputs[1], true), ("dbias", n.outputs[2], true)]
        kern.what = "scale_shift_backward"
        kern.doc = "dxhat = dout * weight; dweight = sum dout * xhat; dbias = sum dout; \(rows) rows of \(C)"
        kern.body = """
            for (int k = 0; k < \(C); k++) { dweight[k] = 0; dbias[k] = 0; }
            for (int r = 0; r < \(rows); r++)
                for (int k = 0; k < \(C); k++) {
                    const int i = r * \(C) + k;
                    dxhat[i] = dout[i] * weight[k];
                    dweight[k] += dout[i] * xhat[i];
                    dbias[k] += dout[i];
                }
        """
        return kern
    }

    func layerNormalizeBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (dxh, xhat, rstd) = (n.inputs[0], n.inputs[1], n.inputs[2])
        let C = shape(xhat).last!, rows = count(xhat) / C
        let ep = epilogue(n, index: "r * \(C) + k", col: "k", indent: "            ")
        kern.params = [("dxhat", dxh, false), ("xhat", xhat, false), ("rstd", rstd, false)] + ep.params + [("dx", n.outputs[0], true)]
        kern.what = "normalize_backward"
        kern.doc = "dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), \(rows) rows of \(C) \(epilogueDoc(n))"
        kern.body = """
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
        return kern
    }

    /// Layernorm forward: `nn_layernorm` (each row's mean and 1/std, then the normalised row,
    /// scaled and shifted when affine), then the epilogue as passes.
    func layerNorm(_ n: Node, eps: Double, affine: Bool) -> KernelParts {
        var kern = KernelParts(n)
        let x = n.inputs[0]
        let C = shape(x).last!, rows = count(x) / C
        let ep = epilogueSteps(n, out: "out", rows: rows, cols: C)
        kern.params = [("x", x, false)] + (affine ? [("weight", n.inputs[1], false), ("bias", n.inputs[2], false)] : [])
            + ep.params + [("out", n.outputs[0], true), ("mean", n.outputs[1], true), ("rstd", n.outputs[2], true)]
        kern.what = "forward"
        kern.doc = "layernorm over the last axis, \(rows) rows of \(C), eps \(c.lit(eps))\(affine ? ", * weight + bias" : "") \(epilogueDoc(n)); keeps mean and 1/std"
        kern.body = "    /* out[r][k] = (x[r][k] - mean[r]) * rstd[r]\(affine ? " * weight[k] + bias[k]" : ""), rstd[r] = 1 / sqrt(var[r] + eps) */\n"
            + layerNormRows(rows: rows, C: C, body: { n, r0 in
                let at = r0 == "0" ? "" : " + \(r0)", atRow = r0 == "0" ? "" : " + \(r0) * \(C)"
                return "\(Helper.layerNorm.name(c))(\(n), \(C), \(c.lit(eps)), x\(atRow), \(affine ? "weight, bias" : "NULL, NULL"), out\(atRow), mean\(at), rstd\(at));"
            })
            + (ep.code.isEmpty ? "" : "\n" + ep.code)
        return kern
    }

    /// The layernorm forward call over all rows, or, when the rows hold at least
    /// `parallelMinimumElements` values, over chunks of rows (multiples of eight, so each chunk's
    /// statistics are reduced in the same blocks) shared among threads: rows are independent, the
    /// results the same. `call(n, r0)` is the call over `n` rows from row `r0`.
    func layerNormRows(rows: Int, C: Int, body call: (String, String) -> String) -> String {
        guard rows * C >= KernelWriter.parallelMinimumElements, rows >= 16 else { return "    " + call("\(rows)", "0") }
        let chunk = (rows + 63) / 64 * 8, full = rows / chunk * chunk
        var s = "    NN_PARALLEL_FOR  /* chunks of \(chunk) rows */\n"
        s += "    for (int r0 = 0; r0 < \(full); r0 += \(chunk)) " + call("\(chunk)", "r0")
        if full < rows { s += "\n    /* the last \(rows - full) rows */\n    " + call("\(rows - full)", "\(full)") }
        return s
    }

    /// Layernorm backward shared among threads (in threaded builds), the same bits as one call over all rows: dx in
    /// chunks of rows (each chunk's helper call with its own 8-row buffers, and its own dweight
    /// and dbias, which are dropped), then dweight and dbias again, row after row in order, as the
    /// helper sums them (`xh = (x - mean) * rstd`, `dweight += dout * xh`, `dbias += dout`), with
    /// the columns shared among threads.
    /// `derivative`: the folded derivative's array (read from the chunk's first row too) and the
    /// arguments after it.
    func layerNormGradRows(rows: Int, C: Int, affine: Bool, helper: String, derivative: (array: String, rest: String)?) -> String {
        let block = 8 * C
        var s = layerNormRows(rows: rows, C: C, body: { n, r0 in
            let at = r0 == "0" ? "" : " + \(r0)", atRow = r0 == "0" ? "" : " + \(r0) * \(C)"
            let extra = derivative.map { ", \($0.array)\(atRow)\($0.rest)" } ?? ""
            let buffers = "\(c.local("xh", block));"
                + (affine ? " \(c.local("g", block)); \(c.local("dw", C)); \(c.local("db", C));  /* this chunk's rows; its dweight and dbias are not kept */"
                          : "  /* this chunk's rows */")
            return "{\n        \(buffers)\n        \(helper)(\(n), \(C), dout\(atRow), x\(atRow), mean\(at), rstd\(at), "
                + "\(affine ? "weight" : "NULL"), dx\(atRow), \(affine ? "dw, db" : "NULL, NULL"), xh, \(affine ? "g" : "NULL")\(extra));\n    }"
        })
        guard affine else { return s }
        // Parts of whole vectors with a literal width (two or more when C allows), else one.
        let width = stride(from: C / 2 / c.lanes * c.lanes, to: 0, by: -c.lanes).first { C % $0 == 0 } ?? C
        let loop = width < C ? "NN_PARALLEL_FOR  /* columns \(width) at a time */\n    for (int k0 = 0; k0 < \(C); k0 += \(width)) {\n"
            : "for (int k0 = 0; k0 < 1; k0++) {  /* one part: all \(C) columns */\n"
        s += """

            /* dweight[k] = sum_r dout[r][k] * xh[r][k], dbias[k] = sum_r dout[r][k]: rows in order, as the helper sums them */
            \(loop)        for (int k = k0; k < k0 + \(width); k++) dweight[k] = 0;
                for (int k = k0; k < k0 + \(width); k++) dbias[k] = 0;
                for (int r = 0; r < \(rows); r++) {
                    const \(R) *xr = x + r * \(C), *dr = dout + r * \(C);
                    const \(R) mu = mean[r], rs = rstd[r];
                    for (int k = k0; k < k0 + \(width); k++) {
                        const \(R) xh = (xr[k] - mu) * rs;
                        dweight[k] += dr[k] * xh;
                        dbias[k] += dr[k];
                    }
                }
            }
        """
        return s
    }

    /// The normalisation alone (without the layernorm fusion rules): `nn_layernorm` without weight.
    func layerNormalize(_ n: Node, eps: Double) -> KernelParts {
        var kern = KernelParts(n)
        let x = n.inputs[0]
        let C = shape(x).last!, rows = count(x) / C
        kern.params = [("x", x, false), ("xhat", n.outputs[0], true), ("mean", n.outputs[1], true), ("rstd", n.outputs[2], true)]
        kern.what = "normalize"
        kern.doc = "xhat = (x - mean) / sqrt(var + \(c.lit(eps))) over the last axis, \(rows) rows of \(C)"
        kern.body = "    \(Helper.layerNorm.name(c))(\(rows), \(C), \(c.lit(eps)), x, NULL, NULL, xhat, mean, rstd);"
        return kern
    }

    /// Layernorm backward: `nn_layernorm_grad` (eight rows at a time: each row's sums reduced
    /// together), then the epilogue as passes over dx. When the epilogue starts with an
    /// activation's derivative (the layer before the layernorm is an activation) that the helper
    /// folds (`Helper.layerNormGradFolds`), its variant multiplies dx by the derivative as it
    /// writes it, instead of a pass of its own.
    func layerNormBackward(_ n: Node, affine: Bool) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, x, mean, rstd) = (n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3])
        let C = shape(x).last!, rows = count(x) / C
        var helper = Helper.layerNormGrad(.identity, fromOutput: true)
        var derivativeArgs = "", derivativeMath = "", derivative: (array: String, rest: String)? = nil
        if case .activationDerivative(let a, _, let fromOutput)? = n.epilogue.first, a != .identity,
           let folded = Helper.layerNormGrad(times: a, fromOutput: fromOutput, c), let s = epilogueParamName(n, 0) {
            helper = folded
            derivative = (s, a.parameter.map { ", \(c.lit($0))" } ?? "")
            derivativeArgs = ", \(s)" + (derivative?.rest ?? "")
            derivativeMath = " * \(a.name)'(\(s)[r][k])"
        }
        let ep = epilogueSteps(n, out: "dx", rows: rows, cols: C, from: derivativeArgs.isEmpty ? 0 : 1)
        kern.params = [("dout", dy, false), ("x", x, false), ("mean", mean, false), ("rstd", rstd, false)]
            + (affine ? [("weight", n.inputs[4], false)] : []) + ep.params + [("dx", n.outputs[0], true)]
            + (affine ? [("dweight", n.outputs[1], true), ("dbias", n.outputs[2], true)] : [])
        kern.what = "backward"
        kern.doc = "layernorm backward, \(rows) rows of \(C): dx\(affine ? ", dweight, dbias" : "") eight rows at a time \(epilogueDoc(n))"
        // Two blocks of eight rows of scratch: on the stack when small, else in the arena.
        let block = 8 * C
        let onStack = (affine ? 2 : 1) * block * c.scalar.size <= KernelWriter.convStackBytes
        let rowBuffers = onStack ? "\(c.local("xh", block));" + (affine ? " \(c.local("g", block));" : "")
            : "\(R) *xh = scratch\(affine ? ", *g = scratch + \(block)" : "");"
        if !onStack { kern.scratch = (affine ? 2 : 1) * block }
        let math = "dx[r][k] = rstd[r] * (g[r][k] - mean_k g[r] - xh[r][k] * mean_k (g xh)[r])\(derivativeMath), xh = (x - mean) * rstd, g = dout"
            + (affine ? " * weight; dweight[k] = sum_r dout[r][k] * xh[r][k], dbias[k] = sum_r dout[r][k]" : "")
        let call = "\(helper.name(c))(\(rows), \(C), dout, x, mean, rstd, \(affine ? "weight" : "NULL"), dx, "
            + "\(affine ? "dweight, dbias" : "NULL, NULL"), xh, \(affine ? "g" : "NULL")\(derivativeArgs));"
        kern.body = "    \(rowBuffers)  /* 8 rows normalised\(affine ? ", and the gradients reaching them (dout * weight)" : "") */\n"
            + "    /* \(math) */\n    \(call)"
        if onStack, !n.optionalFirstOutput, rows * C >= KernelWriter.parallelMinimumElements, rows >= 16 {
            // Threaded builds only: on one thread the single call is faster (dweight and dbias once).
            kern.body = "    /* \(math) */\n#ifdef NN_THREADED\n"
                + layerNormGradRows(rows: rows, C: C, affine: affine, helper: helper.name(c), derivative: derivative)
                + "\n#else\n    \(rowBuffers)  /* 8 rows normalised\(affine ? ", and the gradients reaching them (dout * weight)" : "") */\n"
                + "    \(call)\n#endif"
        }
        if !ep.code.isEmpty {
            kern.body += "\n" + (n.optionalFirstOutput ? "    if (dx) {\n" : "    {\n")
                + ep.code.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
                + "\n    }"
        }
        return kern
    }
}
