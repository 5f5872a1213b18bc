#!/bin/sh
# Per-rating SGD beside LIBMF (part of make bench): the same factorisation
# (r̂ = p·q, squared loss, L2 on p and q, no biases: LIBMF has none), the
# same k, epochs and threads, on the same ML-1M- and ML-25M-shaped data.
#
# LIBMF is built from its source (../shared/peers/libmf, read-only, so into
# build/libmf) when a C++ compiler is there; otherwise this says so and
# stops. Its timing includes reading its text file, embrec's reading the
# CSV (or its cache), so an epoch is taken as the difference of two whole
# runs, of 1 and 1 + E epochs, divided by E: the same rule for both. The
# two programs run alternately, BENCH_PAIRS times (3), and the table gives
# the min and median of LIBMF's epoch over embrec's (> 1: embrec faster) in
# CPU time (user + system) and in wall time.
#
#   BENCH_DIR, BENCH_25M, BENCH_PAIRS, BENCH_ONLY, EMBREC: as bench.sh
#   LIBMF_SRC   LIBMF's source                        [../shared/peers/libmf]
#   MOVIELENS   where ml-100k/ is, for the time to accuracy [../shared/movielens]
#
# Then the time each needs to reach a test RMSE on ML-100K's u1 split at
# k = 100: LIBMF with its adaptive rates, embrec's bias model with the same
# schedule (--optimizer rowwise-adagrad) and with plain SGD.
set -eu
cd "$(dirname "$0")/../.."
EMBREC=${EMBREC:-./embrec}
DIR=${BENCH_DIR:-build/bench}
PAIRS=${BENCH_PAIRS:-3}
SRC=${LIBMF_SRC:-../shared/peers/libmf}
LIBMF=build/libmf/mf-train

