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
    let what: String, call: String
    switch optimizer {
    case .sgd(_, 0, _, let wd):
        what = "SGD: g += weight_decay * p; p -= lr * g. No state."
        call = "(void)state;\n    (void)step;\n    " + runs.map {
            "\(Helper.sgd.name(c))(\($0.count), \(at("p", $0.offset)), \(at("g", $0.gradientOffset)), lr, \(c.lit(wd)));"
        }.joined(separator: "\n    ")
    case .sgd(_, let m, let nesterov, let wd):
        what = "SGD with momentum\(nesterov ? " (Nesterov)" : ""): g += weight_decay * p; v = g at step 1, else "
            + "momentum * v + g; p -= lr * \(nesterov ? "(g + momentum * v)" : "v"). state holds v."
        call = runs.map {
            "\(Helper.sgdMomentum.name(c))(\($0.count), \(at("p", $0.offset)), \(at("g", $0.gradientOffset)), "
                + "\(at("state", $0.gradientOffset)), lr, \(c.lit(m)), \(c.lit(wd)), \(nesterov ? 1 : 0), step);"
        }.joined(separator: "\n    ")
    case .adam(_, let b1, let b2, let eps, let wd), .adamw(_, let b1, let b2, let eps, let wd):
        let decoupled = optimizer.typeName == "adamw"
        what = (decoupled ? "AdamW: p -= lr * weight_decay * p first (decoupled); then" : "Adam: g += weight_decay * p;")
            + " m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;\n * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). state holds m then v."
        call = runs.map {
            "\(Helper.adam.name(c))(\($0.count), \(at("p", $0.offset)), \(at("g", $0.gradientOffset)), "
                + "\(at("state", $0.gradientOffset)), state + \(trainable + $0.gradientOffset), lr, \(c.lit(b1)), \(c.lit(b2)), "
                + "\(c.lit(eps)), \(c.lit(wd)), \(decoupled ? 1 : 0), step);"
        }.joined(separator: "\n    ")
    }
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
