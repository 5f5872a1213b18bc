/* cli/synth.c — the synthetic MovieLens-shaped generator (see synth.h).
 *
 * A planted model (genre clusters of movie factors, user factors, biases)
 * rates movies drawn by a long-tailed popularity, user by user, and the
 * lines are written through data_out as they are made, so a dataset of any
 * size needs memory for the model, not for its ratings. Every draw comes
 * from one nn_rng seeded by cfg->seed, in a fixed order, so a shape and a
 * seed always give the same bytes. It deliberately writes only what the
 * models train on (ratings, titles and genres): no tags, no user metadata.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/synth.h"
#include "formats/output.h"
#include "nn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

int data_synth_shape(const char *name, data_synth_config *cfg) {
    static const struct {
        const char *name;
        size_t users, items, ratings, rank, clusters;
    } shapes[] = {
        {"sample", 300, 200, 12000, 8, 8},
        {"ml-100k", 943, 1682, 100000, 8, 18},
        {"ml-1m", 6040, 3706, 1000209, 16, 18},
        {"ml-25m", 162541, 59047, 25000095, 16, 18},
    };
    size_t i;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(name, shapes[i].name) == 0) {
            cfg->users = shapes[i].users;
            cfg->items = shapes[i].items;
            cfg->ratings = shapes[i].ratings;
            cfg->rank = shapes[i].rank;
            cfg->clusters = shapes[i].clusters;
            cfg->noise = 0.6;
            cfg->seed = 42;
            return 0;
        }
    return -1;
}

/* ml-latest's genre names; cluster c is mostly genre c mod 18 */
static const char *const synth_genres[18] = {
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
    "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"};

/* Walker/Vose alias table: O(1) draws from fixed weights. */
typedef struct {
    double *prob; /* (n) */
    uint32_t *alias;
    size_t n;
} alias_table;

static int alias_build(alias_table *t, const double *w, size_t n) {
    double sum = 0;
    size_t i, ns = 0, nl = 0;
    uint32_t *small, *large;
    t->n = n;
    t->prob = malloc(n * sizeof *t->prob);
    t->alias = malloc(n * sizeof *t->alias);
    small = malloc(n * sizeof *small);
    large = malloc(n * sizeof *large);
    if (!t->prob || !t->alias || !small || !large) {
        free(small);
        free(large);
        return -1;
    }
    for (i = 0; i < n; i++) sum += w[i];
    for (i = 0; i < n; i++) {
        t->prob[i] = w[i] * (double)n / sum;
        t->alias[i] = (uint32_t)i;
        if (t->prob[i] < 1.0) small[ns++] = (uint32_t)i;
        else large[nl++] = (uint32_t)i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        t->alias[s] = l;
        t->prob[l] -= 1.0 - t->prob[s];
        if (t->prob[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl) t->prob[large[--nl]] = 1.0; /* rounding leftovers */
    while (ns) t->prob[small[--ns]] = 1.0;
    free(small);
    free(large);
    return 0;
}

static uint32_t alias_draw(const alias_table *t, nn_rng *rng) {
    double u = nn_rng_uniform(rng) * (double)t->n;
    size_t i = (size_t)u;
    if (i >= t->n) i = t->n - 1;
    return u - (double)i < t->prob[i] ? (uint32_t)i : t->alias[i];
}

typedef struct {
    FILE *f;
    char *buf;
    size_t len, cap;
} out_buf;

static void ob_flush(out_buf *o) {
    if (o->len) fwrite(o->buf, 1, o->len, o->f); /* a failure stays in ferror(f) */
    o->len = 0;
}

static char *ob_room(out_buf *o, size_t n) {
    if (o->len + n > o->cap) ob_flush(o);
    return o->buf + o->len;
}

static size_t put_u64(char *w, uint64_t v) {
    char tmp[24];
    size_t n = 0, k;
    do tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (k = 0; k < n; k++) w[k] = tmp[n - 1 - k];
    return n;
}

/* mkdir -p */
static int make_dirs(const char *dir, data_error *err) {
    char path[4096];
    size_t n = strlen(dir), i;
    struct stat st;
    if (n == 0 || n >= sizeof path) {
        data_errorf(err, "%s: bad directory name", dir);
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST) {
                data_errorf(err, "%s: cannot create directory: %s", path, strerror(errno));
                return -1;
            }
            path[i] = c;
        }
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        data_errorf(err, "%s: not a directory", dir);
        return -1;
    }
    return 0;
}

