/* tests/test_cli.c — the `embrec` command as a user runs it: help with
 * defaults, one-line errors with file and line, and a short training run.
 * Runs ./embrec from the repository root (make test builds it first). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"
#include "../cli/tune.h"
#include "../formats/model_file.h"
#include "../nn.h"

static char out[1 << 16];

/* Run the shell command line cmd, keep what it prints on standard output
 * in out, return its exit status (-1 when a signal ended it). */
static int run_sh(const char *cmd) {
    size_t n = 0, got;
    FILE *p;
    int status;
    p = popen(cmd, "r");
    if (!p) {
        test_fail(__FILE__, __LINE__, "popen failed for %s", cmd);
        return -1;
    }
    while (n + 1 < sizeof out && (got = fread(out + n, 1, sizeof out - 1 - n, p)) > 0) n += got;
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Run `./embrec ARGS REDIRECT`, keep what comes through the pipe in out,
 * return the exit status. */
static int embrec_to(const char *args, const char *redirect) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "./embrec %s %s", args, redirect);
    return run_sh(cmd);
}

/* stdout and stderr together */
static int embrec(const char *args) {
    return embrec_to(args, "2>&1");
}

/* stderr alone */
static int embrec_stderr(const char *args) {
    return embrec_to(args, "2>&1 >/dev/null");
}

/* Run `ENV ./embrec ARGS 2>&1` (ENV: variable settings for the shell, or
 * ""), keep the output in out, return the exit status. */
static int embrec_env(const char *env, const char *args) {
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "%s ./embrec %s 2>&1", env, args);
    return run_sh(cmd);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* the size of a file in bytes, or 0 when there is none */
static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* 1 when the two files hold the same bytes */
static int same_file(const char *a, const char *b) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return system(cmd) == 0;
}

static void test_help_shows_defaults(void) {
    CHECK_INT(embrec("train --help"), 0);
    CHECK_HAS(out, "--dim K");
    CHECK_HAS(out, "[8; deep 50, neumf 100]"); /* default dimensions */
    CHECK_HAS(out, "[adamax]");        /* default optimiser */
    CHECK_HAS(out, "cfmodel");
    CHECK_HAS(out, "mf8");
    CHECK_INT(embrec("--help"), 0);
    CHECK_HAS(out, "recommend");
    CHECK_INT(embrec("info --help"), 0);
    CHECK_HAS(out, "--skip-bad");
}

static void test_usage_errors(void) {
    CHECK_INT(embrec("train --data data/ratings.csv --dim zero"), 2);
    CHECK_HAS(out, "--dim");
    CHECK_INT(embrec("train --data data/ratings.csv --frobnicate"), 2);
    CHECK_HAS(out, "unknown option --frobnicate");
    CHECK_INT(embrec("train --data data/ratings.csv --recipe mf9"), 2);
    CHECK_HAS(out, "unknown recipe \"mf9\"");
    CHECK_HAS(out, "(mf8, cfmodel, deep-genre, neumf, hybrid, svdpp)"); /* every recipe */
    CHECK_INT(embrec("nonsense"), 2);
    CHECK_HAS(out, "unknown command");
    CHECK_INT(embrec("train"), 2);
    CHECK_HAS(out, "--data FILE is required");
    /* the sample has 300 users and 200 movies: 201 groups leave one empty */
    CHECK_INT(embrec("train --data data/ratings.csv --optimizer sgd --batch 1 --blocks 201"), 2);
    CHECK_HAS(out, "--blocks 201: at most 200 here, the number of movies");
}

/* EMBREC_SIMD chooses the kernels' path when embrec starts, and the help
 * names the path in use: by default the fastest this machine runs (as the
 * library's auto choice finds it), scalar when asked. A path this machine
 * cannot run is a one-line usage error that names the variable. */
static void test_simd_env(void) {
    char was[16], line[64];
    snprintf(was, sizeof was, "%s", vec_path());
    CHECK_INT(nn_simd_select("auto"), 0);
    snprintf(line, sizeof line, "SIMD path: %s ", vec_path());
    CHECK_INT(nn_simd_select(was), 0);
    CHECK_INT(embrec_env("EMBREC_SIMD=", "--help"), 0);
    CHECK_HAS(out, line);
    CHECK_INT(embrec_env("EMBREC_SIMD=auto", "--help"), 0);
    CHECK_HAS(out, line);
    CHECK_INT(embrec_env("EMBREC_SIMD=scalar", "--help"), 0);
    CHECK_HAS(out, "SIMD path: scalar ");
    CHECK_INT(embrec_env("EMBREC_SIMD=sse9", "info --data data/ratings.csv"), 2);
    CHECK_INT(count_lines(out), 1);
    CHECK_HAS(out, "EMBREC_SIMD: no path \"sse9\"");
}

static void test_bad_file_one_line_error(void) {
    const char *bad = test_write("bad.csv", "userId,movieId,rating,timestamp\n"
                                            "1,10,4.0,964000001\n"
                                            "1,11,four,964982704\n");
    char args[600];
    snprintf(args, sizeof args, "info --data %s", bad);
    CHECK_INT(embrec(args), 1);
    CHECK_INT(count_lines(out), 1);
    CHECK_HAS(out, "bad.csv:3:");
    CHECK_HAS(out, "four");
    snprintf(args, sizeof args, "train --data %s --epochs 1 --save %s", bad, test_path("x.embrec"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "bad.csv:3:");
    snprintf(args, sizeof args, "info --data %s --skip-bad", bad);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "skipped  1 malformed");
    CHECK_INT(embrec("info --data /nonexistent/ratings.csv"), 1);
    CHECK_HAS(out, "/nonexistent/ratings.csv: cannot open");
    /* a file without line ends stops at the line limit, not at the memory's end */
    CHECK_INT(embrec("info --data /dev/zero"), 1);
    CHECK_HAS(out, "embrec: /dev/zero:1: line longer than 1 MiB");
    CHECK_INT(count_lines(out), 1);
    CHECK_INT(embrec("info --data /dev/zero --skip-bad"), 1);
    CHECK_HAS(out, "/dev/zero:1: line longer than 1 MiB");
    /* a NUL in a title is an error, not a title cut short */
    {
        static const char movies[] = "movieId,title,genres\n1,One (1990),Drama\n"
                                     "2,Two\0 and more (1991),Comedy\n";
        FILE *f = fopen(test_path("nul_movies.csv"), "wb");
        if (f) {
            fwrite(movies, 1, sizeof movies - 1, f);
            fclose(f);
        }
        snprintf(args, sizeof args, "info --movies %s", test_path("nul_movies.csv"));
        CHECK_INT(embrec(args), 1);
        CHECK_HAS(out, "nul_movies.csv:3: NUL byte in the line");
        CHECK_INT(count_lines(out), 1);
    }
}

static void test_info_sample(void) {
    CHECK_INT(embrec("info --data data/ratings.csv"), 0);
    CHECK_HAS(out, "ratings  12000");
    CHECK_HAS(out, "users    300");
    CHECK_HAS(out, "items    200");
    CHECK_HAS(out, "format   csv");
}

static void test_info_ml100k(void) {
    char args[600];
    const char *udata = test_movielens("ml-100k/u.data");
    if (!udata) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    snprintf(args, sizeof args, "info --data %s", udata);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "format   udata");
    CHECK_HAS(out, "ratings  100000");
    CHECK_HAS(out, "users    943");
    CHECK_HAS(out, "items    1682");
    CHECK_HAS(out, "mean 3.52986");
    CHECK_HAS(out, "density  6.3047%");
}

/* --cache on the command line: written, then loaded with the same output
 * and nothing on stderr, rebuilt (one line) when the file changes; eval
 * into a model's maps gives the same scores from the cache as from the
 * file; standard input is refused. */
static void test_cache_cli(void) {
    char args[1600], src[512], model[512], first[sizeof out], cmd[1200];
    snprintf(src, sizeof src, "%s", test_path("cli_cache.csv"));
    snprintf(model, sizeof model, "%s", test_path("cli_cache.embrec"));
    snprintf(cmd, sizeof cmd, "cp data/ratings.csv %s && touch -t 202001010000 %s", src, src);
    CHECK_INT(system(cmd), 0);
    snprintf(args, sizeof args, "info --data %s --cache", src);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "cli_cache.csv.embrec-cache: cache written");
    CHECK_HAS(out, "ratings  12000");
    CHECK_HAS(out, "cache    written");
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "ratings  12000");
    CHECK_HAS(out, "users    300");
    CHECK_HAS(out, "mean 3.52625");
    CHECK_HAS(out, "cache    loaded");
    CHECK_INT(count_lines(out), 8); /* the info lines only */
    snprintf(cmd, sizeof cmd, "touch -t 202001020000 %s", src);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "the ratings file changed since it was written");
    CHECK_HAS(out, "cache    rebuilt");
    CHECK_INT(count_lines(out), 9);

    /* a repeated pair counted from the users' sorted items, parsed, then
     * kept in the cache and loaded */
    snprintf(args, sizeof args, "info --data %s --cache",
             test_write("cli_repeats.csv", "userId,movieId,rating,timestamp\n"
                                           "1,10,4,1\n2,10,5,2\n1,11,3,3\n1,10,3,4\n"));
    snprintf(cmd, sizeof cmd, "touch -t 202001010000 %s", test_path("cli_repeats.csv"));
    CHECK_INT(system(cmd), 0);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "cache    written");
    CHECK_HAS(out, "repeats  1 lines repeat a (user, movie) pair");
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "cache    loaded");
    CHECK_HAS(out, "repeats  1 lines repeat a (user, movie) pair");

    /* training from the cache (its pages mapped) is training from the file */
    snprintf(args, sizeof args, "train --data %s --dim 4 --epochs 2 --history %s", src,
             test_path("cli_nocache.history.csv"));
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data %s --cache --dim 4 --epochs 2 --history %s", src,
             test_path("cli_cache.history.csv"));
    CHECK_INT(embrec(args), 0);
    CHECK(!strstr(out, "embrec-cache")); /* loaded: nothing said */
    snprintf(cmd, sizeof cmd, /* every column but the seconds */
             "cut -d, -f1-5,7- %s > %s.cut && cut -d, -f1-5,7- %s | cmp -s - %s.cut",
             test_path("cli_nocache.history.csv"), test_path("cli_nocache.history.csv"),
             test_path("cli_cache.history.csv"), test_path("cli_nocache.history.csv"));
    CHECK_INT(system(cmd), 0);

    /* a model's maps (with ids the model never saw): eval with and without
     * the cache, at an explicit path */
    snprintf(args, sizeof args, "train --data %s --cache --dim 4 --epochs 1 --save %s", src, model);
    CHECK_INT(embrec(args), 0);
    snprintf(src, sizeof src, "%s", test_write("cli_eval.csv", "userId,movieId,rating,timestamp\n"
                                                               "1,1,4,1\n99999,1,3,2\n"
                                                               "2,88888,2,3\n7,12,5,4\n"));
    snprintf(cmd, sizeof cmd, "touch -t 202001010000 %s", src);
    CHECK_INT(system(cmd), 0);
    snprintf(args, sizeof args, "eval --model %s --data %s", model, src);
    CHECK_INT(embrec(args), 0);
    snprintf(first, sizeof first, "%s", out);
    CHECK_HAS(first, "RMSE");
    CHECK_HAS(first, "2 with an unseen user or item"); /* the unknown ids are counted */
    snprintf(args, sizeof args, "eval --model %s --data %s --cache=%s", model, src,
             test_path("cli_eval.cache"));
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "cli_eval.cache: cache written");
    CHECK_INT(embrec(args), 0);
    CHECK(strcmp(out, first) == 0); /* loaded: exactly the output read from the file */

    snprintf(args, sizeof args, "info --data - --cache < %s", src);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "a cache needs a named file, not standard input");
    snprintf(args, sizeof args, "info --data - < %s", src); /* without one, stdin is read */
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "ratings  4");
    CHECK_INT(embrec("info --help"), 0);
    CHECK_HAS(out, "--cache[=PATH]");
}

/* The reference build (make reference: the command line over the reading
 * core, without fast/) reads ratings as embrec does: the same output and
 * status for a file, standard input, --skip-bad and a malformed line; with
 * --cache it parses, writes no cache and says so in one line. */
static void test_reference_build(void) {
    char args[1600], cmd[1700], fast_out[sizeof out], bad[512], cache[600];
    struct {
        const char *fmt, *file;
    } cases[4];
    struct stat st;
    size_t k;
    int status;
    if (stat("embrec-reference", &st) != 0) {
        test_skip("./embrec-reference not built (make reference)");
        return;
    }
    snprintf(bad, sizeof bad, "%s", test_write("cli_ref_bad.csv", "userId,movieId,rating\r\n"
                                                                  "1,10,4.0\r\n2,11,four\r\n"
                                                                  "\r\n3,\"12\",1.5\r\n"));
    cases[0].fmt = "info --data %s";
    cases[0].file = "data/ratings.csv";
    cases[1].fmt = "info --data - < %s";
    cases[1].file = "data/ratings.csv";
    cases[2].fmt = "info --data %s --skip-bad";
    cases[2].file = bad;
    cases[3].fmt = "info --data %s";
    cases[3].file = bad;
    for (k = 0; k < 4; k++) {
        snprintf(args, sizeof args, cases[k].fmt, cases[k].file);
        status = embrec(args);
        snprintf(fast_out, sizeof fast_out, "%s", out);
        snprintf(cmd, sizeof cmd, "./embrec-reference %s 2>&1", args);
        CHECK_INT(run_sh(cmd), status);
        if (strcmp(out, fast_out) != 0)
            test_fail(__FILE__, __LINE__, "%s: embrec-reference printed\n%s\nembrec printed\n%s",
                      args, out, fast_out);
    }
    CHECK_HAS(fast_out, "cli_ref_bad.csv:3: rating is not a number (\"four\")");
    snprintf(cache, sizeof cache, "%s.embrec-cache", bad);
    snprintf(cmd, sizeof cmd, "./embrec-reference info --data %s --skip-bad --cache 2>&1", bad);
    CHECK_INT(run_sh(cmd), 0);
    CHECK_HAS(out, "cli_ref_bad.csv: the reference build keeps no ratings cache; parsed");
    CHECK_HAS(out, "ratings  2");
    CHECK_HAS(out, "cache    not used");
    CHECK(stat(cache, &st) != 0); /* no cache written */
}

