/* mf.h — matrix factorisation learned as user and movie embeddings
 * (notebooks 000 and 003), its training loop, evaluation, recommendation
 * and model files.
 *
 * Two models share one implementation:
 *   dot   r̂ = p_u·q_i            (notebook 003, "CFModel")
 *         r̂ = μ + p_u·q_i        with centring (notebook 000: train on r − μ)
 *   bias  r̂ = μ + b_u + b_i + p_u·q_i, with L2 on the rows a rating uses
 *
 * A model owns its parameters (one nn_params block: P (U, S), Q (I, S), and
 * for `bias` b_u (U, 1), b_i (I, 1)), copies of the raw user and item ids,
 * and how many training ratings each row had (0 marks a row the model never
 * learned: predictions for it fall back to the global mean μ).
 */
#ifndef EMBREC_MF_H
#define EMBREC_MF_H

#include <stdio.h>

#include "data.h"
#include "nn.h"

typedef enum { MF_DOT, MF_BIAS } mf_kind;

const char *mf_kind_name(mf_kind kind);             /* "dot", "bias" */
int mf_kind_parse(const char *name, mf_kind *kind); /* 0 or -1 */

typedef struct {
    mf_kind kind;
    size_t dim;         /* K: embedding width */
    int centre;         /* dot: predict μ + p·q (bias always has μ) */
    float l2;           /* bias: λ in the loss term λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²) */
    float init_limit;   /* embeddings start U(−limit, limit); Keras "uniform": 0.05 */
} mf_config;

/* dot, K 8, not centred, λ 0, limit 0.05 */
mf_config mf_defaults(void);

typedef struct {
    mf_config cfg;
    size_t n_users, n_items;   /* U, I */
    float mean;                /* μ: mean rating of the data the model was built on */
    float rating_min, rating_max;
    nn_params params;          /* every trainable parameter, one block */
    size_t t_user, t_item;     /* tensor indices of P and Q in params */
    size_t t_user_bias, t_item_bias; /* b_u, b_i (bias model only) */
    int64_t *user_ids;         /* (U) raw id of each user row */
    int64_t *item_ids;         /* (I) raw id of each item row */
    uint32_t *user_count;      /* (U) training ratings of each user (0: never learned) */
    uint32_t *item_count;      /* (I) */
    data_idmap users, items;   /* raw id -> row, rebuilt from user_ids/item_ids */
    char source[512];          /* the ratings file it was trained on ("" if unknown) */
} mf_model;

/* Build a model over every id in users/items, with μ and the rating range
 * taken from `all` (notebook 000 centres on the mean of all ratings) and
 * weights drawn from rng. Counts start at 0 (see mf_count). 0 or -1 with err. */
int mf_init(mf_model *m, mf_config cfg, const data_idmap *users,
            const data_idmap *items, const data_ratings *all, nn_rng *rng,
            data_error *err);
void mf_free(mf_model *m);
/* add the rows of a training set to user_count / item_count */
void mf_count(mf_model *m, const data_ratings *train);

/* pred (B) for the pairs (u[b], i[b]); rows must be < U, < I */
void mf_forward(const mf_model *m, float *pred, const uint32_t *u,
                const uint32_t *i, size_t B);
/* accumulate dP, dQ (and db_u, db_i) from dpred (B), including the L2
 * gradient 2λ/B·w of every row a rating used, and mark those rows touched */
void mf_backward(mf_model *m, const float *dpred, const uint32_t *u,
                 const uint32_t *i, size_t B);
/* the L2 term of the batch loss: (λ/B) Σ_b (‖p_u‖² + ‖q_i‖² + b_u² + b_i²) */
double mf_l2_loss(const mf_model *m, const uint32_t *u, const uint32_t *i,
                  size_t B);
/* one prediction; a row outside the model or with no training ratings
 * gets the global mean μ */
float mf_predict(const mf_model *m, uint32_t u, uint32_t i);
/* 1 when the model learned both the user and the item */
int mf_knows(const mf_model *m, uint32_t u, uint32_t i);

/* ------------------------------------------------------------- training */

