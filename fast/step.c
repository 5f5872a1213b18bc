/* fast/step.c — the optimiser's step without the sweep, and on threads.
 *
 * In dense mode Keras updates every parameter on every step (nn.c does it
 * so: one pass over the block). Here a row outside the batch is not
 * visited: its idle steps are applied in closed form when it is next read
 * (fast_catch_up, before a batch's forward pass) or when the weights are
 * read whole (fast_flush, before validation), and a step updates only the
 * batch's rows. A team, when given, shares the rows of each step (and
 * dense-sweep's pass). The values equal the sweep's to float32 rounding.
 *
 * What it deliberately does not do: change the formulas (every update is
 * nn.c's nn_optimizer_update_span), or hold the state anywhere but the
 * nn_optimizer it is given (m, v, t), so that the model file and resuming
 * see what they see in the reference build.
 */
#define _POSIX_C_SOURCE 200809L
#include "fast/step.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fast/prefetch.h"

/* The AVX2/FMA series beside the scalar one, as simd/ builds nn.c's kernels:
 * compiled for AVX2 only in the function marked so, run only where the
 * path nn.c chose is avx2+fma. */
#if !defined(EMBREC_NO_SIMD) && defined(__x86_64__) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
#define FAST_AVX2 1
#define FAST_TARGET_AVX2 __attribute__((target("avx2,fma")))
#include <immintrin.h>
#endif

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* the scalar series computes exactly what it says */
#endif

/* ------------------------------------------- dense updates without the sweep
 *
 * In dense mode (Keras) a row outside the batch has g = 0, so on each idle
 * step s its state only decays and it still moves:
 *   m_s = β1 m_{s−1},  v_s = β2 v_{s−1} (AdaMax: u_s = β2 u_{s−1}),
 *   p_s = p_{s−1} − a(s) m_s / (√v_s + ε)      (AdaMax: m_s / (u_s + ε))
 * with a(s) = lr_t(s). After a row's last update at step s0, the k idle
 * steps s0+1 … s0+k therefore add up to, per element (x = √v or u at s0,
 * q = √β2 or β2, so that the denominator after j idle steps is q^j x + ε):
 *   Δp = −m Σ_{j=1..k} a(s0+j) β1^j / (q^j x + ε)
 *   m ← β1^k m,  v ← β2^k v (u ← β2^k u).
 * Expanding 1/(q^j x + ε) = Σ_n (−ε)^n / (q^j x)^(n+1), which converges when
 * δ = ε / (q^j x) < 1 over the terms that matter (β1^j dies within ~300 steps):
 *   Δp = −(m/x) Σ_{n=0..N−1} (−ε/x)^n S_n(s0, k),
 *   S_n(s0, k) = Σ_{j=1..k} a(s0+j) ρ_n^j,  ρ_n = β1 / q^(n+1) < 1,
 * and S_n(s0, k) = F_n(s0) − ρ_n^k F_n(s0+k) with F_n(s) = Σ_{j≥1} a(s+j) ρ_n^j,
 * tabulated once by F_n(s) = ρ_n (a(s+1) + F_n(s+1)); beyond T, a(s) = lr
 * exactly (the float lr_t has converged) and F_n = lr ρ_n / (1 − ρ_n).
 * With N = 6 terms and δ ≤ 0.05 the series is exact to 0.05^6 ≈ 2e-8 of Δp;
 * an element with a smaller x (a tiny gradient history) sums the k ≤ 320
 * terms that matter directly instead. The sweep rounds p to float32 on every
 * idle step while this rounds once, and β^k is one rounding where the sweep
 * makes k: the two agree to float32 rounding, not bit for bit
 * (tests/test_nn.c measures how closely over thousands of steps). */


#define IDLE_DELTA_MAX 0.05   /* the series' largest ε / (q^j x) */
#define IDLE_DIRECT_TERMS 320 /* β1^320 < 1e-14: the direct sum stops there
                               * (below FAST_POW_TABLE) */

static void deferred_free(fast_deferred *d) {
    size_t n;
    free(d->row_step);
    free(d->a);
    for (n = 0; n < FAST_IDLE_TERMS; n++) free(d->F[n]);
    free(d);
}

