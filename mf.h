/* mf.h — recommenders learned as user and movie embeddings (notebooks 000,
 * 002, 003 and 004), their training loop, evaluation and recommendation.
 * Their files are formats/: model files (formats/model_file.h), and .npy
 * export and initial weights (formats/npy.h). What a training session keeps
 * and says beyond Keras's loop (the log, resuming, replaying another run's
 * batch order, why a run halted) is session/; the baselines, cold start
 * and recommendations for many users at once are use/.
 *
 * Eight models share one implementation:
 *   dot    r̂ = p_u·q_i            (notebook 003, "CFModel")
 *          r̂ = μ + p_u·q_i        with centring (notebook 000: train on r − μ)
 *   bias   r̂ = μ + b_u + b_i + p_u·q_i, with L2 on the rows a rating uses
 *   svdpp  r̂ = μ + b_u + b_i + q_i·(p_u + |N(u)|^-½ Σ_{j ∈ N(u)} y_j)   (Koren 2008's
 *          SVD++: N(u) the movies u rated in training, Y their implicit factors),
 *          with L2 on b_u, b_i, p_u, q_i and (weight λ_y) every y_j a rating uses
 *   deep   h = [p_u, q_i, g_genre(i)] → Dropout → (Dense → act → Dropout)…
 *          → Dense 1 → sigmoid s;  r̂ = min + (max − min)·s   (notebook 002)
 *   neumf  h = Dropout(p_u) ⊙ Dropout(q_i) → (Dense → act → Dropout)…
 *          → Dense 1 (lecun_uniform) → sigmoid, scaled likewise (notebook 004)
 *   gmf    h = p_u ⊙ q_i → Dense 1 → sigmoid      (NCF's generalised MF)
 *   mlp    h = [p_u, q_i] → (Dense → relu)… → Dense 1 → sigmoid   (NCF's MLP)
 *   ncf    NCF's fusion ("NeuMF" in He et al. 2017): the GMF vector p_u ⊙ q_i and
 *          the MLP tower's last layer over separate embeddings [p'_u, q'_i],
 *          concatenated → Dense 1 → sigmoid
 *
 * Side information (LightFM's hybrid): with user or item features, a row's
 * vector is its id embedding plus the mean of its features' embeddings,
 *   ũ = p_u + (1/|F(u)|) Σ_{f ∈ F(u)} e_f,   likewise q̃_i,
 * and the dot and bias models score ũ·q̃ in place of p·q; the networks (all
 * but ncf) take ũ and q̃ as their user and movie embeddings. A row with
 * features that no training rating reached (a cold user or movie) is its
 * features alone, ũ = (1/|F(u)|) Σ e_f: its id embedding was never trained.
 *
 * With implicit feedback (cfg.implicit) every model outputs a logit z
 * instead of a rating (dot: p·q; bias: b_u + b_i + p·q; the networks: the
 * output layer before its sigmoid), trained with binary cross-entropy on the
 * observed pairs and negatives sampled afresh each epoch.
 *
 * A model owns its parameters (one nn_params block: the embeddings P (U, S),
 * Q (I, S), and per kind b_u, b_i, the genre embedding G and each Dense
 * kernel (C, O) and bias (O)), copies of the raw user and item ids, and how
 * many training ratings each row had (0 marks a row the model never learned:
 * predictions for it fall back to the global mean μ, unless features describe it). Activations of the deep
 * models live in an mf_work the caller allocates once per batch size.
 */
#ifndef EMBREC_MF_H
#define EMBREC_MF_H

#include <signal.h>
#include <stdio.h>

#include "data.h"
#include "nn.h"

typedef enum { MF_DOT, MF_BIAS, MF_DEEP, MF_NEUMF, MF_GMF, MF_MLP, MF_NCF, MF_SVDPP } mf_kind;
#define MF_N_KINDS 8 /* the kinds above */

/* "dot", "bias", "deep", "neumf", "gmf", "mlp", "ncf", "svdpp" */
const char *mf_kind_name(mf_kind kind);
int mf_kind_parse(const char *name, mf_kind *kind); /* 0 or -1 */

#define MF_MAX_HIDDEN 8

