/* nn.c — the numerical pieces embrec's models are built from.
 *
 * Dense kernels (dot, axpy, scale and the three optimiser loops), each with a
 * readable scalar reference and, where the compiler can build it, an
 * AVX2/FMA or NEON version; the random-number generator; Keras's
 * initialisers; the embedding lookup and its backward pass; the layers between embeddings and
 * the output (Dense, whose kernels are blocked AVX2/FMA GEMM tiles over a
 * plain scalar twin; activations, dropout, multiply, concatenate); the MSE
 * and binary cross-entropy losses; the parameter block with its touched-row
 * sets; and SGD, Adam and AdaMax exactly as Keras 2.1.6 writes them
 * (float32, same operations in the same order).
 *
 * Work cut into shares (nn_run_shares) runs one share after another here;
 * the speed machinery (fast/) may install a runner with threads.
 *
 * The path is chosen at run time, once (see "choosing the path" at the end):
 * one binary runs the AVX-512F kernels where the CPU has them, else the
 * AVX2/FMA ones, else the scalar ones; EMBREC_SIMD=scalar or =avx2 (or
 * nn_simd_select) forces that path (AVX-512 gives AVX2's bits), and
 * `make SIMD=0` compiles the scalar path alone.
 *
 * What it deliberately does not do: no threads of its own (every kernel
 * runs on the thread that calls it), no BLAS, no automatic
 * differentiation, no layers beyond what the models need, and no
 * -ffast-math or approximate rsqrt/rcp — the optimiser loops must give the
 * same bits on every path so that results can be compared with the
 * reference fixtures in tests/ref/.
 *
 * Build with -ffp-contract=off (the Makefile does; it is also gcc's default
 * under -std=c99): the scalar and SIMD optimiser loops are bit-identical only
 * when the compiler does not fuse a multiply and an add behind our back.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign, sysconf */
#if defined(__linux__)
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE), where the C library has it */
#endif
#include "nn.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* The SIMD paths compiled in beside the scalar one.
 * AVX2/FMA on x86-64 with GCC 5+ or clang: only the functions marked
 * NN_TARGET_AVX2 are compiled for AVX2 (the rest of embrec is built for
 * plain x86-64, so the compiler cannot slip AVX2 instructions anywhere a
 * CPU without them would run), and they run only where the CPU says it has
 * both AVX2 and FMA. NEON needs AArch64 (where it is always there):
 * vdivq_f32, vsqrtq_f32 and vfmaq_f32 do not exist on 32-bit ARM NEON, and
 * the optimiser loops need a correctly rounded divide and square root. */
#if !defined(EMBREC_NO_SIMD) && defined(__x86_64__) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
#define NN_AVX2 1
#define NN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define NN_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f")))
#include <immintrin.h>
#elif !defined(EMBREC_NO_SIMD) && defined(__ARM_NEON) && defined(__aarch64__)
#define NN_NEON 1
#include <arm_neon.h>
#endif

/* One path's kernels. The public kernels (vec_dot, nn_adam_update,
 * nn_dense_forward, ...) call through the chosen path's table. */
typedef struct {
    const char *name; /* what vec_path() says */
    float (*dot)(const float *a, const float *b, size_t n);
    void (*axpy)(float *y, float a, const float *x, size_t n);
    void (*scale)(float *x, float a, size_t n);
    void (*sgd)(float *p, const float *g, size_t n, float lr);
    void (*sgd_dot)(float *p, float *q, size_t n, float e, float l2, float lr);
    void (*adam)(float *p, const float *g, float *m, float *v, size_t n, float lr_t,
                 float beta1, float beta2, float eps);
    void (*adamax)(float *p, const float *g, float *m, float *u, size_t n, float lr_t,
                   float beta1, float beta2, float eps);
    void (*dense_forward)(float *out, const float *x, const float *W, const float *b,
                          size_t B, size_t C, size_t O);
    void (*dense_backward)(float *dx, float *dW, float *db, const float *dout,
                           const float *x, const float *W, size_t B, size_t C, size_t O);
} nn_kernels;

static const nn_kernels *kernels(void); /* the chosen path's (see the end of the file) */

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h> /* _mm_getcsr / _mm_setcsr */
#endif

#ifdef __clang__
/* clang contracts a*b+c within one expression by default; the scalar loops
 * must compute exactly what they say (gcc honours -ffp-contract=off). */
#pragma STDC FP_CONTRACT OFF
#endif

/* ================================================================ memory */

size_t nn_stride(size_t k) {
    return (k + NN_ALIGN_FLOATS - 1) / NN_ALIGN_FLOATS * NN_ALIGN_FLOATS;
}

/* Embedding tables and their optimiser state are read at random rows, so
 * with 4 KiB pages nearly every access also misses the TLB. Where Linux
 * offers transparent huge pages on request, blocks of 4 MiB and more ask
 * for them (2 MiB pages: one TLB entry covers 512 times as much). */
#define NN_HUGE_PAGE ((size_t)2 << 20)

void *nn_alloc(size_t bytes) {
    void *p = NULL;
    size_t align = NN_ALIGN;
    if (bytes > SIZE_MAX - NN_HUGE_PAGE) return NULL; /* a size computed with overflow */
    if (bytes == 0) bytes = 1;                        /* a unique pointer, never NULL */
#if defined(MADV_HUGEPAGE)
    if (bytes >= 2 * NN_HUGE_PAGE) align = NN_HUGE_PAGE;
#endif
    if (posix_memalign(&p, align, bytes) != 0) return NULL;
#if defined(MADV_HUGEPAGE)
    if (align == NN_HUGE_PAGE) /* before the first touch, which maps the pages */
        (void)madvise(p, (bytes + NN_HUGE_PAGE - 1) / NN_HUGE_PAGE * NN_HUGE_PAGE, MADV_HUGEPAGE);
#endif
    memset(p, 0, bytes);
    return p;
}

void nn_free(void *p) { free(p); }

/* ======================================================== random numbers */

/* splitmix64 (Vigna): turns any 64-bit seed, even 0, into well-mixed words,
 * which is how the xoshiro authors recommend filling the state. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nn_rng_seed(nn_rng *rng, uint64_t seed) {
    int i;
    for (i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

/* xoshiro256** 1.0 (Blackman & Vigna 2018) */
uint64_t nn_rng_next(nn_rng *rng) {
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nn_rng_uniform(nn_rng *rng) {
    return (double)(nn_rng_next(rng) >> 11) * 0x1.0p-53; /* top 53 bits / 2^53 */
}

uint64_t nn_rng_below(nn_rng *rng, uint64_t n) {
    /* Accept r only from the top (2^64 − 2^64 mod n) values, a whole number
     * of copies of [0, n), so r % n is exactly uniform. (0 − n) % n is
     * 2^64 mod n computed in 64 bits; at most half the draws are rejected. */
    for (;;) {
        uint64_t r = nn_rng_next(rng);
        /* threshold < n, so a draw r ≥ n (nearly all of them) is accepted
         * without computing it: one division per draw instead of two */
        if (r >= n || r >= (0 - n) % n) return r % n;
    }
}

double nn_rng_normal(nn_rng *rng) {
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = 1.0 - nn_rng_uniform(rng); /* (0, 1]: log(u1) is finite */
    double u2 = nn_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(two_pi * u2); /* the sine twin is dropped */
}

void nn_rng_shuffle_u32(nn_rng *rng, uint32_t *a, size_t n) {
    size_t i;
    for (i = n; i > 1; i--) {
        size_t j = (size_t)nn_rng_below(rng, i); /* j uniform in [0, i) */
        uint32_t tmp = a[i - 1];
        a[i - 1] = a[j];
        a[j] = tmp;
    }
}

/* ======================================================== dense kernels */

float vec_dot_scalar(const float *a, const float *b, size_t n) {
    float s = 0.0f;
    size_t i;
    for (i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void vec_axpy_scalar(float *y, float a, const float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] += a * x[i];
}

void vec_scale_scalar(float *x, float a, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) x[i] *= a;
}

#if defined(NN_AVX2)

NN_TARGET_AVX2 static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    return _mm_cvtss_f32(s);
}

NN_TARGET_AVX2 static float dot_avx2(const float *a, const float *b, size_t n) {
    /* four independent accumulators hide the FMA latency */
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    float s;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

NN_TARGET_AVX2 static void axpy_avx2(float *y, float a, const float *x, size_t n) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
                                                _mm256_loadu_ps(y + i)));
    vec_axpy_scalar(y + i, a, x + i, n - i);
}

NN_TARGET_AVX2 static void scale_avx2(float *x, float a, size_t n) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
    vec_scale_scalar(x + i, a, n - i);
}

#endif

#if defined(NN_NEON)

static float dot_neon(const float *a, const float *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    float s;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_neon(float *y, float a, const float *x, size_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
    vec_axpy_scalar(y + i, a, x + i, n - i);
}

static void scale_neon(float *x, float a, size_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), va));
    vec_scale_scalar(x + i, a, n - i);
}

#endif

float vec_dot(const float *a, const float *b, size_t n) { return kernels()->dot(a, b, n); }
void vec_axpy(float *y, float a, const float *x, size_t n) { kernels()->axpy(y, a, x, n); }
void vec_scale(float *x, float a, size_t n) { kernels()->scale(x, a, n); }

