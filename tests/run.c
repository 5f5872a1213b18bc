/* tests/run.c — runs every suite and prints `N passed, N failed, N skipped`.
 *
 * `tests/run` runs everything; `tests/run NAME` runs only the tests whose
 * name contains NAME. The exit status is 0 only when nothing failed. The
 * suite runs with fast/ installed, as embrec does (data/readers_agree also
 * reads every ratings input with the plain reader).
 * Built with -DONLY_SUITE=suite_x it runs that one suite (for working on a
 * single file before the others link).
 */
#define _POSIX_C_SOURCE 200809L
#include "test.h"
#include "../nn.h"
#include "../fast/fast.h"

#include "../fast/fast.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed, skipped;
static int current_failed, current_skipped;
static const char *current_name;
static const char *filter;
static char tmpdir[256];

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (!current_failed) printf("FAIL %s\n", current_name ? current_name : "?");
    current_failed = 1;
    printf("  %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void test_skip(const char *why) {
    current_skipped = 1;
    printf("skip %s: %s\n", current_name, why);
}

void test_run(const char *name, void (*fn)(void)) {
    if (filter && !strstr(name, filter)) return;
    current_name = name;
    current_failed = current_skipped = 0;
    fn();
    if (current_failed) failed++;
    else if (current_skipped) skipped++;
    else { passed++; printf("ok   %s\n", name); }
    fflush(stdout);
}

int test_close(double a, double b, double rtol, double atol) {
    if (isnan(a) || isnan(b)) return 0;
    if (a == b) return 1; /* equal infinities */
    return fabs(a - b) <= atol + rtol * fabs(b);
}

const char *test_movielens(const char *sub) {
    static char path[8][512];
    static int next;
    struct stat st;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "../shared/movielens/%s", sub);
    return stat(p, &st) == 0 ? p : NULL;
}

const char *test_tmpdir(void) {
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/embrec-test.XXXXXX",
                 base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

const char *test_path(const char *name) {
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", test_tmpdir(), name);
    return p;
}

const char *test_write(const char *name, const char *text) {
    const char *p = test_path(name);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(p);
        exit(2);
    }
    return p;
}

static void remove_tmpdir(void) {
    char cmd[600];
    if (!tmpdir[0] || getenv("EMBREC_KEEP_TMP")) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(int argc, char **argv) {
    if (argc > 1) filter = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    fast_install(); /* the suite tests the build embrec is */
#ifdef ONLY_SUITE
    ONLY_SUITE();
#else
    suite_nn();
    suite_data();
    suite_mf();
    suite_ref();
    suite_viz();
    suite_fast();
    suite_cli();
#endif
    remove_tmpdir();
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

void test_on_every_path(void (*test)(void)) {
    static const char *const paths[] = {"scalar", "avx2", "avx512", "neon"};
    char was[16];
    size_t k;
    snprintf(was, sizeof was, "%s", vec_path());
    for (k = 0; k < sizeof paths / sizeof paths[0]; k++)
        if (nn_simd_select(paths[k]) == 0) {
            printf("     on the %s path\n", vec_path());
            test();
        }
    CHECK_INT(nn_simd_select(was), 0);
}
