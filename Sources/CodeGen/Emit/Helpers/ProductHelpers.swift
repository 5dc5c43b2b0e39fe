import ModelSpec

// The helpers of matrix products: the register tile and the packing of panels.

extension CSyntax {
    /// `nn_transpose8_f32`'s body: `d[r * ldd + c] = s[c * ld + r]` for r, c < 8, in registers.
    static let transpose8Body = """
        nn_vf32 r[8], t[8], u[8];
        for (int i = 0; i < 8; i++) r[i] = *(const nn_vf32 *)(s + i * ld);
        for (int i = 0; i < 8; i += 2) {
            t[i] = NN_SHUFFLE8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
            t[i + 1] = NN_SHUFFLE8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
        }
        for (int i = 0; i < 8; i += 4)
            for (int h = 0; h < 2; h++) {
                u[i + 2 * h] = NN_SHUFFLE8(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                u[i + 2 * h + 1] = NN_SHUFFLE8(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
            }
        for (int i = 0; i < 4; i++) {
            *(nn_vf32 *)(d + i * ldd) = NN_SHUFFLE8(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
            *(nn_vf32 *)(d + (i + 4) * ldd) = NN_SHUFFLE8(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        }

    """

    /// The register tile: vectors with gcc and clang, the same loops on arrays elsewhere.
    var tileBody: String {
        let r = real, w = lanes, v = "nn_v\(suffix)"
        let fma = "NN_VFMA_\(suffix.uppercased())", sfma = "NN_FMA_\(suffix.uppercased())"
        let splat = (0..<w).map { _ in "x" }.joined(separator: ", ")
        return """
        #ifdef NN_VECTORS
            const \(v) zero = {0};
            \(v) s[6][2], bv[2];
            for (int i = 0; i < R; i++)
                for (int u = 0; u < V; u++) {
                    s[i][u] = zero;
                    if (acc && n == \(w) * V) s[i][u] = *(const \(v) *)(c + i * ldc + \(w) * u);
                    else if (acc) for (int j = 0; j < \(w) && \(w) * u + j < n; j++) s[i][u][j] = c[i * ldc + \(w) * u + j];
                }
            for (int p = 0; p < K; p++) {
                for (int u = 0; u < V; u++) bv[u] = *(const \(v) *)(b + p * sb + \(w) * u);
                for (int i = 0; i < R; i++) {
                    const \(r) x = a[i * sa + p * sp];
                    const \(v) ax = {\(splat)};
                    for (int u = 0; u < V; u++) s[i][u] = \(fma)(ax, bv[u], s[i][u]);
                }
            }
            for (int i = 0; i < R; i++)
                for (int u = 0; u < V; u++) {
                    if (n == \(w) * V) *(\(v) *)(c + i * ldc + \(w) * u) = s[i][u];
                    else for (int j = 0; j < \(w) && \(w) * u + j < n; j++) c[i * ldc + \(w) * u + j] = s[i][u][j];
                }
        #else
            \(r) s[6][\(2 * w)];
            for (int i = 0; i < R; i++)
                for (int j = 0; j < \(w) * V; j++) s[i][j] = acc && j < n ? c[i * ldc + j] : 0;
            for (int p = 0; p < K; p++)
                for (int i = 0; i < R; i++) {
                    const \(r) x = a[i * sa + p * sp];
                    for (int j = 0; j < \(w) * V; j++) s[i][j] = \(sfma)(x, b[p * sb + j], s[i][j]);
                }
            for (int i = 0; i < R; i++)
                for (int j = 0; j < n; j++) c[i * ldc + j] = s[i][j];
        #endif

        """
    }

    /// `nn_pack_t`: `p[k * w + j] = src[j * ld + k]` (a panel of a transposed operand), zero past `n`
    /// columns; float32 with vectors transposes whole 8 x 8 blocks in registers.
    var packTBody: String {
        let loops = """
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < w; j++) p[k * w + j] = j < n ? src[j * ld + k] : 0;

            """
        guard scalar == .f32 else { return loops }
        return """
            #ifdef NN_VECTORS
                if (n == w && w % 8 == 0) {  /* whole 8 x 8 blocks, each transposed in registers */
                    const int K8 = K - K % 8;
                    for (int k = 0; k < K8; k += 8)
                        for (int j = 0; j < w; j += 8) \(Helper.transpose8.name(self))(src + j * ld + k, ld, p + k * w + j, w);
                    for (int k = K8; k < K; k++)
                        for (int j = 0; j < w; j++) p[k * w + j] = src[j * ld + k];
                    return;
                }
            #endif

            """ + loops
    }

    /// `nn_pack_n`: `p[k * w + j] = src[k * ld + j]` (a panel of a row-stored operand), zero past `n` columns.
    var packNBody: String {
        """
            for (int k = 0; k < K; k++)
                for (int j = 0; j < w; j++) p[k * w + j] = j < n ? src[k * ld + j] : 0;

        """
    }
}