void nn_flush_denormals(void) {
#if defined(__SSE__) || defined(__x86_64__)
    _mm_setcsr(_mm_getcsr() | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
#elif defined(__aarch64__) && defined(__GNUC__)
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    fpcr |= (uint64_t)1 << 24; /* FZ: subnormal inputs and outputs become 0 */
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
#endif
}

/* ======================================================== optimiser loops
 * The scalar loops are the definition. Keras builds (1 − β) from float32
 * variables, so it is rounded to float32 once per call, here too. The SIMD
 * loops do the same float32 operations in the same order (no FMA: a fused
 * multiply-add rounds once where Keras rounds twice) and hand their tail to
 * the scalar loop, so every path gives the same bits. */

void nn_sgd_update_scalar(float *p, const float *g, size_t n, float lr) {
    size_t i;
    /* Keras: v = momentum·m − lr·g; p + v. With momentum 0 that is exactly
     * p − lr·g. */
    for (i = 0; i < n; i++) p[i] -= lr * g[i];
}

/* One rating's SGD step for p and q together (per-rating matrix
 * factorisation): g_p = e·q + l2·p, g_q = e·p + l2·q from the old p and q,
 * then p −= lr·g_p, q −= lr·g_q. Each element is computed exactly as
 * vec_axpy(g, e, q), vec_axpy(g, l2, p) and nn_sgd_update would from g = 0,
 * SIMD lanes and scalar tail alike, so the batched path with batch 1 gives
 * the same bits. */
void nn_sgd_dot_step_scalar(float *p, float *q, size_t n, float e, float l2, float lr) {
    size_t i;
    for (i = 0; i < n; i++) {
        float gp = 0.0f, gq = 0.0f;
        gp += e * q[i];
        gq += e * p[i];
        gp += l2 * p[i];
        gq += l2 * q[i];
        p[i] -= lr * gp;
        q[i] -= lr * gq;
    }
}

void nn_adam_update_scalar(float *p, const float *g, float *m, float *v, size_t n,
                           float lr_t, float beta1, float beta2, float eps) {
    const float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
    size_t i;
    for (i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + c1 * g[i];           /* m_t = β1·m + (1−β1)·g */
        v[i] = beta2 * v[i] + c2 * (g[i] * g[i]);  /* v_t = β2·v + (1−β2)·g² */
        /* ε goes outside the root and onto the uncorrected √v_t (the bias
         * correction lives in lr_t): Kingma & Ba's "ε-hat" form, which Keras
         * uses. It keeps the step finite where v_t = 0 (no gradient yet). */
        p[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps); /* p_t = p − lr_t·m_t/(√v_t + ε) */
    }
}

void nn_adamax_update_scalar(float *p, const float *g, float *m, float *u, size_t n,
                             float lr_t, float beta1, float beta2, float eps) {
    const float c1 = 1.0f - beta1;
    size_t i;
    for (i = 0; i < n; i++) {
        float decayed = beta2 * u[i], absg = fabsf(g[i]);
        m[i] = beta1 * m[i] + c1 * g[i];             /* m_t = β1·m + (1−β1)·g */
        u[i] = decayed > absg ? decayed : absg;      /* u_t = max(β2·u, |g|), 0 until g ≠ 0: hence ε */
        p[i] -= lr_t * m[i] / (u[i] + eps);          /* p_t = p − lr_t·m_t/(u_t + ε) */
    }
}

#if defined(NN_AVX2)

NN_TARGET_AVX2 static void sgd_avx2(float *p, const float *g, size_t n, float lr) {
    const __m256 vlr = _mm256_set1_ps(lr);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 step = _mm256_mul_ps(vlr, _mm256_loadu_ps(g + i));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
    }
    nn_sgd_update_scalar(p + i, g + i, n - i, lr);
}

NN_TARGET_AVX2 static void sgd_dot_avx2(float *p, float *q, size_t n, float e, float l2, float lr) {
    const __m256 ve = _mm256_set1_ps(e), vl2 = _mm256_set1_ps(l2), vlr = _mm256_set1_ps(lr);
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 pi = _mm256_loadu_ps(p + i), qi = _mm256_loadu_ps(q + i);
        __m256 gp = _mm256_fmadd_ps(vl2, pi, _mm256_fmadd_ps(ve, qi, zero));
        __m256 gq = _mm256_fmadd_ps(vl2, qi, _mm256_fmadd_ps(ve, pi, zero));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(vlr, gp)));
        _mm256_storeu_ps(q + i, _mm256_sub_ps(qi, _mm256_mul_ps(vlr, gq)));
    }
    nn_sgd_dot_step_scalar(p + i, q + i, n - i, e, l2, lr);
}

NN_TARGET_AVX2 static void adam_avx2(float *p, const float *g, float *m, float *v, size_t n,
                                     float lr_t, float beta1, float beta2, float eps) {
    const __m256 b1 = _mm256_set1_ps(beta1), c1 = _mm256_set1_ps(1.0f - beta1);
    const __m256 b2 = _mm256_set1_ps(beta2), c2 = _mm256_set1_ps(1.0f - beta2);
    const __m256 lr = _mm256_set1_ps(lr_t), ve = _mm256_set1_ps(eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
                                  _mm256_mul_ps(c1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(c2, _mm256_mul_ps(gi, gi)));
        __m256 step = _mm256_div_ps(_mm256_mul_ps(lr, mi),
                                    _mm256_add_ps(_mm256_sqrt_ps(vi), ve));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
    }
    nn_adam_update_scalar(p + i, g + i, m + i, v + i, n - i, lr_t, beta1, beta2, eps);
}

NN_TARGET_AVX2 static void adamax_avx2(float *p, const float *g, float *m, float *u, size_t n,
                                       float lr_t, float beta1, float beta2, float eps) {
    const __m256 b1 = _mm256_set1_ps(beta1), c1 = _mm256_set1_ps(1.0f - beta1);
    const __m256 b2 = _mm256_set1_ps(beta2), sign = _mm256_set1_ps(-0.0f);
    const __m256 lr = _mm256_set1_ps(lr_t), ve = _mm256_set1_ps(eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 absg = _mm256_andnot_ps(sign, gi); /* clear the sign bit: fabsf */
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
                                  _mm256_mul_ps(c1, gi));
        /* max_ps(a, b) is a > b ? a : b, the scalar loop's expression */
        __m256 ui = _mm256_max_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(u + i)), absg);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(lr, mi), _mm256_add_ps(ui, ve));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(u + i, ui);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
    }
    nn_adamax_update_scalar(p + i, g + i, m + i, u + i, n - i, lr_t, beta1, beta2, eps);
}

#endif

#if defined(NN_NEON)

static void sgd_neon(float *p, const float *g, size_t n, float lr) {
    const float32x4_t vlr = vdupq_n_f32(lr);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t step = vmulq_f32(vlr, vld1q_f32(g + i));
        vst1q_f32(p + i, vsubq_f32(vld1q_f32(p + i), step));
    }
    nn_sgd_update_scalar(p + i, g + i, n - i, lr);
}

static void sgd_dot_neon(float *p, float *q, size_t n, float e, float l2, float lr) {
    const float32x4_t ve = vdupq_n_f32(e), vl2 = vdupq_n_f32(l2), vlr = vdupq_n_f32(lr);
    const float32x4_t zero = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) { /* as vec_axpy (vfmaq) twice, then nn_sgd_update */
        float32x4_t pi = vld1q_f32(p + i), qi = vld1q_f32(q + i);
        float32x4_t gp = vfmaq_f32(vfmaq_f32(zero, ve, qi), vl2, pi);
        float32x4_t gq = vfmaq_f32(vfmaq_f32(zero, ve, pi), vl2, qi);
        vst1q_f32(p + i, vsubq_f32(pi, vmulq_f32(vlr, gp)));
        vst1q_f32(q + i, vsubq_f32(qi, vmulq_f32(vlr, gq)));
    }
    nn_sgd_dot_step_scalar(p + i, q + i, n - i, e, l2, lr);
}

static void adam_neon(float *p, const float *g, float *m, float *v, size_t n,
                      float lr_t, float beta1, float beta2, float eps) {
    const float32x4_t b1 = vdupq_n_f32(beta1), c1 = vdupq_n_f32(1.0f - beta1);
    const float32x4_t b2 = vdupq_n_f32(beta2), c2 = vdupq_n_f32(1.0f - beta2);
    const float32x4_t lr = vdupq_n_f32(lr_t), ve = vdupq_n_f32(eps);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t gi = vld1q_f32(g + i);
        float32x4_t mi = vaddq_f32(vmulq_f32(b1, vld1q_f32(m + i)), vmulq_f32(c1, gi));
        float32x4_t vi = vaddq_f32(vmulq_f32(b2, vld1q_f32(v + i)),
                                   vmulq_f32(c2, vmulq_f32(gi, gi)));
        float32x4_t step = vdivq_f32(vmulq_f32(lr, mi), vaddq_f32(vsqrtq_f32(vi), ve));
        vst1q_f32(m + i, mi);
        vst1q_f32(v + i, vi);
        vst1q_f32(p + i, vsubq_f32(vld1q_f32(p + i), step));
    }
    nn_adam_update_scalar(p + i, g + i, m + i, v + i, n - i, lr_t, beta1, beta2, eps);
}

static void adamax_neon(float *p, const float *g, float *m, float *u, size_t n,
                        float lr_t, float beta1, float beta2, float eps) {
    const float32x4_t b1 = vdupq_n_f32(beta1), c1 = vdupq_n_f32(1.0f - beta1);
    const float32x4_t b2 = vdupq_n_f32(beta2);
    const float32x4_t lr = vdupq_n_f32(lr_t), ve = vdupq_n_f32(eps);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t gi = vld1q_f32(g + i);
        float32x4_t mi = vaddq_f32(vmulq_f32(b1, vld1q_f32(m + i)), vmulq_f32(c1, gi));
        float32x4_t decayed = vmulq_f32(b2, vld1q_f32(u + i)), absg = vabsq_f32(gi);
        /* select, not vmaxq_f32, so NaN and ±0 behave as the scalar a > b ? a : b */
        float32x4_t ui = vbslq_f32(vcgtq_f32(decayed, absg), decayed, absg);
        float32x4_t step = vdivq_f32(vmulq_f32(lr, mi), vaddq_f32(ui, ve));
        vst1q_f32(m + i, mi);
        vst1q_f32(u + i, ui);
        vst1q_f32(p + i, vsubq_f32(vld1q_f32(p + i), step));
    }
    nn_adamax_update_scalar(p + i, g + i, m + i, u + i, n - i, lr_t, beta1, beta2, eps);
}

#endif

void nn_sgd_update(float *p, const float *g, size_t n, float lr) {
    kernels()->sgd(p, g, n, lr);
}

