/* fast/cache.c — the ratings cache: a binary copy of one parsed ratings
 * file, checked against the file's size and time, the options, a checksum
 * and the ranges of its indices, whose columns then become the rows where
 * they lie, in the file's mapped pages; cache.h gives its layout. Used by
 * the chunked reader (fast/reader.c) when opts.cache is set.
 *
 * What it deliberately does not do: parse (fast_parse_ratings does, when
 * the cache cannot be used), trust a cache it has not checked, or write
 * over a file at its path that is not a cache.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise's MADV_POPULATE_READ, where the system has it */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>


#define CACHE_MAGIC "EMBRECRC"
#define CACHE_BOM 0x01020304u
#define CACHE_HEAD 112          /* bytes before the strings */
#define CACHE_ALIGN 64          /* every array starts at a multiple of this */
#define CACHE_NO_STRING 0xFFFFFFFFu
#define CACHE_MAX_STRING 4096   /* longer option strings are not cached */
/* the most bytes a header and its strings take */
#define CACHE_HEAD_MAX (CACHE_HEAD + 6 * (4 + CACHE_MAX_STRING))
#define CACHE_RACY_S 2          /* a source younger than this when read is not trusted */
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

/* The checksum of cache.h: FNV-1a over 8-byte words in SUM_LANES lanes,
 * so many that the multiplications of one block do not wait for another's
 * and it runs at the speed of memory. */
#define SUM_LANES 16
#define SUM_BLOCK (8 * SUM_LANES)
typedef struct {
    uint64_t lane[SUM_LANES];
    unsigned char part[SUM_BLOCK]; /* the bytes of a block not yet complete */
    size_t npart;
    uint64_t len;                  /* bytes summed */
} cache_sum;

static void sum_init(cache_sum *s) {
    int j;
    memset(s, 0, sizeof *s);
    for (j = 0; j < SUM_LANES; j++) s->lane[j] = FNV_OFFSET + (uint64_t)j;
}

