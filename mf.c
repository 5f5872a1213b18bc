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
 * formulas (nn.c), option handling (cli/main.c), and the file formats:
 * model files, .npy export and initial weights, and the NumPy generator
 * that replays a Python run's shuffles (formats/).
 */
#define _POSIX_C_SOURCE 200809L
#include "mf.h"
#include "formats/numpy.h"  /* MF_ORDER_NUMPY's shuffles */
#include "formats/output.h" /* data_out: the history file */

#include <pthread.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ names */

static const char *const kind_names[] = {"dot", "bias", "deep", "neumf", "gmf", "mlp", "ncf"};

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

mf_config mf_defaults(void) {
    mf_config c;
    memset(&c, 0, sizeof c);
    c.kind = MF_DOT;
    c.dim = 8;
    c.centre = 0;
    c.l2 = 0.0f;
    c.init_limit = 0.05f; /* keras.initializers.RandomUniform(-0.05, 0.05) */
    c.hidden_act = NN_LINEAR;
    return c;
}

mf_config mf_defaults_for(mf_kind kind) {
    mf_config c = mf_defaults();
    c.kind = kind;
    if (kind == MF_DEEP) { /* notebook 002: 50-wide embeddings, Dense 64, 10 */
        c.dim = 50;
        c.n_hidden = 2;
        c.hidden[0] = 64;
        c.hidden[1] = 10;
        c.hidden_act = NN_RELU;
        c.dropout_embed = 0.2f; /* the notebook does not print its rates */
        c.dropout_hidden = 0.2f;
    } else if (kind == MF_NEUMF) { /* notebook 004: 100-wide, Dense 50 linear */
        c.dim = 100;
        c.n_hidden = 1;
        c.hidden[0] = 50;
        c.hidden_act = NN_LINEAR;
        c.dropout_embed = 0.5f;
        c.dropout_hidden = 0.5f;
        c.output_lecun = 1;
    } else if (kind == MF_GMF) { /* NCF: ŷ = σ(h·(p ⊙ q)) */
        c.dim = 8;
    } else if (kind == MF_MLP) { /* NCF: a tower halving towards the output */
        c.dim = 32;
        c.n_hidden = 3;
        c.hidden[0] = 64;
        c.hidden[1] = 32;
        c.hidden[2] = 16;
        c.hidden_act = NN_RELU;
    } else if (kind == MF_NCF) { /* NCF's NeuMF with 8 predictive factors */
        c.dim = 8;
        c.n_hidden = 3;
        c.hidden[0] = 32;
        c.hidden[1] = 16;
        c.hidden[2] = 8;
        c.hidden_act = NN_RELU;
    }
    return c;
}

int mf_weights_finite(const mf_model *m) {
    size_t k;
    for (k = 0; k < m->params.n; k++)
        if (!isfinite(m->params.w[k])) return 0;
    return 1;
}

int mf_is_deep(const mf_model *m) {
    return m->cfg.kind >= MF_DEEP;
}

int mf_is_hybrid(const mf_model *m) {
    return m->user_features.n_features > 0 || m->item_features.n_features > 0;
}

/* ------------------------------------------------------------ features */

static void features_free(data_features *f) {
    free(f->start);
    free(f->feature);
    free(f->name);
    free(f->text);
    memset(f, 0, sizeof *f);
}

/* dst = src, as one allocation per array; 0 or -1 (no memory) */
static int features_copy(data_features *dst, const data_features *src) {
    size_t nnz = src->start[src->n_rows];
    memset(dst, 0, sizeof *dst);
    dst->n_rows = src->n_rows;
    dst->n_features = src->n_features;
    dst->text_len = dst->text_cap = src->text_len;
    dst->start = malloc((src->n_rows + 1) * sizeof *dst->start);
    dst->feature = malloc((nnz ? nnz : 1) * sizeof *dst->feature);
    dst->name = malloc((src->n_features ? src->n_features : 1) * sizeof *dst->name);
    dst->text = malloc(src->text_len + 1);
    if (!dst->start || !dst->feature || !dst->name || !dst->text) {
        features_free(dst);
        return -1;
    }
    memcpy(dst->start, src->start, (src->n_rows + 1) * sizeof *dst->start);
    memcpy(dst->feature, src->feature, nnz * sizeof *dst->feature);
    memcpy(dst->name, src->name, src->n_features * sizeof *dst->name);
    memcpy(dst->text, src->text, src->text_len);
    dst->text[src->text_len] = '\0';
    return 0;
}

/* The two sides of a rating: its user row and its item row. */
typedef enum { USER_ROW, ITEM_ROW } row_side;

/* One side of the model: its id embedding (P or Q), its features'
 * embedding (E_u or E_i, hybrid), those features, and the training counts. */
typedef struct {
    float *E, *dE;              /* (rows, S) the id embedding and its gradient */
    size_t id_E;                /* its tensor, for nn_params_touch */
    float *F, *dF;              /* (n_features, S) the features' embedding, or NULL */
    size_t id_F;
    const data_features *f;
    const uint32_t *count;
} side_tables;

static side_tables side(const mf_model *m, row_side s) {
    side_tables st = {
        .E = s == USER_ROW ? m->w.user_embedding : m->w.item_embedding,
        .dE = s == USER_ROW ? m->dw.user_embedding : m->dw.item_embedding,
        .id_E = s == USER_ROW ? m->id.user_embedding : m->id.item_embedding,
        .F = s == USER_ROW ? m->w.user_feature_embedding : m->w.item_feature_embedding,
        .dF = s == USER_ROW ? m->dw.user_feature_embedding : m->dw.item_feature_embedding,
        .id_F = s == USER_ROW ? m->id.user_feature_embedding : m->id.item_feature_embedding,
        .f = s == USER_ROW ? &m->user_features : &m->item_features,
        .count = s == USER_ROW ? m->user_count : m->item_count,
    };
    return st;
}

/* how many features a row has (0 in a model without features) */
static size_t n_row_features(const data_features *f, uint32_t row) {
    return f->n_features && row < f->n_rows ? f->start[row + 1] - f->start[row] : 0;
}

/* A row with features that no training rating reached (a cold user or
 * movie) is described by its features alone: its id embedding still holds
 * its random initial values, which carry no information. */
static int uses_id(const side_tables *st, uint32_t row) {
    return st->count[row] > 0 || n_row_features(st->f, row) == 0;
}

/* A row's vector into v (K):
 *   ũ = p + (1/|F|) Σ_{f ∈ F} e_f    (LightFM's hybrid; p alone without features)
 *   ũ = (1/|F|) Σ_{f ∈ F} e_f        (a cold row: see uses_id) */
static void row_vector(const mf_model *m, row_side s, uint32_t row, float *v) {
    side_tables st = side(m, s);
    size_t K = m->cfg.dim, S = m->S, k, n = n_row_features(st.f, row);
    const uint32_t *feat = n ? st.f->feature + st.f->start[row] : NULL;
    if (uses_id(&st, row)) memcpy(v, st.E + row * S, K * sizeof *v);
    else memset(v, 0, K * sizeof *v);
    for (k = 0; k < n; k++) vec_axpy(v, 1.0f / (float)n, st.F + feat[k] * S, K);
}

/* The backward of row_vector, for g = ∂L/∂ũ times scale:
 * ∂L/∂p += scale·g (when the id takes part), ∂L/∂e_f += scale·g/|F| for each feature */
