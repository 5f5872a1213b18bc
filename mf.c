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
 * formulas (nn.c), and option handling (main.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "mf.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ names */

const char *mf_kind_name(mf_kind kind) {
    return kind == MF_BIAS ? "bias" : "dot";
}

int mf_kind_parse(const char *name, mf_kind *kind) {
    if (strcmp(name, "dot") == 0) *kind = MF_DOT;
    else if (strcmp(name, "bias") == 0) *kind = MF_BIAS;
    else return -1;
    return 0;
}

mf_config mf_defaults(void) {
    mf_config c;
    c.kind = MF_DOT;
    c.dim = 8;
    c.centre = 0;
    c.l2 = 0.0f;
    c.init_limit = 0.05f; /* keras.initializers.RandomUniform(-0.05, 0.05) */
    return c;
}

/* ------------------------------------------------------------ building */

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

/* Lay out the parameter block and allocate everything but the id maps. */
static int mf_alloc(mf_model *m, data_error *err) {
    size_t U = m->n_users, I = m->n_items, K = m->cfg.dim;
    memset(&m->params, 0, sizeof m->params);
    m->t_user = nn_params_add(&m->params, "user_embedding", U, K, 1);
    m->t_item = nn_params_add(&m->params, "item_embedding", I, K, 1);
    if (m->cfg.kind == MF_BIAS) {
        m->t_user_bias = nn_params_add(&m->params, "user_bias", U, 1, 1);
        m->t_item_bias = nn_params_add(&m->params, "item_bias", I, 1, 1);
    }
    m->user_count = calloc(U ? U : 1, sizeof *m->user_count);
    m->item_count = calloc(I ? I : 1, sizeof *m->item_count);
    if (nn_params_alloc(&m->params) != 0 || !m->user_count || !m->item_count) {
        data_errorf(err, "out of memory for a model of %zu users, %zu items, "
                    "dimension %zu", U, I, K);
        return -1;
    }
    return 0;
}

int mf_init(mf_model *m, mf_config cfg, const data_idmap *users,
            const data_idmap *items, const data_ratings *all, nn_rng *rng,
            data_error *err) {
    data_stats st;
    memset(m, 0, sizeof *m);
    if (cfg.dim == 0 || cfg.dim > 65536) {
        data_errorf(err, "embedding dimension must be 1..65536 (got %zu)", cfg.dim);
        return -1;
    }
    m->cfg = cfg;
    m->n_users = users->n;
    m->n_items = items->n;
    st = data_ratings_stats(all, users->n, items->n);
    m->mean = (float)st.mean;
    m->rating_min = st.min;
    m->rating_max = st.max;
    if (mf_alloc(m, err) != 0 || copy_ids(&m->users, &m->user_ids, users) != 0 ||
        copy_ids(&m->items, &m->item_ids, items) != 0) {
        data_errorf(err, "out of memory building the model");
        mf_free(m);
        return -1;
    }
    /* Keras Embedding(embeddings_initializer="uniform"); biases start at 0 */
    nn_init_uniform(nn_param(&m->params, m->t_user), m->n_users, cfg.dim,
                    m->params.t[m->t_user].stride, cfg.init_limit, rng);
    nn_init_uniform(nn_param(&m->params, m->t_item), m->n_items, cfg.dim,
                    m->params.t[m->t_item].stride, cfg.init_limit, rng);
    return 0;
}

void mf_free(mf_model *m) {
    nn_params_free(&m->params);
    free(m->user_ids);
    free(m->item_ids);
    free(m->user_count);
    free(m->item_count);
    data_idmap_free(&m->users);
    data_idmap_free(&m->items);
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

/* ------------------------------------------------------------ forward / backward */

void mf_forward(const mf_model *m, float *pred, const uint32_t *u,
                const uint32_t *i, size_t B) {
    const nn_params *ps = &m->params;
    const float *P = nn_param(ps, m->t_user), *Q = nn_param(ps, m->t_item);
    size_t S = ps->t[m->t_user].stride, K = m->cfg.dim, b;
    for (b = 0; b < B; b++) /* r̂ = p_u·q_i */
        pred[b] = vec_dot(P + u[b] * S, Q + i[b] * S, K);
    if (m->cfg.kind == MF_BIAS) {
        const float *bu = nn_param(ps, m->t_user_bias), *bi = nn_param(ps, m->t_item_bias);
        size_t Sb = ps->t[m->t_user_bias].stride;
        for (b = 0; b < B; b++) /* r̂ = μ + b_u + b_i + p_u·q_i */
            pred[b] = m->mean + bu[u[b] * Sb] + bi[i[b] * Sb] + pred[b];
    } else if (m->cfg.centre) {
        for (b = 0; b < B; b++) /* r̂ = μ + p_u·q_i (notebook 000 trains on r − μ) */
            pred[b] = m->mean + pred[b];
    }
}

void mf_backward(mf_model *m, const float *dpred, const uint32_t *u,
                 const uint32_t *i, size_t B) {
    nn_params *ps = &m->params;
    const float *P = nn_param(ps, m->t_user), *Q = nn_param(ps, m->t_item);
    float *dP = nn_grad(ps, m->t_user), *dQ = nn_grad(ps, m->t_item);
    size_t S = ps->t[m->t_user].stride, K = m->cfg.dim, b;
    float l2_scale = 2.0f * m->cfg.l2 / (float)B; /* d/dw (λ/B)‖w‖² = (2λ/B) w */
    for (b = 0; b < B; b++) {
        const float *p = P + u[b] * S, *q = Q + i[b] * S;
        vec_axpy(dP + u[b] * S, dpred[b], q, K);  /* ∂L/∂p_u += ∂L/∂r̂ · q_i */
        vec_axpy(dQ + i[b] * S, dpred[b], p, K);  /* ∂L/∂q_i += ∂L/∂r̂ · p_u */
        nn_params_touch(ps, m->t_user, u[b]);
        nn_params_touch(ps, m->t_item, i[b]);
    }
    if (m->cfg.kind != MF_BIAS) return;
    {
        const float *bu = nn_param(ps, m->t_user_bias), *bi = nn_param(ps, m->t_item_bias);
        float *dbu = nn_grad(ps, m->t_user_bias), *dbi = nn_grad(ps, m->t_item_bias);
        size_t Sb = ps->t[m->t_user_bias].stride;
        for (b = 0; b < B; b++) {
            dbu[u[b] * Sb] += dpred[b] + l2_scale * bu[u[b] * Sb]; /* ∂r̂/∂b_u = 1 */
            dbi[i[b] * Sb] += dpred[b] + l2_scale * bi[i[b] * Sb];
            vec_axpy(dP + u[b] * S, l2_scale, P + u[b] * S, K);
            vec_axpy(dQ + i[b] * S, l2_scale, Q + i[b] * S, K);
            nn_params_touch(ps, m->t_user_bias, u[b]);
            nn_params_touch(ps, m->t_item_bias, i[b]);
        }
    }
}

double mf_l2_loss(const mf_model *m, const uint32_t *u, const uint32_t *i,
                  size_t B) {
    const nn_params *ps = &m->params;
    const float *P, *Q, *bu, *bi;
    size_t S, Sb, K = m->cfg.dim, b;
    double sum = 0.0;
    if (m->cfg.kind != MF_BIAS || m->cfg.l2 == 0.0f || B == 0) return 0.0;
    P = nn_param(ps, m->t_user);
    Q = nn_param(ps, m->t_item);
    bu = nn_param(ps, m->t_user_bias);
    bi = nn_param(ps, m->t_item_bias);
    S = ps->t[m->t_user].stride;
    Sb = ps->t[m->t_user_bias].stride;
    for (b = 0; b < B; b++) { /* ‖p_u‖² + ‖q_i‖² + b_u² + b_i² */
        const float *p = P + u[b] * S, *q = Q + i[b] * S;
        float bub = bu[u[b] * Sb], bib = bi[i[b] * Sb];
        sum += vec_dot(p, p, K) + vec_dot(q, q, K) + bub * bub + bib * bib;
    }
    return m->cfg.l2 * sum / (double)B;
}

int mf_knows(const mf_model *m, uint32_t u, uint32_t i) {
    return u < m->n_users && i < m->n_items && m->user_count[u] > 0 &&
           m->item_count[i] > 0;
}

float mf_predict(const mf_model *m, uint32_t u, uint32_t i) {
    float pred;
    if (!mf_knows(m, u, i)) return m->mean;
    mf_forward(m, &pred, &u, &i, 1);
    return pred;
}

/* ------------------------------------------------------------ evaluation */

#define EVAL_CHUNK 4096

mf_metrics mf_evaluate(const mf_model *m, const data_ratings *r, int fallback) {
    mf_metrics out;
    float pred[EVAL_CHUNK];
    double se = 0.0, ae = 0.0;
    size_t start, b;
    memset(&out, 0, sizeof out);
    for (start = 0; start < r->n; start += EVAL_CHUNK) {
        size_t nb = r->n - start < EVAL_CHUNK ? r->n - start : EVAL_CHUNK;
        const uint32_t *u = r->user + start, *i = r->item + start;
        for (b = 0; b < nb; b++) /* rows outside the model would read past P, Q */
            if (u[b] >= m->n_users || i[b] >= m->n_items) break;
        if (b == nb) mf_forward(m, pred, u, i, nb);
        for (b = 0; b < nb; b++) {
            double e;
            if (!mf_knows(m, u[b], i[b])) {
                out.unknown++;
                if (fallback || u[b] >= m->n_users || i[b] >= m->n_items)
                    pred[b] = m->mean;
            }
            e = (double)pred[b] - (double)r->rating[start + b];
            se += e * e;
            ae += fabs(e);
        }
    }
    out.n = r->n;
    if (r->n) {
        out.mse = se / (double)r->n;
        out.rmse = sqrt(out.mse);
        out.mae = ae / (double)r->n;
    }
    return out;
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

/* ------------------------------------------------------------ training */

mf_train_config mf_train_defaults(void) {
    mf_train_config c;
    c.opt = nn_optimizer_defaults(NN_ADAMAX);
    c.batch = 32;          /* Keras fit() default batch_size */
    c.epochs = 30;
    c.patience = 0;
    c.restore_best = 0;
    c.seed = 1;
    c.verbose = 2;
    c.history_path = NULL;
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

static void log_epoch_end(FILE *log, size_t n,
                          const mf_epoch *e, int has_val, int bar) {
    if (bar) {
        progress_bar(log, n, n, e->seconds, e->loss);
        fprintf(log, " - %.0fs %.0fus/step", e->seconds, /* Keras: per sample */
                n ? 1e6 * e->seconds / (double)n : 0.0);
    } else {
        fprintf(log, " - %.0fs", e->seconds);
    }
    fprintf(log, " - loss: %.4f", e->loss);
    if (has_val)
        fprintf(log, " - val_loss: %.4f - val_rmse: %.4f - val_mae: %.4f",
                e->val_loss, sqrt(e->val_loss), e->val_mae);
    fprintf(log, "\n");
    fflush(log);
}

/* Scratch space for one batch, allocated once per training run. */
typedef struct {
    uint32_t *perm;    /* (N) this epoch's order of the training rows */
    uint32_t *u, *i;   /* (B) */
    float *y;          /* (B) target ratings */
    float *pred;       /* (B) */
    float *dpred;      /* (B) */
    float *best_w;     /* (params.n) weights of the best epoch, or NULL */
} train_buffers;

static void buffers_free(train_buffers *tb) {
    free(tb->perm);
    free(tb->u);
    free(tb->i);
    free(tb->y);
    free(tb->pred);
    free(tb->dpred);
    nn_free(tb->best_w);
}

static int buffers_alloc(train_buffers *tb, size_t N, size_t B, size_t n_params,
                         int keep_best) {
    memset(tb, 0, sizeof *tb);
    tb->perm = malloc((N ? N : 1) * sizeof *tb->perm);
    tb->u = malloc(B * sizeof *tb->u);
    tb->i = malloc(B * sizeof *tb->i);
    tb->y = malloc(B * sizeof *tb->y);
    tb->pred = malloc(B * sizeof *tb->pred);
    tb->dpred = malloc(B * sizeof *tb->dpred);
    if (keep_best) tb->best_w = nn_alloc(n_params * sizeof(float));
    if (!tb->perm || !tb->u || !tb->i || !tb->y || !tb->pred || !tb->dpred ||
        (keep_best && !tb->best_w)) {
        buffers_free(tb);
        return -1;
    }
    return 0;
}

/* One epoch of minibatch steps over the rows in tb->perm; returns the
 * epoch loss Keras reports: the batch-size-weighted mean of each batch's
 * loss, computed before that batch's update. */
static double train_epoch(mf_model *m, const data_ratings *train,
                          nn_optimizer *opt, size_t B, train_buffers *tb,
                          FILE *bar_log, double t0) {
    size_t N = train->n, start, b;
    double loss_sum = 0.0, last_bar = 0.0;
    for (start = 0; start < N; start += B) {
        size_t nb = N - start < B ? N - start : B;
        double loss;
        for (b = 0; b < nb; b++) { /* gather the batch */
            uint32_t row = tb->perm[start + b];
            tb->u[b] = train->user[row];
            tb->i[b] = train->item[row];
            tb->y[b] = train->rating[row];
        }
        mf_forward(m, tb->pred, tb->u, tb->i, nb);
        loss = nn_mse_forward(tb->pred, tb->y, nb) + mf_l2_loss(m, tb->u, tb->i, nb);
        nn_mse_backward(tb->dpred, tb->pred, tb->y, nb);
        mf_backward(m, tb->dpred, tb->u, tb->i, nb);
        nn_optimizer_step(opt, &m->params);
        nn_params_zero_grad(&m->params);
        loss_sum += loss * (double)nb;
        if (bar_log) {
            double t = now_seconds() - t0;
            if (t - last_bar >= 0.1) {
                progress_bar(bar_log, start + nb, N, t, loss_sum / (double)(start + nb));
                last_bar = t;
            }
        }
    }
    return N ? loss_sum / (double)N : 0.0;
}

static int history_open(FILE **f, const char *path, data_error *err) {
    *f = NULL;
    if (!path) return 0;
    *f = fopen(path, "w");
    if (!*f) {
        data_errorf(err, "%s: cannot write the history: %s", path, strerror(errno));
        return -1;
    }
    fprintf(*f, "epoch,loss,val_loss,val_rmse,val_mae,seconds\n");
    return 0;
}

static void history_write(FILE *f, size_t epoch, const mf_epoch *e) {
    if (!f) return;
    fprintf(f, "%zu,%.9g,%.9g,%.9g,%.9g,%.3f\n", epoch, e->loss, e->val_loss,
            sqrt(e->val_loss), e->val_mae, e->seconds);
    fflush(f);
}

int mf_train(mf_model *m, const data_ratings *train, const data_ratings *val,
             const mf_train_config *cfg, mf_history *hist, FILE *log,
             data_error *err) {
    size_t N = train->n, epoch, wait = 0;
    int has_val = val && val->n > 0;
    int keep_best = has_val && cfg->restore_best;
    int bar = log && cfg->verbose >= 2 && isatty(fileno(log));
    double best = INFINITY;
    nn_optimizer opt;
    train_buffers tb;
    FILE *hf;
    nn_rng rng;

    memset(hist, 0, sizeof *hist);
    memset(&opt, 0, sizeof opt); /* so that the error path may free it */
    if (cfg->batch == 0 || cfg->epochs == 0) {
        data_errorf(err, "batch size and epochs must be at least 1");
        return -1;
    }
    if (history_open(&hf, cfg->history_path, err) != 0) return -1;
    hist->epoch = calloc(cfg->epochs, sizeof *hist->epoch);
    if (!hist->epoch || nn_optimizer_init(&opt, cfg->opt, m->params.n) != 0 ||
        buffers_alloc(&tb, N, cfg->batch, m->params.n, keep_best) != 0) {
        data_errorf(err, "out of memory for training");
        if (hf) fclose(hf);
        mf_history_free(hist);
        nn_optimizer_free(&opt);
        return -1;
    }
    mf_count(m, train);
    nn_rng_seed(&rng, cfg->seed);
    nn_flush_denormals();

    if (log && cfg->verbose) {
        if (has_val) fprintf(log, "Train on %zu samples, validate on %zu samples\n", N, val->n);
        else fprintf(log, "Train on %zu samples\n", N);
    }
    for (epoch = 0; epoch < cfg->epochs; epoch++) {
        mf_epoch *e = &hist->epoch[epoch];
        double t0 = now_seconds();
        size_t k;
        if (log && cfg->verbose) fprintf(log, "Epoch %zu/%zu\n", epoch + 1, cfg->epochs);
        for (k = 0; k < N; k++) tb.perm[k] = (uint32_t)k;
        nn_rng_shuffle_u32(&rng, tb.perm, N); /* fit(shuffle=True) */
        e->loss = train_epoch(m, train, &opt, cfg->batch, &tb, bar ? log : NULL, t0);
        e->val_loss = e->val_mae = NAN;
        if (has_val) { /* val_loss: the model's output for every row, as Keras */
            mf_metrics vm = mf_evaluate(m, val, 0);
            e->val_loss = vm.mse;
            e->val_mae = vm.mae;
        }
        e->seconds = now_seconds() - t0;
        hist->n = epoch + 1;
        if (log && cfg->verbose) log_epoch_end(log, N, e, has_val, bar);
        history_write(hf, epoch + 1, e);

        if (!has_val) { hist->best = epoch; continue; }
        if (e->val_loss < best) { /* EarlyStopping: an improvement resets the wait */
            best = e->val_loss;
            hist->best = epoch;
            wait = 0;
            if (keep_best) memcpy(tb.best_w, m->params.w, m->params.n * sizeof(float));
        } else if (cfg->patience && ++wait >= cfg->patience) {
            hist->stopped_early = 1;
            if (log && cfg->verbose) fprintf(log, "Epoch %05zu: early stopping\n", epoch + 1);
            break;
        }
    }
    if (keep_best && hist->best + 1 != hist->n)
        memcpy(m->params.w, tb.best_w, m->params.n * sizeof(float));
    if (log && cfg->verbose && has_val) {
        const mf_epoch *b = &hist->epoch[hist->best];
        fprintf(log, "Best val_loss %.4f (RMSE %.4f) at epoch %zu%s\n", b->val_loss,
                sqrt(b->val_loss), hist->best + 1,
                keep_best ? "; the model keeps that epoch's weights" : "");
    }
    buffers_free(&tb);
    nn_optimizer_free(&opt);
    if (hf && fclose(hf) != 0) {
        data_errorf(err, "%s: cannot write the history: %s", cfg->history_path,
                    strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ recipes */

static const mf_recipe recipes[] = {
    {"mf8", "000 (learn user and movie embeddings)",
     "dot k=8 on ratings centred by the mean, Adam lr 0.01 eps 1e-8, batch 5000, "
     "validation 0.05, 20 epochs",
     {MF_DOT, 8, 1, 0.0f, 0.05f},
     /* tf.train.AdamOptimizer: the Keras formula with ε 1e-8, dense updates */
     {{NN_ADAM, NN_UPDATE_DENSE, 0.01f, 0.9f, 0.999f, 1e-8f}, 5000, 20, 0, 0, 1, 2, NULL},
     0.05, 1},
    {"cfmodel", "003 (deep learning model, CFModel)",
     "dot k=100, AdaMax (Keras defaults), batch 32, validation 0.1, up to 30 epochs, "
     "patience 2, best weights kept",
     {MF_DOT, 100, 0, 0.0f, 0.05f},
     {{NN_ADAMAX, NN_UPDATE_DENSE, 0.002f, 0.9f, 0.999f, 1e-7f}, 32, 30, 2, 1, 1, 2, NULL},
     0.1, 1},
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

size_t mf_recommend(const mf_model *m, uint32_t u, const uint8_t *exclude,
                    mf_scored *out, size_t n) {
    size_t filled = 0, k;
    uint32_t i;
    if (n == 0 || u >= m->n_users) return 0;
    for (i = 0; i < m->n_items; i++) {
        mf_scored s;
        if (m->item_count[i] == 0 || (exclude && exclude[i])) continue;
        s.item = i;
        mf_forward(m, &s.score, &u, &i, 1);
        if (filled < n) {
            out[filled++] = s;
            if (filled == n) /* heapify once full */
                for (k = n / 2; k-- > 0;) heap_sift_down(out, n, k);
        } else if (s.score > out[0].score) {
            out[0] = s;
            heap_sift_down(out, n, 0);
        }
    }
    qsort(out, filled, sizeof *out, by_score_desc);
    return filled;
}

/* ------------------------------------------------------------ model files */

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    size_t k;
    for (k = 0; k < n; k++) {
        h ^= p[k];
        h *= FNV_PRIME;
    }
    return h;
}

/* A buffered little-endian writer that hashes what it writes. */
typedef struct {
    FILE *f;
    uint64_t hash;
    int failed;
    size_t len;
    unsigned char buf[1 << 16];
} writer;

static void w_flush(writer *w) {
    w->hash = fnv1a(w->hash, w->buf, w->len);
    if (w->len && fwrite(w->buf, 1, w->len, w->f) != w->len) w->failed = 1;
    w->len = 0;
}

static void w_bytes(writer *w, const void *p, size_t n) {
    const unsigned char *c = p;
    while (n) {
        size_t room = sizeof w->buf - w->len, take = n < room ? n : room;
        memcpy(w->buf + w->len, c, take);
        w->len += take;
        c += take;
        n -= take;
        if (w->len == sizeof w->buf) w_flush(w);
    }
}

static void w_u64(writer *w, uint64_t x) {
    unsigned char b[8];
    int k;
    for (k = 0; k < 8; k++) b[k] = (unsigned char)(x >> (8 * k));
    w_bytes(w, b, 8);
}

static void w_u32(writer *w, uint32_t x) {
    unsigned char b[4];
    int k;
    for (k = 0; k < 4; k++) b[k] = (unsigned char)(x >> (8 * k));
    w_bytes(w, b, 4);
}

static void w_f32(writer *w, float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    w_u32(w, bits);
}

/* the first k floats of each of R rows spaced S apart */
static void w_rows(writer *w, const float *a, size_t R, size_t k, size_t S) {
    size_t r, c;
    for (r = 0; r < R; r++)
        for (c = 0; c < k; c++) w_f32(w, a[r * S + c]);
}

static void write_model(writer *w, const mf_model *m) {
    const nn_params *ps = &m->params;
    size_t U = m->n_users, I = m->n_items, K = m->cfg.dim, k;
    w_bytes(w, "EMBRECMF", 8);
    w_u32(w, MF_FILE_VERSION);
    w_u32(w, (uint32_t)m->cfg.kind);
    w_u32(w, (uint32_t)m->cfg.centre);
    w_u32(w, (uint32_t)K);
    w_u64(w, U);
    w_u64(w, I);
    w_f32(w, m->mean);
    w_f32(w, m->rating_min);
    w_f32(w, m->rating_max);
    w_f32(w, m->cfg.l2);
    w_f32(w, m->cfg.init_limit);
    w_u32(w, (uint32_t)strlen(m->source));
    w_bytes(w, m->source, strlen(m->source));
    for (k = 0; k < U; k++) w_u64(w, (uint64_t)m->user_ids[k]);
    for (k = 0; k < I; k++) w_u64(w, (uint64_t)m->item_ids[k]);
    for (k = 0; k < U; k++) w_u32(w, m->user_count[k]);
    for (k = 0; k < I; k++) w_u32(w, m->item_count[k]);
    w_rows(w, nn_param(ps, m->t_user), U, K, ps->t[m->t_user].stride);
    w_rows(w, nn_param(ps, m->t_item), I, K, ps->t[m->t_item].stride);
    if (m->cfg.kind == MF_BIAS) {
        w_rows(w, nn_param(ps, m->t_user_bias), U, 1, ps->t[m->t_user_bias].stride);
        w_rows(w, nn_param(ps, m->t_item_bias), I, 1, ps->t[m->t_item_bias].stride);
    }
    w_flush(w);
}

int mf_save(const mf_model *m, const char *path, data_error *err) {
    static writer w; /* 64 KiB buffer: keep it off the stack */
    char tmp[4096];
    int fd;
    mode_t mask;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        data_errorf(err, "%s: path too long", path);
        return -1;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        data_errorf(err, "%s: cannot create a temporary file beside it: %s", path,
                    strerror(errno));
        return -1;
    }
    mask = umask(0); /* mkstemp makes 0600; give the model the usual 0666 & ~umask */
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) { /* not fatal: the model is still private */ }
    memset(&w, 0, sizeof w);
    w.hash = FNV_OFFSET;
    w.f = fdopen(fd, "wb");
    if (!w.f) {
        data_errorf(err, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    write_model(&w, m); /* ends with a flush, so w.hash covers every byte so far */
    w_u64(&w, w.hash);
    w_flush(&w);
    if (w.failed || fflush(w.f) != 0 || fsync(fileno(w.f)) != 0) {
        data_errorf(err, "%s: cannot write the model: %s (the previous file, if any, "
                    "is untouched)", path, strerror(errno ? errno : EIO));
        fclose(w.f);
        unlink(tmp);
        return -1;
    }
    if (fclose(w.f) != 0 || rename(tmp, path) != 0) {
        data_errorf(err, "%s: cannot write the model: %s (the previous file, if any, "
                    "is untouched)", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A bounds-checked little-endian reader over the loaded file. */
typedef struct {
    const unsigned char *p;
    size_t len, pos;
} reader;

static int r_need(reader *r, size_t n) {
    return r->len - r->pos >= n;
}

static uint64_t r_u64(reader *r) {
    uint64_t x = 0;
    int k;
    for (k = 0; k < 8; k++) x |= (uint64_t)r->p[r->pos + k] << (8 * k);
    r->pos += 8;
    return x;
}

static uint32_t r_u32(reader *r) {
    uint32_t x = 0;
    int k;
    for (k = 0; k < 4; k++) x |= (uint32_t)r->p[r->pos + k] << (8 * k);
    r->pos += 4;
    return x;
}

static float r_f32(reader *r) {
    uint32_t bits = r_u32(r);
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

static void r_rows(reader *r, float *a, size_t R, size_t k, size_t S) {
    size_t row, c;
    for (row = 0; row < R; row++)
        for (c = 0; c < k; c++) a[row * S + c] = r_f32(r);
}

static int read_file(const char *path, unsigned char **buf, size_t *len,
                     data_error *err) {
    FILE *f = fopen(path, "rb");
    long size;
    *buf = NULL;
    if (!f) {
        data_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        data_errorf(err, "%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    *buf = malloc((size_t)size + 1);
    if (!*buf || fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        data_errorf(err, "%s: cannot read %ld bytes", path, size);
        free(*buf);
        *buf = NULL;
        fclose(f);
        return -1;
    }
    fclose(f);
    *len = (size_t)size;
    return 0;
}

/* Fixed-size header fields: 8 magic + 4·4 + 2·8 + 5·4 + 4 source length. */
#define HEADER_BYTES (8 + 16 + 16 + 20 + 4)

static int parse_model(mf_model *m, reader *r, const char *path, data_error *err) {
    uint32_t version, kind, centre, dim, slen;
    uint64_t U, I, per_user, per_item;
    size_t k;
    if (!r_need(r, HEADER_BYTES) || memcmp(r->p, "EMBRECMF", 8) != 0) {
        data_errorf(err, "%s: not an embrec model file", path);
        return -1;
    }
    r->pos = 8;
    version = r_u32(r);
    if (version > MF_FILE_VERSION) {
        data_errorf(err, "%s: model file version %u is newer than this embrec "
                    "understands (%d): upgrade embrec", path, version, MF_FILE_VERSION);
        return -1;
    }
    if (version < 1) {
        data_errorf(err, "%s: unknown model file version %u", path, version);
        return -1;
    }
    kind = r_u32(r);
    centre = r_u32(r);
    dim = r_u32(r);
    U = r_u64(r);
    I = r_u64(r);
    if (kind > MF_BIAS || centre > 1 || dim == 0 || dim > 65536 ||
        U > INT32_MAX || I > INT32_MAX) {
        data_errorf(err, "%s: corrupt model header (kind %u, dimension %u, %llu users, "
                    "%llu items)", path, kind, dim, (unsigned long long)U,
                    (unsigned long long)I);
        return -1;
    }
    memset(m, 0, sizeof *m);
    m->cfg.kind = (mf_kind)kind;
    m->cfg.centre = (int)centre;
    m->cfg.dim = dim;
    m->n_users = (size_t)U;
    m->n_items = (size_t)I;
    m->mean = r_f32(r);
    m->rating_min = r_f32(r);
    m->rating_max = r_f32(r);
    m->cfg.l2 = r_f32(r);
    m->cfg.init_limit = r_f32(r);
    slen = r_u32(r);
    if (slen >= sizeof m->source || !r_need(r, slen)) {
        data_errorf(err, "%s: corrupt model header (source name of %u bytes)", path, slen);
        return -1;
    }
    memcpy(m->source, r->p + r->pos, slen);
    m->source[slen] = '\0';
    r->pos += slen;
    /* bytes per user row: id 8 + count 4 + K floats (+ bias); the same per item */
    per_user = per_item = 8 + 4 + 4 * (uint64_t)dim + (kind == MF_BIAS ? 4 : 0);
    if ((uint64_t)(r->len - r->pos) != U * per_user + I * per_item + 8) {
        data_errorf(err, "%s: truncated or padded model file (%zu bytes, expected %llu)",
                    path, r->len, (unsigned long long)(r->pos + U * per_user + I * per_item + 8));
        return -1;
    }
    if (mf_alloc(m, err) != 0) return -1;
    m->user_ids = malloc((U ? U : 1) * sizeof *m->user_ids);
    m->item_ids = malloc((I ? I : 1) * sizeof *m->item_ids);
    if (!m->user_ids || !m->item_ids) {
        data_errorf(err, "%s: out of memory loading the model", path);
        return -1;
    }
    data_idmap_init(&m->users);
    data_idmap_init(&m->items);
    for (k = 0; k < U; k++) m->user_ids[k] = (int64_t)r_u64(r);
    for (k = 0; k < I; k++) m->item_ids[k] = (int64_t)r_u64(r);
    for (k = 0; k < U; k++) m->user_count[k] = r_u32(r);
    for (k = 0; k < I; k++) m->item_count[k] = r_u32(r);
    r_rows(r, nn_param(&m->params, m->t_user), U, dim, m->params.t[m->t_user].stride);
    r_rows(r, nn_param(&m->params, m->t_item), I, dim, m->params.t[m->t_item].stride);
    if (kind == MF_BIAS) {
        r_rows(r, nn_param(&m->params, m->t_user_bias), U, 1,
               m->params.t[m->t_user_bias].stride);
        r_rows(r, nn_param(&m->params, m->t_item_bias), I, 1,
               m->params.t[m->t_item_bias].stride);
    }
    for (k = 0; k < U; k++)
        if (data_idmap_intern(&m->users, m->user_ids[k]) != (int32_t)k) {
            data_errorf(err, "%s: corrupt model (user id %lld repeated or out of memory)",
                        path, (long long)m->user_ids[k]);
            return -1;
        }
    for (k = 0; k < I; k++)
        if (data_idmap_intern(&m->items, m->item_ids[k]) != (int32_t)k) {
            data_errorf(err, "%s: corrupt model (item id %lld repeated or out of memory)",
                        path, (long long)m->item_ids[k]);
            return -1;
        }
    return 0;
}

int mf_load(mf_model *m, const char *path, data_error *err) {
    unsigned char *buf;
    size_t len;
    reader r;
    uint64_t stored, actual;
    memset(m, 0, sizeof *m);
    if (read_file(path, &buf, &len, err) != 0) return -1;
    if (len < HEADER_BYTES + 8) {
        data_errorf(err, "%s: not an embrec model file (only %zu bytes)", path, len);
        free(buf);
        return -1;
    }
    r.p = buf;
    r.len = len;
    r.pos = len - 8;
    stored = r_u64(&r);
    actual = fnv1a(FNV_OFFSET, buf, len - 8);
    r.pos = 0;
    if (memcmp(buf, "EMBRECMF", 8) == 0 && stored != actual) {
        data_errorf(err, "%s: checksum mismatch: the model file is corrupt or truncated",
                    path);
        free(buf);
        return -1;
    }
    r.len = len;
    if (parse_model(m, &r, path, err) != 0) {
        mf_free(m);
        free(buf);
        return -1;
    }
    free(buf);
    return 0;
}
