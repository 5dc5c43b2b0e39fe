#!/usr/bin/env bash
# Compares two builds of nngen on the reference workloads W1..W4 in one run: each row (workload,
# back end, threads) is timed with the "before" and the "after" binary in turn, ROUNDS times
# (before, after, before, after, ...), so both see the same machine; prints the median of each
# side's per-round medians and their ratio (after / before: above 1 is slower), and the same for
# the per-round minimums (less sensitive to a busy neighbour).
#
#   BEFORE=/path/to/old/nngen bench/compare.sh               # AFTER: this checkout's release build
#   BEFORE=... AFTER=... ROUNDS=5 BACKENDS="cc tcc" THREADS="1 2" bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BEFORE:?set BEFORE to the nngen binary to compare against}"
SCRATCH=${SCRATCH:-.build}
if [ -z "${AFTER:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product nngen >&2
    AFTER="$SCRATCH/release/nngen"
fi
ROUNDS=${ROUNDS:-3}
BACKENDS=${BACKENDS:-"cc tcc"}
THREADS=${THREADS:-"1 2"}
MIN_STEPS=${MIN_STEPS:-200}
MIN_SECONDS=${MIN_SECONDS:-1}
WORKLOADS=${WORKLOADS:-"w1_digits_mlp w2_mnist_mlp w3_conv1d_ln w4_resmlp"}

ROWS=$(mktemp)
trap 'rm -f "$ROWS"' EXIT
for w in $WORKLOADS; do
    for b in $BACKENDS; do
        for t in $THREADS; do
            if [ "$b" = tcc ] && [ "$t" != 1 ]; then continue; fi
            for r in $(seq "$ROUNDS"); do
                for side in before after; do
                    bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
                    printf '%s ' "$side" >> "$ROWS"
                    "$bin" bench "examples/bench/$w.json" --backend "$b" --threads "$t" --dtype f32 \
                        --steps "$MIN_STEPS" --min-seconds "$MIN_SECONDS" --json >> "$ROWS"
                done
            done
        done
    done
done
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; $ROUNDS rounds, before and after alternating"
python3 - "$ROWS" <<'PY'
import json, statistics, sys
ids = {"w1_digits_mlp": "W1", "w2_mnist_mlp": "W2", "w3_conv1d_ln": "W3", "w4_resmlp": "W4"}
runs = {}
for line in open(sys.argv[1]):
    side, text = line.split(" ", 1)
    r = json.loads(text)
    runs.setdefault((r["model"], r["backend"], r["threads"]), {}).setdefault(side, []).append(
        (r["step_us_median"], r["step_us_min"]))
print("| workload | back end | threads | before median us | after median us | after / before | before min us | after min us | after / before |")
print("|---|---|---|---|---|---|---|---|---|")
for (model, backend, threads), sides in runs.items():
    b = statistics.median(m for m, _ in sides["before"])
    a = statistics.median(m for m, _ in sides["after"])
    bm = min(m for _, m in sides["before"])
    am = min(m for _, m in sides["after"])
    print("| %s | %s | %d | %.1f | %.1f | %.3f | %.1f | %.1f | %.3f |" % (
        ids.get(model, model), backend, threads, b, a, a / b, bm, am, am / bm))
PY
