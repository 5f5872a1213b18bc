/* tests/test_data.c — reading every supported format, id maps, errors that
 * name file, line and value, splits, movie metadata, the synthetic
 * generator, and (when ../shared/movielens exists) the real MovieLens files;
 * and data_out, which writes every output.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/synth.h"
#include "../data.h"
#include "../formats/npy.h"
#include "../formats/numpy.h"
#include "../formats/orders.h"
#include "../fast/cache.h"
#include "../fast/reader.h"
#include "../formats/output.h"
#include "fixture.h"
#include "test.h"

/* ------------------------------------------------------------ helpers */

typedef struct {
    data_idmap u, i;
    data_ratings r;
    data_read_report rep;
    data_error err;
} loaded;

static void unload(loaded *L) {
    data_ratings_free(&L->r);
    data_idmap_free(&L->u);
    data_idmap_free(&L->i);
}

/* Set by data/readers_agree, which runs the reader tests again: every
 * ratings file they read is then read by the plain reader (data.c) as well
 * as the installed one (fast/), from the same maps and rows, and any
 * difference fails the test. */
static int compare_readers;
static size_t reads_compared;

/* dst: a copy of the maps and rows a read starts from */
static void copy_start(loaded *dst, const data_idmap *u, const data_idmap *i,
                       const data_ratings *r) {
    size_t k;
    data_idmap_init(&dst->u);
    data_idmap_init(&dst->i);
    data_ratings_init(&dst->r);
    dst->err.msg[0] = '\0';
    for (k = 0; k < u->n; k++) data_idmap_intern(&dst->u, u->raw[k]);
    for (k = 0; k < i->n; k++) data_idmap_intern(&dst->i, i->raw[k]);
    for (k = 0; k < r->n; k++)
        data_ratings_push(&dst->r, r->user[k], r->item[k], r->rating[k], r->time[k]);
}

/* What differs between the plain read P (status prc) and the installed
 * reader's (status rc, into u, i, r, rep, err), or NULL. */
static const char *readers_differ(const loaded *P, int prc, int rc, const data_idmap *u,
                                  const data_idmap *i, const data_ratings *r,
                                  const data_read_report *rep, const data_error *err,
                                  const data_read_opts *o) {
    size_t k;
    if (prc != rc) return "the status";
    if (rc != 0 && strcmp(P->err.msg, err->msg) != 0) return "the error message";
    if (P->u.n != u->n || P->i.n != i->n) return "the number of ids";
    for (k = 0; k < u->n; k++)
        if (P->u.raw[k] != u->raw[k]) return "the user ids";
    for (k = 0; k < i->n; k++)
        if (P->i.raw[k] != i->raw[k]) return "the item ids";
    if (P->r.n != r->n) return "the number of rows";
    for (k = 0; k < r->n; k++)
        if (P->r.user[k] != r->user[k] || P->r.item[k] != r->item[k] ||
            P->r.rating[k] != r->rating[k] || P->r.time[k] != r->time[k])
            return "the rows";
    if (P->rep.format != rep->format || P->rep.lines != rep->lines ||
        P->rep.skipped != rep->skipped || strcmp(P->rep.first_error, rep->first_error) != 0)
        return "the report";
    if (o && o->cache && rc == 0 &&
        (P->rep.cache != DATA_CACHE_UNUSED ||
         !strstr(P->rep.cache_note, "the reference build keeps no ratings cache; parsed")))
        return "the plain reader's cache note";
    if ((!o || !o->cache) && (P->rep.cache != DATA_CACHE_OFF || rep->cache != DATA_CACHE_OFF ||
                              P->rep.cache_note[0] || rep->cache_note[0]))
        return "the cache report";
    return NULL;
}

/* data_read_ratings, and under data/readers_agree the plain reader's read
 * of the same file compared with it. A cache's own errors (the cache would
 * overwrite its source) are the fast reader's alone: the plain reader keeps
 * no cache, and parses. */
static int read_ratings(const char *path, const data_read_opts *o, data_idmap *u,
                        data_idmap *i, data_ratings *r, data_read_report *rep,
                        data_error *err) {
    loaded P;
    data_read_report own_rep;
    data_error own_err;
    const char *why;
    int prc, rc;
    if (!compare_readers) return data_read_ratings(path, o, u, i, r, rep, err);
    if (!rep) rep = &own_rep;
    if (!err) err = &own_err;
    copy_start(&P, u, i, r);
    data_use_reader(NULL);
    prc = data_read_ratings(path, o, &P.u, &P.i, &P.r, &P.rep, &P.err);
    data_use_reader(fast_read_ratings);
    rc = data_read_ratings(path, o, u, i, r, rep, err);
    if (!(o && o->cache && rc != 0)) {
        reads_compared++;
        if ((why = readers_differ(&P, prc, rc, u, i, r, rep, err, o)) != NULL)
            test_fail(__FILE__, __LINE__, "%s: the plain and fast readers differ in %s "
                      "(status %d and %d; \"%s\" and \"%s\")", path, why, prc, rc, P.err.msg,
                      rc ? err->msg : "");
    }
    unload(&P);
    return rc;
}

static int load(loaded *L, const char *path, const data_read_opts *o) {
    data_idmap_init(&L->u);
    data_idmap_init(&L->i);
    data_ratings_init(&L->r);
    L->err.msg[0] = '\0';
    return read_ratings(path, o, &L->u, &L->i, &L->r, &L->rep, &L->err);
}

/* the raw ids of row k */
#define RAW_U(L, k) ((L).u.raw[(L).r.user[k]])
#define RAW_I(L, k) ((L).i.raw[(L).r.item[k]])

/* write text to NAME, read it with opts, expect failure with three parts */
#define READ_FAILS(name, text, opts, w1, w2, w3)                         \
    do {                                                                 \
        loaded L_;                                                       \
        const char *p_ = test_write(name, text);                         \
        CHECK_INT(load(&L_, p_, opts), -1);                              \
        CHECK_HAS(L_.err.msg, w1);                                       \
        CHECK_HAS(L_.err.msg, w2);                                       \
        CHECK_HAS(L_.err.msg, w3);                                       \
        CHECK_INT(L_.r.n, 0);                                            \
        unload(&L_);                                                     \
    } while (0)

/* the whole of a file, NUL-terminated (caller frees), or NULL */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

static void fill_rows(data_ratings *r, size_t n) {
    size_t k;
    data_ratings_init(r);
    for (k = 0; k < n; k++)
        data_ratings_push(r, (uint32_t)(k % 7), (uint32_t)(k % 11), (float)(k % 5) + 1.0f,
                          (int64_t)k);
}

/* ------------------------------------------------------------- id maps */

static void test_idmap_basic(void) {
    data_idmap m;
    data_idmap_init(&m);
    CHECK_INT(data_idmap_find(&m, 5), -1); /* empty map */
    CHECK_INT(data_idmap_intern(&m, 196), 0);
    CHECK_INT(data_idmap_intern(&m, 186), 1);
    CHECK_INT(data_idmap_intern(&m, 196), 0); /* seen: same index */
    CHECK_INT(data_idmap_intern(&m, -7), 2);
    CHECK_INT(data_idmap_intern(&m, INT64_MAX), 3);
    CHECK_INT(data_idmap_intern(&m, INT64_MIN), 4);
    CHECK_INT(data_idmap_intern(&m, 0), 5);
    CHECK_INT(m.n, 6);
    CHECK_INT(data_idmap_find(&m, 186), 1);
    CHECK_INT(data_idmap_find(&m, INT64_MIN), 4);
    CHECK_INT(data_idmap_find(&m, 0), 5);
    CHECK_INT(data_idmap_find(&m, 187), -1);
    CHECK(m.raw[0] == 196 && m.raw[2] == -7 && m.raw[3] == INT64_MAX);
    {   /* a copy: the same ids at the same indices, a map of its own */
        data_idmap c;
        CHECK_INT(data_idmap_copy(&c, &m), 0);
        CHECK_INT(c.n, 6);
        CHECK_INT(data_idmap_find(&c, INT64_MIN), 4);
        CHECK_INT(data_idmap_find(&c, -7), 2);
        CHECK_INT(data_idmap_intern(&c, 42), 6);
        CHECK_INT(data_idmap_find(&m, 42), -1);
        data_idmap_free(&c);
    }
    data_idmap_free(&m);
    CHECK_INT(m.n, 0);
    CHECK_INT(data_idmap_find(&m, 196), -1);
}

