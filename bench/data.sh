#!/bin/sh
# bench/data.sh -- data ingest and memory at real size (docs/PERFORMANCE.md, "Data at real size").
#
# Makes a 60,000 x 785 MNIST-sized CSV (bench/make_csv.c: integer pixels 0..255 and a label),
# converts it with nngen convert, emits the standalone program of examples/bench/w2_mnist_mlp.json
# (standardising), then bench/data.py times ingest and memory for nngen, ./train, numpy.loadtxt
# and pandas.read_csv and prints one table.
#
#   bench/data.sh [ROWS] [RUNS]            (defaults 60000 and 3)
#
# Needs a release build (swift build -c release) and a Python with numpy and pandas for the
# comparison, never a dependency of nngen: python3 -m venv /tmp/benchvenv &&
# /tmp/benchvenv/bin/pip install pandas numpy (or set PYTHON).
set -eu
ROWS=${1:-60000}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/nngen-data-bench}
PYTHON=${PYTHON:-/tmp/benchvenv/bin/python}
NNGEN="$ROOT/.build/release/nngen"
[ -x "$NNGEN" ] || { echo "bench/data.sh: build first: swift build -c release" >&2; exit 1; }
"$PYTHON" -c "import numpy, pandas" 2>/dev/null || {
    echo "bench/data.sh: $PYTHON lacks numpy or pandas; see the comment at the top of this script" >&2; exit 1; }
mkdir -p "$WORK"
cc -O2 -o "$WORK/make_csv" "$ROOT/bench/make_csv.c"
CSV="$WORK/mnist-$ROWS.csv"
ST="$WORK/mnist-$ROWS.safetensors"
[ -f "$CSV" ] || "$WORK/make_csv" "$ROWS" 784 > "$CSV"
"$NNGEN" convert "$CSV" -o "$ST" > /dev/null
sed 's/"optimizer"/"standardize": true, "optimizer"/' "$ROOT/examples/bench/w2_mnist_mlp.json" > "$WORK/w2s.json"
rm -rf "$WORK/w2" && "$NNGEN" emit "$WORK/w2s.json" -o "$WORK/w2" > /dev/null && make -s -C "$WORK/w2" > /dev/null
echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" "$ROOT/bench/data.py" "$NNGEN" "$WORK/w2" "$WORK/w2s.json" "$CSV" "$ST" "$RUNS" "$PYTHON"