if [ ! -x $LIBMF ]; then
    if [ ! -f "$SRC/mf.cpp" ]; then
        echo "bench: LIBMF's source is not at $SRC: the LIBMF rows are skipped"
        exit 0
    fi
    if ! command -v "${CXX:-g++}" >/dev/null 2>&1; then
        echo "bench: no C++ compiler (${CXX:-g++}; Debian: apt-get install g++): the LIBMF rows are skipped"
        exit 0
    fi
    mkdir -p build/libmf && cp "$SRC"/* build/libmf/ && make -s -C build/libmf >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
    echo "bench: /usr/bin/time is not installed (Debian: apt-get install time): the LIBMF rows are skipped"
    exit 0
fi

# LIBMF reads "user item rating" lines
libmf_text() {
    [ -f "$2" ] || awk -F, 'NR > 1 {print $1, $2, $3}' "$1" > "$2"
}

# cost CMD...: "wall cpu" seconds of one whole run
cost() {
    /usr/bin/time -f "%e %U %S" -o "$DIR/cost" "$@" >/dev/null 2>&1 || {
        echo "bench: failed: $*" >&2
        exit 1
    }
    awk '{printf "%s %.3f", $1, $2 + $3}' "$DIR/cost"
}

# the min and the median of a list of numbers, as "min median"
min_median() {
    tr ' ' '\n' | sort -g | awk 'NF {v[n++] = $1} END {
        printf "%.2f %.2f", v[0], n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}

printf '\nPer-rating SGD beside LIBMF (built from %s):\n' "$SRC"
printf '| %-13s | %3s | %7s | %6s | %9s | %9s | %9s | %9s | %-11s | %-11s |\n' data k threads \
    blocks "embrec s" "LIBMF s" "embrec cpu" "LIBMF cpu" "cpu min, med" "wall min, med"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' --------------- ----- --------- -------- ----------- \
    ----------- ------------ ----------- -------------- --------------

# row DATALABEL CSV TEXT K THREADS BLOCKS EPOCHS
row() {
    datal=$1 csv=$2 txt=$3 k=$4 t=$5 g=$6 e=$7
    case "sgd, LIBMF, $datal" in *"${BENCH_ONLY:-}"*) ;; *) return 0 ;; esac
    # the same settings: lr 0.05 is LIBMF's initial rate for its schedule,
    # embrec's plain SGD runs at a rate that converges on this data
    eargs="--model dot --dim $k --optimizer sgd --lr 0.005 --batch 1 --l2 0.05 --blocks $g
           --threads $t --val-split 0 --no-shuffle --quiet --save $DIR/bench.embrec"
    largs="--quiet -k $k -s $t -l2 0.05 -r 0.05"
    cr="" wr="" p=0 best_e="" best_l="" best_ec="" best_lc=""
    while [ $p -lt "$PAIRS" ]; do
        # shellcheck disable=SC2086
        set -- $(cost $EMBREC train --data "$csv" $eargs --epochs 1) \
               $(cost $LIBMF $largs -t 1 "$txt" "$DIR/libmf.model") \
               $(cost $EMBREC train --data "$csv" $eargs --epochs $((1 + e))) \
               $(cost $LIBMF $largs -t $((1 + e)) "$txt" "$DIR/libmf.model")
        [ $# -eq 8 ] || exit 1 # (a run failed: cost said which)
        # per epoch: (long run − short run) / E, wall and cpu, for each
        pe=$(awk -v a="$1" -v b="$5" -v e="$e" 'BEGIN {print (b - a) / e}')
        pl=$(awk -v a="$3" -v b="$7" -v e="$e" 'BEGIN {print (b - a) / e}')
        pec=$(awk -v a="$2" -v b="$6" -v e="$e" 'BEGIN {print (b - a) / e}')
        plc=$(awk -v a="$4" -v b="$8" -v e="$e" 'BEGIN {print (b - a) / e}')
        wr="$wr $(awk -v l="$pl" -v m="$pe" 'BEGIN {print (m > 0 ? l / m : 0)}')"
        cr="$cr $(awk -v l="$plc" -v m="$pec" 'BEGIN {print (m > 0 ? l / m : 0)}')"
        best_e=$(awk -v x="$pe" -v m="$best_e" 'BEGIN {print (m == "" || x < m) ? x : m}')
        best_l=$(awk -v x="$pl" -v m="$best_l" 'BEGIN {print (m == "" || x < m) ? x : m}')
        best_ec=$(awk -v x="$pec" -v m="$best_ec" 'BEGIN {print (m == "" || x < m) ? x : m}')
        best_lc=$(awk -v x="$plc" -v m="$best_lc" 'BEGIN {print (m == "" || x < m) ? x : m}')
        p=$((p + 1))
    done
    printf '| %-13s | %3s | %7s | %6s | %9.3f | %9.3f | %9.3f | %9.3f | %-12s | %-12s |\n' \
        "$datal" "$k" "$t" "${g}x$g" "$best_e" "$best_l" "$best_ec" "$best_lc" \
        "$(printf '%s' "$cr" | min_median | sed 's/ /, /')" \
        "$(printf '%s' "$wr" | min_median | sed 's/ /, /')"
}

D1=$DIR/ml-1m/ratings.csv
libmf_text "$D1" "$DIR/ml-1m/libmf.txt"
for k in 8 32 100; do
    for t in 1 2; do row "ML-1M shape" "$D1" "$DIR/ml-1m/libmf.txt" $k $t 8 20; done
done
if [ "${BENCH_25M:-1}" = 1 ] && [ -f "$DIR/ml-25m/ratings.csv" ]; then
    D25=$DIR/ml-25m/ratings.csv
    libmf_text "$D25" "$DIR/ml-25m/libmf.txt"
    for k in 8 32 100; do
        for t in 1 2; do row "ML-25M shape" "$D25" "$DIR/ml-25m/libmf.txt" $k $t 16 6; done
    done
fi
echo
echo "s and cpu: seconds of one epoch, the least of the pairs, from whole runs of 1 and"
echo "1 + E epochs (E = 20 on ML-1M, 6 on ML-25M); the ratios are LIBMF's over embrec's"
echo "in each pair (> 1: embrec is faster). embrec: --model dot --optimizer sgd --batch 1"
echo "--l2 0.05 --blocks G; LIBMF: mf-train -l2 0.05 -r 0.05 (its adaptive rates) -s T."

# ---------------------------------------------------- time to accuracy
ML=${MOVIELENS:-../shared/movielens}/ml-100k
ACC=${BENCH_ACCURACY:-0.925}
[ -f "$ML/u1.base" ] || { echo "bench: $ML/u1.base not found: no time-to-accuracy rows"; exit 0; }
case "sgd, LIBMF, accuracy" in *"${BENCH_ONLY:-}"*) ;; *) exit 0 ;; esac
awk '{print $1, $2, $3}' "$ML/u1.base" > "$DIR/u1.base.txt"
awk '{print $1, $2, $3}' "$ML/u1.test" > "$DIR/u1.test.txt"

# the epochs a run needs to reach ACC on u1.test (30 at most), or "-"
libmf_reach() {
    # shellcheck disable=SC2086
    $LIBMF $1 -t 30 -p "$DIR/u1.test.txt" "$DIR/u1.base.txt" "$DIR/libmf.model" |
        awk -v acc="$ACC" 'NR > 1 && $3 + 0 <= acc {print $1 + 1; found = 1; exit}
                          END {if (!found) print "-"}'
}
embrec_reach() {
    e=1
    while [ $e -le 30 ]; do
        # shellcheck disable=SC2086
        r=$($EMBREC train --data "$ML/u1.base" --test "$ML/u1.test" --val-split 0 $1 --epochs $e \
            --quiet --save "$DIR/bench.embrec" 2>/dev/null | awk '/^test:/ {print $3}')
        if awk -v r="$r" -v acc="$ACC" 'BEGIN {exit !(r != "" && r + 0 <= acc)}'; then
            echo $e
            return
        fi
        e=$((e + 1))
    done
    echo "-"
}

LARGS="--quiet -k 100 -s 1 -l2 0.05"
ADA="--model bias --dim 100 --optimizer rowwise-adagrad --lr 0.05 --l2 0.05 --batch 1"
SGD="--model bias --dim 100 --optimizer sgd --lr 0.005 --l2 0.05 --batch 1"
nl=$(libmf_reach "-k 100 -s 1 -l2 0.05")
na=$(embrec_reach "$ADA")
ns=$(embrec_reach "$SGD")
printf '\nTime to a u1 test RMSE of %s (ML-100K u1.base, k = 100, one thread):\n' "$ACC"
printf '| %-46s | %6s | %9s | %9s | %-13s |\n' program epochs "wall s" "cpu s" "LIBMF / it"
printf '|%s|%s|%s|%s|%s|\n' ------------------------------------------------ -------- ----------- \
    ----------- ---------------
# best of PAIRS alternating runs of each program to its epoch count
lw="" lc="" aw="" ac="" p=0
while [ $p -lt "$PAIRS" ] && [ "$nl" != "-" ]; do
    # shellcheck disable=SC2086
    set -- $(cost $LIBMF $LARGS -t "$nl" "$DIR/u1.base.txt" "$DIR/libmf.model")
    lw=$(awk -v x="$1" -v m="$lw" 'BEGIN {print (m == "" || x < m) ? x : m}')
    lc=$(awk -v x="$2" -v m="$lc" 'BEGIN {print (m == "" || x < m) ? x : m}')
    if [ "$na" != "-" ]; then
        # shellcheck disable=SC2086
        set -- $(cost $EMBREC train --data "$ML/u1.base" --val-split 0 $ADA --epochs "$na" --quiet \
                 --save "$DIR/bench.embrec")
        aw=$(awk -v x="$1" -v m="$aw" 'BEGIN {print (m == "" || x < m) ? x : m}')
        ac=$(awk -v x="$2" -v m="$ac" 'BEGIN {print (m == "" || x < m) ? x : m}')
    fi
    p=$((p + 1))
done
printf '| %-46s | %6s | %9s | %9s | %-13s |\n' "LIBMF: mf-train -k 100 -l2 0.05 (rate 0.1)" "$nl" \
    "${lw:--}" "${lc:--}" ""
printf '| %-46s | %6s | %9s | %9s | %-13s |\n' "embrec: bias, rowwise-adagrad lr 0.05, l2 0.05" \
    "$na" "${aw:--}" "${ac:--}" \
    "$(awk -v l="$lc" -v a="$ac" 'BEGIN {if (l != "" && a > 0) printf "%.2f (cpu)", l / a; else print "-"}')"
printf '| %-46s | %6s | %9s | %9s | %-13s |\n' "embrec: bias, sgd lr 0.005, l2 0.05" "$ns" - - ""
echo
echo "epochs: the first whose model reaches the test RMSE (LIBMF's -p; embrec's --test"
echo "after each epoch count); seconds: whole runs to that many epochs, reading included,"
echo "the least of $PAIRS; the ratio: LIBMF's cpu seconds over embrec's (> 1: embrec faster)."
