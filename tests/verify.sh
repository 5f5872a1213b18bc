#!/bin/sh
# tests/verify.sh — run every notebook's recipe on the real MovieLens data and
# print one table: what embrec gets, and what the notebook reported.
#
#   tests/verify.sh [MOVIELENS_DIR]      (make verify, make verify MOVIELENS=DIR)
#
# MOVIELENS_DIR (default ../shared/movielens) holds ml-100k/ and
# ml-latest-small/ as GroupLens distributes them; ml-1m/ratings.dat is used
# for notebook 003 when it is there. Each recipe is trained with
# `embrec train --recipe NAME --history FILE`, the notebook's whole protocol,
# and the table is read from the history: the best epoch's validation RMSE
# (HR@10 for the implicit neumf), the epoch it came at, and the mean seconds
# per epoch. Where a notebook used data that is not here, the row says so and
# gives the number on the data that is. Not part of `make test`: it takes
# minutes, not seconds. The table is Markdown, to paste into the README.
set -eu

ML=${1:-../shared/movielens}
EMBREC=${EMBREC:-./embrec}
if [ ! -x "$EMBREC" ]; then
    echo "verify: $EMBREC not found (run make first)" >&2
    exit 1
fi
for d in ml-100k/u.data ml-latest-small/ratings.csv; do
    if [ ! -f "$ML/$d" ]; then
        echo "verify: $ML/$d not found; give the MovieLens directory: make verify MOVIELENS=DIR" >&2
        exit 1
    fi
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/embrec-verify.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
START=$(date +%s)
ROWS=""

# run NAME DATA [OPTIONS...]: train, leave the history in $TMP/NAME.csv
run() {
    name=$1
    shift
    printf 'verify: %s ...' "$name" >&2
    t0=$(date +%s)
    if ! "$EMBREC" train "$@" --history "$TMP/$name.csv" --save "$TMP/$name.embrec" \
            --quiet >"$TMP/$name.log" 2>&1; then
        echo " failed:" >&2
        tail -n 5 "$TMP/$name.log" >&2
        exit 1
    fi
    echo " $(($(date +%s) - t0)) s" >&2
}

# best NAME IMPLICIT: "RMSE r (MAE m) | e of n | s" from the history (IMPLICIT 1: HR@10)
best() {
    awk -F, -v implicit="$2" '
        NR == 1 { next }
        { n++; secs += $6
          if (implicit ? (n == 1 || $7 > b) : (n == 1 || $3 < b)) {
              b = implicit ? $7 : $3; e = $1; r = $4; m = $5; nd = $8 } }
        END {
            if (n == 0) { print "no epochs | | "; exit }
            if (implicit) printf "HR@10 %.4f (NDCG %.4f)", b, nd
            else printf "RMSE %.4f (MAE %.4f)", r, m
            printf " | %d of %d | " (secs / n < 0.1 ? "%.3f" : "%.2f") "\n", e, n, secs / n }' \
        "$TMP/$1.csv"
}

# row RECIPE DATA NAME IMPLICIT NOTEBOOK: one line of the table
row() {
    ROWS="$ROWS| $1 | $2 | $(best "$3" "$4") | $5 |
"
}

# notebook 000: MovieLens latest (27.7M ratings) is not here; ml-latest-small is its sample
run mf8 --recipe mf8 --data "$ML/ml-latest-small/ratings.csv"
row "mf8 (000)" "ml-latest-small (the notebook's ML latest, 27.7M ratings, is not here)" \
    mf8 0 "MAE curves against a 0.73 baseline, no number printed"

# notebook 003 ran on ML-1M
if [ -f "$ML/ml-1m/ratings.dat" ]; then
    run cfmodel --recipe cfmodel --data "$ML/ml-1m/ratings.dat"
    row "cfmodel (003)" "ML-1M" cfmodel 0 \
        "RMSE 0.8616 (val_loss 0.7424) at epoch 17 of 19; 316–406 s per epoch"
else
    run cfmodel --recipe cfmodel --data "$ML/ml-100k/u.data"
    row "cfmodel (003)" "ML-100K (the notebook's ML-1M is not at $ML/ml-1m/ratings.dat)" \
        cfmodel 0 "RMSE 0.8616 (val_loss 0.7424) at epoch 17 of 19 on ML-1M"
fi

# notebook 002 used its own 2M-rating extract of a MovieLens CSV
run deep-genre --recipe deep-genre --data "$ML/ml-latest-small"
row "deep-genre (002)" "ml-latest-small (the notebook's 2M-rating extract is not here)" \
    deep-genre 0 "RMSE 0.7755 (val_loss 0.6014) at epoch 5 of 5; 100 s per epoch"

# notebook 004 builds the network and trains nothing; the recipe ranks with NCF's protocol
run neumf --recipe neumf --data "$ML/ml-100k"
row "neumf (004)" "ML-100K" neumf 1 "no metric: the model summary only"

# notebook 001 asks which side information helps; embrec ablate answers it in full
run hybrid-ids --recipe hybrid --data "$ML/ml-100k/u.data"
row "hybrid (001), ids only" "ML-100K" hybrid-ids 0 "no number: the question only"
run hybrid-features --recipe hybrid --data "$ML/ml-100k/u.data" \
    --user-features age,gender,occupation,zip --item-features genres,year
row "hybrid (001), + user and movie features" "ML-100K" hybrid-features 0 \
    "no number: the question only"

echo "| recipe (notebook) | data | our best validation | at epoch (of run) | s per epoch | the notebook reported |"
echo "|---|---|---|---|---|---|"
printf '%s' "$ROWS"
echo
echo "$(($(date +%s) - START)) s in all, $(uname -m), $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') cores"
