/* use/ranking.c — ranking against every unseen item, and the top K's
 * precision and recall (see ranking.h). One pass over the users with held-
 * out items: score every item, then rank each held-out item among the
 * items the user has not seen, and keep the top K of those not in train.
 */
#include "use/ranking.h"

#include <stdlib.h>
#include <string.h>

/* what the pass allocates once: each user's items, every item's index and
 * score, the current user's top K */
typedef struct {
    data_user_items train, test;
    uint32_t *all;      /* (I) 0..I-1 */
    float *score;       /* (I) */
    mf_scored *top;     /* (K) */
    mf_work w;
} all_items_pass;

static void pass_free(all_items_pass *p) {
    data_user_items_free(&p->train);
    data_user_items_free(&p->test);
    free(p->all);
    free(p->score);
    free(p->top);
    mf_work_free(&p->w);
}

static int pass_init(all_items_pass *p, const mf_model *m, size_t n_users, size_t n_items,
                     const data_ratings *train, const data_ratings *test, size_t K) {
    size_t j;
    memset(p, 0, sizeof *p);
    p->all = malloc((n_items ? n_items : 1) * sizeof *p->all);
    p->score = malloc((n_items ? n_items : 1) * sizeof *p->score);
    p->top = malloc(K * sizeof *p->top);
    if (!p->all || !p->score || !p->top ||
        data_user_items_build(&p->train, train, n_users) != 0 ||
        data_user_items_build(&p->test, test, n_users) != 0 ||
        (m && mf_work_init(&p->w, m, MF_SCORE_CHUNK) != 0)) {
        pass_free(p);
        return -1;
    }
    for (j = 0; j < n_items; j++) p->all[j] = (uint32_t)j;
    return 0;
}

/* user u's held-out items ranked among the items u has not seen (HR, NDCG),
 * and u's top K of the items not in train (precision, recall) */
static void rank_user_all(all_items_pass *p, uint32_t u, size_t n_items, size_t K,
                          mf_ranking *out) {
    const uint32_t *t = p->test.item + p->test.start[u];
    size_t nt = p->test.start[u + 1] - p->test.start[u], hits = 0, filled = 0, j, k;
    for (k = 0; k < nt; k++) {
        size_t rank = 0;
        for (j = 0; j < n_items; j++)
            rank += p->score[j] >= p->score[t[k]] && !data_user_items_has(&p->train, u, (uint32_t)j)
                    && !data_user_items_has(&p->test, u, (uint32_t)j);
        mf_rank_add(rank, K, &out->hr_all, &out->ndcg_all);
    }
    for (j = 0; j < n_items; j++) {
        mf_scored c = {.item = (uint32_t)j, .score = p->score[j]};
        if (!data_user_items_has(&p->train, u, (uint32_t)j)) mf_offer(p->top, K, &filled, c);
    }
    for (j = 0; j < filled; j++) hits += data_user_items_has(&p->test, u, p->top[j].item);
    out->precision += (double)hits / (double)K;  /* P@K = hits / K */
    out->recall += (double)hits / (double)nt;    /* R@K = hits / |test(u)| */
}

int mf_rank_all_with(mf_item_scorer f, const void *ctx, const mf_model *m, size_t n_users,
                     size_t n_items, const data_ratings *train, const data_ratings *test,
                     size_t K, mf_ranking *out, data_error *err) {
    all_items_pass p;
    size_t rows = 0, users = 0;
    uint32_t u;
    out->hr_all = out->ndcg_all = out->precision = out->recall = 0.0;
    if (K == 0) {
        data_errorf(err, "the ranking cut-off K must be at least 1");
        return -1;
    }
    if (pass_init(&p, m, n_users, n_items, train, test, K) != 0) {
        data_errorf(err, "out of memory for the ranking evaluation (or a row outside the model)");
        return -1;
    }
    for (u = 0; u < n_users; u++) {
        size_t nt = p.test.start[u + 1] - p.test.start[u];
        if (nt == 0) continue; /* nothing held out */
        f(ctx, &p.w, u, p.all, n_items, p.score);
        rank_user_all(&p, u, n_items, K, out);
        rows += nt;
        users++;
    }
    if (rows) { /* HR and NDCG over the held-out rows, P and R over users */
        out->hr_all /= (double)rows;
        out->ndcg_all /= (double)rows;
        out->precision /= (double)users;
        out->recall /= (double)users;
    }
    pass_free(&p);
    return 0;
}

int mf_rank_all(const mf_model *m, const data_ratings *train, const data_ratings *test,
                size_t k, size_t n_neg, uint64_t seed, mf_ranking *out, data_error *err) {
    if (mf_rank_evaluate(m, train, test, k, n_neg, seed, out, err) != 0) return -1;
    return mf_rank_all_with(mf_score_items, m, m, m->n_users, m->n_items, train, test, k, out,
                            err);
}
