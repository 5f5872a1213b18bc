/* data.c — reading ratings, movie metadata and pairs to score; id maps,
 * splits, and the side information (user metadata, tags, features).
 *
 * Ratings are read by the plain reader: a line at a time into one buffer,
 * each line handed to the ratings parser (data.h), which splits it into
 * fields in place and parses them strictly; the rows grow by doubling. The
 * speed machinery is not here but in fast/: the chunked reader (a MiB at a
 * time, the usual line parsed in one pass, the rows sized from the file)
 * and the binary ratings cache, which plug in through data_use_reader and
 * give the same rows, report and errors. The other readers load their
 * (small) file whole and reserve their arrays from its line count. Fields
 * are NUL-terminated where they lie (quoted CSV fields are unquoted in
 * place), so nothing is allocated per line. Parsing is strict: ids and
 * timestamps are plain integers (optional sign, digits only) that fit in 64
 * bits; ratings are decimal numbers that are finite as a float; spaces and
 * tabs around a value are ignored, as pandas ignores them, but not inside
 * it; every line has exactly as many fields as the header (or, without one,
 * the first good data line). A malformed line is an error naming file,
 * physical line and value, or, with skip_bad, is skipped and counted. Only a
 * truly empty line ("" or "\r") is passed over silently; a line of spaces
 * is malformed. In every reader a line longer than DATA_MAX_LINE, or one
 * holding a NUL byte, is an error (never skipped). On failure no rows are
 * added to the output, though ids already interned stay in the maps.
 *
 * Movie titles: a file that is valid UTF-8 is kept as it is, anything else
 * is read as Latin-1 (u.item, movies.dat) and converted; trailing spaces are
 * trimmed; genres are kept as written ("(no genres listed)" included).
 *
 * What it deliberately does not do: read compressed files, accept
 * newlines inside quoted fields, detect other encodings, or know anything
 * about models, or any file format beyond these (.npy arrays, batch orders
 * and NumPy's generator are formats/'s). Its one global is the ratings
 * reader installed at start (data_use_reader); randomness comes from the
 * caller's nn_rng (a Python run's shuffle, made by formats/numpy.h, is
 * applied by data_ratings_permute).
 */
#define _POSIX_C_SOURCE 200809L
#include "data.h"
#include "formats/output.h"

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

void data_text_printf(char *dst, size_t cap, const char *fmt, ...) {
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

/* "FILE:LINE: line longer than 1 MiB" (or than max bytes, for a limit of
 * another size); -1 */
static int line_too_long(data_error *err, const char *path, size_t line, size_t max) {
    if (max % ((size_t)1 << 20) == 0)
        data_errorf(err, "%s:%zu: line longer than %zu MiB", path, line, max >> 20);
    else
        data_errorf(err, "%s:%zu: line longer than %zu bytes", path, line, max);
    return -1;
}

/* "FILE:LINE: NUL byte ..."; -1. Text has none: a NUL would end a C string
 * (a title cut short without a word) and is most likely a UTF-16 or
 * binary file. */
static int nul_byte(data_error *err, const char *path, size_t line) {
    data_errorf(err, "%s:%zu: NUL byte in the line (not text; UTF-16 files are not read)", path,
                line);
    return -1;
}

/* How far the lines of a text being read have been checked: the longest
 * line allowed, the number of the line not yet ended, the offset where it
 * starts and whether it holds a NUL. */
typedef struct {
    size_t max, line, start;
    int nul;
} text_scan;

/* The bytes buf[from, to) just read (at_end: the last of the file): every
 * line is at most ts->max bytes long, which is checked as soon as a line
 * runs past it, and holds no NUL, which is checked once the line has
 * ended, as the ratings reader does (so /dev/zero is a line too long for
 * both). 0, or -1 with err naming the first line that breaks a rule. */
static int scan_text(const char *path, const char *buf, size_t from, size_t to, int at_end,
                     text_scan *ts, data_error *err) {
    const char *p = buf + from, *nl;
    const char *nul = ts->nul ? NULL : memchr(p, '\0', to - from);
    for (;;) {
        nl = memchr(p, '\n', (size_t)(buf + to - p));
        if (nul && (!nl || nul < nl)) { /* the NUL is in the line p is in */
            ts->nul = 1;
            nul = NULL;
        }
        if (!nl) break;
        if ((size_t)(nl - buf) - ts->start > ts->max)
            return line_too_long(err, path, ts->line, ts->max);
        if (ts->nul) return nul_byte(err, path, ts->line);
        ts->line++;
        ts->start = (size_t)(nl - buf) + 1;
        p = nl + 1;
    }
    if (to - ts->start > ts->max) return line_too_long(err, path, ts->line, ts->max);
    return ts->nul && at_end ? nul_byte(err, path, ts->line) : 0;
}

/* The whole file in one NUL-terminated buffer (*len excludes the NUL);
 * "-" is standard input. A text file (max_line > 0: the longest line it
 * may have, usually DATA_MAX_LINE) is checked while it is read, so that a
 * file without line ends (/dev/zero) stops at once instead of filling
 * memory, and so that no NUL reaches a parser. max_line 0: a binary file. */
static char *read_file(const char *path, size_t max_line, size_t *len, data_error *err) {
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    text_scan ts = {.max = max_line, .line = 1, .start = 0, .nul = 0};
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
        if (max_line && scan_text(path, buf, n - got, n, n < cap, &ts, err) != 0) goto fail;
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
        if (!is_stdin) fclose(f);
        return NULL;
    }
    if (!is_stdin) fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
oom:
    data_errorf(err, "%s: out of memory reading the file", path);
fail:
    free(buf);
    if (!is_stdin) fclose(f);
    return NULL;
}

static size_t skip_bom(const char *buf, size_t len) {
    return len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
                   (unsigned char)buf[2] == 0xBF
               ? 3
               : 0;
}

size_t data_count_lines(const char *p, const char *end) {
    size_t n = 1;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* The first line with anything on it ("" and "\r" are empty), its end in
 * *eol and the number of empty lines before it in *skipped; NULL if none. */
static char *first_nonempty_line(char *p, char *end, char **eol, size_t *skipped) {
    *skipped = 0;
    for (;;) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        if (e > p && !(e - p == 1 && *p == '\r')) {
            *eol = e;
            return p;
        }
        if (e == end) return NULL;
        p = e + 1;
        (*skipped)++;
    }
}

/* ====================================================== field splitter */

/* data.h defines both, for the ratings parser that fast/reader.c shares;
 * every reader here splits with them. */
typedef data_field field;
typedef data_splitter splitter;

static void splitter_init(splitter *sp, char *p, char *end, const char *delim, int quotes) {
    memset(sp, 0, sizeof *sp);
    sp->p = p;
    sp->end = end;
    sp->delim = delim;
    sp->dlen = strlen(delim);
    sp->quotes = quotes;
}

