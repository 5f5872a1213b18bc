/* fast/hogwild.c — lazy updates on T > 1 threads, Hogwild (Recht et al.
 * 2011): thread t takes the t-th contiguous run of the epoch's batches, on
 * its own replica (the model with gradients of its own) and batch, and
 * steps the shared weights and moments without locks, each batch with the
 * step count it would have had on one thread. Two threads rarely hold the
 * same row at once; when they do an update can be lost, noise that SGD
 * absorbs, and the result depends on timing: it races by design, and is
 * the one engine `make tsan` leaves out.
 */
#define _POSIX_C_SOURCE 200809L
#include "fast/hogwild.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fast/batches.h"
#include "fast/step.h"
#include "fast/threads.h"

typedef struct {
    mf_model own;      /* a shallow copy whose params are a replica (t > 0) */
    mf_model *m;       /* &own, or the run's model */
    int has_replica;
    mf_batch batch;
    fast_stage stage;  /* its batches' samples, a chunk at a time */
    double loss;       /* Σ batch loss · batch size */
    size_t batches;    /* batches done */
    size_t samples;    /* and the samples in them */
    size_t bad_batch;  /* the batch (from 1) whose loss was not finite */
} worker;

typedef struct {
    worker *w;         /* (T) */
    size_t T;
    int halted;        /* raised by the thread that meets a non-finite loss */
} hogwild_state;

static void hogwild_end(mf_run *run) {
    hogwild_state *s = run->engine_state;
    size_t t;
    if (!s) return;
    for (t = 0; s->w && t < s->T; t++) {
        if (s->w[t].has_replica) fast_replica_free(&s->w[t].own.params);
        mf_batch_free(&s->w[t].batch);
        fast_stage_free(&s->w[t].stage);
    }
    free(s->w);
    free(s);
    run->engine_state = NULL;
}

static int hogwild_begin(mf_run *run) {
    hogwild_state *s = calloc(1, sizeof *s);
    size_t t;
    run->engine_state = s;
    if (!s) return -1;
    s->T = run->cfg->speed.threads > FAST_MAX_THREADS ? FAST_MAX_THREADS : run->cfg->speed.threads;
    run->n_dropout = s->T; /* thread t draws its masks from run->dropout[t] */
    if (!(s->w = calloc(s->T, sizeof *s->w))) return -1;
    for (t = 0; t < s->T; t++) {
        worker *w = &s->w[t];
        w->m = run->m;
        if (t > 0) {
            w->own = *run->m;
            if (fast_replica(&w->own.params, &run->m->params) != 0) return -1;
            w->has_replica = 1;
            mf_point_tensors(&w->own); /* its own gradients */
            w->m = &w->own;
        }
        if (mf_batch_init(&w->batch, run->m, run->cfg->fit.batch) != 0 ||
            fast_stage_init(&w->stage, run->cfg->fit.batch) != 0)
            return -1;
    }
    return 0;
}

typedef struct {
    mf_run *run;
    hogwild_state *s;
    size_t n_batches;
    uint64_t t0;       /* the optimiser's step count when the epoch began */
} hogwild_epoch;

/* thread t's batches g0 .. g1 − 1 of the epoch */
static void hogwild_share(void *ctx, size_t t, size_t T) {
    hogwild_epoch *h = ctx;
    mf_run *run = h->run;
    worker *w = &h->s->w[t];
    nn_optimizer opt = run->opt; /* its own step count; the moments are shared */
    fast_stepper step;
    size_t g, B = run->cfg->fit.batch, N = run->samples.n;
    size_t g0 = h->n_batches * t / T, g1 = h->n_batches * (t + 1) / T;
    size_t end = g1 * B < N ? g1 * B : N; /* where its part of the epoch ends */
    w->loss = 0.0;
    w->stage.from = w->stage.to = 0; /* a new order: nothing staged */
    w->batches = w->samples = w->bad_batch = 0;
    fast_stepper_init(&step, &opt, &w->m->params, NULL); /* lazy: no state of its own to fail */
    for (g = g0; g < g1; g++) {
        size_t start = g * B, nb = N - start < B ? N - start : B;
        double loss;
        if (fast_flag_raised(&h->s->halted) || mf_stop_asked(run)) break;
        fast_gather_staged(&w->stage, run, &w->batch, start, nb, end);
        loss = fast_batch_gradient(run, w->m, &w->batch, nb, &run->dropout[t]);
        if (!isfinite(loss)) {
            w->bad_batch = g + 1;
            fast_flag_raise(&h->s->halted);
            break;
        }
        opt.t = h->t0 + g; /* the step this batch takes on one thread */
        fast_step(&step, &w->m->params);
        nn_params_zero_grad(&w->m->params);
        w->loss += loss * (double)nb;
        w->batches++;
        w->samples += nb;
        if (t == 0) { /* thread 0 speaks for all: the others keep pace */
            size_t done = (g - g0 + 1) * B * T;
            mf_show_progress(run, done < N ? done : N, w->loss / (double)((g - g0 + 1) * B));
        }
    }
    fast_stepper_free(&step);
}

static double hogwild_run(mf_run *run) {
    hogwild_state *s = run->engine_state;
    size_t B = run->cfg->fit.batch, t, done = 0, bad = 0, samples_done = 0;
    hogwild_epoch h = {.run = run, .s = s, .n_batches = (run->samples.n + B - 1) / B,
                       .t0 = run->opt.t};
    double loss = 0.0;
    s->halted = 0;
    fast_parallel(s->T, hogwild_share, &h);
    for (t = 0; t < s->T; t++) {
        worker *w = &s->w[t];
        loss += w->loss; /* in thread order */
        done += w->batches;
        samples_done += w->samples;
        if (w->bad_batch && !bad) bad = w->bad_batch;
    }
    run->opt.t = h.t0 + done;
    if (bad) {
        run->halt.why = MF_HALT_NONFINITE;
        run->halt.batch = bad;
        return NAN;
    }
    if (done < h.n_batches) { /* asked to stop */
        run->halt.why = MF_HALT_STOP;
        run->halt.batch = done;
        return samples_done ? loss / (double)samples_done : 0.0;
    }
    return run->samples.n ? loss / (double)run->samples.n : 0.0;
}

static void hogwild_settle(mf_run *run) { (void)run; } /* lazy: nothing idle to catch up */

static int hogwild_accepts(const mf_model *m, const mf_train_config *cfg, data_error *err) {
    (void)m;
    (void)err;
    return cfg->fit.opt.update == NN_UPDATE_LAZY && cfg->speed.threads > 1;
}

const mf_engine fast_hogwild = {
    .name = "Hogwild",
    .accepts = hogwild_accepts,
    .begin = hogwild_begin,
    .epoch = hogwild_run,
    .settle = hogwild_settle,
    .evaluate = fast_evaluate,
    .end = hogwild_end,
};
