/* tests/test_ref.c — the deep and neumf models against fixtures written by an
 * independent NumPy implementation (tests/ref/models_ref.py), in the style of
 * llm.c's test against PyTorch.
 *
 * For each model the fixture holds sizes, architecture, one batch, the
 * initial weights, and for each of three training steps the dropout masks,
 * pred, the MSE loss, every gradient and every parameter after a dense Adam
 * step (lr 0.01), plus inference predictions before and after training. The
 * test builds the model with mf_init, overwrites its weights with the
 * fixture's, and trains exactly as mf.c's train_epoch does (forward with the
 * one continuing dropout rng, loss, backward, nn_optimizer_step,
 * nn_params_zero_grad), checking everything on the way. A missing fixture is
 * a failure, not a skip: the C tests never need Python, the fixture is
 * committed. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../formats/npy.h"
#include "../formats/numpy.h"
#include "../mf.h"
#include "fixture.h"
#include "test.h"

/* Tolerances, |got − want| ≤ atol + rtol·|want|. The reference computes in
 * float64 from the same float32 weights and masks; the C code in float32.
 *
 * pred (rtol 1e-5, atol 1e-6): each pred is min + 4σ(z) with z from at most
 * three Dense layers of ≤ 12 inputs over values ≲ 1; float32 rounding gives
 * |Δz| ≲ n·u·Σ|terms| ≈ 12·6e-8·O(1) ≈ 1e-6 at the very worst, σ' ≤ 1/4, so
 * |Δpred| ≲ 1e-6 ≪ 1e-6 + 1e-5·3. Steps 2 and 3 start from parameters that
 * have drifted by ≲ 1e-7 (below), which moves pred by about as much.
 * loss (rtol 1e-5, atol 1e-7): the mean of (pred − y)² with |pred − y| ≲ 2
 * inherits |Δloss| ≲ 4·|Δpred|; nn_mse_forward sums in double.
 * gradients (rtol 1e-4, atol 1e-6): backprop through the same few layers,
 * gradients ≲ 1; a gradient that is a near-cancelling sum (a repeated row,
 * a kernel entry summed over the batch) keeps the absolute error of its
 * terms, ~1e-8, hence the atol; rtol covers the chain of relative errors.
 * parameters after Adam (rtol 1e-5, atol 2e-6): the step is
 * lr_t·m/(√v + ε), about lr = 0.01 in size whatever |g| is, so a gradient
 * error moves a weight by lr·Δg/(σ + ε̂) with σ the RMS gradient so far and
 * ε̂ = ε/√(1−β2) ≈ 3.2e-6 at step 1. Where σ is near ε̂ that slope reaches
 * lr/ε̂ ≈ 3200 (1e-8 in g becomes 3e-5 in the weight: Adam's sensitive
 * regime where v is tiny), so the reference refuses fixtures with any
 * parameter whose σ is non-zero but below 10·ε̂; above it, a gradient error of
 * 1e-8 moves a weight by at most ~1e-7 per step. atol 2e-6 is 5000 times
 * smaller than one step, so a wrong gradient, sign, bias correction or
 * skipped row (errors of order lr) cannot hide in it; rtol adds a few ulps
 * of |p| ≲ 1 per step for the float32 update itself.
 * As a measured check of all four, models_ref.py runs the same trajectory
 * entirely in float32 with NumPy's own summation order and requires it to
 * stay within a tenth of each tolerance (it stays within 1/20; the fixture's
 * comments give the numbers).
 *
 * Exact checks, where rounding cannot enter: the dropout masks (the same
 * generator and rule), and every gradient the reference has at exactly 0
 * (rows outside the batch, dropped units, ReLUs that are off: structural
 * zeros, which are exact in float32 too), and every weight the reference
 * never moves (m = v = 0: dense Adam leaves it bit for bit). */
#define RX_PRED_RTOL 1e-5
#define RX_PRED_ATOL 1e-6
#define RX_LOSS_RTOL 1e-5
#define RX_LOSS_ATOL 1e-7
#define RX_GRAD_RTOL 1e-4
#define RX_GRAD_ATOL 1e-6
#define RX_PARAM_RTOL 1e-5
#define RX_PARAM_ATOL 2e-6

#define RX_PATH "tests/ref/models.txt"
#define RX_MAXT 24  /* tensors */
#define RX_MAXN 512 /* floats in one tensor or mask */
#define RX_MAXB 32  /* batch */
#define RX_MAXS 8   /* steps */
#define RX_MAXM 12  /* masks per step */
#define RX_MAXR 256 /* users, items, genres */

typedef struct {
    char name[40];
    size_t rows, k;
    float init[RX_MAXN];
    double grad[RX_MAXS][RX_MAXN];
    float after[RX_MAXS][RX_MAXN];
} rx_tensor;

typedef struct {
    char name[24];
    size_t n;
    float v[RX_MAXN];
} rx_mask;

typedef struct {
    char kind[16], act[16];
    size_t U, I, G, K, B, steps, n_hidden, hidden[MF_MAX_HIDDEN];
    float dropout_embed, dropout_hidden, rating_min, rating_max;
    float lr, beta1, beta2, eps;
    int output_lecun;
    uint64_t seed;
    uint32_t genre[RX_MAXR];
    uint32_t u[RX_MAXS][RX_MAXB], i[RX_MAXS][RX_MAXB]; /* each step's batch */
    float y[RX_MAXS][RX_MAXB];
    size_t n_tensors;
    rx_tensor t[RX_MAXT];
    size_t n_masks[RX_MAXS];
    rx_mask mask[RX_MAXS][RX_MAXM];
    double pred[RX_MAXS][RX_MAXB], loss[RX_MAXS];
    double infer_init[RX_MAXB], infer_final[RX_MAXB];
} rx_model;

static rx_model rx; /* large: static, not on the stack */

/* ------------------------------------------------------------ the reader */

