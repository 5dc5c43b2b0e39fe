import ModelSpec

// Losses and their gradients: softmax, cross-entropy (fused with softmax), mse, bce with logits.
// Sums over the batch run in double.

extension KernelWriter {
    func softmax(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (z, p) = (n.inputs[0], n.outputs[0])
        let N = shape(z).last!, rows = count(z) / N
        kern.params = [("logits", z, false), ("probs", p, true)]
        kern.what = "softmax"
        kern.doc = "row-wise softmax of logits[\(rows), \(N)]"
        kern.body = """
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
        return kern
    }

    func crossEntropy(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (p, lab) = (n.inputs[0], n.inputs[1])
        let N = shape(p).last!, rows = count(p) / N
        kern.params = [("probs", p, false), ("labels", lab, false), ("loss", n.outputs[0], true)]
        kern.what = "cross_entropy"
        kern.doc = "loss = mean over \(rows) rows of -log probs[label]"
        kern.body = """
            double sum = 0;
            for (int r = 0; r < \(rows); r++) sum -= log((double)probs[r * \(N) + labels[r]]);
            loss[0] = (\(R))(sum / \(rows));
        """
        return kern
    }

    func crossEntropyBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (p, lab) = (n.inputs[0], n.inputs[1])
        let N = shape(p).last!, rows = count(p) / N
        kern.params = [("probs", p, false), ("labels", lab, false), ("dprobs", n.outputs[0], true)]
        kern.what = "cross_entropy_backward"
        kern.doc = "dprobs = -1 / (\(rows) probs[label]) at the label, 0 elsewhere"
        kern.body = """
            for (int i = 0; i < \(rows * N); i++) dprobs[i] = 0;
            for (int r = 0; r < \(rows); r++) dprobs[r * \(N) + labels[r]] = -1 / (\(rows) * probs[r * \(N) + labels[r]]);
        """
        return kern
    }

    func softmaxBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (p, dp) = (n.inputs[0], n.inputs[1])
        let N = shape(p).last!, rows = count(p) / N
        kern.params = [("probs", p, false), ("dprobs", dp, false), ("dlogits", n.outputs[0], true)]
        kern.what = "softmax_backward"
        kern.doc = "dlogits = probs * (dprobs - sum(dprobs * probs)) per row"
        kern.body = """
            for (int r = 0; r < \(rows); r++) {
                \(R) dot = 0;
                for (int j = 0; j < \(N); j++) dot += dprobs[r * \(N) + j] * probs[r * \(N) + j];
                for (int j = 0; j < \(N); j++) dlogits[r * \(N) + j] = probs[r * \(N) + j] * (dprobs[r * \(N) + j] - dot);
            }
        """
        return kern
    }

    func softmaxCrossEntropy(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (z, lab) = (n.inputs[0], n.inputs[1])
        let N = shape(z).last!, rows = count(z) / N
        kern.params = [("logits", z, false), ("labels", lab, false), ("loss", n.outputs[0], true), ("dlogits", n.outputs[1], true)]
        kern.what = "forward_backward"
        kern.doc = "loss = mean over \(rows) rows of logsumexp(logits) - logits[label]; dlogits = (softmax - onehot) / \(rows)"
        kern.body = """
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
        return kern
    }

    func mse(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (yh, y) = (n.inputs[0], n.inputs[1])
        kern.params = [("pred", yh, false), ("target", y, false), ("loss", n.outputs[0], true)]
        kern.what = "forward"
        kern.doc = "loss = mean over \(count(yh)) elements of (pred - target)^2"
        kern.body = """
            double sum = 0;
            for (int i = 0; i < \(count(yh)); i++) { const double d = (double)pred[i] - (double)target[i]; sum += d * d; }
            loss[0] = (\(R))(sum / \(count(yh)));
        """
        return kern
    }

