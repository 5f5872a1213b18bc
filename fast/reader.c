/* fast/reader.c — the chunked ratings reader: the speed machinery of
 * reading ratings, which fast_install plugs into data_read_ratings.
 *
 * The file is read a chunk at a time (1 MiB) into one reused buffer: the
 * complete lines of each chunk are parsed in place and the partial last line
 * moves to the front for the next read, so memory stays the columns plus the
 * buffer, and line numbers stay the file's. The row arrays are sized once,
 * from the file's size and the first chunk's lines, and given back what
 * they did not use. A plain line (unquoted numbers, the usual line) is
 * parsed in one pass, straight into the columns (MovieLens's layout of user,
 * item, rating and time by code written for it); any other line, malformed
 * ones included, goes to the ratings parser of data.c, which splits and
 * parses it strictly and words every error, so that this reader gives
 * exactly what the plain reader gives. Ids repeated from the previous row
 * skip the id map.
 *
 * What it deliberately does not do: decide anything about the format or
 * the columns (the parser does), or word an error of its own about the
 * text (only about reading the file).
 */
#define _POSIX_C_SOURCE 200809L
#include "fast/reader.h"

#include "fast/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The id last interned and its index: files are grouped by user, so most
 * lines repeat the previous user id and can skip the hash. */
typedef struct {
    int valid;
    int64_t raw;
    uint32_t index;
} last_id;

/* One read of a ratings file: the parser's state, and beside it what the
 * one-pass parse of plain lines keeps. */
typedef struct {
    data_ratings_parse parse;
    last_id last_u, last_i;   /* the ids of the previous row */
    int plain;                /* 1: lines may take plain_line (see there) */
    int movielens;            /* 1: and the layout is MovieLens's (see plain_line_ml) */
    size_t plain_width;       /* the width plain was decided for; 0: not yet */
    unsigned char role[16];   /* plain_line: what field k is (ROLE_*) */
} ratings_read;

/* what a field is to plain_line */
enum { ROLE_SKIP, ROLE_USER, ROLE_ITEM, ROLE_RATING, ROLE_TIME };

/* The dense index of raw in m, the previous row's id and small ids seen
 * before without the hash. 0, or -1 when it cannot be added (the parser's
 * data_parse_add then says why). */
static inline int intern_id(data_idmap *m, last_id *last, int64_t raw, uint32_t *index) {
    int32_t k;
    if (last->valid && raw == last->raw) {
        *index = last->index;
        return 0;
    }
    if ((uint64_t)raw < m->direct_cap && m->direct[raw] > 0) { /* a small id seen before */
        *index = (uint32_t)(m->direct[raw] - 1);
        return 0;
    }
    if ((k = data_idmap_intern(m, raw)) < 0) return -1;
    last->valid = 1;
    last->raw = raw;
    last->index = (uint32_t)k;
    *index = (uint32_t)k;
    return 0;
}

/* Decide, once the width is known, whether plain_line may be tried: a
 * delimiter that cannot be part of a number or a line end, at most 16
 * fields, and no field read as two columns. */
static void plain_setup(ratings_read *rd) {
    const char *d;
    size_t k;
    rd->plain_width = rd->parse.width;
    rd->plain = rd->parse.width <= sizeof rd->role;
    for (d = rd->parse.delim; *d; d++)
        if (strchr("0123456789+-.\r\n\"", *d)) rd->plain = 0;
    memset(rd->role, ROLE_SKIP, sizeof rd->role);
    if (!rd->plain) return;
    rd->role[rd->parse.ucol] = ROLE_USER;
    if (rd->role[rd->parse.icol] != ROLE_SKIP) rd->plain = 0;
    rd->role[rd->parse.icol] = ROLE_ITEM;
    if (rd->role[rd->parse.rcol] != ROLE_SKIP) rd->plain = 0;
    rd->role[rd->parse.rcol] = ROLE_RATING;
    if (rd->parse.tcol >= 0) {
        if (rd->role[rd->parse.tcol] != ROLE_SKIP) rd->plain = 0;
        rd->role[rd->parse.tcol] = ROLE_TIME;
    }
    for (k = 0; k < sizeof rd->role; k++) /* columns beyond the width: not plain */
        if (k >= rd->parse.width && rd->role[k] != ROLE_SKIP) rd->plain = 0;
    rd->movielens = rd->plain && rd->parse.width == 4 && rd->parse.ucol == 0 &&
                    rd->parse.icol == 1 && rd->parse.rcol == 2 && rd->parse.tcol == 3;
}

