#!/usr/bin/env bash
# Counts the instructions one training step executes, with valgrind's callgrind: repeatable on a
# shared machine, where wall time is not. Runs FEW and then MANY training steps under callgrind
# and prints the difference divided by MANY - FEW, so that what compiling, loading and the
# process cost cancels out. One thread (callgrind runs threads one at a time).
#
# - cc: the model's NAME.c from `nngen emit`, compiled with the cc back end's flags
#   (`-O3 -march=native -fno-math-errno -std=c99`, but `-march=$ARCH`, x86-64-v3 = AVX2 + FMA
#   unless set: valgrind does not decode AVX-512) into a program that calls NAME_train_step
#   (valgrind cannot run the back end's compiler from inside nngen);
# - tcc: `nngen bench MODEL --backend tcc` itself (libtcc in memory, the precompiled helpers),
#   with no warm-up and no minimum time; the parameter redraw it does every 100 steps happens
#   once in both runs when MANY stays below 100.
#
#   bench/callgrind_step.sh MODEL [BACKEND]                      # this checkout's release build, cc
#   NNGEN=/path/to/old/nngen bench/callgrind_step.sh examples/bench/w3_conv1d_ln.json tcc
#   FEW=2 MANY=22 DTYPE=f64 bench/callgrind_step.sh MODEL cc
#
# Prints one line: model, back end, dtype, instructions per step.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${1:?usage: bench/callgrind_step.sh MODEL [tcc|cc]}
BACKEND=${2:-cc}
NNGEN=${NNGEN:-.build/release/nngen}
DTYPE=${DTYPE:-f32}
FEW=${FEW:-2}
MANY=${MANY:-12}
ARCH=${ARCH:-x86-64-v3}
if [ "$MANY" -le "$FEW" ] || [ "$MANY" -ge 100 ]; then
    echo "callgrind_step.sh: need FEW < MANY < 100 (got FEW=$FEW MANY=$MANY)" >&2
    exit 2
fi

OUT=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$OUT"' EXIT
# valgrind cannot read the debug information of a Swift release binary: run a copy without it.
cp "$NNGEN" "$OUT/nngen"
strip --strip-debug "$OUT/nngen"
if [ "$BACKEND" = cc ]; then
    "$OUT/nngen" emit "$MODEL" -o "$OUT/c" --dtype "$DTYPE" > /dev/null
    name=$(basename "$(ls "$OUT"/c/*.h | grep -v nn_runtime)" .h)
    cat > "$OUT/c/step_main.c" <<C
#include <stdint.h>
#include <stdlib.h>
#include "$name.h"
#if ${name}_SCALAR_BYTES == 4
typedef float real;
#else
typedef double real;
#endif
#if ${name}_TARGETS_ARE_LABELS
typedef int32_t target;
#else
typedef real target;
#endif
int main(int argc, char **argv) {
    int steps = atoi(argv[1]);
    real *params = calloc(${name}_PARAM_COUNT, sizeof(real)), *grads = calloc(${name}_PARAM_COUNT, sizeof(real));
    real *opt = calloc(${name}_OPT_STATE_COUNT, sizeof(real)), *arena = calloc(${name}_ARENA_COUNT, sizeof(real));
    real *x = calloc(${name}_BATCH * ${name}_INPUT_SIZE, sizeof(real));
    target *y = calloc(${name}_TARGET_COUNT, sizeof(target));
    int64_t step = 0;
    for (int i = 0; i < ${name}_BATCH * ${name}_INPUT_SIZE; i++) x[i] = (real)((i * 7919 % 201) - 100) / 100;
    for (int i = 0; i < ${name}_TARGET_COUNT; i++) y[i] = (target)(i % ${name}_OUTPUT_SIZE);
    ${name}_init(params, 1);
    real loss = 0;
    for (int s = 0; s < steps; s++) loss += ${name}_train_step(params, grads, opt, &step, x, y, (real)0.01, arena);
    return loss != loss;  /* NaN: fail */
}
C
    cc -O3 -march="$ARCH" -fno-math-errno -std=c99 -I"$OUT/c" -o "$OUT/step" "$OUT/c/$name.c" "$OUT/c/step_main.c" -lm
fi
count() {
    if [ "$BACKEND" = cc ]; then
        valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$1" "$OUT/step" "$1" 2> "$OUT/log.$1"
    else
        valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$1" "$OUT/nngen" bench "$MODEL" --backend "$BACKEND" \
            --dtype "$DTYPE" --steps "$1" --min-seconds 0 --warmup 0 > /dev/null 2> "$OUT/log.$1"
    fi
    sed -n 's/^summary: *//p' "$OUT/cg.$1"
}
few=$(count "$FEW")
many=$(count "$MANY")
echo "$(basename "$MODEL" .json) $BACKEND $DTYPE: $(( (many - few) / (MANY - FEW) )) instructions per step"
