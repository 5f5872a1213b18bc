#!/usr/bin/env bash
# tests/tsan.sh ROUNDS TEST... — `make tsan`: the tests whose threads must
# never race (a team's shares, the optimiser's row shares, data-parallel
# training, threaded evaluation, t-SNE and recommend, LIBMF's blocks), each run ROUNDS
# times under ThreadSanitizer, since a race shows only when the threads meet.
# Hogwild races by design (the README says so) and is not among them.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=$1
shift
for r in $(seq "$rounds"); do
    for t in "$@"; do
        TSAN_OPTIONS="halt_on_error=1 exitcode=86" ./build/tsan/run-tests "$t" \
            >build/tsan/last.txt 2>&1 ||
            { cat build/tsan/last.txt; echo "tsan: $t failed in round $r" >&2; exit 1; }
    done
done
echo "tsan: $# tests, $rounds rounds each, no data race"
