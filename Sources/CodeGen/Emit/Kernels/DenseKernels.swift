import ModelSpec

// Dense layers: the three products (forward, input gradient, weight gradient) as register
// tiles with their epilogues, and the bias.

extension KernelWriter {
    func denseForward(_ n: Node) -> KernelParts {
        let (x, w, y) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let (M, K, N) = (count(x) / shape(x).last!, shape(x).last!, shape(w)[0])
        let loops: String
        var scratch = 0
        if N < c.tileColumns && M >= c.tileColumns {
            // Fewer outputs than a tile is wide (a classifier's last layer): out^T = weight x^T
            // fills whole tiles, rows from weight read in place, panels of x^T packed. Every
            // element is the same chain of multiply-adds as out = x weight^T: the same bits.
            scratch = N * M
            loops = "    /* out^T in register tiles (\(N) outputs fill no tile of \(c.tileColumns)); each panel of x^T packed first */\n"
                + "    \(R) *const out_t = scratch;  /* out^T, \(N) rows of \(M); arena scratch */\n"
                + productLoops(ProductShape(rows: N, cols: M, depth: K, a: "weight", aRow: K, aStep: 1,
                                            b: .transposed("x", stride: K), c: "out_t",
                                            math: "out_t[n][m] = sum_k weight[n][k] * x[m][k]"))
                + "    for (int i = 0; i < \(M); i++)\n"
                + "        for (int j = 0; j < \(N); j++) out[i * \(N) + j] = out_t[j * \(M) + i];\n"
        } else {
            loops = "    /* register tiles of out; each panel of weight^T packed first */\n"
                + productLoops(ProductShape(rows: M, cols: N, depth: K, a: "x", aRow: K, aStep: 1,
                                            b: .transposed("weight", stride: K), c: "out",
                                            math: "out[m][n] = sum_k x[m][k] * weight[n][k]"))
        }
        return loopsWithEpilogue(n, loops, operands: [("x", x, false), ("weight", w, false)], out: ("out", y),
                                 rows: M, cols: N, what: "forward", doc: "out[\(M), \(N)] = x[\(M), \(K)] weight[\(N), \(K)]^T",
                                 scratch: scratch)
    }

    func denseBackwardInput(_ n: Node) -> KernelParts {
        let (dy, w, dx) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let (N, K) = (shape(w)[0], shape(w)[1])
        let M = count(dy) / N
        let loops = productLoops(ProductShape(rows: M, cols: K, depth: N, a: "dout", aRow: N, aStep: 1,
                                              b: .rows("weight", stride: K), c: "dx",
                                              math: "dx[m][k] = sum_n dout[m][n] * weight[n][k]"))
        return loopsWithEpilogue(n, "    /* register tiles of dx, from panels of weight's rows */\n" + loops,
                                 operands: [("dout", dy, false), ("weight", w, false)], out: ("dx", dx), rows: M, cols: K,
                                 what: "backward_input", doc: "dx[\(M), \(K)] = dout[\(M), \(N)] weight[\(N), \(K)]")
    }

    func denseBackwardWeight(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, x, dw) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let (N, K) = (shape(dw)[0], shape(dw)[1])
        let M = count(dy) / N
        kern.params = [("dout", dy, false), ("x", x, false), ("dweight", dw, true)]
        kern.what = "backward_weight"
        kern.doc = "dweight[\(N), \(K)] = dout[\(M), \(N)]^T x[\(M), \(K)]"
        var product = ProductShape(rows: N, cols: K, depth: M, a: "dout", aRow: 1, aStep: N, b: .rows("x", stride: K),
                                   c: "dweight", math: "dweight[n][k] = sum_m dout[m][n] * x[m][k]")
        if N > 1 && N * M * c.scalar.size > 2 * KernelWriter.packBytes && !stripsOutermost(product) {
            // Column panels outermost, and dout bigger than the level-1 cache: every panel's tiles
            // would read dout down its columns, one element per row N apart (cache lines that
            // collide in the level-1 cache). dout^T is packed once instead, so each tile reads its
            // rows of a contiguously (W2's weight gradients: 10% faster).
            kern.body = "    /* dout^T packed once (\(N) rows of \(M)); then register tiles of dweight, panels from x's rows */\n"
                + "    \(c.real) *const at = scratch;  /* arena scratch */\n"
                + "    \(Helper.packT.name(c))(\(N), \(M), \(M), dout, \(N), at);\n"
            product.a = "at"
            product.aRow = M
            product.aStep = 1
            product.math = "dweight[n][k] = sum_m at[n][m] * x[m][k]  (at = dout^T)"
            kern.scratch = N * M
        } else {
            kern.body = "    /* register tiles of dweight: rows from columns of dout, panels from x's rows */\n"
        }
        kern.body += productLoops(product).dropLast().description
        return kern
    }

    func biasAdd(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (x, b, y) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let N = shape(b)[0], rows = count(x) / N
        kern.params = [("x", x, false), ("bias", b, false), ("out", y, true)]
        kern.what = "bias"
        kern.doc = "out[\(rows), \(N)] = x + bias"
        kern.body = """
            for (int r = 0; r < \(rows); r++)
                for (int j = 0; j < \(N); j++) out[r * \(N) + j] = x[r * \(N) + j] + bias[j];
        """
        return kern
    }

    func biasBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, db) = (n.inputs[0], n.outputs[0])
        let N = shape(db)[0], rows = count(dy) / N
        kern.params = [("dout", dy, false), ("dbias", db, true)]
        kern.what = "backward_bias"
        kern.doc = "dbias[\(N)] = sum over \(rows) rows of dout"
        kern.body = "    \(Helper.colSums.name(c))(\(rows), \(N), dout, dbias);  /* row by row, in order */"
        return kern
    }
}
