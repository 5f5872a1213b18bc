/* nn.c — the numerical pieces embrec's models are built from.
 *
 * Dense kernels (dot, axpy, scale and the three optimiser loops), each with a
 * readable scalar reference and, where the compiler targets it, an AVX2/FMA
 * or NEON version; the random-number generator; Keras's initialisers; the
 * embedding lookup and its backward pass; the MSE loss; the parameter block
 * with its touched-row sets; and SGD, Adam and AdaMax exactly as Keras 2.1.6
 * writes them (float32, same operations in the same order).
 *
 * What it deliberately does not do: no threads, no BLAS, no automatic
 * differentiation, no layers beyond what the models need, no runtime CPU
 * detection (the path is chosen when compiling: `make SIMD=0` for scalar),
 * and no -ffast-math or approximate rsqrt/rcp — the optimiser loops must
 * give the same bits on every path so that results can be compared with the
 * reference fixtures in tests/ref/.
 *
 * Build with -ffp-contract=off (the Makefile does; it is also gcc's default
 * under -std=c99): the scalar and SIMD optimiser loops are bit-identical only
 * when the compiler does not fuse a multiply and an add behind our back.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include "nn.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One SIMD path is chosen at compile time. NEON needs AArch64: vdivq_f32,
 * vsqrtq_f32 and vfmaq_f32 do not exist on 32-bit ARM NEON, and the
 * optimiser loops need a correctly rounded divide and square root. */
#if defined(__AVX2__) && defined(__FMA__) && !defined(EMBREC_NO_SIMD)
#define NN_AVX2 1
#include <immintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__) && !defined(EMBREC_NO_SIMD)
#define NN_NEON 1
#include <arm_neon.h>
#endif

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

void *nn_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes > SIZE_MAX - NN_ALIGN) return NULL; /* a size computed with overflow */
    if (bytes == 0) bytes = 1;                    /* a unique pointer, never NULL */
    if (posix_memalign(&p, NN_ALIGN, bytes) != 0) return NULL;
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
    const uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = nn_rng_next(rng);
        if (r >= threshold) return r % n;
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

static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    return _mm_cvtss_f32(s);
}

float vec_dot(const float *a, const float *b, size_t n) {
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

void vec_axpy(float *y, float a, const float *x, size_t n) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
                                                _mm256_loadu_ps(y + i)));
    vec_axpy_scalar(y + i, a, x + i, n - i);
}

void vec_scale(float *x, float a, size_t n) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
    vec_scale_scalar(x + i, a, n - i);
}

const char *vec_path(void) { return "avx2+fma"; }

#elif defined(NN_NEON)

float vec_dot(const float *a, const float *b, size_t n) {
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

void vec_axpy(float *y, float a, const float *x, size_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
    vec_axpy_scalar(y + i, a, x + i, n - i);
}

void vec_scale(float *x, float a, size_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), va));
    vec_scale_scalar(x + i, a, n - i);
}

const char *vec_path(void) { return "neon"; }

#else

float vec_dot(const float *a, const float *b, size_t n) { return vec_dot_scalar(a, b, n); }
void vec_axpy(float *y, float a, const float *x, size_t n) { vec_axpy_scalar(y, a, x, n); }
void vec_scale(float *x, float a, size_t n) { vec_scale_scalar(x, a, n); }
const char *vec_path(void) { return "scalar"; }

#endif

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

void nn_sgd_update(float *p, const float *g, size_t n, float lr) {
    const __m256 vlr = _mm256_set1_ps(lr);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 step = _mm256_mul_ps(vlr, _mm256_loadu_ps(g + i));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
    }
    nn_sgd_update_scalar(p + i, g + i, n - i, lr);
}

void nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
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

