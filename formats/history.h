/* formats/history.h — the per-epoch history as CSV (--history):
 *
 *     epoch,loss,val_loss,val_rmse,val_mae,seconds,hr,ndcg
 *
 * one line per epoch from the run's first (a resumed run's starts later),
 * written whole again at the end of every epoch (see history.c), and read
 * back for `embrec plot`.
 */
#ifndef EMBREC_FORMATS_HISTORY_H
#define EMBREC_FORMATS_HISTORY_H

#include "mf.h"
#include "formats/output.h"

/* read back a history CSV that --history wrote; a resumed run's starts at a
 * later epoch, and the epochs before it are NaN (h->first says how many);
 * 0 or -1 with err */
int mf_history_load(mf_history *h, const char *path, data_error *err);

/* A history file being written. Zero it and set path, then pass
 * mf_history_record and its address to mf_train (mf_session.record). */
typedef struct {
    const char *path;
    data_out out;          /* open between epochs only when direct (a device, a FIFO) */
    size_t written;        /* epochs already in a direct stream */
} mf_history_file;

/* mf_session.record for a history file: the epochs of hist, whole, under
 * f->path (last: the run has ended, close it). 0 or -1 with err. */
int mf_history_record(void *f, const mf_history *hist, int last, data_error *err);

#endif