static void row_vector_backward(mf_model *m, row_side s, uint32_t row, float scale,
                                const float *g) {
    side_tables st = side(m, s);
    size_t K = m->cfg.dim, S = m->S, k, n = n_row_features(st.f, row);
    const uint32_t *feat = n ? st.f->feature + st.f->start[row] : NULL;
    if (uses_id(&st, row)) {
        vec_axpy(st.dE + row * S, scale, g, K);
        nn_params_touch(&m->params, st.id_E, row);
    }
    for (k = 0; k < n; k++) {
        vec_axpy(st.dF + feat[k] * S, scale / (float)n, g, K);
        nn_params_touch(&m->params, st.id_F, feat[k]);
    }
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
static size_t layer_in(const mf_config *c, size_t l) {
    if (l == 0) return embed_width(c);
    if (c->kind == MF_NCF && l == c->n_hidden) return c->dim + c->hidden[l - 1]; /* [gmf, v] */
    return c->hidden[l - 1];
}

static size_t layer_out(const mf_config *c, size_t l) {
    return l < c->n_hidden ? c->hidden[l] : 1;
}

static int copy_ids(data_idmap *dst, int64_t **raw, const data_idmap *src) {
    size_t k;
    *raw = malloc((src->n ? src->n : 1) * sizeof **raw);
    if (!*raw) return -1;
    data_idmap_init(dst);
    for (k = 0; k < src->n; k++) {
        (*raw)[k] = src->raw[k];
        if (data_idmap_intern(dst, src->raw[k]) != (int32_t)k) return -1;
    }
    return 0;
}

static int check_config(const mf_config *c, data_error *err) {
    size_t l;
    if (c->dim == 0 || c->dim > 65536) {
        data_errorf(err, "embedding dimension must be 1..65536 (got %zu)", c->dim);
        return -1;
    }
    if ((unsigned)c->kind >= MF_N_KINDS) {
        data_errorf(err, "unknown model kind %d", (int)c->kind);
        return -1;
    }
    if (c->kind == MF_NCF && c->n_hidden == 0) {
        data_errorf(err, "the ncf model fuses GMF with an MLP tower: give it hidden layers");
        return -1;
    }
    if (c->n_hidden > MF_MAX_HIDDEN) {
        data_errorf(err, "at most %d hidden layers (got %zu)", MF_MAX_HIDDEN, c->n_hidden);
        return -1;
    }
    for (l = 0; l < c->n_hidden; l++)
        if (c->hidden[l] == 0 || c->hidden[l] > 65536) {
            data_errorf(err, "hidden layer %zu must have 1..65536 units (got %zu)", l + 1,
                        c->hidden[l]);
            return -1;
        }
    if (!(c->dropout_embed >= 0.0f && c->dropout_embed < 1.0f) ||
        !(c->dropout_hidden >= 0.0f && c->dropout_hidden < 1.0f)) {
        data_errorf(err, "dropout rates must be in [0, 1)");
        return -1;
    }
    return 0;
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
    if (c->kind == MF_BIAS) {
        m->id.user_bias = nn_params_add(&m->params, "user_bias", U, 1, 1);
        m->id.item_bias = nn_params_add(&m->params, "item_bias", I, 1, 1);
    }
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
    if (c->kind >= MF_DEEP)
        for (l = 0; l <= c->n_hidden; l++) { /* a Dense kernel is one unpadded (C, O) row */
            m->id.kernel[l] = nn_params_add(&m->params, kernel_names[l], 1,
                                            layer_in(c, l) * layer_out(c, l), 0);
            m->id.bias[l] = nn_params_add(&m->params, bias_names[l], 1, layer_out(c, l), 0);
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
    x->user_bias = tensor_in(ps, block, id->user_bias, c->kind == MF_BIAS);
    x->item_bias = tensor_in(ps, block, id->item_bias, c->kind == MF_BIAS);
    x->genre_embedding = tensor_in(ps, block, id->genre_embedding, c->kind == MF_DEEP);
    x->user_feature_embedding = tensor_in(ps, block, id->user_feature_embedding,
                                          m->user_features.n_features > 0);
    x->item_feature_embedding = tensor_in(ps, block, id->item_feature_embedding,
                                          m->item_features.n_features > 0);
    x->user_mlp_embedding = tensor_in(ps, block, id->user_mlp_embedding, c->kind == MF_NCF);
    x->item_mlp_embedding = tensor_in(ps, block, id->item_mlp_embedding, c->kind == MF_NCF);
    for (l = 0; l <= c->n_hidden && c->kind >= MF_DEEP; l++) {
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
    EMBEDDING(genre_embedding, m->n_genres);
    EMBEDDING(user_mlp_embedding, m->n_users);
    EMBEDDING(item_mlp_embedding, m->n_items);
    EMBEDDING(user_feature_embedding, m->user_features.n_features);
    EMBEDDING(item_feature_embedding, m->item_features.n_features);
#undef EMBEDDING
    for (t = 0; t < n_emb; t++) nn_init_uniform(emb[t], rows[t], c->dim, m->S, c->init_limit, rng);
    if (!mf_is_deep(m)) return;
    for (l = 0; l <= c->n_hidden; l++) {
        size_t in = layer_in(c, l), out = layer_out(c, l);
        float limit = l == c->n_hidden && c->output_lecun ? nn_lecun_limit(in)
                                                         : nn_glorot_limit(in, out);
        nn_init_uniform(m->w.kernel[l], 1, in * out, ps->t[m->id.kernel[l]].stride, limit, rng);
    }
}

/* The features must describe every row of the model. Every model but ncf
 * takes them (ncf's two sets of embeddings would each need their own). */
static int check_features(const mf_config *cfg, const data_features *f, size_t rows,
                          const char *who, data_error *err) {
    size_t k;
    if (!f || !f->n_features) return 0;
    if (cfg->kind == MF_NCF) {
        data_errorf(err, "%s features work with every model but ncf", who);
        return -1;
    }
    if (f->n_rows != rows) {
        data_errorf(err, "%s features cover %zu rows, the model has %zu", who, f->n_rows, rows);
        return -1;
    }
    for (k = 0; k < f->start[rows]; k++)
        if (f->feature[k] >= f->n_features) {
            data_errorf(err, "%s feature %u is not below %zu", who, f->feature[k], f->n_features);
            return -1;
        }
    return 0;
}

int mf_init(mf_model *m, mf_config cfg, const data_idmap *users,
            const data_idmap *items, const data_ratings *all,
            const mf_side *side, nn_rng *rng, data_error *err) {
    static const mf_side none = {NULL, 0, NULL, NULL};
    const uint32_t *item_genre;
    size_t n_genres;
    data_stats st;
    size_t k;
    memset(m, 0, sizeof *m);
    if (!side) side = &none;
    item_genre = side->item_genre;
    n_genres = side->n_genres;
    if (check_config(&cfg, err) != 0 ||
        check_features(&cfg, side->user_features, users->n, "user", err) != 0 ||
        check_features(&cfg, side->item_features, items->n, "item", err) != 0)
        return -1;
    if ((side->user_features && side->user_features->n_features &&
         features_copy(&m->user_features, side->user_features) != 0) ||
        (side->item_features && side->item_features->n_features &&
         features_copy(&m->item_features, side->item_features) != 0)) {
        data_errorf(err, "out of memory copying the features");
        mf_free(m);
        return -1;
    }
    if (cfg.kind == MF_DEEP) {
        if (!item_genre || n_genres == 0) {
            data_errorf(err, "the deep model needs each movie's genres (a movies file)");
            return -1;
        }
        for (k = 0; k < items->n; k++)
            if (item_genre[k] >= n_genres) {
                data_errorf(err, "genre index %u of item %zu is not below %zu", item_genre[k],
                            k, n_genres);
                return -1;
            }
    }
    m->cfg = cfg;
    m->n_users = users->n;
    m->n_items = items->n;
    m->n_genres = cfg.kind == MF_DEEP ? n_genres : 0;
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
    if (m->item_genre) memcpy(m->item_genre, item_genre, items->n * sizeof *item_genre);
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
    features_free(&m->user_features);
    features_free(&m->item_features);
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

/* ------------------------------------------------------------ workspace */

int mf_work_init(mf_work *w, const mf_model *m, size_t B) {
    const mf_config *c = &m->cfg;
    size_t l, widest = embed_width(c), n = 0;
    memset(w, 0, sizeof *w);
    w->B = B;
    if (!mf_is_deep(m)) { /* dot, bias: the rows' vectors ũ, q̃, kept for backward */
        w->hu = nn_alloc(B * c->dim * sizeof(float));
        w->hi = nn_alloc(B * c->dim * sizeof(float));
        if (!w->hu || !w->hi) {
            mf_work_free(w);
            return -1;
        }
    }
    if (!mf_is_deep(m)) return 0;
    for (l = 0; l <= c->n_hidden; l++)
        if (layer_in(c, l) > widest) widest = layer_in(c, l);
#define WORK(p, count) do { (p) = nn_alloc((count) * sizeof(float)); n += !(p); } while (0)
    WORK(w->embed, B * embed_width(c));
    if (c->kind == MF_NCF) {
        WORK(w->gmf, B * c->dim);
        WORK(w->dgmf, B * c->dim);
        WORK(w->v, B * c->hidden[c->n_hidden - 1]);
    }
    if (multiplies(c->kind)) {
        WORK(w->pu, B * c->dim);
        WORK(w->qi, B * c->dim);
        WORK(w->mask_u, B * c->dim);
        WORK(w->mask_i, B * c->dim);
    }
    for (l = 0; l <= c->n_hidden; l++) {
        WORK(w->x[l], B * layer_in(c, l));
        WORK(w->mask[l], B * layer_in(c, l));
        if (l < c->n_hidden) WORK(w->a[l], B * c->hidden[l]);
    }
    WORK(w->s, B);
    WORK(w->dx, B * widest);
    WORK(w->dy, B * widest);
#undef WORK
    if (n) {
        mf_work_free(w);
        return -1;
    }
    return 0;
}

void mf_work_free(mf_work *w) {
    size_t l;
    nn_free(w->embed);
    nn_free(w->pu);
    nn_free(w->qi);
    nn_free(w->mask_u);
    nn_free(w->mask_i);
    for (l = 0; l <= MF_MAX_HIDDEN; l++) {
        nn_free(w->x[l]);
        nn_free(w->mask[l]);
        if (l < MF_MAX_HIDDEN) nn_free(w->a[l]);
    }
    nn_free(w->s);
    nn_free(w->gmf);
    nn_free(w->dgmf);
    nn_free(w->v);
    nn_free(w->dx);
    nn_free(w->dy);
    nn_free(w->hu);
    nn_free(w->hi);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------ dot and bias
 *
 * Notebook 003's CFModel and notebook 000's model: two Embedding layers
 * and a dot product,
 *     r̂ = ũ·q̃           dot (ũ = p_u, q̃ = q_i without features)
 *     r̂ = μ + ũ·q̃       dot centred on the mean (notebook 000)
 *     r̂ = μ + b_u + b_i + ũ·q̃   bias
 * with, for the bias model, λ(‖ũ‖² + ‖q̃‖² + b_u² + b_i²) per rating in the loss. */

/* r̂ = ũ·q̃ (+ μ, + b_u + b_i)     pred (B); w->hu, w->hi (B, K) keep ũ, q̃ */
static void dot_forward(const mf_model *m, mf_work *w, float *pred, const uint32_t *u,
                        const uint32_t *i, size_t B) {
    size_t K = m->cfg.dim, b;
    for (b = 0; b < B; b++) {
        float *hu = w->hu + b * K, *hi = w->hi + b * K;
        if (w->cold_user) memcpy(hu, w->cold_user, K * sizeof *hu); /* a new user's features */
        else row_vector(m, USER_ROW, u[b], hu);
        row_vector(m, ITEM_ROW, i[b], hi);
        pred[b] = mf_rating_offset(m, u[b], i[b], w->cold_user != NULL) + vec_dot(hu, hi, K);
    }
}

/* ∂L/∂ũ = ∂L/∂r̂ · q̃, ∂L/∂q̃ = ∂L/∂r̂ · ũ, ∂L/∂b_u = ∂L/∂b_i = ∂L/∂r̂, and the
 * L2 term's (2λ/B)·w on every weight the rating used; n ratings of a batch of B */
static void dot_backward(mf_model *m, mf_work *w, const float *dpred, const uint32_t *u,
                         const uint32_t *i, size_t n, size_t B) {
    float *bu = m->w.user_bias, *bi = m->w.item_bias;
    float *dbu = m->dw.user_bias, *dbi = m->dw.item_bias;
    float l2_scale = 2.0f * m->cfg.l2 / (float)B; /* d/dw (λ/B)‖w‖² = (2λ/B) w */
    size_t K = m->cfg.dim, b;
    for (b = 0; b < n; b++) {
        row_vector_backward(m, USER_ROW, u[b], dpred[b], w->hi + b * K);
        row_vector_backward(m, ITEM_ROW, i[b], dpred[b], w->hu + b * K);
    }
    if (m->cfg.kind != MF_BIAS) return;
    for (b = 0; b < n; b++) {
        dbu[u[b]] += dpred[b] + l2_scale * bu[u[b]];
        dbi[i[b]] += dpred[b] + l2_scale * bi[i[b]];
        row_vector_backward(m, USER_ROW, u[b], l2_scale, w->hu + b * K); /* λ‖ũ‖² */
        row_vector_backward(m, ITEM_ROW, i[b], l2_scale, w->hi + b * K);
        nn_params_touch(&m->params, m->id.user_bias, u[b]);
        nn_params_touch(&m->params, m->id.item_bias, i[b]);
    }
}

/* (λ/B) Σ_b (‖ũ‖² + ‖q̃‖² + b_u² + b_i²), from the vectors dot_forward kept */
static double dot_l2_loss(const mf_model *m, const mf_work *w, const uint32_t *u,
                          const uint32_t *i, size_t B) {
    const float *bu = m->w.user_bias, *bi = m->w.item_bias;
    size_t K = m->cfg.dim, b;
    double sum = 0.0;
    for (b = 0; b < B; b++) {
        const float *hu = w->hu + b * K, *hi = w->hi + b * K;
        sum += vec_dot(hu, hu, K) + vec_dot(hi, hi, K) + bu[u[b]] * bu[u[b]] +
               bi[i[b]] * bi[i[b]];
    }
    return m->cfg.l2 * sum / (double)B;
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
    const float *E = s == USER_ROW ? m->w.user_mlp_embedding : m->w.item_mlp_embedding;
    if (p == MAIN_PAIR) row_vector(m, s, row, dst);
    else memcpy(dst, E + row * m->S, m->cfg.dim * sizeof *dst);
}

/* the backward of pair_row: ∂L/∂(row) += g, marking what it reached */
static void pair_row_backward(mf_model *m, embedding_pair p, row_side s, uint32_t row,
                              const float *g) {
    float *dE = s == USER_ROW ? m->dw.user_mlp_embedding : m->dw.item_mlp_embedding;
    if (p == MAIN_PAIR) {
        row_vector_backward(m, s, row, 1.0f, g);
        return;
    }
    vec_axpy(dE + row * m->S, 1.0f, g, m->cfg.dim);
    nn_params_touch(&m->params, s == USER_ROW ? m->id.user_mlp_embedding
                                              : m->id.item_mlp_embedding, row);
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
        size_t in = layer_in(c, l), out = layer_out(c, l);
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
    nn_dense_forward(w->s, w->x[L], m->w.kernel[L], m->w.bias[L], B, layer_in(c, L), 1);
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
        size_t in = layer_in(c, l), out = layer_out(c, l);
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
    if (dx != w->dx) memcpy(w->dx, dx, B * layer_in(c, 0) * sizeof *dx);
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
        if (dG) {
            uint32_t g = m->item_genre[i[b]];
            vec_axpy(dG + g * S, 1.0f, de + b * E + 2 * K, K);
            nn_params_touch(&m->params, m->id.genre_embedding, g);
        }
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
    if (mf_is_deep(m)) network_backward(m, w, dpred, u, i, n);
    else dot_backward(m, w, dpred, u, i, n, B);
}

double mf_l2_loss(const mf_model *m, const mf_work *w, const uint32_t *u, const uint32_t *i,
                  size_t B) {
    if (m->cfg.kind != MF_BIAS || m->cfg.l2 == 0.0f || B == 0) return 0.0;
    return dot_l2_loss(m, w, u, i, B);
}

/* a row the model can describe: it had training ratings, or features stand in for them */
static int row_known(const mf_model *m, row_side s, uint32_t row) {
    side_tables st = side(m, s);
    return st.count[row] > 0 || n_row_features(st.f, row) > 0;
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

/* ------------------------------------------------------------ summary */

/* 2376075 -> "2,376,075" */
static const char *with_commas(char *buf, size_t n) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), k, o = 0;
    for (k = 0; k < len; k++) {
        if (k > 0 && (len - k) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[k];
    }
    buf[o] = '\0';
    return buf;
}

static void summary_row(FILE *out, const char *name, const char *type, size_t width,
                        size_t params, size_t *total) {
    char layer[64], shape[32], count[32];
    snprintf(layer, sizeof layer, "%s (%s)", name, type);
    snprintf(shape, sizeof shape, "(None, %zu)", width);
    fprintf(out, "%-32s%-21s%s\n", layer, shape, with_commas(count, params));
    fprintf(out, "%s\n", "_________________________________________________________________");
    *total += params;
}

size_t mf_summary(FILE *out, const mf_config *c, size_t n_users, size_t n_items,
                  size_t n_genres) {
    size_t total = 0, K = c->dim, l;
    char name[32], count[32];
    fprintf(out, "Model: \"%s\"\n", mf_kind_name(c->kind));
    fprintf(out, "_________________________________________________________________\n");
    fprintf(out, "%-32s%-21s%s\n", "Layer (type)", "Output Shape", "Param #");
    fprintf(out, "=================================================================\n");
    summary_row(out, "user_embedding", "Embedding", K, n_users * K, &total);
    summary_row(out, "item_embedding", "Embedding", K, n_items * K, &total);
    if (c->kind == MF_DOT || c->kind == MF_BIAS) {
        summary_row(out, "dot", "Dot", 1, 0, &total);
        if (c->kind == MF_BIAS) {
            summary_row(out, "user_bias", "Embedding", 1, n_users, &total);
            summary_row(out, "item_bias", "Embedding", 1, n_items, &total);
            summary_row(out, "add_mean_and_biases", "Add", 1, 0, &total);
        } else if (c->centre) {
            summary_row(out, "add_mean", "Lambda", 1, 0, &total);
        }
    } else {
        if (c->kind == MF_DEEP)
            summary_row(out, "genre_embedding", "Embedding", K, n_genres * K, &total);
        if (c->kind == MF_NCF) {
            summary_row(out, "user_mlp_embedding", "Embedding", K, n_users * K, &total);
            summary_row(out, "item_mlp_embedding", "Embedding", K, n_items * K, &total);
            summary_row(out, "gmf", "Multiply", K, 0, &total);
        }
        if (concatenates(c->kind)) {
            summary_row(out, "concatenate", "Concatenate", embed_width(c), 0, &total);
            summary_row(out, "dropout_1", "Dropout", embed_width(c), 0, &total);
        } else {
            summary_row(out, "user_dropout", "Dropout", K, 0, &total);
            summary_row(out, "item_dropout", "Dropout", K, 0, &total);
            summary_row(out, "multiply", "Multiply", K, 0, &total);
        }
        for (l = 0; l <= c->n_hidden; l++) {
            size_t in = layer_in(c, l), o = layer_out(c, l);
            nn_activation act = l < c->n_hidden ? c->hidden_act : NN_SIGMOID;
            if (c->kind == MF_NCF && l == c->n_hidden)
                summary_row(out, "fuse_gmf_mlp", "Concatenate", in, 0, &total);
            snprintf(name, sizeof name, "dense_%zu", l + 1);
            summary_row(out, name, "Dense", o, in * o + o, &total); /* kernel + bias */
            if (act != NN_LINEAR) {
                snprintf(name, sizeof name, "%s_%zu", nn_activation_name(act), l + 1);
                summary_row(out, name, "Activation", o, 0, &total);
            }
            if (l < c->n_hidden) {
                snprintf(name, sizeof name, "dropout_%zu", l + 2);
                summary_row(out, name, "Dropout", o, 0, &total);
            }
        }
        if (!c->implicit) summary_row(out, "scale_to_ratings", "Lambda", 1, 0, &total);
    }
    fprintf(out, "Total params: %s\n", with_commas(count, total));
    fprintf(out, "Trainable params: %s\n", with_commas(count, total));
    fprintf(out, "Non-trainable params: 0\n");
    fprintf(out, "_________________________________________________________________\n");
    return total;
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
    int failed;
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
        nn_flag_raise(&et->failed);
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

mf_metrics mf_evaluate_threads(const mf_model *m, const data_ratings *r, int fallback,
                               size_t threads) {
    mf_metrics out;
    eval_task et;
    double se = 0.0, ae = 0.0;
    size_t c;
    memset(&out, 0, sizeof out);
    et.m = m;
    et.r = r;
    et.fallback = fallback;
    et.n_chunks = (r->n + EVAL_CHUNK - 1) / EVAL_CHUNK;
    et.chunk = malloc((et.n_chunks ? et.n_chunks : 1) * sizeof *et.chunk);
    et.failed = 0;
    if (et.chunk) nn_parallel(threads < et.n_chunks ? threads : et.n_chunks, eval_chunks, &et);
    if (!et.chunk || et.failed) {
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
    out.n = r->n;
    if (r->n) {
        out.mse = se / (double)r->n;
        out.rmse = sqrt(out.mse);
        out.mae = ae / (double)r->n;
    }
    return out;
}

mf_metrics mf_evaluate(const mf_model *m, const data_ratings *r, int fallback) {
    return mf_evaluate_threads(m, r, fallback, 1);
}

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
    out.n = r->n;
    if (r->n) {
        out.mse = se / (double)r->n;
        out.rmse = sqrt(out.mse);
        out.mae = ae / (double)r->n;
    }
    return out;
}

/* ------------------------------------------------------------ ranking */

#define SCORE_CHUNK 256

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

/* keep the n best of what is offered in out[0..*filled), a min-heap once full */
static void offer(mf_scored *out, size_t n, size_t *filled, mf_scored s) {
    size_t k;
    if (*filled < n) {
        out[(*filled)++] = s;
        if (*filled == n) /* heapify once full */
            for (k = n / 2; k-- > 0;) heap_sift_down(out, n, k);
    } else if (s.score > out[0].score) {
        out[0] = s;
        heap_sift_down(out, n, 0);
    }
}

/* scores[k] for the items[k] of user u */
typedef void (*item_scorer)(const void *ctx, mf_work *w, uint32_t u, const uint32_t *items,
                            size_t n, float *scores);

static void model_scores(const void *ctx, mf_work *w, uint32_t u, const uint32_t *items,
                         size_t n, float *scores) {
    const mf_model *m = ctx;
    uint32_t users[SCORE_CHUNK];
    size_t start, k;
    for (k = 0; k < SCORE_CHUNK; k++) users[k] = u;
    for (start = 0; start < n; start += SCORE_CHUNK) {
        size_t nb = n - start < SCORE_CHUNK ? n - start : SCORE_CHUNK;
        mf_forward(m, w, scores + start, users, items + start, nb, NULL);
    }
}

static void popularity_scores(const void *ctx, mf_work *w, uint32_t u, const uint32_t *items,
                              size_t n, float *scores) {
    const uint32_t *count = ctx;
    size_t k;
    (void)w;
    (void)u;
    for (k = 0; k < n; k++) scores[k] = (float)count[items[k]];
}

/* what a ranking pass needs besides the scorer, allocated once */
typedef struct {
    data_user_items train, test;
    uint32_t *all;      /* (I) 0..I-1: every item, for scoring */
    float *score;       /* (I) the current user's score of every item */
    uint32_t *neg;      /* (n_neg) sampled negatives */
    mf_scored *top;     /* (K) the current user's top K */
} rank_state;

static void rank_state_free(rank_state *s) {
    data_user_items_free(&s->train);
    data_user_items_free(&s->test);
    free(s->all);
    free(s->score);
    free(s->neg);
    free(s->top);
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

/* ranks and NDCG discount: HR@K counts rank < K, NDCG@K adds 1/log2(rank + 2) */
static void add_rank(size_t rank, size_t K, double *hr, double *ndcg) {
    if (rank >= K) return;
    *hr += 1.0;
    *ndcg += 1.0 / log2((double)rank + 2.0);
}

static int rank_with(item_scorer f, const void *ctx, const mf_model *m, size_t n_users,
                     size_t n_items, const data_ratings *train, const data_ratings *test,
                     size_t K, size_t n_neg, uint64_t seed, mf_ranking *out, data_error *err) {
    rank_state s;
    mf_work w;
    nn_rng rng;
    size_t k;
    uint32_t u;
    memset(out, 0, sizeof *out);
    memset(&s, 0, sizeof s);
    memset(&w, 0, sizeof w);
    out->k = K;
    if (K == 0) {
        data_errorf(err, "the ranking cut-off K must be at least 1");
        return -1;
    }
    s.all = malloc((n_items ? n_items : 1) * sizeof *s.all);
    s.score = malloc((n_items ? n_items : 1) * sizeof *s.score);
    s.neg = malloc((n_neg ? n_neg : 1) * sizeof *s.neg);
    s.top = malloc(K * sizeof *s.top);
    if (!s.all || !s.score || !s.neg || !s.top ||
        data_user_items_build(&s.train, train, n_users) != 0 ||
        data_user_items_build(&s.test, test, n_users) != 0 ||
        (m && mf_work_init(&w, m, SCORE_CHUNK) != 0)) {
        data_errorf(err, "out of memory for the ranking evaluation (or a row outside the model)");
        rank_state_free(&s);
        mf_work_free(&w);
        return -1;
    }
    for (k = 0; k < n_items; k++) s.all[k] = (uint32_t)k;
    nn_rng_seed(&rng, seed);
    for (u = 0; u < n_users; u++) {
        const uint32_t *t = s.test.item + s.test.start[u];
        size_t nt = s.test.start[u + 1] - s.test.start[u], hits = 0, filled = 0, j;
        if (nt == 0) continue;
        f(ctx, &w, u, s.all, n_items, s.score);
        for (k = 0; k < nt; k++) { /* each held-out item against the negatives */
            float st = s.score[t[k]];
            size_t nn = sample_negatives(&s, u, n_items, n_neg, &rng), rank = 0;
            for (j = 0; j < nn; j++) rank += s.score[s.neg[j]] >= st;
            add_rank(rank, K, &out->hr, &out->ndcg);
            rank = 0; /* ... and against every item the user has not seen */
            for (j = 0; j < n_items; j++) rank += s.score[j] >= st && !seen(&s, u, (uint32_t)j);
            add_rank(rank, K, &out->hr_all, &out->ndcg_all);
        }
        for (j = 0; j < n_items; j++) { /* top K of the items not in train: P@K, R@K */
            mf_scored c;
            if (data_user_items_has(&s.train, u, (uint32_t)j)) continue;
            c.item = (uint32_t)j;
            c.score = s.score[j];
            offer(s.top, K, &filled, c);
        }
        for (j = 0; j < filled; j++) hits += data_user_items_has(&s.test, u, s.top[j].item);
        out->precision += (double)hits / (double)K;
        out->recall += (double)hits / (double)nt;
        out->rows += nt;
        out->users++;
    }
    if (out->rows) {
        out->hr /= (double)out->rows;
        out->ndcg /= (double)out->rows;
        out->hr_all /= (double)out->rows;
        out->ndcg_all /= (double)out->rows;
        out->precision /= (double)out->users;
        out->recall /= (double)out->users;
    }
    rank_state_free(&s);
    mf_work_free(&w);
    return 0;
}

int mf_rank_evaluate(const mf_model *m, const data_ratings *train, const data_ratings *test,
                     size_t k, size_t n_neg, uint64_t seed, mf_ranking *out, data_error *err) {
    return rank_with(model_scores, m, m, m->n_users, m->n_items, train, test, k, n_neg, seed,
                     out, err);
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
    rc = rank_with(popularity_scores, count, NULL, n_users, n_items, train, test, k, n_neg,
                   seed, out, err);
    free(count);
    return rc;
}

/* ------------------------------------------------------------ training */

mf_fit mf_fit_defaults(void) {
    mf_fit f = {
        .opt = nn_optimizer_defaults(NN_ADAMAX),
        .batch = 32,       /* Keras fit() default batch_size */
        .epochs = 30,
        .seed = 1,
        .negatives = 4,    /* NCF's choice */
        .rank_k = 10,
    };
    return f;
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

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Keras's progress bar: `  4096/90000 [=>............................] - ETA: 3s - loss: 0.9123` */
static void progress_bar(FILE *log, size_t done, size_t total, double elapsed,
                         double loss) {
    char bar[31];
    size_t width = 30, filled = total ? done * width / total : width, k;
    for (k = 0; k < width; k++)
        bar[k] = k < filled ? '=' : '.';
    if (filled > 0 && filled < width) bar[filled - 1] = '>';
    bar[width] = '\0';
    fprintf(log, "\r%*zu/%zu [%s]", (int)snprintf(NULL, 0, "%zu", total), done,
            total, bar);
    if (done < total)
        fprintf(log, " - ETA: %.0fs - loss: %.4f", done ? elapsed * (double)(total - done) / (double)done : 0.0, loss);
    fflush(log);
}

static void log_epoch_end(FILE *log, size_t n, const mf_epoch *e, int has_val, size_t K,
                          int bar) {
    if (bar) {
        progress_bar(log, n, n, e->seconds, e->loss);
        fprintf(log, " - %.0fs %.0fus/step", e->seconds, /* Keras: per sample */
                n ? 1e6 * e->seconds / (double)n : 0.0);
    } else {
        fprintf(log, " - %.0fs", e->seconds);
    }
    fprintf(log, " - loss: %.4f", e->loss);
    if (has_val && !isnan(e->hr))
        fprintf(log, " - hr@%zu: %.4f - ndcg@%zu: %.4f", K, e->hr, K, e->ndcg);
    else if (has_val)
        fprintf(log, " - val_loss: %.4f - val_rmse: %.4f - val_mae: %.4f",
                e->val_loss, sqrt(e->val_loss), e->val_mae);
    fprintf(log, "\n");
    fflush(log);
}

/* LIBMF's schedule for per-rating SGD (--blocks G). Users and movies are
 * dealt at random into G groups each, which cuts the ratings into a G × G
 * grid of blocks; the packed ratings are sorted by block once and shuffled
 * within their block. An epoch visits every block once, in a fresh random
 * order, reading each block's ratings in sequence: a block touches about
 * U/G user rows and I/G movie rows, which stay in cache while it runs,
 * where a shuffled stream reads ratings and rows all over memory. On T
 * threads each thread takes a block whose user group and movie group no
 * running block holds (mf_block_queue: per user group, its blocks in the
 * epoch's order, the groups served in turn), so no two threads ever write
 * one row (no lost updates, unlike Hogwild); which thread runs which block
 * when depends on timing, so runs on T > 1 threads are not reproducible.
 * G may not exceed the number of users or of movies: a group would be
 * empty. */
typedef struct {
    size_t G;
    size_t *start;    /* (G² + 1) block b = g_u·G + g_i is packed[start[b] .. start[b+1]) */
    uint32_t *order;  /* (G²) this epoch's order of the blocks */
} sgd_grid;

static void sgd_grid_free(sgd_grid *g) {
    free(g->start);
    free(g->order);
    memset(g, 0, sizeof *g);
}

/* Scratch space for one batch, allocated once per training run. */
typedef struct {
    uint32_t *perm;    /* (N) this epoch's order of the training samples */
    uint32_t *su, *si; /* (N) implicit: the epoch's samples, positives and negatives */
    float *sy;         /* (N) their labels, 1 or 0 */
    data_user_items seen; /* implicit: each user's training items, never sampled as negatives */
    uint32_t *u, *i;   /* (B) */
    float *y;          /* (B) target ratings */
    float *pred;       /* (B) */
    float *dpred;      /* (B) */
    float *best_w;     /* (params.n) weights of the best epoch, or NULL */
    float *best_m, *best_v; /* (params.n) the optimiser's moments then (Adam, AdaMax) */
    uint64_t best_t;   /* and its step count */
    struct sgd_sample_s *packed; /* (N) per-rating SGD: the samples packed, or NULL */
    sgd_grid grid;     /* per-rating SGD with --blocks: LIBMF's blocks of packed */
    mf_work work;      /* the deep models' activations for one batch */
} train_buffers;

static void buffers_free(train_buffers *tb) {
    nn_free(tb->perm);
    free(tb->su);
    free(tb->si);
    free(tb->sy);
    data_user_items_free(&tb->seen);
    free(tb->u);
    free(tb->i);
    free(tb->y);
    free(tb->pred);
    free(tb->dpred);
    nn_free(tb->best_w);
    nn_free(tb->best_m);
    nn_free(tb->best_v);
    nn_free(tb->packed);
    sgd_grid_free(&tb->grid);
    mf_work_free(&tb->work);
    memset(tb, 0, sizeof *tb); /* a second call frees nothing twice */
}

/* N: samples per epoch; train: the positives of an implicit model, else NULL */
static int buffers_alloc(train_buffers *tb, const mf_model *m, size_t N, size_t B,
                         int keep_best, nn_optimizer_kind opt_kind,
                         const data_ratings *positives) {
    size_t n_params = m->params.n;
    memset(tb, 0, sizeof *tb);
    if (mf_work_init(&tb->work, m, B) != 0) return -1;
    if (positives) {
        tb->su = malloc((N ? N : 1) * sizeof *tb->su);
        tb->si = malloc((N ? N : 1) * sizeof *tb->si);
        tb->sy = malloc((N ? N : 1) * sizeof *tb->sy);
        if (!tb->su || !tb->si || !tb->sy ||
            data_user_items_build(&tb->seen, positives, m->n_users) != 0) {
            buffers_free(tb);
            return -1;
        }
    }
    tb->perm = nn_alloc((N ? N : 1) * sizeof *tb->perm);
    tb->u = malloc(B * sizeof *tb->u);
    tb->i = malloc(B * sizeof *tb->i);
    tb->y = malloc(B * sizeof *tb->y);
    tb->pred = malloc(B * sizeof *tb->pred);
    tb->dpred = malloc(B * sizeof *tb->dpred);
    if (keep_best) tb->best_w = nn_alloc(n_params * sizeof(float));
    if (keep_best && opt_kind != NN_SGD) {
        tb->best_m = nn_alloc(n_params * sizeof(float));
        tb->best_v = nn_alloc(n_params * sizeof(float));
        if (!tb->best_m || !tb->best_v) {
            buffers_free(tb);
            return -1;
        }
    }
    if (!tb->perm || !tb->u || !tb->i || !tb->y || !tb->pred || !tb->dpred ||
        (keep_best && !tb->best_w)) {
        buffers_free(tb);
        return -1;
    }
    return 0;
}

/* A loss and its gradient with respect to the predictions. */
typedef struct {
    double (*forward)(const float *pred, const float *y, size_t B);
    void (*backward)(float *dpred, const float *pred, const float *y, size_t B);
} loss_fn;

static const loss_fn mse_loss = {nn_mse_forward, nn_mse_backward};
static const loss_fn bce_loss = {nn_bce_logits_forward, nn_bce_logits_backward};

/* The samples of one epoch: explicit ratings as they are; implicit feedback
 * as every training pair labelled 1 and, for each, `neg` items the user has
 * not interacted with, drawn afresh, labelled 0. */
typedef struct {
    const uint32_t *user, *item;
    const float *target;
    size_t n;
} samples;

/* The samples of perm[from .. to), asked for ahead of their batch: the
 * epoch's order reads the three arrays at random. */
static void prefetch_samples(samples sm, const uint32_t *perm, size_t from, size_t to) {
#if defined(__GNUC__)
    size_t k;
    if (to > sm.n) to = sm.n;
    for (k = from; k < to; k++) {
        __builtin_prefetch(sm.user + perm[k], 0, 3);
        __builtin_prefetch(sm.item + perm[k], 0, 3);
        __builtin_prefetch(sm.target + perm[k], 0, 3);
    }
#else
    (void)sm;
    (void)perm;
    (void)from;
    (void)to;
#endif
}

/* batch = samples perm[start .. start + nb), as columns u, i, y (nb) */
static void gather_batch(samples sm, const uint32_t *perm, size_t start, size_t nb, uint32_t *u,
                         uint32_t *i, float *y) {
    size_t b;
    for (b = 0; b < nb; b++) {
        uint32_t row = perm[start + b];
        u[b] = sm.user[row];
        i[b] = sm.item[row];
        y[b] = sm.target[row];
    }
}

static samples explicit_samples(const data_ratings *train) {
    samples s;
    s.user = train->user;
    s.item = train->item;
    s.target = train->rating;
    s.n = train->n;
    return s;
}

static samples sample_epoch(train_buffers *tb, const data_ratings *train, size_t neg,
                            size_t n_items, nn_rng *rng) {
    samples s;
    size_t k, j, n = 0;
    for (k = 0; k < train->n; k++) {
        uint32_t u = train->user[k];
        size_t rated = tb->seen.start[u + 1] - tb->seen.start[u];
        tb->su[n] = u;
        tb->si[n] = train->item[k];
        tb->sy[n++] = 1.0f;
        for (j = 0; j < neg && rated < n_items; j++) { /* rejection: a few draws at most */
            uint32_t i;
            do i = (uint32_t)nn_rng_below(rng, n_items);
            while (data_user_items_has(&tb->seen, u, i));
            tb->su[n] = u;
            tb->si[n] = i;
            tb->sy[n++] = 0.0f;
        }
    }
    s.user = tb->su;
    s.item = tb->si;
    s.target = tb->sy;
    s.n = n;
    return s;
}

/* Mark every embedding row that the forward pass of this batch reads: each
 * side's id row (when it takes part) and feature rows, the bias model's b_u
 * and b_i, deep's genre row, ncf's MLP rows. Deferred dense updates bring them up to date first. */
static void mark_rows(mf_model *m, const uint32_t *u, const uint32_t *i, size_t B) {
    nn_params *ps = &m->params;
    size_t b, k;
    row_side sd;
    for (b = 0; b < B; b++) {
        for (sd = USER_ROW; sd <= ITEM_ROW; sd++) {
            side_tables st = side(m, sd);
            uint32_t row = sd == USER_ROW ? u[b] : i[b];
            size_t nf = n_row_features(st.f, row);
            if (uses_id(&st, row)) nn_params_touch(ps, st.id_E, row);
            for (k = 0; k < nf; k++) nn_params_touch(ps, st.id_F, st.f->feature[st.f->start[row] + k]);
        }
        if (m->cfg.kind == MF_BIAS) {
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

/* Plain SGD matrix factorisation, one rating at a time: the loop of Funk's
 * SVD and LIBMF, for the dot and bias models with batch 1 and SGD. It is
 * the batched path's arithmetic for B = 1, in the same order, without its
 * bookkeeping (test mf/sgd_fast_path_exact checks they agree bit for bit):
 *   e = r̂ − r,  g_p = 2e·q + 2λp,  g_q = 2e·p + 2λq  (both from the old p, q)
 *   p ← p − lr·g_p,  q ← q − lr·g_q,  b ← b − lr·(2e + 2λb) */
static int sgd_fast_path(const mf_model *m, const mf_train_config *cfg) {
    return (m->cfg.kind == MF_DOT || m->cfg.kind == MF_BIAS) && !m->cfg.implicit &&
           !mf_is_hybrid(m) && cfg->fit.opt.kind == NN_SGD && cfg->fit.batch == 1;
}

/* Why an epoch ended before its last batch, and at which batch (from 1). */
enum { HALT_NONE, HALT_STOP, HALT_NONFINITE };
typedef struct {
    int why;
    size_t batch, batches;
} epoch_halt;

#define SGD_PREFETCH 6   /* ratings ahead whose rows are fetched into cache */
#define SGD_CHUNK 1024   /* ratings gathered at a time in the epoch's order */
#define MF_MAX_THREADS 256

/* one training rating, packed so that fetching it in a random order costs
 * one cache line, not three */
typedef struct sgd_sample_s { uint32_t u, i; float y; } sgd_sample;

/* The ratings perm[lo .. hi) of an epoch (packed[lo .. hi) when perm is
 * NULL), one at a time; returns the sum of their losses. */
static double sgd_range(mf_model *m, const sgd_sample *packed, const uint32_t *perm, size_t lo,
                        size_t hi, const nn_optimizer_config *opt,
                        const volatile sig_atomic_t *stop) {
    float *P = m->w.user_embedding, *Q = m->w.item_embedding;
    float *bu = m->w.user_bias, *bi = m->w.item_bias;
    size_t S = m->S, K = m->cfg.dim;
    float lr = opt->lr, l2 = bu ? 2.0f * m->cfg.l2 : 0.0f; /* (2λ/B)·w with B = 1 */
    const vec_dot_fn dot = vec_dot_kernel(); /* the kernels themselves: a few ns a call */
    const nn_sgd_mf_step_fn step = nn_sgd_mf_step_kernel();
    double loss = 0.0;
    uint32_t cu[SGD_CHUNK], ci[SGD_CHUNK];
    float cy[SGD_CHUNK];
    size_t start, k;
    for (start = lo; start < hi && !(stop && *stop); start += SGD_CHUNK) {
        size_t nc = hi - start < SGD_CHUNK ? hi - start : SGD_CHUNK;
        for (k = 0; k < nc; k++) { /* gather a chunk: independent loads, not a chain of misses */
            const sgd_sample *r = perm ? &packed[perm[start + k]] : &packed[start + k];
            cu[k] = r->u;
            ci[k] = r->i;
            cy[k] = r->y;
        }
        for (k = 0; k < nc; k++) {
            uint32_t u = cu[k], i = ci[k];
            float *p = P + u * S, *q = Q + i * S, pred, e, y = cy[k];
            double d;
            if (k + SGD_PREFETCH < nc) {
                nn_prefetch(P + cu[k + SGD_PREFETCH] * S, K);
                nn_prefetch(Q + ci[k + SGD_PREFETCH] * S, K);
            }
            pred = mf_rating_offset(m, u, i, 0) + dot(p, q, K);
            d = (double)pred - (double)y;
            loss += d * d;
            e = 2.0f * (pred - y) / 1.0f; /* ∂L/∂r̂ */
            if (bu) {
                float gbu = e + l2 * bu[u], gbi = e + l2 * bi[i];
                if (m->cfg.l2 != 0.0f) /* λ(‖p‖² + ‖q‖² + b_u² + b_i²), as mf_l2_loss sums it */
                    loss += (double)m->cfg.l2 * (double)(dot(p, p, K) + dot(q, q, K) +
                                                         bu[u] * bu[u] + bi[i] * bi[i]);
                bu[u] -= lr * gbu; /* nn_sgd_update for one weight */
                bi[i] -= lr * gbi;
            }
            step(p, q, K, e, l2, lr); /* nn_sgd_mf_step: p −= lr(e·q + l2·p), q −= lr(e·p + l2·q) */
        }
    }
    return loss;
}

typedef struct {
    mf_model *m;
    const sgd_sample *packed;
    const uint32_t *perm;
    size_t lo, hi;
    const nn_optimizer_config *opt;
    const volatile sig_atomic_t *stop;
    double loss;
} sgd_slice;

static void *sgd_thread(void *arg) {
    sgd_slice *s = arg;
    s->loss = sgd_range(s->m, s->packed, s->perm, s->lo, s->hi, s->opt, s->stop);
    return NULL;
}

/* One epoch of per-rating SGD. With T > 1 threads, thread t takes the t-th
 * contiguous slice of the epoch's order and all update the shared tables
 * without locks (Hogwild: two threads rarely touch one row at once, and a
 * lost update there is noise SGD absorbs); the result then depends on the
 * timing. A thread that cannot start leaves its slice to this one. */
static double sgd_epoch(mf_model *m, const sgd_sample *packed, size_t n,
                        const nn_optimizer_config *opt, const uint32_t *perm, size_t T,
                        const volatile sig_atomic_t *stop, epoch_halt *halt) {
    sgd_slice slice[MF_MAX_THREADS];
    pthread_t tid[MF_MAX_THREADS];
    int started[MF_MAX_THREADS];
    double loss = 0.0;
    size_t t;
    if (T < 1) T = 1;
    if (T > MF_MAX_THREADS) T = MF_MAX_THREADS;
    if (T > n / SGD_CHUNK + 1) T = n / SGD_CHUNK + 1; /* a slice of at least a chunk */
    for (t = 0; t < T; t++) {
        slice[t].m = m;
        slice[t].packed = packed;
        slice[t].perm = perm;
        slice[t].lo = n * t / T;
        slice[t].hi = n * (t + 1) / T;
        slice[t].opt = opt;
        slice[t].stop = stop;
        slice[t].loss = 0.0;
        started[t] = t > 0 && pthread_create(&tid[t], NULL, sgd_thread, &slice[t]) == 0;
    }
    for (t = T; t-- > 0;)
        if (!started[t]) sgd_thread(&slice[t]);
    for (t = 1; t < T; t++)
        if (started[t]) pthread_join(tid[t], NULL);
    for (t = 0; t < T; t++) loss += slice[t].loss;
    if (stop && *stop) halt->why = HALT_STOP;
    else if (!isfinite(loss)) halt->why = HALT_NONFINITE;
    halt->batch = 0; /* per-rating: not counted */
    return n ? loss / (double)n : 0.0;
}

/* the rows 0..n−1 dealt into G groups of (nearly) equal size, at random */
static uint32_t *deal_groups(size_t n, size_t G, nn_rng *rng) {
    uint32_t *perm = malloc((n ? n : 1) * sizeof *perm), *group = malloc((n ? n : 1) * sizeof *group);
    size_t k;
    if (!perm || !group) {
        free(perm);
        free(group);
        return NULL;
    }
    for (k = 0; k < n; k++) perm[k] = (uint32_t)k;
    nn_rng_shuffle_u32(rng, perm, n);
    for (k = 0; k < n; k++) group[perm[k]] = (uint32_t)(k * G / n);
    free(perm);
    return group;
}

/* Pack the training ratings into packed (n) block by block, each block
 * shuffled; 0 or -1 (no memory). */
static int sgd_grid_build(sgd_grid *g, sgd_sample *packed, const data_ratings *train, size_t U,
                          size_t I, size_t G, nn_rng *rng) {
    uint32_t *gu = deal_groups(U, G, rng), *gi = deal_groups(I, G, rng);
    size_t *fill = calloc(G * G + 1, sizeof *fill), n = train->n, k, b;
    memset(g, 0, sizeof *g);
    g->G = G;
    g->start = calloc(G * G + 1, sizeof *g->start);
    g->order = malloc(G * G * sizeof *g->order);
    if (!gu || !gi || !fill || !g->start || !g->order) {
        free(gu);
        free(gi);
        free(fill);
        sgd_grid_free(g);
        return -1;
    }
    for (k = 0; k < n; k++) g->start[gu[train->user[k]] * G + gi[train->item[k]] + 1]++; /* counts */
    for (b = 0; b < G * G; b++) g->start[b + 1] += g->start[b];                        /* offsets */
    memcpy(fill, g->start, (G * G + 1) * sizeof *fill);
    for (k = 0; k < n; k++) {
        sgd_sample *r = &packed[fill[gu[train->user[k]] * G + gi[train->item[k]]]++];
        r->u = train->user[k];
        r->i = train->item[k];
        r->y = train->rating[k];
    }
    for (b = 0; b < G * G; b++) { /* Fisher–Yates within the block */
        sgd_sample *blk = packed + g->start[b];
        size_t len = g->start[b + 1] - g->start[b], j;
        for (k = len; k > 1; k--) {
            sgd_sample tmp = blk[k - 1];
            j = (size_t)nn_rng_below(rng, k);
            blk[k - 1] = blk[j];
            blk[j] = tmp;
        }
    }
    for (b = 0; b < G * G; b++) g->order[b] = (uint32_t)b;
    free(gu);
    free(gi);
    free(fill);
    return 0;
}

void mf_block_queue_free(mf_block_queue *q) {
    free(q->next);
    free(q->head);
    free(q->rows);
    free(q->row_busy);
    free(q->col_busy);
    memset(q, 0, sizeof *q);
}

int mf_block_queue_init(mf_block_queue *q, size_t G, const uint32_t *order) {
    size_t k;
    memset(q, 0, sizeof *q);
    q->G = G;
    q->left = G * G;
    q->next = malloc((G ? G * G : 1) * sizeof *q->next);
    q->head = malloc((G ? G : 1) * sizeof *q->head);
    q->rows = malloc((G ? G : 1) * sizeof *q->rows);
    q->row_busy = calloc(G ? G : 1, 1);
    q->col_busy = calloc(G ? G : 1, 1);
    if (!q->next || !q->head || !q->rows || !q->row_busy || !q->col_busy) {
        mf_block_queue_free(q);
        return -1;
    }
    for (k = 0; k < G; k++) q->head[k] = MF_BLOCK_NONE;
    for (k = G * G; k-- > 0;) { /* each row's blocks, linked in the epoch's order */
        uint32_t b = order[k];
        q->next[b] = q->head[b / G];
        q->head[b / G] = b;
    }
    for (k = 0; k < G * G; k++) /* the rows, in the order of their first block */
        if (q->head[order[k] / G] == order[k]) q->rows[q->n_rows++] = order[k] / G;
    return 0;
}

/* Row r's first pending block in a free column, unlinked; or MF_BLOCK_NONE. */
static uint32_t row_take(mf_block_queue *q, uint32_t r) {
    uint32_t *link = &q->head[r], b;
    for (b = *link; b != MF_BLOCK_NONE; link = &q->next[b], b = *link)
        if (!q->col_busy[b % q->G]) {
            *link = q->next[b];
            return b;
        }
    return MF_BLOCK_NONE;
}

uint32_t mf_block_queue_take(mf_block_queue *q) {
    size_t k;
    for (k = 0; k < q->n_rows; k++) {
        size_t at = (q->turn + k) % q->n_rows;
        uint32_t r = q->rows[at], b;
        if (q->row_busy[r] || (b = row_take(q, r)) == MF_BLOCK_NONE) continue;
        q->row_busy[r] = q->col_busy[b % q->G] = 1;
        q->left--;
        q->turn = at + 1;
        if (q->head[r] == MF_BLOCK_NONE) { /* the row is done: the last row takes its place */
            q->rows[at] = q->rows[--q->n_rows];
            q->turn = at;
        }
        return b;
    }
    return MF_BLOCK_NONE;
}

void mf_block_queue_done(mf_block_queue *q, uint32_t b) {
    q->row_busy[b / q->G] = q->col_busy[b % q->G] = 0;
}

/* One epoch's hand-out of blocks to threads, through the queue. */
typedef struct {
    mf_model *m;
    const sgd_sample *packed;
    const sgd_grid *g;
    const nn_optimizer_config *opt;
    const volatile sig_atomic_t *stop;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    mf_block_queue q;
    double loss[NN_MAX_THREADS];
} grid_epoch;

static void grid_share(void *ctx, size_t t, size_t T) {
    grid_epoch *ge = ctx;
    uint32_t b;
    (void)T;
    ge->loss[t] = 0.0;
    pthread_mutex_lock(&ge->mu);
    while (ge->q.left > 0 && !(ge->stop && *ge->stop)) {
        if ((b = mf_block_queue_take(&ge->q)) == MF_BLOCK_NONE) { /* all held: wait for one */
            pthread_cond_wait(&ge->freed, &ge->mu);
            continue;
        }
        pthread_mutex_unlock(&ge->mu);
        ge->loss[t] += sgd_range(ge->m, ge->packed, NULL, ge->g->start[b], ge->g->start[b + 1],
                                 ge->opt, ge->stop);
        pthread_mutex_lock(&ge->mu);
        mf_block_queue_done(&ge->q, b);
        pthread_cond_broadcast(&ge->freed);
    }
    pthread_cond_broadcast(&ge->freed); /* a stop: the waiting threads end too */
    pthread_mutex_unlock(&ge->mu);
}

/* The blocks of one epoch on T > 1 threads; 0, or -1 when the hand-out
 * cannot be set up (no memory), with nothing done. */
static int grid_threads(mf_model *m, const sgd_sample *packed, const sgd_grid *g,
                        const nn_optimizer_config *opt, size_t T,
                        const volatile sig_atomic_t *stop, double *loss) {
    size_t t;
    int rc = -1;
    grid_epoch ge;
    memset(&ge, 0, sizeof ge);
    ge.m = m;
    ge.packed = packed;
    ge.g = g;
    ge.opt = opt;
    ge.stop = stop;
    if (mf_block_queue_init(&ge.q, g->G, g->order) != 0) return -1;
    if (pthread_mutex_init(&ge.mu, NULL) == 0) {
        if (pthread_cond_init(&ge.freed, NULL) == 0) {
            nn_parallel(T, grid_share, &ge);
            for (t = 0; t < T; t++) *loss += ge.loss[t];
            pthread_cond_destroy(&ge.freed);
            rc = 0;
        }
        pthread_mutex_destroy(&ge.mu);
    }
    mf_block_queue_free(&ge.q);
    return rc;
}

/* One epoch of per-rating SGD over the grid's blocks (in a fresh order). */
static double sgd_grid_epoch(mf_model *m, const sgd_sample *packed, size_t n, sgd_grid *g,
                             const nn_optimizer_config *opt, size_t T, nn_rng *rng,
                             const volatile sig_atomic_t *stop, epoch_halt *halt) {
    size_t G = g->G, b;
    double loss = 0.0;
    /* from the identity, not last epoch's order: the order then depends on
     * the generator alone, which a resumed run takes up where it stopped */
    for (b = 0; b < G * G; b++) g->order[b] = (uint32_t)b;
    nn_rng_shuffle_u32(rng, g->order, G * G);
    if (T > NN_MAX_THREADS) T = NN_MAX_THREADS;
    if (T <= 1 || grid_threads(m, packed, g, opt, T, stop, &loss) != 0) /* (no memory: one thread) */
        for (b = 0; b < G * G && !(stop && *stop); b++)
            loss += sgd_range(m, packed, NULL, g->start[g->order[b]], g->start[g->order[b] + 1],
                              opt, stop);
    if (stop && *stop) halt->why = HALT_STOP;
    else if (!isfinite(loss)) halt->why = HALT_NONFINITE;
    halt->batch = 0;
    return n ? loss / (double)n : 0.0;
}


/* ------------------------------------------------------ training threads
 *
 * With --threads T > 1 the batched trainer shares its work in one of two
 * ways, both written around replicas: a replica is a shallow copy of the
 * model whose parameter block shares the weights w but has a gradient dw of
 * its own (nn_params_replica), so a thread can run forward and backward
 * passes without writing where another thread writes.
 *
 * Data-parallel (dense, dense-sweep, batched SGD): each batch is cut into T
 * contiguous shares; share t runs forward, then (after the loss and ∂L/∂r̂
 * of the whole batch are taken on the caller's thread, exactly as with one
 * thread) backward on replica t. The caller adds replicas 1 … T−1 into the
 * model's gradient in that order and takes the one optimiser step. The
 * gradient is a sum in a different order than with one thread, and each
 * share draws its own dropout masks, so results depend on T, but never on
 * timing: the same T gives the same bits.
 *
 * Hogwild (lazy): thread t takes the t-th contiguous run of the epoch's
 * batches, on its own replica and batch buffers, and steps the shared
 * weights and moments without locks, each batch with the step count t it
 * would have had on one thread. Two threads rarely hold the same row at
 * once; when they do an update can be lost, noise that SGD absorbs, and
 * the result depends on timing. */
typedef struct {
    mf_model *m;       /* the model (t = 0) or &own (t > 0) */
    mf_model own;      /* a shallow copy whose params are a replica */
    int has_replica;
    mf_work work;      /* one share's (or one batch's) activations */
    nn_rng rng;        /* its dropout stream (t > 0) */
    nn_rng *dropout;   /* the stream it draws from */
    uint32_t *u, *i;   /* Hogwild: its own batch (B) */
    float *y, *pred, *dpred;
    double l2;         /* data-parallel: λ Σ ‖·‖² over its share */
    double loss;       /* Hogwild: Σ batch loss · batch size */
    size_t batches;    /* Hogwild: batches done */
    size_t samples;    /* Hogwild: and the samples in them */
    size_t bad_batch;  /* Hogwild: the batch (from 1) whose loss was not finite */
} trainer;

typedef struct {
    trainer *tr;
    size_t T;
    nn_team *team;
} trainers;

static void trainers_free(trainers *ts) {
    size_t t;
    for (t = 0; ts->tr && t < ts->T; t++) {
        trainer *tr = &ts->tr[t];
        if (tr->has_replica) nn_params_replica_free(&tr->own.params);
        mf_work_free(&tr->work);
        free(tr->u);
        free(tr->i);
        free(tr->y);
        free(tr->pred);
        free(tr->dpred);
    }
    free(ts->tr);
    nn_team_free(ts->team);
    memset(ts, 0, sizeof *ts);
}

/* T trainers for batches of B; Hogwild ones get batch buffers, data-parallel
 * ones a team. 0 or -1 (no memory). */
static int trainers_alloc(trainers *ts, mf_model *m, size_t T, size_t B, int hogwild,
                          nn_rng *dropout, uint64_t seed) {
    size_t t;
    memset(ts, 0, sizeof *ts);
    ts->T = T;
    ts->tr = calloc(T, sizeof *ts->tr);
    if (!ts->tr) return -1;
    for (t = 0; t < T; t++) {
        trainer *tr = &ts->tr[t];
        if (t == 0) {
            tr->m = m;
            tr->dropout = dropout;
        } else {
            tr->own = *m;
            if (nn_params_replica(&tr->own.params, &m->params) != 0) goto fail;
            mf_point_tensors(&tr->own); /* its own gradients */
            tr->has_replica = 1;
            tr->m = &tr->own;
            nn_rng_seed(&tr->rng, seed ^ 0x9e3779b97f4a7c15u ^ (0xbf58476d1ce4e5b9u * t));
            tr->dropout = &tr->rng;
        }
        if (mf_work_init(&tr->work, m, B) != 0) goto fail;
        if (!hogwild) continue;
        tr->u = malloc(B * sizeof *tr->u);
        tr->i = malloc(B * sizeof *tr->i);
        tr->y = malloc(B * sizeof *tr->y);
        tr->pred = malloc(B * sizeof *tr->pred);
        tr->dpred = malloc(B * sizeof *tr->dpred);
        if (!tr->u || !tr->i || !tr->y || !tr->pred || !tr->dpred) goto fail;
    }
    if (!hogwild && !(ts->team = nn_team_new(T))) goto fail;
    return 0;
fail:
    trainers_free(ts);
    return -1;
}

/* One batch, cut into shares; phase FORWARD or BACKWARD. */
enum { PASS_FORWARD, PASS_BACKWARD };
typedef struct {
    trainer *tr;
    const uint32_t *u, *i;
    float *pred;
    const float *dpred;
    size_t nb;
    int phase;
} batch_shares;

static void share_pass(void *ctx, size_t t, size_t T) {
    batch_shares *bs = ctx;
    trainer *tr = &bs->tr[t];
    size_t lo = bs->nb * t / T, n = bs->nb * (t + 1) / T - lo;
    tr->l2 = 0.0;
    if (n == 0) return;
    if (bs->phase == PASS_FORWARD) {
        mf_forward(tr->m, &tr->work, bs->pred + lo, bs->u + lo, bs->i + lo, n, tr->dropout);
        tr->l2 = mf_l2_loss(tr->m, &tr->work, bs->u + lo, bs->i + lo, n) * (double)n;
    } else {
        mf_backward(tr->m, &tr->work, bs->dpred + lo, bs->u + lo, bs->i + lo, n, bs->nb);
    }
}

/* The forward pass of the batch in tb (nb samples), on one thread or cut
 * into the team's shares; returns the batch's L2 term. */
static double batch_forward(mf_model *m, train_buffers *tb, const trainers *ts, size_t nb,
                            nn_rng *dropout) {
    batch_shares bs;
    double l2 = 0.0;
    size_t t;
    if (!ts || ts->T < 2) {
        mf_forward(m, &tb->work, tb->pred, tb->u, tb->i, nb, dropout);
        return mf_l2_loss(m, &tb->work, tb->u, tb->i, nb);
    }
    bs.tr = ts->tr;
    bs.u = tb->u;
    bs.i = tb->i;
    bs.pred = tb->pred;
    bs.dpred = tb->dpred;
    bs.nb = nb;
    bs.phase = PASS_FORWARD;
    nn_team_run(ts->team, share_pass, &bs);
    for (t = 0; t < ts->T; t++) l2 += ts->tr[t].l2; /* in share order */
    return l2 / (double)nb;
}

/* The backward pass of the batch from tb->dpred into the model's gradient:
 * on one thread, or each share into its replica, then the replicas' sums
 * added in share order. */
static void batch_backward(mf_model *m, train_buffers *tb, const trainers *ts, size_t nb) {
    batch_shares bs;
    size_t t;
    if (!ts || ts->T < 2) {
        mf_backward(m, &tb->work, tb->dpred, tb->u, tb->i, nb, nb);
        return;
    }
    bs.tr = ts->tr;
    bs.u = tb->u;
    bs.i = tb->i;
    bs.pred = tb->pred;
    bs.dpred = tb->dpred;
    bs.nb = nb;
    bs.phase = PASS_BACKWARD;
    nn_team_run(ts->team, share_pass, &bs);
    for (t = 1; t < ts->T; t++) {
        nn_params_add_grad(&m->params, &ts->tr[t].m->params);
        nn_params_zero_grad(&ts->tr[t].m->params);
    }
}

/* One epoch of minibatch steps over the samples in tb->perm order, each
 * batch on this thread or, with a team (ts), data-parallel; returns the
 * epoch loss Keras reports: the batch-size-weighted mean of each batch's
 * loss, computed before that batch's update. */
static double train_epoch(mf_model *m, samples sm, const loss_fn *lf, nn_optimizer *opt,
                          size_t B, train_buffers *tb, const trainers *ts, nn_rng *dropout,
                          FILE *bar_log, double t0, const volatile sig_atomic_t *stop,
                          epoch_halt *halt) {
    size_t N = sm.n, start;
    double loss_sum = 0.0, last_bar = 0.0;
    for (start = 0; start < N; start += B) {
        size_t nb = N - start < B ? N - start : B;
        double loss;
        gather_batch(sm, tb->perm, start, nb, tb->u, tb->i, tb->y);
        prefetch_samples(sm, tb->perm, start + B, start + 2 * B); /* the next batch */
        if (opt->deferred) { /* rows idle since their last update catch up first */
            mark_rows(m, tb->u, tb->i, nb);
            nn_optimizer_catch_up(opt, &m->params);
        }
        loss = batch_forward(m, tb, ts, nb, dropout); /* the L2 term, after the pass */
        loss = lf->forward(tb->pred, tb->y, nb) + loss;
        if (!isfinite(loss)) { /* diverged: stop before this batch's update */
            nn_params_zero_grad(&m->params);
            halt->why = HALT_NONFINITE;
            halt->batch = start / B + 1;
            return NAN;
        }
        lf->backward(tb->dpred, tb->pred, tb->y, nb);
        batch_backward(m, tb, ts, nb);
        nn_optimizer_step(opt, &m->params);
        nn_params_zero_grad(&m->params);
        loss_sum += loss * (double)nb;
        if (stop && *stop) { /* asked to stop (Ctrl-C): this batch is done, end here */
            halt->why = HALT_STOP;
            halt->batch = start / B + 1;
            return loss_sum / (double)(start + nb);
        }
        if (bar_log) {
            double now = now_seconds() - t0;
            if (now - last_bar >= 0.1) {
                progress_bar(bar_log, start + nb, N, now, loss_sum / (double)(start + nb));
                last_bar = now;
            }
        }
    }
    return N ? loss_sum / (double)N : 0.0;
}

typedef struct {
    trainers *ts;
    mf_model *m;
    samples sm;
    const uint32_t *perm;
    const loss_fn *lf;
    const nn_optimizer *opt;
    size_t B, n_batches;
    uint64_t t0;       /* the optimiser's step count when the epoch began */
    int halted;        /* raised by the thread that meets a non-finite loss */
    const volatile sig_atomic_t *stop;
    FILE *bar_log;
    double started;
} hogwild_epoch;

static void hogwild_share(void *ctx, size_t t, size_t T) {
    hogwild_epoch *h = ctx;
    trainer *tr = &h->ts->tr[t];
    nn_optimizer opt = *h->opt; /* its own step count; the moments are shared */
    size_t g, B = h->B, g0 = h->n_batches * t / T, g1 = h->n_batches * (t + 1) / T;
    double last_bar = 0.0;
    tr->loss = 0.0;
    tr->batches = 0;
    tr->samples = 0;
    tr->bad_batch = 0;
    for (g = g0; g < g1; g++) {
        size_t start = g * B, nb = h->sm.n - start < B ? h->sm.n - start : B;
        double loss;
        if (nn_flag_raised(&h->halted) || (h->stop && *h->stop)) break;
        gather_batch(h->sm, h->perm, start, nb, tr->u, tr->i, tr->y);
        prefetch_samples(h->sm, h->perm, start + B, g + 1 < g1 ? start + 2 * B : start + B);
        mf_forward(tr->m, &tr->work, tr->pred, tr->u, tr->i, nb, tr->dropout);
        loss = h->lf->forward(tr->pred, tr->y, nb) + mf_l2_loss(tr->m, &tr->work, tr->u, tr->i, nb);
        if (!isfinite(loss)) {
            tr->bad_batch = g + 1;
            nn_flag_raise(&h->halted);
            break;
        }
        h->lf->backward(tr->dpred, tr->pred, tr->y, nb);
        mf_backward(tr->m, &tr->work, tr->dpred, tr->u, tr->i, nb, nb);
        opt.t = h->t0 + g; /* the step this batch takes on one thread */
        nn_optimizer_step(&opt, &tr->m->params);
        nn_params_zero_grad(&tr->m->params);
        tr->loss += loss * (double)nb;
        tr->batches++;
        tr->samples += nb;
        if (t == 0 && h->bar_log) { /* thread 0 speaks for all: the others keep pace */
            double now = now_seconds() - h->started;
            size_t done = (g - g0 + 1) * B * T;
            if (now - last_bar >= 0.1) {
                progress_bar(h->bar_log, done < h->sm.n ? done : h->sm.n, h->sm.n, now,
                             tr->loss / (double)((g - g0 + 1) * B));
                last_bar = now;
            }
        }
    }
}

/* train_epoch for lazy updates, Hogwild over the trainers */
static double train_epoch_hogwild(mf_model *m, samples sm, const loss_fn *lf, nn_optimizer *opt,
                                  size_t B, train_buffers *tb, trainers *ts, FILE *bar_log,
                                  double t0, const volatile sig_atomic_t *stop,
                                  epoch_halt *halt) {
    hogwild_epoch h;
    size_t t, done = 0, bad = 0, samples_done = 0;
    double loss = 0.0;
    h.ts = ts;
    h.m = m;
    h.sm = sm;
    h.perm = tb->perm;
    h.lf = lf;
    h.opt = opt;
    h.B = B;
    h.n_batches = (sm.n + B - 1) / B;
    h.t0 = opt->t;
    h.halted = 0;
    h.stop = stop;
    h.bar_log = bar_log;
    h.started = t0;
    nn_parallel(ts->T, hogwild_share, &h);
    for (t = 0; t < ts->T; t++) {
        trainer *tr = &ts->tr[t];
        loss += tr->loss; /* in thread order */
        done += tr->batches;
        samples_done += tr->samples;
        if (tr->bad_batch && !bad) bad = tr->bad_batch;
        if (tr->bad_batch) nn_params_zero_grad(&tr->m->params);
    }
    opt->t = h.t0 + (done == h.n_batches ? h.n_batches : done);
    if (bad) {
        halt->why = HALT_NONFINITE;
        halt->batch = bad;
        return NAN;
    }
    if (done < h.n_batches) { /* asked to stop */
        halt->why = HALT_STOP;
        halt->batch = done;
        return samples_done ? loss / (double)samples_done : 0.0;
    }
    return sm.n ? loss / (double)sm.n : 0.0;
}

/* the most epochs a history may say came before its first line */
#define MF_HISTORY_MAX_FIRST 1000000

/* an epoch that was not measured (before a resumed run) */
static mf_epoch history_gap(void) {
    mf_epoch e = {.loss = NAN, .val_loss = NAN, .val_mae = NAN, .hr = NAN, .ndcg = NAN,
                  .seconds = 0.0};
    return e;
}

int mf_history_load(mf_history *h, const char *path, data_error *err) {
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t lineno = 0, cap = 0;
    memset(h, 0, sizeof *h);
    if (!f) {
        data_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        double v[8];
        int n = 0;
        char *p = line, *end;
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, "epoch,loss,val_loss", 19) != 0) break;
            continue;
        }
        while (n < 8) { /* epoch,loss,val_loss,val_rmse,val_mae,seconds[,hr,ndcg] */
            v[n] = strtod(p, &end);
            if (end == p) break;
            n++;
            p = end;
            if (*p != ',') break;
            p++;
        }
        if (n >= 6 && h->n == 0 && v[0] > 1 && v[0] <= MF_HISTORY_MAX_FIRST &&
            v[0] == floor(v[0]))
            h->first = (size_t)v[0] - 1; /* a resumed run's: it starts later */
        if (n < 6 || v[0] != (double)((h->n ? h->n : h->first) + 1)) {
            data_errorf(err, "%s:%zu: not a line of an embrec history (\"%.40s\")", path,
                        lineno, line);
            fclose(f);
            mf_history_free(h);
            return -1;
        }
        if (h->n == 0) h->n = h->first; /* the epochs before it: NaN, no point on a plot */
        if (h->n + 1 > cap) {
            size_t want = h->n + 32 > 2 * cap ? h->n + 32 : 2 * cap, k;
            mf_epoch *ne = realloc(h->epoch, want * sizeof *ne);
            if (!ne) {
                data_errorf(err, "%s: out of memory", path);
                fclose(f);
                mf_history_free(h);
                return -1;
            }
            for (k = cap; k < want; k++) ne[k] = history_gap();
            h->epoch = ne;
            cap = want;
        }
        h->epoch[h->n].loss = v[1];
        h->epoch[h->n].val_loss = v[2];
        h->epoch[h->n].val_mae = v[4];
        h->epoch[h->n].seconds = v[5];
        h->epoch[h->n].hr = n > 6 ? v[6] : NAN;
        h->epoch[h->n].ndcg = n > 7 ? v[7] : NAN;
        h->n++;
    }
    fclose(f);
    if (lineno == 0 || h->n == 0) {
        data_errorf(err, "%s: not an embrec history (it starts \"epoch,loss,val_loss\")", path);
        mf_history_free(h);
        return -1;
    }
    return 0;
}

/* The --history file. A file is written whole again at the end of every
 * epoch, as models are (a temporary file, synced and renamed over the
 * name), so the name always holds the complete history of the epochs so
 * far, never a half line: it can be plotted while training runs, and it is
 * whole however training ends: a Ctrl-C, a second one, kill -9, a crash or
 * a full disk. Renaming once at the end would lose every epoch to anything
 * but an orderly exit. The price, rewriting a few short lines per epoch
 * and a sync, is small beside an epoch's work. A device or FIFO
 * (/dev/stdout) cannot be renamed over: it stays open and each epoch's
 * line is appended. */
typedef struct {
    const char *path;      /* NULL: no history */
    data_out out;          /* open between epochs only when direct */
    size_t written;        /* epochs already in a direct stream */
} history_out;

static void history_line(FILE *f, size_t epoch, const mf_epoch *e) {
    fprintf(f, "%zu,%.9g,%.9g,%.9g,%.9g,%.3f,%.9g,%.9g\n", epoch, e->loss, e->val_loss,
            sqrt(e->val_loss), e->val_mae, e->seconds, e->hr, e->ndcg);
}

/* The history file with the epochs of hist (before the first, the header
 * alone: the name then no longer holds an earlier run's history). 0 or -1
 * with err. */
static int history_save(history_out *h, const mf_history *hist, data_error *err) {
    size_t k = h->written > hist->first ? h->written : hist->first;
    if (!h->path) return 0;
    if (!h->out.f) { /* a new file: everything from the header (a resumed run's from its first epoch) */
        if (data_out_open(&h->out, h->path, err) != 0) return -1;
        fprintf(h->out.f, "epoch,loss,val_loss,val_rmse,val_mae,seconds,hr,ndcg\n");
        k = hist->first;
    }
    for (; k < hist->n; k++) history_line(h->out.f, k + 1, &hist->epoch[k]);
    h->written = hist->n;
    return h->out.direct ? data_out_flush(&h->out, err) : data_out_commit(&h->out, err);
}

/* Keep the optimiser's state with the model (mf_model.opt_state), so that a
 * saved model can resume training. m, v: n floats each, or NULL (SGD). */
static void keep_opt_state(mf_model *mo, const nn_optimizer_config *cfg, const float *m,
                           const float *v, uint64_t t) {
    size_t n = mo->params.n;
    nn_free(mo->opt_state.m);
    nn_free(mo->opt_state.v);
    memset(&mo->opt_state, 0, sizeof mo->opt_state);
    if (cfg->kind != NN_SGD) {
        mo->opt_state.m = nn_alloc(n * sizeof(float));
        mo->opt_state.v = nn_alloc(n * sizeof(float));
        if (!mo->opt_state.m || !mo->opt_state.v || !m || !v) { /* no memory: none kept */
            nn_free(mo->opt_state.m);
            nn_free(mo->opt_state.v);
            mo->opt_state.m = mo->opt_state.v = NULL;
            return;
        }
        memcpy(mo->opt_state.m, m, n * sizeof(float));
        memcpy(mo->opt_state.v, v, n * sizeof(float));
    }
    mo->opt_state.cfg = *cfg;
    mo->opt_state.t = t;
    mo->opt_state.present = 1;
}

/* The names of the tensors whose part of block (ps's layout: the weights,
 * or an optimiser moment) holds NaN or ±Inf, comma-separated, into buf */
static void nonfinite_tensors(const nn_params *ps, const float *block, char *buf, size_t size) {
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

/* End training early (Ctrl-C, or a loss that is no longer finite): say
 * what happened, and which epoch's weights the model keeps.
 * Returns MF_TRAIN_STOPPED or MF_TRAIN_DIVERGED. */
static int halt_training(mf_model *m, const epoch_halt *h, size_t epoch, mf_history *hist,
                         const float *best_w, const mf_train_config *cfg, data_error *err) {
    char where[96], kept[96] = "", bad[256];
    int have_best = best_w != NULL; /* mf_train then restores that epoch */
    if (have_best)
        snprintf(kept, sizeof kept, "; the model keeps epoch %zu's weights", hist->best + 1);
    if (h->batch) snprintf(where, sizeof where, "epoch %zu, batch %zu of %zu", epoch + 1, h->batch,
                           h->batches);
    else snprintf(where, sizeof where, "epoch %zu", epoch + 1);
    if (h->why == HALT_STOP) {
        data_errorf(err, "interrupted in %s%s", where, kept);
        return MF_TRAIN_STOPPED;
    }
    nonfinite_tensors(&m->params, m->params.w, bad, sizeof bad);
    data_errorf(err, "training diverged in %s: the loss is no longer finite (%s); "
                "try a smaller learning rate than --lr %g%s", where,
                bad[0] ? bad : "the weights are still finite", (double)cfg->fit.opt.lr, kept);
    return MF_TRAIN_DIVERGED;
}

/* A resumed run's training counts: the larger of the saved ones and
 * train's, so that the same data gives what one run would have, and more
 * data raises them. 0 or -1 (no memory). */
static int count_resumed(mf_model *m, const data_ratings *train) {
    size_t U = m->n_users, I = m->n_items, k;
    uint32_t *saved = malloc((U + I ? U + I : 1) * sizeof *saved);
    if (!saved) return -1;
    memcpy(saved, m->user_count, U * sizeof *saved);
    memcpy(saved + U, m->item_count, I * sizeof *saved);
    memset(m->user_count, 0, U * sizeof *m->user_count);
    memset(m->item_count, 0, I * sizeof *m->item_count);
    mf_count(m, train);
    for (k = 0; k < U; k++)
        if (saved[k] > m->user_count[k]) m->user_count[k] = saved[k];
    for (k = 0; k < I; k++)
        if (saved[U + k] > m->item_count[k]) m->item_count[k] = saved[U + k];
    free(saved);
    return 0;
}

/* A resumed run takes up the saved generators: the shuffles' (rng),
 * thread 0's dropout, each other thread's (as many as were saved). */
static void streams_restore(const mf_progress *pg, nn_rng *rng, nn_rng *dropout, trainers *ts) {
    size_t t;
    if (pg->n_streams > 0) *rng = pg->streams[0];
    if (pg->n_streams > 1) *dropout = pg->streams[1];
    for (t = 1; t < ts->T && 1 + t < pg->n_streams; t++) ts->tr[t].rng = pg->streams[1 + t];
}

/* Room for this run's generators in the progress: 1 + its threads. 0 or -1. */
static int streams_alloc(mf_progress *pg, const trainers *ts) {
    size_t n = 1 + (ts->T > 1 ? ts->T : 1);
    nn_rng *s = realloc(pg->streams, n * sizeof *s);
    if (!s) return -1;
    pg->streams = s;
    pg->n_streams = n;
    return 0;
}

/* The generators as they stand, into the progress (at the start of an
 * epoch: a resumed run starts that epoch from them) */
static void streams_save(mf_progress *pg, const nn_rng *rng, const nn_rng *dropout,
                         const trainers *ts) {
    size_t t;
    pg->streams[0] = *rng;
    pg->streams[1] = *dropout;
    for (t = 1; t < ts->T && 1 + t < pg->n_streams; t++) pg->streams[1 + t] = ts->tr[t].rng;
}

/* EarlyStopping's state when training returns, and the settings of the
 * run, into m->progress (its generators are already there). best_known:
 * hist->best is an epoch measured on validation rows; at_best: the model's
 * weights are that epoch's. */
static void progress_record(mf_model *m, const mf_train_config *cfg, const mf_history *hist,
                            int best_known, size_t wait, int at_best) {
    mf_progress *pg = &m->progress;
    pg->present = 1;
    pg->epochs_done = hist->n;
    pg->best_epoch = best_known ? hist->best + 1 : 0;
    pg->best = best_known ? hist->epoch[hist->best] : history_gap();
    pg->best.seconds = 0.0;
    pg->best_weights = best_known && at_best;
    pg->wait = wait;
    pg->epochs = cfg->fit.epochs;
    pg->batch = cfg->fit.batch;
    pg->patience = cfg->fit.patience;
    pg->negatives = cfg->fit.negatives;
    pg->rank_k = cfg->fit.rank_k;
    pg->blocks = cfg->speed.blocks;
    pg->restore_best = cfg->fit.restore_best;
    pg->seed = cfg->fit.seed;
    pg->order = cfg->replay.order;
    pg->numpy_seed = cfg->replay.numpy_seed;
}

int mf_train(mf_model *m, const data_ratings *train, const data_ratings *val,
             const mf_train_config *cfg, mf_history *hist, FILE *log,
             data_error *err) {
    int implicit = m->cfg.implicit;
    size_t N = implicit ? train->n * (1 + cfg->fit.negatives) : train->n, epoch, wait = 0;
    int has_val = val && val->n > 0;
    int keep_best = has_val && cfg->fit.restore_best, rc = 0, have_best_w = 0, at_best = 0;
    mf_progress *pg = &m->progress;
    int resume = cfg->session.resume && pg->present;
    size_t start = resume ? pg->epochs_done : 0; /* epochs done before this run */
    epoch_halt halt;
    int bar = log && cfg->session.verbose >= 2 && isatty(fileno(log));
    const loss_fn *lf = implicit ? &bce_loss : &mse_loss;
    double best = INFINITY;
    nn_optimizer opt;
    train_buffers tb;
    trainers ts;
    int hogwild = cfg->fit.opt.update == NN_UPDATE_LAZY;
    history_out hf = {.path = NULL};
    nn_rng rng, dropout;
    data_np_rng np_rng;

    memset(hist, 0, sizeof *hist);
    memset(&opt, 0, sizeof opt); /* so that the error path may free it */
    memset(&ts, 0, sizeof ts);
    memset(&tb, 0, sizeof tb);
    if (cfg->fit.batch == 0 || cfg->fit.epochs == 0 || (implicit && cfg->fit.rank_k == 0)) {
        data_errorf(err, "batch size, epochs and the ranking cut-off must be at least 1");
        return -1;
    }
    if (start >= cfg->fit.epochs) {
        data_errorf(err, "the model has trained %zu epochs already: the run's total must be "
                    "above that (it is %zu)", start, cfg->fit.epochs);
        return -1;
    }
    if (cfg->replay.order == MF_ORDER_GIVEN &&
        (!cfg->replay.orders || cfg->replay.n_orders == 0 || (cfg->replay.n_orders > 1 && cfg->replay.n_orders < cfg->fit.epochs))) {
        data_errorf(err, "the batch order has %zu permutations for %zu epochs (give one, used "
                    "every epoch, or one per epoch)", cfg->replay.n_orders, cfg->fit.epochs);
        return -1;
    }
    if (cfg->speed.blocks > MF_MAX_BLOCKS) {
        data_errorf(err, "at most %d user and movie groups (blocks), not %zu", MF_MAX_BLOCKS,
                    cfg->speed.blocks);
        return -1;
    }
    if (cfg->speed.blocks > m->n_users || cfg->speed.blocks > m->n_items) { /* a group with no one in it */
        data_errorf(err, "--blocks %zu: at most %zu here (%zu users, %zu movies: each group "
                    "needs at least one)", cfg->speed.blocks,
                    m->n_users < m->n_items ? m->n_users : m->n_items, m->n_users, m->n_items);
        return -1;
    }
    if (cfg->speed.blocks && (!sgd_fast_path(m, cfg) || cfg->replay.order != MF_ORDER_EMBREC)) {
        data_errorf(err, "blocks replace the epoch's shuffle of per-rating SGD: they need "
                    "--optimizer sgd --batch 1 on the dot or bias model without features, "
                    "and no other batch order");
        return -1;
    }
    if (cfg->replay.order == MF_ORDER_NUMPY && data_np_seed(&np_rng, cfg->replay.numpy_seed, err) != 0)
        return -1;
    hf.path = cfg->session.history_path;
    if (history_save(&hf, hist, err) != 0) return -1;
    hist->epoch = calloc(cfg->fit.epochs, sizeof *hist->epoch);
    if (!hist->epoch || nn_optimizer_init_params(&opt, cfg->fit.opt, &m->params) != 0 ||
        buffers_alloc(&tb, m, N, cfg->fit.batch, keep_best, cfg->fit.opt.kind,
                      implicit ? train : NULL) != 0)
        goto oom;
    for (epoch = 0; epoch < start; epoch++) hist->epoch[epoch] = history_gap();
    hist->n = hist->first = start;
    if (resume && pg->best_epoch) { /* EarlyStopping's best and counter carry on */
        hist->best = pg->best_epoch - 1;
        hist->epoch[hist->best] = pg->best;
        best = implicit ? -pg->best.hr : pg->best.val_loss;
        wait = pg->wait;
    }
    if (sgd_fast_path(m, cfg)) { /* per-rating SGD reads the samples packed */
        size_t r;
        tb.packed = nn_alloc((train->n ? train->n : 1) * sizeof *tb.packed);
        if (!tb.packed) goto oom;
        for (r = 0; r < train->n && !cfg->speed.blocks; r++) { /* (blocks pack their own order) */
            tb.packed[r].u = train->user[r];
            tb.packed[r].i = train->item[r];
            tb.packed[r].y = train->rating[r];
        }
    }
    nn_rng_seed(&rng, cfg->fit.seed); /* (a resumed run's groups come from the seed too) */
    if (cfg->speed.blocks &&
        sgd_grid_build(&tb.grid, tb.packed, train, m->n_users, m->n_items, cfg->speed.blocks, &rng) != 0)
        goto oom;
    if (m->opt_state.present && m->opt_state.cfg.kind == cfg->fit.opt.kind) /* resume */
        nn_optimizer_resume(&opt, m->opt_state.m, m->opt_state.v, m->opt_state.t);
    if (keep_best && resume && pg->best_epoch && pg->best_weights) { /* they are the best's */
        memcpy(tb.best_w, m->params.w, m->params.n * sizeof(float));
        if (opt.m) memcpy(tb.best_m, opt.m, m->params.n * sizeof(float));
        if (opt.v) memcpy(tb.best_v, opt.v, m->params.n * sizeof(float));
        tb.best_t = opt.t;
        have_best_w = 1;
    }
    if (cfg->session.resume ? count_resumed(m, train) != 0 : (mf_count(m, train), 0)) goto oom;
    nn_rng_seed(&dropout, cfg->fit.seed ^ 0x9e3779b97f4a7c15u); /* its own stream: the
                                             * shuffles do not depend on the model */
    if (!tb.packed && cfg->speed.threads > 1) { /* batched training on several threads */
        size_t T = cfg->speed.threads > NN_MAX_THREADS ? NN_MAX_THREADS : cfg->speed.threads;
        if (!hogwild && T > cfg->fit.batch) T = cfg->fit.batch; /* a share of at least one rating */
        if (trainers_alloc(&ts, m, T, cfg->fit.batch, hogwild, &dropout, cfg->fit.seed) != 0) goto oom;
        opt.team = ts.team; /* dense-sweep's pass is shared too */
    }
    if (resume) streams_restore(pg, &rng, &dropout, &ts);
    if (streams_alloc(pg, &ts) != 0) goto oom;
    nn_flush_denormals();

    if (log && cfg->session.verbose) {
        if (implicit)
            fprintf(log, "Train on %zu positives with %zu negatives each%s\n", train->n,
                    cfg->fit.negatives, has_val ? ", rank the held-out items each epoch" : "");
        else if (has_val)
            fprintf(log, "Train on %zu samples, validate on %zu samples\n", N, val->n);
        else
            fprintf(log, "Train on %zu samples\n", N);
    }
    for (epoch = start; epoch < cfg->fit.epochs; epoch++) {
        mf_epoch *e = &hist->epoch[epoch];
        double t0 = now_seconds(), score;
        samples sm;
        size_t k;
        streams_save(pg, &rng, &dropout, &ts); /* before the epoch draws anything */
        sm = implicit ? sample_epoch(&tb, train, cfg->fit.negatives, m->n_items, &rng)
                      : explicit_samples(train);
        if (log && cfg->session.verbose) fprintf(log, "Epoch %zu/%zu\n", epoch + 1, cfg->fit.epochs);
        if (cfg->replay.order == MF_ORDER_GIVEN && cfg->replay.order_n != sm.n) {
            data_errorf(err, "the batch order permutes %zu samples; epoch %zu has %zu",
                        cfg->replay.order_n, epoch + 1, sm.n);
            break;
        } else if (cfg->replay.order == MF_ORDER_GIVEN) { /* a recorded run's order */
            memcpy(tb.perm, cfg->replay.orders + (cfg->replay.n_orders == 1 ? 0 : epoch) * sm.n,
                   sm.n * sizeof *tb.perm);
        } else if (cfg->replay.order == MF_ORDER_NUMPY) {
            /* Keras: np.random.shuffle(index_array) on the same array every epoch
             * (a resumed run replays the shuffles of the epochs before it) */
            if (epoch == start) {
                size_t before;
                for (k = 0; k < sm.n; k++) tb.perm[k] = (uint32_t)k;
                for (before = 0; before < start; before++)
                    data_np_shuffle_u32(&np_rng, tb.perm, sm.n);
            }
            data_np_shuffle_u32(&np_rng, tb.perm, sm.n);
        } else if (!tb.grid.G) {
            for (k = 0; k < sm.n; k++) tb.perm[k] = (uint32_t)k;
            nn_rng_shuffle_u32(&rng, tb.perm, sm.n); /* fit(shuffle=True) */
        }
        halt.why = HALT_NONE;
        halt.batches = (sm.n + cfg->fit.batch - 1) / cfg->fit.batch;
        if (tb.grid.G) /* LIBMF's blocks in a fresh order */
            e->loss = sgd_grid_epoch(m, tb.packed, sm.n, &tb.grid, &cfg->fit.opt, cfg->speed.threads, &rng,
                                     cfg->session.stop, &halt);
        else if (tb.packed) /* per-rating SGD: the same updates, no batch machinery */
            e->loss = sgd_epoch(m, tb.packed, sm.n, &cfg->fit.opt, tb.perm, cfg->speed.threads, cfg->session.stop,
                                &halt);
        else if (ts.T > 1 && hogwild)
            e->loss = train_epoch_hogwild(m, sm, lf, &opt, cfg->fit.batch, &tb, &ts,
                                          bar ? log : NULL, t0, cfg->session.stop, &halt);
        else
            e->loss = train_epoch(m, sm, lf, &opt, cfg->fit.batch, &tb, &ts, &dropout,
                                  bar ? log : NULL, t0, cfg->session.stop, &halt);
        nn_optimizer_flush(&opt, &m->params); /* every row up to date before it is read */
        if (halt.why != HALT_NONE) {
            if (bar && log) fprintf(log, "\n");
            rc = halt_training(m, &halt, epoch, hist, have_best_w ? tb.best_w : NULL, cfg, err);
            break;
        }
        e->val_loss = e->val_mae = e->hr = e->ndcg = NAN;
        if (has_val && implicit) { /* rank each held-out item among 99 negatives */
            mf_ranking r;
            if (mf_rank_evaluate(m, train, val, cfg->fit.rank_k, 99, cfg->fit.seed, &r, err) != 0) break;
            e->hr = r.hr;
            e->ndcg = r.ndcg;
        } else if (has_val) { /* val_loss: the model's output for every row, as Keras */
            mf_metrics vm = mf_evaluate_threads(m, val, 0, cfg->speed.threads);
            e->val_loss = vm.mse;
            e->val_mae = vm.mae;
        }
        e->seconds = now_seconds() - t0;
        hist->n = epoch + 1;
        if (log && cfg->session.verbose) log_epoch_end(log, sm.n, e, has_val, cfg->fit.rank_k, bar);
        if (history_save(&hf, hist, err) != 0) { /* stop: the run would go unrecorded */
            rc = -1;
            break;
        }

        if (!has_val) { hist->best = epoch; continue; }
        score = implicit ? -e->hr : e->val_loss; /* lower is better */
        if (score < best) { /* EarlyStopping: an improvement resets the wait */
            best = score;
            hist->best = epoch;
            wait = 0;
            if (keep_best) { /* the weights and the optimiser's state that go with them */
                memcpy(tb.best_w, m->params.w, m->params.n * sizeof(float));
                if (opt.m) memcpy(tb.best_m, opt.m, m->params.n * sizeof(float));
                if (opt.v) memcpy(tb.best_v, opt.v, m->params.n * sizeof(float));
                tb.best_t = opt.t;
                have_best_w = 1;
            }
        } else if (cfg->fit.patience && ++wait >= cfg->fit.patience) {
            hist->stopped_early = 1;
            if (log && cfg->session.verbose) fprintf(log, "Epoch %05zu: early stopping\n", epoch + 1);
            break;
        }
    }
    if (rc == 0) streams_save(pg, &rng, &dropout, &ts); /* as the next epoch would start */
    at_best = rc == 0 && hist->best + 1 == hist->n; /* the last epoch's weights are the best's */
    if (keep_best && have_best_w && !at_best) { /* back to the best */
        memcpy(m->params.w, tb.best_w, m->params.n * sizeof(float));
        keep_opt_state(m, &cfg->fit.opt, tb.best_m, tb.best_v, tb.best_t);
        at_best = 1;
    } else {
        keep_opt_state(m, &cfg->fit.opt, opt.m, opt.v, opt.t);
    }
    progress_record(m, cfg, hist, has_val && best < INFINITY, wait, at_best);
    if (log && cfg->session.verbose && has_val && best < INFINITY) {
        const mf_epoch *b = &hist->epoch[hist->best];
        if (implicit)
            fprintf(log, "Best HR@%zu %.4f (NDCG@%zu %.4f) at epoch %zu", cfg->fit.rank_k, b->hr,
                    cfg->fit.rank_k, b->ndcg, hist->best + 1);
        else
            fprintf(log, "Best val_loss %.4f (RMSE %.4f) at epoch %zu", b->val_loss,
                    sqrt(b->val_loss), hist->best + 1);
        fprintf(log, "%s\n", keep_best && have_best_w ? "; the model keeps that epoch's weights"
                                                      : "");
    }
    buffers_free(&tb);
    trainers_free(&ts);
    nn_optimizer_free(&opt);
    /* a direct stream is still open (each epoch's line was checked as it
     * went out): close it; a halt's own message comes first */
    if (hf.out.f && data_out_commit(&hf.out, rc ? NULL : err) != 0 && rc == 0) return -1;
    if (rc != 0) return rc;
    return hist->n == cfg->fit.epochs || hist->stopped_early ? 0 : -1; /* -1: ranking failed, or
                                                                   * an order did not fit */
oom:
    data_errorf(err, "out of memory for training");
    if (hf.out.f) data_out_abort(&hf.out);
    mf_history_free(hist);
    nn_optimizer_free(&opt);
    buffers_free(&tb);
    trainers_free(&ts);
    return -1;
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
 * set, stands in for u), in chunks of SCORE_CHUNK through one forward pass
 * each, kept in a heap of the best n. */
static size_t recommend_with(const mf_model *m, mf_work *w, uint32_t u, const uint8_t *exclude,
                             mf_scored *out, size_t n) {
    uint32_t users[SCORE_CHUNK], items[SCORE_CHUNK];
    float scores[SCORE_CHUNK];
    size_t filled = 0, nb = 0, k;
    uint32_t i;
    for (k = 0; k < SCORE_CHUNK; k++) users[k] = u;
    for (i = 0; i <= m->n_items; i++) {
        if (i < m->n_items) { /* collect a chunk of candidates, then score it at once */
            if (!row_known(m, ITEM_ROW, i) || (exclude && exclude[i])) continue;
            items[nb++] = i;
            if (nb < SCORE_CHUNK) continue;
        }
        mf_forward(m, w, scores, users, items, nb, NULL);
        for (k = 0; k < nb; k++) {
            mf_scored s;
            s.item = items[k];
            s.score = scores[k];
            offer(out, n, &filled, s);
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
    if (n == 0 || u >= m->n_users || mf_work_init(&w, m, SCORE_CHUNK) != 0) return 0;
    got = recommend_with(m, &w, u, exclude, out, n);
    mf_work_free(&w);
    return got;
}

/* one thread's share of mf_recommend_users: users [lo, hi) of the block */
typedef struct {
    const mf_model *m;
    const data_user_items *rated;
    uint32_t first;       /* the block's first user */
    size_t lo, hi, n;
    mf_scored *out;       /* (block, n) */
    size_t *got;          /* (block) */
    int failed;
} recommend_slice;

static void *recommend_thread(void *arg) {
    recommend_slice *s = arg;
    const mf_model *m = s->m;
    uint8_t *exclude = calloc(m->n_items ? m->n_items : 1, 1);
    mf_work w;
    size_t b, k;
    if (!exclude || mf_work_init(&w, m, SCORE_CHUNK) != 0) {
        free(exclude);
        s->failed = 1;
        return NULL;
    }
    for (b = s->lo; b < s->hi; b++) {
        uint32_t u = s->first + (uint32_t)b;
        const uint32_t *it = s->rated && u < s->rated->n_users ? s->rated->item + s->rated->start[u]
                                                               : NULL;
        size_t nr = it ? s->rated->start[u + 1] - s->rated->start[u] : 0;
        s->got[b] = 0;
        if (!mf_user_known(m, u)) continue;
        for (k = 0; k < nr; k++) exclude[it[k]] = 1;
        s->got[b] = recommend_with(m, &w, u, exclude, s->out + b * s->n, s->n);
        for (k = 0; k < nr; k++) exclude[it[k]] = 0;
    }
    mf_work_free(&w);
    free(exclude);
    return NULL;
}

int mf_recommend_users(const mf_model *m, const data_user_items *rated, uint32_t first,
                       size_t count, size_t n, size_t threads, mf_scored *out, size_t *got) {
    recommend_slice slice[MF_MAX_THREADS];
    pthread_t tid[MF_MAX_THREADS];
    int started[MF_MAX_THREADS];
    size_t t, T = threads < 1 ? 1 : threads > MF_MAX_THREADS ? MF_MAX_THREADS : threads;
    int failed = 0;
    if (T > count) T = count ? count : 1;
    for (t = 0; t < T; t++) { /* thread t takes a contiguous share of the users */
        slice[t].m = m;
        slice[t].rated = rated;
        slice[t].first = first;
        slice[t].lo = count * t / T;
        slice[t].hi = count * (t + 1) / T;
        slice[t].n = n;
        slice[t].out = out;
        slice[t].got = got;
        slice[t].failed = 0;
        started[t] = t > 0 && pthread_create(&tid[t], NULL, recommend_thread, &slice[t]) == 0;
    }
    for (t = T; t-- > 0;)
        if (!started[t]) recommend_thread(&slice[t]);
    for (t = 1; t < T; t++)
        if (started[t]) pthread_join(tid[t], NULL);
    for (t = 0; t < T; t++) failed |= slice[t].failed;
    return failed ? -1 : 0;
}

size_t mf_recommend_cold(const mf_model *m, const uint32_t *features, size_t n_features,
                         mf_scored *out, size_t n) {
    size_t K = m->cfg.dim, got, k;
    float *cold;
    mf_work w;
    if (n == 0 || n_features == 0 || !m->user_features.n_features) return 0;
    for (k = 0; k < n_features; k++)
        if (features[k] >= m->user_features.n_features) return 0;
    cold = calloc(K, sizeof *cold);
    if (!cold || mf_work_init(&w, m, SCORE_CHUNK) != 0) {
        free(cold);
        return 0;
    }
    for (k = 0; k < n_features; k++) /* ũ = (1/|F|) Σ e_f */
        vec_axpy(cold, 1.0f / (float)n_features,
                 m->w.user_feature_embedding + features[k] * m->S, K);
    w.cold_user = cold;
    got = recommend_with(m, &w, 0, NULL, out, n);
    mf_work_free(&w);
    free(cold);
    return got;
}

/* ------------------------------------------------------------ similar items */

size_t mf_similar(const mf_model *m, uint32_t i, mf_metric metric, uint32_t min_count,
                  mf_scored *out, size_t n) {
    size_t K = m->cfg.dim, filled = 0;
    float *qi, *qj, norm_i;
    uint32_t j;
    if (i >= m->n_items || n == 0) return 0;
    qi = malloc(2 * K * sizeof *qi);
    if (!qi) return 0;
    qj = qi + K;
    row_vector(m, ITEM_ROW, i, qi); /* q̃_i: q_i, plus its features in a hybrid model */
    norm_i = sqrtf(vec_dot(qi, qi, K));
    for (j = 0; j < m->n_items; j++) {
        mf_scored c;
        if (j == i || m->item_count[j] < min_count || !row_known(m, ITEM_ROW, j)) continue;
        row_vector(m, ITEM_ROW, j, qj);
        c.item = j;
        if (metric == MF_COSINE) { /* cos = q_i·q_j / (‖q_i‖ ‖q_j‖) */
            float norm_j = sqrtf(vec_dot(qj, qj, K));
            c.score = norm_i > 0 && norm_j > 0 ? vec_dot(qi, qj, K) / (norm_i * norm_j) : 0.0f;
        } else { /* −‖q_i − q_j‖ = −√(‖q_i‖² − 2 q_i·q_j + ‖q_j‖²), clamped at 0 */
            float d2 = vec_dot(qi, qi, K) - 2.0f * vec_dot(qi, qj, K) + vec_dot(qj, qj, K);
            c.score = -sqrtf(d2 > 0 ? d2 : 0);
        }
        offer(out, n, &filled, c);
    }
    free(qi);
    qsort(out, filled, sizeof *out, by_score_desc);
    return filled;
}

/* ------------------------------------------- for the file formats (formats/)
 * Public names, declared in mf.h, for helpers the code above calls by their
 * short static names. */

int mf_check_config(const mf_config *c, data_error *err) {
    return check_config(c, err);
}

void mf_nonfinite_tensors(const nn_params *ps, const float *block, char *buf, size_t size) {
    nonfinite_tensors(ps, block, buf, size);
}

size_t mf_layer_in(const mf_config *c, size_t l) {
    return layer_in(c, l);
}

size_t mf_layer_out(const mf_config *c, size_t l) {
    return layer_out(c, l);
}