static void test_idmap_growth(void) {
    data_idmap m;
    int32_t k, bad = 0;
    const int32_t n = 50000;
    data_idmap_init(&m);
    /* consecutive ids, then scattered large ones: both must spread */
    for (k = 0; k < n; k++)
        if (data_idmap_intern(&m, k < n / 2 ? k + 1 : (int64_t)k * 1000003 - 77) != k) bad++;
    CHECK_INT(bad, 0);
    CHECK_INT(m.n, n);
    CHECK(m.cap >= 2 * m.hashed);
    CHECK_INT(m.cap & (m.cap - 1), 0); /* a power of two */
    CHECK_INT(m.hashed, n / 2);          /* the large ids; the small ones are direct */
    CHECK(m.direct_cap > (size_t)n / 2); /* covers 1..n/2 */
    for (k = 0; k < n; k++) {
        int64_t raw = k < n / 2 ? k + 1 : (int64_t)k * 1000003 - 77;
        if (data_idmap_find(&m, raw) != k || m.raw[k] != raw) bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(data_idmap_find(&m, n / 2 + 1), -1);
    CHECK_INT(data_idmap_find(&m, -77 + 1), -1);
    data_idmap_free(&m);
}

/* The direct array and the hash give the same map: a mix of small ids,
 * large ones, negative ones and repeats, in an order where ids are hashed
 * first (too large for the direct array while the map is small) and later
 * covered by it, against a plain list searched linearly. */
static void test_idmap_direct_vs_hash(void) {
    enum { N = 40000 };
    static int64_t seen[N], ids[N];
    data_idmap m;
    size_t n_seen = 0, k, j;
    int bad = 0;
    uint64_t x = 12345;
    data_idmap_init(&m);
    for (k = 0; k < N; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        switch ((x >> 60) % 4) {
        case 0: ids[k] = (int64_t)((x >> 20) % 3000); break;        /* small, repeated */
        case 1: ids[k] = (int64_t)((x >> 20) % 300000); break;      /* direct once the map is big */
        case 2: ids[k] = -(int64_t)((x >> 20) % 500) - 1; break;    /* negative: hashed */
        default: ids[k] = (int64_t)(x >> 8) + 10000000000LL; break; /* large: hashed */
        }
    }
    ids[0] = 100000; /* hashed at first (the map is empty), direct later */
    ids[1] = 0;
    ids[2] = -1;
    ids[3] = INT64_MAX;
    ids[4] = INT64_MIN;
    ids[5] = 100000;
    for (k = 0; k < N; k++) {
        int32_t want = -1, got;
        for (j = 0; j < n_seen; j++)
            if (seen[j] == ids[k]) want = (int32_t)j;
        if (want < 0) {
            want = (int32_t)n_seen;
            seen[n_seen++] = ids[k];
        }
        got = data_idmap_intern(&m, ids[k]);
        if (got != want) bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(m.n, n_seen);
    CHECK(m.direct_cap >= 131072 && m.direct_cap <= 262144); /* grew over 100000, not 300000 */
    CHECK(m.hashed > 0);
    CHECK_INT(data_idmap_find(&m, 100000), 0);
    CHECK_INT(data_idmap_find(&m, 0), 1);
    CHECK_INT(data_idmap_find(&m, -1), 2);
    CHECK_INT(data_idmap_find(&m, INT64_MAX), 3);
    CHECK_INT(data_idmap_find(&m, INT64_MIN), 4);
    for (j = 0; j < n_seen; j++)
        if (data_idmap_find(&m, seen[j]) != (int32_t)j || m.raw[j] != seen[j]) bad++;
    CHECK_INT(bad, 0);
    /* absent ids: inside the direct range, negative, large */
    CHECK_INT(data_idmap_find(&m, 299999 + 1), -1);
    CHECK_INT(data_idmap_find(&m, -501), -1);
    CHECK_INT(data_idmap_find(&m, 9999999999LL), -1);
    data_idmap_free(&m);
    CHECK(m.direct == NULL && m.direct_cap == 0 && m.n == 0);
    /* sparse large ids never get a direct array; a small one then does */
    data_idmap_init(&m);
    for (k = 0; k < 100; k++)
        CHECK_INT(data_idmap_intern(&m, 5000000 + (int64_t)k * 7), (int32_t)k);
    CHECK_INT(m.direct_cap, 0);
    CHECK_INT(data_idmap_intern(&m, 3), 100);
    CHECK(m.direct_cap > 0 && m.direct_cap <= 65536);
    CHECK_INT(data_idmap_find(&m, 5000000 + 99 * 7), 99);
    data_idmap_free(&m);
}

/* -------------------------------------------------------------- formats */

static void test_format_names(void) {
    data_format f = DATA_FMT_AUTO;
    const char *names[] = {"auto", "udata", "dat", "csv", "delim"};
    size_t k;
    for (k = 0; k < 5; k++) {
        CHECK_INT(data_format_parse(names[k], &f), 0);
        CHECK(strcmp(data_format_name(f), names[k]) == 0);
    }
    CHECK_INT(data_format_parse("tsv", &f), -1);
    CHECK_INT(data_format_parse("CSV", &f), -1);
    {
        data_read_opts o = data_read_defaults();
        CHECK_INT(o.format, DATA_FMT_AUTO);
        CHECK_INT(o.header, -1);
        CHECK(o.delim == NULL && o.user_col == NULL && o.time_col == NULL && !o.skip_bad);
    }
}

static void test_udata(void) {
    loaded L;
    const char *p = test_write("u.data", "101\t207\t3\t880000001\n"
                                         "113\t305\t3\t880000902\n"
                                         "101\t371\t1\t880001003\n");
    CHECK_INT(load(&L, p, NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_UDATA);
    CHECK_INT(L.rep.lines, 3);
    CHECK_INT(L.rep.skipped, 0);
    CHECK_INT(L.r.n, 3);
    CHECK_INT(L.u.n, 2);
    CHECK_INT(L.i.n, 3);
    CHECK_INT(L.r.user[0], 0);
    CHECK_INT(L.r.user[1], 1);
    CHECK_INT(L.r.user[2], 0);
    CHECK_INT(RAW_U(L, 1), 113);
    CHECK_INT(RAW_I(L, 2), 371);
    CHECK_NEAR(L.r.rating[2], 1.0, 0, 0);
    CHECK_INT(L.r.time[0], 880000001);
    CHECK_INT(L.r.time[2], 880001003);
    unload(&L);
}

static void test_dat(void) {
    loaded L;
    const char *p = test_write("ratings.dat", "1::1193::5::978300760\n"
                                              "1::661::3::978302109\n"
                                              "6040::1097::4::956715518");
    CHECK_INT(load(&L, p, NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_DAT);
    CHECK_INT(L.r.n, 3);
    CHECK_INT(RAW_U(L, 2), 6040);
    CHECK_INT(RAW_I(L, 0), 1193);
    CHECK_NEAR(L.r.rating[0], 5.0, 0, 0);
    CHECK_INT(L.r.time[2], 956715518); /* no final newline */
    unload(&L);
}

static void test_csv_header_quotes_crlf_bom(void) {
    loaded L;
    /* BOM, CRLF, a header, quoted fields (with a doubled quote in a column
     * nobody reads), blank lines in the middle and no final newline */
    const char *p = test_write("latest.csv", "\xEF\xBB\xBFuserId,movieId,rating,timestamp\r\n"
                                             "1,1,4.0,964000001\r\n"
                                             "\r\n"
                                             "\"1\",\"3\",\"4.5\",\"964000002\"\r\n"
                                             "\n"
                                             "2,\"0003\",0.5,-5\r\n"
                                             "610,170875,3.0,1493000003");
    CHECK_INT(load(&L, p, NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_CSV);
    CHECK_INT(L.rep.lines, 4);
    CHECK_INT(L.r.n, 4);
    CHECK_INT(L.u.n, 3);
    CHECK_INT(L.i.n, 3);
    CHECK_INT(RAW_I(L, 1), 3);
    CHECK_INT(L.r.item[2], L.r.item[1]); /* "0003" is item 3 */
    CHECK_NEAR(L.r.rating[1], 4.5, 0, 0);
    CHECK_NEAR(L.r.rating[2], 0.5, 0, 0);
    CHECK_INT(L.r.time[1], 964000002);
    CHECK_INT(L.r.time[2], -5);
    CHECK_INT(RAW_I(L, 3), 170875);
    CHECK_INT(L.r.time[3], 1493000003);
    unload(&L);

    /* a header whose fields are quoted, one holding a comma */
    p = test_write("quoted_header.csv", "\"user\",\"item, id\",\"rating\"\n7,8,2\n");
    CHECK_INT(load(&L, p, NULL), 0);
    CHECK_INT(L.r.n, 1);
    CHECK_INT(L.r.time[0], 0); /* 3 columns: no timestamps */
    unload(&L);
    {
        data_read_opts o = data_read_defaults();
        o.item_col = "item, id";
        p = test_write("quoted_header2.csv", "\"user\",\"rating\",\"item, id\"\n7,2,\"8\"\n");
        o.rating_col = "rating";
        o.user_col = "user";
        CHECK_INT(load(&L, p, &o), 0);
        CHECK_INT(RAW_I(L, 0), 8);
        CHECK_NEAR(L.r.rating[0], 2.0, 0, 0);
        unload(&L);
    }
}

static void test_csv_without_header(void) {
    loaded L;
    const char *p = test_write("nohdr.csv", "5,6,3.5\n5,7,4\n");
    CHECK_INT(load(&L, p, NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_CSV);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(RAW_U(L, 0), 5);
    CHECK_INT(L.r.time[1], 0);
    unload(&L);
}

static void test_delim_columns(void) {
    loaded L;
    data_read_opts o = data_read_defaults();
    const char *p = test_write("semi.txt", "Rating;When;Movie;User\n"
                                           "4.5;100;10;1\n"
                                           "2;200;11;2\n");
    /* by name (exact and case-insensitive) */
    o.format = DATA_FMT_DELIM;
    o.delim = ";";
    o.user_col = "User";
    o.item_col = "movie";
    o.rating_col = "RATING";
    o.time_col = "When";
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(L.rep.format, DATA_FMT_DELIM);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(RAW_U(L, 1), 2);
    CHECK_INT(RAW_I(L, 0), 10);
    CHECK_NEAR(L.r.rating[0], 4.5, 0, 0);
    CHECK_INT(L.r.time[1], 200);
    unload(&L);

    /* by number, header forced */
    o.user_col = "4";
    o.item_col = "3";
    o.rating_col = "1";
    o.time_col = "2";
    o.header = 1;
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(RAW_U(L, 0), 1);
    CHECK_INT(RAW_I(L, 1), 11);
    CHECK_NEAR(L.r.rating[1], 2.0, 0, 0);
    CHECK_INT(L.r.time[0], 100);
    unload(&L);

    /* chosen columns and no time given: a column named "timestamp" is used */
    p = test_write("named_ts.csv", "item,user,timestamp,rating\n3,4,77,5\n");
    o = data_read_defaults();
    o.user_col = "user";
    o.item_col = "item";
    o.rating_col = "rating";
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(RAW_U(L, 0), 4);
    CHECK_INT(L.r.time[0], 77);
    unload(&L);

    /* multi-character delimiter, no header, numbered columns */
    p = test_write("pipes.txt", "a||1||2||3.5\nb||1||3||4\n");
    o = data_read_defaults();
    o.format = DATA_FMT_DELIM;
    o.delim = "||";
    o.header = 0;
    o.user_col = "2";
    o.item_col = "3";
    o.rating_col = "4";
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(L.u.n, 1);
    CHECK_INT(RAW_I(L, 1), 3);
    CHECK_NEAR(L.r.rating[0], 3.5, 0, 0);
    unload(&L);

    /* "::" through DELIM, and a delimiter given with format auto */
    p = test_write("dc.txt", "1::2::3::4\n");
    o = data_read_defaults();
    o.delim = "::";
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(L.rep.format, DATA_FMT_DELIM);
    CHECK_INT(L.r.time[0], 4);
    unload(&L);

    /* an explicit format overrides the content */
    p = test_write("tab_as_csv.txt", "1\t2\t3\n");
    o = data_read_defaults();
    o.format = DATA_FMT_UDATA;
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(L.rep.format, DATA_FMT_UDATA);
    unload(&L);
}

static void test_autodetect(void) {
    struct {
        const char *name, *text;
        data_format want;
        size_t users;
        long long time0;
    } cases[] = {
        {"a.data", "1\t2\t3\t4\n", DATA_FMT_UDATA, 1, 4},
        {"b.dat", "1::2::3::4\n", DATA_FMT_DAT, 1, 4},
        {"c.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n", DATA_FMT_CSV, 1, 4},
        {"d.csv", "1,2,3\n2,2,3\n", DATA_FMT_CSV, 2, 0},
        {"e.tsv", "user\titem\trating\n1\t2\t3\n", DATA_FMT_DELIM, 1, 0},
        {"f.txt", "user;item;rating;ts\n1;2;3;9\n", DATA_FMT_DELIM, 1, 9},
        {"g.txt", "\n\n1\t2\t3\t4\n", DATA_FMT_UDATA, 1, 4}, /* leading blank lines */
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        loaded L;
        const char *p = test_write(cases[k].name, cases[k].text);
        CHECK_INT(load(&L, p, NULL), 0);
        CHECK_INT(L.rep.format, cases[k].want);
        CHECK_INT(L.u.n, cases[k].users);
        CHECK_INT(L.r.n > 0 ? L.r.time[0] : -1, cases[k].time0);
        unload(&L);
    }
}

/* ratings parse exactly as strtod would, on the fast path and off it */
static void test_number_parsing(void) {
    static char text[1 << 17];
    static char vals[2000][40];
    size_t len = 0, k, n = 0, bad = 0;
    loaded L;
    nn_rng rng;
    nn_rng_seed(&rng, 99);
    for (k = 0; k < 2000; k++) {
        double x = (nn_rng_uniform(&rng) - 0.3) * pow(10.0, (double)nn_rng_below(&rng, 12) - 4);
        switch (k % 5) {
        case 0: snprintf(vals[k], sizeof vals[k], "%.*f", (int)nn_rng_below(&rng, 17), x); break;
        case 1: snprintf(vals[k], sizeof vals[k], "%.17g", x); break;
        case 2: snprintf(vals[k], sizeof vals[k], "%.3e", x); break;
        case 3: snprintf(vals[k], sizeof vals[k], "%d.%d", (int)(k % 6), (int)(k % 10)); break;
        default: snprintf(vals[k], sizeof vals[k], "%.20f", x); break;
        }
        len += (size_t)snprintf(text + len, sizeof text - len, "1,%zu,%s\n", k, vals[k]);
    }
    CHECK(len < sizeof text);
    CHECK_INT(load(&L, test_write("numbers.csv", text), NULL), 0);
    CHECK_INT(L.r.n, 2000);
    for (k = 0; k < L.r.n && k < 2000; k++, n++)
        if (L.r.rating[k] != (float)strtod(vals[k], NULL)) {
            if (bad++ < 5) test_fail(__FILE__, __LINE__, "\"%s\" read as %.9g", vals[k], L.r.rating[k]);
        }
    CHECK_INT(bad, 0);
    unload(&L);

    /* forms that are numbers */
    CHECK_INT(load(&L, test_write("forms.csv", "1,1,+4\n1,2,-0.25\n1,3,.5\n1,4,3.\n1,5,1e0\n"
                                               "1,6,2.5E-1\n1,7,0000000000000000004.5\n"),
                   NULL),
              0);
    CHECK_INT(L.r.n, 7);
    if (L.r.n == 7) {
        CHECK_NEAR(L.r.rating[0], 4, 0, 0);
        CHECK_NEAR(L.r.rating[1], -0.25, 0, 0);
        CHECK_NEAR(L.r.rating[2], 0.5, 0, 0);
        CHECK_NEAR(L.r.rating[3], 3, 0, 0);
        CHECK_NEAR(L.r.rating[4], 1, 0, 0);
        CHECK_NEAR(L.r.rating[5], 0.25, 0, 0);
        CHECK_NEAR(L.r.rating[6], 4.5, 0, 0);
    }
    unload(&L);

    /* the extremes of int64 ids */
    CHECK_INT(load(&L, test_write("big.csv", "9223372036854775807,-9223372036854775808,1\n"
                                             "+12,0,2\n"),
                   NULL),
              0);
    CHECK(L.r.n == 2 && RAW_U(L, 0) == INT64_MAX && RAW_I(L, 0) == INT64_MIN);
    CHECK(L.r.n == 2 && RAW_U(L, 1) == 12 && RAW_I(L, 1) == 0);
    unload(&L);
}

/* Every short rating, the forms MovieLens writes ("4", "3.5", "0.5") and
 * their neighbours ("12.5", "4.25", "-0.5"): read exactly as (float)strtod
 * reads them, by the one-pass parse of plain lines and by the splitter's
 * parse of quoted ones. */
static void test_short_ratings(void) {
    enum { N = 4000 };
    static char text[N * 2 * 32];
    static char vals[N][16];
    size_t len = 0, k, bad = 0;
    loaded L;
    for (k = 0; k < N; k++) {
        if (k < 1000) snprintf(vals[k], sizeof vals[k], "%zu", k);                 /* 0 .. 999 */
        else if (k < 2000) snprintf(vals[k], sizeof vals[k], "%zu.%zu", (k - 1000) / 10,
                                    (k - 1000) % 10);                              /* 0.0 .. 99.9 */
        else if (k < 3000) snprintf(vals[k], sizeof vals[k], "%zu.%02zu", (k - 2000) / 100,
                                    (k - 2000) % 100);                             /* 0.00 .. 9.99 */
        else snprintf(vals[k], sizeof vals[k], "-%zu.%zu", (k - 3000) / 10, (k - 3000) % 10);
        len += (size_t)snprintf(text + len, sizeof text - len, "1,%zu,%s\n1,%zu,\"%s\"\n", k,
                                vals[k], k, vals[k]);
    }
    CHECK(len < sizeof text);
    CHECK_INT(load(&L, test_write("short_ratings.csv", text), NULL), 0);
    CHECK_INT(L.r.n, 2 * N);
    for (k = 0; k < L.r.n && k < 2 * N; k++)
        if (L.r.rating[k] != (float)strtod(vals[k / 2], NULL) && bad++ < 5)
            test_fail(__FILE__, __LINE__, "\"%s\" read as %.9g", vals[k / 2], L.r.rating[k]);
    CHECK_INT(bad, 0);
    unload(&L);
}

/* -------------------------------------------------------------- errors */

static void test_errors_values(void) {
    data_read_opts o = data_read_defaults();
    const char *hdr = "userId,movieId,rating,timestamp\n";
    char t[512];
#define CSV(body) (snprintf(t, sizeof t, "%s1,1,4.0,100\n%s", hdr, body), t)
    READ_FAILS("ratings.csv", CSV("1,2,\"4,5\",101\n"), NULL, "ratings.csv:3:",
               "rating is not a number", "(\"4,5\")");
    READ_FAILS("r_nan.csv", CSV("1,2,nan,101\n"), NULL, "r_nan.csv:3:", "rating is not a number",
               "(\"nan\")");
    READ_FAILS("r_inf.csv", CSV("1,2,inf,101\n"), NULL, "r_inf.csv:3:", "rating is not a number",
               "(\"inf\")");
    READ_FAILS("r_big.csv", CSV("1,2,1e999,101\n"), NULL, "r_big.csv:3:", "rating is out of range",
               "(\"1e999\")");
    READ_FAILS("r_empty.csv", CSV("1,2,,101\n"), NULL, "r_empty.csv:3:",
               "rating is not a number", "(\"\")");
    READ_FAILS("r_junk.csv", CSV("1,2,4.5x,101\n"), NULL, "r_junk.csv:3:",
               "rating is not a number", "(\"4.5x\")");
    READ_FAILS("r_space.csv", CSV("1,2, \t ,101\n"), NULL, "r_space.csv:3:",
               "rating is not a number", "(\" ? \")");
    READ_FAILS("r_inner.csv", CSV("1,2,4 5,101\n"), NULL, "r_inner.csv:3:",
               "rating is not a number", "(\"4 5\")");
    READ_FAILS("r_hex.csv", CSV("1,2,0x1p2,101\n"), NULL, "r_hex.csv:3:",
               "rating is not a number", "(\"0x1p2\")");
    READ_FAILS("r_dots.csv", CSV("1,2,1.2.3,101\n"), NULL, "r_dots.csv:3:",
               "rating is not a number", "(\"1.2.3\")");
    READ_FAILS("u_id.csv", CSV("u1,2,4,101\n"), NULL, "u_id.csv:3:", "user id is not an integer",
               "(\"u1\")");
    READ_FAILS("u_space.csv", CSV("   ,2,4,101\n"), NULL, "u_space.csv:3:",
               "user id is not an integer", "(\"   \")");
    READ_FAILS("u_sign.csv", CSV("- 1,2,4,101\n"), NULL, "u_sign.csv:3:",
               "user id is not an integer", "(\"- 1\")");
    READ_FAILS("i_id.csv", CSV("1,3.5,4,101\n"), NULL, "i_id.csv:3:", "item id is not an integer",
               "(\"3.5\")");
    READ_FAILS("i_sign.csv", CSV("1,-,4,101\n"), NULL, "i_sign.csv:3:",
               "item id is not an integer", "(\"-\")");
    READ_FAILS("i_big.csv", CSV("1,9223372036854775808,4,101\n"), NULL, "i_big.csv:3:",
               "item id does not fit in 64 bits", "(\"9223372036854775808\")");
    READ_FAILS("u_big.csv", CSV("99999999999999999999,1,4,101\n"), NULL, "u_big.csv:3:",
               "user id does not fit in 64 bits", "(\"99999999999999999999\")");
    READ_FAILS("t_bad.csv", CSV("1,2,4,12:00\n"), NULL, "t_bad.csv:3:",
               "timestamp is not an integer", "(\"12:00\")");
    READ_FAILS("t_big.csv", CSV("1,2,4,99999999999999999999\n"), NULL, "t_big.csv:3:",
               "timestamp does not fit in 64 bits", "(\"99999999999999999999\")");
    /* long values are cut in the message */
    READ_FAILS("long.csv",
               CSV("1,2,4,0123456789012345678901234567890123456789012345678901234567890123456789x\n"),
               NULL, "long.csv:3:", "timestamp is not an integer", "456789012345678901234567...\")");
#undef CSV
    /* a control character shows as '?' */
    READ_FAILS("ctl.csv", "1,2,4\x01\n", NULL, "ctl.csv:1:", "rating is not a number", "(\"4?\")");
    (void)o;
}

/* Ratings are stored as float32: a value finite as a double but beyond
 * float's range (3.4e38) is refused, whichever parser reads it (plain, quoted,
 * u.data, ratings.dat), and --skip-bad skips it; the largest floats and
 * values that round to them are kept. */
static void test_rating_float_range(void) {
    data_read_opts o = data_read_defaults();
    loaded L;
    READ_FAILS("f_big.csv", "u,i,r\n1,1,4\n1,2,1e39\n", NULL, "f_big.csv:3:",
               "rating is out of range", "(\"1e39\")");
    READ_FAILS("f_neg.csv", "u,i,r\n1,1,4\n1,2,-1e39\n", NULL, "f_neg.csv:3:",
               "rating is out of range", "(\"-1e39\")");
    READ_FAILS("f_quoted.csv", "u,i,r\n1,2,\"3.5e38\"\n", NULL, "f_quoted.csv:2:",
               "rating is out of range", "(\"3.5e38\")");
    READ_FAILS("f_long.data", "1\t2\t340282356779733661637539395458142568448\t5\n", NULL,
               "f_long.data:1:", "rating is out of range", "(\"3402823567797336616375393954581");
    READ_FAILS("f_big.dat", "1::2::4::5\n1::3::1E39::6\n", NULL, "f_big.dat:2:",
               "rating is out of range", "(\"1E39\")");
    o.skip_bad = 1;
    CHECK_INT(load(&L, test_write("f_skip.csv", "u,i,r\n1,1,4\n1,2,1e39\n1,3,2\n"), &o), 0);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(L.rep.skipped, 1);
    CHECK_HAS(L.rep.first_error, "f_skip.csv:3: rating is out of range for a float32 (\"1e39\")");
    unload(&L);
    /* FLT_MAX itself, and a value above it that rounds down to it */
    CHECK_INT(load(&L, test_write("f_max.csv", "u,i,r\n1,1,3.4028234663852886e38\n"
                                               "1,2,-3.40282356e38\n1,3,999999999999999\n"),
                   NULL),
              0);
    CHECK_INT(L.r.n, 3);
    if (L.r.n == 3) {
        CHECK(L.r.rating[0] == FLT_MAX);
        CHECK(L.r.rating[1] == -FLT_MAX);
        CHECK(L.r.rating[2] == 999999999999999.0f); /* the one-pass parser's largest */
    }
    unload(&L);
}

/* Spaces and tabs around a value are ignored, as pandas ignores them, in
 * every format and every numeric column, whether the line ends in them or
 * they lead; in u.data the tab is the delimiter, so a trailing tab is an
 * extra field, and a field of blanks alone is still missing. */
static void test_blanks_around_values(void) {
    static const struct {
        const char *name, *text;
    } ok[] = {
        {"b.csv", "userId,movieId,rating,timestamp\n1,10,4.0,964981247   \n"
                  " 2 ,\t20\t, 3.5 ,  964981248\t\r\n\"3 \",30,\" 2.5\",964981249 \n"},
        {"b.data", "1\t10\t4\t964981247   \n 2 \t 20\t3.5 \t964981248\r\n3\t30 \t 2.5\t964981249\n"},
        {"b.dat", "1::10::4::964981247 \t\n2 :: 20:: 3.5::964981248\n3::30::2.5  ::964981249\n"},
        {"b.txt", " 1;10;4;964981247\t\n2;20 ;3.5e0 ;964981248\n3;30;2.5;964981249  \n"},
    };
    data_read_opts o = data_read_defaults();
    loaded L;
    size_t k, chunk;
    for (k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        const char *p = test_write(ok[k].name, ok[k].text);
        for (chunk = 0; chunk <= 16; chunk += 4) {
            o.chunk = chunk;
            if (load(&L, p, &o) != 0) {
                test_fail(__FILE__, __LINE__, "%s, chunk %zu: %s", ok[k].name, chunk, L.err.msg);
            } else {
                CHECK_INT(L.r.n, 3);
                CHECK(L.r.n == 3 && RAW_U(L, 1) == 2 && RAW_I(L, 1) == 20 && RAW_I(L, 2) == 30);
                CHECK(L.r.n == 3 && L.r.rating[0] == 4.0f && L.r.rating[1] == 3.5f &&
                      L.r.rating[2] == 2.5f);
                CHECK(L.r.n == 3 && L.r.time[0] == 964981247 && L.r.time[2] == 964981249);
            }
            unload(&L);
        }
    }
    /* the first line is data, not a header, though it starts with a blank */
    CHECK_INT(load(&L, test_write("b_first.csv", " 1,10,4\n2,20,3\n"), NULL), 0);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(L.rep.format, DATA_FMT_CSV);
    unload(&L);
    CHECK_INT(load(&L, test_write("b_first.data", "1 \t10\t4\n2\t20\t3\n"), NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_UDATA);
    CHECK_INT(L.r.n, 2);
    unload(&L);
    /* a header's names are found without the blanks around them */
    o = data_read_defaults();
    o.user_col = "userId";
    o.item_col = "movieId";
    o.rating_col = "rating";
    o.time_col = "timestamp";
    CHECK_INT(load(&L, test_write("b_header.csv", "rating , userId,movieId, timestamp  \t\n"
                                                  "4,1,10,5\n"),
                   &o),
              0);
    CHECK(L.r.n == 1 && RAW_U(L, 0) == 1 && RAW_I(L, 0) == 10 && L.r.time[0] == 5);
    unload(&L);
    /* u.data: a trailing tab is one more (empty) field */
    READ_FAILS("b_tab.data", "1\t10\t4\t5\n2\t20\t3\t6\t\n", NULL, "b_tab.data:2:",
               "expected 4 fields, found 5", "b_tab");
    READ_FAILS("b_blank.data", "1\t10\t4\t5\n2\t \t3\t6\n", NULL, "b_blank.data:2:",
               "item id is not an integer", "(\" \")");
    READ_FAILS("b_blank.csv", "u,i,r,t\n1,10,4,\t\n", NULL, "b_blank.csv:2:",
               "timestamp is not an integer", "(\"?\")");
}

/* The readers of side files ignore blanks around ids and codes the same
 * way: movies (ids, u.item's genre flags, genres at a line's end), users
 * (every field), tags (movie ids) and pairs. */
static void test_blanks_in_side_files(void) {
    data_movies m;
    data_users u;
    data_tags t;
    data_pairs pr;
    data_error err;
    data_movies_init(&m);
    data_users_init(&u);
    data_tags_init(&t);
    data_pairs_init(&pr);
    CHECK_INT(data_read_movies(test_write("b_movies.csv", "movieId , title,genres  \n"
                                                          " 1 ,One (1990),Drama  \n"
                                                          "2\t,Two (1991),Comedy|Drama\t\r\n"),
                               &m, &err),
              0);
    CHECK_INT(m.n, 2);
    CHECK(m.n == 2 && m.id[0] == 1 && m.id[1] == 2);
    CHECK(m.n == 2 && strcmp(data_movie_genres(&m, 0), "Drama") == 0);
    CHECK(m.n == 2 && strcmp(data_movie_genres(&m, 1), "Comedy|Drama") == 0);
    CHECK_INT(data_read_movies(test_write("b_movies.dat", "1 ::One (1990)::Drama \n"), &m, &err),
              0);
    CHECK(m.n == 1 && m.id[0] == 1 && strcmp(data_movie_genres(&m, 0), "Drama") == 0);
    CHECK_INT(data_read_movies(test_write("b_u.item", "1|Toy Story (1995)|01-Jan-1995||u|0|0|0|1|"
                                                      "1|1|0|0|0|0|0|0|0|0|0|0|0|0|1 \n"),
                               &m, &err),
              0);
    CHECK(m.n == 1 && strcmp(data_movie_genres(&m, 0), "Animation|Children's|Comedy|Western") == 0);
    data_movies_free(&m);

    CHECK_INT(data_read_users(test_write("b_u.user", "1 |24 | M |technician |85711  \n"
                                                     "2|53|F|other|94043\t\n"),
                              &u, &err),
              0);
    CHECK_INT(u.n, 2);
    CHECK(u.n == 2 && u.id[0] == 1 && u.age[0] == 24 && u.gender[0] == 'M');
    CHECK(u.n == 2 && strcmp(u.text + u.occupation[0], "technician") == 0);
    CHECK(u.n == 2 && strcmp(u.text + u.zip[0], "85711") == 0);
    CHECK(u.n == 2 && strcmp(u.text + u.zip[1], "94043") == 0);
    CHECK_INT(data_read_users(test_write("b_users.dat", "1::F ::1:: 10::48067\t\n"), &u, &err), 0);
    CHECK(u.n == 1 && u.gender[0] == 'F' && u.age[0] == 1);
    CHECK(u.n == 1 && strcmp(u.text + u.occupation[0], "K-12 student") == 0);
    data_users_free(&u);
    CHECK_INT(data_read_users(test_write("b_users2.dat", "1::F:: ::10::48067\n"), &u, &err), -1);
    CHECK_HAS(err.msg, "b_users2.dat:1: age code is not one of 1, 18, 25, 35, 45, 50, 56 (\" \")");

    CHECK_INT(data_read_tags(test_write("b_tags.csv", "userId, movieId ,tag\t,timestamp\n"
                                                      "1, 2 ,funny,3\n"),
                             0, &t, &err),
              0);
    CHECK(t.n == 1 && t.movie[0] == 2);
    data_tags_free(&t);
    CHECK_INT(data_read_pairs(test_write("b_pairs.csv", "1,2   \n 3\t4\t\n"), &pr, &err), 0);
    CHECK(pr.n == 2 && pr.user[1] == 3 && pr.item[1] == 4);
    data_pairs_free(&pr);
}

static void test_errors_fields(void) {
    data_read_opts o = data_read_defaults();
    READ_FAILS("u.data", "1\t2\t3\t4\n5\t6\t7\t8\n9\t10\n", NULL, "u.data:3:",
               "expected 4 fields, found 2", "u.data");
    READ_FAILS("short.data", "1\t2\n", NULL, "short.data:1:",
               "expected at least 3 fields, found 2", "short.data");
    READ_FAILS("wide.data", "1\t2\t3\t4\n5\t6\t7\t8\t9\n", NULL, "wide.data:2:",
               "expected 4 fields, found 5", "wide.data");
    READ_FAILS("narrow.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n1,2,3\n", NULL,
               "narrow.csv:3:", "expected 4 fields, found 3", "narrow.csv");
    /* a line of spaces is not blank: it is malformed */
    READ_FAILS("spaces.data", "1\t2\t3\n   \n", NULL, "spaces.data:2:",
               "expected 3 fields, found 1", "spaces.data");
    /* line numbers count the header, blank lines and the BOM's line */
    READ_FAILS("lines.csv", "\xEF\xBB\xBFuserId,movieId,rating\r\n\r\n1,1,1\r\n\r\n1,x,1\r\n",
               NULL, "lines.csv:5:", "item id is not an integer", "(\"x\")");
    /* quoting */
    READ_FAILS("q1.csv", "u,i,r\n1,2,\"4.5\n", NULL, "q1.csv:2:",
               "quoted field runs past the end of the line", "4.5");
    READ_FAILS("q2.csv", "u,i,r\n1,2,\"4.5", NULL, "q2.csv:2:", "quoted field is never closed",
               "4.5");
    READ_FAILS("q3.csv", "u,i,r\n1,\"2\"x,4\n", NULL, "q3.csv:2:",
               "text after the closing quote", "(\"2\")");
    READ_FAILS("q4.csv", "\nu,\"i\"x,r\n1,2,3\n", NULL, "q4.csv:2:",
               "header: text after the closing quote", "(\"i\")");
    /* header and columns */
    o.user_col = "uid";
    READ_FAILS("named.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n", &o, "named.csv:1:",
               "no user column \"uid\" in the header",
               "(columns: userId, movieId, rating, timestamp)");
    o = data_read_defaults();
    o.rating_col = "stars";
    o.header = 0;
    READ_FAILS("noheader.csv", "1,2,3\n", &o, "noheader.csv", "rating column \"stars\"",
               "no header");
    o = data_read_defaults();
    o.time_col = "9";
    READ_FAILS("beyond.csv", "u,i,r,t\n1,2,3,4\n", &o, "beyond.csv:1:", "time column 9",
               "beyond the header's 4 columns");
    o = data_read_defaults();
    o.item_col = "0";
    READ_FAILS("zero.csv", "u,i,r\n1,2,3\n", &o, "zero.csv", "item column",
               "column numbers start at 1");
    READ_FAILS("thin.csv", "user,item\n1,2\n", NULL, "thin.csv:1:", "the header has 2 columns",
               "expected at least 3");
    o = data_read_defaults();
    o.header = 0;
    o.time_col = "4";
    READ_FAILS("need4.csv", "1,2,3\n", &o, "need4.csv:1:", "expected at least 4 fields",
               "found 3");
    READ_FAILS("nodelim.txt", "1 2 3\n", NULL, "nodelim.txt:1:", "cannot tell the delimiter",
               "(\"1 2 3\")");
    o = data_read_defaults();
    o.delim = "";
    READ_FAILS("emptydelim.txt", "1,2,3\n", &o, "emptydelim.txt", "delimiter is empty",
               "emptydelim");
}

static void test_errors_files(void) {
    loaded L;
    const char *missing = test_path("does-not-exist.csv");
    CHECK_INT(load(&L, missing, NULL), -1);
    CHECK_HAS(L.err.msg, missing);
    CHECK_HAS(L.err.msg, "does-not-exist.csv: cannot open: ");
    CHECK_HAS(L.err.msg, "No such file");
    unload(&L);
    CHECK_INT(load(&L, test_tmpdir(), NULL), -1); /* a directory */
    CHECK_HAS(L.err.msg, test_tmpdir());
    unload(&L);
    READ_FAILS("empty.csv", "", NULL, "empty.csv", "no ratings", ":");
    READ_FAILS("blank.csv", "\n\r\n\n", NULL, "blank.csv", "no ratings", ":");
    READ_FAILS("bom.csv", "\xEF\xBB\xBF", NULL, "bom.csv", "no ratings", ":");
    READ_FAILS("hdronly.csv", "userId,movieId,rating,timestamp\n", NULL, "hdronly.csv",
               "no ratings", ":");
    READ_FAILS("hdronly2.csv", "userId,movieId,rating,timestamp\r\n\r\n", NULL, "hdronly2.csv",
               "no ratings", ":");
}

static void test_skip_bad(void) {
    loaded L;
    data_read_opts o = data_read_defaults();
    const char *p = test_write("some_bad.csv", "userId,movieId,rating,timestamp\n"
                                               "1,10,4.0,1\n"
                                               "1,11,four,2\n"
                                               "1,12,3.0\n"
                                               "2,10,\"5\n"
                                               "2,13,2.5,4\n"
                                               "x,13,2.5,4\n");
    CHECK_INT(load(&L, p, &o), -1); /* strict by default */
    CHECK_HAS(L.err.msg, "some_bad.csv:3: rating is not a number (\"four\")");
    unload(&L);
    o.skip_bad = 1;
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(L.rep.lines, 6);
    CHECK_INT(L.rep.skipped, 4);
    CHECK_HAS(L.rep.first_error, "some_bad.csv:3: rating is not a number (\"four\")");
    CHECK_INT(RAW_I(L, 1), 13);
    CHECK_INT(L.u.n, 2);
    unload(&L);

    /* everything bad: still an error, saying what was skipped */
    p = test_write("all_bad.csv", "u,i,r\n1,2,x\n3,4,y\n");
    CHECK_INT(load(&L, p, &o), -1);
    CHECK_HAS(L.err.msg, "all_bad.csv: no ratings (2 malformed lines skipped");
    CHECK_HAS(L.err.msg, "all_bad.csv:2: rating is not a number (\"x\")");
    unload(&L);

    /* a bad first line does not fix the expected width */
    p = test_write("bad_first.data", "1\t2\n3\t4\t5\t6\n7\t8\t9\t10\n");
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(L.rep.skipped, 1);
    CHECK_INT(L.r.time[1], 10);
    unload(&L);
}

/* maps shared across files; a failed read leaves earlier rows alone */
static void test_shared_maps_and_failure(void) {
    data_idmap u, i;
    data_ratings r;
    data_error err;
    data_read_report rep;
    const char *base = test_write("base.data", "1\t10\t5\t1\n2\t20\t4\t2\n");
    const char *test = test_write("test.data", "2\t10\t3\t3\n3\t30\t2\t4\n");
    const char *bad = test_write("bad.data", "1\t10\t5\t1\n1\t10\tx\t1\n");
    data_idmap_init(&u);
    data_idmap_init(&i);
    data_ratings_init(&r);
    CHECK_INT(read_ratings(base, NULL, &u, &i, &r, NULL, &err), 0);
    CHECK_INT(read_ratings(test, NULL, &u, &i, &r, &rep, &err), 0);
    CHECK_INT(r.n, 4);
    CHECK_INT(u.n, 3);
    CHECK_INT(i.n, 3);
    CHECK_INT(r.user[2], 1); /* user 2 keeps its training index */
    CHECK_INT(r.item[2], 0);
    CHECK_INT(r.item[3], 2); /* item 30 is new: appended */
    CHECK_INT(rep.lines, 2);
    CHECK_INT(read_ratings(bad, NULL, &u, &i, &r, NULL, &err), -1);
    CHECK_HAS(err.msg, "bad.data:2:");
    CHECK_INT(r.n, 4); /* rows appended before the error are taken back */
    CHECK_INT(r.time[3], 4);
    data_ratings_free(&r);
    data_idmap_free(&u);
    data_idmap_free(&i);
}

/* the reader skips the hash for a repeated id: ids that come back after
 * others still map right, and the shortcut does not outlive one read */
static void test_id_cache(void) {
    static const uint32_t want_u[5] = {0, 0, 1, 0, 1}, want_i[5] = {0, 0, 0, 1, 1};
    loaded L;
    data_idmap u, i;
    data_ratings r;
    data_error err;
    size_t k;
    CHECK_INT(load(&L, test_write("cache.csv", "1,10,1\n1,10,2\n2,10,3\n1,11,4\n2,11,5\n"),
                   NULL),
              0);
    CHECK_INT(L.r.n, 5);
    CHECK_INT(L.u.n, 2);
    CHECK_INT(L.i.n, 2);
    for (k = 0; k < 5 && k < L.r.n; k++) {
        CHECK_INT(L.r.user[k], want_u[k]);
        CHECK_INT(L.r.item[k], want_i[k]);
    }
    unload(&L);
    /* the last read ended on user 2 (index 1), item 11 (index 1); here they
     * are new to maps that already hold other ids */
    data_idmap_init(&u);
    data_idmap_init(&i);
    data_ratings_init(&r);
    data_idmap_intern(&u, 99);
    data_idmap_intern(&u, 98);
    CHECK_INT(read_ratings(test_write("cache2.csv", "2,11,5\n"), NULL, &u, &i, &r, NULL,
                                &err),
              0);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.user[0], 2);
    CHECK_INT(r.item[0], 0);
    CHECK_INT(u.n, 3);
    CHECK_INT(u.raw[2], 2);
    data_ratings_free(&r);
    data_idmap_free(&u);
    data_idmap_free(&i);
}

/* --------------------------------------------------- stats and splits */

/* ------------------------------------------------------ chunked reading */

/* A file read in chunks of every size from 1 byte up gives what one read of
 * the whole file gives: lines split across chunks (a BOM, a CRLF, a quoted
 * field, a line longer than the chunk), a header, empty lines, lines the
 * one-pass parser leaves to the splitter (a sign, an exponent, a quoted
 * value, a long mantissa), and a last line without a newline. */
static void test_chunk_boundaries(void) {
    const char *text = "\xEF\xBB\xBFuserId,movieId,rating,timestamp,comment\r\n"
                       "1,10,4.0,100,plain\r\n"
                       "\r\n"
                       "1,11,3.5,101,\"quoted, with a comma\"\r\n"
                       "+2,10,1e0,102,sign and exponent\r\n"
                       "2,\"12\",0.123456789012345678,-103,a very long comment that is "
                       "longer than the small chunks many times over\r\n"
                       "\n"
                       "300000,10,5,104,\r\n"
                       "-7,99999999999999999,.5,105,x";
    const char *p = test_write("chunks.csv", text);
    data_read_opts o = data_read_defaults();
    loaded whole, L;
    size_t chunk, k;
    int bad = 0;
    CHECK_INT(load(&whole, p, NULL), 0);
    CHECK_INT(whole.rep.format, DATA_FMT_CSV);
    CHECK_INT(whole.rep.lines, 6);
    CHECK_INT(whole.r.n, 6);
    CHECK_INT(whole.u.n, 4);
    CHECK_INT(whole.i.n, 4);
    CHECK_INT(RAW_U(whole, 2), 2);
    CHECK_INT(RAW_I(whole, 3), 12);
    CHECK_NEAR(whole.r.rating[2], 1.0, 0, 0);
    CHECK_NEAR(whole.r.rating[3], 0.123456789012345678, 1e-7, 0);
    CHECK_INT(whole.r.time[3], -103);
    CHECK_INT(RAW_U(whole, 4), 300000);
    CHECK_INT(RAW_U(whole, 5), -7);
    CHECK_INT(RAW_I(whole, 5), 99999999999999999LL);
    CHECK_NEAR(whole.r.rating[5], 0.5, 0, 0);
    CHECK_INT(whole.r.time[5], 105);
    for (chunk = 1; chunk <= 80; chunk++) {
        o.chunk = chunk;
        if (load(&L, p, &o) != 0 || L.r.n != whole.r.n || L.u.n != whole.u.n ||
            L.i.n != whole.i.n || L.rep.lines != whole.rep.lines) {
            test_fail(__FILE__, __LINE__, "chunk %zu: %s, %zu rows", chunk, L.err.msg, L.r.n);
            bad++;
        } else {
            for (k = 0; k < L.r.n; k++)
                if (RAW_U(L, k) != RAW_U(whole, k) || RAW_I(L, k) != RAW_I(whole, k) ||
                    L.r.rating[k] != whole.r.rating[k] || L.r.time[k] != whole.r.time[k])
                    bad++;
        }
        unload(&L);
    }
    CHECK_INT(bad, 0);
    unload(&whole);
}

/* Errors name the right physical line whatever the chunk size; a file of
 * nothing but empty lines longer than a chunk has no ratings; the last line
 * without a newline is read as any other (tab-separated, no header). */
static void test_chunk_errors_and_lines(void) {
    data_read_opts o = data_read_defaults();
    size_t chunk;
    loaded L;
    const char *bad = test_write("chunk_bad.csv", "\n\r\nuserId,movieId,rating,timestamp\n"
                                                  "1,10,4.0,100\n"
                                                  "\n"
                                                  "1,11,4.0,101\r\n"
                                                  "1,12,4.0,102\n"
                                                  "1,13,4.0,10x\n"
                                                  "1,14,4.0,104\n");
    const char *empty = test_write("chunk_empty.csv", "\n\r\n\n\n\n\n\n\n\n\n\n\n");
    const char *tail = test_write("chunk_tail.data", "\n\n101\t207\t3\t880000001\n"
                                                     "113\t305\t3\t880000902\r\n"
                                                     "29\t371\t1\t880001003");
    for (chunk = 1; chunk <= 24; chunk++) {
        o.chunk = chunk;
        o.skip_bad = 0;
        CHECK_INT(load(&L, bad, &o), -1);
        CHECK_HAS(L.err.msg, "chunk_bad.csv:8: timestamp is not an integer (\"10x\")");
        CHECK_INT(L.r.n, 0);
        unload(&L);
        o.skip_bad = 1;
        CHECK_INT(load(&L, bad, &o), 0);
        CHECK_INT(L.r.n, 4);
        CHECK_INT(L.rep.lines, 5);
        CHECK_INT(L.rep.skipped, 1);
        CHECK_HAS(L.rep.first_error, "chunk_bad.csv:8:");
        CHECK_INT(RAW_I(L, 3), 14);
        unload(&L);
        o.skip_bad = 0;
        CHECK_INT(load(&L, empty, &o), -1);
        CHECK_HAS(L.err.msg, "chunk_empty.csv: no ratings");
        unload(&L);
        CHECK_INT(load(&L, tail, &o), 0);
        CHECK_INT(L.rep.format, DATA_FMT_UDATA);
        CHECK_INT(L.r.n, 3);
        CHECK_INT(RAW_U(L, 2), 29);
        CHECK_INT(RAW_I(L, 2), 371);
        CHECK_INT(L.r.time[1], 880000902);
        CHECK_INT(L.r.time[2], 880001003);
        unload(&L);
    }
}

/* Each value written twice: plainly (read in one pass) and quoted (split
 * first, then parsed by the strict parsers): both rows must be equal, for
 * signs, 18-digit ids, leading zeros and ratings of up to 15 digits and more. */
static void test_plain_vs_split(void) {
    enum { N = 3000 };
    static char text[N * 2 * 120];
    size_t len = 0, k;
    int bad = 0;
    loaded L;
    nn_rng rng;
    nn_rng_seed(&rng, 7);
    len += (size_t)snprintf(text, sizeof text, "userId,movieId,rating,timestamp\n");
    for (k = 0; k < N; k++) {
        char u[32], i[32], r[40], t[32];
        long long big = (long long)(nn_rng_below(&rng, 1000000000) * 1000000000ULL +
                                    nn_rng_below(&rng, 1000000000));
        snprintf(u, sizeof u, "%s%llu", k % 3 == 0 ? "-" : k % 3 == 1 ? "+" : "",
                 (unsigned long long)nn_rng_below(&rng, 400000));
        snprintf(i, sizeof i, k % 4 == 0 ? "%018lld" : "%lld", k % 2 ? big : big % 100000);
        snprintf(r, sizeof r, "%.*f", (int)(k % 19), (nn_rng_uniform(&rng) - 0.2) * 5.0 *
                                                         pow(10.0, (double)(k % 7) - 3));
        snprintf(t, sizeof t, "%lld", big - 500000000000000000LL);
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "%s,%s,%s,%s\n\"%s\",\"%s\",\"%s\",\"%s\"\n", u, i, r, t, u, i,
                                r, t);
    }
    CHECK(len < sizeof text);
    CHECK_INT(load(&L, test_write("plain_vs_split.csv", text), NULL), 0);
    CHECK_INT(L.r.n, 2 * N);
    for (k = 0; k + 1 < L.r.n; k += 2)
        if (L.r.user[k] != L.r.user[k + 1] || L.r.item[k] != L.r.item[k + 1] ||
            L.r.rating[k] != L.r.rating[k + 1] || L.r.time[k] != L.r.time[k + 1])
            bad++;
    CHECK_INT(bad, 0);
    CHECK(L.u.n > N / 2 && L.i.n > N / 2); /* the values vary */
    unload(&L);
}

/* A generated MovieLens-shaped file, and the same ratings with each line
 * written in one of ten ways (as it was; CRLF; blanks after values; signs;
 * an exponent; 18 decimals; quoted; leading zeros; blanks before values; a
 * tab in a field's blanks), every id 18 digits long: the plain and fast
 * readers agree on both (read_ratings compares them under
 * data/readers_agree), and the second reads as the first. */
static void test_generated_forms(void) {
    const int64_t uoff = 100000000000000000LL, ioff = 200000000000000000LL;
    data_synth_config c;
    data_error err;
    loaded A, B;
    char *text, *out, *line;
    size_t len, at = 0, k, bad = 0;
    CHECK_INT(data_synth_shape("sample", &c), 0);
    CHECK_INT(data_synth_write(test_path("forms-gen"), &c, &err), 0);
    text = slurp(test_path("forms-gen/ratings.csv"), &len);
    out = malloc(len * 4 + 64);
    if (!text || !out) {
        test_fail(__FILE__, __LINE__, "cannot read the generated file");
        free(text);
        free(out);
        return;
    }
    at += (size_t)sprintf(out, "userId,movieId,rating,timestamp\n");
    line = strchr(text, '\n') + 1; /* past the header */
    for (k = 0; *line; k++) {
        long long u, i, t;
        char r[40];
        double x;
        if (sscanf(line, "%lld,%lld,%39[^,],%lld", &u, &i, r, &t) != 4) break;
        u += uoff;
        i += ioff;
        x = strtod(r, NULL);
        switch (k % 10) {
        case 0: at += (size_t)sprintf(out + at, "%lld,%lld,%s,%lld\n", u, i, r, t); break;
        case 1: at += (size_t)sprintf(out + at, "%lld,%lld,%s,%lld\r\n", u, i, r, t); break;
        case 2: at += (size_t)sprintf(out + at, "%lld  ,%lld,%s \t,%lld   \r\n", u, i, r, t); break;
        case 3: at += (size_t)sprintf(out + at, "+%lld,+%lld,+%s,+%lld\n", u, i, r, t); break;
        case 4: at += (size_t)sprintf(out + at, "%lld,%lld,%de-1,%lld\n", u, i, (int)(x * 10), t);
            break;
        case 5: at += (size_t)sprintf(out + at, "%lld,%lld,%.18f,%lld\n", u, i, x, t); break;
        case 6: at += (size_t)sprintf(out + at, "\"%lld\",\"%lld\",\"%s\",\"%lld\"\n", u, i, r, t);
            break;
        case 7: at += (size_t)sprintf(out + at, "%lld,%lld,000%s,0%lld\n", u, i, r, t); break;
        case 8: at += (size_t)sprintf(out + at, " %lld, %lld,  %s, %lld\n", u, i, r, t); break;
        default: at += (size_t)sprintf(out + at, "%lld,\t%lld,%s,%lld\n", u, i, r, t); break;
        }
        line = strchr(line, '\n') + 1;
    }
    CHECK_INT(k, c.ratings);
    out[at] = '\0';
    CHECK_INT(load(&A, test_path("forms-gen/ratings.csv"), NULL), 0);
    CHECK_INT(load(&B, test_write("forms-gen.csv", out), NULL), 0);
    CHECK_INT(A.r.n, c.ratings);
    CHECK_INT(B.r.n, A.r.n);
    for (k = 0; k < A.r.n && k < B.r.n; k++)
        if (RAW_U(B, k) != RAW_U(A, k) + uoff || RAW_I(B, k) != RAW_I(A, k) + ioff ||
            B.r.rating[k] != A.r.rating[k] || B.r.time[k] != A.r.time[k])
            if (bad++ < 5) test_fail(__FILE__, __LINE__, "row %zu (way %zu) differs", k, k % 10);
    CHECK_INT(bad, 0);
    unload(&A);
    unload(&B);
    free(text);
    free(out);
}

/* The row arrays are sized once from the first chunk: a larger file read in
 * small chunks ends with room for its rows and little more. */
static void test_chunk_reserve(void) {
    enum { N = 20000 };
    static char text[N * 32 + 64];
    size_t len = 0, k;
    data_read_opts o = data_read_defaults();
    loaded L;
    const char *p;
    int bad = 0;
    len += (size_t)sprintf(text, "userId,movieId,rating,timestamp\n");
    for (k = 0; k < N; k++)
        len += (size_t)sprintf(text + len, "%zu,%zu,%zu.5,%zu\n", k / 20 + 1, (k * 7919) % 3001,
                               k % 5, 1000000000 + k);
    p = test_write("chunk_reserve.csv", text);
    o.chunk = 4096;
    CHECK_INT(load(&L, p, &o), 0);
    CHECK_INT(L.r.n, N);
    CHECK(L.r.cap >= L.r.n && L.r.cap <= L.r.n + L.r.n / 16 + 4096);
    for (k = 0; k < N; k++)
        if (RAW_U(L, k) != (int64_t)(k / 20 + 1) || RAW_I(L, k) != (int64_t)((k * 7919) % 3001) ||
            L.r.rating[k] != (float)(k % 5) + 0.5f || L.r.time[k] != (int64_t)(1000000000 + k))
            bad++;
    CHECK_INT(bad, 0);
    unload(&L);
}

/* A file whose first chunk has long lines (ids with leading zeros) and the
 * rest short ones holds more rows than the first chunk foretold: the
 * arrays fill while plain lines are being read, the parser grows them, and
 * every row is still read, in order. */
static void test_chunk_reserve_grows(void) {
    enum { LONG = 100, N = 30000 };
    static char text[LONG * 64 + N * 32 + 64];
    size_t len = 0, k;
    data_read_opts o = data_read_defaults();
    loaded L;
    int bad = 0;
    len += (size_t)sprintf(text, "userId,movieId,rating,timestamp\n");
    for (k = 0; k < N; k++)
        len += (size_t)sprintf(text + len, k < LONG ? "%017zu,%017zu,%zu.5,%017zu\n"
                                                    : "%zu,%zu,%zu.5,%zu\n",
                               k / 10 + 1, k % 97, k % 5, k);
    o.chunk = 4096;
    CHECK_INT(load(&L, test_write("chunk_grows.csv", text), &o), 0);
    CHECK_INT(L.r.n, N);
    CHECK(L.r.cap >= N);
    for (k = 0; k < L.r.n; k++)
        if (RAW_U(L, k) != (int64_t)(k / 10 + 1) || RAW_I(L, k) != (int64_t)(k % 97) ||
            L.r.rating[k] != (float)(k % 5) + 0.5f || L.r.time[k] != (int64_t)k)
            bad++;
    CHECK_INT(bad, 0);
    unload(&L);
}

/* ---------------------------------------------------------- line limits */

/* Write head, then one line of exactly len bytes (not counting its '\n'):
 * start, filled with fill up to len − strlen(end), then end; then "\n" and
 * tail (tail NULL: the line is the last and has no '\n'). Its path. */
static const char *long_line_file(const char *name, const char *head, const char *start,
                                  char fill, const char *end, size_t len, const char *tail) {
    const char *path = test_path(name);
    FILE *f = fopen(path, "wb");
    size_t k, pad = len - strlen(start) - strlen(end);
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return path;
    }
    fputs(head, f);
    fputs(start, f);
    for (k = 0; k < pad; k++) fputc(fill, f);
    fputs(end, f);
    if (tail) {
        fputc('\n', f);
        fputs(tail, f);
    }
    if (fclose(f) != 0) test_fail(__FILE__, __LINE__, "cannot write %s", path);
    return path;
}

/* A ratings line of exactly DATA_MAX_LINE bytes is read, at any chunk size
 * (also one larger than the limit, and with the '\r' of a CRLF counted);
 * one byte more is "FILE:LINE: line longer than 1 MiB", with --skip-bad
 * too, and so is a file with no line end at all. */
static void test_line_limit_ratings(void) {
    static const size_t chunks[4] = {0, 1000, 65536, DATA_MAX_LINE + 4096};
    const char *head = "userId,movieId,rating,timestamp,comment\n1,10,4.0,5,first\n";
    char fits[512], fits_crlf[512], fits_last[512], over[512], over_last[512];
    data_read_opts o = data_read_defaults();
    loaded L;
    size_t c;
    snprintf(fits, sizeof fits, "%s", long_line_file("ll_fits.csv", head, "2,20,3.5,6,", 'x', "",
                                                      DATA_MAX_LINE, "3,30,2.5,7,last\n"));
    snprintf(fits_crlf, sizeof fits_crlf, "%s", long_line_file("ll_crlf.csv", head, "2,20,3.5,6,",
                                                               'x', "\r", DATA_MAX_LINE,
                                                               "3,30,2.5,7,last\r\n"));
    snprintf(fits_last, sizeof fits_last, "%s", long_line_file("ll_last.csv", head, "2,20,3.5,6,",
                                                               'x', "", DATA_MAX_LINE, NULL));
    snprintf(over, sizeof over, "%s", long_line_file("ll_over.csv", head, "2,20,3.5,6,", 'x', "",
                                                     DATA_MAX_LINE + 1, "3,30,2.5,7,last\n"));
    snprintf(over_last, sizeof over_last, "%s",
             long_line_file("ll_over_last.csv", head, "2,20,3.5,6,", 'x', "", DATA_MAX_LINE + 1,
                            NULL));
    for (c = 0; c < 4; c++) {
        o.chunk = chunks[c];
        o.skip_bad = 0;
        CHECK_INT(load(&L, fits, &o), 0);
        CHECK_INT(L.r.n, 3);
        CHECK(L.r.n == 3 && RAW_I(L, 1) == 20 && L.r.rating[1] == 3.5f && RAW_I(L, 2) == 30);
        unload(&L);
        CHECK_INT(load(&L, fits_crlf, &o), 0);
        CHECK_INT(L.r.n, 3);
        unload(&L);
        CHECK_INT(load(&L, fits_last, &o), 0);
        CHECK_INT(L.r.n, 2);
        unload(&L);
        CHECK_INT(load(&L, over, &o), -1);
        CHECK_HAS(L.err.msg, "ll_over.csv:3: line longer than 1 MiB");
        CHECK_INT(L.r.n, 0);
        unload(&L);
        CHECK_INT(load(&L, over_last, &o), -1);
        CHECK_HAS(L.err.msg, "ll_over_last.csv:3: line longer than 1 MiB");
        unload(&L);
        o.skip_bad = 1;
        CHECK_INT(load(&L, over, &o), -1);
        CHECK_HAS(L.err.msg, "ll_over.csv:3: line longer than 1 MiB");
        unload(&L);
    }
    /* no line end at all: the first line runs past the limit */
    CHECK_INT(load(&L, "/dev/zero", NULL), -1);
    CHECK_HAS(L.err.msg, "/dev/zero:1: line longer than 1 MiB");
    unload(&L);
    CHECK_INT(load(&L, long_line_file("ll_blank.csv", "\n\n", "", ' ', "", DATA_MAX_LINE + 1,
                                      "1,2,3\n"), NULL),
              -1);
    CHECK_HAS(L.err.msg, "ll_blank.csv:3: line longer than 1 MiB");
    unload(&L);
}

/* The readers that load their file whole keep the same limit, line by
 * line, and stop on a file with no line ends without reading it all. */
static void test_line_limit_whole_files(void) {
    const size_t M = DATA_MAX_LINE;
    data_movies m;
    data_users u;
    data_tags t;
    data_pairs pr;
    data_error err;
    uint32_t *orders;
    size_t n_orders;
    const char *movies_head = "movieId,title,genres\n1,One (1990),Drama\n";
    data_movies_init(&m);
    data_users_init(&u);
    data_tags_init(&t);
    data_pairs_init(&pr);

    /* movies: a title that makes the line exactly the limit, then one byte more */
    CHECK_INT(data_read_movies(long_line_file("ll_movies.csv", movies_head, "2,", 'T',
                                              " (1999),Comedy", M, "3,Three (2001),Drama\n"),
                               &m, &err),
              0);
    CHECK_INT(m.n, 3);
    CHECK(m.n == 3 && strlen(data_movie_title(&m, 1)) == M - strlen("2,,Comedy"));
    CHECK(m.n == 3 && m.year[1] == 1999);
    data_movies_free(&m);
    CHECK_INT(data_read_movies(long_line_file("ll_movies2.csv", movies_head, "2,", 'T',
                                              " (1999),Comedy", M + 1, "3,Three (2001),Drama\n"),
                               &m, &err),
              -1);
    CHECK_HAS(err.msg, "ll_movies2.csv:3: line longer than 1 MiB");
    CHECK_INT(data_read_movies("/dev/zero", &m, &err), -1);
    CHECK_HAS(err.msg, "/dev/zero:1: line longer than 1 MiB");

    /* users (the zip is kept as written), tags, pairs */
    CHECK_INT(data_read_users(long_line_file("ll_users", "1|24|M|writer|85711\n", "2|53|F|other|",
                                             '9', "", M, "3|23|M|writer|32067\n"),
                              &u, &err),
              0);
    CHECK_INT(u.n, 3);
    data_users_free(&u);
    CHECK_INT(data_read_users(long_line_file("ll_users2", "1|24|M|writer|85711\n",
                                             "2|53|F|other|", '9', "", M + 1, NULL),
                              &u, &err),
              -1);
    CHECK_HAS(err.msg, "ll_users2:2: line longer than 1 MiB");
    CHECK_INT(data_read_users("/dev/zero", &u, &err), -1);
    CHECK_HAS(err.msg, "/dev/zero:1: line longer than 1 MiB");
    CHECK_INT(data_read_tags(long_line_file("ll_tags.csv", "userId,movieId,tag,timestamp\n",
                                            "1,2,", 'a', ",3", M, "1,3,b,4\n"),
                             0, &t, &err),
              0);
    CHECK_INT(t.n, 2);
    data_tags_free(&t);
    CHECK_INT(data_read_tags(long_line_file("ll_tags2.csv", "userId,movieId,tag,timestamp\n",
                                            "1,2,", 'a', ",3", M + 1, "1,3,b,4\n"),
                             0, &t, &err),
              -1);
    CHECK_HAS(err.msg, "ll_tags2.csv:2: line longer than 1 MiB");
    CHECK_INT(data_read_tags("/dev/zero", 0, &t, &err), -1);
    CHECK_HAS(err.msg, "/dev/zero:1: line longer than 1 MiB");
    CHECK_INT(data_read_pairs(long_line_file("ll_pairs.csv", "1,2\n", "3,4,", 'z', "", M,
                                             "5,6\n"),
                              &pr, &err),
              0);
    CHECK_INT(pr.n, 3);
    data_pairs_free(&pr);
    CHECK_INT(data_read_pairs(long_line_file("ll_pairs2.csv", "1,2\n", "3,4,", 'z', "", M + 1,
                                             "5,6\n"),
                              &pr, &err),
              -1);
    CHECK_HAS(err.msg, "ll_pairs2.csv:2: line longer than 1 MiB");
    data_pairs_free(&pr);
    CHECK_INT(data_read_pairs("/dev/zero", &pr, &err), -1);
    CHECK_HAS(err.msg, "/dev/zero:1: line longer than 1 MiB");
    data_pairs_free(&pr);

    /* --batch-order text: a permutation per line, 1 MiB and 32 bytes a sample */
    CHECK_INT(data_read_orders(long_line_file("ll_orders.txt", "# three samples\n", "2 0 1", ' ',
                                              "", M + 96, "1 2 0\n"),
                               3, &orders, &n_orders, &err),
              0);
    CHECK_INT(n_orders, 2);
    free(orders);
    CHECK_INT(data_read_orders(long_line_file("ll_orders2.txt", "# three samples\n", "2 0 1",
                                              ' ', "", M + 97, "1 2 0\n"),
                               3, &orders, &n_orders, &err),
              -1);
    CHECK_HAS(err.msg, "ll_orders2.txt:2: line longer than 1048672 bytes");
    CHECK_INT(data_read_orders("/dev/zero", 3, &orders, &n_orders, &err), -1);
    CHECK_HAS(err.msg, "/dev/zero:1: line longer than");
}

/* ------------------------------------------------------------ NUL bytes */

/* Write the len bytes of data (NULs included) to path; path. */
static const char *write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
    return path;
}

/* the same to a scratch file */
static const char *write_bytes(const char *name, const char *data, size_t len) {
    return write_file(test_path(name), data, len);
}

#define WRITE_BYTES(name, lit) write_bytes(name, lit, sizeof lit - 1)

/* A NUL anywhere in a ratings file is an error naming its line, wherever it
 * is (a column that is not read, a value, the header, a last line without
 * a newline), at every chunk size and with --skip-bad. */
/* A last line ending in a delimiter and no newline has an empty last field:
 * the plain reader once looked at the byte past the end for an opening
 * quote, and a quote left there by a longer line before made it report
 * "quoted field is never closed" (found by make fuzz). Both readers: the
 * line has 2 fields. */
static void test_empty_last_field(void) {
    const char *p = test_write("empty_last.csv", "0\"user\xde\xd0\"item, 5,>5id\"0\",3.5\n,");
    loaded L;
    CHECK_INT(load(&L, p, NULL), -1);
    CHECK_HAS(L.err.msg, "empty_last.csv:2: expected 4 fields, found 2");
    unload(&L);
}

static void test_nul_ratings(void) {
    static const char comment[] = "userId,movieId,rating,timestamp,comment\n"
                                  "1,10,4.0,5,fine\n"
                                  "\n"
                                  "1,11,3.0,6,a\0b\n"
                                  "1,12,2.0,7,after\n";
    data_read_opts o = data_read_defaults();
    const char *p = WRITE_BYTES("nul_comment.csv", comment);
    size_t chunk;
    loaded L;
    for (chunk = 0; chunk <= 40; chunk++) {
        o.chunk = chunk;
        o.skip_bad = chunk % 2 == 1;
        CHECK_INT(load(&L, p, &o), -1);
        CHECK_HAS(L.err.msg, "nul_comment.csv:4: NUL byte in the line");
        CHECK_INT(L.r.n, 0);
        unload(&L);
    }
    CHECK_INT(load(&L, WRITE_BYTES("nul_value.data", "1\t2\t4\t5\n1\t3\t4\0\t6\n"), NULL), -1);
    CHECK_HAS(L.err.msg, "nul_value.data:2: NUL byte in the line (not text; UTF-16 files are not read)");
    unload(&L);
    CHECK_INT(load(&L, WRITE_BYTES("nul_header.csv", "user\0Id,movieId,rating\n1,2,3\n"), NULL), -1);
    CHECK_HAS(L.err.msg, "nul_header.csv:1: NUL byte in the line");
    unload(&L);
    CHECK_INT(load(&L, WRITE_BYTES("nul_bom.csv", "\xEF\xBB\xBF\0,2,3\n"), NULL), -1);
    CHECK_HAS(L.err.msg, "nul_bom.csv:1: NUL byte in the line");
    unload(&L);
    CHECK_INT(load(&L, WRITE_BYTES("nul_last.csv", "1,2,3\n1,3,4\0"), NULL), -1);
    CHECK_HAS(L.err.msg, "nul_last.csv:2: NUL byte in the line");
    unload(&L);
    /* UTF-16 (a BOM FF FE, then every ASCII character followed by 0) */
    CHECK_INT(load(&L, WRITE_BYTES("utf16.csv", "\xFF\xFE" "1\0,\0" "2\0,\0" "3\0\n\0"), NULL),
              -1);
    CHECK_HAS(L.err.msg, "utf16.csv:1: NUL byte in the line");
    unload(&L);
}

/* The readers that load their file whole refuse a NUL the same way:
 * movies (where it used to cut the title short), users, tags, pairs and
 * --batch-order text. */
static void test_nul_whole_files(void) {
    data_movies m;
    data_users u;
    data_tags t;
    data_pairs pr;
    data_error err;
    uint32_t *orders = NULL;
    size_t n_orders;
    data_movies_init(&m);
    data_users_init(&u);
    data_tags_init(&t);
    data_pairs_init(&pr);
    CHECK_INT(data_read_movies(WRITE_BYTES("nul_movies.csv", "movieId,title,genres\n"
                                                             "1,One (1990),Drama\n"
                                                             "2,Tw\0o (1991),Comedy\n"),
                               &m, &err),
              -1);
    CHECK_HAS(err.msg, "nul_movies.csv:3: NUL byte in the line");
    CHECK_INT(data_read_movies(WRITE_BYTES("nul_movies.dat", "1::One (1990)::Drama\0"), &m, &err),
              -1);
    CHECK_HAS(err.msg, "nul_movies.dat:1: NUL byte in the line");
    CHECK_INT(data_read_users(WRITE_BYTES("nul_users", "1|24|M|writer|85711\n"
                                                       "2|53|F|other|94\0" "43\n"),
                              &u, &err),
              -1);
    CHECK_HAS(err.msg, "nul_users:2: NUL byte in the line");
    CHECK_INT(data_read_tags(WRITE_BYTES("nul_tags.csv", "userId,movieId,tag,timestamp\n"
                                                         "1,2,dark\0 comedy,3\n"),
                             0, &t, &err),
              -1);
    CHECK_HAS(err.msg, "nul_tags.csv:2: NUL byte in the line");
    CHECK_INT(data_read_pairs(WRITE_BYTES("nul_pairs.csv", "1,2\n3,4 note\0\n"), &pr, &err), -1);
    CHECK_HAS(err.msg, "nul_pairs.csv:2: NUL byte in the line");
    data_pairs_free(&pr);
    CHECK_INT(data_read_orders(WRITE_BYTES("nul_orders.txt", "2 0 1\n0 1\0 2\n"), 3, &orders,
                               &n_orders, &err),
              -1);
    CHECK_HAS(err.msg, "nul_orders.txt:2: NUL byte in the line");
    free(orders);
}

/* ------------------------------------------------------- ratings caches */

/* Set a file's modification time to `when` (Unix seconds) plus ns. */
static void set_mtime(const char *path, long long when, long ns) {
    struct timespec t[2];
    t[0].tv_sec = t[1].tv_sec = (time_t)when;
    t[0].tv_nsec = t[1].tv_nsec = ns;
    CHECK_INT(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* L and M hold the same maps, rows and report */
static int same_load(const loaded *L, const loaded *M) {
    size_t k;
    if (L->u.n != M->u.n || L->i.n != M->i.n || L->r.n != M->r.n ||
        L->rep.format != M->rep.format || L->rep.lines != M->rep.lines ||
        L->rep.skipped != M->rep.skipped || strcmp(L->rep.first_error, M->rep.first_error) != 0)
        return 0;
    for (k = 0; k < L->u.n; k++)
        if (L->u.raw[k] != M->u.raw[k]) return 0;
    for (k = 0; k < L->i.n; k++)
        if (L->i.raw[k] != M->i.raw[k]) return 0;
    for (k = 0; k < L->r.n; k++)
        if (L->r.user[k] != M->r.user[k] || L->r.item[k] != M->r.item[k] ||
            L->r.rating[k] != M->r.rating[k] || L->r.time[k] != M->r.time[k])
            return 0;
    return 1;
}

static const char cache_text[] = "userId,movieId,rating,timestamp\n"
                                 "5,100,4.0,964000001\n"
                                 "5,9000000000,3.5,964982704\n"
                                 "-3,100,1,-7\n"
                                 "1,2,bad,1\n"
                                 "7,250000,0.5,1\n"
                                 "5,250000,5.0,2\n";

/* A cache loads exactly what parsing gives: the maps' raw ids in order of
 * first sight, the rows, the report (skipped lines and the first message
 * included), also into maps that already hold ids (a test file read after
 * its training file). */
static void test_cache_round_trip(void) {
    const char *src = test_write("cached.csv", cache_text);
    char cache[512];
    data_read_opts o = data_read_defaults(), oc;
    loaded fresh, L;
    int pass;
    snprintf(cache, sizeof cache, "%s.embrec-cache", src);
    unlink(cache); /* none from an earlier run (data/readers_agree runs this again) */
    unlink(test_path("elsewhere.cache"));
    set_mtime(src, 1577836800LL, 123456789);
    o.skip_bad = 1;
    oc = o;
    oc.cache = "";
    CHECK_INT(load(&fresh, src, &o), 0);
    CHECK_INT(fresh.rep.cache, DATA_CACHE_OFF);
    CHECK_INT(fresh.r.n, 5);
    CHECK_INT(fresh.rep.skipped, 1);
    CHECK_INT(load(&L, src, &oc), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_WRITTEN);
    CHECK_HAS(L.rep.cache_note, "cached.csv.embrec-cache: cache written");
    CHECK(same_load(&L, &fresh));
    unload(&L);
    for (pass = 0; pass < 2; pass++) { /* loaded, twice: loading leaves it as it was */
        CHECK_INT(load(&L, src, &oc), 0);
        CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
        CHECK(L.rep.cache_note[0] == '\0');
        CHECK(same_load(&L, &fresh));
        CHECK_INT(RAW_I(L, 1), 9000000000LL);
        CHECK_INT(RAW_U(L, 2), -3);
        CHECK_INT(L.r.time[2], -7);
        CHECK_NEAR(L.r.rating[3], 0.5, 0, 0);
        CHECK_HAS(L.rep.first_error, "cached.csv:5: rating is not a number (\"bad\")");
        unload(&L);
    }
    /* into maps that already hold ids: as parsing into them */
    for (pass = 0; pass < 2; pass++) {
        loaded P;
        data_idmap_init(&P.u);
        data_idmap_init(&P.i);
        data_ratings_init(&P.r);
        data_idmap_init(&L.u);
        data_idmap_init(&L.i);
        data_ratings_init(&L.r);
        data_idmap_intern(&P.u, 7);
        data_idmap_intern(&P.i, 250000);
        data_idmap_intern(&P.i, 1);
        data_idmap_intern(&L.u, 7);
        data_idmap_intern(&L.i, 250000);
        data_idmap_intern(&L.i, 1);
        CHECK_INT(read_ratings(src, &o, &P.u, &P.i, &P.r, &P.rep, &P.err), 0);
        if (pass == 1) unlink(cache); /* parsed into the file's own maps, then merged */
        CHECK_INT(read_ratings(src, &oc, &L.u, &L.i, &L.r, &L.rep, &L.err), 0);
        CHECK_INT(L.rep.cache, pass == 0 ? DATA_CACHE_LOADED : DATA_CACHE_WRITTEN);
        CHECK(same_load(&L, &P));
        CHECK_INT(L.u.raw[0], 7);
        CHECK_INT(L.u.raw[1], 5);
        CHECK_INT(L.r.user[3], 0); /* user 7 and item 250000 kept their indices */
        CHECK_INT(L.r.item[3], 0);
        CHECK_INT(L.r.item[0], 2);
        unload(&P);
        unload(&L);
    }
    /* --cache=PATH */
    oc.cache = test_path("elsewhere.cache");
    CHECK_INT(load(&L, src, &oc), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_WRITTEN);
    unload(&L);
    CHECK_INT(load(&L, src, &oc), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
    CHECK(same_load(&L, &fresh));
    unload(&L);
    unload(&fresh);
}

/* A changed source (size, or the same size and another time), other input
 * options, or a source cached right after it changed: parsed again and the
 * cache rebuilt, with the new values. */
static void test_cache_invalidation(void) {
    const char *src = test_write("stale.csv", cache_text);
    data_read_opts o = data_read_defaults();
    loaded L;
    unlink(test_path("stale.csv.embrec-cache")); /* none from an earlier run */
    o.cache = "";
    o.skip_bad = 1;
    set_mtime(src, 1577836800LL, 0);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_WRITTEN);
    unload(&L);
    /* same size, another rating, another time */
    src = test_write("stale.csv", "userId,movieId,rating,timestamp\n"
                                  "5,100,2.0,964000001\n"
                                  "5,9000000000,3.5,964982704\n"
                                  "-3,100,1,-7\n"
                                  "1,2,bad,1\n"
                                  "7,250000,0.5,1\n"
                                  "5,250000,5.0,2\n");
    set_mtime(src, 1577836800LL, 1);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
    CHECK_HAS(L.rep.cache_note, "stale.csv.embrec-cache: the ratings file changed");
    CHECK_HAS(L.rep.cache_note, "rebuilt");
    CHECK_NEAR(L.r.rating[0], 2.0, 0, 0);
    unload(&L);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
    CHECK_NEAR(L.r.rating[0], 2.0, 0, 0);
    unload(&L);
    /* a line more, the same time */
    src = test_write("stale.csv", "userId,movieId,rating,timestamp\n5,100,2.0,9\n8,8,3,9\n");
    set_mtime(src, 1577836800LL, 1);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
    CHECK_INT(L.r.n, 2);
    CHECK_INT(RAW_U(L, 1), 8);
    unload(&L);
    /* other options */
    o.skip_bad = 0;
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
    CHECK_HAS(L.rep.cache_note, "other input options");
    unload(&L);
    o.time_col = "timestamp";
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
    unload(&L);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
    CHECK_INT(L.r.n, 2);
    unload(&L);
    /* a source that had just changed when it was read is not trusted later */
    src = test_write("stale.csv", "userId,movieId,rating,timestamp\n5,100,2.0,9\n");
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
    unload(&L);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
    CHECK_HAS(L.rep.cache_note, "too recently to trust");
    CHECK_INT(L.r.n, 1);
    unload(&L);
    /* errors: standard input, a cache that is the ratings file */
    CHECK_INT(load(&L, "-", &o), -1);
    CHECK_HAS(L.err.msg, "-: a cache needs a named file");
    unload(&L);
    o.cache = src;
    CHECK_INT(load(&L, src, &o), -1);
    CHECK_HAS(L.err.msg, "the cache would overwrite the ratings file itself");
    unload(&L);
}

/* Whatever byte of a cache is flipped, and wherever it is cut short (the
 * cache mapped, or read) or lengthened, it is never loaded: it is rebuilt
 * (or, when its first bytes no longer say it is a cache, left alone), and
 * the ratings are those of the file. */
static void test_cache_damaged(void) {
    const char *src = test_write("damaged.csv", cache_text);
    char cache[512];
    data_read_opts o = data_read_defaults(), plain;
    unsigned char *good;
    size_t len, k, bad_state = 0, bad_data = 0, cuts[] = {0, 4, 7, 8, 60, 104, 111, 112, 200, 400};
    loaded fresh, L;
    FILE *f;
    o.skip_bad = 1;
    plain = o;
    o.cache = "";
    snprintf(cache, sizeof cache, "%s.embrec-cache", src);
    unlink(cache); /* none from an earlier run */
    set_mtime(src, 1577836800LL, 0);
    CHECK_INT(load(&fresh, src, &plain), 0);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_WRITTEN);
    unload(&L);
    good = (unsigned char *)slurp(cache, &len);
    CHECK(good != NULL && len % 8 == 0 && len > 400);
    for (k = 0; good && k < len + 1; k++) {
        /* k < len: flip bit k mod 8 of byte k; k == len: one byte more */
        f = fopen(cache, "wb");
        if (!f) break;
        fwrite(good, 1, len, f);
        if (k == len) fputc(0, f);
        if (k < len) {
            fseek(f, (long)k, SEEK_SET);
            fputc(good[k] ^ (1 << (k % 8)), f);
        }
        fclose(f);
        if (load(&L, src, &o) != 0 ||
            L.rep.cache != (k < 8 ? DATA_CACHE_UNUSED : DATA_CACHE_REBUILT))
            bad_state++;
        if (!same_load(&L, &fresh)) bad_data++;
        unload(&L);
    }
    CHECK_INT(bad_state, 0);
    CHECK_INT(bad_data, 0);
    for (k = 0; good && k < 2 * (sizeof cuts / sizeof cuts[0] + 1); k++) {
        size_t c = k % (sizeof cuts / sizeof cuts[0] + 1); /* mapped, then read */
        size_t cut = c < sizeof cuts / sizeof cuts[0] ? cuts[c] : len - 1;
        fast_cache_use_mapping(k <= sizeof cuts / sizeof cuts[0]);
        write_file(cache, good, cut);
        CHECK_INT(load(&L, src, &o), 0);
        CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
        CHECK_HAS(L.rep.cache_note, "damaged");
        CHECK(same_load(&L, &fresh));
        unload(&L);
    }
    fast_cache_use_mapping(1);
    /* the rebuilt cache is whole again */
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
    CHECK(same_load(&L, &fresh));
    unload(&L);
    free(good);
    unload(&fresh);
}

/* 1 when path is mapped into this process (a line of /proc/self/maps
 * names it), 0 when not, -1 where the system does not say */
static int mapped_here(const char *path) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[8192];
    int found = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, path)) found = 1;
    fclose(f);
    return found;
}

/* a and b hold the same users' items */
static int same_items(const data_user_items *a, const data_user_items *b) {
    size_t n = a->n_users;
    return a->start && b->start && n == b->n_users &&
           memcmp(a->start, b->start, (n + 1) * sizeof *a->start) == 0 &&
           memcmp(a->item, b->item, a->start[n] * sizeof *a->item) == 0;
}

static const char repeat_text[] = "userId,movieId,rating,timestamp\n"
                                  "5,100,4.0,10\n7,3,2.5,11\n5,2,1.0,12\n"
                                  "5,100,3.0,13\n7,100,5.0,14\n";

/* A loaded cache, mapped and (as where mapping fails) read into memory:
 * its columns and users' sorted items lie in the cache's block (mapped:
 * the file's pages, named in /proc/self/maps until the last of them is
 * freed) and are what parsing gives; a row written in place is the
 * process's own (the file and the next load keep the old value); growing,
 * permuting and a view make the rows their own; a cache rebuilt under a
 * load in use leaves that load's rows as they were. */
static void test_cache_mapped(void) {
    const char *src = test_write("mapped.csv", repeat_text);
    char cache[512], *before, *after;
    data_read_opts o = data_read_defaults(), oc;
    data_user_items want, ui;
    data_ratings train, val;
    uint32_t perm[5] = {4, 3, 2, 1, 0};
    loaded fresh, L, M;
    size_t len, len2, k;
    int mapping;
    snprintf(cache, sizeof cache, "%s.embrec-cache", src);
    CHECK_INT(load(&fresh, src, &o), 0);
    CHECK_INT(data_user_items_build(&want, &fresh.r, fresh.u.n), 0);
    CHECK_INT(want.start[fresh.u.n], 4); /* (5, 100) repeats */
    for (mapping = 1; mapping >= 0; mapping--) {
        fast_cache_use_mapping(mapping);
        unlink(cache);
        set_mtime(src, 1577836800LL, 0);
        oc = o;
        oc.cache = "";
        oc.user_items = &ui;
        CHECK_INT(load(&L, src, &oc), 0); /* parsed: the items built as the cache is written */
        CHECK_INT(L.rep.cache, DATA_CACHE_WRITTEN);
        CHECK(same_items(&ui, &want) && ui.block == NULL);
        data_user_items_free(&ui);
        unload(&L);
        CHECK_INT(load(&L, src, &oc), 0);
        CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
        CHECK(same_load(&L, &fresh));
        CHECK(same_items(&ui, &want));
        CHECK(L.r.block != NULL && ui.block == L.r.block && L.r.cap == L.r.n);
        if (mapped_here(cache) >= 0) CHECK_INT(mapped_here(cache), mapping);
        before = slurp(cache, &len);
        L.r.rating[0] = 99.0f; /* in place: this process's copy only */
        L.r.user[1] = 0;
        after = slurp(cache, &len2);
        CHECK(before && after && len == len2 && memcmp(before, after, len) == 0);
        free(before);
        free(after);
        CHECK_INT(data_ratings_push(&L.r, 1, 2, 1.5f, 7), 0); /* grown: the rows its own */
        CHECK(L.r.block == NULL && L.r.n == 6 && L.r.cap > 6);
        CHECK_NEAR(L.r.rating[0], 99.0, 0, 0);
        CHECK_INT(L.r.user[1], 0);
        for (k = 2; k < 5; k++)
            CHECK(L.r.user[k] == fresh.r.user[k] && L.r.item[k] == fresh.r.item[k] &&
                  L.r.rating[k] == fresh.r.rating[k] && L.r.time[k] == fresh.r.time[k]);
        CHECK(L.r.item[5] == 2 && L.r.time[5] == 7);
        if (mapped_here(cache) >= 0) CHECK_INT(mapped_here(cache), mapping); /* ui holds it */
        data_user_items_free(&ui);
        if (mapped_here(cache) >= 0) CHECK_INT(mapped_here(cache), 0);
        unload(&L);
        oc.user_items = NULL;
        CHECK_INT(load(&L, src, &oc), 0); /* the file kept its values */
        CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
        CHECK(same_load(&L, &fresh));
        CHECK_INT(data_ratings_permute(&L.r, perm), 0); /* in place: the process's own pages */
        CHECK(L.r.n == 5 && L.r.time[0] == 14 && L.r.time[4] == 10);
        unload(&L);
        CHECK_INT(load(&L, src, &oc), 0);
        CHECK(same_load(&L, &fresh)); /* the file kept its order */
        data_ratings_init(&val);
        CHECK_INT(data_split_tail_view(&L.r, 0.4, &train, &val), 0);
        CHECK(train.block == NULL && train.cap == 0 && train.n == 3 && val.block == NULL);
        CHECK(val.n == 2 && val.time[0] == 13 && train.time[2] == 12);
        data_ratings_free(&val);
        /* rebuilt (the source changed) while L is in use: L keeps its rows */
        set_mtime(src, 1577836900LL, 0);
        CHECK_INT(load(&M, src, &oc), 0);
        CHECK_INT(M.rep.cache, DATA_CACHE_REBUILT);
        CHECK(same_load(&L, &fresh) && same_load(&M, &fresh));
        unload(&M);
        unload(&L);
        CHECK_INT(load(&L, src, &oc), 0);
        CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
        CHECK(same_load(&L, &fresh));
        unload(&L);
        if (mapped_here(cache) >= 0) CHECK_INT(mapped_here(cache), 0);
    }
    fast_cache_use_mapping(1);
    data_user_items_free(&want);
    unload(&fresh);
}

/* The users' sorted items asked of a read (opts.user_items) are what
 * data_user_items_build gives for every row read: from the plain reader
 * (which builds them), from a cache into empty maps (which keeps them),
 * and into maps that already hold ids or after rows already there (which
 * the cache's are not, so they are built); a failed read gives none. */
static void test_read_user_items(void) {
    const char *src = test_write("items.csv", repeat_text);
    data_read_opts o = data_read_defaults();
    data_user_items ui, want;
    loaded L;
    int pass;
    unlink(test_path("items.csv.embrec-cache"));
    set_mtime(src, 1577836800LL, 0);
    o.user_items = &ui;
    for (pass = 0; pass < 4; pass++) { /* plain; cache written; cache loaded; plain again */
        data_use_reader(pass == 0 || pass == 3 ? NULL : fast_read_ratings);
        o.cache = pass == 1 || pass == 2 ? "" : NULL;
        CHECK_INT(load(&L, src, &o), 0);
        CHECK_INT(data_user_items_build(&want, &L.r, L.u.n), 0);
        CHECK(same_items(&ui, &want));
        CHECK_INT(ui.start[L.u.n], 4);
        data_user_items_free(&ui);
        data_user_items_free(&want);
        unload(&L);
    }
    data_use_reader(fast_read_ratings);
    o.cache = "";
    for (pass = 0; pass < 2; pass++) { /* maps that hold ids; rows already there */
        data_idmap_init(&L.u);
        data_idmap_init(&L.i);
        data_ratings_init(&L.r);
        if (pass == 0) data_idmap_intern(&L.u, 7);
        if (pass == 1) {
            data_idmap_intern(&L.u, 1);
            data_idmap_intern(&L.i, 1);
            data_ratings_push(&L.r, 0, 0, 2.0f, 1);
        }
        CHECK_INT(read_ratings(src, &o, &L.u, &L.i, &L.r, &L.rep, &L.err), 0);
        CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
        CHECK_INT(data_user_items_build(&want, &L.r, L.u.n), 0);
        CHECK(same_items(&ui, &want) && ui.block == NULL);
        CHECK_INT(ui.start[L.u.n], pass == 0 ? 4 : 5);
        data_user_items_free(&ui);
        data_user_items_free(&want);
        unload(&L);
    }
    CHECK_INT(load(&L, test_path("no-such-file.csv"), &o), -1);
    CHECK(ui.start == NULL && ui.item == NULL);
    unload(&L);
}

/* A cache of another format version (version 1 kept the columns at other
 * places) is not read: it is rebuilt, with a line that says so. */
static void test_cache_old_version(void) {
    const char *src = test_write("version.csv", repeat_text);
    char cache[512], *bytes;
    data_read_opts o = data_read_defaults();
    size_t len;
    loaded L;
    snprintf(cache, sizeof cache, "%s.embrec-cache", src);
    unlink(cache);
    set_mtime(src, 1577836800LL, 0);
    o.cache = "";
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_WRITTEN);
    unload(&L);
    bytes = slurp(cache, &len);
    CHECK(bytes != NULL && len > 16);
    if (!bytes) return;
    bytes[8] = 1; /* u32 version, this machine's byte order */
    bytes[9] = bytes[10] = bytes[11] = 0;
    if (bytes[12] == 1) { /* big-endian (the byte-order word reads 01 02 03 04) */
        bytes[8] = 0;
        bytes[11] = 1;
    }
    write_file(cache, bytes, len);
    free(bytes);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
    CHECK_HAS(L.rep.cache_note, "written by another version of embrec (cache format 1; this "
                                "one reads 2); rebuilt");
    CHECK_INT(L.r.n, 5);
    unload(&L);
    CHECK_INT(load(&L, src, &o), 0);
    CHECK_INT(L.rep.cache, DATA_CACHE_LOADED);
    unload(&L);
}

