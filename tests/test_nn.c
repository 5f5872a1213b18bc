/* tests/test_nn.c — the nn suite: kernels (SIMD against scalar), random
 * numbers, initialisers, embedding and MSE (against finite differences), the
 * parameter block, and the optimisers against tests/ref/optim.txt, written by
 * the NumPy re-implementation of Keras 2.1.6 in tests/ref/optim_ref.py; the
 * layers (Dense on both paths, activations, dropout, multiply, concatenate,
 * BCE) against finite differences, exact sums and tests/ref/layers.txt,
 * written by tests/ref/layers_ref.py.
 */
#include "test.h"
#include "fixture.h"
#include "../nn.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#define U24 (1.0 / 16777216.0) /* 2^-24: unit roundoff of float32 */

/* ------------------------------------------------------------- helpers */

/* uniform in [−1, 1), with about one entry in five exactly 0 when zeros */
static void fill(float *x, size_t n, nn_rng *rng, int zeros) {
    size_t i;
    for (i = 0; i < n; i++) {
        x[i] = (float)(2.0 * nn_rng_uniform(rng) - 1.0);
        if (zeros && nn_rng_below(rng, 5) == 0) x[i] = 0.0f;
    }
}

static float *floats(size_t n) {
    float *p = malloc((n + 1) * sizeof *p); /* +1: the tests shift by one float */
    if (!p) {
        perror("malloc");
        exit(2);
    }
    return p;
}

/* lengths 0..67 cover every tail of 8- and 4-wide loops and the 32-wide
 * unrolled dot; the big ones run many full iterations */
static const size_t big_lengths[] = {255, 256, 1000, 1003, 4099};
#define N_LENGTHS (68 + sizeof big_lengths / sizeof big_lengths[0])
static size_t length_at(size_t i) { return i < 68 ? i : big_lengths[i - 68]; }

/* -------------------------------------------------------------- memory */

static void test_stride_alloc(void) {
    float *p;
    CHECK_INT(nn_stride(0), 0);
    CHECK_INT(nn_stride(1), 8);
    CHECK_INT(nn_stride(8), 8);
    CHECK_INT(nn_stride(9), 16);
    CHECK_INT(nn_stride(100), 104);
    p = nn_alloc(1000 * sizeof *p);
    CHECK(p != NULL);
    if (p) {
        size_t i, nonzero = 0;
        CHECK((uintptr_t)p % NN_ALIGN == 0);
        for (i = 0; i < 1000; i++) nonzero += p[i] != 0.0f;
        CHECK_INT(nonzero, 0);
    }
    nn_free(p);
    p = nn_alloc(0);
    CHECK(p != NULL); /* a usable pointer, so callers can treat NULL as failure */
    nn_free(p);
    CHECK(nn_alloc(SIZE_MAX) == NULL);
    CHECK(nn_alloc(SIZE_MAX - 10) == NULL);
}

/* --------------------------------------------------- SIMD against scalar */

/* The path is chosen at run time: auto is AVX2+FMA exactly where the CPU
 * has both (and the build compiled it), NEON on AArch64, else scalar;
 * scalar can always be chosen; vec_path() names the choice, and a name
 * this machine cannot run changes nothing. */
static void test_vec_path(void) {
    const char *best = "scalar";
    char was[16];
    snprintf(was, sizeof was, "%s", vec_path());
#if defined(EMBREC_NO_SIMD)
    best = "scalar";
#elif defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        best = "avx2+fma";
        if (__builtin_cpu_supports("avx512f")) best = "avx512f";
    }
#elif defined(__ARM_NEON) && defined(__aarch64__)
    best = "neon";
#endif
    CHECK_INT(nn_simd_select("auto"), 0);
    CHECK(strcmp(vec_path(), best) == 0);
    CHECK_INT(nn_simd_select(NULL), 0);
    CHECK(strcmp(vec_path(), best) == 0);
    CHECK_INT(nn_simd_select("avx512"), strcmp(best, "avx512f") == 0 ? 0 : -1);
    CHECK(strcmp(vec_path(), best) == 0);
    CHECK_INT(nn_simd_select("neon"), strcmp(best, "neon") == 0 ? 0 : -1);
    CHECK(strcmp(vec_path(), best) == 0);
    if (strcmp(best, "avx512f") == 0) { /* AVX-512 CPUs run AVX2 too, when asked */
        CHECK_INT(nn_simd_select("avx2"), 0);
        CHECK(strcmp(vec_path(), "avx2+fma") == 0);
    } else {
        CHECK_INT(nn_simd_select("avx2"), strcmp(best, "avx2+fma") == 0 ? 0 : -1);
    }
    CHECK_INT(nn_simd_select("scalar"), 0);
    CHECK(strcmp(vec_path(), "scalar") == 0);
    CHECK_INT(nn_simd_select("sse9"), -1);
    CHECK(strcmp(vec_path(), "scalar") == 0);
    CHECK_INT(nn_simd_select(was), 0);
}

/* The kernels follow the choice: a dot whose sequential float32 sum
 * loses a term that the SIMD paths' partial sums keep, and a Dense layer
 * where a fused multiply-add keeps a bit that rounding the product first
 * drops. On the scalar path both give the scalar twin's value, on a SIMD
 * path the other one. */
static void test_simd_select_dispatches(void) {
    static const char *const simd[] = {"avx2", "avx512", "neon"};
    float a[16] = {16777216.0f, 1.0f}, ones[16], W[2 * 8], b[8] = {0}, out[8];
    const float x[2] = {1.0f, 1.0f + 0x1p-12f};
    char was[16];
    size_t k, o;
    snprintf(was, sizeof was, "%s", vec_path());
    a[8] = -16777216.0f; /* scalar: (2^24 + 1) rounds to 2^24, then 0; lanes: 0 and 1 */
    for (k = 0; k < 16; k++) ones[k] = 1.0f;
    for (o = 0; o < 8; o++) W[o] = -1.0f, W[8 + o] = 1.0f + 0x1p-12f;
    CHECK_INT(nn_simd_select("scalar"), 0);
    CHECK(vec_dot(a, ones, 16) == 0.0f);
    nn_dense_forward(out, x, W, b, 1, 2, 8); /* −1 + (1 + 2^-12)² */
    for (o = 0; o < 8; o++) CHECK(out[o] == 0x1p-11f);
    for (k = 0; k < sizeof simd / sizeof simd[0]; k++) {
        if (nn_simd_select(simd[k]) != 0) continue;
        CHECK(vec_dot(a, ones, 16) == 1.0f);
        nn_dense_forward(out, x, W, b, 1, 2, 8);
        for (o = 0; o < 8; o++) CHECK(out[o] == 0x1p-11f + 0x1p-24f);
    }
    CHECK_INT(nn_simd_select(was), 0);
}

/* Recursive summation of n products in float32 errs by at most
 * γ_n·Σ|a_i b_i| with γ_n = n·u/(1 − n·u), u = 2^-24 (Higham, §3.1); the
 * SIMD sum is a different order of the same n terms (with FMA, no worse), so
 * each path is within γ_n·Σ|ab| of the exact dot and the two within twice it. */
static void test_vec_dot(void) {
    nn_rng rng;
    size_t li;
    nn_rng_seed(&rng, 1);
    for (li = 0; li < N_LENGTHS; li++) {
        size_t n = length_at(li), shift = li % 2, i;
        float *a = floats(n), *b = floats(n);
        double exact = 0.0, absum = 0.0, gamma = n * U24 / (1.0 - n * U24);
        float s, v;
        fill(a + shift, n, &rng, 1);
        fill(b + shift, n, &rng, 0);
        for (i = 0; i < n; i++) {
            exact += (double)a[shift + i] * b[shift + i];
            absum += fabs((double)a[shift + i] * b[shift + i]);
        }
        s = vec_dot_scalar(a + shift, b + shift, n);
        v = vec_dot(a + shift, b + shift, n);
        if (n == 0) {
            CHECK(s == 0.0f);
            CHECK(v == 0.0f);
        }
        if (fabs(s - exact) > gamma * absum)
            test_fail(__FILE__, __LINE__, "n=%zu scalar dot %.9g, exact %.17g", n, s, exact);
        if (fabs(v - exact) > gamma * absum)
            test_fail(__FILE__, __LINE__, "n=%zu vec_dot %.9g, exact %.17g", n, v, exact);
        if (fabs((double)v - s) > 2.0 * gamma * absum)
            test_fail(__FILE__, __LINE__, "n=%zu vec_dot %.9g vs scalar %.9g", n, v, s);
        free(a);
        free(b);
    }
}

/* axpy: scalar rounds a·x then the sum, FMA rounds once, so they differ by
 * at most u·|a·x| + 2u·|y + a·x| (+ O(u²)) ≤ 2^-23·(|a·x| + |y + a·x|).
 * scale is a single multiply on every path: bit-identical. */
static void test_vec_axpy_scale(void) {
    nn_rng rng;
    size_t li;
    nn_rng_seed(&rng, 2);
    for (li = 0; li < N_LENGTHS; li++) {
        size_t n = length_at(li), shift = li % 3 == 1, i;
        float *x = floats(n), *y1 = floats(n), *y2 = floats(n);
        float a = (float)(4.0 * nn_rng_uniform(&rng) - 2.0);
        int bad = 0;
        fill(x + shift, n, &rng, 1);
        fill(y1 + shift, n, &rng, 1);
        memcpy(y2, y1, (n + 1) * sizeof *y1);
        vec_axpy_scalar(y1 + shift, a, x + shift, n);
        vec_axpy(y2 + shift, a, x + shift, n);
        for (i = 0; i < n; i++) {
            double ax = (double)a * x[shift + i];
            double tol = 2.0 * U24 * (fabs(ax) + fabs((double)y1[shift + i]));
            if (fabs((double)y1[shift + i] - y2[shift + i]) > tol && bad++ < 3)
                test_fail(__FILE__, __LINE__, "axpy n=%zu i=%zu: %.9g vs %.9g", n, i,
                          y2[shift + i], y1[shift + i]);
        }
        memcpy(y2, x, (n + 1) * sizeof *x);
        vec_scale_scalar(x + shift, a, n);
        vec_scale(y2 + shift, a, n);
        if (memcmp(x, y2, (n + 1) * sizeof *x) != 0)
            test_fail(__FILE__, __LINE__, "vec_scale n=%zu differs from scalar", n);
        free(x);
        free(y1);
        free(y2);
    }
    {   /* axpy actually adds: 1 + 2·3 = 7 at every position, tail included */
        float y[11], x[11];
        size_t i;
        for (i = 0; i < 11; i++) y[i] = 1.0f, x[i] = 3.0f;
        vec_axpy(y, 2.0f, x, 11);
        for (i = 0; i < 11; i++) CHECK(y[i] == 7.0f);
    }
}

/* The optimiser loops promise the same bits on every path. Three updates in a
 * row, so the state the SIMD loop wrote is what it reads next. */
static void test_optim_loops_identical(void) {
    nn_rng rng;
    size_t li;
    nn_rng_seed(&rng, 3);
    for (li = 0; li < N_LENGTHS; li++) {
        size_t n = length_at(li), shift = li % 2, i, k;
        size_t bytes = (n + 1) * sizeof(float);
        float *g = floats(n), *p1 = floats(n), *m1 = floats(n), *v1 = floats(n);
        float *p2 = floats(n), *m2 = floats(n), *v2 = floats(n);
        int kind;
        for (kind = 0; kind < 3; kind++) {
            fill(p1, n + 1, &rng, 1);
            fill(m1, n + 1, &rng, 1);
            fill(v1, n + 1, &rng, 1);
            for (i = 0; i <= n; i++) {
                m1[i] *= 0.1f;
                v1[i] = v1[i] * v1[i] * 0.01f; /* second moments are ≥ 0 */
            }
            memcpy(p2, p1, bytes);
            memcpy(m2, m1, bytes);
            memcpy(v2, v1, bytes);
            for (k = 1; k <= 3; k++) {
                fill(g + shift, n, &rng, 1); /* zeros and both signs */
                if (n > 3) g[shift + 3] = -2.0f; /* |g| above β2·u for AdaMax */
                if (kind == 0) {
                    nn_sgd_update_scalar(p1 + shift, g + shift, n, 0.01f);
                    nn_sgd_update(p2 + shift, g + shift, n, 0.01f);
                } else if (kind == 1) {
                    float lr_t = nn_adam_lr_t(0.001f, 0.9f, 0.999f, k);
                    nn_adam_update_scalar(p1 + shift, g + shift, m1 + shift, v1 + shift,
                                          n, lr_t, 0.9f, 0.999f, 1e-7f);
                    nn_adam_update(p2 + shift, g + shift, m2 + shift, v2 + shift, n,
                                   lr_t, 0.9f, 0.999f, 1e-7f);
                } else {
                    float lr_t = nn_adamax_lr_t(0.005f, 0.8f, k);
                    nn_adamax_update_scalar(p1 + shift, g + shift, m1 + shift,
                                            v1 + shift, n, lr_t, 0.8f, 0.99f, 1e-8f);
                    nn_adamax_update(p2 + shift, g + shift, m2 + shift, v2 + shift, n,
                                     lr_t, 0.8f, 0.99f, 1e-8f);
                }
            }
            if (memcmp(p1, p2, bytes) || memcmp(m1, m2, bytes) || memcmp(v1, v2, bytes))
                test_fail(__FILE__, __LINE__, "%s loop n=%zu: SIMD and scalar bits differ",
                          kind == 0 ? "sgd" : kind == 1 ? "adam" : "adamax", n);
        }
        free(g);
        free(p1);
        free(m1);
        free(v1);
        free(p2);
        free(m2);
        free(v2);
    }
}

static void test_flush_denormals(void) {
    volatile float tiny = 1e-38f, scale = 1e-3f, r; /* 1e-41 is subnormal */
#if defined(__SSE__) || defined(__x86_64__)
    unsigned saved = _mm_getcsr();
    r = tiny * scale;
    CHECK(r != 0.0f);
    nn_flush_denormals();
    CHECK_INT(_mm_getcsr() & 0x8040u, 0x8040u);
    r = tiny * scale;
    CHECK(r == 0.0f);
    _mm_setcsr(saved); /* leave the thread as the next test expects it */
#elif defined(__aarch64__) && defined(__GNUC__)
    uint64_t saved, now;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved));
    nn_flush_denormals();
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(now));
    CHECK(now & ((uint64_t)1 << 24));
    r = tiny * scale;
    CHECK(r == 0.0f);
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved));
#else
    nn_flush_denormals(); /* a no-op here; it must at least not crash */
    r = tiny * scale;
    (void)r;
