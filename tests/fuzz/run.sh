#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET... — run each libFuzzer binary that
# `make fuzz-build` made (build/fuzz/fuzz-TARGET) for SECONDS, one process,
# and print a line per target: executions, the corpus it ended with, and
# whether it crashed. Exits non-zero when any target found a crash, leaving
# the input in build/fuzz/crashes/ (replay: build/fuzz/fuzz-TARGET FILE).
#
# Seeds: tests/fuzz/corpus/TARGET/ (committed, synthetic), and for the model
# loader the models that ./embrec trains here on a slice of the bundled
# sample, one per model kind, without their 8-byte checksum (the harness
# appends it). New inputs go to build/fuzz/corpus/TARGET/, kept between runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=$1
shift
mkdir -p build/fuzz/crashes build/fuzz/log

model_seeds() {
    local dir=build/fuzz/seeds/model tiny=build/fuzz/seeds/tiny.csv m
    [ -f "$dir.done" ] && return 0
    mkdir -p "$dir"
    head -n 41 data/ratings.csv >"$tiny"
    # users for the hybrid models' user features: every user of the slice
    cut -d, -f1 "$tiny" | sed 1d | sort -un |
        awk '{ print $1 "|" 18 + $1 % 50 "|" ($1 % 2 ? "M" : "F") "|writer|" 10000 + $1 }' \
            >build/fuzz/seeds/u.user
    # name, then the options that make that kind of model
    while read -r name opts; do
        # shellcheck disable=SC2086
        ./embrec train --data "$tiny" --movies data/movies.csv --epochs 1 --val-split 0 \
            --quiet $opts --save "build/fuzz/seeds/$name.embrec" >/dev/null
        m="build/fuzz/seeds/$name.embrec"
        head -c -8 "$m" >"$dir/$name"
    done <<'KINDS'
dot --model dot --dim 2
centred --model dot --dim 3 --centre
bias --model bias --dim 2 --l2 0.1
hybrid --model bias --dim 2 --item-features genres,year
deep --model deep --dim 2 --hidden 3,2
neumf --model neumf --dim 2 --hidden 2 --implicit
gmf --model gmf --dim 2 --implicit
mlp --model mlp --dim 2 --hidden 4,2 --implicit
ncf --model ncf --dim 2 --hidden 4,2 --implicit
deep-hybrid --model deep --dim 2 --hidden 2 --user-features age,gender --users build/fuzz/seeds/u.user
mlp-hybrid --model mlp --dim 2 --hidden 2 --implicit --item-features genres,year
svdpp --model svdpp --dim 2 --l2 0.1 --l2-implicit 0.01
svdpp-hybrid --model svdpp --dim 2 --item-features genres,year
KINDS
    touch "$dir.done"
}

status=0
printf '%-8s %12s %8s %s\n' target executions corpus result
for t in "$@"; do
    seeds=()
    [ -d "tests/fuzz/corpus/$t" ] && seeds+=("tests/fuzz/corpus/$t")
    if [ "$t" = model ]; then
        model_seeds
        seeds+=(build/fuzz/seeds/model)
    fi
    mkdir -p "build/fuzz/corpus/$t"
    log="build/fuzz/log/$t.log"
    rc=0
    "build/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/crashes/$t-" \
        "build/fuzz/corpus/$t" "${seeds[@]}" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    corpus=$(find "build/fuzz/corpus/$t" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $rc; see $log and build/fuzz/crashes/$t-*)"
        status=1
        grep -m 3 -E 'ERROR|SUMMARY|runtime error|fuzz [a-z]+:' "$log" | sed 's/^/    /' || true
    fi
    printf '%-8s %12s %8s %s\n' "$t" "${execs:-?}" "$corpus" "$result"
done
exit $status