typedef struct {
    mf_kind kind;
    size_t dim;         /* K: embedding width (every embedding of the model) */
    int centre;         /* dot: predict μ + p·q (bias always has μ) */
    float l2;           /* bias: λ in the loss term λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²);
                         * svdpp: λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²) + λ_y Σ_{j ∈ N(u)} ‖y_j‖² */
    float l2_implicit;  /* svdpp: λ_y (Koren's is λ itself) */
    float init_limit;   /* embeddings start U(−limit, limit); Keras "uniform": 0.05 */
    /* deep, neumf: the Dense layers before the 1-unit output layer */
    size_t n_hidden;
    size_t hidden[MF_MAX_HIDDEN];  /* widths: deep 64, 10; neumf 50 */
    nn_activation hidden_act;      /* deep relu; neumf linear */
    float dropout_embed;           /* deep: on the concatenation; neumf: on each embedding */
    float dropout_hidden;          /* after every hidden layer */
    int output_lecun;              /* output kernel lecun_uniform (neumf), else glorot_uniform */
    int implicit;                  /* 1: output a logit, trained with BCE on sampled negatives */
} mf_config;

/* dot, K 8, not centred, λ 0, limit 0.05 */
mf_config mf_defaults(void);
/* the architecture of a kind as its notebook builds it (deep: K 50, Dense 64
 * and 10 ReLU, dropout 0.2 everywhere; neumf: K 100, Dense 50 linear,
 * dropout 0.5; gmf: K 8, no hidden layer; mlp: K 32, Dense 64, 32, 16 ReLU
 * (NCF's defaults); ncf: K 8 for both parts, Dense 32, 16, 8 ReLU; dot and
 * bias: mf_defaults with that kind) */
mf_config mf_defaults_for(mf_kind kind);

/* One epoch of training, as the log and the history file report it. */
typedef struct {
    double loss;           /* mean training loss over the epoch (as Keras reports it) */
    double val_loss;       /* MSE on the validation rows after the epoch (NAN without) */
    double val_mae;
    double hr, ndcg;       /* implicit: HR@K and NDCG@K on the validation rows (99 negatives) */
    double seconds;
} mf_epoch;

/* Where a training run stands when mf_train returns, so that a resumed run
 * (mf_train_config.resume) goes on as if it had never stopped: its epoch
 * count, EarlyStopping's best and counter, the settings that shape its
 * epochs, and the random generators as the next epoch starts. */
typedef struct {
    int present;             /* 0: unknown (never trained, or a file of version 1 or 2) */
    size_t epochs_done;      /* epochs completed (an interrupted one is not) */
    size_t best_epoch;       /* the best so far, from 1; 0: none (no validation rows) */
    mf_epoch best;           /* its loss, val_loss, val_mae, hr, ndcg (seconds 0) */
    size_t wait;             /* epochs since the best: EarlyStopping's patience counter */
    int best_weights;        /* 1: the model's weights are the best epoch's (restored,
                              * or the best was the last) */
    /* the run's settings (mf_train_config's), which a resumed run keeps
     * unless told otherwise; MF_ORDER_GIVEN's orders are not kept */
    size_t epochs;           /* the run's total */
    size_t batch, patience, negatives, rank_k, blocks;
    int restore_best;
    uint64_t seed;
    int order;               /* an mf_order */
    uint64_t numpy_seed;
    double lr_decay;         /* mf_fit's, 1 when constant (and in version 3 files) */
    /* the caller's protocol (embrec train records it): how the rows were split */
    double val_split, holdout;
    int shuffle;             /* shuffled before splitting: 0 no, 1 by nn_rng from seed,
                              * 2 by NumPy's permutation from shuffle_seed */
    uint64_t shuffle_seed;
    /* the generators as epoch epochs_done + 1 starts: the shuffles' (and the
     * sampled negatives'), then each training thread's dropout generator */
    nn_rng *streams;         /* (n_streams), owned */
    size_t n_streams;
} mf_progress;

/* The model's parameters by name (llm.c's ParameterTensors): pointers into
 * the one parameter block, for the weights (mf_model.w) and, in the same
 * layout, their gradients (mf_model.dw); NULL where the model has no such
 * tensor. Row r of an embedding starts at r·S (mf_model.S). */
typedef struct {
    float *user_embedding;          /* P    (U, S) */
    float *item_embedding;          /* Q    (I, S) */
    float *user_bias, *item_bias;   /* b_u (U), b_i (I)          bias, svdpp */
    float *implicit_embedding;      /* Y    (I, S)              svdpp: y_j of each movie */
    float *genre_embedding;         /* G    (n_genres, S)       deep */
    float *user_feature_embedding;  /* E_u  (F_u, S)            hybrid */
    float *item_feature_embedding;  /* E_i  (F_i, S)            hybrid */
    float *user_mlp_embedding;      /* P'   (U, S)              ncf's tower */
    float *item_mlp_embedding;      /* Q'   (I, S) */
    float *kernel[MF_MAX_HIDDEN + 1]; /* Dense layer l's W (C, O), Keras's layout */
    float *bias[MF_MAX_HIDDEN + 1];   /* and its b (O); layer n_hidden is the output */
} mf_tensors;