    func mseBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (yh, y) = (n.inputs[0], n.inputs[1])
        kern.params = [("pred", yh, false), ("target", y, false), ("dpred", n.outputs[0], true)]
        kern.what = "backward"
        kern.doc = "dpred = 2 (pred - target) / \(count(yh))"
        kern.body = """
            for (int i = 0; i < \(count(yh)); i++) dpred[i] = (pred[i] - target[i]) * \(c.lit(2.0 / Double(count(yh))));
        """
        return kern
    }

    func bceWithLogits(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (z, y) = (n.inputs[0], n.inputs[1])
        kern.params = [("logits", z, false), ("target", y, false), ("loss", n.outputs[0], true)]
        kern.what = "forward"
        kern.doc = "loss = mean over \(count(z)) elements of max(z, 0) - z y + log1p(exp(-|z|)) (no overflow)"
        kern.body = """
            double sum = 0;
            for (int i = 0; i < \(count(z)); i++) {
                const double zi = logits[i];
                sum += (zi > 0 ? zi : 0) - zi * (double)target[i] + log1p(exp(-fabs(zi)));
            }
            loss[0] = (\(R))(sum / \(count(z)));
        """
        return kern
    }

    func bceWithLogitsBackward(_ n: Node) -> KernelParts {
        var kern = KernelParts(n)
        let (z, y) = (n.inputs[0], n.inputs[1])
        kern.params = [("logits", z, false), ("target", y, false), ("dlogits", n.outputs[0], true)]
        kern.what = "backward"
        kern.doc = "dlogits = (sigmoid(z) - target) / \(count(z))"
        kern.body = """
            for (int i = 0; i < \(count(z)); i++) {
                const \(R) zi = logits[i];
                const \(R) s = zi >= 0 ? 1 / (1 + \(c.fn("exp"))(-zi)) : \(c.fn("exp"))(zi) / (1 + \(c.fn("exp"))(zi));
                dlogits[i] = (s - target[i]) * \(c.lit(1.0 / Double(count(z))));
            }
        """
        return kern
    }

    /// Huber forward: the mean over elements of `0.5 d^2` where `|d| < delta`, else
    /// `delta (|d| - 0.5 delta)`, `d = pred - target`, summed in double.
    func huber(_ n: Node, delta: Double) -> KernelParts {
        var kern = KernelParts(n)
        let (yh, y) = (n.inputs[0], n.inputs[1])
        let N = count(yh)
        kern.params = [("pred", yh, false), ("target", y, false), ("loss", n.outputs[0], true)]
        kern.what = "forward"
        kern.doc = "loss = mean over \(N) elements of huber(pred - target), delta \(delta)"
        kern.body = """
            double sum = 0;
            for (int i = 0; i < \(N); i++) {
                const double d = (double)pred[i] - (double)target[i], a = fabs(d);
                sum += a < \(delta) ? 0.5 * d * d : \(delta) * (a - \(0.5 * delta));
            }
            loss[0] = (\(R))(sum / \(N));
        """
        return kern
    }

    /// Huber backward: `dpred = clamp(pred - target, -delta, delta) / N`.
    func huberBackward(_ n: Node, delta: Double) -> KernelParts {
        var kern = KernelParts(n)
        let (yh, y) = (n.inputs[0], n.inputs[1])
        let N = count(yh)
        kern.params = [("pred", yh, false), ("target", y, false), ("dpred", n.outputs[0], true)]
        kern.what = "backward"
        kern.doc = "dpred = clamp(pred - target, -\(delta), \(delta)) / \(N)"
        kern.body = """
            for (int i = 0; i < \(N); i++) {
                const \(R) d = pred[i] - target[i];
                dpred[i] = (d < -\(c.lit(delta)) ? -\(c.lit(delta)) : d > \(c.lit(delta)) ? \(c.lit(delta)) : d) * \(c.lit(1.0 / Double(N)));
            }
        """
        return kern
    }
}

/// What one term of `NAME_loss_sum` is, for the header.
func validationLossTerms(_ loss: Loss) -> String {
    switch loss {
    case .softmaxCrossEntropy: return "labels; one term a sample: logsumexp(z) - z[label]"
    case .bceWithLogits: return "values; one term an output: max(z, 0) - z t + log1p(exp(-|z|))"
    case .mse: return "values; one term an output: (z - t)^2"
    case .huber(let delta): return "values; one term an output: huber(z - t) with delta \(delta)"
    }
}

/// `NAME_loss_sum(out, labels, values, n, sum)`: the loss of validation outputs, term by term in
/// double (docs/TRAINING.md, What is printed), the one text both trainers score validation with.
func validationLossFunction(model name: String, loss: Loss, outputs k: Int, _ c: CSyntax) -> String {
    let r = c.real
    let body: String
    switch loss {
    case .softmaxCrossEntropy:
        body = """
            (void)values;
            for (int i = 0; i < n; i++) {
                const \(r) *z = out + i * \(k);
                double zmax = (double)z[0], s = 0;
                for (int o = 1; o < \(k); o++) if ((double)z[o] > zmax) zmax = (double)z[o];
                for (int o = 0; o < \(k); o++) s += exp((double)z[o] - zmax);
                sum += zmax + log(s) - (double)z[labels[i]];
            }
        """
    case .bceWithLogits, .mse, .huber:
        let term: String
        switch loss {
        case .bceWithLogits: term = "(z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z)))"
        case .huber(let delta): term = "fabs(z - t) < \(delta) ? 0.5 * (z - t) * (z - t) : \(delta) * (fabs(z - t) - \(0.5 * delta))"
        default: term = "(z - t) * (z - t)"
        }
        body = """
            (void)labels;
            for (int i = 0; i < n * \(k); i++) {
                const double z = (double)out[i], t = values[i];
                sum += \(term);
            }
        """
    }
    return """
    /* Validation: sum + the loss terms of n samples' outputs against their targets, in double. */
    double \(name)_loss_sum(const \(r) *out, const int32_t *labels, const double *values, int n, double sum) {
    \(body)
        return sum;
    }

    """
}