/* train → Keras-style log → saved model → eval, predict and recommend on it */
static void test_train_eval_recommend(void) {
    char args[1200];
    char model[512];
    snprintf(model, sizeof model, "%s", test_path("cli.embrec")); /* test_path's buffers rotate */
    snprintf(args, sizeof args, "train --data data/ratings.csv --recipe cfmodel --dim 16 "
             "--epochs 3 --batch 64 --lr 0.02 --save %s --history %s", model, test_path("cli.csv"));
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Train on 10800 samples, validate on 1200 samples");
    CHECK_HAS(out, "Epoch 1/3");
    CHECK_HAS(out, "Epoch 3/3");
    CHECK_HAS(out, " - loss: ");
    CHECK_HAS(out, " - val_loss: ");
    CHECK_HAS(out, "Best val_loss");
    CHECK_HAS(out, "Predicting the mean rating instead: val RMSE");
    CHECK_HAS(out, "adamax (dense, lr 0.02)"); /* the recipe's optimiser, our rate */
    CHECK(!strchr(out, '\r')); /* no progress bar when not on a terminal */

    snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "RMSE");
    CHECK_HAS(out, "global-mean baseline");

    snprintf(args, sizeof args, "predict --model %s --user 1 --item 1", model);
    CHECK_INT(embrec(args), 0);
    CHECK(atof(out) > 0.5 && atof(out) < 5.5);
    snprintf(args, sizeof args, "predict --model %s --user 99999 --item 1", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "never learned user 99999");
    snprintf(args, sizeof args, "predict --model %s --user 99999 --item 1 --unknown-mean", model);
    CHECK_INT(embrec(args), 0);

    snprintf(args, sizeof args, "recommend --model %s --user 7 -n 5", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Top 5 for user 7");
    CHECK_HAS(out, "(19"); /* titles with their year, from data/movies.csv */

    snprintf(args, sizeof args, "eval --model %s --data data/movies.csv", test_path("nothing.embrec"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "cannot open");
}

/* --lr-decay F: SGD's rate times F after each epoch. The log says so; a
 * run stopped after an epoch and resumed (without giving F again: the
 * model keeps it) saves the straight run's model byte for byte, which it
 * could not if the schedule restarted; F = 1 is the constant rate, bit for
 * bit, and sweep's F = 1 row is that run; other optimisers and F outside
 * (0, 1] are refused. */
static void test_lr_decay_cli(void) {
    char args[4096], a[600], b[600], c[600], d[600];
    const char *r;
    double constant;
    static const char run[] = "train --data data/ratings.csv --model bias --dim 4 --optimizer "
                              "sgd --batch 1 --lr 0.01 --val-split 0.2 --no-progress";
    snprintf(a, sizeof a, "%s", test_path("decay_straight.embrec"));
    snprintf(b, sizeof b, "%s", test_path("decay_half.embrec"));
    snprintf(c, sizeof c, "%s", test_path("decay_resumed.embrec"));
    snprintf(d, sizeof d, "%s", test_path("decay_one.embrec"));
    snprintf(args, sizeof args, "%s --lr-decay 0.5 --epochs 3 --save %s", run, a);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "sgd (dense, lr 0.01 times 0.5 each epoch), batch 1");
    snprintf(args, sizeof args, "%s --lr-decay 0.5 --epochs 1 --save %s", run, b);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --epochs 3 "
             "--no-progress --save %s", b, c);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "lr 0.01 times 0.5 each epoch");
    CHECK_HAS(out, "Epoch 2/3");
    CHECK(same_file(a, c));
    snprintf(args, sizeof args, "%s --epochs 2 --save %s", run, b);
    CHECK_INT(embrec(args), 0);
    CHECK(strstr(out, "times") == NULL);
    r = strstr(out, "(RMSE ");
    constant = r ? atof(r + 6) : 0.0;
    /* sweep varies it: its F = 1 row is that constant-rate run */
    snprintf(args, sizeof args, "sweep%s --epochs 2 --lr-decay 0.5,1 --quiet", run + 5);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "--lr-decay LR_DECAY`");
    CHECK_HAS(out, "| 0.5 | 0.");
    r = strstr(out, "| 1 | ");
    CHECK(r != NULL && constant > 0.5);
    if (r) CHECK_NEAR(atof(r + 6), constant, 0, 5e-5);
    snprintf(args, sizeof args, "%s --lr-decay 1 --epochs 2 --save %s", run, d);
    CHECK_INT(embrec(args), 0);
    CHECK(same_file(b, d));
    snprintf(args, sizeof args, "%s --optimizer adam --lr-decay 0.9 --epochs 1", run);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "the rate decays after each epoch for SGD only (the optimiser is adam)");
    snprintf(args, sizeof args, "%s --lr-decay 0 --epochs 1", run);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--lr-decay: the factor must be above 0 (got \"0\")");
    snprintf(args, sizeof args, "%s --lr-decay 1.1 --epochs 1", run);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--lr-decay: expected a number in [0, 1]");
    CHECK_INT(embrec("train --help"), 0);
    CHECK_HAS(out, "--lr-decay F       sgd: the rate times F after each epoch");
}

/* The svdpp recipe on the sample (narrower, and watching a validation
 * split): it trains per-rating SGD through the batched path, beats the
 * mean, and the saved model, with its N(u), scores, predicts and
 * recommends. --l2 sets λ_y too unless --l2-implicit is given. */
