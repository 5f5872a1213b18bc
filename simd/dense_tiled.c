/* simd/dense_tiled.c — the Dense layer as blocks of GEMM tiles, for the
 * AVX2 and AVX-512 paths (their tiles are in simd/avx2.c and
 * simd/avx512.c; this file is plain C and runs them through a dense_path).
 *
 * The scalar twins in nn.c (nn_dense_forward_scalar,
 * nn_dense_backward_scalar) are the definition:
 *   out[b,o] = (Σ_c x[b,c]·W[c,o]) + bias[o]      (the sum in order of c)
 *   dx[b,c] += Σ_o dout[b,o]·W[c,o]               (the sum in order of o)
 *   dW[c,o] += x[b,c]·dout[b,o]                   (for b = 0, 1, …: in order of b)
 * The tiled kernels add the same terms in the same order, but with fused
 * multiply-adds (dx with O > 128 is summed 128 o's at a time, each part
 * added onto dx in turn); with O = 1 the forward pass is the path's dot
 * along C (four partial sums). So they differ from the twin by rounding
 * only, which the tests bound.
 *
 * All three products are one shape: a tile of rows i of a result R,
 * computed as Σ_s A(i, s)·P[s, :] in order of s, where P's rows are
 * contiguous and A(i, s) = A[i·ai + s·as] is broadcast:
 *   forward  R = out, A = x (ai C, as 1),  P = W (s = c),    then + bias
 *   dW       R = dW,  A = x (ai 1, as C),  P = dout (s = b), onto dW
 *   dx       R = dx,  A = dout (ai O, as 1), P = a transposed panel of W
 *            (s = o; W's rows are contiguous along o, so a few of them are
 *            turned on their side into a small buffer on the stack)
 * Rows are taken DENSE_NB at a time so that block of x, dout and dx stays
 * in cache while every column tile visits it. */
#include "nn.h"
#include "simd/x86.h"

#if defined(NN_AVX2)

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
 * reading W's full panels from a packed copy when the path packs and it
 * pays. Each output's sum is the same whichever copy its terms come from. */
void simd_dense_forward(const dense_path *path, float *out, const float *x, const float *W,
                        const float *b, size_t B, size_t C, size_t O) {
    const size_t width = path->width;
    float *Wp;
    size_t packed, b0, j;
    if (O == 1) { /* the last layer: W (C, 1) is one contiguous column */
        for (b0 = 0; b0 < B; b0++) out[b0] = path->dot(x + b0 * C, W, C) + b[0];
        return;
    }
    Wp = path->pack_forward ? dense_pack(W, B, C, O, width) : NULL;
    packed = Wp ? O / width * width : 0;
    for (b0 = 0; b0 < B; b0 += DENSE_NB) {
        const size_t nb = min_size(DENSE_NB, B - b0);
        for (j = 0; j < packed; j += width)
            path->tiles(out + b0 * O + j, O, x + b0 * C, C, 1, Wp + j * C, width, C, nb, width,
                        b + j, TILE_BIAS);
        if (packed < O)
            path->tiles(out + b0 * O + packed, O, x + b0 * C, C, 1, W + packed, O, C, nb,
                        O - packed, b + packed, TILE_BIAS);
    }
    free(Wp);
}

/* dW (C, O) += xᵀ · dout with each block of the batch packed first: x's
 * block turned on its side (C, nb) and dout's block cut into panels
 * (nb, width), so that a tile's sweep over the block reads consecutive
 * lines instead of one line per row of x and dout, which at C or O = 1024
 * (4 KiB apart) fall into a few cache sets: the AVX2 dW product ran at 38
 * GFLOP/s there against 69 at 1000, and at 87 and 92 packed (AVX-512's
 * 32-wide tiles: 82 unpacked, 84 packed, so that path is left unpacked).
 * The same terms in the same order, so the same bits. Returns 0 (nothing
 * done) where it does not pay or memory is short. */
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

void simd_dense_backward(const dense_path *path, float *dx, float *dW, const float *dout,
                         const float *x, const float *W, size_t B, size_t C, size_t O) {
    float T[DENSE_TO * DENSE_TC]; /* (TO, TC): W[c0 + t, o0 + s] at T[s·TC + t] */
    size_t b0, c0, o0, s, t;
    if (O == 1) { /* W (C, 1) and dW (C, 1) are contiguous columns: axpy along C */
        for (b0 = 0; b0 < B; b0++) {
            if (dx) path->axpy(dx + b0 * C, dout[b0], W, C); /* dx[b,:] += dout[b]·W[:,0] */
            path->axpy(dW, dout[b0], x + b0 * C, C);         /* dW[:,0] += dout[b]·x[b,:] */
        }
        return;
    }
    /* dW (C, O) += x[block]ᵀ · dout[block], block after block */
    if (!path->pack_dW || !dense_dW_packed(dW, dout, x, B, C, O, path->width, path->tiles))
        for (b0 = 0; b0 < B; b0 += DENSE_NB)
            path->tiles(dW, O, x + b0 * C, 1, C, dout + b0 * O, O,
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
                path->tiles(dx + b0 * C + c0, C, dout + b0 * O + o0, O, 1, T, DENSE_TC, no,
                            min_size(DENSE_NB, B - b0), nc, NULL, TILE_ADD);
        }
    }
}

#endif
