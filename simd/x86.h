/* simd/x86.h — what the x86 kernels (simd/avx2.c, simd/avx512.c) and the
 * Dense layer's blocking (simd/dense_tiled.c) share: the horizontal sum,
 * and the vocabulary of a Dense tile. Internal to simd/. */
#ifndef EMBREC_SIMD_X86_H
#define EMBREC_SIMD_X86_H

#include "simd/kernels.h"

#if defined(NN_AVX2)
#include <immintrin.h>

/* the sum of v's eight lanes, in the pairs dot's partial sums are added in */
NN_TARGET_AVX2 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    return _mm_cvtss_f32(s);
}

static inline size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* A GEMM in miniature (the derivation is atop simd/dense_tiled.c). All
 * three products are one shape: a tile of rows i of a result R, computed as
 * Σ_s A(i, s)·P[s, :] in order of s, where P's rows are contiguous and
 * A(i, s) = A[i·ai + s·as] is broadcast. */
#define DENSE_NB 64  /* batch rows per cache block */
#define DENSE_TC 32  /* dx: columns of dx (rows of W) per transposed panel */
#define DENSE_TO 128 /* dx: entries of o per transposed panel (16 KiB in all) */

typedef enum {
    TILE_BIAS, /* R = Σ + bias          (forward: the sum first, then the bias) */
    TILE_ADD,  /* R = R + Σ             (dx: one rounding, as the scalar twin) */
    TILE_ONTO  /* R = (R + t_0) + t_1 … (dW: each term added in turn, as the twin) */
} tile_mode;

/* One path's tiling of a result R (ni, nj): AVX2's dense_tiles, AVX-512's
 * tiles512. R's rows are ldr apart, P's ldp; K terms. */
typedef void (*dense_tiles_fn)(float *R, size_t ldr, const float *A, size_t ai, size_t as,
                               const float *P, size_t ldp, size_t K, size_t ni, size_t nj,
                               const float *bias, tile_mode mode);

/* What the blocking needs of a path: its tiles, their full width, its dot
 * and axpy (a layer with O = 1 is one column: dot and axpy along C), and
 * whether W (forward) or x and dout (dW) pay to be read from packed copies
 * on it (see dense_pack and dense_dW_packed). */
typedef struct {
    dense_tiles_fn tiles;
    size_t width;
    float (*dot)(const float *a, const float *b, size_t n);
    void (*axpy)(float *y, float a, const float *x, size_t n);
    int pack_forward, pack_dW;
} dense_path;

/* out (B, O) = x · W + b, and dx += dout · Wᵀ, dW += xᵀ · dout (dx skipped
 * when NULL), on a path's tiles */
void simd_dense_forward(const dense_path *path, float *out, const float *x, const float *W,
                        const float *b, size_t B, size_t C, size_t O);
void simd_dense_backward(const dense_path *path, float *dx, float *dW, const float *dout,
                         const float *x, const float *W, size_t B, size_t C, size_t O);
#endif

#endif
