/* mf.c — matrix factorisation as user and movie embeddings.
 *
 * Read this beside notebook 003 (CFModel) and notebook 000. The model is two
 * Embedding layers and a dot product:
 *
 *     user id ─► Embedding P (U, K) ─► p_u ┐
 *                                         ├─► dot ─► r̂ = p_u·q_i   (+ μ, + b_u + b_i)
 *     item id ─► Embedding Q (I, K) ─► q_i ┘
 *
 * trained on the MSE loss by backpropagation with the optimisers of nn.c,
 * Keras-style: shuffle each epoch, batches of B ratings, validation after
 * every epoch, EarlyStopping and ModelCheckpoint(save_best_only).
 *
 * Deliberately not here: parsing (data.c), the dense maths and optimiser
 * formulas (nn.c), option handling (cli/main.c), the file formats: model
 * files, .npy export and initial weights, and the NumPy generator that
 * replays a Python run's shuffles (formats/); and what a training session
 * keeps and says beyond Keras's loop, which fit() calls at its points: the
 * settings refused and why, the log, resuming a saved run, replaying
 * another run's batch order, why a run halted (session/).
 */
#define _POSIX_C_SOURCE 200809L
#include "mf.h"
#include "session/checks.h"
#include "session/halt.h"
#include "session/log.h"
#include "session/replay.h"
#include "session/resume.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ names */

static const char *const kind_names[] = {"dot", "bias", "deep", "neumf", "gmf", "mlp", "ncf",
                                         "svdpp"};

const char *mf_kind_name(mf_kind kind) {
    return (unsigned)kind < MF_N_KINDS ? kind_names[kind] : "?";
}

int mf_kind_parse(const char *name, mf_kind *kind) {
    int k;
    for (k = 0; k < MF_N_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *kind = (mf_kind)k;
            return 0;
        }
    return -1;
}

/* the kinds with Dense layers: deep .. ncf (svdpp came later, after them) */
static int is_network(mf_kind kind) {
    return kind >= MF_DEEP && kind <= MF_NCF;
}

mf_config mf_defaults(void) {
    mf_config c = {.kind = MF_DOT, .dim = 8, .hidden_act = NN_LINEAR,
                   .init_limit = 0.05f}; /* keras.initializers.RandomUniform(-0.05, 0.05) */
    return c;
}

mf_config mf_defaults_for(mf_kind kind) {
    static const mf_config networks[MF_N_KINDS] = {
        /* notebook 002: 50-wide embeddings, Dense 64, 10 (the notebook does
         * not print its dropout rates) */
        [MF_DEEP] = {.dim = 50, .n_hidden = 2, .hidden = {64, 10}, .hidden_act = NN_RELU,
                     .dropout_embed = 0.2f, .dropout_hidden = 0.2f},
        /* notebook 004: 100-wide, Dense 50 linear */
        [MF_NEUMF] = {.dim = 100, .n_hidden = 1, .hidden = {50}, .hidden_act = NN_LINEAR,
                      .dropout_embed = 0.5f, .dropout_hidden = 0.5f, .output_lecun = 1},
        [MF_GMF] = {.dim = 8, .hidden_act = NN_LINEAR}, /* NCF: ŷ = σ(h·(p ⊙ q)) */
        /* NCF: a tower halving towards the output */
        [MF_MLP] = {.dim = 32, .n_hidden = 3, .hidden = {64, 32, 16}, .hidden_act = NN_RELU},
        /* NCF's NeuMF with 8 predictive factors */
        [MF_NCF] = {.dim = 8, .n_hidden = 3, .hidden = {32, 16, 8}, .hidden_act = NN_RELU},
    };
    mf_config c = is_network(kind) ? networks[kind] : mf_defaults();
    c.kind = kind;
    c.init_limit = mf_defaults().init_limit; /* every kind's embeddings start alike */
    return c;
}

int mf_weights_finite(const mf_model *m) {
    size_t k;
    for (k = 0; k < m->params.n; k++)
        if (!isfinite(m->params.w[k])) return 0;
    return 1;
}

int mf_is_deep(const mf_model *m) {
    return is_network(m->cfg.kind);
}

int mf_is_hybrid(const mf_model *m) {
    return m->user_features.n_features > 0 || m->item_features.n_features > 0;
}

/* The two sides of a rating: its user row and its item row. */
typedef enum { USER_ROW, ITEM_ROW } row_side;

/* One side of the model: its id embedding (P or Q), and what a row's
 * vector adds to it: a list per row, the row's features (hybrid) or, on
 * svdpp's user side, N(u), the movies the user rated; that list's embedding
 * (E_u, E_i, or Y); and the training counts. */
typedef struct {
    float *E, *dE;              /* (rows, S) the id embedding and its gradient */
    size_t id_E;                /* its tensor, for nn_params_touch */
    float *F, *dF;              /* (listed, S) the list's embedding, or NULL */
    size_t id_F;
    const uint32_t *start;      /* row r's list: list[start[r] .. start[r+1]); NULL: none */
    const uint32_t *list;
    size_t n_rows;              /* the rows start covers */
    int svdpp;                  /* 1: N(u), weighted |N(u)|^-½, L2 on each term (Koren) */
    const uint32_t *count;
} side_tables;

static side_tables side(const mf_model *m, row_side s) {
    const data_features *f = s == USER_ROW ? &m->user_features : &m->item_features;
    side_tables st = {
        .E = s == USER_ROW ? m->w.user_embedding : m->w.item_embedding,
        .dE = s == USER_ROW ? m->dw.user_embedding : m->dw.item_embedding,
        .id_E = s == USER_ROW ? m->id.user_embedding : m->id.item_embedding,
        .F = s == USER_ROW ? m->w.user_feature_embedding : m->w.item_feature_embedding,
        .dF = s == USER_ROW ? m->dw.user_feature_embedding : m->dw.item_feature_embedding,
        .id_F = s == USER_ROW ? m->id.user_feature_embedding : m->id.item_feature_embedding,
        .start = f->n_features ? f->start : NULL,
        .list = f->feature,
        .n_rows = f->n_rows,
        .count = s == USER_ROW ? m->user_count : m->item_count,
    };
    if (s == USER_ROW && m->cfg.kind == MF_SVDPP) { /* the rated movies' y_j are u's features */
        st.F = m->w.implicit_embedding;
        st.dF = m->dw.implicit_embedding;
        st.id_F = m->id.implicit_embedding;
        st.start = m->rated.start;
        st.list = m->rated.item;
        st.n_rows = m->rated.n_users;
        st.svdpp = 1;
    }
    return st;
}

/* how many features a row has (0 in a model without features) */
static inline size_t n_row_features(const side_tables *st, uint32_t row) {
    return st->start && row < st->n_rows ? st->start[row + 1] - st->start[row] : 0;
}

/* what a row's features' sum is divided by: their number (LightFM's mean),
 * or its square root (SVD++'s |N(u)|^-½) */
static inline float features_norm(const side_tables *st, size_t n) {
    return st->svdpp ? sqrtf((float)n) : (float)n;
}

/* A row with features that no training rating reached (a cold user or
 * movie) is described by its features alone: its id embedding still holds
 * its random initial values, which carry no information. */
static inline int uses_id(const side_tables *st, uint32_t row) {
    return n_row_features(st, row) == 0 || st->count[row] > 0; /* (no features: no count read) */
}

/* A row's vector ũ (K):
 *   ũ = p                                   (a row without features: P's row itself)
 *   ũ = p + (1/|F|) Σ_{f ∈ F} e_f           (LightFM's hybrid)
 *   ũ = p_u + |N(u)|^-½ Σ_{j ∈ N(u)} y_j    (SVD++: the movies u rated are its features)
 *   ũ = (1/|F|) Σ_{f ∈ F} e_f               (a cold row: see uses_id)
 * A composed vector is written to buf (K), which is returned. */
static const float *composed_vector(const mf_model *m, const side_tables *st, uint32_t row,
                                    float *buf) {
    size_t K = m->cfg.dim, S = m->S, k, n = n_row_features(st, row);
    const uint32_t *feat = st->list + st->start[row];
    float weight = 1.0f / features_norm(st, n);
    if (uses_id(st, row)) memcpy(buf, st->E + row * S, K * sizeof *buf);
    else memset(buf, 0, K * sizeof *buf);
    for (k = 0; k < n; k++) vec_axpy(buf, weight, st->F + feat[k] * S, K);
    return buf;
}

static inline const float *row_vector(const mf_model *m, const side_tables *st, uint32_t row,
                                      float *buf) {
    if (n_row_features(st, row) == 0) return st->E + row * m->S; /* ũ = p */
    return composed_vector(m, st, row, buf);
}

/* The backward of composed_vector, for g = ∂L/∂ũ times scale:
 * ∂L/∂p += scale·g (when the id takes part), ∂L/∂e_f += scale·g/|F| for each
 * feature (SVD++: ∂L/∂y_j += scale·g/√|N(u)|) */
static void composed_backward(mf_model *m, const side_tables *st, uint32_t row, float scale,
                              const float *g) {
    size_t K = m->cfg.dim, S = m->S, k, n = n_row_features(st, row);
    const uint32_t *feat = st->list + st->start[row];
    float share = scale / features_norm(st, n);
    if (uses_id(st, row)) vec_axpy(st->dE + row * S, scale, g, K);
    for (k = 0; k < n; k++) vec_axpy(st->dF + feat[k] * S, share, g, K);
}

/* ∂L/∂ũ = scale·g into the row's weights (row_vector's backward) */
static inline void row_vector_backward(mf_model *m, const side_tables *st, uint32_t row,
                                       float scale, const float *g) {
    if (n_row_features(st, row) == 0) vec_axpy(st->dE + row * m->S, scale, g, m->cfg.dim); /* ∂L/∂p */
    else composed_backward(m, st, row, scale, g);
}

/* The networks' embedding stage is a concatenation (deep, mlp) or an
 * elementwise product (neumf, gmf). */
static int concatenates(mf_kind kind) {
    return kind == MF_DEEP || kind == MF_MLP || kind == MF_NCF;
}

/* ncf multiplies its GMF embeddings and concatenates its MLP embeddings */
static int multiplies(mf_kind kind) {
    return kind == MF_NEUMF || kind == MF_GMF || kind == MF_NCF;
}

/* ------------------------------------------------------------ building */

/* Width of the networks' embedding stage, the first Dense layer's input:
 * deep concatenates three K-wide embeddings, mlp two; neumf and gmf multiply. */
static size_t embed_width(const mf_config *c) {
    return c->kind == MF_DEEP ? 3 * c->dim : concatenates(c->kind) ? 2 * c->dim : c->dim;
}

/* inputs of Dense layer l (0 ≤ l ≤ n_hidden; layer n_hidden is the output) */
size_t mf_layer_in(const mf_config *c, size_t l) {
    if (l == 0) return embed_width(c);
    if (c->kind == MF_NCF && l == c->n_hidden) return c->dim + c->hidden[l - 1]; /* [gmf, v] */
    return c->hidden[l - 1];
}

size_t mf_layer_out(const mf_config *c, size_t l) {
    return l < c->n_hidden ? c->hidden[l] : 1;
}

/* the model's own copy of the id maps, and of the raw ids they hold */
static int copy_ids(data_idmap *dst, int64_t **raw, const data_idmap *src) {
    *raw = malloc((src->n ? src->n : 1) * sizeof **raw);
    if (!*raw) return -1;
    if (src->n) memcpy(*raw, src->raw, src->n * sizeof **raw);
    return data_idmap_copy(dst, src);
}

