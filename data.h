/* data.h — the data embrec reads and learns from: ratings (and their
 * caches), movie metadata, user metadata and tags turned into features,
 * pairs to score, id maps, and train/validation splits. The other files
 * are formats/'s (NumPy's .npy arrays and legacy generator, batch orders,
 * model files, and data_out, through which every output is written); the
 * synthetic MovieLens-shaped generator is cli/synth.h's.
 *
 * Ratings are stored column-wise (struct of arrays) with users and items
 * mapped to dense indices 0..n-1 by a data_idmap that keeps the raw ids, so
 * a model can print real MovieLens ids. Text is split in place in the
 * buffer it was read into: no allocation per line.
 *
 * What is where: data.c holds the plain ratings reader (a line at a time,
 * through the ratings parser below) and every other reader (the smaller
 * metadata files are loaded whole). The speed machinery lives in fast/: the
 * chunked ratings reader with its one-pass parse of the usual line
 * (fast/reader.h) and the binary ratings cache (fast/cache.h). It plugs in
 * through data_use_reader; the reference build (make reference) leaves it
 * out, and data_read_ratings is then the plain reader alone.
 *
 * Errors never crash and are never silent: every reader fills a data_error
 * whose message reads `file:line: what is wrong (the offending value)` and
 * returns -1. data knows nothing of models.
 *
 * Every text reader takes lines of at most DATA_MAX_LINE bytes (not
 * counting the '\n'; a '\r' before it counts): a longer line is the error
 * `file:line: line longer than 1 MiB`, raised as soon as the line has run
 * past the limit, so a file with no line ends (/dev/zero, a binary file)
 * fails at once instead of filling memory. (--batch-order text files, whose
 * one line is a whole permutation, allow 32 more bytes per sample: see
 * formats/orders.h.) A NUL byte is the error `file:line: NUL byte in the
 * line` in every text reader, once its line has ended: text has none, and
 * a C string would end there.
 */
#ifndef EMBREC_DATA_H
#define EMBREC_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nn.h" /* nn_rng: the project's one random-number generator */

/* ------------------------------------------------------------- errors */

typedef struct { char msg[1024]; } data_error;