void nn_sgd_dot_step(float *p, float *q, size_t n, float e, float l2, float lr) {
    kernels()->sgd_dot(p, q, n, e, l2, lr);
}

void nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
                    float lr_t, float beta1, float beta2, float eps) {
    kernels()->adam(p, g, m, v, n, lr_t, beta1, beta2, eps);
}

void nn_adamax_update(float *p, const float *g, float *m, float *u, size_t n,
                      float lr_t, float beta1, float beta2, float eps) {
    kernels()->adamax(p, g, m, u, n, lr_t, beta1, beta2, eps);
}

void nn_rowwise_adagrad_row(float *w, const float *g, float *G1, size_t k, float lr) {
    float rate = lr / sqrtf(1.0f + *G1); /* lr/√G, from the G before this step */
    float sum = 0.0f;
    size_t j;
    for (j = 0; j < k; j++) {
        w[j] -= rate * g[j];  /* w −= lr/√G · g */
        sum += g[j] * g[j];
    }
    *G1 += sum / (float)k;    /* G += mean g² */
}

/* Keras: t = float(iterations) + 1; everything in float32 (K.pow on a
 * float32 variable), multiplied in this order. */
float nn_adam_lr_t(float lr, float beta1, float beta2, uint64_t t) {
    const float tf = (float)t;
    return lr * (sqrtf(1.0f - powf(beta2, tf)) / (1.0f - powf(beta1, tf)));
}

float nn_adamax_lr_t(float lr, float beta1, uint64_t t) {
    return lr / (1.0f - powf(beta1, (float)t));
}

/* ========================================================= initialisers */

void nn_init_uniform(float *w, size_t rows, size_t k, size_t stride,
                     float limit, nn_rng *rng) {
    size_t r, c;
    for (r = 0; r < rows; r++) {
        float *row = w + r * stride;
        for (c = 0; c < k; c++) /* (2u − 1)·limit, u ∈ [0, 1) */
            row[c] = (float)((2.0 * nn_rng_uniform(rng) - 1.0) * limit);
        for (; c < stride; c++) row[c] = 0.0f; /* SIMD padding must stay inert */
    }
}

/* Keras computes the limits in float64 (NumPy) with fan sums floored at 1,
 * then hands them to TensorFlow as float32. */
float nn_glorot_limit(size_t fan_in, size_t fan_out) {
    double fan = ((double)fan_in + (double)fan_out) / 2.0;
    return (float)sqrt(3.0 / (fan > 1.0 ? fan : 1.0)); /* = sqrt(6/(fan_in+fan_out)) */
}

float nn_lecun_limit(size_t fan_in) {
    double fan = (double)fan_in;
    return (float)sqrt(3.0 / (fan > 1.0 ? fan : 1.0));
}

/* ============================================================ embedding */

void nn_embedding_forward(float *out, const float *W, const uint32_t *ids,
                          size_t B, size_t S) {
    size_t b;
    for (b = 0; b < B; b++)
        memcpy(out + b * S, W + (size_t)ids[b] * S, S * sizeof *out); /* out[b] = W[ids[b]] */
}

void nn_embedding_backward(float *dW, const float *dout, const uint32_t *ids,
                           size_t B, size_t S) {
    size_t b;
    for (b = 0; b < B; b++) /* dW[ids[b]] += dout[b]; repeats add up */
        vec_axpy(dW + (size_t)ids[b] * S, 1.0f, dout + b * S, S);
}

/* =============================================================== layers */

/* The Dense kernels. The scalar twins are the definition, written as the
 * maths reads:
 *   out[b,o] = (Σ_c x[b,c]·W[c,o]) + bias[o]      (the sum in order of c)
 *   dx[b,c] += Σ_o dout[b,o]·W[c,o]               (the sum in order of o)
 *   dW[c,o] += x[b,c]·dout[b,o]                   (for b = 0, 1, …: in order of b)
 *   db[o]   += dout[b,o]                          (in order of b)
 * The AVX2 versions add the same terms in the same order, but with fused
 * multiply-adds (dx with O > 128 is summed 128 o's at a time, each part
 * added onto dx in turn); with O = 1 the forward pass is vec_dot along C
 * (four partial sums). So they differ from the twin by rounding only, which
 * the tests bound. db has no products: the same bits on every path. */

void nn_dense_forward_scalar(float *out, const float *x, const float *W,
                             const float *b, size_t B, size_t C, size_t O) {
    size_t i, c, o;
    for (i = 0; i < B; i++)
        for (o = 0; o < O; o++) {
            float s = 0.0f;
            for (c = 0; c < C; c++) s += x[i * C + c] * W[c * O + o];
            out[i * O + o] = s + b[o];
        }
}

void nn_dense_backward_scalar(float *dx, float *dW, float *db, const float *dout,
                              const float *x, const float *W, size_t B,
                              size_t C, size_t O) {
    size_t i, c, o;
    if (dx)
        for (i = 0; i < B; i++)
            for (c = 0; c < C; c++) {
                float s = 0.0f;
                for (o = 0; o < O; o++) s += dout[i * O + o] * W[c * O + o];
                dx[i * C + c] += s;
            }
    for (i = 0; i < B; i++)
        for (c = 0; c < C; c++)
            for (o = 0; o < O; o++) dW[c * O + o] += x[i * C + c] * dout[i * O + o];
    for (i = 0; i < B; i++)
        for (o = 0; o < O; o++) db[o] += dout[i * O + o];
}

/* db[o] += Σ_b dout[b,o] in order of b: additions only (a·1 is exact), so
 * vec_axpy gives the scalar twin's bits on every path. */
static void dense_bias_grad(float *db, const float *dout, size_t B, size_t O) {
    size_t i;
    for (i = 0; i < B; i++) vec_axpy(db, 1.0f, dout + i * O, O);
}

#if defined(NN_AVX2)

/* A GEMM in miniature. All three products are one shape: a tile of rows
 * i of a result R, computed as Σ_s A(i, s)·P[s, :] in order of s, where P's
 * rows are contiguous and A(i, s) = A[i·ai + s·as] is broadcast:
 *   forward  R = out, A = x (ai C, as 1),  P = W (s = c),    then + bias
 *   dW       R = dW,  A = x (ai 1, as C),  P = dout (s = b), onto dW
 *   dx       R = dx,  A = dout (ai O, as 1), P = a transposed panel of W
 *            (s = o; W's rows are contiguous along o, so a few of them are
 *            turned on their side into a small buffer on the stack)
 * A tile is held in eight AVX registers (enough independent FMA chains to
 * cover the FMA latency on two pipes) while s sweeps, so each load feeds
 * several FMAs. Edge tiles repeat their last row, whose results are not
 * stored, and mask their columns: no scalar clean-up loops and no access
 * past an array's end (masked-off lanes are not touched). Rows are taken
 * DENSE_NB at a time so that block of x, dout and dx stays in cache while
 * every column tile visits it. */
#define DENSE_NB 64  /* batch rows per cache block */
#define DENSE_TC 32  /* dx: columns of dx (rows of W) per transposed panel */
#define DENSE_TO 128 /* dx: entries of o per transposed panel (16 KiB in all) */

