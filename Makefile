# embrec — make builds ./embrec, make test runs the suite, make demo trains on
# the bundled sample and prints recommendations, make verify runs the
# notebooks' recipes on real MovieLens.
#
#   make SIMD=0     compile the scalar kernels only (no AVX2/FMA or NEON)
#   make SAN=1      build with AddressSanitizer + UndefinedBehaviorSanitizer
#   make CC=clang   any C99 compiler
#   make fuzz       libFuzzer on every reader (clang; FUZZ_SECONDS, FUZZ_TARGETS)
#   make valgrind   a train/save/load/recommend cycle under valgrind memcheck
#   make tsan       the threaded tests under ThreadSanitizer (TSAN_ROUNDS each)

CC      ?= cc
CFLAGS  ?= -O2 -g
SIMD    ?= 1
SAN     ?= 0
PREFIX  ?= /usr/local

# -ffp-contract=off: no silent FMA contraction, so the scalar kernels compute
# exactly the expressions written (the SIMD kernels choose FMA explicitly).
# No -mavx2: simd/ compiles its AVX2/FMA and AVX-512 kernels alone for those
# (target attributes) and nn.c runs them only where the CPU has them, so one
# binary runs on every x86-64.
WARN     = -std=c99 -Wall -Wextra -Wpedantic
ifneq ($(SIMD),1)
  SIMDFLAGS = -DEMBREC_NO_SIMD
endif
ifeq ($(SAN),1)
  SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  # A report (a memory error, undefined behaviour, a leak) exits 86, which no
  # embrec command uses: the CLI tests expect exact statuses, so a report in a
  # command that was meant to fail with 1 or 2 fails its test too.
  export ASAN_OPTIONS ?= exitcode=86
  export UBSAN_OPTIONS ?= exitcode=86:print_stacktrace=1
  export LSAN_OPTIONS ?= exitcode=86
endif
ALL_CFLAGS = $(WARN) $(CFLAGS) -ffp-contract=off $(SIMDFLAGS) $(SANFLAGS)
LDLIBS     = -lm -lpthread