/* Lay out the parameter block: every tensor's shape, nothing allocated yet
 * (the model loader checks the file's size against it before allocating). */
void mf_layout(mf_model *m) {
    static const char *const kernel_names[MF_MAX_HIDDEN + 1] = {
        "dense_1/kernel", "dense_2/kernel", "dense_3/kernel", "dense_4/kernel", "dense_5/kernel",
        "dense_6/kernel", "dense_7/kernel", "dense_8/kernel", "dense_9/kernel"};
    static const char *const bias_names[MF_MAX_HIDDEN + 1] = {
        "dense_1/bias", "dense_2/bias", "dense_3/bias", "dense_4/bias", "dense_5/bias",
        "dense_6/bias", "dense_7/bias", "dense_8/bias", "dense_9/bias"};
    const mf_config *c = &m->cfg;
    size_t U = m->n_users, I = m->n_items, K = c->dim, l;
    memset(&m->params, 0, sizeof m->params);
    memset(&m->id, 0, sizeof m->id);
    m->id.user_embedding = nn_params_add(&m->params, "user_embedding", U, K, 1);
    m->id.item_embedding = nn_params_add(&m->params, "item_embedding", I, K, 1);
    if (mf_has_biases(m)) {
        m->id.user_bias = nn_params_add(&m->params, "user_bias", U, 1, 1);
        m->id.item_bias = nn_params_add(&m->params, "item_bias", I, 1, 1);
    }
    if (c->kind == MF_SVDPP)
        m->id.implicit_embedding = nn_params_add(&m->params, "implicit_embedding", I, K, 1);
    if (c->kind == MF_DEEP)
        m->id.genre_embedding = nn_params_add(&m->params, "genre_embedding", m->n_genres, K, 1);
    if (m->user_features.n_features)
        m->id.user_feature_embedding = nn_params_add(&m->params, "user_feature_embedding",
                                                     m->user_features.n_features, K, 1);
    if (m->item_features.n_features)
        m->id.item_feature_embedding = nn_params_add(&m->params, "item_feature_embedding",
                                                     m->item_features.n_features, K, 1);
    if (c->kind == MF_NCF) {
        m->id.user_mlp_embedding = nn_params_add(&m->params, "user_mlp_embedding", U, K, 1);
        m->id.item_mlp_embedding = nn_params_add(&m->params, "item_mlp_embedding", I, K, 1);
    }
    if (is_network(c->kind))
        for (l = 0; l <= c->n_hidden; l++) { /* a Dense kernel is one unpadded (C, O) row */
            m->id.kernel[l] = nn_params_add(&m->params, kernel_names[l], 1,
                                            mf_layer_in(c, l) * mf_layer_out(c, l), 0);
            m->id.bias[l] = nn_params_add(&m->params, bias_names[l], 1, mf_layer_out(c, l), 0);
        }
    m->S = m->params.t[m->id.user_embedding].stride; /* (1 when K = 1: no padding) */
}

/* The tensor t of block, or NULL when the model has none (id 0 is P, which
 * every model has: any other tensor at 0 is absent). */
static float *tensor_in(const nn_params *ps, float *block, size_t t, int present) {
    return present ? block + ps->t[t].offset : NULL;
}

/* Point a tensor set (m->w or m->dw) into block (the weights or gradients). */
static void point_tensors(mf_tensors *x, const mf_model *m, float *block) {
    const nn_params *ps = &m->params;
    const mf_tensor_ids *id = &m->id;
    const mf_config *c = &m->cfg;
    size_t l;
    memset(x, 0, sizeof *x);
    x->user_embedding = tensor_in(ps, block, id->user_embedding, 1);
    x->item_embedding = tensor_in(ps, block, id->item_embedding, 1);
    x->user_bias = tensor_in(ps, block, id->user_bias, mf_has_biases(m));
    x->item_bias = tensor_in(ps, block, id->item_bias, mf_has_biases(m));
    x->implicit_embedding = tensor_in(ps, block, id->implicit_embedding, c->kind == MF_SVDPP);
    x->genre_embedding = tensor_in(ps, block, id->genre_embedding, c->kind == MF_DEEP);
    x->user_feature_embedding = tensor_in(ps, block, id->user_feature_embedding,
                                          m->user_features.n_features > 0);
    x->item_feature_embedding = tensor_in(ps, block, id->item_feature_embedding,
                                          m->item_features.n_features > 0);
    x->user_mlp_embedding = tensor_in(ps, block, id->user_mlp_embedding, c->kind == MF_NCF);
    x->item_mlp_embedding = tensor_in(ps, block, id->item_mlp_embedding, c->kind == MF_NCF);
    for (l = 0; l <= c->n_hidden && is_network(c->kind); l++) {
        x->kernel[l] = tensor_in(ps, block, id->kernel[l], 1);
        x->bias[l] = tensor_in(ps, block, id->bias[l], 1);
    }
}

void mf_point_tensors(mf_model *m) {
    point_tensors(&m->w, m, m->params.w);
    point_tensors(&m->dw, m, m->params.dw);
}

/* Lay out the parameter block and allocate everything but the id maps. */
int mf_alloc(mf_model *m, data_error *err) {
    const mf_config *c = &m->cfg;
    size_t U = m->n_users, I = m->n_items, K = c->dim;
    mf_layout(m);
    m->user_count = calloc(U ? U : 1, sizeof *m->user_count);
    m->item_count = calloc(I ? I : 1, sizeof *m->item_count);
    if (c->kind == MF_DEEP) m->item_genre = calloc(I ? I : 1, sizeof *m->item_genre);
    if (nn_params_alloc(&m->params) != 0 || !m->user_count || !m->item_count ||
        (c->kind == MF_DEEP && !m->item_genre)) {
        data_errorf(err, "out of memory for a model of %zu users, %zu items, "
                    "dimension %zu", U, I, K);
        return -1;
    }
    mf_point_tensors(m);
    return 0;
}

/* Keras's initialisers: embeddings uniform(−0.05, 0.05), biases 0, Dense
 * kernels glorot_uniform (the neumf output layer lecun_uniform). */
static void init_weights(mf_model *m, nn_rng *rng) {
    const mf_config *c = &m->cfg;
    const nn_params *ps = &m->params;
    float *emb[6];
    size_t rows[6], n_emb = 0, t, l;
#define EMBEDDING(tensor, n) do { if (m->w.tensor) { emb[n_emb] = m->w.tensor; rows[n_emb++] = (n); } } while (0)
    EMBEDDING(user_embedding, m->n_users);
    EMBEDDING(item_embedding, m->n_items);
    EMBEDDING(implicit_embedding, m->n_items);
    EMBEDDING(genre_embedding, m->n_genres);
    EMBEDDING(user_mlp_embedding, m->n_users);
    EMBEDDING(item_mlp_embedding, m->n_items);
    EMBEDDING(user_feature_embedding, m->user_features.n_features);
    EMBEDDING(item_feature_embedding, m->item_features.n_features);
#undef EMBEDDING
    for (t = 0; t < n_emb; t++) nn_init_uniform(emb[t], rows[t], c->dim, m->S, c->init_limit, rng);
    if (!mf_is_deep(m)) return;
    for (l = 0; l <= c->n_hidden; l++) {
        size_t in = mf_layer_in(c, l), out = mf_layer_out(c, l);
        float limit = l == c->n_hidden && c->output_lecun ? nn_lecun_limit(in)
                                                         : nn_glorot_limit(in, out);
        nn_init_uniform(m->w.kernel[l], 1, in * out, ps->t[m->id.kernel[l]].stride, limit, rng);
    }
}

int mf_init(mf_model *m, mf_config cfg, const data_idmap *users,
            const data_idmap *items, const data_ratings *all,
            const mf_side *side, nn_rng *rng, data_error *err) {
    static const mf_side none = {NULL, 0, NULL, NULL};
    data_stats st;
    memset(m, 0, sizeof *m);
    if (!side) side = &none;
    if (mf_check_config(&cfg, err) != 0 ||
        session_check_side(&cfg, side, users->n, items->n, err) != 0)
        return -1;
    if ((side->user_features && side->user_features->n_features &&
         data_features_copy(&m->user_features, side->user_features) != 0) ||
        (side->item_features && side->item_features->n_features &&
         data_features_copy(&m->item_features, side->item_features) != 0)) {
        data_errorf(err, "out of memory copying the features");
        mf_free(m);
        return -1;
    }
    m->cfg = cfg;
    m->n_users = users->n;
    m->n_items = items->n;
    m->n_genres = cfg.kind == MF_DEEP ? side->n_genres : 0;
    st = data_ratings_stats(all, users->n, items->n);
    m->mean = (float)st.mean;
    m->rating_min = st.min;
    m->rating_max = st.max;
    if (cfg.implicit) { /* a logit has no mean rating to centre on */
        m->mean = 0.0f;
        m->cfg.centre = 0;
    }
    if (mf_alloc(m, err) != 0 || copy_ids(&m->users, &m->user_ids, users) != 0 ||
        copy_ids(&m->items, &m->item_ids, items) != 0) {
        data_errorf(err, "out of memory building the model");
        mf_free(m);
        return -1;
    }
    if (m->item_genre) memcpy(m->item_genre, side->item_genre, items->n * sizeof *m->item_genre);
    init_weights(m, rng);
    return 0;
}

void mf_free(mf_model *m) {
    nn_params_free(&m->params);
    free(m->user_ids);
    free(m->item_ids);
    free(m->user_count);
    free(m->item_count);
    free(m->item_genre);
    data_user_items_free(&m->rated);
    data_features_free(&m->user_features);
    data_features_free(&m->item_features);
    data_idmap_free(&m->users);
    data_idmap_free(&m->items);
    nn_free(m->opt_state.m);
    nn_free(m->opt_state.v);
    free(m->progress.streams);
    memset(m, 0, sizeof *m);
}

void mf_count(mf_model *m, const data_ratings *train) {
    size_t k;
    for (k = 0; k < train->n; k++) {
        if (train->user[k] < m->n_users && m->user_count[train->user[k]] < UINT32_MAX)
            m->user_count[train->user[k]]++;
        if (train->item[k] < m->n_items && m->item_count[train->item[k]] < UINT32_MAX)
            m->item_count[train->item[k]]++;
    }
}

int mf_set_rated(mf_model *m, const data_ratings *train) {
    data_user_items rated;
    size_t k;
    if (m->cfg.kind != MF_SVDPP) return 0;
    if (data_user_items_build(&rated, train, m->n_users) != 0) return -1;
    for (k = 0; k < rated.start[m->n_users]; k++)
        if (rated.item[k] >= m->n_items) {
            data_user_items_free(&rated);
            return -1;
        }
    data_user_items_free(&m->rated);
    m->rated = rated;
    return 0;
}

/* ------------------------------------------------------------ workspace */

/* Every activation array of the model's batch, as llm.c lays out its
 * ActivationTensors: the arrays' sizes first, then one block they point
 * into, each array starting on a 64-byte boundary. */
