/* tests/test.h — the tiny test harness behind `make test`.
 *
 * A test is a void function; test_run() runs it and counts it passed when no
 * CHECK in it failed. A failing CHECK prints file:line and the values and the
 * test goes on, so one run shows every failure. The runner (tests/run.c) ends
 * with the line `N passed, N failed, N skipped`.
 */
#ifndef EMBREC_TEST_H
#define EMBREC_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

void test_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void test_run(const char *name, void (*fn)(void));
/* mark the running test skipped (call it and return); why is printed */
void test_skip(const char *why);
/* ../shared/movielens/<sub> when it exists, else NULL (tests then skip) */
const char *test_movielens(const char *sub);
/* a fresh scratch directory for this run, e.g. /tmp/embrec-test.XXXXXX */
const char *test_tmpdir(void);
/* path inside the scratch directory (static buffer, rotated 8 deep) */
const char *test_path(const char *name);
/* write text to a scratch file and return its path */
const char *test_write(const char *name, const char *text);

/* |a − b| ≤ atol + rtol·|b|, and neither is NaN */
int test_close(double a, double b, double rtol, double atol);
/* run test on every SIMD path this machine has (printing each), then go
 * back to the path chosen before */
void test_on_every_path(void (*test)(void));

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond);           \
    } while (0)

#define CHECK_NEAR(a, b, rtol, atol)                                       \
    do {                                                                   \
        double a_ = (double)(a), b_ = (double)(b);                         \
        if (!test_close(a_, b_, (rtol), (atol)))                           \
            test_fail(__FILE__, __LINE__, "%s = %.9g, expected %s = %.9g " \
                      "(rtol %g, atol %g)", #a, a_, #b, b_,                \
                      (double)(rtol), (double)(atol));                     \
    } while (0)

#define CHECK_INT(a, b)                                                    \
    do {                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                \
        if (a_ != b_)                                                      \
            test_fail(__FILE__, __LINE__, "%s = %lld, expected %lld",      \
                      #a, a_, b_);                                         \
    } while (0)

/* the string hay contains needle */
#define CHECK_HAS(hay, needle)                                             \
    do {                                                                   \
        const char *h_ = (hay), *n_ = (needle);                            \
        if (!h_ || !strstr(h_, n_))                                        \
            test_fail(__FILE__, __LINE__, "%s = \"%s\" lacks \"%s\"",      \
                      #hay, h_ ? h_ : "(null)", n_);                       \
    } while (0)

/* suites, one per file */
void suite_nn(void);
void suite_data(void);
void suite_mf(void);
void suite_ref(void);
void suite_viz(void);
void suite_cli(void);
void suite_fast(void);

#endif
