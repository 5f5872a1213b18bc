/* tests/test_mf.c — the matrix-factorisation models: gradients against finite
 * differences, training end to end, early stopping, recommendation, model
 * files, and MovieLens 100K when ../shared/movielens is present. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <stdint.h>
#include <sys/stat.h>

#include "../cli/synth.h"
#include "../fast/fast.h"
#include "../formats/model_file.h"
#include "../formats/npy.h"
#include "../formats/numpy.h"
#include "../mf.h"
#include "../use/baselines.h"
#include "../use/cold_start.h"
#include "../use/many_users.h"
#include "../use/ranking.h"
#include "../cli/summary.h"
#include "../formats/history.h"
#include "fixture.h"
#include "test.h"

/* Hand-made side information for 4 users and 5 items (the hybrid tests set
 * tiny_features to use it): user 0 has features {0, 2}, user 1 {1}, user 2
 * none, user 3 {0, 1, 2}; items 0 {0}, 1 {0, 1}, 2 {1}, 3 none, 4 {0}. */
static uint32_t uf_start[5] = {0, 2, 3, 3, 6}, uf_feature[6] = {0, 2, 1, 0, 1, 2};
static size_t uf_name[3] = {0, 10, 19};
static char uf_text[] = "age:18-24\0gender:F\0occupation:writer";
static const data_features user_features = {4, uf_start, uf_feature, 3, uf_name, uf_text,
                                            sizeof uf_text - 1, sizeof uf_text};
static uint32_t if_start[6] = {0, 1, 3, 4, 4, 5}, if_feature[5] = {0, 0, 1, 1, 0};
static size_t if_name[2] = {0, 13};
static char if_text[] = "genre:Comedy\0year:1990s";
static const data_features item_features = {5, if_start, if_feature, 2, if_name, if_text,
                                            sizeof if_text - 1, sizeof if_text};
static int tiny_features; /* 1: tiny_model gives 4×5 models the features above; 2: the
                           * item features only */

/* A model over U users and I items whose ids are 100+u and 500+i; the deep
 * model's items fall into 3 genre strings (item k has genre k % 3). */
static void tiny_model(mf_model *m, mf_config cfg, size_t U, size_t I, uint64_t seed) {
    mf_side side = {NULL, 0, NULL, NULL};
    uint32_t genre[64];
    data_idmap users, items;
    data_ratings all;
    data_error err;
    nn_rng rng;
    size_t k;
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    for (k = 0; k < U; k++) data_idmap_intern(&users, (int64_t)(100 + k));
    for (k = 0; k < I; k++) data_idmap_intern(&items, (int64_t)(500 + k));
    for (k = 0; k < U * I; k++)
        data_ratings_push(&all, (uint32_t)(k % U), (uint32_t)(k % I), (float)(1 + k % 5), 0);
    for (k = 0; k < I && k < 64; k++) genre[k] = (uint32_t)(k % 3);
    nn_rng_seed(&rng, seed);
    side.item_genre = genre;
    side.n_genres = 3;
    if (tiny_features && U == 4 && I == 5) {
        side.user_features = tiny_features == 1 ? &user_features : NULL;
        side.item_features = &item_features;
    }
    if (mf_init(m, cfg, &users, &items, &all, &side, &rng, &err) != 0)
        test_fail(__FILE__, __LINE__, "mf_init: %s", err.msg);
    mf_count(m, &all);
    data_ratings_free(&all);
    data_idmap_free(&users);
    data_idmap_free(&items);
}

/* The batch loss the trainer minimises, in double from the float forward.
 * Dropout draws the same masks on every call (the rng is reseeded), so the
 * finite differences see one fixed network. */
static double batch_loss(const mf_model *m, mf_work *w, const uint32_t *u, const uint32_t *i,
                         const float *y, size_t B) {
    float pred[16];
    nn_rng dropout;
    nn_rng_seed(&dropout, 99);
    mf_forward(m, w, pred, u, i, B, &dropout);
    if (m->cfg.implicit) return nn_bce_logits_forward(pred, y, B) + mf_l2_loss(m, w, u, i, B);
    return nn_mse_forward(pred, y, B) + mf_l2_loss(m, w, u, i, B);
}

/* Central differences on every parameter of every tensor (columns < K) against
 * mf_backward. Returns the largest |analytic gradient| seen, so the caller can
 * insist the check was not passed by gradients that are zero everywhere. */
static double gradient_check(mf_model *m, const uint32_t *u, const uint32_t *i,
                             const float *y, size_t B, float h, double rtol, double atol) {
    nn_params *ps = &m->params;
    float pred[16], dpred[16];
    double max_grad = 0.0;
    size_t t, r, c;
    mf_work w;
    nn_rng dropout;
    CHECK(mf_work_init(&w, m, B) == 0);
    nn_rng_seed(&dropout, 99);
    mf_forward(m, &w, pred, u, i, B, &dropout);
    if (m->cfg.implicit) nn_bce_logits_backward(dpred, pred, y, B);
    else nn_mse_backward(dpred, pred, y, B);
    mf_backward(m, &w, dpred, u, i, B, B);
    for (t = 0; t < ps->n_tensors; t++) {
        const nn_tensor *tt = &ps->t[t];
        for (r = 0; r < tt->rows; r++)
            for (c = 0; c < tt->k; c++) {
                float *p = ps->w + tt->offset + r * tt->stride + c;
                double g = ps->dw[tt->offset + r * tt->stride + c], fd;
                float saved = *p;
                *p = saved + h;
                fd = batch_loss(m, &w, u, i, y, B);
                *p = saved - h;
                fd -= batch_loss(m, &w, u, i, y, B);
                *p = saved;
                fd /= 2.0 * (double)h;
                if (!test_close(g, fd, rtol, atol))
                    test_fail(__FILE__, __LINE__, "%s[%zu][%zu]: backward %.7g, finite "
                              "difference %.7g", tt->name, r, c, g, fd);
                if (fabs(g) > max_grad) max_grad = fabs(g);
            }
    }
    nn_params_zero_grad(ps);
    mf_work_free(&w);
    return max_grad;
}

/* dot and bias: the loss is quadratic in each single weight, so central
 * differences are exact up to float32 rounding of the forward pass (~1e-7
 * relative, over 2h = 0.02: 5e-6), and atol 2e-4 is generous. deep and neumf:
 * the O(h²) term of a smooth network (tanh, sigmoid) at h = 5e-3 stays near
 * 1e-5 here, float32 rounding over 2h near 2e-5: rtol 1e-2, atol 5e-4. */
static void check_gradients_of(mf_model *m) {
    mf_config cfg = m->cfg;
    int deep = cfg.kind == MF_DEEP || cfg.kind == MF_NEUMF;
    float h = deep ? 5e-3f : 1e-2f;
    double rtol = deep ? 1e-2 : 1e-3, atol = deep ? 5e-4 : 2e-4;
    /* user 1 and item 2 repeat within the batch: their gradients must add up */
    static const uint32_t u[6] = {0, 1, 2, 1, 3, 1};
    static const uint32_t i[6] = {2, 0, 2, 1, 4, 2};
    static const float ratings[6] = {4.0f, 1.0f, 3.5f, 5.0f, 2.0f, 4.5f};
    static const float labels[6] = {1.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f};
    const float *y = cfg.implicit ? labels : ratings;
    nn_rng rng;
    size_t k;
    /* larger weights than the 0.05 init, so every term of the gradient matters */
    nn_rng_seed(&rng, 3);
    for (k = 0; k < m->params.n; k++)
        if (m->params.w[k] != 0.0f) m->params.w[k] = (float)(nn_rng_uniform(&rng) - 0.5);
    if (mf_has_biases(m)) {
        float *bu = nn_param(&m->params, m->id.user_bias), *bi = nn_param(&m->params, m->id.item_bias);
        for (k = 0; k < 4; k++) bu[k * m->params.t[m->id.user_bias].stride] = 0.1f * (float)k - 0.1f;
        for (k = 0; k < 5; k++) bi[k * m->params.t[m->id.item_bias].stride] = 0.2f - 0.05f * (float)k;
    }
    /* BCE's gradients, (σ(z) − y)/B, are smaller than the MSE's 2(r̂ − r)/B */
    CHECK(gradient_check(m, u, i, y, 6, h, rtol, atol) > (cfg.implicit ? 1e-3 : 0.05));
    /* a row no rating uses gets no gradient, and zero_grad left none behind */
    for (k = 0; k < m->params.n; k++) CHECK(m->params.dw[k] == 0.0f);
}

static void check_model_gradients(mf_config cfg) {
    mf_model m;
    tiny_model(&m, cfg, 4, 5, 7);
    check_gradients_of(&m);
    mf_free(&m);
}

static void test_gradients_dot(void) {
    mf_config cfg = mf_defaults();
    cfg.dim = 3;
    check_model_gradients(cfg);
}

static void test_gradients_dot_centred(void) {
    mf_config cfg = mf_defaults();
    cfg.dim = 5;
    cfg.centre = 1;
    check_model_gradients(cfg);
}

static void test_gradients_bias_l2(void) {
    mf_config cfg = mf_defaults();
    cfg.kind = MF_BIAS;
    cfg.dim = 4;
    cfg.l2 = 0.3f;
    check_model_gradients(cfg);
}

/* Dropout on, tanh between the layers (smooth, so finite differences hold):
 * the concatenation, three embeddings with a shared genre row, two hidden
 * layers, and the scaled sigmoid all take part. */
static void test_gradients_deep(void) {
    mf_config cfg = mf_defaults_for(MF_DEEP);
    cfg.dim = 4;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 5;
    cfg.hidden[1] = 3;
    cfg.hidden_act = NN_TANH;
    cfg.dropout_embed = 0.3f;
    cfg.dropout_hidden = 0.25f;
    check_model_gradients(cfg);
}

/* implicit feedback: the logit through binary cross-entropy, for a matrix
 * factorisation and for each network (GMF, MLP) */
static void test_gradients_implicit(void) {
    mf_config cfg = mf_defaults_for(MF_BIAS);
    cfg.dim = 3;
    cfg.l2 = 0.1f;
    cfg.implicit = 1;
    check_model_gradients(cfg);
    cfg = mf_defaults_for(MF_GMF);
    cfg.dim = 4;
    cfg.implicit = 1;
    check_model_gradients(cfg);
    cfg = mf_defaults_for(MF_MLP);
    cfg.dim = 3;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 4;
    cfg.hidden[1] = 2;
    cfg.hidden_act = NN_TANH;
    cfg.dropout_embed = 0.2f;
    cfg.implicit = 1;
    check_model_gradients(cfg);
}

/* NCF's fusion: GMF and MLP parts on their own embeddings, joined before the
 * output layer; dropout everywhere so every mask takes part */
static void test_gradients_ncf(void) {
    mf_config cfg = mf_defaults_for(MF_NCF);
    cfg.dim = 3;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 4;
    cfg.hidden[1] = 2;
    cfg.hidden_act = NN_TANH;
    cfg.dropout_embed = 0.2f;
    cfg.dropout_hidden = 0.3f;
    check_model_gradients(cfg);
    cfg.implicit = 1;
    check_model_gradients(cfg);
}

/* LightFM's hybrid: ũ = p_u + mean of its feature embeddings, for the dot
 * and bias heads and implicit feedback; rows without features included */
static void test_gradients_hybrid(void) {
    mf_config cfg = mf_defaults();
    mf_model m;
    tiny_features = 1;
    cfg.dim = 3;
    check_model_gradients(cfg);
    cfg.kind = MF_BIAS;
    cfg.l2 = 0.2f;
    check_model_gradients(cfg);
    cfg.implicit = 1;
    check_model_gradients(cfg);
    /* the networks take ũ and q̃ as their user and movie embeddings */
    cfg = mf_defaults_for(MF_DEEP);
    cfg.dim = 3;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 4;
    cfg.hidden_act = NN_TANH;
    cfg.dropout_embed = 0.25f;
    check_model_gradients(cfg);
    cfg = mf_defaults_for(MF_NEUMF);
    cfg.dim = 4;
    cfg.hidden[0] = 3;
    cfg.hidden_act = NN_TANH;
    cfg.dropout_embed = 0.3f;
    check_model_gradients(cfg);
    tiny_model(&m, cfg, 4, 5, 1);
    CHECK(mf_is_hybrid(&m));
    CHECK_INT(m.params.t[m.id.user_feature_embedding].rows, 3);
    CHECK_INT(m.params.t[m.id.item_feature_embedding].rows, 2);
    mf_free(&m);
    tiny_features = 0;
}

/* svdpp's N(u) for the tiny model (4 users, 5 items): user 0 rated movies
 * 0, 1, 3, 4 (|N|^-½ = 1/2 exactly), user 1 movie 0, user 2 all five,
 * user 3 none (ũ = p_3) */
static void tiny_rated(mf_model *m) {
    static const uint32_t ru[10] = {0, 0, 0, 0, 1, 2, 2, 2, 2, 2};
    static const uint32_t ri[10] = {4, 0, 3, 1, 0, 0, 1, 2, 3, 4};
    data_ratings r;
    size_t k;
    data_ratings_init(&r);
    for (k = 0; k < 10; k++) CHECK(data_ratings_push(&r, ru[k], ri[k], 3.0f, 0) == 0);
    CHECK(mf_set_rated(m, &r) == 0);
    data_ratings_free(&r);
}

/* SVD++: ũ = p_u + |N(u)|^-½ Σ y_j, through MSE and BCE, without L2 and
 * with it on every term (λ on p_u, q_i, b_u, b_i; λ_y on each y_j of N(u):
 * equal as Koren's, or apart); users with four, one, five and no rated
 * movies, one of them three times in the batch; and with item features on q̃ */
static void test_gradients_svdpp(void) {
    static const float l2[4] = {0.0f, 0.3f, 0.3f, 0.0f}, l2_y[4] = {0.0f, 0.3f, 0.05f, 0.2f};
    mf_config cfg = mf_defaults_for(MF_SVDPP);
    mf_model m;
    size_t k;
    cfg.dim = 3;
    for (k = 0; k < 4; k++) {
        cfg.l2 = l2[k];
        cfg.l2_implicit = l2_y[k];
        cfg.implicit = k == 3;
        tiny_features = k == 2 ? 2 : 0;
        tiny_model(&m, cfg, 4, 5, 7);
        tiny_features = 0;
        tiny_rated(&m);
        CHECK_INT(m.params.t[m.id.implicit_embedding].rows, 5);
        CHECK_INT(m.rated.start[1] - m.rated.start[0], 4);
        check_gradients_of(&m);
        mf_free(&m);
    }
    { /* N(u) describes svdpp's users: user features are refused */
        mf_side side = {NULL, 0, &user_features, NULL};
        data_idmap users, items;
        data_ratings none;
        data_error err;
        nn_rng rng;
        data_idmap_init(&users);
        data_idmap_init(&items);
        data_ratings_init(&none);
        for (k = 0; k < 5; k++) {
            if (k < 4) data_idmap_intern(&users, (int64_t)k);
            data_idmap_intern(&items, (int64_t)k);
        }
        nn_rng_seed(&rng, 1);
        CHECK_INT(mf_init(&m, cfg, &users, &items, &none, &side, &rng, &err), -1);
        CHECK_HAS(err.msg, "svdpp's users are described by the movies they rated");
        data_idmap_free(&users);
        data_idmap_free(&items);
    }
}

/* The SVD++ formula by hand, K = 2: user 0 rated movies 0, 1, 3, 4, whose
 * y_j add up to (4, 4), so ũ_0 = p_0 + (4, 4)/√4 = (1, −1) + (2, 2) = (3, 1);
 * with q_2 = (0.5, 2), μ = 3 (the tiny ratings' mean), b_0 = 0.25 and
 * b_2 = −0.5: r̂ = 3 + 0.25 − 0.5 + (1.5 + 2) = 6.25. (A mean, 1/|N|, would
 * give 3.75.) User 3 rated nothing: ũ_3 = p_3. */
static void hand_svdpp(mf_model *m) {
    mf_config cfg = mf_defaults_for(MF_SVDPP);
    float *P, *Q, *Y, *bu, *bi;
    size_t S;
    cfg.dim = 2;
    tiny_model(m, cfg, 4, 5, 1);
    tiny_rated(m);
    P = m->w.user_embedding;
    Q = m->w.item_embedding;
    Y = m->w.implicit_embedding;
    bu = m->w.user_bias;
    bi = m->w.item_bias;
    S = m->S;
    P[0] = 1.0f, P[1] = -1.0f;                 /* p_0 */
    P[3 * S] = 0.5f, P[3 * S + 1] = 0.25f;     /* p_3 */
    Q[2 * S] = 0.5f, Q[2 * S + 1] = 2.0f;      /* q_2 */
    Y[0] = 1.0f, Y[1] = 0.0f;                  /* y_0 */
    Y[S] = 0.0f, Y[S + 1] = 2.0f;              /* y_1 */
    Y[2 * S] = 9.0f, Y[2 * S + 1] = 9.0f;      /* y_2: not in N(0) */
    Y[3 * S] = 2.0f, Y[3 * S + 1] = 2.0f;      /* y_3 */
    Y[4 * S] = 1.0f, Y[4 * S + 1] = 0.0f;      /* y_4 */
    bu[0] = 0.25f, bu[3] = 0.0f;
    bi[2] = -0.5f;
}

