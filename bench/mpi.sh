#!/usr/bin/env bash
# Data-parallel training on this machine (docs/PERFORMANCE.md, "Processes: train_mpi"): W2 and W4
# (examples/bench/*.json, float32) emitted with `nngen emit`, trained on synthetic data of the
# right width (numpy, seed 1) by
#   1p      ./train (one process, the model's batch B)
#   1p-2B   ./train emitted with batch 2B (one process, the global batch of 2p)
#   2t      ./train built with -fopenmp -DNN_THREADS=2 (one process, two threads, batch B)
#   2p      mpirun -np 2 ./train_mpi (two processes of batch B: global batch 2B), the default: one
#           copy of the model per machine in shared memory, each process updating half of it
#   2p-ar   the same with NN_MPI_SHARED=0: a copy per process, one MPI_Allreduce after the backward
# in alternating rounds (the machine is shared: compare within a round), each round's line ending
# with the cores' distance just after it (bench/c2c.c: ns a cache-line round trip between cores 0
# and 1, which the host changes from minute to minute). Each run trains EPOCHS
# epochs with --val-split 0; a run's samples/s is the median of its epoch lines (training samples
# of the global batch per second). Prints one line per run, then the medians over the rounds,
# the per-round ratios 2p / 1p, and the share of 2p's training time spent averaging (and, for 2p,
# updating) (train_mpi's stderr line "...: S% of the training time").
#
#   bench/mpi.sh                      # nngen from .build/debug (the C is built by make, -O3)
#   NNGEN=.build/release/nngen ROUNDS=5 EPOCHS=3 bench/mpi.sh
#   MPIRUN_ARGS="--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4" bench/mpi.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NNGEN=${NNGEN:-.build/debug/nngen}
ROUNDS=${ROUNDS:-5}
EPOCHS=${EPOCHS:-3}
WORK=${WORK:-$(mktemp -d /tmp/nngen-mpi-bench.XXXXXX)}
mkdir -p "$WORK"
MPIRUN="mpirun -q --oversubscribe ${MPIRUN_ARGS:-}"
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

cc -O2 -pthread -o "$WORK/c2c" bench/c2c.c # the cores' distance now (ns a cache-line round trip)

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
        r2a=$(NN_MPI_SHARED=0 $MPIRUN -x NN_MPI_SHARED -np 2 "$WORK/$data-1p/train_mpi" "$d" --epochs "$EPOCHS" \
              --val-split 0 2>"$WORK/err" | rate)
        sharea=$(sed -n 's/.*: \([0-9.]*\)% of the training time.*/\1/p' "$WORK/err")
        r2b=$("$WORK/$data-2B/train" "$d" --epochs "$EPOCHS" --val-split 0 2>/dev/null | rate)
        r2t=$("$WORK/$data-2t/train" "$d" --epochs "$EPOCHS" --val-split 0 2>/dev/null | rate)
        echo "round $round $data 1p $r1 2p $r2p 2p-ar $r2a averaging% $share averaging-ar% $sharea" \
             "1p-2B $r2b 2t $r2t c2c-ns $("$WORK/c2c") load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$results"
    done
done
ratio() { awk '{printf "%.2f", $1 / $2}'; }
ratio2() { awk '{printf "%.2f", $1}'; }
for data in w2 w4; do
    col() { grep " $data " "$results" | awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' | median; }
    per() { grep " $data " "$results" | awk -v k="$1" '{for (i = 1; i < NF; i++) {if ($i == k) a = $(i + 1); if ($i == "1p") b = $(i + 1)}
                                                         printf "%.2f\n", a / b}'; }
    m1=$(col 1p) m2=$(col 2p) ma=$(col 2p-ar) ms=$(col averaging%) msa=$(col averaging-ar%) mb=$(col 1p-2B) mt=$(col 2t)
    echo "$data medians: 1p $m1  2p $m2 (x$(echo "$m2 $m1" | ratio))  2p-ar $ma (x$(echo "$ma $m1" | ratio))" \
         " averaging $ms% (2p-ar: $msa%)  1p-2B $mb  2t $mt (x$(echo "$mt $m1" | ratio))"
    echo "$data per-round ratios 2p/1p: $(per 2p | tr '\n' ' ') median x$(per 2p | median | ratio2), best x$(per 2p | sort -g | tail -1)"
    echo "$data per-round ratios 2p-ar/1p: $(per 2p-ar | tr '\n' ' ') median x$(per 2p-ar | median | ratio2)," \
         "best x$(per 2p-ar | sort -g | tail -1)"
    echo "$data per-round ratios 2t/1p: $(per 2t | tr '\n' ' ') median x$(per 2t | median | ratio2)"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  (work files in $WORK)"