/* each of those tensors' index in the block (for nn_params_touch) */
typedef struct {
    size_t user_embedding, item_embedding, user_bias, item_bias, implicit_embedding;
    size_t genre_embedding;
    size_t user_feature_embedding, item_feature_embedding;
    size_t user_mlp_embedding, item_mlp_embedding;
    size_t kernel[MF_MAX_HIDDEN + 1], bias[MF_MAX_HIDDEN + 1];
} mf_tensor_ids;

typedef struct {
    mf_config cfg;
    size_t n_users, n_items;   /* U, I */
    size_t n_genres;           /* deep: G genre strings ("Action|Comedy" is one) */
    float mean;                /* μ: mean rating of the data the model was built on */
    float rating_min, rating_max;
    nn_params params;          /* every trainable parameter, one block */
    mf_tensors w, dw;          /* the parameters by name, and their gradients */
    mf_tensor_ids id;          /* the same tensors' places in params (nn_params_touch) */
    size_t S;                  /* floats between rows of an embedding: K rounded up */
    data_features user_features, item_features; /* hybrid: each row's features (owned
                                                  * copies; n_features 0 without) */
    int64_t *user_ids;         /* (U) raw id of each user row */
    int64_t *item_ids;         /* (I) raw id of each item row */
    uint32_t *user_count;      /* (U) training ratings of each user (0: never learned) */
    uint32_t *item_count;      /* (I) */
    uint32_t *item_genre;      /* (I) deep: each item's genre-string index, else NULL */
    data_user_items rated;     /* svdpp: N(u), the movies each user rated in training
                                * (mf_set_rated; n_users 0 otherwise) */
    data_idmap users, items;   /* raw id -> row, rebuilt from user_ids/item_ids */
    char source[4096];         /* the ratings file it was trained on, an absolute path
                                * ("" if unknown, e.g. standard input) */
    /* The optimiser's state after the step that produced these weights, so
     * that training can resume where it stopped (mf_train picks it up when
     * the optimiser kind matches). m and v share the parameter block's
     * layout; NULL for SGD. present 0: unknown (a new model, or a file of
     * version 1). */
    struct {
        int present;
        nn_optimizer_config cfg;
        uint64_t t;
        float *m, *v;
    } opt_state;
    mf_progress progress;      /* how far training went (mf_train writes it) */
} mf_model;

/* What a model takes besides ratings. */
typedef struct {
    const uint32_t *item_genre;          /* deep: (I) each item's genre-string index */
    size_t n_genres;                     /* deep: G, every item_genre below it */
    const data_features *user_features;  /* features per user row, or NULL (not ncf) */
    const data_features *item_features;  /* features per item row, or NULL */
} mf_side;

/* Build a model over every id in users/items, with μ and the rating range
 * taken from `all` (notebook 000 centres on the mean of all ratings) and
 * weights drawn from rng. side may be NULL: the deep model needs its
 * genres; features make a dot or bias model hybrid. Counts start at 0 (see
 * mf_count). 0 or -1 with err. */
int mf_init(mf_model *m, mf_config cfg, const data_idmap *users,
            const data_idmap *items, const data_ratings *all,
            const mf_side *side, nn_rng *rng, data_error *err);
/* 1 when the model has user or item features */
int mf_is_hybrid(const mf_model *m);
/* point m->w and m->dw into m->params (after it is allocated, or a replica
 * gives it gradients of its own) */
void mf_point_tensors(mf_model *m);

/* 1 for the models with biases b_u, b_i (bias, svdpp) */
static inline int mf_has_biases(const mf_model *m) {
    return m->cfg.kind == MF_BIAS || m->cfg.kind == MF_SVDPP;
}

/* The part of r̂ beside ũ·q̃ in the dot, bias and svdpp models: μ + b_u + b_i
 * (bias, svdpp; a new user, known only by features, has no b_u), μ (a centred
 * dot model), else 0. */
static inline float mf_rating_offset(const mf_model *m, uint32_t u, uint32_t i, int new_user) {
    if (mf_has_biases(m))
        return m->mean + (new_user ? 0.0f : m->w.user_bias[u]) + m->w.item_bias[i];
    return m->cfg.centre ? m->mean : 0.0f;
}
void mf_free(mf_model *m);
/* add the rows of a training set to user_count / item_count */
void mf_count(mf_model *m, const data_ratings *train);
/* svdpp: N(u) = the movies each user rated in train, replacing any before
 * (mf_train calls it; nothing for other kinds); 0, or -1 (no memory, or a
 * row outside the model) */
int mf_set_rated(mf_model *m, const data_ratings *train);
/* 1 when no weight is NaN or ±Inf */
int mf_weights_finite(const mf_model *m);
/* 1 for the models with Dense layers (deep, neumf, gmf, mlp, ncf) */
int mf_is_deep(const mf_model *m);

