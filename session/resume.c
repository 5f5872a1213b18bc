/* session/resume.c — a run's progress kept with the model, and taken up by
 * the next run (see resume.h).
 */
#include "session/resume.h"

#include <stdlib.h>
#include <string.h>

/* --resume, with a model that knows how far its run went */
static int resuming(const mf_run *run) {
    return run->cfg->session.resume && run->m->progress.present;
}

int session_resume_check(const mf_model *m, const mf_train_config *cfg, data_error *err) {
    size_t start = cfg->session.resume && m->progress.present ? m->progress.epochs_done : 0;
    if (start >= cfg->fit.epochs) {
        data_errorf(err, "the model has trained %zu epochs already: the run's total must be "
                    "above that (it is %zu)", start, cfg->fit.epochs);
        return -1;
    }
    return 0;
}

size_t session_resume_start(mf_run *run, mf_history *hist, double *best, size_t *wait) {
    const mf_model *m = run->m;
    const mf_progress *pg = &m->progress;
    size_t first = resuming(run) ? pg->epochs_done : 0, e;
    for (e = 0; e < first; e++) hist->epoch[e] = mf_epoch_unmeasured();
    hist->n = hist->first = first;
    if (resuming(run) && pg->best_epoch) {
        hist->best = pg->best_epoch - 1;
        hist->epoch[hist->best] = pg->best;
        *best = m->cfg.implicit ? -pg->best.hr : pg->best.val_loss;
        *wait = pg->wait;
    }
    if (m->opt_state.present && m->opt_state.cfg.kind == run->cfg->fit.opt.kind)
        nn_optimizer_resume(&run->opt, m->opt_state.m, m->opt_state.v, m->opt_state.t);
    return first;
}

int session_resumed_at_best(const mf_run *run) {
    return resuming(run) && run->m->progress.best_epoch && run->m->progress.best_weights;
}

int session_count_resumed(mf_model *m, const data_ratings *train) {
    size_t U = m->n_users, I = m->n_items, k;
    uint32_t *saved = malloc((U + I ? U + I : 1) * sizeof *saved);
    if (!saved) return -1;
    memcpy(saved, m->user_count, U * sizeof *saved);
    memcpy(saved + U, m->item_count, I * sizeof *saved);
    memset(m->user_count, 0, U * sizeof *m->user_count);
    memset(m->item_count, 0, I * sizeof *m->item_count);
    mf_count(m, train);
    for (k = 0; k < U; k++)
        if (saved[k] > m->user_count[k]) m->user_count[k] = saved[k];
    for (k = 0; k < I; k++)
        if (saved[U + k] > m->item_count[k]) m->item_count[k] = saved[U + k];
    free(saved);
    return 0;
}

/* The generators, the run's (shuffles, negatives) and then each dropout
 * stream, are streams[0 .. 1 + n_dropout) of the progress. */
int session_streams_open(mf_run *run) {
    mf_progress *pg = &run->m->progress;
    size_t n = 1 + run->n_dropout, t;
    nn_rng *s;
    if (resuming(run)) {
        if (pg->n_streams > 0) run->rng = pg->streams[0];
        for (t = 0; t < run->n_dropout && 1 + t < pg->n_streams; t++) run->dropout[t] = pg->streams[1 + t];
    }
    if (!(s = realloc(pg->streams, n * sizeof *s))) return -1;
    pg->streams = s;
    pg->n_streams = n;
    return 0;
}

void session_streams_save(mf_run *run) {
    mf_progress *pg = &run->m->progress;
    size_t t;
    pg->streams[0] = run->rng;
    for (t = 0; t < run->n_dropout && 1 + t < pg->n_streams; t++) pg->streams[1 + t] = run->dropout[t];
}

/* Keep the optimiser's state with the model (mf_model.opt_state), so that a
 * saved model can resume training; none for SGD, and none when out of memory. */
static void keep_opt_state(mf_model *mo, const nn_optimizer *opt, float base_lr) {
    size_t n = mo->params.n;
    nn_free(mo->opt_state.m);
    nn_free(mo->opt_state.v);
    memset(&mo->opt_state, 0, sizeof mo->opt_state);
    if (opt->cfg.kind != NN_SGD) {
        mo->opt_state.m = nn_alloc(n * sizeof(float));
        mo->opt_state.v = nn_alloc(n * sizeof(float));
        if (!mo->opt_state.m || !mo->opt_state.v || !opt->m || !opt->v) { /* no memory: none kept */
            nn_free(mo->opt_state.m);
            nn_free(mo->opt_state.v);
            mo->opt_state.m = mo->opt_state.v = NULL;
            return;
        }
        memcpy(mo->opt_state.m, opt->m, n * sizeof(float));
        memcpy(mo->opt_state.v, opt->v, n * sizeof(float));
    }
    mo->opt_state.cfg = opt->cfg;
    mo->opt_state.cfg.lr = base_lr; /* (the run's rate, not its last epoch's decayed one) */
    mo->opt_state.t = opt->t;
    mo->opt_state.present = 1;
}

/* EarlyStopping's state and the settings of the run into m->progress */
static void progress_record(mf_model *m, const mf_train_config *cfg, const mf_history *hist,
                            int best_known, size_t wait, int at_best) {
    mf_progress *pg = &m->progress;
    pg->present = 1;
    pg->epochs_done = hist->n;
    pg->best_epoch = best_known ? hist->best + 1 : 0;
    pg->best = best_known ? hist->epoch[hist->best] : mf_epoch_unmeasured();
    pg->best.seconds = 0.0;
    pg->best_weights = best_known && at_best;
    pg->wait = wait;
    pg->epochs = cfg->fit.epochs;
    pg->batch = cfg->fit.batch;
    pg->patience = cfg->fit.patience;
    pg->negatives = cfg->fit.negatives;
    pg->rank_k = cfg->fit.rank_k;
    pg->blocks = cfg->speed.blocks;
    pg->restore_best = cfg->fit.restore_best;
    pg->seed = cfg->fit.seed;
    pg->order = cfg->replay.order;
    pg->numpy_seed = cfg->replay.numpy_seed;
    pg->lr_decay = cfg->fit.lr_decay > 0 ? cfg->fit.lr_decay : 1.0;
}

void session_resume_keep(mf_run *run, const mf_history *hist, int rc, int best_known,
                         size_t wait, int at_best) {
    if (rc == 0) session_streams_save(run); /* as the next epoch would start */
    keep_opt_state(run->m, &run->opt, run->cfg->fit.opt.lr);
    progress_record(run->m, run->cfg, hist, best_known, wait, at_best);
}
