import ModelSpec

// The helpers that reduce: sums in a fixed, vectorisable order, column sums, and the row
// statistics of layernorm.

extension CSyntax {

    /// `name[0] + ... + name[lanes - 1]` added pairwise, halves first: for 8 lanes
    /// `((n[0] + n[4]) + (n[2] + n[6])) + ((n[1] + n[5]) + (n[3] + n[7]))`. The one order every lane
    /// sum of generated code combines its lanes in (`laneSum`, `nn_lane_totals8_f32`).
    static func pairwiseSum(_ name: String, lanes: Int) -> String {
        var parts = (0..<lanes).map { "\(name)[\($0)]" }
        while parts.count > 1 {
            let h = parts.count / 2
            parts = (0..<h).map { "(\(parts[$0]) + \(parts[$0 + h]))" }
        }
        return String(parts[0].dropFirst().dropLast())
    }

    /// A sum over `k < n` of `term` in a fixed order that vectorises: lane `l` adds the terms
    /// `l, l + W, l + 2 W, ...` (W = lanes), the lanes are added pairwise, then the last `n mod W`
    /// terms in order. The same order with vectors (gcc, clang) or arrays (other compilers).
    func laneSum(_ term: String, vector: String? = nil) -> String {
        let r = real, w = lanes, v = "nn_v\(suffix)"
        // Pairwise: (0 + W/2), (1 + W/2 + 1) ... then halves again.
        func combine(_ name: String) -> String { CSyntax.pairwiseSum(name, lanes: w) }
        let vterm = vector ?? "xv"
        let loads = ["xv = *(const \(v) *)(x + k)"] + (term.contains("y[k]") ? ["yv = *(const \(v) *)(y + k)"] : [])
        let muv = term.contains("mu") ? "    const \(v) muv = {\((0..<w).map { _ in "mu" }.joined(separator: ", "))};\n" : ""
        return """
            int k = 0;
        #ifdef NN_VECTORS
            \(v) acc = {0};
        \(muv)    for (; k + \(w) <= n; k += \(w)) {
                const \(v) \(loads.joined(separator: ", "));
                acc += \(vterm);
            }
        #else
            \(r) acc[\(w)] = {0};
            for (; k + \(w) <= n; k += \(w))
                for (int l = 0; l < \(w); l++) acc[l] += \(term.replacingOccurrences(of: "[k]", with: "[k + l]"));
        #endif
            \(r) s = \(combine("acc"));
            for (; k < n; k++) s += \(term);
            return s;

        """
    }

    /// The mean and 1/std of each row of `C` values: `mean = sum / C`, `rstd = 1 / sqrt(sum of
    /// squared deviations / C + eps)`, each sum in `laneSum`'s order. For float32 with vectors,
    /// eight rows at a time: their lane sums are transposed (8 x 8 in registers) and combined as
    /// vectors in the same pairwise order, which gives the per-row results bit for bit while
    /// hiding the latency of eight rows' reductions behind each other.
    var rowStatsBody: String {
        let r = real
        let perRow = """
                for (int i = batched; i < rows; i++) {
                    const \(r) *xr = x + i * C;
                    const \(r) mu = \(Helper.sum.name(self))(C, xr) / C;
                    mean[i] = mu;
                    rstd[i] = 1 / \(fn("sqrt"))(\(Helper.sumsqDev.name(self))(C, xr, mu) / C + eps);
                }

            """
        guard scalar == .f32 else { return "    const int batched = 0;\n" + perRow }
        return """
            #ifdef NN_VECTORS
                const int batched = C % 8 == 0 ? rows - rows % 8 : 0;  /* rows done eight at a time */
                for (int i = 0; i < batched; i += 8) {
                    nn_vf32 acc[8];
                    float lanes[64] __attribute__((aligned(32))), totals[8] __attribute__((aligned(32)));
                    for (int q = 0; q < 8; q++) {
                        acc[q] = (nn_vf32){0};
                        for (int k = 0; k < C; k += 8) acc[q] += *(const nn_vf32 *)(x + (i + q) * C + k);
                        *(nn_vf32 *)(lanes + 8 * q) = acc[q];
                    }
                    nn_lane_totals8_f32(lanes, totals);
                    const nn_vf32 mu = *(const nn_vf32 *)totals / (float)C;
                    *(nn_vf32 *)(mean + i) = mu;
                    for (int q = 0; q < 8; q++) {
                        const float m = mu[q];
                        const nn_vf32 mv = {m, m, m, m, m, m, m, m};
                        acc[q] = (nn_vf32){0};
                        for (int k = 0; k < C; k += 8) {
                            const nn_vf32 d = *(const nn_vf32 *)(x + (i + q) * C + k) - mv;
                            acc[q] += d * d;
                        }
                        *(nn_vf32 *)(lanes + 8 * q) = acc[q];
                    }
                    nn_lane_totals8_f32(lanes, totals);
                    const nn_vf32 var = *(const nn_vf32 *)totals / (float)C + eps;
                    for (int q = 0; q < 8; q++) rstd[i + q] = 1 / \(fn("sqrt"))(var[q]);
                }
            #else
                const int batched = 0;
            #endif

            """ + perRow
    }