/* Activations of one batch of up to B rows, kept from forward for backward.
 * Letters: E the embedding stage's width (deep 3K, neumf K), H_l layer widths. */
typedef struct {
    size_t B;                            /* rows it has room for */
    float *block;                        /* every array below but uv, iv: one allocation */
    float *embed;                        /* (B, E) deep: the concatenation; neumf: p ⊙ q */
    float *pu, *qi;                      /* (B, K) neumf: embeddings after dropout */
    float *mask_u, *mask_i;              /* (B, K) neumf: their dropout masks */
    float *x[MF_MAX_HIDDEN + 1];         /* (B, in_l) input of Dense l, after dropout */
    float *mask[MF_MAX_HIDDEN + 1];      /* (B, in_l) its dropout mask */
    float *a[MF_MAX_HIDDEN];             /* (B, H_l) output of hidden layer l, activated */
    float *s;                            /* (B) sigmoid of the output logit */
    float *gmf, *dgmf;                   /* (B, K) ncf: p ⊙ q and its gradient */
    float *v;                            /* (B, H_last) ncf: the tower's last layer, after dropout */
    float *dx, *dy;                      /* (B, widest) backward scratch */
    const float **uv, **iv;              /* (B) dot, bias: each rating's ũ and q̃, a row of
                                          * P and Q itself, or composed in hu, hi (one
                                          * allocation: uv, then iv) */
    float *hu, *hi;                      /* (B, K) the composed ũ, q̃ of rows with features */
    const float *cold_user;              /* (K) or NULL: cold start scores every row's user
                                          * as this vector ũ, with no id and no bias */
} mf_work;

/* room for batches of up to B rows of model m (nothing for dot and bias);
 * 0 or -1 (no memory) */
int mf_work_init(mf_work *w, const mf_model *m, size_t B);
void mf_work_free(mf_work *w);

/* pred (B) for the pairs (u[b], i[b]); rows must be < U, < I. w: room for
 * B rows (NULL for dot and bias). dropout: the training rng, or NULL for
 * inference (no dropout). */
void mf_forward(const mf_model *m, mf_work *w, float *pred, const uint32_t *u,
                const uint32_t *i, size_t B, nn_rng *dropout);
/* accumulate every gradient from dpred (n) through the activations that
 * the last mf_forward left in w, and mark the embedding rows used as
 * touched. The n ratings are a batch of B (or, on threads, a share of one):
 * B scales the bias model's L2 gradient, 2λ/B·w. */
void mf_backward(mf_model *m, mf_work *w, const float *dpred, const uint32_t *u,
                 const uint32_t *i, size_t n, size_t B);
/* the L2 term of the batch loss: (λ/B) Σ_b (‖p_u‖² + ‖q_i‖² + b_u² + b_i²)
 * (svdpp: + (λ_y/B) Σ_b Σ_{j ∈ N(u_b)} ‖y_j‖²);
 * a hybrid model regularises its rows' vectors ũ, q̃ instead of p, q, read
 * from w as the last mf_forward left them (w may be NULL otherwise) */
double mf_l2_loss(const mf_model *m, const mf_work *w, const uint32_t *u, const uint32_t *i,
                  size_t B);
/* one prediction (implicit models: the probability σ(z)); a row the model
 * cannot score (see mf_user_known) gets the global mean μ */
float mf_predict(const mf_model *m, uint32_t u, uint32_t i);
/* 1 when the model can score the user (the item): it had training ratings,
 * or, in a hybrid model, features stand in for them (a cold row) */
int mf_user_known(const mf_model *m, uint32_t u);
int mf_item_known(const mf_model *m, uint32_t i);
/* 1 when the model can score both */
int mf_knows(const mf_model *m, uint32_t u, uint32_t i);

/* ------------------------------------------------------------- training */

/* The epochs of a run, as Keras's History callback keeps them. */
typedef struct {
    mf_epoch *epoch;       /* (n) epoch[k] is epoch k + 1 */
    size_t n;
    size_t first;          /* epochs before this run (a resumed one, or a history file
                            * that starts later): their entries are NaN, but for the
                            * best, which the model file keeps */
    size_t best;           /* the best epoch: lowest val_loss, or (implicit) highest HR@K */
    int stopped_early;     /* EarlyStopping ended the run */
} mf_history;

void mf_history_free(mf_history *h);
/* an epoch that was not measured (one before a resumed run): NaN losses */
mf_epoch mf_epoch_unmeasured(void);

/* What Keras's fit() is given, with EarlyStopping and ModelCheckpoint: the
 * settings a notebook states (a recipe is a model and one of these). */