typedef struct {
    nn_optimizer_config opt;
    size_t batch;          /* ratings per step (Keras default 32) */
    size_t epochs;         /* at most this many */
    size_t patience;       /* EarlyStopping(val_loss, patience); 0 = never stop early */
    int restore_best;      /* ModelCheckpoint(save_best_only): keep the best epoch's weights */
    uint64_t seed;         /* the per-epoch shuffles of the training rows */
    int verbose;           /* 0 silent; 1 one line per epoch; 2 a progress bar
                            * when the log is a terminal, else as 1 */
    const char *history_path; /* per-epoch CSV, or NULL */
} mf_train_config;

/* AdaMax (Keras defaults, dense), batch 32, 30 epochs, patience 0, seed 1,
 * verbose 2, no history file */
mf_train_config mf_train_defaults(void);

typedef struct {
    double loss;           /* mean training loss over the epoch (as Keras reports it) */
    double val_loss;       /* MSE on the validation rows after the epoch (NAN without) */
    double val_mae;
    double seconds;
} mf_epoch;

typedef struct {
    mf_epoch *epoch;       /* (n) */
    size_t n;
    size_t best;           /* index of the lowest val_loss (or the last epoch) */
    int stopped_early;
} mf_history;

void mf_history_free(mf_history *h);

/* Train on train, validate on val (may be NULL or empty), log Keras-style
 * lines to log (may be NULL). Adds train's rows to the model's counts.
 * 0 or -1 with err (out of memory, history file). */
int mf_train(mf_model *m, const data_ratings *train, const data_ratings *val,
             const mf_train_config *cfg, mf_history *hist, FILE *log,
             data_error *err);

typedef struct {
    size_t n;              /* ratings scored */
    size_t unknown;        /* of which the model had not learned user or item */
    double mse, rmse, mae;
} mf_metrics;

/* Score every row of r (its indices must come from the model's id maps).
 * fallback 0: the model's output for every row, exactly what Keras's
 * val_loss measures (an id never trained keeps its initial weights);
 * fallback 1: predict μ where the model never learned the user or item
 * (what `embrec eval` reports, as libraries such as Surprise do). */
mf_metrics mf_evaluate(const mf_model *m, const data_ratings *r, int fallback);
/* the same for always predicting the mean rating: the baseline to beat */
mf_metrics mf_evaluate_mean(float mean, const data_ratings *r);

/* ------------------------------------------------------------ recipes */

/* A notebook's whole protocol: model, optimiser, batch, split, epochs. */
typedef struct {
    const char *name;      /* --recipe NAME */
    const char *notebook;  /* which notebook it reproduces */
    const char *summary;   /* one line for --help */
    mf_config model;
    mf_train_config train;
    double val_split;      /* validation_split */
    int shuffle_first;     /* shuffle the rows once, seeded, before splitting */
} mf_recipe;

/* the recipes: "mf8" (notebook 000) and "cfmodel" (notebook 003) */
const mf_recipe *mf_recipes(size_t *n);
const mf_recipe *mf_recipe_find(const char *name);

/* ------------------------------------------------------------ use */

typedef struct { uint32_t item; float score; } mf_scored;

/* The n best items for user u by predicted rating, best first, skipping
 * items the model never learned and those with exclude[item] != 0 (may be
 * NULL). out has room for n; returns how many were written. */
size_t mf_recommend(const mf_model *m, uint32_t u, const uint8_t *exclude,
                    mf_scored *out, size_t n);

/* ------------------------------------------------------------ model files
 * Little-endian binary, version MF_FILE_VERSION:
 *   "EMBRECMF"  u32 version  u32 kind  u32 centre  u32 dim
 *   u64 U  u64 I  f32 mean  f32 rating_min  f32 rating_max  f32 l2  f32 init_limit
 *   u32 source length, source bytes
 *   i64 user_ids[U]  i64 item_ids[I]  u32 user_count[U]  u32 item_count[I]
 *   f32 P[U·K]  f32 Q[I·K]  (bias: f32 b_u[U]  f32 b_i[I])   rows unpadded
 *   u64 FNV-1a hash of every byte before it
 * Saving writes a temporary file in the same directory, syncs it and renames
 * it over the target, so the target is always either the old or the new model. */
#define MF_FILE_VERSION 1

int mf_save(const mf_model *m, const char *path, data_error *err);
int mf_load(mf_model *m, const char *path, data_error *err);

#endif