/* lr_t(s) exactly as the sweep computes it, as a double */
static double rate_at(const nn_optimizer_config *c, uint64_t s) {
    return c->kind == NN_ADAM ? (double)nn_adam_lr_t(c->lr, c->beta1, c->beta2, s)
                              : (double)nn_adamax_lr_t(c->lr, c->beta1, s);
}

/* T: from here on β^s < 2^-26 for both betas, so 1 − β^s rounds to 1.0f and
 * lr_t(s) = lr exactly. 0 when that is too far to tabulate. */
static size_t rate_settles(const nn_optimizer_config *c) {
    double need = log(1.5e-8), t1 = need / log((double)c->beta1), t2 = 0.0;
    if (c->kind == NN_ADAM) t2 = need / log((double)c->beta2);
    t1 = t1 > t2 ? t1 : t2;
    return t1 < 4e6 ? (size_t)t1 + 2 : 0;
}

static fast_deferred *deferred_new(const nn_optimizer_config *c, const nn_params *ps) {
    fast_deferred *d;
    size_t i, rows = 0, n, s, T = rate_settles(c);
    if (T == 0 || !(c->beta1 > 0.0f && c->beta1 < 1.0f) || !(c->beta2 > 0.0f && c->beta2 < 1.0f))
        return NULL;
    d = calloc(1, sizeof *d);
    if (!d) return NULL;
    for (i = 0; i < ps->n_tensors; i++) {
        d->base[i] = rows;
        if (ps->t[i].sparse) rows += ps->t[i].rows;
    }
    d->T = T;
    d->q = c->kind == NN_ADAM ? sqrt((double)c->beta2) : (double)c->beta2;
    d->row_step = calloc(rows ? rows : 1, sizeof *d->row_step);
    d->n_rows = rows;
    d->a = malloc((T + 1) * sizeof *d->a);
    for (n = 0; n < FAST_IDLE_TERMS; n++) d->F[n] = malloc((T + 1) * sizeof *d->F[n]);
    for (n = 0; n < FAST_IDLE_TERMS; n++)
        if (!d->F[n]) break;
    if (!d->row_step || !d->a || n < FAST_IDLE_TERMS) {
        deferred_free(d);
        return NULL;
    }
    for (s = 0; s <= T; s++) d->a[s] = rate_at(c, s);
    d->pow_b1[0] = d->pow_q[0] = 1.0;
    for (s = 1; s < FAST_POW_TABLE; s++) {
        d->pow_b1[s] = d->pow_b1[s - 1] * (double)c->beta1;
        d->pow_q[s] = d->pow_q[s - 1] * d->q;
    }
    for (n = 0; n < FAST_IDLE_TERMS; n++) {
        double rho = (double)c->beta1 / pow(d->q, (double)(n + 1));
        d->rho[n] = rho;
        d->F[n][T] = (double)c->lr * rho / (1.0 - rho); /* a(s) = lr from T on */
        for (s = T; s-- > 0;) d->F[n][s] = rho * (d->a[s + 1] + d->F[n][s + 1]);
    }
    return d;
}

static double rate(const fast_deferred *d, const nn_optimizer_config *c, uint64_t s) {
    return s <= d->T ? d->a[s] : (double)c->lr;
}

static double F_at(const fast_deferred *d, size_t n, uint64_t s) {
    return d->F[n][s < d->T ? s : d->T];
}

/* The series for one row: p −= (m/x) Σ_n (−ε/x)^n S_n on every element
 * with x ≥ x_min (and m ≠ 0; m = 0 gives 0), in float32, Horner's order.
 * Returns how many elements have m ≠ 0 but x < x_min: the direct sum's. */
static inline size_t idle_series_scalar(float *p, const float *m, const float *v, size_t K,
                                        int adam, const float *S, float eps, float x_min) {
    float s[FAST_IDLE_TERMS]; /* a copy: S might alias p, so each store would reload it */
    size_t e, n, rest = 0;
    memcpy(s, S, sizeof s);
    for (e = 0; e < K; e++) {
        float x = adam ? sqrtf(v[e]) : v[e], r, poly;
        if (m[e] == 0.0f) continue;
        if (!(x >= x_min)) {
            rest++;
            continue;
        }
        r = -eps / x;
        poly = s[FAST_IDLE_TERMS - 1];
        for (n = FAST_IDLE_TERMS - 1; n-- > 0;) poly = poly * r + s[n];
        p[e] = p[e] - m[e] / x * poly;
    }
    return rest;
}