void nn_adamax_update(float *p, const float *g, float *m, float *u, size_t n,
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

#elif defined(NN_NEON)

void nn_sgd_update(float *p, const float *g, size_t n, float lr) {
    const float32x4_t vlr = vdupq_n_f32(lr);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t step = vmulq_f32(vlr, vld1q_f32(g + i));
        vst1q_f32(p + i, vsubq_f32(vld1q_f32(p + i), step));
    }
    nn_sgd_update_scalar(p + i, g + i, n - i, lr);
}

void nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
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

void nn_adamax_update(float *p, const float *g, float *m, float *u, size_t n,
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

#else

void nn_sgd_update(float *p, const float *g, size_t n, float lr) {
    nn_sgd_update_scalar(p, g, n, lr);
}
void nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
                    float lr_t, float beta1, float beta2, float eps) {
    nn_adam_update_scalar(p, g, m, v, n, lr_t, beta1, beta2, eps);
}
void nn_adamax_update(float *p, const float *g, float *m, float *u, size_t n,
                      float lr_t, float beta1, float beta2, float eps) {
    nn_adamax_update_scalar(p, g, m, u, n, lr_t, beta1, beta2, eps);
}

#endif

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

/* ====================================================== parameter block
 * A zeroed nn_params (`nn_params ps = {0};` or memset) is an empty block:
 * nn_params_add the tensors, then nn_params_alloc. */

#define NN_TENSOR_ALIGN (NN_ALIGN / sizeof(float)) /* floats: tensors start on a cache line */

size_t nn_params_add(nn_params *ps, const char *name, size_t rows, size_t k,
                     int sparse) {
    const size_t none = (size_t)-1;
    size_t stride = nn_stride(k), offset, i;
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
    }
    return c;
}

const char *nn_optimizer_name(nn_optimizer_kind kind) {
    switch (kind) {
    case NN_SGD: return "sgd";
    case NN_ADAM: return "adam";
    case NN_ADAMAX: return "adamax";
    }
    return "?";
}

int nn_optimizer_parse(const char *name, nn_optimizer_kind *kind) {
    static const nn_optimizer_kind all[] = {NN_SGD, NN_ADAM, NN_ADAMAX};
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
    }
    return "?";
}

int nn_update_parse(const char *name, nn_update_mode *mode) {
    if (name && strcmp(name, "dense") == 0) *mode = NN_UPDATE_DENSE;
    else if (name && strcmp(name, "lazy") == 0) *mode = NN_UPDATE_LAZY;
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

/* the chosen optimiser's loop over floats [off, off + len) of the block */
static void update_span(nn_optimizer *opt, nn_params *ps, size_t off, size_t len,
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
    }
}

void nn_optimizer_step(nn_optimizer *opt, nn_params *ps) {
    const nn_optimizer_config *c = &opt->cfg;
    float lr_t = c->lr;
    size_t i, j;
    assert(ps->n == opt->n); /* state and block share one layout */
    opt->t += 1;             /* Keras: t = iterations + 1, counted from 1 */
    if (c->kind == NN_ADAM) lr_t = nn_adam_lr_t(c->lr, c->beta1, c->beta2, opt->t);
    if (c->kind == NN_ADAMAX) lr_t = nn_adamax_lr_t(c->lr, c->beta1, opt->t);

    if (c->update == NN_UPDATE_DENSE) {
        /* one flat pass; padding and gaps have g = m = v = 0, so they stay 0 */
        update_span(opt, ps, 0, ps->n, lr_t);
        return;
    }
    /* lazy: rows outside the batch keep their weights and their state; the
     * step count t (and so lr_t) is still global, as in LazyAdam */
    for (i = 0; i < ps->n_tensors; i++) {
        const nn_tensor *t = &ps->t[i];
        if (!t->sparse) {
            update_span(opt, ps, t->offset, t->rows * t->stride, lr_t);
            continue;
        }
        for (j = 0; j < t->n_touched; j++)
            update_span(opt, ps, t->offset + (size_t)t->touched[j] * t->stride,
                        t->stride, lr_t);
    }
}