static void test_svdpp_forward_value(void) {
    static const uint32_t u[4] = {0, 0, 3, 3}, i[4] = {1, 2, 2, 2};
    float pred[4];
    mf_model m;
    mf_work w;
    hand_svdpp(&m);
    CHECK_NEAR(m.mean, 3.0, 0, 0);
    CHECK_NEAR(mf_predict(&m, 0, 2), 6.25, 1e-6, 0);
    CHECK_NEAR(mf_predict(&m, 3, 2), 3.0 - 0.5 + (0.25 + 0.5), 1e-6, 0); /* μ + b_i + p_3·q_2 */
    /* a batch whose ratings share users composes each user's ũ once */
    CHECK(mf_work_init(&w, &m, 4) == 0);
    mf_forward(&m, &w, pred, u, i, 4, NULL);
    CHECK_NEAR(pred[1], 6.25, 1e-6, 0);
    CHECK_NEAR(pred[3], 3.25, 1e-6, 0);
    CHECK(pred[0] == mf_predict(&m, 0, 1));
    mf_work_free(&w);
    mf_free(&m);
}

/* The tiny hybrid dot model with K = 2 and weights set by hand: user 0's
 * features average to (e_0 + e_2)/2 = (1, 0) and item 1's vector is
 * q̃_1 = q_1 + (f_0 + f_1)/2 = (0.25, 3) + (0.75, 1) = (1, 4); p_0 is given. */
static void hand_hybrid(mf_model *m, float p0, float p1) {
    mf_config cfg = mf_defaults();
    float *P, *Q, *E, *Fi;
    size_t S, Se, Sf;
    cfg.dim = 2;
    tiny_features = 1;
    tiny_model(m, cfg, 4, 5, 1);
    tiny_features = 0;
    P = nn_param(&m->params, m->id.user_embedding);
    Q = nn_param(&m->params, m->id.item_embedding);
    E = nn_param(&m->params, m->id.user_feature_embedding);
    Fi = nn_param(&m->params, m->id.item_feature_embedding);
    S = m->params.t[m->id.user_embedding].stride;
    Se = m->params.t[m->id.user_feature_embedding].stride;
    Sf = m->params.t[m->id.item_feature_embedding].stride;
    P[0] = p0, P[1] = p1;                    /* p_0 */
    E[0] = 0.5f, E[1] = 1.0f;                /* e_0 */
    E[2 * Se] = 1.5f, E[2 * Se + 1] = -1.0f; /* e_2 */
    Q[S] = 0.25f, Q[S + 1] = 3.0f;           /* q_1 */
    Fi[0] = 1.0f, Fi[1] = 0.0f;              /* f_0 */
    Fi[Sf] = 0.5f, Fi[Sf + 1] = 2.0f;        /* f_1 */
}

/* ũ·q̃ by hand: user 0 = p_0 + (e_0 + e_2)/2, item 1 = q_1 + (f_0 + f_1)/2 */
static void test_hybrid_forward_value(void) {
    mf_model m;
    float pred;
    uint32_t u = 0, i = 1;
    hand_hybrid(&m, 1.0f, 0.0f);            /* ũ_0 = (1, 0) + (1, 0) = (2, 0), q̃_1 = (1, 4) */
    {
        mf_work w;
        CHECK(mf_work_init(&w, &m, 1) == 0);
        mf_forward(&m, &w, &pred, &u, &i, 1, NULL);
        mf_work_free(&w);
    }
    CHECK_NEAR(pred, 2.0, 1e-6, 0);         /* (2, 0)·(1, 4) */
    CHECK_NEAR(mf_predict(&m, 0, 1), 2.0, 1e-6, 0);
    mf_free(&m);
}

/* A row with features that no rating reached is its features alone: user 0
 * untrained is ũ = (e_0 + e_2)/2 = (1, 0) (set as in hybrid_forward_value);
 * its id embedding gets no gradient, its features do. A row with neither
 * ratings nor features stays unknown. */
static void test_cold_row_uses_features(void) {
    mf_model m;
    float pred, dpred = 1.0f;
    size_t k;
    uint32_t u = 0, i = 1;
    mf_work w;
    hand_hybrid(&m, 7.0f, -7.0f);           /* p_0 = (7, −7) must not count */
    m.user_count[0] = 0;
    m.user_count[2] = 0;                     /* user 2 has no features either */
    CHECK(mf_user_known(&m, 0));
    CHECK(!mf_user_known(&m, 2));
    CHECK(mf_item_known(&m, 1));
    CHECK_NEAR(mf_predict(&m, 0, 1), 1.0, 1e-6, 0); /* (1, 0)·(1, 4) */
    CHECK_NEAR(mf_predict(&m, 2, 1), m.mean, 1e-6, 0);
    CHECK(mf_work_init(&w, &m, 1) == 0);
    mf_forward(&m, &w, &pred, &u, &i, 1, NULL);
    mf_backward(&m, &w, &dpred, &u, &i, 1, 1);
    for (k = 0; k < 2; k++) CHECK(nn_grad(&m.params, m.id.user_embedding)[k] == 0.0f);
    CHECK_NEAR(nn_grad(&m.params, m.id.user_feature_embedding)[0], 0.5, 1e-6, 0);  /* q̃/|F| */
    CHECK_NEAR(nn_grad(&m.params, m.id.user_feature_embedding)[1], 2.0, 1e-6, 0);
    mf_work_free(&w);
    mf_free(&m);
}

/* The deep network scores a new user from features alone as well: its cold
 * start list equals mf_recommend for a trained-free row with those features. */
static void test_recommend_cold_deep(void) {
    mf_config cfg = mf_defaults_for(MF_DEEP);
    mf_model m;
    mf_scored cold[5], warm[5];
    const uint32_t feats[3] = {0, 1, 2};
    size_t k, a, b;
    cfg.dim = 3;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 4;
    tiny_features = 1;
    tiny_model(&m, cfg, 4, 5, 2);
    tiny_features = 0;
    m.user_count[3] = 0; /* user 3 has features {0, 1, 2}: it is that new user */
    a = mf_recommend_cold(&m, feats, 3, cold, 5);
    b = mf_recommend(&m, 3, NULL, warm, 5);
    CHECK_INT(a, 5);
    CHECK_INT(b, 5);
    for (k = 0; k < a && k < b; k++) {
        CHECK_INT(cold[k].item, warm[k].item);
        CHECK_NEAR(cold[k].score, warm[k].score, 1e-6, 1e-6);
    }
    mf_free(&m);
}

/* Ratings that depend on a planted user attribute: r = 3 ± 1.5 as the user's
 * group matches the movie's type, plus noise. A quarter of the users keep at
 * most 2 training ratings. ids only cannot know a cold user's group; the
 * hybrid learns it from the feature, so its RMSE on those users' test rows
 * must be far lower (measured: 0.98 against 0.27; a user's one or two
 * ratings tell ids only a little). */
static void test_hybrid_planted_attribute(void) {
    enum { U = 400, I = 60, PER_USER = 20 };
    static uint32_t start[U + 1], feature[U];
    static size_t name[2] = {0, 8};
    static char text[] = "group:a\0group:b";
    data_features uf = {U, start, feature, 2, name, text, sizeof text - 1, sizeof text};
    data_idmap users, items;
    data_ratings all, train, test, cold;
    mf_train_config tc = mf_train_defaults();
    mf_config cfg = mf_defaults_for(MF_BIAS);
    double rmse[2];
    nn_rng rng;
    size_t k, u, v;
    uint32_t count[U] = {0};
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    data_ratings_init(&train);
    data_ratings_init(&test);
    data_ratings_init(&cold);
    nn_rng_seed(&rng, 5);
    for (u = 0; u < U; u++) data_idmap_intern(&users, (int64_t)u);
    for (k = 0; k < I; k++) data_idmap_intern(&items, (int64_t)k);
    for (u = 0; u < U; u++) {
        start[u + 1] = (uint32_t)(u + 1);
        feature[u] = (uint32_t)(u % 2);          /* the planted group */
        for (k = 0; k < PER_USER; k++) {
            uint32_t i = (uint32_t)((u * 7 + k * 3) % I);
            double noise = 0.3 * (nn_rng_uniform(&rng) + nn_rng_uniform(&rng) - 1.0);
            float r = (float)(3.0 + ((u % 2) == (i % 2) ? 1.5 : -1.5) + noise);
            CHECK(data_ratings_push(&all, (uint32_t)u, i, r, 0) == 0);
        }
    }
    CHECK(data_split_cold(&all, U, I, 0.1, 0.25, 0.0, 2, &rng, &train, &test) == 0);
    for (k = 0; k < train.n; k++) count[train.user[k]]++;
    for (k = 0; k < test.n; k++)
        if (count[test.user[k]] <= 2)
            CHECK(data_ratings_push(&cold, test.user[k], test.item[k], test.rating[k], 0) == 0);
    CHECK(cold.n > 1000); /* about 100 cold users × 18 */
    cfg.dim = 8;
    cfg.l2 = 0.01f;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.opt.update = NN_UPDATE_LAZY;
    tc.fit.opt.lr = 0.01f;
    tc.fit.epochs = 15;
    tc.session.verbose = 0;
    for (v = 0; v < 2; v++) {
        mf_side side = {NULL, 0, NULL, NULL};
        mf_model m;
        mf_history h;
        data_error err;
        side.user_features = v ? &uf : NULL;
        nn_rng_seed(&rng, 11);
        CHECK(mf_init(&m, cfg, &users, &items, &all, &side, &rng, &err) == 0);
        CHECK(mf_train(&m, &train, NULL, &tc, &h, NULL, &err) == 0);
        rmse[v] = mf_evaluate(&m, &cold, 0).rmse;
        mf_history_free(&h);
        mf_free(&m);
    }
    printf("     cold users: ids only RMSE %.4f, with the planted feature %.4f\n", rmse[0],
           rmse[1]);
    CHECK(rmse[0] > 0.8);
    CHECK(rmse[1] < 0.5 * rmse[0]);
    data_ratings_free(&all);
    data_ratings_free(&train);
    data_ratings_free(&test);
    data_ratings_free(&cold);
    data_idmap_free(&users);
    data_idmap_free(&items);
}

/* cold start: a new user with features {0, 2} is ũ = (e_0 + e_2)/2 and gets
 * μ + b_i + ũ·q̃_i for every learned item, best first */
static void test_recommend_cold(void) {
    mf_config cfg = mf_defaults();
    mf_model m;
    mf_scored top[5];
    const uint32_t feats[2] = {0, 2};
    nn_rng rng;
    size_t k, got, c;
    float *E;
    cfg.kind = MF_BIAS;
    cfg.dim = 3;
    tiny_features = 1;
    tiny_model(&m, cfg, 4, 5, 6);
    tiny_features = 0;
    nn_rng_seed(&rng, 8);
    for (k = 0; k < m.params.n; k++)
        if (m.params.w[k] != 0.0f) m.params.w[k] = (float)(nn_rng_uniform(&rng) - 0.5);
    for (k = 0; k < 5; k++) /* item biases that matter */
        nn_param(&m.params, m.id.item_bias)[k * m.params.t[m.id.item_bias].stride] = 0.1f * (float)k;
    m.item_count[3] = 0; /* never learned: never recommended */
    got = mf_recommend_cold(&m, feats, 2, top, 5);
    CHECK_INT(got, 4);
    E = nn_param(&m.params, m.id.user_feature_embedding);
    for (k = 0; k < got; k++) {
        uint32_t i = top[k].item;
        float q[3], u[3], want;
        mf_work w;
        float qq;
        uint32_t zero = 0;
        CHECK(i != 3);
        for (c = 0; c < 3; c++) /* ũ by hand */
            u[c] = (E[c] + E[2 * m.params.t[m.id.user_feature_embedding].stride + c]) / 2.0f;
        /* q̃_i as the model composes it: read it back through a forward pass */
        CHECK(mf_work_init(&w, &m, 1) == 0);
        mf_forward(&m, &w, &qq, &zero, &i, 1, NULL);
        memcpy(q, w.hi, sizeof q);
        mf_work_free(&w);
        want = m.mean + nn_param(&m.params, m.id.item_bias)[i * m.params.t[m.id.item_bias].stride] +
               u[0] * q[0] + u[1] * q[1] + u[2] * q[2];
        CHECK_NEAR(top[k].score, want, 1e-5, 1e-6);
        if (k) CHECK(top[k].score <= top[k - 1].score);
    }
    CHECK_INT(mf_recommend_cold(&m, feats, 0, top, 5), 0);
    mf_free(&m);
}