static int cmp_key(const void *a, const void *b) {
    const double *x = a, *y = b;
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* The rest of a user's items when rejection stalls (a heavy user has taken
 * most of the popularity mass): Efraimidis–Spirakis keys u^(1/w) over the
 * unmarked items, largest first — the same law as drawing one by one. */
static int pick_rest(const double *w, size_t n_items, unsigned char *mark, uint32_t *chosen,
                     size_t *k, size_t want, nn_rng *rng) {
    size_t i, m = 0, j;
    double *keys = malloc(2 * n_items * sizeof *keys);
    if (!keys) return -1;
    for (i = 0; i < n_items; i++)
        if (!mark[i]) {
            double u = 1.0 - nn_rng_uniform(rng); /* (0, 1] */
            keys[2 * m] = log(u) / w[i];
            keys[2 * m + 1] = (double)i;
            m++;
        }
    qsort(keys, m, 2 * sizeof *keys, cmp_key);
    for (j = 0; j < m && *k < want; j++) {
        uint32_t it = (uint32_t)keys[2 * j + 1];
        mark[it] = 1;
        chosen[(*k)++] = it;
    }
    free(keys);
    return 0;
}

/* Title of synthetic movie id (1-based): a few are "X, The (Y)" and a few
 * carry quotes, so the CSV writer must quote them. */
static int synth_title(char *dst, size_t cap, size_t id, int year) {
    if (id % 25 == 7)
        return snprintf(dst, cap, "Synthetic Movie %zu: He Said \"Yes\" (%d)", id, year);
    if (id % 10 == 3) return snprintf(dst, cap, "Synthetic Movie %zu, The (%d)", id, year);
    return snprintf(dst, cap, "Synthetic Movie %zu (%d)", id, year);
}

/* Planted model scales: the total rating sd is about 1 before rounding and
 * clipping. */
static const double synth_mu = 3.55, synth_sd_user = 0.4, synth_sd_item = 0.45,
                    synth_sd_dot = 0.55, synth_centre_share = 0.7;
static const int64_t synth_t0 = 946684800; /* 2000-01-01 */

/* One data_synth_write: the planted model and the scratch it needs. */
typedef struct {
    const data_synth_config *cfg;
    size_t U, I, R, K, C;      /* users, items, ratings, rank, clusters */
    nn_rng rng;
    double *centre;            /* (C, K) cluster centres */
    double *q, *bi;            /* (I, K) item factors, (I) item biases */
    double *p, *bu;            /* (U, K) user factors, (U) user biases */
    double item_sd;            /* q_i = its cluster's centre + item_sd · N(0, 1) */
    double user_scale;         /* p_u = user_scale · N(0, 1) */
    uint32_t *cluster;         /* (I) each movie's cluster */
    uint32_t *perm;            /* (I) scratch for the popularity order */
    double *w;                 /* (I) popularity weights */
    alias_table at;            /* draws from w */
    double *act;               /* (U) user activity */
    size_t *cnt;               /* (U) ratings per user */
    size_t *fstart;            /* (U + 1) user u's forced movies: fitem[fstart[u] ..] */
    uint32_t *fuser, *fitem;   /* (I) the user each movie is forced on; movies by user */
    unsigned char *mark;       /* (I) movies the current user has */
    uint32_t *chosen;          /* (max cnt) the current user's movies */
    out_buf ob;                /* buffers the lines for out */
    data_out out;              /* the file being written */
    data_error *err;
} synth;

