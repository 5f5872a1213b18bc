/* fast/batches.c — minibatch training, faster: the batches of mf_train's
 * plain loop, with
 *   - dense updates without the sweep (fast/step.c): a batch's rows catch
 *     up on their idle steps before the forward pass reads them, and a step
 *     visits only the batch's rows;
 *   - the epoch's samples gathered a chunk at a time, and each batch's
 *     embedding rows asked for all at once (weights before the forward
 *     pass, gradients before the backward), so that their cache misses
 *     overlap;
 *   - on T > 1 threads, data-parallel batches: each batch cut into T
 *     contiguous shares, share t's forward and backward on replica t (the
 *     model with gradients of its own), the loss and ∂L/∂r̂ of the whole
 *     batch taken on this thread exactly as on one, the replicas' gradients
 *     added in share order, one optimiser step. The gradient is a sum in
 *     another order than on one thread, and each share draws its own
 *     dropout masks, so the result depends on T, but never on timing: the
 *     same T gives the same bits.
 * Lazy updates on T > 1 threads are Hogwild's (fast/hogwild.c); per-rating
 * SGD has a loop of its own (fast/sgd.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "fast/batches.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fast/prefetch.h"
#include "fast/step.h"
#include "fast/threads.h"

/* one share's replica and activations (share 0 works on the model itself) */
typedef struct {
    mf_model own;      /* a shallow copy whose params are a replica (t > 0) */
    mf_model *m;       /* &own, or the run's model */
    int has_replica;
    mf_work work;
    double l2;         /* λ Σ ‖·‖² over its share of the batch */
} share_state;

typedef struct {
    fast_stepper step;
    fast_team *team;   /* T > 1 */
    share_state *share; /* (T) */
    size_t T;
    fast_stage stage;
} batches_state;

static void batches_end(mf_run *run) {
    batches_state *s = run->engine_state;
    size_t t;
    if (!s) return;
    for (t = 0; s->share && t < s->T; t++) {
        if (s->share[t].has_replica) fast_replica_free(&s->share[t].own.params);
        mf_work_free(&s->share[t].work);
    }
    free(s->share);
    fast_stage_free(&s->stage);
    fast_stepper_free(&s->step);
    fast_team_free(s->team);
    free(s);
    run->engine_state = NULL;
}

/* T shares for batches of B, replicas for t > 0; 0 or -1 (no memory) */
static int shares_alloc(batches_state *s, mf_model *m, size_t B) {
    size_t t;
    if (!(s->share = calloc(s->T, sizeof *s->share)) || !(s->team = fast_team_new(s->T))) return -1;
    for (t = 0; t < s->T; t++) {
        share_state *sh = &s->share[t];
        sh->m = m;
        if (t > 0) {
            sh->own = *m;
            if (fast_replica(&sh->own.params, &m->params) != 0) return -1;
            sh->has_replica = 1;
            mf_point_tensors(&sh->own); /* its own gradients */
            sh->m = &sh->own;
        }
        if (mf_work_init(&sh->work, m, B) != 0) return -1;
    }
    return 0;
}

static int batches_begin(mf_run *run) {
    const mf_train_config *cfg = run->cfg;
    batches_state *s = calloc(1, sizeof *s);
    size_t T = cfg->speed.threads > FAST_MAX_THREADS ? FAST_MAX_THREADS : cfg->speed.threads;
    run->engine_state = s;
    if (!s) return -1;
    s->T = T > cfg->fit.batch ? cfg->fit.batch : T < 1 ? 1 : T; /* a share of at least a rating */
    if (s->T > 1 && shares_alloc(s, run->m, cfg->fit.batch) != 0) return -1;
    if (fast_stage_init(&s->stage, cfg->fit.batch) != 0) return -1;
    run->n_dropout = s->T; /* share t draws its masks from run->dropout[t] */
    return fast_stepper_init(&s->step, &run->opt, &run->m->params, s->team);
}

/* As fast, in measurement, as gathering the whole epoch into a shuffled
 * copy, in a fixed 192 KB. */
#define STAGE_ROWS 16384

int fast_stage_init(fast_stage *st, size_t B) {
    memset(st, 0, sizeof *st);
    st->cap = B > STAGE_ROWS ? B : STAGE_ROWS;
    st->u = malloc(st->cap * sizeof *st->u);
    st->i = malloc(st->cap * sizeof *st->i);
    st->y = malloc(st->cap * sizeof *st->y);
    return st->u && st->i && st->y ? 0 : -1;
}

void fast_stage_free(fast_stage *st) {
    free(st->u);
    free(st->i);
    free(st->y);
    memset(st, 0, sizeof *st);
}

void fast_gather_staged(fast_stage *st, const mf_run *run, mf_batch *b, size_t start, size_t nb,
                        size_t end) {
    const mf_samples *smp = &run->samples;
    size_t k, at;
    if (start < st->from || start + nb > st->to) {
        st->from = start;
        st->to = end - start < st->cap ? end : start + st->cap;
        for (k = st->from; k < st->to; k++) { /* the random reads, all in one loop */
            uint32_t row = run->order[k];
            st->u[k - st->from] = smp->user[row];
            st->i[k - st->from] = smp->item[row];
            st->y[k - st->from] = smp->target[row];
        }
    }
    at = start - st->from;
    memcpy(b->u, st->u + at, nb * sizeof *b->u);
    memcpy(b->i, st->i + at, nb * sizeof *b->i);
    memcpy(b->y, st->y + at, nb * sizeof *b->y);
}

/* the user and item embedding rows of the nb pairs of b in block a (the
 * weights, or the gradients) */
