/* tests/fuzz/fuzz.c — libFuzzer harnesses for everything embrec reads.
 *
 * One source, one binary per target: `make fuzz` compiles this file once for
 * each name in the table at its end, with -DFUZZ_NAME=\"name\" (the
 * Makefile reads the names from the TARGET(...) lines), links it with
 * -fsanitize=fuzzer,address,undefined, and runs it on the seeds in
 * tests/fuzz/corpus/<name>/ (and, for the model loader, models that
 * `embrec train` saves at build time).
 *
 * The readers take a path, so each input is written to one scratch file and
 * read back from there. Besides "no crash, no leak, no undefined behaviour",
 * every target checks the promise the readers make about errors: a failure
 * returns -1 with a message that starts with the file's path, and a success
 * leaves a consistent result. The ratings target reads each input with the
 * fast reader (fast/, installed at start as embrec installs it) and with
 * the plain reader of data.c, which must agree. A broken promise aborts,
 * which libFuzzer reports as a crash like any other.
 *
 * A new reader (say a .npy file or a dataset cache) is one function of the
 * fuzz_fn shape and one more TARGET line; the Makefile needs nothing, and
 * its seeds go in tests/fuzz/corpus/<name>/.
 */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../data.h"
#include "../../formats/history.h"
#include "../../formats/model_file.h"
#include "../../formats/npy.h"
#include "../../formats/orders.h"
#include "../../fast/cache.h"
#include "../../fast/fast.h"
#include "../../fast/reader.h"
#include "../../mf.h"
#include "../../use/cold_start.h"

#ifndef FUZZ_NAME
#error "compile with -DFUZZ_NAME=\"name\" (see the table at the end of this file)"
#endif

/* read the file at path, whose bytes are data[0..size); 0 */
typedef int (*fuzz_fn)(const char *path, const uint8_t *data, size_t size);

static char scratch[4096];

static void remove_scratch(void) {
    if (scratch[0]) unlink(scratch);
}

static void die(const char *what) {
    fprintf(stderr, "fuzz %s: %s\n", FUZZ_NAME, what);
    abort();
}

