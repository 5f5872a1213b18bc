/* use/baselines.h — the baselines a model is measured against: always
 * predicting the mean rating (what `embrec eval` and train's warning
 * compare RMSE with), and ranking items by popularity (the NCF protocol's
 * baseline beside HR@K and NDCG@K).
 */
#ifndef EMBREC_USE_BASELINES_H
#define EMBREC_USE_BASELINES_H

#include "mf.h"

/* mf_evaluate's metrics for always predicting mean */
mf_metrics mf_evaluate_mean(float mean, const data_ratings *r);
/* mf_rank_all's ranking (every field) with items scored by their number
 * of training rows (the most-popular baseline) */
int mf_rank_popularity(size_t n_users, size_t n_items, const data_ratings *train,
                       const data_ratings *test, size_t k, size_t n_neg,
                       uint64_t seed, mf_ranking *out, data_error *err);

#endif
