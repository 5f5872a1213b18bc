#!/bin/sh
# make bench: embrec's speed and memory, side by side with PyTorch running
# the same model and optimiser semantics on the same data, in one run (the
# machine is shared, so ratios taken together mean more than seconds taken
# apart). A measurement, never part of `make test`.
#
#   BENCH_DIR   where the synthetic datasets go           [build/bench]
#   BENCH_25M   0 skips the ML-25M-shaped rows (676 MB)    [1]
#   BENCH_TORCH 0 skips PyTorch                            [1 when python3-torch imports]
#   MOVIELENS   where ml-100k/ is                          [../shared/movielens]
#   EMBREC      the build measured                         [./embrec]
#   BENCH_BASE  another embrec build (an older commit, say) to compare with:
#               each row then runs the two alternately, BENCH_PAIRS times,
#               and adds the min and median of base/EMBREC per epoch (> 1:
#               EMBREC is faster)                          [none]
#   BENCH_PAIRS how many alternating pairs                 [3]
#   LIBMF_SRC   LIBMF's source, for the rows beside it (tests/bench/libmf.sh)
#                                                          [../shared/peers/libmf]
#   DENSE_PAIRS alternating pairs in the Dense table (tests/bench/dense.c)  [7]
#   BENCH_ONLY  run only the rows whose model, optimiser or data contain
#               this text (e.g. "lazy", "ML-25M")          [every row]
set -eu
cd "$(dirname "$0")/../.."
EMBREC=${EMBREC:-./embrec}
BASE=${BENCH_BASE:-}
PAIRS=${BENCH_PAIRS:-3}
DIR=${BENCH_DIR:-build/bench}
ML=${MOVIELENS:-../shared/movielens}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p "$DIR"
TORCH=${BENCH_TORCH:-1}
if [ "$TORCH" = 1 ] && ! "$PY" -c "import torch, numpy" 2>/dev/null; then
    echo "bench: python3-torch or python3-numpy is not installed: PyTorch columns left empty" >&2
    TORCH=0
fi
TIME=""
[ -x /usr/bin/time ] && TIME="/usr/bin/time -f %M -o $DIR/rss"

[ -f "$DIR/ml-1m/ratings.csv" ] || $EMBREC synth --shape ml-1m --out "$DIR/ml-1m" >/dev/null
if [ "${BENCH_25M:-1}" = 1 ] && [ ! -f "$DIR/ml-25m/ratings.csv" ]; then
    $EMBREC synth --shape ml-25m --out "$DIR/ml-25m" >/dev/null
fi

printf '%s\n' "machine: $(nproc) cores; $($EMBREC --help | tail -1)"
printf '| %-34s | %-22s | %-13s | %7s | %7s | %10s | %9s | %10s | %9s | %9s |\n' \
    model "optimiser, update" data threads "s/epoch" "ratings/s" "peak RSS" "PyTorch s" \
    "PyTorch RSS" "ratio $([ -n "$BASE" ] && echo '| base s  | min   | median ')"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' ------------------------------------ \
    ------------------------ --------------- --------- --------- ------------ ----------- \
    ------------ ----------- ----------- "$([ -n "$BASE" ] && echo '---------|-------|--------|')"

# train BIN FILE EPOCHS THREADS "ARGS": the run's fastest epoch, in seconds
# (the machine is shared, and a slow epoch is mostly others' load)
train() {
    # shellcheck disable=SC2086
    $TIME "$1" train --data "$2" $5 --threads "$4" --epochs "$3" \
        --val-split 0 --no-shuffle --quiet --history "$DIR/h.csv" --save "$DIR/bench.embrec"
    awk -F, 'NR > 1 && (s == "" || $6 + 0 < s + 0) {s = $6} END {print s}' "$DIR/h.csv"
}

# the min and the median of a list of numbers, as "min median"
min_median() {
    tr ' ' '\n' | sort -g | awk 'NF {v[n++] = $1} END {
        printf "%.2f %.2f", v[0], n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}

