#!/bin/sh
# bench/data_scaling.sh -- how CSV ingest grows with the number of rows (docs/PERFORMANCE.md,
# "Data at real size"): files of 1k, 10k, 100k and 1M rows of 64 integer features and a label
# (bench/make_csv.c), each read by nngen convert (its CPU seconds for the read) and by
# pandas.read_csv, with the peak RSS of each process. Prints one table.
#
#   bench/data_scaling.sh            (release build and PYTHON with pandas as for bench/data.sh)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/nngen-data-bench}
PYTHON=${PYTHON:-/tmp/benchvenv/bin/python}
NNGEN="$ROOT/.build/release/nngen"
[ -x "$NNGEN" ] || { echo "bench/data_scaling.sh: build first: swift build -c release" >&2; exit 1; }
mkdir -p "$WORK"
cc -O2 -o "$WORK/make_csv" "$ROOT/bench/make_csv.c"
printf '%-9s %9s | %9s %9s %9s | %9s %9s\n' rows "CSV MB" "nngen CPU s" "MB/s" "peak MB" "pandas CPU s" "peak MB"
for ROWS in 1000 10000 100000 1000000; do
    CSV="$WORK/f64-$ROWS.csv"
    [ -f "$CSV" ] || "$WORK/make_csv" "$ROWS" 64 > "$CSV"
    SIZE=$(wc -c < "$CSV")
    OUT=$(/usr/bin/time -f "PEAK %M" "$NNGEN" convert "$CSV" -o "$WORK/f64-$ROWS.safetensors" 2>&1)
    CPU=$(echo "$OUT" | sed -n 's/.*s, \([0-9.]*\) s of CPU.*/\1/p')
    PEAK=$(echo "$OUT" | sed -n 's/^PEAK //p')
    PD=$("$PYTHON" -c "
import resource, time, pandas as pd
c = time.process_time(); a = pd.read_csv('$CSV', engine='c', dtype='float32'); c = time.process_time() - c
print(c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    awk -v r="$ROWS" -v s="$SIZE" -v c="$CPU" -v p="$PEAK" -v pd="$PD" 'BEGIN {
        split(pd, q, " ");
        printf "%-9d %9.1f | %11.3f %9.0f %9.0f | %12.3f %9.0f\n", r, s / 1e6, c, (c > 0 ? s / 1e6 / c : 0), p / 1024, q[1], q[2] / 1024 }'
done
