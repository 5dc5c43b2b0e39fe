#!/bin/sh
# bench/first_step.sh -- how soon nngen train --backend auto runs its first step: the
# "first step on tcc N ms after compiling began" of the `back end:` summary line (time from the
# model being read, the data prepared, to the end of the first training step on the tcc build:
# code generation, libtcc, buffers, NAME_init, the step), for digits_mlp, W2 and W4
# (docs/PERFORMANCE.md, "Tiered JIT").
#
#   bench/first_step.sh                          (ROUNDS=10, this checkout's release build)
#   BASE=/tmp/main/.build/release/nngen bench/first_step.sh    and another build, interleaved
#
# Each round runs every model once with every binary, in an order that alternates from round to
# round; the table gives the minimum and the median milliseconds. The line is printed at ms
# resolution. Needs a release build (swift build -c release).
set -eu
ROUNDS=${ROUNDS:-10}
ROWS=${ROWS:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/nngen-first-step}
NNGEN=${NNGEN:-"$ROOT/.build/release/nngen"}
BASE=${BASE:-}
[ -x "$NNGEN" ] || { echo "bench/first_step.sh: build first: swift build -c release" >&2; exit 1; }
mkdir -p "$WORK"
. "$ROOT/bench/workload_data.sh"
workload_data "$WORK" "$NNGEN" w2 784 "$ROWS" && workload_data "$WORK" "$NNGEN" w4 256 "$ROWS" || exit 1

echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ROUNDS=$ROUNDS; ms of 'first step on tcc' in nngen train MODEL --data DATA --epochs 1 (--backend auto)"
RESULTS="$WORK/results.txt"
: > "$RESULTS"
bins="new"
[ -n "$BASE" ] && bins="new base"
round=0
while [ "$round" -lt "$ROUNDS" ]; do
    round=$((round + 1))
    order=$bins
    [ $((round % 2)) = 0 ] && [ -n "$BASE" ] && order="base new"
    for m in "digits $ROOT/examples/digits_mlp.json $ROOT/examples/data/digits.csv" \
             "w2 $ROOT/examples/bench/w2_mnist_mlp.json $WORK/w2-$ROWS.safetensors" \
             "w4 $ROOT/examples/bench/w4_resmlp.json $WORK/w4-$ROWS.safetensors"; do
        set -- $m
        for b in $order; do
            bin=$NNGEN
            [ "$b" = base ] && bin=$BASE
            ms=$("$bin" train "$2" --data "$3" --standardize --epochs 1 | sed -n 's/.*first step on tcc \([0-9]*\) ms.*/\1/p')
            echo "$1 $b ${ms:-?}" >> "$RESULTS"
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

stat() { awk -v w="$1" -v b="$2" '$1 == w && $2 == b { print $3 }' "$RESULTS" | sort -g |
         awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d/%g", v[1], m }'; }
printf '%-8s  %-12s' model "new min/med"
[ -n "$BASE" ] && printf '  %-12s' "base min/med"
echo
for w in digits w2 w4; do
    printf '%-8s  %-12s' "$w" "$(stat "$w" new)"
    [ -n "$BASE" ] && printf '  %-12s' "$(stat "$w" base)"
    echo
done
