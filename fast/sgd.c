/* fast/sgd.c — per-rating SGD for the dot and bias models: a loop of its
 * own, one rating at a time (the batched path's arithmetic for batch 1,
 * without its bookkeeping), over a shuffled stream (Hogwild on T threads)
 * or LIBMF's blocks (--blocks G); plain SGD, or LIBMF's learning-rate
 * schedule (row-wise AdaGrad, nn_rowwise_adagrad_row).
 *
 * The shuffled stream reads the training ratings packed (user, item,
 * rating in 12 bytes), a chunk of the epoch's order at a time; the blocks
 * read the rating columns themselves, laid out block by block (in place
 * when the caller allows it, mf_speed.reorder_rows: then the 12 bytes of a
 * rating are all the ratings cost). Both fetch rows a few ratings ahead,
 * and update p and q in one fused pass (nn_sgd_dot_step).
 *
 * What it deliberately does not do: any model but dot and bias, features,
 * an optimiser but SGD, or a batch but 1; those run batched.
 */
#define _DEFAULT_SOURCE /* madvise's MADV_DONTNEED, where the system has it */
#include "fast/sgd.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fast/batches.h"
#include "fast/prefetch.h"
#include "fast/threads.h"

#define SGD_PREFETCH 6   /* ratings ahead whose rows are fetched into cache */
#define SGD_CHUNK 1024   /* ratings gathered at a time in the epoch's order */

/* one training rating, packed so that fetching it in a random order costs
 * one cache line, not three */
typedef struct { uint32_t u, i; float y; } sgd_sample;

/* Where an epoch's ratings come from: the packed copy in the order perm
 * (the shuffled stream), or the columns u, i, y as they lie (blocks). */
typedef struct {
    const sgd_sample *packed;
    const uint32_t *perm;
    const uint32_t *u, *i;
    const float *y;
} sgd_source;

/* a chunk of packed ratings, gathered */
typedef struct {
    uint32_t u[SGD_CHUNK], i[SGD_CHUNK];
    float y[SGD_CHUNK];
} sgd_chunk;

/* The ratings [start, start + nc) of src as columns *cu, *ci, *cy: the
 * columns themselves, or the packed ratings gathered into c (independent
 * loads, not a chain of misses). */
static void chunk_at(const sgd_source *src, size_t start, size_t nc, sgd_chunk *c,
                     const uint32_t **cu, const uint32_t **ci, const float **cy) {
    size_t k;
    if (!src->packed) {
        *cu = src->u + start;
        *ci = src->i + start;
        *cy = src->y + start;
        return;
    }
    for (k = 0; k < nc; k++) {
        const sgd_sample *r = &src->packed[src->perm ? src->perm[start + k] : start + k];
        c->u[k] = r->u;
        c->i[k] = r->i;
        c->y[k] = r->y;
    }
    *cu = c->u;
    *ci = c->i;
    *cy = c->y;
}

/* The ratings [lo, hi) of an epoch's source, one at a time, by the
 * optimiser opt; returns the sum of their losses. */
typedef double (*sgd_range_fn)(mf_model *m, const sgd_source *src, size_t lo, size_t hi,
                               const nn_optimizer *opt, const volatile sig_atomic_t *stop);