static void sum_block(uint64_t *lane, const unsigned char *b) {
    int j;
    for (j = 0; j < SUM_LANES; j++) {
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
        size_t take = SUM_BLOCK - s->npart < n ? SUM_BLOCK - s->npart : n;
        memcpy(s->part + s->npart, c, take);
        s->npart += take;
        c += take;
        n -= take;
        if (s->npart < SUM_BLOCK) return;
        sum_block(s->lane, s->part);
        s->npart = 0;
    }
    { /* the lanes in locals: in s, every store through c might change them,
       * and the compiler would reload them from memory for each block */
        uint64_t lane[SUM_LANES];
        memcpy(lane, s->lane, sizeof lane);
        for (; n >= SUM_BLOCK; c += SUM_BLOCK, n -= SUM_BLOCK) sum_block(lane, c);
        memcpy(s->lane, lane, sizeof lane);
    }
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

/* Read n bytes at offset at whole (retrying short reads); 0, or -1 with
 * errno (0 when the file ends first). */
static int read_at(int fd, void *p, size_t n, uint64_t at) {
    char *c = p;
    while (n) {
        ssize_t got = pread(fd, c, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30), (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = 0;
            return -1;
        }
        c += got;
        n -= (size_t)got;
        at += (uint64_t)got;
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

/* Where everything lies in a cache of n rows, U users, I items and m
 * sorted user items whose strings end at strings_end: each array at the
 * next multiple of CACHE_ALIGN, the checksum at the next multiple of 8. */
typedef struct {
    uint64_t n, U, I, m;
    uint64_t user_ids, item_ids, time, user, item, rating, start, sorted, sum;
} cache_layout;

static uint64_t align_up(uint64_t at, uint64_t to) { return (at + to - 1) / to * to; }

/* (the counts are at most 2^32 and the total stays far below 2^64) */
static void layout_place(cache_layout *L, uint64_t strings_end) {
    uint64_t at = strings_end;
    L->user_ids = at = align_up(at, CACHE_ALIGN);
    L->item_ids = at = align_up(at + 8 * L->U, CACHE_ALIGN);
    L->time = at = align_up(at + 8 * L->I, CACHE_ALIGN);
    L->user = at = align_up(at + 8 * L->n, CACHE_ALIGN);
    L->item = at = align_up(at + 4 * L->n, CACHE_ALIGN);
    L->rating = at = align_up(at + 4 * L->n, CACHE_ALIGN);
    L->start = at = align_up(at + 4 * L->n, CACHE_ALIGN);
    L->sorted = at = align_up(at + 4 * (L->U + 1), CACHE_ALIGN);
    L->sum = align_up(at + 4 * L->m, 8);
}

/* The option strings a cache records, in the order of data.h. */
static void cache_strings(const data_read_opts *o, const char *first_error, const char *str[6]) {
    str[0] = o->delim;
    str[1] = o->user_col;
    str[2] = o->item_col;
    str[3] = o->rating_col;
    str[4] = o->time_col;
    str[5] = first_error;
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

/* Caches are mapped unless a test says otherwise (fast_cache_use_mapping). */
static int map_caches = 1;

void fast_cache_use_mapping(int on) { map_caches = on; }

/* A cache file's bytes, mapped, or (where mapping fails) read into memory:
 * the block that the arrays loaded from it lie in. */
typedef struct {
    data_block block;     /* first, so that a data_block * is its cache_image * */
    unsigned char *base;
    size_t len;           /* the file's size */
    size_t have;          /* the bytes at base so far (all of them when mapped) */
    int mapped;
} cache_image;

static void image_free(data_block *b) {
    cache_image *im = (cache_image *)(void *)b;
    if (im->mapped) munmap(im->base, im->len);
    else free(im->base);
    free(im);
}

/* The cache open as fd, of len bytes, one reference held: mapped private
 * to this process (a row written in place becomes its own copy, never the
 * file's), else its first CACHE_HEAD_MAX bytes read (image_complete reads
 * the rest once the header is found good: a large file that is no cache
 * costs nothing). NULL with errno. */
static cache_image *image_open(int fd, size_t len) {
    cache_image *im = malloc(sizeof *im);
    void *p = MAP_FAILED;
    if (!im) {
        errno = ENOMEM;
        return NULL;
    }
    memset(im, 0, sizeof *im);
    im->block.refs = 1;
    im->block.free_block = image_free;
    im->len = len;
    if (map_caches) p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
        im->base = p;
        im->have = len;
        im->mapped = 1;
        return im;
    }
    im->have = len < CACHE_HEAD_MAX ? len : CACHE_HEAD_MAX;
    if (!(im->base = malloc(im->have)) || read_at(fd, im->base, im->have, 0) != 0) {
        int e = im->base ? errno : ENOMEM;
        free(im->base);
        free(im);
        errno = e;
        return NULL;
    }
    return im;
}

/* Every byte of the image there to read: the rest read, or, mapped, every
 * page mapped at once where the system can (one call instead of a page
 * fault per few pages; without it the faults map them). 0, or -1 with
 * errno (0: the file ended first). */
static int image_complete(cache_image *im, int fd) {
    if (im->mapped) {
#ifdef MADV_POPULATE_READ
        (void)madvise(im->base, im->len, MADV_POPULATE_READ);
#endif
        return 0;
    }
    if (im->have < im->len) {
        unsigned char *all = realloc(im->base, im->len);
        if (!all) {
            errno = ENOMEM;
            return -1;
        }
        im->base = all;
        if (read_at(fd, im->base + im->have, im->len - im->have, im->have) != 0) return -1;
        im->have = im->len;
    }
    return 0;
}

/* 1 when the string of len bytes at p is want (len CACHE_NO_STRING: none) */
static int same_string(const char *want, const unsigned char *p, uint32_t len) {
    if (len == CACHE_NO_STRING) return want == NULL;
    return want != NULL && strlen(want) == len && memcmp(want, p, len) == 0;
}

/* The header and strings of the image against the source src and the
 * options o: 1 with *L placed and the first skipped line's message in
 * first_error; -1, stale or damaged (why says how); -2, not a cache. */
static int check_head(const cache_image *im, const struct stat *src, const data_read_opts *o,
                      cache_layout *L, char *first_error, size_t fe_cap, char *why,
                      size_t cap) {
    const unsigned char *h = im->base;
    const char *want[6];
    uint64_t at = CACHE_HEAD, str_at[6], total;
    uint32_t str_len[6];
    int j;
    if (memcmp(h, CACHE_MAGIC, 8) != 0) return -2;
    if (im->have < CACHE_HEAD) {
        why_printf(why, cap, "damaged (truncated)");
        return -1;
    }
    if (cache_get32(h + 8) != DATA_CACHE_VERSION) {
        why_printf(why, cap, "written by another version of embrec (cache format %lu; this "
                             "one reads %d)",
                   (unsigned long)cache_get32(h + 8), DATA_CACHE_VERSION);
        return -1;
    }
    if (cache_get32(h + 12) != CACHE_BOM) {
        why_printf(why, cap, "written on a machine of the other byte order");
        return -1;
    }
    if (cache_get64(h + 16) != (uint64_t)src->st_size ||
        (int64_t)cache_get64(h + 24) != (int64_t)src->st_mtim.tv_sec ||
        (int64_t)cache_get64(h + 32) != (int64_t)src->st_mtim.tv_nsec) {
        why_printf(why, cap, "the ratings file changed since it was written (size or "
                             "modification time)");
        return -1;
    }
    if ((int64_t)cache_get64(h + 40) - (int64_t)src->st_mtim.tv_sec < CACHE_RACY_S) {
        why_printf(why, cap, "the ratings file had changed less than %d s before it was "
                             "cached, too recently to trust its time", CACHE_RACY_S);
        return -1;
    }
    for (j = 0; j < 6; j++) { /* the strings, each checked for length first */
        if (at + 4 > im->have) break;
        str_len[j] = cache_get32(h + at);
        str_at[j] = at += 4;
        if (str_len[j] == CACHE_NO_STRING) continue;
        if (str_len[j] > CACHE_MAX_STRING || at + str_len[j] > im->have) break;
        at += str_len[j];
    }
    if (j < 6) {
        why_printf(why, cap, "damaged (truncated)");
        return -1;
    }
    cache_strings(o, NULL, want);
    for (j = 0; j < 5 && same_string(want[j], h + str_at[j], str_len[j]); j++) {
    }
    if (j < 5 || cache_get32(h + 88) != (uint32_t)o->format ||
        (int32_t)cache_get32(h + 92) != (int32_t)o->header ||
        cache_get32(h + 96) != (uint32_t)(o->skip_bad != 0)) {
        why_printf(why, cap, "written for other input options");
        return -1;
    }
    L->n = cache_get64(h + 48);
    L->U = cache_get64(h + 56);
    L->I = cache_get64(h + 64);
    L->m = cache_get64(h + 104);
    if (L->n > UINT32_MAX || L->U > INT32_MAX || L->I > INT32_MAX || L->n == 0 || L->m > L->n ||
        cache_get32(h + 100) > (uint32_t)DATA_FMT_DELIM) {
        why_printf(why, cap, "damaged (%llu rows, %llu users, %llu items, %llu user items)",
                   (unsigned long long)L->n, (unsigned long long)L->U,
                   (unsigned long long)L->I, (unsigned long long)L->m);
        return -1;
    }
    layout_place(L, at);
    total = L->sum + 8;
    if ((uint64_t)im->len != total) {
        why_printf(why, cap, "damaged (%llu bytes, expected %llu)", (unsigned long long)im->len,
                   (unsigned long long)total);
        return -1;
    }
    data_text_printf(first_error, fe_cap, "%.*s",
                     str_len[5] == CACHE_NO_STRING ? 0 : (int)str_len[5],
                     (const char *)h + str_at[5]);
    return 1;
}

/* The array of type T at offset at of the image (every array starts at a
 * multiple of CACHE_ALIGN, from memory aligned at least as much as malloc's) */
#define IMAGE_AT(T, im, at) ((T *)(void *)((im)->base + (at)))

/* The checks below are written so that the compiler can do them several
 * elements at a time (SSE2 has no unsigned comparison): they AND or OR
 * bits together in eight accumulators, and look at the top bit. */

/* 1 when every x[0..n) is below top (at most 2^31): x − top has its top
 * bit set exactly when x < top, for x below 2^31. */
static int all_below(const uint32_t *x, size_t n, uint32_t top) {
    uint32_t acc[8] = {~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u};
    size_t k = 0;
    int j;
    for (; k + 8 <= n; k += 8)
        for (j = 0; j < 8; j++) acc[j] &= (x[k + j] - top) & ~x[k + j];
    for (; k < n; k++) acc[0] &= (x[k] - top) & ~x[k];
    for (j = 1; j < 8; j++) acc[0] &= acc[j];
    return (int)(acc[0] >> 31);
}

/* 1 when x[0..n) ascend strictly, each below 2^31 (as all_below checks) */
static int ascending(const uint32_t *x, size_t n) {
    uint32_t acc[8] = {~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u};
    size_t k = 1;
    int j;
    for (; k + 8 <= n; k += 8)
        for (j = 0; j < 8; j++) acc[j] &= x[k + j - 1] - x[k + j];
    for (; k < n; k++) acc[0] &= x[k - 1] - x[k];
    for (j = 1; j < 8; j++) acc[0] &= acc[j];
    return (int)(acc[0] >> 31);
}

/* 1 when every r[0..n) is finite: its exponent bits plus one reach the
 * sign bit exactly when they are all ones (an infinity or a NaN). */
static int all_finite(const float *r, size_t n) {
    uint32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b;
    size_t k = 0;
    int j;
    for (; k + 8 <= n; k += 8)
        for (j = 0; j < 8; j++) {
            memcpy(&b, r + k + j, 4);
            acc[j] |= (b & 0x7f800000u) + 0x00800000u;
        }
    for (; k < n; k++) {
        memcpy(&b, r + k, 4);
        acc[0] |= (b & 0x7f800000u) + 0x00800000u;
    }
    for (j = 1; j < 8; j++) acc[0] |= acc[j];
    return !(acc[0] >> 31);
}

/* What the checks of a cache's arrays found, going through it in order. */
typedef struct {
    int bad_rows;     /* a row's user or item is out of range, or its rating not finite */
    int bad_items;    /* the starts or the sorted items are not what they must be */
    size_t user;      /* the user whose sorted items are being checked */
} cache_check;

/* The elements [*a, *b) of the array of count elements of size bytes at
 * offset at that lie in the bytes [from, to); 0 when there are none. */
static int span(uint64_t at, uint64_t count, uint64_t size, uint64_t from, uint64_t to,
                size_t *a, size_t *b) {
    uint64_t end = at + count * size;
    if (to <= at || from >= end) return 0;
    *a = (size_t)(from > at ? (from - at) / size : 0);
    *b = (size_t)(to < end ? (to - at) / size : count);
    return *a < *b;
}

/* The sorted items [a, b): below I, and each user's ascending (a user's
 * first item in the span is compared with the one before it when that is
 * the same user's). The starts are good. */
static int sorted_good(const uint32_t *start, const uint32_t *sorted, const cache_layout *L,
                       size_t a, size_t b, size_t *user) {
    size_t k = a;
    int good = all_below(sorted + a, b - a, (uint32_t)L->I);
    while (k < b && good) {
        size_t end, from;
        while (start[*user + 1] <= k) (*user)++; /* the user whose items k is among */
        end = start[*user + 1] < b ? start[*user + 1] : b;
        from = k > start[*user] ? k - 1 : k;
        good = ascending(sorted + from, end - from);
        k = end;
    }
    return good;
}

/* The checks on the bytes [from, to) of the image (whole elements: every
 * array starts at a multiple of CACHE_ALIGN, and so do from and to): every
 * user and item below U or I, every rating finite, the starts from 0 to m
 * without going back, each user's items below I and ascending. The starts
 * come before the sorted items in the file, so they are checked first. */
static void check_span(const cache_image *im, const cache_layout *L, uint64_t from, uint64_t to,
                       cache_check *c) {
    const uint32_t *start = IMAGE_AT(const uint32_t, im, L->start);
    size_t a, b, k;
    if (span(L->user, L->n, 4, from, to, &a, &b))
        c->bad_rows |= !all_below(IMAGE_AT(const uint32_t, im, L->user) + a, b - a, (uint32_t)L->U);
    if (span(L->item, L->n, 4, from, to, &a, &b))
        c->bad_rows |= !all_below(IMAGE_AT(const uint32_t, im, L->item) + a, b - a, (uint32_t)L->I);
    if (span(L->rating, L->n, 4, from, to, &a, &b))
        c->bad_rows |= !all_finite(IMAGE_AT(const float, im, L->rating) + a, b - a);
    if (span(L->start, L->U + 1, 4, from, to, &a, &b)) {
        for (k = a; k < b && k < L->U; k++) c->bad_items |= start[k] > start[k + 1];
        if (a == 0) c->bad_items |= start[0] != 0;
        if (b == L->U + 1) c->bad_items |= start[L->U] != L->m;
    }
    if (!c->bad_items && span(L->sorted, L->m, 4, from, to, &a, &b))
        c->bad_items = !sorted_good(start, IMAGE_AT(const uint32_t, im, L->sorted), L, a, b,
                                    &c->user);
}

/* The checksum of a placed, complete image and its arrays' checks, a
 * piece at a time so that the checks find it in the CPU's cache: a
 * checksum can be forged (the fuzz harness does), so the indices are
 * checked for what they index. 1, or 0 with why. */
static int check_body(const cache_image *im, const cache_layout *L, char *why, size_t cap) {
    const uint64_t piece = (uint64_t)1 << 17;
    cache_check c = {.bad_rows = 0, .bad_items = 0, .user = 0};
    cache_sum sum;
    uint64_t at;
    sum_init(&sum);
    for (at = 0; at < L->sum; at += piece) {
        uint64_t to = L->sum - at < piece ? L->sum : at + piece;
        sum_add(&sum, im->base + at, (size_t)(to - at));
        check_span(im, L, at, to, &c);
    }
    if (sum_end(&sum) != cache_get64(im->base + L->sum)) {
        why_printf(why, cap, "damaged (checksum mismatch)");
        return 0;
    }
    if (c.bad_rows) {
        why_printf(why, cap, "damaged (a row out of range)");
        return 0;
    }
    if (c.bad_items) {
        why_printf(why, cap, "damaged (the users' sorted items)");
        return 0;
    }
    return 1;
}

/* The maps mu, mi (empty) given the image's ids in order: 1, or 0 with
 * why (a repeated id, or no memory). */
static int load_maps(const cache_image *im, const cache_layout *L, data_idmap *mu,
                     data_idmap *mi, char *why, size_t cap) {
    const int64_t *uraw = IMAGE_AT(const int64_t, im, L->user_ids);
    const int64_t *iraw = IMAGE_AT(const int64_t, im, L->item_ids);
    uint64_t k;
    for (k = 0; k < L->U && data_idmap_intern(mu, uraw[k]) == (int32_t)k; k++) {
    }
    if (k == L->U)
        for (k = 0; k < L->I && data_idmap_intern(mi, iraw[k]) == (int32_t)k; k++) {
        }
    if (mu->n != L->U || mi->n != L->I) {
        why_printf(why, cap, "damaged (a repeated id), or too large to load (out of memory)");
        return 0;
    }
    return 1;
}

/* The rows of the image appended to out after its n0 rows. Into empty
 * ratings the columns are taken where they lie, the image's pages (out
 * holding a reference); else copied. 0, or -1 (no memory). */
static int give_rows(cache_image *im, const cache_layout *L, data_ratings *out) {
    size_t n0 = out->n, n = (size_t)L->n;
    if (n0 == 0 && out->cap == 0) {
        data_ratings_free(out);
        out->user = IMAGE_AT(uint32_t, im, L->user);
        out->item = IMAGE_AT(uint32_t, im, L->item);
        out->rating = IMAGE_AT(float, im, L->rating);
        out->time = IMAGE_AT(int64_t, im, L->time);
        out->n = out->cap = n;
        out->block = &im->block;
        im->block.refs++;
        return 0;
    }
    if (data_ratings_reserve_exact(out, n0 + n) != 0) return -1;
    memcpy(out->user + n0, IMAGE_AT(uint32_t, im, L->user), n * sizeof *out->user);
    memcpy(out->item + n0, IMAGE_AT(uint32_t, im, L->item), n * sizeof *out->item);
    memcpy(out->rating + n0, IMAGE_AT(float, im, L->rating), n * sizeof *out->rating);
    memcpy(out->time + n0, IMAGE_AT(int64_t, im, L->time), n * sizeof *out->time);
    out->n = n0 + n;
    return 0;
}

/* Load the cache at cpath for the source src into the maps mu, mi (empty),
 * the rows of out after its n0 = out->n, and *ui (each user's sorted items
 * of the cached rows, lying in the image). 1: loaded; 0: there is none;
 * -1: stale or damaged, why says how; -2: the file is not a cache. On
 * anything but 1, out is as it was, ui empty and the maps empty. */
static int cache_load(const char *cpath, const struct stat *src, const data_read_opts *o,
                      data_idmap *mu, data_idmap *mi, data_ratings *out, data_user_items *ui,
                      data_read_report *rep, char *why, size_t cap) {
    cache_image *im = NULL;
    cache_layout L;
    struct stat cst;
    int rc = -1, fd = open(cpath, O_RDONLY);
    memset(ui, 0, sizeof *ui);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        why_printf(why, cap, "cannot be read (%s)", strerror(errno));
        return -1;
    }
    if (fstat(fd, &cst) != 0 || cst.st_size < 8 || (uint64_t)cst.st_size > SIZE_MAX) {
        why_printf(why, cap, "damaged (truncated)");
        goto done;
    }
    if (!(im = image_open(fd, (size_t)cst.st_size))) {
        if (errno) why_printf(why, cap, "cannot be read (%s)", strerror(errno));
        else why_printf(why, cap, "damaged (truncated)");
        goto done;
    }
    rc = check_head(im, src, o, &L, rep->first_error, sizeof rep->first_error, why, cap);
    if (rc != 1) goto done;
    rc = -1;
    if (image_complete(im, fd) != 0) {
        if (errno) why_printf(why, cap, "cannot be read (%s)", strerror(errno));
        else why_printf(why, cap, "damaged (truncated)");
        goto done;
    }
    if (!check_body(im, &L, why, cap) || !load_maps(im, &L, mu, mi, why, cap)) goto done;
    if (give_rows(im, &L, out) != 0) {
        why_printf(why, cap, "too large to load (out of memory)");
        goto done;
    }
    ui->start = IMAGE_AT(uint32_t, im, L.start);
    ui->item = IMAGE_AT(uint32_t, im, L.sorted);
    ui->n_users = (size_t)L.U;
    ui->block = &im->block;
    im->block.refs++;
    rep->format = (data_format)cache_get32(im->base + 100);
    rep->lines = (size_t)cache_get64(im->base + 72);
    rep->skipped = (size_t)cache_get64(im->base + 80);
    rc = 1;
done:
    if (rc != 1) {
        data_idmap_free(mu);
        data_idmap_free(mi);
        rep->first_error[0] = '\0';
    }
    if (im) data_block_release(&im->block);
    close(fd);
    return rc;
}

/* A cache file being written: every byte through the checksum, at counts
 * them. A failed write sets the stream's error flag, which data_out_commit
 * checks. */
typedef struct {
    data_out out;
    cache_sum sum;
    uint64_t at;
} cache_out;

static void out_bytes(cache_out *co, const void *p, size_t n) {
    sum_add(&co->sum, p, n);
    co->at += n;
    if (n) fwrite(p, 1, n, co->out.f);
}

/* zero bytes up to offset to */
static void out_to(cache_out *co, uint64_t to) {
    static const unsigned char zero[CACHE_ALIGN];
    while (co->at < to) out_bytes(co, zero, to - co->at < CACHE_ALIGN ? (size_t)(to - co->at) : CACHE_ALIGN);
}

/* Write the cache of the rows of out after n0, the maps mu, mi they index
 * and ui, their users' sorted items, parsed from the source st (read at
 * read_at), atomically. 0, or -1 with why. */
static int cache_write(const char *cpath, const struct stat *st, int64_t read_at,
                       const data_read_opts *o, const data_idmap *mu, const data_idmap *mi,
                       const data_ratings *out, size_t n0, const data_user_items *ui,
                       const data_read_report *rep, char *why, size_t cap) {
    cache_out co;
    cache_layout L;
    unsigned char head[CACHE_HEAD];
    const char *str[6];
    size_t n = out->n - n0;
    uint64_t sum;
    int j;
    L.n = n;
    L.U = mu->n;
    L.I = mi->n;
    L.m = ui->start[ui->n_users];
    sum_init(&co.sum);
    co.at = 0;
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
    cache_put64(head + 48, L.n);
    cache_put64(head + 56, L.U);
    cache_put64(head + 64, L.I);
    cache_put64(head + 72, rep->lines);
    cache_put64(head + 80, rep->skipped);
    cache_put32(head + 88, (uint32_t)o->format);
    cache_put32(head + 92, (uint32_t)(int32_t)o->header);
    cache_put32(head + 96, (uint32_t)(o->skip_bad != 0));
    cache_put32(head + 100, (uint32_t)rep->format);
    cache_put64(head + 104, L.m);
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
    }
    layout_place(&L, co.at);
    out_to(&co, L.user_ids);
    out_bytes(&co, mu->raw, mu->n * sizeof *mu->raw);
    out_to(&co, L.item_ids);
    out_bytes(&co, mi->raw, mi->n * sizeof *mi->raw);
    out_to(&co, L.time);
    out_bytes(&co, out->time + n0, n * sizeof *out->time);
    out_to(&co, L.user);
    out_bytes(&co, out->user + n0, n * sizeof *out->user);
    out_to(&co, L.item);
    out_bytes(&co, out->item + n0, n * sizeof *out->item);
    out_to(&co, L.rating);
    out_bytes(&co, out->rating + n0, n * sizeof *out->rating);
    out_to(&co, L.start);
    out_bytes(&co, ui->start, (ui->n_users + 1) * sizeof *ui->start);
    out_to(&co, L.sorted);
    out_bytes(&co, ui->item, (size_t)L.m * sizeof *ui->item);
    out_to(&co, L.sum);
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

/* Write the cache of what was just parsed (the rows of out after n0,
 * indexing mu and mi), with its users' sorted items, built into *ui. 0, or
 * -1 with why (and *ui empty). */
static int cache_store(const char *cpath, const struct stat *src, int64_t read_at,
                       const data_read_opts *o, const data_idmap *mu, const data_idmap *mi,
                       const data_ratings *out, size_t n0, data_user_items *ui,
                       const data_read_report *rep, char *why, size_t cap) {
    data_ratings rows = {
        .user = out->user + n0, .item = out->item + n0, .n = out->n - n0}; /* the file's rows */
    memset(ui, 0, sizeof *ui);
    if (!out->time) { /* read without its timestamps: the cache would not be the file */
        why_printf(why, cap, "not written, the timestamps were not kept");
        return -1;
    }
    if (data_user_items_build(ui, &rows, mu->n) != 0) {
        why_printf(why, cap, "not written (out of memory)");
        return -1;
    }
    return cache_write(cpath, src, read_at, o, mu, mi, out, n0, ui, rep, why, cap);
}

int fast_cache_read(const char *path, const data_read_opts *o, data_idmap *users,
                    data_idmap *items, data_ratings *out, data_read_report *rep,
                    data_error *err) {
    char cpath[4096], why[512];
    struct stat src, cst;
    data_idmap lu, li;
    data_user_items ui;
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
    memset(&ui, 0, sizeof ui);
    why[0] = '\0';
    if (stat(path, &src) == 0) { /* else parsing says why the file cannot be read */
        if (stat(cpath, &cst) == 0 && cst.st_dev == src.st_dev && cst.st_ino == src.st_ino) {
            data_errorf(err, "%s: the cache would overwrite the ratings file itself", cpath);
            return -1;
        }
        if (S_ISREG(src.st_mode))
            had = cache_load(cpath, &src, o, mu, mi, out, &ui, rep, why, sizeof why);
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
                   cache_store(cpath, &src, read_at, o, mu, mi, out, n0, &ui, rep, why,
                               sizeof why) != 0) {
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
    if (o->user_items && !separate && n0 == 0 && ui.start) { /* they are every row's */
        *o->user_items = ui;
        memset(&ui, 0, sizeof ui);
    }
    rc = 0;
done:
    data_user_items_free(&ui);
    data_idmap_free(&lu);
    data_idmap_free(&li);
    return rc;
}