#if defined(FAST_AVX2)
FAST_TARGET_AVX2 static size_t idle_series_avx2(float *p, const float *m, const float *v, size_t K,
                                             int adam, const float *S, float eps, float x_min) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 neps = _mm256_set1_ps(-eps), xmin = _mm256_set1_ps(x_min);
    __m256 s[FAST_IDLE_TERMS]; /* broadcast once: S might alias p, so each store would reload it */
    size_t e = 0, n, rest = 0;
    for (n = 0; n < FAST_IDLE_TERMS; n++) s[n] = _mm256_set1_ps(S[n]);
    for (; e + 8 <= K; e += 8) {
        __m256 me = _mm256_loadu_ps(m + e), ve = _mm256_loadu_ps(v + e);
        __m256 x = adam ? _mm256_sqrt_ps(ve) : ve;
        __m256 ok = _mm256_cmp_ps(x, xmin, _CMP_GE_OQ);
        __m256 moving = _mm256_cmp_ps(me, zero, _CMP_NEQ_UQ);
        __m256 xs = _mm256_blendv_ps(one, x, ok);              /* x where the series holds */
        __m256 r = _mm256_div_ps(neps, xs), poly = s[FAST_IDLE_TERMS - 1], d;
        for (n = FAST_IDLE_TERMS - 1; n-- > 0;) poly = _mm256_add_ps(_mm256_mul_ps(poly, r), s[n]);
        d = _mm256_mul_ps(_mm256_div_ps(me, xs), poly);
        d = _mm256_and_ps(d, _mm256_and_ps(ok, moving));      /* 0 elsewhere */
        _mm256_storeu_ps(p + e, _mm256_sub_ps(_mm256_loadu_ps(p + e), d));
        rest += (size_t)__builtin_popcount(
            (unsigned)_mm256_movemask_ps(_mm256_andnot_ps(ok, moving)));
    }
    return rest + idle_series_scalar(p + e, m + e, v + e, K - e, adam, S, eps, x_min);
}
#endif


/* β^k: from the table for the usual short idle runs, else pow */
static double power(const double *table, double base, uint64_t k) {
    return k < FAST_POW_TABLE ? table[k] : pow(base, (double)k);
}

/* Apply the k idle steps after s0 to one row (K elements of p, m, v). */
static void catch_up_row(const fast_stepper *fs, float *p, float *m, float *v, size_t K,
                         uint64_t s0, uint64_t k) {
    const nn_optimizer_config *c = &fs->opt->cfg;
    const fast_deferred *d = fs->deferred;
    int adam = c->kind == NN_ADAM;
    double b1k = power(d->pow_b1, (double)c->beta1, k), qk = power(d->pow_q, d->q, k);
    double eps = (double)c->epsilon, rk, q_inv_k = qk > 0.0 ? 1.0 / qk : 0.0;
    float S[FAST_IDLE_TERMS], m_decay = (float)b1k, v_decay = (float)(adam ? qk * qk : qk);
    float x_min;
    size_t n, e;
    uint64_t reach = k < IDLE_DIRECT_TERMS ? k : IDLE_DIRECT_TERMS;
    rk = b1k * q_inv_k; /* ρ_n^k = β1^k q^−(n+1)k */
    for (n = 0; n < FAST_IDLE_TERMS; n++, rk *= q_inv_k) /* S_n = F_n(s0) − ρ_n^k F_n(s0+k) */
        S[n] = (float)(F_at(d, n, s0) - (b1k > 0.0 ? rk * F_at(d, n, s0 + k) : 0.0));
    x_min = (float)(eps / (IDLE_DELTA_MAX * d->pow_q[reach])); /* the series holds for x ≥ x_min */
    if (fs->idle_series(p, m, v, K, adam, S, (float)eps, x_min) > 0) {
        for (e = 0; e < K; e++) { /* Δp = −m Σ_j a(s0+j) β1^j / (q^j x + ε), term by term */
            double me = (double)m[e], x = adam ? sqrt((double)v[e]) : (double)v[e], delta = 0.0;
            float xf = adam ? sqrtf(v[e]) : v[e]; /* the series' own test, in float */
            uint64_t j;
            if (me == 0.0 || xf >= x_min) continue;
            for (j = 1; j <= reach; j++)
                delta += rate(d, c, s0 + j) * d->pow_b1[j] * me / (d->pow_q[j] * x + eps);
            p[e] = (float)((double)p[e] - delta);
        }
    }
    vec_scale(m, m_decay, K); /* m ← β1^k m */
    vec_scale(v, v_decay, K); /* v ← β2^k v, u ← β2^k u */
}