FAST_PREFETCHER void prefetch_rows(const mf_model *m, const float *a, const mf_batch *b,
                                   size_t nb) {
    const float *w0 = m->params.w, *P = m->w.user_embedding, *Q = m->w.item_embedding;
    size_t S = m->S, K = m->cfg.dim, k;
    if (!P || !Q) return;
    for (k = 0; k < nb; k++) {
        fast_prefetch(a + (size_t)(P - w0) + b->u[k] * S, K);
        fast_prefetch(a + (size_t)(Q - w0) + b->i[k] * S, K);
    }
}

double fast_batch_gradient(const mf_run *run, mf_model *m, mf_batch *b, size_t nb,
                           nn_rng *dropout) {
    double loss;
    prefetch_rows(m, m->params.w, b, nb);
    loss = mf_batch_loss(run, m, b, nb, dropout);
    if (!isfinite(loss)) { /* as mf_batch_gradient: no gradient, no step */
        nn_params_zero_grad(&m->params);
        return loss;
    }
    prefetch_rows(m, m->params.dw, b, nb);
    mf_batch_backward(run, m, b, nb);
    return loss;
}

/* The batch cut into shares: phase 0 the forward pass of each share (and
 * its L2 term), phase 1 its backward pass into its replica. */
typedef struct {
    const mf_run *run;
    batches_state *s;
    mf_batch *b;
    size_t nb;
    int backward;
} share_pass;

static void run_share(void *ctx, size_t t, size_t T) {
    share_pass *sp = ctx;
    share_state *sh = &sp->s->share[t];
    mf_batch *b = sp->b;
    size_t lo = sp->nb * t / T, n = sp->nb * (t + 1) / T - lo;
    sh->l2 = 0.0;
    if (n == 0) return;
    if (!sp->backward) {
        mf_forward(sh->m, &sh->work, b->pred + lo, b->u + lo, b->i + lo, n, &sp->run->dropout[t]);
        sh->l2 = mf_l2_loss(sh->m, &sh->work, b->u + lo, b->i + lo, n) * (double)n;
    } else {
        mf_backward(sh->m, &sh->work, b->dpred + lo, b->u + lo, b->i + lo, n, sp->nb);
    }
}

/* mf_batch_gradient, data-parallel: the batch's loss, the gradient in the
 * model's block (nothing when the loss is not finite) */
static double shared_gradient(mf_run *run, batches_state *s, mf_batch *b, size_t nb) {
    share_pass sp = {.run = run, .s = s, .b = b, .nb = nb, .backward = 0};
    double l2 = 0.0, loss;
    size_t t;
    fast_team_run(s->team, run_share, &sp);
    for (t = 0; t < s->T; t++) l2 += s->share[t].l2; /* in share order */
    loss = run->loss(b->pred, b->y, nb) + l2 / (double)nb;
    if (!isfinite(loss)) {
        nn_params_zero_grad(&run->m->params);
        return loss;
    }
    run->dloss(b->dpred, b->pred, b->y, nb);
    sp.backward = 1;
    fast_team_run(s->team, run_share, &sp);
    for (t = 1; t < s->T; t++) { /* the replicas' gradients, in share order */
        fast_add_grad(&run->m->params, &s->share[t].m->params);
        nn_params_zero_grad(&s->share[t].m->params);
    }
    return loss;
}

static double batches_epoch(mf_run *run) {
    batches_state *s = run->engine_state;
    mf_model *m = run->m;
    mf_batch *b = &run->batch;
    size_t N = run->samples.n, B = run->cfg->fit.batch, start;
    double sum = 0.0;
    s->stage.from = s->stage.to = 0; /* a new order: nothing staged */
    for (start = 0; start < N; start += B) {
        size_t nb = N - start < B ? N - start : B;
        double loss;
        fast_gather_staged(&s->stage, run, b, start, nb, N);
        if (s->step.deferred) { /* rows idle since their last update catch up first */
            mf_mark_rows(m, b->u, b->i, nb);
            fast_catch_up(&s->step, &m->params);
        }
        loss = s->T > 1 ? shared_gradient(run, s, b, nb)
                        : fast_batch_gradient(run, m, b, nb, &run->dropout[0]);
        if (!isfinite(loss)) {
            run->halt.why = MF_HALT_NONFINITE;
            run->halt.batch = start / B + 1;
            return NAN;
        }
        fast_step(&s->step, &m->params);
        nn_params_zero_grad(&m->params);
        sum += loss * (double)nb;
        if (mf_stop_asked(run)) { /* (a signal): this batch is done, end here */
            run->halt.why = MF_HALT_STOP;
            run->halt.batch = start / B + 1;
            return sum / (double)(start + nb);
        }
        mf_show_progress(run, start + nb, sum / (double)(start + nb));
    }
    return N ? sum / (double)N : 0.0;
}

/* before validation: every row up to date */
static void batches_settle(mf_run *run) {
    batches_state *s = run->engine_state;
    fast_flush(&s->step, &run->m->params);
}

/* every batched training but Hogwild's (lazy updates on several threads) */
static int batches_accepts(const mf_model *m, const mf_train_config *cfg, data_error *err) {
    (void)m;
    (void)err;
    return !(cfg->fit.opt.update == NN_UPDATE_LAZY && cfg->speed.threads > 1);
}

mf_metrics fast_evaluate(const mf_run *run, const data_ratings *val) {
    return mf_evaluate_threads(run->m, val, 0, run->cfg->speed.threads);
}

const mf_engine fast_batches = {
    .name = "batches",
    .accepts = batches_accepts,
    .begin = batches_begin,
    .epoch = batches_epoch,
    .settle = batches_settle,
    .evaluate = fast_evaluate,
    .end = batches_end,
};
