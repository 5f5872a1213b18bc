/* tests/fixture.c — the token reader for the fixtures in tests/ref/; see
 * fixture.h. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)n + 1))) {
        fclose(f);
        return NULL;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

int fixture_open(fixture_file *f, const char *path) {
    f->path = path;
    f->text = slurp(path);
    f->cur = f->text;
    if (f->text) return 0;
    test_fail(__FILE__, __LINE__, "cannot read %s (run the tests from the repository root; "
              "the fixture is committed)", path);
    return -1;
}

void fixture_close(fixture_file *f) {
    free(f->text);
    f->text = NULL;
    f->cur = NULL;
}

const char *fixture_token(fixture_file *f, char *buf, size_t cap) {
    const char *s = f->cur;
    size_t n = 0;
    if (cap) buf[0] = '\0';
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (*s != '#') break;
        while (*s && *s != '\n') s++;
    }
    if (!*s) return NULL;
    while (*s && !strchr(" \t\r\n#", *s))
        if (n + 1 < cap) buf[n++] = *s++;
        else s++;
    buf[n] = '\0';
    f->cur = s;
    return buf;
}

int fixture_word(fixture_file *f, const char *want) {
    char buf[64];
    const char *t = fixture_token(f, buf, sizeof buf);
    if (t && strcmp(t, want) == 0) return 0;
    test_fail(__FILE__, __LINE__, "%s: expected \"%s\", found \"%s\"", f->path, want,
              t ? t : "end of file");
    return -1;
}

int fixture_size(fixture_file *f, size_t *x, size_t max) {
    char buf[64], *end;
    const char *t = fixture_token(f, buf, sizeof buf);
    unsigned long long v = t ? strtoull(t, &end, 10) : 0;
    if (t && end != t && !*end && v <= max) {
        *x = (size_t)v;
        return 0;
    }
    test_fail(__FILE__, __LINE__, "%s: bad count \"%s\" (at most %zu)", f->path, t ? t : "",
              max);
    return -1;
}

/* the next n numbers, into d, or into x when d is NULL */
static int numbers(fixture_file *f, double *d, float *x, size_t n) {
    char buf[64], *end;
    size_t j;
    for (j = 0; j < n; j++) {
        const char *t = fixture_token(f, buf, sizeof buf);
        if (!t) break;
        if (d) d[j] = strtod(t, &end);
        else x[j] = strtof(t, &end);
        if (end == t || *end) break;
    }
    if (j == n) return 0;
    test_fail(__FILE__, __LINE__, "%s: bad or missing number (%zu of %zu)", f->path, j + 1, n);
    return -1;
}

int fixture_doubles(fixture_file *f, double *x, size_t n) { return numbers(f, x, NULL, n); }

int fixture_floats(fixture_file *f, float *x, size_t n) { return numbers(f, NULL, x, n); }

const char *fixture_write_npy(const char *name, int version, const char *dict,
                              const void *data, size_t bytes) {
    const char *path = test_path(name);
    unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 0, 0, 0, 0, 0, 0};
    size_t len = strlen(dict), pre_len = version == 1 ? 10 : 12, pad = 0, hlen;
    FILE *f = fopen(path, "wb");
    while ((pre_len + len + pad + 1) % 64) pad++;
    hlen = len + pad + 1;
    pre[6] = (unsigned char)version;
    pre[8] = (unsigned char)(hlen & 0xff); /* little-endian length; 2.0: four bytes */
    pre[9] = (unsigned char)(hlen >> 8);
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return path;
    }
    fwrite(pre, 1, pre_len, f);
    fputs(dict, f);
    while (pad--) fputc(' ', f);
    fputc('\n', f);
    if (bytes) fwrite(data, 1, bytes, f);
    if (fclose(f) != 0) test_fail(__FILE__, __LINE__, "cannot write %s", path);
    return path;
}