/* Bring row r of sparse tensor i from its last step up to step `to`. */
static void catch_up(const fast_stepper *fs, nn_params *ps, size_t i, uint32_t r, uint64_t to) {
    const nn_optimizer *opt = fs->opt;
    fast_deferred *d = fs->deferred;
    const nn_tensor *t = &ps->t[i];
    uint64_t *last = &d->row_step[d->base[i] + r];
    size_t off = t->offset + (size_t)r * t->stride;
    if (*last < to) catch_up_row(fs, ps->w + off, opt->m + off, opt->v + off, t->k, *last,
                                 to - *last);
    *last = to;
}


/* Touched rows lie scattered over state far larger than the cache: while
 * one row is updated, the state of the row STEP_AHEAD further on is asked
 * for, so that its misses overlap this row's arithmetic. */
#define STEP_AHEAD 4

/* The rows of a step, share t of T: each sparse tensor's touched list is
 * cut into T runs and each dense tensor into T spans. Every row's update
 * reads and writes that row alone, so the shares give the same values as
 * one pass, whatever T. */
typedef struct {
    const fast_stepper *fs;
    nn_params *ps;
    float lr_t;
    int catch_up_only; /* 1: bring the touched rows up to the step, no update */
} rows_task;

/* a row ahead: its gradient and moments into cache */
FAST_PREFETCHER void prefetch_row(const nn_optimizer *opt, const nn_params *ps, const nn_tensor *t,
                         uint32_t row) {
    size_t ahead = t->offset + (size_t)row * t->stride;
    fast_prefetch(ps->dw + ahead, t->k);
    if (opt->m) fast_prefetch(opt->m + ahead, t->k);
    if (opt->v) fast_prefetch(opt->v + ahead, t->k);
}

static void step_rows(void *ctx, size_t share, size_t T) {
    rows_task *rt = ctx;
    const fast_stepper *fs = rt->fs;
    const nn_optimizer *opt = fs->opt;
    nn_params *ps = rt->ps;
    size_t i, j;
    for (i = 0; i < ps->n_tensors; i++) {
        const nn_tensor *t = &ps->t[i];
        size_t lo = t->n_touched * share / T, hi = t->n_touched * (share + 1) / T;
        if (!t->sparse) { /* cut at cache lines; row-wise AdaGrad, at rows */
            size_t n = t->rows * t->stride, a = n * share / T / 16 * 16;
            size_t b = share + 1 == T ? n : n * (share + 1) / T / 16 * 16;
            if (opt->cfg.kind == NN_ROWWISE_ADAGRAD) {
                a = t->rows * share / T * t->stride;
                b = t->rows * (share + 1) / T * t->stride;
            }
            if (!rt->catch_up_only)
                nn_optimizer_update_span(opt, ps, t->offset + a, b - a, rt->lr_t);
            continue;
        }
        if (rt->catch_up_only) {
            for (j = lo; j < hi; j++) catch_up(fs, ps, i, t->touched[j], opt->t);
            continue;
        }
        for (j = lo; j < hi; j++) {
            if (j + STEP_AHEAD < hi) prefetch_row(opt, ps, t, t->touched[j + STEP_AHEAD]);
            if (fs->deferred) catch_up(fs, ps, i, t->touched[j], opt->t - 1);
            nn_optimizer_update_span(opt, ps, t->offset + (size_t)t->touched[j] * t->stride,
                                     t->stride, rt->lr_t);
            if (fs->deferred) fs->deferred->row_step[fs->deferred->base[i] + t->touched[j]] = opt->t;
        }
    }
}

