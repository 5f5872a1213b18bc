/* nn.c — the numerical pieces embrec's models are built from.
 *
 * Dense kernels (dot, axpy, scale and the optimiser loops), each as its
 * readable scalar twin; the random-number generator; Keras's initialisers;
 * the embedding lookup and its backward pass; the layers between
 * embeddings and the output (Dense, activations, dropout, multiply,
 * concatenate); the MSE and binary cross-entropy losses; the parameter
 * block with its touched-row sets; and SGD, Adam and AdaMax exactly as
 * Keras 2.1.6 writes them (float32, same operations in the same order).
 *
 * The kernels' AVX2/FMA, AVX-512F and NEON versions (and the Dense layer's
 * blocked GEMM tiles) are in simd/, one file per instruction set beside
 * this one; each mirrors its scalar twin here (simd/kernels.h).
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

#include "simd/kernels.h" /* the SIMD paths compiled in: NN_AVX2, NN_NEON */

/* One path's kernels. The public kernels (vec_dot, nn_adam_update,
 * nn_dense_forward, ...) call through the chosen path's table. Its Dense
 * backward kernel leaves db to nn_dense_backward. */
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
    void (*dense_backward)(float *dx, float *dW, const float *dout, const float *x,
                           const float *W, size_t B, size_t C, size_t O);
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
 * loops (simd/) do the same float32 operations in the same order (no FMA: a
 * fused multiply-add rounds once where Keras rounds twice) and hand their
 * tail to the scalar loop, so every path gives the same bits. */

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
 * The AVX2 and AVX-512 versions (simd/dense_tiled.c) add the same terms in
 * the same order, but with fused multiply-adds (dx with O > 128 is summed
 * 128 o's at a time, each part added onto dx in turn); with O = 1 the
 * forward pass is vec_dot along C (four partial sums). So they differ from
 * the twin by rounding only, which the tests bound. db has no products: the
 * same bits on every path. */

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

static void dense_backward_vec(float *dx, float *dW, const float *dout, const float *x,
                               const float *W, size_t B, size_t C, size_t O) {
    size_t i, c;
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
    size_t i;
    /* db[o] += Σ_b dout[b,o] in order of b: additions only (a·1 is exact),
     * so vec_axpy gives the scalar twin's bits on every path */
    for (i = 0; i < B; i++) vec_axpy(db, 1.0f, dout + i * O, O);
    kernels()->dense_backward(dx, dW, dout, x, W, B, C, O);
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

/* lazy: the batch's rows of each sparse tensor, every row of the others
 * (the step count is global) */
static void lazy_step(const nn_optimizer *opt, nn_params *ps, float lr_t) {
    size_t i, j;
    for (i = 0; i < ps->n_tensors; i++) {
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

void nn_optimizer_step(nn_optimizer *opt, nn_params *ps) {
    float lr_t;
    assert(ps->n == opt->n); /* state and block share one layout */
    opt->t += 1;             /* Keras: t = iterations + 1, counted from 1 */
    lr_t = nn_optimizer_rate(&opt->cfg, opt->t);
    if (opt->cfg.update == NN_UPDATE_LAZY || opt->cfg.kind == NN_ROWWISE_ADAGRAD)
        lazy_step(opt, ps, lr_t);
    else /* dense: every parameter, every step; padding and gaps have g = m = v = 0 */
        nn_optimizer_update_span(opt, ps, 0, ps->n, lr_t);
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
    .dot = simd_avx2_dot,
    .axpy = simd_avx2_axpy,
    .scale = simd_avx2_scale,
    .sgd = simd_avx2_sgd,
    .sgd_dot = simd_avx2_sgd_dot,
    .adam = simd_avx2_adam,
    .adamax = simd_avx2_adamax,
    .dense_forward = simd_avx2_dense_forward,
    .dense_backward = simd_avx2_dense_backward,
};

/* Both AVX2 and FMA: the kernels use the two together. */
static int cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static const nn_kernels avx512_kernels = {
    .name = "avx512f",
    .dot = simd_avx512_dot,
    .axpy = simd_avx512_axpy,
    .scale = simd_avx512_scale,
    .sgd = simd_avx2_sgd,
    .sgd_dot = simd_avx2_sgd_dot,
    .adam = simd_avx2_adam,
    .adamax = simd_avx2_adamax,
    .dense_forward = simd_avx512_dense_forward,
    .dense_backward = simd_avx512_dense_backward,
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
    .dot = simd_neon_dot,
    .axpy = simd_neon_axpy,
    .scale = simd_neon_scale,
    .sgd = simd_neon_sgd,
    .sgd_dot = simd_neon_sgd_dot,
    .adam = simd_neon_adam,
    .adamax = simd_neon_adamax,
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
static void dense_backward_first(float *dx, float *dW, const float *dout, const float *x,
                                 const float *W, size_t B, size_t C, size_t O) {
    choose_first()->dense_backward(dx, dW, dout, x, W, B, C, O);
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