static void test_svdpp_cli(void) {
    char args[1200], model[512];
    mf_model m;
    data_error err;
    const char *b;
    snprintf(model, sizeof model, "%s", test_path("svdpp.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --recipe svdpp --dim 16 "
             "--epochs 4 --val-split 0.1 --save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "implicit_embedding (Embedding)");
    CHECK_HAS(out, "svdpp model, K=16, sgd (lazy, lr 0.01 times 0.95 each epoch), batch 1");
    CHECK_HAS(out, "recipe svdpp");
    b = strstr(out, "Best val_loss");
    CHECK(b != NULL);
    if (b) {
        double rmse = atof(strstr(b, "(RMSE ") ? strstr(b, "(RMSE ") + 6 : b), mean;
        const char *mb = strstr(out, "instead: val RMSE ");
        mean = mb ? atof(mb + 18) : 0;
        CHECK(rmse > 0.3 && mean > 0.3 && rmse < mean - 0.05);
    }
    CHECK(mf_load(&m, model, &err) == 0);
    CHECK_INT(m.cfg.kind, MF_SVDPP);
    CHECK(m.cfg.l2 == 0.07f && m.cfg.l2_implicit == 0.008f); /* the recipe's */
    CHECK(m.rated.n_users == m.n_users && m.rated.start[m.n_users] == 10800); /* N(u): train */
    mf_free(&m);
    snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "RMSE");
    snprintf(args, sizeof args, "predict --model %s --user 1 --item 1", model);
    CHECK_INT(embrec(args), 0);
    CHECK(atof(out) > 0.5 && atof(out) < 5.5);
    snprintf(args, sizeof args, "recommend --model %s --user 7 -n 5", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Top 5 for user 7");

    snprintf(args, sizeof args, "train --data data/ratings.csv --model svdpp --l2 0.25 "
             "--epochs 1 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK(mf_load(&m, model, &err) == 0);
    CHECK(m.cfg.l2 == 0.25f && m.cfg.l2_implicit == 0.25f); /* Koren's: λ_y = λ */
    mf_free(&m);
    snprintf(args, sizeof args, "train --data data/ratings.csv --recipe svdpp --l2-implicit 0 "
             "--epochs 1 --dim 4 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK(mf_load(&m, model, &err) == 0);
    CHECK(m.cfg.l2 == 0.07f && m.cfg.l2_implicit == 0.0f);
    mf_free(&m);
}

/* notebook 003's protocol on ML-100K: Keras lines for up to 30 epochs and the
 * best validation RMSE (about 6 s: 30 epochs of 2,813 dense AdaMax steps) */
static void test_cfmodel_ml100k(void) {
    char args[1200];
    const char *udata = test_movielens("ml-100k/u.data");
    if (!udata) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    snprintf(args, sizeof args, "train --recipe cfmodel --data %s --save %s",
             udata, test_path("cf.embrec"));
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Train on 90000 samples, validate on 10000 samples");
    CHECK_HAS(out, "Best val_loss");
    {
        const char *b = strstr(out, "(RMSE ");
        double rmse = b ? atof(b + 6) : 0;
        printf("     cfmodel on ml-100k: best val RMSE %.4f\n", rmse);
        CHECK(rmse > 0.88 && rmse < 0.96);
    }
}

/* notebook 002's summary, and its network trained briefly on the sample */
static void test_deep_genre(void) {
    char args[1200];
    char model[512];
    snprintf(model, sizeof model, "%s", test_path("deep.embrec"));
    CHECK_INT(embrec("summary --recipe deep-genre --users 20510 --items 25448 --genres 1357"), 0);
    CHECK_HAS(out, "Total params: 2,376,075");
    CHECK_INT(embrec("summary --model deep --users 10 --items 10"), 2);
    CHECK_HAS(out, "--genres");
    CHECK_INT(embrec("summary --recipe neumf --users 1000 --items 500"), 0);
    CHECK_HAS(out, "(None, 100)          100,000");
    CHECK_HAS(out, "(None, 100)          50,000");
    snprintf(args, sizeof args, "train --recipe deep-genre --data data/ratings.csv --epochs 2 "
             "--save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "genre_embedding (Embedding)");
    CHECK_HAS(out, "Epoch 2/2");
    snprintf(args, sizeof args, "recommend --model %s --user 7 -n 3", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Top 3 for user 7");
    snprintf(args, sizeof args, "train --model deep --data data/ratings.csv --movies %s "
             "--epochs 1 --save %s", test_path("absent.csv"), model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "absent.csv: cannot open");
}

/* the HR column of a ranking table's row, e.g. "  neumf        0.6541 ..." */
static double hr_of(const char *row_name) {
    char key[32];
    const char *p;
    snprintf(key, sizeof key, "\n  %s ", row_name);
    p = strstr(out, key);
    return p ? atof(p + strlen(key)) : -1.0;
}

/* notebook 004's network on implicit feedback must rank held-out items better
 * than recommending the most popular movies; notebook 002's must beat the mean */
static void test_networks_ml_latest_small(void) {
    char args[1200];
    const char *dir = test_movielens("ml-latest-small");
    double hr, pop;
    if (!dir) {
        test_skip("../shared/movielens/ml-latest-small not found");
        return;
    }
    snprintf(args, sizeof args, "train --recipe neumf --data %s --epochs 3 --save %s", dir,
             test_path("neumf.embrec"));
    CHECK_INT(embrec(args), 0);
    hr = hr_of("neumf");
    pop = hr_of("popularity");
    printf("     neumf on ml-latest-small, 3 epochs: HR@10 %.4f, popularity %.4f\n", hr, pop);
    CHECK(pop > 0.3 && hr > pop + 0.02);
    snprintf(args, sizeof args, "eval --model %s --data %s --ranking", test_path("neumf.embrec"), dir);
    CHECK_INT(embrec(args), 0);
    CHECK_NEAR(hr_of("neumf"), hr, 0, 1e-4); /* eval repeats train's held-out ranking */

    snprintf(args, sizeof args, "train --recipe deep-genre --data %s --epochs 2 --save %s", dir,
             test_path("deep.embrec"));
    CHECK_INT(embrec(args), 0);
    {
        const char *b = strstr(out, "(RMSE "), *mean = strstr(out, "instead: val RMSE ");
        double rmse = b ? atof(b + 6) : 9, base = mean ? atof(mean + 18) : 0;
        printf("     deep-genre on ml-latest-small, 2 epochs: val RMSE %.4f, mean %.4f\n", rmse, base);
        CHECK(rmse < 0.9 * base);
    }
}

/* a model's use: similar, predict from pairs, recommend for all, export */
static void test_use_a_model(void) {
    char args[4096];
    char model[512], dir[512];
    snprintf(model, sizeof model, "%s", test_path("use.embrec"));
    snprintf(dir, sizeof dir, "%s", test_path("export"));
    const char *pairs = test_write("use-pairs.csv", "userId,movieId\n1,1\n7,2\n99999,1\n");
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --optimizer adam "
             "--lr 0.005 --l2 0.1 --dim 8 --epochs 3 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);

    snprintf(args, sizeof args, "similar --model %s --item \"Synthetic Movie 12 \" -n 4", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Nearest to 12  Synthetic Movie 12 (");
    CHECK_HAS(out, "   4  ");
    snprintf(args, sizeof args, "similar --model %s --item \"synthetic movie 1\"", model);
    CHECK_INT(embrec(args), 0); /* the title without its year wins over longer ones */
    CHECK_HAS(out, "Nearest to 1  Synthetic Movie 1 (");
    snprintf(args, sizeof args, "similar --model %s --item \"movie 1\"", model);
    CHECK_INT(embrec(args), 1); /* a substring of 1, 10..19, 100..199: ambiguous */
    CHECK_HAS(out, "matches several movies");
    CHECK_HAS(out, "Synthetic Movie 1");
    snprintf(args, sizeof args, "similar --model %s --item \"no such film\"", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "no movie matches \"no such film\"");

    snprintf(args, sizeof args, "predict --model %s --pairs %s", model, pairs);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "use-pairs.csv:4: the model never learned user 99999");
    snprintf(args, sizeof args, "predict --model %s --pairs %s --unknown-mean", model, pairs);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "1,1,");
    CHECK_HAS(out, "7,2,");
    CHECK_HAS(out, "99999,1,");
    /* a malformed first line is an error, not a header dropped without a word */
    snprintf(args, sizeof args, "predict --model %s --pairs %s", model,
             test_write("pairs-2x.csv", "1,2x\n7,2\n"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "pairs-2x.csv:1: item id is not an integer (\"2x\")");
    CHECK_INT(count_lines(out), 1);

    snprintf(args, sizeof args, "recommend --model %s --all -n 3 --out %s", model,
             test_path("all.csv"));
    CHECK_INT(embrec(args), 0);
    {
        FILE *f = fopen(test_path("all.csv"), "r");
        char line[256];
        int lines = 0;
        while (f && fgets(line, sizeof line, f)) lines++;
        if (f) fclose(f);
        CHECK_INT(lines, 1 + 300 * 3); /* a header, then 3 for each of the 300 users */
    }
    /* the same lists, byte for byte, from 1 thread and from 3 */
    snprintf(args, sizeof args, "recommend --model %s --all -n 3 --threads 1 --out %s", model,
             test_path("all1.csv"));
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "recommend --model %s --all -n 3 --threads 3 --out %s", model,
             test_path("all3.csv"));
    CHECK_INT(embrec(args), 0);
    {
        char a1[700], cmd[1500];
        snprintf(a1, sizeof a1, "%s", test_path("all1.csv"));
        snprintf(cmd, sizeof cmd, "cmp -s %s %s && cmp -s %s %s", a1, test_path("all3.csv"), a1,
                 test_path("all.csv"));
        CHECK(system(cmd) == 0);
    }

    snprintf(args, sizeof args, "export --model %s --out %s", model, dir);
    CHECK_INT(embrec(args), 0);
    {
        FILE *f;
        unsigned char head[128];
        size_t got, hl;
        snprintf(args, sizeof args, "%s/item_embedding.npy", dir);
        f = fopen(args, "rb");
        got = f ? fread(head, 1, sizeof head, f) : 0;
        if (f) fclose(f);
        CHECK(got == sizeof head && memcmp(head, "\x93NUMPY\x01\x00", 8) == 0);
        hl = (size_t)head[8] | (size_t)head[9] << 8;
        CHECK((10 + hl) % 64 == 0);              /* the header is padded to 64 bytes */
        head[got - 1] = '\0';
        CHECK_HAS((const char *)head + 10, "'shape': (200, 8)");
        CHECK_HAS((const char *)head + 10, "'descr': '<f4'");
    }
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("     (python3-numpy not installed: numpy's own check of the .npy files skipped)\n");
    } else {
        snprintf(args, sizeof args, "/usr/bin/python3 -c \"import numpy as np; "
                 "q = np.load('%s/item_embedding.npy'); i = np.load('%s/item_ids.npy'); "
                 "b = np.load('%s/item_bias.npy'); "
                 "assert q.shape == (200, 8) and q.dtype == np.float32 and i.shape == (200,) "
                 "and b.shape == (200,) and np.isfinite(q).all() and q.std() > 0\"", dir, dir, dir);
        CHECK(system(args) == 0);
    }
    snprintf(args, sizeof args, "%s/item_metadata.tsv", dir);
    {
        FILE *f = fopen(args, "r");
        char line[512] = "";
        if (f && fgets(line, sizeof line, f)) CHECK_HAS(line, "id\ttitle\tgenres\tratings");
        else test_fail(__FILE__, __LINE__, "no %s", args);
        if (f) fclose(f);
    }
}

/* 1 when path holds well-formed XML: python3's parser when present, else a
 * rough check that the file is an <svg> document that closes */
static int well_formed_svg(const char *path) {
    char cmd[1200], buf[256];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    if (!strstr(buf, "<svg")) return 0;
    if (system("/usr/bin/python3 -c 'import xml.etree.ElementTree' >/dev/null 2>&1") != 0)
        return 1;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; "
             "r = E.parse(sys.argv[1]).getroot(); sys.exit(0 if r.tag.endswith('svg') else 1)\" '%s'",
             path);
    return system(cmd) == 0;
}

/* the pictures: a t-SNE and a PCA map, the history chart, the similar bars */
static void test_pictures(void) {
    char args[4096], model[512], hist[512]; /* test_path's buffers rotate: keep copies */
    snprintf(model, sizeof model, "%s", test_path("pic.embrec"));
    snprintf(hist, sizeof hist, "%s", test_path("pic.csv"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --optimizer adam "
             "--lr 0.005 --l2 0.1 --dim 16 --epochs 4 --quiet --save %s --history %s", model, hist);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "map --model %s --out %s --csv %s --iterations 300 "
             "--highlight \"Synthetic Movie 4\" -n 5", model, test_path("map.svg"),
             test_path("map.csv"));
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "(200 movies)");
    CHECK(well_formed_svg(test_path("map.svg")));
    snprintf(args, sizeof args, "map --model %s --method pca --label-match \", The\" --out %s",
             model, test_path("pca.svg"));
    CHECK_INT(embrec(args), 0);
    CHECK(well_formed_svg(test_path("pca.svg")));
    snprintf(args, sizeof args, "plot --history %s --out %s", hist, test_path("loss.svg"));
    CHECK_INT(embrec(args), 0);
    CHECK(well_formed_svg(test_path("loss.svg")));
    snprintf(args, sizeof args, "plot --history %s --what mae --baseline 0.75 --out %s", hist,
             test_path("mae.svg"));
    CHECK_INT(embrec(args), 0);
    CHECK(well_formed_svg(test_path("mae.svg")));
    snprintf(args, sizeof args, "plot --model %s --item \"Synthetic Movie 4\" --out %s", model,
             test_path("bars.svg"));
    CHECK_INT(embrec(args), 0);
    CHECK(well_formed_svg(test_path("bars.svg")));
    snprintf(args, sizeof args, "plot --history %s --out %s", test_path("absent.csv"),
             test_path("x.svg"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "absent.csv: cannot open");
    snprintf(args, sizeof args, "recommend --model %s --user 424242", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "never learned user 424242");
}

/* side information from u.user and u.item on the u1 fold: loaded, counted,
 * and the hybrid bias model trains to a competitive test RMSE */
static void test_hybrid_ml100k(void) {
    char args[2048];
    const char *base = test_movielens("ml-100k/u1.base"), *tst = test_movielens("ml-100k/u1.test");
    const char *r;
    if (!base || !tst) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    snprintf(args, sizeof args, "train --data %s --test %s --val-split 0 --model bias --dim 32 "
             "--l2 0.1 --optimizer adam --lr 0.002 --update lazy --epochs 25 --no-progress "
             "--user-features age,gender,occupation --item-features genres,year --save %s",
             base, tst, test_path("hybrid.embrec"));
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "side information: 30 user features, 27 item features");
    r = strstr(out, "test: RMSE ");
    printf("     hybrid bias on ml-100k u1: test RMSE %.4f\n", r ? atof(r + 11) : -1.0);
    CHECK(r && atof(r + 11) < 0.93);
    snprintf(args, sizeof args, "recommend --model %s --age 25 --gender F --occupation writer -n 5",
             test_path("hybrid.embrec"));
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Top 5 for a new user (age:25-34, gender:F, occupation:writer)");
    snprintf(args, sizeof args, "recommend --model %s --occupation astronaut",
             test_path("hybrid.embrec"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "no user feature \"occupation:astronaut\"");
    CHECK_HAS(out, "occupation:writer");
    snprintf(args, sizeof args, "train --data %s --model dot --user-features age,shoe-size "
             "--epochs 1 --save %s", base, test_path("x.embrec"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "unknown user feature group \"shoe-size\"");
}

/* A movie nobody rated is scored from its genres and year: with item
 * features every movie of the movies file gets a row. Movie 1's ratings are
 * taken out of the sample; the hybrid model predicts it, ids only cannot. */
static void test_cold_movie_from_features(void) {
    char args[4096], dir[512], model[600], ids[600], line[256];
    FILE *in, *outf;
    double pred;
    snprintf(dir, sizeof dir, "%s", test_path("coldmovie"));
    snprintf(model, sizeof model, "%s/hybrid.embrec", dir);
    snprintf(ids, sizeof ids, "%s/ids.embrec", dir);
    snprintf(args, sizeof args, "mkdir -p %s && cp data/movies.csv %s/", dir, dir);
    CHECK(system(args) == 0);
    snprintf(args, sizeof args, "%s/ratings.csv", dir);
    in = fopen("data/ratings.csv", "r");
    outf = fopen(args, "w");
    CHECK(in && outf);
    if (!in || !outf) return;
    while (fgets(line, sizeof line, in)) /* every rating but movie 1's */
        if (!strchr(line, ',') || strncmp(strchr(line, ',') + 1, "1,", 2) != 0) fputs(line, outf);
    fclose(in);
    fclose(outf);
    snprintf(args, sizeof args, "train --data %s/ratings.csv --recipe hybrid --epochs 3 "
             "--item-features genres,year --no-progress --save %s", dir, model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "predict --model %s --user 1 --item 1", model);
    CHECK_INT(embrec(args), 0);
    pred = atof(out);
    CHECK(pred > 0.5 && pred < 5.0);
    snprintf(args, sizeof args, "train --data %s/ratings.csv --recipe hybrid --epochs 1 "
             "--quiet --save %s", dir, ids);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "predict --model %s --user 1 --item 1", ids);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "never learned item 1");
    /* the networks take features too */
    snprintf(args, sizeof args, "train --data %s/ratings.csv --model deep --dim 8 --epochs 1 "
             "--item-features genres,year --no-progress --save %s", dir, model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "item features");
    snprintf(args, sizeof args, "predict --model %s --user 1 --item 1", model);
    CHECK_INT(embrec(args), 0);
}

/* the line of s that starts with prefix, copied into buf ("" when none) */
static const char *line_starting(const char *s, const char *prefix, char *buf, size_t size) {
    const char *p = s;
    buf[0] = '\0';
    while (p && *p) {
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            size_t n = strcspn(p, "\n");
            snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p);
            return buf;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return buf;
}

/* "| 0.7012 | 0.5512 |": the RMSE and MAE cells `embrec train --test` prints
 * ("test: RMSE 0.7012  MAE 0.5512  on ..."), for comparing with cv's rows */
static const char *test_cells(const char *s, char *buf, size_t size) {
    double rmse = NAN, mae = NAN;
    const char *t = strstr(s, "test: RMSE ");
    if (t) sscanf(t, "test: RMSE %lf MAE %lf", &rmse, &mae);
    snprintf(buf, size, "| %.4f | %.4f |", rmse, mae);
    return buf;
}

/* embrec cv --folds: the folds partition the rows exactly (every row of the
 * data in exactly one test fold, each fold's training part the rest), the
 * sizes are 12000 / 3, and a fold's row is what `embrec train --data REST
 * --test FOLD` prints for the fold's files (--save-folds). */
static void test_cv_folds_partition(void) {
    char args[4096], dir[600], csv[600], cells[64], row[256], sums[256];
    int f;
    snprintf(dir, sizeof dir, "%s", test_path("folds"));
    snprintf(csv, sizeof csv, "%s", test_path("cv.csv"));
    snprintf(args, sizeof args, "cv --data data/ratings.csv --folds 3 --recipe mf8 --epochs 4 "
             "--save-folds %s --out %s", dir, csv);
    CHECK_INT(embrec_to(args, "2>/dev/null"), 0);
    CHECK_HAS(out, "3-fold cross-validation of data/ratings.csv (folds dealt by seed 1)");
    CHECK_HAS(out, "| fold | train rows | test rows | RMSE | MAE | best epoch |");
    CHECK_HAS(out, "| mean ± sd | | | 0.");
    CHECK_HAS(out, "sample standard deviation (n − 1) over the 3 folds");
    {
        static char table[sizeof out];
        memcpy(table, out, sizeof out);
        for (f = 1; f <= 3; f++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "| %d | 8000 | 4000 | ", f);
            line_starting(table, prefix, row, sizeof row);
            CHECK(row[0] != '\0');
            snprintf(args, sizeof args, "train --data %s/fold%d.train.csv --test %s/fold%d.test.csv "
                     "--recipe mf8 --epochs 4 --quiet --save %s", dir, f, dir, f,
                     test_path("fold.embrec"));
            CHECK_INT(embrec(args), 0);
            CHECK_HAS(row, test_cells(out, cells, sizeof cells));
        }
    }
    /* the test folds together are the data, row for row; each fold's two files too */
    snprintf(args, sizeof args, "norm() { awk -F, 'FNR > 1 { printf \"%%s,%%s,%%g,%%s\\n\", $1, $2, "
             "$3, $4 }' \"$@\" | sort | cksum; }; norm data/ratings.csv; norm %s/fold1.test.csv "
             "%s/fold2.test.csv %s/fold3.test.csv; for f in 1 2 3; do norm %s/fold$f.train.csv "
             "%s/fold$f.test.csv; done", dir, dir, dir, dir, dir);
    CHECK_INT(run_sh(args), 0);
    snprintf(sums, sizeof sums, "%.*s", (int)strcspn(out, "\n"), out);
    CHECK_INT(count_lines(out), 5);
    for (f = 0; f < 5; f++) { /* five sums, all the data's */
        const char *line = out;
        int k;
        for (k = 0; k < f && line; k++) line = strchr(line, '\n') + 1;
        CHECK(strncmp(line, sums, strlen(sums)) == 0);
    }
    CHECK_INT(run_sh("wc -l < data/ratings.csv"), 0);
    CHECK_INT(atoi(out), 12001);
    snprintf(args, sizeof args, "cat %s", csv);
    CHECK_INT(run_sh(args), 0);
    CHECK_HAS(out, "fold,train_rows,val_rows,test_rows,unseen,rmse,mae,best_epoch,epochs,");
    CHECK_HAS(out, "\n1,8000,400,4000,");
    CHECK_INT(count_lines(out), 4);
}

/* Published folds: --fold BASE,TEST reads both files and is train --data
 * BASE --test TEST; on the files --save-folds wrote, the same numbers as
 * --folds gave. --ml100k-folds finds u1.base ... u5.test beside --data. */
static void test_cv_published_files(void) {
    static char folds_out[sizeof out];
    char args[4096], dir[600], udir[600], row[256], prefix[64];
    int f;
    snprintf(dir, sizeof dir, "%s", test_path("folds5"));
    snprintf(udir, sizeof udir, "%s", test_path("ufolds"));
    snprintf(args, sizeof args, "cv --data data/ratings.csv --folds 5 --recipe mf8 --epochs 3 "
             "--save-folds %s", dir);
    CHECK_INT(embrec_to(args, "2>/dev/null"), 0);
    memcpy(folds_out, out, sizeof out);
    snprintf(args, sizeof args, "cv --fold %s/fold1.train.csv,%s/fold1.test.csv --fold "
             "%s/fold4.train.csv,%s/fold4.test.csv --recipe mf8 --epochs 3", dir, dir, dir, dir);
    CHECK_INT(embrec_to(args, "2>/dev/null"), 0);
    CHECK_HAS(out, "Cross-validation on 2 published folds: each is `embrec train --data BASE "
                   "--test TEST --recipe mf8 --epochs 3`");
    line_starting(folds_out, "| 1 | 9600 | 2400 | ", row, sizeof row);
    CHECK(row[0] != '\0');
    CHECK_HAS(out, row + strlen("| 1 |")); /* the same rows, RMSE, MAE and best epoch */
    CHECK_HAS(out, "| 1 (fold1.train.csv) | 9600 | 2400 | ");
    line_starting(folds_out, "| 4 | 9600 | 2400 | ", row, sizeof row);
    CHECK_HAS(out, row + strlen("| 4 |"));
    CHECK_HAS(out, "| 2 (fold4.train.csv) | 9600 | 2400 | ");
    /* ML-100K's names */
    snprintf(args, sizeof args, "mkdir -p %s && for f in 1 2 3 4 5; do cp %s/fold$f.train.csv "
             "%s/u$f.base; cp %s/fold$f.test.csv %s/u$f.test; done", udir, dir, udir, dir, udir);
    CHECK_INT(run_sh(args), 0);
    snprintf(args, sizeof args, "cv --data %s/u1.base --ml100k-folds --recipe mf8 --epochs 3", udir);
    CHECK_INT(embrec_to(args, "2>/dev/null"), 0);
    for (f = 1; f <= 5; f++) {
        snprintf(prefix, sizeof prefix, "| %d | 9600 | 2400 | ", f);
        line_starting(folds_out, prefix, row, sizeof row);
        CHECK(row[0] != '\0');
        CHECK_HAS(out, row + strlen("| 1 |"));
    }
    CHECK_HAS(out, "| 5 (u5.base) | 9600 | 2400 |");
    snprintf(args, sizeof args, "rm %s/u3.test", udir);
    CHECK_INT(run_sh(args), 0);
    snprintf(args, sizeof args, "cv --data %s/u1.base --ml100k-folds --epochs 1", udir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "u3.test: No such file or directory (--ml100k-folds takes");
}

/* A sweep's row is a separate `embrec train` run with that value: the same
 * best val RMSE digits, MAE and epoch; two options make the grid; --cv N's
 * row is `embrec cv --folds N`'s mean; the CSV and the chart are written. */
static void test_sweep_rows_equal_train(void) {
    static char sweep_out[sizeof out];
    char args[4096], csv[600], svg[600], row[256], want[128];
    double loss = NAN, rmse = NAN;
    int epoch = -1;
    const char *best;
    snprintf(csv, sizeof csv, "%s", test_path("sweep.csv"));
    snprintf(svg, sizeof svg, "%s", test_path("sweep.svg"));
    snprintf(args, sizeof args, "sweep --data data/ratings.csv --recipe mf8 --epochs 6 "
             "--dim 4,16 --lr 0.01,0.003 --out %s --chart %s", csv, svg);
    CHECK_INT(embrec_to(args, "2>/dev/null"), 0);
    memcpy(sweep_out, out, sizeof out);
    CHECK_HAS(out, "Each row is `embrec train --data data/ratings.csv --recipe mf8 --epochs 6 "
                   "--dim DIM --lr LR`");
    CHECK_HAS(out, "| dim | lr | best val RMSE | MAE | best epoch | s/epoch | parameters |");
    CHECK_INT(count_lines(strstr(out, "| dim")), 6); /* heading, rule, 2 x 2 rows */
    snprintf(args, sizeof args, "train --data data/ratings.csv --recipe mf8 --epochs 6 --dim 16 "
             "--lr 0.003 --history %s --save %s", test_path("sw.csv"), test_path("sw.embrec"));
    CHECK_INT(embrec(args), 0);
    best = strstr(out, "Best val_loss ");
    CHECK(best && sscanf(best, "Best val_loss %lf (RMSE %lf) at epoch %d", &loss, &rmse,
                         &epoch) == 3);
    line_starting(sweep_out, "| 16 | 0.003 | ", row, sizeof row);
    snprintf(want, sizeof want, "| 16 | 0.003 | %.4f | ", rmse);
    CHECK_HAS(row, want);
    snprintf(want, sizeof want, " | %d | ", epoch);
    CHECK_HAS(row, want);
    CHECK_HAS(row, " | 8000 |"); /* (300 users + 200 movies) x 16 */
    { /* the MAE of that epoch, from the history */
        double h[8] = {0};
        char path[700];
        FILE *fh;
        int e;
        snprintf(path, sizeof path, "%s", test_path("sw.csv"));
        fh = fopen(path, "r");
        CHECK(fh != NULL);
        if (fh) {
            char line[512];
            while (fgets(line, sizeof line, fh))
                if (sscanf(line, "%d,%lf,%lf,%lf,%lf", &e, &h[0], &h[1], &h[2], &h[3]) == 5 &&
                    e == epoch) {
                    snprintf(want, sizeof want, "| %.4f | %.4f |", h[2], h[3]);
                    CHECK_HAS(row, want);
                }
            fclose(fh);
        }
    }
    snprintf(args, sizeof args, "cat %s", csv);
    CHECK_INT(run_sh(args), 0);
    CHECK_HAS(out, "dim,lr,rmse,mae,rmse_sd,mae_sd,best_epoch,seconds_per_epoch,parameters\n");
    CHECK_HAS(out, "\n16,0.003,");
    CHECK_INT(count_lines(out), 5);
    snprintf(args, sizeof args, "grep -c -e '>--dim (log scale)<' -e '>RMSE, --lr 0.003<' %s", svg);
    CHECK_INT(run_sh(args), 0);
    CHECK_INT(atoi(out), 2);
    /* --cv 3: the row is cv --folds 3's mean */
    CHECK_INT(embrec("sweep --data data/ratings.csv --recipe mf8 --epochs 3 --dim 4,8 --cv 3 "
                     "--quiet"), 0);
    memcpy(sweep_out, out, sizeof out);
    CHECK_HAS(out, "| dim | cv RMSE | cv MAE | best epoch | s/epoch | parameters |");
    CHECK(!strstr(out, "sweep: --dim")); /* --quiet: no line per row, and not in the heading */
    CHECK_HAS(out, "Each row is `embrec train --data data/ratings.csv --recipe mf8 --epochs 3 "
                   "--dim DIM`, cross-validated");
    CHECK_INT(embrec_to("cv --data data/ratings.csv --recipe mf8 --epochs 3 --dim 8 --folds 3",
                        "2>/dev/null"), 0);
    line_starting(out, "| mean ± sd | | | ", row, sizeof row);
    CHECK(row[0] != '\0');
    { /* "| mean ± sd | | | R ± r | M ± m | |" → "| 8 | R ± r | M ± m |" */
        const char *cells = row + strlen("| mean ± sd | | | ");
        snprintf(want, sizeof want, "| 8 | %.*s", (int)(strrchr(row, '|') - cells), cells);
    }
    CHECK_HAS(sweep_out, want);
}

/* cv's and sweep's helpers: which value lists get a log axis, lists cut
 * and checked, a fold renumbered as train numbers a file's rows, the
 * sample standard deviation. */
static void test_tune_helpers(void) {
    static const char *const pow2[] = {"1", "2", "8", "128"};
    static const char *const pow10[] = {"1e-3", "0.01", "10"};
    static const char *const mixed[] = {"2", "10"}, *const plain[] = {"1", "2", "3"};
    const char *values[8];
    char list[64], why[128];
    size_t n;
    double x[4] = {1, 2, 3, 4}, mean, sd;
    data_idmap from_u, from_i, u, i;
    data_ratings tr, te;
    CHECK_INT(tune_log_axis(pow2, 4), 1);
    CHECK_INT(tune_log_axis(pow10, 3), 1);
    CHECK_INT(tune_log_axis(mixed, 2), 0); /* powers, but not of one base */
    CHECK_INT(tune_log_axis(plain, 3), 0);
    CHECK_INT(tune_log_axis(pow2, 1), 0);  /* one value: no axis to speak of */
    snprintf(list, sizeof list, "2,4,0.5e1");
    CHECK_INT(tune_split_list(list, values, 8, &n, why, sizeof why), 0);
    CHECK_INT(n, 3);
    CHECK(n == 3 && strcmp(values[0], "2") == 0 && strcmp(values[2], "0.5e1") == 0);
    snprintf(list, sizeof list, "2,,4");
    CHECK_INT(tune_split_list(list, values, 8, &n, why, sizeof why), -1);
    CHECK_HAS(why, "\"\" is not a number");
    snprintf(list, sizeof list, "2,4x");
    CHECK_INT(tune_split_list(list, values, 8, &n, why, sizeof why), -1);
    CHECK_HAS(why, "\"4x\" is not a number");
    snprintf(list, sizeof list, "1,2,3");
    CHECK_INT(tune_split_list(list, values, 2, &n, why, sizeof why), -1);
    CHECK_HAS(why, "at most 2 values");
    tune_mean_sd(x, 4, &mean, &sd);
    CHECK_NEAR(mean, 2.5, 0, 1e-12);
    CHECK_NEAR(sd, sqrt(5.0 / 3.0), 1e-12, 0); /* n − 1 */
    tune_mean_sd(x, 1, &mean, &sd);
    CHECK(mean == 1.0 && isnan(sd));
    /* rows naming raw users 30, 10, 20 and items 7, 5 in the global maps;
     * the fold's training rows name user 20 first, its test rows user 30 */
    data_idmap_init(&from_u);
    data_idmap_init(&from_i);
    data_idmap_intern(&from_u, 30);
    data_idmap_intern(&from_u, 10);
    data_idmap_intern(&from_u, 20);
    data_idmap_intern(&from_i, 7);
    data_idmap_intern(&from_i, 5);
    data_ratings_init(&tr);
    data_ratings_init(&te);
    data_ratings_push(&tr, 2, 1, 4.0f, 0); /* user 20, item 5 */
    data_ratings_push(&tr, 1, 1, 3.0f, 0); /* user 10, item 5 */
    data_ratings_push(&te, 0, 0, 5.0f, 0); /* user 30, item 7 */
    CHECK_INT(tune_renumber(&from_u, &from_i, &tr, &te, &u, &i), 0);
    CHECK_INT(u.n, 3);
    CHECK_INT(i.n, 2);
    CHECK(u.raw[0] == 20 && u.raw[1] == 10 && u.raw[2] == 30);
    CHECK(i.raw[0] == 5 && i.raw[1] == 7);
    CHECK(tr.user[0] == 0 && tr.user[1] == 1 && te.user[0] == 2);
    CHECK(tr.item[0] == 0 && tr.item[1] == 0 && te.item[0] == 1);
    data_ratings_free(&tr);
    data_ratings_free(&te);
    data_idmap_free(&from_u);
    data_idmap_free(&from_i);
    data_idmap_free(&u);
    data_idmap_free(&i);
}

/* cv's and sweep's bad input: a clear line naming the option, status 2,
 * before any work; outputs checked before training. */
static void test_cv_sweep_errors(void) {
    static const struct {
        const char *args, *says;
    } bad[] = {
        {"sweep --data data/ratings.csv --dim 4,x", "--dim: \"x\" is not a number (in the list \"4,x\")"},
        {"sweep --data data/ratings.csv --dim 4,,8", "--dim: \"\" is not a number"},
        {"sweep --data data/ratings.csv --dimm 4,8", "unknown option --dimm (did you mean --dim?)"},
        {"sweep --data data/ratings.csv --frobnicate 1,2 --dim 4,8", "unknown option --frobnicate"},
        {"sweep --data data/ratings.csv --seed 1,2 --dim 4,8", "--seed takes one value"},
        {"sweep --data data/ratings.csv --dim 8", "give one or two options with lists of values"},
        {"sweep --data data/ratings.csv --dim 4,8 --lr 0.1,0.2 --l2 0,1", "at most two options"},
        {"sweep --data data/ratings.csv --dim 4,0", "--dim: expected an integer >= 1"},
        {"sweep --data data/ratings.csv --dim 4,8 --test data/ratings.csv", "sweep never tests"},
        {"sweep --data data/ratings.csv --dim 4,8 --val-split 0", "--val-split 0 leaves nothing"},
        {"sweep --data data/ratings.csv --dim 4,8 --cv 1", "--cv: at least 2 folds"},
        {"sweep --data data/ratings.csv --dim 4,8 --recipe neumf", "implicit model"},
        {"cv --data data/ratings.csv --folds 1", "--folds: at least 2 folds (got \"1\")"},
        {"cv --data data/ratings.csv --folds 12001", "--folds 12001: more folds than the 12000 ratings"},
        {"cv --data data/ratings.csv --fold a.csv", "--fold: expected BASE,TEST"},
        {"cv --data data/ratings.csv --fold a.csv,b.csv", "--fold names its own data"},
        {"cv --data data/ratings.csv --holdout 0.1", "cv's folds are its test sets"},
        {"cv --data data/ratings.csv --save m.embrec", "cv keeps no model"},
        {"cv --data data/ratings.csv --resume m.embrec", "cv trains every variant from scratch"},
    };
    char args[4096], nodir[600];
    size_t k;
    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = embrec(bad[k].args);
        if (rc != 2) test_fail(__FILE__, __LINE__, "%s: status %d, expected 2", bad[k].args, rc);
        if (!strstr(out, bad[k].says))
            test_fail(__FILE__, __LINE__, "%s: \"%s\" lacks \"%s\"", bad[k].args, out, bad[k].says);
        CHECK_HAS(out, "(see embrec ");
    }
    snprintf(nodir, sizeof nodir, "%s", test_path("nodir_tune"));
    snprintf(args, sizeof args, "sweep --data data/ratings.csv --dim 4,8 --chart %s/c.svg", nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir_tune/c.svg: cannot write: ");
    CHECK(!strstr(out, "sweep: --dim"));
    snprintf(args, sizeof args, "cv --data data/ratings.csv --out %s/cv.csv", nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir_tune/cv.csv: cannot write: ");
    CHECK(!strstr(out, "cv: fold 1"));
    CHECK_INT(embrec("cv --fold data/ratings.csv,absent.csv --epochs 1"), 1);
    CHECK_HAS(out, "absent.csv: cannot open");
}

/* notebook 001's question on ML-100K: a small ablation (2 seeds, 3 epochs) */
static void test_ablate_ml100k(void) {
    char args[2048];
    const char *data = test_movielens("ml-100k/u.data");
    const char *mean_row, *ids_row;
    if (!data) {
        test_skip("../shared/movielens/ml-100k not found");
        return;
    }
    snprintf(args, sizeof args, "ablate --data %s --seeds 2 --epochs 3 --user-features gender "
             "--item-features genres,year", data);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "| variant | all (");
    CHECK_HAS(out, "| + gender | ");
    CHECK_HAS(out, "| + genres | ");
    CHECK_HAS(out, "| + item features | ");
    CHECK_HAS(out, "| + all | ");
    CHECK_HAS(out, " ± ");
    mean_row = strstr(out, "| global mean | ");
    ids_row = strstr(out, "| ids only | ");
    CHECK(mean_row && ids_row);
    if (mean_row && ids_row) { /* the learned model beats the mean on all test rows */
        double mean = atof(mean_row + 16), ids = atof(ids_row + 13);
        printf("     ablate ml-100k, 3 epochs: global mean %.4f, ids only %.4f\n", mean, ids);
        CHECK(mean > 1.0 && ids < mean - 0.05);
    }
    snprintf(args, sizeof args, "ablate --data %s --test %s", data, data);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "ablate makes its own split");
}

/* --shuffle numpy:3 puts the rows in the order of RandomState(3).permutation(10)
 * = 5 4 1 2 9 6 7 0 3 8 (pandas' df.sample(frac=1, random_state=3)), so with
 * validation_split 0.3 the last three, old rows 0, 3 and 8, validate. Each row
 * has its own movie: the model has learned exactly the movies of the other
 * seven, which eval reveals as the rows it has to predict with the mean. */
static void test_shuffle_numpy(void) {
    char data[512], val[512], train[512], model[512], args[4096];
    static const int val_rows[] = {0, 3, 8}, train_rows[] = {5, 4, 1, 2, 9, 6, 7};
    char text[1024], vtext[256], ttext[512];
    size_t n = 0, vn = 0, tn = 0, k;
    n += (size_t)snprintf(text + n, sizeof text - n, "userId,movieId,rating,timestamp\n");
    for (k = 0; k < 10; k++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%zu,%zu,%zu.0,%zu\n", k % 3 + 1,
                              100 + k, k % 5 + 1, 1000 + k);
    vn += (size_t)snprintf(vtext + vn, sizeof vtext - vn, "userId,movieId,rating,timestamp\n");
    for (k = 0; k < 3; k++)
        vn += (size_t)snprintf(vtext + vn, sizeof vtext - vn, "%d,%d,3.0,0\n", val_rows[k] % 3 + 1,
                               100 + val_rows[k]);
    tn += (size_t)snprintf(ttext + tn, sizeof ttext - tn, "userId,movieId,rating,timestamp\n");
    for (k = 0; k < 7; k++)
        tn += (size_t)snprintf(ttext + tn, sizeof ttext - tn, "%d,%d,3.0,0\n",
                               train_rows[k] % 3 + 1, 100 + train_rows[k]);
    snprintf(data, sizeof data, "%s", test_write("np10.csv", text));
    snprintf(val, sizeof val, "%s", test_write("np10_val.csv", vtext));
    snprintf(train, sizeof train, "%s", test_write("np10_train.csv", ttext));
    snprintf(model, sizeof model, "%s", test_path("np10.embrec"));
    snprintf(args, sizeof args, "train --data %s --shuffle numpy:3 --val-split 0.3 --epochs 1 "
             "--quiet --save %s", data, model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "eval --model %s --data %s", model, val);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "on 3 ratings (3 with an unseen user or item");
    snprintf(args, sizeof args, "eval --model %s --data %s", model, train);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "on 7 ratings\n");
    /* embrec's own shuffle (seed 1) validates on other rows */
    snprintf(args, sizeof args, "train --data %s --shuffle --val-split 0.3 --epochs 1 --quiet "
             "--save %s", data, model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "eval --model %s --data %s", model, val);
    CHECK_INT(embrec(args), 0);
    CHECK(strstr(out, "(3 with an unseen") == NULL);
    /* NumPy's seeds are 32-bit */
    snprintf(args, sizeof args, "train --data %s --shuffle numpy:4294967296 --save %s", data,
             model);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "[0, 4294967295]");
    snprintf(args, sizeof args, "train --data %s --shuffle=random --save %s", data, model);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "numpy:SEED");
}