typedef enum {
    TILE_BIAS, /* R = Σ + bias          (forward: the sum first, then the bias) */
    TILE_ADD,  /* R = R + Σ             (dx: one rounding, as the scalar twin) */
    TILE_ONTO  /* R = (R + t_0) + t_1 … (dW: each term added in turn, as the twin) */
} tile_mode;

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* lanes 0..n−1 on (n ≤ 8) */
NN_TARGET_AVX2 static __m256i dense_mask(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* n ≤ 8 floats at p, the lanes past n reading 0: a masked load only when
 * n < 8, and a store that writes only n (vmaskmovps stores are slow on
 * some CPUs, so the edge goes through a buffer) */
NN_TARGET_AVX2 static __m256 load_n(const float *p, __m256i m, size_t n) {
    return n == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

NN_TARGET_AVX2 static void store_n(float *p, __m256 v, size_t n) {
    float buf[8];
    size_t i;
    if (n == 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    _mm256_storeu_ps(buf, v);
    for (i = 0; i < n; i++) p[i] = buf[i];
}

/* Rows i < ni ≤ 4 of R, columns 0..15. R's rows are ldr apart; P's ldp. */
NN_TARGET_AVX2 static void dense_tile_4x16(float *R, size_t ldr, const float *A, size_t ai,
                                           size_t as, const float *P, size_t ldp, size_t K,
                                           size_t ni, const float *bias, tile_mode mode) {
    const float *A0 = A, *A1 = A + min_size(1, ni - 1) * ai;
    const float *A2 = A + min_size(2, ni - 1) * ai, *A3 = A + min_size(3, ni - 1) * ai;
    float *R0 = R, *R1 = R + min_size(1, ni - 1) * ldr;
    float *R2 = R + min_size(2, ni - 1) * ldr, *R3 = R + min_size(3, ni - 1) * ldr;
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
    __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    size_t s;
    if (mode == TILE_ONTO) {
        a00 = _mm256_loadu_ps(R0), a01 = _mm256_loadu_ps(R0 + 8);
        a10 = _mm256_loadu_ps(R1), a11 = _mm256_loadu_ps(R1 + 8);
        a20 = _mm256_loadu_ps(R2), a21 = _mm256_loadu_ps(R2 + 8);
        a30 = _mm256_loadu_ps(R3), a31 = _mm256_loadu_ps(R3 + 8);
    }
    for (s = 0; s < K; s++) {
        const __m256 p0 = _mm256_loadu_ps(P + s * ldp), p1 = _mm256_loadu_ps(P + s * ldp + 8);
        const size_t k = s * as;
        __m256 v = _mm256_broadcast_ss(A0 + k);
        a00 = _mm256_fmadd_ps(v, p0, a00);
        a01 = _mm256_fmadd_ps(v, p1, a01);
        v = _mm256_broadcast_ss(A1 + k);
        a10 = _mm256_fmadd_ps(v, p0, a10);
        a11 = _mm256_fmadd_ps(v, p1, a11);
        v = _mm256_broadcast_ss(A2 + k);
        a20 = _mm256_fmadd_ps(v, p0, a20);
        a21 = _mm256_fmadd_ps(v, p1, a21);
        v = _mm256_broadcast_ss(A3 + k);
        a30 = _mm256_fmadd_ps(v, p0, a30);
        a31 = _mm256_fmadd_ps(v, p1, a31);
    }
    {   /* gathered only now, so the loop's accumulators stay in registers */
        const __m256 acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
        float *const row[4] = {R0, R1, R2, R3};
        size_t i, h;
        for (i = 0; i < ni; i++)
            for (h = 0; h < 2; h++) {
                float *r = row[i] + 8 * h;
                __m256 v = acc[i][h];
                if (mode == TILE_BIAS) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + 8 * h));
                if (mode == TILE_ADD) v = _mm256_add_ps(_mm256_loadu_ps(r), v);
                _mm256_storeu_ps(r, v);
            }
    }
}

/* The narrow tile: rows i < ni ≤ 8 of R, columns 0..nc−1 (nc ≤ 8) — the
 * columns the 16-wide tiles leave over, and all of a layer with O < 16
 * (Dense 10). Eight rows, so still eight FMA chains. */
NN_TARGET_AVX2 static void dense_tile_8x8(float *R, size_t ldr, const float *A, size_t ai,
                                          size_t as, const float *P, size_t ldp, size_t K,
                                          size_t ni, size_t nc, const float *bias, tile_mode mode) {
    const __m256i m = dense_mask(nc);
    const float *A0 = A, *A1 = A + min_size(1, ni - 1) * ai;
    const float *A2 = A + min_size(2, ni - 1) * ai, *A3 = A + min_size(3, ni - 1) * ai;
    const float *A4 = A + min_size(4, ni - 1) * ai, *A5 = A + min_size(5, ni - 1) * ai;
    const float *A6 = A + min_size(6, ni - 1) * ai, *A7 = A + min_size(7, ni - 1) * ai;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    size_t s, i;
    if (mode == TILE_ONTO) {
        a0 = load_n(R, m, nc);
        a1 = load_n(R + min_size(1, ni - 1) * ldr, m, nc);
        a2 = load_n(R + min_size(2, ni - 1) * ldr, m, nc);
        a3 = load_n(R + min_size(3, ni - 1) * ldr, m, nc);
        a4 = load_n(R + min_size(4, ni - 1) * ldr, m, nc);
        a5 = load_n(R + min_size(5, ni - 1) * ldr, m, nc);
        a6 = load_n(R + min_size(6, ni - 1) * ldr, m, nc);
        a7 = load_n(R + min_size(7, ni - 1) * ldr, m, nc);
    }
    for (s = 0; s < K; s++) {
        const __m256 p = _mm256_maskload_ps(P + s * ldp, m);
        const size_t k = s * as;
        a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(A0 + k), p, a0);
        a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(A1 + k), p, a1);
        a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(A2 + k), p, a2);
        a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(A3 + k), p, a3);
        a4 = _mm256_fmadd_ps(_mm256_broadcast_ss(A4 + k), p, a4);
        a5 = _mm256_fmadd_ps(_mm256_broadcast_ss(A5 + k), p, a5);
        a6 = _mm256_fmadd_ps(_mm256_broadcast_ss(A6 + k), p, a6);
        a7 = _mm256_fmadd_ps(_mm256_broadcast_ss(A7 + k), p, a7);
    }
    {
        const __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        for (i = 0; i < ni; i++) {
            float *r = R + i * ldr;
            __m256 v = acc[i];
            if (mode == TILE_BIAS) v = _mm256_add_ps(v, load_n(bias, m, nc));
            if (mode == TILE_ADD) v = _mm256_add_ps(load_n(r, m, nc), v);
            store_n(r, v, nc);
        }
    }
}

/* R (ni, nj) from A and P as above: 16-wide tiles of 4 rows, then 8-wide
 * (masked) tiles of 8 rows for the last nj mod 16 columns. */
NN_TARGET_AVX2 static void dense_tiles(float *R, size_t ldr, const float *A, size_t ai, size_t as,
                                       const float *P, size_t ldp, size_t K, size_t ni, size_t nj,
                                       const float *bias, tile_mode mode) {
    size_t i, j;
    for (j = 0; j + 16 <= nj; j += 16)
        for (i = 0; i < ni; i += 4)
            dense_tile_4x16(R + i * ldr + j, ldr, A + i * ai, ai, as, P + j, ldp, K,
                            min_size(4, ni - i), bias ? bias + j : NULL, mode);
    for (; j < nj; j += 8)
        for (i = 0; i < ni; i += 8)
            dense_tile_8x8(R + i * ldr + j, ldr, A + i * ai, ai, as, P + j, ldp, K,
                           min_size(8, ni - i), min_size(8, nj - j),
                           bias ? bias + j : NULL, mode);
}

/* One path's tiling of a result (dense_tiles, tiles512). */
typedef void (*dense_tiles_fn)(float *R, size_t ldr, const float *A, size_t ai, size_t as,
                               const float *P, size_t ldp, size_t K, size_t ni, size_t nj,
                               const float *bias, tile_mode mode);

/* Packing W pays for wide layers in batches: a tile sweeps a column panel
 * of W down all C rows, and with W's rows O floats apart (2 or 4 KiB at
 * O = 512 or 1024) those rows fall into a few cache sets and evict each
 * other. Copied into contiguous panels, each `width` wide, the sweep reads
 * consecutive lines. The copy costs C·O against B·C·O multiply-adds: with
 * fewer than a block of 64 rows it cost more than it saved (at 32 x 512 ->
 * 512, 68 against 97 GFLOP/s unpacked). */
#define DENSE_PACK_MIN_B 64
#define DENSE_PACK_MIN_O 128

/* W's full column panels, panel p at Wp + p·C·width, row c of it at
 * + c·width; NULL when it does not pay or memory is short (the caller then
 * reads W in place: the same arithmetic either way). */
static float *dense_pack(const float *W, size_t B, size_t C, size_t O, size_t width) {
    const size_t panels = O / width;
    float *Wp;
    size_t p, c;
    if (B < DENSE_PACK_MIN_B || O < DENSE_PACK_MIN_O || C > SIZE_MAX / sizeof *Wp / O)
        return NULL;
    Wp = malloc(panels * C * width * sizeof *Wp + 1);
    if (!Wp) return NULL;
    for (p = 0; p < panels; p++)
        for (c = 0; c < C; c++)
            memcpy(Wp + (p * C + c) * width, W + c * O + p * width, width * sizeof *Wp);
    return Wp;
}

/* out (B, O) = x · W + b for O > 1, block of rows after block of rows,
 * reading W's full panels from a packed copy when `pack` asks for one and
 * it pays. Each output's sum is the same whichever copy its terms come
 * from. */
static void dense_forward_tiled(float *out, const float *x, const float *W, const float *b,
                                size_t B, size_t C, size_t O, size_t width,
                                dense_tiles_fn tiles, int pack) {
    float *Wp = pack ? dense_pack(W, B, C, O, width) : NULL;
    const size_t packed = Wp ? O / width * width : 0;
    size_t b0, j;
    for (b0 = 0; b0 < B; b0 += DENSE_NB) {
        const size_t nb = min_size(DENSE_NB, B - b0);
        for (j = 0; j < packed; j += width)
            tiles(out + b0 * O + j, O, x + b0 * C, C, 1, Wp + j * C, width, C, nb, width,
                  b + j, TILE_BIAS);
        if (packed < O)
            tiles(out + b0 * O + packed, O, x + b0 * C, C, 1, W + packed, O, C, nb,
                  O - packed, b + packed, TILE_BIAS);
    }
    free(Wp);
}

NN_TARGET_AVX2 static void dense_forward_avx2(float *out, const float *x, const float *W,
                                              const float *b, size_t B, size_t C, size_t O) {
    size_t i;
    if (O == 1) { /* the last layer: W (C, 1) is one contiguous column */
        for (i = 0; i < B; i++) out[i] = dot_avx2(x + i * C, W, C) + b[0];
        return;
    }
    dense_forward_tiled(out, x, W, b, B, C, O, 16, dense_tiles, 1);
}

/* dW (C, O) += xᵀ · dout with each block of the batch packed first: x's
 * block turned on its side (C, nb) and dout's block cut into panels
 * (nb, width), so that a tile's sweep over the block reads consecutive
 * lines instead of one line per row of x and dout, which at C or O = 1024
 * (4 KiB apart) fall into a few cache sets: the AVX2 dW product ran at 38
 * GFLOP/s there against 69 at 1000, and at 87 and 92 packed (AVX-512's
 * 32-wide tiles: 82 unpacked, 84 packed, so that path is left unpacked).
 * The same terms in the same order, so the same bits. Returns 0 (nothing done) where it does not pay or memory
 * is short. */
static int dense_dW_packed(float *dW, const float *dout, const float *x, size_t B, size_t C,
                           size_t O, size_t width, dense_tiles_fn tiles) {
    const size_t packed = O / width * width;
    float *xT, *dP;
    size_t b0, s, c, j;
    if (B < DENSE_PACK_MIN_B || O < DENSE_PACK_MIN_O || C < DENSE_PACK_MIN_O ||
        C + O > SIZE_MAX / sizeof *xT / DENSE_NB)
        return 0;
    xT = malloc((C + O) * DENSE_NB * sizeof *xT);
    if (!xT) return 0;
    dP = xT + C * DENSE_NB;
    for (b0 = 0; b0 < B; b0 += DENSE_NB) {
        const size_t nb = min_size(DENSE_NB, B - b0);
        for (s = 0; s < nb; s++) {
            for (c = 0; c < C; c++) xT[c * nb + s] = x[(b0 + s) * C + c];
            for (j = 0; j < packed; j += width)
                memcpy(dP + j * nb + s * width, dout + (b0 + s) * O + j, width * sizeof *dP);
        }
        for (j = 0; j < packed; j += width)
            tiles(dW + j, O, xT, nb, 1, dP + j * nb, width, nb, C, width, NULL, TILE_ONTO);
        if (packed < O)
            tiles(dW + packed, O, xT, nb, 1, dout + b0 * O + packed, O, nb, C, O - packed, NULL,
                  TILE_ONTO);
    }
    free(xT);
    return 1;
}

