import ModelSpec

// conv1d: as products per sample (register tiles) where the shapes allow, else direct loops.

extension KernelWriter {
    func conv1dForwardProduct(_ n: Node, _ at: Conv1DAttributes) -> KernelParts {
        let (x, w, y) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let B = shape(x)[0]
        let k = convProductForward(at, batch: B)
        return loopsWithEpilogue(n, k.body, operands: [("x", x, false), ("weight", w, false)], out: ("out", y),
                                 rows: B * at.outLength, cols: at.outChannels, what: "forward",
                                 doc: "out[\(B), \(at.outLength), \(at.outChannels)] = conv1d(x[\(B), \(at.inLength), \(at.inChannels)], weight[\(at.outChannels), \(at.inChannels), \(at.kernel)]; stride \(at.stride), left pad \(at.padLeft))",
                                 scratch: k.scratch)
    }

    func conv1dBackwardInputProduct(_ n: Node, _ at: Conv1DAttributes) -> KernelParts {
        let (dy, w, dx) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let B = shape(dx)[0]
        let k = convProductInput(at, batch: B)
        return loopsWithEpilogue(n, k.body, operands: [("dout", dy, false), ("weight", w, false)], out: ("dx", dx),
                                 rows: B * at.inLength, cols: at.inChannels, what: "backward_input",
                                 doc: "dx[\(B), \(at.inLength), \(at.inChannels)] from dout[\(B), \(at.outLength), \(at.outChannels)] and weight",
                                 scratch: k.scratch)
    }

