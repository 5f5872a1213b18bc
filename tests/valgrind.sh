#!/usr/bin/env bash
# tests/valgrind.sh — `make valgrind`: a small train / save / load / use
# cycle on the bundled sample, each command under valgrind memcheck. Any
# invalid read or write, use of uninitialised memory, or leak fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind: not installed" >&2; exit 2; }
out=build/valgrind
rm -rf "$out"
mkdir -p "$out"
head -n 2001 data/ratings.csv >"$out/ratings.csv" # 2,000 ratings: quick under valgrind
cp data/movies.csv "$out/movies.csv"
printf 'userId,movieId\n1,1\n7,12\n999999,1\n' >"$out/pairs.csv" # the last: unknown

vg() {
    echo "valgrind: embrec $*"
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=all \
        --errors-for-leak-kinds=all --track-origins=yes ./embrec "$@" >"$out/last.txt" 2>&1 ||
        { cat "$out/last.txt"; echo "valgrind: embrec $* failed" >&2; exit 1; }
}

# A command that must fail with status 1 (a one-line error) and leak nothing.
# Memory still reachable is allowed here: an error found deep in a command
# ends it with exit(1), with its buffers still in use.
vg_fails() {
    local rc=0
    echo "valgrind: embrec $* (fails)"
    valgrind --quiet --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect,possible ./embrec "$@" >"$out/last.txt" 2>&1 ||
        rc=$?
    [ "$rc" -eq 1 ] ||
        { cat "$out/last.txt"; echo "valgrind: embrec $* exited $rc, not 1" >&2; exit 1; }
}

d=$out/ratings.csv
vg info --data "$d"
touch -t 202001010000 "$d" # old enough for its cache to be trusted
vg info --data "$d" --cache           # parsed, the cache written
vg info --data "$d" --cache           # the cache mapped
vg train --data "$d" --cache --dim 3 --epochs 1 --quiet --save "$out/cached.embrec"
vg train --data "$d" --model bias --dim 4 --epochs 2 --optimizer adam --update lazy \
    --l2 0.1 --quiet --history "$out/h.csv" --save "$out/bias.embrec"
vg train --data "$d" --model bias --dim 3 --epochs 1 --item-features genres,year \
    --quiet --save "$out/hybrid.embrec"
vg train --data "$d" --model deep --dim 3 --hidden 4,2 --epochs 1 --quiet \
    --save "$out/deep.embrec"
vg train --data "$d" --model ncf --dim 2 --hidden 4,2 --implicit --epochs 1 --quiet \
    --save "$out/ncf.embrec"
vg eval --model "$out/bias.embrec" --data "$d"
vg recommend --model "$out/bias.embrec" --user 7 -n 5 --rated
vg recommend --model "$out/deep.embrec" --user 7 -n 5
vg similar --model "$out/bias.embrec" --item 1 -n 5
vg similar --model "$out/hybrid.embrec" --item 1 -n 5 --metric euclidean
vg predict --model "$out/ncf.embrec" --pairs "$out/pairs.csv" --unknown-mean
vg predict --model "$out/bias.embrec" --user 7 --item 1
vg export --model "$out/bias.embrec" --out "$out/export"
vg plot --history "$out/h.csv" --what mae --out "$out/mae.svg"
vg map --model "$out/bias.embrec" --out "$out/map.svg"
# errors after the data is read, or a model loaded, free them like any other path
printf '2 0 1\n' >"$out/order.txt"
vg_fails train --data "$d" --epochs 1 --quiet --batch-order "$out/order.txt" --save "$out/x.embrec"
{ seq -s ' ' 0 1799; seq -s ' ' 1799 -1 0; } >"$out/orders2.txt" # 2 orders of 1,800 rows
vg_fails train --data "$d" --epochs 3 --quiet --batch-order "$out/orders2.txt" --save "$out/x.embrec"
vg_fails train --data "$d" --epochs 1 --quiet --init-from "$out/nowhere" --save "$out/x.embrec"
vg_fails recommend --model "$out/bias.embrec" --user 424242
vg_fails recommend --model "$out/bias.embrec" --age 30 --gender F
vg_fails recommend --model "$out/bias.embrec" --all --out "$out/no/such/dir.csv"
vg_fails predict --model "$out/bias.embrec" --pairs "$out/pairs.csv"
vg_fails map --model "$out/bias.embrec" --out "$out/none.svg" --min-ratings 100000
vg_fails eval --model "$out/bias.embrec" --data data/ratings.csv --ranking
echo "valgrind: every command clean"
