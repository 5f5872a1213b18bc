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

/* every engine's validation: mf_evaluate on the run's --threads (the
 * metrics do not depend on how many) */
mf_metrics fast_evaluate(const mf_run *run, const data_ratings *val);

#endif