int mf_work_init(mf_work *w, const mf_model *m, size_t B) {
    const mf_config *c = &m->cfg;
    float **array[3 * (MF_MAX_HIDDEN + 1) + 11]; /* x, mask, a per layer; 11 others at most */
    size_t floats[sizeof array / sizeof array[0]], n = 0, total = 0, K = c->dim, l, k;
    size_t widest = embed_width(c);
#define ACTIVATION(p, count) do { array[n] = &(p); floats[n++] = ((count) + 15) / 16 * 16; } while (0)
    memset(w, 0, sizeof *w);
    w->B = B;
    if (!mf_is_deep(m)) { /* dot, bias: the rows' vectors ũ, q̃, kept for backward */
        ACTIVATION(w->hu, B * K);
        ACTIVATION(w->hi, B * K);
        w->uv = malloc(2 * B * sizeof *w->uv);
        w->iv = w->uv ? w->uv + B : NULL;
    }
    for (l = 0; l <= c->n_hidden && mf_is_deep(m); l++) {
        ACTIVATION(w->x[l], B * mf_layer_in(c, l));
        ACTIVATION(w->mask[l], B * mf_layer_in(c, l));
        if (l < c->n_hidden) ACTIVATION(w->a[l], B * c->hidden[l]);
        if (mf_layer_in(c, l) > widest) widest = mf_layer_in(c, l);
    }
    if (mf_is_deep(m)) {
        ACTIVATION(w->embed, B * embed_width(c));
        ACTIVATION(w->s, B);
        ACTIVATION(w->dx, B * widest);
        ACTIVATION(w->dy, B * widest);
    }
    if (c->kind == MF_NCF) {
        ACTIVATION(w->gmf, B * K);
        ACTIVATION(w->dgmf, B * K);
        ACTIVATION(w->v, B * c->hidden[c->n_hidden - 1]);
    }
    if (multiplies(c->kind)) {
        ACTIVATION(w->pu, B * K);
        ACTIVATION(w->qi, B * K);
        ACTIVATION(w->mask_u, B * K);
        ACTIVATION(w->mask_i, B * K);
    }
#undef ACTIVATION
    for (k = 0; k < n; k++) total += floats[k];
    w->block = nn_alloc((total ? total : 1) * sizeof(float));
    if (!w->block || (!mf_is_deep(m) && !w->uv)) {
        mf_work_free(w);
        return -1;
    }
    for (k = 0, total = 0; k < n; total += floats[k++]) *array[k] = w->block + total;
    return 0;
}