/* the scratch file now holds exactly data[0..size) */
static void put(const uint8_t *data, size_t size) {
    FILE *f = fopen(scratch, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        die("cannot write the scratch file");
}

/* a failed read: its message must name the file first */
static void check_error(int rc, const data_error *err) {
    size_t n = strlen(scratch);
    if (rc != -1) die("a reader returned neither 0 nor -1");
    if (strncmp(err->msg, scratch, n) != 0 || (err->msg[n] != ':' && err->msg[n] != '\0'))
        die("an error message does not start with the file's path");
}

/* a text reader succeeded: the text it read had no NUL byte (every text
 * reader refuses one, naming its line) */
static void check_no_nul(const uint8_t *text, size_t size) {
    if (size && memchr(text, 0, size)) die("a text with a NUL byte was read");
}

/* ------------------------------------------------------------ ratings */

/* The plain reader of data.c reads the file the fast reader (installed)
 * just read, status rc, to the same end: the same status, message, ids in
 * the same order, rows and report. */
static void check_plain_reader(const char *path, const data_read_opts *o, int rc,
                               const data_idmap *users, const data_idmap *items,
                               const data_ratings *r, const data_read_report *rep,
                               const data_error *err) {
    data_read_report prep;
    data_idmap pu, pi;
    data_ratings pr;
    data_error perr;
    size_t k;
    int prc;
    data_idmap_init(&pu);
    data_idmap_init(&pi);
    data_ratings_init(&pr);
    perr.msg[0] = '\0';
    data_use_reader(NULL);
    prc = data_read_ratings(path, o, &pu, &pi, &pr, &prep, &perr);
    data_use_reader(fast_read_ratings);
    if (prc != rc || (rc != 0 && strcmp(perr.msg, err->msg) != 0)) {
        fprintf(stderr, "plain reader: %d %s\nfast reader:  %d %s\n", prc, perr.msg, rc,
                rc ? err->msg : "");
        die("the plain and fast readers disagree on the status or the message");
    }
    if (pu.n != users->n || pi.n != items->n || pr.n != r->n)
        die("the plain and fast readers disagree on the number of ids or rows");
    for (k = 0; k < pu.n; k++)
        if (pu.raw[k] != users->raw[k]) die("the plain and fast readers disagree on a user id");
    for (k = 0; k < pi.n; k++)
        if (pi.raw[k] != items->raw[k]) die("the plain and fast readers disagree on an item id");
    for (k = 0; k < pr.n; k++)
        if (pr.user[k] != r->user[k] || pr.item[k] != r->item[k] ||
            pr.rating[k] != r->rating[k] || pr.time[k] != r->time[k])
            die("the plain and fast readers disagree on a row");
    if (prep.format != rep->format || prep.lines != rep->lines ||
        prep.skipped != rep->skipped || strcmp(prep.first_error, rep->first_error) != 0)
        die("the plain and fast readers disagree on the report");
    data_ratings_free(&pr);
    data_idmap_free(&pu);
    data_idmap_free(&pi);
}

/* The first byte chooses the options, the rest is the file:
 *   bits 0-2  format: auto, udata, dat, csv, delim, delim with the columns
 *             named userId, movieId, rating, timestamp; 6 and 7: auto
 *   bit  3    --skip-bad
 *   bits 4-5  header: 0 no, 1 yes, 2 or 3 the format's own
 *   bits 6-7  delimiter: the format's own, ",", ";", "::"
 * so '0' (0x30) is every default. */
static int fuzz_ratings(const char *path, const uint8_t *data, size_t size) {
    static const data_format fmts[8] = {DATA_FMT_AUTO, DATA_FMT_UDATA, DATA_FMT_DAT,
                                        DATA_FMT_CSV,  DATA_FMT_DELIM, DATA_FMT_DELIM,
                                        DATA_FMT_AUTO, DATA_FMT_AUTO};
    static const char *const delims[4] = {NULL, ",", ";", "::"};
    static const int headers[4] = {0, 1, -1, -1};
    data_read_opts o = data_read_defaults();
    data_read_report rep;
    data_idmap users, items;
    data_ratings r;
    data_error err;
    uint8_t b;
    size_t k;
    int rc;
    if (size < 1) return 0;
    b = data[0];
    o.format = fmts[b & 7];
    o.skip_bad = (b >> 3) & 1;
    o.header = headers[(b >> 4) & 3];
    o.delim = delims[(b >> 6) & 3];
    if ((b & 7) == 5) {
        o.user_col = "userId";
        o.item_col = "movieId";
        o.rating_col = "rating";
        o.time_col = "timestamp";
    }
    put(data + 1, size - 1);
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&r);
    err.msg[0] = '\0';
    rc = data_read_ratings(path, &o, &users, &items, &r, &rep, &err);
    if (rc == 0) {
        check_no_nul(data + 1, size - 1);
        if (r.n == 0) die("a ratings file read with no ratings");
        for (k = 0; k < r.n; k++) {
            if (r.user[k] >= users.n || r.item[k] >= items.n)
                die("a rating's index is outside its id map");
            if (!(fabsf(r.rating[k]) <= FLT_MAX)) die("a rating is not a finite float");
        }
        if (rep.lines < r.n) die("more ratings than lines");
    } else {
        check_error(rc, &err);
        if (r.n != 0) die("a failed read left ratings behind");
    }
    check_plain_reader(path, &o, rc, &users, &items, &r, &rep, &err);
    data_ratings_free(&r);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return 0;
}

/* ------------------------------------------------------------ movies */

static int fuzz_movies(const char *path, const uint8_t *data, size_t size) {
    data_movies m;
    data_error err;
    size_t k;
    int rc;
    put(data, size);
    data_movies_init(&m);
    err.msg[0] = '\0';
    rc = data_read_movies(path, &m, &err);
    if (rc == 0) {
        check_no_nul(data, size);
        int32_t row, cand[4];
        size_t n_cand;
        for (k = 0; k < m.n; k++) {
            if (data_movie_find(&m, m.id[k]) != (int32_t)k) die("a movie id does not find its row");
            (void)strlen(data_movie_title(&m, k));
            (void)strlen(data_movie_genres(&m, k));
        }
        /* the title matcher over whatever titles the file had */
        (void)data_movie_match(&m, "a", &row, cand, 4, &n_cand);
        if (m.n) (void)data_movie_match(&m, data_movie_title(&m, 0), &row, cand, 4, &n_cand);
    } else {
        check_error(rc, &err);
    }
    data_movies_free(&m);
    return 0;
}

