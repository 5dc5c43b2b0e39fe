import ModelSpec

/// A stretch of consecutive trainable parameters: where it starts in the parameter array and
/// in the gradient array (and each optimizer-state slot), and its length in elements.
struct TrainableRun: Equatable {
    var offset: Int
    var gradientOffset: Int
    var count: Int

    /// The runs of `analysis`: one covering every parameter when nothing is frozen.
    static func runs(_ analysis: ModelAnalysis) -> [TrainableRun] {
        var runs: [TrainableRun] = []
        for p in analysis.parameters where p.trainable && p.count > 0 {
            guard let g = p.gradientOffset else { continue }
            if let last = runs.last, last.offset + last.count == p.offset, last.gradientOffset + last.count == g {
                runs[runs.count - 1].count += p.count
            } else {
                runs.append(TrainableRun(offset: p.offset, gradientOffset: g, count: p.count))
            }
        }
        return runs
    }
}

/// `NAME_optimizer(p, g, state, step, lr)`: the model's optimizer as one loop over every
/// parameter (fusion rule optimizer_flat_loop), a call of its helper with the model's constants
/// (cc inlines the helper and specialises the loop on them; tcc calls the precompiled copy).
/// With frozen parameters, one call per run of trainable ones (`TrainableRun`): frozen
/// parameters are never read or written, and `g` and `state` hold the trainable ones only.
/// With `trainableOnly` (`CompileOptions.frozenApart`), `p` holds the trainable parameters only,
/// at their gradient offsets: one call over all of them.
func optimizerFunction(model name: String, optimizer: Optimizer, analysis: ModelAnalysis, trainableOnly: Bool = false,
                       _ c: CSyntax) -> String {
    let r = c.real
    let count = analysis.parameterCount
    let trainable = analysis.gradientCount
    let frozen = analysis.hasFrozenParameters
    let runs = !frozen ? [TrainableRun(offset: 0, gradientOffset: 0, count: count)]
        : trainableOnly ? [TrainableRun(offset: 0, gradientOffset: 0, count: trainable)] : TrainableRun.runs(analysis)
    func at(_ base: String, _ o: Int) -> String { o == 0 ? base : "\(base) + \(o)" }
    let what = optimizerSummary(optimizer)
    let call = (optimizer.stateSlotsPerParameter == 0 ? "(void)state;\n    (void)step;\n    " : "") + runs.map { run in
        optimizerCall(optimizer, n: "\(run.count)", p: at("p", run.offset), g: at("g", run.gradientOffset),
                      slot: { k in at("state", k * trainable + run.gradientOffset) }, c)
    }.joined(separator: "\n    ")
    let title = frozen
        ? "/* ---- optimizer: \(runs.count) loop\(runs.count == 1 ? "" : "s") over the \(trainable) trainable of \(count) parameters "
            + "(frozen ones are not touched; g and state hold the trainable ones only) ---- */"
        : "/* ---- optimizer: one loop over all \(count) parameters (fused: optimizer_flat_loop) ------------ */"
    return """
    \(title)
    /* \(what) */
    static void \(name)_optimizer(\(r) *restrict p, const \(r) *restrict g, \(r) *restrict state, int64_t step, \(r) lr) {
        \(call)
    }

    """
}

/// What `optimizer` does, for the comment above its loop.
private func optimizerSummary(_ optimizer: Optimizer) -> String {
    switch optimizer {
    case .sgd(_, 0, _, _):
        return "SGD: g += weight_decay * p; p -= lr * g. No state."
    case .sgd(_, _, let nesterov, _):
        return "SGD with momentum\(nesterov ? " (Nesterov)" : ""): g += weight_decay * p; v = g at step 1, else "
            + "momentum * v + g; p -= lr * \(nesterov ? "(g + momentum * v)" : "v"). state holds v."
    case .adam, .adamw:
        return (optimizer.typeName == "adamw" ? "AdamW: p -= lr * weight_decay * p first (decoupled); then" : "Adam: g += weight_decay * p;")
            + " m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;\n * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). state holds m then v."
    }
}

