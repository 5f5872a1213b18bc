/* use/baselines.c — the baselines to beat (see baselines.h): no model, so
 * they are not in mf.c; a model's numbers mean something beside them.
 */
#include "use/baselines.h"

#include "use/ranking.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mf_metrics mf_evaluate_mean(float mean, const data_ratings *r) {
    mf_metrics out;
    double se = 0.0, ae = 0.0;
    size_t k;
    memset(&out, 0, sizeof out);
    for (k = 0; k < r->n; k++) {
        double e = (double)mean - (double)r->rating[k];
        se += e * e;
        ae += fabs(e);
    }
    mf_metrics_finish(&out, se, ae, r->n);
    return out;
}

static void popularity_scores(const void *ctx, mf_work *w, uint32_t u, const uint32_t *items,
                              size_t n, float *scores) {
    const uint32_t *count = ctx;
    size_t k;
    (void)w;
    (void)u;
    for (k = 0; k < n; k++) scores[k] = (float)count[items[k]];
}

int mf_rank_popularity(size_t n_users, size_t n_items, const data_ratings *train,
                       const data_ratings *test, size_t k, size_t n_neg, uint64_t seed,
                       mf_ranking *out, data_error *err) {
    uint32_t *count = calloc(n_items ? n_items : 1, sizeof *count);
    size_t j;
    int rc;
    if (!count) {
        data_errorf(err, "out of memory for the popularity baseline");
        return -1;
    }
    for (j = 0; j < train->n; j++)
        if (train->item[j] < n_items) count[train->item[j]]++;
    rc = mf_rank_with(popularity_scores, count, NULL, n_users, n_items, train, test, k, n_neg,
                      seed, out, err);
    if (rc == 0)
        rc = mf_rank_all_with(popularity_scores, count, NULL, n_users, n_items, train, test, k,
                              out, err);
    free(count);
    return rc;
}