    func conv1dBackwardWeightProduct(_ n: Node, _ at: Conv1DAttributes) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, x, dw) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let B = shape(x)[0]
        let k = convProductWeight(at, batch: B)
        kern.params = [("dout", dy, false), ("x", x, false), ("dweight", dw, true)]
        kern.what = "backward_weight"
        kern.doc = "dweight[\(at.outChannels), \(at.inChannels), \(at.kernel)] from dout[\(B), \(at.outLength), \(at.outChannels)] and x[\(B), \(at.inLength), \(at.inChannels)]"
        kern.body = k.body
        kern.body.removeLast()
        kern.scratch = k.scratch
        return kern
    }

    func conv1dForward(_ n: Node, _ at: Conv1DAttributes) -> KernelParts {
        var kern = KernelParts(n)
        let (x, w, y) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let B = shape(x)[0]
        let ep = epilogue(n, index: "i", col: "oc", indent: "                ")
        kern.params = [("x", x, false), ("weight", w, false)] + ep.params + [("out", y, true)]
        kern.what = "forward"
        kern.doc = "out[\(B), \(at.outLength), \(at.outChannels)] = conv1d(x[\(B), \(at.inLength), \(at.inChannels)], weight[\(at.outChannels), \(at.inChannels), \(at.kernel)]; stride \(at.stride), dilation \(at.dilation), left pad \(at.padLeft)) \(epilogueDoc(n))"
        kern.body = """
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
        return kern
    }

    func conv1dBackwardInput(_ n: Node, _ at: Conv1DAttributes) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, w, dx) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let B = shape(dx)[0]
        let total = count(dx)
        let ep = epilogue(n, index: "i", col: "i % \(at.inChannels)", indent: "        ")
        kern.params = [("dout", dy, false), ("weight", w, false)] + ep.params + [("dx", dx, true)]
        kern.what = "backward_input"
        kern.doc = "dx[\(B), \(at.inLength), \(at.inChannels)] from dout[\(B), \(at.outLength), \(at.outChannels)] and weight \(epilogueDoc(n))"
        kern.body = "    for (int i = 0; i < \(total); i++) dx[i] = 0;\n"
            + convTapLoops(at, batch: B, row: "\(R) *dxr = dx", weightRow: "const \(R) *wr = weight",
                           accumulate: "dxr[ic] += d * wr[ic * \(at.kernel)]")
            + (n.epilogue.isEmpty ? "" : """

            for (int i = 0; i < \(total); i++) {
                \(R) v = dx[i];
        \(ep.code)
                dx[i] = v;
            }
        """)
        return kern
    }

    func conv1dBackwardWeight(_ n: Node, _ at: Conv1DAttributes) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, x, dw) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let B = shape(x)[0]
        kern.params = [("dout", dy, false), ("x", x, false), ("dweight", dw, true)]
        kern.what = "backward_weight"
        kern.doc = "dweight[\(at.outChannels), \(at.inChannels), \(at.kernel)] from dout[\(B), \(at.outLength), \(at.outChannels)] and x[\(B), \(at.inLength), \(at.inChannels)]"
        kern.body = "    for (int i = 0; i < \(count(dw)); i++) dweight[i] = 0;\n"
            + convTapLoops(at, batch: B, row: "const \(R) *xr = x", weightRow: "\(R) *dwr = dweight",
                           accumulate: "dwr[ic * \(at.kernel)] += d * xr[ic]")
        return kern
    }
}

extension KernelWriter {
    /// The loops of the direct conv1d gradients: for each sample b, output position t and tap j
    /// inside the input, `row` points at input position t * stride + j * dilation - pad (of x or
    /// dx), and for each output channel oc, with d = dout[b][t][oc] and `weightRow` at
    /// weight[oc][.][j] (or dweight's), `accumulate` runs over the input channels ic.
    func convTapLoops(_ at: Conv1DAttributes, batch B: Int, row: String, weightRow: String, accumulate: String) -> String {
        """
            for (int b = 0; b < \(B); b++) {
                for (int t = 0; t < \(at.outLength); t++) {
                    for (int j = 0; j < \(at.kernel); j++) {
                        const int pos = t * \(at.stride) + j * \(at.dilation) - \(at.padLeft);
                        if (pos < 0 || pos >= \(at.inLength)) continue;
                        \(row) + (b * \(at.inLength) + pos) * \(at.inChannels);
                        for (int oc = 0; oc < \(at.outChannels); oc++) {
                            const \(R) d = dout[(b * \(at.outLength) + t) * \(at.outChannels) + oc];
                            \(weightRow) + oc * \(at.inChannels * at.kernel) + j;
                            for (int ic = 0; ic < \(at.inChannels); ic++) \(accumulate);
                        }
                    }
                }
            }
        """
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
            return ("    \(c.local(name, elements));  /* \(what) */\n", 0)
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

    func convProductForward(_ at: Conv1DAttributes, batch B: Int) -> (body: String, scratch: Int) {
        let (Cin, Cout, k, s, L, Lo, padL) = (at.inChannels, at.outChannels, at.kernel, at.stride, at.inLength, at.outLength, at.padLeft)
        let rows = max((Lo - 1) * s + k, padL + L)  // rows of the padded sample
        return convPerSample(
            batch: B, comment: "conv1d as a product per sample: out[t][oc] = sum over p of xp[t * \(s * Cin) + p] * wp(p, oc)",
            panels: ("wp", Cout, k, Cin, "weight[(col * \(Cin) + q) * \(k) + jp]",
                     "weight as panels of output channels, rows p = j * \(Cin) + ic"),
            sample: ("xp", "x", L, Cin, padL, rows * Cin, padL == 0 && rows <= L, "the sample with \(padL) zero rows before and \(rows - padL - L) after"),
            product: ProductShape(rows: Lo, cols: Cout, depth: k * Cin, a: "xp", aRow: s * Cin, aStep: 1, b: .panels("wp"),
                                  c: "out + b * \(Lo * Cout)", math: "out[b][t][oc] = sum_p xp[t * \(s * Cin) + p] * wp[p][oc]",
                                  parallel: false, indent: "        "))
    }

    /// One product per sample: the weight packed once into panels of `panels.cols` output columns
    /// (rows p = tap * inner + q, `panels.index` the weight element), then for each sample b its
    /// `sample.rows` rows of `sample.ch` (zero-padded with `sample.lead` rows before, `sample.total`
    /// elements in all, unless read in place) and the product.
    func convPerSample(batch B: Int, comment: String,
                       panels: (name: String, cols: Int, taps: Int, inner: Int, index: String, what: String),
                       sample: (name: String, from: String, rows: Int, ch: Int, lead: Int, total: Int, inPlace: Bool, what: String),
                       product: ProductShape) -> (body: String, scratch: Int) {
        let buffer = convBuffer(panels.name, elements: paddedColumns(panels.cols) * panels.taps * panels.inner, scratchOffset: 0,
                                what: panels.what)
        var body = "    /* \(comment) */\n" + buffer.decl
        body += convPackLoops(into: panels.name, cols: panels.cols, taps: panels.taps, inner: panels.inner, index: panels.index)
        if B * product.macs >= KernelWriter.parallelMinimumMACs { body += "    NN_PARALLEL_FOR\n" }
        body += "    for (int b = 0; b < \(B); b++) {\n"
        if sample.inPlace {
            body += "        const \(c.real) *\(sample.name) = \(sample.from) + b * \(sample.rows * sample.ch);  /* no padding: the sample itself */\n"
        } else {
            body += "        \(c.local(sample.name, sample.total));  /* \(sample.what) */\n"
            body += paddedCopy(into: sample.name, from: sample.from, rows: sample.rows, ch: sample.ch, offset: sample.lead,
                               total: sample.total)
        }
        body += productLoops(product) + "    }\n"
        return (body, buffer.scratch)
    }

    /// conv1d input gradient (stride 1, dilation 1) as a product per sample: input positions x
    /// input channels, reduced over `p = j' * C_out + oc` with `j' = k - 1 - j` (the kernel
    /// flipped), reading the output gradient zero-padded by `k - 1 - pad_left` rows in place.
    func convInputFits(_ at: Conv1DAttributes) -> Bool {
        at.dilation == 1 && at.stride == 1 && at.padLeft <= at.kernel - 1 && at.outLength <= at.inLength + at.padLeft
            && (at.inLength + at.kernel - 1) * at.outChannels * c.scalar.size <= KernelWriter.convStackBytes
    }

    func convProductInput(_ at: Conv1DAttributes, batch B: Int) -> (body: String, scratch: Int) {
        let (Cin, Cout, k, L, Lo, padL) = (at.inChannels, at.outChannels, at.kernel, at.inLength, at.outLength, at.padLeft)
        let rows = L + k - 1, lead = k - 1 - padL
        return convPerSample(
            batch: B, comment: "the input gradient as a product per sample: dx[t][ic] = sum over p of yp[t * \(Cout) + p] * wq(p, ic)",
            panels: ("wq", Cin, k, Cout, "weight[(q * \(Cin) + col) * \(k) + \(k - 1) - jp]",
                     "weight flipped, as panels of input channels, rows p = j' * \(Cout) + oc"),
            sample: ("yp", "dout", Lo, Cout, lead, rows * Cout, false, "dout of the sample with \(lead) zero rows before and \(rows - lead - Lo) after"),
            product: ProductShape(rows: L, cols: Cin, depth: k * Cout, a: "yp", aRow: Cout, aStep: 1, b: .panels("wq"),
                                  c: "dx + b * \(L * Cin)", math: "dx[b][t][ic] = sum_p yp[t * \(Cout) + p] * wq[p][ic]",
                                  parallel: false, indent: "        "))
    }

    /// conv1d weight gradient (dilation 1) as products accumulated over the samples: output
    /// channels x `p = j * C_in + ic`, reduced over positions, rows of the zero-padded sample
    /// read in place; then permuted into the `[C_out, C_in, k]` layout.
    func convWeightFits(_ at: Conv1DAttributes) -> Bool {
        let rows = max((at.outLength - 1) * at.stride + at.kernel, at.padLeft + at.inLength)
        return at.dilation == 1 && (rows * at.inChannels + c.tileColumns) * c.scalar.size <= KernelWriter.convStackBytes
    }

    func convProductWeight(_ at: Conv1DAttributes, batch B: Int) -> (body: String, scratch: Int) {
        let (Cin, Cout, k, s, L, Lo, padL) = (at.inChannels, at.outChannels, at.kernel, at.stride, at.inLength, at.outLength, at.padLeft)
        let depth = k * Cin
        let rows = max((Lo - 1) * s + k, padL + L)
        let xpElements = rows * Cin + c.tileColumns  // + slack: the last panel reads whole vectors
        let dwt = convBuffer("dwt", elements: Cout * depth, scratchOffset: 0,
                             what: "the gradient as [oc][j * \(Cin) + ic]")
        var body = "    /* dwt[oc][p] = sum over samples b, positions t of dout[b][t][oc] * xp_b[t * \(s * Cin) + p] */\n"
        body += dwt.decl
        if let strips = convWeightStrips(at, batch: B, xpElements: xpElements, scratchOffset: dwt.scratch) {
            body += strips.body
            body += """
                for (int oc = 0; oc < \(Cout); oc++)
                    for (int ic = 0; ic < \(Cin); ic++)
                        for (int j = 0; j < \(k); j++) dweight[(oc * \(Cin) + ic) * \(k) + j] = dwt[oc * \(depth) + j * \(Cin) + ic];

            """
            return (body, strips.scratch)
        }
        body += "    for (int b = 0; b < \(B); b++) {\n"
        body += "        \(c.local("xp", xpElements));  /* the sample with \(padL) zero rows before, zeros after */\n"
        body += paddedCopy(into: "xp", from: "x", rows: L, ch: Cin, offset: padL, total: xpElements)
        body += productLoops(ProductShape(rows: Cout, cols: depth, depth: Lo, a: "dout + b * \(Lo * Cout)", aRow: 1,
                                            aStep: Cout, b: .rows("xp", stride: s * Cin), c: "dwt",
                                            math: "dwt[oc][p] += sum_t dout[b][t][oc] * xp[t * \(s * Cin) + p]", accumulate: "b > 0",
                                            inPlace: true, indent: "        "))
        body += "    }\n"
        body += """
            for (int oc = 0; oc < \(Cout); oc++)
                for (int ic = 0; ic < \(Cin); ic++)
                    for (int j = 0; j < \(k); j++) dweight[(oc * \(Cin) + ic) * \(k) + j] = dwt[oc * \(depth) + j * \(Cin) + ic];

        """
        return (body, dwt.scratch)
    }

    /// The weight gradient of a big conv1d shared among threads without changing a sum: every
    /// sample padded once into arena scratch (`xpElements` apart), then strips of output channels
    /// (row tiles) outermost, each strip running the samples in order (its tiles continue the same
    /// chain of multiply-adds from sample to sample, as when the samples are outermost). Nil when
    /// the product is too small to share (serial loops, samples outermost) or a strip of dout^T
    /// would not fit on the stack.
    func convWeightStrips(_ at: Conv1DAttributes, batch B: Int, xpElements: Int, scratchOffset: Int) -> (body: String, scratch: Int)? {
        let (Cin, Cout, k, s, L, Lo, padL) = (at.inChannels, at.outChannels, at.kernel, at.stride, at.inLength, at.outLength, at.padLeft)
        let depth = k * Cin, NB = c.tileColumns, w = c.lanes, TR = CSyntax.tileRows, R = c.real
        let tile = Helper.tile.name(c), packN = Helper.packN.name(c)
        guard B * Cout * depth * Lo >= KernelWriter.parallelMinimumMACs, Cout >= 2 * TR,
              Lo * TR * c.scalar.size <= KernelWriter.packBytes * 2 else { return nil }
        // Rows in strips of 6 and 5 when they add up, else 6s and the rest (as productLoops).
        let sixes = stride(from: Cout / TR, through: 0, by: -1).first { (Cout - TR * $0) % (TR - 1) == 0 }
        let fullRows = TR * (sixes ?? Cout / TR)
        let fives = sixes == nil ? 0 : (Cout - fullRows) / (TR - 1)
        let edgeRows = Cout - fullRows - (TR - 1) * fives
        let fullCols = depth / NB * NB, edgeCols = depth - fullCols
        let xs = scratchOffset == 0 ? "scratch" : "scratch + \(scratchOffset)"
        var body = "    \(R) *const xs = \(xs);  /* every sample with \(padL) zero rows before, zeros after, \(xpElements) apart; arena scratch */\n"
        if B * xpElements >= KernelWriter.parallelMinimumElements { body += "    NN_PARALLEL_FOR\n" }
        body += "    for (int b = 0; b < \(B); b++) {\n"
        body += "        \(R) *const xp = xs + b * \(xpElements);\n"
        body += paddedCopy(into: "xp", from: "x", rows: L, ch: Cin, offset: padL, total: xpElements)
        body += "    }\n"
        body += "    /* dwt[oc][p] += sum_t dout[b][t][oc] * xp_b[t * \(s * Cin) + p]: strips of output channels shared among threads, samples in order */\n"
        func strip(_ rows: Int, first: Int, count: Int) -> String {
            guard count > 0 else { return "" }
            let i0 = count == 1 ? "\(first)" : "i0"
            var t = count >= 2 ? "    NN_PARALLEL_FOR\n" : ""
            t += count == 1 ? "    {\n" : "    for (int i0 = \(first); i0 < \(first + rows * count); i0 += \(rows)) {\n"
            t += "        for (int b = 0; b < \(B); b++) {\n"
            t += "            \(c.local("ap", Lo * rows));  /* rows \(i0) ... of dout^T, as \(Lo) rows of \(rows) */\n"
            t += "            \(packN)(\(Lo), \(rows), \(rows), dout + b * \(Lo * Cout)\(i0 == "0" ? "" : " + \(i0)"), \(Cout), ap);\n"
            let cRow = i0 == "0" ? "dwt" : "dwt + \(i0) * \(depth)"
            if fullCols > 0 {
                t += "            for (int j0 = 0; j0 < \(fullCols); j0 += \(NB)) \(tile)(\(rows), 2, \(NB), \(Lo), ap, 1, \(rows), "
                    + "xs + b * \(xpElements) + j0, \(s * Cin), \(cRow) + j0, \(depth), b > 0);\n"
            }
            if edgeCols > 0 {
                t += "            \(tile)(\(rows), \((edgeCols + w - 1) / w), \(edgeCols), \(Lo), ap, 1, \(rows), "
                    + "xs + b * \(xpElements) + \(fullCols), \(s * Cin), \(cRow) + \(fullCols), \(depth), b > 0);  /* the last \(edgeCols) columns */\n"
            }
            return t + "        }\n    }\n"
        }
        body += strip(TR, first: 0, count: fullRows / TR)
        body += strip(TR - 1, first: fullRows, count: fives)
        body += strip(edgeRows, first: fullRows + (TR - 1) * fives, count: edgeRows > 0 ? 1 : 0)
        return (body, scratchOffset + B * xpElements)
    }
}