/* Is p at the delimiter? It has no '\n', so the compare stops at a line's end. */
static int plain_delim(const char *p, const char *delim) {
    for (; *delim; p++, delim++)
        if (*p != *delim) return 0;
    return 1;
}

/* p past the delimiter it is at, or NULL when it is at none */
static inline const char *plain_past_delim(const char *p, const char *delim, size_t dlen) {
    if (*p != delim[0] || (dlen > 1 && !plain_delim(p, delim))) return NULL;
    return p + dlen;
}

/* An integer field of a plain line at p: an optional sign and 1 to 18
 * digits (below 10^18, so it fits). The end, or NULL for anything else. */
static inline const char *plain_int(const char *p, int64_t *out) {
    const char *q;
    uint64_t v = 0;
    unsigned d;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    for (q = p; (d = (unsigned)((unsigned char)*p - '0')) <= 9; p++) v = v * 10 + d;
    if (p == q || p - q > 18) return NULL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return p;
}

/* A rating field of a plain line at p: an optional sign, digits with an
 * optional point, 1 to 15 digits in all, computed as m / 10^k as
 * parse_number computes it (correctly rounded: m and 10^k are exact). The
 * end, or NULL for anything else. */
static inline const char *plain_rating(const char *p, double *out) {
    static const double pow10[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char *q;
    uint64_t v = 0;
    size_t digits, frac = 0;
    unsigned d;
    int neg = 0;
    double r;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    for (q = p; (d = (unsigned)((unsigned char)*p - '0')) <= 9; p++) v = v * 10 + d;
    digits = (size_t)(p - q);
    if (*p == '.')
        for (p++; (d = (unsigned)((unsigned char)*p - '0')) <= 9; p++, frac++) v = v * 10 + d;
    digits += frac;
    if (digits == 0 || digits > 15) return NULL;
    r = (double)v / pow10[frac];
    *out = neg ? -r : r;
    return p;
}

/* p past the line end ("\n" or "\r\n") it is at, or NULL */
static inline const char *plain_past_end(const char *p) {
    if (*p == '\r') p++;
    return *p == '\n' ? p + 1 : NULL;
}

/* The usual line, parsed straight from the text in one pass instead of split
 * and then parsed: exactly `width` fields, none quoted, integers of at most
 * 18 digits (with an optional sign) and a rating of at most 15 digits with
 * an optional point and sign, the line ending in "\n" or "\r\n". These give
 * the values the strict parsers of data.c (parse_i64, parse_number) give;
 * such a rating is below 10^15, so it needs none of parse_line's check that
 * it fits in a float. The line past its end, with *ln filled; NULL when the
 * line is anything else (blanks around a value too): the ratings parser
 * then splits and parses it (and words any error). The line must end in
 * '\n' before the text does (the last line of a file gets one written after
 * it), so no scan runs past it. */
static const char *plain_line(const ratings_read *rd, const char *p, data_ratings_row *ln) {
    const char *delim = rd->parse.delim;
    const size_t dlen = rd->parse.sp.dlen, width = rd->parse.width;
    size_t col;
    ln->time = 0;
    for (col = 0; col < width && p; col++) {
        switch (rd->role[col]) {
        case ROLE_USER: p = plain_int(p, &ln->user); break;
        case ROLE_ITEM: p = plain_int(p, &ln->item); break;
        case ROLE_TIME: p = plain_int(p, &ln->time); break;
        case ROLE_RATING: p = plain_rating(p, &ln->rating); break;
        default:
            if (rd->parse.sp.quotes && *p == '"') return NULL;
            while (*p != '\n' && !(*p == delim[0] && plain_delim(p, delim))) p++;
        }
        if (p) p = col + 1 < width ? plain_past_delim(p, delim, dlen) : plain_past_end(p);
    }
    return p;
}

/* plain_line for MovieLens's layout, which every MovieLens ratings file
 * has (user, item, rating, time, as in u.data, ratings.dat and
 * ratings.csv), written out field by field: the general loop's choice of
 * what each field is costs more than the field itself. */
static inline const char *plain_line_ml(const ratings_read *rd, const char *p,
                                        data_ratings_row *ln) {
    const char *delim = rd->parse.delim;
    const size_t dlen = rd->parse.sp.dlen;
    if ((p = plain_int(p, &ln->user)) == NULL || !(p = plain_past_delim(p, delim, dlen)) ||
        !(p = plain_int(p, &ln->item)) || !(p = plain_past_delim(p, delim, dlen)) ||
        !(p = plain_rating(p, &ln->rating)) || !(p = plain_past_delim(p, delim, dlen)) ||
        !(p = plain_int(p, &ln->time)))
        return NULL;
    return plain_past_end(p);
}

/* Plain lines from the splitter's place on, appended to out with their ids
 * interned, until a line that is not plain, an id that cannot be added or
 * full arrays (which the parser then deals with, and words). The row
 * count and the arrays are held in locals: rows are stored where a
 * pointer's store could otherwise change them. The rows added. */
static size_t plain_rows(ratings_read *rd, data_idmap *users, data_idmap *items,
                         data_ratings *out) {
    data_ratings_parse *ps = &rd->parse;
    const size_t n0 = out->n, cap = out->cap < UINT32_MAX ? out->cap : UINT32_MAX;
    const char *p = ps->sp.p, *end = ps->sp.end;
    uint32_t *user = out->user, *item = out->item;
    float *rating = out->rating;
    int64_t *time = out->time; /* NULL: none kept (no_time) */
    size_t n = n0;
    while (n < cap && p < end) {
        data_ratings_row ln;
        uint32_t ui, ii;
        const char *next = rd->movielens ? plain_line_ml(rd, p, &ln) : plain_line(rd, p, &ln);
        if (!next || intern_id(users, &rd->last_u, ln.user, &ui) != 0 ||
            intern_id(items, &rd->last_i, ln.item, &ii) != 0)
            break; /* the parser reads this line again, and says what is wrong */
        user[n] = ui;
        item[n] = ii;
        rating[n] = (float)ln.rating;
        if (time) time[n] = ln.time;
        n++;
        p = next;
    }
    ps->sp.p = (char *)p;
    ps->line += n - n0;
    ps->rep->lines += n - n0;
    out->n = n;
    return n - n0;
}

/* Every line left in the parser's text, appended to out as rows: plain
 * lines by plain_rows, any other by the parser. 0 or -1 with err. */
static int read_rows(ratings_read *rd, data_idmap *users, data_idmap *items,
                     data_ratings *out) {
    data_ratings_parse *ps = &rd->parse;
    data_ratings_row row;
    int s;
    for (;;) {
        if (ps->width != rd->plain_width) plain_setup(rd);
        if (rd->plain && plain_rows(rd, users, items, out) > 0) continue;
        if ((s = data_parse_row(ps, &row)) <= 0) return s; /* 0: the text is used up */
        if (data_parse_add(ps, users, items, out, &row) != 0) return -1;
    }
}

/* ------------------------------------------------------ reserving rows */


/* Give back a large unused tail of the arrays (an estimate's spare rows);
 * a failed shrink keeps the larger arrays. */
static void ratings_shrink(data_ratings *r) {
    size_t want = r->n ? r->n : 1;
    void *p;
    if (r->block || r->cap - r->n <= r->n / 16 + 4096) return; /* a block's are not realloc's */
    if ((p = realloc(r->user, want * sizeof *r->user))) r->user = p;
    if ((p = realloc(r->item, want * sizeof *r->item))) r->item = p;
    if ((p = realloc(r->rating, want * sizeof *r->rating))) r->rating = p;
    if (r->time && (p = realloc(r->time, want * sizeof *r->time))) r->time = p;
    r->cap = want; /* each array is at least want long, shrunk or not */
}


/* ------------------------------------------------- reading in chunks */

/* A file read a chunk at a time into one buffer: the complete lines of each
 * chunk are parsed in place, then the partial line at its end is moved to
 * the front and the rest of the buffer filled again. */
typedef struct {
    const char *path;
    int fd;                /* standard input when path is "-" */
    char *buf;             /* cap bytes, plus 1 for the splitter's last NUL */
    size_t cap, len;       /* bytes held */
    int eof;               /* the last read returned nothing */
    struct stat st;        /* the file as opened */
    uint64_t offset;       /* file offset of buf[0] */
} chunk_reader;

/* The buffer never grows beyond room for the longest line allowed and its
 * '\n': a buffer that size holding one unfinished line holds a line too long. */
#define CHUNK_MAX_CAP (DATA_MAX_LINE + 1)

static int chunk_open(chunk_reader *cr, const char *path, size_t chunk, data_error *err) {
    memset(cr, 0, sizeof *cr);
    cr->path = path;
    cr->cap = chunk ? chunk : FAST_CHUNK;
    if (cr->cap > CHUNK_MAX_CAP) cr->cap = CHUNK_MAX_CAP;
    cr->fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
    if (cr->fd < 0) {
        data_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(cr->fd, &cr->st) != 0) memset(&cr->st, 0, sizeof cr->st);
#if defined(POSIX_FADV_SEQUENTIAL)
    if (S_ISREG(cr->st.st_mode)) posix_fadvise(cr->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    if (cr->cap > SIZE_MAX / 2 || !(cr->buf = malloc(cr->cap + 1))) {
        data_errorf(err, "%s: out of memory reading the file", path);
        if (cr->fd != STDIN_FILENO) close(cr->fd);
        return -1;
    }
    return 0;
}

static void chunk_close(chunk_reader *cr) {
    if (cr->fd >= 0 && cr->fd != STDIN_FILENO) close(cr->fd);
    cr->fd = -1;
    free(cr->buf);
    cr->buf = NULL;
}

/* Drop the first `used` bytes, keep the rest at the front, and read until
 * the buffer is full or the file ends. A buffer already full of one
 * unfinished line is doubled first, up to CHUNK_MAX_CAP (the caller stops
 * before asking for more). 0 or -1 with err. */
static int chunk_fill(chunk_reader *cr, size_t used, data_error *err) {
    if (used) memmove(cr->buf, cr->buf + used, cr->len - used);
    cr->len -= used;
    cr->offset += used;
    if (cr->len == cr->cap && cr->cap < CHUNK_MAX_CAP) {
        size_t cap = cr->cap < CHUNK_MAX_CAP / 2 ? cr->cap * 2 : CHUNK_MAX_CAP;
        char *nb = realloc(cr->buf, cap + 1);
        if (!nb) {
            data_errorf(err, "%s: out of memory reading the file", cr->path);
            return -1;
        }
        cr->buf = nb;
        cr->cap = cap;
    }
    while (cr->len < cr->cap && !cr->eof) {
        ssize_t got = read(cr->fd, cr->buf + cr->len, cr->cap - cr->len);
        if (got < 0) {
            if (errno == EINTR) continue;
            data_errorf(err, "%s: read error: %s", cr->path, strerror(errno));
            return -1;
        }
        if (got == 0) cr->eof = 1;
        cr->len += (size_t)got;
    }
    return 0;
}

/* Bytes of the buffer that hold whole lines: up to the last newline, or
 * everything once the file has ended; 0 when no line is complete yet. */
static size_t chunk_lines(const chunk_reader *cr) {
    size_t n = cr->len;
    if (cr->eof) return n;
    while (n > 0 && cr->buf[n - 1] != '\n') n--;
    return n;
}

/* Size the row arrays once, for the rows of the whole file, from the first
 * chunk's lines [p, end) at file offset `at`: exactly when the chunk is the
 * whole file, else scaled by the bytes left, with a tenth to spare (pages
 * never written cost nothing); a pipe grows by doubling. out never holds
 * more than 2^32 − 1 rows. 0 or -1. */
static int reserve_rows(data_ratings *out, const chunk_reader *cr, const char *p,
                        const char *end, uint64_t at) {
    double lines = (double)data_count_lines(p, end), want = lines;
    size_t most;
    if (!cr->eof && S_ISREG(cr->st.st_mode) && end > p &&
        (uint64_t)cr->st.st_size > at + (uint64_t)(end - p))
        want = lines * (double)((uint64_t)cr->st.st_size - at) / (double)(end - p) * 1.1 + 64;
    most = out->n >= (size_t)UINT32_MAX ? 0 : (size_t)UINT32_MAX - out->n;
    return data_ratings_reserve_exact(out, out->n + (want < (double)most ? (size_t)want : most));
}

/* Read the file chunk by chunk: the parser decides the layout from the
 * first non-empty line and reads the header, then every line is a row.
 * 0 or -1 with err. */
static int read_ratings_chunks(ratings_read *rd, chunk_reader *cr, data_idmap *users,
                               data_idmap *items, data_ratings *out) {
    data_ratings_parse *ps = &rd->parse;
    size_t used = 0, n0 = out->n;
    int started = 0, s;
    for (;;) {
        char *p, *end;
        size_t whole;
        if (chunk_fill(cr, used, ps->err) != 0) return -1;
        used = 0;
        whole = chunk_lines(cr);
        if (whole == 0 && !cr->eof) { /* one line fills the buffer: widen it */
            if (cr->cap < CHUNK_MAX_CAP) continue;
            return data_parse_too_long(ps);
        }
        p = cr->buf;
        end = cr->buf + whole;
        if (cr->eof) *end = '\n'; /* plain_line's stop after a last line without one */
        if (started) {
            data_parse_text(ps, p, end);
        } else if ((s = data_parse_start(ps, p, end)) < 0) {
            return -1;
        } else if (s > 0) {
            if (reserve_rows(out, cr, ps->sp.p, ps->sp.end,
                             cr->offset + (uint64_t)(ps->sp.p - cr->buf)) != 0) {
                data_errorf(ps->err, "%s: out of memory", ps->path);
                return -1;
            }
            started = 1;
        }
        if (started && read_rows(rd, users, items, out) != 0) return -1;
        used = whole;
        if (cr->eof) break;
    }
    if (data_parse_end(ps, out->n - n0) != 0) return -1;
    ratings_shrink(out);
    return 0;
}

int fast_parse_ratings(const char *path, const data_read_opts *o, data_idmap *users,
                       data_idmap *items, data_ratings *out, data_read_report *rep,
                       struct stat *st, data_error *err) {
    ratings_read rd;
    chunk_reader cr;
    size_t n0 = out->n;
    int rc;
    memset(&rd, 0, sizeof rd);
    data_parse_init(&rd.parse, path, o, rep, err);
    if (chunk_open(&cr, path, o->chunk, err) != 0) return -1;
    if (st) *st = cr.st;
    rc = read_ratings_chunks(&rd, &cr, users, items, out);
    if (rc != 0) out->n = n0; /* no rows on failure; interned ids stay */
    data_parse_free(&rd.parse);
    chunk_close(&cr);
    return rc;
}

int fast_read_ratings(const char *path, const data_read_opts *opts, data_idmap *users,
                      data_idmap *items, data_ratings *out, data_read_report *report,
                      data_error *err) {
    if (opts->cache) return fast_cache_read(path, opts, users, items, out, report, err);
    return fast_parse_ratings(path, opts, users, items, out, report, NULL, err);
}
