/* simd/avx512.c — the AVX-512F kernels: the AVX2 kernels' arithmetic,
 * twice as wide, compiled one function at a time (NN_TARGET_AVX512) and
 * run only where the CPU has AVX-512F beside AVX2 and FMA.
 *
 *   simd_avx512_dot             mirrors vec_dot_scalar, with AVX2's bits
 *   simd_avx512_axpy, _scale    vec_axpy_scalar, vec_scale_scalar
 *   simd_avx512_dense_forward   nn_dense_forward_scalar  (32-wide tiles,
 *   simd_avx512_dense_backward  nn_dense_backward_scalar  simd/dense_tiled.c)
 *
 * Every result keeps the AVX2 path's bits: dot keeps its four 8-lane
 * partial sums (two 16-lane registers hold them side by side, added in the
 * same pairs); axpy and scale are element by element (fused over whole
 * blocks of 8, the last n mod 8 as the scalar twin, as AVX2); the Dense
 * tiles add each output's terms in the same order, in the same panels. So
 * choosing it changes speed only. The optimiser loops are AVX2's (element
 * by element; wider registers would give the same bits and they are
 * memory-bound). */
#include "nn.h"
#include "simd/x86.h"

#if defined(NN_AVX2)

NN_TARGET_AVX512 float simd_avx512_dot(const float *a, const float *b, size_t n) {
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

NN_TARGET_AVX512 void simd_avx512_axpy(float *y, float a, const float *x, size_t n) {
    const __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i),
                                                _mm512_loadu_ps(y + i)));
    if (i + 8 <= n) { /* a block of 8, then the scalar tail, as AVX2 */
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm512_castps512_ps256(va), _mm256_loadu_ps(x + i),
                                                _mm256_loadu_ps(y + i)));
        i += 8;
    }
    for (; i < n; i++) y[i] += a * x[i];
}

NN_TARGET_AVX512 void simd_avx512_scale(float *x, float a, size_t n) {
    const __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), va));
    simd_avx2_scale(x + i, a, n - i);
}

/* ========================================================== Dense tiles */

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

/* R (ni, nj) as AVX2's dense_tiles: 32-wide tiles of 8 rows, then masked
 * 16-wide ones for the last nj mod 32 columns. */
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

/* Nothing packed. Forward: its tiles read two whole lines of each W row, a
 * stride the CPU's own streaming of memory follows well; measured here, the
 * copy cost more (5-10 % at 256 x 512 -> 512) than it saved. dW: no cliff,
 * and packing gained nothing (see dense_dW_packed). */
static const dense_path avx512_dense = {
    .tiles = tiles512,
    .width = 32,
    .dot = simd_avx512_dot,
    .axpy = simd_avx512_axpy,
    .pack_forward = 0,
    .pack_dW = 0,
};

void simd_avx512_dense_forward(float *out, const float *x, const float *W, const float *b,
                               size_t B, size_t C, size_t O) {
    simd_dense_forward(&avx512_dense, out, x, W, b, B, C, O);
}

void simd_avx512_dense_backward(float *dx, float *dW, const float *dout, const float *x,
                                const float *W, size_t B, size_t C, size_t O) {
    simd_dense_backward(&avx512_dense, dx, dW, dout, x, W, B, C, O);
}

#endif