/* The configuration makes sense and fits. 0 or -1 with err. */
static int synth_check(const data_synth_config *cfg, data_error *err) {
    const size_t U = cfg->users, I = cfg->items, R = cfg->ratings;
    if (!U || !I || !R || !cfg->rank || !cfg->clusters || !(cfg->noise >= 0) ||
        !isfinite(cfg->noise)) {
        data_errorf(err, "synth: users, items, ratings, rank and clusters must be positive "
                         "and noise finite and >= 0");
        return -1;
    }
    if (R < U || R < I) {
        data_errorf(err, "synth: %zu ratings cannot cover %zu users and %zu items "
                         "(every user and item needs one)", R, U, I);
        return -1;
    }
    if (U > (size_t)INT32_MAX || I > (size_t)INT32_MAX || R / U > I ||
        (R / U == I && R % U)) {
        data_errorf(err, "synth: %zu ratings do not fit in %zu users x %zu items without "
                         "repeating a pair", R, U, I);
        return -1;
    }
    return 0;
}

static void synth_init(synth *s, const data_synth_config *cfg, data_error *err) {
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->U = cfg->users;
    s->I = cfg->items;
    s->R = cfg->ratings;
    s->K = cfg->rank;
    s->C = cfg->clusters;
    s->err = err;
    nn_rng_seed(&s->rng, cfg->seed);
}

/* Every array but chosen (sized later, from the counts). 0 or -1. */
static int synth_alloc(synth *s) {
    const size_t U = s->U, I = s->I, K = s->K, C = s->C;
    s->centre = malloc(C * K * sizeof *s->centre);
    s->q = malloc(I * K * sizeof *s->q);
    s->p = malloc(U * K * sizeof *s->p);
    s->bu = malloc(U * sizeof *s->bu);
    s->bi = malloc(I * sizeof *s->bi);
    s->w = malloc(I * sizeof *s->w);
    s->act = malloc(U * sizeof *s->act);
    s->cnt = malloc(U * sizeof *s->cnt);
    s->fstart = calloc(U + 1, sizeof *s->fstart);
    s->fuser = malloc(I * sizeof *s->fuser);
    s->fitem = malloc(I * sizeof *s->fitem);
    s->perm = malloc(I * sizeof *s->perm);
    s->mark = calloc(I, 1);
    s->cluster = malloc(I * sizeof *s->cluster);
    s->ob.cap = 1 << 20;
    s->ob.buf = malloc(s->ob.cap);
    if (!s->centre || !s->q || !s->p || !s->bu || !s->bi || !s->w || !s->act || !s->cnt ||
        !s->fstart || !s->fuser || !s->fitem || !s->perm || !s->mark || !s->cluster ||
        !s->ob.buf)
        return -1;
    return 0;
}

static void synth_free(synth *s) {
    data_out_abort(&s->out); /* a no-op once committed */
    free(s->ob.buf);
    free(s->centre);
    free(s->q);
    free(s->p);
    free(s->bu);
    free(s->bi);
    free(s->w);
    free(s->act);
    free(s->cnt);
    free(s->fstart);
    free(s->fuser);
    free(s->fitem);
    free(s->perm);
    free(s->mark);
    free(s->cluster);
    free(s->chosen);
    free(s->at.prob);
    free(s->at.alias);
}

static int synth_out_of_memory(synth *s) {
    data_errorf(s->err, "synth: out of memory");
    return -1;
}

/* Start writing dir/name. 0 or -1 with err. */
static int synth_open(synth *s, const char *dir, const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (data_out_open(&s->out, path, s->err) != 0) return -1;
    s->ob.f = s->out.f;
    return 0;
}

/* Flush and commit the file being written. 0 or -1 with err. */
static int synth_close(synth *s) {
    ob_flush(&s->ob);
    s->ob.f = NULL;
    return data_out_commit(&s->out, s->err);
}

/* The cluster centres, and the scales that give p_u·q_i an sd of about
 * sd_dot with centre_share of q_i's variance from its cluster's centre. */
static void synth_centres(synth *s) {
    const double sq = sqrt(synth_sd_dot / sqrt((double)s->K));
    const double sc = sq * sqrt(synth_centre_share);
    size_t k;
    s->user_scale = sq;
    s->item_sd = sq * sqrt(1.0 - synth_centre_share);
    for (k = 0; k < s->C * s->K; k++) s->centre[k] = sc * nn_rng_normal(&s->rng);
}