/* plain SGD */
static double sgd_range(mf_model *m, const sgd_source *src, size_t lo, size_t hi,
                        const nn_optimizer *opt, const volatile sig_atomic_t *stop) {
    float *P = m->w.user_embedding, *Q = m->w.item_embedding;
    float *bu = m->w.user_bias, *bi = m->w.item_bias;
    size_t S = m->S, K = m->cfg.dim;
    float lr = opt->cfg.lr, l2 = bu ? 2.0f * m->cfg.l2 : 0.0f; /* (2λ/B)·w with B = 1 */
    const vec_dot_fn dot = vec_dot_kernel(); /* the kernels themselves: a few ns a call */
    const nn_sgd_dot_step_fn step = nn_sgd_dot_step_kernel();
    double loss = 0.0;
    sgd_chunk c;
    size_t start, k;
    for (start = lo; start < hi && !(stop && *stop); start += SGD_CHUNK) {
        size_t nc = hi - start < SGD_CHUNK ? hi - start : SGD_CHUNK;
        const uint32_t *cu, *ci;
        const float *cy;
        chunk_at(src, start, nc, &c, &cu, &ci, &cy);
        for (k = 0; k < nc; k++) {
            uint32_t u = cu[k], i = ci[k];
            float *p = P + u * S, *q = Q + i * S, pred, e, y = cy[k];
            double d;
            if (k + SGD_PREFETCH < nc) {
                fast_prefetch(P + cu[k + SGD_PREFETCH] * S, K);
                fast_prefetch(Q + ci[k + SGD_PREFETCH] * S, K);
                if (bu) { /* the biases live in tables of their own: as many misses again */
                    fast_prefetch(bu + cu[k + SGD_PREFETCH], 1);
                    fast_prefetch(bi + ci[k + SGD_PREFETCH], 1);
                }
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
            step(p, q, K, e, l2, lr); /* nn_sgd_dot_step: p −= lr(e·q + l2·p), q −= lr(e·p + l2·q) */
        }
    }
    return loss;
}

/* LIBMF's schedule: each row steps at its own rate lr/√G (G from opt->v).
 * The batched path's arithmetic for batch 1 exactly: the gradients as
 * mf_backward accumulates them (vec_axpy into zeros), then
 * nn_rowwise_adagrad_row on each of the rating's rows. */
static double adagrad_range(mf_model *m, const sgd_source *src, size_t lo, size_t hi,
                            const nn_optimizer *opt, const volatile sig_atomic_t *stop) {
    float *w0 = m->params.w, *P = m->w.user_embedding, *Q = m->w.item_embedding;
    float *bu = m->w.user_bias, *bi = m->w.item_bias;
    float *GP = opt->v + (P - w0), *GQ = opt->v + (Q - w0); /* G − 1 at each row's start */
    float *Gbu = bu ? opt->v + (bu - w0) : NULL, *Gbi = bi ? opt->v + (bi - w0) : NULL;
    size_t S = m->S, K = m->cfg.dim, start, k;
    float lr = opt->cfg.lr, l2 = bu ? 2.0f * m->cfg.l2 : 0.0f;
    const vec_dot_fn dot = vec_dot_kernel();
    float *gp = nn_alloc(2 * S * sizeof *gp), *gq = gp ? gp + S : NULL;
    double loss = 0.0;
    sgd_chunk c;
    if (!gp) return NAN; /* (no memory: the run halts as diverged would) */
    for (start = lo; start < hi && !(stop && *stop); start += SGD_CHUNK) {
        size_t nc = hi - start < SGD_CHUNK ? hi - start : SGD_CHUNK;
        const uint32_t *cu, *ci;
        const float *cy;
        chunk_at(src, start, nc, &c, &cu, &ci, &cy);
        for (k = 0; k < nc && !(stop && *stop); k++) {
            uint32_t u = cu[k], i = ci[k];
            float *p = P + u * S, *q = Q + i * S, pred, e, y = cy[k];
            double d;
            if (k + SGD_PREFETCH < nc) {
                fast_prefetch(P + cu[k + SGD_PREFETCH] * S, K);
                fast_prefetch(Q + ci[k + SGD_PREFETCH] * S, K);
                fast_prefetch(GP + cu[k + SGD_PREFETCH] * S, 1);
                fast_prefetch(GQ + ci[k + SGD_PREFETCH] * S, 1);
            }
            pred = mf_rating_offset(m, u, i, 0) + dot(p, q, K);
            d = (double)pred - (double)y;
            loss += d * d;
            e = 2.0f * (pred - y) / 1.0f; /* ∂L/∂r̂ */
            memset(gp, 0, 2 * S * sizeof *gp);
            vec_axpy(gp, e, q, K); /* ∂L/∂p = e·q (+ 2λp) */
            vec_axpy(gq, e, p, K); /* ∂L/∂q = e·p (+ 2λq) */
            if (bu) {
                float gbu = e + l2 * bu[u], gbi = e + l2 * bi[i];
                if (m->cfg.l2 != 0.0f)
                    loss += (double)m->cfg.l2 * (double)(dot(p, p, K) + dot(q, q, K) +
                                                         bu[u] * bu[u] + bi[i] * bi[i]);
                vec_axpy(gp, l2, p, K);
                vec_axpy(gq, l2, q, K);
                nn_rowwise_adagrad_row(bu + u, &gbu, Gbu + u, 1, lr);
                nn_rowwise_adagrad_row(bi + i, &gbi, Gbi + i, 1, lr);
            }
            nn_rowwise_adagrad_row(p, gp, GP + u * S, K, lr);
            nn_rowwise_adagrad_row(q, gq, GQ + i * S, K, lr);
        }
    }
    nn_free(gp);
    return loss;
}

static sgd_range_fn range_for(const nn_optimizer *opt) {
    return opt->cfg.kind == NN_ROWWISE_ADAGRAD ? adagrad_range : sgd_range;
}

/* One epoch of per-rating SGD in a shuffled stream. With T > 1 threads,
 * thread t takes the t-th contiguous slice of the epoch's order and all
 * update the shared tables without locks (Hogwild: two threads rarely touch
 * one row at once, and a lost update there is noise SGD absorbs); the
 * result then depends on the timing. */
typedef struct {
    mf_model *m;
    sgd_source src;
    size_t n;
    const nn_optimizer *opt;
    const volatile sig_atomic_t *stop;
    double loss[FAST_MAX_THREADS];
} stream_task;

static void stream_share(void *ctx, size_t t, size_t T) {
    stream_task *st = ctx;
    st->loss[t] = range_for(st->opt)(st->m, &st->src, st->n * t / T, st->n * (t + 1) / T,
                                     st->opt, st->stop);
}

static double sgd_stream_epoch(mf_model *m, const sgd_sample *packed, size_t n,
                               const nn_optimizer *opt, const uint32_t *perm, size_t T,
                               const volatile sig_atomic_t *stop) {
    stream_task st = {.m = m, .src = {.packed = packed, .perm = perm}, .n = n, .opt = opt,
                      .stop = stop};
    double loss = 0.0;
    size_t t;
    if (T < 1) T = 1;
    if (T > FAST_MAX_THREADS) T = FAST_MAX_THREADS;
    if (T > n / SGD_CHUNK + 1) T = n / SGD_CHUNK + 1; /* a slice of at least a chunk */
    fast_parallel(T, stream_share, &st);
    for (t = 0; t < T; t++) loss += st.loss[t];
    return n ? loss / (double)n : 0.0;
}

/* LIBMF's schedule for per-rating SGD (--blocks G). Users and movies are
 * dealt at random into G groups each, which cuts the ratings into a G × G
 * grid of blocks; the rating columns are laid out by block once (each
 * block's ratings in the order they had) and shuffled within their block. An epoch visits every block once, in a fresh random
 * order, reading each block's ratings in sequence: a block touches about
 * U/G user rows and I/G movie rows, which stay in cache while it runs,
 * where a shuffled stream reads ratings and rows all over memory. On T
 * threads each thread takes a block whose user group and movie group no
 * running block holds (fast_block_queue: per user group, its blocks in the
 * epoch's order, the groups served in turn), so no two threads ever write
 * one row (no lost updates, unlike Hogwild); which thread runs which block
 * when depends on timing, so runs on T > 1 threads are not reproducible.
 * G may not exceed the number of users or of movies: a group would be
 * empty. */
typedef struct {
    size_t G;
    size_t *start;    /* (G² + 1) block b = g_u·G + g_i is rows start[b] .. start[b+1] */
    uint32_t *order;  /* (G²) this epoch's order of the blocks */
} sgd_grid;

static void sgd_grid_free(sgd_grid *g) {
    free(g->start);
    free(g->order);
    memset(g, 0, sizeof *g);
}

/* the rows 0..n−1 dealt into G groups of (nearly) equal size, at random
 * (G ≤ MF_MAX_BLOCKS: 16 bits a row, so that the tables stay in cache) */
static uint16_t *deal_groups(size_t n, size_t G, nn_rng *rng) {
    uint32_t *perm = malloc((n ? n : 1) * sizeof *perm);
    uint16_t *group = malloc((n ? n : 1) * sizeof *group);
    size_t k;
    if (!perm || !group) {
        free(perm);
        free(group);
        return NULL;
    }
    for (k = 0; k < n; k++) perm[k] = (uint32_t)k;
    nn_rng_shuffle_u32(rng, perm, n);
    for (k = 0; k < n; k++) group[perm[k]] = (uint16_t)(k * G / n);
    free(perm);
    return group;
}

/* The rating columns U, I, Y (n rows) whose user and movie groups are gu,
 * gi; block b of a G × G grid holds rows start[b] .. start[b+1]. */
typedef struct {
    uint32_t *U, *I;
    float *Y;
    size_t n, G;
    const uint16_t *gu, *gi;
    const size_t *start;
} grid_rows;

static size_t block_of(const grid_rows *r, uint32_t u, uint32_t i) {
    return (size_t)r->gu[u] * r->G + r->gi[i];
}

/* The layout's buffer holds at most this fraction of the rows (or the
 * largest block, when it is larger): the whole layout then costs 12 bytes a
 * rating over 1/16 of them, where a copy would cost 12 over all of them. */
#define SGD_LAYOUT_PARTS 16

/* Rows [0, end) hold blocks 0 .. top − 1: take those of blocks lo .. top − 1
 * into buf (in order), move the others down over them (in order), and put
 * the taken ones at their blocks' places, in order. */
static void layout_group(const grid_rows *r, size_t lo, size_t top, sgd_sample *buf,
                         size_t *fill) {
    size_t end = r->start[top], k, w = 0, nb = 0;
    for (k = 0; k < end; k++) {
        uint32_t u = r->U[k], i = r->I[k];
        if (block_of(r, u, i) >= lo) {
            buf[nb].u = u;
            buf[nb].i = i;
            buf[nb++].y = r->Y[k];
        } else {
            r->U[w] = u;
            r->I[w] = i;
            r->Y[w++] = r->Y[k];
        }
    }
    memcpy(fill + lo, r->start + lo, (top - lo) * sizeof *fill);
    for (k = 0; k < nb; k++) {
        size_t at = fill[block_of(r, buf[k].u, buf[k].i)]++;
        r->U[at] = buf[k].u;
        r->I[at] = buf[k].i;
        r->Y[at] = buf[k].y;
    }
}

/* Lay the rows out block by block, each block's rows in the order they had
 * (what a counting sort into a copy gives), in place: groups of blocks of
 * at most n / SGD_LAYOUT_PARTS rows (or one larger block) are taken out in
 * turn, the last first, each by one pass over the rows not yet placed. 0,
 * or -1 when out of memory (the rows are then as they were). */
static int layout_blocks(const grid_rows *r) {
    size_t GG = r->G * r->G, cap = r->n / SGD_LAYOUT_PARTS, top = GG, b;
    sgd_sample *buf;
    size_t *fill;
    for (b = 0; b < GG; b++)
        if (r->start[b + 1] - r->start[b] > cap) cap = r->start[b + 1] - r->start[b];
    buf = malloc((cap ? cap : 1) * sizeof *buf);
    fill = malloc(GG * sizeof *fill);
    if (!buf || !fill) {
        free(buf);
        free(fill);
        return -1;
    }
    while (top > 0) {
        size_t lo = top - 1;
        while (lo > 0 && r->start[top] - r->start[lo - 1] <= cap) lo--;
        layout_group(r, lo, top, buf, fill);
        top = lo;
    }
    free(buf);
    free(fill);
    return 0;
}

/* Fisher–Yates within each block, the blocks in turn */
static void shuffle_blocks(const grid_rows *r, nn_rng *rng) {
    size_t b, k;
    for (b = 0; b < r->G * r->G; b++) {
        size_t at = r->start[b], len = r->start[b + 1] - at;
        uint32_t *U = r->U + at, *I = r->I + at, tu, ti;
        float *Y = r->Y + at, ty;
        for (k = len; k > 1; k--) {
            size_t j = (size_t)nn_rng_below(rng, k);
            tu = U[k - 1], ti = I[k - 1], ty = Y[k - 1];
            U[k - 1] = U[j], I[k - 1] = I[j], Y[k - 1] = Y[j];
            U[j] = tu, I[j] = ti, Y[j] = ty;
        }
    }
}

/* The grid of the n rating columns U, I, Y (U users, I movies in G groups
 * each), the columns laid out block by block, each block shuffled; 0 or
 * -1 (no memory: the columns are then as they were). */
static int sgd_grid_build(sgd_grid *g, uint32_t *U, uint32_t *I, float *Y, size_t n,
                          size_t n_users, size_t n_items, size_t G, nn_rng *rng) {
    uint16_t *gu = deal_groups(n_users, G, rng), *gi = deal_groups(n_items, G, rng);
    grid_rows r = {.U = U, .I = I, .Y = Y, .n = n, .G = G, .gu = gu, .gi = gi};
    size_t k, b;
    int rc = -1;
    memset(g, 0, sizeof *g);
    g->G = G;
    g->start = calloc(G * G + 1, sizeof *g->start);
    g->order = malloc(G * G * sizeof *g->order);
    r.start = g->start;
    if (!gu || !gi || !g->start || !g->order) goto done;
    for (k = 0; k < n; k++) g->start[block_of(&r, U[k], I[k]) + 1]++; /* counts */
    for (b = 0; b < G * G; b++) g->start[b + 1] += g->start[b];     /* offsets */
    if (layout_blocks(&r) != 0) goto done;
    shuffle_blocks(&r, rng);
    for (b = 0; b < G * G; b++) g->order[b] = (uint32_t)b;
    rc = 0;
done:
    if (rc != 0) sgd_grid_free(g);
    free(gu);
    free(gi);
    return rc;
}

void fast_block_queue_free(fast_block_queue *q) {
    free(q->next);
    free(q->head);
    free(q->rows);
    free(q->row_busy);
    free(q->col_busy);
    memset(q, 0, sizeof *q);
}

int fast_block_queue_init(fast_block_queue *q, size_t G, const uint32_t *order) {
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
        fast_block_queue_free(q);
        return -1;
    }
    for (k = 0; k < G; k++) q->head[k] = FAST_BLOCK_NONE;
    for (k = G * G; k-- > 0;) { /* each row's blocks, linked in the epoch's order */
        uint32_t b = order[k];
        q->next[b] = q->head[b / G];
        q->head[b / G] = b;
    }
    for (k = 0; k < G * G; k++) /* the rows, in the order of their first block */
        if (q->head[order[k] / G] == order[k]) q->rows[q->n_rows++] = order[k] / G;
    return 0;
}