/* A checksum can be forged (the fuzz harness does): a cache with the right
 * checksum whose sorted items are out of order, whose starts go back, or
 * whose row holds an item beyond the map or a NaN rating is not loaded
 * either, and says why. The cache of repeat_text: 5 rows, 2 users, 3 items,
 * 4 sorted items, each array at a multiple of 64 bytes, so that from its
 * end: the checksum (8 bytes), sorted[4], start[3], rating[5], item[5],
 * each array 64 bytes before the next. */
static void test_cache_forged(void) {
    const char *src = test_write("forged.csv", repeat_text);
    static const char *const why[4] = {"damaged (the users' sorted items)",
                                       "damaged (the users' sorted items)",
                                       "damaged (a row out of range)",
                                       "damaged (a row out of range)"};
    char cache[512], *good, *bad;
    data_read_opts o = data_read_defaults();
    size_t len, sorted, k;
    uint32_t v;
    uint64_t sum;
    loaded L;
    int c;
    snprintf(cache, sizeof cache, "%s.embrec-cache", src);
    unlink(cache);
    set_mtime(src, 1577836800LL, 0);
    o.cache = "";
    CHECK_INT(load(&L, src, &o), 0);
    unload(&L);
    good = slurp(cache, &len);
    CHECK(good != NULL && len > 400);
    if (!good) return;
    sorted = len - 8 - 16;
    memcpy(&v, good + sorted, 4);
    CHECK_INT(v, 0); /* user 5's first item: 100, index 0 */
    for (c = 0; c < 4; c++) {
        bad = malloc(len);
        if (!bad) break;
        memcpy(bad, good, len);
        if (c == 0) { /* user 5's two items swapped */
            memcpy(bad + sorted, good + sorted + 4, 4);
            memcpy(bad + sorted + 4, good + sorted, 4);
        }
        v = c == 1 ? 5 : c == 2 ? 3 : 0x7fc00000u; /* start[1] past start[2]; item 3; NaN */
        if (c == 1) memcpy(bad + sorted - 64 + 4, &v, 4);
        if (c == 2) memcpy(bad + sorted - 3 * 64, &v, 4);
        if (c == 3) memcpy(bad + sorted - 2 * 64, &v, 4);
        sum = data_cache_checksum(bad, len - 8);
        memcpy(bad + len - 8, &sum, 8);
        write_file(cache, bad, len);
        free(bad);
        CHECK_INT(load(&L, src, &o), 0);
        CHECK_INT(L.rep.cache, DATA_CACHE_REBUILT);
        CHECK_HAS(L.rep.cache_note, why[c]);
        for (k = 0; k < L.r.n; k++) CHECK(L.r.item[k] < L.i.n && L.r.rating[k] == L.r.rating[k]);
        unload(&L);
    }
    free(good);
}