#endif
}

/* ------------------------------------------------------ random numbers */

/* Known values, computed from the published definitions of splitmix64 and
 * xoshiro256** 1.0 (an independent Python transcription). splitmix64's
 * first output from 0 is Vigna's test vector 0xe220a8397b1dcdaf. */
static void test_rng_known(void) {
    nn_rng r;
    nn_rng_seed(&r, 0);
    CHECK(r.s[0] == UINT64_C(0xe220a8397b1dcdaf));
    CHECK(r.s[1] == UINT64_C(0x6e789e6aa1b965f4));
    CHECK(r.s[2] == UINT64_C(0x06c45d188009454f));
    CHECK(r.s[3] == UINT64_C(0xf88bb8a8724c81ec));
    CHECK(nn_rng_next(&r) == UINT64_C(0x99ec5f36cb75f2b4));
    CHECK(nn_rng_next(&r) == UINT64_C(0xbf6e1f784956452a));
    CHECK(nn_rng_next(&r) == UINT64_C(0x1a5f849d4933e6e0));
    nn_rng_seed(&r, 42);
    CHECK(nn_rng_next(&r) == UINT64_C(0x15780b2e0c2ec716));
    CHECK(nn_rng_next(&r) == UINT64_C(0x6104d9866d113a7e));
    CHECK(nn_rng_next(&r) == UINT64_C(0xae17533239e499a1));
}

static void test_rng_reproducible(void) {
    nn_rng a, b, c;
    int i, same = 1, differ = 0;
    nn_rng_seed(&a, 12345);
    nn_rng_seed(&b, 12345);
    nn_rng_seed(&c, 12346);
    for (i = 0; i < 1000; i++) {
        uint64_t x = nn_rng_next(&a);
        same &= x == nn_rng_next(&b);
        differ += x != nn_rng_next(&c);
    }
    CHECK(same);
    CHECK_INT(differ, 1000);
}

static void test_rng_uniform(void) {
    nn_rng r;
    int i, n = 100000, outside = 0, not53 = 0;
    double sum = 0.0;
    nn_rng_seed(&r, 7);
    for (i = 0; i < n; i++) {
        double u = nn_rng_uniform(&r);
        outside += !(u >= 0.0 && u < 1.0);
        not53 += u * 9007199254740992.0 != floor(u * 9007199254740992.0); /* k/2^53 */
        sum += u;
    }
    CHECK_INT(outside, 0);
    CHECK_INT(not53, 0);
    CHECK_NEAR(sum / n, 0.5, 0.0, 0.005); /* σ of the mean 0.29/√n = 0.0009 */
}

/* Pearson's χ² of observed counts against equal expected counts */
static double chi2(const long *count, int bins, long n) {
    double e = (double)n / bins, x = 0.0;
    int i;
    for (i = 0; i < bins; i++) x += (count[i] - e) * (count[i] - e) / e;
    return x;
}

static void test_rng_below(void) {
    nn_rng r;
    long count[10] = {0}, third[3] = {0};
    int i, outside = 0;
    const uint64_t big = UINT64_C(3) << 62; /* 2^64 mod n = 2^62: 1/4 rejected */
    nn_rng_seed(&r, 99);
    for (i = 0; i < 1000; i++) CHECK(nn_rng_below(&r, 1) == 0);
    for (i = 0; i < 100000; i++) {
        uint64_t x = nn_rng_below(&r, 10);
        if (x >= 10) outside++;
        else count[x]++;
    }
    CHECK_INT(outside, 0);
    /* χ² with 9 degrees of freedom: P(χ² > 40) ≈ 7e-6 */
    CHECK(chi2(count, 10, 100000) < 40.0);
    /* a plain r % n would put half the mass in the first third; rejection
     * makes all three thirds equal. χ², 2 dof: P(χ² > 25) ≈ 4e-6 */
    for (i = 0; i < 30000; i++) {
        uint64_t x = nn_rng_below(&r, big);
        if (x >= big) outside++;
        else third[x >> 62]++;
    }
    CHECK_INT(outside, 0);
    CHECK(chi2(third, 3, 30000) < 25.0);
}

static void test_rng_normal(void) {
    nn_rng r;
    int i, n = 100000, within1 = 0, finite = 1;
    double sum = 0.0, sq = 0.0, mean, var;
    nn_rng_seed(&r, 5);
    for (i = 0; i < n; i++) {
        double z = nn_rng_normal(&r);
        finite &= isfinite(z) != 0;
        sum += z;
        sq += z * z;
        within1 += fabs(z) < 1.0;
    }
    mean = sum / n;
    var = sq / n - mean * mean;
    CHECK(finite);
    CHECK_NEAR(mean, 0.0, 0.0, 0.016);              /* 5σ, σ = 1/√n */
    CHECK_NEAR(var, 1.0, 0.0, 0.022);               /* 5σ, σ = √(2/n) */
    CHECK_NEAR((double)within1 / n, 0.682689, 0.0, 0.0075); /* 5σ */
}

static void test_rng_shuffle(void) {
    nn_rng r, r2;
    uint32_t a[1000], b[1000], one = 42;
    unsigned char seen[1000];
    long perm[6] = {0};
    size_t i;
    int moved = 0, k;
    nn_rng_seed(&r, 11);
    nn_rng_seed(&r2, 11);
    for (i = 0; i < 1000; i++) a[i] = b[i] = (uint32_t)i;
    nn_rng_shuffle_u32(&r, a, 1000);
    nn_rng_shuffle_u32(&r2, b, 1000);
    memset(seen, 0, sizeof seen);
    for (i = 0; i < 1000; i++) {
        if (a[i] < 1000) seen[a[i]]++;
        moved += a[i] != i;
    }
    for (i = 0; i < 1000; i++) CHECK_INT(seen[i], 1); /* a permutation */
    CHECK(moved > 900);                                 /* and not the identity */
    CHECK(memcmp(a, b, sizeof a) == 0);                 /* reproducible */
    nn_rng_shuffle_u32(&r, NULL, 0);
    nn_rng_shuffle_u32(&r, &one, 1);
    CHECK_INT(one, 42);
    /* all 6 orders of 3 items equally likely: χ², 5 dof, P(χ² > 30) ≈ 1.5e-5 */
    for (k = 0; k < 60000; k++) {
        uint32_t t[3] = {0, 1, 2};
        nn_rng_shuffle_u32(&r, t, 3);
        perm[t[0] * 2 + (t[1] > t[2])]++;
    }
    CHECK(chi2(perm, 6, 60000) < 30.0);
}

/* -------------------------------------------------------- initialisers */

static void test_init_uniform(void) {
    enum { R = 50, K = 5, S = 8 };
    float w[R * S], w2[R * S];
    nn_rng r, r2;
    size_t i, c;
    double sum = 0.0;
    float lo = 1.0f, hi = -1.0f;
    for (i = 0; i < R * S; i++) w[i] = w2[i] = 1.0f; /* padding must be overwritten */
    nn_rng_seed(&r, 3);
    nn_rng_seed(&r2, 3);
    nn_init_uniform(w, R, K, S, 0.05f, &r);
    nn_init_uniform(w2, R, K, S, 0.05f, &r2);
    CHECK(memcmp(w, w2, sizeof w) == 0);
    for (i = 0; i < R; i++)
        for (c = 0; c < S; c++) {
            float x = w[i * S + c];
            if (c >= K) {
                if (x != 0.0f) test_fail(__FILE__, __LINE__, "padding w[%zu][%zu] = %g", i, c, x);
                continue;
            }
            if (!(fabsf(x) <= 0.05f)) test_fail(__FILE__, __LINE__, "w = %g beyond 0.05", x);
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
            sum += x;
        }
    CHECK(lo < -0.045f); /* 250 draws fill the interval */
    CHECK(hi > 0.045f);
    CHECK_NEAR(sum / (R * K), 0.0, 0.0, 0.0075); /* 4σ, σ = 0.0289/√250 */
}

static void test_init_limits(void) {
    CHECK(nn_glorot_limit(3, 3) == 1.0f);                      /* √(6/6) */
    CHECK(nn_glorot_limit(150, 64) == (float)sqrt(6.0 / 214.0));
    CHECK_NEAR(nn_glorot_limit(150, 64), 0.16744367, 1e-7, 0.0);
    CHECK(nn_glorot_limit(100, 50) == (float)sqrt(6.0 / 150.0)); /* 0.2 */
    CHECK(nn_glorot_limit(0, 0) == (float)sqrt(3.0));          /* Keras floors fan at 1 */
    CHECK(nn_lecun_limit(3) == 1.0f);                          /* √(3/3) */
    CHECK(nn_lecun_limit(100) == (float)sqrt(0.03));
    CHECK_NEAR(nn_lecun_limit(100), 0.17320508, 1e-7, 0.0);
    CHECK(nn_lecun_limit(0) == (float)sqrt(3.0));
}

/* ----------------------------------------------------------- embedding */

static void test_embedding_forward(void) {
    enum { R = 4, S = 8 };
    float W[R * S], out[4 * S];
    const uint32_t ids[4] = {2, 0, 2, 3};
    size_t i;
    for (i = 0; i < R * S; i++) W[i] = (float)i + 0.5f;
    nn_embedding_forward(out, W, ids, 4, S);
    for (i = 0; i < 4; i++)
        CHECK(memcmp(out + i * S, W + ids[i] * S, S * sizeof *W) == 0);
    CHECK(out[S] == 0.5f); /* row 0, column 0 */
}

static void test_embedding_backward_sum(void) {
    enum { R = 4, S = 8 };
    float dW[R * S], dout[4 * S];
    const uint32_t ids[4] = {2, 0, 2, 3};
    size_t c;
    for (c = 0; c < R * S; c++) dW[c] = 1.0f; /* accumulates onto what is there */
    for (c = 0; c < 4 * S; c++) dout[c] = (float)(c + 1) / 8.0f; /* sums are exact */
    nn_embedding_backward(dW, dout, ids, 4, S);
    for (c = 0; c < S; c++) {
        CHECK(dW[0 * S + c] == 1.0f + dout[1 * S + c]);
        CHECK(dW[1 * S + c] == 1.0f); /* not in the batch */
        CHECK(dW[2 * S + c] == 1.0f + dout[0 * S + c] + dout[2 * S + c]); /* the SUM */
        CHECK(dW[3 * S + c] == 1.0f + dout[3 * S + c]);
    }
}

/* L(W) = Σ_b Σ_c C[b][c] · out_b[c], out = embedding(W, ids): the backward
 * pass with dout = C must match central differences of L, the repeated id
 * included (its derivative is the sum of both coefficients). */
static double emb_loss(const float *W, const uint32_t *ids, const float *C,
                       size_t B, size_t K, size_t S) {
    float out[6 * 8];
    double L = 0.0;
    size_t b, c;
    nn_embedding_forward(out, W, ids, B, S);
    for (b = 0; b < B; b++)
        for (c = 0; c < K; c++) L += (double)C[b * S + c] * out[b * S + c];
    return L;
}

static void test_embedding_gradcheck(void) {
    enum { R = 5, K = 5, S = 8, B = 6 };
    const uint32_t ids[B] = {1, 3, 1, 4, 0, 1};
    float W[R * S], C[B * S], dW[R * S];
    nn_rng rng;
    size_t i, c, nonzero = 0;
    nn_rng_seed(&rng, 17);
    memset(W, 0, sizeof W);
    memset(dW, 0, sizeof dW);
    memset(C, 0, sizeof C);
    nn_init_uniform(W, R, K, S, 0.5f, &rng);
    for (i = 0; i < B; i++) fill(C + i * S, K, &rng, 0);
    nn_embedding_backward(dW, C, ids, B, S);
    for (i = 0; i < R; i++)
        for (c = 0; c < K; c++) {
            float *w = &W[i * S + c], w0 = *w, wp, wm;
            double fd;
            *w = w0 + 0.01f, wp = *w;
            double Lp = emb_loss(W, ids, C, B, K, S);
            *w = w0 - 0.01f, wm = *w;
            fd = (Lp - emb_loss(W, ids, C, B, K, S)) / ((double)wp - wm);
            *w = w0;
            CHECK_NEAR(dW[i * S + c], fd, 1e-4, 1e-6);
            nonzero += dW[i * S + c] != 0.0f;
        }
    CHECK(nonzero >= 4 * K); /* rows 0, 1, 3, 4 have gradient: not trivially all zero */
    for (c = 0; c < K; c++) CHECK(dW[2 * S + c] == 0.0f); /* row 2 is not in the batch */
}

/* ---------------------------------------------------------------- MSE */

static void test_mse(void) {
    const float pred[3] = {1.0f, 2.0f, 3.0f}, y[3] = {1.5f, 2.0f, 1.0f};
    float d[3], d1;
    CHECK_NEAR(nn_mse_forward(pred, y, 3), (0.25 + 0.0 + 4.0) / 3.0, 1e-15, 0.0);
    nn_mse_backward(d, pred, y, 3);
    CHECK_NEAR(d[0], -1.0 / 3.0, 1e-7, 0.0); /* 2(1 − 1.5)/3 */
    CHECK(d[1] == 0.0f);
    CHECK_NEAR(d[2], 4.0 / 3.0, 1e-7, 0.0);  /* 2(3 − 1)/3 */
    nn_mse_backward(&d1, pred + 2, y + 2, 1);
    CHECK(d1 == 4.0f); /* B = 1: 2(ŷ − y) */
    CHECK(nn_mse_forward(pred, y, 0) == 0.0);
}

