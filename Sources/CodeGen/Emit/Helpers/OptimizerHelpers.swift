import ModelSpec

// The optimizers' loops over the flat parameter array (docs/CONVENTIONS.md, Optimizers; PyTorch
// semantics). NAME_optimizer calls one of them with the model's constants, which cc inlines.

extension CSyntax {
    /// `nn_sgd`: `g += weight_decay * p; p -= lr * g`.
    var sgdBody: String {
        let r = real
        return parallelWhen("n >= \(KernelWriter.parallelMinimumElements)", """
            for (int i = 0; i < n; i++) {
                \(r) gi = g[i] + weight_decay * p[i];
                p[i] -= lr * gi;
            }

        """)
    }

    /// `nn_sgd_momentum`: `g += weight_decay * p; v = g` at step 1, else `v = momentum * v + g`;
    /// `p -= lr * v`, or `p -= lr * (g + momentum * v)` (Nesterov).
    var sgdMomentumBody: String {
        let r = real
        return parallelWhen("n >= \(KernelWriter.parallelMinimumElements)", """
            for (int i = 0; i < n; i++) {
                \(r) gi = g[i] + weight_decay * p[i];
                v[i] = step == 1 ? gi : momentum * v[i] + gi;
                p[i] -= lr * (nesterov ? gi + momentum * v[i] : v[i]);
            }

        """)
    }

    /// `nn_adam`, bias-corrected: `g += weight_decay * p` (Adam) or `p -= lr * weight_decay * p`
    /// first (AdamW, `decoupled`); `m = beta1 m + (1 - beta1) g`, `v = beta2 v + (1 - beta2) g^2`,
    /// `p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)`.
    var adamBody: String {
        let r = real
        return """
            const \(r) bc1 = (\(r))(1.0 - pow(beta1, (double)step));
            const \(r) bc2 = (\(r))(1.0 - pow(beta2, (double)step));

        """ + parallelWhen("n >= \(KernelWriter.parallelMinimumElements)", """
            for (int i = 0; i < n; i++) {
                \(r) gi;
                if (decoupled) {
                    gi = g[i];
                    p[i] -= lr * weight_decay * p[i];
                } else {
                    gi = g[i] + weight_decay * p[i];
                }
                m[i] = beta1 * m[i] + (1 - beta1) * gi;
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
                p[i] -= lr * (m[i] / bc1) / (\(fn("sqrt"))(v[i] / bc2) + eps);
            }

        """)
    }

    /// `nn_clip_norm`, torch.nn.utils.clip_grad_norm_ over the flat gradients: `norm = sqrt(sum g^2)`
    /// (summed in double, in index order, so any thread count gives the same norm); when
    /// `coef = max_norm / (norm + 1e-6)` is below 1 every gradient is multiplied by it. Returns the
    /// norm before clipping.
    var clipNormBody: String {
        let r = real
        return """
            double sumsq = 0;
            for (int i = 0; i < n; i++) sumsq += (double)g[i] * (double)g[i];
            const double norm = sqrt(sumsq);
            const double coef = (double)max_norm / (norm + 1e-6);
            if (coef < 1.0) {
                const \(r) s = (\(r))coef;
                for (int i = 0; i < n; i++) g[i] *= s;
            }
            return norm;

        """
    }
}