/* Row r's first pending block in a free column, unlinked; or FAST_BLOCK_NONE. */
static uint32_t row_take(fast_block_queue *q, uint32_t r) {
    uint32_t *link = &q->head[r], b;
    for (b = *link; b != FAST_BLOCK_NONE; link = &q->next[b], b = *link)
        if (!q->col_busy[b % q->G]) {
            *link = q->next[b];
            return b;
        }
    return FAST_BLOCK_NONE;
}

uint32_t fast_block_queue_take(fast_block_queue *q) {
    size_t k;
    for (k = 0; k < q->n_rows; k++) {
        size_t at = (q->turn + k) % q->n_rows;
        uint32_t r = q->rows[at], b;
        if (q->row_busy[r] || (b = row_take(q, r)) == FAST_BLOCK_NONE) continue;
        q->row_busy[r] = q->col_busy[b % q->G] = 1;
        q->left--;
        q->turn = at + 1;
        if (q->head[r] == FAST_BLOCK_NONE) { /* the row is done: the last row takes its place */
            q->rows[at] = q->rows[--q->n_rows];
            q->turn = at;
        }
        return b;
    }
    return FAST_BLOCK_NONE;
}

void fast_block_queue_done(fast_block_queue *q, uint32_t b) {
    q->row_busy[b / q->G] = q->col_busy[b % q->G] = 0;
}