/* the next token into out, which must be there */
static int rx_name(fixture_file *rd, char *out, size_t cap) {
    if (fixture_token(rd, out, cap)) return 0;
    test_fail(__FILE__, __LINE__, RX_PATH ": unexpected end of file");
    return -1;
}

static int rx_u64(fixture_file *rd, uint64_t *x) {
    char buf[64], *end;
    const char *t = fixture_token(rd, buf, sizeof buf);
    if (t && *t >= '0' && *t <= '9') {
        *x = (uint64_t)strtoull(t, &end, 10);
        if (!*end) return 0;
    }
    test_fail(__FILE__, __LINE__, RX_PATH ": bad seed \"%s\"", t ? t : "");
    return -1;
}

static int rx_u32s(fixture_file *rd, uint32_t *x, size_t n, size_t below) {
    size_t j, v;
    for (j = 0; j < n; j++) {
        if (fixture_size(rd, &v, below - 1)) return -1;
        x[j] = (uint32_t)v;
    }
    return 0;
}

/* one "model" block, after its name, into rx */
static int rx_block(fixture_file *rd) {
    size_t l, t, s, j, step, n;
    if (fixture_word(rd, "sizes") || fixture_size(rd, &rx.U, RX_MAXR) ||
        fixture_size(rd, &rx.I, RX_MAXR) || fixture_size(rd, &rx.G, RX_MAXR) ||
        fixture_size(rd, &rx.K, RX_MAXN) || fixture_size(rd, &rx.B, RX_MAXB) ||
        fixture_size(rd, &rx.steps, RX_MAXS))
        return -1;
    if (!rx.U || !rx.I || !rx.K || !rx.B || !rx.steps) {
        test_fail(__FILE__, __LINE__, RX_PATH ": empty sizes");
        return -1;
    }
    if (fixture_word(rd, "hidden") || fixture_size(rd, &rx.n_hidden, MF_MAX_HIDDEN)) return -1;
    for (l = 0; l < rx.n_hidden; l++)
        if (fixture_size(rd, &rx.hidden[l], RX_MAXN)) return -1;
    if (rx_name(rd, rx.act, sizeof rx.act)) return -1;
    if (fixture_word(rd, "dropout") || fixture_floats(rd, &rx.dropout_embed, 1) ||
        fixture_floats(rd, &rx.dropout_hidden, 1) || fixture_word(rd, "output_lecun") ||
        fixture_size(rd, &n, 1))
        return -1;
    rx.output_lecun = (int)n;
    if (fixture_word(rd, "rating_range") || fixture_floats(rd, &rx.rating_min, 1) ||
        fixture_floats(rd, &rx.rating_max, 1) || fixture_word(rd, "adam") ||
        fixture_floats(rd, &rx.lr, 1) || fixture_floats(rd, &rx.beta1, 1) ||
        fixture_floats(rd, &rx.beta2, 1) || fixture_floats(rd, &rx.eps, 1) ||
        fixture_word(rd, "seed") || rx_u64(rd, &rx.seed))
        return -1;
    if (fixture_word(rd, "genres") || (rx.G && rx_u32s(rd, rx.genre, rx.I, rx.G))) return -1;
    if (fixture_word(rd, "tensors") || fixture_size(rd, &rx.n_tensors, RX_MAXT)) return -1;
    for (t = 0; t < rx.n_tensors; t++) {
        rx_tensor *x = &rx.t[t];
        if (fixture_word(rd, "tensor") || rx_name(rd, x->name, sizeof x->name) ||
            fixture_size(rd, &x->rows, RX_MAXN) || fixture_size(rd, &x->k, RX_MAXN))
            return -1;
        if (x->rows * x->k > RX_MAXN || x->rows * x->k == 0) {
            test_fail(__FILE__, __LINE__, RX_PATH ": tensor %s too big or empty", x->name);
            return -1;
        }
        if (fixture_floats(rd, x->init, x->rows * x->k)) return -1;
    }
    if (fixture_word(rd, "infer_init") || fixture_doubles(rd, rx.infer_init, rx.B)) return -1;
    for (s = 0; s < rx.steps; s++) {
        if (fixture_word(rd, "step") || fixture_size(rd, &step, RX_MAXS)) return -1;
        CHECK_INT(step, s + 1);
        if (fixture_word(rd, "users") || rx_u32s(rd, rx.u[s], rx.B, rx.U) ||
            fixture_word(rd, "items") || rx_u32s(rd, rx.i[s], rx.B, rx.I) ||
            fixture_word(rd, "ratings") || fixture_floats(rd, rx.y[s], rx.B))
            return -1;
        if (fixture_word(rd, "masks") || fixture_size(rd, &rx.n_masks[s], RX_MAXM)) return -1;
        for (j = 0; j < rx.n_masks[s]; j++) {
            rx_mask *mk = &rx.mask[s][j];
            if (fixture_word(rd, "mask") || rx_name(rd, mk->name, sizeof mk->name) ||
                fixture_size(rd, &mk->n, RX_MAXN) || fixture_floats(rd, mk->v, mk->n))
                return -1;
        }
        if (fixture_word(rd, "pred") || fixture_doubles(rd, rx.pred[s], rx.B) ||
            fixture_word(rd, "loss") || fixture_doubles(rd, &rx.loss[s], 1))
            return -1;
        for (t = 0; t < rx.n_tensors; t++) {
            rx_tensor *x = &rx.t[t];
            if (fixture_word(rd, "grad") || fixture_word(rd, x->name) ||
                fixture_doubles(rd, x->grad[s], x->rows * x->k))
                return -1;
        }
        for (t = 0; t < rx.n_tensors; t++) {
            rx_tensor *x = &rx.t[t];
            if (fixture_word(rd, "param") || fixture_word(rd, x->name) ||
                fixture_floats(rd, x->after[s], x->rows * x->k))
                return -1;
        }
    }
    if (fixture_word(rd, "infer_final") || fixture_doubles(rd, rx.infer_final, rx.B) ||
        fixture_word(rd, "end"))
        return -1;
    return 0;
}

