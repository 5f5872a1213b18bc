/* fast/batches.h — minibatch training without the sweep, with rows asked
 * for ahead, and data-parallel on threads (see batches.c). */
#ifndef EMBREC_FAST_BATCHES_H
#define EMBREC_FAST_BATCHES_H

#include "mf.h"

extern const mf_engine fast_batches;

/* mf_batch_gradient with the batch's embedding rows asked for all at once:
 * their weights before the forward pass, their gradients before the
 * backward, so that the misses overlap instead of arriving one by one. The
 * same values. */
double fast_batch_gradient(const mf_run *run, mf_model *m, mf_batch *b, size_t nb,
                           nn_rng *dropout);

/* The epoch's samples in its order, a chunk at a time: the order reads the
 * sample columns at random, and a chunk's reads, issued in one loop,
 * overlap, where a batch's few reads each wait; the batches then copy
 * theirs in order. Set from = to = 0 when the order changes. */
typedef struct {
    uint32_t *u, *i;   /* (cap) the samples of order[from .. to) */
    float *y;
    size_t from, to, cap;
} fast_stage;

/* room for a chunk, and for batches of B; 0 or -1 (no memory) */
int fast_stage_init(fast_stage *st, size_t B);
void fast_stage_free(fast_stage *st);
/* batch b = the samples order[start .. start + nb), as mf_gather_batch
 * gives it, from the staged chunk: one of order[start .. end) is staged
 * first when the batch is not all in the one staged (end: where this
 * caller's part of the epoch ends) */
void fast_gather_staged(fast_stage *st, const mf_run *run, mf_batch *b, size_t start, size_t nb,
                        size_t end);

/* every engine's validation: mf_evaluate on the run's --threads (the
 * metrics do not depend on how many) */
mf_metrics fast_evaluate(const mf_run *run, const data_ratings *val);

#endif