static void test_stats(void) {
    data_ratings r;
    data_stats s;
    data_ratings_init(&r);
    s = data_ratings_stats(&r, 0, 0);
    CHECK_INT(s.n, 0);
    CHECK_NEAR(s.mean, 0, 0, 0);
    CHECK_NEAR(s.density, 0, 0, 0);
    data_ratings_push(&r, 0, 0, 4.0f, 0);
    data_ratings_push(&r, 0, 1, 0.5f, 0);
    data_ratings_push(&r, 1, 2, 5.0f, 0);
    data_ratings_push(&r, 2, 2, 3.5f, 0);
    s = data_ratings_stats(&r, 3, 4);
    CHECK_INT(s.n, 4);
    CHECK_INT(s.users, 3);
    CHECK_INT(s.items, 4);
    CHECK_NEAR(s.min, 0.5, 0, 0);
    CHECK_NEAR(s.max, 5.0, 0, 0);
    CHECK_NEAR(s.mean, 13.0 / 4, 1e-15, 0);
    CHECK_NEAR(s.density, 4.0 / 12, 1e-15, 0);
    data_ratings_free(&r);
}

static int cmp_item(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* data_user_items_build's lists against the plain way to make them (each
 * user's items gathered, qsorted, repeats dropped), for items of 1 to 4
 * bytes, lists empty, short, long, sorted, reversed and with repeats, rows
 * grouped by user or not; a user beyond n_users fails. */
static void test_user_items_sorted(void) {
    static const uint32_t tops[] = {200, 60000, 5000000, UINT32_MAX};
    static const size_t lens[] = {0, 1, 2, 7, 32, 33, 150, 1000, 6000};
    enum { U = 9 };
    size_t c, bad = 0;
    nn_rng rng;
    nn_rng_seed(&rng, 11);
    for (c = 0; c < 4 * 3; c++) {
        uint32_t top = tops[c % 4], *want = NULL;
        int order = (int)(c / 4); /* 0 random, 1 ascending, 2 descending */
        data_ratings r;
        data_user_items ui;
        size_t u, k, w, n = 0;
        data_ratings_init(&r);
        for (u = 0; u < U; u++)
            for (k = 0; k < lens[u]; k++) {
                uint32_t it = (uint32_t)nn_rng_below(&rng, (uint64_t)top + 1);
                if (order == 1) it = (uint32_t)((uint64_t)top * k / lens[u]);
                if (order == 2) it = (uint32_t)((uint64_t)top * (lens[u] - k) / lens[u]);
                if (k % 5 == 4) it = r.item[r.n - 1 - (order ? 0 : k % 3)]; /* a repeat */
                data_ratings_push(&r, (uint32_t)u, it, 3.0f, 0);
            }
        if (c % 2) { /* rows not grouped by user */
            nn_rng shuffle;
            nn_rng_seed(&shuffle, c);
            data_ratings_shuffle(&r, &shuffle);
        }
        CHECK_INT(data_user_items_build(&ui, &r, U), 0);
        want = malloc(r.n * sizeof *want);
        for (u = 0; u < U && want; u++) {
            size_t m = 0;
            for (k = 0; k < r.n; k++)
                if (r.user[k] == u) want[m++] = r.item[k];
            qsort(want, m, sizeof *want, cmp_item);
            for (k = 0, w = 0; k < m; k++)
                if (k == 0 || want[k] != want[k - 1]) want[w++] = want[k];
            if (ui.start[u] != n || ui.start[u + 1] - ui.start[u] != w ||
                memcmp(ui.item + n, want, w * sizeof *want) != 0) {
                test_fail(__FILE__, __LINE__, "case %zu, user %zu: the lists differ", c, u);
                bad++;
            }
            n += w;
        }
        CHECK_INT(ui.start[U], n);
        CHECK(n < r.n); /* the repeats were dropped */
        CHECK_INT(data_user_items_has(&ui, 6, ui.item[ui.start[6] + 3]), 1);
        data_user_items_free(&ui);
        CHECK_INT(data_user_items_build(&ui, &r, U - 1), -1);
        CHECK(ui.start == NULL && ui.item == NULL);
        free(want);
        data_ratings_free(&r);
    }
    CHECK_INT(bad, 0);
}

static void test_split_tail(void) {
    /* expected split_at from Python: int(n * (1. - f)), as Keras 2.1.6 */
    struct {
        size_t n;
        double f;
        size_t at;
    } cases[] = {{1000209, 0.1, 900188}, {100000, 0.2, 80000}, {12000, 0.1, 10800},
                 {10, 0.1, 9},           {10, 0.9, 0},         {5, 0.8, 0},
                 {25, 0.56, 10},         {25, 0.68, 7},        {7, 0.5, 3},
                 {1000, 0.29, 710},      {10, 0.0, 10},        {0, 0.1, 0}};
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        data_ratings all, tr, va;
        fill_rows(&all, cases[k].n);
        data_ratings_init(&tr);
        data_ratings_init(&va);
        CHECK_INT(data_split_tail(&all, cases[k].f, &tr, &va), 0);
        CHECK_INT(tr.n, cases[k].at);
        CHECK_INT(va.n, cases[k].n - cases[k].at);
        if (tr.n) CHECK_INT(tr.time[tr.n - 1], tr.n - 1); /* the first rows, in order */
        if (va.n) {
            CHECK_INT(va.time[0], cases[k].at);
            CHECK_INT(va.user[0], cases[k].at % 7);
            CHECK_INT(va.item[va.n - 1], (cases[k].n - 1) % 11);
        }
        data_ratings_free(&all);
        data_ratings_free(&tr);
        data_ratings_free(&va);
    }
    {
        data_ratings all, tr, va;
        fill_rows(&all, 10);
        data_ratings_init(&tr);
        data_ratings_init(&va);
        CHECK_INT(data_split_tail(&all, 1.0, &tr, &va), -1);
        CHECK_INT(data_split_tail(&all, -0.1, &tr, &va), -1);
        CHECK_INT(data_split_tail(&all, NAN, &tr, &va), -1);
        /* reusing the outputs replaces their rows */
        CHECK_INT(data_split_tail(&all, 0.5, &tr, &va), 0);
        CHECK_INT(data_split_tail(&all, 0.3, &tr, &va), 0);
        CHECK_INT(tr.n, 7);
        CHECK_INT(va.n, 3);
        data_ratings_free(&all);
        data_ratings_free(&tr);
        data_ratings_free(&va);
    }
}