/* the block of model `kind` from the fixture into rx; 0, or -1 after a FAIL */
static int rx_load(const char *kind) {
    fixture_file rd;
    char buf[64];
    int rc = -1;
    if (fixture_open(&rd, RX_PATH) != 0) return -1;
    for (;;) {
        const char *t = fixture_token(&rd, buf, sizeof buf);
        if (!t) {
            test_fail(__FILE__, __LINE__, RX_PATH ": no model \"%s\"", kind);
            break;
        }
        if (strcmp(t, "model") != 0) {
            test_fail(__FILE__, __LINE__, RX_PATH ": expected \"model\", found \"%s\"", t);
            break;
        }
        memset(&rx, 0, sizeof rx);
        if (rx_name(&rd, rx.kind, sizeof rx.kind) || rx_block(&rd) != 0) break;
        if (strcmp(rx.kind, kind) == 0) {
            rc = 0;
            break;
        }
    }
    fixture_close(&rd);
    return rc;
}

/* ------------------------------------------------------------ the check */

/* the model of the fixture with mf_init, weights overwritten by the fixture's;
 * tix[t]: the index in m->params of fixture tensor t. 0 or -1 after a FAIL. */
static int rx_build(mf_model *m, size_t *tix) {
    mf_config cfg;
    mf_side side;
    mf_kind kind;
    data_idmap users, items;
    data_ratings all;
    data_error err;
    nn_rng rng;
    size_t k, t, j, r, s;
    int rc = -1;
    if (mf_kind_parse(rx.kind, &kind) != 0) {
        test_fail(__FILE__, __LINE__, "unknown model kind \"%s\"", rx.kind);
        return -1;
    }
    memset(&side, 0, sizeof side);
    cfg = mf_defaults_for(kind); /* the notebook's architecture, then the fixture's sizes */
    cfg.dim = rx.K;
    cfg.n_hidden = rx.n_hidden;
    for (k = 0; k < rx.n_hidden; k++) cfg.hidden[k] = rx.hidden[k];
    if (nn_activation_parse(rx.act, &cfg.hidden_act) != 0) {
        test_fail(__FILE__, __LINE__, "unknown activation \"%s\"", rx.act);
        return -1;
    }
    cfg.dropout_embed = rx.dropout_embed;
    cfg.dropout_hidden = rx.dropout_hidden;
    cfg.output_lecun = rx.output_lecun;
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    for (k = 0; k < rx.U; k++) data_idmap_intern(&users, (int64_t)(100 + k));
    for (k = 0; k < rx.I; k++) data_idmap_intern(&items, (int64_t)(500 + k));
    for (s = 0; s < rx.steps; s++) /* the training set: every step's batch */
        for (k = 0; k < rx.B; k++) data_ratings_push(&all, rx.u[s][k], rx.i[s][k], rx.y[s][k], 0);
    nn_rng_seed(&rng, 1); /* mf_init's random weights are overwritten below */
    side.item_genre = rx.G ? rx.genre : NULL;
    side.n_genres = rx.G;
    if (mf_init(m, cfg, &users, &items, &all, &side, &rng, &err) != 0) {
        test_fail(__FILE__, __LINE__, "mf_init: %s", err.msg);
        goto done;
    }
    mf_count(m, &all);
    /* the rating range comes from the data, as in training */
    CHECK(m->rating_min == rx.rating_min);
    CHECK(m->rating_max == rx.rating_max);
    CHECK_INT(m->params.n_tensors, rx.n_tensors);
    for (t = 0; t < rx.n_tensors; t++) {
        const rx_tensor *x = &rx.t[t];
        const nn_tensor *nt = NULL;
        float *w;
        for (j = 0; j < m->params.n_tensors; j++)
            if (strcmp(m->params.t[j].name, x->name) == 0) nt = &m->params.t[j];
        if (!nt) {
            test_fail(__FILE__, __LINE__, "the %s model has no tensor %s", rx.kind, x->name);
            goto done;
        }
        tix[t] = (size_t)(nt - m->params.t);
        if (nt->rows != x->rows || nt->k != x->k) {
            test_fail(__FILE__, __LINE__, "%s is %zu x %zu, the fixture's %zu x %zu", x->name,
                      nt->rows, nt->k, x->rows, x->k);
            goto done;
        }
        w = nn_param(&m->params, tix[t]);
        for (r = 0; r < x->rows; r++) /* unpadded rows into padded ones */
            memcpy(w + r * nt->stride, x->init + r * x->k, x->k * sizeof *w);
    }
    rc = 0;
done:
    data_ratings_free(&all);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return rc;
}

/* the dropout mask mf_forward left in w for a fixture mask name, and its
 * length in *n; NULL for a name the model has no mask for */
static const float *rx_work_mask(const mf_work *w, const char *name, size_t *n) {
    unsigned long l;
    char *end;
    int deep = strcmp(rx.kind, "deep") == 0;
    *n = rx.B * rx.K;
    if (deep && strcmp(name, "embed") == 0) {
        *n = rx.B * 3 * rx.K;
        return w->mask[0];
    }
    if (!deep && strcmp(name, "user") == 0) return w->mask_u;
    if (!deep && strcmp(name, "item") == 0) return w->mask_i;
    if (strncmp(name, "hidden_", 7) == 0) {
        l = strtoul(name + 7, &end, 10);
        if (end != name + 7 && !*end && l >= 1 && l <= rx.n_hidden) {
            *n = rx.B * rx.hidden[l - 1];
            return w->mask[l];
        }
    }
    return NULL;
}

/* 1 when row r of tensor t (an embedding) is used by step s's batch; 1 for
 * the Dense tensors, which every row of every batch uses */
static int rx_in_batch(const mf_model *m, size_t t, size_t r, size_t s) {
    size_t b;
    for (b = 0; b < rx.B; b++) {
        uint32_t u = rx.u[s][b], i = rx.i[s][b];
        if (t == m->id.user_embedding ? u == r
            : t == m->id.item_embedding ? i == r
            : m->cfg.kind == MF_DEEP && t == m->id.genre_embedding ? rx.genre[i] == r
            : 1)
            return 1;
    }
    return 0;
}