typedef struct {
    nn_optimizer_config opt;
    size_t batch;          /* ratings per step (Keras default 32) */
    size_t epochs;         /* at most this many (a resumed run: the run's total) */
    size_t patience;       /* EarlyStopping(val_loss, patience); 0 = never stop early */
    int restore_best;      /* ModelCheckpoint(save_best_only): keep the best epoch's weights */
    uint64_t seed;         /* the per-epoch shuffles of the training rows (and dropout) */
    size_t negatives;      /* implicit: negatives sampled per positive each epoch (NCF: 4) */
    size_t rank_k;         /* implicit: the K of HR@K and NDCG@K reported each epoch */
    double lr_decay;       /* SGD: the rate times this after each epoch (Koren 2008's
                            * 0.9), so epoch e steps at lr·F^(e−1); 0 (an initialiser
                            * that leaves it out) or 1: a constant rate */
} mf_fit;

/* The rate epoch e (from 1) steps at: fit->opt.lr · lr_decay^(e−1), exactly
 * fit->opt.lr when the rate is constant */
float mf_fit_rate(const mf_fit *fit, size_t epoch);

/* Verification: the order of the samples in each epoch's batches, to
 * replay another run's (fit(shuffle=True)):
 *   MF_ORDER_EMBREC  a fresh nn_rng permutation every epoch (from fit.seed)
 *   MF_ORDER_NUMPY   Keras's own: one index array, shuffled in place at
 *                    the start of every epoch by NumPy's legacy generator
 *                    seeded with numpy_seed (np.random.seed(numpy_seed))
 *   MF_ORDER_GIVEN   orders (E, N): epoch e takes row e, or row 0 for
 *                    every epoch when E is 1 (E must be 1 or ≥ epochs) */
typedef struct {
    int order;             /* an mf_order */
    uint64_t numpy_seed;
    const uint32_t *orders;
    size_t n_orders;       /* E */
    size_t order_n;        /* N: the samples each order permutes (checked each epoch) */
} mf_replay;

enum mf_order { MF_ORDER_EMBREC, MF_ORDER_NUMPY, MF_ORDER_GIVEN };

/* How fast, never what the model is: threads (dense and dense-sweep split
 * each batch into shares and add their gradients in a fixed order, so the
 * same threads give the same bits; lazy and per-rating SGD update the
 * shared tables without locks, Hogwild, not reproducible above 1) and
 * per-rating SGD's blocks (0, or LIBMF's schedule over a G × G grid of user
 * and movie groups, in place of the epoch's shuffle). */
typedef struct {
    size_t threads;
    size_t blocks;
    int reorder_rows;      /* 1: an engine may reorder train's rows where they lie
                            * (their arrays must be writable) instead of keeping a
                            * copy: per-rating SGD's blocks do, for rows without
                            * timestamps. For a caller with no further use for
                            * their order (train's one run: not cv's folds) */
} mf_speed;

#define MF_MAX_THREADS 256  /* threads (and dropout streams) a training uses at most */
#define MF_MAX_BLOCKS 4096  /* mf_speed.blocks: G at most this (a grid of at most 16M blocks) */

/* What the run reports, and how it is stopped or continued. */
typedef struct {
    int verbose;           /* 0 silent; 1 one line per epoch; 2 a progress bar
                            * when the log is a terminal, else as 1 */
    /* called with the history so far before the first epoch (hist->n ==
     * hist->first), after each epoch, and once at the end (last 1): the
     * command line writes it to --history (formats/history.h). A non-zero
     * return stops training with err (the run would go unrecorded). NULL:
     * nothing is recorded. */
    int (*record)(void *ctx, const mf_history *hist, int last, data_error *err);
    void *record_ctx;
    const volatile sig_atomic_t *stop; /* or NULL: when *stop becomes non-zero (a
                            * signal handler sets it), training ends after the
                            * current batch (MF_TRAIN_STOPPED) */
    int resume;            /* 1: continue the run the model's progress describes
                            * (when present): epochs epochs_done + 1 .. fit.epochs
                            * (the total, as Keras's initial_epoch), EarlyStopping's
                            * best and counter, the generators (fit.seed must be
                            * the run's: --blocks' groups come from it); the
                            * training counts become the larger of the saved and
                            * train's */
} mf_session;

typedef struct {
    mf_fit fit;            /* the notebook's settings */
    mf_replay replay;      /* verification against another run */
    mf_speed speed;        /* threads and blocks */
    mf_session session;    /* log, history, stop, resume */
} mf_train_config;

/* AdaMax (Keras defaults, dense), batch 32, 30 epochs, patience 0, seed 1;
 * implicit: 4 negatives, K 10 */
mf_fit mf_fit_defaults(void);
/* those, embrec's own batch order, 1 thread, no blocks, verbose 2, no
 * history file */