/* The cold split: every rating lands once; each cold user and movie keeps
 * at most max_kept training ratings and, as ratings are plentiful here,
 * exactly its drawn budget, with some budgets 0; warm rows are tested at
 * about test_frac; the same seed gives the same split. */
static void test_split_cold(void) {
    enum { U = 200, I = 80 };
    data_ratings all, tr, te, tr2, te2;
    uint32_t tu[U] = {0}, eu[U] = {0}, ti[I] = {0}, ei[I] = {0};
    size_t k, cold_u = 0, zero_u = 0, warm_test = 0, warm = 0;
    nn_rng rng;
    data_ratings_init(&all);
    data_ratings_init(&tr);
    data_ratings_init(&te);
    data_ratings_init(&tr2);
    data_ratings_init(&te2);
    for (k = 0; k < U * 30; k++) /* user k % U rates 30 distinct items */
        data_ratings_push(&all, (uint32_t)(k % U), (uint32_t)((k / U + 7 * (k % U)) % I),
                          (float)(k % 5 + 1), (int64_t)k);
    nn_rng_seed(&rng, 4);
    CHECK_INT(data_split_cold(&all, U, I, 0.2, 0.25, 0.1, 5, &rng, &tr, &te), 0);
    CHECK_INT(tr.n + te.n, all.n);
    for (k = 0; k < tr.n; k++) tu[tr.user[k]]++, ti[tr.item[k]]++;
    for (k = 0; k < te.n; k++) eu[te.user[k]]++, ei[te.item[k]]++;
    for (k = 0; k < U; k++) {
        CHECK_INT(tu[k] + eu[k], 30);
        if (tu[k] <= 5) cold_u++;
        if (tu[k] == 0) zero_u++;
    }
    CHECK(cold_u >= 50);          /* 25 % of 200 users, each ≤ 5 */
    CHECK(cold_u <= 60);          /* a cold item can cost a warm user a few ratings, not 25 */
    CHECK(zero_u >= 2);           /* a budget of 0: a user never seen */
    for (k = 0; k < I; k++) CHECK(ti[k] <= 5 || ti[k] >= 20); /* cold items keep ≤ 5 */
    for (k = 0; k < te.n; k++)   /* warm pairs are tested at about 20 % */
        if (tu[te.user[k]] > 5 && ti[te.item[k]] > 5) warm_test++;
    for (k = 0; k < all.n; k++)
        if (tu[all.user[k]] > 5 && ti[all.item[k]] > 5) warm++;
    CHECK(warm_test > warm / 7 && warm_test < warm / 3);
    nn_rng_seed(&rng, 4);
    CHECK_INT(data_split_cold(&all, U, I, 0.2, 0.25, 0.1, 5, &rng, &tr2, &te2), 0);
    CHECK_INT(tr2.n, tr.n);
    CHECK(memcmp(tr2.user, tr.user, tr.n * sizeof *tr.user) == 0);
    CHECK_INT(data_split_cold(&all, U, I, 1.0, 0.25, 0.1, 5, &rng, &tr2, &te2), -1);
    data_ratings_free(&all);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    data_ratings_free(&tr2);
    data_ratings_free(&te2);
}

/* k folds partition the rows: every row in exactly one test fold, each
 * fold's train the other rows, both in the file's order; fold sizes differ
 * by at most one (the larger first), and the seed decides the folds. */
static void test_folds_partition(void) {
    const size_t n = 1003, k = 5;
    static const size_t sizes[5] = {201, 201, 201, 200, 200};
    data_ratings all, tr, te;
    uint32_t *fold = malloc(n * sizeof *fold), *again = malloc(n * sizeof *again);
    unsigned char *tested = calloc(n, 1);
    nn_rng rng;
    size_t f, j, bad = 0, moved = 0, run = 0;
    fill_rows(&all, n);
    data_ratings_init(&tr);
    data_ratings_init(&te);
    nn_rng_seed(&rng, 7);
    CHECK_INT(data_folds(n, k, &rng, fold), 0);
    for (f = 0; f < k; f++) {
        CHECK_INT(data_split_fold(&all, fold, (uint32_t)f, &tr, &te), 0);
        CHECK_INT(te.n, sizes[f]);
        CHECK_INT(tr.n + te.n, n);
        for (j = 0; j < te.n; j++) {
            size_t t = (size_t)te.time[j];
            tested[t]++;
            bad += fold[t] != f || te.user[j] != t % 7 || te.item[j] != t % 11 ||
                   te.rating[j] != (float)(t % 5) + 1;
            bad += j > 0 && te.time[j] <= te.time[j - 1];
        }
        for (j = 0; j < tr.n; j++) {
            bad += fold[tr.time[j]] == f;
            bad += j > 0 && tr.time[j] <= tr.time[j - 1];
        }
    }
    for (j = 0; j < n; j++) bad += tested[j] != 1;
    CHECK_INT(bad, 0);
    for (j = 1; j < n; j++) run += fold[j] == fold[j - 1]; /* shuffled, not cut in blocks */
    CHECK(run < n / 2);
    nn_rng_seed(&rng, 7);
    CHECK_INT(data_folds(n, k, &rng, again), 0);
    CHECK(memcmp(fold, again, n * sizeof *fold) == 0);
    nn_rng_seed(&rng, 8);
    CHECK_INT(data_folds(n, k, &rng, again), 0);
    for (j = 0; j < n; j++) moved += fold[j] != again[j];
    CHECK(moved > n / 2);
    /* k = n: a row a fold; k = 0 or k > n: no folds */
    CHECK_INT(data_folds(n, n, &rng, fold), 0);
    memset(tested, 0, n);
    for (j = 0; j < n; j++) tested[fold[j]]++;
    for (j = 0, bad = 0; j < n; j++) bad += tested[j] != 1;
    CHECK_INT(bad, 0);
    CHECK_INT(data_folds(n, 0, &rng, fold), -1);
    CHECK_INT(data_folds(n, n + 1, &rng, fold), -1);
    free(fold);
    free(again);
    free(tested);
    data_ratings_free(&all);
    data_ratings_free(&tr);
    data_ratings_free(&te);
}

static void test_split_random(void) {
    const size_t n = 1000;
    data_ratings all, tr, te, tr2, te2;
    nn_rng rng;
    size_t k, bad = 0, t, a, b;
    unsigned char *seen = calloc(n, 1);
    fill_rows(&all, n);
    data_ratings_init(&tr);
    data_ratings_init(&te);
    data_ratings_init(&tr2);
    data_ratings_init(&te2);
    nn_rng_seed(&rng, 5);
    CHECK_INT(data_split_random(&all, 0.2, &rng, &tr, &te), 0);
    CHECK_INT(te.n, 200);
    CHECK_INT(tr.n, 800);
    /* disjoint, together everything, each part in the original order */
    for (k = 0; k < tr.n; k++) seen[tr.time[k]]++;
    for (k = 0; k < te.n; k++) seen[te.time[k]]++;
    for (k = 0; k < n; k++) bad += seen[k] != 1;
    for (k = 1; k < tr.n; k++) bad += tr.time[k] <= tr.time[k - 1];
    for (k = 1; k < te.n; k++) bad += te.time[k] <= te.time[k - 1];
    for (k = 0; k < te.n; k++) {
        t = (size_t)te.time[k];
        bad += te.user[k] != t % 7 || te.item[k] != t % 11 || te.rating[k] != (float)(t % 5) + 1;
    }
    CHECK_INT(bad, 0);
    /* the test rows are spread out, not a block */
    CHECK(te.time[0] < 100 && te.time[te.n - 1] > 900);
    /* same seed: same split; another seed: another */
    nn_rng_seed(&rng, 5);
    CHECK_INT(data_split_random(&all, 0.2, &rng, &tr2, &te2), 0);
    CHECK(te2.n == te.n && memcmp(te2.time, te.time, te.n * sizeof *te.time) == 0);
    nn_rng_seed(&rng, 6);
    CHECK_INT(data_split_random(&all, 0.2, &rng, &tr2, &te2), 0);
    CHECK(te2.n == te.n && memcmp(te2.time, te.time, te.n * sizeof *te.time) != 0);
    /* floor(n·frac) for several fractions */
    {
        const double fr[] = {0.0, 0.001, 0.1, 0.2999, 0.5, 0.999};
        const size_t want[] = {0, 1, 100, 299, 500, 999};
        for (k = 0; k < 6; k++) {
            CHECK_INT(data_split_random(&all, fr[k], &rng, &tr2, &te2), 0);
            CHECK_INT(te2.n, want[k]);
            CHECK_INT(tr2.n, n - want[k]);
        }
    }
    CHECK_INT(data_split_random(&all, 1.0, &rng, &tr2, &te2), -1);
    a = tr.n;
    b = te.n;
    CHECK_INT(a + b, n);
    free(seen);
    data_ratings_free(&all);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    data_ratings_free(&tr2);
    data_ratings_free(&te2);
}

static void test_shuffle_and_select(void) {
    const size_t n = 500;
    data_ratings r, r2, sel;
    nn_rng rng;
    size_t k, bad = 0, moved = 0;
    unsigned char seen[500];
    uint32_t idx[3] = {4, 0, 4};
    fill_rows(&r, n);
    fill_rows(&r2, n);
    nn_rng_seed(&rng, 11);
    CHECK_INT(data_ratings_shuffle(&r, &rng), 0);
    CHECK_INT(r.n, n);
    memset(seen, 0, sizeof seen);
    for (k = 0; k < n; k++) {
        size_t t = (size_t)r.time[k];
        if (t >= n) {
            bad++;
            continue;
        }
        seen[t]++;
        moved += t != k;
        bad += r.user[k] != t % 7 || r.item[k] != t % 11 || r.rating[k] != (float)(t % 5) + 1;
    }
    for (k = 0; k < n; k++) bad += seen[k] != 1;
    CHECK_INT(bad, 0);
    CHECK(moved > n / 2);
    nn_rng_seed(&rng, 11);
    CHECK_INT(data_ratings_shuffle(&r2, &rng), 0);
    CHECK(memcmp(r.time, r2.time, n * sizeof *r.time) == 0);

    data_ratings_init(&sel);
    CHECK_INT(data_ratings_select(&sel, &r2, idx, 3), 0);
    CHECK_INT(sel.n, 3);
    CHECK_INT(sel.time[0], r2.time[4]);
    CHECK_INT(sel.time[1], r2.time[0]);
    CHECK_INT(sel.time[2], r2.time[4]);
    idx[1] = (uint32_t)n; /* out of range */
    CHECK_INT(data_ratings_select(&sel, &r2, idx, 3), -1);
    data_ratings_free(&r);
    data_ratings_free(&r2);
    data_ratings_free(&sel);
}

/* The shuffle and the permutation reorder the rows where they are (the same
 * arrays: no copy of the columns), exactly as data_ratings_select with
 * nn_rng_shuffle_u32's shuffle of 0..n−1 and with perm would, with and
 * without timestamps; a bad perm leaves the rows as they were. */
static void test_shuffle_in_place(void) {
    static const size_t sizes[] = {0, 1, 2, 3, 1000};
    size_t s, k, timeless, bad;
    for (timeless = 0; timeless < 2; timeless++)
        for (s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            size_t n = sizes[s];
            data_ratings r, want;
            uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
            const uint32_t *user;
            nn_rng a, b;
            fill_rows(&r, n);
            if (timeless) data_ratings_without_time(&r);
            for (k = 0; k < n; k++) idx[k] = (uint32_t)k;
            nn_rng_seed(&a, 5 + n);
            nn_rng_seed(&b, 5 + n);
            nn_rng_shuffle_u32(&a, idx, n);
            data_ratings_init(&want);
            CHECK_INT(data_ratings_select(&want, &r, idx, n), 0);
            user = r.user;
            CHECK_INT(data_ratings_shuffle(&r, &b), 0);
            CHECK(r.user == user || n == 0); /* in place */
            CHECK_INT(nn_rng_next(&a), nn_rng_next(&b)); /* the same draws */
            for (k = bad = 0; k < n; k++)
                bad += r.user[k] != want.user[k] || r.item[k] != want.item[k] ||
                       r.rating[k] != want.rating[k] ||
                       (timeless ? r.time != NULL : r.time[k] != want.time[k]);
            CHECK_INT(bad, 0);
            /* permute by idx (a permutation): as select does */
            data_ratings_free(&want);
            data_ratings_init(&want);
            CHECK_INT(data_ratings_select(&want, &r, idx, n), 0);
            CHECK_INT(data_ratings_permute(&r, idx), 0);
            CHECK(r.user == user || n == 0);
            for (k = bad = 0; k < n; k++)
                bad += r.user[k] != want.user[k] || r.item[k] != want.item[k] ||
                       r.rating[k] != want.rating[k] || (!timeless && r.time[k] != want.time[k]);
            CHECK_INT(bad, 0);
            if (n >= 2) { /* a repeated index, then one out of range: nothing moves */
                uint32_t keep = idx[1];
                idx[1] = idx[0];
                CHECK_INT(data_ratings_permute(&r, idx), -1);
                idx[1] = (uint32_t)n;
                CHECK_INT(data_ratings_permute(&r, idx), -1);
                idx[1] = keep;
                for (k = bad = 0; k < n; k++) bad += r.user[k] != want.user[k];
                CHECK_INT(bad, 0);
            }
            free(idx);
            data_ratings_free(&r);
            data_ratings_free(&want);
        }
}

/* Rows read without their timestamps (data_read_opts.no_time, what train
 * asks for an explicit model): time stays NULL with either reader, the
 * time column is still checked, every copy and split keeps none, and the
 * latest-row holdout takes every time as 0 (the last row of each user). */
static void test_read_without_time(void) {
    const char *p = test_write("timeless.csv", "userId,movieId,rating,timestamp\n"
                                                "1,10,4.0,300\n1,11,3.0,100\n2,10,5.0,200\n"
                                                "2,12,1.5,400\n2,11,2.0,50\n3,12,3.5,7\n");
    const char *bad = test_write("timeless_bad.csv", "userId,movieId,rating,timestamp\n"
                                                     "1,10,4.0,300\n1,11,3.0,soon\n");
    data_read_opts o = data_read_defaults();
    data_ratings parts[2], tr, te, all;
    data_idmap u, i;
    data_error err;
    nn_rng rng;
    uint32_t fold[6] = {0, 1, 0, 1, 0, 1}, perm[6] = {5, 4, 3, 2, 1, 0};
    size_t k, reader;
    o.no_time = 1;
    for (reader = 0; reader < 2; reader++) { /* the plain reader, then the fast one */
        data_use_reader(reader ? fast_read_ratings : NULL);
        data_idmap_init(&u);
        data_idmap_init(&i);
        data_ratings_init(&parts[reader]);
        CHECK_INT(data_read_ratings(p, &o, &u, &i, &parts[reader], NULL, &err), 0);
        CHECK(parts[reader].time == NULL);
        CHECK_INT(parts[reader].no_time, 1);
        CHECK_INT(parts[reader].n, 6);
        CHECK_INT(parts[reader].item[3], 2);
        CHECK_NEAR(parts[reader].rating[3], 1.5, 0, 0);
        data_ratings_init(&tr);
        CHECK_INT(data_read_ratings(bad, &o, &u, &i, &tr, NULL, &err), -1);
        CHECK_HAS(err.msg, "timeless_bad.csv:3:");
        CHECK_HAS(err.msg, "soon");
        data_ratings_free(&tr);
        data_idmap_free(&u);
        data_idmap_free(&i);
    }
    data_use_reader(fast_read_ratings);
    for (k = 0; k < 6; k++)
        CHECK(parts[0].user[k] == parts[1].user[k] && parts[0].item[k] == parts[1].item[k] &&
              parts[0].rating[k] == parts[1].rating[k]);
    all = parts[0];
    data_ratings_free(&parts[1]);
    /* each user's latest row, all times 0: the last in the file */
    data_ratings_init(&tr);
    data_ratings_init(&te);
    CHECK_INT(data_split_latest(&all, 3, NULL, &tr, &te), 0);
    CHECK(tr.time == NULL && te.time == NULL && tr.no_time && te.no_time);
    CHECK_INT(te.n, 2);
    CHECK_INT(tr.n, 4);
    CHECK_INT(te.item[0], 1); /* user 1: movie 11 */
    CHECK_INT(te.item[1], 1); /* user 2: movie 11 */
    CHECK_INT(data_split_tail(&all, 0.5, &tr, &te), 0);
    CHECK(tr.time == NULL && te.time == NULL && tr.n == 3 && te.n == 3);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    nn_rng_seed(&rng, 3);
    CHECK_INT(data_split_random(&all, 0.5, &rng, &tr, &te), 0);
    CHECK(tr.time == NULL && te.time == NULL && tr.n == 3 && te.n == 3);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    CHECK_INT(data_split_fold(&all, fold, 1, &tr, &te), 0);
    CHECK(tr.time == NULL && te.time == NULL && tr.n == 3 && te.n == 3);
    CHECK_INT(te.item[0], 1); /* rows 1, 3, 5: movies 11, 12, 12 */
    CHECK_INT(te.item[2], 2);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    CHECK_INT(data_split_cold(&all, 3, 3, 0.5, 0.5, 0.0, 1, &rng, &tr, &te), 0);
    CHECK(tr.time == NULL && te.time == NULL && tr.n + te.n == 6);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    CHECK_INT(data_ratings_permute(&all, perm), 0);
    CHECK(all.time == NULL && all.no_time);
    CHECK_INT(all.item[0], 2); /* the last row first */
    CHECK_INT(data_ratings_shuffle(&all, &rng), 0);
    CHECK(all.time == NULL && all.no_time && all.n == 6);
    for (k = 0; k < 5000; k++) /* growing keeps none either */
        CHECK_INT(data_ratings_push(&all, 0, 0, 1.0f, 12345), 0);
    CHECK(all.time == NULL && all.n == 5006);
    /* a cache stores the times: asked for, they are kept; into rows that
     * keep none, it is refused */
    o.cache = test_path("timeless.cache");
    unlink(o.cache);
    data_idmap_init(&u);
    data_idmap_init(&i);
    data_ratings_init(&tr);
    CHECK_INT(data_read_ratings(p, &o, &u, &i, &tr, NULL, &err), 0);
    CHECK(tr.time != NULL && !tr.no_time);
    CHECK_INT(tr.time[3], 400);
    CHECK_INT(data_read_ratings(p, &o, &u, &i, &all, NULL, &err), -1);
    CHECK_HAS(err.msg, "timeless.csv: a cache keeps the timestamps, and these rows keep none");
    CHECK_INT(all.n, 5006);
    data_ratings_free(&tr);
    data_ratings_free(&all);
    data_idmap_free(&u);
    data_idmap_free(&i);
}

/* -------------------------------------------------------------- movies */

static void test_movies_uitem(void) {
    data_movies m;
    data_error err;
    int32_t row;
    const char *p = test_write(
        "u.item",
        "1|Toy Story (1995)|01-Jan-1995||http://x/Toy%20Story|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        "543|Mis\xe9rables, Les|01-Jan-1971||http://x|0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|0|0\n"
        "267|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        "1635|Two Friends (1986) |26-Apr-1986||u|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|1\n");
    data_movies_init(&m);
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 4);
    CHECK_INT(m.id[0], 1);
    CHECK(strcmp(data_movie_title(&m, 0), "Toy Story (1995)") == 0);
    CHECK(strcmp(data_movie_genres(&m, 0), "Animation|Children's|Comedy") == 0);
    CHECK_INT(m.year[0], 1995);
    row = data_movie_find(&m, 543);
    CHECK_INT(row, 1);
    CHECK(strcmp(data_movie_title(&m, 1), "Mis\xc3\xa9rables, Les") == 0); /* Latin-1 → UTF-8 */
    CHECK(strcmp(data_movie_genres(&m, 1), "Drama|Musical") == 0);
    CHECK_INT(m.year[1], 1971); /* from the date: no year in the title */
    CHECK(strcmp(data_movie_title(&m, 2), "unknown") == 0);
    CHECK(strcmp(data_movie_genres(&m, 2), "unknown") == 0);
    CHECK_INT(m.year[2], 0);
    CHECK(strcmp(data_movie_title(&m, 3), "Two Friends (1986)") == 0); /* trailing space */
    CHECK(strcmp(data_movie_genres(&m, 3), "Drama|Western") == 0);
    CHECK_INT(data_movie_find(&m, 2), -1);
    CHECK(strcmp(data_movie_title(&m, 99), "") == 0);
    data_movies_free(&m);
    CHECK_INT(m.n, 0);
}

static void test_movies_dat(void) {
    data_movies m;
    data_error err;
    const char *p = test_write("movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                                             "73::Mis\xe9rables, Les (1995)::Drama|Musical\n"
                                             "582::Metisse (Caf\xe9 au Lait) (1993)::Comedy");
    data_movies_init(&m);
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 3);
    CHECK(strcmp(data_movie_title(&m, 1), "Mis\xc3\xa9rables, Les (1995)") == 0);
    CHECK(strcmp(data_movie_genres(&m, 1), "Drama|Musical") == 0);
    CHECK_INT(m.year[1], 1995);
    CHECK_INT(data_movie_find(&m, 582), 2);
    CHECK(strcmp(data_movie_title(&m, 2), "Metisse (Caf\xc3\xa9 au Lait) (1993)") == 0);
    CHECK_INT(m.year[2], 1993);
    /* already UTF-8: kept as it is, not converted twice */
    p = test_write("movies_utf8.dat", "73::Mis\xc3\xa9rables, Les (1995)::Drama\n");
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 1);
    CHECK(strcmp(data_movie_title(&m, 0), "Mis\xc3\xa9rables, Les (1995)") == 0);
    data_movies_free(&m);
}

static void test_movies_csv(void) {
    data_movies m;
    data_error err;
    const char *p = test_write(
        "movies.csv", "\xEF\xBB\xBFmovieId,title,genres\r\n"
                      "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
                      "7789,\"11'09\"\"01 - September 11 (2002)\",Drama\r\n"
                      "171749,Death Note: Desu n\xc3\xb4to (2006\xe2\x80\x93"
                      "2007),(no genres listed)\r\n"
                      "40697,Babylon 5,Sci-Fi\r\n"
                      "\r\n"
                      "1412,Land Before Time III (1995) (V),Animation\r\n"
                      "5,Heidi (1995) ,Documentary");
    data_movies_init(&m);
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 6);
    CHECK(strcmp(data_movie_title(&m, 0), "American President, The (1995)") == 0);
    CHECK(strcmp(data_movie_genres(&m, 0), "Comedy|Drama|Romance") == 0);
    CHECK_INT(m.year[0], 1995);
    CHECK(strcmp(data_movie_title(&m, 1), "11'09\"01 - September 11 (2002)") == 0);
    CHECK_INT(m.year[1], 2002);
    CHECK(strcmp(data_movie_title(&m, 2), "Death Note: Desu n\xc3\xb4to (2006\xe2\x80\x93"
                                          "2007)") == 0);
    CHECK(strcmp(data_movie_genres(&m, 2), "(no genres listed)") == 0);
    CHECK_INT(m.year[2], 2006);
    CHECK_INT(m.year[3], 0);
    CHECK_INT(m.year[4], 1995);
    CHECK(strcmp(data_movie_title(&m, 5), "Heidi (1995)") == 0);
    CHECK_INT(data_movie_find(&m, 7789), 1);
    CHECK_INT(data_movie_find(&m, 5), 5);

    /* columns found by name, in any order */
    p = test_write("movies2.csv", "genres,movieId,title\nDrama,3,\"Heat, The (1995)\"\n");
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 1);
    CHECK_INT(m.id[0], 3);
    CHECK(strcmp(data_movie_title(&m, 0), "Heat, The (1995)") == 0);
    CHECK(strcmp(data_movie_genres(&m, 0), "Drama") == 0);
    data_movies_free(&m);
}

#define MOVIES_FAIL(name, text, w1, w2)                                  \
    do {                                                                 \
        data_movies m_;                                                  \
        data_error e_;                                                   \
        data_movies_init(&m_);                                           \
        CHECK_INT(data_read_movies(test_write(name, text), &m_, &e_), -1); \
        CHECK_HAS(e_.msg, w1);                                           \
        CHECK_HAS(e_.msg, w2);                                           \
        CHECK_INT(m_.n, 0);                                              \
        data_movies_free(&m_);                                           \
    } while (0)