void mf_work_free(mf_work *w) {
    nn_free(w->block);
    free(w->uv);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------ dot, bias, svdpp
 *
 * Notebook 003's CFModel and notebook 000's model: two Embedding layers
 * and a dot product,
 *     r̂ = ũ·q̃           dot (ũ = p_u, q̃ = q_i without features)
 *     r̂ = μ + ũ·q̃       dot centred on the mean (notebook 000)
 *     r̂ = μ + b_u + b_i + ũ·q̃   bias
 * and Koren's SVD++, the bias model whose user vector adds the implicit
 * factors y_j of the movies the user rated, N(u) (composed_vector):
 *     r̂ = μ + b_u + b_i + q_i·(p_u + |N(u)|^-½ Σ_{j ∈ N(u)} y_j)   svdpp
 * with λ(‖ũ‖² + ‖q̃‖² + b_u² + b_i²) per rating in the bias model's loss,
 * and svdpp's λ(‖p_u‖² + ‖q̃‖² + b_u² + b_i²) + λ_y Σ_{j ∈ N(u)} ‖y_j‖²:
 * each of its terms, as Koren regularises them (his λ_y is λ). */

/* r̂ = ũ·q̃ (+ μ, + b_u + b_i)     pred (B); w->uv, w->iv (B) keep ũ, q̃ */
static void dot_forward(const mf_model *m, mf_work *w, float *pred, const uint32_t *u,
                        const uint32_t *i, size_t B) {
    side_tables su = side(m, USER_ROW), si = side(m, ITEM_ROW);
    size_t K = m->cfg.dim, b;
    for (b = 0; b < B; b++) {
        if (w->cold_user) w->uv[b] = w->cold_user; /* a new user, known by features */
        else if (b > 0 && u[b] == u[b - 1]) w->uv[b] = w->uv[b - 1]; /* (composed once) */
        else w->uv[b] = row_vector(m, &su, u[b], w->hu + b * K);
        w->iv[b] = row_vector(m, &si, i[b], w->hi + b * K);
        pred[b] = mf_rating_offset(m, u[b], i[b], w->cold_user != NULL) +
                  vec_dot(w->uv[b], w->iv[b], K);
    }
}

/* The L2 term's sum for a row whose vector is v: ‖ũ‖², or svdpp's user's
 * ‖p_u‖² (its y_j are implicit_l2's) */
static float row_l2(const mf_model *m, const side_tables *st, uint32_t row, const float *v) {
    size_t K = m->cfg.dim;
    const float *p = st->E + row * m->S;
    if (!st->svdpp) return vec_dot(v, v, K);
    return uses_id(st, row) ? vec_dot(p, p, K) : 0.0f;
}

/* its gradient, l2_scale = 2λ/B times each weight of that sum: ũ = v
 * through its composition, or svdpp's p_u */
static void row_l2_backward(mf_model *m, const side_tables *st, uint32_t row, float l2_scale,
                            const float *v) {
    size_t K = m->cfg.dim, S = m->S;
    if (!st->svdpp) row_vector_backward(m, st, row, l2_scale, v);
    else if (uses_id(st, row)) vec_axpy(st->dE + row * S, l2_scale, st->E + row * S, K);
}

/* svdpp: Σ_{j ∈ N(u)} ‖y_j‖², the sum λ_y weighs */
static float implicit_l2(const mf_model *m, const side_tables *st, uint32_t u) {
    size_t K = m->cfg.dim, k, n = n_row_features(st, u);
    float sum = 0.0f;
    for (k = 0; k < n; k++) {
        const float *y = st->F + st->list[st->start[u] + k] * m->S;
        sum += vec_dot(y, y, K);
    }
    return sum;
}

/* its gradient: ∂L/∂y_j += scale·y_j for each j ∈ N(u), scale = 2λ_y/B */
static void implicit_l2_backward(mf_model *m, const side_tables *st, uint32_t u, float scale) {
    size_t K = m->cfg.dim, S = m->S, k, n = n_row_features(st, u);
    for (k = 0; k < n; k++) {
        size_t j = st->list[st->start[u] + k];
        vec_axpy(st->dF + j * S, scale, st->F + j * S, K);
    }
}

/* The bias and svdpp models' part of the backward pass: ∂L/∂b_u = ∂L/∂b_i =
 * ∂L/∂r̂, and the L2 term's (2λ/B)·w on every weight the rating used */
static void bias_backward(mf_model *m, const mf_work *w, const float *dpred, const uint32_t *u,
                          const uint32_t *i, size_t n, size_t B) {
    side_tables su = side(m, USER_ROW), si = side(m, ITEM_ROW);
    float *bu = m->w.user_bias, *bi = m->w.item_bias;
    float *dbu = m->dw.user_bias, *dbi = m->dw.item_bias;
    float l2_scale = 2.0f * m->cfg.l2 / (float)B; /* d/dw (λ/B)‖w‖² = (2λ/B) w */
    float l2y_scale = 2.0f * m->cfg.l2_implicit / (float)B;
    size_t b;
    for (b = 0; b < n; b++) {
        dbu[u[b]] += dpred[b] + l2_scale * bu[u[b]];
        dbi[i[b]] += dpred[b] + l2_scale * bi[i[b]];
        row_l2_backward(m, &su, u[b], l2_scale, w->uv[b]);
        row_l2_backward(m, &si, i[b], l2_scale, w->iv[b]);
        if (su.svdpp) implicit_l2_backward(m, &su, u[b], l2y_scale);
    }
}

/* ∂L/∂ũ = ∂L/∂r̂ · q̃ and ∂L/∂q̃ = ∂L/∂r̂ · ũ (then the biases' and L2's);
 * n ratings of a batch of B */
static void dot_backward(mf_model *m, mf_work *w, const float *dpred, const uint32_t *u,
                         const uint32_t *i, size_t n, size_t B) {
    side_tables su = side(m, USER_ROW), si = side(m, ITEM_ROW);
    size_t b;
    for (b = 0; b < n; b++) {
        row_vector_backward(m, &su, u[b], dpred[b], w->iv[b]);
        row_vector_backward(m, &si, i[b], dpred[b], w->uv[b]);
    }
    if (mf_has_biases(m)) bias_backward(m, w, dpred, u, i, n, B);
}

/* (λ/B) Σ_b (‖ũ‖² + ‖q̃‖² + b_u² + b_i²), from the vectors dot_forward
 * kept; svdpp: ‖p_u‖² in ‖ũ‖²'s place, + (λ_y/B) Σ_b Σ_{j ∈ N(u_b)} ‖y_j‖² */
static double dot_l2_loss(const mf_model *m, const mf_work *w, const uint32_t *u,
                          const uint32_t *i, size_t B) {
    side_tables su = side(m, USER_ROW), si = side(m, ITEM_ROW);
    const float *bu = m->w.user_bias, *bi = m->w.item_bias;
    size_t b;
    double sum = 0.0, sum_y = 0.0;
    for (b = 0; b < B; b++) {
        sum += row_l2(m, &su, u[b], w->uv[b]) + row_l2(m, &si, i[b], w->iv[b]) +
               bu[u[b]] * bu[u[b]] + bi[i[b]] * bi[i[b]];
        if (su.svdpp) sum_y += implicit_l2(m, &su, u[b]);
    }
    return (m->cfg.l2 * sum + m->cfg.l2_implicit * sum_y) / (double)B;
}

/* ------------------------------------------------------------ the networks
 *
 * deep (notebook 002), neumf (notebook 004) and NCF's gmf, mlp and ncf: an
 * embedding stage (a concatenation or a product of embeddings, through
 * Dropout), then a tower of Dense layers, each with its activation and
 * Dropout, and a 1-unit output layer whose sigmoid is scaled to the rating
 * range (an implicit model keeps the logit). */

/* Dropout in training (rng given), the identity at inference. */
static void dropout_forward(float *out, float *mask, const float *x, size_t n, float rate,
                            nn_rng *rng) {
    if (rng) nn_dropout_forward(out, mask, x, n, rate, rng);
    else if (out != x) memcpy(out, x, n * sizeof *out);
}

/* The two embeddings a network reads for a rating: the model's user and
 * item vectors ũ, q̃ (its features included, if any), or ncf's tower's own
 * P', Q'. */
typedef enum { MAIN_PAIR, MLP_PAIR } embedding_pair;

static void pair_row(const mf_model *m, embedding_pair p, row_side s, uint32_t row, float *dst) {
    const float *E = s == USER_ROW ? m->w.user_mlp_embedding : m->w.item_mlp_embedding, *v;
    side_tables st;
    if (p == MLP_PAIR) {
        memcpy(dst, E + row * m->S, m->cfg.dim * sizeof *dst);
        return;
    }
    st = side(m, s);
    v = row_vector(m, &st, row, dst);
    if (v != dst) memcpy(dst, v, m->cfg.dim * sizeof *dst);
}

/* the backward of pair_row: ∂L/∂(row) += g */
static void pair_row_backward(mf_model *m, embedding_pair p, row_side s, uint32_t row,
                              const float *g) {
    float *dE = s == USER_ROW ? m->dw.user_mlp_embedding : m->dw.item_mlp_embedding;
    side_tables st;
    if (p == MAIN_PAIR) {
        st = side(m, s);
        row_vector_backward(m, &st, row, 1.0f, g);
        return;
    }
    vec_axpy(dE + row * m->S, 1.0f, g, m->cfg.dim);
}

/* the user's vector into dst: its row, or the new user a cold start describes */
static void user_row(const mf_model *m, const mf_work *w, embedding_pair p, uint32_t u,
                     float *dst) {
    if (w->cold_user && p == MAIN_PAIR) memcpy(dst, w->cold_user, m->cfg.dim * sizeof *dst);
    else pair_row(m, p, USER_ROW, u, dst);
}

/* x0 = Dropout([ũ, q̃ (, G[genre(i)] for deep)])     (B, E) */
static void concat_forward(const mf_model *m, mf_work *w, embedding_pair p, const uint32_t *u,
                           const uint32_t *i, size_t B, nn_rng *rng) {
    const float *G = m->w.genre_embedding;
    size_t K = m->cfg.dim, E = embed_width(&m->cfg), S = m->S, b;
    for (b = 0; b < B; b++) { /* Concatenate */
        user_row(m, w, p, u[b], w->embed + b * E);
        pair_row(m, p, ITEM_ROW, i[b], w->embed + b * E + K);
        if (G) memcpy(w->embed + b * E + 2 * K, G + m->item_genre[i[b]] * S, K * sizeof(float));
    }
    dropout_forward(w->x[0], w->mask[0], w->embed, B * E, m->cfg.dropout_embed, rng);
}

/* out = Dropout(ũ) ⊙ Dropout(q̃)     (B, K) */
static void product_forward(const mf_model *m, mf_work *w, float *out, const uint32_t *u,
                            const uint32_t *i, size_t B, nn_rng *rng) {
    size_t K = m->cfg.dim, b;
    for (b = 0; b < B; b++) {
        user_row(m, w, MAIN_PAIR, u[b], w->pu + b * K);
        pair_row(m, MAIN_PAIR, ITEM_ROW, i[b], w->qi + b * K);
    }
    dropout_forward(w->pu, w->mask_u, w->pu, B * K, m->cfg.dropout_embed, rng);
    dropout_forward(w->qi, w->mask_i, w->qi, B * K, m->cfg.dropout_embed, rng);
    nn_mul_forward(out, w->pu, w->qi, B * K); /* Multiply */
}

/* The embedding stage writes x[0], the first Dense layer's input.
 * deep:       x0 = Dropout([p_u, q_i, g_genre(i)])      (B, 3K)
 * mlp:        x0 = Dropout([p_u, q_i])                  (B, 2K)
 * neumf, gmf: x0 = Dropout(p_u) ⊙ Dropout(q_i)          (B, K)
 * ncf:        x0 = Dropout([p'_u, q'_i]), and gmf = Dropout(p_u) ⊙ Dropout(q_i) */
static void embed_forward(const mf_model *m, mf_work *w, const uint32_t *u,
                          const uint32_t *i, size_t B, nn_rng *rng) {
    if (m->cfg.kind == MF_NCF) {
        product_forward(m, w, w->gmf, u, i, B, rng);
        concat_forward(m, w, MLP_PAIR, u, i, B, rng);
    } else if (concatenates(m->cfg.kind)) {
        concat_forward(m, w, MAIN_PAIR, u, i, B, rng);
    } else {
        product_forward(m, w, w->x[0], u, i, B, rng);
    }
}

/* From x[0] through every Dense layer to s = σ(z) of the 1-unit output
 * (implicit models keep the logit: s = z). ncf's output layer reads the
 * concatenation [gmf, v] of the GMF vector and the tower's last layer. */
static void tower_forward(const mf_model *m, mf_work *w, size_t B, nn_rng *rng) {
    const mf_config *c = &m->cfg;
    size_t L = c->n_hidden, l;
    int fused = c->kind == MF_NCF;
    for (l = 0; l < L; l++) { /* a_l = act(x_l·W_l + b_l);  x_{l+1} = Dropout(a_l) */
        size_t in = mf_layer_in(c, l), out = mf_layer_out(c, l);
        float *next = fused && l + 1 == L ? w->v : w->x[l + 1];
        nn_dense_forward(w->a[l], w->x[l], m->w.kernel[l], m->w.bias[l], B, in, out);
        nn_activation_forward(w->a[l], w->a[l], B * out, c->hidden_act);
        dropout_forward(next, w->mask[l + 1], w->a[l], B * out, c->dropout_hidden, rng);
    }
    if (fused) { /* x_L = [gmf, v] */
        size_t K = c->dim, H = c->hidden[L - 1];
        nn_concat_forward(w->x[L], K + H, 0, w->gmf, K, B, K);
        nn_concat_forward(w->x[L], K + H, K, w->v, H, B, H);
    }
    nn_dense_forward(w->s, w->x[L], m->w.kernel[L], m->w.bias[L], B, mf_layer_in(c, L), 1);
    if (!c->implicit) nn_activation_forward(w->s, w->s, B, NN_SIGMOID); /* s = σ(z) */
}

static void network_forward(const mf_model *m, mf_work *w, float *pred, const uint32_t *u,
                            const uint32_t *i, size_t B, nn_rng *rng) {
    float lo = m->rating_min, range = m->rating_max - m->rating_min;
    size_t b;
    embed_forward(m, w, u, i, B, rng);
    tower_forward(m, w, B, rng);
    if (m->cfg.implicit) {
        memcpy(pred, w->s, B * sizeof *pred); /* the logit z */
        return;
    }
    for (b = 0; b < B; b++) /* Lambda: r̂ = min + (max − min)·s */
        pred[b] = lo + range * w->s[b];
}

/* From dpred back to dx0 = ∂L/∂x[0] (left in w->dx), accumulating every
 * Dense layer's dW and db (and, for ncf, ∂L/∂gmf in w->dgmf). w->dy carries
 * ∂L/∂(layer output) downwards. */
static void tower_backward(mf_model *m, mf_work *w, const float *dpred, size_t B) {
    const mf_config *c = &m->cfg;
    float range = m->rating_max - m->rating_min, *dx = w->dx, *dy = w->dy, *tmp;
    size_t L = c->n_hidden, l, b;
    if (c->implicit) {
        memcpy(dy, dpred, B * sizeof *dy); /* the output is z itself */
    } else {
        for (b = 0; b < B; b++) dx[b] = range * dpred[b]; /* ∂L/∂s */
        memset(dy, 0, B * sizeof *dy);
        nn_activation_backward(dy, dx, w->s, B, NN_SIGMOID); /* ∂L/∂z = ∂L/∂s · s(1−s) */
    }
    for (l = L + 1; l-- > 0;) {
        size_t in = mf_layer_in(c, l), out = mf_layer_out(c, l);
        memset(dx, 0, B * in * sizeof *dx);
        nn_dense_backward(dx, m->dw.kernel[l], m->dw.bias[l], dy, w->x[l], m->w.kernel[l], B,
                          in, out);
        if (l == 0) break; /* dx = ∂L/∂x0: the embedding stage takes it from here */
        if (c->kind == MF_NCF && l == L) { /* split ∂L/∂[gmf, v] */
            size_t K = c->dim, H = in - K;
            memset(w->dgmf, 0, B * K * sizeof *w->dgmf);
            nn_concat_backward(w->dgmf, K, dx, in, 0, B, K);
            memset(dy, 0, B * H * sizeof *dy);
            nn_concat_backward(dy, H, dx, in, K, B, H);
            tmp = dx; dx = dy; dy = tmp; /* dx = ∂L/∂v */
            in = H;
        }
        memset(dy, 0, B * in * sizeof *dy); /* through Dropout, then the activation */
        nn_dropout_backward(dy, dx, w->mask[l], B * in);
        memset(dx, 0, B * in * sizeof *dx);
        nn_activation_backward(dx, dy, w->a[l - 1], B * in, c->hidden_act);
        tmp = dx; dx = dy; dy = tmp; /* dy = ∂L/∂z of layer l−1 */
    }
    if (dx != w->dx) memcpy(w->dx, dx, B * mf_layer_in(c, 0) * sizeof *dx);
}

/* ∂L/∂x0 (in w->dx) through Dropout and Concatenate into the rows of P, Q (and G) */
static void concat_backward(mf_model *m, mf_work *w, embedding_pair p, const uint32_t *u,
                            const uint32_t *i, size_t B) {
    float *de = w->dy, *dG = m->dw.genre_embedding;
    size_t K = m->cfg.dim, E = embed_width(&m->cfg), S = m->S, b;
    memset(de, 0, B * E * sizeof *de);
    nn_dropout_backward(de, w->dx, w->mask[0], B * E);
    for (b = 0; b < B; b++) { /* Concatenate's backward: each slice to its row */
        pair_row_backward(m, p, USER_ROW, u[b], de + b * E);
        pair_row_backward(m, p, ITEM_ROW, i[b], de + b * E + K);
        if (dG) vec_axpy(dG + m->item_genre[i[b]] * S, 1.0f, de + b * E + 2 * K, K);
    }
}

/* dout = ∂L/∂(pu ⊙ qi) through Multiply and Dropout into the rows of P, Q */
static void product_backward(mf_model *m, mf_work *w, const float *dout, const uint32_t *u,
                             const uint32_t *i, size_t B) {
    float *dpu = w->dy, *dqi = w->embed; /* free scratch by now */
    size_t K = m->cfg.dim, b;
    memset(dpu, 0, B * K * sizeof *dpu);
    memset(dqi, 0, B * K * sizeof *dqi);
    nn_mul_backward(dpu, dqi, dout, w->pu, w->qi, B * K);
    for (b = 0; b < B * K; b++) { /* Dropout's backward: ∂L/∂ũ = ∂L/∂(dropped ũ) · mask */
        dpu[b] *= w->mask_u[b];
        dqi[b] *= w->mask_i[b];
    }
    for (b = 0; b < B; b++) {
        pair_row_backward(m, MAIN_PAIR, USER_ROW, u[b], dpu + b * K);
        pair_row_backward(m, MAIN_PAIR, ITEM_ROW, i[b], dqi + b * K);
    }
}

/* Scatter ∂L/∂x0 (and ncf's ∂L/∂gmf) back into the embedding rows used. */
static void embed_backward(mf_model *m, mf_work *w, const uint32_t *u, const uint32_t *i,
                           size_t B) {
    if (m->cfg.kind == MF_NCF) {
        product_backward(m, w, w->dgmf, u, i, B);
        concat_backward(m, w, MLP_PAIR, u, i, B);
    } else if (concatenates(m->cfg.kind)) {
        concat_backward(m, w, MAIN_PAIR, u, i, B);
    } else {
        product_backward(m, w, w->dx, u, i, B);
    }
}

static void network_backward(mf_model *m, mf_work *w, const float *dpred, const uint32_t *u,
                             const uint32_t *i, size_t n) {
    tower_backward(m, w, dpred, n);
    embed_backward(m, w, u, i, n);
}

/* ------------------------------------------------------------ any model */

void mf_forward(const mf_model *m, mf_work *w, float *pred, const uint32_t *u,
                const uint32_t *i, size_t B, nn_rng *dropout) {
    if (mf_is_deep(m)) network_forward(m, w, pred, u, i, B, dropout);
    else dot_forward(m, w, pred, u, i, B);
}

void mf_backward(mf_model *m, mf_work *w, const float *dpred, const uint32_t *u,
                 const uint32_t *i, size_t n, size_t B) {
    mf_mark_rows(m, u, i, n); /* the rows that get gradient: where lazy steps and zero_grad look */
    if (mf_is_deep(m)) network_backward(m, w, dpred, u, i, n);
    else dot_backward(m, w, dpred, u, i, n, B);
}

double mf_l2_loss(const mf_model *m, const mf_work *w, const uint32_t *u, const uint32_t *i,
                  size_t B) {
    int implicit = m->cfg.kind == MF_SVDPP && m->cfg.l2_implicit != 0.0f;
    if (!mf_has_biases(m) || (m->cfg.l2 == 0.0f && !implicit) || B == 0) return 0.0;
    return dot_l2_loss(m, w, u, i, B);
}

/* a row the model can describe: it had training ratings, or features stand in for them */
static int row_known(const mf_model *m, row_side s, uint32_t row) {
    side_tables st = side(m, s);
    return st.count[row] > 0 || n_row_features(&st, row) > 0;
}

int mf_user_known(const mf_model *m, uint32_t u) {
    return u < m->n_users && row_known(m, USER_ROW, u);
}

int mf_item_known(const mf_model *m, uint32_t i) {
    return i < m->n_items && row_known(m, ITEM_ROW, i);
}

int mf_knows(const mf_model *m, uint32_t u, uint32_t i) {
    return mf_user_known(m, u) && mf_item_known(m, i);
}

float mf_predict(const mf_model *m, uint32_t u, uint32_t i) {
    mf_work w;
    float pred = m->mean;
    if (!mf_knows(m, u, i) || mf_work_init(&w, m, 1) != 0) return pred;
    mf_forward(m, &w, &pred, &u, &i, 1, NULL);
    mf_work_free(&w);
    if (m->cfg.implicit) nn_activation_forward(&pred, &pred, 1, NN_SIGMOID); /* p = σ(z) */
    return pred;
}

/* ------------------------------------------------------------ evaluation */

#define EVAL_CHUNK 1024

/* The sums of one chunk of EVAL_CHUNK rows. Each chunk is summed on its
 * own and the chunks are added in order, so the metrics do not depend on
 * how many threads computed them. */
typedef struct {
    double se, ae;
    size_t unknown;
} eval_sums;

typedef struct {
    const mf_model *m;
    const data_ratings *r;
    int fallback;
    eval_sums *chunk; /* (n_chunks) */
    size_t n_chunks;
    uint8_t *failed;  /* (T) share t ran out of memory */
} eval_task;

static void eval_chunks(void *ctx, size_t t, size_t T) {
    eval_task *et = ctx;
    const mf_model *m = et->m;
    const data_ratings *r = et->r;
    mf_work w;
    float pred[EVAL_CHUNK];
    uint32_t u[EVAL_CHUNK], i[EVAL_CHUNK];
    size_t c, b;
    if (mf_work_init(&w, m, EVAL_CHUNK) != 0) {
        et->failed[t] = 1;
        return;
    }
    for (c = et->n_chunks * t / T; c < et->n_chunks * (t + 1) / T; c++) {
        size_t start = c * EVAL_CHUNK, nb = r->n - start < EVAL_CHUNK ? r->n - start : EVAL_CHUNK;
        eval_sums *sum = &et->chunk[c];
        for (b = 0; b < nb; b++) { /* a row outside the model is scored as row 0, then replaced */
            int inside = r->user[start + b] < m->n_users && r->item[start + b] < m->n_items;
            u[b] = inside ? r->user[start + b] : 0;
            i[b] = inside ? r->item[start + b] : 0;
        }
        mf_forward(m, &w, pred, u, i, nb, NULL);
        sum->se = sum->ae = 0.0;
        sum->unknown = 0;
        for (b = 0; b < nb; b++) {
            uint32_t ub = r->user[start + b], ib = r->item[start + b];
            double e;
            if (!mf_knows(m, ub, ib)) {
                sum->unknown++;
                if (et->fallback || ub >= m->n_users || ib >= m->n_items) pred[b] = m->mean;
            }
            e = (double)pred[b] - (double)r->rating[start + b];
            sum->se += e * e;
            sum->ae += fabs(e);
        }
    }
    mf_work_free(&w);
}

void mf_metrics_finish(mf_metrics *out, double se, double ae, size_t n) {
    out->n = n;
    if (!n) return;
    out->mse = se / (double)n;                /* MSE = Σe²/n */
    out->rmse = sqrt(out->mse);
    out->mae = ae / (double)n;                /* MAE = Σ|e|/n */
}

mf_metrics mf_evaluate_threads(const mf_model *m, const data_ratings *r, int fallback,
                               size_t threads) {
    mf_metrics out;
    eval_task et;
    double se = 0.0, ae = 0.0;
    size_t c, T;
    int failed = 1; /* until every share has run */
    memset(&out, 0, sizeof out);
    et.m = m;
    et.r = r;
    et.fallback = fallback;
    et.n_chunks = (r->n + EVAL_CHUNK - 1) / EVAL_CHUNK;
    T = threads < 1 ? 1 : threads < et.n_chunks ? threads : et.n_chunks ? et.n_chunks : 1;
    et.chunk = malloc((et.n_chunks ? et.n_chunks : 1) * sizeof *et.chunk);
    et.failed = calloc(T, 1);
    if (et.chunk && et.failed) nn_run_shares(T, eval_chunks, &et);
    if (et.chunk && et.failed) failed = 0;
    for (c = 0; et.failed && c < T; c++) failed |= et.failed[c];
    free(et.failed);
    if (!et.chunk || failed) {
        free(et.chunk);
        out.mse = out.rmse = out.mae = NAN; /* out of memory: no number rather than a wrong one */
        return out;
    }
    for (c = 0; c < et.n_chunks; c++) { /* in chunk order */
        se += et.chunk[c].se;
        ae += et.chunk[c].ae;
        out.unknown += et.chunk[c].unknown;
    }
    free(et.chunk);
    mf_metrics_finish(&out, se, ae, r->n);
    return out;
}

mf_metrics mf_evaluate(const mf_model *m, const data_ratings *r, int fallback) {
    return mf_evaluate_threads(m, r, fallback, 1);
}

/* ------------------------------------------------------------ ranking */

/* min-heap on score: the root is the weakest of the n best so far */
static void heap_sift_down(mf_scored *h, size_t n, size_t k) {
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, s = k;
        mf_scored tmp;
        if (l < n && h[l].score < h[s].score) s = l;
        if (r < n && h[r].score < h[s].score) s = r;
        if (s == k) return;
        tmp = h[k]; h[k] = h[s]; h[s] = tmp;
        k = s;
    }
}