/* Movie i's year, cluster, factors, bias and genres, drawn in that order;
 * the genres go to g (alphabetical, as MovieLens lists them), their number
 * is returned. */
static int synth_movie(synth *s, size_t i, int *year, int g[3]) {
    const size_t K = s->K;
    nn_rng *rng = &s->rng;
    int extra, ng = 0, a, b;
    size_t k;
    double x;
    *year = 1930 + (int)nn_rng_below(rng, 86);
    x = nn_rng_uniform(rng);
    s->cluster[i] = (uint32_t)nn_rng_below(rng, s->C);
    for (k = 0; k < K; k++)
        s->q[i * K + k] = s->centre[s->cluster[i] * K + k] + s->item_sd * nn_rng_normal(rng);
    s->bi[i] = synth_sd_item * nn_rng_normal(rng);
    g[ng++] = (int)(s->cluster[i] % 18);
    extra = x < 0.15 ? 2 : x < 0.55 ? 1 : 0;
    while (extra > 0) {
        int h = (int)nn_rng_below(rng, 18), dup = 0;
        for (a = 0; a < ng; a++) dup |= g[a] == h;
        if (!dup) {
            g[ng++] = h;
            extra--;
        }
    }
    for (a = 1; a < ng; a++)
        for (b = a; b > 0 && g[b - 1] > g[b]; b--) {
            int t = g[b];
            g[b] = g[b - 1];
            g[b - 1] = t;
        }
    return ng;
}

/* One movies.csv line: id,title,Genre|Genre. */
static void put_movie_line(out_buf *ob, size_t id, const char *title, size_t tl, const int *g,
                           int ng) {
    char *o = ob_room(ob, 2 * tl + 256);
    size_t j;
    int a;
    o += put_u64(o, id);
    *o++ = ',';
    if (strpbrk(title, ",\"")) { /* RFC 4180: quote, double the quotes */
        *o++ = '"';
        for (j = 0; j < tl; j++) {
            if (title[j] == '"') *o++ = '"';
            *o++ = title[j];
        }
        *o++ = '"';
    } else {
        memcpy(o, title, tl);
        o += tl;
    }
    *o++ = ',';
    for (a = 0; a < ng; a++) {
        size_t gl = strlen(synth_genres[g[a]]);
        if (a) *o++ = '|';
        memcpy(o, synth_genres[g[a]], gl);
        o += gl;
    }
    *o++ = '\n';
    ob->len = (size_t)(o - ob->buf);
}

/* Draw every movie and write dir/movies.csv as we go. 0 or -1 with err. */
static int synth_write_movies(synth *s, const char *dir) {
    size_t i;
    if (synth_open(s, dir, "movies.csv") != 0) return -1;
    memcpy(ob_room(&s->ob, 32), "movieId,title,genres\n", 21);
    s->ob.len += 21;
    for (i = 0; i < s->I; i++) {
        char title[128];
        int year, g[3], ng;
        size_t tl;
        ng = synth_movie(s, i, &year, g);
        tl = (size_t)synth_title(title, sizeof title, i + 1, year);
        put_movie_line(&s->ob, i + 1, title, tl, g, ng);
    }
    return synth_close(s);
}

/* Popularity: Zipf-like weights 1/(rank + I/10) over a random order of
 * the movies, times lognormal noise so the tail thins out to a few
 * ratings (MovieLens 1M: median movie 123 ratings, least 1, most 3428).
 * 0 or -1. */
static int synth_popularity(synth *s) {
    const size_t I = s->I;
    size_t i;
    for (i = 0; i < I; i++) s->perm[i] = (uint32_t)i;
    nn_rng_shuffle_u32(&s->rng, s->perm, I);
    for (i = 0; i < I; i++)
        s->w[s->perm[i]] = exp(nn_rng_normal(&s->rng)) / ((double)i + 1.0 + 0.1 * (double)I);
    return alias_build(&s->at, s->w, I);
}