NN_TARGET_AVX2 static void dense_backward_avx2(float *dx, float *dW, float *db, const float *dout,
                                               const float *x, const float *W, size_t B, size_t C,
                                               size_t O) {
    float T[DENSE_TO * DENSE_TC]; /* (TO, TC): W[c0 + t, o0 + s] at T[s·TC + t] */
    size_t b0, c0, o0, s, t;
    dense_bias_grad(db, dout, B, O);
    if (O == 1) { /* W (C, 1) and dW (C, 1) are contiguous columns: axpy along C */
        for (b0 = 0; b0 < B; b0++) {
            if (dx) axpy_avx2(dx + b0 * C, dout[b0], W, C); /* dx[b,:] += dout[b]·W[:,0] */
            axpy_avx2(dW, dout[b0], x + b0 * C, C);         /* dW[:,0] += dout[b]·x[b,:] */
        }
        return;
    }
    /* dW (C, O) += x[block]ᵀ · dout[block], block after block */
    if (!dense_dW_packed(dW, dout, x, B, C, O, 16, dense_tiles))
        for (b0 = 0; b0 < B; b0 += DENSE_NB)
            dense_tiles(dW, O, x + b0 * C, 1, C, dout + b0 * O, O,
                        min_size(DENSE_NB, B - b0), C, O, NULL, TILE_ONTO);
    if (!dx) return;
    /* dx (B, C) += dout · Wᵀ, one transposed panel of W at a time, each
     * turned once and then swept by every block of the batch (O ≤ DENSE_TO
     * is one panel, and the sum is the twin's, in order of o) */
    for (c0 = 0; c0 < C; c0 += DENSE_TC) {
        const size_t nc = min_size(DENSE_TC, C - c0);
        for (o0 = 0; o0 < O; o0 += DENSE_TO) {
            const size_t no = min_size(DENSE_TO, O - o0);
            for (t = 0; t < nc; t++)
                for (s = 0; s < no; s++) T[s * DENSE_TC + t] = W[(c0 + t) * O + o0 + s];
            for (b0 = 0; b0 < B; b0 += DENSE_NB)
                dense_tiles(dx + b0 * C + c0, C, dout + b0 * O + o0, O, 1, T, DENSE_TC, no,
                            min_size(DENSE_NB, B - b0), nc, NULL, TILE_ADD);
        }
    }
}

#endif

#if defined(NN_AVX2)

/* The AVX-512 path: the AVX2 kernels' arithmetic, twice as wide. Every
 * result keeps the AVX2 path's bits: dot keeps its four 8-lane partial sums
 * (two 16-lane registers hold them side by side, added in the same pairs);
 * axpy and scale are element by element (fused over whole blocks of 8, the
 * last n mod 8 as the scalar twin, as AVX2); the Dense tiles add each
 * output's terms in the same order, in the same panels. So choosing it
 * changes speed only. The optimiser loops are AVX2's (element by element;
 * wider registers would give the same bits and they are memory-bound). */

NN_TARGET_AVX512 static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 s01 = _mm512_setzero_ps(), s23 = s01; /* AVX2's (s0 | s1) and (s2 | s3) */
    __m256 s0, s1, s2, s3;
    size_t i = 0;
    float s;
    for (; i + 32 <= n; i += 32) {
        s01 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s01);
        s23 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s23);
    }
    s0 = _mm512_castps512_ps256(s01);
    s1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s01), 1));
    s2 = _mm512_castps512_ps256(s23);
    s3 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s23), 1));
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

NN_TARGET_AVX512 static void axpy_avx512(float *y, float a, const float *x, size_t n) {
    const __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i),
                                                _mm512_loadu_ps(y + i)));
    axpy_avx2(y + i, a, x + i, n - i); /* a block of 8, then AVX2's scalar tail */
}

NN_TARGET_AVX512 static void scale_avx512(float *x, float a, size_t n) {
    const __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), va));
    scale_avx2(x + i, a, n - i);
}

/* lanes 0..n−1 (n ≤ 16) */
static __mmask16 mask16(size_t n) { return (__mmask16)((1u << n) - 1u); }

/* The accumulators are named one by one (an array indexed in a loop is
 * kept in memory by gcc -O2, which makes the tile several times slower). */
#define T512_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define T512_A(i) const float *A##i = A + min_size(i, ni - 1) * ai;
#define T512_R(i) float *R##i = R + min_size(i, ni - 1) * ldr;

/* Rows i < ni ≤ 8 of R, columns 0..31: sixteen accumulators (AVX-512 has
 * 32 registers), each P row loaded once for eight rows' FMAs. */
NN_TARGET_AVX512 static void tile512_8x32(float *R, size_t ldr, const float *A, size_t ai,
                                          size_t as, const float *P, size_t ldp, size_t K,
                                          size_t ni, const float *bias, tile_mode mode) {
    T512_ROWS(T512_A)
    T512_ROWS(T512_R)
#define T512_ZERO(i) __m512 l##i = _mm512_setzero_ps(), h##i = l##i;
    T512_ROWS(T512_ZERO)
#define T512_ONTO(i) l##i = _mm512_loadu_ps(R##i), h##i = _mm512_loadu_ps(R##i + 16);
    size_t s;
    if (mode == TILE_ONTO) {
        T512_ROWS(T512_ONTO)
    }
    for (s = 0; s < K; s++) {
        const __m512 p0 = _mm512_loadu_ps(P + s * ldp), p1 = _mm512_loadu_ps(P + s * ldp + 16);
        const size_t k = s * as;
        __m512 v;
#define T512_FMA(i) v = _mm512_set1_ps(A##i[k]); \
        l##i = _mm512_fmadd_ps(v, p0, l##i), h##i = _mm512_fmadd_ps(v, p1, h##i);
        T512_ROWS(T512_FMA)
    }
    {
        const __m512 lo[8] = {l0, l1, l2, l3, l4, l5, l6, l7};
        const __m512 hi[8] = {h0, h1, h2, h3, h4, h5, h6, h7};
        size_t i;
        for (i = 0; i < ni; i++) {
            float *r = R + i * ldr;
            __m512 v0 = lo[i], v1 = hi[i];
            if (mode == TILE_BIAS) {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(bias));
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(bias + 16));
            }
            if (mode == TILE_ADD) {
                v0 = _mm512_add_ps(_mm512_loadu_ps(r), v0);
                v1 = _mm512_add_ps(_mm512_loadu_ps(r + 16), v1);
            }
            _mm512_storeu_ps(r, v0), _mm512_storeu_ps(r + 16, v1);
        }
    }
}

/* The narrow tile: rows i < ni ≤ 8, columns 0..nc−1 (nc ≤ 16), masked —
 * masked-off lanes are neither read nor written. */
NN_TARGET_AVX512 static void tile512_8x16(float *R, size_t ldr, const float *A, size_t ai,
                                          size_t as, const float *P, size_t ldp, size_t K,
                                          size_t ni, size_t nc, const float *bias,
                                          tile_mode mode) {
    const __mmask16 m = mask16(nc);
    T512_ROWS(T512_A)
    T512_ROWS(T512_R)
#define T512_ZERO1(i) __m512 l##i = _mm512_setzero_ps();
    T512_ROWS(T512_ZERO1)
#define T512_ONTO1(i) l##i = _mm512_maskz_loadu_ps(m, R##i);
    size_t s;
    if (mode == TILE_ONTO) {
        T512_ROWS(T512_ONTO1)
    }
    for (s = 0; s < K; s++) {
        const __m512 p = _mm512_maskz_loadu_ps(m, P + s * ldp);
        const size_t k = s * as;
#define T512_FMA1(i) l##i = _mm512_fmadd_ps(_mm512_set1_ps(A##i[k]), p, l##i);
        T512_ROWS(T512_FMA1)
    }
    {
        const __m512 acc[8] = {l0, l1, l2, l3, l4, l5, l6, l7};
        size_t i;
        for (i = 0; i < ni; i++) {
            float *r = R + i * ldr;
            __m512 v = acc[i];
            if (mode == TILE_BIAS) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
            if (mode == TILE_ADD) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r), v);
            _mm512_mask_storeu_ps(r, m, v);
        }
    }
}

/* R (ni, nj) as dense_tiles: 32-wide tiles of 8 rows, then masked 16-wide
 * ones for the last nj mod 32 columns. */
NN_TARGET_AVX512 static void tiles512(float *R, size_t ldr, const float *A, size_t ai,
                                      size_t as, const float *P, size_t ldp, size_t K,
                                      size_t ni, size_t nj, const float *bias, tile_mode mode) {
    size_t i, j;
    for (j = 0; j + 32 <= nj; j += 32)
        for (i = 0; i < ni; i += 8)
            tile512_8x32(R + i * ldr + j, ldr, A + i * ai, ai, as, P + j, ldp, K,
                         min_size(8, ni - i), bias ? bias + j : NULL, mode);
    for (; j < nj; j += 16)
        for (i = 0; i < ni; i += 8)
            tile512_8x16(R + i * ldr + j, ldr, A + i * ai, ai, as, P + j, ldp, K,
                         min_size(8, ni - i), min_size(16, nj - j),
                         bias ? bias + j : NULL, mode);
}

NN_TARGET_AVX512 static void dense_forward_avx512(float *out, const float *x, const float *W,
                                                  const float *b, size_t B, size_t C,
                                                  size_t O) {
    size_t i;
    if (O == 1) {
        for (i = 0; i < B; i++) out[i] = dot_avx512(x + i * C, W, C) + b[0];
        return;
    }
    /* not packed: its tiles read two whole lines of each W row, a stride
     * the CPU's own streaming of memory follows well; measured here, the
     * copy cost more (5-10 % at 256 x 512 -> 512) than it saved */
    dense_forward_tiled(out, x, W, b, B, C, O, 32, tiles512, 0);
}