/* One epoch's hand-out of blocks to threads, through the queue. */
typedef struct {
    mf_model *m;
    const sgd_source *src;
    const sgd_grid *g;
    const nn_optimizer *opt;
    const volatile sig_atomic_t *stop;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    fast_block_queue q;
    double loss[FAST_MAX_THREADS];
} grid_epoch;

static void grid_share(void *ctx, size_t t, size_t T) {
    grid_epoch *ge = ctx;
    uint32_t b;
    (void)T;
    ge->loss[t] = 0.0;
    pthread_mutex_lock(&ge->mu);
    while (ge->q.left > 0 && !(ge->stop && *ge->stop)) {
        if ((b = fast_block_queue_take(&ge->q)) == FAST_BLOCK_NONE) { /* all held: wait for one */
            pthread_cond_wait(&ge->freed, &ge->mu);
            continue;
        }
        pthread_mutex_unlock(&ge->mu);
        ge->loss[t] += range_for(ge->opt)(ge->m, ge->src, ge->g->start[b], ge->g->start[b + 1],
                                          ge->opt, ge->stop);
        pthread_mutex_lock(&ge->mu);
        fast_block_queue_done(&ge->q, b);
        pthread_cond_broadcast(&ge->freed);
    }
    pthread_cond_broadcast(&ge->freed); /* a stop: the waiting threads end too */
    pthread_mutex_unlock(&ge->mu);
}

