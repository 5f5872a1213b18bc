/* use/cold_start.h — recommendations for a user the model never saw, known
 * only by features (LightFM's cold start, beyond the notebooks).
 */
#ifndef EMBREC_USE_COLD_START_H
#define EMBREC_USE_COLD_START_H

#include "mf.h"

/* The n best items for a user the model never saw, known only by features
 * (ids into the model's user features): ũ = the mean of their embeddings
 * stands in for the user in every model (the bias model adds μ + b_i; no
 * user bias is known), scored against every item as mf_recommend does. 0
 * when the model has no user features. */
size_t mf_recommend_cold(const mf_model *m, const uint32_t *features, size_t n_features,
                         mf_scored *out, size_t n);

#endif
