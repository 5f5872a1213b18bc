/* use/ranking.h — ranking against every item a user has not seen, beside
 * the NCF protocol's sampled ranking (mf_rank_evaluate, which validation
 * uses): HR@K and NDCG@K without sampling, and the precision and recall of
 * the user's top K (what `embrec eval --ranking` prints).
 */
#ifndef EMBREC_USE_RANKING_H
#define EMBREC_USE_RANKING_H

#include "mf.h"

/* For each test row (u, i): its rank among every item u has not
 * interacted with (in train or test), with ties against it, into
 * out->hr_all and out->ndcg_all (means over test rows); and u's top K of
 * the items not in train, with u's test rows as the relevant set, into
 * out->precision and out->recall (means over users). The other fields of
 * out are left as they are. Items scored by f (with ctx; m, when not NULL,
 * is the model f's scratch is made for). 0, or -1 with err. */
int mf_rank_all_with(mf_item_scorer f, const void *ctx, const mf_model *m, size_t n_users,
                     size_t n_items, const data_ratings *train, const data_ratings *test,
                     size_t k, mf_ranking *out, data_error *err);

/* mf_rank_evaluate and mf_rank_all_with for the model: every field of out */
int mf_rank_all(const mf_model *m, const data_ratings *train, const data_ratings *test,
                size_t k, size_t n_neg, uint64_t seed, mf_ranking *out, data_error *err);

#endif