/* The blocks of one epoch on T > 1 threads; 0, or -1 when the hand-out
 * cannot be set up (no memory), with nothing done. */
static int grid_threads(mf_model *m, const sgd_source *src, const sgd_grid *g,
                        const nn_optimizer *opt, size_t T,
                        const volatile sig_atomic_t *stop, double *loss) {
    size_t t;
    int rc = -1;
    grid_epoch ge;
    memset(&ge, 0, sizeof ge);
    ge.m = m;
    ge.src = src;
    ge.g = g;
    ge.opt = opt;
    ge.stop = stop;
    if (fast_block_queue_init(&ge.q, g->G, g->order) != 0) return -1;
    if (pthread_mutex_init(&ge.mu, NULL) == 0) {
        if (pthread_cond_init(&ge.freed, NULL) == 0) {
            fast_parallel(T, grid_share, &ge);
            for (t = 0; t < T; t++) *loss += ge.loss[t];
            pthread_cond_destroy(&ge.freed);
            rc = 0;
        }
        pthread_mutex_destroy(&ge.mu);
    }
    fast_block_queue_free(&ge.q);
    return rc;
}

/* One epoch of per-rating SGD over the grid's blocks (in a fresh order). */
static double sgd_grid_epoch(mf_model *m, const sgd_source *src, size_t n, sgd_grid *g,
                             const nn_optimizer *opt, size_t T, nn_rng *rng,
                             const volatile sig_atomic_t *stop) {
    const sgd_range_fn range = range_for(opt);
    size_t G = g->G, b;
    double loss = 0.0;
    /* from the identity, not last epoch's order: the order then depends on
     * the generator alone, which a resumed run takes up where it stopped */
    for (b = 0; b < G * G; b++) g->order[b] = (uint32_t)b;
    nn_rng_shuffle_u32(rng, g->order, G * G);
    if (T > FAST_MAX_THREADS) T = FAST_MAX_THREADS;
    if (T <= 1 || grid_threads(m, src, g, opt, T, stop, &loss) != 0) /* (no memory: one thread) */
        for (b = 0; b < G * G && !(stop && *stop); b++)
            loss += range(m, src, g->start[g->order[b]], g->start[g->order[b] + 1], opt, stop);
    return n ? loss / (double)n : 0.0;
}