static int by_score_desc(const void *a, const void *b) {
    const mf_scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->item < y->item ? -1 : x->item > y->item; /* ties: lower index first */
}

void mf_offer(mf_scored *best, size_t n, size_t *filled, mf_scored s) {
    size_t k;
    if (*filled < n) {
        best[(*filled)++] = s;
        if (*filled == n) /* heapify once full */
            for (k = n / 2; k-- > 0;) heap_sift_down(best, n, k);
    } else if (s.score > best[0].score) {
        best[0] = s;
        heap_sift_down(best, n, 0);
    }
}

void mf_score_items(const void *model, mf_work *w, uint32_t u, const uint32_t *items, size_t n,
                    float *scores) {
    uint32_t users[MF_SCORE_CHUNK];
    size_t start, k;
    for (k = 0; k < MF_SCORE_CHUNK; k++) users[k] = u;
    for (start = 0; start < n; start += MF_SCORE_CHUNK) {
        size_t nb = n - start < MF_SCORE_CHUNK ? n - start : MF_SCORE_CHUNK;
        mf_forward(model, w, scores + start, users, items + start, nb, NULL);
    }
}

void mf_rank_add(size_t rank, size_t K, double *hr, double *ndcg) {
    if (rank >= K) return;
    *hr += 1.0;                                 /* HR@K: the item is in the top K */
    *ndcg += 1.0 / log2((double)rank + 2.0);    /* NDCG@K: 1/log2(rank + 2) */
}

/* what a ranking pass needs besides the scorer, allocated once */
typedef struct {
    data_user_items train, test;
    uint32_t *all;      /* (I) 0..I-1: every item, for scoring */
    float *score;       /* (I) the current user's score of every item */
    uint32_t *neg;      /* (n_neg) sampled negatives */
} rank_state;

static void rank_state_free(rank_state *s) {
    data_user_items_free(&s->train);
    data_user_items_free(&s->test);
    free(s->all);
    free(s->score);
    free(s->neg);
}

static int seen(const rank_state *s, uint32_t u, uint32_t i) {
    return data_user_items_has(&s->train, u, i) || data_user_items_has(&s->test, u, i);
}

/* n_neg distinct items user u has not seen, uniformly; fewer when there are
 * not that many */
static size_t sample_negatives(const rank_state *s, uint32_t u, size_t n_items, size_t n_neg,
                               nn_rng *rng) {
    size_t unseen = n_items - (s->train.start[u + 1] - s->train.start[u]) -
                    (s->test.start[u + 1] - s->test.start[u]), got = 0, k;
    if (unseen < n_neg) n_neg = unseen; /* an upper bound: train and test may overlap */
    while (got < n_neg) {
        uint32_t j = (uint32_t)nn_rng_below(rng, n_items);
        if (seen(s, u, j)) continue;
        for (k = 0; k < got && s->neg[k] != j; k++) {}
        if (k == got) s->neg[got++] = j;
    }
    return got;
}

/* Room for a ranking (the items, their scores, the negatives, each user's
 * training and held-out items); 0 or -1 (no memory). */
static int rank_state_init(rank_state *s, mf_work *w, const mf_model *m, size_t n_users,
                           size_t n_items, const data_ratings *train, const data_ratings *test,
                           size_t n_neg) {
    size_t k;
    memset(s, 0, sizeof *s);
    memset(w, 0, sizeof *w);
    s->all = malloc((n_items ? n_items : 1) * sizeof *s->all);
    s->score = malloc((n_items ? n_items : 1) * sizeof *s->score);
    s->neg = malloc((n_neg ? n_neg : 1) * sizeof *s->neg);
    if (!s->all || !s->score || !s->neg ||
        data_user_items_build(&s->train, train, n_users) != 0 ||
        data_user_items_build(&s->test, test, n_users) != 0 ||
        (m && mf_work_init(w, m, MF_SCORE_CHUNK) != 0)) {
        rank_state_free(s);
        mf_work_free(w);
        return -1;
    }
    for (k = 0; k < n_items; k++) s->all[k] = (uint32_t)k;
    return 0;
}

/* User u's held-out items, scored in s->score, each ranked against n_neg
 * sampled items the user has not seen: into out's HR and NDCG sums */
static void rank_user(rank_state *s, uint32_t u, size_t n_items, size_t K, size_t n_neg,
                      nn_rng *rng, mf_ranking *out) {
    const uint32_t *t = s->test.item + s->test.start[u];
    size_t nt = s->test.start[u + 1] - s->test.start[u], j, k;
    for (k = 0; k < nt; k++) {
        size_t nn = sample_negatives(s, u, n_items, n_neg, rng), rank = 0;
        for (j = 0; j < nn; j++) rank += s->score[s->neg[j]] >= s->score[t[k]];
        mf_rank_add(rank, K, &out->hr, &out->ndcg);
    }
    out->rows += nt;
    out->users++;
}

int mf_rank_with(mf_item_scorer f, const void *ctx, const mf_model *m, size_t n_users,
                 size_t n_items, const data_ratings *train, const data_ratings *test,
                 size_t K, size_t n_neg, uint64_t seed, mf_ranking *out, data_error *err) {
    rank_state s;
    mf_work w;
    nn_rng rng;
    uint32_t u;
    memset(out, 0, sizeof *out);
    out->k = K;
    if (K == 0) {
        data_errorf(err, "the ranking cut-off K must be at least 1");
        return -1;
    }
    if (rank_state_init(&s, &w, m, n_users, n_items, train, test, n_neg) != 0) {
        data_errorf(err, "out of memory for the ranking evaluation (or a row outside the model)");
        return -1;
    }
    nn_rng_seed(&rng, seed);
    for (u = 0; u < n_users; u++) {
        if (s.test.start[u + 1] == s.test.start[u]) continue; /* nothing held out */
        f(ctx, &w, u, s.all, n_items, s.score);
        rank_user(&s, u, n_items, K, n_neg, &rng, out);
    }
    if (out->rows) { /* means over the held-out rows */
        out->hr /= (double)out->rows;
        out->ndcg /= (double)out->rows;
    }
    rank_state_free(&s);
    mf_work_free(&w);
    return 0;
}

