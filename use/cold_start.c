/* use/cold_start.c — a new user's recommendations from features alone (see
 * cold_start.h): the model's forward pass with the user's vector given
 * (mf_work.cold_user) in place of a row.
 */
#include "use/cold_start.h"

#include <stdlib.h>

size_t mf_recommend_cold(const mf_model *m, const uint32_t *features, size_t n_features,
                         mf_scored *out, size_t n) {
    size_t K = m->cfg.dim, got, k;
    float *cold;
    mf_work w;
    if (n == 0 || n_features == 0 || !m->user_features.n_features) return 0;
    for (k = 0; k < n_features; k++)
        if (features[k] >= m->user_features.n_features) return 0;
    cold = calloc(K, sizeof *cold);
    if (!cold || mf_work_init(&w, m, MF_SCORE_CHUNK) != 0) {
        free(cold);
        return 0;
    }
    for (k = 0; k < n_features; k++) /* ũ = (1/|F|) Σ e_f */
        vec_axpy(cold, 1.0f / (float)n_features,
                 m->w.user_feature_embedding + features[k] * m->S, K);
    w.cold_user = cold;
    got = mf_recommend_with(m, &w, 0, NULL, out, n);
    mf_work_free(&w);
    free(cold);
    return got;
}
