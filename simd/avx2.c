/* simd/avx2.c — the AVX2/FMA kernels, compiled for AVX2 one function at a
 * time (NN_TARGET_AVX2) and run only where the CPU has AVX2 and FMA.
 *
 *   simd_avx2_dot             mirrors vec_dot_scalar (four partial sums)
 *   simd_avx2_axpy, _scale    vec_axpy_scalar, vec_scale_scalar
 *   simd_avx2_sgd             nn_sgd_update_scalar
 *   simd_avx2_sgd_dot         nn_sgd_dot_step_scalar
 *   simd_avx2_adam            nn_adam_update_scalar
 *   simd_avx2_adamax          nn_adamax_update_scalar
 *   simd_avx2_dense_forward   nn_dense_forward_scalar   (16-wide tiles,
 *   simd_avx2_dense_backward  nn_dense_backward_scalar   simd/dense_tiled.c)
 *
 * The optimiser loops hand the n mod 8 elements past their last full
 * register to their scalar twins, so they give the twin's bits; axpy and
 * scale write their twin's one-line loop in place (a call per row of the
 * dot model's 100 would cost more than those four elements). */
#include "nn.h"
#include "simd/x86.h"

#if defined(NN_AVX2)

/* ======================================================== dense kernels */

NN_TARGET_AVX2 float simd_avx2_dot(const float *a, const float *b, size_t n) {
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

NN_TARGET_AVX2 void simd_avx2_axpy(float *y, float a, const float *x, size_t n) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i]; /* vec_axpy_scalar's tail, inlined: rows of 100 */
}

NN_TARGET_AVX2 void simd_avx2_scale(float *x, float a, size_t n) {
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
    for (; i < n; i++) x[i] *= a; /* vec_scale_scalar's tail, inlined */
}

/* ======================================================== optimiser loops
 * The same float32 operations as the scalar loops, in the same order (no
 * FMA: a fused multiply-add rounds once where Keras rounds twice). */

NN_TARGET_AVX2 void simd_avx2_sgd(float *p, const float *g, size_t n, float lr) {
    const __m256 vlr = _mm256_set1_ps(lr);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 step = _mm256_mul_ps(vlr, _mm256_loadu_ps(g + i));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
    }
    nn_sgd_update_scalar(p + i, g + i, n - i, lr);
}

NN_TARGET_AVX2 void simd_avx2_sgd_dot(float *p, float *q, size_t n, float e, float l2,
                                      float lr) {
    const __m256 ve = _mm256_set1_ps(e), vl2 = _mm256_set1_ps(l2), vlr = _mm256_set1_ps(lr);
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* as vec_axpy (FMA) twice, then nn_sgd_update */
        __m256 pi = _mm256_loadu_ps(p + i), qi = _mm256_loadu_ps(q + i);
        __m256 gp = _mm256_fmadd_ps(vl2, pi, _mm256_fmadd_ps(ve, qi, zero));
        __m256 gq = _mm256_fmadd_ps(vl2, qi, _mm256_fmadd_ps(ve, pi, zero));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(vlr, gp)));
        _mm256_storeu_ps(q + i, _mm256_sub_ps(qi, _mm256_mul_ps(vlr, gq)));
    }
    nn_sgd_dot_step_scalar(p + i, q + i, n - i, e, l2, lr);
}

NN_TARGET_AVX2 void simd_avx2_adam(float *p, const float *g, float *m, float *v, size_t n,
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

NN_TARGET_AVX2 void simd_avx2_adamax(float *p, const float *g, float *m, float *u, size_t n,
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

/* ========================================================== Dense tiles
 * A tile is held in eight AVX registers (enough independent FMA chains to
 * cover the FMA latency on two pipes) while s sweeps, so each load feeds
 * several FMAs. Edge tiles repeat their last row, whose results are not
 * stored, and mask their columns: no scalar clean-up loops and no access
 * past an array's end (masked-off lanes are not touched). */

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

/* R (ni, nj) from A and P: 16-wide tiles of 4 rows, then 8-wide (masked)
 * tiles of 8 rows for the last nj mod 16 columns. */
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

/* W packed for the forward pass, x and dout for dW: both pay on this path
 * (see dense_pack and dense_dW_packed) */
static const dense_path avx2_dense = {
    .tiles = dense_tiles,
    .width = 16,
    .dot = simd_avx2_dot,
    .axpy = simd_avx2_axpy,
    .pack_forward = 1,
    .pack_dW = 1,
};

void simd_avx2_dense_forward(float *out, const float *x, const float *W, const float *b,
                             size_t B, size_t C, size_t O) {
    simd_dense_forward(&avx2_dense, out, x, W, b, B, C, O);
}

void simd_avx2_dense_backward(float *dx, float *dW, const float *dout, const float *x,
                              const float *W, size_t B, size_t C, size_t O) {
    simd_dense_backward(&avx2_dense, dx, dW, dout, x, W, B, C, O);
}

#endif