/* the sweep's pass, share t of T: spans cut on cache-line boundaries */
typedef struct {
    const nn_optimizer *opt;
    nn_params *ps;
    float lr_t;
} sweep_task;

static void sweep_share(void *ctx, size_t t, size_t T) {
    sweep_task *sw = ctx;
    size_t n = sw->ps->n, lo = n * t / T / 16 * 16, hi = t + 1 == T ? n : n * (t + 1) / T / 16 * 16;
    nn_optimizer_update_span(sw->opt, sw->ps, lo, hi - lo, sw->lr_t);
}

static void run_shares(const fast_stepper *fs, nn_task fn, void *ctx) {
    if (fs->team) fast_team_run(fs->team, fn, ctx);
    else fn(ctx, 0, 1);
}

int fast_stepper_init(fast_stepper *fs, nn_optimizer *opt, const nn_params *ps,
                      fast_team *team) {
    const nn_optimizer_config *c = &opt->cfg;
    memset(fs, 0, sizeof *fs);
    fs->opt = opt;
    fs->team = team;
    fs->idle_series = idle_series_scalar;
#if defined(FAST_AVX2)
    if (strcmp(vec_path(), "avx2+fma") == 0 || strcmp(vec_path(), "avx512f") == 0)
        fs->idle_series = idle_series_avx2; /* (the AVX-512 path runs AVX2 here too) */
#endif
    /* (SGD and row-wise AdaGrad keep nothing that moves a row without gradient) */
    if (c->kind == NN_SGD || c->kind == NN_ROWWISE_ADAGRAD || c->update != NN_UPDATE_DENSE)
        return 0;
    fs->deferred = deferred_new(c, ps);
    if (!fs->deferred && rate_settles(c) != 0) return -1; /* out of memory */
    fast_stepper_resume(fs); /* (betas too close to 1 to tabulate: the sweep) */
    return 0;
}

void fast_stepper_free(fast_stepper *fs) {
    if (fs->deferred) deferred_free(fs->deferred);
    memset(fs, 0, sizeof *fs);
}

void fast_stepper_resume(fast_stepper *fs) {
    size_t i;
    if (!fs->deferred) return;
    for (i = 0; i < fs->deferred->n_rows; i++) fs->deferred->row_step[i] = fs->opt->t;
}

void fast_step(fast_stepper *fs, nn_params *ps) {
    nn_optimizer *opt = fs->opt;
    const nn_optimizer_config *c = &opt->cfg;
    rows_task rt;
    assert(ps->n == opt->n);
    opt->t += 1; /* as nn_optimizer_step */
    if (c->kind != NN_ROWWISE_ADAGRAD && /* (its rows: the batch's, in any mode) */
        (c->update == NN_UPDATE_DENSE_SWEEP || (c->update == NN_UPDATE_DENSE && !fs->deferred))) {
        sweep_task sw = {.opt = opt, .ps = ps, .lr_t = nn_optimizer_rate(c, opt->t)};
        run_shares(fs, sweep_share, &sw);
        return;
    }
    /* lazy: the batch's rows; deferred dense: the same rows, each first
     * brought up to the step before this one */
    rt.fs = fs;
    rt.ps = ps;
    rt.lr_t = nn_optimizer_rate(c, opt->t);
    rt.catch_up_only = 0;
    run_shares(fs, step_rows, &rt);
}

void fast_catch_up(fast_stepper *fs, nn_params *ps) {
    rows_task rt = {.fs = fs, .ps = ps, .lr_t = 0.0f, .catch_up_only = 1};
    if (fs->deferred) run_shares(fs, step_rows, &rt);
}

void fast_flush(fast_stepper *fs, nn_params *ps) {
    size_t i;
    uint32_t r;
    if (!fs->deferred) return;
    for (i = 0; i < ps->n_tensors; i++)
        if (ps->t[i].sparse)
            for (r = 0; r < ps->t[i].rows; r++) catch_up(fs, ps, i, r, fs->opt->t);
}
