#!/usr/bin/env python3
"""bench/scaling_jax.py -- the JAX side of bench/scaling.sh (run that, not this).

  scaling_jax.py MODEL.json STEPS MIN_SECONDS WARMUP

Times the training step of one model file of bench/scaling.sh (input F -> dense W -> relu ->
dense W -> relu -> dense C, softmax cross-entropy, plain SGD) written in JAX the way `nngen bench`
runs it, and prints one JSON line with the keys of `nngen bench --json` it has a value for.

The same math as nngen's step (docs/CONVENTIONS.md): weights in PyTorch's [out, in] layout,
y = x W^T + b; loss = mean over the batch of logsumexp(logits) - logits[label]; the gradient of
that mean; p <- p - lr * g; float32 throughout. One jitted function does forward, backward and
update, with the parameters donated (updated in place). Like `nngen bench`: inputs uniform in
[-1, 1), labels uniform over the classes, parameters U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (numpy's
generator, not nngen's: the values do not change the time), WARMUP untimed steps, then single
steps, each ended by block_until_ready on the new parameters and the loss, timed until STEPS
steps and MIN_SECONDS seconds have run; every 100 steps the parameters are drawn again, untimed.
compile_ms is the first call (tracing, XLA compilation and one step).
"""
import json, statistics, sys, time

import numpy as np
import jax
import jax.numpy as jnp

MODEL, STEPS, MIN_SECONDS, WARMUP = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
spec = json.load(open(MODEL))
batch = spec["batch"]
features = spec["input"]["features"]
units = [l["units"] for l in spec["layers"] if l["type"] == "dense"]
lr = np.float32(spec["optimizer"]["lr"])
assert [l["type"] for l in spec["layers"]] == ["dense", "relu", "dense", "relu", "dense"], MODEL
assert spec["loss"]["type"] == "softmax_cross_entropy" and spec["optimizer"]["type"] == "sgd", MODEL
classes = units[-1]
rng = np.random.default_rng(1)


def draw():
    params, fan_in = [], features
    for out in units:
        bound = 1 / np.sqrt(fan_in)
        params.append(jnp.asarray(rng.uniform(-bound, bound, (out, fan_in)).astype(np.float32)))
        params.append(jnp.asarray(rng.uniform(-bound, bound, (out,)).astype(np.float32)))
        fan_in = out
    return params


def loss(params, x, y):
    w0, b0, w1, b1, w2, b2 = params
    h = jax.nn.relu(x @ w0.T + b0)
    h = jax.nn.relu(h @ w1.T + b1)
    logits = h @ w2.T + b2
    picked = jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def step(params, x, y):
    value, grads = jax.value_and_grad(loss)(params, x, y)
    return [p - lr * g for p, g in zip(params, grads)], value


step = jax.jit(step, donate_argnums=0)
x = jnp.asarray(rng.uniform(-1, 1, (batch, features)).astype(np.float32))
y = jnp.asarray(rng.integers(0, classes, batch).astype(np.int32))

params = draw()
t0 = time.perf_counter()
params, value = step(params, x, y)
jax.block_until_ready((params, value))
compile_ms = (time.perf_counter() - t0) * 1e3
for _ in range(WARMUP):
    params, value = step(params, x, y)
jax.block_until_ready((params, value))

times = []
start = time.perf_counter()
while len(times) < STEPS or time.perf_counter() - start < MIN_SECONDS:
    if times and len(times) % 100 == 0:
        params = draw()
        jax.block_until_ready(params)
    t = time.perf_counter()
    params, value = step(params, x, y)
    jax.block_until_ready((params, value))
    times.append(time.perf_counter() - t)

print(json.dumps({"model": spec["name"], "backend": "jax", "threads": 1, "dtype": "f32",
                  "compile_ms": compile_ms, "step_us_median": statistics.median(times) * 1e6,
                  "step_us_min": min(times) * 1e6, "steps": len(times),
                  "samples_per_s": batch / statistics.median(times), "last_loss": float(value),
                  "jax": jax.__version__}))