static void test_mse_gradcheck(void) {
    enum { B = 7 };
    float pred[B], y[B], d[B];
    nn_rng rng;
    size_t b, nonzero = 0;
    nn_rng_seed(&rng, 23);
    fill(pred, B, &rng, 0);
    fill(y, B, &rng, 0);
    nn_mse_backward(d, pred, y, B);
    for (b = 0; b < B; b++) {
        float p0 = pred[b], pp, pm;
        double Lp, Lm;
        pred[b] = p0 + 0.01f, pp = pred[b];
        Lp = nn_mse_forward(pred, y, B);
        pred[b] = p0 - 0.01f, pm = pred[b];
        Lm = nn_mse_forward(pred, y, B);
        pred[b] = p0;
        /* L is quadratic, so the central difference is exact up to rounding */
        CHECK_NEAR(d[b], (Lp - Lm) / ((double)pp - pm), 1e-5, 1e-7);
        nonzero += d[b] != 0.0f;
    }
    CHECK_INT(nonzero, B);
}

/* ----------------------------------------------------- parameter block */

static void test_params_layout(void) {
    nn_params ps;
    size_t ta, tb, tc, td, i;
    memset(&ps, 0, sizeof ps); /* an empty block */
    ta = nn_params_add(&ps, "a", 10, 5, 1);
    tb = nn_params_add(&ps, "b", 1, 7, 0);
    tc = nn_params_add(&ps, "c", 4, 1, 1);
    td = nn_params_add(&ps, "d", 3, 17, 0);
    CHECK_INT(ta, 0);
    CHECK_INT(tb, 1);
    CHECK_INT(tc, 2);
    CHECK_INT(td, 3);
    CHECK_INT(ps.n_tensors, 4);
    CHECK_INT(ps.t[0].stride, 8);
    CHECK_INT(ps.t[1].stride, 8);
    CHECK_INT(ps.t[2].stride, 1);   /* one float a row (a bias): not padded */
    CHECK_INT(ps.t[3].stride, 24);
    CHECK_INT(ps.t[0].offset, 0);
    CHECK_INT(ps.t[1].offset, 80);  /* 10·8 */
    CHECK_INT(ps.t[2].offset, 96);  /* 88 rounded up to 16 floats (64 bytes) */
    CHECK_INT(ps.t[3].offset, 112); /* 96 + 4, rounded up to 16 */
    CHECK_INT(ps.n, 112 + 72);
    for (i = 1; i < ps.n_tensors; i++)
        CHECK(ps.t[i].offset >= ps.t[i - 1].offset + ps.t[i - 1].rows * ps.t[i - 1].stride);
    CHECK_INT(nn_params_alloc(&ps), 0);
    if (!ps.w) return;
    for (i = 0; i < ps.n_tensors; i++) {
        CHECK((uintptr_t)nn_param(&ps, i) % NN_ALIGN == 0);
        CHECK((uintptr_t)nn_grad(&ps, i) % NN_ALIGN == 0);
        CHECK(nn_param(&ps, i) == ps.w + ps.t[i].offset);
        CHECK((ps.t[i].touched != NULL) == ps.t[i].sparse);
        CHECK((ps.t[i].is_touched != NULL) == ps.t[i].sparse);
    }
    for (i = 0; i < ps.n; i++)
        if (ps.w[i] != 0.0f || ps.dw[i] != 0.0f) {
            test_fail(__FILE__, __LINE__, "w/dw[%zu] not zeroed", i);
            break;
        }
    nn_params_free(&ps);
}

static void test_params_touch_zero_grad(void) {
    nn_params ps;
    size_t ta, tb, tc, i, r;
    float *dw;
    memset(&ps, 0, sizeof ps);
    ta = nn_params_add(&ps, "a", 10, 5, 1);
    tb = nn_params_add(&ps, "b", 2, 7, 0);
    tc = nn_params_add(&ps, "c", 4, 1, 1);
    if (nn_params_alloc(&ps) != 0) {
        test_fail(__FILE__, __LINE__, "nn_params_alloc failed");
        return;
    }
    for (i = 0; i < ps.n; i++) ps.dw[i] = 1.0f;
    nn_params_touch(&ps, ta, 3);
    nn_params_touch(&ps, ta, 3);
    nn_params_touch(&ps, ta, 7);
    nn_params_touch(&ps, ta, 3);
    nn_params_touch(&ps, tb, 1); /* dense: no-op */
    nn_params_touch(&ps, tc, 1);
    CHECK_INT(ps.t[ta].n_touched, 2); /* deduplicated */
    CHECK_INT(ps.t[ta].touched[0], 3);
    CHECK_INT(ps.t[ta].touched[1], 7);
    CHECK_INT(ps.t[ta].is_touched[3], 1);
    CHECK_INT(ps.t[ta].is_touched[4], 0);
    CHECK_INT(ps.t[tb].n_touched, 0);
    CHECK_INT(ps.t[tc].n_touched, 1);
    nn_params_zero_grad(&ps);
    dw = nn_grad(&ps, ta);
    for (r = 0; r < 10; r++)
        for (i = 0; i < 8; i++) {
            float want = (r == 3 || r == 7) ? 0.0f : 1.0f; /* untouched rows not visited */
            if (dw[r * 8 + i] != want)
                test_fail(__FILE__, __LINE__, "a.dw[%zu][%zu] = %g, want %g", r, i,
                          dw[r * 8 + i], want);
        }
    dw = nn_grad(&ps, tb);
    for (i = 0; i < 16; i++) CHECK(dw[i] == 0.0f); /* dense: all of it */
    dw = nn_grad(&ps, tc); /* rows of one float */
    CHECK(dw[0] == 1.0f);
    CHECK(dw[1] == 0.0f);
    CHECK(dw[2] == 1.0f);
    CHECK_INT(ps.t[ta].n_touched, 0);
    CHECK_INT(ps.t[tc].n_touched, 0);
    for (r = 0; r < 10; r++) CHECK_INT(ps.t[ta].is_touched[r], 0);
    nn_params_touch(&ps, ta, 3); /* the set works again after clearing */
    CHECK_INT(ps.t[ta].n_touched, 1);
    nn_params_free(&ps);
}

/* ------------------------------------------------------------ threads */

static void test_params_limits(void) {
    nn_params ps, zero;
    size_t i;
    memset(&ps, 0, sizeof ps);
    memset(&zero, 0, sizeof zero);
    for (i = 0; i < NN_MAX_TENSORS; i++) CHECK_INT(nn_params_add(&ps, "x", 2, 3, (int)(i % 2)), i);
    CHECK(nn_params_add(&ps, "one too many", 2, 3, 0) == (size_t)-1);
    CHECK_INT(nn_params_alloc(&ps), 0);
    nn_params_free(&ps);
    CHECK(memcmp(&ps, &zero, sizeof ps) == 0); /* freed means zeroed */
    nn_params_free(&ps);                       /* and freeing twice is safe */
    CHECK(nn_params_add(&ps, "huge", SIZE_MAX / 2, 8, 0) == (size_t)-1);
    CHECK_INT(ps.n_tensors, 0);
}

/* ---------------------------------------------------------- optimisers */

static void test_optimizer_defaults(void) {
    nn_optimizer_config c = nn_optimizer_defaults(NN_SGD);
    CHECK(c.kind == NN_SGD);
    CHECK(c.update == NN_UPDATE_DENSE);
    CHECK(c.lr == 0.01f);
    c = nn_optimizer_defaults(NN_ADAM);
    CHECK(c.kind == NN_ADAM);
    CHECK(c.update == NN_UPDATE_DENSE);
    CHECK(c.lr == 0.001f);
    CHECK(c.beta1 == 0.9f);
    CHECK(c.beta2 == 0.999f);
    CHECK(c.epsilon == 1e-7f); /* Keras 2.1.6: K.epsilon(), not the paper's 1e-8 */
    c = nn_optimizer_defaults(NN_ADAMAX);
    CHECK(c.kind == NN_ADAMAX);
    CHECK(c.update == NN_UPDATE_DENSE);
    CHECK(c.lr == 0.002f);
    CHECK(c.beta1 == 0.9f);
    CHECK(c.beta2 == 0.999f);
    CHECK(c.epsilon == 1e-7f);
}

/* LIBMF's schedule, row-wise AdaGrad, by hand: w = (1, 2), G = 1.
 * Step 1, g = (0.5, −1): rate 0.1/√1, w = (0.95, 2.1), G = 1 + 1.25/2.
 * Step 2, g = (1, 1): rate 0.1/√1.625 = 0.0784465, w −= it, G = 2.625.
 * Through the optimiser, a row without gradient keeps its weights and G,
 * and the dense and lazy modes give the same bits (the tensor a is
 * sparse: the lazy step visits its touched row 3 only; b is dense). */
static void test_rowwise_adagrad(void) {
    float w[2] = {1.0f, 2.0f}, g1[2] = {0.5f, -1.0f}, g2[2] = {1.0f, 1.0f}, G1 = 0.0f;
    nn_params ps[2];
    nn_optimizer opt[2];
    size_t mode, k, differ = 0;
    nn_rowwise_adagrad_row(w, g1, &G1, 2, 0.1f);
    CHECK_NEAR(w[0], 0.95, 0, 1e-7);
    CHECK_NEAR(w[1], 2.1, 0, 1e-7);
    CHECK_NEAR(G1, 0.625, 0, 1e-7);
    nn_rowwise_adagrad_row(w, g2, &G1, 2, 0.1f);
    CHECK_NEAR(w[0], 0.95 - 0.1 / sqrt(1.625), 0, 1e-6);
    CHECK_NEAR(w[1], 2.1 - 0.1 / sqrt(1.625), 0, 1e-6);
    CHECK_NEAR(G1, 1.625, 0, 1e-7);
    for (mode = 0; mode < 2; mode++) {
        nn_optimizer_config c = nn_optimizer_defaults(NN_ROWWISE_ADAGRAD);
        memset(&ps[mode], 0, sizeof ps[mode]);
        nn_params_add(&ps[mode], "a", 10, 5, 1);
        nn_params_add(&ps[mode], "b", 3, 7, 0);
        CHECK_INT(nn_params_alloc(&ps[mode]), 0);
        for (k = 0; k < ps[mode].n; k++) ps[mode].w[k] = (float)k * 0.01f;
        c.update = mode ? NN_UPDATE_LAZY : NN_UPDATE_DENSE;
        CHECK_INT(nn_optimizer_init(&opt[mode], c, ps[mode].n), 0);
        for (k = 0; k < 3; k++) { /* three steps on row 3 of a and all of b */
            size_t j;
            float *ga = nn_grad(&ps[mode], 0) + 3 * ps[mode].t[0].stride, *gb = nn_grad(&ps[mode], 1);
            for (j = 0; j < 5; j++) ga[j] = 0.1f * (float)(j + k);
            for (j = 0; j < 3 * ps[mode].t[1].stride; j++) gb[j] = -0.05f;
            nn_params_touch(&ps[mode], 0, 3);
            nn_optimizer_step(&opt[mode], &ps[mode]);
            nn_params_zero_grad(&ps[mode]);
        }
    }
    CHECK(ps[0].n == ps[1].n);
    for (k = 0; k < ps[0].n; k++) differ += ps[0].w[k] != ps[1].w[k] || opt[0].v[k] != opt[1].v[k];
    CHECK_INT(differ, 0);
    CHECK(nn_param(&ps[0], 0)[2 * ps[0].t[0].stride] == (float)(2 * ps[0].t[0].stride) * 0.01f);
    CHECK(opt[0].v[ps[0].t[0].offset + 2 * ps[0].t[0].stride] == 0.0f); /* row 2: no gradient */
    CHECK(opt[0].v[ps[0].t[0].offset + 3 * ps[0].t[0].stride] > 0.0f);
    for (mode = 0; mode < 2; mode++) {
        nn_optimizer_free(&opt[mode]);
        nn_params_free(&ps[mode]);
    }
}

static void test_optimizer_names(void) {
    static const nn_optimizer_kind kinds[] = {NN_SGD, NN_ADAM, NN_ADAMAX, NN_ROWWISE_ADAGRAD};
    nn_optimizer_kind k = NN_ADAM;
    nn_update_mode u = NN_UPDATE_LAZY;
    size_t i;
    for (i = 0; i < 4; i++) {
        nn_optimizer_kind got = NN_SGD;
        CHECK_INT(nn_optimizer_parse(nn_optimizer_name(kinds[i]), &got), 0);
        CHECK(got == kinds[i]);
    }
    CHECK_HAS(nn_optimizer_name(NN_ADAMAX), "adamax");
    CHECK(strcmp(nn_optimizer_name(NN_SGD), "sgd") == 0);
    CHECK(strcmp(nn_optimizer_name(NN_ADAM), "adam") == 0);
    CHECK_INT(nn_optimizer_parse("adamw", &k), -1);
    CHECK_INT(nn_optimizer_parse("", &k), -1);
    CHECK_INT(nn_optimizer_parse(NULL, &k), -1);
    CHECK(k == NN_ADAM); /* untouched on failure */
    CHECK(strcmp(nn_update_name(NN_UPDATE_DENSE), "dense") == 0);
    CHECK(strcmp(nn_update_name(NN_UPDATE_LAZY), "lazy") == 0);
    CHECK_INT(nn_update_parse("dense", &u), 0);
    CHECK(u == NN_UPDATE_DENSE);
    CHECK_INT(nn_update_parse("lazy", &u), 0);
    CHECK(u == NN_UPDATE_LAZY);
    CHECK_INT(nn_update_parse("sparse", &u), -1);
    CHECK(u == NN_UPDATE_LAZY);
}

static void test_lr_t(void) {
    /* lr·√(1 − β2^t)/(1 − β1^t) in float32, against double arithmetic on the
     * same float32 β's. 1 − β2^t ≈ t·0.001 cancels: one ulp of powf near 1
     * (2^-24) is 6e-5/t of it, halved by the root, so at t = 2 float32 (like
     * Keras) is only good to ≈ 1.5e-5 relative; t = 1 and large t are tight. */
    const double b1 = 0.9f, b2 = 0.999f, lr = 0.001f;
    CHECK_NEAR(nn_adam_lr_t(0.001f, 0.9f, 0.999f, 1), lr * sqrt(1.0 - b2) / (1.0 - b1),
               1e-6, 0.0);
    CHECK_NEAR(nn_adam_lr_t(0.001f, 0.9f, 0.999f, 2),
               lr * sqrt(1.0 - b2 * b2) / (1.0 - b1 * b1), 2e-5, 0.0);
    CHECK_NEAR(nn_adam_lr_t(0.001f, 0.9f, 0.999f, 1000000), lr, 1e-6, 0.0);
    CHECK_NEAR(nn_adamax_lr_t(0.002f, 0.9f, 1), (double)0.002f / (1.0 - b1), 1e-6, 0.0);
    CHECK_NEAR(nn_adamax_lr_t(0.002f, 0.9f, 2), (double)0.002f / (1.0 - b1 * b1), 1e-6, 0.0);
    CHECK_NEAR(nn_adamax_lr_t(0.002f, 0.9f, 1000000), 0.002, 1e-6, 0.0);
}