/// One call of `optimizer`'s helper over `n` values: parameters from `p`, gradients from `g`,
/// state slot k from `slot(k)`; the names `lr` and `step` are the caller's.
private func optimizerCall(_ optimizer: Optimizer, n: String, p: String, g: String, slot: (Int) -> String,
                           _ c: CSyntax) -> String {
    switch optimizer {
    case .sgd(_, 0, _, let wd):
        return "\(Helper.sgd.name(c))(\(n), \(p), \(g), lr, \(c.lit(wd)));"
    case .sgd(_, let m, let nesterov, let wd):
        return "\(Helper.sgdMomentum.name(c))(\(n), \(p), \(g), \(slot(0)), lr, \(c.lit(m)), \(c.lit(wd)), \(nesterov ? 1 : 0), step);"
    case .adam(_, let b1, let b2, let eps, let wd), .adamw(_, let b1, let b2, let eps, let wd):
        return "\(Helper.adam.name(c))(\(n), \(p), \(g), \(slot(0)), \(slot(1)), lr, \(c.lit(b1)), \(c.lit(b2)), "
            + "\(c.lit(eps)), \(c.lit(wd)), \(optimizer.typeName == "adamw" ? 1 : 0), step);"
    }
}

/// `NAME_update_range(params, grads, opt_state, step, lr, lo, hi)`, for `train_mpi`
/// (`CompileOptions.gradientHooks`): the optimizer on the gradients `grads[lo .. hi)` alone and on
/// the parameters and optimizer state they belong to, so that the processes of one machine, which
/// share one copy of the parameters, each update their share of them (templates/nn_rt_mpi.c). The
/// same helper calls as `NAME_optimizer`, each cut to the part of its run inside the range; the
/// caller counts the step.
func optimizerRangeFunction(model name: String, optimizer: Optimizer, analysis: ModelAnalysis, _ c: CSyntax) -> String {
    let r = c.real
    let trainable = analysis.gradientCount
    let runs = !analysis.hasFrozenParameters ? [TrainableRun(offset: 0, gradientOffset: 0, count: analysis.parameterCount)]
        : TrainableRun.runs(analysis)
    func plus(_ base: String, _ o: Int) -> String { o == 0 ? base : o > 0 ? "\(base) + \(o)" : "\(base) - \(-o)" }
    var body = optimizer.stateSlotsPerParameter == 0 ? "    (void)opt_state;\n    (void)step;\n" : ""
    for run in runs {
        let g0 = run.gradientOffset, g1 = run.gradientOffset + run.count
        let call = optimizerCall(optimizer, n: "(int)(b - a)", p: plus("params + a", run.offset - g0), g: "grads + a",
                                 slot: { k in plus("opt_state + a", k * trainable) }, c)
        body += """
            {   /* gradients \(g0) .. \(g1)\(run.offset == g0 ? "" : ": parameters \(run.offset) .. \(run.offset + run.count)") */
                const int64_t a = lo > \(g0) ? lo : \(g0), b = hi < \(g1) ? hi : \(g1);
                if (a < b) \(call)
            }

        """
    }
    return """
    /* train_mpi: the optimizer on the gradients grads[lo .. hi) alone, and on the parameters and the
     * optimizer state they belong to (each process of a machine updates its share of the parameters
     * the processes share). step is the step being taken, counted by the caller. */
    void \(name)_update_range(\(r) *params, const \(r) *grads, \(r) *opt_state, int64_t step, \(r) lr, int64_t lo,
            int64_t hi) {
    \(body)}

    """
}

/// `NAME_clip_grad_norm(g, max_norm)`: gradient clipping by the global L2 norm of all `count`
/// gradients (torch.nn.utils.clip_grad_norm_) as one pass of its helper over the flat gradient
/// array, before the optimizer's loop. `NAME_train_step_clip` calls it when `max_norm > 0`.
func clipFunction(model name: String, count: Int, _ c: CSyntax) -> String {
    let r = c.real
    return """
    /* ---- gradient clipping: one pass over all \(count) gradients (torch.nn.utils.clip_grad_norm_) -------- */
    /* norm = sqrt(sum g^2) over every gradient, summed in double; when max_norm / (norm + 1e-6) < 1,
     * every gradient is multiplied by it. Returns the norm before clipping. */
    double \(name)_clip_grad_norm(\(r) *restrict g, \(r) max_norm) {
        return \(Helper.clipNorm.name(c))(\(count), g, max_norm);
    }

    """
}
