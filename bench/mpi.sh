#!/usr/bin/env bash
# Data-parallel training on this machine (docs/PERFORMANCE.md, "Processes: train_mpi"): W2 and W4
# (examples/bench/*.json, float32) emitted with `nngen emit`, trained on synthetic data of the
# right width (numpy, seed 1) by
#   1p      ./train (one process, the model's batch B)
#   1p-2B   ./train emitted with batch 2B (one process, the global batch of 2p)
#   2t      ./train built with -fopenmp -DNN_THREADS=2 (one process, two threads, batch B)
#   2p      mpirun -np 2 ./train_mpi (two processes of batch B: global batch 2B)
# in alternating rounds (the machine is shared: compare within a round). Each run trains EPOCHS
# epochs with --val-split 0; a run's samples/s is the median of its epoch lines (training samples
# of the global batch per second). Prints one line per run, then the medians over the rounds and
# the allreduce's share of 2p's training time (train_mpi's last stderr line).
#
#   bench/mpi.sh                      # nngen from .build/debug (the C is built by make, -O3)
#   NNGEN=.build/release/nngen ROUNDS=5 EPOCHS=3 bench/mpi.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NNGEN=${NNGEN:-.build/debug/nngen}
ROUNDS=${ROUNDS:-5}
EPOCHS=${EPOCHS:-3}
WORK=${WORK:-$(mktemp -d /tmp/nngen-mpi-bench.XXXXXX)}
MPIRUN="mpirun -q --oversubscribe"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Synthetic data: x standard normal, y a label in 0..9 (W2) or a value (W4).
python3 - "$WORK" <<'PY'
import json, struct, sys
import numpy as np
def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = a.tobytes()
        header[name] = {"dtype": {np.float32: "F32", np.int64: "I64"}[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
rng = np.random.default_rng(1)
n = 256 * 40
save(sys.argv[1] + "/w2.safetensors", {"x": rng.standard_normal((n, 784)).astype(np.float32),
                                       "y": rng.integers(0, 10, n).astype(np.int64)})
n = 128 * 60
x = rng.standard_normal((n, 256)).astype(np.float32)
save(sys.argv[1] + "/w4.safetensors", {"x": x, "y": (x[:, :8].sum(1, keepdims=True) * 0.3).astype(np.float32)})
PY

build() { # model dir batch cflags
    python3 -c "import json,sys; m=json.load(open(sys.argv[1])); m['batch']=int(sys.argv[2]); print(json.dumps(m))" \
        "$1" "$3" > "$WORK/$2.json"
    "$NNGEN" emit "$WORK/$2.json" -o "$WORK/$2" >/dev/null
    make -s -C "$WORK/$2" train train_mpi ${4:+CFLAGS="$4"} >/dev/null
}
for w in w2_mnist_mlp:128:w2 w4_resmlp:64:w4; do
    IFS=: read -r model batch data <<<"$w"
    json=examples/bench/$model.json
    build "$json" "$data-1p" "$batch"
    build "$json" "$data-2B" $((2 * batch))
    build "$json" "$data-2t" "$batch" "-O3 -march=native -fno-math-errno -fopenmp -DNN_THREADS=2"
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rate() { grep '^epoch ' | sed 's/.*  \([0-9]*\) samples\/s$/\1/' | median; }

results="$WORK/results.txt"
: > "$results"
for round in $(seq 1 "$ROUNDS"); do
    for data in w2 w4; do
        d="$WORK/$data.safetensors"
        r1=$("$WORK/$data-1p/train" "$d" --epochs "$EPOCHS" --val-split 0 2>/dev/null | rate)
        r2p=$($MPIRUN -np 2 "$WORK/$data-1p/train_mpi" "$d" --epochs "$EPOCHS" --val-split 0 2>"$WORK/err" | rate)
        share=$(sed -n 's/.*: \([0-9.]*\)% of the training time.*/\1/p' "$WORK/err")
        r2b=$("$WORK/$data-2B/train" "$d" --epochs "$EPOCHS" --val-split 0 2>/dev/null | rate)
        r2t=$("$WORK/$data-2t/train" "$d" --epochs "$EPOCHS" --val-split 0 2>/dev/null | rate)
        echo "round $round $data 1p $r1 2p $r2p allreduce% $share 1p-2B $r2b 2t $r2t" | tee -a "$results"
    done
done
for data in w2 w4; do
    col() { grep " $data " "$results" | awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' | median; }
    m1=$(col 1p) m2=$(col 2p) ms=$(col allreduce%) mb=$(col 1p-2B) mt=$(col 2t)
    ratios=$(grep " $data " "$results" | awk '{print $7 / $5}' | median)
    echo "$data medians: 1p $m1  2p $m2 (x$(awk -v a="$m2" -v b="$m1" 'BEGIN {printf "%.2f", a / b}'); per-round ratio median x$ratios)  allreduce $ms%  1p-2B $mb  2t $mt (x$(awk -v a="$mt" -v b="$m1" 'BEGIN {printf "%.2f", a / b}'))"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  (work files in $WORK)"