static void test_movies_errors(void) {
    data_movies m;
    data_error err;
    MOVIES_FAIL("short.item", "1|A (1995)|01-Jan-1995||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
                "short.item:1:", "expected 24 fields, found 23");
    MOVIES_FAIL("flag.item",
                "1|A (1995)|01-Jan-1995||u|0|0|2|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
                "flag.item:1:", "genre flag 3 (Adventure) is not 0 or 1 (\"2\")");
    MOVIES_FAIL("id.dat", "1::A (1995)::Drama\nx1::B (1996)::Drama\n", "id.dat:2:",
                "movie id is not an integer (\"x1\")");
    MOVIES_FAIL("dup.csv", "movieId,title,genres\n5,A,Drama\n6,B,Drama\n5,C,Drama\n", "dup.csv:4:",
                "duplicate movie id (\"5\")");
    MOVIES_FAIL("cols.csv", "movieId,name,genres\n5,A,Drama\n", "cols.csv:1:",
                "no \"title\" column in the header (columns: movieId, name, genres)");
    MOVIES_FAIL("fields.csv", "movieId,title,genres\n5,A,B,Drama\n", "fields.csv:2:",
                "expected 3 fields, found 4");
    MOVIES_FAIL("quote.csv", "movieId,title,genres\n5,\"A, The,Drama\n", "quote.csv:2:",
                "quoted field runs past the end of the line");
    MOVIES_FAIL("hquote.csv", "\nmovieId,\"title\"x,genres\n5,A,Drama\n", "hquote.csv:2:",
                "header: text after the closing quote");
    MOVIES_FAIL("nomovies.csv", "movieId,title,genres\r\n", "nomovies.csv", "no movies");
    MOVIES_FAIL("empty_movies.csv", "", "empty_movies.csv", "no movies");
    data_movies_init(&m);
    CHECK_INT(data_read_movies(test_path("nope.csv"), &m, &err), -1);
    CHECK_HAS(err.msg, "nope.csv: cannot open: ");
    data_movies_free(&m);
}

/* ----------------------------------------------------------- synthetic */

static const char *const genre_names[] = {
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
    "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"};

static int known_genres(const char *g) {
    char buf[256], *tok, *save = NULL;
    size_t k;
    if (!*g || strlen(g) >= sizeof buf) return 0;
    strcpy(buf, g);
    for (tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
        int ok = 0;
        for (k = 0; k < 18; k++) ok |= strcmp(tok, genre_names[k]) == 0;
        if (!ok) return 0;
    }
    return 1;
}

static void test_synth_shapes(void) {
    data_synth_config c;
    CHECK_INT(data_synth_shape("sample", &c), 0);
    CHECK(c.users == 300 && c.items == 200 && c.ratings == 12000 && c.rank == 8);
    CHECK_INT(data_synth_shape("ml-100k", &c), 0);
    CHECK(c.users == 943 && c.items == 1682 && c.ratings == 100000);
    CHECK_INT(data_synth_shape("ml-1m", &c), 0);
    CHECK(c.users == 6040 && c.items == 3706 && c.ratings == 1000209);
    CHECK_INT(data_synth_shape("ml-25m", &c), 0);
    CHECK(c.users == 162541 && c.items == 59047 && c.ratings == 25000095);
    CHECK(c.noise > 0.4 && c.noise < 0.8 && c.clusters > 0);
    CHECK_INT(data_synth_shape("ml-20m", &c), -1);
}

/* read back dir/ratings.csv and movies.csv and check the invariants */
static void check_synth_dir(const char *dir, const data_synth_config *c) {
    char path[600];
    loaded L;
    data_movies m;
    data_error err;
    size_t k, dup = 0, halves = 0, order = 0, min_count = (size_t)-1;
    unsigned char *pair;
    size_t *count;
    snprintf(path, sizeof path, "%s/ratings.csv", dir);
    CHECK_INT(load(&L, path, NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_CSV);
    CHECK_INT(L.r.n, c->ratings);
    CHECK_INT(L.u.n, c->users);
    CHECK_INT(L.i.n, c->items);
    pair = calloc(c->users * c->items, 1);
    count = calloc(c->users, sizeof *count);
    for (k = 0; k < L.r.n; k++) {
        float x = L.r.rating[k];
        size_t u = L.r.user[k], i = L.r.item[k];
        if (u < c->users && i < c->items) dup += pair[u * c->items + i]++ != 0;
        if (u < c->users) count[u]++;
        halves += !(x >= 0.5f && x <= 5.0f && x * 2 == (float)(int)(x * 2));
        /* users in id order, each user's ratings in time order */
        if (k > 0 && L.r.user[k] == L.r.user[k - 1]) order += L.r.time[k] <= L.r.time[k - 1];
        else if (k > 0) order += RAW_U(L, k) != RAW_U(L, k - 1) + 1;
    }
    for (k = 0; k < c->users; k++)
        if (count[k] < min_count) min_count = count[k];
    CHECK_INT(dup, 0);
    CHECK_INT(halves, 0);
    CHECK_INT(order, 0);
    CHECK(min_count >= (c->ratings / c->users < 20 ? c->ratings / c->users : 20));
    CHECK(L.r.n > 0 && L.r.time[0] > 946684800); /* 2000 onwards */
    free(pair);
    free(count);
    unload(&L);

    snprintf(path, sizeof path, "%s/movies.csv", dir);
    data_movies_init(&m);
    CHECK_INT(data_read_movies(path, &m, &err), 0);
    CHECK_INT(m.n, c->items);
    {
        size_t bad = 0, the = 0, quotes = 0;
        for (k = 0; k < m.n; k++) {
            const char *t = data_movie_title(&m, k);
            bad += m.id[k] != (int64_t)k + 1;
            bad += m.year[k] < 1930 || m.year[k] > 2015;
            bad += !known_genres(data_movie_genres(&m, k));
            bad += strncmp(t, "Synthetic Movie ", 16) != 0;
            the += strstr(t, ", The (") != NULL;
            quotes += strstr(t, ": He Said \"Yes\" (") != NULL;
        }
        CHECK_INT(bad, 0);
        if (c->items >= 30) {
            CHECK(the >= 1);
            CHECK(quotes >= 1);
        }
    }
    data_movies_free(&m);
}

static void test_synth_roundtrip(void) {
    data_synth_config c;
    data_error err;
    c.users = 50;
    c.items = 80;
    c.ratings = 1500;
    c.rank = 4;
    c.clusters = 5;
    c.noise = 0.5;
    c.seed = 7;
    CHECK_INT(data_synth_write(test_path("syn-small"), &c, &err), 0);
    check_synth_dir(test_path("syn-small"), &c);
    /* heavy users: each needs ~47 of 50 movies, beyond what rejection
     * sampling finishes quickly; and a nested directory that does not exist */
    c.users = 3;
    c.items = 50;
    c.ratings = 140;
    CHECK_INT(data_synth_write(test_path("syn-heavy/a/b"), &c, &err), 0);
    check_synth_dir(test_path("syn-heavy/a/b"), &c);
    /* every pair */
    c.users = 4;
    c.items = 6;
    c.ratings = 24;
    CHECK_INT(data_synth_write(test_path("syn-full"), &c, &err), 0);
    check_synth_dir(test_path("syn-full"), &c);
}

static void test_synth_deterministic(void) {
    data_synth_config c;
    data_error err;
    char *a, *b;
    size_t la, lb;
    CHECK_INT(data_synth_shape("sample", &c), 0);
    CHECK_INT(data_synth_write(test_path("det1"), &c, &err), 0);
    CHECK_INT(data_synth_write(test_path("det2"), &c, &err), 0);
    a = slurp(test_path("det1/ratings.csv"), &la);
    b = slurp(test_path("det2/ratings.csv"), &lb);
    CHECK(a && b && la == lb && la > 100000 && memcmp(a, b, la) == 0);
    free(a);
    free(b);
    a = slurp(test_path("det1/movies.csv"), &la);
    b = slurp(test_path("det2/movies.csv"), &lb);
    CHECK(a && b && la == lb && memcmp(a, b, la) == 0);
    free(a);
    free(b);
    c.seed++;
    CHECK_INT(data_synth_write(test_path("det3"), &c, &err), 0);
    a = slurp(test_path("det1/ratings.csv"), &la);
    b = slurp(test_path("det3/ratings.csv"), &lb);
    CHECK(a && b && (la != lb || memcmp(a, b, la) != 0));
    free(a);
    free(b);
}

static void test_synth_sample(void) {
    data_synth_config c;
    data_error err;
    loaded L;
    data_stats s;
    double var = 0;
    size_t k;
    CHECK_INT(data_synth_shape("sample", &c), 0);
    CHECK_INT(data_synth_write(test_path("sample"), &c, &err), 0);
    check_synth_dir(test_path("sample"), &c);
    CHECK_INT(load(&L, test_path("sample/ratings.csv"), NULL), 0);
    s = data_ratings_stats(&L.r, L.u.n, L.i.n);
    for (k = 0; k < L.r.n; k++) var += (L.r.rating[k] - s.mean) * (L.r.rating[k] - s.mean);
    var /= (double)L.r.n;
    CHECK(s.mean > 3.3 && s.mean < 3.7);
    CHECK(sqrt(var) > 0.8 && sqrt(var) < 1.15);
    CHECK_NEAR(s.min, 0.5, 0, 0);
    CHECK_NEAR(s.max, 5.0, 0, 0);
    CHECK_NEAR(s.density, 0.2, 0, 1e-12);
    unload(&L);
}

/* The planted structure is learnable: on a random 10% holdout, biases beat
 * the global mean and a rank-8 factor model beats the biases, clearly. */
static void test_synth_signal(void) {
    data_synth_config c;
    data_error err;
    loaded L;
    data_ratings tr, te;
    nn_rng rng;
    double mu = 0, se_mean = 0, se_bias = 0, se_mf = 0;
    double *bu, *bi, *P, *Q, *bu2, *bi2;
    size_t k, e, d, K = 8, nu, ni;
    CHECK_INT(data_synth_shape("ml-100k", &c), 0);
    CHECK_INT(data_synth_write(test_path("signal"), &c, &err), 0);
    CHECK_INT(load(&L, test_path("signal/ratings.csv"), NULL), 0);
    nu = L.u.n;
    ni = L.i.n;
    data_ratings_init(&tr);
    data_ratings_init(&te);
    nn_rng_seed(&rng, 3);
    CHECK_INT(data_split_random(&L.r, 0.1, &rng, &tr, &te), 0);
    bu = calloc(nu, sizeof *bu);
    bi = calloc(ni, sizeof *bi);
    bu2 = calloc(nu, sizeof *bu2);
    bi2 = calloc(ni, sizeof *bi2);
    P = malloc(nu * K * sizeof *P);
    Q = malloc(ni * K * sizeof *Q);
    for (k = 0; k < tr.n; k++) mu += tr.rating[k];
    mu /= (double)tr.n;
    /* biases by SGD, then biases + factors by SGD */
    for (k = 0; k < nu * K; k++) P[k] = 0.1 * nn_rng_normal(&rng);
    for (k = 0; k < ni * K; k++) Q[k] = 0.1 * nn_rng_normal(&rng);
    for (e = 0; e < 40; e++)
        for (k = 0; k < tr.n; k++) {
            uint32_t u = tr.user[k], i = tr.item[k];
            double err1 = tr.rating[k] - (mu + bu[u] + bi[i]), err2, dot = 0;
            bu[u] += 0.01 * (err1 - 0.02 * bu[u]);
            bi[i] += 0.01 * (err1 - 0.02 * bi[i]);
            for (d = 0; d < K; d++) dot += P[u * K + d] * Q[i * K + d];
            err2 = tr.rating[k] - (mu + bu2[u] + bi2[i] + dot);
            bu2[u] += 0.01 * (err2 - 0.02 * bu2[u]);
            bi2[i] += 0.01 * (err2 - 0.02 * bi2[i]);
            for (d = 0; d < K; d++) {
                double pu = P[u * K + d], qi = Q[i * K + d];
                P[u * K + d] += 0.01 * (err2 * qi - 0.05 * pu);
                Q[i * K + d] += 0.01 * (err2 * pu - 0.05 * qi);
            }
        }
    for (k = 0; k < te.n; k++) {
        uint32_t u = te.user[k], i = te.item[k];
        double y = te.rating[k], dot = 0;
        for (d = 0; d < K; d++) dot += P[u * K + d] * Q[i * K + d];
        se_mean += (y - mu) * (y - mu);
        se_bias += (y - mu - bu[u] - bi[i]) * (y - mu - bu[u] - bi[i]);
        se_mf += (y - mu - bu2[u] - bi2[i] - dot) * (y - mu - bu2[u] - bi2[i] - dot);
    }
    se_mean = sqrt(se_mean / (double)te.n);
    se_bias = sqrt(se_bias / (double)te.n);
    se_mf = sqrt(se_mf / (double)te.n);
    printf("     synthetic ml-100k holdout RMSE: mean %.4f, biases %.4f, biases+MF(8) %.4f\n",
           se_mean, se_bias, se_mf);
    CHECK(se_bias < se_mean - 0.1);
    CHECK(se_mf < se_bias - 0.05);
    CHECK(se_mf < 0.8 * se_mean);
    free(bu);
    free(bi);
    free(bu2);
    free(bi2);
    free(P);
    free(Q);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    unload(&L);
}

static void test_synth_errors(void) {
    data_synth_config c;
    data_error err;
    CHECK_INT(data_synth_shape("sample", &c), 0);
    c.ratings = 100; /* fewer than users */
    CHECK_INT(data_synth_write(test_path("e1"), &c, &err), -1);
    CHECK_HAS(err.msg, "cannot cover 300 users");
    c.ratings = 300 * 200 + 1;
    CHECK_INT(data_synth_write(test_path("e2"), &c, &err), -1);
    CHECK_HAS(err.msg, "without repeating a pair");
    c.ratings = 1000;
    c.rank = 0;
    CHECK_INT(data_synth_write(test_path("e3"), &c, &err), -1);
    CHECK_HAS(err.msg, "must be positive");
    c.rank = 8;
    test_write("plainfile", "x");
    CHECK_INT(data_synth_write(test_path("plainfile/sub"), &c, &err), -1);
    CHECK_HAS(err.msg, "plainfile");
    CHECK_INT(data_synth_write(test_path("plainfile"), &c, &err), -1);
    CHECK_HAS(err.msg, "not a directory");
}

/* ------------------------------------------------------------ real data */

static void test_ml100k_udata(void) {
    loaded L;
    data_stats s;
    const char *p = test_movielens("ml-100k/u.data");
    if (!p) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    CHECK_INT(load(&L, p, NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_UDATA);
    s = data_ratings_stats(&L.r, L.u.n, L.i.n);
    CHECK_INT(s.n, 100000);
    CHECK_INT(s.users, 943);
    CHECK_INT(s.items, 1682);
    CHECK_NEAR(s.mean, 3.52986, 1e-12, 0);
    CHECK_NEAR(s.min, 1, 0, 0);
    CHECK_NEAR(s.max, 5, 0, 0);
    CHECK_NEAR(s.density, 100000.0 / (943.0 * 1682.0), 1e-12, 0);
    CHECK_INT(RAW_U(L, 0), 196); /* 196 242 3 881250949 */
    CHECK_INT(RAW_I(L, 0), 242);
    CHECK_INT(L.r.time[0], 881250949);
    unload(&L);
}

static void test_ml100k_folds_shared_maps(void) {
    data_idmap u, i;
    data_ratings base, test;
    data_error err;
    const char *pb = test_movielens("ml-100k/u1.base"), *pt = test_movielens("ml-100k/u1.test");
    size_t k, new_items = 0;
    double sum = 0;
    if (!pb || !pt) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    data_idmap_init(&u);
    data_idmap_init(&i);
    data_ratings_init(&base);
    data_ratings_init(&test);
    CHECK_INT(read_ratings(pb, NULL, &u, &i, &base, NULL, &err), 0);
    CHECK_INT(base.n, 80000);
    CHECK_INT(u.n, 943);
    CHECK_INT(i.n, 1650);
    CHECK_INT(read_ratings(pt, NULL, &u, &i, &test, NULL, &err), 0);
    CHECK_INT(test.n, 20000);
    CHECK_INT(u.n, 943);
    CHECK_INT(i.n, 1682); /* 32 movies appear only in the test fold */
    for (k = 0; k < test.n; k++) {
        new_items += test.item[k] >= 1650;
        sum += test.rating[k];
    }
    CHECK(new_items > 0);
    CHECK_NEAR(sum / (double)test.n, 3.5359, 1e-12, 0);
    CHECK_INT(u.raw[test.user[0]], 1); /* 1 6 5 887431973 */
    CHECK_INT(i.raw[test.item[0]], 6);
    data_ratings_free(&base);
    data_ratings_free(&test);
    data_idmap_free(&u);
    data_idmap_free(&i);
}

static void test_latest_small_ratings(void) {
    loaded L;
    data_stats s;
    const char *p = test_movielens("ml-latest-small/ratings.csv");
    if (!p) {
        test_skip("../shared/movielens/ml-latest-small not found");
        return;
    }
    CHECK_INT(load(&L, p, NULL), 0);
    CHECK_INT(L.rep.format, DATA_FMT_CSV);
    s = data_ratings_stats(&L.r, L.u.n, L.i.n);
    CHECK_INT(s.n, 100836);
    CHECK_INT(s.users, 610);
    CHECK_INT(s.items, 9724);
    CHECK_NEAR(s.min, 0.5, 0, 0);
    CHECK_NEAR(s.max, 5.0, 0, 0);
    CHECK_INT(L.r.time[0], 964982703); /* 1,1,4.0,964982703 */
    CHECK_INT(L.rep.skipped, 0);
    unload(&L);
}

static void test_latest_small_movies(void) {
    data_movies m;
    data_error err;
    int32_t row;
    const char *p = test_movielens("ml-latest-small/movies.csv");
    if (!p) {
        test_skip("../shared/movielens/ml-latest-small not found");
        return;
    }
    data_movies_init(&m);
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 9742);
    row = data_movie_find(&m, 11);
    CHECK(row >= 0 && strcmp(data_movie_title(&m, (size_t)row), "American President, The (1995)") == 0);
    row = data_movie_find(&m, 7789);
    CHECK(row >= 0 && strcmp(data_movie_title(&m, (size_t)row), "11'09\"01 - September 11 (2002)") == 0);
    CHECK(row >= 0 && m.year[row] == 2002);
    row = data_movie_find(&m, 73);
    CHECK(row >= 0 && strcmp(data_movie_title(&m, (size_t)row), "Mis\xc3\xa9rables, Les (1995)") == 0);
    row = data_movie_find(&m, 1);
    CHECK(row >= 0 && strcmp(data_movie_genres(&m, (size_t)row),
                             "Adventure|Animation|Children|Comedy|Fantasy") == 0);
    row = data_movie_find(&m, 114335);
    CHECK(row >= 0 && strcmp(data_movie_genres(&m, (size_t)row), "(no genres listed)") == 0);
    row = data_movie_find(&m, 171749);
    CHECK(row >= 0 && m.year[row] == 2006);
    row = data_movie_find(&m, 40697);
    CHECK(row >= 0 && m.year[row] == 0 && strcmp(data_movie_title(&m, (size_t)row), "Babylon 5") == 0);
    data_movies_free(&m);
}

static void test_ml1m_movies(void) {
    data_movies m;
    data_error err;
    int32_t row;
    const char *p = test_movielens("ml-1m-meta/movies.dat");
    if (!p) {
        test_skip("../shared/movielens/ml-1m-meta not found");
        return;
    }
    data_movies_init(&m);
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 3883);
    row = data_movie_find(&m, 73);
    CHECK(row >= 0 && strcmp(data_movie_title(&m, (size_t)row), "Mis\xc3\xa9rables, Les (1995)") == 0);
    CHECK(row >= 0 && strcmp(data_movie_genres(&m, (size_t)row), "Drama|Musical") == 0);
    row = data_movie_find(&m, 582);
    CHECK(row >= 0 && strcmp(data_movie_title(&m, (size_t)row), "Metisse (Caf\xc3\xa9 au Lait) (1993)") == 0);
    row = data_movie_find(&m, 1);
    CHECK(row >= 0 && strcmp(data_movie_genres(&m, (size_t)row), "Animation|Children's|Comedy") == 0);
    CHECK(row >= 0 && m.year[row] == 1995);
    data_movies_free(&m);
}

static void test_ml100k_uitem(void) {
    data_movies m;
    data_error err;
    int32_t row;
    const char *p = test_movielens("ml-100k/u.item");
    if (!p) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    data_movies_init(&m);
    CHECK_INT(data_read_movies(p, &m, &err), 0);
    CHECK_INT(m.n, 1682);
    row = data_movie_find(&m, 1);
    CHECK(row >= 0 && strcmp(data_movie_title(&m, (size_t)row), "Toy Story (1995)") == 0);
    CHECK(row >= 0 && strcmp(data_movie_genres(&m, (size_t)row), "Animation|Children's|Comedy") == 0);
    CHECK(row >= 0 && m.year[row] == 1995);
    row = data_movie_find(&m, 543);
    CHECK(row >= 0 && strcmp(data_movie_title(&m, (size_t)row), "Mis\xc3\xa9rables, Les (1995)") == 0);
    row = data_movie_find(&m, 267);
    CHECK(row >= 0 && m.year[row] == 0 && strcmp(data_movie_genres(&m, (size_t)row), "unknown") == 0);
    data_movies_free(&m);
}

/* ------------------------------------------------------------ finding movies, pairs */

static void test_movie_match(void) {
    const char *p = test_write("match.csv", "movieId,title,genres\n"
                                            "2011,Back to the Future (1985),Comedy|Sci-Fi\n"
                                            "2012,Back to the Future Part II (1989),Comedy\n"
                                            "260,Star Wars (1977),Action\n"
                                            "1371,Star Trek: The Motion Picture (1979),Sci-Fi\n"
                                            "1,Toy Story (1995),Animation\n");
    data_movies m;
    data_error err;
    int32_t row = -1, cand[4];
    size_t n = 0;
    data_movies_init(&m);
    CHECK(data_read_movies(p, &m, &err) == 0);
    CHECK(data_movie_match(&m, "back to the future", &row, cand, 4, &n) == 0); /* no year */
    CHECK_INT(m.id[row], 2011);
    CHECK(data_movie_match(&m, "Back to the Future Part", &row, cand, 4, &n) == 0); /* prefix */
    CHECK_INT(m.id[row], 2012);
    CHECK(data_movie_match(&m, "wars", &row, cand, 4, &n) == 0); /* substring */
    CHECK_INT(m.id[row], 260);
    CHECK(data_movie_match(&m, "1", &row, cand, 4, &n) == 0); /* an id */
    CHECK_INT(m.id[row], 1);
    CHECK(data_movie_match(&m, "star", &row, cand, 4, &n) == -2); /* two prefixes */
    CHECK_INT(n, 2);
    CHECK(n == 2 && m.id[cand[0]] == 260 && m.id[cand[1]] == 1371);
    CHECK(data_movie_match(&m, "future", &row, cand, 1, &n) == -2); /* capped list */
    CHECK_INT(n, 1);
    CHECK(data_movie_match(&m, "Jaws", &row, cand, 4, &n) == -1);
    CHECK(data_movie_match(&m, "99", &row, cand, 4, &n) == -1);
    data_movies_free(&m);
}

static void test_read_pairs(void) {
    const char *p = test_write("pairs.csv", "userId,movieId\n1,10\r\n2\t20\n\n3 30 extra\n4::40\n");
    const char *bad = test_write("badpairs.csv", "1,10\n2,x\n");
    const char *short_ = test_write("short.csv", "1,10\n7\n");
    data_pairs pr;
    data_error err;
    data_pairs_init(&pr);
    CHECK(data_read_pairs(p, &pr, &err) == 0);
    CHECK_INT(pr.n, 4);
    if (pr.n == 4) {
        CHECK_INT(pr.user[1], 2);
        CHECK_INT(pr.item[1], 20);
        CHECK_INT(pr.item[2], 30);
        CHECK_INT(pr.user[3], 4);
        CHECK_INT(pr.item[3], 40);
        CHECK_INT(pr.line[3], 6);
    }
    data_pairs_free(&pr);
    CHECK(data_read_pairs(bad, &pr, &err) == -1);
    CHECK_HAS(err.msg, "badpairs.csv:2: item id is not an integer (\"x\")");
    data_pairs_free(&pr);
    CHECK(data_read_pairs(short_, &pr, &err) == -1);
    CHECK_HAS(err.msg, "short.csv:2: expected a user and an item");
    data_pairs_free(&pr);
}

/* Only a first line that names its columns is a header: each of its two
 * fields has a letter and no digit. A malformed first line of data is an
 * error naming line 1, as it would be on any other line. */
static void test_pairs_header(void) {
    static const struct {
        const char *text;
        size_t n;         /* pairs read; 0: an error */
        const char *want; /* the error */
    } cases[] = {
        {"user,item\n1,2\n", 1, NULL},
        {"\xEF\xBB\xBF\r\n\"userId\",\"movieId\",\"rating\"\r\n1,2,4\r\n3,4,5\r\n", 2, NULL},
        {"user_id movie_id\n1 2\n", 1, NULL},
        {"1,2x\n3,4\n", 0, "pairs_h.csv:1: item id is not an integer (\"2x\")"},
        {"99999999999999999999,5\n1,2\n", 0,
         "pairs_h.csv:1: user id does not fit in 64 bits (\"99999999999999999999\")"},
        {"1,99999999999999999999\n", 0, "pairs_h.csv:1: item id does not fit in 64 bits"},
        {"u1,i1\n", 0, "pairs_h.csv:1: user id is not an integer (\"u1\")"},
        {"userId,3\n", 0, "pairs_h.csv:1: user id is not an integer (\"userId\")"},
        {"\n\nx,1.5\n", 0, "pairs_h.csv:3: user id is not an integer (\"x\")"},
        {"userId,movieId\nuserId,movieId\n", 0, "pairs_h.csv:2: user id is not an integer"},
        {"1,2\nuser,item\n", 0, "pairs_h.csv:2: user id is not an integer (\"user\")"},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        data_pairs pr;
        data_error err;
        int rc;
        data_pairs_init(&pr);
        err.msg[0] = '\0';
        rc = data_read_pairs(test_write("pairs_h.csv", cases[k].text), &pr, &err);
        if (cases[k].want) {
            CHECK_INT(rc, -1);
            CHECK_HAS(err.msg, cases[k].want);
        } else {
            CHECK_INT(rc, 0);
            CHECK_INT(pr.n, cases[k].n);
            CHECK(pr.n >= 1 && pr.user[0] == 1 && pr.item[0] == 2);
        }
        data_pairs_free(&pr);
    }
}