/* ------------------------------------------------------------- users */

static int fuzz_users(const char *path, const uint8_t *data, size_t size) {
    data_users u;
    data_error err;
    int rc;
    put(data, size);
    data_users_init(&u);
    err.msg[0] = '\0';
    rc = data_read_users(path, &u, &err);
    if (rc == 0) {
        check_no_nul(data, size);
        /* every feature group over the users just read */
        data_features f;
        data_idmap ids;
        size_t k;
        data_idmap_init(&ids);
        for (k = 0; k < u.n; k++)
            if (data_idmap_intern(&ids, u.id[k]) < 0) die("out of memory");
        data_features_init(&f);
        if (data_user_features(&u, &ids, "age,gender,occupation,zip", &f, &err) != 0)
            die("user features failed on users that were read");
        if (f.n_rows != u.n) die("user features have the wrong number of rows");
        data_features_free(&f);
        data_idmap_free(&ids);
    } else {
        check_error(rc, &err);
    }
    data_users_free(&u);
    return 0;
}

/* -------------------------------------------------------------- tags */

/* the first byte % 4 is --top-tags (0: all), the rest is the file */
static int fuzz_tags(const char *path, const uint8_t *data, size_t size) {
    data_tags t;
    data_error err;
    size_t k;
    int rc;
    if (size < 1) return 0;
    put(data + 1, size - 1);
    data_tags_init(&t);
    err.msg[0] = '\0';
    rc = data_read_tags(path, data[0] % 4, &t, &err);
    if (rc == 0) {
        check_no_nul(data + 1, size - 1);
        for (k = 0; k < t.n; k++) {
            if (t.start[k] > t.start[k + 1]) die("tag rows out of order");
            if (data[0] % 4 && t.start[k + 1] - t.start[k] > data[0] % 4u)
                die("more tags than --top-tags");
            if (k && t.movie[k - 1] >= t.movie[k]) die("movies not in ascending id");
        }
    } else {
        check_error(rc, &err);
    }
    data_tags_free(&t);
    return 0;
}

/* ------------------------------------------------------------- pairs */

static int fuzz_pairs(const char *path, const uint8_t *data, size_t size) {
    data_pairs p;
    data_error err;
    int rc;
    put(data, size);
    data_pairs_init(&p);
    err.msg[0] = '\0';
    rc = data_read_pairs(path, &p, &err);
    if (rc == 0) check_no_nul(data, size);
    else check_error(rc, &err);
    data_pairs_free(&p);
    return 0;
}

/* --------------------------------------------------------------- npy */

static int fuzz_npy(const char *path, const uint8_t *data, size_t size) {
    data_npy a;
    data_error err;
    size_t k, n = 1;
    int rc;
    put(data, size);
    data_npy_init(&a);
    err.msg[0] = '\0';
    rc = data_read_npy(path, &a, &err);
    if (rc == 0) {
        char shape[256];
        if (a.ndim > 8) die("more than 8 dimensions");
        for (k = 0; k < a.ndim; k++) n *= a.shape[k];
        if (n != a.n) die("the values are not the product of the shape");
        if (4 * a.n > size) die("more values than the file holds");
        for (k = 0; k < a.n; k++) (void)(a.v[k] == 0);
        (void)data_npy_shape_text(a.shape, a.ndim, shape, sizeof shape);
    } else {
        check_error(rc, &err);
    }
    data_npy_free(&a);
    return 0;
}

/* ------------------------------------------------------------ orders */

/* the first byte % 8 + 1 is n, the samples per epoch; the rest is the file
 * (text, or a .npy) */
