/* tests/fixture.h — the reader for the committed text fixtures in tests/ref/
 * (optim.txt and layers.txt in test_nn.c, models.txt in test_ref.c).
 *
 * A fixture is white-space separated tokens, '#' starting a comment to the
 * end of the line. The whole file is read into memory and consumed token by
 * token. Every reader below returns 0, or -1 after a test_fail naming the
 * fixture file, so a missing or malformed fixture is a FAIL, never a skip.
 */
#ifndef EMBREC_TEST_FIXTURE_H
#define EMBREC_TEST_FIXTURE_H

#include <stddef.h>

typedef struct {
    const char *path; /* named in every failure message */
    char *text;       /* the whole file, NUL-terminated */
    const char *cur;  /* the next unread character */
} fixture_file;

/* read path whole; -1 after a FAIL when it cannot be read */
int fixture_open(fixture_file *f, const char *path);
void fixture_close(fixture_file *f);

/* the next token into buf (cut to cap − 1 characters); NULL at the end of
 * the file (buf then ""). Not a failure by itself. */
const char *fixture_token(fixture_file *f, char *buf, size_t cap);
/* the next token is exactly want */
int fixture_word(fixture_file *f, const char *want);
/* the next token as a count in [0, max] */
int fixture_size(fixture_file *f, size_t *x, size_t max);
/* the next n tokens as numbers: doubles with strtod, floats with strtof
 * (float32 values printed with 9 digits read back exactly) */
int fixture_doubles(fixture_file *f, double *x, size_t n);
int fixture_floats(fixture_file *f, float *x, size_t n);

/* Write a .npy file into the scratch directory as np.save does (magic,
 * version 1 or 2, the header dict padded to a multiple of 64 bytes, then
 * bytes of data) and return its path (test_path's rotating buffer). */
const char *fixture_write_npy(const char *name, int version, const char *dict,
                              const void *data, size_t bytes);

#endif