# row LABEL OPTLABEL DATALABEL FILE EPOCHS THREADS "EMBREC ARGS" "TORCH ARGS"
# (PyTorch runs on the same number of threads)
row() {
    label=$1 optl=$2 datal=$3 file=$4 epochs=$5 threads=$6 eargs=$7 targs=$8
    case "$label, $optl, $datal" in *"${BENCH_ONLY:-}"*) ;; *) return 0 ;; esac
    n=$($EMBREC info --data "$file" | awk '$1 == "ratings" {print $2}')
    with_torch=0
    [ "$TORCH" = 1 ] && [ -n "$targs" ] && with_torch=1
    # embrec, then each program it is compared with, in turn, PAIRS times
    # (once when there is none): each pair's ratio shares the machine's load
    sec="" rss=- bsec="" tsec="" trss=- bratios="" tratios="" p=0
    while [ $p -lt "$PAIRS" ]; do
        s=$(train "$EMBREC" "$file" "$epochs" "$threads" "$eargs")
        [ $p -eq 0 ] && [ -n "$TIME" ] && rss=$(awk '{printf "%.0f MB", $1 / 1024}' "$DIR/rss")
        sec=$(awk -v x="$s" -v m="$sec" 'BEGIN {print (m == "" || x < m) ? x : m}')
        if [ -n "$BASE" ]; then
            b=$(train "$BASE" "$file" "$epochs" "$threads" "$eargs")
            bratios="$bratios $(awk -v b="$b" -v s="$s" 'BEGIN {print b / s}')"
            bsec=$(awk -v x="$b" -v m="$bsec" 'BEGIN {print (m == "" || x < m) ? x : m}')
        fi
        if [ $with_torch = 1 ]; then
            # shellcheck disable=SC2086
            set -- $($PY tests/bench/torch_mf.py --data "$file" --threads "$threads" $targs)
            tratios="$tratios $(awk -v t="$1" -v s="$s" 'BEGIN {print t / s}')"
            tsec=$(awk -v x="$1" -v m="$tsec" 'BEGIN {print (m == "" || x < m) ? x : m}')
            trss=$(awk -v k="$2" 'BEGIN {printf "%.0f MB", k / 1024}')
        fi
        [ -z "$BASE" ] && [ $with_torch = 0 ] && break
        p=$((p + 1))
    done
    base=""
    [ -n "$BASE" ] && base=$(printf '| %7.3f | %5s | %6s ' "$bsec" $(printf '%s' "$bratios" | min_median))
    ratio=-
    [ $with_torch = 1 ] && ratio=$(printf '%s' "$tratios" | min_median |
        awk '{printf "%.0f-%.0fx", $1, $2}')
    rate=$(awk -v n="$n" -v s="$sec" 'BEGIN {printf "%.2fM", n / s / 1e6}')
    printf '| %-34s | %-22s | %-13s | %7s | %7.3f | %10s | %9s | %10s | %9s | %9s %s|\n' \
        "$label" "$optl" "$datal" "$threads" "$sec" "$rate" "$rss" "${tsec:--}" "$trss" "$ratio" \
        "$base"
}

CF="--model dot --dim 100 --batch 32"
if [ -f "$ML/ml-100k/u.data" ]; then
    row "cfmodel (dot k=100, batch 32)" "adamax, dense" "ML-100K" "$ML/ml-100k/u.data" 3 1 \
        "$CF --optimizer adamax --update dense" "--dim 100 --optimizer adamax --steps 1000"
fi
D1=$DIR/ml-1m/ratings.csv
for t in 1 2; do
    row "cfmodel (dot k=100, batch 32)" "adamax, dense" "ML-1M shape" "$D1" 3 $t \
        "$CF --optimizer adamax --update dense" "--dim 100 --optimizer adamax --steps 1000"
done
row "cfmodel (dot k=100, batch 32)" "adamax, dense-sweep" "ML-1M shape" "$D1" 1 1 \
    "$CF --optimizer adamax --update dense-sweep" ""
row "cfmodel (dot k=100, batch 32)" "adamax, dense-sweep" "ML-1M shape" "$D1" 1 2 \
    "$CF --optimizer adamax --update dense-sweep" ""