static void rx_check_preds(const float *pred, const double *want, const char *what,
                           size_t step) {
    size_t b, bad = 0;
    for (b = 0; b < rx.B; b++)
        if (!test_close(pred[b], want[b], RX_PRED_RTOL, RX_PRED_ATOL) && bad++ < 3)
            test_fail(__FILE__, __LINE__, "%s %s step %zu pred[%zu] = %.9g, expected %.9g",
                      rx.kind, what, step, b, (double)pred[b], want[b]);
}

/* everything, for the fixture's model `kind`; -1 when the fixture could not
 * be read (already a FAIL) */
static int rx_check(const char *kind) {
    mf_model m;
    mf_work w;
    nn_optimizer opt;
    nn_optimizer_config oc;
    nn_rng dropout;
    size_t tix[RX_MAXT], s, t, r, c, j, b;
    float pred[RX_MAXB], dpred[RX_MAXB];
    double max_grad[RX_MAXT], fx_max_grad[RX_MAXT], all_max = 0.0;
    size_t moved_outside_batch = 0, never_moved = 0;
    int dropout_acted = 0;
    if (rx_load(kind) != 0) return -1;
    memset(&opt, 0, sizeof opt);
    memset(&m, 0, sizeof m);
    if (rx_build(&m, tix) != 0) {
        mf_free(&m);
        return 0;
    }
    if (mf_work_init(&w, &m, rx.B) != 0) {
        test_fail(__FILE__, __LINE__, "out of memory");
        mf_free(&m);
        return 0;
    }
    oc = nn_optimizer_defaults(NN_ADAM); /* Keras Adam but lr, dense: the notebooks' */
    CHECK(oc.update == NN_UPDATE_DENSE);
    CHECK(oc.beta1 == rx.beta1 && oc.beta2 == rx.beta2 && oc.epsilon == rx.eps);
    oc.lr = rx.lr;
    if (nn_optimizer_init(&opt, oc, m.params.n) != 0) {
        test_fail(__FILE__, __LINE__, "out of memory");
        goto done;
    }

    /* inference: no dropout, no draws */
    mf_forward(&m, &w, pred, rx.u[0], rx.i[0], rx.B, NULL);
    rx_check_preds(pred, rx.infer_init, "inference", 0);

    for (t = 0; t < rx.n_tensors; t++) max_grad[t] = fx_max_grad[t] = 0.0;
    nn_rng_seed(&dropout, rx.seed); /* one stream through every step, as mf_train */
    for (s = 0; s < rx.steps; s++) {
        const uint32_t *u = rx.u[s], *i = rx.i[s];
        const float *y = rx.y[s];
        double loss;
        size_t bad = 0;
        /* forward, with this step's dropout masks */
        mf_forward(&m, &w, pred, u, i, rx.B, &dropout);
        CHECK(rx.n_masks[s] > 0);
        for (j = 0; j < rx.n_masks[s]; j++) {
            const rx_mask *mk = &rx.mask[s][j];
            size_t n_bad = 0, first = 0, n;
            const float *got = rx_work_mask(&w, mk->name, &n);
            if (!got || n != mk->n) {
                test_fail(__FILE__, __LINE__, "%s: no dropout mask \"%s\" of %zu floats", kind,
                          mk->name, mk->n);
                continue;
            }
            for (r = 0; r < mk->n; r++)
                if (got[r] != mk->v[r] && n_bad++ == 0) first = r;
            if (n_bad)
                test_fail(__FILE__, __LINE__, "%s step %zu mask %s: %zu of %zu differ, first "
                          "[%zu] = %.9g, expected %.9g (the masks are drawn in another order "
                          "or by another rule)", kind, s + 1, mk->name, n_bad, mk->n, first,
                          (double)got[first], (double)mk->v[first]);
        }
        rx_check_preds(pred, rx.pred[s], "training", s + 1);
        loss = nn_mse_forward(pred, y, rx.B) + mf_l2_loss(&m, NULL, u, i, rx.B);
        CHECK_NEAR(loss, rx.loss[s], RX_LOSS_RTOL, RX_LOSS_ATOL);

        /* backward: every gradient */
        nn_mse_backward(dpred, pred, y, rx.B);
        mf_backward(&m, &w, dpred, u, i, rx.B, rx.B);
        for (t = 0; t < rx.n_tensors; t++) {
            const rx_tensor *x = &rx.t[t];
            const nn_tensor *nt = &m.params.t[tix[t]];
            const float *dw = nn_grad(&m.params, tix[t]);
            for (r = 0; r < x->rows; r++) {
                for (c = 0; c < x->k; c++) {
                    double got = dw[r * nt->stride + c], want = x->grad[s][r * x->k + c];
                    int ok = want == 0.0 ? got == 0.0
                                         : test_close(got, want, RX_GRAD_RTOL, RX_GRAD_ATOL);
                    if (!ok && bad++ < 8)
                        test_fail(__FILE__, __LINE__, "%s step %zu d%s[%zu][%zu] = %.9g, "
                                  "expected %.9g%s", kind, s + 1, x->name, r, c, got, want,
                                  want == 0.0 ? " (exactly)" : "");
                    if (fabs(got) > max_grad[t]) max_grad[t] = fabs(got);
                    if (fabs(want) > fx_max_grad[t]) fx_max_grad[t] = fabs(want);
                }
                for (c = x->k; c < nt->stride; c++) CHECK(dw[r * nt->stride + c] == 0.0f);
            }
        }

        /* one dense Adam step, then every parameter */
        nn_optimizer_step(&opt, &m.params);
        for (t = 0; t < rx.n_tensors; t++) {
            const rx_tensor *x = &rx.t[t];
            const nn_tensor *nt = &m.params.t[tix[t]];
            const float *p = nn_param(&m.params, tix[t]);
            for (r = 0; r < x->rows; r++) {
                for (c = 0; c < x->k; c++) {
                    size_t e = r * x->k + c;
                    float got = p[r * nt->stride + c], want = x->after[s][e];
                    float before = s ? x->after[s - 1][e] : x->init[e];
                    int still = want == x->init[e] && before == x->init[e];
                    int ok = still ? got == want /* never moved: bit for bit */
                                   : test_close(got, want, RX_PARAM_RTOL, RX_PARAM_ATOL);
                    if (!ok && bad++ < 8)
                        test_fail(__FILE__, __LINE__, "%s step %zu %s[%zu][%zu] = %.9g, "
                                  "expected %.9g%s", kind, s + 1, x->name, r, c, (double)got,
                                  (double)want, still ? " (never moves)" : "");
                    never_moved += still && s + 1 == rx.steps;
                    /* dense, not lazy: an embedding row outside this step's
                     * batch moved by its momentum alone */
                    moved_outside_batch += !rx_in_batch(&m, tix[t], r, s) && want != before;
                }
                for (c = x->k; c < nt->stride; c++) CHECK(p[r * nt->stride + c] == 0.0f);
            }
        }
        nn_params_zero_grad(&m.params);
    }
    CHECK_INT(opt.t, rx.steps);

    /* inference on the trained weights */
    mf_forward(&m, &w, pred, rx.u[0], rx.i[0], rx.B, NULL);
    rx_check_preds(pred, rx.infer_final, "inference after training", rx.steps);

    /* the check was not passed by gradients that are zero everywhere, and the
     * fixture exercises what it is meant to: rows and units that never move,
     * and weights moved by Adam's momentum in a step that gave them no gradient */
    for (t = 0; t < rx.n_tensors; t++) {
        if (!(max_grad[t] > 0.0) || !(fx_max_grad[t] > 0.0))
            test_fail(__FILE__, __LINE__, "%s: %s got no gradient in any step (C %.3g, "
                      "fixture %.3g)", kind, rx.t[t].name, max_grad[t], fx_max_grad[t]);
        if (max_grad[t] > all_max) all_max = max_grad[t];
    }
    CHECK(all_max > 1e-3);
    CHECK(never_moved > 0);
    CHECK(moved_outside_batch > 0);
    for (b = 0; b < rx.B; b++) dropout_acted |= rx.pred[0][b] != rx.infer_init[b];
    CHECK(dropout_acted);
done:
    nn_optimizer_free(&opt);
    mf_work_free(&w);
    mf_free(&m);
    return 0;
}

