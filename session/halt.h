/* session/halt.h — why a training run ended before its last batch: a
 * signal asked it to stop (the session's stop flag), or a batch's loss was
 * no longer finite; and what the run then says about it.
 */
#ifndef EMBREC_SESSION_HALT_H
#define EMBREC_SESSION_HALT_H

#include "mf.h"

/* The epoch (from 0) ended early, as run->halt says: err says where and
 * why, and, when kept_epoch (from 1) is not 0, that the model keeps that
 * epoch's weights (ModelCheckpoint's); a divergence names the tensors that
 * hold non-finite weights. MF_TRAIN_STOPPED or MF_TRAIN_DIVERGED. */
int session_halt(const mf_run *run, size_t epoch, size_t kept_epoch, data_error *err);

/* the names of the tensors whose part of block (in ps's layout: the
 * weights, or an optimiser moment) holds NaN or ±Inf, comma-separated,
 * into buf ("" when none) */
void mf_nonfinite_tensors(const nn_params *ps, const float *block, char *buf, size_t size);

#endif