NN_TARGET_AVX512 static void dense_backward_avx512(float *dx, float *dW, float *db,
                                                   const float *dout, const float *x,
                                                   const float *W, size_t B, size_t C,
                                                   size_t O) {
    float T[DENSE_TO * DENSE_TC];
    size_t b0, c0, o0, s, t;
    dense_bias_grad(db, dout, B, O);
    if (O == 1) {
        for (b0 = 0; b0 < B; b0++) {
            if (dx) axpy_avx512(dx + b0 * C, dout[b0], W, C);
            axpy_avx512(dW, dout[b0], x + b0 * C, C);
        }
        return;
    }
    for (b0 = 0; b0 < B; b0 += DENSE_NB) /* unpacked: no cliff, and packing gained nothing */
        tiles512(dW, O, x + b0 * C, 1, C, dout + b0 * O, O, min_size(DENSE_NB, B - b0), C, O,
                 NULL, TILE_ONTO);
    if (!dx) return;
    for (c0 = 0; c0 < C; c0 += DENSE_TC) {
        const size_t nc = min_size(DENSE_TC, C - c0);
        for (o0 = 0; o0 < O; o0 += DENSE_TO) {
            const size_t no = min_size(DENSE_TO, O - o0);
            for (t = 0; t < nc; t++)
                for (s = 0; s < no; s++) T[s * DENSE_TC + t] = W[(c0 + t) * O + o0 + s];
            for (b0 = 0; b0 < B; b0 += DENSE_NB)
                tiles512(dx + b0 * C + c0, C, dout + b0 * O + o0, O, 1, T, DENSE_TC, no,
                         min_size(DENSE_NB, B - b0), nc, NULL, TILE_ADD);
        }
    }
}

#endif

/* Without AVX2 (NEON, scalar) the Dense layer is built from vec_dot and
 * vec_axpy, in the scalar twin's order: with the scalar kernels it gives
 * the twin's bits, with NEON it is vectorised along O (or C when O = 1). */

static void dense_forward_vec(float *out, const float *x, const float *W, const float *b,
                              size_t B, size_t C, size_t O) {
    size_t i, c;
    for (i = 0; i < B; i++) {
        float *y = out + i * O;
        if (O == 1) {
            y[0] = vec_dot(x + i * C, W, C) + b[0];
            continue;
        }
        memset(y, 0, O * sizeof *y);
        for (c = 0; c < C; c++) vec_axpy(y, x[i * C + c], W + c * O, O);
        vec_axpy(y, 1.0f, b, O); /* the bias last, as the twin */
    }
}

static void dense_backward_vec(float *dx, float *dW, float *db, const float *dout,
                               const float *x, const float *W, size_t B, size_t C,
                               size_t O) {
    size_t i, c;
    dense_bias_grad(db, dout, B, O);
    for (i = 0; i < B; i++) {
        const float *g = dout + i * O, *xi = x + i * C;
        if (O == 1) {
            if (dx) vec_axpy(dx + i * C, g[0], W, C);
            vec_axpy(dW, g[0], xi, C);
            continue;
        }
        if (dx)
            for (c = 0; c < C; c++) dx[i * C + c] += vec_dot(g, W + c * O, O);
        for (c = 0; c < C; c++) vec_axpy(dW + c * O, xi[c], g, O);
    }
}

void nn_dense_forward(float *out, const float *x, const float *W, const float *b,
                      size_t B, size_t C, size_t O) {
    kernels()->dense_forward(out, x, W, b, B, C, O);
}

void nn_dense_backward(float *dx, float *dW, float *db, const float *dout,
                       const float *x, const float *W, size_t B, size_t C,
                       size_t O) {
    kernels()->dense_backward(dx, dW, db, dout, x, W, B, C, O);
}

/* ---------------------------------------------------------- activations */

const char *nn_activation_name(nn_activation a) {
    switch (a) {
    case NN_LINEAR: return "linear";
    case NN_RELU: return "relu";
    case NN_SIGMOID: return "sigmoid";
    case NN_TANH: return "tanh";
    }
    return "?";
}

int nn_activation_parse(const char *name, nn_activation *a) {
    static const nn_activation all[] = {NN_LINEAR, NN_RELU, NN_SIGMOID, NN_TANH};
    size_t i;
    for (i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, nn_activation_name(all[i])) == 0) {
            *a = all[i];
            return 0;
        }
    return -1;
}

/* 1/(1+e^−x) in a form whose exponent is never positive: e^−x overflows to
 * inf for x < −88.7 and e^x for x > 88.7, so each side of 0 takes the form
 * with e^−|x| ∈ (0, 1]. Both are within a few ulps; far out the result is
 * 0 (a subnormal, then 0) or 1, never NaN. */
static float sigmoidf(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    {
        const float e = expf(x);
        return e / (1.0f + e);
    }
}

/* keep ? x : +0, without a branch: x's bits under an all-ones or an
 * all-zeros mask. The conditions below (an input's sign, a dropout draw)
 * are coin tosses, and a compiler targeting plain x86-64 (no blend
 * instruction) would otherwise branch on each and mispredict often. */
static float keep_or_zero(int keep, float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits &= (uint32_t)0 - (uint32_t)(keep != 0);
    memcpy(&x, &bits, sizeof x);
    return x;
}

void nn_activation_forward(float *out, const float *x, size_t n, nn_activation a) {
    size_t i;
    switch (a) {
    case NN_LINEAR:
        if (out != x) memmove(out, x, n * sizeof *out);
        break;
    case NN_RELU: /* x < 0 ? 0 : x, not x > 0 ? x : 0, so a NaN passes through */
        for (i = 0; i < n; i++) out[i] = keep_or_zero(!(x[i] < 0.0f), x[i]);
        break;
    case NN_SIGMOID:
        for (i = 0; i < n; i++) out[i] = sigmoidf(x[i]);
        break;
    case NN_TANH:
        for (i = 0; i < n; i++) out[i] = tanhf(x[i]);
        break;
    }
}

void nn_activation_backward(float *dx, const float *dout, const float *y, size_t n,
                            nn_activation a) {
    size_t i;
    switch (a) {
    case NN_LINEAR:
        for (i = 0; i < n; i++) dx[i] += dout[i];
        break;
    case NN_RELU: /* the subgradient at 0 is 0, as TensorFlow's ReluGrad */
        for (i = 0; i < n; i++) dx[i] += keep_or_zero(y[i] > 0.0f, dout[i]);
        break;
    case NN_SIGMOID: /* σ' = σ(1−σ) */
        for (i = 0; i < n; i++) dx[i] += dout[i] * (y[i] * (1.0f - y[i]));
        break;
    case NN_TANH: /* tanh' = 1 − tanh² */
        for (i = 0; i < n; i++) dx[i] += dout[i] * (1.0f - y[i] * y[i]);
        break;
    }
}

/* -------------------------------------------------------------- dropout */

/* The draw u = (r >> 11)·2^−53 of nn_rng_uniform compared with rate, as a
 * compare of the raw 64-bit word r: u ≥ rate ⇔ r >> 11 ≥ ⌈rate·2^53⌉ (rate·2^53
 * is exact in double, and r >> 11 is an integer) ⇔ r ≥ ⌈rate·2^53⌉·2^11. So
 * the masks are nn_rng_uniform's to the bit, without a conversion to double
 * per element. rate < 1, so ⌈rate·2^53⌉ < 2^53 and the shift cannot overflow. */
static uint64_t dropout_threshold(float rate) {
    return (uint64_t)ceil((double)rate * 0x1p53) << 11;
}

void nn_dropout_forward(float *out, float *mask, const float *x, size_t n,
                        float rate, nn_rng *rng) {
    size_t i;
    assert(rate >= 0.0f && rate < 1.0f); /* the caller validates the option */
    if (rate == 0.0f) {
        /* Keras applies no dropout at rate 0 (`if 0. < self.rate < 1.`): no
         * draws, so the random stream is as if the layer were absent */
        for (i = 0; i < n; i++) {
            mask[i] = 1.0f;
            out[i] = x[i];
        }
        return;
    }
    {
        const float scale = 1.0f / (1.0f - rate); /* float32, as TensorFlow */
        const uint64_t keep_from = dropout_threshold(rate);
        for (i = 0; i < n; i++) {
            /* kept with probability P(u ≥ rate) = 1 − rate, u uniform in [0, 1) */
            mask[i] = keep_or_zero(nn_rng_next(rng) >= keep_from, scale);
            out[i] = x[i] * mask[i];
        }
    }
}

void nn_dropout_backward(float *dx, const float *dout, const float *mask, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) dx[i] += dout[i] * mask[i];
}

/* ------------------------------------------------------ multiply, concat */

void nn_mul_forward(float *out, const float *a, const float *c, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = a[i] * c[i];
}

void nn_mul_backward(float *da, float *dc, const float *dout, const float *a,
                     const float *c, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        da[i] += dout[i] * c[i];
        dc[i] += dout[i] * a[i];
    }
}

void nn_concat_forward(float *out, size_t ldo, size_t off, const float *x,
                       size_t ldx, size_t B, size_t C) {
    size_t i;
    for (i = 0; i < B; i++) memcpy(out + i * ldo + off, x + i * ldx, C * sizeof *out);
}

void nn_concat_backward(float *dx, size_t ldx, const float *dout, size_t ldo,
                        size_t off, size_t B, size_t C) {
    size_t i, c;
    for (i = 0; i < B; i++)
        for (c = 0; c < C; c++) dx[i * ldx + c] += dout[i * ldo + off + c];
}

/* ================================================================= loss */

double nn_mse_forward(const float *pred, const float *y, size_t B) {
    double sum = 0.0; /* float32 would lose digits over a 5000-row batch */
    size_t b;
    if (B == 0) return 0.0;
    for (b = 0; b < B; b++) {
        double d = (double)pred[b] - (double)y[b];
        sum += d * d;
    }
    return sum / (double)B; /* L = (1/B) Σ (ŷ − y)² */
}