static void test_ref_deep(void) {
    if (rx_check("deep") != 0) return;
    /* what makes it the deep model: a genre embedding and ReLU layers */
    CHECK(rx.G > 0 && rx.n_hidden >= 2 && strcmp(rx.act, "relu") == 0);
}

static void test_ref_neumf(void) {
    if (rx_check("neumf") != 0) return;
    CHECK(rx.G == 0 && rx.n_hidden >= 1 && rx.output_lecun == 1);
}

/* The fixture's repeated rows: a user and an item that occur twice in the
 * batch, so that embedding gradients must add up (not overwrite), and rows
 * outside it, which must keep their weights (checked in rx_check). */
static void test_ref_fixture_shape(void) {
    const char *kinds[2] = {"deep", "neumf"};
    size_t k, a, b;
    for (k = 0; k < 2; k++) {
        int rep_u = 0, rep_i = 0;
        if (rx_load(kinds[k]) != 0) return;
        for (a = 0; a < rx.B; a++)
            for (b = a + 1; b < rx.B; b++) {
                rep_u |= rx.u[0][a] == rx.u[0][b];
                rep_i |= rx.i[0][a] == rx.i[0][b];
            }
        CHECK(rep_u && rep_i);
        CHECK(rx.steps >= 2 && rx.dropout_embed > 0.0f && rx.dropout_hidden > 0.0f);
        CHECK(rx.lr == 0.01f);
    }
}

/* ================================================ whole recipes, epoch by epoch
 *
 * tests/ref/recipes_ref.py trains mf8, cfmodel, deep-genre and neumf on the
 * bundled sample, dense and lazy, in float64 NumPy from the same start: the
 * rows shuffled by RandomState(S).permutation (--shuffle numpy:S; neumf
 * holds out each user's latest row instead), initial weights drawn from
 * RandomState(W).uniform in the model's tensor order (written here as .npy
 * files and read with mf_load_weights: --init-from), batches in the order
 * Keras's fit(shuffle=True) gives after np.random.seed(O) (--batch-order
 * numpy:O), and embrec's own streams for what Keras would draw from
 * TensorFlow's: the dropout masks, and neumf's negatives (4 per positive,
 * drawn afresh each epoch) and the 99 items each held-out item is ranked
 * against. Each recipe then runs here with mf_train, and its per-epoch loss
 * and val_loss (neumf: loss, HR@10 and NDCG@10) must match the reference's.
 *
 * Tolerance (relative, on each epoch's loss and val_loss): RR_RTOL = 2e-5.
 * Where it comes from. The C run is the reference's computation in float32:
 * each forward/backward rounds every value by ≤ u = 2^-24 ≈ 6e-8 relative
 * (the dot products of K ≤ 150 terms by up to ~K·u in the worst case,
 * ~√K·u typically), and each optimiser step turns a gradient error δg into
 * a weight error of about lr_t·δg/(√v + ε). Through T steps these errors
 * compound, but the loss is a mean over thousands of rows of nearly
 * independent rounding errors, so its relative error is of the order of the
 * per-weight relative error, not its sum: the float32 stand-in in
 * recipes_ref.py (the same algorithm on the same batches, masks and
 * negatives, in float32 with NumPy's summation order, which is not
 * embrec's) measures it at ≤ 2.4e-8 over every recipe, mode and epoch
 * (printed in the fixture). Adam's amplification where √v ≈ ε (models.txt's
 * SIGMA_FLOOR argument: up to lr/ε̂ ≈ 3200 per step) applies to single
 * weights whose gradient is tiny, and these weigh next to nothing in a mean
 * loss. The tolerance is that measured 2.4e-8 times about 1000, a margin for
 * embrec's different summation order (SIMD partial sums, blocked matrix
 * products) and for the first-order growth over up to 700 steps, still over
 * 100 times below the smallest epoch-to-epoch change in the fixture (mf8's
 * first, 2.8e-3) and below the dense/lazy gap: the test also requires each
 * C run to MISS the other mode's curve by more than 25 times the tolerance
 * on some epoch, so the comparison can fail. Measured (printed per block):
 * at most 3e-8.
 *
 * That argument needs the training path to be a continuous function of the
 * rounding, and a ReLU is not: its derivative jumps at 0, so a pre-activation
 * within rounding of 0 can take one branch here and the other in the
 * reference, and from that step the two train different models. deep-genre
 * with the recipe's ReLU does this on the sample (epoch 2, step 448: one
 * kept unit at z = +1.07e-7 in the reference and -3e-8 here moved val_loss
 * by 1.6e-4; flipping that unit in the reference reproduces this curve), and
 * every two-epoch ReLU run on the sample has kept units that close to 0. So
 * the deep-genre blocks use tanh, the recipe otherwise as it is (the fixture
 * says so with an "activation" line); the script refuses ReLU blocks that
 * come that close to a kink, and models_ref.py checks the ReLU layers step by
 * step. neumf's layers are linear, and its loss is smooth.
 *
 * Ranking. HR and NDCG count comparisons of scores: the same scores rank the
 * same way, exactly. The reference gives each epoch's HR and NDCG with
 * bounds: the values they can take when every comparison whose two scores
 * are closer than 10 times the float32 stand-in's largest score deviation
 * goes either way (equal to the value itself when no such comparison can
 * move them, as from epoch 2 on). The C run must land within the bounds
 * (NDCG to 1e-12 for the order of the sum), and it prints whether it is
 * exact. */
