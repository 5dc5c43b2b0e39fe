#!/usr/bin/env bash
# Compile time against model size: for each N, a model of one dense layer followed by N-1
# activations (relu), then the output dense layer; prints per N the seconds `nngen describe`,
# `nngen emit` (the whole pipeline and the files) and `tcc -c` of the emitted NAME.c take.
#
#   bench/compile_scaling.sh                      # N = 100 1000 10000, this checkout's release build
#   NNGEN=/path/to/nngen SIZES="100 1000 5000" bench/compile_scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${SCRATCH:-.build}
if [ -z "${NNGEN:-}" ]; then
    swift build -c release --scratch-path "$SCRATCH" --product nngen >&2
    NNGEN="$SCRATCH/release/nngen"
fi
SIZES=${SIZES:-"100 1000 10000"}
TCC=${TCC:-tcc}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

seconds() {  # seconds COMMAND...: runs it (output discarded), prints the wall time
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

printf '%8s %12s %10s %13s\n' layers describe_s emit_s tcc_compile_s
for n in $SIZES; do
    model="$WORK/scale_$n.json"
    {
        printf '{"name": "scale_%s", "input": {"features": 8}, "batch": 4, "layers": [\n' "$n"
        printf '  {"type": "dense", "units": 8}'
        for _ in $(seq 2 "$n"); do printf ',\n  {"type": "relu"}'; done
        printf ',\n  {"type": "dense", "units": 3}\n],\n'
        printf '"loss": {"type": "softmax_cross_entropy"}, "optimizer": {"type": "sgd", "lr": 0.1}}\n'
    } > "$model"
    d=$(seconds "$NNGEN" describe "$model")
    e=$(seconds "$NNGEN" emit "$model" -o "$WORK/out_$n")
    c=$(seconds "$TCC" -c "$WORK/out_$n/scale_$n.c" -I "$WORK/out_$n" -o "$WORK/out_$n/scale_$n.o")
    printf '%8s %12s %10s %13s\n' "$n" "$d" "$e" "$c"
done
