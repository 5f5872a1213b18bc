/* fast/cache.c — the ratings cache: a binary copy of one parsed ratings
 * file, checked against the file's size and time, the options and a
 * checksum before its columns are read straight into the arrays; cache.h
 * gives its layout. Used by the chunked reader (fast/reader.c) when
 * opts.cache is set.
 *
 * What it deliberately does not do: parse (fast_parse_ratings does, when
 * the cache cannot be used), trust a cache it has not checked, or write
 * over a file at its path that is not a cache.
 */
#define _POSIX_C_SOURCE 200809L
#include "fast/cache.h"

#include "fast/reader.h"
#include "formats/output.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>


#define CACHE_MAGIC "EMBRECRC"
#define CACHE_BOM 0x01020304u
#define CACHE_HEAD 104          /* bytes before the strings */
#define CACHE_NO_STRING 0xFFFFFFFFu
#define CACHE_MAX_STRING 4096   /* longer option strings are not cached */
#define CACHE_RACY_S 2          /* a source younger than this when read is not trusted */
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

/* The checksum of cache.h: FNV-1a over 8-byte words in four lanes. */
typedef struct {
    uint64_t lane[4];
    unsigned char part[32];  /* the bytes of a block not yet complete */
    size_t npart;
    uint64_t len;            /* bytes summed */
} cache_sum;

static void sum_init(cache_sum *s) {
    int j;
    memset(s, 0, sizeof *s);
    for (j = 0; j < 4; j++) s->lane[j] = FNV_OFFSET + (uint64_t)j;
}

static void sum_block(uint64_t *lane, const unsigned char *b) {
    int j;
    for (j = 0; j < 4; j++) {
        uint64_t w, h;
        memcpy(&w, b + 8 * j, 8);
        h = (lane[j] ^ w) * FNV_PRIME;
        lane[j] = h ^ (h >> 32);
    }
}

static void sum_add(cache_sum *s, const void *p, size_t n) {
    const unsigned char *c = p;
    s->len += n;
    if (s->npart) {
        size_t take = 32 - s->npart < n ? 32 - s->npart : n;
        memcpy(s->part + s->npart, c, take);
        s->npart += take;
        c += take;
        n -= take;
        if (s->npart < 32) return;
        sum_block(s->lane, s->part);
        s->npart = 0;
    }
    for (; n >= 32; c += 32, n -= 32) sum_block(s->lane, c);
    memcpy(s->part, c, n);
    s->npart = n;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    size_t k;
    for (k = 0; k < n; k++) h = (h ^ c[k]) * FNV_PRIME;
    return h;
}

static uint64_t sum_end(const cache_sum *s) {
    uint64_t h = fnv1a(FNV_OFFSET, s->lane, sizeof s->lane);
    h = fnv1a(h, s->part, s->npart);
    return fnv1a(h, &s->len, sizeof s->len);
}

uint64_t data_cache_checksum(const void *p, size_t n) {
    cache_sum s;
    sum_init(&s);
    sum_add(&s, p, n);
    return sum_end(&s);
}

/* read n bytes whole (retrying short reads); 0, or -1 with errno (0 when
 * the file ends first) */
static int read_all(int fd, void *p, size_t n) {
    char *c = p;
    while (n) {
        ssize_t got = read(fd, c, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = 0;
            return -1;
        }
        c += got;
        n -= (size_t)got;
    }
    return 0;
}

/* A cache file being read: every byte goes through the checksum. */
typedef struct {
    int fd;
    cache_sum sum;
} cache_in;

static int in_bytes(cache_in *ci, void *p, size_t n) {
    char *c = p;
    while (n) { /* a MiB at a time, summed while it is still in the cache */
        size_t step = n < ((size_t)1 << 20) ? n : ((size_t)1 << 20);
        if (read_all(ci->fd, c, step) != 0) return -1;
        sum_add(&ci->sum, c, step);
        c += step;
        n -= step;
    }
    return 0;
}

static uint32_t cache_get32(const unsigned char *b) {
    uint32_t v;
    memcpy(&v, b, 4);
    return v;
}

static uint64_t cache_get64(const unsigned char *b) {
    uint64_t v;
    memcpy(&v, b, 8);
    return v;
}

