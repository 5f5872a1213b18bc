/* data.c — reading ratings and movie metadata, id maps, splits, and the
 * synthetic MovieLens-shaped generator.
 *
 * Every reader loads the whole file into one buffer and parses it in place:
 * fields are NUL-terminated where they lie (quoted CSV fields are unquoted in
 * place) and the arrays are reserved from the file's line count, so nothing
 * is allocated per line. Parsing is strict: ids and timestamps are plain
 * integers (optional sign, digits only, no spaces) that fit in 64 bits;
 * ratings are finite decimal numbers; every line has exactly as many fields
 * as the header (or, without one, the first good data line). A malformed line
 * is an error naming file, physical line and value, or, with skip_bad, is
 * skipped and counted. Only a truly empty line ("" or "\r") is passed over
 * silently; a line of spaces is malformed. On failure no rows are added to
 * the output, though ids already interned stay in the maps.
 *
 * Movie titles: a file that is valid UTF-8 is kept as it is, anything else
 * is read as Latin-1 (u.item, movies.dat) and converted; trailing spaces are
 * trimmed; genres are kept as written ("(no genres listed)" included).
 *
 * What it deliberately does not do: read stdin or compressed files, accept
 * newlines inside quoted fields, detect other encodings, or know anything
 * about models. It keeps no global state; randomness comes from the caller's
 * nn_rng.
 */
#define _POSIX_C_SOURCE 200809L
#include "data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ============================================================ errors */