#define RR_PATH "tests/ref/recipes.txt"
#define RR_RTOL 2e-5
#define RR_MAXE 32

typedef struct {
    char name[32], update[8], act[16];
    int implicit; /* neumf: hr and ndcg instead of val */
    uint64_t shuffle_seed, order_seed, weight_seed, train_seed;
    size_t epochs, n_train, n_val, U, I, G;
    int64_t first[6];
    size_t n_weights;
    char wname[16][40];
    double wsum[16], wsq[16];
    double loss[RR_MAXE], val[RR_MAXE];
    double hr[RR_MAXE][3], ndcg[RR_MAXE][3]; /* the value, its lower and upper bound */
} rr_block;

static int rr_u64(fixture_file *fx, uint64_t *x) {
    size_t v;
    if (fixture_size(fx, &v, (size_t)0xffffffffu)) return -1;
    *x = v;
    return 0;
}

/* the next block into b; 1 at the end of the file, -1 after a FAIL */
static int rr_read(fixture_file *fx, rr_block *b) {
    char word[64];
    size_t k, e;
    memset(b, 0, sizeof *b);
    if (!fixture_token(fx, word, sizeof word)) return 1;
    if (strcmp(word, "recipe") != 0) {
        test_fail(__FILE__, __LINE__, RR_PATH ": expected \"recipe\", found \"%s\"", word);
        return -1;
    }
    if (!fixture_token(fx, b->name, sizeof b->name) ||
        !fixture_token(fx, b->update, sizeof b->update) || fixture_word(fx, "seeds") ||
        rr_u64(fx, &b->shuffle_seed) || rr_u64(fx, &b->order_seed) ||
        rr_u64(fx, &b->weight_seed) || rr_u64(fx, &b->train_seed) ||
        fixture_word(fx, "epochs") || fixture_size(fx, &b->epochs, RR_MAXE) ||
        fixture_word(fx, "rows") || fixture_size(fx, &b->n_train, 1u << 30) ||
        fixture_size(fx, &b->n_val, 1u << 30) || fixture_word(fx, "sizes") ||
        fixture_size(fx, &b->U, 1u << 30) || fixture_size(fx, &b->I, 1u << 30) ||
        fixture_size(fx, &b->G, 1u << 30) || fixture_word(fx, "first"))
        return -1;
    for (k = 0; k < 6; k++) {
        size_t v;
        if (fixture_size(fx, &v, (size_t)1 << 40)) return -1;
        b->first[k] = (int64_t)v;
    }
    {
        const mf_recipe *rc = mf_recipe_find(b->name);
        if (!rc) {
            test_fail(__FILE__, __LINE__, RR_PATH ": no recipe \"%s\"", b->name);
            return -1;
        }
        b->implicit = rc->model.implicit;
    }
    for (;;) {
        if (!fixture_token(fx, word, sizeof word)) break;
        if (strcmp(word, "activation") == 0) {
            if (!fixture_token(fx, b->act, sizeof b->act)) return -1;
        } else if (strcmp(word, "weights") == 0 && b->n_weights < 16) {
            if (!fixture_token(fx, b->wname[b->n_weights], sizeof b->wname[0]) ||
                fixture_doubles(fx, &b->wsum[b->n_weights], 1) ||
                fixture_doubles(fx, &b->wsq[b->n_weights], 1))
                return -1;
            b->n_weights++;
        } else if (strcmp(word, "epoch") == 0) {
            if (fixture_size(fx, &e, b->epochs) || e == 0 ||
                fixture_doubles(fx, &b->loss[e - 1], 1))
                return -1;
            if (b->implicit ? fixture_doubles(fx, b->hr[e - 1], 3) ||
                                  fixture_doubles(fx, b->ndcg[e - 1], 3)
                            : fixture_doubles(fx, &b->val[e - 1], 1))
                return -1;
        } else if (strcmp(word, "end") == 0) {
            return 0;
        } else {
            break;
        }
    }
    test_fail(__FILE__, __LINE__, RR_PATH ": block %s %s is cut short at \"%s\"", b->name,
              b->update, word);
    return -1;
}