mf_train_config mf_train_defaults(void);


/* Train on train, validate on val (may be NULL or empty), log Keras-style
 * lines to log (may be NULL). Adds train's rows to the model's counts (an
 * svdpp model takes its N(u) from train, mf_set_rated), and
 * leaves m->progress saying how far it went (see cfg->resume). An
 * implicit model learns every row of train as a positive and validates by
 * ranking val's items (mf_rank_evaluate with 99 negatives).
 * 0, or -1 with err (out of memory, history file), or, with err saying
 * where and why and the model holding the best epoch's weights when
 * restore_best kept some (else the last batch's):
 *   MF_TRAIN_STOPPED   *cfg->stop was set: the current batch finished, then it stopped
 *   MF_TRAIN_DIVERGED  a batch's loss was NaN or ±Inf (its update is not applied);
 *                      err names the tensors that hold non-finite weights */
#define MF_TRAIN_STOPPED 1
#define MF_TRAIN_DIVERGED 2
int mf_train(mf_model *m, const data_ratings *train, const data_ratings *val,
             const mf_train_config *cfg, mf_history *hist, FILE *log,
             data_error *err);

/* ----------------------------------------------------- training engines
 * How an epoch's batches run. mf_train's own loop is the plain one: for
 * each batch, gather it, take its gradient (mf_batch_gradient), step the
 * optimiser. The speed machinery (fast/) registers engines that compute the
 * same thing faster (mf_use_engines); mf_train runs the first that accepts
 * the training, or its own loop. An engine sees the run (mf_run). */

/* The samples of one epoch: explicit ratings as they are; implicit feedback
 * as every training pair labelled 1 and, for each, negatives (items the
 * user has not interacted with, drawn afresh each epoch) labelled 0. */
typedef struct {
    const uint32_t *user, *item;
    const float *target;
    size_t n;
} mf_samples;

/* One batch: its rows, targets, predictions, ∂L/∂r̂, and the activations
 * the forward pass keeps for the backward one. */
typedef struct {
    uint32_t *u, *i;       /* (B) */
    float *y;              /* (B) targets */
    float *pred, *dpred;   /* (B) */
    mf_work work;
} mf_batch;

int mf_batch_init(mf_batch *b, const mf_model *m, size_t B); /* 0 or -1 (no memory) */
void mf_batch_free(mf_batch *b);

/* Why an epoch ended before its last batch, and where (batch from 1; 0 for
 * an engine without batches). */
enum { MF_HALT_NONE, MF_HALT_STOP, MF_HALT_NONFINITE };
typedef struct {
    int why;
    size_t batch, batches;
} mf_halt;

/* RMSE, MAE and MSE over a set of ratings (mf_evaluate, below) */
typedef struct {
    size_t n;              /* ratings scored */
    size_t unknown;        /* of which the model had not learned user or item */
    double mse, rmse, mae;
} mf_metrics;

typedef struct mf_engine mf_engine;

/* A training run: what the loop and its engine share. */
typedef struct {
    mf_model *m;
    const mf_train_config *cfg;
    const data_ratings *train;
    nn_optimizer opt;        /* the optimiser's state: moments and step count */
    double (*loss)(const float *pred, const float *y, size_t B);      /* MSE, or BCE on logits */
    void (*dloss)(float *dpred, const float *pred, const float *y, size_t B);
    mf_samples samples;      /* this epoch's */
    uint32_t *order;         /* (N) this epoch's order of the samples */
    mf_batch batch;          /* the plain loop's batch */
    nn_rng rng;              /* the shuffles, the negatives (and an engine's draws) */
    nn_rng *dropout;         /* (n_dropout) dropout generators: share t draws from dropout[t] */
    size_t n_dropout;        /* 1, or as many as an engine's begin asks for */
    mf_halt halt;            /* set by an epoch that ends early */
    FILE *log;               /* where Keras's log lines go, or NULL (session/log.h) */
    FILE *bar;               /* where a progress bar goes, or NULL */
    double started;          /* when the epoch began (seconds) */
    double bar_shown;        /* when the last bar was drawn (seconds into the epoch) */
    const mf_engine *engine;
    void *engine_state;      /* the engine's own (begin allocates, end frees) */
} mf_run;

