/* tests/bench/dense.c — the Dense kernels' speed, one thread, beside
 * OpenBLAS's cblas_sgemm on the same shapes (a measurement, not a test).
 *
 * Built by `make bench-dense` (and run at the end of `make bench`): with
 * -DDENSE_BENCH_OPENBLAS and -lopenblas when OpenBLAS's cblas.h and library
 * are there, without them otherwise (the OpenBLAS columns then say so).
 * embrec itself never links OpenBLAS; only this program does.
 *
 * For each shape the two are timed alternately, PAIRS times (the machine is
 * shared: a pair taken together sees the same load), and the table gives
 * the min and median over the pairs of t(OpenBLAS)/t(embrec): 1 is parity,
 * 0.5 half OpenBLAS's speed. A pair that another process interrupted drags
 * its ratio down, so the table also gives the ratio of the two fastest
 * times ("best"), which such interruptions disturb least. The products compared:
 *   forward   out (B,O)  = x (B,C) · W (C,O)           (embrec adds the bias too)
 *   backward  dW (C,O)  += xᵀ · dout, dx (B,C) += dout · Wᵀ  (embrec adds db too)
 *
 *   DENSE_PAIRS  alternating pairs per shape     [7]
 *   EMBREC_SIMD  the kernel path (scalar, avx2, avx512)  [the best]
 */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(DENSE_BENCH_OPENBLAS)
#include <cblas.h>
#endif

typedef struct {
    size_t B, C, O;
    float *x, *W, *b, *out, *dout, *dx, *dW, *db;
} shape;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(size_t n, nn_rng *rng) {
    float *p = nn_alloc(n * sizeof *p);
    size_t i;
    if (!p) {
        fprintf(stderr, "bench-dense: out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; i++) p[i] = (float)(nn_rng_uniform(rng) - 0.5);
    return p;
}

static void shape_init(shape *s, size_t B, size_t C, size_t O, nn_rng *rng) {
    s->B = B, s->C = C, s->O = O;
    s->x = filled(B * C, rng), s->W = filled(C * O, rng), s->b = filled(O, rng);
    s->out = filled(B * O, rng), s->dout = filled(B * O, rng);
    s->dx = filled(B * C, rng), s->dW = filled(C * O, rng), s->db = filled(O, rng);
}

static void shape_free(shape *s) {
    nn_free(s->x), nn_free(s->W), nn_free(s->b), nn_free(s->out);
    nn_free(s->dout), nn_free(s->dx), nn_free(s->dW), nn_free(s->db);
}

/* which: 0 embrec forward, 1 embrec backward, 2 OpenBLAS forward, 3 backward */
static void run_once(shape *s, int which) {
    switch (which) {
    case 0: nn_dense_forward(s->out, s->x, s->W, s->b, s->B, s->C, s->O); break;
    case 1: nn_dense_backward(s->dx, s->dW, s->db, s->dout, s->x, s->W, s->B, s->C, s->O); break;
#if defined(DENSE_BENCH_OPENBLAS)
    case 2:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->B, (int)s->O, (int)s->C,
                    1.0f, s->x, (int)s->C, s->W, (int)s->O, 0.0f, s->out, (int)s->O);
        break;
    case 3:
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)s->C, (int)s->O, (int)s->B,
                    1.0f, s->x, (int)s->C, s->dout, (int)s->O, 1.0f, s->dW, (int)s->O);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->B, (int)s->C, (int)s->O,
                    1.0f, s->dout, (int)s->O, s->W, (int)s->O, 1.0f, s->dx, (int)s->C);
        break;
#endif
    default: break;
    }
}

/* seconds per call, over enough calls to take about 20 ms */
static double timed(shape *s, int which, size_t reps) {
    double t0 = now();
    size_t r;
    for (r = 0; r < reps; r++) run_once(s, which);
    return (now() - t0) / (double)reps;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void row(shape *s, int backward, int have_blas, size_t pairs) {
    const double flops = (backward ? 4.0 : 2.0) * (double)s->B * (double)s->C * (double)s->O;
    size_t reps = (size_t)(0.02 * 20e9 / flops) + 1, p; /* ~20 ms at 20 GFLOP/s */
    double ratio[64], best = 1e30, best_blas = 1e30;
    if (pairs > 64) pairs = 64;
    run_once(s, backward), run_once(s, 2 + backward); /* warm the caches and pages */
    for (p = 0; p < pairs; p++) {
        double te = timed(s, backward, reps);
        if (te < best) best = te;
        const double tb = have_blas ? timed(s, 2 + backward, reps) : 0.0;
        if (tb < best_blas) best_blas = tb;
        ratio[p] = tb / te;
    }
    printf("| %-8s | %4zu x %4zu -> %4zu | %9.2f |", backward ? "backward" : "forward", s->B,
           s->C, s->O, flops / best * 1e-9);
    if (have_blas) {
        qsort(ratio, pairs, sizeof ratio[0], cmp_double);
        printf(" %5.2f | %6.2f | %5.2f |\n", ratio[0], ratio[pairs / 2], best_blas / best);
    } else {
        printf(" %5s | %6s | %5s |\n", "-", "-", "-");
    }
    fflush(stdout);
}

int main(void) {
    static const size_t shapes[][3] = {{32, 150, 64},   {256, 150, 64},  {32, 64, 10},
                                       {256, 64, 10},   {32, 512, 512},  {256, 512, 512},
                                       {1024, 1024, 1024}};
    const char *env = getenv("DENSE_PAIRS");
    size_t pairs = env ? (size_t)strtoul(env, NULL, 10) : 7, i;
    int have_blas = 0;
    nn_rng rng;
    if (pairs == 0) pairs = 1;
#if defined(DENSE_BENCH_OPENBLAS)
    openblas_set_num_threads(1);
    have_blas = 1;
#else
    printf("bench-dense: OpenBLAS (libopenblas-dev) is not installed: its columns are left empty\n");
#endif
    nn_rng_seed(&rng, 1);
    printf("Dense kernels, one thread, path %s; ratio = t(OpenBLAS sgemm) / t(embrec), "
           "min and median of %zu alternating pairs, and best: of the fastest of each\n",
           vec_path(), pairs);
    printf("| %-8s | %-20s | %9s | %5s | %6s | %5s |\n", "pass", "B x C -> O", "GFLOP/s", "min",
           "median", "best");
    printf("|----------|----------------------|-----------|-------|--------|-------|\n");
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        shape s;
        shape_init(&s, shapes[i][0], shapes[i][1], shapes[i][2], &rng);
        row(&s, 0, have_blas, pairs);
        row(&s, 1, have_blas, pairs);
        shape_free(&s);
    }
    return 0;
}