/* Write the reference's initial weights as .npy files in dir: every tensor
 * of the model in its order, embeddings uniform(−0.05, 0.05), Dense kernels
 * glorot_uniform (neumf's output kernel lecun_uniform), from one
 * RandomState(seed); Dense biases stay 0 (not written: the model's own
 * zeros). Checks each against the fixture's sums. */
static int rr_weights(const mf_model *m, const rr_block *b, const char *dir) {
    const nn_params *ps = &m->params;
    data_np_rng rng;
    data_error err;
    size_t t, k, l, checked = 0;
    if (data_np_seed(&rng, b->weight_seed, &err) != 0) return -1;
    for (t = 0; t < ps->n_tensors; t++) {
        const nn_tensor *x = &ps->t[t];
        size_t rows = x->rows, cols = x->k, n;
        double limit = 0.05, sum = 0.0, sq = 0.0;
        float *w;
        char dict[160], file[64];
        int is_bias = 0;
        for (l = 0; mf_is_deep(m) && l <= m->cfg.n_hidden; l++) {
            size_t in = l > 0 ? m->cfg.hidden[l - 1]
                              : m->cfg.kind == MF_DEEP ? 3 * m->cfg.dim : m->cfg.dim;
            size_t out = l < m->cfg.n_hidden ? m->cfg.hidden[l] : 1;
            if (t == m->id.kernel[l]) {
                rows = in;
                cols = out;
                limit = l == m->cfg.n_hidden && m->cfg.output_lecun
                            ? sqrt(3.0 / (double)in)         /* lecun_uniform */
                            : sqrt(6.0 / (double)(in + out)); /* glorot_uniform */
            } else if (t == m->id.bias[l]) {
                is_bias = 1;
            }
        }
        for (k = 0; k < b->n_weights; k++) /* the fixture's name has '/' */
            if (strcmp(b->wname[k], x->name) == 0) break;
        if (k == b->n_weights) {
            test_fail(__FILE__, __LINE__, "%s: no weights line for %s", b->name, x->name);
            return -1;
        }
        if (is_bias) {
            CHECK(b->wsum[k] == 0.0 && b->wsq[k] == 0.0);
            checked++;
            continue;
        }
        n = rows * cols;
        w = malloc(n * sizeof *w);
        if (!w) return -1;
        for (k = 0; k < n; k++) { /* rs.uniform(-l, l, (rows, cols)).astype(float32) */
            w[k] = (float)data_np_uniform(&rng, -limit, limit);
            sum += (double)w[k];
            sq += (double)w[k] * (double)w[k];
        }
        for (k = 0; k < b->n_weights; k++)
            if (strcmp(b->wname[k], x->name) == 0) {
                CHECK_NEAR(sum, b->wsum[k], 1e-12, 1e-12);
                CHECK_NEAR(sq, b->wsq[k], 1e-12, 0);
            }
        snprintf(file, sizeof file, "%s", x->name);
        for (k = 0; file[k]; k++)
            if (file[k] == '/') file[k] = '_';
        snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (%zu, %zu), }", rows, cols);
        {
            char rel[256];
            snprintf(rel, sizeof rel, "%s/%s.npy", dir, file);
            fixture_write_npy(rel, 1, dict, w, n * sizeof *w);
        }
        free(w);
        checked++;
    }
    CHECK_INT(checked, b->n_weights);
    return 0;
}

/* One block: build the recipe's model as `embrec train --recipe NAME
 * --shuffle numpy:S --init-from DIR --batch-order numpy:O --update U` does
 * (with --activation A where the block names one), train it, fill got[] with
 * each epoch's (loss, val_loss) or (loss, HR, NDCG), and return the largest
 * relative deviation of loss and val_loss from the fixture's. */
