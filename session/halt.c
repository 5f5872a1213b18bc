/* session/halt.c — why a training run ended early, in words (see halt.h):
 * where it stopped, which weights the model keeps, and, when it diverged,
 * which tensors went non-finite and what to try instead.
 */
#define _POSIX_C_SOURCE 200809L
#include "session/halt.h"

#include <math.h>
#include <string.h>

int mf_stop_asked(const mf_run *run) {
    const volatile sig_atomic_t *stop = run->cfg->session.stop;
    return stop && *stop;
}

void mf_nonfinite_tensors(const nn_params *ps, const float *block, char *buf, size_t size) {
    size_t t, r, c, used = 0;
    buf[0] = '\0';
    for (t = 0; t < ps->n_tensors; t++) {
        const nn_tensor *tt = &ps->t[t];
        int bad = 0;
        for (r = 0; r < tt->rows && !bad; r++)
            for (c = 0; c < tt->k && !bad; c++)
                bad = !isfinite(block[tt->offset + r * tt->stride + c]);
        if (bad && used + strlen(tt->name) + 3 < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", tt->name);
    }
}

int session_halt(const mf_run *run, size_t epoch, size_t kept_epoch, data_error *err) {
    const mf_halt *h = &run->halt;
    char where[96], kept[96] = "", bad[256];
    if (run->bar) fprintf(run->bar, "\n"); /* below the bar the epoch left */
    if (kept_epoch) snprintf(kept, sizeof kept, "; the model keeps epoch %zu's weights", kept_epoch);
    if (h->batch) snprintf(where, sizeof where, "epoch %zu, batch %zu of %zu", epoch + 1, h->batch,
                           h->batches);
    else snprintf(where, sizeof where, "epoch %zu", epoch + 1);
    if (h->why == MF_HALT_STOP) {
        data_errorf(err, "interrupted in %s%s", where, kept);
        return MF_TRAIN_STOPPED;
    }
    mf_nonfinite_tensors(&run->m->params, run->m->params.w, bad, sizeof bad);
    data_errorf(err, "training diverged in %s: the loss is no longer finite (%s); "
                "try a smaller learning rate than --lr %g%s", where,
                bad[0] ? bad : "the weights are still finite", (double)run->cfg->fit.opt.lr,
                kept);
    return MF_TRAIN_DIVERGED;
}
