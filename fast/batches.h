/* fast/batches.h — minibatch training without the sweep, with rows asked
 * for ahead, and data-parallel on threads (see batches.c). */
#ifndef EMBREC_FAST_BATCHES_H
#define EMBREC_FAST_BATCHES_H

#include "mf.h"
#include "fast/prefetch.h"

extern const mf_engine fast_batches;

/* The embedding rows of samples order[from .. to) of model m (the run's, or
 * a replica: its own gradient) — their weights, gradients and the
 * optimiser's moments — asked for a batch ahead, so that their cache misses
 * overlap the work of the batch before. */
FAST_PREFETCHER void fast_prefetch_rows(const mf_run *run, const mf_model *m, size_t from, size_t to) {
    const mf_samples *s = &run->samples;
    const float *w0 = m->params.w, *P = m->w.user_embedding, *Q = m->w.item_embedding;
    size_t k, S = m->S, K = m->cfg.dim;
    if (to > s->n) to = s->n;
    for (k = from; k < to; k++) {
        size_t pu = (size_t)(P - w0) + s->user[run->order[k]] * S; /* offsets in the block */
        size_t qi = (size_t)(Q - w0) + s->item[run->order[k]] * S;
        fast_prefetch(m->params.w + pu, K);
        fast_prefetch(m->params.w + qi, K);
        fast_prefetch(m->params.dw + pu, K);
        fast_prefetch(m->params.dw + qi, K);
        if (run->opt.m) {
            fast_prefetch(run->opt.m + pu, K);
            fast_prefetch(run->opt.m + qi, K);
            fast_prefetch(run->opt.v + pu, K);
            fast_prefetch(run->opt.v + qi, K);
        }
    }
}

#endif