void nn_mse_backward(float *dpred, const float *pred, const float *y, size_t B) {
    size_t b;
    for (b = 0; b < B; b++)
        dpred[b] = 2.0f * (pred[b] - y[b]) / (float)B; /* ∂L/∂ŷ_b = 2(ŷ_b − y_b)/B */
}

double nn_bce_logits_forward(const float *z, const float *y, size_t B) {
    double sum = 0.0;
    size_t b;
    if (B == 0) return 0.0;
    for (b = 0; b < B; b++) {
        const double zb = z[b], yb = y[b];
        /* −[y log σ(z) + (1−y) log(1−σ(z))] = max(z,0) − z·y + log(1 + e^−|z|):
         * the exponent is never positive, and log1p keeps the digits of
         * log(1 + tiny) when |z| is large */
        sum += (zb > 0.0 ? zb : 0.0) - zb * yb + log1p(exp(-fabs(zb)));
    }
    return sum / (double)B;
}

void nn_bce_logits_backward(float *dz, const float *z, const float *y, size_t B) {
    size_t b;
    for (b = 0; b < B; b++) dz[b] = (sigmoidf(z[b]) - y[b]) / (float)B; /* (σ(z) − y)/B */
}

/* ====================================================== parameter block
 * A zeroed nn_params (`nn_params ps = {0};` or memset) is an empty block:
 * nn_params_add the tensors, then nn_params_alloc. */

#define NN_TENSOR_ALIGN (NN_ALIGN / sizeof(float)) /* floats: tensors start on a cache line */

size_t nn_params_add(nn_params *ps, const char *name, size_t rows, size_t k,
                     int sparse) {
    const size_t none = (size_t)-1;
    size_t stride = k == 1 ? 1 : nn_stride(k), offset, i; /* a bias: one float a row */
    nn_tensor *t;
    if (ps->n_tensors >= NN_MAX_TENSORS || ps->w) return none;
    if (stride < k || (stride && rows > SIZE_MAX / stride)) return none; /* overflow */
    if (sparse && rows > (size_t)UINT32_MAX + 1) return none; /* rows are uint32 ids */
    if (ps->n > SIZE_MAX - NN_TENSOR_ALIGN) return none;
    offset = (ps->n + NN_TENSOR_ALIGN - 1) / NN_TENSOR_ALIGN * NN_TENSOR_ALIGN;
    if (rows * stride > SIZE_MAX / sizeof(float) - offset) return none;
    i = ps->n_tensors++;
    t = &ps->t[i];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->rows = rows;
    t->k = k;
    t->stride = stride;
    t->offset = offset;
    t->sparse = sparse ? 1 : 0;
    ps->n = offset + rows * stride;
    return i;
}

int nn_params_alloc(nn_params *ps) {
    size_t i;
    ps->w = nn_alloc(ps->n * sizeof(float)); /* nn_params_add kept this from overflowing */
    ps->dw = nn_alloc(ps->n * sizeof(float));
    if (!ps->w || !ps->dw) goto fail;
    for (i = 0; i < ps->n_tensors; i++) {
        nn_tensor *t = &ps->t[i];
        if (!t->sparse) continue;
        t->touched = nn_alloc(t->rows * sizeof *t->touched);
        t->is_touched = nn_alloc(t->rows);
        t->n_touched = 0;
        if (!t->touched || !t->is_touched) goto fail;
    }
    return 0;
fail:
    nn_params_free(ps);
    return -1;
}

void nn_params_free(nn_params *ps) {
    size_t i;
    for (i = 0; i < ps->n_tensors && i < NN_MAX_TENSORS; i++) {
        nn_free(ps->t[i].touched);
        nn_free(ps->t[i].is_touched);
    }
    nn_free(ps->w);
    nn_free(ps->dw);
    memset(ps, 0, sizeof *ps);
}

float *nn_param(const nn_params *ps, size_t tensor) {
    return ps->w + ps->t[tensor].offset;
}

float *nn_grad(const nn_params *ps, size_t tensor) {
    return ps->dw + ps->t[tensor].offset;
}

void nn_params_touch(nn_params *ps, size_t tensor, uint32_t row) {
    nn_tensor *t = &ps->t[tensor];
    if (!t->sparse) return;
    assert(row < t->rows); /* a caller bug, not bad input: ids are mapped first */
    if (t->is_touched[row]) return; /* each row once, however often it is in the batch */
    t->is_touched[row] = 1;
    t->touched[t->n_touched++] = row;
}

void nn_params_zero_grad(nn_params *ps) {
    size_t i, j;
    for (i = 0; i < ps->n_tensors; i++) {
        nn_tensor *t = &ps->t[i];
        float *dw = ps->dw + t->offset;
        if (!t->sparse) {
            memset(dw, 0, t->rows * t->stride * sizeof *dw);
            continue;
        }
        /* only the touched rows can be non-zero: O(batch), not O(rows) */
        for (j = 0; j < t->n_touched; j++) {
            uint32_t r = t->touched[j];
            memset(dw + (size_t)r * t->stride, 0, t->stride * sizeof *dw);
            t->is_touched[r] = 0;
        }
        t->n_touched = 0;
    }
}

/* =========================================================== optimisers */

nn_optimizer_config nn_optimizer_defaults(nn_optimizer_kind kind) {
    nn_optimizer_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.update = NN_UPDATE_DENSE; /* what Keras does, and so what the notebooks ran */
    switch (kind) {
    case NN_SGD:  /* keras.optimizers.SGD(lr=0.01, momentum=0., decay=0., nesterov=False) */
        c.lr = 0.01f;
        break;
    case NN_ADAM: /* Adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=None → K.epsilon() = 1e-7) */
        c.lr = 0.001f;
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
        c.epsilon = 1e-7f;
        break;
    case NN_ADAMAX: /* Adamax(lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=None → 1e-7) */
        c.lr = 0.002f;
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
        c.epsilon = 1e-7f;
        break;
    case NN_ROWWISE_ADAGRAD: /* LIBMF's default rate (mf-train -r 0.1) */
        c.lr = 0.1f;
        c.update = NN_UPDATE_LAZY; /* (the same as dense for it) */
        break;
    }
    return c;
}

const char *nn_optimizer_name(nn_optimizer_kind kind) {
    switch (kind) {
    case NN_SGD: return "sgd";
    case NN_ADAM: return "adam";
    case NN_ADAMAX: return "adamax";
    case NN_ROWWISE_ADAGRAD: return "rowwise-adagrad";
    }
    return "?";
}

int nn_optimizer_parse(const char *name, nn_optimizer_kind *kind) {
    static const nn_optimizer_kind all[] = {NN_SGD, NN_ADAM, NN_ADAMAX, NN_ROWWISE_ADAGRAD};
    size_t i;
    for (i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, nn_optimizer_name(all[i])) == 0) {
            *kind = all[i];
            return 0;
        }
    return -1;
}

const char *nn_update_name(nn_update_mode mode) {
    switch (mode) {
    case NN_UPDATE_DENSE: return "dense";
    case NN_UPDATE_LAZY: return "lazy";
    case NN_UPDATE_DENSE_SWEEP: return "dense-sweep";
    }
    return "?";
}

int nn_update_parse(const char *name, nn_update_mode *mode) {
    if (name && strcmp(name, "dense") == 0) *mode = NN_UPDATE_DENSE;
    else if (name && strcmp(name, "lazy") == 0) *mode = NN_UPDATE_LAZY;
    else if (name && strcmp(name, "dense-sweep") == 0) *mode = NN_UPDATE_DENSE_SWEEP;
    else return -1;
    return 0;
}

int nn_optimizer_init(nn_optimizer *opt, nn_optimizer_config cfg, size_t n) {
    memset(opt, 0, sizeof *opt);
    opt->cfg = cfg;
    opt->n = n;
    if (cfg.kind == NN_SGD) return 0; /* plain SGD keeps no state */
    if (n > SIZE_MAX / sizeof(float)) return -1;
    opt->m = nn_alloc(n * sizeof(float));
    opt->v = nn_alloc(n * sizeof(float));
    if (!opt->m || !opt->v) {
        nn_optimizer_free(opt);
        return -1;
    }
    return 0;
}

void nn_optimizer_free(nn_optimizer *opt) {
    nn_free(opt->m);
    nn_free(opt->v);
    memset(opt, 0, sizeof *opt);
}

/* Row-wise AdaGrad over [off, off + len) of the block: whole rows of its
 * tensors, each with its own accumulator */
static void rowwise_span(const nn_optimizer *opt, nn_params *ps, size_t off, size_t len,
                         float lr) {
    size_t i, r;
    for (i = 0; i < ps->n_tensors; i++) {
        const nn_tensor *t = &ps->t[i];
        size_t end = t->offset + t->rows * t->stride;
        if (end <= off || t->offset >= off + len) continue;
        assert((off <= t->offset || (off - t->offset) % t->stride == 0) &&
               (off + len >= end || (off + len - t->offset) % t->stride == 0)); /* whole rows */
        for (r = off > t->offset ? (off - t->offset) / t->stride : 0;
             r < t->rows && t->offset + r * t->stride < off + len; r++) {
            size_t at = t->offset + r * t->stride;
            nn_rowwise_adagrad_row(ps->w + at, ps->dw + at, opt->v + at, t->k, lr);
        }
    }
}

void nn_optimizer_update_span(const nn_optimizer *opt, nn_params *ps, size_t off, size_t len,
                              float lr_t) {
    const nn_optimizer_config *c = &opt->cfg;
    switch (c->kind) {
    case NN_SGD:
        nn_sgd_update(ps->w + off, ps->dw + off, len, lr_t);
        break;
    case NN_ADAM:
        nn_adam_update(ps->w + off, ps->dw + off, opt->m + off, opt->v + off, len,
                       lr_t, c->beta1, c->beta2, c->epsilon);
        break;
    case NN_ADAMAX:
        nn_adamax_update(ps->w + off, ps->dw + off, opt->m + off, opt->v + off, len,
                         lr_t, c->beta1, c->beta2, c->epsilon);
        break;
    case NN_ROWWISE_ADAGRAD:
        rowwise_span(opt, ps, off, len, lr_t);
        break;
    }
}

