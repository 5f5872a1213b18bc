/* session/log.h — Keras's log of a training run: "Train on N samples",
 * "Epoch 3/30", the progress bar, each epoch's closing line with its loss
 * and validation figures, EarlyStopping's line and the best epoch's.
 *
 * mf_train (mf.c) calls one of these at each point of fit() that Keras
 * logs; they print to the run's log (mf_run.log, NULL: nothing) and never
 * change what the run computes. mf_show_progress, the bar an engine draws
 * during an epoch, is declared with the engines in mf.h.
 */
#ifndef EMBREC_SESSION_LOG_H
#define EMBREC_SESSION_LOG_H

#include "mf.h"

/* a monotonic clock in seconds: the epochs' times (mf_epoch.seconds) */
double session_seconds(void);
/* The run's log (run->log, run->bar) from the session's settings: lines
 * to log when verbose, a progress bar as well when verbose 2 and log is a
 * terminal; and its first line, "Train on 10800 samples, validate on 1200
 * samples" (val may be NULL). */
void session_log_start(mf_run *run, FILE *log, const data_ratings *val);
/* "Epoch 3/30", and a fresh bar */
void session_log_epoch_begin(mf_run *run, size_t epoch);
/* the epoch's closing line: " - 3s - loss: 0.9123 - val_loss: ..." */
void session_log_epoch_end(const mf_run *run, const mf_epoch *e, int has_val);
/* EarlyStopping's line at epoch (from 0) after wait epochs without an
 * improvement: "early stopping", or at the epoch cap "the last epoch" */
void session_log_early_stop(const mf_run *run, size_t epoch, size_t wait, int stopped_early);
/* the closing line: the best epoch's figures when they were measured
 * (best_known), and which epoch's weights the model keeps (restored: the
 * best's, by ModelCheckpoint) */
void session_log_best(const mf_run *run, const mf_history *hist, int best_known, int restored);

#endif
