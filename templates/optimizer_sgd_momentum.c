/* SGD with momentum {{MOMENTUM}}{{NESTEROV_DOC}} (PyTorch semantics): g += weight_decay * p;
 * v = momentum * v + g (v = g on the first step); p -= lr * {{STEP_DOC}}.
 * state holds v. One loop over all {{COUNT}} parameters. */
static void {{NAME}}_optimizer({{REAL}} *restrict p, const {{REAL}} *restrict g, {{REAL}} *restrict state,
                               int64_t step, {{REAL}} lr) {
    {{REAL}} *restrict v = state;
    for (int i = 0; i < {{COUNT}}; i++) {
        {{REAL}} gi = g[i] + {{WEIGHT_DECAY}} * p[i];
        v[i] = step == 1 ? gi : {{MOMENTUM}} * v[i] + gi;
        p[i] -= lr * ({{STEP_EXPR}});
    }
}
