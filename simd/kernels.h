/* simd/kernels.h — the instruction-set kernels behind nn.c's dispatch.
 *
 * nn.c holds every kernel's scalar twin (the readable definition) and the
 * table of kernel pointers chosen once at start (nn_simd_select); the
 * files of this folder hold the same kernels for one instruction set each,
 * and this header is all nn.c sees of them. It is internal: nothing
 * outside nn.c and simd/ includes it, and nn.h does not grow with it.
 *
 *   simd/avx2.c         AVX2/FMA: vec_dot, vec_axpy, vec_scale, the SGD,
 *                       SGD-dot, Adam and AdaMax loops, the Dense tiles
 *   simd/avx512.c       AVX-512F: vec_dot, vec_axpy, vec_scale, the Dense
 *                       tiles (AVX2's bits, in wider registers)
 *   simd/neon.c         NEON on AArch64: the vector and optimiser kernels
 *   simd/dense_tiled.c  the Dense layer as blocks of GEMM tiles, shared by
 *                       the AVX2 and AVX-512 tiles: blocking, packing
 *
 * Each kernel is named simd_<path>_<what> and mirrors the twin of the same
 * <what> in nn.c (vec_dot_scalar, nn_adam_update_scalar,
 * nn_dense_forward_scalar, ...); the tests run every path against it.
 */
#ifndef EMBREC_SIMD_KERNELS_H
#define EMBREC_SIMD_KERNELS_H

#include <stddef.h>

/* The SIMD paths compiled in beside the scalar one.
 * AVX2/FMA on x86-64 with GCC 5+ or clang: only the functions marked
 * NN_TARGET_AVX2 (or NN_TARGET_AVX512) are compiled for those instruction
 * sets (the rest of embrec is built for plain x86-64, so the compiler
 * cannot slip AVX2 instructions anywhere a CPU without them would run), and
 * they run only where the CPU says it has them. NEON needs AArch64 (where
 * it is always there): vdivq_f32, vsqrtq_f32 and vfmaq_f32 do not exist on
 * 32-bit ARM NEON, and the optimiser loops need a correctly rounded divide
 * and square root. `make SIMD=0` (EMBREC_NO_SIMD) compiles neither. */
#if !defined(EMBREC_NO_SIMD) && defined(__x86_64__) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
#define NN_AVX2 1
#define NN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define NN_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f")))
#elif !defined(EMBREC_NO_SIMD) && defined(__ARM_NEON) && defined(__aarch64__)
#define NN_NEON 1
#endif

#ifdef __clang__
/* clang contracts a*b+c within one expression by default; the kernels'
 * scalar tails must compute exactly what they say, as nn.c's twins. */
#pragma STDC FP_CONTRACT OFF
#endif

/* The Dense backward kernels leave db to nn_dense_backward (additions
 * only, the same bits on every path): dx (skipped when NULL) and dW. */

#if defined(NN_AVX2)
float simd_avx2_dot(const float *a, const float *b, size_t n);
void simd_avx2_axpy(float *y, float a, const float *x, size_t n);
void simd_avx2_scale(float *x, float a, size_t n);
void simd_avx2_sgd(float *p, const float *g, size_t n, float lr);
void simd_avx2_sgd_dot(float *p, float *q, size_t n, float e, float l2, float lr);
void simd_avx2_adam(float *p, const float *g, float *m, float *v, size_t n, float lr_t,
                    float beta1, float beta2, float eps);
void simd_avx2_adamax(float *p, const float *g, float *m, float *u, size_t n, float lr_t,
                      float beta1, float beta2, float eps);
void simd_avx2_dense_forward(float *out, const float *x, const float *W, const float *b,
                             size_t B, size_t C, size_t O);
void simd_avx2_dense_backward(float *dx, float *dW, const float *dout, const float *x,
                              const float *W, size_t B, size_t C, size_t O);

float simd_avx512_dot(const float *a, const float *b, size_t n);
void simd_avx512_axpy(float *y, float a, const float *x, size_t n);
void simd_avx512_scale(float *x, float a, size_t n);
void simd_avx512_dense_forward(float *out, const float *x, const float *W, const float *b,
                               size_t B, size_t C, size_t O);
void simd_avx512_dense_backward(float *dx, float *dW, const float *dout, const float *x,
                                const float *W, size_t B, size_t C, size_t O);
#endif

#if defined(NN_NEON)
float simd_neon_dot(const float *a, const float *b, size_t n);
void simd_neon_axpy(float *y, float a, const float *x, size_t n);
void simd_neon_scale(float *x, float a, size_t n);
void simd_neon_sgd(float *p, const float *g, size_t n, float lr);
void simd_neon_sgd_dot(float *p, float *q, size_t n, float e, float l2, float lr);
void simd_neon_adam(float *p, const float *g, float *m, float *v, size_t n, float lr_t,
                    float beta1, float beta2, float eps);
void simd_neon_adamax(float *p, const float *g, float *m, float *u, size_t n, float lr_t,
                      float beta1, float beta2, float eps);
#endif

#endif