/* ---------------------------------------------------- side information */

/* the name of feature k of row r, "" past the row's end */
static const char *row_feature(const data_features *f, size_t r, size_t k) {
    if (r >= f->n_rows || f->start[r] + k >= f->start[r + 1]) return "";
    return data_feature_name(f, f->feature[f->start[r] + k]);
}

/* 1 when row r has the feature called name */
static int row_has(const data_features *f, size_t r, const char *name) {
    int32_t id = data_feature_find(f, name);
    uint32_t k;
    if (id < 0 || r >= f->n_rows) return 0;
    for (k = f->start[r]; k < f->start[r + 1]; k++)
        if (f->feature[k] == (uint32_t)id) return 1;
    return 0;
}

#define ROW_LEN(f, r) ((f).start[(r) + 1] - (f).start[r])

/* every row sorted ascending without repeats, every id < n_features */
static void check_rows_sorted(const data_features *f) {
    size_t r;
    uint32_t k;
    CHECK_INT(f->start[0], 0);
    for (r = 0; r < f->n_rows; r++)
        for (k = f->start[r]; k < f->start[r + 1]; k++) {
            CHECK(f->feature[k] < f->n_features);
            if (k > f->start[r]) CHECK(f->feature[k - 1] < f->feature[k]);
        }
}

static void test_users_uuser(void) {
    data_users u;
    data_error err;
    int32_t row;
    const char *p = test_write("u.user", "1|27|M|technician|10001\r\n"
                                         "2|51|F|other|20002\n"
                                         "\n"
                                         "74|38|M|scientist|T8H1N\n");
    data_users_init(&u);
    CHECK_INT(data_read_users(p, &u, &err), 0);
    CHECK_INT(u.n, 3);
    CHECK_INT(u.id[0], 1);
    CHECK_INT(u.age[0], 27);
    CHECK_INT(u.gender[0], 'M');
    CHECK(strcmp(u.text + u.occupation[0], "technician") == 0);
    CHECK(strcmp(u.text + u.zip[0], "10001") == 0); /* CR dropped */
    CHECK_INT(u.age[1], 51);
    CHECK_INT(u.gender[1], 'F');
    CHECK(strcmp(u.text + u.occupation[1], "other") == 0);
    row = data_idmap_find(&u.ids, 74);
    CHECK_INT(row, 2);
    CHECK(strcmp(u.text + u.zip[2], "T8H1N") == 0);
    CHECK_INT(data_idmap_find(&u.ids, 3), -1);
    data_users_free(&u);
    CHECK_INT(u.n, 0);
}

static void test_users_dat(void) {
    static const char *const occ[21] = {
        "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
        "customer service", "doctor/health care", "executive/managerial", "farmer",
        "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
        "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
        "unemployed", "writer"};
    static const int codes[7] = {1, 18, 25, 35, 45, 50, 56};
    char text[2048];
    size_t k, w = 0;
    data_users u;
    data_error err;
    /* every occupation code 0-20 and every age code, ids 100.. */
    for (k = 0; k < 21; k++)
        w += (size_t)snprintf(text + w, sizeof text - w, "%zu::%c::%d::%zu::%05zu\n", 100 + k,
                              k % 2 ? 'M' : 'F', codes[k % 7], k, k * 1111);
    data_users_init(&u);
    CHECK_INT(data_read_users(test_write("users.dat", text), &u, &err), 0);
    CHECK_INT(u.n, 21);
    for (k = 0; k < 21; k++) {
        CHECK_INT(u.id[k], 100 + (int64_t)k);
        CHECK(strcmp(u.text + u.occupation[k], occ[k]) == 0);
        CHECK_INT(u.age[k], codes[k % 7]);
        CHECK_INT(u.gender[k], k % 2 ? 'M' : 'F');
    }
    CHECK(strcmp(u.text + u.zip[0], "00000") == 0); /* leading zeros kept: zip is text */
    CHECK(strcmp(u.text + u.zip[3], "03333") == 0);
    data_users_free(&u);
}

#define USERS_FAIL(name, text, w1, w2)                                   \
    do {                                                                 \
        data_users u_;                                                   \
        data_error e_;                                                   \
        data_users_init(&u_);                                            \
        CHECK_INT(data_read_users(test_write(name, text), &u_, &e_), -1); \
        CHECK_HAS(e_.msg, w1);                                           \
        CHECK_HAS(e_.msg, w2);                                           \
        CHECK_INT(u_.n, 0);                                              \
        data_users_free(&u_);                                            \
    } while (0)

static void test_users_errors(void) {
    data_users u;
    data_error err;
    USERS_FAIL("g.user", "1|27|M|technician|10001\n2|30|X|writer|1\n", "g.user:2:",
               "gender is not M or F (\"X\")");
    USERS_FAIL("g.dat", "1::m::1::10::30003\n", "g.dat:1:", "gender is not M or F (\"m\")");
    USERS_FAIL("dup.user", "1|24|M|a|1\n2|25|F|b|2\n1|26|M|c|3\n", "dup.user:3:",
               "duplicate user id (\"1\")");
    USERS_FAIL("dup.dat", "7::F::1::10::1\n7::M::18::1::2\n", "dup.dat:2:",
               "duplicate user id (\"7\")");
    USERS_FAIL("id.user", "1|24|M|a|1\n2x|25|F|b|2\n", "id.user:2:",
               "user id is not an integer (\"2x\")");
    USERS_FAIL("age.user", "1|2y|M|a|1\n", "age.user:1:",
               "age is not a whole number of years 0-150 (\"2y\")");
    USERS_FAIL("age2.user", "1|151|M|a|1\n", "age2.user:1:", "(\"151\")");
    USERS_FAIL("age.dat", "1::F::1::10::1\n2::F::20::10::1\n", "age.dat:2:",
               "age code is not one of 1, 18, 25, 35, 45, 50, 56 (\"20\")");
    USERS_FAIL("age2.dat", "1::F::x::10::1\n", "age2.dat:1:", "age code is not one of");
    USERS_FAIL("occ.dat", "1::F::1::21::1\n", "occ.dat:1:",
               "occupation code is not 0-20 (\"21\")");
    USERS_FAIL("occ2.dat", "1::F::1::-1::1\n", "occ2.dat:1:",
               "occupation code is not 0-20 (\"-1\")");
    USERS_FAIL("occ.user", "1|24|M||1\n", "occ.user:1:", "occupation is empty");
    USERS_FAIL("short.user", "1|24|M|a|1\n2|25|F|b\n", "short.user:2:",
               "expected 5 fields, found 4");
    USERS_FAIL("long.dat", "1::F::1::10::1::extra\n", "long.dat:1:", "expected 5 fields, found 6");
    USERS_FAIL("what.csv", "userId,age\n1,2\n", "what.csv:1:", "not u.user");
    USERS_FAIL("empty.user", "\n\n", "empty.user", "no users");
    data_users_init(&u);
    CHECK_INT(data_read_users(test_path("no-such.user"), &u, &err), -1);
    CHECK_HAS(err.msg, "cannot open");
    data_users_free(&u);
}

static int tag_is(const data_tags *t, int64_t movie, size_t k, const char *want) {
    int32_t m = data_idmap_find(&t->ids, movie);
    if (m < 0 || t->start[m] + k >= t->start[m + 1]) return 0;
    return strcmp(t->text + t->tag[t->start[m] + k], want) == 0;
}

static size_t tags_of(const data_tags *t, int64_t movie) {
    int32_t m = data_idmap_find(&t->ids, movie);
    return m < 0 ? 0 : t->start[m + 1] - t->start[m];
}

static void test_tags_read(void) {
    data_tags t;
    data_error err;
    const char *p = test_write("tags.csv",
                               "\xEF\xBB\xBFuserId,movieId,tag,timestamp\r\n"
                               "1,20,Dark   Comedy,1\r\n"
                               "2,20,\" dark\tcomedy \",2\n"
                               "3,20,zany,3\n"
                               "4,20,Zany,4\n"
                               "5,20,\"funny, quotable\",5\n"
                               "6,20,ACTION,6\n"
                               "7,20,\"   \",7\n"
                               "8,10,one,8\n"
                               "9,20,\"He said \"\"wow\"\"\",9\n"
                               "\n"
                               "9,30,\"\",10\n");
    data_tags_init(&t);
    CHECK_INT(data_read_tags(p, 3, &t, &err), 0);
    CHECK_INT(t.n, 2); /* movie 30's only tag is empty: skipped */
    CHECK_INT(t.movie[0], 10); /* ascending raw id */
    CHECK_INT(t.movie[1], 20);
    CHECK_INT(tags_of(&t, 10), 1);
    CHECK(tag_is(&t, 10, 0, "one"));
    CHECK_INT(tags_of(&t, 20), 3);
    /* counts: dark comedy 2, zany 2, action 1, funny, quotable 1, he said "wow" 1 */
    CHECK(tag_is(&t, 20, 0, "dark comedy"));
    CHECK(tag_is(&t, 20, 1, "zany"));
    CHECK(tag_is(&t, 20, 2, "action")); /* the tie of three broken alphabetically */
    CHECK_INT(tags_of(&t, 30), 0);
    CHECK_INT(t.start[0], 0);
    CHECK_INT(t.start[2], 4);
    data_tags_free(&t);
    /* top_n 0: all of them */
    CHECK_INT(data_read_tags(p, 0, &t, &err), 0);
    CHECK_INT(tags_of(&t, 20), 5);
    CHECK(tag_is(&t, 20, 3, "funny, quotable"));
    CHECK(tag_is(&t, 20, 4, "he said \"wow\""));
    data_tags_free(&t);
    /* top_n 1 and a header in another column order */
    p = test_write("tags2.csv", "tag,movieId\nb,5\na,5\nb,5\nc,6\n");
    CHECK_INT(data_read_tags(p, 1, &t, &err), 0);
    CHECK_INT(t.n, 2);
    CHECK_INT(tags_of(&t, 5), 1);
    CHECK(tag_is(&t, 5, 0, "b"));
    CHECK(tag_is(&t, 6, 0, "c"));
    data_tags_free(&t);
}

#define TAGS_FAIL(name, text, w1, w2)                                    \
    do {                                                                 \
        data_tags t_;                                                    \
        data_error e_;                                                   \
        data_tags_init(&t_);                                             \
        CHECK_INT(data_read_tags(test_write(name, text), 5, &t_, &e_), -1); \
        CHECK_HAS(e_.msg, w1);                                           \
        CHECK_HAS(e_.msg, w2);                                           \
        CHECK_INT(t_.n, 0);                                              \
        data_tags_free(&t_);                                             \
    } while (0)

static void test_tags_errors(void) {
    TAGS_FAIL("t1.csv", "userId,movieId,tag,timestamp\n1,2,a,3\n1,x2,b,3\n", "t1.csv:3:",
              "movie id is not an integer (\"x2\")");
    TAGS_FAIL("t2.csv", "userId,movieId,tag,timestamp\n1,2,a,3\n1,2,b\n", "t2.csv:3:",
              "expected 4 fields, found 3");
    TAGS_FAIL("t3.csv", "userId,movieId,tag,timestamp\n1,2,\"open,3\n", "t3.csv:2:",
              "quoted field");
    TAGS_FAIL("t4.csv", "userId,item,tag,timestamp\n1,2,a,3\n", "t4.csv:1:",
              "no \"movieId\" column in the header (columns: userId, item, tag, timestamp)");
    TAGS_FAIL("t5.csv", "userId,movieId,label\n1,2,a\n", "t5.csv:1:", "no \"tag\" column");
    TAGS_FAIL("t6.csv", "", "t6.csv", "no header");
    TAGS_FAIL("t7.csv", "userId,movieId,tag,timestamp\n1,99999999999999999999,a,3\n",
              "t7.csv:2:", "does not fit in 64 bits");
}

static void test_user_features(void) {
    data_users u;
    data_idmap map;
    data_features f;
    data_error err;
    /* years in every bucket and at each edge; a non-digit zip */
    const char *p = test_write("feat.user", "1|17|M|student|12345\n"
                                            "2|18|F|writer|98765\n"
                                            "3|24|M|student|T8H1N\n"
                                            "4|25|F|writer|01234\n"
                                            "5|35|M|other|5\n"
                                            "6|45|F|other|6\n"
                                            "7|49|M|other|7\n"
                                            "8|50|F|other|8\n"
                                            "9|55|M|other|9\n"
                                            "10|56|F|other|0\n"
                                            "11|73|M|other|\n");
    static const char *const age[11] = {"age:<18",   "age:18-24", "age:18-24", "age:25-34",
                                        "age:35-44", "age:45-49", "age:45-49", "age:50-55",
                                        "age:50-55", "age:56+",   "age:56+"};
    size_t k;
    data_users_init(&u);
    data_idmap_init(&map);
    data_features_init(&f);
    CHECK_INT(data_read_users(p, &u, &err), 0);
    /* the model's map: user 3 first, then 1, 999 (not in meta), 2 */
    data_idmap_intern(&map, 3);
    data_idmap_intern(&map, 1);
    data_idmap_intern(&map, 999);
    data_idmap_intern(&map, 2);
    CHECK_INT(data_user_features(&u, &map, "gender,zip", &f, &err), 0);
    CHECK_INT(f.n_rows, 4);
    check_rows_sorted(&f);
    /* ids in order of first appearance: gender:M, zip:other, zip:1, gender:F, zip:9 */
    CHECK_INT(f.n_features, 5);
    CHECK(strcmp(data_feature_name(&f, 0), "gender:M") == 0);
    CHECK(strcmp(data_feature_name(&f, 1), "zip:other") == 0);
    CHECK(strcmp(data_feature_name(&f, 2), "zip:1") == 0);
    CHECK(strcmp(data_feature_name(&f, 3), "gender:F") == 0);
    CHECK(strcmp(data_feature_name(&f, 4), "zip:9") == 0);
    CHECK(strcmp(data_feature_name(&f, 5), "") == 0);
    CHECK_INT(ROW_LEN(f, 0), 2);
    CHECK(strcmp(row_feature(&f, 0, 0), "gender:M") == 0);
    CHECK(strcmp(row_feature(&f, 0, 1), "zip:other") == 0);
    CHECK_INT(ROW_LEN(f, 1), 2);
    CHECK(strcmp(row_feature(&f, 1, 0), "gender:M") == 0);
    CHECK(strcmp(row_feature(&f, 1, 1), "zip:1") == 0);
    CHECK_INT(ROW_LEN(f, 2), 0); /* user 999: not in meta, no features */
    CHECK_INT(ROW_LEN(f, 3), 2);
    CHECK(strcmp(row_feature(&f, 3, 0), "gender:F") == 0);
    CHECK(strcmp(row_feature(&f, 3, 1), "zip:9") == 0);
    CHECK_INT(data_feature_find(&f, "zip:9"), 4);
    CHECK_INT(data_feature_find(&f, "zip:8"), -1);
    data_features_free(&f);
    CHECK_INT(f.n_features, 0);
    data_idmap_free(&map);

    /* all groups, spaces around names, every user in file order */
    data_idmap_init(&map);
    for (k = 1; k <= 11; k++) data_idmap_intern(&map, (int64_t)k);
    CHECK_INT(data_user_features(&u, &map, "age, gender ,occupation,zip,age", &f, &err), 0);
    CHECK_INT(f.n_rows, 11);
    check_rows_sorted(&f);
    for (k = 0; k < 11; k++) {
        int32_t a = data_feature_find(&f, age[k]);
        uint32_t j;
        int found = 0;
        CHECK_INT(ROW_LEN(f, k), 4);
        for (j = f.start[k]; j < f.start[k + 1]; j++) found += (int32_t)f.feature[j] == a;
        CHECK_INT(found, 1);
    }
    CHECK_INT(f.start[1], 4);
    CHECK(strcmp(row_feature(&f, 0, 0), "age:<18") == 0);
    CHECK(strcmp(row_feature(&f, 0, 1), "gender:M") == 0);
    CHECK(strcmp(row_feature(&f, 0, 2), "occupation:student") == 0);
    CHECK(strcmp(row_feature(&f, 0, 3), "zip:1") == 0);
    CHECK(strcmp(row_feature(&f, 3, 3), "zip:0") == 0);
    CHECK(row_has(&f, 10, "zip:other")); /* an empty zip */
    CHECK(row_has(&f, 10, "occupation:other"));
    CHECK(row_has(&f, 10, "age:56+"));
    CHECK(!row_has(&f, 10, "zip:1"));
    /* 7 ages + 2 genders + 3 occupations + zips 1 9 other 0 5 6 7 8 */
    CHECK_INT(f.n_features, 7 + 2 + 3 + 8);
    data_features_free(&f);

    CHECK_INT(data_user_features(&u, &map, "age,height", &f, &err), -1);
    CHECK_HAS(err.msg, "unknown user feature group \"height\" (age, gender, occupation, zip)");
    CHECK_INT(data_user_features(&u, &map, "genres", &f, &err), -1);
    CHECK_HAS(err.msg, "unknown user feature group \"genres\"");
    CHECK_INT(data_user_features(&u, &map, "", &f, &err), -1);
    CHECK_HAS(err.msg, "unknown user feature group \"\"");
    data_idmap_free(&map);
    data_users_free(&u);
}

static void test_user_features_ml1m_codes(void) {
    static const int codes[7] = {1, 18, 25, 35, 45, 50, 56};
    static const char *const want[7] = {"age:<18",   "age:18-24", "age:25-34", "age:35-44",
                                        "age:45-49", "age:50-55", "age:56+"};
    data_users u;
    data_idmap map;
    data_features f;
    data_error err;
    char text[512];
    size_t k, w = 0;
    for (k = 0; k < 7; k++)
        w += (size_t)snprintf(text + w, sizeof text - w, "%zu::M::%d::%zu::55117\n", k + 1,
                              codes[k], k);
    data_users_init(&u);
    data_idmap_init(&map);
    data_features_init(&f);
    CHECK_INT(data_read_users(test_write("codes.dat", text), &u, &err), 0);
    for (k = 0; k < 7; k++) data_idmap_intern(&map, (int64_t)k + 1);
    CHECK_INT(data_user_features(&u, &map, "age,occupation", &f, &err), 0);
    for (k = 0; k < 7; k++) {
        CHECK_INT(ROW_LEN(f, k), 2);
        CHECK(strcmp(row_feature(&f, k, 0), want[k]) == 0);
    }
    CHECK(strcmp(row_feature(&f, 4, 1), "occupation:college/grad student") == 0);
    CHECK(strcmp(row_feature(&f, 0, 1), "occupation:other") == 0);
    data_features_free(&f);
    data_idmap_free(&map);
    data_users_free(&u);
}

static void test_item_features(void) {
    data_movies m;
    data_tags t;
    data_idmap map;
    data_features f;
    data_error err;
    const char *mp = test_write("feat_movies.csv",
                                "movieId,title,genres\n"
                                "1,Toy Story (1995),Adventure|Animation|Comedy\n"
                                "2,Heat (1995),Action|Crime\n"
                                "3,Old (1929),(no genres listed)\n"
                                "4,No Year,unknown\n"
                                "5,New (2001),Comedy|Comedy\n");
    const char *tp = test_write("feat_tags.csv", "userId,movieId,tag,timestamp\n"
                                                 "1,1,Pixar,1\n1,1,pixar,1\n1,1,fun,1\n"
                                                 "1,2,heist,1\n1,9,orphan,1\n");
    data_movies_init(&m);
    data_tags_init(&t);
    data_idmap_init(&map);
    data_features_init(&f);
    CHECK_INT(data_read_movies(mp, &m, &err), 0);
    CHECK_INT(data_read_tags(tp, 1, &t, &err), 0);
    /* map order: 2, 1, 3, 4, 5, 9 (9 has tags but no movie row), 77 (nothing) */
    data_idmap_intern(&map, 2);
    data_idmap_intern(&map, 1);
    data_idmap_intern(&map, 3);
    data_idmap_intern(&map, 4);
    data_idmap_intern(&map, 5);
    data_idmap_intern(&map, 9);
    data_idmap_intern(&map, 77);
    CHECK_INT(data_item_features(&m, &t, &map, "genres,year,tags", &f, &err), 0);
    CHECK_INT(f.n_rows, 7);
    check_rows_sorted(&f);
    /* first appearance: genre:Action 0, genre:Crime 1, year:1990s 2, tag:heist 3,
     * genre:Adventure 4, genre:Animation 5, genre:Comedy 6, tag:pixar 7,
     * year:1920s 8, year:unknown 9, year:2000s 10, tag:orphan 11 */
    CHECK_INT(f.n_features, 12);
    CHECK(strcmp(data_feature_name(&f, 3), "tag:heist") == 0);
    CHECK(strcmp(data_feature_name(&f, 7), "tag:pixar") == 0);
    CHECK(strcmp(data_feature_name(&f, 9), "year:unknown") == 0);
    CHECK_INT(ROW_LEN(f, 0), 4);
    CHECK(strcmp(row_feature(&f, 0, 0), "genre:Action") == 0);
    CHECK(strcmp(row_feature(&f, 0, 1), "genre:Crime") == 0);
    CHECK(strcmp(row_feature(&f, 0, 2), "year:1990s") == 0);
    CHECK(strcmp(row_feature(&f, 0, 3), "tag:heist") == 0);
    CHECK_INT(ROW_LEN(f, 1), 5); /* top 1 tag: pixar (2) over fun (1) */
    CHECK(strcmp(row_feature(&f, 1, 0), "year:1990s") == 0);
    CHECK(strcmp(row_feature(&f, 1, 1), "genre:Adventure") == 0);
    CHECK(strcmp(row_feature(&f, 1, 4), "tag:pixar") == 0);
    CHECK_INT(ROW_LEN(f, 2), 1); /* no genres listed */
    CHECK(strcmp(row_feature(&f, 2, 0), "year:1920s") == 0);
    CHECK_INT(ROW_LEN(f, 3), 1); /* "unknown" genre, year 0 */
    CHECK(strcmp(row_feature(&f, 3, 0), "year:unknown") == 0);
    CHECK_INT(ROW_LEN(f, 4), 2); /* Comedy once */
    CHECK(strcmp(row_feature(&f, 4, 0), "genre:Comedy") == 0);
    CHECK(strcmp(row_feature(&f, 4, 1), "year:2000s") == 0);
    CHECK_INT(ROW_LEN(f, 5), 1); /* tags only */
    CHECK(strcmp(row_feature(&f, 5, 0), "tag:orphan") == 0);
    CHECK_INT(ROW_LEN(f, 6), 0);
    data_features_free(&f);

    /* genres only; tags may be NULL when not asked for */
    CHECK_INT(data_item_features(&m, NULL, &map, "genres", &f, &err), 0);
    CHECK_INT(f.n_features, 5);
    CHECK_INT(ROW_LEN(f, 0), 2);
    CHECK_INT(ROW_LEN(f, 2), 0);
    CHECK_INT(ROW_LEN(f, 5), 0);
    CHECK_INT(data_feature_find(&f, "genre:Comedy"), 4);
    CHECK_INT(data_feature_find(&f, "year:1990s"), -1);
    data_features_free(&f);

    CHECK_INT(data_item_features(&m, NULL, &map, "year,tags", &f, &err), -1);
    CHECK_HAS(err.msg, "\"tags\" needs a tags file");
    CHECK_INT(data_item_features(&m, &t, &map, "genres,decade", &f, &err), -1);
    CHECK_HAS(err.msg, "unknown item feature group \"decade\" (genres, year, tags)");
    CHECK_INT(data_item_features(&m, &t, &map, "age", &f, &err), -1);
    CHECK_HAS(err.msg, "unknown item feature group \"age\"");
    data_idmap_free(&map);
    data_tags_free(&t);
    data_movies_free(&m);
}

static void test_ml100k_users(void) {
    data_users u;
    data_idmap map;
    data_features f;
    data_error err;
    int32_t row;
    const char *p = test_movielens("ml-100k/u.user");
    if (!p) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    data_users_init(&u);
    CHECK_INT(data_read_users(p, &u, &err), 0);
    CHECK_INT(u.n, 943);
    row = data_idmap_find(&u.ids, 1);
    CHECK_INT(row, 0);
    CHECK_INT(u.age[0], 24);
    CHECK_INT(u.gender[0], 'M');
    CHECK(strcmp(u.text + u.occupation[0], "technician") == 0);
    CHECK(strcmp(u.text + u.zip[0], "85711") == 0);
    row = data_idmap_find(&u.ids, 74);
    CHECK(row >= 0 && strcmp(u.text + u.zip[row], "T8H1N") == 0);
    row = data_idmap_find(&u.ids, 943);
    CHECK(row >= 0 && u.age[row] == 22 && strcmp(u.text + u.occupation[row], "student") == 0);
    data_idmap_init(&map);
    data_idmap_intern(&map, 1);
    data_idmap_intern(&map, 74);
    data_features_init(&f);
    CHECK_INT(data_user_features(&u, &map, "age,gender,occupation,zip", &f, &err), 0);
    CHECK_INT(ROW_LEN(f, 0), 4);
    CHECK(strcmp(row_feature(&f, 0, 0), "age:18-24") == 0);
    CHECK(strcmp(row_feature(&f, 0, 2), "occupation:technician") == 0);
    CHECK(strcmp(row_feature(&f, 0, 3), "zip:8") == 0);
    CHECK(data_feature_find(&f, "zip:other") >= 0); /* user 74's T8H1N */
    data_features_free(&f);
    data_idmap_free(&map);
    data_users_free(&u);
}

static void test_ml1m_users(void) {
    data_users u;
    data_idmap map;
    data_features f;
    data_error err;
    int32_t row;
    const char *p = test_movielens("ml-1m-meta/users.dat");
    if (!p) {
        test_skip("../shared/movielens/ml-1m-meta not found");
        return;
    }
    data_users_init(&u);
    CHECK_INT(data_read_users(p, &u, &err), 0);
    CHECK_INT(u.n, 6040);
    CHECK_INT(u.gender[0], 'F');
    CHECK_INT(u.age[0], 1);
    CHECK(strcmp(u.text + u.occupation[0], "K-12 student") == 0);
    CHECK(strcmp(u.text + u.zip[0], "48067") == 0);
    row = data_idmap_find(&u.ids, 6040); /* 6040::M::25::6::11106 */
    CHECK(row >= 0 && u.age[row] == 25 &&
          strcmp(u.text + u.occupation[row], "doctor/health care") == 0);
    data_idmap_init(&map);
    data_idmap_intern(&map, 1);
    data_features_init(&f);
    CHECK_INT(data_user_features(&u, &map, "age,occupation", &f, &err), 0);
    CHECK_INT(ROW_LEN(f, 0), 2);
    CHECK(strcmp(row_feature(&f, 0, 0), "age:<18") == 0);
    CHECK(strcmp(row_feature(&f, 0, 1), "occupation:K-12 student") == 0);
    data_features_free(&f);
    data_idmap_free(&map);
    data_users_free(&u);
}