int mf_rank_evaluate(const mf_model *m, const data_ratings *train, const data_ratings *test,
                     size_t k, size_t n_neg, uint64_t seed, mf_ranking *out, data_error *err) {
    return mf_rank_with(mf_score_items, m, m, m->n_users, m->n_items, train, test, k, n_neg,
                        seed, out, err);
}

/* ------------------------------------------------------------ training
 *
 * Keras's fit(): every epoch draws an order of the training samples (an
 * implicit model first draws its negatives), runs them in batches of B —
 * forward, the loss, ∂L/∂r̂, backward, one optimiser step — and then
 * validates: val_loss (an implicit model ranks the held-out items, HR@K).
 * EarlyStopping watches it, and ModelCheckpoint(save_best_only) keeps the
 * best epoch's weights. How an epoch's batches run may be an engine's (see
 * "training engines" in mf.h); this file's own is the plain loop. */

mf_fit mf_fit_defaults(void) {
    mf_fit f = {
        .opt = nn_optimizer_defaults(NN_ADAMAX),
        .batch = 32,       /* Keras fit() default batch_size */
        .epochs = 30,
        .seed = 1,
        .negatives = 4,    /* NCF's choice */
        .rank_k = 10,
        .lr_decay = 1.0,
    };
    return f;
}

float mf_fit_rate(const mf_fit *fit, size_t epoch) {
    double F = fit->lr_decay > 0 ? fit->lr_decay : 1.0;
    if (F == 1.0 || epoch <= 1) return fit->opt.lr; /* constant: the very bits given */
    return (float)((double)fit->opt.lr * pow(F, (double)(epoch - 1)));
}

mf_train_config mf_train_defaults(void) {
    mf_train_config c = {
        .fit = mf_fit_defaults(),
        .replay = {.order = MF_ORDER_EMBREC},
        .speed = {.threads = 1},
        .session = {.verbose = 2},
    };
    return c;
}

void mf_history_free(mf_history *h) {
    free(h->epoch);
    memset(h, 0, sizeof *h);
}

mf_epoch mf_epoch_unmeasured(void) {
    mf_epoch e = {.loss = NAN, .val_loss = NAN, .val_mae = NAN, .hr = NAN, .ndcg = NAN};
    return e;
}

/* ------------------------------------------------------------ one batch */

int mf_batch_init(mf_batch *b, const mf_model *m, size_t B) {
    memset(b, 0, sizeof *b);
    b->u = malloc(B * sizeof *b->u);
    b->i = malloc(B * sizeof *b->i);
    b->y = malloc(B * sizeof *b->y);
    b->pred = malloc(B * sizeof *b->pred);
    b->dpred = malloc(B * sizeof *b->dpred);
    if (!b->u || !b->i || !b->y || !b->pred || !b->dpred || mf_work_init(&b->work, m, B) != 0) {
        mf_batch_free(b);
        return -1;
    }
    return 0;
}

void mf_batch_free(mf_batch *b) {
    free(b->u);
    free(b->i);
    free(b->y);
    free(b->pred);
    free(b->dpred);
    mf_work_free(&b->work);
    memset(b, 0, sizeof *b);
}

void mf_gather_batch(const mf_run *run, mf_batch *b, size_t start, size_t nb) {
    const mf_samples *s = &run->samples;
    size_t k;
    for (k = 0; k < nb; k++) {
        uint32_t row = run->order[start + k];
        b->u[k] = s->user[row];
        b->i[k] = s->item[row];
        b->y[k] = s->target[row];
    }
}

double mf_batch_loss(const mf_run *run, const mf_model *m, mf_batch *b, size_t nb,
                     nn_rng *dropout) {
    mf_forward(m, &b->work, b->pred, b->u, b->i, nb, dropout);                  /* r̂ */
    return run->loss(b->pred, b->y, nb) + mf_l2_loss(m, &b->work, b->u, b->i, nb); /* L */
}

void mf_batch_backward(const mf_run *run, mf_model *m, mf_batch *b, size_t nb) {
    run->dloss(b->dpred, b->pred, b->y, nb);                            /* ∂L/∂r̂ */
    mf_backward(m, &b->work, b->dpred, b->u, b->i, nb, nb);             /* ∂L/∂w */
}

double mf_batch_gradient(const mf_run *run, mf_model *m, mf_batch *b, size_t nb,
                         nn_rng *dropout) {
    double loss = mf_batch_loss(run, m, b, nb, dropout);
    if (!isfinite(loss)) { /* diverged: no gradient, no step */
        nn_params_zero_grad(&m->params);
        return loss;
    }
    mf_batch_backward(run, m, b, nb);
    return loss;
}

void mf_mark_rows(mf_model *m, const uint32_t *u, const uint32_t *i, size_t B) {
    nn_params *ps = &m->params;
    side_tables st[2] = {side(m, USER_ROW), side(m, ITEM_ROW)};
    size_t b, k, sd;
    for (b = 0; b < B; b++) {
        for (sd = 0; sd < 2; sd++) { /* each side's id row (when it takes part) and feature rows */
            uint32_t row = sd == 0 ? u[b] : i[b];
            size_t nf = n_row_features(&st[sd], row);
            if (uses_id(&st[sd], row)) nn_params_touch(ps, st[sd].id_E, row);
            for (k = 0; k < nf; k++)
                nn_params_touch(ps, st[sd].id_F, st[sd].list[st[sd].start[row] + k]);
        }
        if (mf_has_biases(m)) {
            nn_params_touch(ps, m->id.user_bias, u[b]);
            nn_params_touch(ps, m->id.item_bias, i[b]);
        }
        if (m->cfg.kind == MF_DEEP) nn_params_touch(ps, m->id.genre_embedding, m->item_genre[i[b]]);
        if (m->cfg.kind == MF_NCF) {
            nn_params_touch(ps, m->id.user_mlp_embedding, u[b]);
            nn_params_touch(ps, m->id.item_mlp_embedding, i[b]);
        }
    }
}

/* ------------------------------------------------------------ the plain loop */

/* run->halt says why the epoch ended at batch g (from 1); the loss so far */
static double halted(mf_run *run, int why, size_t g, double loss) {
    run->halt.why = why;
    run->halt.batch = g;
    return loss;
}

/* One epoch: every batch in turn, each a step of minibatch gradient
 * descent; the mean of the batches' losses, weighted by their sizes (each
 * taken before its batch's update, as Keras reports it). */
static double plain_epoch(mf_run *run) {
    mf_model *m = run->m;
    size_t N = run->samples.n, B = run->cfg->fit.batch, start;
    double sum = 0.0;
    for (start = 0; start < N; start += B) {
        size_t nb = N - start < B ? N - start : B;
        double loss;
        mf_gather_batch(run, &run->batch, start, nb);
        loss = mf_batch_gradient(run, m, &run->batch, nb, &run->dropout[0]);
        if (!isfinite(loss)) return halted(run, MF_HALT_NONFINITE, start / B + 1, NAN);
        nn_optimizer_step(&run->opt, &m->params);
        nn_params_zero_grad(&m->params);
        sum += loss * (double)nb;
        if (mf_stop_asked(run)) /* (a signal): this batch is done, end here */
            return halted(run, MF_HALT_STOP, start / B + 1, sum / (double)(start + nb));
        mf_show_progress(run, start + nb, sum / (double)(start + nb));
    }
    return N ? sum / (double)N : 0.0;
}

static int plain_accepts(const mf_model *m, const mf_train_config *cfg, data_error *err) {
    (void)m;
    (void)cfg;
    (void)err;
    return 1;
}

static int plain_begin(mf_run *run) {
    (void)run;
    return 0;
}

static void plain_nothing(mf_run *run) { (void)run; }

static mf_metrics plain_evaluate(const mf_run *run, const data_ratings *val) {
    return mf_evaluate(run->m, val, 0);
}

static const mf_engine plain_engine = {
    .name = "plain",
    .accepts = plain_accepts,
    .begin = plain_begin,
    .epoch = plain_epoch,
    .settle = plain_nothing,
    .evaluate = plain_evaluate,
    .end = plain_nothing,
};

/* the engines registered (fast/ registers its own at start) */
static const mf_engine *const *engines;
static size_t n_engines;

void mf_use_engines(const mf_engine *const *list, size_t n) {
    engines = list;
    n_engines = n;
}

/* the first engine that accepts the training, else the plain loop; NULL
 * when one refuses its settings (err says why) */
static const mf_engine *choose_engine(const mf_model *m, const mf_train_config *cfg,
                                      data_error *err) {
    size_t k;
    for (k = 0; k < n_engines; k++) {
        int r = engines[k]->accepts(m, cfg, err);
        if (r < 0) return NULL;
        if (r > 0) return engines[k];
    }
    return &plain_engine;
}

/* ------------------------------------------------------------ the run */

/* What fit() keeps beside the run: the implicit samples, EarlyStopping's
 * best and wait, and ModelCheckpoint's copy of the best weights. */
typedef struct {
    mf_run run;
    uint32_t *su, *si;      /* (N) implicit: the epoch's samples, positives and negatives */
    float *sy;              /* (N) their labels, 1 or 0 */
    data_user_items seen;   /* implicit: each user's training items, never drawn as negatives */
    data_np_rng np_rng;     /* replaying NumPy's order (session/replay.h) */
    size_t first;           /* epochs done before this run (a resumed one) */
    int has_val, keep_best;
    double best;            /* the best score so far (lower is better) */
    size_t wait;            /* epochs since it */
    float *best_w, *best_m, *best_v; /* (params.n) the best epoch's weights and moments */
    uint64_t best_t;
    int have_best_w;
} fit_state;

static mf_samples explicit_samples(const data_ratings *train) {
    mf_samples s = {.user = train->user, .item = train->item, .target = train->rating,
                    .n = train->n};
    return s;
}

/* implicit feedback: every training pair labelled 1 and, for each, fit.negatives
 * items the user has not interacted with, drawn afresh, labelled 0 */
static mf_samples draw_negatives(fit_state *fs) {
    const data_ratings *train = fs->run.train;
    size_t neg = fs->run.cfg->fit.negatives, n_items = fs->run.m->n_items, k, j, n = 0;
    mf_samples s;
    for (k = 0; k < train->n; k++) {
        uint32_t u = train->user[k];
        size_t rated = fs->seen.start[u + 1] - fs->seen.start[u];
        fs->su[n] = u;
        fs->si[n] = train->item[k];
        fs->sy[n++] = 1.0f;
        for (j = 0; j < neg && rated < n_items; j++) { /* rejection: a few draws at most */
            uint32_t i;
            do i = (uint32_t)nn_rng_below(&fs->run.rng, n_items);
            while (data_user_items_has(&fs->seen, u, i));
            fs->su[n] = u;
            fs->si[n] = i;
            fs->sy[n++] = 0.0f;
        }
    }
    s.user = fs->su;
    s.item = fs->si;
    s.target = fs->sy;
    s.n = n;
    return s;
}

