import ModelSpec

// Pooling over positions: max and average windows, and the global average.

extension KernelWriter {
    func pool(_ n: Node, kernel k: Int, stride s: Int) -> KernelParts {
        var kern = KernelParts(n)
        let (x, y) = (n.inputs[0], n.outputs[0])
        let (B, L, C, Lo) = (shape(x)[0], shape(x)[1], shape(x)[2], shape(y)[1])
        let isMax = n.kind == .maxPool1d(kernel: k, stride: s)
        kern.params = [("x", x, false), ("out", y, true)]
        kern.what = isMax ? "maxpool" : "avgpool"
        kern.doc = "\(isMax ? "max" : "mean") over windows of \(k) positions, stride \(s): x[\(B), \(L), \(C)] -> out[\(B), \(Lo), \(C)]"
        let reduce = isMax
            ? "\(R) v = xr[0];\n                for (int j = 1; j < \(k); j++) if (xr[j * \(C)] > v) v = xr[j * \(C)];"
            : "\(R) v = 0;\n                for (int j = 0; j < \(k); j++) v += xr[j * \(C)];\n                v /= \(k);"
        kern.body = """
            for (int b = 0; b < \(B); b++)
                for (int t = 0; t < \(Lo); t++)
                    for (int ch = 0; ch < \(C); ch++) {
                        const \(R) *xr = x + (b * \(L) + t * \(s)) * \(C) + ch;
                        \(reduce)
                        out[(b * \(Lo) + t) * \(C) + ch] = v;
                    }
        """
        return kern
    }

    func maxPoolBackward(_ n: Node, kernel k: Int, stride s: Int) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, x, dx) = (n.inputs[0], n.inputs[1], n.outputs[0])
        let (B, L, C, Lo) = (shape(x)[0], shape(x)[1], shape(x)[2], shape(dy)[1])
        kern.params = [("dout", dy, false), ("x", x, false), ("dx", dx, true)]
        kern.what = "maxpool_backward"
        kern.doc = "each window's gradient goes to its first maximal position"
        kern.body = """
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
        return kern
    }

    func avgPoolBackward(_ n: Node, kernel k: Int, stride s: Int) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, dx) = (n.inputs[0], n.outputs[0])
        let (B, L, C, Lo) = (shape(dx)[0], shape(dx)[1], shape(dx)[2], shape(dy)[1])
        kern.params = [("dout", dy, false), ("dx", dx, true)]
        kern.what = "avgpool_backward"
        kern.doc = "each window's gradient spread evenly over its \(k) positions"
        kern.body = """
            for (int i = 0; i < \(count(dx)); i++) dx[i] = 0;
            for (int b = 0; b < \(B); b++)
                for (int t = 0; t < \(Lo); t++)
                    for (int ch = 0; ch < \(C); ch++) {
                        const \(R) d = dout[(b * \(Lo) + t) * \(C) + ch] / \(k);
                        for (int j = 0; j < \(k); j++) dx[(b * \(L) + t * \(s) + j) * \(C) + ch] += d;
                    }
        """
        return kern
    }

    func globalAvgPool(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (x, y) = (n.inputs[0], n.outputs[0])
        let (B, L, C) = (shape(x)[0], shape(x)[1], shape(x)[2])
        kern.params = [("x", x, false), ("out", y, true)]
        kern.what = "forward"
        kern.doc = "out[\(B), \(C)] = mean over \(L) positions of x[\(B), \(L), \(C)]"
        kern.body = """
            for (int b = 0; b < \(B); b++)
                for (int ch = 0; ch < \(C); ch++) {
                    \(R) v = 0;
                    for (int t = 0; t < \(L); t++) v += x[(b * \(L) + t) * \(C) + ch];
                    out[b * \(C) + ch] = v / \(L);
                }
        """
        return kern
    }

    func globalAvgPoolBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (dy, dx) = (n.inputs[0], n.outputs[0])
        let (B, L, C) = (shape(dx)[0], shape(dx)[1], shape(dx)[2])
        kern.params = [("dout", dy, false), ("dx", dx, true)]
        kern.what = "backward"
        kern.doc = "dx[b, t, c] = dout[b, c] / \(L)"
        kern.body = """
            for (int b = 0; b < \(B); b++)
                for (int t = 0; t < \(L); t++)
                    for (int ch = 0; ch < \(C); ch++) dx[(b * \(L) + t) * \(C) + ch] = dout[b * \(C) + ch] / \(L);
        """
        return kern
    }
}