static void cache_put32(unsigned char *b, uint32_t v) { memcpy(b, &v, 4); }
static void cache_put64(unsigned char *b, uint64_t v) { memcpy(b, &v, 8); }

/* The bytes that pad n up to a multiple of 8. */
static size_t pad8(uint64_t n) { return (size_t)((8 - n % 8) % 8); }

/* The option strings a cache records, in the order of data.h. */
static void cache_strings(const data_read_opts *o, const char *first_error, const char *str[6]) {
    str[0] = o->delim;
    str[1] = o->user_col;
    str[2] = o->item_col;
    str[3] = o->rating_col;
    str[4] = o->time_col;
    str[5] = first_error;
}

static int same_string(const char *a, const char *b) {
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void why_printf(char *why, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void why_printf(char *why, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* Load the cache at cpath for the source src into the maps mu, mi (empty)
 * and the rows of out after its n0 = out->n. 1: loaded; 0: there is none;
 * -1: stale or damaged, why says how; -2: the file is not a cache. On
 * anything but 1, out->n is n0 and the maps are empty. */
static int cache_load(const char *cpath, const struct stat *src, const data_read_opts *o,
                      data_idmap *mu, data_idmap *mi, data_ratings *out, data_read_report *rep,
                      char *why, size_t cap) {
    unsigned char head[CACHE_HEAD], pad[8];
    const char *want[6];
    char *str[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    uint64_t n, U, I, total, stored, k;
    int64_t *uraw = NULL, *iraw = NULL;
    size_t n0 = out->n, slen = 0;
    struct stat cst;
    cache_in ci;
    int rc = -1, j;
    ci.fd = open(cpath, O_RDONLY);
    if (ci.fd < 0) {
        if (errno == ENOENT) return 0;
        why_printf(why, cap, "cannot be read (%s)", strerror(errno));
        return -1;
    }
    sum_init(&ci.sum);
    if (fstat(ci.fd, &cst) != 0 || cst.st_size < 8) {
        why_printf(why, cap, "damaged (truncated)");
        goto done;
    }
    if (in_bytes(&ci, head, 8) != 0 || memcmp(head, CACHE_MAGIC, 8) != 0) {
        rc = -2;
        goto done;
    }
    if (in_bytes(&ci, head + 8, CACHE_HEAD - 8) != 0) {
        why_printf(why, cap, "damaged (truncated)");
        goto done;
    }
    if (cache_get32(head + 8) != DATA_CACHE_VERSION) {
        why_printf(why, cap, "written by another version of embrec (cache format %lu; this "
                             "one reads %d)",
                   (unsigned long)cache_get32(head + 8), DATA_CACHE_VERSION);
        goto done;
    }
    if (cache_get32(head + 12) != CACHE_BOM) {
        why_printf(why, cap, "written on a machine of the other byte order");
        goto done;
    }
    if (cache_get64(head + 16) != (uint64_t)src->st_size ||
        (int64_t)cache_get64(head + 24) != (int64_t)src->st_mtim.tv_sec ||
        (int64_t)cache_get64(head + 32) != (int64_t)src->st_mtim.tv_nsec) {
        why_printf(why, cap, "the ratings file changed since it was written (size or "
                             "modification time)");
        goto done;
    }
    if ((int64_t)cache_get64(head + 40) - (int64_t)src->st_mtim.tv_sec < CACHE_RACY_S) {
        why_printf(why, cap, "the ratings file had changed less than %d s before it was "
                             "cached, too recently to trust its time", CACHE_RACY_S);
        goto done;
    }
    n = cache_get64(head + 48);
    U = cache_get64(head + 56);
    I = cache_get64(head + 64);
    for (j = 0; j < 6; j++) { /* the strings, each checked for length first */
        unsigned char lb[4];
        uint32_t len;
        if (in_bytes(&ci, lb, 4) != 0) break;
        len = cache_get32(lb);
        slen += 4;
        if (len == CACHE_NO_STRING) continue;
        if (len > CACHE_MAX_STRING || !(str[j] = malloc((size_t)len + 1))) break;
        if (in_bytes(&ci, str[j], len) != 0) break;
        str[j][len] = '\0';
        slen += len;
    }
    if (j < 6 || in_bytes(&ci, pad, pad8(slen)) != 0) {
        why_printf(why, cap, "damaged (truncated)");
        goto done;
    }
    cache_strings(o, NULL, want);
    for (j = 0; j < 5; j++)
        if (!same_string(want[j], str[j])) break;
    if (j < 5 || cache_get32(head + 88) != (uint32_t)o->format ||
        (int32_t)cache_get32(head + 92) != (int32_t)o->header ||
        cache_get32(head + 96) != (uint32_t)(o->skip_bad != 0)) {
        why_printf(why, cap, "written for other input options");
        goto done;
    }
    if (n > UINT32_MAX || U > INT32_MAX || I > INT32_MAX || n == 0 ||
        cache_get32(head + 100) > (uint32_t)DATA_FMT_DELIM) {
        why_printf(why, cap, "damaged (%llu rows, %llu users, %llu items)",
                   (unsigned long long)n, (unsigned long long)U, (unsigned long long)I);
        goto done;
    }
    total = CACHE_HEAD + slen + pad8(slen) + 8 * (U + I + n) + 12 * n + pad8(12 * n) + 8;
    if ((uint64_t)cst.st_size != total) {
        why_printf(why, cap, "damaged (%llu bytes, expected %llu)",
                   (unsigned long long)cst.st_size, (unsigned long long)total);
        goto done;
    }
    uraw = malloc((U ? U : 1) * sizeof *uraw);
    iraw = malloc((I ? I : 1) * sizeof *iraw);
    if (!uraw || !iraw || data_ratings_reserve_exact(out, n0 + (size_t)n) != 0) {
        why_printf(why, cap, "too large to load (out of memory)");
        goto done;
    }
    /* straight into the arrays */
    if (in_bytes(&ci, uraw, U * sizeof *uraw) != 0 || in_bytes(&ci, iraw, I * sizeof *iraw) != 0 ||
        in_bytes(&ci, out->time + n0, n * sizeof *out->time) != 0 ||
        in_bytes(&ci, out->user + n0, n * sizeof *out->user) != 0 ||
        in_bytes(&ci, out->item + n0, n * sizeof *out->item) != 0 ||
        in_bytes(&ci, out->rating + n0, n * sizeof *out->rating) != 0 ||
        in_bytes(&ci, pad, pad8(12 * n)) != 0 || read_all(ci.fd, pad, 8) != 0) {
        why_printf(why, cap, "damaged (truncated)");
        goto done;
    }
    stored = cache_get64(pad);
    if (stored != sum_end(&ci.sum)) {
        why_printf(why, cap, "damaged (checksum mismatch)");
        goto done;
    }
    /* a checksum can be forged: every index and id is checked as well */
    for (k = 0; k < U && data_idmap_intern(mu, uraw[k]) == (int32_t)k; k++) {
    }
    if (k == U)
        for (k = 0; k < I && data_idmap_intern(mi, iraw[k]) == (int32_t)k; k++) {
        }
    if (mu->n != U || mi->n != I) {
        why_printf(why, cap, "damaged (a repeated id)");
        goto done;
    }
    {
        const uint32_t *u = out->user + n0, *it = out->item + n0;
        const float *r = out->rating + n0;
        size_t bad = 0;
        for (k = 0; k < n; k++) bad += (u[k] >= U) | (it[k] >= I) | !isfinite(r[k]);
        if (bad) {
            why_printf(why, cap, "damaged (%zu rows out of range)", bad);
            goto done;
        }
    }
    rep->format = (data_format)cache_get32(head + 100);
    rep->lines = (size_t)cache_get64(head + 72);
    rep->skipped = (size_t)cache_get64(head + 80);
    data_text_printf(rep->first_error, sizeof rep->first_error, "%s", str[5] ? str[5] : "");
    out->n = n0 + (size_t)n;
    rc = 1;
done:
    if (rc != 1) {
        data_idmap_free(mu);
        data_idmap_free(mi);
        out->n = n0;
    }
    free(uraw);
    free(iraw);
    for (j = 0; j < 6; j++) free(str[j]);
    close(ci.fd);
    return rc;
}
/* A cache file being written: every byte through the checksum. A failed
 * write sets the stream's error flag, which data_out_commit checks. */
typedef struct {
    data_out out;
    cache_sum sum;
} cache_out;

static void out_bytes(cache_out *co, const void *p, size_t n) {
    sum_add(&co->sum, p, n);
    if (n) fwrite(p, 1, n, co->out.f);
}

/* Write the cache of the rows of out after n0 and the maps mu, mi, parsed
 * from the source st (read at read_at), atomically. 0, or -1 with why. */
static int cache_write(const char *cpath, const struct stat *st, int64_t read_at,
                       const data_read_opts *o, const data_idmap *mu, const data_idmap *mi,
                       const data_ratings *out, size_t n0, const data_read_report *rep,
                       char *why, size_t cap) {
    cache_out co;
    unsigned char head[CACHE_HEAD], zero[8] = {0};
    const char *str[6];
    size_t n = out->n - n0, slen = 0;
    uint64_t sum;
    int j;
    sum_init(&co.sum);
    if (data_out_open(&co.out, cpath, NULL) != 0) {
        if (co.out.error == ENAMETOOLONG) why_printf(why, cap, "path too long");
        else why_printf(why, cap, "cannot create a temporary file beside it: %s",
                        strerror(co.out.error));
        return -1;
    }
    memset(head, 0, sizeof head);
    memcpy(head, CACHE_MAGIC, 8);
    cache_put32(head + 8, DATA_CACHE_VERSION);
    cache_put32(head + 12, CACHE_BOM);
    cache_put64(head + 16, (uint64_t)st->st_size);
    cache_put64(head + 24, (uint64_t)(int64_t)st->st_mtim.tv_sec);
    cache_put64(head + 32, (uint64_t)(int64_t)st->st_mtim.tv_nsec);
    cache_put64(head + 40, (uint64_t)read_at);
    cache_put64(head + 48, n);
    cache_put64(head + 56, mu->n);
    cache_put64(head + 64, mi->n);
    cache_put64(head + 72, rep->lines);
    cache_put64(head + 80, rep->skipped);
    cache_put32(head + 88, (uint32_t)o->format);
    cache_put32(head + 92, (uint32_t)(int32_t)o->header);
    cache_put32(head + 96, (uint32_t)(o->skip_bad != 0));
    cache_put32(head + 100, (uint32_t)rep->format);
    out_bytes(&co, head, sizeof head);
    cache_strings(o, rep->first_error, str);
    for (j = 0; j < 6; j++) {
        size_t len = str[j] ? strlen(str[j]) : 0;
        unsigned char lb[4];
        if (len > CACHE_MAX_STRING) {
            why_printf(why, cap, "an input option is longer than %d bytes", CACHE_MAX_STRING);
            data_out_abort(&co.out);
            return -1;
        }
        cache_put32(lb, str[j] ? (uint32_t)len : CACHE_NO_STRING);
        out_bytes(&co, lb, 4);
        out_bytes(&co, str[j] ? str[j] : "", len);
        slen += 4 + len;
    }
    out_bytes(&co, zero, pad8(slen));
    out_bytes(&co, mu->raw, mu->n * sizeof *mu->raw);
    out_bytes(&co, mi->raw, mi->n * sizeof *mi->raw);
    out_bytes(&co, out->time + n0, n * sizeof *out->time);
    out_bytes(&co, out->user + n0, n * sizeof *out->user);
    out_bytes(&co, out->item + n0, n * sizeof *out->item);
    out_bytes(&co, out->rating + n0, n * sizeof *out->rating);
    out_bytes(&co, zero, pad8(12 * (uint64_t)n));
    sum = sum_end(&co.sum);
    out_bytes(&co, &sum, 8);
    if (data_out_commit(&co.out, NULL) != 0) {
        why_printf(why, cap, "cannot write it: %s", strerror(co.out.error));
        return -1;
    }
    return 0;
}

/* Rows of out after n0 index the file's own maps lu, li: intern their ids
 * in users and items in that order (the file's order of first sight, so
 * the maps end as parsing into them would leave them) and renumber the
 * rows. 0 or -1 (no memory, or more than 2^31 − 1 ids). */
static int merge_maps(data_idmap *users, data_idmap *items, const data_idmap *lu,
                      const data_idmap *li, data_ratings *out, size_t n0) {
    uint32_t *ru = malloc((lu->n ? lu->n : 1) * sizeof *ru);
    uint32_t *ri = malloc((li->n ? li->n : 1) * sizeof *ri);
    size_t k;
    int rc = -1;
    if (!ru || !ri) goto done;
    for (k = 0; k < lu->n; k++) {
        int32_t x = data_idmap_intern(users, lu->raw[k]);
        if (x < 0) goto done;
        ru[k] = (uint32_t)x;
    }
    for (k = 0; k < li->n; k++) {
        int32_t x = data_idmap_intern(items, li->raw[k]);
        if (x < 0) goto done;
        ri[k] = (uint32_t)x;
    }
    for (k = n0; k < out->n; k++) {
        out->user[k] = ru[out->user[k]];
        out->item[k] = ri[out->item[k]];
    }
    rc = 0;
done:
    free(ru);
    free(ri);
    return rc;
}

int fast_cache_read(const char *path, const data_read_opts *o, data_idmap *users,
                    data_idmap *items, data_ratings *out, data_read_report *rep,
                    data_error *err) {
    char cpath[4096], why[512];
    struct stat src, cst;
    data_idmap lu, li;
    int separate = users->n > 0 || items->n > 0; /* parse into the file's own maps first */
    data_idmap *mu = separate ? &lu : users, *mi = separate ? &li : items;
    size_t n0 = out->n;
    int64_t read_at;
    int had = 0, rc = -1;
    if (snprintf(cpath, sizeof cpath, "%s%s", *o->cache ? o->cache : path,
                 *o->cache ? "" : ".embrec-cache") >= (int)sizeof cpath) {
        data_errorf(err, "%s: the cache's path is too long", path);
        return -1;
    }
    data_idmap_init(&lu);
    data_idmap_init(&li);
    why[0] = '\0';
    if (stat(path, &src) == 0) { /* else parsing says why the file cannot be read */
        if (stat(cpath, &cst) == 0 && cst.st_dev == src.st_dev && cst.st_ino == src.st_ino) {
            data_errorf(err, "%s: the cache would overwrite the ratings file itself", cpath);
            return -1;
        }
        if (S_ISREG(src.st_mode))
            had = cache_load(cpath, &src, o, mu, mi, out, rep, why, sizeof why);
    }
    if (had == 1) {
        rep->cache = DATA_CACHE_LOADED;
    } else {
        read_at = (int64_t)time(NULL);
        if (fast_parse_ratings(path, o, mu, mi, out, rep, &src, err) != 0) goto done;
        if (had == -2) {
            rep->cache = DATA_CACHE_UNUSED;
            data_text_printf(rep->cache_note, sizeof rep->cache_note,
                        "%s: not an embrec cache, left as it is; the ratings were read from %s",
                        cpath, path);
        } else if (!S_ISREG(src.st_mode) ||
                   cache_write(cpath, &src, read_at, o, mu, mi, out, n0, rep, why, sizeof why) !=
                       0) {
            rep->cache = DATA_CACHE_UNUSED;
            data_text_printf(rep->cache_note, sizeof rep->cache_note,
                        "%s: %s; the ratings were read from %s", cpath,
                        S_ISREG(src.st_mode) ? why : "not written, the source is not a regular file",
                        path);
        } else if (had == 0) {
            rep->cache = DATA_CACHE_WRITTEN;
            data_text_printf(rep->cache_note, sizeof rep->cache_note, "%s: cache written", cpath);
        } else {
            rep->cache = DATA_CACHE_REBUILT;
            data_text_printf(rep->cache_note, sizeof rep->cache_note, "%s: %s; rebuilt", cpath, why);
        }
    }
    if (separate && merge_maps(users, items, &lu, &li, out, n0) != 0) {
        out->n = n0;
        data_errorf(err, "%s: out of memory", path);
        goto done;
    }
    rc = 0;
done:
    data_idmap_free(&lu);
    data_idmap_free(&li);
    return rc;
}
