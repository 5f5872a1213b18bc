/* session/log.c — Keras's log of a training run (see log.h): the lines
 * model.fit(verbose=1 or 2) prints, in its format, so that a run here reads
 * like the notebook's output beside it.
 */
#define _POSIX_C_SOURCE 200809L
#include "session/log.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

double session_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Keras's progress bar: `  4096/90000 [=>............................] - ETA: 3s - loss: 0.9123` */
static void progress_bar(FILE *log, size_t done, size_t total, double elapsed,
                         double loss) {
    char bar[31];
    size_t width = 30, filled = total ? done * width / total : width, k;
    for (k = 0; k < width; k++)
        bar[k] = k < filled ? '=' : '.';
    if (filled > 0 && filled < width) bar[filled - 1] = '>';
    bar[width] = '\0';
    fprintf(log, "\r%*zu/%zu [%s]", (int)snprintf(NULL, 0, "%zu", total), done,
            total, bar);
    if (done < total)
        fprintf(log, " - ETA: %.0fs - loss: %.4f", done ? elapsed * (double)(total - done) / (double)done : 0.0, loss);
    fflush(log);
}

void mf_show_progress(mf_run *run, size_t done, double mean_loss) {
    double now;
    if (!run->bar) return;
    now = session_seconds() - run->started;
    if (now - run->bar_shown < 0.1) return; /* ten bars a second at most */
    progress_bar(run->bar, done, run->samples.n, now, mean_loss);
    run->bar_shown = now;
}

void session_log_start(mf_run *run, FILE *log, const data_ratings *val) {
    size_t n = run->train->n;
    int has_val = val && val->n > 0, verbose = run->cfg->session.verbose;
    run->log = log && verbose ? log : NULL;
    run->bar = log && verbose >= 2 && isatty(fileno(log)) ? log : NULL;
    if (!run->log) return;
    if (run->m->cfg.implicit)
        fprintf(run->log, "Train on %zu positives with %zu negatives each%s\n", n,
                run->cfg->fit.negatives, has_val ? ", rank the held-out items each epoch" : "");
    else if (has_val)
        fprintf(run->log, "Train on %zu samples, validate on %zu samples\n", n, val->n);
    else
        fprintf(run->log, "Train on %zu samples\n", n);
}

void session_log_epoch_begin(mf_run *run, size_t epoch) {
    if (run->log) fprintf(run->log, "Epoch %zu/%zu\n", epoch + 1, run->cfg->fit.epochs);
    run->bar_shown = 0.0;
}

void session_log_epoch_end(const mf_run *run, const mf_epoch *e, int has_val) {
    FILE *log = run->log;
    size_t n = run->samples.n, K = run->cfg->fit.rank_k;
    if (!log) return;
    if (run->bar) {
        progress_bar(log, n, n, e->seconds, e->loss);
        fprintf(log, " - %.0fs %.0fus/step", e->seconds, /* Keras: per sample */
                n ? 1e6 * e->seconds / (double)n : 0.0);
    } else {
        fprintf(log, " - %.0fs", e->seconds);
    }
    fprintf(log, " - loss: %.4f", e->loss);
    if (has_val && !isnan(e->hr))
        fprintf(log, " - hr@%zu: %.4f - ndcg@%zu: %.4f", K, e->hr, K, e->ndcg);
    else if (has_val)
        fprintf(log, " - val_loss: %.4f - val_rmse: %.4f - val_mae: %.4f",
                e->val_loss, sqrt(e->val_loss), e->val_mae);
    fprintf(log, "\n");
    fflush(log);
}

void session_log_early_stop(const mf_run *run, size_t epoch, size_t wait, int stopped_early) {
    if (!run->log) return;
    if (stopped_early) fprintf(run->log, "Epoch %05zu: early stopping\n", epoch + 1);
    else /* the epoch cap ends the run, not the callback */
        fprintf(run->log, "Epoch %05zu: the last epoch (no improvement for %zu epochs)\n",
                epoch + 1, wait);
}

void session_log_best(const mf_run *run, const mf_history *hist, int best_known, int restored) {
    const mf_epoch *b;
    size_t K = run->cfg->fit.rank_k;
    FILE *log = run->log;
    if (!log || !best_known) return;
    b = &hist->epoch[hist->best];
    if (run->m->cfg.implicit)
        fprintf(log, "Best HR@%zu %.4f (NDCG@%zu %.4f) at epoch %zu", K, b->hr, K, b->ndcg,
                hist->best + 1);
    else
        fprintf(log, "Best val_loss %.4f (RMSE %.4f) at epoch %zu", b->val_loss,
                sqrt(b->val_loss), hist->best + 1);
    if (restored) /* ModelCheckpoint(save_best_only) */
        fprintf(log, "; the model keeps that epoch's weights\n");
    else if (hist->best + 1 != hist->n) /* a run without it keeps what it ended with */
        fprintf(log, "; the model keeps the last epoch's (%zu) weights\n", hist->n);
    else
        fprintf(log, "\n");
}