static int fuzz_orders(const char *path, const uint8_t *data, size_t size) {
    uint32_t *orders = NULL;
    size_t n, n_orders = 0, k;
    data_error err;
    int rc;
    if (size < 1) return 0;
    n = data[0] % 8u + 1;
    put(data + 1, size - 1);
    err.msg[0] = '\0';
    rc = data_read_orders(path, n, &orders, &n_orders, &err);
    if (rc == 0) {
        if (n_orders == 0) die("no orders");
        for (k = 0; k < n_orders * n; k++)
            if (orders[k] >= n) die("an order holds an index out of range");
        free(orders);
    } else {
        check_error(rc, &err);
    }
    return 0;
}

/* ----------------------------------------------------------- history */

static int fuzz_history(const char *path, const uint8_t *data, size_t size) {
    mf_history h;
    data_error err;
    int rc;
    put(data, size);
    err.msg[0] = '\0';
    rc = mf_history_load(&h, path, &err);
    if (rc == 0) {
        if (h.n == 0) die("a history read with no epochs");
        mf_history_free(&h);
    } else {
        check_error(rc, &err);
    }
    return 0;
}

/* -------------------------------------------------------------- cache */

/* The input is a ratings cache without its last 8 bytes (the checksum),
 * for a fixed small source file. The harness writes the source's real size
 * and times into the header and appends the right checksum, so the fuzzer
 * explores the loader behind those checks, then reads the source with
 * --cache. Whatever the cache holds, the read must succeed (a bad cache is
 * parsed over) with every index inside its map, and each user's sorted
 * items (asked of the read) in range and ascending; when the cache was not
 * loaded, the rows must be the source's own. */
static const char cache_source[] = "userId,movieId,rating,timestamp\n"
                                   "1,10,4.0,100\n1,11,3.5,101\n2,10,5.0,102\n3,12,1.0,103\n"
                                   "2,12,2.5,104\n4,11,4.5,105\n";

static int fuzz_cache(const char *path, const uint8_t *data, size_t size) {
    static uint8_t buf[1 << 20];
    static char src[4200];
    data_read_opts o = data_read_defaults();
    data_read_report rep;
    data_idmap users, items;
    data_ratings r;
    data_user_items ui;
    data_error err;
    struct stat st;
    uint64_t h, v;
    int64_t t;
    size_t k;
    if (size < 48 || size > sizeof buf - 8) return 0;
    if (!src[0]) { /* the source, once, dated well in the past */
        FILE *f;
        struct timespec times[2];
        snprintf(src, sizeof src, "%s.src.csv", scratch);
        f = fopen(src, "wb");
        if (!f || fwrite(cache_source, 1, sizeof cache_source - 1, f) != sizeof cache_source - 1 ||
            fclose(f) != 0)
            die("cannot write the cache's source");
        times[0].tv_sec = times[1].tv_sec = 1600000000;
        times[0].tv_nsec = times[1].tv_nsec = 0;
        if (utimensat(AT_FDCWD, src, times, 0) != 0) die("cannot date the cache's source");
    }
    if (stat(src, &st) != 0) die("the cache's source is gone");
    memcpy(buf, data, size);
    v = (uint64_t)st.st_size; /* u64 size, i64 mtime s, i64 mtime ns, i64 read at */
    memcpy(buf + 16, &v, 8);
    t = (int64_t)st.st_mtim.tv_sec;
    memcpy(buf + 24, &t, 8);
    t = (int64_t)st.st_mtim.tv_nsec;
    memcpy(buf + 32, &t, 8);
    t = (int64_t)st.st_mtim.tv_sec + 100;
    memcpy(buf + 40, &t, 8);
    h = data_cache_checksum(buf, size);
    memcpy(buf + size, &h, 8);
    put(buf, size + 8);
    o.cache = path;
    o.user_items = &ui;
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&r);
    err.msg[0] = '\0';
    if (data_read_ratings(src, &o, &users, &items, &r, &rep, &err) != 0)
        die("a valid source failed to read beside a fuzzed cache");
    for (k = 0; k < r.n; k++)
        if (r.user[k] >= users.n || r.item[k] >= items.n) die("a cached index is outside its map");
    if (ui.n_users != users.n || ui.start[0] != 0 || ui.start[users.n] > r.n)
        die("the users' sorted items do not fit the rows");
    for (k = 0; k < users.n; k++) { /* what data_user_items_has's binary search needs */
        uint32_t j;
        if (ui.start[k] > ui.start[k + 1]) die("a user's sorted items end before they start");
        for (j = ui.start[k]; j < ui.start[k + 1]; j++)
            if (ui.item[j] >= items.n || (j > ui.start[k] && ui.item[j] <= ui.item[j - 1]))
                die("a user's sorted items are out of range or out of order");
    }
    data_user_items_free(&ui);
    if (rep.cache != DATA_CACHE_LOADED && (r.n != 6 || users.n != 4 || items.n != 3))
        die("parsing the source over a bad cache gave other rows");
    data_ratings_free(&r);
    data_idmap_free(&users);
    data_idmap_free(&items);
    unlink(path); /* a rebuilt cache would otherwise be the next input's file */
    return 0;
}