/* printf into err->msg (a no-op when err is NULL) */
void data_errorf(data_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* snprintf that truncates quietly (a message longer than dst is cut) */
void data_text_printf(char *dst, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* the '\n' in [p, end), plus one: the lines, counting a last one without a '\n' */
size_t data_count_lines(const char *p, const char *end);

#define DATA_MAX_LINE ((size_t)1 << 20)

/* The magnitude from which a double rounds to an infinite float: 2^128 − 2^103,
 * FLT_MAX plus half its last place. fabs(x) < DATA_FLOAT_OVERFLOW says that
 * (float)x is finite (false for NaN too) without the conversion, which C
 * leaves undefined for a value beyond float's range. */
#define DATA_FLOAT_OVERFLOW 0x1.ffffffp+127

/* ------------------------------------------------------------ id maps */

/* raw id (as in the file) <-> dense index 0..n-1, in order of first sight.
 * Small non-negative raw ids (MovieLens ids are below a million) are looked
 * up in a direct array indexed by the raw id; every other id goes through
 * an open-addressing hash. The direct array covers [0, direct_cap) and is
 * grown on demand while it stays small (up to 2^16 entries, beyond that up
 * to 8 entries per id held); it always holds every id below direct_cap, so
 * ids that were hashed before it grew over them are found there too. */
typedef struct {
    int64_t *raw;     /* (n) dense index -> raw id */
    size_t n, raw_cap;
    int32_t *table;   /* (cap) open addressing: dense index + 1, 0 = empty */
    size_t cap;       /* a power of two (or 0), kept at least 2·hashed */
    size_t hashed;    /* ids put in table */
    int32_t *direct;  /* (direct_cap) raw id -> dense index + 1, 0 = absent */
    size_t direct_cap; /* a power of two, or 0 */
} data_idmap;

void data_idmap_init(data_idmap *m);
void data_idmap_free(data_idmap *m);
/* the index of raw, adding it if new; -1 when out of memory or full (2^31-1 ids) */
int32_t data_idmap_intern(data_idmap *m, int64_t raw);
/* the index of raw, or -1 when absent */
int32_t data_idmap_find(const data_idmap *m, int64_t raw);
/* dst = a new map of src's ids, in src's order; 0, or -1 when out of
 * memory (dst then holds what was copied: free it) */
int data_idmap_copy(data_idmap *dst, const data_idmap *src);

/* ------------------------------------------------------------ ratings */

/* Memory that arrays lie in without owning it: a ratings cache mapped
 * from its file (fast/cache.c). Each struct whose arrays lie in one holds
 * a reference (refs counts them) and drops it when freed; the last one
 * runs free_block. Not shared between threads while references come and go. */
typedef struct data_block {
    size_t refs;
    void (*free_block)(struct data_block *b);
} data_block;

/* drop one reference to b (NULL: nothing) */
void data_block_release(data_block *b);

typedef struct {
    uint32_t *user;    /* (n) dense user index */
    uint32_t *item;    /* (n) dense item index */
    float *rating;     /* (n) */
    int64_t *time;     /* (n) Unix seconds; 0 when the file has no timestamps;
                        * NULL when none are kept (no_time) */
    size_t n, cap;
    data_block *block; /* NULL: the columns are malloc'ed. Else they lie in it
                        * (a loaded cache: its file's pages, mapped, or its
                        * bytes read into one allocation; cap == n): freeing
                        * drops the reference, growing copies them into
                        * arrays of their own first, and a row written in
                        * place is the process's own (the file never changes). */
    int no_time;       /* 1: no timestamps are kept: time stays NULL as rows are
                        * added (8 of a row's 20 bytes), and every function here
                        * takes the rows' times as 0. Copies and splits of such
                        * rows keep none either. */
} data_ratings;

void data_ratings_init(data_ratings *r);
void data_ratings_free(data_ratings *r);
/* keep no timestamps from now on (no_time): those held are freed */
void data_ratings_without_time(data_ratings *r);
/* room for cap rows (when it has less), exactly; 0 or -1 (no memory: the
 * rows it holds are kept) */
int data_ratings_reserve_exact(data_ratings *r, size_t cap);
/* append one row; 0 or -1 (no memory) */
int data_ratings_push(data_ratings *r, uint32_t user, uint32_t item,
                      float rating, int64_t time);
/* dst = the rows src[idx[0..n)] in that order; 0 or -1 */
int data_ratings_select(data_ratings *dst, const data_ratings *src,
                        const uint32_t *idx, size_t n);

typedef enum {
    DATA_FMT_AUTO,   /* decide from the file's first line and name */
    DATA_FMT_UDATA,  /* ML-100K u.data / u1.base: user TAB item TAB rating TAB time, no header */
    DATA_FMT_DAT,    /* ML-1M/10M ratings.dat: user::item::rating::time, no header */
    DATA_FMT_CSV,    /* MovieLens latest/20M/25M/small: userId,movieId,rating,timestamp with header */
    DATA_FMT_DELIM   /* any delimited file: delim, header and columns from the options */
} data_format;

const char *data_format_name(data_format f);  /* "auto", "udata", "dat", "csv", "delim" */
int data_format_parse(const char *name, data_format *f);  /* 0 or -1 */

typedef struct {
    data_format format;
    const char *delim;      /* NULL: the format's own; else "\t", ",", "::", ";", ... */
    int header;             /* -1: the format's own (auto: detected), 0 no, 1 yes */
    /* columns by header name ("userId") or 1-based number ("1");
     * NULL: the format's own (user 1, item 2, rating 3, time 4 if present) */
    const char *user_col, *item_col, *rating_col, *time_col;
    int skip_bad;           /* 1: skip malformed lines and count them */
    size_t chunk;           /* the chunked reader (fast/reader.h): bytes read at a
                             * time; 0: FAST_CHUNK (tests use a few bytes to put
                             * lines across chunk boundaries); at most
                             * DATA_MAX_LINE + 1. The plain reader reads lines. */
    const char *cache;      /* NULL: no cache; "": FILE.embrec-cache beside the file;
                             * else the cache's path (fast/cache.h). The plain reader
                             * keeps none: it parses, and says so in the report. */
    struct data_user_items *user_items; /* NULL, or where to put each user's sorted
                             * items of every row of out after the read (what
                             * data_user_items_build gives for users->n users): a
                             * cache keeps them, so that loading one does not sort
                             * them again. Filled only when the read succeeds; the
                             * caller frees it. */
    int no_time;            /* 1: out keeps no timestamps (data_ratings_without_time:
                             * those of rows it held go too); the time column is
                             * still parsed and checked. Not with a cache, which
                             * stores and loads the file whole: then the times
                             * are kept. */
} data_read_opts;

data_read_opts data_read_defaults(void);

typedef enum {
    DATA_CACHE_OFF,         /* no cache was asked for */
    DATA_CACHE_LOADED,      /* the ratings came from a valid cache */
    DATA_CACHE_WRITTEN,     /* there was none: the file was parsed and a cache written */
    DATA_CACHE_REBUILT,     /* it was stale or damaged: parsed, and written again */
    DATA_CACHE_UNUSED       /* parsed; the cache could not be written, the path
                             * holds something else, left alone, or the reader
                             * keeps no cache (the plain reader) */
} data_cache_state;

typedef struct {
    data_format format;     /* the format used (after detection) */
    size_t lines;           /* data lines read (header excluded) */
    size_t skipped;         /* malformed lines skipped (skip_bad only) */
    char first_error[512];  /* the first skipped line's message, "" if none */
    data_cache_state cache; /* what opts.cache led to */
    char cache_note[1024];  /* one line saying why it was written, rebuilt or not
                             * used; "" when it was loaded or not asked for */
} data_read_report;

/* Read a ratings file, appending rows to out and ids to users/items (maps may
 * already hold ids, e.g. a test file read after its training file shares the
 * training maps). Text may be CRLF, may start with a UTF-8 BOM; CSV fields may
 * be quoted with doubled quotes inside. Spaces and tabs around a value are
 * ignored (a tab that is the delimiter still separates fields). path "-"
 * reads standard input. A line longer than DATA_MAX_LINE is an error even
 * with skip_bad. On failure no rows are added, though ids already interned
 * stay in the maps. report may be NULL. 0 or -1 with err.
 *
 * The options are checked here (an empty delimiter; a cache for standard
 * input, or for rows that keep no timestamps), then the installed reader
 * reads the file: by default the plain reader of data.c, a line at a time
 * through the ratings parser below. */
int data_read_ratings(const char *path, const data_read_opts *opts,
                      data_idmap *users, data_idmap *items, data_ratings *out,
                      data_read_report *report, data_error *err);

/* The seam through which fast/ plugs in a faster reader: one with this
 * contract, called with opts and report never NULL, the report zeroed and
 * the options checked. Every reader gives the same rows, ids in the same
 * order, report (but for what it says of a cache) and error messages for
 * the same file: the test suite reads every one of its ratings inputs with
 * the plain and the fast reader and compares them. */
typedef int (*data_ratings_reader)(const char *path, const data_read_opts *opts,
                                   data_idmap *users, data_idmap *items,
                                   data_ratings *out, data_read_report *report,
                                   data_error *err);
/* Install the reader data_read_ratings uses; NULL: the plain reader. The
 * one global setting in data.c: set it once at start, before any thread. */
void data_use_reader(data_ratings_reader reader);

/* ------------------------------------------------- the ratings parser
 * What every ratings reader shares, so that they all read a file alike:
 * the format, delimiter and header decided from the first non-empty line,
 * the columns resolved, each line split into fields and parsed strictly,
 * --skip-bad, and the wording of every error. A reader hands it text, whole
 * lines at a time: the plain reader one line, the chunked reader of
 * fast/reader.c a buffer of them (it parses the usual line itself, in one
 * pass, and hands any other to data_parse_row). Text is split in place
 * (fields NUL-terminated where they lie, quoted fields unquoted there), so
 * it must stay put until it is used up, with one writable byte after it.
 * Only a truly empty line ("" or "\r") is passed over silently. A NUL byte
 * stops the text before its line: the lines before it are read, then it is
 * the error. */

/* a field of the line just split */
typedef struct {
    char *s;     /* NUL-terminated in the text */
    size_t len;
} data_field;

/* The field splitter: one physical line at a time, at a delimiter of one
 * or more bytes, with RFC 4180 quoting (csv and delim) where asked. */
typedef struct {
    char *p, *end;       /* the text not yet split */
    const char *delim;   /* one or more bytes */
    size_t dlen;
    int quotes;          /* RFC 4180 quoting */
    data_field *f;       /* (fcap) grows to the widest line seen */
    size_t fcap, nf;     /* nf: fields on the line just split; 0 for an empty line */
    const char *why;     /* a quoting error on this line, else NULL */
    const char *bad;     /* the field it concerns */
    size_t bad_len;
} data_splitter;

/* One data line's values, before its ids are interned. */
typedef struct {
    int64_t user, item, time; /* time 0 when the file has none */
    double rating;
} data_ratings_row;

/* One read of a ratings file: the options, what the first line decided, and
 * where the splitter stands. */
typedef struct {
    const char *path;
    data_read_opts o;
    data_read_report *rep;
    data_error *err;
    data_splitter sp;         /* the text given, and where it stands */
    size_t line;              /* physical line number of the line last split */
    int begun;                /* text was given (a BOM is skipped only before) */
    int nul;                  /* the text given stops before a line with a NUL */
    data_format fmt;          /* the format, once detected */
    const char *delim;
    int header;               /* 1: the first line names the columns */
    int layout_default;       /* no user, item or rating column was chosen */
    long ucol, icol, rcol;    /* 0-based field of each column */
    long tcol;                /* likewise, or -1: the file has no timestamps */
    size_t need;              /* fields a line needs to hold every column */
    size_t width;             /* fields every line must have; 0 until known */
} data_ratings_parse;

/* a read of path with the options o (checked), reporting into rep (zeroed) */
void data_parse_init(data_ratings_parse *rd, const char *path, const data_read_opts *o,
                     data_read_report *rep, data_error *err);
void data_parse_free(data_ratings_parse *rd);
/* The file's first text [p, end): a UTF-8 BOM at its very start is skipped,
 * empty lines are counted; the first line with anything on it decides the
 * format, delimiter and header where the options leave them open, and the
 * header (if any) is read and the columns resolved. 1: done, rows may
 * follow (data_parse_row); 0: empty lines only, so the next text goes to
 * data_parse_start again; -1 with err. */
int data_parse_start(data_ratings_parse *rd, char *p, char *end);
/* the next text [p, end), once started */
void data_parse_text(data_ratings_parse *rd, char *p, char *end);
/* The next row: the text's next non-empty line split and parsed strictly
 * (every line as wide as the header or the first good line; ids and times
 * plain integers; ratings decimal and finite as a float). A malformed line
 * with skip_bad is counted and passed over. 1 with *row; 0 when the text
 * is used up; -1 with err (a malformed line, a NUL byte, no memory). */
int data_parse_row(data_ratings_parse *rd, data_ratings_row *row);
/* row appended to out, its ids interned in users and items; 0, or -1 with
 * err (no memory, more than 2^32 − 1 rows or 2^31 − 1 ids) */
int data_parse_add(data_ratings_parse *rd, data_idmap *users, data_idmap *items,
                   data_ratings *out, const data_ratings_row *row);
/* Once the file has ended, having added that many rows: 0, or, for none,
 * -1 with "no ratings" (and how many lines were skipped, and the first's
 * message). */
int data_parse_end(const data_ratings_parse *rd, size_t added);
/* "FILE:LINE: line longer than 1 MiB" for the line after the last one
 * parsed; -1 */
int data_parse_too_long(const data_ratings_parse *rd);

typedef struct {
    size_t n, users, items;
    float min, max;
    double mean;
    double density;         /* n / (users · items) */
} data_stats;

data_stats data_ratings_stats(const data_ratings *r, size_t n_users,
                              size_t n_items);

/* ------------------------------------------------------------- splits */

/* Keras fit(validation_split=frac): rows [0, split_at) train, [split_at, n)
 * validation, split_at = floor(n·(1−frac)), in the order given (Keras takes
 * the split BEFORE any epoch shuffling). frac in [0, 1). 0 or -1. */
int data_split_tail(const data_ratings *all, double frac,
                    data_ratings *train, data_ratings *val);
/* The same split without copying the training rows: *train becomes a view
 * of all's first split_at rows (cap 0: it owns nothing, never free it or
 * push to it; it is valid while all is), val a copy of the rest. Keeps
 * one copy of a large dataset in memory instead of two. 0 or -1. */
int data_split_tail_view(const data_ratings *all, double frac, data_ratings *train,
                         data_ratings *val);
/* seeded random holdout: exactly floor(n·frac) rows, chosen by a shuffle
 * with rng, go to test; both parts keep the original row order. 0 or -1. */
int data_split_random(const data_ratings *all, double frac, nn_rng *rng,
                      data_ratings *train, data_ratings *test);
/* permute rows in place (notebook 003 shuffles once before fitting), as
 * data_ratings_select with nn_rng_shuffle_u32's shuffle of 0..n−1 would,
 * without a copy of the rows or an index; 0 */
int data_ratings_shuffle(data_ratings *r, nn_rng *rng);
/* reorder rows in place so that row k becomes the old row perm[k]
 * (df.take(perm)), with one bit a row beside them; perm must be a
 * permutation of 0..n−1 (such as data_np_permutation's, formats/numpy.h).
 * 0 or -1 (no memory, bad perm: the rows are then as they were) */
int data_ratings_permute(data_ratings *r, const uint32_t *perm);

/* Which of a user's interactions at their latest timestamp is held out
 * when several share it (415 of ML-100K's 943 users have such ties): */
typedef enum {
    DATA_TIES_LAST,     /* the last of them in the file (a stable sort by time, then the tail) */
    DATA_TIES_FIRST,    /* the first of them in the file */
    DATA_TIES_MAX_ITEM, /* the one with the largest raw item id */
    DATA_TIES_RANDOM    /* one drawn at random, seeded */
} data_ties_rule;

typedef struct {
    data_ties_rule rule;
    const int64_t *item_raw; /* DATA_TIES_MAX_ITEM: each item row's raw id */
    uint64_t seed;           /* DATA_TIES_RANDOM */
} data_ties;

/* "last", "first", "max-item", "random"; 0, or -1 for another name */
int data_ties_parse(const char *name, data_ties_rule *rule);
const char *data_ties_name(data_ties_rule rule);
/* the rule in words, for the line beside a ranking table */
const char *data_ties_words(data_ties_rule rule);

/* Leave-latest-out (the NCF protocol): each user's latest interaction (the
 * largest timestamp; among equal ones as ties says, NULL: the last in the
 * file) goes to test, every other row to train, both in the original order.
 * Users with a single interaction keep it in train. 0 or -1. */
int data_split_latest(const data_ratings *all, size_t n_users, const data_ties *ties,
                      data_ratings *train, data_ratings *test);

/* A split that makes some users and items cold, for measuring what side
 * information is worth. A fraction cold_users of the users (chosen at
 * random) and cold_items of the items each keep only m of their ratings in
 * train, m drawn uniformly from 0..max_kept (0: a user or movie with no
 * training rating at all); their other ratings go to test. Of the rest,
 * each rating goes to test with probability test_frac. A rating of a cold
 * user and a cold item stays in train only if both have room for it.
 * Everything is drawn from rng. 0 or -1. */
int data_split_cold(const data_ratings *all, size_t n_users, size_t n_items, double test_frac,
                    double cold_users, double cold_items, size_t max_kept, nn_rng *rng,
                    data_ratings *train, data_ratings *test);

/* k-fold cross-validation (scikit-learn's KFold(k, shuffle=True)): the n
 * rows, in an order shuffled by rng, are cut into k runs, the first n mod k
 * of ⌈n/k⌉ rows and the others of ⌊n/k⌋; fold (n) gets each row's run, so
 * that every row is in exactly one fold. 1 ≤ k ≤ n. 0 or -1. */
int data_folds(size_t n, size_t k, nn_rng *rng, uint32_t *fold);
/* The rows whose fold is f go to test, the others to train, both in the
 * original order (train and test start empty). 0 or -1. */
int data_split_fold(const data_ratings *all, const uint32_t *fold, uint32_t f,
                    data_ratings *train, data_ratings *test);

/* Each user's items, sorted (compressed sparse rows): the items of user u
 * are item[start[u] .. start[u+1]). Duplicates are kept once. */
typedef struct data_user_items {
    uint32_t *start;    /* (U+1) */
    uint32_t *item;     /* (at most n) */
    size_t n_users;
    data_block *block;  /* NULL: malloc'ed; else they lie in it (a mapped
                         * cache), as data_ratings' columns may */
} data_user_items;

int data_user_items_build(data_user_items *ui, const data_ratings *r, size_t n_users);
void data_user_items_free(data_user_items *ui);
/* 1 when user u has item i (binary search), else 0 */
int data_user_items_has(const data_user_items *ui, uint32_t u, uint32_t i);

/* ---------------------------------------------------- movie metadata */

typedef struct {
    size_t n;
    int64_t *id;        /* (n) raw movie id */
    size_t *title;      /* (n) offset of the UTF-8 title in text */
    size_t *genres;     /* (n) offset of "Action|Comedy" in text ("" if none) */
    int *year;          /* (n) release year from the title "(1995)" or date; 0 if unknown */
    char *text;         /* every string, NUL-terminated, in one pool */
    size_t text_len, text_cap;
    data_idmap ids;     /* raw id -> row */
} data_movies;

void data_movies_init(data_movies *m);
void data_movies_free(data_movies *m);
/* u.item (pipe, Latin-1, 19 genre flags), movies.dat (::, Latin-1) or
 * movies.csv (header movieId,title,genres; quoted titles); detected from the
 * content. Latin-1 titles are converted to UTF-8. 0 or -1 with err. */
int data_read_movies(const char *path, data_movies *out, data_error *err);
const char *data_movie_title(const data_movies *m, size_t row);
const char *data_movie_genres(const data_movies *m, size_t row);
/* the row of a raw movie id, or -1 */
int32_t data_movie_find(const data_movies *m, int64_t raw_id);

/* Each item's genre string as one category (notebook 002: "Action|Comedy"
 * is its own id): item_genre[k] is the index, among the distinct strings in
 * sorted order, of the genres of the movie items->raw[k]; a movie missing
 * from the file counts as the string "". *n_genres gets the count. 0 or -1. */
int data_genre_index(const data_movies *m, const data_idmap *items,
                     uint32_t *item_genre, size_t *n_genres, data_error *err);

/* Find a movie by what a user types: a raw id ("2011"), or a title,
 * case-insensitively, preferring in turn an exact title, the title without
 * its year ("Back to the Future" for "Back to the Future (1985)"), a unique
 * prefix and a unique substring. 0 with *row set; -1 when nothing matches;
 * -2 when several do: cand[0..*n_cand) holds up to max_cand of them. */
int data_movie_match(const data_movies *m, const char *query, int32_t *row,
                     int32_t *cand, size_t max_cand, size_t *n_cand);
/* 1 when query occurs in text, ignoring ASCII case */
int data_text_contains(const char *text, const char *query);

/* (user, item) pairs to score, as raw ids with their line numbers */
typedef struct {
    int64_t *user, *item;
    size_t *line;
    size_t n, cap;
} data_pairs;

void data_pairs_init(data_pairs *p);
void data_pairs_free(data_pairs *p);
/* Lines "user,item" (also tab, ';', "::" or spaces between them, anything
 * after the second field ignored). The first non-empty line is a header
 * when both its fields are names, with a letter and no digit ("userId,movieId",
 * "user item"); any other line that does not parse, the first included
 * ("1,2x"), is an error. path "-" reads standard input. 0 or -1 with err
 * naming the file, the line and the value. */
int data_read_pairs(const char *path, data_pairs *out, data_error *err);
/* append one pair (line 0); 0 or -1 (no memory) */
int data_pairs_push_one(data_pairs *p, int64_t user, int64_t item);

/* ------------------------------------------------------ side information
 * User metadata (ML-100K u.user: id|age|gender|occupation|zip; ML-1M
 * users.dat: id::gender::age code::occupation code::zip) and movie tags
 * (tags.csv: userId,movieId,tag,timestamp), turned into FEATURES: named
 * categorical tokens such as "age:25-34", "gender:F", "occupation:writer",
 * "genre:Comedy", "year:1990s", "tag:dark comedy". Each user or item row
 * holds a list of feature ids (compressed sparse rows), which is all a
 * hybrid model needs. Age buckets follow ML-1M's codes: under 18, 18-24,
 * 25-34, 35-44, 45-49, 50-55, 56+; years are decades. */

typedef struct {
    size_t n;
    int64_t *id;          /* (n) raw user id */
    int *age;             /* (n) years (ML-100K), or ML-1M's code (1, 18, 25, ...); -1 unknown */
    char *gender;         /* (n) 'M', 'F' */
    size_t *occupation;   /* (n) offset of the occupation's name in text
                           * (ML-1M codes are mapped to their documented names) */
    size_t *zip;          /* (n) offset of the zip code in text */
    char *text;           /* every string, NUL-terminated, in one pool */
    size_t text_len, text_cap;
    data_idmap ids;       /* raw id -> row */
} data_users;

void data_users_init(data_users *u);
void data_users_free(data_users *u);
/* u.user or users.dat, detected from the content; 0 or -1 with err
 * naming file, line and value */
int data_read_users(const char *path, data_users *out, data_error *err);

/* The most common tags of each movie in tags.csv, normalised (lower case,
 * inner whitespace collapsed to one space, trimmed). */
typedef struct {
    size_t n;             /* movies with tags */
    int64_t *movie;       /* (n) raw movie id */
    uint32_t *start;      /* (n+1) their tags: tag[start[k] .. start[k+1]) */
    size_t *tag;          /* offsets of tag strings in text, most common first
                           * (ties: alphabetical) */
    char *text;
    size_t text_len, text_cap;
    data_idmap ids;       /* raw movie id -> k */
} data_tags;

void data_tags_init(data_tags *t);
void data_tags_free(data_tags *t);
/* keep at most top_n tags per movie (0: all); movies in ascending raw id;
 * a tag empty once normalised is skipped; 0 or -1 with err */
int data_read_tags(const char *path, size_t top_n, data_tags *out, data_error *err);

typedef struct {
    size_t n_rows;        /* users or items, in the order of the id map given */
    uint32_t *start;      /* (n_rows+1) row r's features: feature[start[r] .. start[r+1]) */
    uint32_t *feature;    /* feature ids, each < n_features, sorted, no repeats within a row */
    size_t n_features;
    size_t *name;         /* (n_features) offsets of "group:value" names in text */
    char *text;
    size_t text_len, text_cap;
} data_features;

void data_features_init(data_features *f);
void data_features_free(data_features *f);
/* dst = a copy of src, one allocation per array; 0 or -1 (no memory) */
int data_features_copy(data_features *dst, const data_features *src);
const char *data_feature_name(const data_features *f, size_t feature);
/* the age bucket of an age in years ("<18", "18-24", ..., "56+") */
const char *data_age_bucket(int age);
/* the id of a feature name, or -1 (a linear scan) */
int32_t data_feature_find(const data_features *f, const char *name);
/* User features for every row of users (the model's map), from a
 * comma-separated list of groups: "age", "gender", "occupation", "zip"
 * (the first digit: a US region). A user missing from meta gets no
 * features. An unknown group is an error naming it. 0 or -1. */
int data_user_features(const data_users *meta, const data_idmap *users, const char *groups,
                       data_features *out, data_error *err);
/* Item features from "genres" (each genre of the movie; "(no genres
 * listed)" and "unknown" give none), "year" (its decade, "year:unknown" for
 * year 0), "tags" (its top tags; tags may be NULL only if not asked for).
 * A movie missing from movies gets no genre or year features; its tag
 * features come from tags alone. Feature ids in order of first appearance. */
int data_item_features(const data_movies *movies, const data_tags *tags,
                       const data_idmap *items, const char *groups,
                       data_features *out, data_error *err);

/* ------------------------------------------ for the readers in formats/
 * The helpers of data.c's own readers that the file formats in formats/
 * (npy.c, orders.c) read with, so that every reader treats files alike. */

/* The whole file in one NUL-terminated buffer (*len excludes the NUL) for
 * the caller to free; "-" is standard input. max_line > 0: a text file,
 * whose lines are checked as it is read (at most max_line bytes, no NUL);
 * 0: a binary file. NULL with err. */
char *data_read_file(const char *path, size_t max_line, size_t *len, data_error *err);
/* s[0..len) as it may appear in an error message, into dst (cap ≥ 4): at
 * most 48 bytes, control characters shown as '?', "..." when cut */
const char *data_shown(char *dst, size_t cap, const char *s, size_t len);

#endif