/* --init-from: a model's exported arrays start another run; a wrong shape
 * or a missing directory is one line naming the file. --batch-order: a file
 * that does not fit the training rows is refused with file:line. */
static void test_init_from_and_batch_order(void) {
    char model[512], dir[512], order[512], args[4096];
    snprintf(model, sizeof model, "%s", test_path("init.embrec"));
    snprintf(dir, sizeof dir, "%s", test_path("init_export"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s",
             model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "export --model %s --out %s", model, dir);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --no-progress "
             "--init-from %s --save %s", dir, test_path("init2.embrec"));
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "initial weights: 2 of 2 arrays from");
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --dim 4 --quiet "
             "--init-from %s --save %s", dir, test_path("init2.embrec"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "init_export/user_embedding.npy: shape (300, 8), the model needs (300, 4)");
    CHECK_INT(count_lines(out), 1);
    snprintf(args, sizeof args, "train --data data/ratings.csv --init-from %s/nowhere --save %s",
             dir, test_path("init2.embrec"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nowhere: not a directory");
    /* a NaN in an array is refused before training, naming the file and the value */
    {
        static float P[300 * 8];
        char nan_dir[512];
        size_t k;
        for (k = 0; k < 300 * 8; k++) P[k] = 0.01f * (float)(k % 7);
        P[8 * 2 + 5] = NAN;
        snprintf(nan_dir, sizeof nan_dir, "%s", test_path("init_nan"));
        CHECK(mkdir(nan_dir, 0777) == 0);
        fixture_write_npy("init_nan/user_embedding.npy", 1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (300, 8), }", P,
                          sizeof P);
        snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet "
                 "--init-from %s --save %s", nan_dir, test_path("init_nan.embrec"));
        CHECK_INT(embrec(args), 1);
        CHECK_HAS(out, "init_nan/user_embedding.npy: value 21 (row 2, column 5) is not finite (nan)");
        CHECK_INT(count_lines(out), 1);
    }
    /* 12,000 rows, validation 0.1: an order must permute 10,800 */
    snprintf(order, sizeof order, "%s", test_write("order.txt", "2 0 1\n"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet "
             "--batch-order %s --save %s", order, test_path("init2.embrec"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "order.txt:1: 3 numbers, but the training set has 10800 samples");
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet "
             "--batch-order numpy:-1 --save %s", test_path("init2.embrec"));
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--batch-order numpy:-1");
}

/* The log lines " - loss: ... - val_loss: ..." of a training run, without
 * the seconds, into buf */
static void loss_lines(char *buf, size_t size) {
    const char *p = out;
    size_t n = 0;
    buf[0] = '\0';
    while ((p = strstr(p, " - loss: ")) != NULL) {
        size_t len = strcspn(p, "\n");
        if (n + len + 2 < size) {
            memcpy(buf + n, p, len);
            n += len;
            buf[n++] = '\n';
            buf[n] = '\0';
        }
        p += len;
    }
}

/* Dense updates without the sweep print the same curves (to the log's 4
 * decimals) as the sweep, for the models whose rows a batch reads in more
 * ways: deep with genre rows and item features, and ncf's two tables. */
