/* formats/history.c — the per-epoch history CSV (see history.h).
 *
 * The file is written whole again at the end of every epoch, as models are
 * (a temporary file, synced and renamed over the name), so the name always
 * holds the complete history of the epochs so far, never a half line: it can
 * be plotted while training runs, and it is whole however training ends (a
 * Ctrl-C, a second one, kill -9, a crash or a full disk). Renaming once at
 * the end would lose every epoch to anything but an orderly exit. The
 * price, rewriting a few short lines per epoch and a sync, is small beside
 * an epoch's work. A device or FIFO (/dev/stdout) cannot be renamed over: it
 * stays open and each epoch's line is appended.
 */
#define _POSIX_C_SOURCE 200809L
#include "formats/history.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the most epochs a history may say came before its first line */
#define MF_HISTORY_MAX_FIRST 1000000

int mf_history_load(mf_history *h, const char *path, data_error *err) {
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t lineno = 0, cap = 0;
    memset(h, 0, sizeof *h);
    if (!f) {
        data_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        double v[8];
        int n = 0;
        char *p = line, *end;
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, "epoch,loss,val_loss", 19) != 0) break;
            continue;
        }
        while (n < 8) { /* epoch,loss,val_loss,val_rmse,val_mae,seconds[,hr,ndcg] */
            v[n] = strtod(p, &end);
            if (end == p) break;
            n++;
            p = end;
            if (*p != ',') break;
            p++;
        }
        if (n >= 6 && h->n == 0 && v[0] > 1 && v[0] <= MF_HISTORY_MAX_FIRST &&
            v[0] == floor(v[0]))
            h->first = (size_t)v[0] - 1; /* a resumed run's: it starts later */
        if (n < 6 || v[0] != (double)((h->n ? h->n : h->first) + 1)) {
            data_errorf(err, "%s:%zu: not a line of an embrec history (\"%.40s\")", path,
                        lineno, line);
            fclose(f);
            mf_history_free(h);
            return -1;
        }
        if (h->n == 0) h->n = h->first; /* the epochs before it: NaN, no point on a plot */
        if (h->n + 1 > cap) {
            size_t want = h->n + 32 > 2 * cap ? h->n + 32 : 2 * cap, k;
            mf_epoch *ne = realloc(h->epoch, want * sizeof *ne);
            if (!ne) {
                data_errorf(err, "%s: out of memory", path);
                fclose(f);
                mf_history_free(h);
                return -1;
            }
            for (k = cap; k < want; k++) ne[k] = mf_epoch_unmeasured();
            h->epoch = ne;
            cap = want;
        }
        h->epoch[h->n].loss = v[1];
        h->epoch[h->n].val_loss = v[2];
        h->epoch[h->n].val_mae = v[4];
        h->epoch[h->n].seconds = v[5];
        h->epoch[h->n].hr = n > 6 ? v[6] : NAN;
        h->epoch[h->n].ndcg = n > 7 ? v[7] : NAN;
        h->n++;
    }
    fclose(f);
    if (lineno == 0 || h->n == 0) {
        data_errorf(err, "%s: not an embrec history (it starts \"epoch,loss,val_loss\")", path);
        mf_history_free(h);
        return -1;
    }
    return 0;
}

static void history_line(FILE *f, size_t epoch, const mf_epoch *e) {
    fprintf(f, "%zu,%.9g,%.9g,%.9g,%.9g,%.3f,%.9g,%.9g\n", epoch, e->loss, e->val_loss,
            sqrt(e->val_loss), e->val_mae, e->seconds, e->hr, e->ndcg);
}

/* The history file with the epochs of hist (before the first, the header
 * alone: the name then no longer holds an earlier run's history). 0 or -1
 * with err. */
static int history_save(mf_history_file *h, const mf_history *hist, data_error *err) {
    size_t k = h->written > hist->first ? h->written : hist->first;
    if (!h->path) return 0;
    if (!h->out.f) { /* a new file: everything from the header (a resumed run's from its first epoch) */
        if (data_out_open(&h->out, h->path, err) != 0) return -1;
        fprintf(h->out.f, "epoch,loss,val_loss,val_rmse,val_mae,seconds,hr,ndcg\n");
        k = hist->first;
    }
    for (; k < hist->n; k++) history_line(h->out.f, k + 1, &hist->epoch[k]);
    h->written = hist->n;
    return h->out.direct ? data_out_flush(&h->out, err) : data_out_commit(&h->out, err);
}

int mf_history_record(void *f, const mf_history *hist, int last, data_error *err) {
    mf_history_file *h = f;
    if (!last) return history_save(h, hist, err);
    /* the end: a direct stream is still open (each epoch's line was checked
     * as it went out); close it */
    return h->out.f ? data_out_commit(&h->out, err) : 0;
}