/* Adam's first step from m = v = 0 moves every parameter by ≈ lr·sign(g)
 * whatever |g| (when |g| ≫ ε); SGD moves by exactly lr·g. */
static void test_optimizer_first_step(void) {
    nn_params ps;
    nn_optimizer opt;
    size_t t, i;
    const float g[5] = {0.5f, -0.25f, 3.0f, -7.0f, 0.0f};
    int kind;
    for (kind = 0; kind < 2; kind++) {
        memset(&ps, 0, sizeof ps);
        t = nn_params_add(&ps, "w", 1, 5, 0);
        if (nn_params_alloc(&ps) != 0 ||
            nn_optimizer_init(&opt, nn_optimizer_defaults(kind ? NN_ADAM : NN_SGD), ps.n)) {
            test_fail(__FILE__, __LINE__, "out of memory");
            nn_params_free(&ps);
            return;
        }
        for (i = 0; i < 5; i++) nn_param(&ps, t)[i] = 1.0f, nn_grad(&ps, t)[i] = g[i];
        nn_optimizer_step(&opt, &ps);
        CHECK_INT(opt.t, 1);
        for (i = 0; i < 5; i++) {
            double moved = 1.0 - nn_param(&ps, t)[i];
            double want = kind ? (g[i] > 0 ? 0.001 : g[i] < 0 ? -0.001 : 0.0)
                               : (double)(0.01f * g[i]);
            /* Adam: ε/(√(1−β2)|g|) ≤ 1.3e-5 relative; float32 rounding of p near 1 ≈ 6e-8 */
            CHECK_NEAR(moved, want, 0.0, kind ? 3e-7 : 1e-7);
        }
        CHECK(nn_param(&ps, t)[5] == 0.0f); /* padding stays 0 */
        nn_optimizer_free(&opt);
        nn_params_free(&ps);
    }
    CHECK(nn_optimizer_init(&opt, nn_optimizer_defaults(NN_ADAM), SIZE_MAX / 2) == -1);
    CHECK(opt.m == NULL && opt.v == NULL);
    nn_optimizer_free(&opt);
}

/* --------------------------------------- optimisers against the fixture */

#define FX_PATH "tests/ref/optim.txt"
#define FX_MAXE 64  /* floats in the embedding tensor */
#define FX_MAXD 16  /* floats in the dense tensor */
#define FX_MAXS 16  /* steps */
#define FX_MAXC 16  /* cases */

typedef struct { float E[FX_MAXE], D[FX_MAXD]; } fx_state;

typedef struct {
    nn_optimizer_kind kind;
    nn_update_mode mode;
    float lr, beta1, beta2, eps;
    fx_state after[FX_MAXS];
} fx_case;

typedef struct {
    size_t rows, k, dense, steps, n_cases;
    fx_state init, grad[FX_MAXS];
    size_t n_touched[FX_MAXS];
    uint32_t touched[FX_MAXS][FX_MAXE];
    fx_case cases[FX_MAXC];
} fixture;

static fixture fx; /* large: static, not on the stack */

static int fx_state_read(fixture_file *rd, fx_state *s) {
    if (fixture_floats(rd, s->E, fx.rows * fx.k)) return -1;
    return fixture_floats(rd, s->D, fx.dense);
}

static int fx_load(void) {
    fixture_file rd;
    char buf[64];
    const char *t;
    size_t s, i, step;
    int rc = -1;
    if (fixture_open(&rd, FX_PATH) != 0) return -1;
    memset(&fx, 0, sizeof fx);
    if (fixture_word(&rd, "problem") || fixture_size(&rd, &fx.rows, FX_MAXE) ||
        fixture_size(&rd, &fx.k, FX_MAXE) || fixture_size(&rd, &fx.dense, FX_MAXD) ||
        fixture_size(&rd, &fx.steps, FX_MAXS))
        goto done;
    if (fx.rows * fx.k > FX_MAXE || fx.rows == 0 || fx.k == 0 || fx.steps == 0) {
        test_fail(__FILE__, __LINE__, FX_PATH ": problem too big or empty");
        goto done;
    }
    if (fixture_word(&rd, "init") || fx_state_read(&rd, &fx.init)) goto done;
    for (s = 0; s < fx.steps; s++) {
        if (fixture_word(&rd, "grad") || fixture_size(&rd, &step, FX_MAXS) ||
            fixture_size(&rd, &fx.n_touched[s], fx.rows))
            goto done;
        CHECK_INT(step, s + 1);
        for (i = 0; i < fx.n_touched[s]; i++) {
            size_t r;
            if (fixture_size(&rd, &r, fx.rows - 1)) goto done;
            fx.touched[s][i] = (uint32_t)r;
        }
        if (fx_state_read(&rd, &fx.grad[s])) goto done;
    }
    while ((t = fixture_token(&rd, buf, sizeof buf)) && strcmp(t, "case") == 0) {
        fx_case *c;
        float hyper[4];
        if (fx.n_cases == FX_MAXC) {
            test_fail(__FILE__, __LINE__, FX_PATH ": more than %d cases", FX_MAXC);
            goto done;
        }
        c = &fx.cases[fx.n_cases++];
        if (nn_optimizer_parse(fixture_token(&rd, buf, sizeof buf), &c->kind) ||
            nn_update_parse(fixture_token(&rd, buf, sizeof buf), &c->mode)) {
            test_fail(__FILE__, __LINE__, FX_PATH ": bad optimiser or mode in case %zu",
                      fx.n_cases);
            goto done;
        }
        if (fixture_floats(&rd, hyper, 4)) goto done;
        c->lr = hyper[0], c->beta1 = hyper[1], c->beta2 = hyper[2], c->eps = hyper[3];
        for (s = 0; s < fx.steps; s++) {
            if (fixture_word(&rd, "step") || fixture_size(&rd, &step, FX_MAXS) ||
                fx_state_read(&rd, &c->after[s]))
                goto done;
            CHECK_INT(step, s + 1);
        }
    }
    if (!t || strcmp(t, "end") != 0) {
        test_fail(__FILE__, __LINE__, FX_PATH ": expected \"case\" or \"end\"");
        goto done;
    }
    rc = 0;
done:
    fixture_close(&rd);
    return rc;
}

/* Tolerance against the fixture: rtol 1e-6, atol 1e-7.
 * The fixture and the C code do the same float32 operations in the same
 * order, so on this machine they agree to the bit. What may legitimately
 * differ elsewhere is lr_t: powf (C libm) and NumPy's float32 power can
 * differ by an ulp. One ulp in lr_t changes a step lr_t·m/(√v+ε) by one ulp
 * of the step, which moves p − step by at most one ulp of p; over 6 steps
 * that is ≤ 6 ulps of |p|, 6·2^-23 ≈ 7.2e-7 relative (< rtol). Where p
 * passes near 0 the relative error is meaningless and the absolute one is
 * ≤ 6 ulps of the largest magnitude in the subtraction (|p| ≲ 0.5: 6·2^-25
 * ≈ 1.8e-7 … the embedding entries ≲ 0.06: 6·2^-28 ≈ 2.2e-8), hence atol
 * 1e-7 for those (the dense entries are large enough for rtol to cover). */
#define FX_RTOL 1e-6
#define FX_ATOL 1e-7

/* run one case through nn_params / nn_optimizer_step; 0 when it matched */
static int fx_run(const fx_case *c, fx_state *final) {
    nn_params ps;
    nn_optimizer opt;
    nn_optimizer_config cfg = nn_optimizer_defaults(c->kind);
    size_t te, td, s, r, j, bad = 0, S;
    float *E, *D;
    memset(&ps, 0, sizeof ps);
    te = nn_params_add(&ps, "embedding", fx.rows, fx.k, 1);
    td = nn_params_add(&ps, "dense", 1, fx.dense, 0);
    cfg.update = c->mode;
    cfg.lr = c->lr, cfg.beta1 = c->beta1, cfg.beta2 = c->beta2, cfg.epsilon = c->eps;
    if (nn_params_alloc(&ps) != 0 || nn_optimizer_init(&opt, cfg, ps.n) != 0) {
        test_fail(__FILE__, __LINE__, "out of memory");
        nn_params_free(&ps);
        return -1;
    }
    S = ps.t[te].stride;
    E = nn_param(&ps, te);
    D = nn_param(&ps, td);
    for (r = 0; r < fx.rows; r++) memcpy(E + r * S, fx.init.E + r * fx.k, fx.k * sizeof *E);
    memcpy(D, fx.init.D, fx.dense * sizeof *D);

    for (s = 0; s < fx.steps; s++) {
        const fx_state *want = &c->after[s];
        nn_params_zero_grad(&ps);
        for (j = 0; j < fx.n_touched[s]; j++) { /* only the touched rows get gradient */
            uint32_t row = fx.touched[s][j];
            memcpy(nn_grad(&ps, te) + row * S, fx.grad[s].E + row * fx.k, fx.k * sizeof *E);
            nn_params_touch(&ps, te, row);
        }
        memcpy(nn_grad(&ps, td), fx.grad[s].D, fx.dense * sizeof *D);
        nn_optimizer_step(&opt, &ps);
        for (j = 0; j < fx.rows * fx.k + fx.dense; j++) {
            int emb = j < fx.rows * fx.k;
            size_t jd = j - fx.rows * fx.k;
            double got = emb ? E[(j / fx.k) * S + j % fx.k] : D[jd];
            double ref = emb ? want->E[j] : want->D[jd];
            if (!test_close(got, ref, FX_RTOL, FX_ATOL) && bad++ < 5)
                test_fail(__FILE__, __LINE__, "%s %s step %zu %s[%zu]: %.9g, expected %.9g",
                          nn_optimizer_name(c->kind), nn_update_name(c->mode), s + 1,
                          emb ? "embedding" : "dense", emb ? j : jd, got, ref);
        }
    }
    CHECK_INT(opt.t, fx.steps);
    for (r = 0; r < fx.rows; r++) /* the padding columns never move */
        for (j = fx.k; j < S; j++) CHECK(E[r * S + j] == 0.0f);
    for (j = fx.dense; j < ps.t[td].stride; j++) CHECK(D[j] == 0.0f);
    for (r = 0; r < fx.rows; r++) memcpy(final->E + r * fx.k, E + r * S, fx.k * sizeof *E);
    memcpy(final->D, D, fx.dense * sizeof *D);
    nn_optimizer_free(&opt);
    nn_params_free(&ps);
    return bad ? -1 : 0;
}

static void test_optimizer_fixture(void) {
    static fx_state got[FX_MAXC];
    int seen[3][2] = {{0, 0}, {0, 0}, {0, 0}}, non_default = 0;
    size_t i, j, r, never = (size_t)-1;
    if (fx_load() != 0) return;
    CHECK(fx.n_cases >= 6);
    for (i = 0; i < fx.n_cases; i++) {
        const fx_case *c = &fx.cases[i];
        nn_optimizer_config d = nn_optimizer_defaults(c->kind);
        seen[c->kind][c->mode]++;
        non_default += c->kind != NN_SGD && (c->lr != d.lr || c->eps != d.epsilon);
        fx_run(c, &got[i]);
    }
    for (i = 0; i < 3; i++)
        for (j = 0; j < 2; j++)
            if (!seen[i][j])
                test_fail(__FILE__, __LINE__, FX_PATH " lacks %s %s",
                          nn_optimizer_name((nn_optimizer_kind)i),
                          nn_update_name((nn_update_mode)j));
    CHECK(non_default > 0);

    /* the fixture must exercise the difference between the modes: some row
     * sits out a step after having had gradient, and one row never has any */
    for (r = 0; r < fx.rows; r++) {
        size_t s, k, in = 0;
        for (s = 0; s < fx.steps; s++)
            for (k = 0; k < fx.n_touched[s]; k++) in += fx.touched[s][k] == r;
        if (!in) never = r;
    }
    CHECK(never != (size_t)-1);
    for (i = 0; i < fx.n_cases; i++) {
        const fx_case *c = &fx.cases[i];
        if (never != (size_t)-1) /* a row without gradient never moves, in either mode */
            CHECK(memcmp(got[i].E + never * fx.k, fx.init.E + never * fx.k,
                         fx.k * sizeof(float)) == 0);
        for (j = 0; j < fx.n_cases; j++) {
            const fx_case *o = &fx.cases[j];
            double diff = 0.0;
            size_t e;
            if (o->kind != c->kind || c->mode != NN_UPDATE_DENSE ||
                o->mode != NN_UPDATE_LAZY || o->lr != c->lr || o->eps != c->eps ||
                o->beta1 != c->beta1 || o->beta2 != c->beta2)
                continue;
            for (e = 0; e < fx.rows * fx.k; e++) {
                double d = fabs((double)got[i].E[e] - got[j].E[e]);
                diff = d > diff ? d : diff;
            }
            if (c->kind == NN_SGD) /* g = 0 rows: SGD's two modes are the same */
                CHECK(memcmp(&got[i], &got[j], sizeof got[i]) == 0);
            else if (diff < 1e-5) /* far above the tolerance */
                test_fail(__FILE__, __LINE__, "%s dense and lazy agree (max diff %g)",
                          nn_optimizer_name(c->kind), diff);
            /* the dense tensor is updated every step in both modes */
            CHECK(memcmp(got[i].D, got[j].D, fx.dense * sizeof(float)) == 0);
        }
    }
}

/* -------------------------------------------------------------- layers
 * Tolerances below come from float32 rounding, u = 2^-24 (U24):
 *  - a float32 sum of n terms, in ANY order and with the products rounded
 *    or fused, is within γ_n·Σ|terms| of the exact sum, γ_n = n·u/(1 − n·u)
 *    (Higham, Accuracy and Stability of Numerical Algorithms, §3.1, §4.2);
 *  - each Dense result entry is K products (K = C for out, O for dx, B for
 *    dW and db) plus one more term (the bias, or the value accumulated
 *    onto), and the AVX2 dx adds one more rounding per 128 entries of o;
 *    so n = K + 2 + K/128 bounds every path, and two paths differ by at
 *    most twice that. */