static void test_save_load_hybrid(void) {
    mf_config cfg = mf_defaults();
    mf_model a, b;
    data_error err;
    cfg.kind = MF_BIAS;
    cfg.dim = 3;
    tiny_features = 1;
    tiny_model(&a, cfg, 4, 5, 2);
    tiny_features = 0;
    CHECK(mf_save(&a, test_path("hybrid.embrec"), &err) == 0);
    if (mf_load(&b, test_path("hybrid.embrec"), &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        mf_free(&a);
        return;
    }
    CHECK_INT(b.user_features.n_features, 3);
    CHECK_INT(b.item_features.n_features, 2);
    CHECK(memcmp(b.user_features.start, uf_start, sizeof uf_start) == 0);
    CHECK(memcmp(b.item_features.feature, if_feature, sizeof if_feature) == 0);
    CHECK(strcmp(b.user_features.text + b.user_features.name[2], "occupation:writer") == 0);
    CHECK(strcmp(b.item_features.text + b.item_features.name[1], "year:1990s") == 0);
    CHECK_INT(b.params.n, a.params.n);
    CHECK(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
    CHECK(mf_predict(&a, 3, 1) == mf_predict(&b, 3, 1));
    mf_free(&a);
    mf_free(&b);
}

static void test_gradients_neumf(void) {
    mf_config cfg = mf_defaults_for(MF_NEUMF);
    cfg.dim = 6;
    cfg.hidden[0] = 4;
    check_model_gradients(cfg);        /* linear hidden layer, dropout 0.5 */
    cfg.hidden_act = NN_SIGMOID;
    cfg.n_hidden = 2;
    cfg.hidden[1] = 3;
    check_model_gradients(cfg);
}

/* model.summary() of notebook 002 printed 2,376,075 parameters for 20,510
 * users, 25,448 movies and 1,357 genre strings; notebook 004's embeddings
 * for 1,000 users and 500 games at 100 dimensions hold 100,000 and 50,000. */
static void test_summary_matches_notebooks(void) {
    mf_config deep = mf_defaults_for(MF_DEEP), neumf = mf_defaults_for(MF_NEUMF);
    char buf[8192];
    FILE *f = fopen(test_path("summary.txt"), "w+");
    size_t n;
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write %s", test_path("summary.txt"));
        return;
    }
    CHECK_INT(mf_summary(f, &deep, 20510, 25448, 1357), 2376075);
    CHECK_INT(mf_summary(f, &neumf, 1000, 500, 0), 100000 + 50000 + 100 * 50 + 50 + 50 + 1);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    CHECK_HAS(buf, "Total params: 2,376,075");
    CHECK_HAS(buf, "genre_embedding (Embedding)     (None, 50)           67,850");
    CHECK_HAS(buf, "dense_1 (Dense)                 (None, 64)           9,664");
    CHECK_HAS(buf, "dense_3 (Dense)                 (None, 1)            11");
    CHECK_HAS(buf, "user_embedding (Embedding)      (None, 100)          100,000");
    CHECK_HAS(buf, "item_embedding (Embedding)      (None, 100)          50,000");
    CHECK_HAS(buf, "multiply (Multiply)");
}

static void test_forward_values(void) {
    mf_config cfg = mf_defaults();
    mf_model m;
    mf_work w;
    float *P, *Q, pred;
    uint32_t u = 1, i = 2;
    cfg.kind = MF_BIAS;
    cfg.dim = 2;
    tiny_model(&m, cfg, 3, 3, 1);
    CHECK(mf_work_init(&w, &m, 1) == 0);
    P = nn_param(&m.params, m.id.user_embedding);
    Q = nn_param(&m.params, m.id.item_embedding);
    P[1 * m.params.t[m.id.user_embedding].stride + 0] = 0.5f;
    P[1 * m.params.t[m.id.user_embedding].stride + 1] = -1.0f;
    Q[2 * m.params.t[m.id.item_embedding].stride + 0] = 2.0f;
    Q[2 * m.params.t[m.id.item_embedding].stride + 1] = 0.25f;
    nn_param(&m.params, m.id.user_bias)[1 * m.params.t[m.id.user_bias].stride] = 0.125f;
    nn_param(&m.params, m.id.item_bias)[2 * m.params.t[m.id.item_bias].stride] = -0.5f;
    mf_forward(&m, &w, &pred, &u, &i, 1, NULL);
    mf_work_free(&w);
    /* μ + b_u + b_i + p·q = μ + 0.125 − 0.5 + (1 − 0.25) */
    CHECK_NEAR(pred, m.mean + 0.125f - 0.5f + 0.75f, 1e-6, 1e-6);
    CHECK_NEAR(m.mean, 25.0 / 9.0, 1e-6, 0); /* ratings 1,2,3,4,5,1,2,3,4 */
    CHECK_NEAR(mf_predict(&m, 1, 2), pred, 0, 0);
    CHECK_NEAR(mf_predict(&m, 1, 7), m.mean, 0, 0); /* outside the model: μ */
    mf_free(&m);
}

/* ------------------------------------------------------------ training */

static int read_sample(data_idmap *users, data_idmap *items, data_ratings *r) {
    data_read_opts ro = data_read_defaults();
    data_error err;
    data_idmap_init(users);
    data_idmap_init(items);
    data_ratings_init(r);
    if (data_read_ratings("data/ratings.csv", &ro, users, items, r, NULL, &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return -1;
    }
    return 0;
}

static void free_data(data_idmap *users, data_idmap *items, data_ratings *r) {
    data_ratings_free(r);
    data_idmap_free(users);
    data_idmap_free(items);
}

/* The bundled sample is embrec's own output: regenerating it gives the same bytes. */
static void test_sample_is_generated(void) {
    data_synth_config cfg;
    data_error err;
    const char *names[2] = {"ratings.csv", "movies.csv"};
    int k;
    CHECK(data_synth_shape("sample", &cfg) == 0);
    if (data_synth_write(test_path("sample"), &cfg, &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return;
    }
    for (k = 0; k < 2; k++) {
        char a[512], b[512], cmd[1200];
        snprintf(a, sizeof a, "data/%s", names[k]);
        snprintf(b, sizeof b, "%s/sample/%s", test_tmpdir(), names[k]);
        snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
        if (system(cmd) != 0)
            test_fail(__FILE__, __LINE__, "%s differs from `embrec synth --shape sample` "
                      "(run make sample)", a);
    }
}

static void train_sample(mf_config mc, mf_train_config tc, double *val_rmse,
                         double *base_rmse, mf_history *hist, mf_model *m) {
    data_idmap users, items;
    data_ratings all, train, val;
    data_error err;
    nn_rng rng;
    mf_metrics vm;
    if (read_sample(&users, &items, &all) != 0) return;
    data_ratings_init(&train);
    data_ratings_init(&val);
    nn_rng_seed(&rng, 42);
    CHECK(data_ratings_shuffle(&all, &rng) == 0);
    CHECK(data_split_tail(&all, 0.2, &train, &val) == 0);
    CHECK(mf_init(m, mc, &users, &items, &all, NULL, &rng, &err) == 0);
    if (mf_train(m, &train, &val, &tc, hist, NULL, &err) != 0)
        test_fail(__FILE__, __LINE__, "mf_train: %s", err.msg);
    vm = mf_evaluate(m, &val, 1);
    *val_rmse = vm.rmse;
    *base_rmse = mf_evaluate_mean(m->mean, &val).rmse;
    data_ratings_free(&train);
    data_ratings_free(&val);
    free_data(&users, &items, &all);
}

static void test_sample_beats_mean(void) {
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    mf_history hist;
    mf_model m;
    double rmse = NAN, base = NAN;
    mc.kind = MF_BIAS;
    mc.dim = 16;
    mc.l2 = 0.01f;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.opt.lr = 0.01f;
    tc.fit.opt.update = NN_UPDATE_LAZY;
    tc.fit.batch = 64;
    tc.fit.epochs = 30;
    tc.fit.patience = 3;
    tc.fit.restore_best = 1;
    tc.session.verbose = 0;
    train_sample(mc, tc, &rmse, &base, &hist, &m);
    printf("     sample: bias model val RMSE %.4f, global mean %.4f\n", rmse, base);
    CHECK(rmse < 0.85 * base); /* the planted structure is strong: demand 15% */
    mf_history_free(&hist);
    mf_free(&m);
}

static void test_dense_adamax_learns(void) {
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    mf_history hist;
    mf_model m;
    double rmse = NAN, base = NAN;
    size_t e;
    mc.dim = 16;
    mc.centre = 1;
    tc.fit.opt.lr = 0.01f; /* AdaMax, dense: the notebooks' update */
    tc.fit.batch = 32;
    tc.fit.epochs = 8;
    tc.session.verbose = 0;
    train_sample(mc, tc, &rmse, &base, &hist, &m);
    printf("     sample: centred dot, dense AdaMax, val RMSE %.4f, global mean %.4f\n", rmse, base);
    CHECK(rmse < 0.87 * base);
    CHECK_INT(hist.n, 8);
    for (e = 1; e < hist.n; e++) CHECK(hist.epoch[e].loss < hist.epoch[e - 1].loss + 1e-9);
    mf_history_free(&hist);
    mf_free(&m);
}

/* Overfit on purpose (big K, high rate): val_loss turns up, EarlyStopping must
 * stop `patience` epochs after the best, and the restored weights must score
 * exactly the best epoch's val_loss. */
static void test_early_stopping_restores_best(void) {
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    data_idmap users, items;
    data_ratings all, train, val;
    data_error err;
    mf_history hist;
    mf_model m;
    nn_rng rng;
    size_t e;
    if (read_sample(&users, &items, &all) != 0) return;
    data_ratings_init(&train);
    data_ratings_init(&val);
    CHECK(data_split_tail(&all, 0.3, &train, &val) == 0);
    nn_rng_seed(&rng, 5);
    mc.dim = 64;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.opt.lr = 0.02f;
    tc.fit.batch = 32;
    tc.fit.epochs = 40;
    tc.fit.patience = 2;
    tc.fit.restore_best = 1;
    tc.session.verbose = 0;
    CHECK(mf_init(&m, mc, &users, &items, &all, NULL, &rng, &err) == 0);
    CHECK(mf_train(&m, &train, &val, &tc, &hist, NULL, &err) == 0);
    CHECK(hist.stopped_early);
    CHECK(hist.n < 40);
    CHECK_INT(hist.n, hist.best + 1 + 2); /* stopped exactly patience epochs later */
    for (e = 0; e < hist.n; e++) CHECK(hist.epoch[e].val_loss >= hist.epoch[hist.best].val_loss);
    CHECK_NEAR(mf_evaluate(&m, &val, 0).mse, hist.epoch[hist.best].val_loss, 1e-12, 0);
    mf_history_free(&hist);
    mf_free(&m);
    data_ratings_free(&train);
    data_ratings_free(&val);
    free_data(&users, &items, &all);
}

/* Dense and lazy updates are different algorithms (untouched rows move only in
 * dense mode): on the same data and seed they must end somewhere different. */
static void test_dense_and_lazy_differ(void) {
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    mf_history h1, h2;
    mf_model m1, m2;
    double r1, r2, b;
    size_t k, differ = 0;
    mc.dim = 8;
    mc.centre = 1;
    tc.fit.epochs = 2;
    tc.session.verbose = 0;
    tc.fit.opt.lr = 0.01f;
    tc.fit.opt.update = NN_UPDATE_DENSE;
    train_sample(mc, tc, &r1, &b, &h1, &m1);
    tc.fit.opt.update = NN_UPDATE_LAZY;
    train_sample(mc, tc, &r2, &b, &h2, &m2);
    CHECK_INT(m1.params.n, m2.params.n);
    for (k = 0; k < m1.params.n; k++) differ += m1.params.w[k] != m2.params.w[k];
    CHECK(differ > m1.params.n / 4);
    CHECK(r1 < b && r2 < b);
    mf_history_free(&h1);
    mf_history_free(&h2);
    mf_free(&m1);
    mf_free(&m2);
}

/* Training in dense mode without the sweep tracks the sweep: models whose
 * rows it must catch up before reading them (the bias model's biases and
 * L2, neumf's embeddings under dropout next to Dense layers that are swept),
 * 3 epochs of Adam on the sample. The epoch losses agree to 1e-5 relative
 * (the parameters differ by float32 rounding, ~1e-6, see
 * nn/deferred_dense_matches_sweep); lazy updates, for scale, differ by
 * more than 1e-3. */
static void test_dense_matches_sweep_training(void) {
    static const mf_kind kinds[3] = {MF_BIAS, MF_NEUMF, MF_DOT};
    size_t k, e;
    for (k = 0; k < 3; k++) {
        mf_config mc = mf_defaults_for(kinds[k]);
        mf_train_config tc = mf_train_defaults();
        mf_history h[3];
        mf_model m[3];
        double r, b, worst = 0.0, lazy_gap = 0.0;
        int mode;
        mc.dim = 8;
        if (kinds[k] == MF_BIAS) mc.l2 = 0.05f;
        if (kinds[k] == MF_DOT) mc.centre = 1;
        mc.implicit = 0;
        tc.fit.epochs = 3;
        tc.session.verbose = 0;
        tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
        tc.fit.opt.lr = 0.005f;
        for (mode = 0; mode < 3; mode++) {
            tc.fit.opt.update = mode == 0 ? NN_UPDATE_DENSE_SWEEP : mode == 1 ? NN_UPDATE_DENSE
                                                                          : NN_UPDATE_LAZY;
            train_sample(mc, tc, &r, &b, &h[mode], &m[mode]);
        }
        for (e = 0; e < 3; e++) {
            double d = fabs(h[1].epoch[e].loss - h[0].epoch[e].loss) / h[0].epoch[e].loss;
            double dv = fabs(h[1].epoch[e].val_loss - h[0].epoch[e].val_loss) / h[0].epoch[e].val_loss;
            double dl = fabs(h[2].epoch[e].val_loss - h[0].epoch[e].val_loss) / h[0].epoch[e].val_loss;
            worst = d > worst ? d : worst;
            worst = dv > worst ? dv : worst;
            lazy_gap = dl > lazy_gap ? dl : lazy_gap;
        }
        printf("     %s: dense vs dense-sweep loss curves within %.2g relative (lazy: %.2g)\n",
               mf_kind_name(kinds[k]), worst, lazy_gap);
        CHECK(worst < 1e-5);
        CHECK(lazy_gap > 1e-3);
        for (mode = 0; mode < 3; mode++) {
            mf_history_free(&h[mode]);
            mf_free(&m[mode]);
        }
    }
}

/* Per-rating SGD runs a loop of its own (sgd_epoch); it must make exactly
 * the batched path's updates for batch 1. Same model, same fixed order:
 * mf_train against forward, backward and an SGD step by hand, 2 epochs of
 * the bias model with L2 on the sample: every weight equal, bit for bit. */
static void sgd_fast_path_exact(nn_optimizer_kind kind, float lr) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    data_idmap users, items;
    data_ratings all;
    data_error err;
    mf_model fast, slow;
    mf_work w;
    mf_history h;
    nn_optimizer opt;
    nn_rng rng;
    uint32_t *order;
    size_t k, e, differ = 0;
    double loss = 0.0;
    if (read_sample(&users, &items, &all) != 0) return;
    mc.dim = 12;
    mc.l2 = 0.05f;
    tc.fit.opt = nn_optimizer_defaults(kind);
    tc.fit.opt.lr = lr;
    tc.fit.batch = 1;
    tc.fit.epochs = 2;
    tc.session.verbose = 0;
    order = malloc(all.n * sizeof *order);
    for (k = 0; k < all.n; k++) order[k] = (uint32_t)((k * 7919) % all.n); /* 7919 is prime */
    tc.replay.order = MF_ORDER_GIVEN;
    tc.replay.orders = order;
    tc.replay.n_orders = 1;
    tc.replay.order_n = all.n;
    nn_rng_seed(&rng, 3);
    CHECK(mf_init(&fast, mc, &users, &items, &all, NULL, &rng, &err) == 0);
    nn_rng_seed(&rng, 3);
    CHECK(mf_init(&slow, mc, &users, &items, &all, NULL, &rng, &err) == 0);
    CHECK(mf_train(&fast, &all, NULL, &tc, &h, NULL, &err) == 0);
    CHECK(nn_optimizer_init(&opt, tc.fit.opt, slow.params.n) == 0);
    CHECK(mf_work_init(&w, &slow, 1) == 0);
    for (e = 0; e < 2; e++)
        for (k = 0; k < all.n; k++) {
            uint32_t u = all.user[order[k]], i = all.item[order[k]];
            float pred, dpred, y = all.rating[order[k]];
            mf_forward(&slow, &w, &pred, &u, &i, 1, NULL);
            if (e == 1) loss += nn_mse_forward(&pred, &y, 1) + mf_l2_loss(&slow, &w, &u, &i, 1);
            nn_mse_backward(&dpred, &pred, &y, 1);
            mf_backward(&slow, &w, &dpred, &u, &i, 1, 1);
            nn_optimizer_step(&opt, &slow.params);
            nn_params_zero_grad(&slow.params);
        }
    for (k = 0; k < fast.params.n; k++) differ += fast.params.w[k] != slow.params.w[k];
    CHECK_INT(differ, 0);
    if (kind == NN_ROWWISE_ADAGRAD) { /* and each row's accumulator */
        CHECK(fast.opt_state.v != NULL);
        for (k = 0; fast.opt_state.v && k < fast.params.n; k++)
            differ += fast.opt_state.v[k] != opt.v[k];
        CHECK_INT(differ, 0);
    }
    CHECK_NEAR(h.epoch[1].loss, loss / (double)all.n, 1e-12, 0);
    CHECK(h.epoch[1].loss < h.epoch[0].loss);
    nn_optimizer_free(&opt);
    mf_work_free(&w);
    mf_history_free(&h);
    mf_free(&fast);
    mf_free(&slow);
    free(order);
    free_data(&users, &items, &all);
}

/* mf_fit_rate: lr·F^(e−1), and the very bits of lr when the rate is
 * constant (F = 1, or 0: a fit that leaves it out) */
static void test_lr_decay_rate(void) {
    mf_fit f = mf_fit_defaults();
    f.opt = nn_optimizer_defaults(NN_SGD);
    f.opt.lr = 0.1f;
    CHECK(f.lr_decay == 1.0);
    CHECK(mf_fit_rate(&f, 1) == 0.1f && mf_fit_rate(&f, 30) == 0.1f);
    f.lr_decay = 0.0;
    CHECK(mf_fit_rate(&f, 30) == 0.1f);
    f.lr_decay = 0.5;
    CHECK(mf_fit_rate(&f, 1) == 0.1f);
    CHECK(mf_fit_rate(&f, 2) == 0.05f);
    CHECK(mf_fit_rate(&f, 3) == 0.025f);
    f.lr_decay = 0.9;
    CHECK_NEAR(mf_fit_rate(&f, 11), 0.1 * 0.34867844, 1e-6, 0); /* 0.9^10 */
}

/* One rating, the bias model with K = 1 and no L2, per-rating SGD at lr
 * 0.1 decaying by 0.5: epoch 2 steps at 0.05. By hand, with μ = y = 3,
 * p = 0.5, q = 0.4, b_u = b_i = 0 (∂L/∂r̂ = 2(r̂ − y)):
 *   epoch 1: r̂ − y = 0.2, e = 0.4; b_u = b_i = −0.04, p = 0.5 − 0.1·0.4·0.4
 *            = 0.484, q = 0.4 − 0.1·0.4·0.5 = 0.38
 *   epoch 2: r̂ − y = −0.08 + 0.484·0.38 = 0.10392, e = 0.20784;
 *            b_u = −0.04 − 0.05·0.20784 = −0.050392,
 *            p = 0.484 − 0.05·0.20784·0.38 = 0.48005104,
 *            q = 0.38 − 0.05·0.20784·0.484 = 0.374970272
 * on per-rating SGD's own loop (fast/sgd.c) and on the plain one alike. */
static void lr_decay_by_hand(double decay, int plain, mf_model *m) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    data_idmap users, items;
    data_ratings one;
    data_error err;
    mf_history h;
    nn_rng rng;
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&one);
    data_idmap_intern(&users, 7);
    data_idmap_intern(&items, 9);
    data_ratings_push(&one, 0, 0, 3.0f, 0);
    mc.dim = 1;
    mc.l2 = 0.0f;
    tc.fit.opt = nn_optimizer_defaults(NN_SGD);
    tc.fit.opt.lr = 0.1f;
    tc.fit.lr_decay = decay;
    tc.fit.batch = 1;
    tc.fit.epochs = 2;
    tc.session.verbose = 0;
    nn_rng_seed(&rng, 1);
    CHECK(mf_init(m, mc, &users, &items, &one, NULL, &rng, &err) == 0);
    m->mean = 3.0f;
    m->w.user_embedding[0] = 0.5f;
    m->w.item_embedding[0] = 0.4f;
    m->w.user_bias[0] = m->w.item_bias[0] = 0.0f;
    if (plain) mf_use_engines(NULL, 0);
    CHECK(mf_train(m, &one, NULL, &tc, &h, NULL, &err) == 0);
    if (plain) fast_install(); /* the suite's engines back */
    mf_history_free(&h);
    data_ratings_free(&one);
    data_idmap_free(&users);
    data_idmap_free(&items);
}