    /// For `n` <= 8 rows of `C` (rows `C` apart): `sum_g[q]` = the sum of row q of g, `sum_gx[q]` =
    /// the dot product of row q of g with row q of xh, in `laneSum`'s order (`nn_sum`, `nn_dot`).
    /// Eight float32 rows with vectors combine their lane sums transposed, as `rowStatsBody`.
    var rowSumsBody: String {
        let perRow = """
                for (int q = 0; q < n; q++) {
                    sum_g[q] = \(Helper.sum.name(self))(C, g + q * C);
                    sum_gx[q] = \(Helper.dot.name(self))(C, g + q * C, xh + q * C);
                }

            """
        guard scalar == .f32 else { return perRow }
        return """
            #ifdef NN_VECTORS
                if (n == 8 && C % 8 == 0) {
                    float lanes_g[64] __attribute__((aligned(32))), lanes_gx[64] __attribute__((aligned(32)));
                    for (int q = 0; q < 8; q++) {
                        nn_vf32 a = {0}, b = {0};
                        for (int k = 0; k < C; k += 8) {
                            const nn_vf32 gv = *(const nn_vf32 *)(g + q * C + k), xv = *(const nn_vf32 *)(xh + q * C + k);
                            a += gv;
                            b += gv * xv;
                        }
                        *(nn_vf32 *)(lanes_g + 8 * q) = a;
                        *(nn_vf32 *)(lanes_gx + 8 * q) = b;
                    }
                    nn_lane_totals8_f32(lanes_g, sum_g);
                    nn_lane_totals8_f32(lanes_gx, sum_gx);
                    return;
                }
            #endif

            """ + perRow
    }

    /// `nn_lane_totals8_f32`: the totals of eight rows' lane sums (`lanes[8 q + l]` = lane l of row
    /// q), each row's lanes added in `pairwiseSum`'s order, into `totals[q]`: the 8 x 8 block is
    /// transposed in registers, then the lanes are added as whole vectors. (Results go through
    /// memory: a vector returned by value changes the ABI without AVX.)
    static var laneTotals8Body: String {
        """
            float by_lane[64] __attribute__((aligned(32)));
            nn_vf32 T[8];
            nn_transpose8_f32(lanes, 8, by_lane, 8);  /* by_lane[8 l + q] = lane l of row q */
            for (int l = 0; l < 8; l++) T[l] = *(const nn_vf32 *)(by_lane + 8 * l);
            *(nn_vf32 *)totals = \(pairwiseSum("T", lanes: 8));

        """
    }

    /// `nn_col_sums`: `s[j]` = the sum of column j over the rows, row by row in order.
    var colSumsBody: String {
        """
            for (int j = 0; j < cols; j++) s[j] = 0;
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < cols; j++) s[j] += x[r * cols + j];

        """
    }
}