static void test_dense_matches_sweep_cli(void) {
    static const char *const models[2] = {
        "--model deep --dim 8 --item-features genres,year", "--model ncf --dim 4 --implicit"};
    char args[4096], sweep[4096], dense[4096];
    int k;
    for (k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "train --data data/ratings.csv %s --optimizer adam --epochs 2 "
                 "--update dense-sweep --no-progress --save %s", models[k], test_path("s.embrec"));
        CHECK_INT(embrec(args), 0);
        loss_lines(sweep, sizeof sweep);
        snprintf(args, sizeof args, "train --data data/ratings.csv %s --optimizer adam --epochs 2 "
                 "--update dense --no-progress --save %s", models[k], test_path("d.embrec"));
        CHECK_INT(embrec(args), 0);
        loss_lines(dense, sizeof dense);
        CHECK(strlen(sweep) > 20);
        if (strcmp(sweep, dense) != 0)
            test_fail(__FILE__, __LINE__, "%s:\ndense-sweep:\n%sdense:\n%s", models[k], sweep, dense);
    }
}

/* the first n bytes of a file into buf; how many were read (0 if none) */
static size_t read_head(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n, f) : 0;
    if (f) fclose(f);
    return got;
}

/* A diverging run stops with the epoch, the batch, the tensors and a hint,
 * exits 1, and leaves the model file it would have replaced as it was. */
static void test_divergence_stops(void) {
    char args[4096], model[600], before[64], after[64];
    size_t nb, na;
    snprintf(model, sizeof model, "%s", test_path("keep.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    nb = read_head(model, before, sizeof before);
    snprintf(args, sizeof args, "train --data data/ratings.csv --optimizer sgd --lr 50 --epochs 3 "
             "--quiet --save %s", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "training diverged in epoch 1, batch ");
    CHECK_HAS(out, "user_embedding");
    CHECK_HAS(out, "try a smaller learning rate than --lr 50");
    CHECK_HAS(out, "is left as it was");
    na = read_head(model, after, sizeof after);
    CHECK(nb == sizeof before && na == nb && memcmp(before, after, nb) == 0);
}

/* A learning rate of 0 (or below) trains nothing: a usage error naming
 * --lr. One so large that the best epoch predicts worse than the training
 * mean still saves (the exit status stays 0) but warns on stderr. */
static void test_lr_checks(void) {
    char args[4096], model[600];
    snprintf(model, sizeof model, "%s", test_path("lr.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --lr 0 --epochs 1 --save %s", model);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--lr");
    CHECK_HAS(out, "above 0");
    CHECK(file_size(model) == 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --lr -0.5 --epochs 1 --save %s",
             model);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--lr");
    snprintf(args, sizeof args, "train --data data/ratings.csv --optimizer adamax --lr 100 "
             "--epochs 2 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "embrec: warning: the best val_loss ");
    CHECK_HAS(out, " is worse than predicting the mean (0.8775): try a smaller --lr");
    CHECK_INT(count_lines(out), 1); /* --quiet: the warning alone */
    CHECK(file_size(model) > 0);
    /* a sane rate, stopped short: the dot model, started near 0, is still
     * far from the ratings after 2 epochs but on its way */
    snprintf(args, sizeof args, "train --data data/ratings.csv --optimizer adamax --lr 0.002 "
             "--epochs 2 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "though better than the initial weights' (13.");
    CHECK_HAS(out, "train longer (--epochs)");
    CHECK(strstr(out, "smaller --lr") == NULL);
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --optimizer adam "
             "--lr 0.005 --epochs 2 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK(strstr(out, "warning") == NULL); /* better than the mean: no warning */
}

/* On several threads too: the data-parallel split (dense), Hogwild (lazy)
 * and LIBMF's blocks each stop a diverging run with the same message and
 * exit 1, and a sane run on 2 threads saves a model that predicts. */
static void test_divergence_threads(void) {
    static const char *modes[3] = {"--optimizer sgd --update dense",
                                   "--optimizer sgd --update lazy",
                                   "--optimizer sgd --batch 1 --blocks 3 --model bias"};
    char args[4096], model[600];
    int k;
    snprintf(model, sizeof model, "%s", test_path("thr.embrec"));
    for (k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "train --data data/ratings.csv %s --lr 50 --epochs 3 "
                 "--threads 2 --quiet --save %s", modes[k], model);
        CHECK_INT(embrec(args), 1);
        CHECK_HAS(out, "training diverged in epoch 1");
        CHECK_HAS(out, "try a smaller learning rate than --lr 50");
    }
    snprintf(args, sizeof args, "train --data data/ratings.csv --update lazy --threads 2 "
             "--epochs 2 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv --threads 3", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "RMSE");
}

/* ./embrec running beside the test, its stdout and stderr in one pipe. */
typedef struct {
    pid_t pid;
    FILE *out;    /* the pipe's reading end */
    size_t n;     /* bytes of its output kept in out[] so far */
} child;

/* Start `./embrec ARGS 2>&1` (sh execs it: pid is embrec's); 0 or -1. */
static int child_start(child *c, const char *args) {
    char cmd[4200];
    int fd[2];
    snprintf(cmd, sizeof cmd, "exec ./embrec %s 2>&1", args);
    c->n = 0;
    out[0] = '\0';
    fflush(stdout); /* not twice: the child starts with a copy of the buffer */
    if (pipe(fd) != 0) return -1;
    c->pid = fork();
    if (c->pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (c->pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    c->out = fdopen(fd[0], "r");
    return c->out ? 0 : -1;
}

/* Read the child's output line by line into out until a line holds needle
 * (1) or the output ends (0). The read blocks until the child writes: the
 * test waits for the event itself, however long the machine takes. */
static int child_wait_for(child *c, const char *needle) {
    while (c->n + 1 < sizeof out && fgets(out + c->n, (int)(sizeof out - c->n), c->out)) {
        const char *line = out + c->n;
        c->n += strlen(line);
        if (strstr(line, needle)) return 1;
    }
    return 0;
}

/* The rest of the output, then the child's wait status. */
static int child_finish(child *c) {
    int status = -1;
    child_wait_for(c, "\n\n\n"); /* (never in a line: reads to the end) */
    fclose(c->out);
    if (waitpid(c->pid, &status, 0) != c->pid) return -1;
    return status;
}

/* An endless training run started with its log in a pipe, waited on until
 * epoch 1 has ended (its line is in the log), then sent sig; the wait
 * status. */
static int signal_after_epoch_1(const char *model, int sig) {
    char args[4096];
    child c;
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --dim 16 "
             "--epochs 100000 --batch 4 --optimizer adam --update dense-sweep --restore-best "
             "--no-progress --save %s", model);
    if (child_start(&c, args) != 0) {
        test_fail(__FILE__, __LINE__, "cannot start %s", args);
        return -1;
    }
    if (!child_wait_for(&c, " - loss: "))
        test_fail(__FILE__, __LINE__, "the run ended before epoch 1 did: %s", out);
    else
        kill(c.pid, sig);
    return child_finish(&c);
}

/* Ctrl-C: the current batch finishes, the best weights so far are saved,
 * the exit status is 130 and the saved model loads. */
static void test_interrupt_saves_best(void) {
    char model[600];
    int status;
    snprintf(model, sizeof model, "%s", test_path("int.embrec"));
    status = signal_after_epoch_1(model, SIGINT);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 130);
    CHECK_HAS(out, "embrec train: interrupted in epoch ");
    CHECK_HAS(out, "'s weights");
    CHECK_HAS(out, "embrec train: saved ");
    {
        char args[4096];
        snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv", model);
        CHECK_INT(embrec(args), 0);
        CHECK_HAS(out, "RMSE");
    }
}

/* Writing the model fails (here: a file-size limit, as a full disk would):
 * a one-line error naming the file and the reason, exit 1, and the model
 * already there is untouched, with no temporary file left beside it. */
static void test_save_failure_keeps_old_model(void) {
    char args[4096], model[700], dir[600], before[256], after[256];
    size_t nb, na;
    snprintf(dir, sizeof dir, "%s", test_path("fsize"));
    snprintf(model, sizeof model, "%s/m.embrec", dir);
    snprintf(args, sizeof args, "mkdir -p %s", dir);
    CHECK(system(args) == 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    nb = read_head(model, before, sizeof before);
    /* 2 blocks of 512 bytes: the 64-wide model (~180 KB) cannot be written */
    snprintf(args, sizeof args, "-c \"trap '' XFSZ; ulimit -f 2; exec ./embrec train --data "
             "data/ratings.csv --epochs 1 --dim 64 --quiet --save %s\"", model);
    {
        char cmd[4300];
        FILE *p;
        size_t n = 0, got;
        int status;
        snprintf(cmd, sizeof cmd, "sh %s 2>&1", args);
        p = popen(cmd, "r");
        CHECK(p != NULL);
        if (!p) return;
        while (n + 1 < sizeof out && (got = fread(out + n, 1, sizeof out - 1 - n, p)) > 0) n += got;
        out[n] = '\0';
        status = pclose(p);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    }
    CHECK_HAS(out, "cannot write the model");
    CHECK_HAS(out, "the previous file, if any, is untouched");
    na = read_head(model, after, sizeof after);
    CHECK(nb > 0 && na == nb && memcmp(before, after, nb) == 0);
    snprintf(args, sizeof args, "ls -a %s | grep -c . | grep -qx 3", dir); /* ., .., m.embrec */
    CHECK(system(args) == 0);
}

/* SIGTERM (a service manager, kill) and SIGHUP (a closed terminal) stop
 * training as Ctrl-C does: the batch finishes, the best weights so far are
 * saved, and the status is 128 + the signal, 143 and 129. */
static void test_term_and_hup_save_best(void) {
    static const int sigs[2] = {SIGTERM, SIGHUP};
    char model[600], args[4096];
    int k, status;
    for (k = 0; k < 2; k++) {
        snprintf(model, sizeof model, "%s", test_path(k ? "hup.embrec" : "term.embrec"));
        status = signal_after_epoch_1(model, sigs[k]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 128 + sigs[k])
            test_fail(__FILE__, __LINE__, "signal %d: wait status %d, expected exit %d",
                      sigs[k], status, 128 + sigs[k]);
        CHECK_HAS(out, "embrec train: interrupted in epoch ");
        CHECK_HAS(out, "embrec train: saved ");
        snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv", model);
        CHECK_INT(embrec(args), 0);
    }
}

/* A second signal ends the process at once, without saving. Both come
 * while the process is stopped, so that both wait for it: it takes one
 * (SIGINT, the lower number) and must die of the other. */
static void test_second_signal_ends_at_once(void) {
    char args[4096], model[600];
    child c;
    int status;
    snprintf(model, sizeof model, "%s", test_path("twice.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --dim 16 "
             "--epochs 100000 --batch 4 --no-progress --save %s", model);
    CHECK(child_start(&c, args) == 0);
    CHECK(child_wait_for(&c, " - loss: "));
    kill(c.pid, SIGSTOP);
    /* a stop takes effect when the process next runs: wait until it has,
     * or it could take SIGTERM alone before SIGINT is even sent */
    CHECK(waitpid(c.pid, &status, WUNTRACED) == c.pid && WIFSTOPPED(status));
    kill(c.pid, SIGTERM);
    kill(c.pid, SIGINT);
    kill(c.pid, SIGCONT);
    status = child_finish(&c);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    CHECK(file_size(model) == 0); /* nothing saved */
}

/* A process killed while saving never leaves a partial file under the
 * model's name. The kill comes from a file-size limit of N blocks of 512
 * bytes (SIGXFSZ, whose default action ends the process the moment a write
 * reaches the limit), at 12 sizes spread over the model file: each run dies
 * mid-write, and the name still holds the old model, byte for byte. */
static void test_kill_mid_save(void) {
    char args[4096], model[600], old[600];
    long blocks;
    int k, status;
    snprintf(model, sizeof model, "%s", test_path("killed.embrec"));
    snprintf(old, sizeof old, "%s", test_path("killed_old.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --dim 64 --quiet "
             "--save %s", model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "cp %s %s", model, old);
    CHECK(system(args) == 0);
    blocks = (file_size(model) + 511) / 512;
    CHECK(blocks > 26);
    for (k = 0; k < 12; k++) {
        long n = blocks * (k + 1) / 13; /* from 1/13 to 12/13 of the file */
        snprintf(args, sizeof args, "ulimit -c 0; ulimit -f %ld; exec ./embrec train --data "
                 "data/ratings.csv --epochs 1 --dim 64 --quiet --seed %d --save %s "
                 ">/dev/null 2>&1", n, k + 2, model);
        status = system(args);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGXFSZ)
            test_fail(__FILE__, __LINE__, "at %ld blocks: not killed mid-write (status %d)", n,
                      status);
        if (!same_file(model, old))
            test_fail(__FILE__, __LINE__, "killed at %ld blocks, the model changed", n);
    }
    snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv", model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --dim 64 --quiet "
             "--seed 99 --save %s", model); /* no limit: the new model replaces the old */
    CHECK_INT(embrec(args), 0);
    CHECK(!same_file(model, old));
    snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv", model);
    CHECK_INT(embrec(args), 0);
}

/* ------------------------------------------------------------ outputs */

/* the whole file, NUL-terminated, into buf (at most n - 1 bytes); its
 * length, or 0 when it cannot be read */
static size_t slurp(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    if (f) fclose(f);
    buf[got] = '\0';
    return got;
}

/* how many names in dir hold ".tmp." (temporary files left behind) */
static int temporaries_in(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* link, replaced by a symlink to target */
static void make_symlink(const char *target, const char *link) {
    unlink(link);
    CHECK(symlink(target, link) == 0);
}

/* the permission bits a new file gets here: 0666 less the umask */
static int new_file_mode(void) {
    mode_t mask = umask(0);
    umask(mask);
    return (int)(0666 & ~mask);
}

/* path is a regular file (not a symlink) with permission bits mode */
static int regular_with_mode(const char *path, int mode) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (int)(st.st_mode & 0777) == mode;
}

/* A write that fails (here on /dev/full, a device, which is written
 * directly) says which file and why, `embrec: FILE: cannot write: reason`,
 * and exits 1: the history, a map and its CSV, a plot, every user's
 * recommendations, and standard output. */
static void test_write_errors_name_the_file(void) {
    const char *full = "embrec: /dev/full: cannot write: No space left on device";
    char args[4096], model[600], hist[600], svg[600];
    struct stat st;
    snprintf(model, sizeof model, "%s", test_path("werr.embrec"));
    snprintf(hist, sizeof hist, "%s", test_path("werr.csv"));
    snprintf(svg, sizeof svg, "%s", test_path("werr.svg"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 2 --quiet --save %s "
             "--history %s", model, hist);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 2 --quiet --save %s "
             "--history /dev/full", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, full);
    snprintf(args, sizeof args, "map --model %s --method pca --out /dev/full", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, full);
    snprintf(args, sizeof args, "map --model %s --method pca --out %s --csv /dev/full", model, svg);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, full);
    snprintf(args, sizeof args, "plot --history %s --out /dev/full", hist);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, full);
    snprintf(args, sizeof args, "recommend --model %s --all --out /dev/full", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, full);
    CHECK_INT(run_sh("./embrec info --data data/ratings.csv 2>&1 >/dev/full"), 1);
    CHECK_HAS(out, "embrec: standard output: cannot write: No space left on device");
    CHECK(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode)); /* written, never replaced */
}

/* Exporting over an earlier export when the disk fills (a file-size limit
 * stands in): the failing file is named, exit 1, and every earlier file is
 * whole, with no temporary file left beside them. */
static void test_export_full_disk_keeps_old(void) {
    char args[4096], small[600], big[600], dir[600], path[700];
    static char before[1 << 16], after[1 << 16];
    size_t nb;
    snprintf(small, sizeof small, "%s", test_path("exp8.embrec"));
    snprintf(big, sizeof big, "%s", test_path("exp64.embrec"));
    snprintf(dir, sizeof dir, "%s", test_path("exp_full"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s", small);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --dim 64 --quiet "
             "--save %s", big);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "export --model %s --out %s", small, dir);
    CHECK_INT(embrec(args), 0);
    snprintf(path, sizeof path, "%s/user_embedding.npy", dir);
    nb = slurp(path, before, sizeof before);
    CHECK(nb > 9000); /* 300 users x 8 floats */
    /* 2 blocks of 512 bytes: the 64-wide user embeddings (77 KB) do not fit */
    snprintf(args, sizeof args, "trap '' XFSZ; ulimit -f 2; exec ./embrec export --model %s "
             "--out %s 2>&1", big, dir);
    CHECK_INT(run_sh(args), 1);
    CHECK_HAS(out, "user_embedding.npy: cannot write: File too large");
    CHECK(slurp(path, after, sizeof after) == nb && memcmp(before, after, nb) == 0);
    CHECK_INT(temporaries_in(dir), 0);
}

/* A symlink where export writes a file is replaced by the new file; the
 * file it pointed at, outside the directory, stays as it was. */
static void test_export_replaces_symlinks(void) {
    char args[4096], model[600], dir[600], link[700], victim[600], buf[64];
    snprintf(model, sizeof model, "%s", test_path("expl.embrec"));
    snprintf(dir, sizeof dir, "%s", test_path("exp_links"));
    snprintf(victim, sizeof victim, "%s", test_write("victim_export.txt", "keep me\n"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(link, sizeof link, "%s/item_ids.npy", dir);
    make_symlink(victim, link);
    snprintf(link, sizeof link, "%s/item_vectors.tsv", dir);
    make_symlink(victim, link);
    snprintf(args, sizeof args, "export --model %s --out %s", model, dir);
    CHECK_INT(embrec(args), 0);
    slurp(victim, buf, sizeof buf);
    CHECK(strcmp(buf, "keep me\n") == 0);
    CHECK(regular_with_mode(link, new_file_mode())); /* item_vectors.tsv */
    snprintf(link, sizeof link, "%s/item_ids.npy", dir);
    CHECK(regular_with_mode(link, new_file_mode()));
    slurp(link, buf, sizeof buf);
    CHECK(memcmp(buf, "\x93NUMPY", 6) == 0);
}

/* The same for the other outputs: the history, a map and its CSV, a plot,
 * every user's recommendations. */
static void test_outputs_replace_symlinks(void) {
    char args[4096], model[600], victim[600], buf[64];
    char link[5][600];
    const char *names[5] = {"l_hist.csv", "l_map.svg", "l_map.csv", "l_plot.svg", "l_all.csv"};
    int k;
    snprintf(model, sizeof model, "%s", test_path("links.embrec"));
    snprintf(victim, sizeof victim, "%s", test_write("victim.txt", "keep me\n"));
    for (k = 0; k < 5; k++) {
        snprintf(link[k], sizeof link[k], "%s", test_path(names[k]));
        make_symlink(victim, link[k]);
    }
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 2 --quiet --save %s "
             "--history %s", model, link[0]);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "map --model %s --method pca --out %s --csv %s", model, link[1],
             link[2]);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "plot --history %s --out %s", link[0], link[3]);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "recommend --model %s --all -n 2 --out %s", model, link[4]);
    CHECK_INT(embrec(args), 0);
    slurp(victim, buf, sizeof buf);
    CHECK(strcmp(buf, "keep me\n") == 0);
    for (k = 0; k < 5; k++)
        if (!regular_with_mode(link[k], new_file_mode()))
            test_fail(__FILE__, __LINE__, "%s is not a new regular file", names[k]);
    slurp(link[4], buf, sizeof buf);
    CHECK(strncmp(buf, "userId,rank,movieId,prediction\n", 31) == 0);
}

