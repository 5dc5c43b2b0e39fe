#!/bin/sh
# bench/tiered.sh -- nngen train --backend auto against tcc alone and cc alone: wall time of
# whole runs (docs/PERFORMANCE.md, "Tiered JIT").
#
#   bench/tiered.sh                                   (ROUNDS=3 EPOCHS="1 3 20" ROWS=60000)
#   ROUNDS=5 EPOCHS="1 3" W4_ROWS=20000 bench/tiered.sh
#
# Makes MNIST-sized data with bench/make_csv.c: ROWS rows x 784 values for W2
# (examples/bench/w2_mnist_mlp.json) and W4_ROWS (default ROWS) x 256 for W4
# (examples/bench/w4_resmlp.json, whose input is 256 wide; its one output learns the label as a
# value), converted to safetensors so that reading the data (memory-mapped) does not blur the
# comparison. Then, for every workload and epoch count, each round runs tcc, cc and auto once,
# in an order that rotates from round to round, and the table gives the minimum and the median
# wall seconds of each, auto's against the better of tcc and cc, and where the auto runs
# switched. Needs a release build (swift build -c release).
set -eu
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-"1 3 20"}
ROWS=${ROWS:-60000}
W4_ROWS=${W4_ROWS:-$ROWS}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/nngen-tiered-bench}
NNGEN=${NNGEN:-"$ROOT/.build/release/nngen"}
[ -x "$NNGEN" ] || { echo "bench/tiered.sh: build first: swift build -c release" >&2; exit 1; }
mkdir -p "$WORK"
. "$ROOT/bench/workload_data.sh"
workload_data "$WORK" "$NNGEN" w2 784 "$ROWS" && workload_data "$WORK" "$NNGEN" w4 256 "$W4_ROWS" || exit 1

echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ROUNDS=$ROUNDS EPOCHS=\"$EPOCHS\" ROWS=$ROWS W4_ROWS=$W4_ROWS; wall seconds of nngen train MODEL --data DATA --standardize --epochs E --backend B"
RESULTS="$WORK/results.txt"
: > "$RESULTS"
now() { date +%s.%N; }
round=0
while [ "$round" -lt "$ROUNDS" ]; do
    round=$((round + 1))
    for e in $EPOCHS; do
        for w in "w2 $ROOT/examples/bench/w2_mnist_mlp.json $WORK/w2-$ROWS.safetensors" \
                 "w4 $ROOT/examples/bench/w4_resmlp.json $WORK/w4-$W4_ROWS.safetensors"; do
            set -- $w
            case $((round % 3)) in
                1) order="tcc cc auto" ;;
                2) order="cc auto tcc" ;;
                *) order="auto tcc cc" ;;
            esac
            for b in $order; do
                start=$(now)
                "$NNGEN" train "$2" --data "$3" --standardize --epochs "$e" --backend "$b" > "$WORK/out.txt"
                end=$(now)
                switch=$(sed -n 's/.*ms after compiling began; //p' "$WORK/out.txt")
                echo "$1 $e $b $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') ${switch:--}" >> "$RESULTS"
            done
        done
    done
done

# min and median of the seconds of one workload, epoch count and back end
stat() { awk -v w="$1" -v e="$2" -v b="$3" '$1 == w && $2 == e && $3 == b { print $4 }' "$RESULTS" | sort -g |
         awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f %.2f", v[1], m }'; }
printf '%-8s %2s  %-13s  %-13s  %-13s  %9s  %9s  %s\n' workload ep "tcc min/med" "cc min/med" "auto min/med" \
       "auto/best" "auto/best" "auto runs: switched at"
printf '%-8s %2s  %-13s  %-13s  %-13s  %9s  %9s\n' "" "" "" "" "" "(min)" "(median)"
for w in w2 w4; do
    for e in $EPOCHS; do
        set -- $(stat "$w" "$e" tcc) $(stat "$w" "$e" cc) $(stat "$w" "$e" auto)
        ratios=$(echo "$1 $2 $3 $4 $5 $6" | awk '{ bm = $1 < $3 ? $1 : $3; bd = $2 < $4 ? $2 : $4; printf "%9.3f  %9.3f", $5 / bm, $6 / bd }')
        switches=$(awk -v w="$w" -v e="$e" '$1 == w && $2 == e && $3 == "auto" {
            s = $5; for (i = 6; i <= NF; i++) s = s " " $i
            sub(/switched to cc at /, "", s); sub(/tcc throughout \(too little.*/, "tcc (short run)", s)
            sub(/tcc throughout \(the run ended.*/, "tcc (cc not ready)", s); sub(/tcc throughout \(the cc build failed.*/, "tcc (cc failed)", s)
            printf "%s%s", sep, s; sep = "; " }' "$RESULTS")
        printf '%-8s %2s  %6s/%-6s  %6s/%-6s  %6s/%-6s  %s  %s\n' "$w" "$e" "$1" "$2" "$3" "$4" "$5" "$6" "$ratios" "$switches"
    done
done