/* Users: factors, bias, activity ~ lognormal. */
static void synth_users(synth *s) {
    const size_t K = s->K;
    size_t u, k;
    for (u = 0; u < s->U; u++) {
        for (k = 0; k < K; k++) s->p[u * K + k] = s->user_scale * nn_rng_normal(&s->rng);
        s->bu[u] = synth_sd_user * nn_rng_normal(&s->rng);
        s->act[u] = exp(nn_rng_normal(&s->rng));
    }
}

/* Ratings per user: a floor of min(R/U, 20), the rest shared by activity,
 * none above a cap; exactly R in all. */
static void synth_counts(synth *s) {
    const size_t U = s->U, I = s->I, R = s->R;
    size_t *cnt = s->cnt, u, m_min, cap, rem;
    m_min = R / U < 20 ? R / U : 20;
    cap = I <= 40 ? I : I / 2;
    if (cap < (R + U - 1) / U) cap = (R + U - 1) / U;
    if (cap > I) cap = I;
    for (u = 0; u < U; u++) cnt[u] = m_min;
    rem = R - m_min * U;
    while (rem > 0) {
        double W = 0;
        size_t added = 0;
        for (u = 0; u < U; u++)
            if (cnt[u] < cap) W += s->act[u];
        for (u = 0; u < U; u++)
            if (cnt[u] < cap) {
                size_t share = (size_t)((double)rem * s->act[u] / W);
                if (share > cap - cnt[u]) share = cap - cnt[u];
                if (share > rem - added) share = rem - added;
                cnt[u] += share;
                added += share;
            }
        if (added == 0)
            for (u = 0; u < U && added < rem; u++)
                if (cnt[u] < cap) {
                    cnt[u]++;
                    added++;
                }
        rem -= added;
    }
}

/* Every movie is rated at least once (MovieLens lists only rated movies):
 * each goes to a user picked in proportion to the user's count; then
 * fstart and fitem list each user's forced movies. 0 or -1. */
static int synth_force_items(synth *s) {
    const size_t U = s->U, I = s->I;
    size_t *fstart = s->fstart, *forced, i, u;
    for (u = 0; u < U; u++) fstart[u + 1] = fstart[u] + s->cnt[u]; /* cumulative counts */
    if (!(forced = calloc(U, sizeof *forced))) return -1;
    for (i = 0; i < I; i++) {
        uint64_t slot = nn_rng_below(&s->rng, s->R);
        size_t lo = 0, hi = U; /* the user whose slots hold slot */
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (fstart[mid] <= slot) lo = mid;
            else hi = mid;
        }
        while (forced[lo] >= s->cnt[lo]) lo = (lo + 1) % U;
        forced[lo]++;
        s->fuser[i] = (uint32_t)lo;
    }
    fstart[0] = 0;
    for (u = 0; u < U; u++) fstart[u + 1] = fstart[u] + forced[u];
    memset(forced, 0, U * sizeof *forced);
    for (i = 0; i < I; i++) {
        u = s->fuser[i];
        s->fitem[fstart[u] + forced[u]++] = (uint32_t)i;
    }
    free(forced);
    return 0;
}

/* User u's cnt[u] movies into chosen, each marked: the forced ones, then
 * draws by popularity without repeats (after 32 repeats in a row, the rest
 * at once). 0 or -1. */
static int synth_pick_movies(synth *s, size_t u) {
    size_t want = s->cnt[u], got = 0, misses = 0, k;
    for (k = s->fstart[u]; k < s->fstart[u + 1]; k++) {
        s->mark[s->fitem[k]] = 1;
        s->chosen[got++] = s->fitem[k];
    }
    while (got < want) {
        uint32_t it = alias_draw(&s->at, &s->rng);
        if (!s->mark[it]) {
            s->mark[it] = 1;
            s->chosen[got++] = it;
            misses = 0;
        } else if (++misses == 32) {
            if (pick_rest(s->w, s->I, s->mark, s->chosen, &got, want, &s->rng) != 0) return -1;
        }
    }
    return 0;
}

/* User u's rating of movie it from the planted model plus noise, in half
 * stars clipped to [1, 10] (0.5 to 5 stars). */