/* ------------------------------------------------------------ engines */

/* Plain SGD matrix factorisation, one rating at a time: the loop of Funk's
 * SVD and LIBMF, for the dot and bias models with batch 1 and SGD. It is
 * the batched path's arithmetic for B = 1, in the same order, without its
 * bookkeeping (test mf/sgd_fast_path_exact checks they agree bit for bit):
 *   e = r̂ − r,  g_p = 2e·q + 2λp,  g_q = 2e·p + 2λq  (both from the old p, q)
 *   p ← p − lr·g_p,  q ← q − lr·g_q,  b ← b − lr·(2e + 2λb) */
static int per_rating(const mf_model *m, const mf_train_config *cfg) {
    return (m->cfg.kind == MF_DOT || m->cfg.kind == MF_BIAS) && !m->cfg.implicit &&
           !mf_is_hybrid(m) && cfg->fit.batch == 1 &&
           (cfg->fit.opt.kind == NN_SGD || cfg->fit.opt.kind == NN_ROWWISE_ADAGRAD);
}

typedef struct {
    sgd_sample *packed; /* the stream: (N) the training ratings, packed */
    data_ratings own;   /* --blocks: a copy of the training rows, where train's may not move */
    sgd_source cols;    /* --blocks: the rows in LIBMF's blocks (train's, or own's) */
    sgd_grid grid;      /* --blocks: LIBMF's blocks of cols */
} sgd_state;