static double rr_run(const rr_block *b, double got[][3]) {
    const mf_recipe *rc = mf_recipe_find(b->name);
    data_read_opts ro = data_read_defaults();
    data_idmap users, items;
    data_ratings all, train, val;
    data_movies mv;
    data_error err;
    mf_model m;
    mf_config mc;
    mf_side side;
    mf_train_config tc;
    mf_history h;
    nn_rng rng;
    uint32_t *perm = NULL, *item_genre = NULL;
    size_t n_genres = 0, loaded, k, e;
    char dir[64];
    double worst = -1.0;
    if (!rc) {
        test_fail(__FILE__, __LINE__, "no recipe \"%s\"", b->name);
        return -1.0;
    }
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    data_ratings_init(&train);
    data_ratings_init(&val);
    data_movies_init(&mv);
    memset(&side, 0, sizeof side);
    if (data_read_ratings("data/ratings.csv", &ro, &users, &items, &all, NULL, &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return -1.0;
    }
    perm = malloc(all.n * sizeof *perm);
    if (b->implicit ? data_split_latest(&all, users.n, NULL, &train, &val) != 0 /* in file order */
                    : !perm || data_np_permutation(perm, all.n, b->shuffle_seed, &err) != 0 ||
                          data_ratings_permute(&all, perm) != 0 ||
                          data_split_tail(&all, rc->val_split, &train, &val) != 0) {
        test_fail(__FILE__, __LINE__, "%s: cannot shuffle and split the sample", b->name);
        goto done;
    }
    CHECK_INT(train.n, b->n_train);
    CHECK_INT(val.n, b->n_val);
    CHECK_INT(users.n, b->U);
    CHECK_INT(items.n, b->I);
    for (k = 0; k < 3; k++) { /* the same rows in the same order as the reference's */
        CHECK_INT(users.raw[train.user[k]], b->first[2 * k]);
        CHECK_INT(items.raw[train.item[k]], b->first[2 * k + 1]);
    }
    if (rc->model.kind == MF_DEEP) {
        item_genre = malloc(items.n * sizeof *item_genre);
        if (!item_genre || data_read_movies("data/movies.csv", &mv, &err) != 0 ||
            data_genre_index(&mv, &items, item_genre, &n_genres, &err) != 0) {
            test_fail(__FILE__, __LINE__, "genres: %s", err.msg);
            goto done;
        }
        CHECK_INT(n_genres, b->G);
        side.item_genre = item_genre;
        side.n_genres = n_genres;
    }
    mc = rc->model;
    if (b->act[0] && nn_activation_parse(b->act, &mc.hidden_act) != 0) {
        test_fail(__FILE__, __LINE__, "%s: no activation \"%s\"", b->name, b->act);
        goto done;
    }
    nn_rng_seed(&rng, b->train_seed);
    if (mf_init(&m, mc, &users, &items, &all, &side, &rng, &err) != 0) {
        test_fail(__FILE__, __LINE__, "mf_init: %s", err.msg);
        goto done;
    }
    snprintf(dir, sizeof dir, "init-%s-%s", b->name, b->update);
    mkdir(test_path(dir), 0777);
    if (rr_weights(&m, b, dir) == 0 &&
        mf_load_weights(&m, test_path(dir), &loaded, &err) == 0) {
        tc = mf_train_defaults();
        tc.fit = rc->fit;
        tc.fit.epochs = b->epochs;
        tc.fit.patience = 0;
        tc.fit.restore_best = 0;
        tc.session.verbose = 0;
        tc.fit.seed = b->train_seed;
        tc.replay.order = MF_ORDER_NUMPY;
        tc.replay.numpy_seed = b->order_seed;
        if (nn_update_parse(b->update, &tc.fit.opt.update) != 0) CHECK(0);
        if (mf_train(&m, &train, &val, &tc, &h, NULL, &err) != 0) {
            test_fail(__FILE__, __LINE__, "mf_train: %s", err.msg);
        } else {
            CHECK_INT(h.n, b->epochs);
            for (e = 0; e < h.n && e < b->epochs; e++) {
                const mf_epoch *x = &h.epoch[e];
                double dl = fabs(x->loss - b->loss[e]) / b->loss[e];
                double dv = b->implicit ? 0.0 : fabs(x->val_loss - b->val[e]) / b->val[e];
                got[e][0] = x->loss;
                got[e][1] = b->implicit ? x->hr : x->val_loss;
                got[e][2] = b->implicit ? x->ndcg : 0.0;
                if (dl > worst) worst = dl;
                if (dv > worst) worst = dv;
            }
            mf_history_free(&h);
        }
    } else {
        test_fail(__FILE__, __LINE__, "initial weights: %s", err.msg);
    }
    mf_free(&m);
done:
    free(perm);
    free(item_genre);
    data_movies_free(&mv);
    data_ratings_free(&all);
    data_ratings_free(&train);
    data_ratings_free(&val);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return worst;
}

static void test_ref_recipes(void) {
    fixture_file fx;
    static rr_block blocks[12];
    size_t n = 0, k, j, e;
    int rc, tanh_seen = 0, ranked = 0;
    if (fixture_open(&fx, RR_PATH) != 0) return;
    while (n < 12 && (rc = rr_read(&fx, &blocks[n])) == 0) n++;
    fixture_close(&fx);
    CHECK_INT(n, 8); /* mf8, cfmodel, deep-genre, neumf × dense, lazy */
    for (k = 0; k < n; k++) {
        const rr_block *b = &blocks[k];
        const rr_block *other = NULL;
        double got[RR_MAXE][3], worst, miss = 0.0;
        int exact = 1;
        memset(got, 0, sizeof got);
        for (j = 0; j < n; j++) /* the same recipe in the other mode */
            if (j != k && strcmp(blocks[j].name, b->name) == 0) other = &blocks[j];
        worst = rr_run(b, got);
        printf("     %-10s %-5s %zu epochs: loss %.6f -> %.6f, %s %.6f -> %.6f; "
               "max relative deviation %.2e (tolerance %.0e)\n", b->name, b->update, b->epochs,
               got[0][0], got[b->epochs - 1][0], b->implicit ? "HR@10" : "val_loss", got[0][1],
               got[b->epochs - 1][1], worst, RR_RTOL);
        for (e = 0; e < b->epochs; e++) {
            CHECK_NEAR(got[e][0], b->loss[e], RR_RTOL, 0);
            if (b->implicit) { /* the same ranking, within what rounding can move */
                CHECK(got[e][1] >= b->hr[e][1] && got[e][1] <= b->hr[e][2]);
                CHECK(got[e][2] >= b->ndcg[e][1] - 1e-12 && got[e][2] <= b->ndcg[e][2] + 1e-12);
                exact &= got[e][1] == b->hr[e][0] && fabs(got[e][2] - b->ndcg[e][0]) <= 1e-12;
                ranked += b->hr[e][1] == b->hr[e][2]; /* epochs that rounding cannot move */
            } else {
                CHECK_NEAR(got[e][1], b->val[e], RR_RTOL, 0);
            }
            if (other) { /* the other mode's curve must be told apart */
                double d = fabs(got[e][0] - other->loss[e]) / other->loss[e];
                double dv = b->implicit ? 0.0 : fabs(got[e][1] - other->val[e]) / other->val[e];
                if (d > miss) miss = d;
                if (dv > miss) miss = dv;
            }
        }
        if (b->implicit)
            printf("     %-10s %-5s HR@10 and NDCG@10 %s the reference's in every epoch\n",
                   b->name, b->update, exact ? "equal" : "within the bounds of");
        tanh_seen += strcmp(b->act, "tanh") == 0;
        CHECK(other != NULL);
        CHECK(miss > 25 * RR_RTOL);
    }
    CHECK(tanh_seen == 2); /* deep-genre: see "a ReLU is not" above */
    CHECK(ranked >= 2);    /* some epochs' HR is pinned exactly */
}

void suite_ref(void) {
    test_run("ref/fixture_shape", test_ref_fixture_shape);
    test_run("ref/deep", test_ref_deep);
    test_run("ref/neumf", test_ref_neumf);
    test_run("ref/recipes", test_ref_recipes);
}