/* This epoch's order of the samples: fit(shuffle=True) draws a fresh
 * permutation; 0, or -1 with err. */
static int epoch_order(fit_state *fs, size_t epoch, data_error *err) {
    mf_run *run = &fs->run;
    size_t k;
    if (run->cfg->replay.order != MF_ORDER_EMBREC) /* another run's (verification) */
        return session_replay_order(run, &fs->np_rng, epoch, fs->first, err);
    if (run->engine->orders_itself) return 0;
    for (k = 0; k < run->samples.n; k++) run->order[k] = (uint32_t)k;
    nn_rng_shuffle_u32(&run->rng, run->order, run->samples.n);
    return 0;
}

/* ModelCheckpoint: the weights, moments and step count of the best epoch */
static void keep_best_weights(fit_state *fs) {
    size_t n = fs->run.m->params.n;
    memcpy(fs->best_w, fs->run.m->params.w, n * sizeof(float));
    if (fs->run.opt.m) memcpy(fs->best_m, fs->run.opt.m, n * sizeof(float));
    if (fs->run.opt.v) memcpy(fs->best_v, fs->run.opt.v, n * sizeof(float));
    fs->best_t = fs->run.opt.t;
    fs->have_best_w = 1;
}

/* Share t's dropout generator: its own stream, so that the shuffles do not
 * depend on the model and the shares do not depend on each other */
static void seed_dropout(mf_run *run) {
    size_t t;
    uint64_t seed = run->cfg->fit.seed;
    nn_rng_seed(&run->dropout[0], seed ^ 0x9e3779b97f4a7c15u);
    for (t = 1; t < run->n_dropout; t++)
        nn_rng_seed(&run->dropout[t], seed ^ 0x9e3779b97f4a7c15u ^ (0xbf58476d1ce4e5b9u * t));
}

static void fit_free(fit_state *fs) {
    mf_run *run = &fs->run;
    if (run->engine) run->engine->end(run);
    nn_free(run->order);
    free(run->dropout);
    mf_batch_free(&run->batch);
    nn_optimizer_free(&run->opt);
    free(fs->su);
    free(fs->si);
    free(fs->sy);
    data_user_items_free(&fs->seen);
    nn_free(fs->best_w);
    nn_free(fs->best_m);
    nn_free(fs->best_v);
    memset(fs, 0, sizeof *fs);
}

/* The run's arrays: this epoch's order, the batch, the optimiser's state,
 * an implicit model's samples, ModelCheckpoint's copy; 0 or -1 (no memory) */
static int fit_buffers(fit_state *fs, mf_history *hist, size_t N) {
    mf_run *run = &fs->run;
    const mf_model *m = run->m;
    size_t P = m->params.n;
    hist->epoch = calloc(run->cfg->fit.epochs, sizeof *hist->epoch);
    if (!run->engine->orders_itself) /* (an engine that orders itself needs none) */
        run->order = nn_alloc((N ? N : 1) * sizeof *run->order);
    if (!hist->epoch || (!run->order && !run->engine->orders_itself) ||
        nn_optimizer_init(&run->opt, run->cfg->fit.opt, P) != 0 ||
        mf_batch_init(&run->batch, m, run->cfg->fit.batch) != 0)
        return -1;
    if (m->cfg.implicit) {
        fs->su = malloc((N ? N : 1) * sizeof *fs->su);
        fs->si = malloc((N ? N : 1) * sizeof *fs->si);
        fs->sy = malloc((N ? N : 1) * sizeof *fs->sy);
        if (!fs->su || !fs->si || !fs->sy ||
            data_user_items_build(&fs->seen, run->train, m->n_users) != 0)
            return -1;
    }
    if (!fs->keep_best) return 0;
    fs->best_w = nn_alloc(P * sizeof(float));
    fs->best_m = nn_alloc(P * sizeof(float));
    fs->best_v = nn_alloc(P * sizeof(float));
    return fs->best_w && fs->best_m && fs->best_v ? 0 : -1;
}

/* Everything the run needs before its first epoch; 0, or -1 with err. */
static int fit_open(fit_state *fs, mf_model *m, const data_ratings *train, const data_ratings *val,
                    const mf_train_config *cfg, mf_history *hist, data_error *err) {
    mf_run *run = &fs->run;
    int implicit = m->cfg.implicit, has_val = val && val->n > 0;
    memset(hist, 0, sizeof *hist);
    *fs = (fit_state){.has_val = has_val, .keep_best = has_val && cfg->fit.restore_best,
                      .best = INFINITY, /* no best yet */
                      .run = {.m = m, .cfg = cfg, .train = train, .n_dropout = 1,
                              .loss = implicit ? nn_bce_logits_forward : nn_mse_forward,
                              .dloss = implicit ? nn_bce_logits_backward : nn_mse_backward}};
    if (session_check_fit(m, cfg, err) != 0 || !(run->engine = choose_engine(m, cfg, err)) ||
        session_replay_open(&fs->np_rng, cfg, err) != 0)
        return -1;
    if (mf_set_rated(m, train) != 0 || /* svdpp's N(u): before an engine copies m */
        fit_buffers(fs, hist, implicit ? train->n * (1 + cfg->fit.negatives) : train->n) != 0)
        goto oom;
    fs->first = session_resume_start(run, hist, &fs->best, &fs->wait);
    nn_rng_seed(&run->rng, cfg->fit.seed);
    if (run->engine->begin(run) != 0 ||
        (cfg->session.resume ? session_count_resumed(m, train) != 0 : (mf_count(m, train), 0)) ||
        !(run->dropout = calloc(run->n_dropout, sizeof *run->dropout)))
        goto oom;
    seed_dropout(run);
    if (session_streams_open(run) != 0) goto oom;
    if (fs->keep_best && session_resumed_at_best(run)) keep_best_weights(fs);
    nn_flush_denormals();
    return 0;
oom:
    data_errorf(err, "out of memory for training");
    return -1;
}

/* The epoch's samples and order (and its log line); 0, or -1 with err. */
static int epoch_begin(fit_state *fs, size_t epoch, data_error *err) {
    mf_run *run = &fs->run;
    size_t B = run->cfg->fit.batch;
    session_streams_save(run); /* (for a resume) before the epoch draws anything */
    run->samples = run->m->cfg.implicit ? draw_negatives(fs) : explicit_samples(run->train);
    session_log_epoch_begin(run, epoch);
    run->halt = (mf_halt){.why = MF_HALT_NONE, .batches = (run->samples.n + B - 1) / B};
    run->started = session_seconds();
    run->opt.cfg.lr = mf_fit_rate(&run->cfg->fit, epoch + 1); /* (every engine reads it from here) */
    return epoch_order(fs, epoch, err);
}

/* an implicit model's validation: HR@K and NDCG@K of the held-out items,
 * each ranked among 99 sampled ones; 0, or -1 with err */
static int validate_ranking(const mf_run *run, const data_ratings *val, mf_epoch *e,
                            data_error *err) {
    mf_ranking r;
    if (mf_rank_evaluate(run->m, run->train, val, run->cfg->fit.rank_k, 99, run->cfg->fit.seed,
                         &r, err) != 0)
        return -1;
    e->hr = r.hr;
    e->ndcg = r.ndcg;
    return 0;
}

/* val_loss and val_mae after the epoch: the model's output for every row,
 * as Keras's (an implicit model ranks instead); 0, or -1 with err */
static int validate(const fit_state *fs, const data_ratings *val, mf_epoch *e, data_error *err) {
    mf_metrics vm;
    e->val_loss = e->val_mae = e->hr = e->ndcg = NAN;
    if (!fs->has_val) return 0;
    if (fs->run.m->cfg.implicit) return validate_ranking(&fs->run, val, e, err);
    vm = fs->run.engine->evaluate(&fs->run, val);
    e->val_loss = vm.mse;
    e->val_mae = vm.mae;
    return 0;
}

/* EarlyStopping(patience) and ModelCheckpoint(save_best_only) after an
 * epoch: 1 when training should stop here */
static int early_stopping(fit_state *fs, mf_history *hist, size_t epoch) {
    const mf_fit *fit = &fs->run.cfg->fit;
    const mf_epoch *e = &hist->epoch[epoch];
    double score = fs->run.m->cfg.implicit ? -e->hr : e->val_loss; /* lower is better */
    if (!fs->has_val || score < fs->best) { /* an improvement (or no measure) resets the wait */
        fs->best = score;
        hist->best = epoch;
        fs->wait = 0;
        if (fs->keep_best) keep_best_weights(fs); /* with the optimiser's state */
        return 0;
    }
    if (!fit->patience || ++fs->wait < fit->patience) return 0;
    hist->stopped_early = epoch + 1 < fit->epochs; /* (at the cap, the cap ends the run) */
    session_log_early_stop(&fs->run, epoch, fs->wait, hist->stopped_early);
    return 1;
}

/* The end of the run (rc: how it ended): the best weights and their
 * optimiser state back when they are not the last, what a resumed run
 * takes up kept with the model, the log's closing line. */
static void fit_close(fit_state *fs, const mf_history *hist, int rc) {
    mf_run *run = &fs->run;
    nn_params *ps = &run->m->params;
    int best_known = fs->has_val && fs->best < INFINITY;
    int at_best = rc == 0 && hist->best + 1 == hist->n; /* the last epoch's weights are the best's */
    if (fs->have_best_w && !at_best) { /* back to the best */
        memcpy(ps->w, fs->best_w, ps->n * sizeof(float));
        nn_optimizer_resume(&run->opt, fs->best_m, fs->best_v, fs->best_t);
        at_best = 1;
    }
    session_resume_keep(run, hist, rc, best_known, fs->wait, at_best);
    session_log_best(run, hist, best_known, fs->have_best_w);
}

/* the session's record of the history (--history); 0, or -1 with err */
static int record(const mf_train_config *cfg, const mf_history *hist, int last, data_error *err) {
    return cfg->session.record ? cfg->session.record(cfg->session.record_ctx, hist, last, err) : 0;
}

int mf_train(mf_model *m, const data_ratings *train, const data_ratings *val,
             const mf_train_config *cfg, mf_history *hist, FILE *log, data_error *err) {
    fit_state fs;
    mf_run *run = &fs.run;
    size_t epoch;
    int rc = 0;
    if (fit_open(&fs, m, train, val, cfg, hist, err) != 0 || record(cfg, hist, 0, err) != 0) {
        fit_free(&fs);
        mf_history_free(hist);
        return -1;
    }
    session_log_start(run, log, val);
    for (epoch = fs.first; epoch < cfg->fit.epochs; epoch++) {
        mf_epoch *e = &hist->epoch[epoch];
        if (epoch_begin(&fs, epoch, err) != 0) { rc = -1; break; }
        e->loss = run->engine->epoch(run);             /* the epoch's batches */
        run->engine->settle(run);                      /* every weight up to date */
        if (run->halt.why != MF_HALT_NONE) {
            rc = session_halt(run, epoch, fs.have_best_w ? hist->best + 1 : 0, err);
            break;
        }
        if (validate(&fs, val, e, err) != 0) { rc = -1; break; }
        e->seconds = session_seconds() - run->started;
        hist->n = epoch + 1;
        session_log_epoch_end(run, e, fs.has_val);
        if (record(cfg, hist, 0, err) != 0) { rc = -1; break; } /* the run would go unrecorded */
        if (early_stopping(&fs, hist, epoch)) break;
    }
    fit_close(&fs, hist, rc);
    fit_free(&fs);
    if (record(cfg, hist, 1, rc ? NULL : err) != 0 && rc == 0) return -1;
    return rc;
}