void data_errorf(data_error *err, const char *fmt, ...) {
    va_list ap;
    if (!err) return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* snprintf that truncates quietly (messages longer than their buffer are cut) */
static void text_printf(char *dst, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void text_printf(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* A field as it may appear inside an error message: at most 48 bytes,
 * control characters shown as '?', "..." when cut. */
static const char *shown(char *dst, size_t cap, const char *s, size_t len) {
    size_t i, k = 0, max = cap - 4 < 48 ? cap - 4 : 48;
    for (i = 0; i < len && k < max; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[k++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (i < len) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = '\0';
    return dst;
}

/* ==================================================== reading a file */

/* The whole file in one NUL-terminated buffer (*len excludes the NUL). */
static char *read_file(const char *path, size_t *len, data_error *err) {
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *buf;
    long sz;
    if (!f) {
        data_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* size it from the file when we can; grow when we cannot (pipes) */
    if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (unsigned long)sz < (unsigned long)(SIZE_MAX / 2))
        cap = (size_t)sz + 1; /* one spare byte, so a full read means EOF */
    buf = malloc(cap + 1);
    if (!buf) goto oom;
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        {
            char *nb;
            if (cap > SIZE_MAX / 4) goto oom;
            nb = realloc(buf, cap * 2 + 1);
            if (!nb) goto oom;
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        data_errorf(err, "%s: read error: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
oom:
    data_errorf(err, "%s: out of memory reading the file", path);
    free(buf);
    fclose(f);
    return NULL;
}

static size_t skip_bom(const char *buf, size_t len) {
    return len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
                   (unsigned char)buf[2] == 0xBF
               ? 3
               : 0;
}

static size_t count_lines(const char *p, const char *end) {
    size_t n = 1;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* ====================================================== field splitter */

typedef struct {
    char *s;     /* NUL-terminated in the buffer */
    size_t len;
} field;

typedef struct {
    char *p, *end;       /* the text not yet split */
    const char *delim;   /* one or more bytes */
    size_t dlen;
    int quotes;          /* RFC 4180 quoting */
    field *f;            /* (fcap) grows to the widest line seen */
    size_t fcap, nf;     /* nf: fields on the line just split; 0 for an empty line */
    const char *why;     /* a quoting error on this line, else NULL */
    const char *bad;     /* the field it concerns */
    size_t bad_len;
} splitter;

static void splitter_init(splitter *sp, char *p, char *end, const char *delim, int quotes) {
    memset(sp, 0, sizeof *sp);
    sp->p = p;
    sp->end = end;
    sp->delim = delim;
    sp->dlen = strlen(delim);
    sp->quotes = quotes;
}

static int at_delim(const splitter *sp, const char *p) {
    return p < sp->end && *p == sp->delim[0] &&
           (sp->dlen == 1 || ((size_t)(sp->end - p) >= sp->dlen &&
                              memcmp(p, sp->delim, sp->dlen) == 0));
}

/* Past the end of the physical line that contains p. */
static char *line_after(char *p, char *end) {
    char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    return nl ? nl + 1 : end;
}

/* Split the next physical line. 1: a line (nf = 0 when it is truly empty;
 * why != NULL on a quoting error, the rest of the line skipped); 0: no text
 * left; -1: out of memory. The buffer needs one writable byte at end. */
static int split_next(splitter *sp) {
    char *p = sp->p, *end = sp->end;
    const char d0 = sp->delim[0];
    sp->nf = 0;
    sp->why = NULL;
    if (p >= end) return 0;
    if (*p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'))) {
        sp->p = line_after(p, end);
        return 1;
    }
    for (;;) {
        char *start = p, *fend;
        int line_end;
        if (sp->quotes && *p == '"') {
            char *r = p + 1, *w = p;
            int closed = 0;
            while (r < end) {
                if (*r == '"') {
                    if (r + 1 < end && r[1] == '"') {
                        *w++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    closed = 1;
                    break;
                }
                if (*r == '\n') break;
                *w++ = *r++;
            }
            sp->bad = start;
            sp->bad_len = (size_t)(w - start);
            if (!closed) {
                sp->why = r < end ? "quoted field runs past the end of the line"
                                  : "quoted field is never closed";
                sp->p = line_after(r, end);
                return 1;
            }
            p = r;
            if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n')) p++;
            line_end = p >= end || *p == '\n';
            if (!line_end && !at_delim(sp, p)) {
                sp->why = "text after the closing quote";
                sp->p = line_after(p, end);
                return 1;
            }
            fend = w;
        } else {
            if (sp->dlen == 1)
                while (p < end && *p != d0 && *p != '\n') p++;
            else
                while (p < end && *p != '\n' && !at_delim(sp, p)) p++;
            fend = p;
            line_end = p >= end || *p == '\n';
            if (line_end && fend > start && fend[-1] == '\r') fend--;
        }
        if (sp->nf == sp->fcap) {
            size_t cap = sp->fcap ? sp->fcap * 2 : 16;
            field *nf = realloc(sp->f, cap * sizeof *nf);
            if (!nf) return -1;
            sp->f = nf;
            sp->fcap = cap;
        }
        sp->f[sp->nf].s = start;
        sp->f[sp->nf].len = (size_t)(fend - start);
        sp->nf++;
        *fend = '\0'; /* over the delimiter, '\r', '\n' or the spare byte at end */
        if (line_end) {
            sp->p = p < end ? p + 1 : end;
            return 1;
        }
        p += sp->dlen;
    }
}

/* ====================================================== number parsing */

/* Strict decimal integer: optional sign, then digits only. 0, -1 (not an
 * integer) or -2 (does not fit in int64). */
static int parse_i64(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len) return -1;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (len - i <= 18) { /* < 10^18: cannot overflow, the usual case */
        for (; i < len; i++) {
            unsigned d = (unsigned)((unsigned char)s[i] - '0');
            if (d > 9) return -1;
            v = v * 10 + d;
        }
    }
    for (; i < len; i++) {
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9) return -1;
        if (v > (limit - d) / 10) {
            for (i++; i < len; i++)
                if ((unsigned)((unsigned char)s[i] - '0') > 9) return -1;
            return -2;
        }
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

/* A finite decimal number in a NUL-terminated field. "4", "3.5", "-0.25",
 * "1e3" are numbers; "", " 4", "4 ", "nan", "inf", "0x1p2", "4,5" are not.
 * Plain forms with at most 15 significant digits are computed as m / 10^k,
 * which is correctly rounded (m and 10^k are exact doubles), hence equal to
 * strtod; anything else goes through strtod. 0, -1 (not a number) or
 * -2 (overflows to infinity). */
static int parse_number(const char *s, size_t len, double *out) {
    static const double pow10[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t i = 0, digits = 0, frac = 0;
    int neg = 0;
    uint64_t m = 0;
    char *endp;
    double v;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    for (; i < len && (unsigned)((unsigned char)s[i] - '0') <= 9; i++, digits++)
        m = m * 10 + (uint64_t)(s[i] - '0');
    if (i < len && s[i] == '.')
        for (i++; i < len && (unsigned)((unsigned char)s[i] - '0') <= 9; i++, digits++, frac++)
            m = m * 10 + (uint64_t)(s[i] - '0');
    if (i == len && digits > 0 && digits <= 15) {
        v = (double)m / pow10[frac];
        *out = neg ? -v : v;
        return 0;
    }
    /* exponents and long mantissas: only decimal characters reach strtod */
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
            return -1;
    }
    if (len == 0) return -1;
    errno = 0;
    v = strtod(s, &endp);
    if (endp != s + len) return -1;
    if (!isfinite(v)) return -2;
    *out = v;
    return 0;
}

/* ============================================================= id maps */

void data_idmap_init(data_idmap *m) { memset(m, 0, sizeof *m); }

void data_idmap_free(data_idmap *m) {
    free(m->raw);
    free(m->table);
    data_idmap_init(m);
}

/* Multiply by 2^64/φ, then fold the well-mixed high half onto the low bits
 * the mask keeps: consecutive ids (the common case) spread evenly. */
static size_t idmap_slot(int64_t raw, size_t mask) {
    uint64_t h = (uint64_t)raw * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ (h >> 32)) & mask;
}

static int idmap_grow(data_idmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 64, i;
    int32_t *t;
    if (cap > SIZE_MAX / sizeof *t) return -1;
    t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (i = 0; i < m->n; i++) {
        size_t s = idmap_slot(m->raw[i], cap - 1);
        while (t[s]) s = (s + 1) & (cap - 1);
        t[s] = (int32_t)(i + 1);
    }
    free(m->table);
    m->table = t;
    m->cap = cap;
    return 0;
}

int32_t data_idmap_find(const data_idmap *m, int64_t raw) {
    size_t s, mask;
    if (!m->cap) return -1;
    mask = m->cap - 1;
    for (s = idmap_slot(raw, mask); m->table[s]; s = (s + 1) & mask)
        if (m->raw[m->table[s] - 1] == raw) return m->table[s] - 1;
    return -1;
}

int32_t data_idmap_intern(data_idmap *m, int64_t raw) {
    size_t s, mask;
    int32_t found = data_idmap_find(m, raw);
    if (found >= 0) return found;
    if (m->n >= (size_t)INT32_MAX) return -1;
    if ((m->n + 1) * 2 > m->cap && idmap_grow(m) != 0) return -1; /* load ≤ 50% */
    if (m->n == m->raw_cap) {
        size_t cap = m->raw_cap ? m->raw_cap * 2 : 64;
        int64_t *r = realloc(m->raw, cap * sizeof *r);
        if (!r) return -1;
        m->raw = r;
        m->raw_cap = cap;
    }
    mask = m->cap - 1;
    for (s = idmap_slot(raw, mask); m->table[s]; s = (s + 1) & mask) {
    }
    m->raw[m->n] = raw;
    m->table[s] = (int32_t)(m->n + 1);
    return (int32_t)m->n++;
}

/* ============================================================= ratings */

void data_ratings_init(data_ratings *r) { memset(r, 0, sizeof *r); }

void data_ratings_free(data_ratings *r) {
    free(r->user);
    free(r->item);
    free(r->rating);
    free(r->time);
    data_ratings_init(r);
}

/* capacity for at least want rows; 0 or -1 */
static int ratings_reserve(data_ratings *r, size_t want) {
    size_t cap = r->cap ? r->cap : 1024;
    void *p;
    if (want <= r->cap) return 0;
    while (cap < want) {
        if (cap > SIZE_MAX / 2 / sizeof(int64_t)) return -1;
        cap *= 2;
    }
    /* each array is replaced as soon as it grows, so a failure part-way
     * leaves every array at least r->cap long and the struct consistent */
    if (!(p = realloc(r->user, cap * sizeof *r->user))) return -1;
    r->user = p;
    if (!(p = realloc(r->item, cap * sizeof *r->item))) return -1;
    r->item = p;
    if (!(p = realloc(r->rating, cap * sizeof *r->rating))) return -1;
    r->rating = p;
    if (!(p = realloc(r->time, cap * sizeof *r->time))) return -1;
    r->time = p;
    r->cap = cap;
    return 0;
}

int data_ratings_push(data_ratings *r, uint32_t user, uint32_t item, float rating,
                      int64_t time) {
    if (r->n == r->cap && ratings_reserve(r, r->n + 1) != 0) return -1;
    r->user[r->n] = user;
    r->item[r->n] = item;
    r->rating[r->n] = rating;
    r->time[r->n] = time;
    r->n++;
    return 0;
}

int data_ratings_select(data_ratings *dst, const data_ratings *src, const uint32_t *idx,
                        size_t n) {
    size_t k;
    if (dst == src) return -1;
    for (k = 0; k < n; k++)
        if (idx[k] >= src->n) return -1;
    if (ratings_reserve(dst, n) != 0) return -1;
    for (k = 0; k < n; k++) {
        uint32_t i = idx[k];
        dst->user[k] = src->user[i];
        dst->item[k] = src->item[i];
        dst->rating[k] = src->rating[i];
        dst->time[k] = src->time[i];
    }
    dst->n = n;
    return 0;
}

/* dst = rows [from, to) of src */
static int ratings_copy_range(data_ratings *dst, const data_ratings *src, size_t from, size_t to) {
    size_t n = to - from;
    if (ratings_reserve(dst, n) != 0) return -1;
    if (n) {
        memcpy(dst->user, src->user + from, n * sizeof *dst->user);
        memcpy(dst->item, src->item + from, n * sizeof *dst->item);
        memcpy(dst->rating, src->rating + from, n * sizeof *dst->rating);
        memcpy(dst->time, src->time + from, n * sizeof *dst->time);
    }
    dst->n = n;
    return 0;
}

/* ============================================================ formats */

const char *data_format_name(data_format f) {
    switch (f) {
    case DATA_FMT_AUTO: return "auto";
    case DATA_FMT_UDATA: return "udata";
    case DATA_FMT_DAT: return "dat";
    case DATA_FMT_CSV: return "csv";
    case DATA_FMT_DELIM: return "delim";
    }
    return "?";
}

int data_format_parse(const char *name, data_format *f) {
    static const data_format all[] = {DATA_FMT_AUTO, DATA_FMT_UDATA, DATA_FMT_DAT,
                                      DATA_FMT_CSV, DATA_FMT_DELIM};
    size_t i;
    for (i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, data_format_name(all[i])) == 0) {
            *f = all[i];
            return 0;
        }
    return -1;
}

data_read_opts data_read_defaults(void) {
    data_read_opts o;
    memset(&o, 0, sizeof o);
    o.format = DATA_FMT_AUTO;
    o.delim = NULL;
    o.header = -1;
    o.user_col = o.item_col = o.rating_col = o.time_col = NULL;
    o.skip_bad = 0;
    return o;
}

/* ===================================================== reading ratings */

typedef struct {
    const char *path;
    int skip_bad;
    data_read_report *rep;
    data_error *err;
} read_ctx;

/* A malformed line: with skip_bad count it (and keep the first message) and
 * return 0 to go on; else fill err and return -1. */
static int bad_line(read_ctx *c, size_t line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int bad_line(read_ctx *c, size_t line, const char *fmt, ...) {
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->skip_bad) {
        if (c->rep->skipped++ == 0)
            text_printf(c->rep->first_error, sizeof c->rep->first_error, "%s:%zu: %s",
                        c->path, line, what);
        return 0;
    }
    data_errorf(c->err, "%s:%zu: %s", c->path, line, what);
    return -1;
}

/* the first field of a line, quotes stripped, in a small NUL-terminated copy */
static void first_field(char *dst, size_t cap, const char *p, const char *eol,
                        const char *delim) {
    size_t dlen = strlen(delim), n = 0;
    const char *q = p;
    while (q < eol && !((size_t)(eol - q) >= dlen && memcmp(q, delim, dlen) == 0)) q++;
    if (q > p && q[-1] == '\r') q--;
    if (q - p >= 2 && *p == '"' && q[-1] == '"') {
        p++;
        q--;
    }
    while (p < q && n + 1 < cap) dst[n++] = *p++;
    dst[n] = '\0';
}

static int is_number_text(const char *s) {
    double v;
    return parse_number(s, strlen(s), &v) == 0;
}

/* "all digits" → 1-based column number; anything else is a header name */
static int column_number(const char *spec, size_t *num) {
    const char *s = spec;
    size_t v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        if (v > (SIZE_MAX - 9) / 10) return 0;
        v = v * 10 + (size_t)(*s - '0');
    }
    *num = v;
    return 1;
}

static int name_eq_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z') y += 'a' - 'A';
        if (x != y) return 0;
    }
    return *a == *b;
}

/* the header's names, comma-separated, for error messages */
static void header_list(char *dst, size_t cap, const field *h, size_t nh) {
    size_t i, k = 0;
    dst[0] = '\0';
    for (i = 0; i < nh && k + 1 < cap; i++) {
        int w = snprintf(dst + k, cap - k, "%s%s", i ? ", " : "", h[i].s);
        if (w < 0) break;
        k += (size_t)w;
    }
}

/* Resolve one column spec to a 0-based index (or -1 for "none" when the
 * spec is NULL and dflt is -1). 0 or -1 with err. */
static int resolve_column(const char *what, const char *spec, long dflt, const field *h,
                          size_t nh, int has_header, const char *path, long *col,
                          data_error *err) {
    size_t num, i;
    char list[600];
    if (!spec) {
        *col = dflt;
        return 0;
    }
    if (column_number(spec, &num)) {
        if (num < 1) {
            data_errorf(err, "%s: %s column: column numbers start at 1 (\"%s\")", path, what, spec);
            return -1;
        }
        if (has_header && num > nh) {
            data_errorf(err, "%s:1: %s column %zu is beyond the header's %zu columns", path,
                        what, num, nh);
            return -1;
        }
        if (num > (size_t)LONG_MAX) num = (size_t)LONG_MAX;
        *col = (long)(num - 1);
        return 0;
    }
    if (!has_header) {
        data_errorf(err, "%s: %s column \"%s\" is a name but the file has no header", path,
                    what, spec);
        return -1;
    }
    for (i = 0; i < nh; i++)
        if (strcmp(h[i].s, spec) == 0) {
            *col = (long)i;
            return 0;
        }
    for (i = 0; i < nh; i++)
        if (name_eq_nocase(h[i].s, spec)) {
            *col = (long)i;
            return 0;
        }
    header_list(list, sizeof list, h, nh);
    data_errorf(err, "%s:1: no %s column \"%s\" in the header (columns: %s)", path, what, spec,
                list);
    return -1;
}

int data_read_ratings(const char *path, const data_read_opts *opts, data_idmap *users,
                      data_idmap *items, data_ratings *out, data_read_report *report,
                      data_error *err) {
    data_read_opts o = opts ? *opts : data_read_defaults();
    data_read_report local;
    read_ctx c;
    splitter sp;
    char *buf, *p, *end, *eol, *first;
    size_t len, line = 0, first_line, nf_ref = 0, need, n0 = out->n;
    const char *delim;
    data_format fmt = o.format;
    int header = o.header, quotes, rc = -1, have_last_u = 0, have_last_i = 0;
    int layout_default = !o.user_col && !o.item_col && !o.rating_col;
    long ucol, icol, rcol, tcol = -1;
    int64_t last_u = 0, last_i = 0;
    uint32_t last_ui = 0, last_ii = 0;
    char ff[64], v[64];

    if (!report) report = &local;
    memset(report, 0, sizeof *report);
    c.path = path;
    c.skip_bad = o.skip_bad;
    c.rep = report;
    c.err = err;
    memset(&sp, 0, sizeof sp);

    if (o.delim && !*o.delim) {
        data_errorf(err, "%s: the delimiter is empty", path);
        return -1;
    }
    if (!(buf = read_file(path, &len, err))) return -1;
    p = buf + skip_bom(buf, len);
    end = buf + len;

    /* the first line with anything on it decides format and header */
    first = p;
    first_line = 1;
    for (;;) {
        eol = memchr(first, '\n', (size_t)(end - first));
        if (!eol) eol = end;
        if (eol > first && !(eol - first == 1 && *first == '\r')) break;
        if (eol == end) {
            data_errorf(err, "%s: no ratings", path);
            goto done;
        }
        first = eol + 1;
        first_line++;
    }
    {
        size_t n = (size_t)(eol - first);
        int has_dc = 0, has_tab = memchr(first, '\t', n) != NULL;
        int has_comma = memchr(first, ',', n) != NULL, has_semi = memchr(first, ';', n) != NULL;
        const char *q;
        for (q = first; q + 1 < eol; q++)
            if (q[0] == ':' && q[1] == ':') {
                has_dc = 1;
                break;
            }
        if (fmt == DATA_FMT_AUTO && o.delim) fmt = DATA_FMT_DELIM;
        delim = o.delim;
        if (!delim) {
            if (fmt == DATA_FMT_UDATA) delim = "\t";
            else if (fmt == DATA_FMT_DAT) delim = "::";
            else if (fmt == DATA_FMT_CSV) delim = ",";
            else if (has_dc) delim = "::";
            else if (has_tab) delim = "\t";
            else if (has_comma) delim = ",";
            else if (has_semi) delim = ";";
            else {
                data_errorf(err, "%s:%zu: cannot tell the delimiter: no \"::\", tab, comma or "
                                 "semicolon in the first line (\"%s\")",
                            path, first_line, shown(v, sizeof v, first, n));
                goto done;
            }
        }
        first_field(ff, sizeof ff, first, eol, delim);
        if (fmt == DATA_FMT_AUTO) {
            if (has_dc) fmt = DATA_FMT_DAT;
            else if (has_tab) fmt = is_number_text(ff) ? DATA_FMT_UDATA : DATA_FMT_DELIM;
            else if (has_comma) fmt = DATA_FMT_CSV;
            else fmt = DATA_FMT_DELIM; /* semicolon */
        }
        if (header < 0)
            header = (fmt == DATA_FMT_UDATA || fmt == DATA_FMT_DAT) ? 0 : !is_number_text(ff);
    }
    report->format = fmt;
    quotes = fmt == DATA_FMT_CSV || fmt == DATA_FMT_DELIM;
    splitter_init(&sp, first, end, delim, quotes);
    line = first_line - 1;

    /* columns */
    {
        const field *h = NULL;
        size_t nh = 0;
        if (header) {
            int s = split_next(&sp);
            line++;
            if (s < 0) goto oom;
            if (sp.why) {
                data_errorf(err, "%s:%zu: header: %s (\"%s\")", path, line, sp.why,
                            shown(v, sizeof v, sp.bad, sp.bad_len));
                goto done;
            }
            h = sp.f;
            nh = sp.nf;
            nf_ref = nh;
        }
        if (resolve_column("user", o.user_col, 0, h, nh, header, path, &ucol, err) ||
            resolve_column("item", o.item_col, 1, h, nh, header, path, &icol, err) ||
            resolve_column("rating", o.rating_col, 2, h, nh, header, path, &rcol, err) ||
            resolve_column("time", o.time_col, -1, h, nh, header, path, &tcol, err))
            goto done;
        if (!o.time_col && header) {
            /* the format's own layout has its time 4th; chosen columns
             * take the time from a column named so, if there is one */
            size_t i;
            if (layout_default && nh >= 4) tcol = 3;
            for (i = 0; i < nh && !layout_default && tcol < 0; i++)
                if (name_eq_nocase(h[i].s, "timestamp") || name_eq_nocase(h[i].s, "time"))
                    tcol = (long)i;
        }
    }
    need = (size_t)(ucol > icol ? ucol : icol);
    if ((size_t)rcol > need) need = (size_t)rcol;
    if (tcol >= 0 && (size_t)tcol > need) need = (size_t)tcol;
    need++;
    if (header && need > nf_ref) {
        data_errorf(err, "%s:%zu: the header has %zu columns, expected at least %zu", path,
                    line, nf_ref, need);
        goto done;
    }

    /* every row is on a line of its own: the line count bounds the rows */
    {
        size_t most = count_lines(sp.p, end);
        if (out->n >= (size_t)UINT32_MAX) most = 0;
        else if (most > (size_t)UINT32_MAX - out->n) most = (size_t)UINT32_MAX - out->n;
        if (ratings_reserve(out, out->n + most) != 0) goto oom;
    }

    for (;;) {
        int s = split_next(&sp);
        const field *f = sp.f;
        int64_t uid, iid, t = 0;
        double r;
        int32_t ui, ii;
        int e;
        if (s == 0) break;
        if (s < 0) goto oom;
        line++;
        if (sp.nf == 0 && !sp.why) continue; /* a truly empty line */
        report->lines++;
        if (sp.why) {
            if (bad_line(&c, line, "%s (\"%s\")", sp.why, shown(v, sizeof v, sp.bad, sp.bad_len)))
                goto done;
            continue;
        }
        if (nf_ref != 0 && sp.nf != nf_ref) {
            if (bad_line(&c, line, "expected %zu fields, found %zu", nf_ref, sp.nf)) goto done;
            continue;
        }
        if (sp.nf < need) {
            if (bad_line(&c, line, "expected at least %zu fields, found %zu", need, sp.nf))
                goto done;
            continue;
        }
        if (nf_ref == 0) {
            nf_ref = sp.nf; /* no header: the first good line sets the width */
            if (!o.time_col && layout_default && nf_ref >= 4) {
                tcol = 3;
                if (need < 4) need = 4;
            }
        }
        if ((e = parse_i64(f[ucol].s, f[ucol].len, &uid)) != 0) {
            if (bad_line(&c, line, "user id %s (\"%s\")",
                         e == -2 ? "does not fit in 64 bits" : "is not an integer",
                         shown(v, sizeof v, f[ucol].s, f[ucol].len)))
                goto done;
            continue;
        }
        if ((e = parse_i64(f[icol].s, f[icol].len, &iid)) != 0) {
            if (bad_line(&c, line, "item id %s (\"%s\")",
                         e == -2 ? "does not fit in 64 bits" : "is not an integer",
                         shown(v, sizeof v, f[icol].s, f[icol].len)))
                goto done;
            continue;
        }
        if ((e = parse_number(f[rcol].s, f[rcol].len, &r)) != 0) {
            if (bad_line(&c, line, "rating %s (\"%s\")",
                         e == -2 ? "is not finite" : "is not a number",
                         shown(v, sizeof v, f[rcol].s, f[rcol].len)))
                goto done;
            continue;
        }
        if (tcol >= 0 && (e = parse_i64(f[tcol].s, f[tcol].len, &t)) != 0) {
            if (bad_line(&c, line, "timestamp %s (\"%s\")",
                         e == -2 ? "does not fit in 64 bits" : "is not an integer",
                         shown(v, sizeof v, f[tcol].s, f[tcol].len)))
                goto done;
            continue;
        }
        if (out->n >= (size_t)UINT32_MAX) {
            data_errorf(err, "%s:%zu: more than %lu ratings", path, line,
                        (unsigned long)UINT32_MAX);
            goto done;
        }
        /* files are grouped by user: skip the hash for a repeated id */
        if (have_last_u && uid == last_u) ui = (int32_t)last_ui;
        else if ((ui = data_idmap_intern(users, uid)) < 0) {
            if (users->n >= (size_t)INT32_MAX)
                data_errorf(err, "%s:%zu: more than %ld distinct user ids", path, line,
                            (long)INT32_MAX);
            else goto oom;
            goto done;
        }
        if (have_last_i && iid == last_i) ii = (int32_t)last_ii;
        else if ((ii = data_idmap_intern(items, iid)) < 0) {
            if (items->n >= (size_t)INT32_MAX)
                data_errorf(err, "%s:%zu: more than %ld distinct item ids", path, line,
                            (long)INT32_MAX);
            else goto oom;
            goto done;
        }
        last_u = uid;
        last_ui = (uint32_t)ui;
        have_last_u = 1;
        last_i = iid;
        last_ii = (uint32_t)ii;
        have_last_i = 1;
        if (data_ratings_push(out, (uint32_t)ui, (uint32_t)ii, (float)r, t) != 0) goto oom;
    }
    if (out->n == n0) {
        if (report->skipped)
            data_errorf(err, "%s: no ratings (%zu malformed lines skipped; the first: %s)", path,
                        report->skipped, report->first_error);
        else
            data_errorf(err, "%s: no ratings", path);
        goto done;
    }
    rc = 0;
    goto done;
oom:
    data_errorf(err, "%s: out of memory", path);
done:
    if (rc != 0) out->n = n0;
    free(sp.f);
    free(buf);
    return rc;
}

/* =============================================================== stats */

data_stats data_ratings_stats(const data_ratings *r, size_t n_users, size_t n_items) {
    data_stats s;
    double sum = 0;
    size_t k;
    memset(&s, 0, sizeof s);
    s.n = r->n;
    s.users = n_users;
    s.items = n_items;
    if (r->n) {
        s.min = s.max = r->rating[0];
        for (k = 0; k < r->n; k++) {
            float x = r->rating[k];
            if (x < s.min) s.min = x;
            if (x > s.max) s.max = x;
            sum += x;
        }
        s.mean = sum / (double)r->n;
    }
    if (n_users && n_items) s.density = (double)r->n / ((double)n_users * (double)n_items);
    return s;
}

/* ============================================================== splits */

int data_split_tail(const data_ratings *all, double frac, data_ratings *train,
                    data_ratings *val) {
    size_t n = all->n, at;
    if (!(frac >= 0.0 && frac < 1.0)) return -1;
    /* Keras 2.1.6: split_at = int(len(x[0]) * (1. - validation_split)) */
    at = (size_t)((double)n * (1.0 - frac));
    if (at > n) at = n;
    if (ratings_copy_range(train, all, 0, at) != 0) return -1;
    if (ratings_copy_range(val, all, at, n) != 0) return -1;
    return 0;
}

int data_split_random(const data_ratings *all, double frac, nn_rng *rng,
                      data_ratings *train, data_ratings *test) {
    size_t n = all->n, n_test, k, a = 0, b = 0;
    uint32_t *idx;
    unsigned char *in_test;
    if (!(frac >= 0.0 && frac < 1.0) || n > (size_t)UINT32_MAX) return -1;
    n_test = (size_t)((double)n * frac);
    if (n_test > n) n_test = n;
    idx = malloc((n ? n : 1) * sizeof *idx);
    in_test = calloc(n ? n : 1, 1);
    if (!idx || !in_test || ratings_reserve(train, n - n_test) != 0 ||
        ratings_reserve(test, n_test) != 0) {
        free(idx);
        free(in_test);
        return -1;
    }
    for (k = 0; k < n; k++) idx[k] = (uint32_t)k;
    nn_rng_shuffle_u32(rng, idx, n);
    for (k = 0; k < n_test; k++) in_test[idx[k]] = 1;
    for (k = 0; k < n; k++) {
        data_ratings *d = in_test[k] ? test : train;
        size_t j = in_test[k] ? b++ : a++;
        d->user[j] = all->user[k];
        d->item[j] = all->item[k];
        d->rating[j] = all->rating[k];
        d->time[j] = all->time[k];
    }
    train->n = a;
    test->n = b;
    free(idx);
    free(in_test);
    return 0;
}

int data_ratings_shuffle(data_ratings *r, nn_rng *rng) {
    size_t n = r->n, k;
    uint32_t *idx;
    data_ratings tmp;
    if (n > (size_t)UINT32_MAX) return -1;
    idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return -1;
    for (k = 0; k < n; k++) idx[k] = (uint32_t)k;
    nn_rng_shuffle_u32(rng, idx, n);
    data_ratings_init(&tmp);
    if (data_ratings_select(&tmp, r, idx, n) != 0) {
        free(idx);
        data_ratings_free(&tmp);
        return -1;
    }
    free(idx);
    data_ratings_free(r);
    *r = tmp;
    return 0;
}

/* ====================================================== movie metadata */

/* u.genre, in flag order */
static const char *const uitem_genres[19] = {
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western"};

void data_movies_init(data_movies *m) {
    memset(m, 0, sizeof *m);
    data_idmap_init(&m->ids);
}

void data_movies_free(data_movies *m) {
    free(m->id);
    free(m->title);
    free(m->genres);
    free(m->year);
    free(m->text);
    data_idmap_free(&m->ids);
    data_movies_init(m);
}

const char *data_movie_title(const data_movies *m, size_t row) {
    return row < m->n ? m->text + m->title[row] : "";
}

const char *data_movie_genres(const data_movies *m, size_t row) {
    return row < m->n ? m->text + m->genres[row] : "";
}

int32_t data_movie_find(const data_movies *m, int64_t raw_id) {
    return data_idmap_find(&m->ids, raw_id);
}

static int valid_utf8(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t k, n;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c >= 0xE0 && c <= 0xEF) n = 2;
        else if (c >= 0xF0 && c <= 0xF4) n = 3;
        else return 0;
        if (len - i <= n) return 0;
        for (k = 1; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xF0 && s[i + 1] < 0x90) ||
            (c == 0xF4 && s[i + 1] > 0x8F) || (c == 0xED && s[i + 1] > 0x9F))
            return 0; /* overlong, beyond U+10FFFF, or a surrogate */
        i += n + 1;
    }
    return 1;
}

static int pool_reserve(data_movies *m, size_t extra) {
    size_t cap = m->text_cap ? m->text_cap : 4096;
    char *t;
    if (m->text_len + extra <= m->text_cap) return 0;
    while (cap < m->text_len + extra) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    if (!(t = realloc(m->text, cap))) return -1;
    m->text = t;
    m->text_cap = cap;
    return 0;
}

/* Append s (Latin-1 converted to UTF-8 when latin1) and a NUL; its offset. */
static int pool_add(data_movies *m, const char *s, size_t len, int latin1, size_t *off) {
    size_t i;
    char *w;
    if (pool_reserve(m, 2 * len + 1) != 0) return -1;
    *off = m->text_len;
    w = m->text + m->text_len;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (latin1 && c >= 0x80) {
            *w++ = (char)(0xC0 | (c >> 6));
            *w++ = (char)(0x80 | (c & 0x3F));
        } else {
            *w++ = (char)c;
        }
    }
    *w++ = '\0';
    m->text_len = (size_t)(w - m->text);
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The year of the last "(YYYY)" in a title; "(YYYY-" and "(YYYY–" (a range,
 * as ml-latest writes series) give their first year. 0 if none. */
static int title_year(const char *s) {
    int year = 0;
    size_t len = strlen(s), i;
    for (i = 0; i + 5 < len; i++) {
        char c = s[i + 5];
        if (s[i] == '(' && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
            is_digit(s[i + 4]) && (c == ')' || c == '-' || (unsigned char)c == 0xE2))
            year = (s[i + 1] - '0') * 1000 + (s[i + 2] - '0') * 100 + (s[i + 3] - '0') * 10 +
                   (s[i + 4] - '0');
    }
    return year;
}

typedef enum { MOVIES_UITEM, MOVIES_DAT, MOVIES_CSV } movies_kind;

int data_read_movies(const char *path, data_movies *out, data_error *err) {
    char *buf, *p, *end, *first, *eol;
    size_t len, line = 0, nmax, i;
    long cid = 0, ctitle = 1, cgenres = 2;
    size_t nf_ref = 3;
    movies_kind kind;
    splitter sp;
    int latin1, rc = -1;
    char v[64];

    data_movies_free(out);
    memset(&sp, 0, sizeof sp);
    if (!(buf = read_file(path, &len, err))) return -1;
    p = buf + skip_bom(buf, len);
    end = buf + len;
    latin1 = !valid_utf8((const unsigned char *)p, (size_t)(end - p));

    first = p;
    for (;;) {
        eol = memchr(first, '\n', (size_t)(end - first));
        if (!eol) eol = end;
        if (eol > first && !(eol - first == 1 && *first == '\r')) break;
        if (eol == end) {
            data_errorf(err, "%s: no movies", path);
            goto done;
        }
        first = eol + 1;
        line++;
    }
    {
        const char *q = first;
        while (q < eol && is_digit(*q)) q++;
        if (q > first && q < eol && *q == '|') kind = MOVIES_UITEM;
        else if (q > first && eol - q >= 2 && q[0] == ':' && q[1] == ':') kind = MOVIES_DAT;
        else kind = MOVIES_CSV;
    }
    splitter_init(&sp, first, end, kind == MOVIES_UITEM ? "|" : kind == MOVIES_DAT ? "::" : ",",
                  kind == MOVIES_CSV);
    if (kind == MOVIES_UITEM) nf_ref = 5 + 19;

    nmax = count_lines(first, end);
    out->id = malloc(nmax * sizeof *out->id);
    out->title = malloc(nmax * sizeof *out->title);
    out->genres = malloc(nmax * sizeof *out->genres);
    out->year = malloc(nmax * sizeof *out->year);
    if (!out->id || !out->title || !out->genres || !out->year ||
        pool_reserve(out, (size_t)(end - first) + 64) != 0)
        goto oom;

    if (kind == MOVIES_CSV && !is_digit(*first)) { /* the header names the columns */
        const char *names[3] = {"movieId", "title", "genres"};
        long *cols[3];
        size_t k;
        cols[0] = &cid;
        cols[1] = &ctitle;
        cols[2] = &cgenres;
        if (split_next(&sp) < 0) goto oom;
        line++;
        if (sp.why) {
            data_errorf(err, "%s:%zu: header: %s", path, line, sp.why);
            goto done;
        }
        nf_ref = sp.nf;
        for (k = 0; k < 3; k++) {
            *cols[k] = -1;
            for (i = 0; i < sp.nf && *cols[k] < 0; i++)
                if (name_eq_nocase(sp.f[i].s, names[k])) *cols[k] = (long)i;
            if (*cols[k] < 0) {
                char list[600];
                header_list(list, sizeof list, sp.f, sp.nf);
                data_errorf(err, "%s:%zu: no \"%s\" column in the header (columns: %s)", path,
                            line, names[k], list);
                goto done;
            }
        }
    }

    for (;;) {
        int s = split_next(&sp);
        const field *f = sp.f;
        int64_t id;
        int e, year = 0;
        size_t row = out->n, tlen;
        if (s == 0) break;
        if (s < 0) goto oom;
        line++;
        if (sp.nf == 0 && !sp.why) continue;
        if (sp.why) {
            data_errorf(err, "%s:%zu: %s (\"%s\")", path, line, sp.why,
                        shown(v, sizeof v, sp.bad, sp.bad_len));
            goto done;
        }
        if (sp.nf != nf_ref) {
            data_errorf(err, "%s:%zu: expected %zu fields, found %zu", path, line, nf_ref, sp.nf);
            goto done;
        }
        if ((e = parse_i64(f[cid].s, f[cid].len, &id)) != 0) {
            data_errorf(err, "%s:%zu: movie id %s (\"%s\")", path, line,
                        e == -2 ? "does not fit in 64 bits" : "is not an integer",
                        shown(v, sizeof v, f[cid].s, f[cid].len));
            goto done;
        }
        if (data_idmap_find(&out->ids, id) >= 0) {
            data_errorf(err, "%s:%zu: duplicate movie id (\"%s\")", path, line, f[cid].s);
            goto done;
        }
        if (row >= nmax || data_idmap_intern(&out->ids, id) != (int32_t)row) goto oom;
        out->id[row] = id;
        tlen = f[ctitle].len;
        while (tlen > 0 && f[ctitle].s[tlen - 1] == ' ') tlen--; /* "Two Friends (1986) " */
        if (pool_add(out, f[ctitle].s, tlen, latin1, &out->title[row]) != 0) goto oom;
        year = title_year(out->text + out->title[row]);
        if (kind == MOVIES_UITEM) {
            /* id|title|release date|video date|url|19 flags in u.genre order */
            size_t off = 0, g;
            char gs[256];
            for (g = 0; g < 19; g++) {
                const field *fl = &f[5 + g];
                if (fl->len != 1 || (fl->s[0] != '0' && fl->s[0] != '1')) {
                    data_errorf(err, "%s:%zu: genre flag %zu (%s) is not 0 or 1 (\"%s\")", path,
                                line, g + 1, uitem_genres[g], shown(v, sizeof v, fl->s, fl->len));
                    goto done;
                }
                if (fl->s[0] == '1') {
                    int w = snprintf(gs + off, sizeof gs - off, "%s%s", off ? "|" : "",
                                     uitem_genres[g]);
                    off += (size_t)w;
                }
            }
            if (pool_add(out, gs, off, 0, &out->genres[row]) != 0) goto oom;
            if (!year) { /* "01-Jan-1995" */
                const field *d = &f[2];
                if (d->len >= 4 && is_digit(d->s[d->len - 4]) && is_digit(d->s[d->len - 3]) &&
                    is_digit(d->s[d->len - 2]) && is_digit(d->s[d->len - 1]))
                    year = atoi(d->s + d->len - 4);
            }
        } else {
            /* genres as written, "(no genres listed)" included */
            if (pool_add(out, f[cgenres].s, f[cgenres].len, latin1, &out->genres[row]) != 0)
                goto oom;
        }
        out->year[row] = year;
        out->n++;
    }
    if (out->n == 0) {
        data_errorf(err, "%s: no movies", path);
        goto done;
    }
    rc = 0;
    goto done;
oom:
    data_errorf(err, "%s: out of memory", path);
done:
    if (rc != 0) data_movies_free(out);
    free(sp.f);
    free(buf);
    return rc;
}

/* =================================================== synthetic datasets */

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
    int failed;
} out_buf;

static void ob_flush(out_buf *o) {
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len) o->failed = 1;
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

int data_synth_write(const char *dir, const data_synth_config *cfg, data_error *err) {
    /* planted model scales: total rating sd ≈ 1 before rounding/clipping */
    const double mu = 3.55, sd_user = 0.4, sd_item = 0.45, sd_dot = 0.55, centre_share = 0.7;
    const size_t U = cfg->users, I = cfg->items, R = cfg->ratings, K = cfg->rank;
    const size_t C = cfg->clusters;
    const int64_t t0 = 946684800; /* 2000-01-01 */
    nn_rng rng;
    size_t i, u, k, c, m_min, cap, rem;
    double *centre = NULL, *q = NULL, *p = NULL, *bu = NULL, *bi = NULL, *w = NULL, *act = NULL;
    double sq, sp_scale, sc, sd;
    size_t *cnt = NULL, *fstart = NULL;
    uint32_t *fuser = NULL, *fitem = NULL, *chosen = NULL, *perm = NULL;
    unsigned char *mark = NULL;
    uint32_t *cluster = NULL;
    alias_table at = {NULL, NULL, 0};
    out_buf ob = {NULL, NULL, 0, 0, 0};
    char path[4200];
    int rc = -1;

    if (!U || !I || !R || !K || !C || !(cfg->noise >= 0) || !isfinite(cfg->noise)) {
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
    if (make_dirs(dir, err) != 0) return -1;
    nn_rng_seed(&rng, cfg->seed);

    centre = malloc(C * K * sizeof *centre);
    q = malloc(I * K * sizeof *q);
    p = malloc(U * K * sizeof *p);
    bu = malloc(U * sizeof *bu);
    bi = malloc(I * sizeof *bi);
    w = malloc(I * sizeof *w);
    act = malloc(U * sizeof *act);
    cnt = malloc(U * sizeof *cnt);
    fstart = calloc(U + 1, sizeof *fstart);
    fuser = malloc(I * sizeof *fuser);
    fitem = malloc(I * sizeof *fitem);
    perm = malloc(I * sizeof *perm);
    mark = calloc(I, 1);
    cluster = malloc(I * sizeof *cluster);
    ob.cap = 1 << 20;
    ob.buf = malloc(ob.cap);
    if (!centre || !q || !p || !bu || !bi || !w || !act || !cnt || !fstart || !fuser ||
        !fitem || !perm || !mark || !cluster || !ob.buf)
        goto oom;

    /* factors: p_u·q_i has sd ≈ sd_dot; q_i = its cluster's centre + noise */
    sq = sqrt(sd_dot / sqrt((double)K));
    sp_scale = sq;
    sc = sq * sqrt(centre_share);
    sd = sq * sqrt(1.0 - centre_share);
    for (k = 0; k < C * K; k++) centre[k] = sc * nn_rng_normal(&rng);

    /* movies: cluster, factors, bias, year, genres; written as we go */
    snprintf(path, sizeof path, "%s/movies.csv", dir);
    if (!(ob.f = fopen(path, "wb"))) goto cannot;
    memcpy(ob_room(&ob, 32), "movieId,title,genres\n", 21);
    ob.len += 21;
    for (i = 0; i < I; i++) {
        char title[128], *o;
        int year = 1930 + (int)nn_rng_below(&rng, 86);
        int extra = 0, g[3], ng = 0, a, b;
        size_t tl, j;
        double x = nn_rng_uniform(&rng);
        cluster[i] = (uint32_t)nn_rng_below(&rng, C);
        for (k = 0; k < K; k++) q[i * K + k] = centre[cluster[i] * K + k] + sd * nn_rng_normal(&rng);
        bi[i] = sd_item * nn_rng_normal(&rng);
        g[ng++] = (int)(cluster[i] % 18);
        extra = x < 0.15 ? 2 : x < 0.55 ? 1 : 0;
        while (extra > 0) {
            int h = (int)nn_rng_below(&rng, 18), dup = 0;
            for (a = 0; a < ng; a++) dup |= g[a] == h;
            if (!dup) {
                g[ng++] = h;
                extra--;
            }
        }
        for (a = 1; a < ng; a++) /* MovieLens lists genres alphabetically */
            for (b = a; b > 0 && g[b - 1] > g[b]; b--) {
                int t = g[b];
                g[b] = g[b - 1];
                g[b - 1] = t;
            }
        tl = (size_t)synth_title(title, sizeof title, i + 1, year);
        o = ob_room(&ob, 2 * tl + 256);
        o += put_u64(o, i + 1);
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
        ob.len = (size_t)(o - ob.buf);
    }
    ob_flush(&ob);
    if (ob.failed || fclose(ob.f) != 0) {
        ob.f = NULL;
        goto write_error;
    }
    ob.f = NULL;

    /* popularity: Zipf-like weights 1/(rank + I/10) over a random order of
     * the movies, times lognormal noise so the tail thins out to a few
     * ratings (MovieLens 1M: median movie 123 ratings, least 1, most 3428) */
    for (i = 0; i < I; i++) perm[i] = (uint32_t)i;
    nn_rng_shuffle_u32(&rng, perm, I);
    for (i = 0; i < I; i++)
        w[perm[i]] = exp(nn_rng_normal(&rng)) / ((double)i + 1.0 + 0.1 * (double)I);
    if (alias_build(&at, w, I) != 0) goto oom;

    /* users: factors, bias, activity ~ lognormal above a floor of 20 */
    for (u = 0; u < U; u++) {
        for (k = 0; k < K; k++) p[u * K + k] = sp_scale * nn_rng_normal(&rng);
        bu[u] = sd_user * nn_rng_normal(&rng);
        act[u] = exp(nn_rng_normal(&rng));
    }
    m_min = R / U < 20 ? R / U : 20;
    cap = I <= 40 ? I : I / 2;
    if (cap < (R + U - 1) / U) cap = (R + U - 1) / U;
    if (cap > I) cap = I;
    for (u = 0; u < U; u++) cnt[u] = m_min;
    rem = R - m_min * U;
    while (rem > 0) { /* share the rest by activity, none above cap; exact total */
        double W = 0;
        size_t added = 0;
        for (u = 0; u < U; u++)
            if (cnt[u] < cap) W += act[u];
        for (u = 0; u < U; u++)
            if (cnt[u] < cap) {
                size_t share = (size_t)((double)rem * act[u] / W);
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

    /* every movie is rated at least once (MovieLens lists only rated movies):
     * give each to a user picked in proportion to the user's count */
    for (u = 0; u < U; u++) fstart[u + 1] = fstart[u] + cnt[u]; /* cumulative counts */
    {
        size_t *forced = calloc(U, sizeof *forced);
        if (!forced) goto oom;
        for (i = 0; i < I; i++) {
            uint64_t slot = nn_rng_below(&rng, R);
            size_t lo = 0, hi = U; /* the user whose slots hold slot */
            while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;
                if (fstart[mid] <= slot) lo = mid;
                else hi = mid;
            }
            while (forced[lo] >= cnt[lo]) lo = (lo + 1) % U;
            forced[lo]++;
            fuser[i] = (uint32_t)lo;
        }
        fstart[0] = 0;
        for (u = 0; u < U; u++) fstart[u + 1] = fstart[u] + forced[u];
        memset(forced, 0, U * sizeof *forced);
        for (i = 0; i < I; i++) {
            u = fuser[i];
            fitem[fstart[u] + forced[u]++] = (uint32_t)i;
        }
        free(forced);
    }

    /* ratings, user by user, each user's in time order */
    for (c = 0, u = 0; u < U; u++)
        if (cnt[u] > c) c = cnt[u];
    if (!(chosen = malloc(c * sizeof *chosen))) goto oom;
    snprintf(path, sizeof path, "%s/ratings.csv", dir);
    if (!(ob.f = fopen(path, "wb"))) goto cannot;
    memcpy(ob_room(&ob, 40), "userId,movieId,rating,timestamp\n", 32);
    ob.len += 32;
    for (u = 0; u < U; u++) {
        size_t want = cnt[u], got = 0, misses = 0;
        int64_t t = t0 + (int64_t)(nn_rng_uniform(&rng) * 18.0 * 365.25 * 86400.0);
        for (k = fstart[u]; k < fstart[u + 1]; k++) {
            mark[fitem[k]] = 1;
            chosen[got++] = fitem[k];
        }
        while (got < want) {
            uint32_t it = alias_draw(&at, &rng);
            if (!mark[it]) {
                mark[it] = 1;
                chosen[got++] = it;
                misses = 0;
            } else if (++misses == 32) {
                if (pick_rest(w, I, mark, chosen, &got, want, &rng) != 0) goto oom;
            }
        }
        nn_rng_shuffle_u32(&rng, chosen, got);
        for (k = 0; k < got; k++) {
            uint32_t it = chosen[k];
            double r = mu + bu[u] + bi[it], z;
            long half;
            char *o = ob_room(&ob, 64);
            size_t d;
            for (d = 0; d < K; d++) r += p[u * K + d] * q[(size_t)it * K + d];
            r += cfg->noise * nn_rng_normal(&rng);
            half = (long)floor(2.0 * r + 0.5); /* half stars, clipped to [0.5, 5] */
            if (half < 1) half = 1;
            if (half > 10) half = 10;
            /* within a session a minute or so apart; now and then days later */
            z = nn_rng_uniform(&rng);
            t += z < 0.9 ? 5 + (int64_t)(-60.0 * log(1.0 - nn_rng_uniform(&rng)))
                         : (int64_t)(-10.0 * 86400.0 * log(1.0 - nn_rng_uniform(&rng)));
            o += put_u64(o, u + 1);
            *o++ = ',';
            o += put_u64(o, (uint64_t)it + 1);
            *o++ = ',';
            *o++ = (char)('0' + half / 2);
            *o++ = '.';
            *o++ = half % 2 ? '5' : '0';
            *o++ = ',';
            o += put_u64(o, (uint64_t)t);
            *o++ = '\n';
            ob.len = (size_t)(o - ob.buf);
            mark[it] = 0;
        }
    }
    ob_flush(&ob);
    if (ob.failed || fclose(ob.f) != 0) {
        ob.f = NULL;
        goto write_error;
    }
    ob.f = NULL;
    rc = 0;
    goto done;
write_error:
    data_errorf(err, "%s: write error: %s", path, strerror(errno));
    goto done;
cannot:
    data_errorf(err, "%s: cannot create: %s", path, strerror(errno));
    goto done;
oom:
    data_errorf(err, "synth: out of memory");
done:
    if (ob.f) fclose(ob.f);
    free(ob.buf);
    free(centre);
    free(q);
    free(p);
    free(bu);
    free(bi);
    free(w);
    free(act);
    free(cnt);
    free(fstart);
    free(fuser);
    free(fitem);
    free(perm);
    free(mark);
    free(cluster);
    free(chosen);
    free(at.prob);
    free(at.alias);
    return rc;
}