/* The history, rewritten at each epoch's end, is never half a file: when a
 * write fails (a file-size limit of 512 bytes stands in for a full disk)
 * it holds the epochs written so far, whole lines that plot reads, and
 * training stops with the file's name and exit 1. */
static void test_history_never_half_written(void) {
    char args[4096], model[600], dir[600], hist[700];
    static char text[4096];
    size_t n;
    snprintf(model, sizeof model, "%s", test_path("half.embrec"));
    snprintf(dir, sizeof dir, "%s", test_path("half"));
    snprintf(hist, sizeof hist, "%s/half.csv", dir);
    CHECK(mkdir(dir, 0777) == 0);
    snprintf(args, sizeof args, "trap '' XFSZ; ulimit -f 1; exec ./embrec train --data "
             "data/ratings.csv --epochs 20 --quiet --save %s --history %s 2>&1", model, hist);
    CHECK_INT(run_sh(args), 1);
    CHECK_HAS(out, "half.csv: cannot write: File too large");
    n = slurp(hist, text, sizeof text);
    CHECK(n > 200 && n <= 512 && text[n - 1] == '\n');
    CHECK(strncmp(text, "epoch,loss,val_loss,", 20) == 0);
    CHECK(count_lines(text) >= 4 && count_lines(text) < 21);
    snprintf(args, sizeof args, "plot --history %s --out %s", hist, test_path("half.svg"));
    CHECK_INT(embrec(args), 0);
    CHECK_INT(temporaries_in(dir), 0);
}

/* Every output's directory is checked before the work starts: no training
 * epochs, no map, nothing loaded, when the result could not be written. */
static void test_outputs_checked_first(void) {
    char args[4096], model[600], nodir[600], svg[600], file[600];
    snprintf(model, sizeof model, "%s", test_path("first.embrec"));
    snprintf(nodir, sizeof nodir, "%s", test_path("nodir"));
    snprintf(svg, sizeof svg, "%s", test_path("first.svg"));
    snprintf(file, sizeof file, "%s", test_write("a_file.txt", "x\n"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 3 --save %s/x.embrec",
             nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir/x.embrec: cannot write: ");
    CHECK_HAS(out, "No such file or directory");
    CHECK(!strstr(out, "Epoch 1/3"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 3 --save %s --history "
             "%s/h.csv", model, nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir/h.csv: cannot write: ");
    CHECK(!strstr(out, "Epoch 1/3"));
    snprintf(args, sizeof args, "map --model %s --out %s --csv %s/m.csv", model, svg, nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir/m.csv: cannot write: ");
    CHECK(!strstr(out, "t-SNE"));
    CHECK(access(svg, F_OK) != 0);
    snprintf(args, sizeof args, "map --model %s --out %s/map.svg", model, file);
    CHECK_INT(embrec(args), 1); /* a file where a directory should be */
    CHECK_HAS(out, "a_file.txt/map.svg: cannot write: ");
    CHECK(!strstr(out, "t-SNE"));
    snprintf(args, sizeof args, "map --model %s/absent.embrec --out %s/map.svg", nodir, nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir/map.svg: cannot write: ");
    snprintf(args, sizeof args, "plot --history %s/absent.csv --out %s/p.svg", nodir, nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir/p.svg: cannot write: ");
    snprintf(args, sizeof args, "recommend --model %s/absent.embrec --all --out %s/r.csv", nodir,
             nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir/r.csv: cannot write: ");
    snprintf(args, sizeof args, "export --model %s/absent.embrec --out %s/sub", nodir, nodir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "nodir/sub: cannot write: ");
    snprintf(args, sizeof args, "export --model %s/absent.embrec --out %s", nodir, file);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "a_file.txt: cannot write: Not a directory");
    snprintf(args, sizeof args, "synth --out %s/sub", file);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "a_file.txt");
}

/* Replacing a file keeps its permission bits (a private model stays
 * private), for models, ratings caches and every other output; a new file
 * gets 0666 less the umask. */
static void test_replace_keeps_mode(void) {
    char args[4096], model[600], hist[600], svg[600], src[600], cache[600];
    snprintf(model, sizeof model, "%s", test_path("mode.embrec"));
    snprintf(hist, sizeof hist, "%s", test_path("mode.csv"));
    snprintf(svg, sizeof svg, "%s", test_path("mode.svg"));
    snprintf(src, sizeof src, "%s", test_path("mode_ratings.csv"));
    snprintf(cache, sizeof cache, "%s", test_path("mode.cache"));
    snprintf(args, sizeof args, "umask 027; exec ./embrec train --data data/ratings.csv "
             "--epochs 1 --quiet --save %s --history %s 2>&1", model, hist);
    CHECK_INT(run_sh(args), 0);
    CHECK(regular_with_mode(model, 0640));
    CHECK(regular_with_mode(hist, 0640));
    CHECK(chmod(model, 0600) == 0 && chmod(hist, 0604) == 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s "
             "--history %s", model, hist);
    CHECK_INT(embrec(args), 0);
    CHECK(regular_with_mode(model, 0600));
    CHECK(regular_with_mode(hist, 0604));
    snprintf(args, sizeof args, "plot --history %s --out %s", hist, svg);
    CHECK_INT(embrec(args), 0);
    CHECK(chmod(svg, 0664) == 0);
    CHECK_INT(embrec(args), 0);
    CHECK(regular_with_mode(svg, 0664));
    snprintf(args, sizeof args, "cp data/ratings.csv %s && touch -t 202001010000 %s", src, src);
    CHECK_INT(system(args), 0);
    snprintf(args, sizeof args, "info --data %s --cache=%s", src, cache);
    CHECK_INT(embrec(args), 0);
    CHECK(chmod(cache, 0600) == 0);
    snprintf(args, sizeof args, "touch -t 202001020000 %s", src); /* the cache is rebuilt */
    CHECK_INT(system(args), 0);
    snprintf(args, sizeof args, "info --data %s --cache=%s", src, cache);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "cache    rebuilt");
    CHECK(regular_with_mode(cache, 0600));
}

/* synth over earlier files when the disk fills: the file is named, exit 1,
 * and the earlier files are whole. */
static void test_synth_full_disk_keeps_old(void) {
    char args[4096], dir[600], path[700];
    static char before[1 << 15], after[1 << 15];
    size_t nb;
    snprintf(dir, sizeof dir, "%s", test_path("synth_full"));
    snprintf(args, sizeof args, "synth --out %s", dir);
    CHECK_INT(embrec(args), 0);
    snprintf(path, sizeof path, "%s/movies.csv", dir);
    nb = slurp(path, before, sizeof before);
    CHECK(nb > 2048);
    snprintf(args, sizeof args, "trap '' XFSZ; ulimit -f 2; exec ./embrec synth --out %s "
             "--seed 9 2>&1", dir);
    CHECK_INT(run_sh(args), 1);
    CHECK_HAS(out, "movies.csv: cannot write: File too large");
    CHECK(slurp(path, after, sizeof after) == nb && memcmp(before, after, nb) == 0);
    CHECK_INT(temporaries_in(dir), 0);
}

/* Resuming: a model file keeps its optimiser's state, so training goes on
 * where it stopped (its first resumed epoch starts below where a fresh run
 * starts, and the step count carries over); a file of version 1 (before the
 * state was kept) still loads, predicts what it did, and resumes with a
 * fresh optimiser. */
static void test_resume(void) {
    char args[4096], first[700], second[700];
    const char *loss;
    double fresh, resumed;
    snprintf(first, sizeof first, "%s", test_path("r1.embrec"));
    snprintf(second, sizeof second, "%s", test_path("r2.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --dim 8 --optimizer "
             "adam --epochs 2 --no-progress --save %s", first);
    CHECK_INT(embrec(args), 0);
    loss = strstr(out, " - loss: ");
    fresh = loss ? atof(loss + 9) : 0.0;
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --optimizer adam "
             "--epochs 3 --no-progress --save %s", first, second);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "its adam state after 676 steps"); /* 2 epochs of ceil(10800 / 32) */
    loss = strstr(out, " - loss: ");
    resumed = loss ? atof(loss + 9) : 1e9;
    CHECK(resumed < fresh - 0.05);
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --dim 4 --save %s",
             first, second);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--resume continues the saved model as it is");
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --l2 0.5 --save %s",
             first, second); /* every model option, not only the shape: none is ignored */
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--resume continues the saved model as it is");
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --dropout-embed 0.1 "
             "--save %s", first, second);
    CHECK_INT(embrec(args), 2);
    /* version 1 */
    CHECK_INT(embrec("predict --model tests/ref/model_v1.embrec --user 1 --item 1"), 0);
    CHECK_NEAR(atof(out), 3.6597, 0, 5e-5);
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume tests/ref/model_v1.embrec "
             "--optimizer adam --epochs 1 --no-progress --save %s", second);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "with a fresh adam optimiser");
    CHECK_HAS(out, "ratings of users or movies that tests/ref/model_v1.embrec does not have "
                   "are left out");
}

/* the lines of a history file from epoch `from` on, without the seconds
 * column (the 6th), into buf */
static void history_from(const char *path, int from, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    char line[512];
    size_t n = 0;
    buf[0] = '\0';
    while (f && fgets(line, sizeof line, f)) {
        char *c = line;
        int field;
        if (atoi(line) < from) continue; /* (the header too) */
        for (field = 1; field < 6 && c; field++) c = strchr(c + 1, ',');
        if (c) { /* cut ",seconds" out */
            char *next = strchr(c + 1, ',');
            memmove(c, next ? next : c + strlen(c), strlen(next ? next : c + strlen(c)) + 1);
        }
        if (n + strlen(line) + 1 < size) {
            strcpy(buf + n, line);
            n += strlen(line);
        }
    }
    if (f) fclose(f);
}

/* --resume continues the run: stopped after 2 of 4 epochs (--epochs 2) and
 * resumed with --epochs 4 and nothing else, a run whose every setting
 * differs from the defaults (split, shuffle, seed, batch, optimiser and its
 * rate, patience) prints epochs 3 and 4 as the straight run did, writes
 * their history lines, and saves the same model byte for byte. */
static void test_resume_continues_the_run(void) {
    char args[4096], a[600], b[600], c[600], ha[600], hc[600], la[2048], lc[2048];
    static const char run[] = "train --data data/ratings.csv --model bias --dim 6 --val-split 0.2 "
                              "--shuffle numpy:3 --seed 5 --batch 100 --optimizer adam --lr 0.003 "
                              "--patience 3 --no-progress";
    snprintf(a, sizeof a, "%s", test_path("straight.embrec"));
    snprintf(b, sizeof b, "%s", test_path("half.embrec"));
    snprintf(c, sizeof c, "%s", test_path("resumed.embrec"));
    snprintf(ha, sizeof ha, "%s", test_path("straight.csv"));
    snprintf(hc, sizeof hc, "%s", test_path("resumed.csv"));
    snprintf(args, sizeof args, "%s --epochs 4 --save %s --history %s", run, a, ha);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "%s --epochs 2 --save %s", run, b);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --epochs 4 "
             "--no-progress --save %s --history %s", b, c, hc);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "its adam state after 192 steps"); /* 2 epochs of 9,600 rows / 100 */
    CHECK_HAS(out, "at epoch 3 of 4: best val_loss ");
    CHECK_HAS(out, "adam (dense, lr 0.003), batch 100");
    CHECK_HAS(out, "Train on 9600 samples, validate on 2400 samples");
    CHECK_HAS(out, "Epoch 3/4");
    CHECK(strstr(out, "Epoch 1/") == NULL);
    history_from(ha, 3, la, sizeof la);
    history_from(hc, 3, lc, sizeof lc);
    CHECK(strlen(la) > 20 && count_lines(la) == 2);
    if (strcmp(la, lc) != 0)
        test_fail(__FILE__, __LINE__, "epochs 3 and 4:\nstraight:\n%sresumed:\n%s", la, lc);
    CHECK(same_file(a, c));
    snprintf(args, sizeof args, "plot --history %s --out %s", hc, test_path("resumed.svg"));
    CHECK_INT(embrec(args), 0); /* a history that starts at epoch 3 plots */

    /* --epochs is the total: not above the epochs done is a usage error */
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --epochs 2 --save %s",
             b, c);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "it has trained 2 of 2 epochs; give the run's new total with --epochs");
    /* a value given again overrides the saved one */
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --epochs 3 --lr 0.001 "
             "--no-progress --save %s", b, c);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "adam (dense, lr 0.001), batch 100");
    /* another optimiser starts afresh, with a warning on stderr */
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --epochs 3 "
             "--optimizer sgd --no-progress --save %s", b, c);
    CHECK_INT(embrec_stderr(args), 0);
    CHECK_HAS(out, "embrec: warning: ");
    CHECK_HAS(out, "half.embrec was trained with adam: its optimiser state is dropped, and sgd "
                   "starts afresh");
    CHECK(strstr(out, "Epoch") == NULL); /* (stdout went elsewhere) */
}