static void sgd_end(mf_run *run) {
    sgd_state *s = run->engine_state;
    if (!s) return;
    nn_free(s->packed);
    data_ratings_free(&s->own);
    sgd_grid_free(&s->grid);
    free(s);
    run->engine_state = NULL;
}

/* the per-rating engine's state, the training ratings packed (in file
 * order); 0 or -1 (no memory) */
/* Per-rating SGD moves the weights itself and never touches the gradient
 * block, which the model allocated zeroed: its pages go back to the system
 * (Linux's MADV_DONTNEED: a private page reads as zero again after), 4
 * bytes a parameter off the peak. Elsewhere the block stays. */
static void release_gradient(nn_params *ps) {
#if defined(__linux__) && defined(MADV_DONTNEED)
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)ps->dw + page - 1) / page * page;
    uintptr_t hi = (uintptr_t)(ps->dw + ps->n) / page * page;
    if (page > 0 && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)ps;
#endif
}

static int sgd_begin(mf_run *run) {
    const data_ratings *train = run->train;
    sgd_state *s = calloc(1, sizeof *s);
    size_t r;
    run->engine_state = s;
    release_gradient(&run->m->params);
    if (!s || !(s->packed = nn_alloc((train->n ? train->n : 1) * sizeof *s->packed))) return -1;
    for (r = 0; r < train->n; r++) {
        s->packed[r].u = train->user[r];
        s->packed[r].i = train->item[r];
        s->packed[r].y = train->rating[r];
    }
    return 0;
}

/* the halt, if any: a stop, or a loss no longer finite; per-rating epochs
 * count no batches */
static double sgd_halt(mf_run *run, double loss) {
    if (mf_stop_asked(run)) run->halt.why = MF_HALT_STOP;
    else if (!isfinite(loss)) run->halt.why = MF_HALT_NONFINITE;
    run->halt.batch = 0;
    return loss;
}

static double stream_epoch(mf_run *run) {
    sgd_state *s = run->engine_state;
    return sgd_halt(run, sgd_stream_epoch(run->m, s->packed, run->samples.n, &run->opt,
                                          run->order, run->cfg->speed.threads,
                                          run->cfg->session.stop));
}

