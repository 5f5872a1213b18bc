/* fast/step.h — the optimiser's step without the sweep, and on threads
 * (see step.c). A fast_stepper drives the core's nn_optimizer (its m, v
 * and t) and gives the values nn_optimizer_step gives, to float32 rounding:
 *
 *     fast_stepper_init(&fs, &opt, &m->params, team);   (after any resume)
 *     for each batch:  mark the rows it reads (nn_params_touch), then
 *                      fast_catch_up(&fs, ps); forward; backward;
 *                      fast_step(&fs, ps); nn_params_zero_grad(ps);
 *     before reading the weights whole (validation, saving): fast_flush
 */
#ifndef EMBREC_FAST_STEP_H
#define EMBREC_FAST_STEP_H

#include "nn.h"
#include "fast/threads.h"

/* Deferred dense updates: the step each sparse row was last brought up to,
 * and the sums that apply a run of idle steps at once (see step.c). */
#define FAST_IDLE_TERMS 6
#define FAST_POW_TABLE 4096
typedef struct {
    uint64_t *row_step;           /* (n_rows: rows of every sparse tensor) */
    size_t n_rows;
    size_t base[NN_MAX_TENSORS];  /* tensor i's rows start at row_step[base[i]] */
    size_t T;                     /* lr_t(s) = lr exactly for s >= T */
    double *a;                    /* (T+1) lr_t(s) as the sweep computes it */
    double *F[FAST_IDLE_TERMS];   /* (T+1) F_n(s) = Σ_{j≥1} a(s+j) ρ_n^j */
    double rho[FAST_IDLE_TERMS];  /* ρ_n = β1 / q^(n+1) */
    double q;                     /* per-step decay of the denominator: √β2 (Adam), β2 (AdaMax) */
    double pow_b1[FAST_POW_TABLE]; /* β1^j */
    double pow_q[FAST_POW_TABLE];  /* q^j */
} fast_deferred;

typedef struct {
    nn_optimizer *opt;        /* the state it steps (not owned) */
    fast_deferred *deferred;  /* dense mode's idle-step bookkeeping, or NULL (lazy, the sweep) */
    fast_team *team;          /* shares each step's rows (and the sweep), or NULL */
    /* the closed-form series over one row: scalar, or AVX2 where nn.c chose it */
    size_t (*idle_series)(float *p, const float *m, const float *v, size_t K, int adam,
                          const float *S, float eps, float x_min);
} fast_stepper;

/* 0, or -1 when out of memory. Dense mode goes without the sweep when its
 * rates can be tabulated (betas not too close to 1), else it sweeps. */
int fast_stepper_init(fast_stepper *fs, nn_optimizer *opt, const nn_params *ps, fast_team *team);
void fast_stepper_free(fast_stepper *fs);
/* every row up to date at opt->t (after nn_optimizer_resume) */
void fast_stepper_resume(fast_stepper *fs);
/* one update, as nn_optimizer_step */
void fast_step(fast_stepper *fs, nn_params *ps);
/* bring the rows marked touched up to the current step, so that a forward
 * pass reads them as the sweep would have left them (deferred dense mode;
 * a no-op otherwise) */
void fast_catch_up(fast_stepper *fs, nn_params *ps);
/* bring every row up to the current step */
void fast_flush(fast_stepper *fs, nn_params *ps);

#endif
