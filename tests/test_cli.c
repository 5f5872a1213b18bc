/* tests/test_cli.c — the `embrec` command as a user runs it: help with
 * defaults, one-line errors with file and line, and a short training run.
 * Runs ./embrec from the repository root (make test builds it first). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <sys/wait.h>

#include "test.h"
#include "../nn.h"

static char out[1 << 16];

/* Run `ENV ./embrec ARGS 2>&1` (ENV: variable settings for the shell, or
 * ""), keep the output in out, return the exit status. */
static int embrec_env(const char *env, const char *args) {
    char cmd[4300];
    size_t n = 0, got;
    FILE *p;
    int status;
    snprintf(cmd, sizeof cmd, "%s ./embrec %s 2>&1", env, args);
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

static int embrec(const char *args) { return embrec_env("", args); }

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
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

/* Ctrl-C: the current batch finishes, the best weights so far are saved,
 * the exit status is 130 and the saved model loads. */
static void test_interrupt_saves_best(void) {
    char cmd[4096], model[600];
    snprintf(model, sizeof model, "%s", test_path("int.embrec"));
    snprintf(cmd, sizeof cmd, "sh -c './embrec train --data data/ratings.csv --model bias "
             "--dim 64 --epochs 100000 --batch 1 --optimizer adam --update dense-sweep "
             "--restore-best --no-progress --save %s 2>&1 & p=$!; sleep 1.5; kill -INT $p; "
             "wait $p; echo exit=$?'", model);
    {
        FILE *p = popen(cmd, "r");
        size_t n = 0, got;
        CHECK(p != NULL);
        if (!p) return;
        while (n + 1 < sizeof out && (got = fread(out + n, 1, sizeof out - 1 - n, p)) > 0) n += got;
        out[n] = '\0';
        pclose(p);
    }
    CHECK_HAS(out, "exit=130");
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

/* A process killed at a random moment while saving never leaves a partial
 * file under the model's name: after each kill the name holds a model that
 * loads, the old one or the new one. */
static void test_kill_mid_save(void) {
    char args[4096], model[600];
    int k, good = 0;
    snprintf(model, sizeof model, "%s", test_path("killed.embrec"));
    snprintf(args, sizeof args, "train --data data/ratings.csv --epochs 1 --quiet --save %s", model);
    CHECK_INT(embrec(args), 0);
    for (k = 0; k < 12; k++) {
        /* a 256-wide model takes a while to write; kill after 0-110 ms */
        snprintf(args, sizeof args, "sh -c './embrec train --data data/ratings.csv --epochs 1 "
                 "--dim 256 --quiet --seed %d --save %s & p=$!; sleep 0.%03d; kill -9 $p; "
                 "wait $p' >/dev/null 2>&1", k + 2, model, 10 * k);
        (void)system(args); /* killed or finished: either way the file must load */
        snprintf(args, sizeof args, "eval --model %s --data data/ratings.csv", model);
        if (embrec(args) == 0) good++;
        else test_fail(__FILE__, __LINE__, "after kill %d the model does not load: %s", k, out);
    }
    CHECK_INT(good, 12);
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
             "--epochs 1 --no-progress --save %s", first, second);
    CHECK_INT(embrec(args), 0);
    CHECK_HAS(out, "its adam state after 676 steps"); /* 2 epochs of ceil(10800 / 32) */
    loss = strstr(out, " - loss: ");
    resumed = loss ? atof(loss + 9) : 1e9;
    CHECK(resumed < fresh - 0.05);
    snprintf(args, sizeof args, "train --data data/ratings.csv --resume %s --dim 4 --save %s",
             first, second);
    CHECK_INT(embrec(args), 2);
    CHECK_HAS(out, "--resume continues the saved model as it is");
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
    test_run("cli/info_ml100k", test_info_ml100k);
    test_run("cli/train_eval_recommend", test_train_eval_recommend);
    test_run("cli/cfmodel_ml100k", test_cfmodel_ml100k);
    test_run("cli/deep_genre", test_deep_genre);
    test_run("cli/use_a_model", test_use_a_model);
    test_run("cli/pictures", test_pictures);
    test_run("cli/hybrid_ml100k", test_hybrid_ml100k);
    test_run("cli/cold_movie_from_features", test_cold_movie_from_features);
    test_run("cli/ablate_ml100k", test_ablate_ml100k);
    test_run("cli/dense_matches_sweep", test_dense_matches_sweep_cli);
    test_run("cli/divergence_stops", test_divergence_stops);
    test_run("cli/divergence_threads", test_divergence_threads);
    test_run("cli/interrupt_saves_best", test_interrupt_saves_best);
    test_run("cli/save_failure_keeps_old_model", test_save_failure_keeps_old_model);
    test_run("cli/kill_mid_save", test_kill_mid_save);
    test_run("cli/resume", test_resume);
    test_run("cli/odd_input_rules", test_odd_input_rules);
    test_run("cli/networks_ml_latest_small", test_networks_ml_latest_small);
}
