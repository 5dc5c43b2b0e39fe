import ModelSpec

// The helpers of layernorm: forward and backward over whole rows, eight rows at a time where
// their sums can be reduced together. Weight and bias (and so dweight, dbias, g) are optional
// (NULL without an affine transform), and so is dx.

extension CSyntax {
    /// `nn_layernorm`: `out = (x - mean) * rstd (* weight + bias)` per row of `C`, keeping each
    /// row's mean and 1/std (`nn_row_stats`).
    var layerNormBody: String {
        let r = real
        return """
            \(Helper.rowStats.name(self))(rows, C, eps, x, mean, rstd);  /* mean and 1/std of every row */
            for (int i = 0; i < rows; i++) {
                const \(r) *xr = x + i * C;
                const \(r) mu = mean[i], rs = rstd[i];
                if (weight)
                    for (int k = 0; k < C; k++) out[i * C + k] = (xr[k] - mu) * rs * weight[k] + bias[k];
                else
                    for (int k = 0; k < C; k++) out[i * C + k] = (xr[k] - mu) * rs;
            }

        """
    }

    /// `nn_layernorm_grad`: with `xh` the normalised rows and `G` the gradient reaching them
    /// (`dout * weight`, or `dout`), `dx = rstd * (G - mean(G) - xh * mean(G * xh))` per row;
    /// `dweight = sum dout * xh`, `dbias = sum dout` over the rows. `xh` and `g` hold 8 rows of C.
    /// With `derivative` (a C expression of `s[i * C + k]`), each dx is multiplied by it as it is
    /// written: the same product, in the same order, as the derivative's own pass after it.
    func layerNormGradBody(times derivative: String?) -> String {
        let r = real
        let times = derivative.map { " * " + $0 } ?? ""
        return """
            if (weight) {  /* two loops: gcc 12's -O3 SLP vectoriser miscompiles the joint one for C = 4 */
                for (int k = 0; k < C; k++) dweight[k] = 0;
                for (int k = 0; k < C; k++) dbias[k] = 0;
            }
            for (int r0 = 0; r0 < rows; r0 += 8) {
                const int n = rows - r0 < 8 ? rows - r0 : 8;
                const \(r) *G = weight ? g : dout + r0 * C;
                \(r) sum_g[8], sum_gx[8];
                for (int q = 0; q < n; q++) {
                    const \(r) *xr = x + (r0 + q) * C, *dr = dout + (r0 + q) * C;
                    const \(r) mu = mean[r0 + q], rs = rstd[r0 + q];
                    \(r) *xq = xh + q * C;
                    for (int k = 0; k < C; k++) xq[k] = (xr[k] - mu) * rs;
                    if (weight) {
                        \(r) *gq = g + q * C;
                        for (int k = 0; k < C; k++) {
                            gq[k] = dr[k] * weight[k];
                            dweight[k] += dr[k] * xq[k];
                            dbias[k] += dr[k];
                        }
                    }
                }
                \(Helper.rowSums.name(self))(n, C, G, xh, sum_g, sum_gx);  /* per row: sum of G, and its dot with xh */
                if (!dx) continue;  /* dx only when the input gradient is asked for */
                for (int q = 0; q < n; q++) {
                    const int i = r0 + q;
                    const \(r) rs = rstd[i], mean_g = sum_g[q] / C, mean_gx = sum_gx[q] / C;
                    const \(r) *Gq = G + q * C, *xq = xh + q * C;
                    for (int k = 0; k < C; k++) dx[i * C + k] = rs * (Gq[k] - mean_g - xq[k] * mean_gx)\(times);
                }
            }

        """
    }
}