static int stream_accepts(const mf_model *m, const mf_train_config *cfg, data_error *err) {
    (void)err;
    return cfg->speed.blocks == 0 && per_rating(m, cfg);
}

static void sgd_settle(mf_run *run) { (void)run; }

const mf_engine fast_sgd_stream = {
    .name = "per-rating SGD",
    .accepts = stream_accepts,
    .begin = sgd_begin,
    .epoch = stream_epoch,
    .settle = sgd_settle,
    .evaluate = fast_evaluate,
    .end = sgd_end,
};

static int blocks_accepts(const mf_model *m, const mf_train_config *cfg, data_error *err) {
    size_t G = cfg->speed.blocks;
    if (G == 0) return 0;
    if (G > MF_MAX_BLOCKS) {
        data_errorf(err, "at most %d user and movie groups (blocks), not %zu", MF_MAX_BLOCKS, G);
        return -1;
    }
    if (G > m->n_users || G > m->n_items) { /* a group with no one in it */
        data_errorf(err, "--blocks %zu: at most %zu here (%zu users, %zu movies: each group "
                    "needs at least one)", G, m->n_users < m->n_items ? m->n_users : m->n_items,
                    m->n_users, m->n_items);
        return -1;
    }
    if (!per_rating(m, cfg) || cfg->replay.order != MF_ORDER_EMBREC) {
        data_errorf(err, "blocks replace the epoch's shuffle of per-rating SGD: they need "
                    "--optimizer sgd or rowwise-adagrad, --batch 1, on the dot or bias model "
                    "without features, "
                    "and no other batch order");
        return -1;
    }
    return 1;
}

/* The training rows the blocks are laid out in: train's own columns where
 * the caller lets them move (mf_speed.reorder_rows) and they keep no
 * timestamps, which would not move with them; else a copy of the three
 * columns. 0 or -1 (no memory). */
static int block_rows(mf_run *run, sgd_state *s, uint32_t **U, uint32_t **I, float **Y) {
    const data_ratings *train = run->train;
    size_t n = train->n;
    if (run->cfg->speed.reorder_rows && !train->time) { /* (writable: the caller's promise) */
        *U = (uint32_t *)train->user;
        *I = (uint32_t *)train->item;
        *Y = (float *)train->rating;
        return 0;
    }
    data_ratings_without_time(&s->own);
    if (data_ratings_reserve_exact(&s->own, n ? n : 1) != 0) return -1;
    if (n) {
        memcpy(s->own.user, train->user, n * sizeof *train->user);
        memcpy(s->own.item, train->item, n * sizeof *train->item);
        memcpy(s->own.rating, train->rating, n * sizeof *train->rating);
    }
    s->own.n = n;
    *U = s->own.user;
    *I = s->own.item;
    *Y = s->own.rating;
    return 0;
}

static int blocks_begin(mf_run *run) {
    sgd_state *s = calloc(1, sizeof *s);
    uint32_t *U, *I;
    float *Y;
    run->engine_state = s;
    release_gradient(&run->m->params);
    if (!s || block_rows(run, s, &U, &I, &Y) != 0) return -1;
    s->cols = (sgd_source){.u = U, .i = I, .y = Y};
    return sgd_grid_build(&s->grid, U, I, Y, run->train->n, run->m->n_users, run->m->n_items,
                          run->cfg->speed.blocks, &run->rng);
}

static double blocks_epoch(mf_run *run) {
    sgd_state *s = run->engine_state;
    return sgd_halt(run, sgd_grid_epoch(run->m, &s->cols, run->samples.n, &s->grid,
                                        &run->opt, run->cfg->speed.threads, &run->rng,
                                        run->cfg->session.stop));
}

const mf_engine fast_sgd_blocks = {
    .name = "per-rating SGD on LIBMF's blocks",
    .orders_itself = 1,
    .accepts = blocks_accepts,
    .begin = blocks_begin,
    .epoch = blocks_epoch,
    .settle = sgd_settle,
    .evaluate = fast_evaluate,
    .end = sgd_end,
};