static void test_lr_decay_by_hand(void) {
    int plain;
    for (plain = 0; plain <= 1; plain++) {
        mf_model m, constant, unset;
        lr_decay_by_hand(0.5, plain, &m);
        CHECK_NEAR(m.w.user_bias[0], -0.050392, 0, 1e-7);
        CHECK_NEAR(m.w.item_bias[0], -0.050392, 0, 1e-7);
        CHECK_NEAR(m.w.user_embedding[0], 0.48005104, 0, 1e-7);
        CHECK_NEAR(m.w.item_embedding[0], 0.374970272, 0, 1e-7);
        CHECK(m.progress.lr_decay == 0.5);
        CHECK(m.opt_state.cfg.lr == 0.1f); /* the base rate is kept, not epoch 2's */
        /* a constant rate: epoch 2 at 0.1 moves p further; F = 1 and F left
         * out (0) train the very same bits */
        lr_decay_by_hand(1.0, plain, &constant);
        lr_decay_by_hand(0.0, plain, &unset);
        CHECK(constant.w.user_embedding[0] < 0.4790f); /* 0.484 − 0.1·0.20784·0.38 */
        CHECK(memcmp(constant.params.w, unset.params.w,
                     constant.params.n * sizeof(float)) == 0);
        CHECK(unset.progress.lr_decay == 1.0);
        mf_free(&m);
        mf_free(&constant);
        mf_free(&unset);
    }
}

/* Only SGD's rate decays: the others' steps are tabulated from their rate
 * (the dense catch-up), so a decay is refused, as is a factor beyond 1. */
static void test_lr_decay_refused(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    data_idmap users, items;
    data_ratings all;
    data_error err;
    mf_history h;
    mf_model m;
    nn_rng rng;
    if (read_sample(&users, &items, &all) != 0) return;
    mc.dim = 2;
    tc.fit.epochs = 1;
    tc.session.verbose = 0;
    tc.fit.lr_decay = 0.9;
    nn_rng_seed(&rng, 1);
    CHECK(mf_init(&m, mc, &users, &items, &all, NULL, &rng, &err) == 0);
    CHECK(mf_train(&m, &all, NULL, &tc, &h, NULL, &err) == -1);
    CHECK_HAS(err.msg, "the rate decays after each epoch for SGD only (the optimiser is adamax)");
    mf_free(&m);
    tc.fit.opt = nn_optimizer_defaults(NN_SGD);
    tc.fit.lr_decay = 1.5;
    CHECK(mf_init(&m, mc, &users, &items, &all, NULL, &rng, &err) == 0);
    CHECK(mf_train(&m, &all, NULL, &tc, &h, NULL, &err) == -1);
    CHECK_HAS(err.msg, "the rate's decay must be a factor in (0, 1] (it is 1.5)");
    mf_free(&m);
    free_data(&users, &items, &all);
}

static void test_sgd_fast_path_exact(void) {
    sgd_fast_path_exact(NN_SGD, 0.005f);
    sgd_fast_path_exact(NN_ROWWISE_ADAGRAD, 0.05f);
}

/* Hogwild per-rating SGD: 4 threads over the sample learn as well as one
 * (val RMSE within 2 %; they are not bit-identical, their updates race), and
 * both beat the mean by far. */
static void test_sgd_threads(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h1, h4;
    mf_model m1, m4;
    double r1, r4, b;
    mc.dim = 8;
    mc.l2 = 0.02f;
    tc.fit.opt = nn_optimizer_defaults(NN_SGD);
    tc.fit.opt.lr = 0.01f;
    tc.fit.batch = 1;
    tc.fit.epochs = 8;
    tc.session.verbose = 0;
    train_sample(mc, tc, &r1, &b, &h1, &m1);
    tc.speed.threads = 4;
    train_sample(mc, tc, &r4, &b, &h4, &m4);
    printf("     per-rating SGD: val RMSE %.4f on 1 thread, %.4f on 4, mean %.4f\n", r1, r4, b);
    CHECK(r1 < 0.85 * b);
    CHECK(fabs(r4 - r1) < 0.02 * r1);
    mf_history_free(&h1);
    mf_history_free(&h4);
    mf_free(&m1);
    mf_free(&m4);
}

/* Data-parallel batches (dense Adam, --threads): the same T gives the same
 * bits every run; the bias model on 2 threads follows the 1-thread loss
 * curve to within 1e-5 relative (only the order of gradient sums differs),
 * which fails if a share's gradient is lost or counted twice; neumf (on
 * ratings), whose shares draw their own dropout masks, learns as well on 3
 * threads as on 1. */
static void test_data_parallel_training(void) {
    size_t k, e, t;
    for (k = 0; k < 2; k++) {
        mf_config mc = mf_defaults_for(k == 0 ? MF_BIAS : MF_NEUMF);
        mf_train_config tc = mf_train_defaults();
        size_t T = k == 0 ? 2 : 3;
        mf_history h[3];
        mf_model m[3];
        double r[3], b, worst = 0.0;
        size_t differ = 0;
        mc.dim = 8;
        mc.implicit = 0;
        if (k == 0) mc.l2 = 0.05f;
        tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
        tc.fit.opt.lr = 0.005f;
        tc.fit.epochs = 3;
        tc.session.verbose = 0;
        for (t = 0; t < 3; t++) {
            tc.speed.threads = t == 0 ? 1 : T;
            train_sample(mc, tc, &r[t], &b, &h[t], &m[t]);
        }
        for (t = 0; t < m[1].params.n; t++) differ += m[1].params.w[t] != m[2].params.w[t];
        CHECK_INT(differ, 0);
        for (e = 0; e < 3; e++) {
            double d = fabs(h[1].epoch[e].loss - h[0].epoch[e].loss) / h[0].epoch[e].loss;
            double dv = fabs(h[1].epoch[e].val_loss - h[0].epoch[e].val_loss) / h[0].epoch[e].val_loss;
            worst = d > worst ? d : worst;
            worst = dv > worst ? dv : worst;
        }
        printf("     %s: %zu threads vs 1: curves within %.2g relative, val RMSE %.4f vs %.4f "
               "(mean %.4f)\n", mf_kind_name(mc.kind), T, worst, r[1], r[0], b);
        if (k == 0) CHECK(worst < 1e-5);
        CHECK(r[1] < (k == 0 ? 0.95 : 0.99) * b);
        CHECK(fabs(r[1] - r[0]) < 0.03 * r[0]);
        for (t = 0; t < 3; t++) {
            mf_history_free(&h[t]);
            mf_free(&m[t]);
        }
    }
}

/* RMSE and MAE on 1, 2, 3 or 7 threads are the same bits, and equal the
 * sums over mf_predict taken here one rating at a time (3,000 rows: three
 * chunks, the last one short). */
static void test_evaluate_threads(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h;
    mf_model m;
    data_ratings r;
    double rv, b, se = 0.0, ae = 0.0;
    size_t k, T;
    mf_metrics one;
    mc.dim = 8;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.epochs = 2;
    tc.session.verbose = 0;
    train_sample(mc, tc, &rv, &b, &h, &m);
    data_ratings_init(&r);
    for (k = 0; k < 3000; k++) {
        uint32_t u = (uint32_t)((k * 7) % m.n_users), i = (uint32_t)((k * 13) % m.n_items);
        float y = (float)(1 + k % 5), e = mf_predict(&m, u, i) - y;
        CHECK(data_ratings_push(&r, u, i, y, 0) == 0);
        se += (double)e * (double)e;
        ae += fabs((double)e);
    }
    one = mf_evaluate_threads(&m, &r, 1, 1); /* unknown rows: the mean, as mf_predict */
    CHECK_NEAR(one.mse, se / 3000.0, 1e-12, 0);
    CHECK_NEAR(one.mae, ae / 3000.0, 1e-12, 0);
    for (T = 2; T <= 7; T++) {
        mf_metrics mt = mf_evaluate_threads(&m, &r, 1, T);
        CHECK(mt.mse == one.mse && mt.mae == one.mae && mt.unknown == one.unknown);
    }
    data_ratings_free(&r);
    mf_history_free(&h);
    mf_free(&m);
}

/* Hogwild lazy Adam (--threads with --update lazy): 3 threads learn as well
 * as one (val RMSE within 2 %, loss within 5 %), both far below the mean. */
static void test_hogwild_lazy_training(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h1, h3;
    mf_model m1, m3;
    double r1, r3, b;
    mc.dim = 8;
    mc.l2 = 0.02f;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.opt.lr = 0.01f;
    tc.fit.opt.update = NN_UPDATE_LAZY;
    tc.fit.epochs = 6;
    tc.session.verbose = 0;
    train_sample(mc, tc, &r1, &b, &h1, &m1);
    tc.speed.threads = 3;
    train_sample(mc, tc, &r3, &b, &h3, &m3);
    printf("     lazy Adam: val RMSE %.4f on 1 thread, %.4f on 3 (Hogwild), mean %.4f\n", r1, r3, b);
    CHECK(r1 < 0.9 * b);
    CHECK(fabs(r3 - r1) < 0.02 * r1);
    CHECK(fabs(h3.epoch[5].loss - h1.epoch[5].loss) < 0.05 * h1.epoch[5].loss);
    CHECK_INT(h3.n, 6);
    mf_history_free(&h1);
    mf_history_free(&h3);
    mf_free(&m1);
    mf_free(&m3);
}

/* LIBMF's blocks (--blocks G): on one thread a run is reproducible; on 1 or
 * 3 threads it learns as well as the shuffled stream (val RMSE within 2 %).
 * Blocks with anything but per-rating SGD are refused, with the reason. */
static void test_sgd_blocks(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h[4];
    mf_model m[4];
    double r[4], b;
    size_t k, differ = 0;
    mc.dim = 8;
    mc.l2 = 0.02f;
    tc.fit.opt = nn_optimizer_defaults(NN_SGD);
    tc.fit.opt.lr = 0.01f;
    tc.fit.batch = 1;
    tc.fit.epochs = 8;
    tc.session.verbose = 0;
    train_sample(mc, tc, &r[0], &b, &h[0], &m[0]);
    tc.speed.blocks = 4;
    train_sample(mc, tc, &r[1], &b, &h[1], &m[1]);
    train_sample(mc, tc, &r[2], &b, &h[2], &m[2]);
    tc.speed.threads = 3;
    tc.speed.blocks = 6;
    train_sample(mc, tc, &r[3], &b, &h[3], &m[3]);
    for (k = 0; k < m[1].params.n; k++) differ += m[1].params.w[k] != m[2].params.w[k];
    printf("     per-rating SGD: val RMSE %.4f shuffled, %.4f in 4x4 blocks, %.4f in 6x6 on 3 "
           "threads (mean %.4f)\n", r[0], r[1], r[3], b);
    CHECK_INT(differ, 0);
    CHECK(r[0] < 0.85 * b);
    CHECK(fabs(r[1] - r[0]) < 0.02 * r[0]);
    CHECK(fabs(r[3] - r[0]) < 0.02 * r[0]);
    for (k = 0; k < 4; k++) {
        mf_history_free(&h[k]);
        mf_free(&m[k]);
    }
    {
        data_idmap users, items;
        data_ratings all;
        data_error err;
        mf_model mm;
        mf_history hh;
        nn_rng rng;
        if (read_sample(&users, &items, &all) != 0) return;
        nn_rng_seed(&rng, 1);
        CHECK(mf_init(&mm, mc, &users, &items, &all, NULL, &rng, &err) == 0);
        tc.fit.batch = 32;
        CHECK(mf_train(&mm, &all, NULL, &tc, &hh, NULL, &err) != 0);
        CHECK(strstr(err.msg, "--optimizer sgd or rowwise-adagrad, --batch 1") != NULL);
        tc.fit.batch = 1;
        tc.speed.blocks = 5000;
        CHECK(mf_train(&mm, &all, NULL, &tc, &hh, NULL, &err) != 0);
        CHECK(strstr(err.msg, "at most 4096") != NULL);
        tc.speed.blocks = 201; /* the sample has 200 movies: one group would have none */
        CHECK(mf_train(&mm, &all, NULL, &tc, &hh, NULL, &err) != 0);
        CHECK(strstr(err.msg, "--blocks 201: at most 200 here") != NULL);
        mf_free(&mm);
        free_data(&users, &items, &all);
    }
}

/* rows 0..n−1 dealt into G groups at random, as per-rating SGD deals them */
static void deal_groups_ref(size_t n, size_t G, nn_rng *rng, uint32_t *group) {
    uint32_t *perm = malloc(n * sizeof *perm);
    size_t k;
    for (k = 0; k < n; k++) perm[k] = (uint32_t)k;
    nn_rng_shuffle_u32(rng, perm, n);
    for (k = 0; k < n; k++) group[perm[k]] = (uint32_t)(k * G / n);
    free(perm);
}

/* LIBMF's layout of r's rows, built the plain way into out (timeless): the
 * users, then the movies, dealt into G groups from a generator seeded with
 * seed; the rows copied block by block, each block's in their order (a
 * counting sort); each block then shuffled, the blocks in turn. */
static void blocks_layout_ref(const data_ratings *r, size_t U, size_t I, size_t G, uint64_t seed,
                              data_ratings *out) {
    uint32_t *gu = malloc(U * sizeof *gu), *gi = malloc(I * sizeof *gi);
    size_t *at = calloc(G * G + 1, sizeof *at), *fill = calloc(G * G + 1, sizeof *fill), k, b;
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    deal_groups_ref(U, G, &rng, gu);
    deal_groups_ref(I, G, &rng, gi);
    for (k = 0; k < r->n; k++) at[gu[r->user[k]] * G + gi[r->item[k]] + 1]++;
    for (b = 0; b < G * G; b++) at[b + 1] += at[b];
    memcpy(fill, at, (G * G + 1) * sizeof *fill);
    data_ratings_init(out);
    data_ratings_without_time(out);
    data_ratings_reserve_exact(out, r->n);
    out->n = r->n;
    for (k = 0; k < r->n; k++) {
        size_t to = fill[gu[r->user[k]] * G + gi[r->item[k]]]++;
        out->user[to] = r->user[k];
        out->item[to] = r->item[k];
        out->rating[to] = r->rating[k];
    }
    for (b = 0; b < G * G; b++) {
        uint32_t perm_len = (uint32_t)(at[b + 1] - at[b]), *idx = malloc((perm_len + 1) * sizeof *idx);
        data_ratings blk, shuffled;
        for (k = 0; k < perm_len; k++) idx[k] = (uint32_t)k;
        nn_rng_shuffle_u32(&rng, idx, perm_len);
        blk = *out; /* a view of the block */
        blk.user += at[b];
        blk.item += at[b];
        blk.rating += at[b];
        blk.n = perm_len;
        data_ratings_init(&shuffled);
        data_ratings_select(&shuffled, &blk, idx, perm_len);
        for (k = 0; k < perm_len; k++) {
            blk.user[k] = shuffled.user[k];
            blk.item[k] = shuffled.item[k];
            blk.rating[k] = shuffled.rating[k];
        }
        data_ratings_free(&shuffled);
        free(idx);
    }
    free(gu);
    free(gi);
    free(at);
    free(fill);
}

/* rows that differ between a and b (all when their counts differ) */
static size_t rows_differ(const data_ratings *a, const data_ratings *b) {
    size_t k, d = 0;
    if (a->n != b->n) return a->n + b->n;
    for (k = 0; k < a->n; k++)
        d += a->user[k] != b->user[k] || a->item[k] != b->item[k] || a->rating[k] != b->rating[k];
    return d;
}

/* Per-rating SGD's blocks lay train's rows out where they lie when the
 * caller lets them move (mf_speed.reorder_rows) and they keep no
 * timestamps: the rows end in LIBMF's layout as blocks_layout_ref builds
 * it (the in-place layout takes groups of blocks out in several passes:
 * one block at a time for G = 2, several for 7 and 40), and the weights
 * are bit for bit those of a run on rows it may not move (a copy), with
 * SGD and row-wise AdaGrad. Rows with timestamps stay where they are. */