static void test_latest_small_tags(void) {
    data_tags t;
    data_movies m;
    data_idmap map;
    data_features f;
    data_error err;
    const char *p = test_movielens("ml-latest-small/tags.csv");
    const char *mp = test_movielens("ml-latest-small/movies.csv");
    if (!p || !mp) {
        test_skip("../shared/movielens/ml-latest-small not found");
        return;
    }
    data_tags_init(&t);
    /* counted independently (Python csv): 3683 rows, 1572 movies, 3574
     * distinct (movie, tag) pairs after normalising */
    CHECK_INT(data_read_tags(p, 0, &t, &err), 0);
    CHECK_INT(t.n, 1572);
    CHECK_INT(t.start[t.n], 3574);
    CHECK(tag_is(&t, 1, 0, "pixar")); /* 2 */
    CHECK(tag_is(&t, 1, 1, "fun"));   /* 1 */
    CHECK_INT(tags_of(&t, 1), 2);
    data_tags_free(&t);
    CHECK_INT(data_read_tags(p, 3, &t, &err), 0);
    CHECK_INT(t.n, 1572);
    CHECK_INT(t.start[t.n], 2444);
    /* 2959: dark comedy 3, then psychology, thought-provoking, ... 2 each */
    CHECK_INT(tags_of(&t, 2959), 3);
    CHECK(tag_is(&t, 2959, 0, "dark comedy"));
    CHECK(tag_is(&t, 2959, 1, "psychology"));
    CHECK(tag_is(&t, 2959, 2, "thought-provoking"));
    /* 60756: funny 3, will ferrell 3 ("Highly quotable" read lower-cased, 1) */
    CHECK(tag_is(&t, 60756, 0, "funny"));
    CHECK(tag_is(&t, 60756, 1, "will ferrell"));
    CHECK(tag_is(&t, 60756, 2, "comedy"));
    data_movies_init(&m);
    CHECK_INT(data_read_movies(mp, &m, &err), 0);
    data_idmap_init(&map);
    data_idmap_intern(&map, 2959);
    data_idmap_intern(&map, 114335); /* (no genres listed) */
    data_features_init(&f);
    CHECK_INT(data_item_features(&m, &t, &map, "genres,year,tags", &f, &err), 0);
    check_rows_sorted(&f);
    CHECK(strcmp(data_feature_name(&f, 0), "genre:Action") == 0); /* Fight Club */
    CHECK(data_feature_find(&f, "tag:dark comedy") >= 0);
    CHECK(data_feature_find(&f, "year:1990s") >= 0);
    CHECK_INT(ROW_LEN(f, 1), 1); /* year only */
    data_features_free(&f);
    data_idmap_free(&map);
    data_movies_free(&m);
    data_tags_free(&t);
}

/* ------------------------------------------------ NumPy-compatible rng */

#define NPR_PATH "tests/ref/numpy_rng.txt"

/* sum over k of (k + 1)·p[k] modulo 2^64, as numpy_rng_ref.py writes it */
static uint64_t perm_checksum(const uint32_t *p, size_t n) {
    uint64_t s = 0;
    size_t k;
    for (k = 0; k < n; k++) s += (uint64_t)(k + 1) * p[k];
    return s;
}

/* Every line of tests/ref/numpy_rng.txt (NumPy's own outputs) reproduced:
 * raw MT19937 words, permutations of several lengths and seeds (including
 * 2^32 − 1), a large permutation by checksum and samples, and successive
 * shuffles of one array (Keras's per-epoch index_array). */
static void test_numpy_rng_fixture(void) {
    fixture_file fx;
    char word[32];
    size_t lines = 0, values = 0;
    if (fixture_open(&fx, NPR_PATH) != 0) return;
    while (fixture_token(&fx, word, sizeof word)) {
        size_t seed, n, k, e, count, step;
        uint32_t *p = NULL, want;
        data_np_rng rng;
        data_error err;
        double x;
        if (strcmp(word, "end") == 0) break;
        lines++;
        if (fixture_size(&fx, &seed, 0xffffffffu)) break;
        if (strcmp(word, "raw") == 0) {
            if (fixture_size(&fx, &count, 1000)) break;
            CHECK_INT(data_np_seed(&rng, seed, &err), 0);
            for (k = 0; k < count; k++, values++) {
                if (fixture_doubles(&fx, &x, 1)) break;
                want = (uint32_t)x;
                if (data_np_next32(&rng) != want) {
                    CHECK_INT(k, count); /* names the first wrong output */
                    break;
                }
            }
            continue;
        }
        if (fixture_size(&fx, &n, 1000000)) break;
        p = malloc((n ? n : 1) * sizeof *p);
        if (!p) break;
        if (strcmp(word, "perm") == 0) {
            CHECK_INT(data_np_permutation(p, n, seed, &err), 0);
            for (k = 0; k < n; k++, values++) {
                if (fixture_doubles(&fx, &x, 1)) break;
                if (p[k] != (uint32_t)x) {
                    test_fail(__FILE__, __LINE__, "perm seed %zu n %zu: [%zu] = %u, numpy %.0f",
                              seed, n, k, p[k], x);
                    break;
                }
            }
        } else if (strcmp(word, "sample") == 0) {
            char sum[32];
            if (fixture_size(&fx, &step, n) || !fixture_token(&fx, sum, sizeof sum)) {
                free(p);
                break;
            }
            CHECK_INT(data_np_permutation(p, n, seed, &err), 0);
            /* the checksum, exact in 64 bits (a double would round it) */
            CHECK(perm_checksum(p, n) == (uint64_t)strtoull(sum, NULL, 10));
            for (k = 0; k < n; k += step, values++) {
                if (fixture_doubles(&fx, &x, 1)) break;
                if (p[k] != (uint32_t)x) {
                    test_fail(__FILE__, __LINE__, "sample seed %zu n %zu: [%zu] = %u, numpy %.0f",
                              seed, n, k, p[k], x);
                    break;
                }
            }
        } else if (strcmp(word, "shuffles") == 0) {
            if (fixture_size(&fx, &count, 100)) {
                free(p);
                break;
            }
            CHECK_INT(data_np_seed(&rng, seed, &err), 0);
            for (k = 0; k < n; k++) p[k] = (uint32_t)k;
            for (e = 0; e < count; e++) {
                data_np_shuffle_u32(&rng, p, n); /* on the previous epoch's order */
                for (k = 0; k < n; k++, values++) {
                    if (fixture_doubles(&fx, &x, 1)) break;
                    if (p[k] != (uint32_t)x) {
                        test_fail(__FILE__, __LINE__, "shuffle %zu seed %zu: [%zu] = %u, "
                                  "numpy %.0f", e + 1, seed, k, p[k], x);
                        e = count;
                        break;
                    }
                }
            }
        } else {
            test_fail(__FILE__, __LINE__, NPR_PATH ": unknown line \"%s\"", word);
            free(p);
            break;
        }
        free(p);
    }
    CHECK_HAS(word, "end");
    CHECK(lines >= 30); /* the fixture was read, not skipped over */
    CHECK(values > 1000);
    fixture_close(&fx);
}

/* df.sample(frac=1, random_state=3) on ten rows takes rows 5 4 1 2 9 6 7 0 3 8
 * (numpy: RandomState(3).permutation(10)); a seed NumPy refuses is refused
 * with a message; a permutation with a repeat is refused. */
static void test_numpy_permute_rows(void) {
    static const uint32_t want[10] = {5, 4, 1, 2, 9, 6, 7, 0, 3, 8};
    data_ratings r;
    data_np_rng rng;
    data_error err;
    uint32_t perm[10];
    size_t k;
    fill_rows(&r, 10);
    CHECK_INT(data_np_permutation(perm, 10, 3, &err), 0);
    for (k = 0; k < 10; k++) CHECK_INT(perm[k], want[k]);
    CHECK_INT(data_ratings_permute(&r, perm), 0);
    CHECK_INT(r.n, 10);
    for (k = 0; k < 10; k++) { /* row k is the old row want[k], every column */
        CHECK_INT(r.time[k], want[k]);
        CHECK_INT(r.user[k], want[k] % 7);
        CHECK_INT(r.item[k], want[k] % 11);
    }
    perm[3] = perm[4]; /* not a permutation */
    CHECK_INT(data_ratings_permute(&r, perm), -1);
    CHECK_INT(r.time[3], want[3]); /* left as it was */
    err.msg[0] = '\0';
    CHECK_INT(data_np_seed(&rng, 4294967296ull, &err), -1);
    CHECK_HAS(err.msg, "4294967296");
    CHECK_INT(data_np_permutation(perm, 10, 4294967296ull, &err), -1);
    CHECK_INT(data_np_seed(&rng, 4294967295ull, &err), 0);
    CHECK_INT(data_np_interval(&rng, 0), 0); /* draws nothing */
    for (k = 0; k < 1000; k++) CHECK(data_np_interval(&rng, 6) <= 6);
    data_ratings_free(&r);
}

/* ------------------------------------------------------------ .npy files */

static void test_read_npy(void) {
    const float f4[6] = {1.5f, -2.0f, 0.1f, 3e-8f, 7.0f, -0.25f};
    const double f8[3] = {0.1, -1e300, 2.0};
    const int64_t i8[4] = {3, 0, 2, 1};
    const int32_t i4[2] = {-7, 9};
    unsigned char be[8];
    data_npy a;
    data_error err;
    char path[512];
    size_t k;
    /* float32 (2, 3), version 1.0 */
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("f4.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                       f4, sizeof f4));
    CHECK_INT(data_read_npy(path, &a, &err), 0);
    CHECK_INT(a.ndim, 2);
    CHECK_INT(a.shape[0], 2);
    CHECK_INT(a.shape[1], 3);
    CHECK_INT(a.n, 6);
    for (k = 0; k < 6; k++) CHECK(a.v[k] == (double)f4[k]);
    data_npy_free(&a);
    /* float64 (3,), version 2.0, keys in another order */
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("f8.npy", 2, "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}",
                       f8, sizeof f8));
    CHECK_INT(data_read_npy(path, &a, &err), 0);
    CHECK_INT(a.ndim, 1);
    CHECK_INT(a.shape[0], 3);
    for (k = 0; k < 3; k++) CHECK(a.v[k] == f8[k]);
    data_npy_free(&a);
    /* int64 and int32 */
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("i8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }",
                       i8, sizeof i8));
    CHECK_INT(data_read_npy(path, &a, &err), 0);
    for (k = 0; k < 4; k++) CHECK(a.v[k] == (double)i8[k]);
    data_npy_free(&a);
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("i4.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }",
                       i4, sizeof i4));
    CHECK_INT(data_read_npy(path, &a, &err), 0);
    CHECK(a.v[0] == -7.0 && a.v[1] == 9.0);
    data_npy_free(&a);
    /* big-endian float64 2.5: 0x4004000000000000 */
    memset(be, 0, sizeof be);
    be[0] = 0x40;
    be[1] = 0x04;
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("be.npy", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (), }",
                       be, sizeof be));
    CHECK_INT(data_read_npy(path, &a, &err), 0);
    CHECK_INT(a.ndim, 0);
    CHECK(a.n == 1 && a.v[0] == 2.5);
    data_npy_free(&a);
    /* errors name the file and the problem */
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                       f4, sizeof f4));
    CHECK_INT(data_read_npy(path, &a, &err), -1);
    CHECK_HAS(err.msg, "fortran.npy: the array is in Fortran order");
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("f2.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                       f4, 4));
    CHECK_INT(data_read_npy(path, &a, &err), -1);
    CHECK_HAS(err.msg, "f2.npy: dtype '<f2' is not supported");
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                       f4, sizeof f4 - 4));
    CHECK_INT(data_read_npy(path, &a, &err), -1);
    CHECK_HAS(err.msg, "short.npy: 20 bytes of data, but shape (2, 3) of '<f4' needs 24");
    snprintf(path, sizeof path, "%s", test_write("text.npy", "1 2 3\n"));
    CHECK_INT(data_read_npy(path, &a, &err), -1);
    CHECK_HAS(err.msg, "text.npy: not a .npy file");
    CHECK_INT(data_read_npy(test_path("missing.npy"), &a, &err), -1);
    CHECK_HAS(err.msg, "missing.npy: cannot open");
}

/* --batch-order files: text, one permutation per line, or .npy (E, n) */
static void test_read_orders(void) {
    const int64_t two[2][4] = {{3, 0, 2, 1}, {0, 1, 2, 3}};
    uint32_t *o;
    size_t e;
    data_error err;
    char path[512];
    snprintf(path, sizeof path, "%s", test_write("orders.txt", "# epoch 1, 2\n3 0 2 1\n0,1,2,3\r\n\n"));
    CHECK_INT(data_read_orders(path, 4, &o, &e, &err), 0);
    CHECK_INT(e, 2);
    CHECK(o[0] == 3 && o[1] == 0 && o[2] == 2 && o[3] == 1 && o[4] == 0 && o[7] == 3);
    free(o);
    snprintf(path, sizeof path, "%s",
             fixture_write_npy("orders.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 4), }",
                       two, sizeof two));
    CHECK_INT(data_read_orders(path, 4, &o, &e, &err), 0);
    CHECK_INT(e, 2);
    CHECK(o[0] == 3 && o[3] == 1 && o[4] == 0 && o[7] == 3);
    free(o);
    CHECK_INT(data_read_orders(path, 5, &o, &e, &err), -1); /* (2, 4) for 5 samples */
    CHECK_HAS(err.msg, "orders.npy: <i8 array of shape (2, 4); a batch order is integers of "
                       "shape (5,) or (epochs, 5)");
    snprintf(path, sizeof path, "%s", test_write("short.txt", "3 0 2 1\n0 1 2\n"));
    CHECK_INT(data_read_orders(path, 4, &o, &e, &err), -1);
    CHECK_HAS(err.msg, "short.txt:2: 3 numbers, but the training set has 4 samples");
    snprintf(path, sizeof path, "%s", test_write("twice.txt", "3 0 3 1\n"));
    CHECK_INT(data_read_orders(path, 4, &o, &e, &err), -1);
    CHECK_HAS(err.msg, "twice.txt:1: 3 appears twice");
    snprintf(path, sizeof path, "%s", test_write("range.txt", "3 0 2 1\n0 1 4 2\n"));
    CHECK_INT(data_read_orders(path, 4, &o, &e, &err), -1);
    CHECK_HAS(err.msg, "range.txt:2: \"4\" is not an index in [0, 4)");
    snprintf(path, sizeof path, "%s", test_write("word.txt", "3 0 x2 1\n"));
    CHECK_INT(data_read_orders(path, 4, &o, &e, &err), -1);
    CHECK_HAS(err.msg, "word.txt:1: \"x2\" is not an index");
    snprintf(path, sizeof path, "%s", test_write("empty.txt", "# nothing\n"));
    CHECK_INT(data_read_orders(path, 4, &o, &e, &err), -1);
    CHECK_HAS(err.msg, "empty.txt: no permutation");
}

/* ------------------------------------------------------------ outputs */

/* the first line of path, or "" */
static const char *first_line(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (f && !fgets(buf, (int)n, f)) buf[0] = '\0';
    if (f) fclose(f);
    return buf;
}

/* data_out: the name holds the old file until the commit, then the whole
 * new one; an abort leaves the old one and nothing beside it; a replaced
 * file keeps its permission bits; a symlink is replaced, never written
 * through, even one to a device; a device and /dev/stdout are written
 * directly and their errors reported; a directory is refused. */
static void test_out_atomic(void) {
    char dir[600], path[700], link[800], victim[700], buf[64], cmd[800];
    data_out o;
    data_error err;
    struct stat st;
    snprintf(dir, sizeof dir, "%s", test_path("out"));
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(path, sizeof path, "%s/a.txt", dir);
    CHECK(data_out_open(&o, path, &err) == 0 && !o.direct);
    fputs("old\n", o.f);
    CHECK(data_out_commit(&o, &err) == 0 && o.f == NULL);
    CHECK(chmod(path, 0640) == 0);
    CHECK(data_out_open(&o, path, &err) == 0);
    fputs("new\n", o.f);
    CHECK(fflush(o.f) == 0);
    CHECK(strcmp(first_line(path, buf, sizeof buf), "old\n") == 0); /* not yet */
    CHECK(data_out_commit(&o, &err) == 0);
    CHECK(strcmp(first_line(path, buf, sizeof buf), "new\n") == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
    CHECK(data_out_open(&o, path, &err) == 0);
    fputs("newer\n", o.f);
    data_out_abort(&o);
    data_out_abort(&o); /* a no-op once closed */
    CHECK(strcmp(first_line(path, buf, sizeof buf), "new\n") == 0);
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q tmp", dir);
    CHECK(system(cmd) != 0);

    snprintf(victim, sizeof victim, "%s", test_write("out_victim.txt", "keep\n"));
    snprintf(link, sizeof link, "%s/link.txt", dir);
    CHECK(symlink(victim, link) == 0);
    CHECK(data_out_open(&o, link, &err) == 0 && !o.direct);
    fputs("x\n", o.f);
    CHECK(data_out_commit(&o, &err) == 0);
    CHECK(strcmp(first_line(victim, buf, sizeof buf), "keep\n") == 0);
    CHECK(lstat(link, &st) == 0 && S_ISREG(st.st_mode));
    CHECK(strcmp(first_line(link, buf, sizeof buf), "x\n") == 0);

    snprintf(link, sizeof link, "%s/null.txt", dir); /* a link to a device: replaced too */
    CHECK(symlink("/dev/null", link) == 0);
    CHECK(data_out_open(&o, link, &err) == 0 && !o.direct);
    fputs("kept\n", o.f);
    CHECK(data_out_commit(&o, &err) == 0);
    CHECK(strcmp(first_line(link, buf, sizeof buf), "kept\n") == 0);
    /* the system's names are written through: aborted unwritten, so that
     * a wrong answer here cannot replace /dev/stdout */
    CHECK(data_out_open(&o, "/dev/stdout", &err) == 0 && o.direct);
    data_out_abort(&o);
    CHECK(lstat("/dev/stdout", &st) == 0 && !S_ISREG(st.st_mode));
    CHECK(data_out_open(&o, "/dev/null", &err) == 0 && o.direct);
    fputs("gone\n", o.f);
    CHECK(data_out_commit(&o, &err) == 0);
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(data_out_open(&o, "/dev/full", &err) == 0 && o.direct);
    fputs("no room\n", o.f);
    CHECK(data_out_commit(&o, &err) == -1);
    CHECK_INT(o.error, ENOSPC);
    CHECK_HAS(err.msg, "/dev/full: cannot write: No space left on device");
    CHECK(data_out_open(&o, dir, &err) == -1);
    CHECK_HAS(err.msg, "out: cannot write: Is a directory");

    CHECK(data_out_check_dir(path, &err) == 0);
    CHECK(data_out_check_dir("/dev/null", &err) == 0);
    CHECK(data_out_check_dir(dir, &err) == -1);
    CHECK_HAS(err.msg, "Is a directory");
    snprintf(link, sizeof link, "%s/none/x.csv", dir);
    CHECK(data_out_check_dir(link, &err) == -1);
    CHECK_HAS(err.msg, "none/x.csv: cannot write: ");
    CHECK_HAS(err.msg, "out/none: No such file or directory");
    snprintf(link, sizeof link, "%s/x.csv", path);
    CHECK(data_out_check_dir(link, &err) == -1);
    CHECK_HAS(err.msg, "a.txt: Not a directory");
}

/* ------------------------------------------------ plain and fast readers */

/* Every ratings input of this suite (good files of every format, every
 * option, every bad one, at every chunk size the tests use, caches
 * included, and MovieLens when it is there) read by the plain reader of
 * data.c and by the chunked reader of fast/: the same status, rows, ids in
 * the same order, report and error message (see read_ratings). The reader
 * tests run again for it; the fast reader stays installed after. */
static void test_readers_agree(void) {
    static void (*const reader_tests[])(void) = {
        test_udata, test_dat, test_csv_header_quotes_crlf_bom, test_csv_without_header,
        test_delim_columns, test_autodetect, test_number_parsing, test_short_ratings,
        test_errors_values,
        test_rating_float_range, test_blanks_around_values, test_errors_fields,
        test_errors_files, test_skip_bad, test_shared_maps_and_failure, test_id_cache,
        test_chunk_boundaries, test_chunk_errors_and_lines, test_chunk_reserve,
        test_chunk_reserve_grows,
        test_plain_vs_split, test_generated_forms, test_line_limit_ratings, test_nul_ratings,
        test_empty_last_field,
        test_cache_round_trip, test_cache_invalidation, test_cache_damaged};
    size_t k;
    compare_readers = 1;
    reads_compared = 0;
    for (k = 0; k < sizeof reader_tests / sizeof reader_tests[0]; k++) reader_tests[k]();
    if (test_movielens("ml-100k/u.data")) test_ml100k_udata();
    if (test_movielens("ml-100k/u1.base") && test_movielens("ml-100k/u1.test"))
        test_ml100k_folds_shared_maps();
    if (test_movielens("ml-latest-small/ratings.csv")) test_latest_small_ratings();
    compare_readers = 0;
    data_use_reader(fast_read_ratings);
    CHECK(reads_compared > 700); /* the reads were compared, not skipped */
}

void suite_data(void) {
    test_run("data/movie_match", test_movie_match);
    test_run("data/read_pairs", test_read_pairs);
    test_run("data/pairs_header", test_pairs_header);
    test_run("data/idmap_basic", test_idmap_basic);
    test_run("data/idmap_growth", test_idmap_growth);
    test_run("data/idmap_direct_vs_hash", test_idmap_direct_vs_hash);
    test_run("data/format_names", test_format_names);
    test_run("data/udata", test_udata);
    test_run("data/dat", test_dat);
    test_run("data/csv_header_quotes_crlf_bom", test_csv_header_quotes_crlf_bom);
    test_run("data/csv_without_header", test_csv_without_header);
    test_run("data/delim_columns", test_delim_columns);
    test_run("data/autodetect", test_autodetect);
    test_run("data/number_parsing", test_number_parsing);
    test_run("data/short_ratings", test_short_ratings);
    test_run("data/errors_values", test_errors_values);
    test_run("data/rating_float_range", test_rating_float_range);
    test_run("data/blanks_around_values", test_blanks_around_values);
    test_run("data/blanks_in_side_files", test_blanks_in_side_files);
    test_run("data/errors_fields", test_errors_fields);
    test_run("data/errors_files", test_errors_files);
    test_run("data/skip_bad", test_skip_bad);
    test_run("data/shared_maps_and_failure", test_shared_maps_and_failure);
    test_run("data/id_cache", test_id_cache);
    test_run("data/chunk_boundaries", test_chunk_boundaries);
    test_run("data/chunk_errors_and_lines", test_chunk_errors_and_lines);
    test_run("data/chunk_reserve", test_chunk_reserve);
    test_run("data/chunk_reserve_grows", test_chunk_reserve_grows);
    test_run("data/plain_vs_split", test_plain_vs_split);
    test_run("data/generated_forms", test_generated_forms);
    test_run("data/line_limit_ratings", test_line_limit_ratings);
    test_run("data/line_limit_whole_files", test_line_limit_whole_files);
    test_run("data/nul_ratings", test_nul_ratings);
    test_run("data/nul_whole_files", test_nul_whole_files);
    test_run("data/cache_round_trip", test_cache_round_trip);
    test_run("data/cache_invalidation", test_cache_invalidation);
    test_run("data/cache_damaged", test_cache_damaged);
    test_run("data/cache_mapped", test_cache_mapped);
    test_run("data/read_user_items", test_read_user_items);
    test_run("data/cache_old_version", test_cache_old_version);
    test_run("data/cache_forged", test_cache_forged);
    test_run("data/empty_last_field", test_empty_last_field);
    test_run("data/readers_agree", test_readers_agree);
    test_run("data/stats", test_stats);
    test_run("data/user_items_sorted", test_user_items_sorted);
    test_run("data/split_tail", test_split_tail);
    test_run("data/split_random", test_split_random);
    test_run("data/folds_partition", test_folds_partition);
    test_run("data/split_cold", test_split_cold);
    test_run("data/shuffle_and_select", test_shuffle_and_select);
    test_run("data/shuffle_in_place", test_shuffle_in_place);
    test_run("data/read_without_time", test_read_without_time);
    test_run("data/numpy_rng_fixture", test_numpy_rng_fixture);
    test_run("data/numpy_permute_rows", test_numpy_permute_rows);
    test_run("data/read_npy", test_read_npy);
    test_run("data/read_orders", test_read_orders);
    test_run("data/movies_uitem", test_movies_uitem);
    test_run("data/movies_dat", test_movies_dat);
    test_run("data/movies_csv", test_movies_csv);
    test_run("data/movies_errors", test_movies_errors);
    test_run("data/synth_shapes", test_synth_shapes);
    test_run("data/synth_roundtrip", test_synth_roundtrip);
    test_run("data/synth_deterministic", test_synth_deterministic);
    test_run("data/synth_sample", test_synth_sample);
    test_run("data/synth_signal", test_synth_signal);
    test_run("data/synth_errors", test_synth_errors);
    test_run("data/ml100k_udata", test_ml100k_udata);
    test_run("data/ml100k_folds_shared_maps", test_ml100k_folds_shared_maps);
    test_run("data/latest_small_ratings", test_latest_small_ratings);
    test_run("data/latest_small_movies", test_latest_small_movies);
    test_run("data/ml1m_movies", test_ml1m_movies);
    test_run("data/ml100k_uitem", test_ml100k_uitem);
    test_run("data/users_uuser", test_users_uuser);
    test_run("data/users_dat", test_users_dat);
    test_run("data/users_errors", test_users_errors);
    test_run("data/tags_read", test_tags_read);
    test_run("data/tags_errors", test_tags_errors);
    test_run("data/user_features", test_user_features);
    test_run("data/user_features_ml1m_codes", test_user_features_ml1m_codes);
    test_run("data/item_features", test_item_features);
    test_run("data/ml100k_users", test_ml100k_users);
    test_run("data/ml1m_users", test_ml1m_users);
    test_run("data/latest_small_tags", test_latest_small_tags);
    test_run("data/out_atomic", test_out_atomic);
}
