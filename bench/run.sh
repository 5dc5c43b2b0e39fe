#!/usr/bin/env bash
# Runs the reference workloads W1..W4 (examples/bench/*.json, docs/BENCHMARKS.md) on both back ends
# and, in the same run, the machine's float32 GEMM ceiling (numpy/OpenBLAS, one thread), and
# prints one Markdown table.
#
#   bench/run.sh                      # release build in .build, 200 steps / 2 s per row
#   SCRATCH=.build-perf bench/run.sh  # another scratch directory
#   THREADS="1 2" BACKENDS="cc tcc" MIN_STEPS=200 MIN_SECONDS=2 bench/run.sh
#
# Rows with threads > 1 use the cc back end only (tcc has no OpenMP).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${SCRATCH:-.build}
BACKENDS=${BACKENDS:-"cc tcc"}
THREADS=${THREADS:-"1 2"}
MIN_STEPS=${MIN_STEPS:-200}
MIN_SECONDS=${MIN_SECONDS:-2}
WORKLOADS=${WORKLOADS:-"w1_digits_mlp w2_mnist_mlp w3_conv1d_ln w4_resmlp"}

swift build -c release --scratch-path "$SCRATCH" --product nngen >&2
NNGEN="$SCRATCH/release/nngen"

# The ceiling: numpy float32 GEMM on one thread, OPENBLAS_CORETYPE unset (docs/BENCHMARKS.md).
ceiling() {
    env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python3 - "$1" <<'PY'
import sys, time
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(0)
a = rng.random((n, n), dtype=np.float32)
b = rng.random((n, n), dtype=np.float32)
for _ in range(3):
    a @ b
times = []
end = time.perf_counter() + 1.0
while time.perf_counter() < end or len(times) < 10:
    t = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - t)
times.sort()
print("%.2f" % (2 * n**3 / times[len(times) // 2] / 1e9))
PY
}

G512=$(ceiling 512)
G1024=$(ceiling 1024)
PEAKBIN=$(mktemp)
cc -O2 -march=native -o "$PEAKBIN" bench/fma_peak.c
FMA=$("$PEAKBIN")
rm -f "$PEAKBIN"

ROWS=$(mktemp)
trap 'rm -f "$ROWS"' EXIT
for w in $WORKLOADS; do
    for b in $BACKENDS; do
        for t in $THREADS; do
            if [ "$b" = tcc ] && [ "$t" != 1 ]; then continue; fi
            "$NNGEN" bench "examples/bench/$w.json" --backend "$b" --threads "$t" --dtype f32 \
                --steps "$MIN_STEPS" --min-seconds "$MIN_SECONDS" --json >> "$ROWS"
        done
    done
done
G1024_AFTER=$(ceiling 1024)

MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
FLAGS=$(grep -m1 -o -w -E 'avx2|fma|avx512f|avx512bw|avx512vl|avx512dq' /proc/cpuinfo | sort -u | tr '\n' ' ')
FAMILY=$(lscpu | sed -n 's/^CPU family: *//p' | head -1)
CPUMODEL=$(lscpu | sed -n 's/^Model: *//p' | head -1)
echo "machine: $MODEL (family $FAMILY model $CPUMODEL), $(nproc) CPUs; flags: $FLAGS; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$ROWS" "$G512" "$G1024" "$G1024_AFTER" "$FMA" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
g512, g1024, g1024b, fma = (float(v) for v in sys.argv[2:6])
ceil = (g1024 + g1024b) / 2
ids = {"w1_digits_mlp": "W1", "w2_mnist_mlp": "W2", "w3_conv1d_ln": "W3", "w4_resmlp": "W4"}
one = {(r["model"], r["backend"]): r for r in rows if r["threads"] == 1}
print("numpy float32 GEMM, 1 thread: 512^3 %.1f GFLOP/s, 1024^3 %.1f GFLOP/s (before) and %.1f (after the workloads);"
      " register-only FMA loop (bench/fma_peak.c) %.1f GFLOP/s" % (g512, g1024, g1024b, fma))
print()
print("| workload | back end | threads | compile ms | median us/step | min us/step | samples/s | GFLOP/s | % of numpy 1024^3 | GFLOP/s run | % of FMA loop | vs 1 thread | vs 1 thread (min) | arena KiB | total KiB | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    base = one.get((r["model"], r["backend"]))
    speed = base["step_us_median"] / r["step_us_median"] if base else float("nan")
    speed_min = base["step_us_min"] / r["step_us_min"] if base else float("nan")
    print("| %s | %s | %d | %.1f | %.1f | %.1f | %.0f | %.2f | %.0f%% | %.2f | %.0f%% | %.2fx | %.2fx | %.0f | %.0f | %.1f |" % (
        ids.get(r["model"], r["model"]), r["backend"], r["threads"], r["compile_ms"], r["step_us_median"],
        r["step_us_min"], r["samples_per_s"], r["gflops"], 100 * r["gflops"] / ceil, r["gflops_performed"],
        100 * r["gflops_performed"] / (fma * r["threads"]), speed, speed_min,
        r["arena_bytes"] / 1024, r["total_bytes"] / 1024, r["peak_rss_bytes"] / 2**20))

# The targets of docs/PERFORMANCE.md that these rows decide (cc back end).
print()
for m, goal2 in (("w3_conv1d_ln", 1.6), ("w4_resmlp", 1.9)):
    base = one.get((m, "cc"))
    if not base:
        continue
    two = [r for r in rows if r["model"] == m and r["backend"] == "cc" and r["threads"] == 2]
    line = "target %s: 1 thread %.0f%% of the FMA loop in the FLOPs it runs (goal >= 80%%; %.0f%% at the minimum)" % (
        ids[m], 100 * base["gflops_performed"] / fma, 100 * base["gflops_performed"] * base["step_us_median"] / base["step_us_min"] / fma)
    if two:
        t = two[0]
        line += "; 2 threads %.2fx one thread by medians, %.2fx by minimums (goal >= %.1fx)" % (
            base["step_us_median"] / t["step_us_median"], base["step_us_min"] / t["step_us_min"], goal2)
    print(line)
PY