static double gamma_n(size_t n) { return n * U24 / (1.0 - n * U24); }
static size_t dense_terms(size_t K) { return K + 2 + K / 128; }

/* exactly n floats (ASan then catches a kernel that reads one past the end) */
static float *exact_floats(size_t n) {
    float *p = malloc(n ? n * sizeof *p : 1);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    return p;
}

static double *doubles(size_t n) {
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        perror("calloc");
        exit(2);
    }
    return p;
}

/* The exact results (in double: the products of two floats are exact, and
 * the sums of a few hundred are far inside double's rounding) and, for
 * each entry, the sum of the magnitudes of the terms added into it, for
 * out = x·W + b and for `reps` backward calls onto dx0, dW0, db0. */
typedef struct {
    double *out, *out_mag, *dx, *dx_mag, *dW, *dW_mag, *db, *db_mag;
} dense_exact;

static dense_exact dense_exact_new(const float *x, const float *W, const float *b,
                                   const float *dout, const float *dx0,
                                   const float *dW0, const float *db0, int reps,
                                   size_t B, size_t C, size_t O) {
    dense_exact e;
    size_t i, c, o;
    e.out = doubles(B * O), e.out_mag = doubles(B * O);
    e.dx = doubles(B * C), e.dx_mag = doubles(B * C);
    e.dW = doubles(C * O), e.dW_mag = doubles(C * O);
    e.db = doubles(O), e.db_mag = doubles(O);
    for (i = 0; i < B; i++)
        for (o = 0; o < O; o++) {
            double s = b[o], m = fabs(b[o]);
            for (c = 0; c < C; c++) {
                double t = (double)x[i * C + c] * W[c * O + o];
                s += t, m += fabs(t);
            }
            e.out[i * O + o] = s, e.out_mag[i * O + o] = m;
        }
    for (i = 0; i < B; i++)
        for (c = 0; c < C; c++) {
            double s = 0.0, m = 0.0;
            for (o = 0; o < O; o++) {
                double t = (double)dout[i * O + o] * W[c * O + o];
                s += t, m += fabs(t);
            }
            e.dx[i * C + c] = dx0[i * C + c] + reps * s;
            e.dx_mag[i * C + c] = fabs(dx0[i * C + c]) + reps * m;
        }
    for (c = 0; c < C; c++)
        for (o = 0; o < O; o++) {
            double s = 0.0, m = 0.0;
            for (i = 0; i < B; i++) {
                double t = (double)x[i * C + c] * dout[i * O + o];
                s += t, m += fabs(t);
            }
            e.dW[c * O + o] = dW0[c * O + o] + reps * s;
            e.dW_mag[c * O + o] = fabs(dW0[c * O + o]) + reps * m;
        }
    for (o = 0; o < O; o++) {
        double s = 0.0, m = 0.0;
        for (i = 0; i < B; i++) s += dout[i * O + o], m += fabs(dout[i * O + o]);
        e.db[o] = db0[o] + reps * s;
        e.db_mag[o] = fabs(db0[o]) + reps * m;
    }
    return e;
}

static void dense_exact_free(dense_exact *e) {
    free(e->out), free(e->out_mag), free(e->dx), free(e->dx_mag);
    free(e->dW), free(e->dW_mag), free(e->db), free(e->db_mag);
}

/* |got_i − exact_i| ≤ g·mag_i for i < n; reports the first few misses */
static int dense_within(const char *what, const float *got, const double *exact,
                        const double *mag, size_t n, double g, size_t B, size_t C,
                        size_t O, int line) {
    size_t i;
    int bad = 0;
    for (i = 0; i < n; i++)
        if (!(fabs(got[i] - exact[i]) <= g * mag[i]) && bad++ < 2)
            test_fail(__FILE__, line, "%s[%zu] = %.9g, exact %.12g, tol %.3g (B=%zu C=%zu O=%zu)",
                      what, i, got[i], exact[i], g * mag[i], B, C, O);
    return bad;
}

/* One shape: both paths, forward and two backward calls onto random
 * gradients, against the exact results and each other. */
static int dense_shape_check(nn_rng *rng, size_t B, size_t C, size_t O) {
    float *x = exact_floats(B * C), *W = exact_floats(C * O), *b = exact_floats(O);
    float *dout = exact_floats(B * O), *dx0 = exact_floats(B * C), *dW0 = exact_floats(C * O);
    float *db0 = exact_floats(O), *out_s = exact_floats(B * O), *out_v = exact_floats(B * O);
    float *dx_s = exact_floats(B * C), *dx_v = exact_floats(B * C);
    float *dW_s = exact_floats(C * O), *dW_v = exact_floats(C * O), *dW_n = exact_floats(C * O);
    float *db_s = exact_floats(O), *db_v = exact_floats(O), *db_n = exact_floats(O);
    const double gf = gamma_n(dense_terms(C));
    const double gx = gamma_n(2 * dense_terms(O)), gw = gamma_n(2 * dense_terms(B));
    dense_exact e;
    int bad = 0, rep;
    fill(x, B * C, rng, 1);
    fill(W, C * O, rng, 1);
    fill(b, O, rng, 1);
    fill(dout, B * O, rng, 1);
    fill(dx0, B * C, rng, 1);
    fill(dW0, C * O, rng, 1);
    fill(db0, O, rng, 1);
    memcpy(dx_s, dx0, B * C * sizeof *dx0), memcpy(dx_v, dx0, B * C * sizeof *dx0);
    memcpy(dW_s, dW0, C * O * sizeof *dW0), memcpy(dW_v, dW0, C * O * sizeof *dW0);
    memcpy(dW_n, dW0, C * O * sizeof *dW0);
    memcpy(db_s, db0, O * sizeof *db0), memcpy(db_v, db0, O * sizeof *db0);
    memcpy(db_n, db0, O * sizeof *db0);

    nn_dense_forward_scalar(out_s, x, W, b, B, C, O);
    nn_dense_forward(out_v, x, W, b, B, C, O);
    for (rep = 0; rep < 2; rep++) { /* twice: the gradients must accumulate */
        nn_dense_backward_scalar(dx_s, dW_s, db_s, dout, x, W, B, C, O);
        nn_dense_backward(dx_v, dW_v, db_v, dout, x, W, B, C, O);
        nn_dense_backward(NULL, dW_n, db_n, dout, x, W, B, C, O);
    }
    e = dense_exact_new(x, W, b, dout, dx0, dW0, db0, 2, B, C, O);
    bad += dense_within("scalar out", out_s, e.out, e.out_mag, B * O, gf, B, C, O, __LINE__);
    bad += dense_within("simd out", out_v, e.out, e.out_mag, B * O, gf, B, C, O, __LINE__);
    bad += dense_within("scalar dx", dx_s, e.dx, e.dx_mag, B * C, gx, B, C, O, __LINE__);
    bad += dense_within("simd dx", dx_v, e.dx, e.dx_mag, B * C, gx, B, C, O, __LINE__);
    bad += dense_within("scalar dW", dW_s, e.dW, e.dW_mag, C * O, gw, B, C, O, __LINE__);
    bad += dense_within("simd dW", dW_v, e.dW, e.dW_mag, C * O, gw, B, C, O, __LINE__);
    bad += dense_within("scalar db", db_s, e.db, e.db_mag, O, gw, B, C, O, __LINE__);
    {   /* and the two paths within the sum of their bounds of each other */
        size_t i;
        for (i = 0; i < B * O; i++)
            if (!(fabs(out_v[i] - out_s[i]) <= 2 * gf * e.out_mag[i]) && bad++ < 2)
                test_fail(__FILE__, __LINE__, "out[%zu] simd %.9g vs scalar %.9g (B=%zu C=%zu O=%zu)",
                          i, out_v[i], out_s[i], B, C, O);
    }
    /* db adds dout without products: the same bits on every path; and dW,
     * db do not depend on whether dx is asked for */
    if (memcmp(db_s, db_v, O * sizeof *db_s) || memcmp(db_n, db_v, O * sizeof *db_s) ||
        memcmp(dW_n, dW_v, C * O * sizeof *dW_n))
        bad++, test_fail(__FILE__, __LINE__, "db or dx=NULL differ (B=%zu C=%zu O=%zu)", B, C, O);
    /* built with SIMD=0 the layer is made of the scalar vec_* kernels in the
     * twin's order, so it must give the twin's bits */
    if (strcmp(vec_path(), "scalar") == 0 &&
        (memcmp(out_s, out_v, B * O * sizeof *out_s) || memcmp(dx_s, dx_v, B * C * sizeof *dx_s) ||
         memcmp(dW_s, dW_v, C * O * sizeof *dW_s)))
        bad++, test_fail(__FILE__, __LINE__, "scalar build: layer and twin differ (B=%zu C=%zu O=%zu)",
                         B, C, O);
    dense_exact_free(&e);
    free(x), free(W), free(b), free(dout), free(dx0), free(dW0), free(db0);
    free(out_s), free(out_v), free(dx_s), free(dx_v), free(dW_s), free(dW_v), free(dW_n);
    free(db_s), free(db_v), free(db_n);
    return bad;
}

static void test_dense_simd_vs_scalar(void) {
    /* past the cache blocks (64 rows), the dx panels (32 columns, 128 o's),
     * the tiles (4×16, 8×8) and the packed panels of W (B ≥ 64, O ≥ 128)
     * and of x and dout (C ≥ 128 too), besides every small shape */
    static const size_t big[][3] = {{33, 150, 64}, {70, 150, 64}, {130, 40, 50}, {5, 300, 3},
                                    {9, 20, 260}, {65, 33, 129}, {67, 50, 1}, {3, 1, 40},
                                    {20, 30, 200}, {64, 3, 128}, {80, 9, 200},
                                    {80, 130, 200}};
    nn_rng rng;
    size_t B, C, O, i;
    int bad = 0;
    nn_rng_seed(&rng, 31);
    for (B = 1; B <= 19 && bad < 10; B++)
        for (C = 1; C <= 19; C++)
            for (O = 1; O <= 19; O++) bad += dense_shape_check(&rng, B, C, O);
    for (i = 0; i < sizeof big / sizeof big[0]; i++)
        bad += dense_shape_check(&rng, big[i][0], big[i][1], big[i][2]);
    bad += dense_shape_check(&rng, 4, 0, 5); /* C = 0: out = b, dx and dW empty */
    bad += dense_shape_check(&rng, 0, 6, 5); /* B = 0: nothing to add */
}

/* The AVX-512 path adds the same terms in the same order as AVX2 (dot's
 * four partial sums, each Dense output's FMAs in order, the dx panels), so
 * it gives AVX2's bits: choosing it changes speed, never a result. Run
 * where the CPU has AVX-512F (and the build compiled it). AVX2 packs W (and x
 * and dout for dW) for batches of 64 rows or more at O ≥ 128 and AVX-512
 * does not, so the wide shapes check that packing changes no bit either. */
static int avx512_dense_differs(nn_rng *rng, size_t B, size_t C, size_t O) {
    float *x = exact_floats(B * C), *W = exact_floats(C * O), *b = exact_floats(O);
    float *dout = exact_floats(B * O), *r[2][4];
    int k, bad = 0;
    fill(x, B * C, rng, 1), fill(W, C * O, rng, 1), fill(b, O, rng, 1);
    fill(dout, B * O, rng, 1);
    for (k = 0; k < 2; k++) {
        r[k][0] = exact_floats(B * O), r[k][1] = exact_floats(B * C);
        r[k][2] = exact_floats(C * O), r[k][3] = exact_floats(O);
        memset(r[k][1], 0, B * C * sizeof(float)), memset(r[k][2], 0, C * O * sizeof(float));
        memset(r[k][3], 0, O * sizeof(float));
        CHECK_INT(nn_simd_select(k ? "avx512" : "avx2"), 0);
        nn_dense_forward(r[k][0], x, W, b, B, C, O);
        nn_dense_backward(r[k][1], r[k][2], r[k][3], dout, x, W, B, C, O);
        nn_dense_backward(r[k][1], r[k][2], r[k][3], dout, x, W, B, C, O);
    }
    bad |= memcmp(r[0][0], r[1][0], B * O * sizeof(float)) != 0;
    bad |= memcmp(r[0][1], r[1][1], B * C * sizeof(float)) != 0;
    bad |= memcmp(r[0][2], r[1][2], C * O * sizeof(float)) != 0;
    bad |= memcmp(r[0][3], r[1][3], O * sizeof(float)) != 0;
    if (bad) printf("     avx512 differs from avx2 at B %zu C %zu O %zu\n", B, C, O);
    CHECK(!bad);
    for (k = 0; k < 2; k++) free(r[k][0]), free(r[k][1]), free(r[k][2]), free(r[k][3]);
    free(x), free(W), free(b), free(dout);
    return bad;
}

static void avx512_vec_same(nn_rng *rng, size_t n) {
    float *a = exact_floats(n), *y = exact_floats(n), *y2 = exact_floats(n), d[2];
    int k;
    fill(a, n, rng, 1), fill(y, n, rng, 1);
    memcpy(y2, y, n * sizeof *y);
    for (k = 0; k < 2; k++) {
        CHECK_INT(nn_simd_select(k ? "avx512" : "avx2"), 0);
        d[k] = vec_dot(a, k ? y2 : y, n);
        vec_axpy(k ? y2 : y, 0.37f, a, n);
        vec_scale(k ? y2 : y, 1.3f, n);
    }
    CHECK(memcmp(&d[0], &d[1], sizeof d[0]) == 0);
    CHECK(memcmp(y, y2, n * sizeof *y) == 0);
    free(a), free(y), free(y2);
}

static void test_avx512_matches_avx2(void) {
    static const size_t big[][3] = {{33, 150, 64}, {256, 150, 64}, {70, 64, 10}, {32, 512, 512},
                                    {130, 40, 50}, {9, 20, 260}, {65, 33, 129}, {67, 50, 1},
                                    {5, 300, 3}, {3, 1, 40}, {4, 0, 5}, {0, 6, 5},
                                    {64, 3, 128}, {80, 30, 200}, {70, 17, 1030},
                                    {80, 130, 200}, {129, 128, 140}};
    char was[16];
    nn_rng rng;
    size_t B, C, O, i;
    int bad = 0;
#if defined(__x86_64__) && !defined(EMBREC_NO_SIMD) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx2") ||
        !__builtin_cpu_supports("fma")) {
        printf("     no AVX-512F here: nothing to compare\n");
        return;
    }
