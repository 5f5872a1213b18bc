/* use/many_users.c — mf_recommend for a block of users (see many_users.h).
 */
#include "use/many_users.h"

#include <stdlib.h>

/* mf_recommend_users in shares: share t of T takes the t-th run of the
 * block's users, with an exclusion list and scratch of its own */
typedef struct {
    const mf_model *m;
    const data_user_items *rated;
    uint32_t first;       /* the block's first user */
    size_t count, n;
    mf_scored *out;       /* (count, n) */
    size_t *got;          /* (count) */
    uint8_t *failed;      /* (T) share t ran out of memory */
} recommend_task;

static void recommend_share(void *ctx, size_t t, size_t T) {
    recommend_task *rt = ctx;
    const mf_model *m = rt->m;
    uint8_t *exclude = calloc(m->n_items ? m->n_items : 1, 1);
    mf_work w;
    size_t b, k;
    if (!exclude || mf_work_init(&w, m, MF_SCORE_CHUNK) != 0) {
        free(exclude);
        rt->failed[t] = 1;
        return;
    }
    for (b = rt->count * t / T; b < rt->count * (t + 1) / T; b++) {
        uint32_t u = rt->first + (uint32_t)b;
        const uint32_t *it = rt->rated && u < rt->rated->n_users
                                 ? rt->rated->item + rt->rated->start[u] : NULL;
        size_t nr = it ? rt->rated->start[u + 1] - rt->rated->start[u] : 0;
        rt->got[b] = 0;
        if (!mf_user_known(m, u)) continue;
        for (k = 0; k < nr; k++) exclude[it[k]] = 1;
        rt->got[b] = mf_recommend_with(m, &w, u, exclude, rt->out + b * rt->n, rt->n);
        for (k = 0; k < nr; k++) exclude[it[k]] = 0;
    }
    mf_work_free(&w);
    free(exclude);
}

int mf_recommend_users(const mf_model *m, const data_user_items *rated, uint32_t first,
                       size_t count, size_t n, size_t threads, mf_scored *out, size_t *got) {
    recommend_task rt = {.m = m, .rated = rated, .first = first, .count = count, .n = n,
                         .out = out, .got = got};
    size_t t, T = threads < 1 ? 1 : threads;
    int failed = 0;
    if (T > count) T = count ? count : 1;
    rt.failed = calloc(T, 1);
    if (!rt.failed) return -1;
    nn_run_shares(T, recommend_share, &rt);
    for (t = 0; t < T; t++) failed |= rt.failed[t];
    free(rt.failed);
    return failed ? -1 : 0;
}
