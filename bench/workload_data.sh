# Sourced by bench/tiered.sh and bench/first_step.sh: MNIST-sized workload data made with
# bench/make_csv.c and converted to safetensors (memory-mapped, so reading it costs nearly nothing).
#
#   workload_data WORK NNGEN NAME WIDTH ROWS   -> WORK/NAME-ROWS.safetensors (kept between runs)

workload_data() {
    [ -x "$1/make_csv" ] || cc -O2 -o "$1/make_csv" "$ROOT/bench/make_csv.c" || return 1
    [ -f "$1/$3-$5.safetensors" ] && return 0
    "$1/make_csv" "$5" "$4" > "$1/$3-$5.csv" &&
    "$2" convert "$1/$3-$5.csv" -o "$1/$3-$5.safetensors" > /dev/null &&
    rm -f "$1/$3-$5.csv"
}