#else
    printf("     no AVX-512 path in this build: nothing to compare\n");
    return;
#endif
    snprintf(was, sizeof was, "%s", vec_path());
    nn_rng_seed(&rng, 512);
    for (i = 0; i <= 100; i++) avx512_vec_same(&rng, i);
    for (B = 1; B <= 12 && !bad; B++)
        for (C = 1; C <= 12; C++)
            for (O = 1; O <= 40; O++) bad += avx512_dense_differs(&rng, B, C, O);
    for (i = 0; i < sizeof big / sizeof big[0]; i++)
        bad += avx512_dense_differs(&rng, big[i][0], big[i][1], big[i][2]);
    CHECK_INT(nn_simd_select(was), 0);
}

/* small integers: every path is exact, and this is the maths by hand */
static void test_dense_known(void) {
    const float x[2 * 3] = {1, 2, 3, -1, 0, 2};
    const float W[3 * 2] = {1, -1, 0, 2, 3, 1};
    const float b[2] = {0.5f, -1.0f}, dout[2 * 2] = {1, 2, -1, 1};
    const float out_want[4] = {10.5f, 5.0f, 5.5f, 2.0f};
    const float dx_want[6] = {-1, 4, 5, -2, 2, -2}, dW_want[6] = {2, 1, 2, 4, 1, 8};
    const float db_want[2] = {0, 3};
    int path;
    for (path = 0; path < 2; path++) {
        float out[4], dx[6] = {0}, dW[6] = {0}, db[2] = {0};
        (path ? nn_dense_forward : nn_dense_forward_scalar)(out, x, W, b, 2, 3, 2);
        (path ? nn_dense_backward : nn_dense_backward_scalar)(dx, dW, db, dout, x, W, 2, 3, 2);
        CHECK(memcmp(out, out_want, sizeof out) == 0);
        CHECK(memcmp(dx, dx_want, sizeof dx) == 0);
        CHECK(memcmp(dW, dW_want, sizeof dW) == 0);
        CHECK(memcmp(db, db_want, sizeof db) == 0);
    }
}

/* L = Σ k·out for out = nn_dense_forward(x, W, b); *err bounds |L − L_exact|
 * from out's float32 rounding (L itself is summed in double) */
static double dense_loss(const float *x, const float *W, const float *b, const float *k,
                         size_t B, size_t C, size_t O, double *err) {
    float *out = exact_floats(B * O);
    double L = 0.0, e = 0.0;
    size_t i, c, o;
    nn_dense_forward(out, x, W, b, B, C, O);
    for (i = 0; i < B; i++)
        for (o = 0; o < O; o++) {
            double mag = fabs(b[o]);
            for (c = 0; c < C; c++) mag += fabs((double)x[i * C + c] * W[c * O + o]);
            L += (double)k[i * O + o] * out[i * O + o];
            e += fabs(k[i * O + o]) * gamma_n(dense_terms(C)) * mag;
        }
    free(out);
    *err = e + 1e-13; /* the double sum */
    return L;
}

/* d L/d p against (L(p+h) − L(p−h)) / (2h). L is affine in every single
 * parameter, so the difference quotient of the exact L is the exact
 * derivative, whatever h: the only errors are the float32 ones, bounded by
 * dense_loss's err for the quotient and by γ·Σ|terms| for the backward
 * pass. h = 0.25 keeps the quotient's share small. */
static int dense_fd_param(float *p, double analytic, double analytic_mag, size_t K,
                          const float *x, const float *W, const float *b, const float *k,
                          size_t B, size_t C, size_t O, const char *what, size_t idx) {
    const float p0 = *p;
    float pp, pm;
    double Lp, Lm, ep, em, fd, tol;
    *p = p0 + 0.25f, pp = *p;
    Lp = dense_loss(x, W, b, k, B, C, O, &ep);
    *p = p0 - 0.25f, pm = *p;
    Lm = dense_loss(x, W, b, k, B, C, O, &em);
    *p = p0;
    fd = (Lp - Lm) / ((double)pp - pm);
    tol = (ep + em) / ((double)pp - pm) + gamma_n(dense_terms(K)) * analytic_mag;
    if (fabs(analytic - fd) <= tol) return 0;
    test_fail(__FILE__, __LINE__, "d%s[%zu] = %.9g, finite difference %.9g, tol %.3g "
              "(B=%zu C=%zu O=%zu)", what, idx, analytic, fd, tol, B, C, O);
    return 1;
}

static void test_dense_gradcheck(void) {
    static const size_t shapes[][3] = {{3, 7, 5}, {3, 7, 1}, {5, 19, 17}, {2, 3, 10}};
    nn_rng rng;
    size_t si;
    nn_rng_seed(&rng, 37);
    for (si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const size_t B = shapes[si][0], C = shapes[si][1], O = shapes[si][2];
        float *x = exact_floats(B * C), *W = exact_floats(C * O), *b = exact_floats(O);
        float *k = exact_floats(B * O), *dx = exact_floats(B * C), *dW = exact_floats(C * O);
        float *db = exact_floats(O), *z;
        dense_exact e;
        size_t i, nonzero = 0;
        int bad = 0;
        fill(x, B * C, &rng, 0);
        fill(W, C * O, &rng, 0);
        fill(b, O, &rng, 0);
        fill(k, B * O, &rng, 0);
        memset(dx, 0, B * C * sizeof *dx);
        memset(dW, 0, C * O * sizeof *dW);
        memset(db, 0, O * sizeof *db);
        nn_dense_backward(dx, dW, db, k, x, W, B, C, O); /* dout = ∂L/∂out = k */
        z = exact_floats(B * C > C * O ? B * C : C * O);
        memset(z, 0, (B * C > C * O ? B * C : C * O) * sizeof *z);
        e = dense_exact_new(x, W, b, k, z, z, z, 1, B, C, O); /* for the magnitudes */
        for (i = 0; i < B * C && bad < 3; i++) {
            bad += dense_fd_param(&x[i], dx[i], e.dx_mag[i], O, x, W, b, k, B, C, O, "x", i);
            nonzero += dx[i] != 0.0f;
        }
        for (i = 0; i < C * O && bad < 3; i++) {
            bad += dense_fd_param(&W[i], dW[i], e.dW_mag[i], B, x, W, b, k, B, C, O, "W", i);
            nonzero += dW[i] != 0.0f;
        }
        for (i = 0; i < O && bad < 3; i++) {
            bad += dense_fd_param(&b[i], db[i], e.db_mag[i], B, x, W, b, k, B, C, O, "b", i);
            nonzero += db[i] != 0.0f;
        }
        /* random non-zero inputs: not one gradient entry should be 0 */
        CHECK_INT(nonzero, B * C + C * O + O);
        dense_exact_free(&e);
        free(x), free(W), free(b), free(k), free(dx), free(dW), free(db), free(z);
    }
}

/* ---------------------------------------------------------- activations */

static void test_activation_names(void) {
    static const nn_activation all[] = {NN_LINEAR, NN_RELU, NN_SIGMOID, NN_TANH};
    nn_activation a = NN_TANH;
    size_t i;
    for (i = 0; i < 4; i++) {
        CHECK_INT(nn_activation_parse(nn_activation_name(all[i]), &a), 0);
        CHECK_INT(a, all[i]);
    }
    CHECK(strcmp(nn_activation_name(NN_SIGMOID), "sigmoid") == 0);
    CHECK_INT(nn_activation_parse("Sigmoid", &a), -1);
    CHECK_INT(nn_activation_parse("softmax", &a), -1);
    CHECK_INT(nn_activation_parse("", &a), -1);
    CHECK_INT(nn_activation_parse(NULL, &a), -1);
    CHECK_INT(a, NN_TANH); /* untouched on failure */
}

static void test_activation_values(void) {
    const float x[7] = {-1000.0f, -100.0f, -1.0f, 0.0f, 2.0f, 100.0f, 1000.0f};
    float y[7], d[7], ones[7] = {1, 1, 1, 1, 1, 1, 1};
    size_t i;
    nn_activation_forward(y, x, 7, NN_SIGMOID);
    for (i = 0; i < 7; i++) CHECK(isfinite(y[i]) && y[i] >= 0.0f && y[i] <= 1.0f);
    CHECK(y[0] == 0.0f);                      /* e^−1000 underflows to 0, not NaN */
    CHECK(y[1] > 0.0f && y[1] < 1e-43f);      /* e^−100 ≈ 3.7e-44: a subnormal */
    CHECK_NEAR(y[2], 1.0 / (1.0 + exp(1.0)), 4 * U24, 0.0);
    CHECK(y[3] == 0.5f);
    CHECK_NEAR(y[4], 1.0 / (1.0 + exp(-2.0)), 4 * U24, 0.0);
    CHECK(y[5] == 1.0f && y[6] == 1.0f);
    memset(d, 0, sizeof d);
    nn_activation_backward(d, ones, y, 7, NN_SIGMOID);
    for (i = 0; i < 7; i++) CHECK(isfinite(d[i]));
    CHECK(d[3] == 0.25f && d[6] == 0.0f);
    nn_activation_forward(y, x, 7, NN_TANH);
    CHECK(y[0] == -1.0f && y[3] == 0.0f && y[6] == 1.0f);
    CHECK_NEAR(y[2], tanh(-1.0), 4 * U24, 0.0);
    nn_activation_forward(y, x, 7, NN_RELU);
    CHECK(y[0] == 0.0f && y[2] == 0.0f && y[3] == 0.0f && y[4] == 2.0f && y[6] == 1000.0f);
    memset(d, 0, sizeof d);
    nn_activation_backward(d, ones, y, 7, NN_RELU);
    CHECK(d[2] == 0.0f);
    CHECK(d[3] == 0.0f); /* output exactly 0: the subgradient 0, as TensorFlow */
    CHECK(d[4] == 1.0f);
    {   /* a NaN is not hidden by relu: a diverged model must show it */
        volatile float zero = 0.0f;
        float nan = zero / zero, r;
        nn_activation_forward(&r, &nan, 1, NN_RELU);
        CHECK(isnan(r));
        nn_activation_forward(&r, &nan, 1, NN_SIGMOID);
        CHECK(isnan(r));
    }
    {   /* in place, and linear is the identity both ways */
        float v[7], dv[7];
        for (i = 0; i < 4; i++) {
            nn_activation a = (nn_activation)i;
            memcpy(v, x, sizeof v);
            nn_activation_forward(v, v, 7, a);
            nn_activation_forward(y, x, 7, a);
            CHECK(memcmp(v, y, sizeof v) == 0);
        }
        nn_activation_forward(y, x, 7, NN_LINEAR);
        CHECK(memcmp(y, x, sizeof y) == 0);
        for (i = 0; i < 7; i++) dv[i] = 0.5f;
        nn_activation_backward(dv, x, y, 7, NN_LINEAR);
        for (i = 0; i < 7; i++) CHECK(dv[i] == 0.5f + x[i]); /* accumulates */
    }
}

/* Per activation: M3 bounds |f'''| (for the central difference's truncation
 * error h²/6·|f'''|), ef bounds the relative error of the float32 f (expf
 * within 1 ulp = 2u and the sigmoid's add and divide: 6u; glibc's tanhf
 * within 2 ulps = 4u; 8u for both), and Lp bounds |d f'(y) / dy| (the
 * backward pass sees the rounded y). */
static void act_gradcheck(nn_activation a, double M3, double ef, double Lp) {
    enum { N = 24 };
    const float h = 0.01f;
    float x[N], k[N], y[N], dx[N], yp, ym;
    nn_rng rng;
    size_t i, nonzero = 0;
    nn_rng_seed(&rng, 41 + (uint64_t)a);
    for (i = 0; i < N; i++) x[i] = -4.0f + ((float)i + 0.5f) / 3.0f; /* |x| ≥ 1/6 > h: no kink */
    fill(k, N, &rng, 0);
    nn_activation_forward(y, x, N, a);
    memset(dx, 0, sizeof dx);
    nn_activation_backward(dx, k, y, N, a); /* dout = ∂L/∂y = k for L = Σ k·y */
    for (i = 0; i < N; i++) {
        const float x0 = x[i];
        float xp, xm, out[N];
        double Lplus = 0.0, Lminus = 0.0, fd, tol, fprime;
        size_t j;
        x[i] = x0 + h, xp = x[i];
        nn_activation_forward(out, x, N, a);
        yp = out[i];
        for (j = 0; j < N; j++) Lplus += (double)k[j] * out[j];
        x[i] = x0 - h, xm = x[i];
        nn_activation_forward(out, x, N, a);
        ym = out[i];
        for (j = 0; j < N; j++) Lminus += (double)k[j] * out[j];
        x[i] = x0;
        fd = (Lplus - Lminus) / ((double)xp - xm);
        fprime = dx[i] / k[i];
        tol = fabs(k[i]) * (M3 * h * h / 6.0 + ef * (fabs(yp) + fabs(ym)) / ((double)xp - xm) +
                            Lp * ef * fabs(y[i]) + 3 * U24 * fabs(fprime)) + 1e-12;
        if (!(fabs(dx[i] - fd) <= tol))
            test_fail(__FILE__, __LINE__, "%s: dx(%g) = %.9g, finite difference %.9g, tol %.3g",
                      nn_activation_name(a), x0, dx[i], fd, tol);
        nonzero += dx[i] != 0.0f;
    }
    /* relu is 0 on the negative half; everything else has gradient everywhere */
    CHECK_INT(nonzero, a == NN_RELU ? N / 2 : N);
}

static void test_activation_gradcheck(void) {
    act_gradcheck(NN_LINEAR, 0.0, 0.0, 0.0);
    act_gradcheck(NN_RELU, 0.0, 0.0, 0.0);
    act_gradcheck(NN_SIGMOID, 1.0 / 8.0, 8 * U24, 1.0); /* |σ'''| ≤ 1/8, d(y(1−y))/dy = 1−2y */
    act_gradcheck(NN_TANH, 2.0, 8 * U24, 2.0);          /* |tanh'''| ≤ 2, d(1−y²)/dy = −2y */
}

