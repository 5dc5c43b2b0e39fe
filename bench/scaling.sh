#!/usr/bin/env bash
# bench/scaling.sh -- how the cost of a training step grows with the model (docs/PERFORMANCE.md,
# "How cost grows with the width"): an MLP of width W = 128 ... 4096, x[784] -> dense W -> relu ->
# dense W -> relu -> dense 10 -> softmax cross-entropy, SGD lr 0.01, batch 128, float32 (W2 of
# docs/BENCHMARKS.md at W = 512), timed with nngen's cc and tcc back ends (`nngen bench --json`)
# and with JAX jit (bench/scaling_jax.py, the same step) in the same run, ROUNDS rounds of
# cc, tcc, JAX per width. Prints one Markdown table (median of the rounds' medians, minimum of
# their minimums) and writes the plot (SVG, bench/scaling_report.py).
#
#   bench/scaling.sh                                # release build in .build, then every width
#   ROUNDS=5 WIDTHS="128 1024 4096" bench/scaling.sh
#   NNGEN=/path/to/nngen PLOT=/tmp/s.svg bench/scaling.sh
#   bench/scaling.sh --models DIR                   # only write the model files (examples/bench/scaling/)
#
# Needs a Python with JAX, never a dependency of nngen:
#   python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install jax jaxlib
#
# | variable | default | meaning |
# | WIDTHS | 128 256 512 1024 2048 4096 | hidden widths |
# | ROUNDS | 3 | rounds of cc, tcc, JAX per width |
# | MIN_STEPS | 200 | a row times at least this many steps ... |
# | BUDGET_GFLOP | 200 | ... or, for big widths, as many (at least 10) as hold about this many GFLOP |
# | MIN_SECONDS | 1 | and at least this many seconds of them |
# | PIN | 0 | CPU every measured process is pinned to (taskset -c); empty: no pinning |
# | PYTHON | /tmp/benchvenv/bin/python | the Python with JAX |
# | NNGEN | (build) | an nngen binary to use instead of building one in SCRATCH (.build) |
# | PLOT | docs/scaling.svg | where the plot goes; empty: no plot |
# | RAW | (none) | a file to keep every row's JSON in (bench/scaling_report.py RAW [PLOT] redraws from it) |
#
# JAX runs on one thread as far as XLA allows: XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
# intra_op_parallelism_threads=1" and, like every process here, taskset -c $PIN.
set -euo pipefail
cd "$(dirname "$0")/.."

WIDTHS=${WIDTHS:-"128 256 512 1024 2048 4096"}
for w in $WIDTHS; do
    [[ $w =~ ^[1-9][0-9]{0,5}$ ]] || { echo "bench/scaling.sh: WIDTHS: '$w' is not a width (a whole number 1 to 999999)" >&2; exit 2; }
done

# The model of width $1 (2 hidden layers of that width), as committed in examples/bench/scaling/.
model_json() {
    cat <<EOF
{
  "name": "scaling_mlp_$1",
  "input": {"features": 784},
  "batch": 128,
  "layers": [
    {"type": "dense", "units": $1},
    {"type": "relu"},
    {"type": "dense", "units": $1},
    {"type": "relu"},
    {"type": "dense", "units": 10}
  ],
  "loss": {"type": "softmax_cross_entropy"},
  "optimizer": {"type": "sgd", "lr": 0.01}
}
EOF
}

write_models() {
    mkdir -p "$1"
    for w in $WIDTHS; do model_json "$w" > "$1/mlp_$w.json"; done
}

if [ "${1:-}" = --models ]; then
    [ -n "${2:-}" ] || { echo "usage: bench/scaling.sh --models DIR" >&2; exit 2; }
    write_models "$2"
    exit 0
elif [ $# -gt 0 ]; then
    echo "usage: bench/scaling.sh [--models DIR] (settings through the environment: see the top of the script)" >&2
    exit 2
fi

ROUNDS=${ROUNDS:-3}
MIN_STEPS=${MIN_STEPS:-200}
BUDGET_GFLOP=${BUDGET_GFLOP:-200}
MIN_SECONDS=${MIN_SECONDS:-1}
PIN=${PIN-0}
PYTHON=${PYTHON:-/tmp/benchvenv/bin/python}
PLOT=${PLOT-docs/scaling.svg}
SCRATCH=${SCRATCH:-.build}
RAW=${RAW:-}

"$PYTHON" -c "import jax" 2>/dev/null || {
    echo "bench/scaling.sh: $PYTHON cannot import jax; see the comment at the top of this script" >&2; exit 1; }
if [ -z "${NNGEN:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product nngen >&2
    NNGEN="$SCRATCH/release/nngen"
fi
PINNED=()
[ -n "$PIN" ] && PINNED=(taskset -c "$PIN")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
write_models "$WORK"
cc -O2 -march=native -o "$WORK/fma_peak" bench/fma_peak.c
FMA=$("${PINNED[@]}" "$WORK/fma_peak")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# All CPUs' busy and total jiffies (/proc/stat): how busy the machine was during the run.
jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
read -r BUSY0 TOTAL0 < <(jiffies)
START=$(date +%s)

for w in $WIDTHS; do
    # Timed steps: MIN_STEPS, or fewer (at least 10) so that they hold about BUDGET_GFLOP GFLOP.
    flops=$((6 * 128 * (784 * w + w * w + 10 * w)))
    steps=$((BUDGET_GFLOP * 1000000000 / flops))
    ((steps > MIN_STEPS)) && steps=$MIN_STEPS
    ((steps < 10)) && steps=10
    warmup=$((steps / 10 < 2 ? 2 : (steps / 10 > 20 ? 20 : steps / 10)))
    for r in $(seq "$ROUNDS"); do
        for b in cc tcc; do
            "${PINNED[@]}" "$NNGEN" bench "$WORK/mlp_$w.json" --backend "$b" --dtype f32 --steps "$steps" \
                --min-seconds "$MIN_SECONDS" --warmup "$warmup" --json >> "$WORK/rows.jsonl"
        done
        XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
            "${PINNED[@]}" "$PYTHON" bench/scaling_jax.py "$WORK/mlp_$w.json" "$steps" "$MIN_SECONDS" "$warmup" \
            >> "$WORK/rows.jsonl"
    done
    echo "width $w done ($((ROUNDS)) rounds, $steps+ steps per row, $(( $(date +%s) - START )) s so far)" >&2
done

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) CPUs; flags: $(grep -m1 -o -w -E 'avx2|fma|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); pinned to CPU ${PIN:-none}; $ROUNDS rounds; $(( $(date +%s) - START )) s"
read -r BUSY1 TOTAL1 < <(jiffies)
echo "load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg); all CPUs busy $(( 100 * (BUSY1 - BUSY0) / (TOTAL1 - TOTAL0 + 1) ))% of the run (this run alone: about $(( 100 / $(nproc) ))%); register-only FMA loop (bench/fma_peak.c) $FMA GFLOP/s"
[ -z "$RAW" ] || cp "$WORK/rows.jsonl" "$RAW"
"$PYTHON" bench/scaling_report.py "$WORK/rows.jsonl" "$PLOT"
