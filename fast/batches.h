/* fast/batches.h — minibatch training without the sweep, with rows asked
 * for ahead, and data-parallel on threads (see batches.c). */
#ifndef EMBREC_FAST_BATCHES_H
#define EMBREC_FAST_BATCHES_H

#include "mf.h"

extern const mf_engine fast_batches;

/* The embedding rows of samples order[from .. to) of model m (the run's, or
 * a replica: its own gradient) — their weights, gradients and the
 * optimiser's moments — asked for a batch ahead, so that their cache misses
 * overlap the work of the batch before. */
void fast_prefetch_rows(const mf_run *run, const mf_model *m, size_t from, size_t to);

#endif