/* -------------------------------------------------------------- dropout */

static void test_dropout_statistics(void) {
    enum { N = 100000 };
    static float x[N], out[N], mask[N], mask2[N];
    const float rate = 0.3f, scale = 1.0f / (1.0f - rate);
    nn_rng rng, rng2;
    size_t i, kept = 0, odd = 0;
    double sd = sqrt(N * (1.0 - rate) * rate); /* binomial: ≈ 145 */
    nn_rng_seed(&rng, 43);
    fill(x, N, &rng, 0);
    nn_rng_seed(&rng, 7);
    nn_dropout_forward(out, mask, x, N, rate, &rng);
    for (i = 0; i < N; i++) {
        if (mask[i] == scale) {
            kept++;
            odd += out[i] != x[i] * scale; /* kept: scaled by exactly 1/(1−rate) */
        } else {
            odd += mask[i] != 0.0f || out[i] != 0.0f;
        }
    }
    CHECK_INT(odd, 0);
    /* 6σ: a false alarm once in 5·10^8 runs */
    CHECK_NEAR((double)kept, N * (1.0 - rate), 0.0, 6.0 * sd);
    /* reproducible from the seed, and a different seed gives another mask */
    nn_rng_seed(&rng2, 7);
    nn_dropout_forward(out, mask2, x, N, rate, &rng2);
    CHECK(memcmp(mask, mask2, sizeof mask) == 0);
    CHECK(memcmp(rng.s, rng2.s, sizeof rng.s) == 0);
    nn_rng_seed(&rng2, 8);
    nn_dropout_forward(out, mask2, x, N, rate, &rng2);
    CHECK(memcmp(mask, mask2, sizeof mask) != 0);
    /* rate 0.5 scales by exactly 2 */
    nn_dropout_forward(out, mask, x, 1000, 0.5f, &rng);
    for (i = 0, odd = 0; i < 1000; i++) odd += mask[i] != 0.0f && mask[i] != 2.0f;
    CHECK_INT(odd, 0);
}

/* The mask compares raw 64-bit draws with an integer threshold; it must be
 * the mask of the definition, u = nn_rng_uniform ≥ rate, to the bit, and use
 * the same draws (so training with dropout gives the numbers it gave). */
static void test_dropout_integer_threshold(void) {
    static const float rates[] = {1e-30f, 0x1p-53f, 0x1.8p-53f, 0x1p-30f, 0.1f, 0.25f,
                                  0.3f, 0.5f, 0.7f, 0.9f, 1.0f - 0x1p-24f};
    enum { N = 20000 };
    static float x[N], out[N], mask[N];
    nn_rng rng, twin;
    size_t r, i, odd = 0;
    nn_rng_seed(&rng, 53);
    fill(x, N, &rng, 0);
    for (r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        const float scale = 1.0f / (1.0f - rates[r]);
        twin = rng;
        nn_dropout_forward(out, mask, x, N, rates[r], &rng);
        for (i = 0; i < N; i++) {
            const float want = nn_rng_uniform(&twin) >= (double)rates[r] ? scale : 0.0f;
            odd += memcmp(&mask[i], &want, sizeof want) != 0;
        }
        CHECK(memcmp(rng.s, twin.s, sizeof rng.s) == 0); /* one draw per unit */
    }
    CHECK_INT(odd, 0);
}

static void test_dropout_rate0_inplace(void) {
    float x[37], v[37], mask[37], out[37], dx[37];
    nn_rng rng, before;
    size_t i;
    nn_rng_seed(&rng, 47);
    fill(x, 37, &rng, 1);
    before = rng;
    nn_dropout_forward(out, mask, x, 37, 0.0f, &rng);
    CHECK(memcmp(out, x, sizeof x) == 0); /* the identity, to the bit */
    for (i = 0; i < 37; i++) CHECK(mask[i] == 1.0f);
    CHECK(memcmp(rng.s, before.s, sizeof rng.s) == 0); /* no draws: as if absent */
    /* in place gives what out-of-place gives */
    memcpy(v, x, sizeof x);
    before = rng;
    nn_dropout_forward(out, mask, x, 37, 0.25f, &rng);
    rng = before;
    nn_dropout_forward(v, mask, v, 37, 0.25f, &rng);
    CHECK(memcmp(v, out, sizeof v) == 0);
    /* backward: dx += dout ⊙ mask */
    for (i = 0; i < 37; i++) dx[i] = 1.0f;
    nn_dropout_backward(dx, x, mask, 37);
    for (i = 0; i < 37; i++) CHECK(dx[i] == 1.0f + x[i] * mask[i]);
}

/* the elementwise layers are linear in each input: the central difference
 * is exact but for out's one rounding (u·|out|) in each of L(±h) */
static double elementwise_tol(double k, double outp, double outm, double step, double grad) {
    return fabs(k) * U24 * (fabs(outp) + fabs(outm)) / step + U24 * fabs(grad) + 1e-12;
}

static void test_dropout_gradcheck(void) {
    enum { N = 37 };
    float x[N], k[N], out[N], mask[N], dx[N];
    nn_rng rng;
    size_t i, j, nonzero = 0, kept = 0;
    nn_rng_seed(&rng, 53);
    fill(x, N, &rng, 0);
    fill(k, N, &rng, 0);
    nn_rng_seed(&rng, 59);
    nn_dropout_forward(out, mask, x, N, 0.4f, &rng);
    memset(dx, 0, sizeof dx);
    nn_dropout_backward(dx, k, mask, N);
    for (i = 0; i < N; i++) {
        const float x0 = x[i];
        float xp, xm, op, om;
        double Lp = 0.0, Lm = 0.0, fd;
        x[i] = x0 + 0.25f, xp = x[i];
        nn_rng_seed(&rng, 59); /* the same mask */
        nn_dropout_forward(out, mask, x, N, 0.4f, &rng);
        op = out[i];
        for (j = 0; j < N; j++) Lp += (double)k[j] * out[j];
        x[i] = x0 - 0.25f, xm = x[i];
        nn_rng_seed(&rng, 59);
        nn_dropout_forward(out, mask, x, N, 0.4f, &rng);
        om = out[i];
        for (j = 0; j < N; j++) Lm += (double)k[j] * out[j];
        x[i] = x0;
        fd = (Lp - Lm) / ((double)xp - xm);
        CHECK_NEAR(dx[i], fd, 0.0, elementwise_tol(k[i], op, om, (double)xp - xm, dx[i]));
        nonzero += dx[i] != 0.0f;
        kept += mask[i] != 0.0f;
        if (mask[i] == 0.0f) CHECK(dx[i] == 0.0f);
    }
    CHECK_INT(nonzero, kept);
    CHECK(kept > 5 && kept < N - 5); /* both kinds present */
}

/* ----------------------------------------------------- multiply, concat */

static void test_mul(void) {
    enum { N = 23 };
    float a[N], c[N], k[N], out[N], v[N], da[N], dc[N];
    nn_rng rng;
    size_t i, j, nonzero = 0;
    nn_rng_seed(&rng, 61);
    fill(a, N, &rng, 0);
    fill(c, N, &rng, 0);
    fill(k, N, &rng, 0);
    nn_mul_forward(out, a, c, N);
    for (i = 0; i < N; i++) CHECK(out[i] == a[i] * c[i]);
    memcpy(v, a, sizeof v);
    nn_mul_forward(v, v, c, N); /* in place */
    CHECK(memcmp(v, out, sizeof v) == 0);
    memset(da, 0, sizeof da);
    memset(dc, 0, sizeof dc);
    nn_mul_backward(da, dc, k, a, c, N);
    for (i = 0; i < 2 * N; i++) { /* a's entries, then c's */
        float *p = i < N ? &a[i] : &c[i - N], p0 = *p, pp, pm;
        const float g = i < N ? da[i] : dc[i - N];
        const size_t e = i % N;
        double Lp = 0.0, Lm = 0.0, op, om;
        *p = p0 + 0.25f, pp = *p;
        nn_mul_forward(out, a, c, N);
        op = out[e];
        for (j = 0; j < N; j++) Lp += (double)k[j] * out[j];
        *p = p0 - 0.25f, pm = *p;
        nn_mul_forward(out, a, c, N);
        om = out[e];
        for (j = 0; j < N; j++) Lm += (double)k[j] * out[j];
        *p = p0;
        CHECK_NEAR(g, (Lp - Lm) / ((double)pp - pm), 0.0,
                   elementwise_tol(k[e], op, om, (double)pp - pm, g));
        nonzero += g != 0.0f;
    }
    CHECK_INT(nonzero, 2 * N);
    nn_mul_backward(da, dc, k, a, c, N); /* accumulates: now twice */
    for (i = 0; i < N; i++) CHECK_NEAR(da[i], 2.0 * k[i] * c[i], 2 * U24, 0.0);
}

/* two inputs side by side in rows of 13 with gaps: x1 (3, 4) at offset 1
 * (its rows 5 apart), x2 (3, 6) at offset 6; columns 0, 5 and 12 are not
 * written */
static void test_concat(void) {
    enum { B = 3, C1 = 4, L1 = 5, C2 = 6, L2 = 6, LO = 13 };
    float x1[B * L1], x2[B * L2], out[B * LO], k[B * LO], dx1[B * L1], dx2[B * L2];
    nn_rng rng;
    size_t i, c, j;
    int in;
    nn_rng_seed(&rng, 67);
    fill(x1, B * L1, &rng, 0);
    fill(x2, B * L2, &rng, 0);
    fill(k, B * LO, &rng, 0);
    for (i = 0; i < B * LO; i++) out[i] = 99.0f;
    nn_concat_forward(out, LO, 1, x1, L1, B, C1);
    nn_concat_forward(out, LO, 6, x2, L2, B, C2);
    for (i = 0; i < B; i++) {
        CHECK(out[i * LO] == 99.0f && out[i * LO + 5] == 99.0f && out[i * LO + 12] == 99.0f);
        for (c = 0; c < C1; c++) CHECK(out[i * LO + 1 + c] == x1[i * L1 + c]);
        for (c = 0; c < C2; c++) CHECK(out[i * LO + 6 + c] == x2[i * L2 + c]);
    }
    for (i = 0; i < B * L1; i++) dx1[i] = 0.0f;
    for (i = 0; i < B * L2; i++) dx2[i] = 0.0f;
    nn_concat_backward(dx1, L1, k, LO, 1, B, C1);
    nn_concat_backward(dx2, L2, k, LO, 6, B, C2);
    /* finite differences of L = Σ k·out: a copy, so exact */
    for (in = 0; in < 2; in++) {
        float *x = in ? x2 : x1, *dx = in ? dx2 : dx1;
        const size_t L = in ? L2 : L1, C = in ? C2 : C1;
        for (i = 0; i < B; i++)
            for (c = 0; c < L; c++) {
                float *p = &x[i * L + c], p0 = *p, pp, pm;
                double Lp = 0.0, Lm = 0.0;
                *p = p0 + 0.25f, pp = *p;
                nn_concat_forward(out, LO, 1, x1, L1, B, C1);
                nn_concat_forward(out, LO, 6, x2, L2, B, C2);
                for (j = 0; j < B * LO; j++) Lp += (double)k[j] * out[j];
                *p = p0 - 0.25f, pm = *p;
                nn_concat_forward(out, LO, 1, x1, L1, B, C1);
                nn_concat_forward(out, LO, 6, x2, L2, B, C2);
                for (j = 0; j < B * LO; j++) Lm += (double)k[j] * out[j];
                *p = p0;
                CHECK_NEAR(dx[i * L + c], (Lp - Lm) / ((double)pp - pm), 0.0, 1e-12);
                if (c < C) CHECK(dx[i * L + c] != 0.0f);
                else CHECK(dx[i * L + c] == 0.0f); /* x1's padding column: not an input */
            }
    }
    nn_concat_backward(dx1, L1, k, LO, 1, B, C1); /* accumulates */
    for (i = 0; i < B; i++)
        for (c = 0; c < C1; c++) CHECK(dx1[i * L1 + c] == 2.0f * k[i * LO + 1 + c]);
}

/* ------------------------------------------------------------------ BCE */

static void test_bce_values(void) {
    const float zs[4] = {100.0f, 100.0f, -100.0f, -100.0f}, ys[4] = {1.0f, 0.0f, 1.0f, 0.0f};
    const double want[4] = {0.0, 100.0, 100.0, 0.0};
    float dz[4];
    size_t i;
    int zi, yi;
    for (i = 0; i < 4; i++) { /* one at a time: L = softplus(−|z|) ≈ 0 or |z| */
        double L = nn_bce_logits_forward(&zs[i], &ys[i], 1);
        CHECK(isfinite(L));
        CHECK_NEAR(L, want[i], 1e-15, 1e-40); /* e^−100 ≈ 3.7e-44 */
    }
    CHECK_NEAR(nn_bce_logits_forward(zs, ys, 4), 50.0, 1e-15, 0.0);
    {   /* log1p keeps log(1 + e^−40) ≈ 4.2e-18, which log(1 + ·) would round to 0 */
        const float z40 = 40.0f, one = 1.0f;
        CHECK_NEAR(nn_bce_logits_forward(&z40, &one, 1), exp(-40.0), 1e-12, 0.0);
    }
    nn_bce_logits_backward(dz, zs, ys, 4);
    for (i = 0; i < 4; i++) CHECK(isfinite(dz[i]));
    CHECK(dz[0] == 0.0f && dz[1] == 0.25f && dz[2] == -0.25f && fabsf(dz[3]) < 1e-40f);
    {
        const float big[2] = {1e30f, -1e30f}, y01[2] = {0.0f, 1.0f};
        CHECK_NEAR(nn_bce_logits_forward(big, y01, 2), 1e30, 1e-7, 0.0);
    }
    CHECK(nn_bce_logits_forward(zs, ys, 0) == 0.0);
    /* in the moderate range it is the textbook −[y log p + (1−y) log(1−p)]
     * (in double; that form loses about 1e-16/(1−p) relative, < 1e-12 here) */
    for (zi = -16; zi <= 16; zi++)
        for (yi = 0; yi <= 4; yi++) {
            const float z = (float)zi / 2.0f, y = (float)yi / 4.0f;
            const double p = 1.0 / (1.0 + exp(-(double)z));
            const double naive = -(y * log(p) + (1.0 - y) * log(1.0 - p));
            float d;
            CHECK_NEAR(nn_bce_logits_forward(&z, &y, 1), naive, 1e-10, 1e-15);
            nn_bce_logits_backward(&d, &z, &y, 1);
            CHECK_NEAR(d, p - y, 0.0, 8 * U24); /* σ within 6u, one more rounding */
        }
}