float nn_optimizer_rate(const nn_optimizer_config *c, uint64_t t) {
    if (c->kind == NN_ADAM) return nn_adam_lr_t(c->lr, c->beta1, c->beta2, t);
    if (c->kind == NN_ADAMAX) return nn_adamax_lr_t(c->lr, c->beta1, t);
    return c->lr;
}

void nn_optimizer_resume(nn_optimizer *opt, const float *m, const float *v, uint64_t t) {
    if (opt->m && m) memcpy(opt->m, m, opt->n * sizeof *opt->m);
    if (opt->v && v) memcpy(opt->v, v, opt->n * sizeof *opt->v);
    opt->t = t;
}

void nn_optimizer_step(nn_optimizer *opt, nn_params *ps) {
    float lr_t;
    size_t i, j;
    assert(ps->n == opt->n); /* state and block share one layout */
    opt->t += 1;             /* Keras: t = iterations + 1, counted from 1 */
    lr_t = nn_optimizer_rate(&opt->cfg, opt->t);
    if (opt->cfg.update != NN_UPDATE_LAZY && opt->cfg.kind != NN_ROWWISE_ADAGRAD) {
        /* dense: every parameter, every step; padding and gaps have
         * g = m = v = 0, so they stay 0 */
        nn_optimizer_update_span(opt, ps, 0, ps->n, lr_t);
        return;
    }
    for (i = 0; i < ps->n_tensors; i++) { /* lazy: the batch's rows (the step count is global) */
        const nn_tensor *t = &ps->t[i];
        if (!t->sparse) {
            nn_optimizer_update_span(opt, ps, t->offset, t->rows * t->stride, lr_t);
            continue;
        }
        for (j = 0; j < t->n_touched; j++)
            nn_optimizer_update_span(opt, ps, t->offset + (size_t)t->touched[j] * t->stride,
                                     t->stride, lr_t);
    }
}

/* ================================================================ shares
 * Work cut into shares (an evaluation's chunks, a t-SNE step's points):
 * the core runs them one after another on the calling thread; the speed
 * machinery may install a runner that gives each its own thread. Either way
 * every share runs once, and a caller that sums the shares' results in
 * share order gets the same bits. */

static nn_share_runner share_runner; /* NULL: one after another */

void nn_use_share_runner(nn_share_runner run) { share_runner = run; }

void nn_run_shares(size_t T, nn_task fn, void *ctx) {
    size_t t;
    if (T < 1) T = 1;
    if (share_runner) {
        share_runner(T, fn, ctx);
        return;
    }
    for (t = 0; t < T; t++) fn(ctx, t, T);
}

size_t nn_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

/* ================================================== choosing the path
 * One table of kernels per path compiled in. The choice is made once, on
 * the first kernel call or by nn_simd_select, and kept in `active`: the one
 * piece of state here that is not passed in, since the CPU it describes is
 * the same for every caller. The loads and stores are relaxed atomics where
 * the compiler has them (a table is constant data, so whichever thread
 * makes the first choice, every thread reads a complete table). */

static const nn_kernels scalar_kernels = {
    .name = "scalar",
    .dot = vec_dot_scalar,
    .axpy = vec_axpy_scalar,
    .scale = vec_scale_scalar,
    .sgd = nn_sgd_update_scalar,
    .sgd_dot = nn_sgd_dot_step_scalar,
    .adam = nn_adam_update_scalar,
    .adamax = nn_adamax_update_scalar,
    .dense_forward = dense_forward_vec,
    .dense_backward = dense_backward_vec,
};

#if defined(NN_AVX2)
static const nn_kernels avx2_kernels = {
    .name = "avx2+fma",
    .dot = dot_avx2,
    .axpy = axpy_avx2,
    .scale = scale_avx2,
    .sgd = sgd_avx2,
    .sgd_dot = sgd_dot_avx2,
    .adam = adam_avx2,
    .adamax = adamax_avx2,
    .dense_forward = dense_forward_avx2,
    .dense_backward = dense_backward_avx2,
};

/* Both AVX2 and FMA: the kernels use the two together. */
static int cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static const nn_kernels avx512_kernels = {
    .name = "avx512f",
    .dot = dot_avx512,
    .axpy = axpy_avx512,
    .scale = scale_avx512,
    .sgd = sgd_avx2,
    .sgd_dot = sgd_dot_avx2,
    .adam = adam_avx2,
    .adamax = adamax_avx2,
    .dense_forward = dense_forward_avx512,
    .dense_backward = dense_backward_avx512,
};

/* AVX-512F beside AVX2 and FMA (the kernels mix 256- and 512-bit code);
 * __builtin_cpu_supports also asks whether the OS saves the 512-bit state. */
static int cpu_has_avx512f(void) {
    return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
}
#endif

#if defined(NN_NEON)
static const nn_kernels neon_kernels = {
    .name = "neon",
    .dot = dot_neon,
    .axpy = axpy_neon,
    .scale = scale_neon,
    .sgd = sgd_neon,
    .sgd_dot = sgd_dot_neon,
    .adam = adam_neon,
    .adamax = adamax_neon,
    .dense_forward = dense_forward_vec,
    .dense_backward = dense_backward_vec,
};
#endif

/* Before the first choice `active` holds this table, whose every kernel
 * makes the choice and then calls the chosen one. So a kernel call is
 * always one load and one jump, with no test for "not chosen yet". */
static const nn_kernels *choose_first(void);

static float dot_first(const float *a, const float *b, size_t n) {
    return choose_first()->dot(a, b, n);
}
static void axpy_first(float *y, float a, const float *x, size_t n) {
    choose_first()->axpy(y, a, x, n);
}
static void scale_first(float *x, float a, size_t n) { choose_first()->scale(x, a, n); }
static void sgd_first(float *p, const float *g, size_t n, float lr) {
    choose_first()->sgd(p, g, n, lr);
}
static void sgd_dot_first(float *p, float *q, size_t n, float e, float l2, float lr) {
    choose_first()->sgd_dot(p, q, n, e, l2, lr);
}
static void adam_first(float *p, const float *g, float *m, float *v, size_t n, float lr_t,
                       float beta1, float beta2, float eps) {
    choose_first()->adam(p, g, m, v, n, lr_t, beta1, beta2, eps);
}
static void adamax_first(float *p, const float *g, float *m, float *u, size_t n, float lr_t,
                         float beta1, float beta2, float eps) {
    choose_first()->adamax(p, g, m, u, n, lr_t, beta1, beta2, eps);
}
static void dense_forward_first(float *out, const float *x, const float *W, const float *b,
                                size_t B, size_t C, size_t O) {
    choose_first()->dense_forward(out, x, W, b, B, C, O);
}
static void dense_backward_first(float *dx, float *dW, float *db, const float *dout,
                                 const float *x, const float *W, size_t B, size_t C, size_t O) {
    choose_first()->dense_backward(dx, dW, db, dout, x, W, B, C, O);
}

static const nn_kernels first_kernels = {
    .name = NULL,
    .dot = dot_first,
    .axpy = axpy_first,
    .scale = scale_first,
    .sgd = sgd_first,
    .sgd_dot = sgd_dot_first,
    .adam = adam_first,
    .adamax = adamax_first,
    .dense_forward = dense_forward_first,
    .dense_backward = dense_backward_first,
};

static const nn_kernels *active = &first_kernels;

#if defined(__GNUC__)
static const nn_kernels *active_load(void) { return __atomic_load_n(&active, __ATOMIC_RELAXED); }
static void active_store(const nn_kernels *k) { __atomic_store_n(&active, k, __ATOMIC_RELAXED); }
#else
static const nn_kernels *active_load(void) { return active; }
static void active_store(const nn_kernels *k) { active = k; }
#endif

/* The fastest path this build runs on this CPU. */
static const nn_kernels *best_kernels(void) {
#if defined(NN_AVX2)
    if (cpu_has_avx512f()) return &avx512_kernels;
    if (cpu_has_avx2_fma()) return &avx2_kernels;
#elif defined(NN_NEON)
    return &neon_kernels;
#endif
    return &scalar_kernels;
}

/* The path name asks for, or NULL when this build or CPU has none such. */
static const nn_kernels *named_kernels(const char *name) {
    if (!name || !*name || strcmp(name, "auto") == 0) return best_kernels();
    if (strcmp(name, "scalar") == 0) return &scalar_kernels;
#if defined(NN_AVX2)
    if ((strcmp(name, "avx2") == 0 || strcmp(name, avx2_kernels.name) == 0) && cpu_has_avx2_fma())
        return &avx2_kernels;
    if ((strcmp(name, "avx512") == 0 || strcmp(name, avx512_kernels.name) == 0) &&
        cpu_has_avx512f())
        return &avx512_kernels;
#endif
#if defined(NN_NEON)
    if (strcmp(name, neon_kernels.name) == 0) return &neon_kernels;
#endif
    return NULL;
}

int nn_simd_select(const char *name) {
    const nn_kernels *k = named_kernels(name);
    if (!k) return -1;
    active_store(k);
    return 0;
}

/* The path chosen, choosing it now if no call has yet: EMBREC_SIMD's path
 * when it names one this machine runs, else the best. */
static const nn_kernels *choose_first(void) {
    const nn_kernels *k = active_load();
    if (k != &first_kernels) return k;
    k = named_kernels(getenv("EMBREC_SIMD"));
    if (!k) k = best_kernels();
    active_store(k);
    return k;
}

static const nn_kernels *kernels(void) { return active_load(); }

const char *vec_path(void) { return choose_first()->name; }
vec_dot_fn vec_dot_kernel(void) { return choose_first()->dot; }
nn_sgd_dot_step_fn nn_sgd_dot_step_kernel(void) { return choose_first()->sgd_dot; }
