#!/usr/bin/env bash
# The embedded target's figures for every example (docs/PERFORMANCE.md, "On a microcontroller"):
# flash and RAM of the Cortex-M4 program for full training, and instructions per training step on
# the emulated Cortex-M4 (qemu-system-arm, mps2-an386) and on aarch64 under qemu-user, counted by
# the plugin bench/qemu_insn.c (qemu executes guest instructions one for one: the count is exact
# for the emulated instruction set; it says nothing of cycles, caches or wait states).
#
#   bench/embedded.sh                 # debug build of nngen in .build; prints one Markdown table
#   NNGEN=path/to/nngen MODELS="a.json b.json" bench/embedded.sh   # another nngen, other models
#
# Method: each program embeds 4 batches of its data set; it is built twice, for 1 and for 3 epochs,
# and instructions per step = (count(3 epochs) - count(1 epoch)) / (2 epochs x 4 steps): start-up,
# initialisation and loading cancel out; the per-epoch shuffle (4 batches of indices) and the report
# line stay in (well under 1% of a step here). RAM = .data + .bss of the linked program + the stack's
# high-water mark the start-up file measures on the device; flash = .text + .data minus the embedded
# data (its size is the "data/row" column times the rows you embed). A model with frozen layers
# (digits_mlp_finetune) needs a checkpoint: one epoch of `nngen train` on it gives one, and its frozen
# parameters go to flash (they count in "flash (program)" here).
set -euo pipefail
cd "$(dirname "$0")/.."
NNGEN=${NNGEN:-.build/debug/nngen}
[ -x "$NNGEN" ] || swift build --product nngen >&2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cc -shared -fPIC -O2 -o "$WORK/qemu_insn.so" bench/qemu_insn.c
QEMU_M4="qemu-system-arm -M mps2-an386 -display none -monitor none -serial null -chardev stdio,id=s
         -semihosting-config enable=on,target=native,chardev=s -plugin $WORK/qemu_insn.so -d plugin"

data_of() {
    case $1 in
        iris) echo iris ;; breast_cancer) echo breast_cancer ;; diabetes*) echo diabetes ;; digits*) echo digits ;;
    esac
}

count() { grep '^instructions ' | awk '{print $2}'; }

echo "| model | flash (program) | data/row | RAM: static | RAM: stack used | RAM total | M4 instructions/step | aarch64 instructions/step (NEON) | aarch64 (plain C) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for json in ${MODELS:-examples/*.json}; do
    model=$(basename "$json" .json)
    batch=$(grep -o '"batch": *[0-9]*' "$json" | grep -o '[0-9]*$')
    rows=$((4 * batch))
    declare -A m4 a64 plain
    params=()
    if grep -q '"trainable": *false' "$json"; then
        "$NNGEN" train "$json" --data "examples/data/$(data_of "$model").csv" --epochs 1 \
            --save "$WORK/$model.safetensors" >/dev/null
        params=(--embed-params "$WORK/$model.safetensors")
    fi
    for epochs in 1 3; do
        dir="$WORK/$model-$epochs"
        "$NNGEN" emit "$json" -o "$dir" --target embedded --embed-data "examples/data/$(data_of "$model").csv" \
            --embed-rows "$rows" --epochs "$epochs" "${params[@]}" > "$WORK/footprint-$model.txt"
        make -s -C "$dir" m4 >/dev/null
        out=$($QEMU_M4 -kernel "$dir/train_m4.elf" 2>&1)
        m4[$epochs]=$(echo "$out" | count)
        stack=$(echo "$out" | grep '^stack ' | awk '{print $2}')
        sources="$model.c train_device.c ${model}_data.c"
        [ -f "$dir/${model}_params.c" ] && sources="$sources ${model}_params.c"
        (cd "$dir" && aarch64-linux-gnu-gcc -O2 -std=c99 -o train_a64 $sources device_host.c -lm \
            && aarch64-linux-gnu-gcc -O2 -std=c99 -DNN_PLAIN_C -o train_a64_plain $sources device_host.c -lm)
        a64[$epochs]=$(qemu-aarch64 -plugin "$WORK/qemu_insn.so" -d plugin -L /usr/aarch64-linux-gnu "$dir/train_a64" 2>&1 | count)
        plain[$epochs]=$(qemu-aarch64 -plugin "$WORK/qemu_insn.so" -d plugin -L /usr/aarch64-linux-gnu "$dir/train_a64_plain" 2>&1 | count)
    done
    dir="$WORK/$model-1"
    read -r text data bss _ < <(arm-none-eabi-size "$dir/train_m4.elf" | tail -1)
    perrow=$(grep -o '[0-9,]* bytes a row\|([0-9,]* B)  [0-9,]* rows' "$WORK/footprint-$model.txt" | head -1 | grep -o '^([0-9,]*' | tr -d '(,')
    perrow=$((perrow / rows))
    flash=$((text + data - perrow * rows))
    static=$((data + bss))
    steps=$((2 * 4))
    echo "| $model | $flash B | $perrow B | $static B | $stack B | $((static + stack)) B |" \
        "$(( (m4[3] - m4[1]) / steps )) | $(( (a64[3] - a64[1]) / steps )) | $(( (plain[3] - plain[1]) / steps )) |"
done