/* L(z) is summed in double, so the difference quotient's errors are its
 * truncation, h²/6·max|L'''| ≤ h²/6·(1/(6√3))/B (|σ''| ≤ 1/(6√3)), and
 * double rounding; the float32 gradient (σ(z) − y)/B errs by ≤ 8u/B. */
static void test_bce_gradcheck(void) {
    enum { B = 7 };
    const float y[B] = {0.0f, 1.0f, 0.3f, 1.0f, 0.0f, 0.75f, 1.0f};
    float z[B], dz[B];
    nn_rng rng;
    size_t i, nonzero = 0;
    nn_rng_seed(&rng, 71);
    fill(z, B, &rng, 0);
    for (i = 0; i < B; i++) z[i] *= 6.0f;
    nn_bce_logits_backward(dz, z, y, B);
    for (i = 0; i < B; i++) {
        const float z0 = z[i], h = 1e-3f;
        float zp, zm;
        double Lp, Lm, tol;
        z[i] = z0 + h, zp = z[i];
        Lp = nn_bce_logits_forward(z, y, B);
        z[i] = z0 - h, zm = z[i];
        Lm = nn_bce_logits_forward(z, y, B);
        z[i] = z0;
        tol = (double)h * h / 6.0 * 0.0963 / B + 8 * U24 / B + 1e-12;
        CHECK_NEAR(dz[i], (Lp - Lm) / ((double)zp - zm), 0.0, tol);
        nonzero += dz[i] != 0.0f;
    }
    CHECK_INT(nonzero, B);
}

/* ------------------------------------------- layers against the fixture */

#define LX_PATH "tests/ref/layers.txt"
#define LX_MAX 4096 /* floats in any one array */

static int lx_size(fixture_file *rd, size_t *x) {
    char buf[64], *end;
    const char *t = fixture_token(rd, buf, sizeof buf);
    unsigned long v = t ? strtoul(t, &end, 10) : 0;
    if (t && end != t && !*end && v >= 1 && v <= 64) {
        *x = v;
        return 0;
    }
    test_fail(__FILE__, __LINE__, LX_PATH ": bad size \"%s\"", t ? t : "end of file");
    return -1;
}

/* "NAME v1 v2 … vn" into d (and into f as floats when f is not NULL) */
static int lx_array(fixture_file *rd, const char *name, size_t n, float *f, double *d) {
    char buf[64], *end;
    size_t i;
    if (fixture_word(rd, name)) return -1;
    for (i = 0; i < n; i++) {
        const char *t = fixture_token(rd, buf, sizeof buf);
        if (!t) break;
        d[i] = strtod(t, &end);
        if (end == t || *end) break;
        if (f) f[i] = (float)d[i]; /* the inputs are float32 values: exact */
    }
    if (i == n) return 0;
    test_fail(__FILE__, __LINE__, LX_PATH ": %s: bad or missing number %zu of %zu", name,
              i + 1, n);
    return -1;
}

/* |got − want| ≤ tol_i for each i; the first few misses are reported */
static void lx_compare(const char *what, const float *got, const double *want,
                       const double *tol, size_t n) {
    size_t i;
    int bad = 0;
    for (i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol[i]) && bad++ < 3)
            test_fail(__FILE__, __LINE__, LX_PATH " %s[%zu] = %.9g, expected %.12g (tol %.3g)",
                      what, i, got[i], want[i], tol[i]);
}

/* Dense against the fixture, on both paths: each entry within γ·Σ|terms|
 * (above) of the float64 result. */
static int lx_dense(fixture_file *rd, size_t *count) {
    static float f[4][LX_MAX], got[4][LX_MAX];
    static double in[4][LX_MAX], want[4][LX_MAX], tol[LX_MAX];
    size_t B, C, O, i, n[4];
    const char *names_in[4] = {"x", "W", "b", "dout"}, *names_out[4] = {"out", "dx", "dW", "db"};
    int path, a;
    if (lx_size(rd, &B) || lx_size(rd, &C) || lx_size(rd, &O)) return -1;
    n[0] = B * C, n[1] = C * O, n[2] = O, n[3] = B * O;
    for (a = 0; a < 4; a++)
        if (lx_array(rd, names_in[a], n[a], f[a], in[a])) return -1;
    n[0] = B * O, n[1] = B * C, n[2] = C * O, n[3] = O;
    for (a = 0; a < 4; a++)
        if (lx_array(rd, names_out[a], n[a], NULL, want[a])) return -1;
    for (path = 0; path < 2; path++) {
        static float zero[LX_MAX];
        dense_exact e = dense_exact_new(f[0], f[1], f[2], f[3], zero, zero, zero, 1, B, C, O);
        const double *mag[4];
        const size_t K[4] = {C, O, B, B};
        memset(got[1], 0, sizeof got[1]);
        memset(got[2], 0, sizeof got[2]);
        memset(got[3], 0, sizeof got[3]);
        (path ? nn_dense_forward : nn_dense_forward_scalar)(got[0], f[0], f[1], f[2], B, C, O);
        (path ? nn_dense_backward : nn_dense_backward_scalar)(got[1], got[2], got[3], f[3],
                                                              f[0], f[1], B, C, O);
        mag[0] = e.out_mag, mag[1] = e.dx_mag, mag[2] = e.dW_mag, mag[3] = e.db_mag;
        for (a = 0; a < 4; a++) {
            char what[64];
            for (i = 0; i < n[a]; i++) tol[i] = gamma_n(dense_terms(K[a])) * mag[a][i] + 1e-15;
            snprintf(what, sizeof what, "%s dense %zux%zux%zu %s", path ? "simd" : "scalar",
                     B, C, O, names_out[a]);
            lx_compare(what, got[a], want[a], tol, n[a]);
        }
        dense_exact_free(&e);
    }
    ++*count;
    return 0;
}

/* An activation against the fixture. Forward: the float32 f within
 * ef·|y| (act_gradcheck's ef; relu and linear exact). Backward, from the
 * C forward's y: |Δf'| ≤ Lp·ef·|y| ≤ Lp·ef, plus 3u for the products, all
 * times |dout|. */
static int lx_activation(fixture_file *rd, int *seen) {
    static float x[LX_MAX], dout[LX_MAX], y[LX_MAX], dx[LX_MAX];
    static double xd[LX_MAX], doutd[LX_MAX], yw[LX_MAX], dxw[LX_MAX], tol[LX_MAX];
    char buf[64], what[64];
    nn_activation a;
    double ef, Lp;
    size_t n, i;
    if (nn_activation_parse(fixture_token(rd, buf, sizeof buf), &a)) {
        test_fail(__FILE__, __LINE__, LX_PATH ": unknown activation \"%s\"", buf);
        return -1;
    }
    if (lx_size(rd, &n) || lx_array(rd, "x", n, x, xd) || lx_array(rd, "dout", n, dout, doutd) ||
        lx_array(rd, "y", n, NULL, yw) || lx_array(rd, "dx", n, NULL, dxw))
        return -1;
    ef = a == NN_SIGMOID || a == NN_TANH ? 8 * U24 : 0.0;
    Lp = a == NN_TANH ? 2.0 : a == NN_SIGMOID ? 1.0 : 0.0;
    nn_activation_forward(y, x, n, a);
    for (i = 0; i < n; i++) tol[i] = ef * fabs(yw[i]);
    snprintf(what, sizeof what, "%s y", nn_activation_name(a));
    lx_compare(what, y, yw, tol, n);
    memset(dx, 0, n * sizeof *dx);
    nn_activation_backward(dx, dout, y, n, a);
    for (i = 0; i < n; i++) tol[i] = ef == 0.0 ? 0.0 : fabs(dout[i]) * (Lp * ef + 3 * U24);
    snprintf(what, sizeof what, "%s dx", nn_activation_name(a));
    lx_compare(what, dx, dxw, tol, n);
    seen[a]++;
    return 0;
}

/* BCE against the fixture: the loss is summed in double from the same
 * float32 inputs, so only double rounding separates it (rtol 1e-12); the
 * gradient is float32: σ within 6u, then a subtraction and a division,
 * ≤ 8u/B + u·|dz| */
static int lx_bce(fixture_file *rd, size_t *count) {
    static float z[LX_MAX], y[LX_MAX], dz[LX_MAX];
    static double zd[LX_MAX], yd[LX_MAX], dzw[LX_MAX], tol[LX_MAX];
    double loss;
    size_t B, i;
    if (lx_size(rd, &B) || lx_array(rd, "z", B, z, zd) || lx_array(rd, "y", B, y, yd) ||
        lx_array(rd, "loss", 1, NULL, &loss) || lx_array(rd, "dz", B, NULL, dzw))
        return -1;
    CHECK_NEAR(nn_bce_logits_forward(z, y, B), loss, 1e-12, 0.0);
    nn_bce_logits_backward(dz, z, y, B);
    for (i = 0; i < B; i++) tol[i] = 8 * U24 / B + U24 * fabs(dzw[i]);
    lx_compare("bce dz", dz, dzw, tol, B);
    ++*count;
    return 0;
}

static void test_layers_fixture(void) {
    fixture_file rd;
    char buf[64];
    const char *t;
    size_t dense = 0, bce = 0;
    int seen[4] = {0, 0, 0, 0}, i;
    if (fixture_open(&rd, LX_PATH) != 0) return;
    while ((t = fixture_token(&rd, buf, sizeof buf)) != NULL) {
        int rc;
        if (strcmp(t, "end") == 0) break;
        if (strcmp(t, "dense") == 0) rc = lx_dense(&rd, &dense);
        else if (strcmp(t, "activation") == 0) rc = lx_activation(&rd, seen);
        else if (strcmp(t, "bce") == 0) rc = lx_bce(&rd, &bce);
        else {
            test_fail(__FILE__, __LINE__, LX_PATH ": unknown record \"%s\"", t);
            rc = -1;
        }
        if (rc) break;
    }
    if (!t) test_fail(__FILE__, __LINE__, LX_PATH ": no \"end\" (truncated?)");
    CHECK(dense >= 3);
    CHECK(bce >= 1);
    for (i = 0; i < 4; i++)
        if (!seen[i])
            test_fail(__FILE__, __LINE__, LX_PATH " lacks activation %s",
                      nn_activation_name((nn_activation)i));
    fixture_close(&rd);
}

/* --------------------------------------------------------------- suite */

static void vec_dot_paths(void) { test_on_every_path(test_vec_dot); }
static void vec_axpy_scale_paths(void) { test_on_every_path(test_vec_axpy_scale); }
static void optim_loops_paths(void) { test_on_every_path(test_optim_loops_identical); }
static void dense_known_paths(void) { test_on_every_path(test_dense_known); }
static void dense_simd_vs_scalar_paths(void) { test_on_every_path(test_dense_simd_vs_scalar); }

void suite_nn(void) {
    test_run("nn/stride_alloc", test_stride_alloc);
    test_run("nn/vec_path", test_vec_path);
    test_run("nn/simd_select_dispatches", test_simd_select_dispatches);
    test_run("nn/avx512_matches_avx2", test_avx512_matches_avx2);
    test_run("nn/vec_dot_simd_vs_scalar", vec_dot_paths);
    test_run("nn/vec_axpy_scale_simd_vs_scalar", vec_axpy_scale_paths);
    test_run("nn/optim_loops_simd_bit_identical", optim_loops_paths);
    test_run("nn/flush_denormals", test_flush_denormals);
    test_run("nn/rng_known_values", test_rng_known);
    test_run("nn/rng_reproducible", test_rng_reproducible);
    test_run("nn/rng_uniform", test_rng_uniform);
    test_run("nn/rng_below_unbiased", test_rng_below);
    test_run("nn/rng_normal", test_rng_normal);
    test_run("nn/rng_shuffle", test_rng_shuffle);
    test_run("nn/init_uniform", test_init_uniform);
    test_run("nn/init_limits", test_init_limits);
    test_run("nn/embedding_forward", test_embedding_forward);
    test_run("nn/embedding_backward_sums_repeats", test_embedding_backward_sum);
    test_run("nn/embedding_gradcheck", test_embedding_gradcheck);
    test_run("nn/mse", test_mse);
    test_run("nn/mse_gradcheck", test_mse_gradcheck);
    test_run("nn/params_layout", test_params_layout);
    test_run("nn/params_touch_zero_grad", test_params_touch_zero_grad);
    test_run("nn/params_limits", test_params_limits);
    test_run("nn/optimizer_defaults", test_optimizer_defaults);
    test_run("nn/optimizer_names", test_optimizer_names);
    test_run("nn/rowwise_adagrad", test_rowwise_adagrad);
    test_run("nn/optimizer_lr_t", test_lr_t);
    test_run("nn/optimizer_first_step", test_optimizer_first_step);
    test_run("nn/optimizer_vs_keras_fixture", test_optimizer_fixture);
    test_run("nn/dense_known_values", dense_known_paths);
    test_run("nn/dense_simd_vs_scalar", dense_simd_vs_scalar_paths);
    test_run("nn/dense_gradcheck", test_dense_gradcheck);
    test_run("nn/activation_names", test_activation_names);
    test_run("nn/activation_values", test_activation_values);
    test_run("nn/activation_gradcheck", test_activation_gradcheck);
    test_run("nn/dropout_statistics", test_dropout_statistics);
    test_run("nn/dropout_integer_threshold_exact", test_dropout_integer_threshold);
    test_run("nn/dropout_rate0_inplace_backward", test_dropout_rate0_inplace);
    test_run("nn/dropout_gradcheck", test_dropout_gradcheck);
    test_run("nn/mul", test_mul);
    test_run("nn/concat", test_concat);
    test_run("nn/bce_values", test_bce_values);
    test_run("nn/bce_gradcheck", test_bce_gradcheck);
    test_run("nn/layers_vs_numpy_fixture", test_layers_fixture);
}