static void test_sgd_blocks_in_place(void) {
    static const size_t grids[] = {2, 7, 40};
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    data_idmap users, items;
    data_ratings given, a, b, want;
    mf_history h;
    mf_model ma, mb;
    data_error err;
    nn_rng rng;
    size_t g, k, differ;
    mc.dim = 8;
    mc.l2 = 0.02f;
    tc.fit.batch = 1;
    tc.fit.epochs = 2;
    tc.fit.seed = 9;
    tc.session.verbose = 0;
    if (read_sample(&users, &items, &given) != 0) return;
    for (g = 0; g < 4; g++) {
        size_t G = g < 3 ? grids[g] : 5;
        tc.fit.opt = nn_optimizer_defaults(g < 3 ? NN_SGD : NN_ROWWISE_ADAGRAD);
        tc.fit.opt.lr = 0.01f;
        tc.speed.blocks = G;
        data_ratings_init(&a);
        data_ratings_init(&b);
        data_ratings_without_time(&a);
        for (k = 0; k < given.n; k++) {
            data_ratings_push(&a, given.user[k], given.item[k], given.rating[k], 0);
            data_ratings_push(&b, given.user[k], given.item[k], given.rating[k], given.time[k]);
        }
        nn_rng_seed(&rng, 3);
        CHECK(mf_init(&ma, mc, &users, &items, &a, NULL, &rng, &err) == 0);
        nn_rng_seed(&rng, 3);
        CHECK(mf_init(&mb, mc, &users, &items, &a, NULL, &rng, &err) == 0);
        blocks_layout_ref(&a, users.n, items.n, G, tc.fit.seed, &want);
        tc.speed.reorder_rows = 1;
        CHECK_INT(mf_train(&ma, &a, NULL, &tc, &h, NULL, &err), 0);
        mf_history_free(&h);
        CHECK_INT(mf_train(&mb, &b, NULL, &tc, &h, NULL, &err), 0); /* times: a copy */
        mf_history_free(&h);
        CHECK_INT(rows_differ(&a, &want), 0);
        CHECK(rows_differ(&a, &given) > given.n / 2); /* (they did move) */
        CHECK_INT(rows_differ(&b, &given), 0);
        for (k = differ = 0; k < ma.params.n; k++) differ += ma.params.w[k] != mb.params.w[k];
        CHECK_INT(differ, 0);
        mf_free(&ma);
        mf_free(&mb);
        data_ratings_free(&a);
        data_ratings_free(&b);
        data_ratings_free(&want);
    }
    free_data(&users, &items, &given);
}

/* As many groups as the sample has movies (200 × 200 blocks, most of them
 * empty), on 2 threads: with lr 0 no weight moves, so each epoch's loss is
 * the same sum over the training ratings whichever thread runs which block,
 * and equals one thread's exactly when every block ran once. */
static void test_sgd_blocks_many(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h1, h2;
    mf_model m1, m2;
    double r1, r2, b;
    size_t k;
    mc.dim = 8;
    mc.l2 = 0.02f;
    tc.fit.opt = nn_optimizer_defaults(NN_SGD);
    tc.fit.opt.lr = 0.0f;
    tc.fit.batch = 1;
    tc.fit.epochs = 3;
    tc.speed.blocks = 200;
    tc.session.verbose = 0;
    train_sample(mc, tc, &r1, &b, &h1, &m1);
    tc.speed.threads = 2;
    train_sample(mc, tc, &r2, &b, &h2, &m2);
    CHECK_INT(h2.n, 3);
    for (k = 0; k < h1.n && k < h2.n; k++) CHECK_NEAR(h2.epoch[k].loss, h1.epoch[k].loss, 1e-12, 0);
    CHECK(h1.epoch[0].loss > 0.1);
    mf_history_free(&h1);
    mf_history_free(&h2);
    mf_free(&m1);
    mf_free(&m2);
}




/* The optimiser's state goes into the model file and comes back bit for
 * bit (version 2), with the step count and the settings. */
static void test_save_load_opt_state(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h;
    mf_model a, b;
    data_error err;
    double r, base;
    mc.dim = 6;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAMAX);
    tc.fit.epochs = 1;
    tc.session.verbose = 0;
    train_sample(mc, tc, &r, &base, &h, &a);
    CHECK(a.opt_state.present);
    CHECK_INT(a.opt_state.t, (9600 + 31) / 32); /* train_sample trains on 80 %: 9600 rows */
    CHECK(mf_save(&a, test_path("state.embrec"), &err) == 0);
    CHECK(mf_load(&b, test_path("state.embrec"), &err) == 0);
    CHECK(b.opt_state.present);
    CHECK_INT(b.opt_state.t, a.opt_state.t);
    CHECK_INT(b.opt_state.cfg.kind, NN_ADAMAX);
    CHECK(b.opt_state.cfg.lr == a.opt_state.cfg.lr);
    CHECK(memcmp(a.opt_state.m, b.opt_state.m, a.params.n * sizeof(float)) == 0);
    CHECK(memcmp(a.opt_state.v, b.opt_state.v, a.params.n * sizeof(float)) == 0);
    mf_history_free(&h);
    mf_free(&a);
    mf_free(&b);
}

/* 1 when the two files hold the same bytes (and exist) */
static int same_bytes(const char *a, const char *b) {
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    int x = 0, y = 0, same = f && g;
    while (same && (x = getc(f)) == (y = getc(g)) && x != EOF) {}
    same = same && x == EOF && y == EOF;
    if (f) fclose(f);
    if (g) fclose(g);
    return same;
}

/* Train 4 epochs straight, and 2, saved, loaded and resumed to 4: the
 * resumed epochs' losses, the weights, the optimiser's state and the
 * progress equal the straight run's bit for bit, and so do the saved files. */
static void resume_matches_straight(const char *what, mf_config mc, mf_train_config tc) {
    data_idmap users, items;
    data_ratings all, train, val;
    data_error err;
    nn_rng rng, init;
    mf_model a, b, c;
    mf_history ha, hb, hc;
    size_t e;
    char straight[600], half[600], resumed[600];
    snprintf(straight, sizeof straight, "%s", test_path("straight.embrec"));
    snprintf(half, sizeof half, "%s", test_path("half.embrec"));
    snprintf(resumed, sizeof resumed, "%s", test_path("resumed.embrec"));
    if (read_sample(&users, &items, &all) != 0) return;
    data_ratings_init(&train);
    data_ratings_init(&val);
    nn_rng_seed(&rng, 42);
    CHECK(data_ratings_shuffle(&all, &rng) == 0);
    CHECK(data_split_tail(&all, 0.2, &train, &val) == 0);
    tc.session.verbose = 0;
    tc.fit.epochs = 4;
    init = rng;
    CHECK(mf_init(&a, mc, &users, &items, &all, NULL, &init, &err) == 0);
    CHECK(mf_train(&a, &train, &val, &tc, &ha, NULL, &err) == 0);
    tc.fit.epochs = 2;
    init = rng;
    CHECK(mf_init(&b, mc, &users, &items, &all, NULL, &init, &err) == 0);
    CHECK(mf_train(&b, &train, &val, &tc, &hb, NULL, &err) == 0);
    CHECK(mf_save(&b, half, &err) == 0);
    CHECK(mf_load(&c, half, &err) == 0);
    CHECK(c.progress.present && c.progress.epochs_done == 2);
    tc.fit.epochs = 4;
    tc.session.resume = 1;
    CHECK(mf_train(&c, &train, &val, &tc, &hc, NULL, &err) == 0);
    CHECK_INT(hc.first, 2);
    CHECK_INT(hc.n, 4);
    CHECK(isnan(hc.epoch[0].loss));
    for (e = 2; e < 4 && hc.n == 4 && ha.n == 4; e++) {
        if (hc.epoch[e].loss != ha.epoch[e].loss ||
            (isnan(ha.epoch[e].val_loss) ? !isnan(hc.epoch[e].val_loss)
                                         : hc.epoch[e].val_loss != ha.epoch[e].val_loss) ||
            (isnan(ha.epoch[e].hr) ? !isnan(hc.epoch[e].hr) : hc.epoch[e].hr != ha.epoch[e].hr))
            test_fail(__FILE__, __LINE__, "%s: epoch %zu: loss %.9g resumed, %.9g straight", what,
                      e + 1, hc.epoch[e].loss, ha.epoch[e].loss);
    }
    CHECK_INT(hc.best, ha.best);
    CHECK(memcmp(a.params.w, c.params.w, a.params.n * sizeof(float)) == 0);
    CHECK_INT(c.opt_state.t, a.opt_state.t);
    CHECK_INT(c.progress.epochs_done, 4);
    CHECK_INT(c.progress.best_epoch, a.progress.best_epoch);
    CHECK_INT(c.progress.wait, a.progress.wait);
    CHECK(memcmp(a.user_count, c.user_count, a.n_users * sizeof *a.user_count) == 0);
    CHECK(mf_save(&a, straight, &err) == 0);
    CHECK(mf_save(&c, resumed, &err) == 0);
    if (!same_bytes(straight, resumed))
        test_fail(__FILE__, __LINE__, "%s: the resumed model's file differs from the straight "
                  "run's", what);
    mf_history_free(&ha);
    mf_history_free(&hb);
    mf_history_free(&hc);
    mf_free(&a);
    mf_free(&b);
    mf_free(&c);
    data_ratings_free(&train);
    data_ratings_free(&val);
    free_data(&users, &items, &all);
}

/* Resuming continues the run exactly: the random streams (the epoch
 * shuffles, the sampled negatives, the dropout masks of each thread,
 * LIBMF's block order, NumPy's shuffles replayed), the optimiser's state,
 * EarlyStopping's counter. */
static void test_resume_matches_straight(void) {
    mf_config mc = mf_defaults_for(MF_NEUMF);
    mf_train_config tc = mf_train_defaults();
    mc.dim = 8;
    mc.hidden[0] = 8;
    mc.implicit = 1;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.batch = 256;
    tc.speed.threads = 2; /* data-parallel: a dropout stream per thread */
    resume_matches_straight("neumf, implicit, 2 threads", mc, tc);
    mc = mf_defaults_for(MF_BIAS);
    mc.dim = 6;
    tc = mf_train_defaults();
    tc.fit.batch = 64;
    tc.fit.patience = 3;
    tc.replay.order = MF_ORDER_NUMPY;
    tc.replay.numpy_seed = 7;
    resume_matches_straight("bias, NumPy's order", mc, tc);
    mc = mf_defaults();
    tc = mf_train_defaults();
    tc.fit.opt = nn_optimizer_defaults(NN_SGD);
    tc.fit.batch = 1;
    tc.speed.blocks = 3;
    resume_matches_straight("dot, per-rating SGD in blocks", mc, tc);
    mc = mf_defaults_for(MF_SVDPP); /* the rate's decay goes on from epoch 3's rate */
    mc.dim = 4;
    tc = mf_train_defaults();
    tc.fit.opt = nn_optimizer_defaults(NN_SGD);
    tc.fit.batch = 1;
    tc.fit.lr_decay = 0.5;
    resume_matches_straight("svdpp, per-rating SGD, the rate halved each epoch", mc, tc);
}

/* The progress goes into the model file and comes back (version 3). */
static void test_save_load_progress(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h;
    mf_model a, b;
    data_error err;
    double r, base;
    mc.dim = 4;
    tc.fit.epochs = 2;
    tc.fit.patience = 5;
    tc.fit.restore_best = 1;
    tc.fit.seed = 9;
    tc.fit.batch = 50;
    tc.session.verbose = 0;
    train_sample(mc, tc, &r, &base, &h, &a);
    a.progress.val_split = 0.2; /* the caller's protocol */
    a.progress.shuffle = 2;
    a.progress.shuffle_seed = 42;
    a.progress.lr_decay = 0.75;
    CHECK(mf_save(&a, test_path("progress.embrec"), &err) == 0);
    CHECK(mf_load(&b, test_path("progress.embrec"), &err) == 0);
    CHECK(b.progress.present);
    CHECK_INT(b.progress.epochs_done, 2);
    CHECK_INT(b.progress.epochs, 2);
    CHECK_INT(b.progress.best_epoch, h.best + 1);
    CHECK(b.progress.best.val_loss == h.epoch[h.best].val_loss);
    CHECK(b.progress.best.val_mae == h.epoch[h.best].val_mae);
    CHECK_INT(b.progress.wait, a.progress.wait);
    CHECK_INT(b.progress.best_weights, 1);
    CHECK_INT(b.progress.batch, 50);
    CHECK_INT(b.progress.patience, 5);
    CHECK_INT(b.progress.restore_best, 1);
    CHECK_INT(b.progress.seed, 9);
    CHECK(b.progress.val_split == 0.2);
    CHECK_INT(b.progress.shuffle, 2);
    CHECK_INT(b.progress.shuffle_seed, 42);
    CHECK(b.progress.lr_decay == 0.75); /* (version 4) */
    CHECK_INT(b.progress.n_streams, 2);
    CHECK(b.progress.n_streams == a.progress.n_streams &&
          memcmp(a.progress.streams, b.progress.streams,
                 a.progress.n_streams * sizeof *a.progress.streams) == 0);
    mf_history_free(&h);
    mf_free(&a);
    mf_free(&b);
}

static void test_history_csv(void) {
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    mf_history_file history_file = {.path = NULL};
    mf_history hist;
    mf_model m;
    double r, b;
    char line[256];
    int lines = 0;
    FILE *f;
    tc.fit.epochs = 3;
    tc.session.verbose = 0;
    history_file.path = test_path("history.csv");
    tc.session.record = mf_history_record;
    tc.session.record_ctx = &history_file;
    train_sample(mc, tc, &r, &b, &hist, &m);
    f = fopen(history_file.path, "r");
    CHECK(f != NULL);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (lines == 0) CHECK_HAS(line, "epoch,loss,val_loss,val_rmse,val_mae,seconds");
        if (lines == 3) {
            double loss = strtod(strchr(line, ',') + 1, NULL);
            CHECK(strncmp(line, "3,", 2) == 0);
            CHECK_NEAR(loss, hist.epoch[2].loss, 1e-8, 0);
        }
        lines++;
    }
    fclose(f);
    CHECK_INT(lines, 4);
    mf_history_free(&hist);
    mf_free(&m);
}

/* ------------------------------------------------------------ recommend */