/* -------------------------------------------------------------- model */

/* The input is a model file without its last 8 bytes, the FNV-1a hash of
 * every byte before it: the harness appends the right hash, so the fuzzer
 * explores the parser behind the checksum rather than the checksum. (A
 * wrong checksum is tested by the suite.) A model that loads is then used. */
static int fuzz_model(const char *path, const uint8_t *data, size_t size) {
    static uint8_t buf[1 << 20];
    uint64_t h = 14695981039346656037ULL;
    mf_model m;
    data_error err;
    size_t k;
    int rc;
    if (size > sizeof buf - 8) return 0;
    memcpy(buf, data, size);
    for (k = 0; k < size; k++) h = (h ^ data[k]) * 1099511628211ULL;
    for (k = 0; k < 8; k++) buf[size + k] = (uint8_t)(h >> (8 * k));
    put(buf, size + 8);
    err.msg[0] = '\0';
    rc = mf_load(&m, path, &err);
    if (rc == 0) {
        mf_scored out[5];
        float p;
        if (m.n_users && m.n_items) {
            p = mf_predict(&m, 0, 0);
            p += mf_predict(&m, (uint32_t)m.n_users - 1, (uint32_t)m.n_items - 1);
            (void)p;
            (void)mf_recommend(&m, 0, NULL, out, 5);
        }
        if (m.n_items) {
            (void)mf_similar(&m, 0, MF_COSINE, 0, out, 5);
            (void)mf_similar(&m, 0, MF_EUCLIDEAN, 1, out, 5);
        }
        if (m.user_features.n_features) {
            uint32_t f0 = 0;
            (void)mf_recommend_cold(&m, &f0, 1, out, 5);
        }
        mf_free(&m);
    } else {
        check_error(rc, &err);
    }
    return 0;
}

/* ------------------------------------------------------------- table */

/* One line per target: `make fuzz` builds every name it finds on a line
 * starting with TARGET(". */
#define TARGET(name, fn) {name, fn},
static const struct { const char *name; fuzz_fn fn; } targets[] = {
    TARGET("ratings", fuzz_ratings)
    TARGET("movies", fuzz_movies)
    TARGET("users", fuzz_users)
    TARGET("tags", fuzz_tags)
    TARGET("pairs", fuzz_pairs)
    TARGET("npy", fuzz_npy)
    TARGET("orders", fuzz_orders)
    TARGET("history", fuzz_history)
    TARGET("model", fuzz_model)
    TARGET("cache", fuzz_cache)
};

static fuzz_fn chosen;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *base = getenv("TMPDIR");
    size_t k;
    int fd;
    (void)argc;
    (void)argv;
    for (k = 0; k < sizeof targets / sizeof targets[0]; k++)
        if (strcmp(targets[k].name, FUZZ_NAME) == 0) chosen = targets[k].fn;
    if (!chosen) die("no such target in the table");
    fast_install(); /* the readers as embrec runs them: the cache target needs it */
    snprintf(scratch, sizeof scratch, "%s/embrec-fuzz-%s.XXXXXX",
             base && *base ? base : "/tmp", FUZZ_NAME);
    if ((fd = mkstemp(scratch)) < 0) {
        scratch[0] = '\0';
        die("cannot create the scratch file");
    }
    close(fd);
    atexit(remove_scratch);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return chosen(scratch, data, size);
}
