/* formats/orders.c — reading per-epoch batch orders (see orders.h): a text
 * file of permutations, one a line, or a .npy integer array. Every order is
 * checked to be a permutation of 0..n−1 before training sees it.
 *
 * A text line holds a whole permutation, so it may be longer than the 1 MiB
 * the other text readers allow: 32 bytes more per sample. Nothing else
 * about text differs from data.c's readers (the file is read whole by
 * data_read_file, which checks line lengths and NUL bytes as it reads).
 */
#define _POSIX_C_SOURCE 200809L
#include "formats/orders.h"
#include "formats/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* order (n) is a permutation of 0..n−1, else -1 with the first problem in msg */
static int check_permutation(const uint32_t *order, size_t n, uint8_t *seen, char *msg,
                             size_t cap) {
    size_t k;
    memset(seen, 0, n ? n : 1);
    for (k = 0; k < n; k++) {
        if (seen[order[k]]) {
            snprintf(msg, cap, "%u appears twice: not a permutation of 0..%zu", order[k],
                     n - 1);
            return -1;
        }
        seen[order[k]] = 1;
    }
    return 0;
}

int data_read_orders(const char *path, size_t n, uint32_t **orders, size_t *n_orders,
                     data_error *err) {
    size_t len = strlen(path), e = 0, cap = 0, k;
    uint32_t *o = NULL;
    uint8_t *seen = malloc(n ? n : 1);
    char msg[256];
    *orders = NULL;
    *n_orders = 0;
    if (!seen) {
        data_errorf(err, "%s: out of memory", path);
        return -1;
    }
    if (n > (size_t)UINT32_MAX) {
        data_errorf(err, "%s: orders of more than 4294967295 samples are not supported", path);
        goto fail;
    }
    if (len >= 4 && strcmp(path + len - 4, ".npy") == 0) { /* (n,) or (E, n) integers */
        data_npy a;
        if (data_read_npy(path, &a, err) != 0) goto fail;
        if (a.descr[1] != 'i' || !((a.ndim == 1 && a.shape[0] == n) ||
                                   (a.ndim == 2 && a.shape[1] == n && a.shape[0] > 0))) {
            char shape[128];
            data_errorf(err, "%s: %s array of shape %s; a batch order is integers of shape (%zu,) "
                        "or (epochs, %zu)", path, a.descr,
                        data_npy_shape_text(a.shape, a.ndim, shape, sizeof shape), n, n);
            data_npy_free(&a);
            goto fail;
        }
        e = a.ndim == 1 ? 1 : a.shape[0];
        o = malloc((e * n > 0 ? e * n : 1) * sizeof *o);
        if (!o) {
            data_errorf(err, "%s: out of memory", path);
            data_npy_free(&a);
            goto fail;
        }
        for (k = 0; k < e * n; k++) {
            if (!(a.v[k] >= 0 && a.v[k] < (double)n)) {
                data_errorf(err, "%s: permutation %zu: index %.0f is not in [0, %zu)", path,
                            k / n + 1, a.v[k], n);
                data_npy_free(&a);
                goto fail;
            }
            o[k] = (uint32_t)a.v[k];
        }
        data_npy_free(&a);
        for (k = 0; k < e; k++)
            if (check_permutation(o + k * n, n, seen, msg, sizeof msg) != 0) {
                data_errorf(err, "%s: permutation %zu: %s", path, k + 1, msg);
                goto fail;
            }
    } else { /* text: one permutation per line */
        /* a line holds n numbers: 1 MiB and 32 bytes a number */
        size_t max_line = n < (SIZE_MAX - DATA_MAX_LINE) / 32 ? DATA_MAX_LINE + 32 * n : SIZE_MAX;
        char *buf = data_read_file(path, max_line, &len, err), *line, *next;
        size_t lineno = 0;
        if (!buf) goto fail;
        for (line = buf; line && *line; line = next) {
            char *p = line, *eol = strchr(line, '\n');
            size_t got = 0;
            next = eol ? eol + 1 : NULL;
            if (eol) *eol = '\0';
            lineno++;
            while (*p == ' ' || *p == '\t' || *p == '\r') p++;
            if (!*p || *p == '#') continue;
            if (e == cap) {
                uint32_t *no = realloc(o, (cap = cap ? 2 * cap : 4) * (n ? n : 1) * sizeof *o);
                if (!no) {
                    data_errorf(err, "%s: out of memory", path);
                    free(buf);
                    goto fail;
                }
                o = no;
            }
            for (;;) {
                char *end;
                unsigned long long v;
                while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r') p++;
                if (!*p) break;
                errno = 0;
                v = strtoull(p, &end, 10);
                if (end == p || errno || *p == '-' || v >= n ||
                    (*end && !strchr(" \t,\r", *end))) {
                    char tok[64];
                    data_errorf(err, "%s:%zu: \"%s\" is not an index in [0, %zu)", path, lineno,
                                data_shown(tok, sizeof tok, p, strcspn(p, " \t,\r")), n);
                    free(buf);
                    goto fail;
                }
                if (got == n) {
                    data_errorf(err, "%s:%zu: more than %zu numbers (the training set has %zu "
                                "samples)", path, lineno, n, n);
                    free(buf);
                    goto fail;
                }
                o[e * n + got++] = (uint32_t)v;
                p = end;
            }
            if (got != n) {
                data_errorf(err, "%s:%zu: %zu numbers, but the training set has %zu samples",
                            path, lineno, got, n);
                free(buf);
                goto fail;
            }
            if (check_permutation(o + e * n, n, seen, msg, sizeof msg) != 0) {
                data_errorf(err, "%s:%zu: %s", path, lineno, msg);
                free(buf);
                goto fail;
            }
            e++;
        }
        free(buf);
        if (e == 0) {
            data_errorf(err, "%s: no permutation in the file", path);
            goto fail;
        }
    }
    free(seen);
    *orders = o;
    *n_orders = e;
    return 0;
fail:
    free(seen);
    free(o);
    return -1;
}
