#!/usr/bin/env bash
# Fine-tuning against full training (docs/PERFORMANCE.md "Fine-tuning"): W3 and W4 trained fully,
# only their last dense layer (examples/bench/*_last.json) and bias-only (*_bias.json), in one run.
#
#   bench/finetune.sh                   # release build in .build, 5 rounds
#   ROUNDS=9 STEPS=100 bench/finetune.sh
#   CALLGRIND=0 bench/finetune.sh       # skip the instruction counts
#
# 1. Step time: `nngen bench --backend cc` of every variant, ROUNDS times, the variants alternating
#    within each round (the machine is shared: a slow minute hits every variant alike); the median
#    of the per-round medians and its ratio to full training, with the ratio's range over rounds.
# 2. Memory from the plan: params + grads + optimizer state + arena (bench's total_bytes), and the
#    part beyond the parameters.
# 3. The standalone ./train of every variant (built -O2 -march=x86-64-v3, which valgrind runs):
#    its peak RSS over one epoch of synthetic data, and callgrind's instruction count inside
#    NAME_train_step per step (steadier than time on a noisy machine).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${SCRATCH:-.build}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-50}
CALLGRIND=${CALLGRIND:-1}
VARIANTS="w4_resmlp w4_resmlp_last w4_resmlp_bias w3_conv1d_ln w3_conv1d_ln_last w3_conv1d_ln_bias"

swift build -c release --scratch-path "$SCRATCH" --product nngen >&2
NNGEN="$SCRATCH/release/nngen"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for r in $(seq "$ROUNDS"); do
    for v in $VARIANTS; do
        "$NNGEN" bench "examples/bench/$v.json" --backend cc --dtype f32 --steps "$STEPS" --min-seconds 0.5 \
            --warmup 10 --json | sed "s/^{/{\"round\": $r, /" >> "$WORK/bench.jsonl"
    done
    echo "round $r/$ROUNDS done" >&2
done

# Synthetic data for the standalone programs: W4 256 features and one target, W3 64 x 8 values
# and a label; 10 batches each.
python3 - "$WORK" <<'PY'
import random, sys
random.seed(0)
w = sys.argv[1]
with open(w + "/w4.csv", "w") as f:
    for _ in range(640):
        f.write(",".join("%.4f" % random.uniform(-1, 1) for _ in range(257)) + "\n")
with open(w + "/w3.csv", "w") as f:
    for _ in range(320):
        f.write(",".join("%.4f" % random.uniform(-1, 1) for _ in range(512)) + ",%d\n" % random.randrange(10))
PY

for v in $VARIANTS; do
    d="$WORK/$v"
    "$NNGEN" emit "examples/bench/$v.json" -o "$d" > /dev/null
    make -s -C "$d" CC=cc "CFLAGS=-O2 -march=x86-64-v3" > /dev/null
    data="$WORK/${v:0:2}.csv"
    rss=$( (cd "$d" && /usr/bin/time -f "%M" ./train "$data" --epochs 1 --val-split 0 2>&1 >/dev/null) | tail -1)
    ir=0
    if [ "$CALLGRIND" = 1 ]; then
        (cd "$d" && valgrind --tool=callgrind --toggle-collect="${v}_train_step" --callgrind-out-file=cg.out \
            ./train "$data" --epochs 1 --val-split 0 > /dev/null 2>&1)
        ir=$(grep '^summary:' "$d/cg.out" | awk '{print $2}')
    fi
    echo "{\"model\": \"$v\", \"rss_kib\": $rss, \"ir\": $ir, \"steps\": 10}" >> "$WORK/standalone.jsonl"
done

python3 - "$WORK" <<'PY'
import json, statistics, sys
w = sys.argv[1]
rows = [json.loads(l) for l in open(w + "/bench.jsonl")]
sa = {r["model"]: r for r in (json.loads(l) for l in open(w + "/standalone.jsonl"))}
models = []
for r in rows:
    if r["model"] not in models: models.append(r["model"])
def per_round(m):
    return {r["round"]: r["step_us_median"] for r in rows if r["model"] == m}
def mib(b): return "%.2f" % (b / 2**20)
print("| workload | variant | step (ms, median of rounds) | / full (range) | MFLOP run per step | params+grads+state+arena (MiB) | beyond params (MiB) | / full | standalone peak RSS (MiB) | callgrind Ir per step (M) | / full |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in models:
    base = m.replace("_last", "").replace("_bias", "")
    t, tb = per_round(m), per_round(base)
    ratios = sorted(t[k] / tb[k] for k in t)
    last = [r for r in rows if r["model"] == m][-1]
    fb = [r for r in rows if r["model"] == base][-1]
    for r in (last, fb): r["beyond_bytes"] = r["total_bytes"] - r["params_bytes"]
    s, sb = sa[m], sa[base]
    ir = ("%.1f | %.3f" % (s["ir"] / s["steps"] / 1e6, s["ir"] / sb["ir"])) if sb["ir"] else "- | -"
    print("| %s | %s | %.2f | %.3f (%.3f-%.3f) | %.1f | %s | %s | %.3f | %.1f | %s |" % (
        base, {"": "full"}.get(m[len(base):], m[len(base) + 1:]),
        statistics.median(t.values()) / 1e3, statistics.median(ratios), ratios[0], ratios[-1],
        last["performed_flops"] / 1e6, mib(last["total_bytes"]), mib(last["beyond_bytes"]),
        last["beyond_bytes"] / fb["beyond_bytes"], s["rss_kib"] / 1024, ir))
PY