/* Go on splitting in new text [p, end), keeping the field array. */
static void splitter_reset(splitter *sp, char *p, char *end) {
    sp->p = p;
    sp->end = end;
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
        if (sp->quotes && p < end && *p == '"') { /* (p == end: an empty last field) */
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

/* Spaces and tabs around a value are not part of it: pandas reads
 * "964981247   " as a number too. A delimiter never lies inside a field,
 * so in u.data, whose delimiter is the tab, only spaces are left to trim;
 * a field of nothing but blanks is still a missing value. */
static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int has_blank_end(const field *f) {
    return f->len > 0 && (is_blank(f->s[0]) || is_blank(f->s[f->len - 1]));
}

static field trim_field(field f) {
    while (f.len > 0 && is_blank(f.s[0])) {
        f.s++;
        f.len--;
    }
    while (f.len > 0 && is_blank(f.s[f.len - 1])) f.len--;
    return f;
}

/* A header's names without the blanks around them ("timestamp   " at the
 * line's end is "timestamp"), trimmed where they lie. */
static void trim_names(field *f, size_t n) {
    size_t k;
    for (k = 0; k < n; k++) {
        f[k] = trim_field(f[k]);
        f[k].s[f[k].len] = '\0'; /* over a blank, or over the NUL already there */
    }
}

/* parse_i64 and parse_number of a field, blanks around it ignored: the
 * field is trimmed only when it fails as it is, so the usual field costs
 * nothing more. (parse_number's strtod stops at the blank after a trimmed
 * field, and is told its length.) */
static int field_i64(const field *f, int64_t *out) {
    field t;
    int e = parse_i64(f->s, f->len, out);
    if (e != -1 || !has_blank_end(f)) return e;
    t = trim_field(*f);
    return parse_i64(t.s, t.len, out);
}

static int field_number(const field *f, double *out) {
    field t;
    int e = parse_number(f->s, f->len, out);
    if (e != -1 || !has_blank_end(f)) return e;
    t = trim_field(*f);
    return parse_number(t.s, t.len, out);
}

/* ============================================================= id maps */

void data_idmap_init(data_idmap *m) { memset(m, 0, sizeof *m); }

void data_idmap_free(data_idmap *m) {
    free(m->raw);
    free(m->table);
    free(m->direct);
    data_idmap_init(m);
}

/* The direct array grows freely up to this many entries; beyond it, to at
 * most IDMAP_DIRECT_PER_ID entries per id held. */
#define IDMAP_DIRECT_FREE ((size_t)1 << 16)
#define IDMAP_DIRECT_PER_ID 8

/* Multiply by 2^64/φ, then fold the well-mixed high half onto the low bits
 * the mask keeps: consecutive ids (the common case) spread evenly. */
static size_t idmap_slot(int64_t raw, size_t mask) {
    uint64_t h = (uint64_t)raw * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ (h >> 32)) & mask;
}

/* Rebuild the hash at twice the size from the hashed ids: those the direct
 * array does not cover (the ones it covers are found there). */
static int idmap_grow(data_idmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 64, i, hashed = 0;
    int32_t *t;
    if (cap > SIZE_MAX / sizeof *t) return -1;
    t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (i = 0; i < m->n; i++) {
        size_t s;
        if ((uint64_t)m->raw[i] < m->direct_cap) continue;
        s = idmap_slot(m->raw[i], cap - 1);
        while (t[s]) s = (s + 1) & (cap - 1);
        t[s] = (int32_t)(i + 1);
        hashed++;
    }
    free(m->table);
    m->table = t;
    m->cap = cap;
    m->hashed = hashed;
    return 0;
}

/* Widen the direct array to cover raw, when that keeps it small: 1 done,
 * 0 not worth it (raw stays hashed), -1 out of memory. The new array is
 * filled from raw[] (every id now covered, hashed ones included), so the
 * old one is not copied and only the pages holding ids are touched. */
static int idmap_direct_cover(data_idmap *m, int64_t raw) {
    size_t cap = m->direct_cap ? m->direct_cap : 1024, limit = IDMAP_DIRECT_FREE, i;
    int32_t *d;
    if (raw < 0) return 0;
    if (m->n < SIZE_MAX / 2 / IDMAP_DIRECT_PER_ID / sizeof *d &&
        (m->n + 1) * IDMAP_DIRECT_PER_ID > limit)
        limit = (m->n + 1) * IDMAP_DIRECT_PER_ID;
    if ((uint64_t)raw >= (uint64_t)limit) return 0;
    while (cap <= (size_t)raw) cap *= 2;
    if (!(d = calloc(cap, sizeof *d))) return -1;
    for (i = 0; i < m->n; i++)
        if ((uint64_t)m->raw[i] < cap) d[m->raw[i]] = (int32_t)(i + 1);
    free(m->direct);
    m->direct = d;
    m->direct_cap = cap;
    return 1;
}

static int32_t idmap_hash_find(const data_idmap *m, int64_t raw) {
    size_t s, mask;
    if (!m->cap) return -1;
    mask = m->cap - 1;
    for (s = idmap_slot(raw, mask); m->table[s]; s = (s + 1) & mask)
        if (m->raw[m->table[s] - 1] == raw) return m->table[s] - 1;
    return -1;
}

int32_t data_idmap_find(const data_idmap *m, int64_t raw) {
    if ((uint64_t)raw < m->direct_cap) return m->direct[raw] - 1; /* negative ids wrap high */
    return idmap_hash_find(m, raw);
}

int32_t data_idmap_intern(data_idmap *m, int64_t raw) {
    int32_t found = data_idmap_find(m, raw);
    int direct;
    if (found >= 0) return found;
    if (m->n >= (size_t)INT32_MAX) return -1;
    if (m->n == m->raw_cap) {
        size_t cap = m->raw_cap ? m->raw_cap * 2 : 64;
        int64_t *r = realloc(m->raw, cap * sizeof *r);
        if (!r) return -1;
        m->raw = r;
        m->raw_cap = cap;
    }
    direct = (uint64_t)raw < m->direct_cap;
    if (!direct && (direct = idmap_direct_cover(m, raw)) < 0) return -1;
    if (direct) {
        m->direct[raw] = (int32_t)(m->n + 1);
    } else {
        size_t s, mask;
        if ((m->hashed + 1) * 2 > m->cap && idmap_grow(m) != 0) return -1; /* load ≤ 50% */
        mask = m->cap - 1;
        for (s = idmap_slot(raw, mask); m->table[s]; s = (s + 1) & mask) {
        }
        m->table[s] = (int32_t)(m->n + 1);
        m->hashed++;
    }
    m->raw[m->n] = raw;
    return (int32_t)m->n++;
}

int data_idmap_copy(data_idmap *dst, const data_idmap *src) {
    size_t k;
    data_idmap_init(dst);
    for (k = 0; k < src->n; k++)
        if (data_idmap_intern(dst, src->raw[k]) != (int32_t)k) return -1;
    return 0;
}

/* ============================================================= ratings */

void data_block_release(data_block *b) {
    if (b && --b->refs == 0) b->free_block(b);
}

void data_ratings_init(data_ratings *r) { memset(r, 0, sizeof *r); }

void data_ratings_free(data_ratings *r) {
    if (r->block) {
        data_block_release(r->block);
    } else {
        free(r->user);
        free(r->item);
        free(r->rating);
        free(r->time);
    }
    data_ratings_init(r);
}

void data_ratings_without_time(data_ratings *r) {
    if (!r->block) free(r->time); /* (a block's column goes with the block) */
    r->time = NULL;
    r->no_time = 1;
}

/* dst keeps no timestamps when src keeps none (a copy of src's rows) */
static void ratings_like(data_ratings *dst, const data_ratings *src) {
    if (src->no_time && !dst->no_time) data_ratings_without_time(dst);
}

/* row k's timestamp, 0 where none are kept */
static int64_t time_of(const data_ratings *r, size_t k) { return r->time ? r->time[k] : 0; }

/* Columns that lie in a block (a mapped cache) copied into arrays of
 * their own, of cap rows, and the block let go; 0 or -1 (no memory: r is
 * as it was). */
static int ratings_own(data_ratings *r, size_t cap) {
    data_ratings own;
    data_ratings_init(&own);
    own.user = malloc(cap * sizeof *own.user);
    own.item = malloc(cap * sizeof *own.item);
    own.rating = malloc(cap * sizeof *own.rating);
    own.no_time = r->no_time;
    own.time = r->time ? malloc(cap * sizeof *own.time) : NULL;
    if (!own.user || !own.item || !own.rating || (r->time && !own.time)) {
        data_ratings_free(&own);
        return -1;
    }
    memcpy(own.user, r->user, r->n * sizeof *own.user);
    memcpy(own.item, r->item, r->n * sizeof *own.item);
    memcpy(own.rating, r->rating, r->n * sizeof *own.rating);
    if (r->time) memcpy(own.time, r->time, r->n * sizeof *own.time);
    own.n = r->n;
    own.cap = cap;
    data_ratings_free(r);
    *r = own;
    return 0;
}

int data_ratings_reserve_exact(data_ratings *r, size_t cap) {
    void *p;
    if (cap <= r->cap) return 0;
    if (cap > SIZE_MAX / sizeof(int64_t)) return -1;
    if (r->block) return ratings_own(r, cap); /* realloc cannot move a block's arrays */
    /* each array is replaced as soon as it grows, so a failure part-way
     * leaves every array at least r->cap long and the struct consistent */
    if (!(p = realloc(r->user, cap * sizeof *r->user))) return -1;
    r->user = p;
    if (!(p = realloc(r->item, cap * sizeof *r->item))) return -1;
    r->item = p;
    if (!(p = realloc(r->rating, cap * sizeof *r->rating))) return -1;
    r->rating = p;
    if (!r->no_time) {
        if (!(p = realloc(r->time, cap * sizeof *r->time))) return -1;
        r->time = p;
    }
    r->cap = cap;
    return 0;
}

/* capacity for at least want rows, growing by doubling; 0 or -1 */
static int ratings_reserve(data_ratings *r, size_t want) {
    size_t cap = r->cap ? r->cap : 1024;
    if (want <= r->cap) return 0;
    while (cap < want) {
        if (cap > SIZE_MAX / 2 / sizeof(int64_t)) return -1;
        cap *= 2;
    }
    return data_ratings_reserve_exact(r, cap);
}

int data_ratings_push(data_ratings *r, uint32_t user, uint32_t item, float rating,
                      int64_t time) {
    if (r->n == r->cap && ratings_reserve(r, r->n + 1) != 0) return -1;
    r->user[r->n] = user;
    r->item[r->n] = item;
    r->rating[r->n] = rating;
    if (r->time) r->time[r->n] = time;
    r->n++;
    return 0;
}

int data_ratings_select(data_ratings *dst, const data_ratings *src, const uint32_t *idx,
                        size_t n) {
    size_t k;
    if (dst == src) return -1;
    for (k = 0; k < n; k++)
        if (idx[k] >= src->n) return -1;
    ratings_like(dst, src);
    if (ratings_reserve(dst, n) != 0) return -1;
    for (k = 0; k < n; k++) {
        uint32_t i = idx[k];
        dst->user[k] = src->user[i];
        dst->item[k] = src->item[i];
        dst->rating[k] = src->rating[i];
        if (dst->time) dst->time[k] = src->time[i];
    }
    dst->n = n;
    return 0;
}

/* dst = rows [from, to) of src */
static int ratings_copy_range(data_ratings *dst, const data_ratings *src, size_t from, size_t to) {
    size_t n = to - from;
    ratings_like(dst, src);
    if (ratings_reserve(dst, n) != 0) return -1;
    if (n) {
        memcpy(dst->user, src->user + from, n * sizeof *dst->user);
        memcpy(dst->item, src->item + from, n * sizeof *dst->item);
        memcpy(dst->rating, src->rating + from, n * sizeof *dst->rating);
        if (dst->time) memcpy(dst->time, src->time + from, n * sizeof *dst->time);
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

/* The ratings parser of data.h: what the plain reader below and the chunked
 * reader of fast/reader.c share. */

/* A malformed line: with skip_bad count it (and keep the first message) and
 * return 0 to go on; else fill err and return -1. */
static int bad_line(data_ratings_parse *rd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int bad_line(data_ratings_parse *rd, const char *fmt, ...) {
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rd->o.skip_bad) {
        if (rd->rep->skipped++ == 0)
            data_text_printf(rd->rep->first_error, sizeof rd->rep->first_error, "%s:%zu: %s",
                        rd->path, rd->line, what);
        return 0;
    }
    data_errorf(rd->err, "%s:%zu: %s", rd->path, rd->line, what);
    return -1;
}

static int out_of_memory(data_ratings_parse *rd) {
    data_errorf(rd->err, "%s: out of memory", rd->path);
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

static int is_number_text(char *s) {
    field f = {.s = s, .len = strlen(s)};
    double v;
    return field_number(&f, &v) == 0;
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

/* Format, delimiter and header from the first non-empty line [first, eol),
 * physical line number line_no, where the options leave them open.
 * 0 or -1 with err. */
static int sniff_layout(data_ratings_parse *rd, const char *first, const char *eol,
                        size_t line_no) {
    size_t n;
    int has_dc = 0, has_tab, has_comma, has_semi;
    const char *q;
    char ff[64], v[64];
    /* blanks around the line say nothing of its delimiter ("1;2;3\t") */
    while (eol > first && (is_blank(eol[-1]) || eol[-1] == '\r')) eol--;
    while (first < eol && is_blank(*first)) first++;
    n = (size_t)(eol - first);
    has_tab = memchr(first, '\t', n) != NULL;
    has_comma = memchr(first, ',', n) != NULL;
    has_semi = memchr(first, ';', n) != NULL;
    for (q = first; q + 1 < eol; q++)
        if (q[0] == ':' && q[1] == ':') {
            has_dc = 1;
            break;
        }
    rd->fmt = rd->o.format;
    if (rd->fmt == DATA_FMT_AUTO && rd->o.delim) rd->fmt = DATA_FMT_DELIM;
    rd->delim = rd->o.delim;
    if (!rd->delim) {
        if (rd->fmt == DATA_FMT_UDATA) rd->delim = "\t";
        else if (rd->fmt == DATA_FMT_DAT) rd->delim = "::";
        else if (rd->fmt == DATA_FMT_CSV) rd->delim = ",";
        else if (has_dc) rd->delim = "::";
        else if (has_tab) rd->delim = "\t";
        else if (has_comma) rd->delim = ",";
        else if (has_semi) rd->delim = ";";
        else {
            data_errorf(rd->err, "%s:%zu: cannot tell the delimiter: no \"::\", tab, comma or "
                                 "semicolon in the first line (\"%s\")",
                        rd->path, line_no, shown(v, sizeof v, first, n));
            return -1;
        }
    }
    /* a first field that is a number means data, not a header */
    first_field(ff, sizeof ff, first, eol, rd->delim);
    if (rd->fmt == DATA_FMT_AUTO) {
        if (has_dc) rd->fmt = DATA_FMT_DAT;
        else if (has_tab) rd->fmt = is_number_text(ff) ? DATA_FMT_UDATA : DATA_FMT_DELIM;
        else if (has_comma) rd->fmt = DATA_FMT_CSV;
        else rd->fmt = DATA_FMT_DELIM; /* semicolon */
    }
    rd->header = rd->o.header;
    if (rd->header < 0)
        rd->header = (rd->fmt == DATA_FMT_UDATA || rd->fmt == DATA_FMT_DAT) ? 0
                                                                           : !is_number_text(ff);
    return 0;
}

/* Split the header, if there is one, and resolve the four columns from it
 * or from the format's own layout; then the fields a line needs. 0 or -1
 * with err. */
static int read_columns(data_ratings_parse *rd) {
    const data_read_opts *o = &rd->o;
    const field *h = NULL;
    size_t nh = 0;
    char v[64];
    if (rd->header) {
        int s = split_next(&rd->sp);
        rd->line++;
        if (s < 0) return out_of_memory(rd);
        if (rd->sp.why) {
            data_errorf(rd->err, "%s:%zu: header: %s (\"%s\")", rd->path, rd->line, rd->sp.why,
                        shown(v, sizeof v, rd->sp.bad, rd->sp.bad_len));
            return -1;
        }
        trim_names(rd->sp.f, rd->sp.nf);
        h = rd->sp.f;
        nh = rd->sp.nf;
        rd->width = nh;
    }
    if (resolve_column("user", o->user_col, 0, h, nh, rd->header, rd->path, &rd->ucol, rd->err) ||
        resolve_column("item", o->item_col, 1, h, nh, rd->header, rd->path, &rd->icol, rd->err) ||
        resolve_column("rating", o->rating_col, 2, h, nh, rd->header, rd->path, &rd->rcol,
                       rd->err) ||
        resolve_column("time", o->time_col, -1, h, nh, rd->header, rd->path, &rd->tcol, rd->err))
        return -1;
    rd->layout_default = !o->user_col && !o->item_col && !o->rating_col;
    if (!o->time_col && rd->header) {
        /* the format's own layout has its time 4th; chosen columns
         * take the time from a column named so, if there is one */
        size_t i;
        if (rd->layout_default && nh >= 4) rd->tcol = 3;
        for (i = 0; i < nh && !rd->layout_default && rd->tcol < 0; i++)
            if (name_eq_nocase(h[i].s, "timestamp") || name_eq_nocase(h[i].s, "time"))
                rd->tcol = (long)i;
    }
    rd->need = (size_t)(rd->ucol > rd->icol ? rd->ucol : rd->icol);
    if ((size_t)rd->rcol > rd->need) rd->need = (size_t)rd->rcol;
    if (rd->tcol >= 0 && (size_t)rd->tcol > rd->need) rd->need = (size_t)rd->tcol;
    rd->need++;
    if (rd->header && rd->need > rd->width) {
        data_errorf(rd->err, "%s:%zu: the header has %zu columns, expected at least %zu",
                    rd->path, rd->line, rd->width, rd->need);
        return -1;
    }
    return 0;
}

/* A field that does not parse ("user id", "does not fit in 64 bits"):
 * as bad_line. */
static int bad_field(data_ratings_parse *rd, const char *what, const char *problem,
                     const field *f) {
    char v[64];
    return bad_line(rd, "%s %s (\"%s\")", what, problem, shown(v, sizeof v, f->s, f->len));
}

/* a rating that overflows the float column it is stored in */
#define RATING_RANGE "is out of range for a float32"

static const char *int_problem(int e) {
    return e == -2 ? "does not fit in 64 bits" : "is not an integer";
}

/* The line just split (not empty): its width checked, then its fields
 * parsed into *ln. 1: a row; 0: malformed and skipped; -1: malformed, err
 * filled. */
static int parse_line(data_ratings_parse *rd, data_ratings_row *ln) {
    const splitter *sp = &rd->sp;
    const field *f = sp->f, *g;
    char v[64];
    int e;
    if (sp->why)
        return bad_line(rd, "%s (\"%s\")", sp->why, shown(v, sizeof v, sp->bad, sp->bad_len));
    if (rd->width != 0 && sp->nf != rd->width)
        return bad_line(rd, "expected %zu fields, found %zu", rd->width, sp->nf);
    if (sp->nf < rd->need)
        return bad_line(rd, "expected at least %zu fields, found %zu", rd->need, sp->nf);
    if (rd->width == 0) {
        rd->width = sp->nf; /* no header: the first good line sets the width */
        if (!rd->o.time_col && rd->layout_default && rd->width >= 4) {
            rd->tcol = 3;
            if (rd->need < 4) rd->need = 4;
        }
    }
    ln->time = 0;
    g = &f[rd->ucol];
    if ((e = field_i64(g, &ln->user)) != 0) return bad_field(rd, "user id", int_problem(e), g);
    g = &f[rd->icol];
    if ((e = field_i64(g, &ln->item)) != 0) return bad_field(rd, "item id", int_problem(e), g);
    g = &f[rd->rcol];
    if ((e = field_number(g, &ln->rating)) != 0)
        return bad_field(rd, "rating", e == -2 ? RATING_RANGE : "is not a number", g);
    if (!(fabs(ln->rating) < DATA_FLOAT_OVERFLOW)) /* stored as float: 1e39 would be inf */
        return bad_field(rd, "rating", RATING_RANGE, g);
    if (rd->tcol >= 0) {
        g = &f[rd->tcol];
        if ((e = field_i64(g, &ln->time)) != 0)
            return bad_field(rd, "timestamp", int_problem(e), g);
    }
    return 1;
}

void data_parse_init(data_ratings_parse *rd, const char *path, const data_read_opts *o,
                     data_read_report *rep, data_error *err) {
    memset(rd, 0, sizeof *rd);
    rd->path = path;
    rd->o = *o;
    rd->rep = rep;
    rd->err = err;
}

void data_parse_free(data_ratings_parse *rd) {
    free(rd->sp.f);
    rd->sp.f = NULL;
}

/* The end of the text [p, end) to parse: before the line that holds a NUL
 * byte, if one does (rd->nul then says so). */
static char *before_nul(data_ratings_parse *rd, char *p, char *end) {
    char *nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul) return end;
    rd->nul = 1;
    while (nul > p && nul[-1] != '\n') nul--;
    return nul;
}

/* the text is used up: 0, or the NUL byte it stopped before */
static int text_used_up(const data_ratings_parse *rd) {
    return rd->nul ? nul_byte(rd->err, rd->path, rd->line + 1) : 0;
}

int data_parse_start(data_ratings_parse *rd, char *p, char *end) {
    char *line1, *eol;
    size_t skipped;
    if (!rd->begun) p += skip_bom(p, (size_t)(end - p));
    rd->begun = 1;
    end = before_nul(rd, p, end);
    line1 = first_nonempty_line(p, end, &eol, &skipped);
    rd->line += skipped;
    if (!line1) return text_used_up(rd); /* nothing but empty lines so far */
    if (sniff_layout(rd, line1, eol, rd->line + 1) != 0) return -1;
    rd->rep->format = rd->fmt;
    splitter_init(&rd->sp, line1, end, rd->delim,
                  rd->fmt == DATA_FMT_CSV || rd->fmt == DATA_FMT_DELIM);
    if (read_columns(rd) != 0) return -1;
    return 1;
}

void data_parse_text(data_ratings_parse *rd, char *p, char *end) {
    splitter_reset(&rd->sp, p, before_nul(rd, p, end));
}

int data_parse_row(data_ratings_parse *rd, data_ratings_row *row) {
    for (;;) {
        int s = split_next(&rd->sp);
        if (s == 0) return text_used_up(rd);
        if (s < 0) return out_of_memory(rd);
        rd->line++;
        if (rd->sp.nf == 0 && !rd->sp.why) continue; /* a truly empty line */
        rd->rep->lines++;
        if ((s = parse_line(rd, row)) != 0) return s; /* a row, or an error */
    }
}

/* The dense index of raw in m (what: "user", "item"), or -1 with err. */
static int32_t intern_id(data_ratings_parse *rd, const char *what, data_idmap *m, int64_t raw) {
    int32_t k = data_idmap_intern(m, raw);
    if (k < 0 && m->n >= (size_t)INT32_MAX)
        data_errorf(rd->err, "%s:%zu: more than %ld distinct %s ids", rd->path, rd->line,
                    (long)INT32_MAX, what);
    else if (k < 0)
        out_of_memory(rd);
    return k;
}

int data_parse_add(data_ratings_parse *rd, data_idmap *users, data_idmap *items,
                   data_ratings *out, const data_ratings_row *row) {
    int32_t u, i;
    if (out->n >= (size_t)UINT32_MAX) {
        data_errorf(rd->err, "%s:%zu: more than %lu ratings", rd->path, rd->line,
                    (unsigned long)UINT32_MAX);
        return -1;
    }
    if ((u = intern_id(rd, "user", users, row->user)) < 0 ||
        (i = intern_id(rd, "item", items, row->item)) < 0)
        return -1;
    if (data_ratings_push(out, (uint32_t)u, (uint32_t)i, (float)row->rating, row->time) != 0)
        return out_of_memory(rd);
    return 0;
}

int data_parse_end(const data_ratings_parse *rd, size_t added) {
    if (added) return 0;
    if (rd->rep->skipped)
        data_errorf(rd->err, "%s: no ratings (%zu malformed lines skipped; the first: %s)",
                    rd->path, rd->rep->skipped, rd->rep->first_error);
    else
        data_errorf(rd->err, "%s: no ratings", rd->path);
    return -1;
}

int data_parse_too_long(const data_ratings_parse *rd) {
    return line_too_long(rd->err, rd->path, rd->line + 1, DATA_MAX_LINE);
}

/* ------------------------------------------------------ the plain reader */

/* A text file read a line at a time into one buffer, which holds the
 * longest line allowed, its '\n' and the byte the splitter writes after it. */
typedef struct {
    const char *path;
    FILE *f;          /* standard input when path is "-" */
    char *buf;        /* DATA_MAX_LINE + 2 bytes */
    size_t len;       /* the line's bytes, its '\n' (when it has one) included */
    size_t line;      /* its number */
} line_reader;

static void lines_close(line_reader *lr) {
    if (lr->f && lr->f != stdin) fclose(lr->f);
    free(lr->buf);
}

static int lines_open(line_reader *lr, const char *path, data_error *err) {
    memset(lr, 0, sizeof *lr);
    lr->path = path;
    lr->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!lr->f) {
        data_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (!(lr->buf = malloc(DATA_MAX_LINE + 2))) {
        data_errorf(err, "%s: out of memory reading the file", path);
        lines_close(lr);
        return -1;
    }
    return 0;
}

/* The next line into buf. 1; 0 at the end of the file; -1 with err for a
 * read error or a line longer than DATA_MAX_LINE, as soon as it runs past
 * it (so a file without line ends fails at once). */
static int lines_next(line_reader *lr, data_error *err) {
    int c;
    lr->len = 0;
    lr->line++;
    while ((c = getc(lr->f)) != EOF) {
        if (c != '\n' && lr->len == DATA_MAX_LINE)
            return line_too_long(err, lr->path, lr->line, DATA_MAX_LINE);
        lr->buf[lr->len++] = (char)c;
        if (c == '\n') break;
    }
    if (ferror(lr->f)) {
        data_errorf(err, "%s: read error: %s", lr->path, strerror(errno));
        return -1;
    }
    return lr->len > 0;
}

/* The ratings of one line just read, appended to out. 0 or -1 with err. */
static int add_rows(data_ratings_parse *rd, data_idmap *users, data_idmap *items,
                    data_ratings *out) {
    data_ratings_row row;
    int s;
    while ((s = data_parse_row(rd, &row)) > 0)
        if (data_parse_add(rd, users, items, out, &row) != 0) return -1;
    return s;
}

/* data_read_ratings's own reader: a line at a time, each handed to the
 * parser, the rows growing by doubling. No cache: with opts->cache it
 * parses, and says so in the report. */
static int read_plain(const char *path, const data_read_opts *o, data_idmap *users,
                      data_idmap *items, data_ratings *out, data_read_report *rep,
                      data_error *err) {
    line_reader lr;
    data_ratings_parse rd;
    size_t n0 = out->n;
    int s, started = 0;
    if (o->cache) {
        rep->cache = DATA_CACHE_UNUSED;
        data_text_printf(rep->cache_note, sizeof rep->cache_note,
                    "%s: the reference build keeps no ratings cache; parsed", path);
    }
    if (lines_open(&lr, path, err) != 0) return -1;
    data_parse_init(&rd, path, o, rep, err);
    while ((s = lines_next(&lr, err)) > 0) {
        char *line = lr.buf, *end = lr.buf + lr.len;
        if (started) data_parse_text(&rd, line, end);
        else if ((s = data_parse_start(&rd, line, end)) < 0) break;
        else started = s; /* 0: an empty line; the first other one set the layout */
        if (started && (s = add_rows(&rd, users, items, out)) != 0) break;
    }
    if (s == 0) s = data_parse_end(&rd, out->n - n0);
    if (s != 0) out->n = n0; /* no rows on failure; interned ids stay */
    data_parse_free(&rd);
    lines_close(&lr);
    return s;
}

/* ----------------------------------------------------------------- the seam */

/* the reader data_read_ratings hands the file to; NULL: read_plain */
static data_ratings_reader installed_reader;

void data_use_reader(data_ratings_reader reader) { installed_reader = reader; }

int data_read_ratings(const char *path, const data_read_opts *opts, data_idmap *users,
                      data_idmap *items, data_ratings *out, data_read_report *report,
                      data_error *err) {
    data_read_opts o = opts ? *opts : data_read_defaults();
    data_read_report local, *rep = report ? report : &local;
    size_t n0 = out->n;
    memset(rep, 0, sizeof *rep);
    if (o.user_items) memset(o.user_items, 0, sizeof *o.user_items);
    if (o.delim && !*o.delim) {
        data_errorf(err, "%s: the delimiter is empty", path);
        return -1;
    }
    if (o.cache && strcmp(path, "-") == 0) {
        data_errorf(err, "-: a cache needs a named file, not standard input");
        return -1;
    }
    if (o.cache && out->no_time) { /* (the cache stores the file whole, times included) */
        data_errorf(err, "%s: a cache keeps the timestamps, and these rows keep none", path);
        return -1;
    }
    if (o.no_time && !o.cache) data_ratings_without_time(out);
    if ((installed_reader ? installed_reader : read_plain)(path, &o, users, items, out, rep,
                                                           err) != 0)
        return -1;
    /* the user items, where the reader (a cache) did not give them */
    if (o.user_items && !o.user_items->start &&
        data_user_items_build(o.user_items, out, users->n) != 0) {
        out->n = n0;
        data_errorf(err, "%s: out of memory", path);
        return -1;
    }
    return 0;
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

int data_split_tail_view(const data_ratings *all, double frac, data_ratings *train,
                         data_ratings *val) {
    size_t n = all->n, at;
    if (!(frac >= 0.0 && frac < 1.0)) return -1;
    at = (size_t)((double)n * (1.0 - frac)); /* as data_split_tail */
    if (at > n) at = n;
    if (ratings_copy_range(val, all, at, n) != 0) return -1;
    *train = *all;
    train->n = at;
    train->cap = 0; /* a view: the rows belong to all */
    train->block = NULL;
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
    ratings_like(train, all);
    ratings_like(test, all);
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
        if (d->time) d->time[j] = all->time[k];
    }
    train->n = a;
    test->n = b;
    free(idx);
    free(in_test);
    return 0;
}

/* one row, as the columns hold it */
typedef struct {
    uint32_t user, item;
    float rating;
    int64_t time;
} ratings_row;

static ratings_row row_get(const data_ratings *r, size_t k) {
    ratings_row x = {r->user[k], r->item[k], r->rating[k], time_of(r, k)};
    return x;
}

static void row_put(data_ratings *r, size_t k, ratings_row x) {
    r->user[k] = x.user;
    r->item[k] = x.item;
    r->rating[k] = x.rating;
    if (r->time) r->time[k] = x.time;
}

/* Fisher–Yates on the rows themselves: the swaps nn_rng_shuffle_u32 makes
 * of 0..n−1, so row k ends as the row its shuffle puts at k, with no copy
 * of the columns and no index */
int data_ratings_shuffle(data_ratings *r, nn_rng *rng) {
    size_t i;
    for (i = r->n; i > 1; i--) {
        size_t j = (size_t)nn_rng_below(rng, i); /* j uniform in [0, i) */
        ratings_row x = row_get(r, i - 1);
        row_put(r, i - 1, row_get(r, j));
        row_put(r, j, x);
    }
    return 0;
}

#define BIT_GET(b, k) ((b)[(k) / 8] >> ((k) % 8) & 1u)
#define BIT_FLIP(b, k) ((b)[(k) / 8] ^= (unsigned char)(1u << ((k) % 8)))

/* In place, a cycle of perm at a time: one bit a row (set while the row
 * waits for its place), not a copy of the columns. */
int data_ratings_permute(data_ratings *r, const uint32_t *perm) {
    size_t n = r->n, k;
    unsigned char *waits = calloc(n / 8 + 1, 1);
    if (!waits) return -1;
    for (k = 0; k < n; k++) { /* a permutation: every row exactly once */
        if (perm[k] >= n || BIT_GET(waits, perm[k])) {
            free(waits);
            return -1;
        }
        BIT_FLIP(waits, perm[k]);
    }
    for (k = 0; k < n; k++) {
        size_t j = k, from;
        ratings_row first;
        if (!BIT_GET(waits, k)) continue; /* placed by an earlier cycle */
        first = row_get(r, k);
        for (; (from = perm[j]) != k; j = from) { /* row j is the old row perm[j] */
            row_put(r, j, row_get(r, from));
            BIT_FLIP(waits, j);
        }
        row_put(r, j, first);
        BIT_FLIP(waits, j);
    }
    free(waits);
    return 0;
}

/* How many ratings each of n rows (users or items) may keep in train: a
 * random fraction `frac` of the rows are cold and get a budget drawn from
 * 0..max_kept; the others are unlimited (UINT32_MAX). NULL when out of memory. */
static uint32_t *cold_budgets(size_t n, double frac, size_t max_kept, nn_rng *rng) {
    uint32_t *budget = malloc((n ? n : 1) * sizeof *budget), *order;
    size_t n_cold = (size_t)((double)n * frac), k;
    order = malloc((n ? n : 1) * sizeof *order);
    if (!budget || !order) {
        free(budget);
        free(order);
        return NULL;
    }
    for (k = 0; k < n; k++) {
        budget[k] = UINT32_MAX;
        order[k] = (uint32_t)k;
    }
    nn_rng_shuffle_u32(rng, order, n);
    for (k = 0; k < n_cold && k < n; k++)
        budget[order[k]] = (uint32_t)nn_rng_below(rng, (uint64_t)max_kept + 1);
    free(order);
    return budget;
}

int data_split_cold(const data_ratings *all, size_t n_users, size_t n_items, double test_frac,
                    double cold_users, double cold_items, size_t max_kept, nn_rng *rng,
                    data_ratings *train, data_ratings *test) {
    size_t n = all->n, k;
    uint32_t *ub = NULL, *ib = NULL, *order = NULL;
    int rc = -1;
    if (!(test_frac >= 0.0 && test_frac < 1.0) || !(cold_users >= 0.0 && cold_users <= 1.0) ||
        !(cold_items >= 0.0 && cold_items <= 1.0) || n > (size_t)UINT32_MAX ||
        max_kept >= UINT32_MAX)
        return -1;
    train->n = test->n = 0;
    ratings_like(train, all);
    ratings_like(test, all);
    ub = cold_budgets(n_users, cold_users, max_kept, rng);
    ib = cold_budgets(n_items, cold_items, max_kept, rng);
    order = malloc((n ? n : 1) * sizeof *order);
    if (!ub || !ib || !order) goto done;
    for (k = 0; k < n; k++) order[k] = (uint32_t)k;
    nn_rng_shuffle_u32(rng, order, n); /* which of a cold row's ratings it keeps: random */
    for (k = 0; k < n; k++) {
        size_t r = order[k];
        uint32_t u = all->user[r], i = all->item[r];
        int cold_u = u < n_users && ub[u] != UINT32_MAX, cold_i = i < n_items && ib[i] != UINT32_MAX;
        int to_train;
        if (cold_u || cold_i) /* kept while every cold side has budget left */
            to_train = (!cold_u || ub[u] > 0) && (!cold_i || ib[i] > 0);
        else
            to_train = nn_rng_uniform(rng) >= test_frac;
        if (to_train) {
            if (cold_u) ub[u]--;
            if (cold_i) ib[i]--;
        }
        if (data_ratings_push(to_train ? train : test, u, i, all->rating[r], time_of(all, r)) != 0)
            goto done;
    }
    rc = 0;
done:
    free(ub);
    free(ib);
    free(order);
    return rc;
}

int data_folds(size_t n, size_t k, nn_rng *rng, uint32_t *fold) {
    uint32_t *order;
    size_t p, f, at = 0;
    if (k == 0 || k > n || n > (size_t)UINT32_MAX) return -1;
    order = malloc(n * sizeof *order);
    if (!order) return -1;
    for (p = 0; p < n; p++) order[p] = (uint32_t)p;
    nn_rng_shuffle_u32(rng, order, n);
    for (f = 0; f < k; f++) { /* run f: the next ⌊n/k⌋ rows, one more for the first n mod k */
        size_t len = n / k + (f < n % k);
        for (p = at; p < at + len; p++) fold[order[p]] = (uint32_t)f;
        at += len;
    }
    free(order);
    return 0;
}

int data_split_fold(const data_ratings *all, const uint32_t *fold, uint32_t f,
                    data_ratings *train, data_ratings *test) {
    size_t k;
    train->n = test->n = 0;
    ratings_like(train, all);
    ratings_like(test, all);
    for (k = 0; k < all->n; k++)
        if (data_ratings_push(fold[k] == f ? test : train, all->user[k], all->item[k],
                              all->rating[k], time_of(all, k)) != 0)
            return -1;
    return 0;
}

static const char *const ties_names[] = {"last", "first", "max-item", "random"};
static const char *const ties_words[] = {
    "the last of them in the file", "the first of them in the file",
    "the one with the largest item id", "one drawn at random"};

int data_ties_parse(const char *name, data_ties_rule *rule) {
    size_t k;
    for (k = 0; k < sizeof ties_names / sizeof *ties_names; k++)
        if (strcmp(name, ties_names[k]) == 0) {
            *rule = (data_ties_rule)k;
            return 0;
        }
    return -1;
}

const char *data_ties_name(data_ties_rule rule) {
    return (unsigned)rule < 4 ? ties_names[rule] : "?";
}

const char *data_ties_words(data_ties_rule rule) {
    return (unsigned)rule < 4 ? ties_words[rule] : "?";
}

/* Row k ties with the user's held-out row so far (same timestamp): does it
 * take its place? n_tied counts the tied rows seen, k's included. */
static int takes_tie(const data_ties *t, const data_ratings *all, size_t k, uint32_t held,
                     uint32_t n_tied, nn_rng *rng) {
    switch (t->rule) {
    case DATA_TIES_FIRST: return 0;
    case DATA_TIES_MAX_ITEM: return t->item_raw[all->item[k]] > t->item_raw[all->item[held]];
    case DATA_TIES_RANDOM: return nn_rng_below(rng, n_tied) == 0; /* each of n kept w.p. 1/n */
    case DATA_TIES_LAST: default: return 1;
    }
}

int data_split_latest(const data_ratings *all, size_t n_users, const data_ties *ties,
                      data_ratings *train, data_ratings *test) {
    static const data_ties last = {.rule = DATA_TIES_LAST};
    uint32_t *latest = malloc((n_users ? n_users : 1) * sizeof *latest); /* row + 1, 0 = none */
    uint32_t *count = calloc(n_users ? n_users : 1, sizeof *count);
    uint32_t *tied = calloc(n_users ? n_users : 1, sizeof *tied); /* rows at the latest time */
    nn_rng rng;
    size_t k;
    int rc = -1;
    if (!ties) ties = &last;
    nn_rng_seed(&rng, ties->seed);
    data_ratings_free(train);
    data_ratings_free(test);
    ratings_like(train, all);
    ratings_like(test, all);
    if (!latest || !count || !tied) goto done;
    memset(latest, 0, (n_users ? n_users : 1) * sizeof *latest);
    for (k = 0; k < all->n; k++) {
        uint32_t u = all->user[k], held;
        if (u >= n_users) goto done;
        held = latest[u] - 1;
        count[u]++;
        if (!latest[u] || time_of(all, k) > time_of(all, held)) { /* a later time: it alone so far */
            latest[u] = (uint32_t)k + 1;
            tied[u] = 1;
        } else if (time_of(all, k) == time_of(all, held) &&
                   takes_tie(ties, all, k, held, ++tied[u], &rng)) {
            latest[u] = (uint32_t)k + 1;
        }
    }
    for (k = 0; k < all->n; k++) {
        uint32_t u = all->user[k];
        data_ratings *to = count[u] > 1 && latest[u] == k + 1 ? test : train;
        if (data_ratings_push(to, u, all->item[k], all->rating[k], time_of(all, k)) != 0) goto done;
    }
    rc = 0;
done:
    free(latest);
    free(count);
    free(tied);
    return rc;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* a[0..n) ascending by insertion: the quickest way for a few items */
static void sort_few_u32(uint32_t *a, size_t n) {
    size_t j, k;
    for (j = 1; j < n; j++) {
        uint32_t x = a[j];
        for (k = j; k > 0 && a[k - 1] > x; k--) a[k] = a[k - 1];
        a[k] = x;
    }
}

/* a[0..n) ascending, its values below 2^(8·bytes): a counting sort by each
 * byte from the lowest (a radix sort), which keeps the order of the bytes
 * already sorted by, through tmp (n entries). A user's items fit in the
 * cache, so this runs at its speed, where qsort's calls were most of the
 * cost; short lists go by insertion, sorted ones stay as they are. */
static void sort_u32(uint32_t *a, size_t n, uint32_t *tmp, unsigned bytes) {
    uint32_t count[4][256], *src = a, *dst = tmp, *t;
    size_t k;
    unsigned b;
    for (k = 1; k < n && a[k - 1] <= a[k]; k++) {
    }
    if (k >= n) return;
    if (n <= 32) {
        sort_few_u32(a, n);
        return;
    }
    memset(count, 0, bytes * sizeof count[0]);
    for (k = 0; k < n; k++)
        for (b = 0; b < bytes; b++) count[b][(src[k] >> (8 * b)) & 255]++;
    for (b = 0; b < bytes; b++) {
        uint32_t at = 0, c;
        size_t d;
        if (count[b][(src[0] >> (8 * b)) & 255] == n) continue; /* one value here: no move */
        for (d = 0; d < 256; d++) { /* counts into first slots */
            c = count[b][d];
            count[b][d] = at;
            at += c;
        }
        for (k = 0; k < n; k++) dst[count[b][(src[k] >> (8 * b)) & 255]++] = src[k];
        t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

int data_user_items_build(data_user_items *ui, const data_ratings *r, size_t n_users) {
    uint32_t *fill, *tmp = NULL, top = 0;
    size_t k, u, longest = 0;
    unsigned bytes = 1;
    memset(ui, 0, sizeof *ui);
    ui->n_users = n_users;
    ui->start = calloc(n_users + 1, sizeof *ui->start);
    ui->item = malloc((r->n ? r->n : 1) * sizeof *ui->item);
    fill = calloc(n_users + 1, sizeof *fill);
    if (!ui->start || !ui->item || !fill) goto fail;
    for (k = 0; k < r->n; k++) { /* count, then prefix sums: start[u] */
        if (r->user[k] >= n_users) goto fail;
        ui->start[r->user[k] + 1]++;
        if (r->item[k] > top) top = r->item[k];
    }
    for (u = 0; u < n_users; u++) {
        if (ui->start[u + 1] > longest) longest = ui->start[u + 1];
        ui->start[u + 1] += ui->start[u];
    }
    while (bytes < 4 && top >> (8 * bytes)) bytes++; /* the bytes the items use */
    if (!(tmp = malloc((longest ? longest : 1) * sizeof *tmp))) goto fail;
    for (k = 0; k < r->n; k++) {
        uint32_t v = r->user[k];
        ui->item[ui->start[v] + fill[v]++] = r->item[k];
    }
    for (u = 0, k = 0; u < n_users; u++) { /* sort each user's items, drop repeats */
        uint32_t *it = ui->item + ui->start[u];
        size_t n = ui->start[u + 1] - ui->start[u], j;
        sort_u32(it, n, tmp, bytes);
        ui->start[u] = (uint32_t)k;
        for (j = 0; j < n; j++)
            if (j == 0 || it[j] != it[j - 1]) ui->item[k++] = it[j];
    }
    ui->start[n_users] = (uint32_t)k;
    free(fill);
    free(tmp);
    return 0;
fail:
    free(fill);
    free(tmp);
    data_user_items_free(ui);
    return -1;
}

void data_user_items_free(data_user_items *ui) {
    if (ui->block) {
        data_block_release(ui->block);
    } else {
        free(ui->start);
        free(ui->item);
    }
    memset(ui, 0, sizeof *ui);
}

int data_user_items_has(const data_user_items *ui, uint32_t u, uint32_t i) {
    size_t lo, hi;
    if (u >= ui->n_users) return 0;
    lo = ui->start[u];
    hi = ui->start[u + 1];
    while (lo < hi) { /* the first position holding an item >= i */
        size_t mid = lo + (hi - lo) / 2;
        if (ui->item[mid] < i) lo = mid + 1;
        else hi = mid;
    }
    return lo < ui->start[u + 1] && ui->item[lo] == i;
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

/* Room for extra more bytes in a string pool (text, len, cap), grown by
 * doubling; every struct with a text pool goes through this. 0 or -1. */
static int text_reserve(char **text, size_t len, size_t *cap_io, size_t extra) {
    size_t cap = *cap_io ? *cap_io : 4096;
    char *t;
    if (extra > SIZE_MAX - len) return -1;
    if (len + extra <= *cap_io) return 0;
    while (cap < len + extra) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    if (!(t = realloc(*text, cap))) return -1;
    *text = t;
    *cap_io = cap;
    return 0;
}

static int pool_reserve(data_movies *m, size_t extra) {
    return text_reserve(&m->text, m->text_len, &m->text_cap, extra);
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

/* One read of a movies file: its kind, its columns, where the splitter is. */
typedef struct {
    const char *path;
    data_error *err;
    movies_kind kind;
    int latin1;               /* not valid UTF-8: read as Latin-1 */
    long col[3];              /* 0-based fields of the id, title and genres */
    size_t width;             /* fields every line must have */
    size_t line;              /* physical line number of the line last split */
    size_t nmax;              /* rows reserved */
    splitter sp;
} movies_read;

static int movies_out_of_memory(movies_read *mr) {
    data_errorf(mr->err, "%s: out of memory", mr->path);
    return -1;
}

/* u.item starts "digits|", movies.dat "digits::" (blanks around the
 * digits allowed, as in any id); anything else is CSV. */
static movies_kind movies_kind_of(const char *first, const char *eol) {
    const char *q, *digits;
    for (q = first; q < eol && is_blank(*q); q++) {}
    for (digits = q; q < eol && is_digit(*q); q++) {}
    if (q == digits) return MOVIES_CSV;
    while (q < eol && is_blank(*q)) q++;
    if (q < eol && *q == '|') return MOVIES_UITEM;
    if (eol - q >= 2 && q[0] == ':' && q[1] == ':') return MOVIES_DAT;
    return MOVIES_CSV;
}

/* Room for nmax movies and text bytes of strings, once. 0 or -1. */
static int movies_reserve(data_movies *m, size_t nmax, size_t text) {
    m->id = malloc(nmax * sizeof *m->id);
    m->title = malloc(nmax * sizeof *m->title);
    m->genres = malloc(nmax * sizeof *m->genres);
    m->year = malloc(nmax * sizeof *m->year);
    if (!m->id || !m->title || !m->genres || !m->year || pool_reserve(m, text) != 0) return -1;
    return 0;
}

/* The movies.csv header just split: its width, and the movieId, title and
 * genres columns by name in any case. 0 or -1 with err. */
static int movies_header(movies_read *mr) {
    static const char *const names[3] = {"movieId", "title", "genres"};
    const splitter *sp = &mr->sp;
    size_t k, i;
    if (sp->why) {
        data_errorf(mr->err, "%s:%zu: header: %s", mr->path, mr->line, sp->why);
        return -1;
    }
    mr->width = sp->nf;
    for (k = 0; k < 3; k++) {
        mr->col[k] = -1;
        for (i = 0; i < sp->nf && mr->col[k] < 0; i++)
            if (name_eq_nocase(sp->f[i].s, names[k])) mr->col[k] = (long)i;
        if (mr->col[k] < 0) {
            char list[600];
            header_list(list, sizeof list, sp->f, sp->nf);
            data_errorf(mr->err, "%s:%zu: no \"%s\" column in the header (columns: %s)",
                        mr->path, mr->line, names[k], list);
            return -1;
        }
    }
    return 0;
}

/* u.item's 19 genre flags as "Action|Comedy" in dst (at least 256 bytes);
 * its length in *len. 0 or -1 with err for a flag that is not 0 or 1. */
static int uitem_genres_text(movies_read *mr, const field *flags, char *dst, size_t cap,
                             size_t *len) {
    size_t off = 0, g;
    char v[64];
    for (g = 0; g < 19; g++) {
        field fl = trim_field(flags[g]);
        if (fl.len != 1 || (fl.s[0] != '0' && fl.s[0] != '1')) {
            data_errorf(mr->err, "%s:%zu: genre flag %zu (%s) is not 0 or 1 (\"%s\")", mr->path,
                        mr->line, g + 1, uitem_genres[g],
                        shown(v, sizeof v, flags[g].s, flags[g].len));
            return -1;
        }
        if (fl.s[0] == '1') {
            int w = snprintf(dst + off, cap - off, "%s%s", off ? "|" : "", uitem_genres[g]);
            off += (size_t)w;
        }
    }
    *len = off;
    return 0;
}

/* The year at the end of u.item's release date "01-Jan-1995"; 0 if none. */
static int uitem_date_year(const field *d) {
    if (d->len >= 4 && is_digit(d->s[d->len - 4]) && is_digit(d->s[d->len - 3]) &&
        is_digit(d->s[d->len - 2]) && is_digit(d->s[d->len - 1]))
        return atoi(d->s + d->len - 4);
    return 0;
}

/* The line just split (not empty) as movie row out->n. 0 or -1 with err. */
static int movies_add_line(movies_read *mr, data_movies *out) {
    const splitter *sp = &mr->sp;
    const field *f = sp->f, *ft;
    size_t row = out->n, tlen;
    int64_t id;
    int e, year;
    char v[64];
    if (sp->why) {
        data_errorf(mr->err, "%s:%zu: %s (\"%s\")", mr->path, mr->line, sp->why,
                    shown(v, sizeof v, sp->bad, sp->bad_len));
        return -1;
    }
    if (sp->nf != mr->width) {
        data_errorf(mr->err, "%s:%zu: expected %zu fields, found %zu", mr->path, mr->line,
                    mr->width, sp->nf);
        return -1;
    }
    if ((e = field_i64(&f[mr->col[0]], &id)) != 0) {
        data_errorf(mr->err, "%s:%zu: movie id %s (\"%s\")", mr->path, mr->line,
                    e == -2 ? "does not fit in 64 bits" : "is not an integer",
                    shown(v, sizeof v, f[mr->col[0]].s, f[mr->col[0]].len));
        return -1;
    }
    if (data_idmap_find(&out->ids, id) >= 0) {
        data_errorf(mr->err, "%s:%zu: duplicate movie id (\"%s\")", mr->path, mr->line,
                    f[mr->col[0]].s);
        return -1;
    }
    if (row >= mr->nmax || data_idmap_intern(&out->ids, id) != (int32_t)row)
        return movies_out_of_memory(mr);
    out->id[row] = id;
    ft = &f[mr->col[1]];
    tlen = ft->len;
    while (tlen > 0 && ft->s[tlen - 1] == ' ') tlen--; /* "Two Friends (1986) " */
    if (pool_add(out, ft->s, tlen, mr->latin1, &out->title[row]) != 0)
        return movies_out_of_memory(mr);
    year = title_year(out->text + out->title[row]);
    if (mr->kind == MOVIES_UITEM) {
        /* id|title|release date|video date|url|19 flags in u.genre order */
        char gs[256];
        size_t glen;
        if (uitem_genres_text(mr, &f[5], gs, sizeof gs, &glen) != 0) return -1;
        if (pool_add(out, gs, glen, 0, &out->genres[row]) != 0) return movies_out_of_memory(mr);
        if (!year) year = uitem_date_year(&f[2]);
    } else {
        /* genres as written, "(no genres listed)" included; blanks around
         * them (at a line's end) are not part of a genre's name */
        field fg = trim_field(f[mr->col[2]]);
        if (pool_add(out, fg.s, fg.len, mr->latin1, &out->genres[row]) != 0)
            return movies_out_of_memory(mr);
    }
    out->year[row] = year;
    out->n++;
    return 0;
}

/* The file's text [buf, buf + len), start to end: the first line decides
 * the kind, movies.csv's header the columns, then the rows. 0 or -1 with err. */
static int read_movies_text(movies_read *mr, char *buf, size_t len, data_movies *out) {
    char *p = buf + skip_bom(buf, len), *end = buf + len, *first, *eol;
    int s;
    mr->latin1 = !valid_utf8((const unsigned char *)p, (size_t)(end - p));
    if (!(first = first_nonempty_line(p, end, &eol, &mr->line))) {
        data_errorf(mr->err, "%s: no movies", mr->path);
        return -1;
    }
    mr->kind = movies_kind_of(first, eol);
    splitter_init(&mr->sp, first, end,
                  mr->kind == MOVIES_UITEM ? "|" : mr->kind == MOVIES_DAT ? "::" : ",",
                  mr->kind == MOVIES_CSV);
    mr->col[0] = 0;
    mr->col[1] = 1;
    mr->col[2] = 2;
    mr->width = mr->kind == MOVIES_UITEM ? 5 + 19 : 3;
    mr->nmax = data_count_lines(first, end);
    if (movies_reserve(out, mr->nmax, (size_t)(end - first) + 64) != 0)
        return movies_out_of_memory(mr);
    while (first < eol && is_blank(*first)) first++; /* " 1,Title,..." is data */
    if (mr->kind == MOVIES_CSV && !is_digit(*first)) { /* the header names the columns */
        if (split_next(&mr->sp) < 0) return movies_out_of_memory(mr);
        mr->line++;
        trim_names(mr->sp.f, mr->sp.nf);
        if (movies_header(mr) != 0) return -1;
    }
    while ((s = split_next(&mr->sp)) != 0) {
        if (s < 0) return movies_out_of_memory(mr);
        mr->line++;
        if (mr->sp.nf == 0 && !mr->sp.why) continue; /* a truly empty line */
        if (movies_add_line(mr, out) != 0) return -1;
    }
    if (out->n == 0) {
        data_errorf(mr->err, "%s: no movies", mr->path);
        return -1;
    }
    return 0;
}

int data_read_movies(const char *path, data_movies *out, data_error *err) {
    movies_read mr;
    size_t len;
    char *buf;
    int rc;

    data_movies_free(out);
    memset(&mr, 0, sizeof mr);
    mr.path = path;
    mr.err = err;
    if (!(buf = read_file(path, DATA_MAX_LINE, &len, err))) return -1;
    rc = read_movies_text(&mr, buf, len, out);
    if (rc != 0) data_movies_free(out);
    free(mr.sp.f);
    free(buf);
    return rc;
}

/* ============================================================ genre index */

typedef struct {
    const char *genres;
    uint32_t item;
} genre_of_item;

static int by_genre_then_item(const void *a, const void *b) {
    const genre_of_item *x = a, *y = b;
    int c = strcmp(x->genres, y->genres);
    if (c) return c;
    return x->item < y->item ? -1 : x->item > y->item;
}

int data_genre_index(const data_movies *m, const data_idmap *items, uint32_t *item_genre,
                     size_t *n_genres, data_error *err) {
    genre_of_item *pairs = malloc((items->n ? items->n : 1) * sizeof *pairs);
    size_t k, n = 0;
    if (!pairs) {
        data_errorf(err, "out of memory indexing genres");
        return -1;
    }
    for (k = 0; k < items->n; k++) {
        int32_t row = data_movie_find(m, items->raw[k]);
        pairs[k].genres = row >= 0 ? data_movie_genres(m, (size_t)row) : "";
        pairs[k].item = (uint32_t)k;
    }
    qsort(pairs, items->n, sizeof *pairs, by_genre_then_item);
    for (k = 0; k < items->n; k++) { /* a new id wherever the string changes */
        if (k > 0 && strcmp(pairs[k].genres, pairs[k - 1].genres) != 0) n++;
        item_genre[pairs[k].item] = (uint32_t)n;
    }
    *n_genres = items->n ? n + 1 : 0;
    free(pairs);
    return 0;
}

/* ============================================================ finding movies */

/* ASCII case folding: titles are UTF-8, and only ASCII letters fold */
static int fold(int c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* length of s's common prefix with the query, case-insensitively, or 0
 * when the query is not a prefix of s */
static size_t prefix_len(const char *s, const char *q) {
    size_t n = 0;
    while (q[n] && s[n] && fold((unsigned char)s[n]) == fold((unsigned char)q[n])) n++;
    return q[n] ? 0 : n;
}

int data_text_contains(const char *s, const char *q) {
    for (; *s; s++)
        if (prefix_len(s, q)) return 1;
    return 0;
}

/* 1 when the title is the query followed by nothing or by " (YYYY)" */
static int title_is(const char *title, const char *q) {
    size_t n = prefix_len(title, q);
    const char *rest = title + n;
    if (!n) return 0;
    if (!*rest) return 1;
    return rest[0] == ' ' && rest[1] == '(' && is_digit(rest[2]) && is_digit(rest[3]) &&
           is_digit(rest[4]) && is_digit(rest[5]) && rest[6] == ')' && !rest[7];
}

/* Collect the rows matching at one level of preference; the number found. */
static size_t match_level(const data_movies *m, const char *q, int level, int32_t *cand,
                          size_t max_cand) {
    size_t r, n = 0;
    for (r = 0; r < m->n; r++) {
        const char *t = data_movie_title(m, r);
        int hit = level == 0 ? title_is(t, q) && !t[prefix_len(t, q)]
                : level == 1 ? title_is(t, q)
                : level == 2 ? prefix_len(t, q) > 0
                             : data_text_contains(t, q);
        if (!hit) continue;
        if (n < max_cand) cand[n] = (int32_t)r;
        n++;
    }
    return n;
}

int data_movie_match(const data_movies *m, const char *query, int32_t *row, int32_t *cand,
                     size_t max_cand, size_t *n_cand) {
    int64_t id;
    int level;
    *n_cand = 0;
    if (!*query) return -1;
    if (parse_i64(query, strlen(query), &id) == 0) {
        *row = data_movie_find(m, id);
        return *row >= 0 ? 0 : -1;
    }
    for (level = 0; level < 4; level++) { /* exact, without year, prefix, substring */
        size_t n = match_level(m, query, level, cand, max_cand);
        if (n == 1) {
            *row = cand[0];
            return 0;
        }
        if (n > 1) {
            *n_cand = n < max_cand ? n : max_cand;
            return -2;
        }
    }
    return -1;
}

/* ============================================================ pairs */

void data_pairs_init(data_pairs *p) { memset(p, 0, sizeof *p); }

void data_pairs_free(data_pairs *p) {
    free(p->user);
    free(p->item);
    free(p->line);
    memset(p, 0, sizeof *p);
}

static int pairs_push(data_pairs *p, int64_t u, int64_t i, size_t line) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 1024;
        int64_t *nu = realloc(p->user, cap * sizeof *nu), *ni;
        size_t *nl;
        if (!nu) return -1;
        p->user = nu;
        ni = realloc(p->item, cap * sizeof *ni);
        if (!ni) return -1;
        p->item = ni;
        nl = realloc(p->line, cap * sizeof *nl);
        if (!nl) return -1;
        p->line = nl;
        p->cap = cap;
    }
    p->user[p->n] = u;
    p->item[p->n] = i;
    p->line[p->n++] = line;
    return 0;
}

int data_pairs_push_one(data_pairs *p, int64_t user, int64_t item) {
    return pairs_push(p, user, item, 0);
}

static int pair_sep(char c) {
    return c == ',' || c == '\t' || c == ';' || c == ' ' || c == ':';
}

/* the next field of a pairs line: [*s, end) up to a separator run */
static size_t pair_field(const char **s, const char *eol) {
    const char *p = *s;
    size_t n = 0;
    while (p + n < eol && !pair_sep(p[n])) n++;
    *s = p + n;
    while (*s < eol && pair_sep(**s)) (*s)++;
    return n;
}

/* A field that names a column ("userId", "movie", "item_id"): a letter
 * and no digit. A header is a first line whose two fields both do, so a
 * malformed first line of data ("1,2x", an id beyond 64 bits) is never
 * taken for one and dropped. */
static int column_name(const char *s, size_t n) {
    size_t k;
    int letter = 0;
    for (k = 0; k < n; k++) {
        int c = (unsigned char)s[k] | 0x20; /* ASCII lower case */
        if (is_digit(s[k])) return 0;
        if (c >= 'a' && c <= 'z') letter = 1;
    }
    return letter;
}

int data_read_pairs(const char *path, data_pairs *out, data_error *err) {
    size_t len, line = 0;
    int first = 1;
    char *buf = read_file(path, DATA_MAX_LINE, &len, err), *p, *end;
    if (!buf) return -1;
    p = buf + skip_bom(buf, len);
    end = buf + len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *f1, *f2;
        size_t n1, n2;
        int64_t u, i;
        int e;
        char v[64];
        if (!eol) eol = end;
        line++;
        if (eol > p && eol[-1] == '\r') eol[-1] = ' ';
        while (s < eol && (*s == ' ' || *s == '\t')) s++;
        if (s == eol) { /* an empty line */
            p = eol + 1;
            continue;
        }
        f1 = s;
        n1 = pair_field(&s, eol);
        f2 = s;
        n2 = pair_field(&s, eol);
        if (n2 == 0) {
            data_errorf(err, "%s:%zu: expected a user and an item (\"%s\")", path, line,
                        shown(v, sizeof v, f1, (size_t)(eol - f1)));
            free(buf);
            return -1;
        }
        if (first && column_name(f1, n1) && column_name(f2, n2)) { /* a header */
            first = 0;
            p = eol + 1;
            continue;
        }
        first = 0;
        if ((e = parse_i64(f1, n1, &u)) != 0 || (e = parse_i64(f2, n2, &i)) != 0) {
            int user_bad = parse_i64(f1, n1, &u) != 0;
            data_errorf(err, "%s:%zu: %s id %s (\"%s\")", path, line, user_bad ? "user" : "item",
                        e == -2 ? "does not fit in 64 bits" : "is not an integer",
                        user_bad ? shown(v, sizeof v, f1, n1) : shown(v, sizeof v, f2, n2));
            free(buf);
            return -1;
        }
        if (pairs_push(out, u, i, line) != 0) {
            data_errorf(err, "%s: out of memory", path);
            free(buf);
            return -1;
        }
        p = eol + 1;
    }
    free(buf);
    return 0;
}

/* ==================================================== side information
 *
 * Users (u.user, users.dat) and tags (tags.csv) are read like movies: one
 * buffer, parsed in place, arrays reserved from the line count, strings in
 * one pool per struct. Features are "group:value" names interned in order
 * of first appearance through a private hash table; data_feature_find, for
 * callers, is a linear scan (it is not on any hot path).
 */

/* Append s[0..len) and a NUL to a string pool; its offset in *off. 0 or -1. */
static int text_add(char **text, size_t *len, size_t *cap, const char *s, size_t n,
                    size_t *off) {
    if (text_reserve(text, *len, cap, n + 1) != 0) return -1;
    *off = *len;
    memcpy(*text + *len, s, n);
    (*text)[*len + n] = '\0';
    *len += n + 1;
    return 0;
}

/* ---------------------------------------------------------------- users */

/* ML-1M's occupation codes (README of ml-1m), in code order */
static const char *const ml1m_occupations[21] = {
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer"};

void data_users_init(data_users *u) {
    memset(u, 0, sizeof *u);
    data_idmap_init(&u->ids);
}

void data_users_free(data_users *u) {
    free(u->id);
    free(u->age);
    free(u->gender);
    free(u->occupation);
    free(u->zip);
    free(u->text);
    data_idmap_free(&u->ids);
    data_users_init(u);
}

typedef struct {
    const char *path;
    data_error *err;
    int dat;          /* users.dat (codes) rather than u.user (years, names) */
    size_t line;
    size_t nmax;
    splitter sp;
} users_read;

static int users_out_of_memory(users_read *ur) {
    data_errorf(ur->err, "%s: out of memory", ur->path);
    return -1;
}

/* The line just split (not empty) as user row out->n. 0 or -1 with err. */
static int users_add_line(users_read *ur, data_users *out) {
    static const int codes[7] = {1, 18, 25, 35, 45, 50, 56};
    const splitter *sp = &ur->sp;
    const field *raw = sp->f, *fg, *fa, *fo; /* raw: as written, for messages */
    field f[5];                              /* without the blanks around them */
    size_t row = out->n, k, ia = ur->dat ? 2 : 1, ig = ur->dat ? 1 : 2;
    int64_t id, v;
    int e;
    char s[64];
    if (sp->nf != 5) {
        data_errorf(ur->err, "%s:%zu: expected 5 fields, found %zu", ur->path, ur->line, sp->nf);
        return -1;
    }
    for (k = 0; k < 5; k++) f[k] = trim_field(raw[k]);
    if ((e = parse_i64(f[0].s, f[0].len, &id)) != 0) {
        data_errorf(ur->err, "%s:%zu: user id %s (\"%s\")", ur->path, ur->line,
                    e == -2 ? "does not fit in 64 bits" : "is not an integer",
                    shown(s, sizeof s, raw[0].s, raw[0].len));
        return -1;
    }
    if (data_idmap_find(&out->ids, id) >= 0) {
        data_errorf(ur->err, "%s:%zu: duplicate user id (\"%s\")", ur->path, ur->line,
                    shown(s, sizeof s, f[0].s, f[0].len));
        return -1;
    }
    /* u.user: id|age|gender|occupation|zip; users.dat: id::gender::age::occupation::zip */
    fa = &f[ia];
    fg = &f[ig];
    fo = &f[3];
    if (fg->len != 1 || (fg->s[0] != 'M' && fg->s[0] != 'F')) {
        data_errorf(ur->err, "%s:%zu: gender is not M or F (\"%s\")", ur->path, ur->line,
                    shown(s, sizeof s, raw[ig].s, raw[ig].len));
        return -1;
    }
    e = parse_i64(fa->s, fa->len, &v);
    if (!ur->dat && (e != 0 || v < 0 || v > 150)) {
        data_errorf(ur->err, "%s:%zu: age is not a whole number of years 0-150 (\"%s\")",
                    ur->path, ur->line, shown(s, sizeof s, raw[ia].s, raw[ia].len));
        return -1;
    }
    if (ur->dat) {
        for (k = 0; e == 0 && k < 7 && codes[k] != v; k++) {}
        if (e != 0 || k == 7) {
            data_errorf(ur->err,
                        "%s:%zu: age code is not one of 1, 18, 25, 35, 45, 50, 56 (\"%s\")",
                        ur->path, ur->line, shown(s, sizeof s, raw[ia].s, raw[ia].len));
            return -1;
        }
    }
    out->age[row] = (int)v;
    out->gender[row] = fg->s[0];
    if (ur->dat) {
        int64_t oc;
        if (parse_i64(fo->s, fo->len, &oc) != 0 || oc < 0 || oc > 20) {
            data_errorf(ur->err, "%s:%zu: occupation code is not 0-20 (\"%s\")", ur->path,
                        ur->line, shown(s, sizeof s, raw[3].s, raw[3].len));
            return -1;
        }
        if (text_add(&out->text, &out->text_len, &out->text_cap, ml1m_occupations[oc],
                     strlen(ml1m_occupations[oc]), &out->occupation[row]) != 0)
            return users_out_of_memory(ur);
    } else {
        if (fo->len == 0) {
            data_errorf(ur->err, "%s:%zu: occupation is empty (\"%s\")", ur->path, ur->line,
                        shown(s, sizeof s, raw[3].s, raw[3].len));
            return -1;
        }
        if (text_add(&out->text, &out->text_len, &out->text_cap, fo->s, fo->len,
                     &out->occupation[row]) != 0)
            return users_out_of_memory(ur);
    }
    /* zip kept as written (but for blanks around it): ML-100K has a few like "T8H1N" */
    if (text_add(&out->text, &out->text_len, &out->text_cap, f[4].s, f[4].len,
                 &out->zip[row]) != 0)
        return users_out_of_memory(ur);
    if (row >= ur->nmax || data_idmap_intern(&out->ids, id) != (int32_t)row)
        return users_out_of_memory(ur);
    out->id[row] = id;
    out->n++;
    return 0;
}

static int read_users_text(users_read *ur, char *buf, size_t len, data_users *out) {
    char *p = buf + skip_bom(buf, len), *end = buf + len, *first, *eol;
    movies_kind kind;
    int s;
    char v[64];
    if (!(first = first_nonempty_line(p, end, &eol, &ur->line))) {
        data_errorf(ur->err, "%s: no users", ur->path);
        return -1;
    }
    kind = movies_kind_of(first, eol); /* "digits|" or "digits::" */
    if (kind == MOVIES_CSV) {
        data_errorf(ur->err,
                    "%s:%zu: not u.user (id|age|gender|occupation|zip) or users.dat "
                    "(id::gender::age::occupation::zip) (\"%s\")",
                    ur->path, ur->line + 1, shown(v, sizeof v, first, (size_t)(eol - first)));
        return -1;
    }
    ur->dat = kind == MOVIES_DAT;
    splitter_init(&ur->sp, first, end, ur->dat ? "::" : "|", 0);
    ur->nmax = data_count_lines(first, end);
    out->id = malloc(ur->nmax * sizeof *out->id);
    out->age = malloc(ur->nmax * sizeof *out->age);
    out->gender = malloc(ur->nmax * sizeof *out->gender);
    out->occupation = malloc(ur->nmax * sizeof *out->occupation);
    out->zip = malloc(ur->nmax * sizeof *out->zip);
    if (!out->id || !out->age || !out->gender || !out->occupation || !out->zip ||
        text_reserve(&out->text, 0, &out->text_cap, (size_t)(end - first) + 64) != 0)
        return users_out_of_memory(ur);
    while ((s = split_next(&ur->sp)) != 0) {
        if (s < 0) return users_out_of_memory(ur);
        ur->line++;
        if (ur->sp.nf == 0) continue; /* a truly empty line */
        if (users_add_line(ur, out) != 0) return -1;
    }
    return 0;
}

int data_read_users(const char *path, data_users *out, data_error *err) {
    users_read ur;
    size_t len;
    char *buf;
    int rc;
    data_users_free(out);
    memset(&ur, 0, sizeof ur);
    ur.path = path;
    ur.err = err;
    if (!(buf = read_file(path, DATA_MAX_LINE, &len, err))) return -1;
    rc = read_users_text(&ur, buf, len, out);
    if (rc != 0) data_users_free(out);
    free(ur.sp.f);
    free(buf);
    return rc;
}

/* ----------------------------------------------------------------- tags */

void data_tags_init(data_tags *t) {
    memset(t, 0, sizeof *t);
    data_idmap_init(&t->ids);
}

void data_tags_free(data_tags *t) {
    free(t->movie);
    free(t->start);
    free(t->tag);
    free(t->text);
    data_idmap_free(&t->ids);
    data_tags_init(t);
}

/* Normalise a tag in place: ASCII lower case, runs of whitespace (space,
 * tab, CR, LF, VT, FF) to one space, trimmed. Other bytes (UTF-8) are kept.
 * The new length (0 for a tag of only whitespace). */
static size_t tag_normalise(char *s, size_t len) {
    size_t r, w = 0;
    int space = 0;
    for (r = 0; r < len; r++) {
        char c = s[r];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
            space = w > 0;
            continue;
        }
        if (space) s[w++] = ' ';
        space = 0;
        s[w++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    s[w] = '\0';
    return w;
}

typedef struct {
    int64_t movie;
    const char *tag;  /* normalised, NUL-terminated in the file's buffer */
    size_t count;     /* after grouping: how many times the movie has it */
} tag_rec;

static int by_movie_then_tag(const void *a, const void *b) {
    const tag_rec *x = a, *y = b;
    if (x->movie != y->movie) return x->movie < y->movie ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

static int by_count_then_tag(const void *a, const void *b) {
    const tag_rec *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

/* The records of a tags.csv (userId,movieId,tag,timestamp; columns found by
 * name) in rec[0..*n). 0 or -1 with err. */
static int tags_records(const char *path, char *buf, size_t len, tag_rec **rec_out, size_t *n,
                        data_error *err) {
    char *p = buf + skip_bom(buf, len), *end = buf + len, *first, *eol;
    splitter sp;
    size_t line, nmax, width, i;
    long cm = -1, ct = -1;
    tag_rec *rec = NULL;
    int s, rc = -1;
    char v[64];
    *n = 0;
    *rec_out = NULL;
    if (!(first = first_nonempty_line(p, end, &eol, &line))) {
        data_errorf(err, "%s: no header (userId,movieId,tag,timestamp)", path);
        return -1;
    }
    splitter_init(&sp, first, end, ",", 1);
    if (split_next(&sp) < 0) goto oom;
    line++;
    if (sp.why) {
        data_errorf(err, "%s:%zu: header: %s", path, line, sp.why);
        goto done;
    }
    width = sp.nf;
    trim_names(sp.f, sp.nf);
    for (i = 0; i < sp.nf; i++) {
        if (cm < 0 && name_eq_nocase(sp.f[i].s, "movieId")) cm = (long)i;
        if (ct < 0 && name_eq_nocase(sp.f[i].s, "tag")) ct = (long)i;
    }
    if (cm < 0 || ct < 0) {
        char list[600];
        header_list(list, sizeof list, sp.f, sp.nf);
        data_errorf(err, "%s:%zu: no \"%s\" column in the header (columns: %s)", path, line,
                    cm < 0 ? "movieId" : "tag", list);
        goto done;
    }
    nmax = data_count_lines(sp.p, end);
    if (!(rec = malloc(nmax * sizeof *rec))) goto oom;
    while ((s = split_next(&sp)) != 0) {
        const field *fm, *ft;
        int64_t movie;
        size_t tl;
        int e;
        if (s < 0) goto oom;
        line++;
        if (sp.nf == 0 && !sp.why) continue; /* a truly empty line */
        if (sp.why) {
            data_errorf(err, "%s:%zu: %s (\"%s\")", path, line, sp.why,
                        shown(v, sizeof v, sp.bad, sp.bad_len));
            goto done;
        }
        if (sp.nf != width) {
            data_errorf(err, "%s:%zu: expected %zu fields, found %zu", path, line, width, sp.nf);
            goto done;
        }
        fm = &sp.f[cm];
        ft = &sp.f[ct];
        if ((e = field_i64(fm, &movie)) != 0) {
            data_errorf(err, "%s:%zu: movie id %s (\"%s\")", path, line,
                        e == -2 ? "does not fit in 64 bits" : "is not an integer",
                        shown(v, sizeof v, fm->s, fm->len));
            goto done;
        }
        tl = tag_normalise(ft->s, ft->len);
        if (tl == 0) continue; /* empty once normalised: skipped, not an error */
        if (*n >= nmax) goto oom;
        rec[*n].movie = movie;
        rec[*n].tag = ft->s;
        rec[*n].count = 1;
        (*n)++;
    }
    rc = 0;
    goto done;
oom:
    data_errorf(err, "%s: out of memory", path);
done:
    free(sp.f);
    if (rc != 0) {
        free(rec);
        rec = NULL;
        *n = 0;
    }
    *rec_out = rec;
    return rc;
}

/* Sort the records and group them into out: movies in ascending raw id;
 * per movie, count each tag and keep the top_n most common (ties:
 * alphabetical by strcmp, i.e. bytewise); top_n 0 keeps them all.
 * 0 or -1 (no memory). */
static int tags_group(tag_rec *rec, size_t n, size_t top_n, data_tags *out) {
    size_t i = 0, nt = 0;
    qsort(rec, n, sizeof *rec, by_movie_then_tag);
    out->movie = malloc((n ? n : 1) * sizeof *out->movie);
    out->start = malloc((n + 1) * sizeof *out->start);
    out->tag = malloc((n ? n : 1) * sizeof *out->tag);
    if (!out->movie || !out->start || !out->tag) return -1;
    out->start[0] = 0;
    while (i < n) {
        size_t j = i, k = i, keep, t;
        /* collapse runs of equal tags into rec[i..k) with counts */
        while (j < n && rec[j].movie == rec[i].movie) {
            size_t r = j;
            while (j < n && rec[j].movie == rec[r].movie && strcmp(rec[j].tag, rec[r].tag) == 0)
                j++;
            rec[k] = rec[r];
            rec[k].count = j - r;
            k++;
        }
        qsort(rec + i, k - i, sizeof *rec, by_count_then_tag);
        keep = top_n && top_n < k - i ? top_n : k - i;
        for (t = 0; t < keep; t++)
            if (text_add(&out->text, &out->text_len, &out->text_cap, rec[i + t].tag,
                         strlen(rec[i + t].tag), &out->tag[nt++]) != 0)
                return -1;
        if (data_idmap_intern(&out->ids, rec[i].movie) != (int32_t)out->n) return -1;
        out->movie[out->n++] = rec[i].movie;
        if (nt > UINT32_MAX) return -1;
        out->start[out->n] = (uint32_t)nt;
        i = j;
    }
    return 0;
}

int data_read_tags(const char *path, size_t top_n, data_tags *out, data_error *err) {
    size_t len, n;
    char *buf;
    tag_rec *rec;
    int rc;
    data_tags_free(out);
    if (!(buf = read_file(path, DATA_MAX_LINE, &len, err))) return -1;
    rc = tags_records(path, buf, len, &rec, &n, err);
    if (rc == 0 && tags_group(rec, n, top_n, out) != 0) {
        data_errorf(err, "%s: out of memory", path);
        rc = -1;
    }
    if (rc != 0) data_tags_free(out);
    free(rec);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------- features */

void data_features_init(data_features *f) { memset(f, 0, sizeof *f); }

void data_features_free(data_features *f) {
    free(f->start);
    free(f->feature);
    free(f->name);
    free(f->text);
    data_features_init(f);
}

/* dst = src, as one allocation per array; 0 or -1 (no memory) */
int data_features_copy(data_features *dst, const data_features *src) {
    size_t nnz = src->start[src->n_rows];
    memset(dst, 0, sizeof *dst);
    dst->n_rows = src->n_rows;
    dst->n_features = src->n_features;
    dst->text_len = dst->text_cap = src->text_len;
    dst->start = malloc((src->n_rows + 1) * sizeof *dst->start);
    dst->feature = malloc((nnz ? nnz : 1) * sizeof *dst->feature);
    dst->name = malloc((src->n_features ? src->n_features : 1) * sizeof *dst->name);
    dst->text = malloc(src->text_len + 1);
    if (!dst->start || !dst->feature || !dst->name || !dst->text) {
        data_features_free(dst);
        return -1;
    }
    memcpy(dst->start, src->start, (src->n_rows + 1) * sizeof *dst->start);
    memcpy(dst->feature, src->feature, nnz * sizeof *dst->feature);
    memcpy(dst->name, src->name, src->n_features * sizeof *dst->name);
    memcpy(dst->text, src->text, src->text_len);
    dst->text[src->text_len] = '\0';
    return 0;
}

const char *data_feature_name(const data_features *f, size_t feature) {
    return feature < f->n_features ? f->text + f->name[feature] : "";
}

int32_t data_feature_find(const data_features *f, const char *name) {
    size_t k;
    for (k = 0; k < f->n_features; k++)
        if (strcmp(f->text + f->name[k], name) == 0) return (int32_t)k;
    return -1;
}

/* Building a data_features: names interned through an open-addressing
 * table (feature id + 1, 0 empty), one row's ids gathered in row[]. */
typedef struct {
    data_features *out;
    uint32_t *table;
    size_t cap;           /* a power of two, at least 2·n_features */
    size_t name_cap;      /* of out->name */
    size_t feat_n, feat_cap; /* of out->feature */
    uint32_t *row;
    size_t row_n, row_cap;
} feat_build;

static uint64_t fnv(uint64_t h, const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* The id of the name prefix+val, adding it if new. -1 when out of memory. */
static int64_t feat_intern(feat_build *b, const char *prefix, const char *val, size_t vlen) {
    data_features *f = b->out;
    size_t plen = strlen(prefix), slot, mask;
    uint64_t h = fnv(fnv(14695981039346656037ULL, prefix, plen), val, vlen);
    if (2 * (f->n_features + 1) > b->cap) { /* grow and rehash */
        size_t cap = b->cap ? b->cap * 2 : 256, k;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t) return -1;
        for (k = 0; k < f->n_features; k++) {
            const char *nm = f->text + f->name[k];
            size_t sl = (size_t)fnv(14695981039346656037ULL, nm, strlen(nm)) & (cap - 1);
            while (t[sl]) sl = (sl + 1) & (cap - 1);
            t[sl] = (uint32_t)k + 1;
        }
        free(b->table);
        b->table = t;
        b->cap = cap;
    }
    mask = b->cap - 1;
    for (slot = (size_t)h & mask; b->table[slot]; slot = (slot + 1) & mask) {
        const char *nm = f->text + f->name[b->table[slot] - 1];
        if (strncmp(nm, prefix, plen) == 0 && strncmp(nm + plen, val, vlen) == 0 &&
            nm[plen + vlen] == '\0')
            return (int64_t)b->table[slot] - 1;
    }
    if (f->n_features >= INT32_MAX) return -1;
    if (f->n_features == b->name_cap) {
        size_t cap = b->name_cap ? b->name_cap * 2 : 64;
        size_t *nn = realloc(f->name, cap * sizeof *nn);
        if (!nn) return -1;
        f->name = nn;
        b->name_cap = cap;
    }
    if (text_reserve(&f->text, f->text_len, &f->text_cap, plen + vlen + 1) != 0) return -1;
    f->name[f->n_features] = f->text_len;
    memcpy(f->text + f->text_len, prefix, plen);
    memcpy(f->text + f->text_len + plen, val, vlen);
    f->text[f->text_len + plen + vlen] = '\0';
    f->text_len += plen + vlen + 1;
    b->table[slot] = (uint32_t)f->n_features + 1;
    return (int64_t)f->n_features++;
}

/* Add the feature prefix+val to the row being built. 0 or -1. */
static int feat_add(feat_build *b, const char *prefix, const char *val, size_t vlen) {
    int64_t id = feat_intern(b, prefix, val, vlen);
    if (id < 0) return -1;
    if (b->row_n == b->row_cap) {
        size_t cap = b->row_cap ? b->row_cap * 2 : 32;
        uint32_t *r = realloc(b->row, cap * sizeof *r);
        if (!r) return -1;
        b->row = r;
        b->row_cap = cap;
    }
    b->row[b->row_n++] = (uint32_t)id;
    return 0;
}

/* Close row r: its ids sorted, repeats dropped, appended. 0 or -1. */
static int feat_end_row(feat_build *b, size_t r) {
    data_features *f = b->out;
    size_t k;
    qsort(b->row, b->row_n, sizeof *b->row, cmp_u32);
    for (k = 0; k < b->row_n; k++) {
        if (k > 0 && b->row[k] == b->row[k - 1]) continue;
        if (b->feat_n == b->feat_cap) {
            size_t cap = b->feat_cap ? b->feat_cap * 2 : 1024;
            uint32_t *nf = realloc(f->feature, cap * sizeof *nf);
            if (!nf) return -1;
            f->feature = nf;
            b->feat_cap = cap;
        }
        f->feature[b->feat_n++] = b->row[k];
    }
    if (b->feat_n > UINT32_MAX) return -1;
    f->start[r + 1] = (uint32_t)b->feat_n;
    b->row_n = 0;
    return 0;
}

static int feat_begin(feat_build *b, data_features *out, size_t n_rows) {
    memset(b, 0, sizeof *b);
    data_features_free(out);
    b->out = out;
    out->n_rows = n_rows;
    if (!(out->start = malloc((n_rows + 1) * sizeof *out->start))) return -1;
    out->start[0] = 0;
    return 0;
}

static void feat_finish(feat_build *b) {
    free(b->table);
    free(b->row);
}

/* Parse groups ("a,b", spaces around names allowed) against names[0..n)
 * into want[]; 0 or -1 with err for an unknown group. */
static int parse_groups(const char *groups, const char *what, const char *const *names,
                        size_t n, const char *list, int *want, data_error *err) {
    const char *p = groups ? groups : "";
    size_t k;
    for (k = 0; k < n; k++) want[k] = 0;
    for (;;) {
        const char *q = p, *e;
        char v[64];
        while (*q == ' ') q++;
        for (e = q; *e && *e != ','; e++) {}
        p = e;
        while (e > q && e[-1] == ' ') e--;
        for (k = 0; k < n; k++)
            if (strlen(names[k]) == (size_t)(e - q) && memcmp(names[k], q, (size_t)(e - q)) == 0)
                break;
        if (k == n) {
            data_errorf(err, "unknown %s feature group \"%s\" (%s)", what,
                        shown(v, sizeof v, q, (size_t)(e - q)), list);
            return -1;
        }
        want[k] = 1;
        if (!*p) return 0;
        p++;
    }
}

/* ML-1M's age buckets; u.user's years fall in them the same way, and
 * ML-1M's codes (1, 18, 25, ...) are each their bucket's lower bound. */
const char *data_age_bucket(int age) {
    return age < 18 ? "<18" : age < 25 ? "18-24" : age < 35 ? "25-34" : age < 45 ? "35-44"
         : age < 50 ? "45-49" : age < 56 ? "50-55" : "56+";
}

int data_user_features(const data_users *meta, const data_idmap *users, const char *groups,
                       data_features *out, data_error *err) {
    static const char *const names[4] = {"age", "gender", "occupation", "zip"};
    int want[4];
    feat_build b;
    size_t r;
    int rc = -1;
    if (parse_groups(groups, "user", names, 4, "age, gender, occupation, zip", want, err) != 0)
        return -1;
    if (feat_begin(&b, out, users->n) != 0) goto oom;
    for (r = 0; r < users->n; r++) {
        int32_t m = data_idmap_find(&meta->ids, users->raw[r]);
        if (m >= 0) { /* a user missing from meta gets no features */
            if (want[0] && meta->age[m] >= 0) {
                const char *a = data_age_bucket(meta->age[m]);
                if (feat_add(&b, "age:", a, strlen(a)) != 0) goto oom;
            }
            if (want[1] && feat_add(&b, "gender:", &meta->gender[m], 1) != 0) goto oom;
            if (want[2]) {
                const char *o = meta->text + meta->occupation[m];
                if (feat_add(&b, "occupation:", o, strlen(o)) != 0) goto oom;
            }
            if (want[3]) {
                const char *z = meta->text + meta->zip[m];
                if (feat_add(&b, "zip:", is_digit(z[0]) ? z : "other", is_digit(z[0]) ? 1 : 5) !=
                    0)
                    goto oom;
            }
        }
        if (feat_end_row(&b, r) != 0) goto oom;
    }
    rc = 0;
    goto done;
oom:
    data_errorf(err, "user features: out of memory");
done:
    feat_finish(&b);
    if (rc != 0) data_features_free(out);
    return rc;
}

int data_item_features(const data_movies *movies, const data_tags *tags,
                       const data_idmap *items, const char *groups, data_features *out,
                       data_error *err) {
    static const char *const names[3] = {"genres", "year", "tags"};
    int want[3];
    feat_build b;
    size_t r;
    int rc = -1;
    if (parse_groups(groups, "item", names, 3, "genres, year, tags", want, err) != 0) return -1;
    if (want[2] && !tags) {
        data_errorf(err, "item feature group \"tags\" needs a tags file (none was read)");
        return -1;
    }
    if (feat_begin(&b, out, items->n) != 0) goto oom;
    for (r = 0; r < items->n; r++) {
        int32_t m = movies ? data_idmap_find(&movies->ids, items->raw[r]) : -1;
        if (m >= 0 && want[0]) {
            /* "(no genres listed)" (ml-latest) and "unknown" (u.item) say nothing */
            const char *g = movies->text + movies->genres[m];
            while (*g) {
                const char *e = strchr(g, '|');
                size_t gl = e ? (size_t)(e - g) : strlen(g);
                if (gl > 0 && !(gl == 18 && memcmp(g, "(no genres listed)", 18) == 0) &&
                    !(gl == 7 && memcmp(g, "unknown", 7) == 0) &&
                    feat_add(&b, "genre:", g, gl) != 0)
                    goto oom;
                g += gl + (e != NULL);
            }
        }
        if (m >= 0 && want[1]) {
            char d[32];
            int y = movies->year[m];
            if (y > 0)
                data_text_printf(d, sizeof d, "%ds", y / 10 * 10);
            else
                data_text_printf(d, sizeof d, "unknown");
            if (feat_add(&b, "year:", d, strlen(d)) != 0) goto oom;
        }
        if (want[2]) { /* from the tags file, whether or not the movie is in movies */
            int32_t k = data_idmap_find(&tags->ids, items->raw[r]);
            uint32_t t;
            if (k >= 0)
                for (t = tags->start[k]; t < tags->start[k + 1]; t++) {
                    const char *s = tags->text + tags->tag[t];
                    if (feat_add(&b, "tag:", s, strlen(s)) != 0) goto oom;
                }
        }
        if (feat_end_row(&b, r) != 0) goto oom;
    }
    rc = 0;
    goto done;
oom:
    data_errorf(err, "item features: out of memory");
done:
    feat_finish(&b);
    if (rc != 0) data_features_free(out);
    return rc;
}

/* ------------------------------------------ for the readers in formats/ */

char *data_read_file(const char *path, size_t max_line, size_t *len, data_error *err) {
    return read_file(path, max_line, len, err);
}

const char *data_shown(char *dst, size_t cap, const char *s, size_t len) {
    return shown(dst, cap, s, len);
}
