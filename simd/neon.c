/* simd/neon.c — the NEON kernels (AArch64, where NEON is always there).
 *
 *   simd_neon_dot             mirrors vec_dot_scalar (four partial sums)
 *   simd_neon_axpy, _scale    vec_axpy_scalar, vec_scale_scalar
 *   simd_neon_sgd             nn_sgd_update_scalar
 *   simd_neon_sgd_dot         nn_sgd_dot_step_scalar
 *   simd_neon_adam            nn_adam_update_scalar
 *   simd_neon_adamax          nn_adamax_update_scalar
 *
 * The Dense layer on this path is nn.c's, built from vec_dot and vec_axpy
 * (so vectorised by these). Each kernel hands the n mod 4 elements past its
 * last full register to its scalar twin; the optimiser loops do the twin's
 * float32 operations in its order (no FMA), so they give its bits. */
#include "nn.h"
#include "simd/kernels.h"

#if defined(NN_NEON)

#include <arm_neon.h>

float simd_neon_dot(const float *a, const float *b, size_t n) {
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

void simd_neon_axpy(float *y, float a, const float *x, size_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
    vec_axpy_scalar(y + i, a, x + i, n - i);
}

void simd_neon_scale(float *x, float a, size_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), va));
    vec_scale_scalar(x + i, a, n - i);
}

void simd_neon_sgd(float *p, const float *g, size_t n, float lr) {
    const float32x4_t vlr = vdupq_n_f32(lr);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t step = vmulq_f32(vlr, vld1q_f32(g + i));
        vst1q_f32(p + i, vsubq_f32(vld1q_f32(p + i), step));
    }
    nn_sgd_update_scalar(p + i, g + i, n - i, lr);
}

void simd_neon_sgd_dot(float *p, float *q, size_t n, float e, float l2, float lr) {
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

void simd_neon_adam(float *p, const float *g, float *m, float *v, size_t n,
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

void simd_neon_adamax(float *p, const float *g, float *m, float *u, size_t n,
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
