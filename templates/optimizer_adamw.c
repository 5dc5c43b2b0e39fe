/* AdamW (PyTorch semantics): p -= lr * weight_decay * p first (decoupled), then the Adam step:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
 * state holds m then v. One loop over all {{COUNT}} parameters. */
static void {{NAME}}_optimizer({{REAL}} *restrict p, const {{REAL}} *restrict g, {{REAL}} *restrict state,
                               int64_t step, {{REAL}} lr) {
    {{REAL}} *restrict m = state;
    {{REAL}} *restrict v = state + {{COUNT}};
    const {{REAL}} bc1 = ({{REAL}})(1.0 - pow({{BETA1}}, (double)step));
    const {{REAL}} bc2 = ({{REAL}})(1.0 - pow({{BETA2}}, (double)step));
    for (int i = 0; i < {{COUNT}}; i++) {
        {{REAL}} gi = g[i];
        p[i] -= lr * {{WEIGHT_DECAY}} * p[i];
        m[i] = {{BETA1}} * m[i] + (1 - {{BETA1}}) * gi;
        v[i] = {{BETA2}} * v[i] + (1 - {{BETA2}}) * gi * gi;
        p[i] -= lr * (m[i] / bc1) / ({{SQRT}}(v[i] / bc2) + {{EPS}});
    }
}
