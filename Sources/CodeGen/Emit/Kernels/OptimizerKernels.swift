import ModelSpec

/// `NAME_optimizer(p, g, state, step, lr)`: the model's optimizer as one loop over every
/// parameter (fusion rule optimizer_flat_loop), a call of its helper with the model's constants
/// (cc inlines the helper and specialises the loop on them; tcc calls the precompiled copy).
func optimizerFunction(model name: String, optimizer: Optimizer, count: Int, _ c: CSyntax) -> String {
    let r = c.real
    let what: String, call: String
    switch optimizer {
    case .sgd(_, 0, _, let wd):
        what = "SGD: g += weight_decay * p; p -= lr * g. No state."
        call = "(void)state;\n    (void)step;\n    \(Helper.sgd.name(c))(\(count), p, g, lr, \(c.lit(wd)));"
    case .sgd(_, let m, let nesterov, let wd):
        what = "SGD with momentum\(nesterov ? " (Nesterov)" : ""): g += weight_decay * p; v = g at step 1, else "
            + "momentum * v + g; p -= lr * \(nesterov ? "(g + momentum * v)" : "v"). state holds v."
        call = "\(Helper.sgdMomentum.name(c))(\(count), p, g, state, lr, \(c.lit(m)), \(c.lit(wd)), \(nesterov ? 1 : 0), step);"
    case .adam(_, let b1, let b2, let eps, let wd), .adamw(_, let b1, let b2, let eps, let wd):
        let decoupled = optimizer.typeName == "adamw"
        what = (decoupled ? "AdamW: p -= lr * weight_decay * p first (decoupled); then" : "Adam: g += weight_decay * p;")
            + " m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;\n * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). state holds m then v."
        call = "\(Helper.adam.name(c))(\(count), p, g, state, state + \(count), lr, \(c.lit(b1)), \(c.lit(b2)), "
            + "\(c.lit(eps)), \(c.lit(wd)), \(decoupled ? 1 : 0), step);"
    }
    return """
    /* ---- optimizer: one loop over all \(count) parameters (fused: optimizer_flat_loop) ------------ */
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