struct mf_engine {
    const char *name;
    int orders_itself;       /* 1: it draws each epoch's order itself (run->order is NULL) */
    /* 1: it runs this training; 0: not its kind; -1: it refuses these
     * settings of its own (err says why) */
    int (*accepts)(const mf_model *m, const mf_train_config *cfg, data_error *err);
    /* before the first epoch (run->rng, run->opt are ready; it may set
     * run->n_dropout); 0, or -1 when out of memory */
    int (*begin)(mf_run *run);
    /* one epoch over run->samples in run->order: the epoch's loss (sample-
     * weighted mean of the batches' losses, each before its update); an
     * early end sets run->halt */
    double (*epoch)(mf_run *run);
    /* bring the weights whole and up to date (before validation) */
    void (*settle)(mf_run *run);
    /* the model's metrics on the validation rows after an epoch, as
     * mf_evaluate(run->m, val, 0) gives them (the plain loop's is that call) */
    mf_metrics (*evaluate)(const mf_run *run, const data_ratings *val);
    void (*end)(mf_run *run);
};

/* the engines mf_train tries, in order (the array must outlive training) */
void mf_use_engines(const mf_engine *const *engines, size_t n);

/* batch = samples order[start .. start + nb), as columns u, i, y */
void mf_gather_batch(const mf_run *run, mf_batch *b, size_t start, size_t nb);
/* Forward, the loss, ∂L/∂r̂ and backward for nb samples of b, on model m
 * (the run's, or a replica): the batch's loss, with every gradient
 * accumulated in m's block; when the loss is not finite, the gradients are
 * zeroed and the loss returned as it is. */
double mf_batch_gradient(const mf_run *run, mf_model *m, mf_batch *b, size_t nb,
                         nn_rng *dropout);
/* its two halves, for an engine that works between them: the forward pass
 * and the loss (r̂ and L), then ∂L/∂r̂ and the backward pass */
double mf_batch_loss(const mf_run *run, const mf_model *m, mf_batch *b, size_t nb,
                     nn_rng *dropout);
void mf_batch_backward(const mf_run *run, mf_model *m, mf_batch *b, size_t nb);
/* mark every embedding row the forward pass of these pairs reads
 * (nn_params_touch): the rows their backward pass gives gradient to, which
 * a lazy step updates and nn_params_zero_grad clears (mf_backward marks
 * them; an engine that brings rows up to date before the forward pass
 * marks them first) */
void mf_mark_rows(mf_model *m, const uint32_t *u, const uint32_t *i, size_t B);
/* the epoch's progress on the terminal (at most ten times a second): done
 * samples of the epoch's, their mean loss so far (session/log.c, with the
 * rest of Keras's log) */
void mf_show_progress(mf_run *run, size_t done, double mean_loss);
/* 1 when the session's stop flag is up (a signal asked training to end;
 * session/halt.c, with what the run then says) */
int mf_stop_asked(const mf_run *run);


/* Score every row of r (its indices must come from the model's id maps).
 * fallback 0: the model's output for every row, exactly what Keras's
 * val_loss measures (an id never trained keeps its initial weights);
 * fallback 1: predict μ where the model never learned the user or item
 * (what `embrec eval` reports, as libraries such as Surprise do). */
mf_metrics mf_evaluate(const mf_model *m, const data_ratings *r, int fallback);
/* n, and MSE, RMSE and MAE from the sums of squared and absolute errors
 * over n rows (all 0 when n is 0) */
void mf_metrics_finish(mf_metrics *out, double se, double ae, size_t n);
/* the same on `threads` threads; the metrics do not depend on how many */
mf_metrics mf_evaluate_threads(const mf_model *m, const data_ratings *r, int fallback,
                               size_t threads);

/* ------------------------------------------------------------ ranking */

/* The NCF protocol: each test row (u, i) is ranked against n_neg items
 * drawn uniformly (NCF: 99) among those u has not interacted with (in train
 * or test). Its rank is the number of those with a score ≥ its own (ties
 * count against it, so a constant scorer ranks last). HR@K = [rank < K];
 * NDCG@K = 1/log2(rank + 2) if rank < K; means over the test rows.
 * use/ranking.h ranks against every unseen item instead (hr_all, ndcg_all)
 * and adds precision@K and recall@K of the top K. */
typedef struct {
    size_t k;
    size_t rows, users;    /* test rows ranked, users with test rows */
    double hr, ndcg;       /* against n_neg sampled items (mf_rank_evaluate) */
    double hr_all, ndcg_all;   /* against every unseen item (use/ranking.h) */
    double precision, recall;  /* of the top K, means over users (use/ranking.h) */
} mf_ranking;

/* score items by the model's output (for an implicit model, its logit):
 * hr, ndcg, rows, users */
int mf_rank_evaluate(const mf_model *m, const data_ratings *train,
                     const data_ratings *test, size_t k, size_t n_neg,
                     uint64_t seed, mf_ranking *out, data_error *err);

/* Rows of items scored at once by one forward pass (what scratch for
 * scoring, an mf_work, needs room for). */