/* ------------------------------------------------------------ recipes */

/* Keras's optimisers with their defaults but the rate, in dense mode (the
 * notebooks' behaviour) unless a recipe says otherwise */
#define KERAS_ADAM(rate) \
    {.kind = NN_ADAM, .update = NN_UPDATE_DENSE, .lr = (rate), .beta1 = 0.9f, .beta2 = 0.999f, \
     .epsilon = 1e-7f}
#define KERAS_ADAMAX(rate) \
    {.kind = NN_ADAMAX, .update = NN_UPDATE_DENSE, .lr = (rate), .beta1 = 0.9f, .beta2 = 0.999f, \
     .epsilon = 1e-7f}

static const mf_recipe recipes[] = {
    {
        .name = "mf8",
        .notebook = "000 (learn user and movie embeddings)",
        .summary = "dot k=8 on ratings centred by the mean, Adam lr 0.01 eps 1e-8, batch 5000, "
                   "validation 0.05, 20 epochs",
        .model = {.kind = MF_DOT, .dim = 8, .centre = 1, .init_limit = 0.05f},
        /* tf.train.AdamOptimizer: the Keras formula with ε 1e-8, dense updates */
        .fit = {.opt = {.kind = NN_ADAM, .update = NN_UPDATE_DENSE, .lr = 0.01f, .beta1 = 0.9f,
                        .beta2 = 0.999f, .epsilon = 1e-8f},
                .batch = 5000, .epochs = 20, .seed = 1, .negatives = 4, .rank_k = 10},
        .val_split = 0.05,
        .shuffle_first = 1,
        .mean_of_all = 1, /* the notebook subtracts the mean of every rating, then splits */
    },
    {
        .name = "cfmodel",
        .notebook = "003 (deep learning model, CFModel)",
        .summary = "dot k=100, AdaMax (Keras defaults), batch 32, validation 0.1, up to 30 epochs, "
                   "patience 2, best weights kept",
        .model = {.kind = MF_DOT, .dim = 100, .init_limit = 0.05f},
        .fit = {.opt = KERAS_ADAMAX(0.002f), .batch = 32, .epochs = 30, .patience = 2,
                .restore_best = 1, .seed = 1, .negatives = 4, .rank_k = 10},
        .val_split = 0.1,
        .shuffle_first = 1,
        .shuffle_numpy = 1, /* ratings.sample(frac=1., random_state=RNG_SEED) */
        .numpy_seed = 1446557,
    },
    /* notebook 002 prints its layers and 5 epochs on an 80/20 split; its
     * optimiser, batch and dropout rates are not shown: Keras's Adam, batch 32
     * (fit's default) and 0.2 are this recipe's choices */
    {
        .name = "deep-genre",
        .notebook = "002 (embedding CNN: user, movie and genre embeddings)",
        .summary = "user, movie, genre-string embeddings 50 -> Dropout -> Dense 64 relu -> "
                   "Dropout -> Dense 10 relu -> Dropout -> Dense 1 sigmoid scaled to the rating "
                   "range; Adam, batch 32, validation 0.2, 5 epochs",
        .model = {.kind = MF_DEEP, .dim = 50, .init_limit = 0.05f, .n_hidden = 2,
                  .hidden = {64, 10}, .hidden_act = NN_RELU, .dropout_embed = 0.2f,
                  .dropout_hidden = 0.2f},
        .fit = {.opt = KERAS_ADAM(0.001f), .batch = 32, .epochs = 5, .seed = 1, .negatives = 4,
                .rank_k = 10},
        .val_split = 0.2,
        .shuffle_first = 1,
    },
    /* notebook 004 builds and summarises the network for an interaction score
     * in [0, 1] but does not train it: implicit feedback with NCF's protocol
     * (4 negatives per positive, each user's latest item held out), Adam,
     * batch 256 and 10 epochs are this recipe's choices */
    {
        .name = "neumf",
        .notebook = "004 (CF with deep learning, NeuMF-like)",
        .summary = "user, item embeddings 100 -> Dropout 0.5 each -> multiply -> Dense 50 linear "
                   "-> Dropout 0.5 -> Dense 1 sigmoid (lecun_uniform); implicit feedback, 4 "
                   "negatives per positive, BCE, Adam, batch 256, 10 epochs, latest item per "
                   "user held out",
        .model = {.kind = MF_NEUMF, .dim = 100, .init_limit = 0.05f, .n_hidden = 1,
                  .hidden = {50}, .hidden_act = NN_LINEAR, .dropout_embed = 0.5f,
                  .dropout_hidden = 0.5f, .output_lecun = 1, .implicit = 1},
        .fit = {.opt = KERAS_ADAM(0.001f), .batch = 256, .epochs = 10, .seed = 1,
                .negatives = 4, .rank_k = 10},
        .val_split = 0.1,
        .shuffle_first = 1,
    },
    /* notebook 001 describes its question (which embedded side information
     * helps most) and its data, not a model: LightFM's hybrid over the bias
     * model, with L2 on the composed vectors, Adam lr 0.002 with lazy updates,
     * batch 32 and 25 epochs are this recipe's choices; features are chosen
     * with --user-features and --item-features */
    {
        .name = "hybrid",
        .notebook = "001 (generating embeddings: user and movie metadata)",
        .summary = "bias model k=32 whose user and movie vectors add the mean embedding of "
                   "their features (LightFM), L2 0.1 on those vectors, Adam lr 0.002 lazy, "
                   "batch 32, validation 0.1, 25 epochs",
        .model = {.kind = MF_BIAS, .dim = 32, .l2 = 0.1f, .init_limit = 0.05f},
        .fit = {.opt = {.kind = NN_ADAM, .update = NN_UPDATE_LAZY, .lr = 0.002f, .beta1 = 0.9f,
                        .beta2 = 0.999f, .epsilon = 1e-7f},
                .batch = 32, .epochs = 25, .seed = 1, .negatives = 4, .rank_k = 10},
        .val_split = 0.1,
        .shuffle_first = 1,
    },
    /* Koren's SVD++, beyond the notebooks, for ML-100K's five folds: per-rating
     * SGD as Koren and Surprise train it (lazy: SGD moves only the rows a
     * rating has gradient for, as dense does, without visiting the others),
     * its rate lowered after each epoch as Koren lowers his step sizes.
     * K, λ, λ_y, the rate, its decay and the epochs were chosen on a holdout
     * of u1.base (the last tenth after the seeded shuffle) and checked on
     * u3.base's, never on a .test file; the recipe then trains on every
     * rating of --data, for as many epochs as u1's holdout's best. */
    {
        .name = "svdpp",
        .notebook = NULL,
        .summary = "SVD++ (Koren 2008): bias model whose user vector adds |N(u)|^-1/2 times "
                   "the sum of the implicit factors of the movies u rated, K=300; L2 0.07 on "
                   "p, q and the biases, 0.008 on each y_j; per-rating SGD (batch 1) lr 0.01 "
                   "times 0.95 after each epoch, 18 epochs; no validation split: every rating "
                   "of --data trains",
        .model = {.kind = MF_SVDPP, .dim = 300, .l2 = 0.07f, .l2_implicit = 0.008f,
                  .init_limit = 0.05f},
        .fit = {.opt = {.kind = NN_SGD, .update = NN_UPDATE_LAZY, .lr = 0.01f},
                .batch = 1, .epochs = 18, .seed = 1, .negatives = 4, .rank_k = 10,
                .lr_decay = 0.95},
        .val_split = 0.0,
        .shuffle_first = 1,
    },
};

const mf_recipe *mf_recipes(size_t *n) {
    *n = sizeof recipes / sizeof recipes[0];
    return recipes;
}

const mf_recipe *mf_recipe_find(const char *name) {
    size_t k;
    for (k = 0; k < sizeof recipes / sizeof recipes[0]; k++)
        if (strcmp(recipes[k].name, name) == 0) return &recipes[k];
    return NULL;
}

/* ------------------------------------------------------------ recommend */

/* The n best items by the model's output for user u (w->cold_user, when
 * set, stands in for u), in chunks of MF_SCORE_CHUNK through one forward pass
 * each, kept in a heap of the best n. */
size_t mf_recommend_with(const mf_model *m, mf_work *w, uint32_t u, const uint8_t *exclude,
                         mf_scored *out, size_t n) {
    uint32_t users[MF_SCORE_CHUNK], items[MF_SCORE_CHUNK];
    float scores[MF_SCORE_CHUNK];
    size_t filled = 0, nb = 0, k;
    uint32_t i;
    for (k = 0; k < MF_SCORE_CHUNK; k++) users[k] = u;
    for (i = 0; i <= m->n_items; i++) {
        if (i < m->n_items) { /* collect a chunk of candidates, then score it at once */
            if (!row_known(m, ITEM_ROW, i) || (exclude && exclude[i])) continue;
            items[nb++] = i;
            if (nb < MF_SCORE_CHUNK) continue;
        }
        mf_forward(m, w, scores, users, items, nb, NULL);
        for (k = 0; k < nb; k++) {
            mf_scored s;
            s.item = items[k];
            s.score = scores[k];
            mf_offer(out, n, &filled, s);
        }
        nb = 0;
    }
    qsort(out, filled, sizeof *out, by_score_desc);
    return filled;
}

size_t mf_recommend(const mf_model *m, uint32_t u, const uint8_t *exclude,
                    mf_scored *out, size_t n) {
    mf_work w;
    size_t got;
    if (n == 0 || u >= m->n_users || mf_work_init(&w, m, MF_SCORE_CHUNK) != 0) return 0;
    got = mf_recommend_with(m, &w, u, exclude, out, n);
    mf_work_free(&w);
    return got;
}

/* ------------------------------------------------------------ similar items */

size_t mf_similar(const mf_model *m, uint32_t i, mf_metric metric, uint32_t min_count,
                  mf_scored *out, size_t n) {
    side_tables st = side(m, ITEM_ROW);
    size_t K = m->cfg.dim, filled = 0;
    float *buf, norm_i;
    const float *qi, *qj;
    uint32_t j;
    if (i >= m->n_items || n == 0) return 0;
    buf = malloc(2 * K * sizeof *buf);
    if (!buf) return 0;
    qi = row_vector(m, &st, i, buf); /* q̃_i: q_i, plus its features in a hybrid model */
    norm_i = sqrtf(vec_dot(qi, qi, K));
    for (j = 0; j < m->n_items; j++) {
        mf_scored c;
        if (j == i || m->item_count[j] < min_count || !row_known(m, ITEM_ROW, j)) continue;
        qj = row_vector(m, &st, j, buf + K);
        c.item = j;
        if (metric == MF_COSINE) { /* cos = q_i·q_j / (‖q_i‖ ‖q_j‖) */
            float norm_j = sqrtf(vec_dot(qj, qj, K));
            c.score = norm_i > 0 && norm_j > 0 ? vec_dot(qi, qj, K) / (norm_i * norm_j) : 0.0f;
        } else { /* −‖q_i − q_j‖ = −√(‖q_i‖² − 2 q_i·q_j + ‖q_j‖²), clamped at 0 */
            float d2 = vec_dot(qi, qi, K) - 2.0f * vec_dot(qi, qj, K) + vec_dot(qj, qj, K);
            c.score = -sqrtf(d2 > 0 ? d2 : 0);
        }
        mf_offer(out, n, &filled, c);
    }
    free(buf);
    qsort(out, filled, sizeof *out, by_score_desc);
    return filled;
}