/* μ comes from the training rows: the validation rows' ratings do not leak
 * into the model (--mean-of all, and mf8's recipe, centre on every row as
 * notebook 000 did). The sample's first 6,000 ratings average 3.50725, all
 * 12,000 3.52625 (awk over data/ratings.csv). */
/* the μ of a model trained on the sample with these options: its prediction
 * for a user it never learned (--unknown-mean), or -1 */
static double trained_mean(const char *options) {
    char args[4096], m[600];
    snprintf(m, sizeof m, "%s", test_path("mean.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv %s --no-shuffle --val-split 0.5 "
             "--epochs 1 --quiet --save %s", options, m); /* (a recipe first: the rest override it) */
    if (embrec(args) != 0) return -1.0;
    snprintf(args, sizeof args, "predict --model %s --user 999999 --item 1 --unknown-mean", m);
    return embrec(args) == 0 ? atof(out) : -1.0;
}

static void test_mean_from_training_rows(void) {
    CHECK_NEAR(trained_mean("--model bias"), 3.50725, 0, 1e-4);
    CHECK_NEAR(trained_mean("--model bias --mean-of all"), 3.52625, 0, 1e-4);
    CHECK_NEAR(trained_mean("--recipe mf8"), 3.52625, 0, 1e-4);
    CHECK_INT(embrec("train --data data/ratings.csv --mean-of some --epochs 1 --quiet"), 2);
    CHECK_HAS(out, "--mean-of: expected train or all (got \"some\")");
}

/* the first epoch's loss and validation figures from a --history file
 * (epoch,loss,val_loss,val_rmse,val_mae: the fields before the seconds) */
static void first_epoch(const char *path, char *line, size_t size) {
    FILE *f = fopen(path, "r");
    char *cut;
    int n = 0;
    line[0] = 0;
    if (!f) return;
    if (!fgets(line, (int)size, f) || !fgets(line, (int)size, f)) line[0] = 0;
    fclose(f);
    for (cut = line; cut && n < 5; n++) cut = strchr(cut + 1, ',');
    if (cut) *cut = 0;
}

/* cfmodel splits as notebook 003 did, ratings.sample(frac=1.,
 * random_state=1446557), unless told otherwise */
static void test_cfmodel_notebook_split(void) {
    char args[4096], h1[600], h2[600], h3[600];
    snprintf(h1, sizeof h1, "%s", test_path("cf1.csv"));
    snprintf(h2, sizeof h2, "%s", test_path("cf2.csv"));
    snprintf(h3, sizeof h3, "%s", test_path("cf3.csv"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --recipe cfmodel --dim 8 --epochs 1 "
             "--quiet --history %s --save %s", h1, test_path("cf.embrec"));
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --recipe cfmodel --dim 8 --epochs 1 "
             "--shuffle numpy:1446557 --quiet --history %s --save %s", h2, test_path("cf.embrec"));
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "train --data data/ratings.csv --recipe cfmodel --dim 8 --epochs 1 "
             "--shuffle embrec --quiet --history %s --save %s", h3, test_path("cf.embrec"));
    CHECK_INT(embrec(args), 0);
    first_epoch(h1, h1, sizeof h1);
    first_epoch(h2, h2, sizeof h2);
    first_epoch(h3, h3, sizeof h3);
    CHECK(h1[0] != 0);
    CHECK(strcmp(h1, h2) == 0);
    CHECK(strcmp(h1, h3) != 0);
}

/* recommend --rated prints notebook 003's first table: the user's top 20
 * ratings, highest first, equal ratings by prediction (user 1 of the sample
 * rated 27 movies, four of them 5 stars) */
static void test_recommend_rated_table(void) {
    char args[4096], m[600];
    const char *p;
    double last_rating = 6.0, last_pred = 1e9;
    size_t rows = 0, fives = 0;
    snprintf(m, sizeof m, "%s", test_path("rated.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --dim 8 --epochs 2 --quiet "
             "--save %s", m);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "recommend --model %s --user 1 -n 5 --rated", m);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Rated by user 1: the top 20 of 27, by rating:");
    CHECK_HAS(out, "rank     movie  rating  predicted  title  (genres)");
    CHECK_HAS(out, "\nTop 5 for user 1, not rated, by prediction:");
    p = strstr(out, "(genres)\n");
    while (p && (p = strchr(p, '\n')) && p[1] != '\n' && p[1] != 0) {
        unsigned rank;
        long long movie;
        double rating, pred;
        CHECK(sscanf(p + 1, "%u %lld %lf %lf", &rank, &movie, &rating, &pred) == 4);
        CHECK_INT(rank, rows + 1);
        CHECK(rating < last_rating || (rating == last_rating && pred <= last_pred));
        fives += rating == 5.0;
        last_rating = rating;
        last_pred = pred;
        rows++;
        p++;
    }
    CHECK_INT(rows, 20);
    CHECK_INT(fives, 4);
    snprintf(args, sizeof args, "recommend --model %s --user 1 -n 5 --rated-n 30", m);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Rated by user 1: 27 of 27, by rating:");
}

/* The implicit protocol's tie rule is an option, and the ranking table says
 * which rule chose the held-out rows */
static void test_ties_rule_stated(void) {
    char args[4096], m[600];
    snprintf(m, sizeof m, "%s", test_path("ties.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --model gmf --implicit --dim 4 "
             "--epochs 1 --batch 256 --ties max-item --no-progress --save %s", m);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "(each user's latest interaction; at equal times the one with the largest "
                   "item id: --ties max-item)");
    snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv --ranking", m);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "at equal times the last of them in the file: --ties last)");
    snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv --ranking --ties later", m);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--ties: expected last, first, max-item or random (got \"later\")");
}

/* The ranking lines of the output in out (the model's and popularity's), into buf */
static void ranking_lines(char *buf, size_t size) {
    const char *p = strstr(out, "Ranking ");
    const char *q = p ? strstr(p, "\n  gmf") : NULL;
    snprintf(buf, size, "%s", q ? q : "(no ranking)");
}

/* train reads an explicit model's ratings without their timestamps, but an
 * implicit model's holdout needs them: with each user's latest time on the
 * first row of the file, it holds out the rows that the same file without
 * its time column holds out with --ties first, not those of --ties last.
 * eval too: an implicit model ranks without --ranking, on the same rows. */
static void test_implicit_holdout_reads_times(void) {
    static char timed[40000], untimed[40000];
    char args[4096], a[2048], b[2048], m[600];
    size_t u, k, nt = 0, nu = 0;
    const char *tp, *up;
    nt += (size_t)snprintf(timed + nt, sizeof timed - nt, "userId,movieId,rating,timestamp\n");
    nu += (size_t)snprintf(untimed + nu, sizeof untimed - nu, "userId,movieId,rating\n");
    for (u = 1; u <= 30; u++)
        for (k = 0; k < 20; k++) { /* the first row of each user is its latest */
            unsigned item = (unsigned)((u * 7 + k * 13) % 150) + 1;
            nt += (size_t)snprintf(timed + nt, sizeof timed - nt, "%zu,%u,1,%zu\n", u, item,
                                   k ? 1000 - k : 5000);
            nu += (size_t)snprintf(untimed + nu, sizeof untimed - nu, "%zu,%u,1\n", u, item);
        }
    tp = test_write("timed.csv", timed);
    snprintf(m, sizeof m, "%s", test_path("timed.embrec"));
    snprintf(args, sizeof args, "train --data %s --model gmf --implicit --dim 4 --epochs 2 "
             "--batch 64 --no-progress --save %s", tp, m);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Ranking 30 held-out items of 30 users");
    ranking_lines(a, sizeof a);
    snprintf(args, sizeof args, "eval --model %s --data %s", m, tp);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "(an implicit model scores logits, not ratings: ranking instead)");
    ranking_lines(b, sizeof b);
    CHECK(strlen(b) > 40 && strncmp(a, b, strlen(b)) == 0); /* (train's says "saved" after) */
    up = test_write("untimed.csv", untimed);
    snprintf(args, sizeof args, "train --data %s --model gmf --implicit --dim 4 --epochs 2 "
             "--batch 64 --no-progress --ties first --save %s", up, m);
    CHECK_INT(embrec(args), 0);
    ranking_lines(b, sizeof b);
    CHECK(strcmp(a, b) == 0);
    snprintf(args, sizeof args, "train --data %s --model gmf --implicit --dim 4 --epochs 2 "
             "--batch 64 --no-progress --ties last --save %s", up, m);
    CHECK_INT(embrec(args), 0);
    ranking_lines(b, sizeof b);
    CHECK(strcmp(a, b) != 0);
}

/* LIBMF's schedule as an optimiser: each row's accumulator is saved with the
 * model, so a run resumed after its first epoch ends with the straight
 * run's file, byte for byte; per-rating on LIBMF's blocks too. */
static void test_rowwise_adagrad_resumes(void) {
    char args[4096], a[600], h[600], b[600];
    int blocks;
    snprintf(a, sizeof a, "%s", test_path("ra_straight.embrec"));
    snprintf(h, sizeof h, "%s", test_path("ra_half.embrec"));
    snprintf(b, sizeof b, "%s", test_path("ra_resumed.embrec"));
    for (blocks = 0; blocks <= 4; blocks += 4) {
        const char *common = "--data data/ratings.csv --model bias --dim 8 --l2 0.05 "
                             "--optimizer rowwise-adagrad --lr 0.05 --batch 1 --quiet";
        char grid[32] = "";
        if (blocks) snprintf(grid, sizeof grid, "--blocks %d", blocks);
        snprintf(args, sizeof args, "train %s %s --epochs 2 --save %s", common, grid, a);
        CHECK_INT(embrec(args), 0);
        snprintf(args, sizeof args, "train %s %s --epochs 1 --save %s", common, grid, h);
        CHECK_INT(embrec(args), 0);
        snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --epochs 2 --quiet "
                 "--save %s", h, b);
        CHECK_INT(embrec(args), 0);
        CHECK(same_file(a, b));
        CHECK(!same_file(a, h));
    }
    CHECK_INT(embrec("train --data data/ratings.csv --optimizer adagrad --epochs 1 --quiet"), 2);
    CHECK_HAS(out, "(sgd, adam, adamax, rowwise-adagrad)");
}

/* The log says what ended the run: "early stopping" only when the callback
 * stopped it before the epoch cap, and which epoch's weights the model
 * keeps when they are not the best's. */
static void test_log_says_what_ended_the_run(void) {
    char args[4096], m[600];
    const char *at;
    unsigned stop = 0;
    snprintf(m, sizeof m, "%s", test_path("ended.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --dim 32 --optimizer "
             "adam --lr 0.05 --epochs 30 --patience 1 --no-progress --save %s", m);
    CHECK_INT(embrec(args), 0);
    CHECK((at = strstr(out, ": early stopping")) != NULL);
    if (!at) return;
    while (at > out && at[-1] != 'h') at--; /* "Epoch 000NN" */
    CHECK(sscanf(at, "%u", &stop) == 1 && stop > 1 && stop < 30);
    /* the same run capped at that epoch: patience runs out with the cap */
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --dim 32 --optimizer "
             "adam --lr 0.05 --epochs %u --patience 1 --restore-best --no-progress --save %s",
             stop, m);
    CHECK_INT(embrec(args), 0);
    CHECK(strstr(out, "early stopping") == NULL);
    CHECK_HAS(out, ": the last epoch (no improvement for 1 epochs)");
    CHECK_HAS(out, "; the model keeps that epoch's weights");
    /* without ModelCheckpoint the last epoch's weights stay, and the log says so */
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --dim 32 --optimizer "
             "adam --lr 0.05 --epochs %u --patience 0 --no-restore-best --no-progress --save %s",
             stop, m);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "; the model keeps the last epoch's (%u) weights", stop);
    CHECK_HAS(out, args);
}

/* EarlyStopping's counter carries over: a run that stopped early resumes
 * only with more patience; version 2 files (no progress) still load and
 * resume with their optimiser's state, counting epochs from 1. */
static void test_resume_patience_and_v2(void) {
    char args[4096], m[600], r[600];
    snprintf(m, sizeof m, "%s", test_path("early.embrec"));
    snprintf(r, sizeof r, "%s", test_path("early2.embrec"));
    /* (lr 0.05: the bias model overfits within a few epochs) */
    snprintf(args, sizeof args, "train --data data/ratings.csv --model bias --dim 32 --optimizer "
             "adam --lr 0.05 --epochs 30 --patience 1 --no-progress --save %s", m);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, ": early stopping");
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --save %s", m, r);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "its run stopped early, 1 epoch without a better val_loss (patience 1); "
                   "give a larger --patience");
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --patience 3 "
             "--no-progress --save %s", m, r);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, ", 1 epoch since");
    CHECK(strstr(out, "Epoch 1/30") == NULL);

    CHECK_INT(embrec("predict --model tests/ref/model_v2.embrec --user 1 --item 1"), 0);
    CHECK_NEAR(atof(out), 4.0962, 0, 5e-5);
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume tests/ref/model_v2.embrec "
             "--epochs 1 --no-progress --save %s", r);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "its adam state after 676 steps"); /* the saved kind, not the default */
    CHECK_HAS(out, "the epochs count from 1");
    CHECK_HAS(out, "Epoch 1/1");
}

/* The documented rules for odd but valid input: any 64-bit id (negative or
 * beyond 32 bits) is an id; a repeated (user, movie) pair is kept as
 * another rating and counted by info; no rating range is declared, the
 * data's own min and max are the range. Beyond 64 bits, or a rating that is
 * not a finite number, is an error naming the line. */
static void test_odd_input_rules(void) {
    char args[1200];
    const char *f = test_write("odd.csv", "userId,movieId,rating,timestamp\n"
                                          "1099511627776,5,4.0,1\n-3,5,3.0,2\n"
                                          "1,5,4.0,3\n1,5,2.0,4\n2,6,7.5,5\n");
    snprintf(args, sizeof args, "info --data %s", f);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "users    4");
    CHECK_HAS(out, "rating   min 2, max 7.5");
    CHECK_HAS(out, "repeats  1 lines repeat a (user, movie) pair");
    f = test_write("big.csv", "userId,movieId,rating\n99999999999999999999,5,4.0\n");
    snprintf(args, sizeof args, "info --data %s", f);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "big.csv:2: user id does not fit in 64 bits");
    f = test_write("inf.csv", "userId,movieId,rating\n1,5,4.0\n2,5,inf\n");
    snprintf(args, sizeof args, "info --data %s", f);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "inf.csv:3: rating is not a number");
    /* blanks around a value are ignored, as pandas ignores them */
    f = test_write("blanks.csv", "userId,movieId,rating,timestamp\n1,5,4.0,964981247   \n"
                                 "2, 6 ,\t3.5,964981248\t\n");
    snprintf(args, sizeof args, "info --data %s", f);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "ratings  2\n");
    CHECK_HAS(out, "rating   min 3.5, max 4");
    /* finite as a double, infinite as the float it is stored in */
    f = test_write("e39.csv", "userId,movieId,rating\n1,5,4.0\n2,5,1e39\n");
    snprintf(args, sizeof args, "info --data %s", f);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "e39.csv:3: rating is out of range for a float32 (\"1e39\")");
    CHECK_INT(count_lines(out), 1);
}

/* --version, `help CMD`, the nearest option for a misspelt one, and the
 * general help on stderr with status 2 when no command is given. */