for t in 1 2; do
    row "dot k=100, batch 32" "adam, lazy" "ML-1M shape" "$D1" 3 $t \
        "$CF --optimizer adam --update lazy" "--dim 100 --optimizer adam --update lazy --steps 2000"
done
for t in 1 2; do
    row "bias k=32, batch 32, L2 0.1" "adam, lazy" "ML-1M shape" "$D1" 3 $t \
        "--model bias --dim 32 --l2 0.1 --optimizer adam --update lazy" \
        "--model bias --dim 32 --l2 0.1 --optimizer adam --update lazy --steps 2000"
done
SGD="--model bias --optimizer sgd --lr 0.005 --batch 1"
for k in 8 100; do
    row "bias k=$k, per rating (batch 1)" "sgd, shuffled" "ML-1M shape" "$D1" 5 1 "$SGD --dim $k" ""
    row "bias k=$k, per rating (batch 1)" "sgd, Hogwild" "ML-1M shape" "$D1" 5 2 "$SGD --dim $k" ""
    row "bias k=$k, per rating (batch 1)" "sgd, 8x8 blocks" "ML-1M shape" "$D1" 5 1 \
        "$SGD --dim $k --blocks 8" ""
    row "bias k=$k, per rating (batch 1)" "sgd, 8x8 blocks" "ML-1M shape" "$D1" 5 2 \
        "$SGD --dim $k --blocks 8" ""
done
if [ "${BENCH_25M:-1}" = 1 ] && [ -f "$DIR/ml-25m/ratings.csv" ]; then
    D25=$DIR/ml-25m/ratings.csv
    for t in 1 2; do
        row "bias k=32, batch 32, L2 0.1" "adam, lazy" "ML-25M shape" "$D25" 2 $t \
            "--model bias --dim 32 --l2 0.1 --optimizer adam --update lazy" \
            "--model bias --dim 32 --l2 0.1 --optimizer adam --update lazy --steps 2000 --max-rows 2000000 --total-rows 25000095 --users 162541 --items 59047"
    done
    row "bias k=32, per rating (batch 1)" "sgd, shuffled" "ML-25M shape" "$D25" 2 1 "$SGD --dim 32" ""
    row "bias k=32, per rating (batch 1)" "sgd, Hogwild" "ML-25M shape" "$D25" 2 2 "$SGD --dim 32" ""
    row "bias k=32, per rating (batch 1)" "sgd, 16x16 blocks" "ML-25M shape" "$D25" 2 1 \
        "$SGD --dim 32 --blocks 16" ""
    row "bias k=32, per rating (batch 1)" "sgd, 16x16 blocks" "ML-25M shape" "$D25" 2 2 \
        "$SGD --dim 32 --blocks 16" ""
fi
echo
echo "s/epoch: embrec's fastest epoch of the run, training on every rating (no"
echo "validation split); ratings/s follows from it."
echo "threads: embrec --threads N, and torch.set_num_threads(N) for PyTorch."
echo "PyTorch: the same model, optimiser and batch, timed over its first 1000-2000"
echo "steps and extrapolated to an epoch (ML-25M: tables of the full size, the first"
echo "2M ratings read). peak RSS: the whole process (PyTorch's includes its"
echo "libraries). ratio: PyTorch's s/epoch over embrec's, min-median of $PAIRS pairs"
echo "run alternately (embrec, PyTorch, embrec, ...); s/epoch: the least of them."
echo "Per-rating SGD's peer, LIBMF, has a table of its own below."
if [ -n "$BASE" ]; then
    echo "base: $BASE, run alternately with $EMBREC, $PAIRS pairs; min and median of"
    echo "base s/epoch over $EMBREC s/epoch (> 1: $EMBREC is faster)."
fi

# per-rating SGD beside LIBMF, its peer (when a C++ compiler can build it)
EMBREC=$EMBREC sh tests/bench/libmf.sh

# the Dense kernels beside OpenBLAS's sgemm, one thread (tests/bench/dense.c,
# built by make bench-dense; its OpenBLAS columns stay empty without it)
echo
if [ -x build/bench-dense ]; then
    ./build/bench-dense
else
    echo "bench: build/bench-dense is not built (make bench-dense): Dense table skipped"
fi