static int cmp_score_desc(const void *a, const void *b) {
    const mf_scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static void test_recommend_matches_full_sort(void) {
    mf_config cfg = mf_defaults();
    mf_model m;
    mf_scored top[10], all[60];
    uint8_t exclude[60];
    size_t n_all = 0, got, k;
    uint32_t i, u = 3;
    cfg.dim = 6;
    tiny_model(&m, cfg, 5, 60, 11);
    m.item_count[17] = 0; /* never learned: never recommended */
    for (i = 0; i < 60; i++) exclude[i] = (uint8_t)(i % 7 == 0);
    got = mf_recommend(&m, u, exclude, top, 10);
    CHECK_INT(got, 10);
    for (i = 0; i < 60; i++)
        if (!exclude[i] && i != 17) {
            all[n_all].item = i;
            all[n_all].score = mf_predict(&m, u, i);
            n_all++;
        }
    qsort(all, n_all, sizeof *all, cmp_score_desc);
    for (k = 0; k < got; k++) {
        CHECK_INT(top[k].item, all[k].item);
        CHECK(top[k].score == all[k].score);
        CHECK(!exclude[top[k].item] && top[k].item != 17);
    }
    got = mf_recommend(&m, u, exclude, all, 60); /* asking for more than exist */
    CHECK_INT(got, n_all);
    mf_free(&m);
}

/* recommend --all's engine: every user's list on 3 threads is the list on
 * one thread and the list mf_recommend gives that user alone, with what the
 * user rated left out. */
static void test_recommend_users_threads(void) {
    enum { U = 40, I = 60, N = 5 };
    mf_config cfg = mf_defaults();
    mf_model m;
    data_ratings rated;
    data_user_items ui;
    mf_scored one[U * N], three[U * N], alone[N];
    size_t got1[U], got3[U], k, u;
    uint8_t exclude[I];
    cfg.dim = 6;
    tiny_model(&m, cfg, U, I, 21);
    data_ratings_init(&rated);
    for (k = 0; k < 200; k++) /* each user rated a few items */
        CHECK(data_ratings_push(&rated, (uint32_t)(k % U), (uint32_t)((k * 17) % I), 4.0f, 0) == 0);
    CHECK(data_user_items_build(&ui, &rated, U) == 0);
    CHECK(mf_recommend_users(&m, &ui, 0, U, N, 1, one, got1) == 0);
    CHECK(mf_recommend_users(&m, &ui, 0, U, N, 3, three, got3) == 0);
    CHECK(memcmp(one, three, sizeof one) == 0 && memcmp(got1, got3, sizeof got1) == 0);
    for (u = 0; u < U; u++) {
        memset(exclude, 0, sizeof exclude);
        for (k = ui.start[u]; k < ui.start[u + 1]; k++) exclude[ui.item[k]] = 1;
        CHECK_INT(mf_recommend(&m, (uint32_t)u, exclude, alone, N), got1[u]);
        for (k = 0; k < got1[u]; k++) {
            CHECK_INT(alone[k].item, one[u * N + k].item);
            CHECK(!exclude[one[u * N + k].item]);
        }
    }
    data_user_items_free(&ui);
    data_ratings_free(&rated);
    mf_free(&m);
}

/* ------------------------------------------------------------ similar */

/* Items in three planted clusters (item k in cluster k % 3: a centre plus
 * small noise): each item's nearest items are its cluster's, by either metric,
 * and a minimum rating count filters. */
static void test_similar_planted_clusters(void) {
    mf_config cfg = mf_defaults();
    mf_model m;
    mf_scored top[9];
    nn_rng rng;
    size_t k, got, c;
    uint32_t i;
    float *Q;
    int metric;
    cfg.dim = 6;
    tiny_model(&m, cfg, 2, 30, 4);
    Q = nn_param(&m.params, m.id.item_embedding);
    nn_rng_seed(&rng, 9);
    for (i = 0; i < 30; i++)
        for (c = 0; c < 6; c++) /* centre: 2 on axis 2·(cluster) and its neighbour */
            Q[i * m.params.t[m.id.item_embedding].stride + c] =
                (c / 2 == i % 3 ? 2.0f : 0.0f) + 0.3f * (float)(nn_rng_uniform(&rng) - 0.5);
    for (metric = 0; metric < 2; metric++)
        for (i = 0; i < 30; i++) {
            got = mf_similar(&m, i, metric ? MF_EUCLIDEAN : MF_COSINE, 0, top, 9);
            CHECK_INT(got, 9);
            for (k = 0; k < got; k++) {
                CHECK(top[k].item % 3 == i % 3);
                CHECK(top[k].item != i);
                if (k) CHECK(top[k].score <= top[k - 1].score);
            }
        }
    for (i = 0; i < 30; i++) m.item_count[i] = i; /* item i has i ratings */
    got = mf_similar(&m, 0, MF_COSINE, 20, top, 9);
    CHECK_INT(got, 9);
    for (k = 0; k < got; k++) CHECK(top[k].item >= 20);
    mf_free(&m);
}

/* ------------------------------------------------------------ ranking */

static void test_split_latest(void) {
    data_ratings all, train, test;
    data_ratings_init(&all);
    data_ratings_init(&train);
    data_ratings_init(&test);
    data_ratings_push(&all, 0, 1, 4, 100);
    data_ratings_push(&all, 0, 2, 4, 300); /* user 0's latest */
    data_ratings_push(&all, 1, 1, 4, 50);  /* user 1's only row: stays in train */
    data_ratings_push(&all, 0, 3, 4, 200);
    data_ratings_push(&all, 2, 4, 4, 70);
    data_ratings_push(&all, 2, 5, 4, 70);  /* a tie: the later row is held out */
    CHECK(data_split_latest(&all, 3, NULL, &train, &test) == 0);
    CHECK_INT(test.n, 2);
    CHECK_INT(train.n, 4);
    if (test.n == 2) {
        CHECK_INT(test.user[0], 0);
        CHECK_INT(test.item[0], 2);
        CHECK_INT(test.user[1], 2);
        CHECK_INT(test.item[1], 5);
    }
    if (train.n == 4) CHECK_INT(train.item[2], 3); /* the original order is kept */
    data_ratings_free(&all);
    data_ratings_free(&train);
    data_ratings_free(&test);
}

/* The tie rules on a hand-made file: user 0 rated items (raw ids) 30, 10,
 * 20 all at time 500 after 40 at 100; user 1 rated 7 at 5 and 9 at 5.
 * last: 20 and 9; first: 30 and 7; max-item: 30 and 9; random: one of
 * each user's tied rows, the same one for the same seed, and over seeds
 * every tied row of user 0 is drawn. */
static void test_split_latest_ties(void) {
    static const int64_t raw[] = {40, 30, 10, 20, 7, 9}; /* item row -> raw id */
    static const uint32_t want[3][2] = {{3, 5}, {1, 4}, {1, 5}}; /* last, first, max-item */
    data_ratings all, train, test;
    data_ties t = {.item_raw = raw};
    size_t k, seen[6] = {0};
    uint64_t seed;
    data_ratings_init(&all);
    data_ratings_init(&train);
    data_ratings_init(&test);
    data_ratings_push(&all, 0, 0, 4, 100);
    data_ratings_push(&all, 0, 1, 4, 500);
    data_ratings_push(&all, 1, 4, 3, 5);
    data_ratings_push(&all, 0, 2, 4, 500);
    data_ratings_push(&all, 0, 3, 4, 500);
    data_ratings_push(&all, 1, 5, 3, 5);
    for (k = 0; k < 3; k++) {
        t.rule = (data_ties_rule)k;
        CHECK(data_split_latest(&all, 2, &t, &train, &test) == 0);
        CHECK_INT(test.n, 2);
        CHECK_INT(train.n, 4);
        if (test.n == 2) {
            CHECK_INT(test.item[0], want[k][0]); /* (test keeps the file's order) */
            CHECK_INT(test.item[1], want[k][1]);
        }
    }
    t.rule = DATA_TIES_RANDOM;
    for (seed = 1; seed <= 60; seed++) {
        uint32_t first;
        t.seed = seed;
        CHECK(data_split_latest(&all, 2, &t, &train, &test) == 0);
        CHECK_INT(test.n, 2);
        if (test.n != 2) break;
        k = test.user[0] == 0 ? 0 : 1; /* user 0's held-out row (file order) */
        CHECK(test.item[k] >= 1 && test.item[k] <= 3 && test.item[1 - k] >= 4);
        if (test.item[k] <= 3) seen[test.item[k]]++;
        first = test.item[k];
        CHECK(data_split_latest(&all, 2, &t, &train, &test) == 0);
        CHECK_INT(test.item[k], first); /* the seed decides */
    }
    CHECK(seen[1] > 5 && seen[2] > 5 && seen[3] > 5); /* about 20 each */
    CHECK(data_ties_parse("max-item", &t.rule) == 0 && t.rule == DATA_TIES_MAX_ITEM);
    CHECK(data_ties_parse("latest", &t.rule) == -1);
    CHECK(strcmp(data_ties_name(DATA_TIES_FIRST), "first") == 0);
    data_ratings_free(&all);
    data_ratings_free(&train);
    data_ratings_free(&test);
}

/* One user, six items scored s_j = j by a dot model; item 0 is in train and
 * item 3 held out. Against the unseen items {1, 2, 4, 5}, two score ≥ 3:
 * rank 2. So HR@2 = 0 and HR@3 = 1 with NDCG@3 = 1/log2(4) = 0.5; the top 3
 * of the items not in train are 5, 4, 3: precision 1/3, recall 1. Asking
 * for 99 negatives draws all four unseen items: the same rank. The
 * popularity baseline scores by training counts: with item 3 unseen in
 * train it ties at 0 with 1, 2, 4, 5, and ties count against it: rank 4. */
static void test_ranking_by_hand(void) {
    mf_config cfg = mf_defaults();
    mf_model m;
    mf_ranking r;
    data_ratings train, test;
    data_error err;
    size_t j;
    cfg.dim = 1;
    tiny_model(&m, cfg, 1, 6, 1);
    nn_param(&m.params, m.id.user_embedding)[0] = 1.0f;
    for (j = 0; j < 6; j++) nn_param(&m.params, m.id.item_embedding)[j * m.params.t[m.id.item_embedding].stride] = (float)j;
    data_ratings_init(&train);
    data_ratings_init(&test);
    data_ratings_push(&train, 0, 0, 1, 0);
    data_ratings_push(&test, 0, 3, 1, 0);
    CHECK(mf_rank_all(&m, &train, &test, 2, 99, 7, &r, &err) == 0);
    CHECK_INT(r.rows, 1);
    CHECK_NEAR(r.hr, 0.0, 0, 0);
    CHECK_NEAR(r.hr_all, 0.0, 0, 0);
    CHECK(mf_rank_evaluate(&m, &train, &test, 3, 99, 7, &r, &err) == 0); /* sampled only */
    CHECK_NEAR(r.hr, 1.0, 0, 0);
    CHECK_NEAR(r.ndcg, 0.5, 1e-12, 0);
    CHECK_NEAR(r.hr_all, 0.0, 0, 0);
    CHECK(mf_rank_all(&m, &train, &test, 3, 99, 7, &r, &err) == 0);
    CHECK_NEAR(r.hr, 1.0, 0, 0);
    CHECK_NEAR(r.ndcg, 0.5, 1e-12, 0);
    CHECK_NEAR(r.hr_all, 1.0, 0, 0);
    CHECK_NEAR(r.ndcg_all, 0.5, 1e-12, 0);
    CHECK_NEAR(r.precision, 1.0 / 3.0, 1e-12, 0);
    CHECK_NEAR(r.recall, 1.0, 0, 0);
    CHECK(mf_rank_popularity(1, 6, &train, &test, 5, 99, 7, &r, &err) == 0);
    CHECK_NEAR(r.hr, 1.0, 0, 0);   /* rank 4 < 5 */
    CHECK_NEAR(r.ndcg, 1.0 / log2(6.0), 1e-12, 0);
    CHECK(mf_rank_popularity(1, 6, &train, &test, 4, 99, 7, &r, &err) == 0);
    CHECK_NEAR(r.hr, 0.0, 0, 0);
    data_ratings_free(&train);
    data_ratings_free(&test);
    mf_free(&m);
}

/* ------------------------------------------------------------ model files */

static void save_tiny(mf_model *m, const char *name) {
    mf_config cfg = mf_defaults();
    data_error err;
    cfg.kind = MF_BIAS;
    cfg.dim = 5;
    cfg.l2 = 0.02f;
    tiny_model(m, cfg, 7, 9, 3);
    nn_param(&m->params, m->id.item_bias)[8 * m->params.t[m->id.item_bias].stride] = -0.75f;
    snprintf(m->source, sizeof m->source, "some/ratings.csv");
    if (mf_save(m, test_path(name), &err) != 0) test_fail(__FILE__, __LINE__, "%s", err.msg);
}

static void test_save_load_exact(void) {
    mf_model a, b;
    data_error err;
    size_t k;
    save_tiny(&a, "m.embrec");
    if (mf_load(&b, test_path("m.embrec"), &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        mf_free(&a);
        return;
    }
    CHECK_INT(b.cfg.kind, MF_BIAS);
    CHECK_INT(b.cfg.dim, 5);
    CHECK(b.cfg.l2 == a.cfg.l2 && b.mean == a.mean && b.rating_max == a.rating_max);
    CHECK_INT(b.n_users, 7);
    CHECK_INT(b.n_items, 9);
    CHECK(strcmp(b.source, "some/ratings.csv") == 0);
    CHECK_INT(b.params.n, a.params.n);
    CHECK(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
    for (k = 0; k < 7; k++) CHECK_INT(b.user_ids[k], 100 + (int64_t)k);
    for (k = 0; k < 9; k++) CHECK_INT(data_idmap_find(&b.items, 500 + (int64_t)k), k);
    CHECK(memcmp(a.user_count, b.user_count, 7 * sizeof *a.user_count) == 0);
    CHECK(mf_predict(&a, 2, 8) == mf_predict(&b, 2, 8));
    mf_free(&a);
    mf_free(&b);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(1 << 16);
    *len = f && buf ? fread(buf, 1, 1 << 16, f) : 0;
    if (f) fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) test_fail(__FILE__, __LINE__, "cannot write %s", path);
    if (f) fclose(f);
}

static void expect_load_error(const char *path, const char *what) {
    mf_model m;
    data_error err;
    err.msg[0] = '\0';
    CHECK(mf_load(&m, path, &err) == -1);
    CHECK_HAS(err.msg, path);
    CHECK_HAS(err.msg, what);
}

static void test_load_rejects_damage(void) {
    mf_model a;
    size_t len, k;
    unsigned char *buf;
    uint64_t h = 14695981039346656037ULL;
    save_tiny(&a, "good.embrec");
    mf_free(&a);
    buf = slurp(test_path("good.embrec"), &len);
    CHECK(len > 100);
    spit(test_path("short.embrec"), buf, len - 9);
    expect_load_error(test_path("short.embrec"), "checksum");
    buf[len / 2] ^= 0x10;
    spit(test_path("flipped.embrec"), buf, len);
    expect_load_error(test_path("flipped.embrec"), "checksum");
    buf[len / 2] ^= 0x10;
    spit(test_path("text.embrec"), (const unsigned char *)"userId,movieId\n1,2\n", 19);
    expect_load_error(test_path("text.embrec"), "not an embrec model");
    expect_load_error(test_path("absent.embrec"), "cannot open");
    /* a future version with a valid checksum: refused by version, not by damage */
    buf[8] = 99;
    for (k = 0; k + 8 < len; k++) h = (h ^ buf[k]) * 1099511628211ULL;
    for (k = 0; k < 8; k++) buf[len - 8 + k] = (unsigned char)(h >> (8 * k));
    spit(test_path("future.embrec"), buf, len);
    expect_load_error(test_path("future.embrec"), "version 99 is newer");
    free(buf);
}

/* little-endian fields of a model file, and its checksum recomputed, so
 * that an edited header reaches the parser instead of the checksum test */
static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t x = 0;
    int k;
    for (k = 0; k < bytes; k++) x |= (uint64_t)p[k] << (8 * k);
    return x;
}

static void put_le(unsigned char *p, uint64_t x, int bytes) {
    int k;
    for (k = 0; k < bytes; k++) p[k] = (unsigned char)(x >> (8 * k));
}

static void spit_rehashed(const char *name, unsigned char *buf, size_t len) {
    uint64_t h = 14695981039346656037ULL;
    size_t k;
    for (k = 0; k + 8 < len; k++) h = (h ^ buf[k]) * 1099511628211ULL;
    put_le(buf + len - 8, h, 8);
    spit(test_path(name), buf, len);
}

/* the offset of the first copy of x's 4 bytes in buf (len bytes), or 0 */
static size_t find_f32(const unsigned char *buf, size_t len, float x) {
    unsigned char b[4];
    size_t k;
    memcpy(b, &x, 4); /* the file is little-endian, and so are the machines embrec runs on */
    for (k = 0; k + 4 <= len; k++)
        if (memcmp(buf + k, b, 4) == 0) return k;
    return 0;
}

/* A saved svdpp model loads with its N(u), Y and biases, and predicts what
 * it predicted, bit for bit, for every pair; a damaged N(u) is refused */
static void test_save_load_svdpp(void) {
    mf_model a, b;
    data_error err;
    unsigned char *buf;
    size_t len, at, u, i;
    hand_svdpp(&a);
    a.cfg.l2 = 0.5f;
    a.cfg.l2_implicit = 0.125f;
    CHECK(mf_save(&a, test_path("svdpp.embrec"), &err) == 0);
    if (mf_load(&b, test_path("svdpp.embrec"), &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        mf_free(&a);
        return;
    }
    CHECK_INT(b.cfg.kind, MF_SVDPP);
    CHECK(b.cfg.l2 == 0.5f && b.cfg.l2_implicit == 0.125f);
    CHECK_INT(b.rated.n_users, 4);
    CHECK(memcmp(a.rated.start, b.rated.start, 5 * sizeof *a.rated.start) == 0);
    CHECK(memcmp(a.rated.item, b.rated.item, 10 * sizeof *a.rated.item) == 0);
    CHECK(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
    for (u = 0; u < 4; u++)
        for (i = 0; i < 5; i++) CHECK(mf_predict(&a, (uint32_t)u, (uint32_t)i) ==
                                      mf_predict(&b, (uint32_t)u, (uint32_t)i));
    CHECK_NEAR(mf_predict(&b, 0, 2), 6.25, 1e-6, 0);
    mf_free(&b);
    mf_free(&a);
    /* N(u) follows the two empty feature blocks: u64 nnz 10, then start[5]
     * = {0, 4, 5, 10, 10} (found by its bytes), then item[10] */
    buf = slurp(test_path("svdpp.embrec"), &len);
    for (at = 8; at + 20 <= len; at++)
        if (get_le(buf + at - 8, 8) == 10 && get_le(buf + at, 4) == 0 &&
            get_le(buf + at + 4, 4) == 4 && get_le(buf + at + 8, 4) == 5 &&
            get_le(buf + at + 12, 4) == 10 && get_le(buf + at + 16, 4) == 10)
            break;
    CHECK(at + 20 < len);
    CHECK(at >= 12 && get_le(buf + at - 12, 4) == 0x3e000000u); /* λ_y 0.125 before them */
    put_le(buf + at - 12, 0x7fc00000u, 4); /* NaN */
    spit_rehashed("svdpp_l2.embrec", buf, len);
    expect_load_error(test_path("svdpp_l2.embrec"), "corrupt model (svdpp's L2 weight nan on Y)");
    put_le(buf + at - 12, 0x3e000000u, 4);
    put_le(buf + at + 20 + 4 * 9, 5, 4); /* user 2's last movie: 5 of 5 */
    spit_rehashed("svdpp_item.embrec", buf, len);
    expect_load_error(test_path("svdpp_item.embrec"), "corrupt model (svdpp's rated movies)");
    put_le(buf + at + 20 + 4 * 9, 3, 4); /* 3 after 3: not increasing */
    spit_rehashed("svdpp_order.embrec", buf, len);
    expect_load_error(test_path("svdpp_order.embrec"), "corrupt model (svdpp's rated movies)");
    put_le(buf + at + 20 + 4 * 9, 4, 4);
    put_le(buf + at - 8, 1u << 30, 8); /* more entries than the file holds */
    spit_rehashed("svdpp_nnz.embrec", buf, len);
    expect_load_error(test_path("svdpp_nnz.embrec"), "rated movies do not fit in the file");
    put_le(buf + at - 8, 10, 8);
    spit_rehashed("svdpp_same.embrec", buf, len); /* the edits undone: it loads */
    CHECK(mf_load(&b, test_path("svdpp_same.embrec"), &err) == 0);
    mf_free(&b);
    free(buf);
}

/* A file whose checksum is valid but whose numbers are not finite (a
 * crafted one: the checksum guards against damage, not intent) is refused,
 * naming the file and the tensor, or the mean or range: a NaN weight would
 * make every prediction that reads it NaN. */
static void test_load_rejects_nonfinite(void) {
    static const float bad[3] = {NAN, INFINITY, -INFINITY};
    mf_model a;
    size_t len, at_bias, at_p, at_m, k;
    unsigned char *buf, keep[4];
    float p00;
    save_tiny(&a, "finite.embrec");
    p00 = nn_param(&a.params, a.id.user_embedding)[0];
    /* an optimiser's state too: a NaN moment would make every resumed step NaN */
    a.opt_state.present = 1;
    a.opt_state.cfg = nn_optimizer_defaults(NN_ADAM);
    a.opt_state.t = 3;
    a.opt_state.m = nn_alloc(a.params.n * sizeof(float));
    a.opt_state.v = nn_alloc(a.params.n * sizeof(float));
    CHECK(a.opt_state.m && a.opt_state.v);
    if (!a.opt_state.m || !a.opt_state.v) return;
    memset(a.opt_state.m, 0, a.params.n * sizeof(float));
    memset(a.opt_state.v, 0, a.params.n * sizeof(float));
    a.opt_state.m[a.params.t[a.id.item_embedding].offset] = -0.375f;
    {
        data_error err;
        CHECK(mf_save(&a, test_path("finite.embrec"), &err) == 0);
    }
    mf_free(&a);
    buf = slurp(test_path("finite.embrec"), &len);
    at_bias = find_f32(buf, len, -0.75f); /* save_tiny's last item bias */
    at_p = find_f32(buf, len, p00);
    at_m = find_f32(buf, len, -0.375f);
    CHECK(at_bias > 100 && at_p > 100 && at_m > at_bias);
    for (k = 0; k < 3; k++) {
        memcpy(keep, buf + at_bias, 4);
        memcpy(buf + at_bias, &bad[k], 4);
        spit_rehashed("nan_bias.embrec", buf, len);
        expect_load_error(test_path("nan_bias.embrec"), "item_bias");
        expect_load_error(test_path("nan_bias.embrec"), "not finite");
        memcpy(buf + at_bias, keep, 4);
        memcpy(keep, buf + at_p, 4);
        memcpy(buf + at_p, &bad[k], 4);
        spit_rehashed("nan_p.embrec", buf, len);
        expect_load_error(test_path("nan_p.embrec"), "user_embedding");
        memcpy(buf + at_p, keep, 4);
        memcpy(keep, buf + at_m, 4);
        memcpy(buf + at_m, &bad[k], 4);
        spit_rehashed("nan_m.embrec", buf, len);
        expect_load_error(test_path("nan_m.embrec"), "optimiser state");
        expect_load_error(test_path("nan_m.embrec"), "item_embedding");
        memcpy(buf + at_m, keep, 4);
        /* the mean μ (byte 48) and the rating range after it */
        memcpy(keep, buf + 48, 4);
        memcpy(buf + 48, &bad[k], 4);
        spit_rehashed("nan_mean.embrec", buf, len);
        expect_load_error(test_path("nan_mean.embrec"), "mean");
        memcpy(buf + 48, keep, 4);
        memcpy(keep, buf + 56, 4);
        memcpy(buf + 56, &bad[k], 4);
        spit_rehashed("nan_max.embrec", buf, len);
        expect_load_error(test_path("nan_max.embrec"), "rating range");
        memcpy(buf + 56, keep, 4);
    }
    spit_rehashed("finite_again.embrec", buf, len); /* every edit undone: it loads */
    {
        data_error err;
        CHECK(mf_load(&a, test_path("finite_again.embrec"), &err) == 0);
        CHECK(a.opt_state.present && a.opt_state.m[a.params.t[a.id.item_embedding].offset] == -0.375f);
        mf_free(&a);
    }
    free(buf);
}

/* A version 3 file (its progress without the rate's decay) still loads,
 * its run's rate constant; a decay beyond (0, 1] is damage. */
static void test_load_version3_progress(void) {
    mf_config mc = mf_defaults_for(MF_BIAS);
    mf_train_config tc = mf_train_defaults();
    mf_history h;
    mf_model a, b;
    data_error err;
    double r, base;
    unsigned char *buf;
    size_t len, at;
    mc.dim = 2;
    tc.fit.epochs = 1;
    tc.session.verbose = 0;
    train_sample(mc, tc, &r, &base, &h, &a);
    a.progress.lr_decay = 0.5;
    CHECK(mf_save(&a, test_path("v4.embrec"), &err) == 0);
    buf = slurp(test_path("v4.embrec"), &len);
    at = len - 8 - 32 * a.progress.n_streams - 8; /* the decay: before the generators, the hash */
    CHECK(get_le(buf + at, 8) == 0x3FE0000000000000ULL); /* 0.5 */
    put_le(buf + at, 0x3FF8000000000000ULL, 8);          /* 1.5 */
    spit_rehashed("decay15.embrec", buf, len);
    expect_load_error(test_path("decay15.embrec"), "corrupt model (training progress)");
    memmove(buf + at, buf + at + 8, len - at - 8);
    put_le(buf + 8, 3, 4);
    spit_rehashed("v3.embrec", buf, len - 8);
    if (mf_load(&b, test_path("v3.embrec"), &err) != 0) {
        test_fail(__FILE__, __LINE__, "a version 3 file: %s", err.msg);
    } else {
        CHECK(b.progress.present && b.progress.lr_decay == 1.0);
        CHECK_INT(b.progress.epochs_done, 1);
        CHECK(b.progress.n_streams == a.progress.n_streams &&
              memcmp(a.progress.streams, b.progress.streams,
                     a.progress.n_streams * sizeof *a.progress.streams) == 0);
        CHECK(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
        mf_free(&b);
    }
    free(buf);
    mf_history_free(&h);
    mf_free(&a);
}

/* A model from a newer embrec (the next version, or a kind this one does not
 * know) and files that are not models at all are refused by name. */
static void test_load_rejects_other_versions_and_kinds(void) {
    mf_model a;
    size_t len;
    unsigned char *buf, keep[4];
    char want[64];
    save_tiny(&a, "v.embrec");
    mf_free(&a);
    buf = slurp(test_path("v.embrec"), &len);
    CHECK(len > 100);
    CHECK_INT(get_le(buf + 8, 4), MF_FILE_VERSION);
    put_le(buf + 8, MF_FILE_VERSION + 1, 4);
    spit_rehashed("next.embrec", buf, len);
    snprintf(want, sizeof want, "version %d is newer than this embrec", MF_FILE_VERSION + 1);
    expect_load_error(test_path("next.embrec"), want);
    expect_load_error(test_path("next.embrec"), "upgrade embrec");
    put_le(buf + 8, 0, 4);
    spit_rehashed("v0.embrec", buf, len);
    expect_load_error(test_path("v0.embrec"), "unknown model file version 0");
    put_le(buf + 8, MF_FILE_VERSION, 4);
    memcpy(keep, buf + 12, 4);
    CHECK_INT(get_le(buf + 12, 4), MF_BIAS);
    put_le(buf + 12, 8, 4); /* one past svdpp */
    spit_rehashed("kind8.embrec", buf, len);
    expect_load_error(test_path("kind8.embrec"), "model kind 8 is not one this embrec knows");
    put_le(buf + 12, 0xffffffffu, 4);
    spit_rehashed("kindmax.embrec", buf, len);
    expect_load_error(test_path("kindmax.embrec"), "model kind 4294967295");
    memcpy(buf + 12, keep, 4);
    /* the optimiser state's flag and the training progress's, the two words
     * before the checksum in a model saved untrained: 2 is neither "none"
     * nor "state follows" (a fuzzed file once made the loader read the
     * state past the end) */
    CHECK_INT(get_le(buf + len - 16, 4), 0);
    put_le(buf + len - 16, 2, 4);
    spit_rehashed("state2.embrec", buf, len);
    expect_load_error(test_path("state2.embrec"), "corrupt model (optimiser state flag 2)");
    put_le(buf + len - 16, 0, 4);
    CHECK_INT(get_le(buf + len - 12, 4), 0);
    put_le(buf + len - 12, 2, 4);
    spit_rehashed("progress2.embrec", buf, len);
    expect_load_error(test_path("progress2.embrec"), "corrupt model (training progress flag 2)");
    put_le(buf + len - 12, 0, 4);
    spit_rehashed("same.embrec", buf, len); /* the edits undone: it loads again */
    {
        data_error err;
        CHECK(mf_load(&a, test_path("same.embrec"), &err) == 0);
        CHECK_INT(a.cfg.kind, MF_BIAS);
        mf_free(&a);
    }
    free(buf);
    /* other files given as a model: NumPy's .npy, Keras's HDF5, empty */
    {
        unsigned char other[160];
        static const char npy[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', "
                                  "'fortran_order': False, 'shape': (3, 2), }";
        memset(other, ' ', sizeof other);
        memcpy(other, npy, sizeof npy - 1);
        spit(test_path("emb.npy"), other, sizeof other);
        expect_load_error(test_path("emb.npy"), "not an embrec model file");
        memset(other, 0, sizeof other);
        memcpy(other, "\x89HDF\r\n\x1a\n", 8);
        spit(test_path("keras.h5"), other, sizeof other);
        expect_load_error(test_path("keras.h5"), "not an embrec model file");
    }
    spit(test_path("empty.embrec"), (const unsigned char *)"", 0);
    expect_load_error(test_path("empty.embrec"), "not an embrec model file");
}

/* Found by fuzzing the loader: a header claiming 2^30 users of dimension
 * 65536 made it allocate the 256 TiB the header implies before noticing the
 * file is 1 KiB (an out-of-memory message, or an abort under AddressSanitizer);
 * and a hybrid model claiming 2^31 − 1 feature names made it allocate their
 * 16 GiB offsets first. Both are now refused from the file's size. */
static void test_load_checks_size_before_allocating(void) {
    mf_config cfg = mf_defaults();
    mf_model a;
    size_t len, at;
    unsigned char *buf;
    save_tiny(&a, "huge.embrec");
    mf_free(&a);
    buf = slurp(test_path("huge.embrec"), &len);
    CHECK(len > 100);
    put_le(buf + 20, 65536, 4);       /* dimension */
    put_le(buf + 24, 1u << 30, 8);    /* users */
    spit_rehashed("huge.embrec", buf, len);
    expect_load_error(test_path("huge.embrec"), "truncated or padded model file");
    free(buf);

    cfg.kind = MF_BIAS;
    cfg.dim = 3;
    tiny_features = 1;
    tiny_model(&a, cfg, 4, 5, 2);
    tiny_features = 0;
    {
        data_error err;
        CHECK(mf_save(&a, test_path("names.embrec"), &err) == 0);
    }
    mf_free(&a);
    buf = slurp(test_path("names.embrec"), &len);
    CHECK(len > 100);
    /* the user features follow the 96-byte header of a model without hidden
     * layers and its source name (length at byte 92) */
    at = 96 + (size_t)get_le(buf + 92, 4);
    CHECK_INT(get_le(buf + at, 8), 3); /* the three user features */
    put_le(buf + at, 0x7fffffff, 8);
    spit_rehashed("names.embrec", buf, len);
    expect_load_error(test_path("names.embrec"),
                      "user features: 2147483647 names and 6 entries do not fit");
    free(buf);
}

/* every tensor of a deep model, its layer sizes and item genres survive */
static void test_save_load_deep(void) {
    mf_config cfg = mf_defaults_for(MF_DEEP);
    mf_model a, b;
    data_error err;
    cfg.dim = 6;
    cfg.hidden[0] = 7;
    cfg.hidden[1] = 2;
    tiny_model(&a, cfg, 4, 9, 8);
    CHECK(mf_save(&a, test_path("deep.embrec"), &err) == 0);
    if (mf_load(&b, test_path("deep.embrec"), &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        mf_free(&a);
        return;
    }
    CHECK_INT(b.cfg.kind, MF_DEEP);
    CHECK_INT(b.cfg.n_hidden, 2);
    CHECK_INT(b.cfg.hidden[0], 7);
    CHECK_INT(b.cfg.hidden_act, NN_RELU);
    CHECK(b.cfg.dropout_embed == a.cfg.dropout_embed);
    CHECK_INT(b.n_genres, 3);
    CHECK(memcmp(a.item_genre, b.item_genre, 9 * sizeof *a.item_genre) == 0);
    CHECK_INT(b.params.n, a.params.n);
    CHECK(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
    CHECK(mf_predict(&a, 3, 8) == mf_predict(&b, 3, 8));
    mf_free(&a);
    mf_free(&b);
}

static void test_save_is_atomic(void) {
    mf_model a;
    data_error err;
    char cmd[600];
    save_tiny(&a, "atomic.embrec");
    /* an unwritable target directory: error, and nothing left behind */
    CHECK(mf_save(&a, "/nonexistent-dir/x.embrec", &err) == -1);
    CHECK_HAS(err.msg, "/nonexistent-dir/x.embrec");
    /* saving over an existing model leaves no temporary files */
    CHECK(mf_save(&a, test_path("atomic.embrec"), &err) == 0);
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q 'atomic.embrec.tmp'", test_tmpdir());
    CHECK(system(cmd) != 0);
    mf_free(&a);
}

/* ------------------------------------------------------------ MovieLens 100K */

/* u1.base → u1.test with the bias model. Surprise's SVD reports RMSE 0.934
 * averaged over the five folds; we must be competitive on fold 1. */
static void test_ml100k_u1(void) {
    const char *base = test_movielens("ml-100k/u1.base"), *test = test_movielens("ml-100k/u1.test");
    data_read_opts ro = data_read_defaults();
    data_idmap users, items;
    data_ratings train, tst, none;
    data_error err;
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    mf_history hist;
    mf_model m;
    mf_metrics tm, bm;
    nn_rng rng;
    if (!base || !test) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&train);
    data_ratings_init(&tst);
    data_ratings_init(&none);
    CHECK(data_read_ratings(base, &ro, &users, &items, &train, NULL, &err) == 0);
    CHECK(data_read_ratings(test, &ro, &users, &items, &tst, NULL, &err) == 0);
    CHECK_INT(train.n, 80000);
    CHECK_INT(tst.n, 20000);
    mc.kind = MF_BIAS;
    mc.dim = 32;
    mc.l2 = 0.1f;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.opt.lr = 0.002f;
    tc.fit.opt.update = NN_UPDATE_LAZY;
    tc.fit.batch = 32;
    tc.fit.epochs = 25;
    tc.session.verbose = 0;
    nn_rng_seed(&rng, 1);
    CHECK(mf_init(&m, mc, &users, &items, &train, NULL, &rng, &err) == 0);
    CHECK(mf_train(&m, &train, &none, &tc, &hist, NULL, &err) == 0);
    tm = mf_evaluate(&m, &tst, 1);
    bm = mf_evaluate_mean(m.mean, &tst);
    printf("     ml-100k u1: bias K=32 test RMSE %.4f MAE %.4f (%zu unknown), mean baseline %.4f\n",
           tm.rmse, tm.mae, tm.unknown, bm.rmse);
    CHECK(tm.rmse < 0.935);
    CHECK(tm.rmse > 0.85); /* far better than published results means a leak */
    mf_history_free(&hist);
    mf_free(&m);
    data_ratings_free(&train);
    data_ratings_free(&tst);
    data_idmap_free(&users);
    data_idmap_free(&items);
}

static void test_recipes_match_notebooks(void) {
    const mf_recipe *cf = mf_recipe_find("cfmodel"), *mf8 = mf_recipe_find("mf8");
    CHECK(cf && mf8 && !mf_recipe_find("nope"));
    if (!cf || !mf8) return;
    /* notebook 003: CFModel(k=100), compile(loss='mse', optimizer='adamax'),
     * fit(validation_split=.1, batch 32 default, 30 epochs), EarlyStopping(patience=2) */
    CHECK_INT(cf->model.kind, MF_DOT);
    CHECK_INT(cf->model.dim, 100);
    CHECK_INT(cf->model.centre, 0);
    CHECK_INT(cf->fit.opt.kind, NN_ADAMAX);
    CHECK(cf->fit.opt.lr == 0.002f && cf->fit.opt.epsilon == 1e-7f);
    CHECK_INT(cf->fit.opt.update, NN_UPDATE_DENSE);
    CHECK_INT(cf->fit.batch, 32);
    CHECK_INT(cf->fit.epochs, 30);
    CHECK_INT(cf->fit.patience, 2);
    CHECK(cf->fit.restore_best);
    CHECK(cf->val_split == 0.1);
    /* notebook 000: k=8, centred, Adam lr 0.01, validation 0.05, 20 epochs, batch 5000 */
    CHECK_INT(mf8->model.dim, 8);
    CHECK(mf8->model.centre);
    CHECK_INT(mf8->fit.opt.kind, NN_ADAM);
    CHECK(mf8->fit.opt.lr == 0.01f && mf8->fit.opt.epsilon == 1e-8f);
    CHECK_INT(mf8->fit.batch, 5000);
    CHECK_INT(mf8->fit.epochs, 20);
    CHECK(mf8->val_split == 0.05);
}

/* --batch-order numpy:7 is Keras's fit(shuffle=True) after np.random.seed(7):
 * the same index array shuffled again each epoch. Given those orders as a
 * file's permutations, training is bit for bit the same; embrec's own
 * order, or one permutation reused, is not. */
static void test_batch_orders(void) {
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    mf_history h1, h2, h3, h4;
    mf_model m1, m2, m3, m4;
    double r, b;
    data_np_rng np;
    data_error err;
    const size_t N = 9600; /* train_sample's training rows */
    uint32_t *orders = malloc(2 * N * sizeof *orders);
    size_t k;
    if (!orders) return;
    mc.dim = 8;
    tc.fit.epochs = 2;
    tc.fit.batch = 256;
    tc.session.verbose = 0;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.replay.order = MF_ORDER_NUMPY;
    tc.replay.numpy_seed = 7;
    train_sample(mc, tc, &r, &b, &h1, &m1);
    CHECK_INT(data_np_seed(&np, 7, &err), 0);
    for (k = 0; k < N; k++) orders[k] = (uint32_t)k;
    data_np_shuffle_u32(&np, orders, N);
    memcpy(orders + N, orders, N * sizeof *orders);
    data_np_shuffle_u32(&np, orders + N, N); /* epoch 2 shuffles epoch 1's order */
    tc.replay.order = MF_ORDER_GIVEN;
    tc.replay.orders = orders;
    tc.replay.n_orders = 2;
    tc.replay.order_n = N;
    train_sample(mc, tc, &r, &b, &h2, &m2);
    CHECK_INT(h1.n, 2);
    CHECK_INT(h2.n, 2);
    CHECK(h1.epoch[0].loss == h2.epoch[0].loss && h1.epoch[1].loss == h2.epoch[1].loss);
    CHECK(h1.epoch[1].val_loss == h2.epoch[1].val_loss);
    CHECK(memcmp(m1.params.w, m2.params.w, m1.params.n * sizeof(float)) == 0);
    tc.replay.n_orders = 1; /* epoch 1's order every epoch: epoch 1 alike, epoch 2 not */
    train_sample(mc, tc, &r, &b, &h3, &m3);
    CHECK(h3.epoch[0].loss == h1.epoch[0].loss);
    CHECK(h3.epoch[1].loss != h1.epoch[1].loss);
    tc.replay.order = MF_ORDER_EMBREC;
    train_sample(mc, tc, &r, &b, &h4, &m4);
    CHECK(h4.epoch[0].loss != h1.epoch[0].loss);
    mf_history_free(&h1);
    mf_history_free(&h2);
    mf_history_free(&h3);
    mf_history_free(&h4);
    mf_free(&m1);
    mf_free(&m2);
    mf_free(&m3);
    mf_free(&m4);
    free(orders);
}

/* mf_load_weights: a model's exported arrays start another model exactly;
 * rows follow user_ids.npy when it is there; a Dense kernel is (C, O); a
 * wrong shape is refused naming the file, what it has and what is needed. */
static void test_load_weights(void) {
    mf_config mc = mf_defaults();
    mf_model a, b;
    data_error err;
    size_t loaded = 0, k, r, c;
    char dir[512], dir2[512];
    mc.kind = MF_BIAS;
    mc.dim = 3;
    tiny_model(&a, mc, 4, 5, 1);
    tiny_model(&b, mc, 4, 5, 2);
    snprintf(dir, sizeof dir, "%s", test_path("weights"));
    if (mf_export(&a, dir, NULL, &err) != 0) test_fail(__FILE__, __LINE__, "%s", err.msg);
    CHECK(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) != 0);
    CHECK_INT(mf_load_weights(&b, dir, &loaded, &err), 0);
    CHECK_INT(loaded, 4); /* P, Q, b_u, b_i */
    CHECK(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
    mf_free(&b);

    /* a table indexed by raw id, rows in another order and one extra row:
     * user 100+u is row 3−u, and row 4 is nobody's */
    snprintf(dir2, sizeof dir2, "%s", test_path("weights_by_id"));
    CHECK(mkdir(dir2, 0777) == 0);
    {
        const int64_t ids[5] = {103, 102, 101, 100, 999}, other[5] = {103, 102, 998, 100, 999};
        float P[5][3];
        for (r = 0; r < 5; r++)
            for (c = 0; c < 3; c++) P[r][c] = (float)(10 * r + c);
        fixture_write_npy("weights_by_id/user_ids.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }",
                          ids, sizeof ids);
        fixture_write_npy("weights_by_id/user_embedding.npy", 1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }", P,
                          sizeof P);
        tiny_model(&b, mc, 4, 5, 2);
        CHECK_INT(mf_load_weights(&b, dir2, &loaded, &err), 0);
        CHECK_INT(loaded, 1);
        for (r = 0; r < 4; r++) /* model row r is user 100+r: file row 3−r */
            for (c = 0; c < 3; c++)
                CHECK(nn_param(&b.params, b.id.user_embedding)[r * b.params.t[b.id.user_embedding].stride + c] ==
                      P[3 - r][c]);
        mf_free(&b);
        fixture_write_npy("weights_by_id/user_ids.npy", 1,
                          "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }",
                          other, sizeof other);
        tiny_model(&b, mc, 4, 5, 2);
        CHECK_INT(mf_load_weights(&b, dir2, &loaded, &err), -1);
        CHECK_HAS(err.msg, "user_ids.npy: no row for user 101, which the model has");
        mf_free(&b);
    }

    /* deep: kernels (C, O), biases (O,), shape errors */
    mc = mf_defaults_for(MF_DEEP);
    mc.dim = 2;
    mc.hidden[0] = 3;
    mc.n_hidden = 1;
    tiny_model(&b, mc, 4, 5, 2);
    CHECK(mkdir(test_path("deep"), 0777) == 0);
    {
        double W[6][3], bias[3] = {0.5, -0.5, 0.25};
        float *kern = nn_param(&b.params, b.id.kernel[0]);
        for (r = 0; r < 6; r++)
            for (c = 0; c < 3; c++) W[r][c] = 0.01 * (double)(r * 3 + c) - 0.05;
        fixture_write_npy("deep/dense_1_kernel.npy", 1,
                          "{'descr': '<f8', 'fortran_order': False, 'shape': (6, 3), }", W,
                          sizeof W);
        fixture_write_npy("deep/dense_1_bias.npy", 1,
                          "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", bias,
                          sizeof bias);
        CHECK_INT(mf_load_weights(&b, test_path("deep"), &loaded, &err), 0);
        CHECK_INT(loaded, 2);
        for (k = 0; k < 18; k++) CHECK(kern[k] == (float)W[k / 3][k % 3]); /* (C, O) row-major */
        for (k = 0; k < 3; k++) CHECK(nn_param(&b.params, b.id.bias[0])[k] == (float)bias[k]);
        fixture_write_npy("deep/dense_1_kernel.npy", 1,
                          "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 6), }", W,
                          sizeof W);
        CHECK_INT(mf_load_weights(&b, test_path("deep"), &loaded, &err), -1);
        CHECK_HAS(err.msg, "deep/dense_1_kernel.npy: shape (3, 6), the model needs (6, 3)");
        fixture_write_npy("deep/dense_1_kernel.npy", 1,
                          "{'descr': '<i8', 'fortran_order': False, 'shape': (6, 3), }", W,
                          sizeof W);
        CHECK_INT(mf_load_weights(&b, test_path("deep"), &loaded, &err), -1);
        CHECK_HAS(err.msg, "dense_1_kernel.npy: dtype '<i8'; weights are float32 or float64");
    }
    mf_free(&b);
    mf_free(&a);
}

/* mf_load_weights refuses values a float cannot hold (NaN, ±inf, float64
 * beyond float32's range), naming the file, the value's position and the
 * problem, in a float32 or float64 array, a 1-D bias or a 2-D table; a
 * float64 value that rounds to float32's largest is kept. */
static void test_load_weights_not_finite(void) {
    static const char *const f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }";
    static const char *const f8 = "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }";
    mf_config mc = mf_defaults();
    mf_model b;
    data_error err;
    size_t loaded = 0, k;
    float P[12];
    double Q[12], bias[4] = {0.5, -0.5, 0.25, 0};
    char dir[512];
    mc.kind = MF_BIAS;
    mc.dim = 3;
    snprintf(dir, sizeof dir, "%s", test_path("weights_nan"));
    CHECK(mkdir(dir, 0777) == 0);
    for (k = 0; k < 12; k++) {
        P[k] = 0.1f * (float)k;
        Q[k] = 0.1 * (double)k;
    }
    tiny_model(&b, mc, 4, 5, 2);
    P[3] = NAN;
    fixture_write_npy("weights_nan/user_embedding.npy", 1, f4, P, sizeof P);
    err.msg[0] = '\0';
    CHECK_INT(mf_load_weights(&b, dir, &loaded, &err), -1);
    CHECK_HAS(err.msg, "weights_nan/user_embedding.npy: value 3 (row 1, column 0) is not finite (nan)");
    P[3] = -INFINITY;
    fixture_write_npy("weights_nan/user_embedding.npy", 1, f4, P, sizeof P);
    CHECK_INT(mf_load_weights(&b, dir, &loaded, &err), -1);
    CHECK_HAS(err.msg, "user_embedding.npy: value 3 (row 1, column 0) is not finite (-inf)");
    Q[11] = 1e300;
    fixture_write_npy("weights_nan/user_embedding.npy", 1, f8, Q, sizeof Q);
    CHECK_INT(mf_load_weights(&b, dir, &loaded, &err), -1);
    CHECK_HAS(err.msg, "user_embedding.npy: value 11 (row 3, column 2) is beyond float32's "
                       "range (1e+300)");
    Q[11] = 3.4028235677973366e38; /* FLT_MAX plus half its last place: rounds to inf */
    fixture_write_npy("weights_nan/user_embedding.npy", 1, f8, Q, sizeof Q);
    CHECK_INT(mf_load_weights(&b, dir, &loaded, &err), -1);
    CHECK_HAS(err.msg, "value 11 (row 3, column 2) is beyond float32's range");
    Q[11] = 3.4028235e38; /* rounds down to FLT_MAX */
    fixture_write_npy("weights_nan/user_embedding.npy", 1, f8, Q, sizeof Q);
    bias[2] = NAN;
    fixture_write_npy("weights_nan/user_bias.npy", 1,
                      "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", bias,
                      sizeof bias);
    CHECK_INT(mf_load_weights(&b, dir, &loaded, &err), -1);
    CHECK_HAS(err.msg, "weights_nan/user_bias.npy: value 2 is not finite (nan)");
    bias[2] = 0.25;
    fixture_write_npy("weights_nan/user_bias.npy", 1,
                      "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", bias,
                      sizeof bias);
    CHECK_INT(mf_load_weights(&b, dir, &loaded, &err), 0);
    CHECK_INT(loaded, 2);
    CHECK(nn_param(&b.params, b.id.user_embedding)[3 * b.params.t[b.id.user_embedding].stride + 2] == 3.4028235e38f);
    CHECK(nn_param(&b.params, b.id.user_bias)[b.params.t[b.id.user_bias].stride * 2] == 0.25f);
    mf_free(&b);
}

void suite_mf(void) {
    test_run("mf/forward_values", test_forward_values);
    test_run("mf/gradients_dot", test_gradients_dot);
    test_run("mf/gradients_dot_centred", test_gradients_dot_centred);
    test_run("mf/gradients_bias_l2", test_gradients_bias_l2);
    test_run("mf/gradients_deep", test_gradients_deep);
    test_run("mf/gradients_neumf", test_gradients_neumf);
    test_run("mf/gradients_implicit", test_gradients_implicit);
    test_run("mf/gradients_ncf", test_gradients_ncf);
    test_run("mf/gradients_hybrid", test_gradients_hybrid);
    test_run("mf/gradients_svdpp", test_gradients_svdpp);
    test_run("mf/svdpp_forward_value", test_svdpp_forward_value);
    test_run("mf/save_load_svdpp", test_save_load_svdpp);
    test_run("mf/hybrid_forward_value", test_hybrid_forward_value);
    test_run("mf/save_load_hybrid", test_save_load_hybrid);
    test_run("mf/recommend_cold", test_recommend_cold);
    test_run("mf/cold_row_uses_features", test_cold_row_uses_features);
    test_run("mf/recommend_cold_deep", test_recommend_cold_deep);
    test_run("mf/hybrid_planted_attribute", test_hybrid_planted_attribute);
    test_run("mf/split_latest", test_split_latest);
    test_run("mf/split_latest_ties", test_split_latest_ties);
    test_run("mf/ranking_by_hand", test_ranking_by_hand);
    test_run("mf/similar_planted_clusters", test_similar_planted_clusters);
    test_run("mf/summary_matches_notebooks", test_summary_matches_notebooks);
    test_run("mf/sample_is_generated", test_sample_is_generated);
    test_run("mf/sample_beats_mean", test_sample_beats_mean);
    test_run("mf/dense_adamax_learns", test_dense_adamax_learns);
    test_run("mf/early_stopping_restores_best", test_early_stopping_restores_best);
    test_run("mf/dense_and_lazy_differ", test_dense_and_lazy_differ);
    test_run("mf/dense_matches_sweep_training", test_dense_matches_sweep_training);
    test_run("mf/lr_decay_rate", test_lr_decay_rate);
    test_run("mf/lr_decay_by_hand", test_lr_decay_by_hand);
    test_run("mf/lr_decay_refused", test_lr_decay_refused);
    test_run("mf/sgd_fast_path_exact", test_sgd_fast_path_exact);
    test_run("mf/sgd_threads", test_sgd_threads);
    test_run("mf/save_load_opt_state", test_save_load_opt_state);
    test_run("mf/save_load_progress", test_save_load_progress);
    test_run("mf/load_version3_progress", test_load_version3_progress);
    test_run("mf/resume_matches_straight", test_resume_matches_straight);
    test_run("mf/batch_orders", test_batch_orders);
    test_run("mf/load_weights", test_load_weights);
    test_run("mf/load_weights_not_finite", test_load_weights_not_finite);
    test_run("mf/history_csv", test_history_csv);
    test_run("mf/recommend_matches_full_sort", test_recommend_matches_full_sort);
    test_run("mf/recommend_users_threads", test_recommend_users_threads);
    test_run("mf/data_parallel_training", test_data_parallel_training);
    test_run("mf/hogwild_lazy_training", test_hogwild_lazy_training);
    test_run("mf/evaluate_threads", test_evaluate_threads);
    test_run("mf/sgd_blocks", test_sgd_blocks);
    test_run("mf/sgd_blocks_many", test_sgd_blocks_many);
    test_run("mf/sgd_blocks_in_place", test_sgd_blocks_in_place);
    test_run("mf/save_load_exact", test_save_load_exact);
    test_run("mf/load_rejects_damage", test_load_rejects_damage);
    test_run("mf/load_rejects_nonfinite", test_load_rejects_nonfinite);
    test_run("mf/load_rejects_other_versions_and_kinds",
             test_load_rejects_other_versions_and_kinds);
    test_run("mf/load_checks_size_before_allocating", test_load_checks_size_before_allocating);
    test_run("mf/save_load_deep", test_save_load_deep);
    test_run("mf/save_is_atomic", test_save_is_atomic);
    test_run("mf/recipes_match_notebooks", test_recipes_match_notebooks);
    test_run("mf/ml100k_u1", test_ml100k_u1);
}