static void test_version_and_help(void) {
    CHECK_INT(embrec("--version"), 0);
    CHECK_HAS(out, "embrec 0.");
    CHECK_HAS(out, "model files version");
    CHECK_INT(embrec("help train"), 0);
    CHECK_HAS(out, "usage: embrec train");
    CHECK_HAS(out, "--dim K");
    CHECK_INT(embrec("help similar"), 0);
    CHECK_HAS(out, "usage: embrec similar");
    CHECK_INT(embrec("help nosuch"), 2);
    CHECK_HAS(out, "no command \"nosuch\"");
    CHECK_INT(run_sh("./embrec 2>/dev/null"), 2); /* nothing on stdout ... */
    CHECK_INT((int)strlen(out), 0);
    CHECK_INT(embrec(""), 2); /* ... the help is on stderr */
    CHECK_HAS(out, "usage: embrec COMMAND");
    CHECK_INT(embrec("train --data data/ratings.csv --epoch 2"), 2);
    CHECK_HAS(out, "unknown option --epoch (did you mean --epochs?)");
    CHECK_INT(embrec("train --data data/ratings.csv --optimiser=adam"), 2);
    CHECK_HAS(out, "(did you mean --optimizer?)");
    CHECK_INT(embrec("recommend --modl m --user 1"), 2);
    CHECK_HAS(out, "(did you mean --model?)");
    CHECK_INT(embrec("train --data data/ratings.csv --frobnicate"), 2);
    CHECK(!strstr(out, "did you mean"));
}

/* A directory where a file is expected: a model path that is a directory
 * says so; info and summary take a data directory as train does, and
 * summary's messages are its own. */
static void test_directories_as_paths(void) {
    char args[2400], dir[512];
    snprintf(dir, sizeof dir, "%s", test_path("datadir"));
    snprintf(args, sizeof args, "mkdir -p %s/nomovies && cp data/ratings.csv data/movies.csv %s && "
             "cp data/ratings.csv %s/nomovies/", dir, dir, dir);
    CHECK_INT(system(args), 0);
    snprintf(args, sizeof args, "recommend --model %s --user 1", dir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "datadir: a directory, not a model file");
    CHECK(!strstr(out, "bytes"));
    snprintf(args, sizeof args, "info --data %s", dir);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "ratings  12000");
    CHECK_HAS(out, "datadir/ratings.csv");
    snprintf(args, sizeof args, "summary --model deep --data %s", dir);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Total params");
    snprintf(args, sizeof args, "summary --model deep --data %s/nomovies", dir);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "embrec summary: the deep model needs movie genres");
    CHECK(!strstr(out, "embrec train"));
}

/* A model names its training data by an absolute path, so recommend and
 * similar work from any directory; when the data has gone, recommend says
 * so and names --data, and similar says why it has no titles. */
static void test_model_used_elsewhere(void) {
    char args[2400], dir[512], model[512], cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(dir, sizeof dir, "%s", test_path("moved"));
    snprintf(model, sizeof model, "%s", test_path("elsewhere.embrec"));
    snprintf(args, sizeof args, "mkdir -p %s && cp data/ratings.csv data/movies.csv %s", dir, dir);
    CHECK_INT(system(args), 0);
    snprintf(args, sizeof args, "cd %s && %s/embrec train --data ratings.csv --dim 4 --epochs 1 "
             "--quiet --save %s 2>&1", dir, cwd, model);
    CHECK_INT(run_sh(args), 0);
    snprintf(args, sizeof args, "cd / && %s/embrec similar --model %s --item \"Synthetic Movie 4\" "
             "-n 3 2>&1", cwd, model);
    CHECK_INT(run_sh(args), 0);
    CHECK_HAS(out, "Synthetic Movie 4");
    snprintf(args, sizeof args, "cd / && %s/embrec recommend --model %s --user 7 -n 3 2>&1", cwd,
             model);
    CHECK_INT(run_sh(args), 0);
    CHECK_HAS(out, "Top 3 for user 7");
    CHECK_HAS(out, "Synthetic Movie");
    snprintf(args, sizeof args, "rm -r %s", dir); /* the data goes away */
    CHECK_INT(system(args), 0);
    snprintf(args, sizeof args, "recommend --model %s --user 7 -n 3", model);
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "moved/ratings.csv is not there: give --data FILE");
    CHECK_HAS(out, "--movies FILE");
    snprintf(args, sizeof args, "recommend --model %s --user 7 -n 3 --data data/ratings.csv", model);
    CHECK_INT(embrec(args), 0); /* titles beside --data */
    CHECK_HAS(out, "Synthetic Movie");
    snprintf(args, sizeof args, "similar --model %s --item 4 -n 3", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "no titles: the model's training data");
    CHECK_HAS(out, "give --movies FILE");
    snprintf(args, sizeof args, "similar --model %s --item 4 -n 3 --movies data/movies.csv", model);
    CHECK_INT(embrec(args), 0);
    CHECK(!strstr(out, "no titles"));
}

/* -n beyond the number of movies lists them all, for one user, every user
 * and similar movies (the sample has 200), instead of running out of memory. */
static void test_top_n_capped(void) {
    char args[1200], model[512];
    snprintf(model, sizeof model, "%s", test_path("topn.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --dim 4 --epochs 1 --quiet --save %s",
             model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "recommend --model %s --user 7 -n 18446744073709551615", model);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "Top 1"); /* 200 movies less the user's own */
    CHECK(!strstr(out, "out of memory"));
    snprintf(args, sizeof args, "similar --model %s --item 4 -n 18446744073709551615", model);
    CHECK_INT(embrec(args), 0);
    CHECK_INT(count_lines(out), 2 + 199);
    snprintf(args, sizeof args, "recommend --model %s --all -n 1000000 --out %s", model,
             test_path("topn.csv"));
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "wc -l < %s", test_path("topn.csv"));
    CHECK_INT(run_sh(args), 0);
    CHECK_INT(atoi(out), 1 + 300 * 200 - 12000); /* every unrated (user, movie) pair */
}

/* Titles and genres with terminal escape sequences (and bytes that are not
 * UTF-8) are printed escaped by recommend and similar, and in errors. */
static void test_control_characters_escaped(void) {
    char args[1600], dir[512], model[512];
    FILE *f;
    int k;
    snprintf(dir, sizeof dir, "%s", test_path("esc"));
    snprintf(model, sizeof model, "%s", test_path("esc.embrec"));
    snprintf(args, sizeof args, "mkdir -p %s && cp data/ratings.csv %s", dir, dir);
    CHECK_INT(system(args), 0);
    snprintf(args, sizeof args, "%s/movies.csv", dir);
    f = fopen(args, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "movieId,title,genres\n");
    for (k = 1; k <= 200; k++)
        fprintf(f, "%d,\"Evil \x1b]0;pwned\x07 \x1b[31mRed\xc2\x9b %d (1999)\",Drama|\x1b[2J\n", k, k);
    CHECK(fclose(f) == 0);
    snprintf(args, sizeof args, "train --data %s/ratings.csv --dim 4 --epochs 1 --quiet --save %s",
             dir, model);
    CHECK_INT(embrec(args), 0);
    snprintf(args, sizeof args, "recommend --model %s --user 7 -n 3 --rated", model);
    CHECK_INT(embrec(args), 0);
    CHECK(!strchr(out, '\x1b') && !strchr(out, '\x07') && !strstr(out, "\xc2\x9b"));
    CHECK_HAS(out, "Evil \\x1b]0;pwned\\x07 \\x1b[31mRed\\u009b ");
    CHECK_HAS(out, "(Drama|\\x1b[2J)");
    snprintf(args, sizeof args, "similar --model %s --item \"Red\" -n 3", model);
    CHECK_INT(embrec(args), 1); /* matches every movie: the candidates are listed, escaped */
    CHECK(!strchr(out, '\x1b'));
    CHECK_HAS(out, "matches several movies");
    snprintf(args, sizeof args, "similar --model %s --item 5 -n 3", model);
    CHECK_INT(embrec(args), 0);
    CHECK(!strchr(out, '\x1b'));
    CHECK_HAS(out, "\\x1b[31mRed");
    f = fopen(test_path("esc_bad.csv"), "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "userId,movieId,rating\n1,2,\x1b[31mfour\n");
    CHECK(fclose(f) == 0);
    snprintf(args, sizeof args, "info --data %s", test_path("esc_bad.csv"));
    CHECK_INT(embrec(args), 1);
    CHECK_HAS(out, "esc_bad.csv:2: rating is not a number");
    CHECK(!strchr(out, '\x1b'));
}

/* the numbers of a history file (the seconds column left out): up to max */
static size_t history_numbers(const char *path, double *v, size_t max) {
    FILE *f = fopen(path, "r");
    char line[512];
    size_t n = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *p = line, *end;
        int field;
        if (!isdigit((unsigned char)line[0])) continue; /* the header */
        for (field = 0; field < 8 && n < max; field++) {
            double x = strtod(p, &end);
            if (end == p) break;
            if (field != 5) v[n++] = x; /* (5: seconds) */
            p = *end == ',' ? end + 1 : end;
        }
    }
    if (f) fclose(f);
    return n;
}

/* The README's reading guide is what tests/reading_guide.sh measures: its
 * tables' rows (function, file, length) and totals, in the script's order
 * (a function renamed, moved or grown shows here). */
static void test_reading_guide_matches_readme(void) {
    int rc = run_sh("sh tests/reading_guide.sh --markdown > build/guide.want && "
                    "grep -E '^[|] (`[a-z_0-9]+`|[*][*]total[*][*]) [|]( [a-z/_0-9.]+)? [|] "
                    "([*][*])?[0-9]+([*][*])? [|]$' README.md > build/guide.got && "
                    "diff build/guide.want build/guide.got 2>&1");
    if (rc != 0) test_fail(__FILE__, __LINE__, "README's reading guide (< the script's):\n%s", out);
}

/* The reference build (make reference: the command line over the reading
 * core, without fast/) trains every recipe as embrec does, epoch by epoch:
 * lazy updates (hybrid) bit for bit, dense ones (the others) to the float32
 * rounding that the sweep and the closed-form catch-up differ by (2e-5
 * relative, the tolerance tests/ref's recipes are held to; about 1e-7 is
 * seen), NaN where NaN. */
static void test_reference_agrees(void) {
    static const struct { const char *args; double rtol; } runs[] = {
        {"--recipe mf8 --epochs 3", 2e-5},
        {"--recipe cfmodel --epochs 3", 2e-5},
        {"--recipe deep-genre --epochs 2", 2e-5},
        {"--recipe neumf --epochs 2", 2e-5},
        {"--recipe hybrid --epochs 2 --item-features genres,year", 0.0},
        {"--recipe svdpp --epochs 2 --dim 32 --val-split 0.1", 0.0},
    };
    double fast[64], ref[64];
    char args[4096];
    size_t k, j, nf, nr;
    if (access("./embrec-reference", X_OK) != 0) {
        test_fail(__FILE__, __LINE__, "./embrec-reference is missing (make test builds it)");
        return;
    }
    for (k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        snprintf(args, sizeof args, "train --data data/ratings.csv %s --quiet --save %s "
                 "--history %s", runs[k].args, test_path("fast.embrec"), test_path("fast.csv"));
        CHECK_INT(embrec(args), 0);
        snprintf(args, sizeof args, "./embrec-reference train --data data/ratings.csv %s --quiet "
                 "--save %s --history %s 2>&1", runs[k].args, test_path("ref.embrec"),
                 test_path("ref.csv"));
        CHECK_INT(run_sh(args), 0);
        nf = history_numbers(test_path("fast.csv"), fast, 64);
        nr = history_numbers(test_path("ref.csv"), ref, 64);
        CHECK(nf >= 14 && nf == nr); /* every epoch's seven numbers */
        for (j = 0; j < nf && j < nr; j++)
            if (!(isnan(fast[j]) && isnan(ref[j])) && !test_close(fast[j], ref[j], runs[k].rtol, 0))
                test_fail(__FILE__, __LINE__, "%s: number %zu of the history: embrec %.9g, "
                          "embrec-reference %.9g", runs[k].args, j, fast[j], ref[j]);
    }
    CHECK_INT(run_sh("./embrec-reference train --data data/ratings.csv --blocks 4 --optimizer sgd "
                     "--batch 1 2>&1"), 2); /* no speed machinery to ask for */
    CHECK_HAS(out, "the reference build has no blocks");
}

void suite_cli(void) {
    test_run("cli/help_shows_defaults", test_help_shows_defaults);
    test_run("cli/usage_errors", test_usage_errors);
    test_run("cli/simd_env", test_simd_env);
    test_run("cli/shuffle_numpy", test_shuffle_numpy);
    test_run("cli/init_from_and_batch_order", test_init_from_and_batch_order);
    test_run("cli/bad_file_one_line_error", test_bad_file_one_line_error);
    test_run("cli/info_sample", test_info_sample);
    test_run("cli/cache", test_cache_cli);
    test_run("cli/reference_build", test_reference_build);
    test_run("cli/info_ml100k", test_info_ml100k);
    test_run("cli/train_eval_recommend", test_train_eval_recommend);
    test_run("cli/lr_decay", test_lr_decay_cli);
    test_run("cli/svdpp", test_svdpp_cli);
    test_run("cli/cfmodel_ml100k", test_cfmodel_ml100k);
    test_run("cli/deep_genre", test_deep_genre);
    test_run("cli/use_a_model", test_use_a_model);
    test_run("cli/pictures", test_pictures);
    test_run("cli/hybrid_ml100k", test_hybrid_ml100k);
    test_run("cli/cold_movie_from_features", test_cold_movie_from_features);
    test_run("cli/ablate_ml100k", test_ablate_ml100k);
    test_run("cli/cv_folds_partition", test_cv_folds_partition);
    test_run("cli/cv_published_files", test_cv_published_files);
    test_run("cli/sweep_rows_equal_train", test_sweep_rows_equal_train);
    test_run("cli/cv_sweep_errors", test_cv_sweep_errors);
    test_run("cli/tune_helpers", test_tune_helpers);
    test_run("cli/dense_matches_sweep", test_dense_matches_sweep_cli);
    test_run("cli/divergence_stops", test_divergence_stops);
    test_run("cli/divergence_threads", test_divergence_threads);
    test_run("cli/lr_checks", test_lr_checks);
    test_run("cli/interrupt_saves_best", test_interrupt_saves_best);
    test_run("cli/term_and_hup_save_best", test_term_and_hup_save_best);
    test_run("cli/second_signal_ends_at_once", test_second_signal_ends_at_once);
    test_run("cli/save_failure_keeps_old_model", test_save_failure_keeps_old_model);
    test_run("cli/kill_mid_save", test_kill_mid_save);
    test_run("cli/write_errors_name_the_file", test_write_errors_name_the_file);
    test_run("cli/export_full_disk_keeps_old", test_export_full_disk_keeps_old);
    test_run("cli/export_replaces_symlinks", test_export_replaces_symlinks);
    test_run("cli/outputs_replace_symlinks", test_outputs_replace_symlinks);
    test_run("cli/history_never_half_written", test_history_never_half_written);
    test_run("cli/outputs_checked_first", test_outputs_checked_first);
    test_run("cli/replace_keeps_mode", test_replace_keeps_mode);
    test_run("cli/synth_full_disk_keeps_old", test_synth_full_disk_keeps_old);
    test_run("cli/resume", test_resume);
    test_run("cli/resume_continues_the_run", test_resume_continues_the_run);
    test_run("cli/resume_patience_and_v2", test_resume_patience_and_v2);
    test_run("cli/log_says_what_ended_the_run", test_log_says_what_ended_the_run);
    test_run("cli/mean_from_training_rows", test_mean_from_training_rows);
    test_run("cli/rowwise_adagrad_resumes", test_rowwise_adagrad_resumes);
    test_run("cli/ties_rule_stated", test_ties_rule_stated);
    test_run("cli/implicit_holdout_reads_times", test_implicit_holdout_reads_times);
    test_run("cli/recommend_rated_table", test_recommend_rated_table);
    test_run("cli/cfmodel_notebook_split", test_cfmodel_notebook_split);
    test_run("cli/odd_input_rules", test_odd_input_rules);
    test_run("cli/networks_ml_latest_small", test_networks_ml_latest_small);
    test_run("cli/version_and_help", test_version_and_help);
    test_run("cli/directories_as_paths", test_directories_as_paths);
    test_run("cli/model_used_elsewhere", test_model_used_elsewhere);
    test_run("cli/top_n_capped", test_top_n_capped);
    test_run("cli/control_characters_escaped", test_control_characters_escaped);
    test_run("cli/reference_agrees", test_reference_agrees);
    test_run("cli/reading_guide_matches_readme", test_reading_guide_matches_readme);
}