#define MF_SCORE_CHUNK 256
/* scores[k] for the items[k] of user u; w: scratch for MF_SCORE_CHUNK rows */
typedef void (*mf_item_scorer)(const void *ctx, mf_work *w, uint32_t u, const uint32_t *items,
                               size_t n, float *scores);
/* the model's scorer (ctx: the model): its output for each item */
void mf_score_items(const void *model, mf_work *w, uint32_t u, const uint32_t *items, size_t n,
                    float *scores);
/* the same protocol for any scorer f (with its ctx; m, when not NULL, is
 * the model w is made for): what a baseline is ranked by (use/baselines.h) */
int mf_rank_with(mf_item_scorer f, const void *ctx, const mf_model *m, size_t n_users,
                 size_t n_items, const data_ratings *train, const data_ratings *test,
                 size_t k, size_t n_neg, uint64_t seed, mf_ranking *out, data_error *err);
/* one held-out item's credit at rank (from 0): HR@K's 1 and NDCG@K's
 * 1/log2(rank + 2) added to *hr, *ndcg when rank < K */
void mf_rank_add(size_t rank, size_t K, double *hr, double *ndcg);

typedef struct { uint32_t item; float score; } mf_scored;

/* keep the n best of what is offered in best[0 .. *filled), a min-heap
 * (the weakest at best[0]) once full */
void mf_offer(mf_scored *best, size_t n, size_t *filled, mf_scored s);

/* ------------------------------------------------------------ recipes */

/* A notebook's whole protocol: model, optimiser, batch, split, epochs. */
typedef struct {
    const char *name;      /* --recipe NAME */
    const char *notebook;  /* which notebook it reproduces (NULL: none, one of embrec's own) */
    const char *summary;   /* one line for --help */
    mf_config model;
    mf_fit fit;            /* optimiser, batch, epochs, EarlyStopping, ... */
    double val_split;      /* validation_split */
    int shuffle_first;     /* shuffle the rows once, seeded, before splitting */
    int shuffle_numpy;     /* ... as the notebook did: pandas' df.sample(frac=1,
                            * random_state=numpy_seed), its own split */
    uint64_t numpy_seed;
    int mean_of_all;       /* μ over every row, the validation rows' too (the
                            * notebook centred before it split); else the training rows' */
} mf_recipe;

/* the recipes: "mf8" (notebook 000), "hybrid" (001), "deep-genre" (002),
 * "cfmodel" (003), "neumf" (004), and "svdpp" (Koren's SVD++, no notebook's) */
const mf_recipe *mf_recipes(size_t *n);
const mf_recipe *mf_recipe_find(const char *name);

/* ------------------------------------------------------------ use */

/* The n best items for user u by predicted rating, best first, skipping
 * items the model never learned and those with exclude[item] != 0 (may be
 * NULL). out has room for n; returns how many were written. */
size_t mf_recommend(const mf_model *m, uint32_t u, const uint8_t *exclude,
                    mf_scored *out, size_t n);

/* mf_recommend with the caller's scratch w (room for MF_SCORE_CHUNK rows),
 * for callers that score many users; w->cold_user, when set, stands in for
 * u (use/cold_start.h) */
size_t mf_recommend_with(const mf_model *m, mf_work *w, uint32_t u, const uint8_t *exclude,
                         mf_scored *out, size_t n);

typedef enum { MF_COSINE, MF_EUCLIDEAN } mf_metric;

/* The n items nearest to item i by their item vectors q̃ (q itself without
 * features; cosine similarity, or the negated euclidean distance so that higher is nearer),
 * best first, skipping i itself and items with fewer than min_count training
 * ratings. Returns how many were written to out. */
size_t mf_similar(const mf_model *m, uint32_t i, mf_metric metric, uint32_t min_count,
                  mf_scored *out, size_t n);

/* ------------------------------------------- for the file formats (formats/)
 * What the model file reader (formats/model_file.c) and the .npy weights
 * loader (formats/npy.c) need of a model's insides; no other caller outside
 * mf.c needs them. */

/* the checks mf_init makes of a configuration (session/checks.c); 0, or -1 with err */
int mf_check_config(const mf_config *c, data_error *err);
/* m->params (its tensors' shapes), m->id and m->S laid out for m's cfg, sizes
 * and features; nothing allocated */
void mf_layout(mf_model *m);
/* mf_layout, then the parameter block, counts and genres allocated (not the ids
 * or id maps) and m->w, m->dw pointed into it; 0, or -1 with err */
int mf_alloc(mf_model *m, data_error *err);
/* Dense layer l's inputs C and outputs O (0 ≤ l ≤ n_hidden; n_hidden is the output) */
size_t mf_layer_in(const mf_config *c, size_t l);
size_t mf_layer_out(const mf_config *c, size_t l);

#endif