static long synth_half_stars(synth *s, size_t u, uint32_t it) {
    const size_t K = s->K;
    double r = synth_mu + s->bu[u] + s->bi[it];
    long half;
    size_t d;
    for (d = 0; d < K; d++) r += s->p[u * K + d] * s->q[(size_t)it * K + d];
    r += s->cfg->noise * nn_rng_normal(&s->rng);
    half = (long)floor(2.0 * r + 0.5);
    if (half < 1) half = 1;
    if (half > 10) half = 10;
    return half;
}

/* Seconds to a user's next rating: within a session a minute or so; now
 * and then days later. */
static int64_t synth_time_step(nn_rng *rng) {
    double z = nn_rng_uniform(rng);
    return z < 0.9 ? 5 + (int64_t)(-60.0 * log(1.0 - nn_rng_uniform(rng)))
                   : (int64_t)(-10.0 * 86400.0 * log(1.0 - nn_rng_uniform(rng)));
}

/* One ratings.csv line: user,movie,4.5,time. */
static void put_rating_line(out_buf *ob, uint64_t user, uint64_t movie, long half, int64_t t) {
    char *o = ob_room(ob, 64);
    o += put_u64(o, user);
    *o++ = ',';
    o += put_u64(o, movie);
    *o++ = ',';
    *o++ = (char)('0' + half / 2);
    *o++ = '.';
    *o++ = half % 2 ? '5' : '0';
    *o++ = ',';
    o += put_u64(o, (uint64_t)t);
    *o++ = '\n';
    ob->len = (size_t)(o - ob->buf);
}

/* dir/ratings.csv: user by user, each user's movies in a random order,
 * timed from a random start. 0 or -1 with err. */
static int synth_write_ratings(synth *s, const char *dir) {
    size_t u, k, most = 0;
    for (u = 0; u < s->U; u++)
        if (s->cnt[u] > most) most = s->cnt[u];
    if (!(s->chosen = malloc(most * sizeof *s->chosen))) return synth_out_of_memory(s);
    if (synth_open(s, dir, "ratings.csv") != 0) return -1;
    memcpy(ob_room(&s->ob, 40), "userId,movieId,rating,timestamp\n", 32);
    s->ob.len += 32;
    for (u = 0; u < s->U; u++) {
        int64_t t = synth_t0 + (int64_t)(nn_rng_uniform(&s->rng) * 18.0 * 365.25 * 86400.0);
        if (synth_pick_movies(s, u) != 0) return synth_out_of_memory(s);
        nn_rng_shuffle_u32(&s->rng, s->chosen, s->cnt[u]);
        for (k = 0; k < s->cnt[u]; k++) {
            uint32_t it = s->chosen[k];
            long half = synth_half_stars(s, u, it);
            t += synth_time_step(&s->rng);
            put_rating_line(&s->ob, u + 1, (uint64_t)it + 1, half, t);
            s->mark[it] = 0;
        }
    }
    return synth_close(s);
}

/* The steps, in the order they draw from the rng. 0 or -1 with err. */
static int synth_run(synth *s, const char *dir) {
    if (synth_alloc(s) != 0) return synth_out_of_memory(s);
    synth_centres(s);
    if (synth_write_movies(s, dir) != 0) return -1;
    if (synth_popularity(s) != 0) return synth_out_of_memory(s);
    synth_users(s);
    synth_counts(s);
    if (synth_force_items(s) != 0) return synth_out_of_memory(s);
    return synth_write_ratings(s, dir);
}

int data_synth_write(const char *dir, const data_synth_config *cfg, data_error *err) {
    synth s;
    int rc;
    char path[4200];
    if (synth_check(cfg, err) != 0) return -1;
    if (make_dirs(dir, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/ratings.csv", dir); /* writable, before the work */
    if (data_out_check_dir(path, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/movies.csv", dir);
    if (data_out_check_dir(path, err) != 0) return -1;
    synth_init(&s, cfg, err);
    rc = synth_run(&s, dir);
    synth_free(&s);
    return rc;
}
