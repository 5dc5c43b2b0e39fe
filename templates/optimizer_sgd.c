/* SGD (PyTorch semantics): g += weight_decay * p; p -= lr * g. One loop over all {{COUNT}} parameters. */
static void {{NAME}}_optimizer({{REAL}} *restrict p, const {{REAL}} *restrict g, {{REAL}} *restrict state,
                               int64_t step, {{REAL}} lr) {
    (void)state;
    (void)step;
    for (int i = 0; i < {{COUNT}}; i++) {
        {{REAL}} gi = g[i] + {{WEIGHT_DECAY}} * p[i];
        p[i] -= lr * gi;
    }
}