# The reading core is the top level (nn, data, mf); the folders hold the
# rest: cli/ the command line and its pictures, formats/ the file formats
# and NumPy compatibility, session/ what a training session keeps and says
# beyond Keras's loop (the settings refused, its log, resuming, replaying
# another run's order, why it halted), use/ what using a model takes beyond
# the notebooks' (baselines, cold start, many users at once, ranking
# against every item), fast/ the speed machinery, which the reference build
# (make reference) leaves out.
CORE     = nn.c data.c mf.c
# nn.c's kernels for each instruction set (simd/): part of the core, so the
# reference build runs the same kernels as embrec
CORE    += $(sort $(wildcard simd/*.c))
FORMATS  = $(sort $(wildcard formats/*.c))
SESSION  = $(sort $(wildcard session/*.c))
USE      = $(sort $(wildcard use/*.c))
FAST     = $(sort $(wildcard fast/*.c))
CLI      = $(filter-out cli/main.c,$(sort $(wildcard cli/*.c)))
HEADERS  = $(wildcard *.h simd/*.h formats/*.h session/*.h use/*.h fast/*.h cli/*.h)
obj      = $(patsubst %.c,build/%.o,$(1))
LIB      = $(call obj,$(CORE) $(FORMATS) $(SESSION) $(USE) $(FAST) $(CLI))
TESTS = tests/run.c tests/test_nn.c tests/test_data.c tests/test_mf.c tests/test_ref.c \
        tests/test_viz.c tests/test_fast.c tests/test_cli.c tests/fixture.c

# Rebuild everything when the compiler or flags change (SIMD=0 after SIMD=1).
$(shell mkdir -p build; echo '$(CC) $(ALL_CFLAGS)' | cmp -s - build/flags || echo '$(CC) $(ALL_CFLAGS)' > build/flags)

.PHONY: all test demo sample pictures verify install clean bench bench-dense fuzz fuzz-build valgrind tsan reference
all: embrec

build/%.o: %.c $(HEADERS) build/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I. -c $< -o $@

embrec: build/cli/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

# The reference build: the command line over the reading core alone (no
# fast/), so that what a reader reads is what runs. The suite checks that
# it trains every recipe as embrec does, epoch by epoch.
build/reference/cli/main.o: cli/main.c $(HEADERS) build/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I. -DEMBREC_REFERENCE -c $< -o $@

embrec-reference: build/reference/cli/main.o $(call obj,$(CORE) $(FORMATS) $(SESSION) $(USE) $(CLI))
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

reference: embrec-reference

build/run-tests: $(TESTS) $(wildcard tests/*.h) $(LIB) build/flags
	$(CC) $(ALL_CFLAGS) -I. $(TESTS) $(LIB) -o $@ $(LDLIBS)

# The suite runs from the repository root: fixtures are tests/ref/*, real data
# is ../shared/movielens (skipped with a message when absent).
test: embrec embrec-reference build/run-tests
	./build/run-tests

# speed and memory beside PyTorch (a measurement, not a test; see tests/bench)
bench: embrec build/bench-dense
	sh tests/bench/bench.sh

# the Dense kernels beside OpenBLAS's sgemm, one thread (tests/bench/dense.c);
# OpenBLAS is linked into this program alone, and only where it is installed
bench-dense: build/bench-dense
	./build/bench-dense

build/bench-dense: tests/bench/dense.c $(LIB) build/flags
	@if printf '#include <cblas.h>\nint main(void) { openblas_set_num_threads(1); return 0; }\n' | \
	    $(CC) -x c - -o build/has-openblas -lopenblas 2>/dev/null; then \
	    echo "$(CC) $(ALL_CFLAGS) -I. -DDENSE_BENCH_OPENBLAS tests/bench/dense.c ... -lopenblas"; \
	    $(CC) $(ALL_CFLAGS) -I. -DDENSE_BENCH_OPENBLAS $< $(LIB) -o $@ -lopenblas $(LDLIBS); \
	else \
	    echo "$(CC) $(ALL_CFLAGS) -I. tests/bench/dense.c ... (no OpenBLAS)"; \
	    $(CC) $(ALL_CFLAGS) -I. $< $(LIB) -o $@ $(LDLIBS); \
	fi; rm -f build/has-openblas

demo: embrec
	./embrec train --data data/ratings.csv --model bias --dim 16 --optimizer adam \
	    --lr 0.005 --update lazy --batch 64 --epochs 30 --patience 3 --restore-best \
	    --l2 0.1 --save build/demo.embrec
	./embrec recommend --model build/demo.embrec --user 7 -n 10

# Every notebook's recipe on real MovieLens, one table against the notebooks'
# figures (minutes; not part of make test). MOVIELENS=DIR: ml-100k/ and
# ml-latest-small/, and ml-1m/ratings.dat when it is there.
MOVIELENS ?= ../shared/movielens
verify: embrec
	sh tests/verify.sh $(MOVIELENS)

# docs/: the README's pictures, drawn from make demo's model of the sample, and
# notebook 000's chart of error and time over k (a sweep on the sample)
pictures: embrec
	./embrec train --data data/ratings.csv --model bias --dim 16 --optimizer adam \
	    --lr 0.005 --update lazy --batch 64 --epochs 30 --l2 0.1 --quiet \
	    --save build/pictures.embrec --history build/pictures.csv
	mkdir -p docs
	./embrec map --model build/pictures.embrec --out docs/map.svg --labels 12
	./embrec plot --history build/pictures.csv --what mae --baseline 0.7531 --out docs/mae.svg
	./embrec plot --model build/pictures.embrec --item "Synthetic Movie 4" --out docs/similar.svg
	./embrec sweep --data data/ratings.csv --recipe mf8 --dim 2,4,8,16,32,64,128 --quiet \
	    --chart docs/sweep.svg

# data/ is made by embrec itself: a planted low-rank model in the MovieLens layout
sample: embrec
	./embrec synth --shape sample --out data

# Fuzzing: one libFuzzer binary per reader, built by clang with ASan and
# UBSan from tests/fuzz/fuzz.c (the targets are the TARGET lines there), run
# for FUZZ_SECONDS each on the seeds in tests/fuzz/corpus/<target>/; what it
# learns is kept in build/fuzz/corpus/, crashes in build/fuzz/crashes/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= $(shell grep -o '^ *TARGET."[a-z0-9_]*"' tests/fuzz/fuzz.c | cut -d'"' -f2)
FUZZ_CFLAGS   = $(WARN) -g -O1 -ffp-contract=off $(SIMDFLAGS) -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB      = $(patsubst %.c,build/fuzz/%.o,$(CORE) $(FORMATS) $(SESSION) $(USE) $(FAST))
$(shell mkdir -p build/fuzz; echo '$(FUZZ_CC) $(FUZZ_CFLAGS)' | cmp -s - build/fuzz/flags || echo '$(FUZZ_CC) $(FUZZ_CFLAGS)' > build/fuzz/flags)

build/fuzz/%.o: %.c $(HEADERS) build/fuzz/flags
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I. -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/fuzz-%: tests/fuzz/fuzz.c $(FUZZ_LIB) build/fuzz/flags
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I. -fsanitize=fuzzer -DFUZZ_NAME='"$*"' $< $(FUZZ_LIB) -o $@ $(LDLIBS)

.SECONDARY: $(FUZZ_LIB)
fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz-%)

fuzz: embrec fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# valgrind memcheck over a small cycle on the bundled sample: every leak and
# every invalid access is an error
valgrind: embrec
	tests/valgrind.sh

# ThreadSanitizer over the tests whose threads must not race, each run
# TSAN_ROUNDS times (a race shows only when the threads meet); built apart
# in build/tsan so that it leaves the ordinary build alone.
TSAN_ROUNDS ?= 3
TSAN_TESTS  ?= fast/threads_run fast/replica_add_grad fast/sweep_team fast/row_team \
               mf/data_parallel mf/evaluate_threads mf/sgd_blocks mf/recommend_users_threads \
               viz/tsne_determinism
build/tsan/run-tests: $(TESTS) $(wildcard tests/*.h) $(LIB:build/%.o=%.c) $(HEADERS)
	mkdir -p build/tsan
	$(CC) $(WARN) -O1 -g -ffp-contract=off $(SIMDFLAGS) -fsanitize=thread -I. \
	    $(TESTS) $(LIB:build/%.o=%.c) -o $@ $(LDLIBS)

tsan: build/tsan/run-tests
	tests/tsan.sh $(TSAN_ROUNDS) $(TSAN_TESTS)

install: embrec
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 embrec $(DESTDIR)$(PREFIX)/bin/embrec

clean:
	rm -rf build embrec embrec-reference
