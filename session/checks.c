/* session/checks.c — the settings a model or a training run cannot be
 * built with (see checks.h): each refused with an error that names the
 * setting, its value and what it must be, before anything is allocated.
 */
#include "session/checks.h"

#include "session/replay.h"
#include "session/resume.h"

#include <string.h>

int mf_check_config(const mf_config *c, data_error *err) {
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
    if (cfg->kind == MF_SVDPP && strcmp(who, "user") == 0) { /* one list of features a side */
        data_errorf(err, "svdpp's users are described by the movies they rated: user "
                    "features work with every other model but ncf");
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

/* deep: every movie's genre, below the number of genres */
static int check_genres(const mf_config *cfg, const mf_side *side, size_t n_items,
                        data_error *err) {
    size_t k;
    if (cfg->kind != MF_DEEP) return 0;
    if (!side->item_genre || side->n_genres == 0) {
        data_errorf(err, "the deep model needs each movie's genres (a movies file)");
        return -1;
    }
    for (k = 0; k < n_items; k++)
        if (side->item_genre[k] >= side->n_genres) {
            data_errorf(err, "genre index %u of item %zu is not below %zu", side->item_genre[k],
                        k, side->n_genres);
            return -1;
        }
    return 0;
}

int session_check_side(const mf_config *cfg, const mf_side *side, size_t n_users,
                       size_t n_items, data_error *err) {
    if (check_features(cfg, side->user_features, n_users, "user", err) != 0 ||
        check_features(cfg, side->item_features, n_items, "item", err) != 0)
        return -1;
    return check_genres(cfg, side, n_items, err);
}

int session_check_fit(const mf_model *m, const mf_train_config *cfg, data_error *err) {
    if (cfg->fit.batch == 0 || cfg->fit.epochs == 0 || (m->cfg.implicit && cfg->fit.rank_k == 0)) {
        data_errorf(err, "batch size, epochs and the ranking cut-off must be at least 1");
        return -1;
    }
    if (session_resume_check(m, cfg, err) != 0) return -1;
    if (!(cfg->fit.lr_decay >= 0 && cfg->fit.lr_decay <= 1)) { /* (NaN too) */
        data_errorf(err, "the rate's decay must be a factor in (0, 1] (it is %g)",
                    cfg->fit.lr_decay);
        return -1;
    }
    if (cfg->fit.lr_decay > 0 && cfg->fit.lr_decay != 1 && cfg->fit.opt.kind != NN_SGD) {
        data_errorf(err, "the rate decays after each epoch for SGD only (the optimiser is %s)",
                    nn_optimizer_name(cfg->fit.opt.kind));
        return -1;
    }
    return session_replay_check(cfg, err);
}
