/* main.c — the `embrec` command line.
 *
 * Thin by design: each command parses its options into the library's
 * config structs (whose defaults come from mf_defaults, mf_train_defaults,
 * nn_optimizer_defaults and the recipes), calls data.c, mf.c and formats/,
 * and prints.
 * Every option error names the option and the value and exits with status 2;
 * data and model errors exit with status 1.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/synth.h"
#include "data.h"
#include "formats/history.h"
#ifndef EMBREC_REFERENCE
#include "fast/fast.h"
#endif
#include "formats/model_file.h"
#include "formats/npy.h"
#include "formats/numpy.h"
#include "formats/orders.h"
#include "formats/output.h"
#include "mf.h"
#include "nn.h"
#include "summary.h"
#include "tune.h"
#include "use/baselines.h"
#include "use/cold_start.h"
#include "use/many_users.h"
#include "use/ranking.h"
#include "viz.h"

#define EXIT_USAGE 2
#define PATH_BUF 4096 /* room for a path built from a user's path */

/* embrec's version: the command line's, the library's and the README's */
#define EMBREC_VERSION "0.13.0"

/* ------------------------------------------------------------ option parsing */

#define MAX_TRIED 160

typedef struct {
    int argc;
    char **argv;
    int k;              /* the argument being looked at */
    const char *cmd;    /* for messages: "train" */
    /* the option names compared with argv[tried_k], so that an unknown
     * option can suggest the nearest one the command has */
    const char *tried[MAX_TRIED];
    size_t n_tried;
    int tried_k;
} args;

static void usage_error(const args *a, const char *fmt, const char *s1, const char *s2) {
    fprintf(stderr, "embrec %s: ", a->cmd);
    fprintf(stderr, fmt, s1, s2);
    fprintf(stderr, "\n(see embrec %s --help)\n", a->cmd);
    exit(EXIT_USAGE);
}

/* prefix, then msg (which may quote bytes from a file) with its control
 * characters escaped, as one line on stderr */
static void print_error(const char *prefix, const char *msg) {
    fputs(prefix, stderr);
    viz_print_text(stderr, msg);
    fputc('\n', stderr);
}

/* a title or genres from a file, made safe for the terminal */
static void print_text(const char *s) {
    viz_print_text(stdout, s);
}

/* Remember that argv[k] was compared with name (see unknown_option). */
static void tried(args *a, const char *name) {
    if (a->tried_k != a->k) {
        a->tried_k = a->k;
        a->n_tried = 0;
    }
    if (a->n_tried < MAX_TRIED) a->tried[a->n_tried++] = name;
}

/* Is argv[k] the flag `name` (no value)? */
static int flag(args *a, const char *name) {
    tried(a, name);
    return strcmp(a->argv[a->k], name) == 0;
}

/* Is argv[k] `name VALUE` or `name=VALUE`? Then *val is VALUE. */
static int option(args *a, const char *name, const char **val) {
    const char *arg = a->argv[a->k];
    size_t n = strlen(name);
    tried(a, name);
    if (strncmp(arg, name, n) != 0) return 0;
    if (arg[n] == '=') {
        *val = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0') return 0;
    if (a->k + 1 >= a->argc) usage_error(a, "%s needs a value%s", name, "");
    *val = a->argv[++a->k];
    return 1;
}

static size_t parse_size(args *a, const char *name, const char *s, size_t min) {
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v < min || v > (unsigned long long)SIZE_MAX)
        usage_error(a, "%s: expected an integer >= %s", name,
                    min ? "1" : "0");
    return (size_t)v;
}

static double parse_real(args *a, const char *name, const char *s, double lo, double hi) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        char range[64];
        snprintf(range, sizeof range, "[%g, %g]", lo, hi);
        usage_error(a, "%s: expected a number in %s", name, range);
    }
    return v;
}

/* Levenshtein distance between a and b, stopping at limit + 1. */
static size_t edit_distance(const char *a, const char *b, size_t limit) {
    size_t la = strlen(a), lb = strlen(b), i, j, row[64];
    if (lb >= sizeof row / sizeof row[0] || (la > lb ? la - lb : lb - la) > limit) return limit + 1;
    for (j = 0; j <= lb; j++) row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* argv[k] is none of the command's options: say so, and name the nearest
 * option the command compared it with (at most two edits away, or the
 * only one it begins), as in "--epoch: did you mean --epochs?". */
static void unknown_option(const args *a) {
    const char *arg = a->argv[a->k], *best = NULL;
    size_t k, best_d = 3, prefixed = 0, len;
    char name[64];
    len = strcspn(arg, "=");
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), arg);
    for (k = 0; a->tried_k == a->k && k < a->n_tried; k++) {
        size_t d = edit_distance(name, a->tried[k], 2);
        if (d < best_d && 3 * d <= strlen(name)) {
            best_d = d;
            best = a->tried[k];
        }
    }
    if (!best && strlen(name) > 2) { /* "--neg": the one option it begins */
        const char *only = NULL;
        for (k = 0; a->tried_k == a->k && k < a->n_tried; k++)
            if (strncmp(a->tried[k], name, strlen(name)) == 0 && (!only || strcmp(only, a->tried[k]))) {
                only = a->tried[k];
                prefixed++;
            }
        if (prefixed == 1) best = only;
    }
    if (best) usage_error(a, "unknown option %s (did you mean %s?)", arg, best);
    usage_error(a, "unknown option %s%s", arg, "");
}

/* Options shared by every command that reads a ratings file. */
static int read_option(args *a, data_read_opts *ro) {
    const char *v;
    if (option(a, "--format", &v)) {
        if (data_format_parse(v, &ro->format) != 0)
            usage_error(a, "--format: unknown format \"%s\" (auto, udata, dat, csv, delim)", v, "");
    } else if (option(a, "--delim", &v)) {
        ro->delim = strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0 ? "\t" : v;
        if (!*ro->delim) usage_error(a, "--delim: empty delimiter%s%s", "", "");
        if (ro->format == DATA_FMT_AUTO) ro->format = DATA_FMT_DELIM;
    } else if (option(a, "--header", &v)) {
        if (strcmp(v, "yes") == 0) ro->header = 1;
        else if (strcmp(v, "no") == 0) ro->header = 0;
        else if (strcmp(v, "auto") == 0) ro->header = -1;
        else usage_error(a, "--header: expected yes, no or auto (got \"%s\")", v, "");
    } else if (option(a, "--user-col", &v)) ro->user_col = v;
    else if (option(a, "--item-col", &v)) ro->item_col = v;
    else if (option(a, "--rating-col", &v)) ro->rating_col = v;
    else if (option(a, "--time-col", &v)) ro->time_col = v;
    else if (flag(a, "--skip-bad")) ro->skip_bad = 1;
    else if (flag(a, "--cache")) ro->cache = "";
    else if (strncmp(a->argv[a->k], "--cache=", 8) == 0) {
        ro->cache = a->argv[a->k] + 8;
        if (!*ro->cache) usage_error(a, "--cache=: empty path%s%s", "", "");
    } else return 0;
    return 1;
}

static const char *read_help =
    "Input options (any command that reads ratings):\n"
    "  --format F        auto, udata (u.data), dat (ratings.dat), csv (ratings.csv),\n"
    "                    delim (any delimited file)                       [auto]\n"
    "  --delim D         field delimiter, e.g. ';', tab, '::'  (implies --format delim)\n"
    "  --header H        yes, no or auto                                  [auto]\n"
    "  --user-col C      user column by header name or 1-based number     [1]\n"
    "  --item-col C      item column                                      [2]\n"
    "  --rating-col C    rating column                                    [3]\n"
    "  --time-col C      timestamp column                                 [4 if present]\n"
    "  --skip-bad        skip malformed lines and report how many, instead of stopping\n"
    "  --cache[=PATH]    keep a binary copy of the parsed ratings (FILE.embrec-cache\n"
    "                    beside the file, or PATH for --data) and load it instead of\n"
    "                    parsing while the file and these options are unchanged\n";

/* A directory given as --data means the ratings file in it: ratings.csv
 * (latest, 20M, 25M, small), ratings.dat (1M, 10M) or u.data (100K). */
static const char *ratings_in(const char *path) {
    static const char *names[] = {"ratings.csv", "ratings.dat", "u.data"};
    static char found[8][1024];
    static int next;
    struct stat st;
    size_t k;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return path;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        char *buf = found[next % 8];
        snprintf(buf, sizeof found[0], "%s%s%s", path,
                 path[strlen(path) - 1] == '/' ? "" : "/", names[k]);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
            next++;
            return buf;
        }
    }
    fprintf(stderr, "embrec: %s: a directory with no ratings.csv, ratings.dat or u.data\n", path);
    exit(1);
}

/* Read a ratings file into the given maps; on error print it and exit 1. */
static void read_or_die(const char *path, const data_read_opts *ro, data_idmap *users,
                        data_idmap *items, data_ratings *out) {
    data_error err;
    data_read_report rep;
    path = ratings_in(path);
    memset(&rep, 0, sizeof rep);
    if (data_read_ratings(path, ro, users, items, out, &rep, &err) != 0) {
        print_error("embrec: ", err.msg);
        exit(1);
    }
    if (rep.cache_note[0]) fprintf(stderr, "embrec: %s\n", rep.cache_note);
    if (rep.skipped)
        fprintf(stderr, "embrec: %s: skipped %zu malformed line%s; the first: %s\n", path,
                rep.skipped, rep.skipped == 1 ? "" : "s", rep.first_error);
}

/* A second ratings file (--test) read with the same options: a cache named
 * by --cache=PATH belongs to --data, so this one keeps its own beside it. */
static data_read_opts second_file(const data_read_opts *ro) {
    data_read_opts o = *ro;
    if (o.cache) o.cache = "";
    return o;
}

static void die_oom(const char *cmd) {
    fprintf(stderr, "embrec %s: out of memory\n", cmd);
    exit(1);
}

static void die(const data_error *err) {
    print_error("embrec: ", err->msg);
    exit(1);
}

/* Before any work: path (when given) can be written, its directory there
 * and writable; else say so and exit 1, rather than fail after the work. */
static void check_output(const char *path) {
    data_error err;
    if (path && data_out_check_dir(path, &err) != 0) die(&err);
}

/* ------------------------------------------------------------ embrec info */

static int cmd_info(args *a) {
    data_read_opts ro = data_read_defaults();
    const char *path = NULL, *movies = NULL, *v;
    data_idmap users, items;
    data_ratings r;
    data_read_report rep;
    data_error err;
    data_stats st;
    data_user_items ui; /* each user's items, to count repeated pairs (a cache keeps them) */
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec info --data FILE [--movies FILE] [input options]\n\n"
                   "Prints the dataset's size, rating range and mean, and density.\n\n%s",
                   read_help);
            return 0;
        } else if (option(a, "--data", &v)) path = v;
        else if (option(a, "--movies", &v)) movies = v;
        else if (!read_option(a, &ro)) unknown_option(a);
    }
    if (!path && !movies) usage_error(a, "--data FILE is required%s%s", "", "");
    if (path) {
        path = ratings_in(path); /* a directory: the ratings file in it, as train reads it */
        data_idmap_init(&users);
        data_idmap_init(&items);
        data_ratings_init(&r);
        memset(&rep, 0, sizeof rep);
        ro.user_items = &ui;
        ro.no_time = 1; /* the statistics need no timestamps */
        if (data_read_ratings(path, &ro, &users, &items, &r, &rep, &err) != 0) die(&err);
        if (rep.cache_note[0]) fprintf(stderr, "embrec: %s\n", rep.cache_note);
        st = data_ratings_stats(&r, users.n, items.n);
        printf("file     %s\n", path);
        printf("format   %s\n", data_format_name(rep.format));
        printf("ratings  %zu\n", st.n);
        printf("users    %zu\n", st.users);
        printf("items    %zu\n", st.items);
        printf("rating   min %g, max %g, mean %.5f\n", st.min, st.max, st.mean);
        printf("density  %.4f%%\n", 100.0 * st.density);
        { /* repeated (user, movie) pairs are kept, one training example per line */
            size_t dup = r.n - ui.start[users.n];
            if (dup) printf("repeats  %zu lines repeat a (user, movie) pair; each is kept "
                            "as a rating of its own\n", dup);
            data_user_items_free(&ui);
        }
        if (rep.skipped)
            printf("skipped  %zu malformed lines (first: %s)\n", rep.skipped, rep.first_error);
        if (rep.cache != DATA_CACHE_OFF)
            printf("cache    %s\n", rep.cache == DATA_CACHE_LOADED    ? "loaded"
                                    : rep.cache == DATA_CACHE_WRITTEN ? "written"
                                    : rep.cache == DATA_CACHE_REBUILT ? "rebuilt"
                                                                      : "not used");
        data_ratings_free(&r);
        data_idmap_free(&users);
        data_idmap_free(&items);
    }
    if (movies) {
        data_movies mv;
        data_movies_init(&mv);
        if (data_read_movies(movies, &mv, &err) != 0) die(&err);
        printf("movies   %zu in %s\n", mv.n, movies);
        data_movies_free(&mv);
    }
    return 0;
}

/* ------------------------------------------------------------ embrec train */

typedef struct {
    const char *cmd;                           /* "train" or "ablate", for messages */
    const char *resume;                        /* --resume MODEL: continue its training */
    const char *data, *test, *save, *history, *movies;
    const char *users_file, *tags_file;        /* side information */
    const char *user_groups, *item_groups;     /* --user-features, --item-features */
    size_t top_tags;
    data_read_opts read;
    mf_config model;
    mf_train_config train;
    double val_split, holdout;
    int shuffle_first;
    int shuffle_numpy;      /* --shuffle numpy:SEED: NumPy's permutation, not nn_rng's */
    uint64_t numpy_seed;
    int mean_of_all;        /* --mean-of all: μ over the validation rows too */
    data_ties ties;         /* --ties: implicit, which latest row is held out */
    const char *init_from;  /* --init-from DIR: initial weights from .npy files */
    const char *batch_order; /* --batch-order FILE: each epoch's order of the training rows */
    const mf_recipe *recipe;
} train_options;

static train_options train_defaults(void) {
    train_options o;
    memset(&o, 0, sizeof o);
    o.read = data_read_defaults();
    o.model = mf_defaults();
    o.train = mf_train_defaults();
    o.save = "model.embrec";
    o.val_split = 0.1;
    o.shuffle_first = 1;
    o.top_tags = 3;
    return o;
}

/* every recipe's name, comma-separated, into buf */
static const char *recipe_names(char *buf, size_t size) {
    size_t n, k, used = 0;
    const mf_recipe *list = mf_recipes(&n);
    buf[0] = '\0';
    for (k = 0; k < n && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? ", " : "", list[k].name);
    return buf;
}

static void apply_recipe(train_options *o, const mf_recipe *r) {
    o->recipe = r;
    o->model = r->model;
    o->train.fit = r->fit;
    o->val_split = r->val_split;
    o->shuffle_first = r->shuffle_first;
    o->shuffle_numpy = r->shuffle_numpy;
    o->numpy_seed = r->numpy_seed;
    o->mean_of_all = r->mean_of_all;
}

/* text wrapped at width, continuation lines indented by indent */
static void print_wrapped(const char *text, int indent, int width) {
    const char *p = text;
    while (*p) {
        int room = width - indent, n = (int)strlen(p), cut = n;
        if (n > room) { /* break at the last space that fits */
            for (cut = room; cut > 0 && p[cut] != ' '; cut--) {}
            if (cut == 0) cut = room;
        }
        printf("%*s%.*s\n", indent, "", cut, p);
        p += cut;
        while (*p == ' ') p++;
    }
}

static void train_help(void) {
    train_options d = train_defaults();
    size_t n, k;
    const mf_recipe *rs = mf_recipes(&n);
    printf("usage: embrec train --data FILE [--recipe NAME] [options]\n\n"
           "Trains a model of user and movie embeddings and saves it.\n\n"
           "Data and protocol:\n"
           "  --data FILE        ratings to learn from (required)\n"
           "  --test FILE        a separate test file (e.g. u1.test), scored after training\n"
           "  --val-split F      last fraction of the rows validates each epoch  [%g]\n"
           "  --holdout F        seeded random fraction held out as a test set    [0]\n"
           "  --shuffle / --no-shuffle  shuffle the rows once before splitting    [%s]\n"
           "  --shuffle numpy:S  shuffle them as numpy.random.RandomState(S).permutation:\n"
           "                     row for row pandas' df.sample(frac=1, random_state=S)\n"
           "                     (cfmodel: numpy:1446557, notebook 003's own split;\n"
           "                     --shuffle embrec or --shuffle: embrec's generator, --seed)\n"
           "  --mean-of R        μ (centring, bias, the mean fallback) over the train\n"
           "                     rows or all of them, validation's too (mf8: all, as\n"
           "                     notebook 000 centred before splitting)          [train]\n"
           "  --seed N           seed for initial weights and shuffles           [%llu]\n"
           "  --init-from DIR    start from weights saved by NumPy: DIR/user_embedding.npy,\n"
           "                     item_embedding.npy, user_bias.npy, item_bias.npy,\n"
           "                     genre_embedding.npy, dense_1_kernel.npy (C, O),\n"
           "                     dense_1_bias.npy, dense_2_... (float32/64, C order;\n"
           "                     rows by raw id when DIR/user_ids.npy, item_ids.npy exist);\n"
           "                     a missing file keeps the model's own initial values\n"
           "  --batch-order B    each epoch's order of the training rows: a FILE with one\n"
           "                     permutation of 0..N-1 per line (or .npy (N,) / (E, N));\n"
           "                     one line serves every epoch. numpy:S: Keras's fit\n"
           "                     (shuffle=True) after np.random.seed(S)     [embrec's rng]\n"
           "  --save FILE        where to write the model                         [%s]\n"
           "  --resume MODEL     continue a saved model's run as if it had not stopped:\n"
           "                     its architecture, features, weights, optimiser and its\n"
           "                     state, epoch count, best val_loss and patience counter,\n"
           "                     split, seed, batch and shuffles; options given again\n"
           "                     override them, --epochs being the run's total. (Model\n"
           "                     files of version 1 keep no optimiser state, version 2\n"
           "                     no progress: the epochs count from 1.) Ratings of ids\n"
           "                     it does not have are left out\n"
           "  --history FILE     per-epoch CSV (epoch,loss,val_loss,...)\n"
           "  --quiet            no log\n"
           "  --no-progress      one line per epoch even on a terminal (no progress bar)\n\n"
           "Model:\n"
           "  --recipe NAME      a whole protocol, a notebook's or embrec's own (options\n"
           "                     after it override):\n",
           d.val_split, d.shuffle_first ? "shuffle" : "no-shuffle",
           (unsigned long long)d.train.fit.seed, d.save);
    for (k = 0; k < n; k++) {
        if (rs[k].notebook)
            printf("                       %s: notebook %s\n", rs[k].name, rs[k].notebook);
        else
            printf("                       %s: beyond the notebooks\n", rs[k].name);
        print_wrapped(rs[k].summary, 27, 79);
    }
    printf("  --model M          dot (p·q), bias (μ + b_u + b_i + p·q), svdpp (SVD++:\n"
           "                     bias whose user vector adds |N(u)|^-1/2 Σ y_j, the\n"
           "                     implicit factors of the movies u rated), deep (notebook\n"
           "                     002: user, movie, genre embeddings -> Dense layers),\n"
           "                     neumf (notebook 004: p ⊙ q -> Dense layers), or NCF's\n"
           "                     gmf, mlp and ncf (their fusion)                   [%s]\n"
           "  --dim K            embedding width                 [%zu; deep 50, neumf 100]\n"
           "  --centre / --no-centre  dot: predict μ + p·q (notebook 000)        [%s]\n"
           "  --l2 L             bias, svdpp: L2 weight λ on the rows each rating\n"
           "                     uses (svdpp: on p_u, q_i; on each y_j too, unless\n"
           "                     --l2-implicit is given)                          [%g]\n"
           "  --l2-implicit L    svdpp: L2 weight λ_y on each y_j of N(u)        [--l2's]\n"
           "  --init-limit A     embeddings start uniform in (-A, A)              [%g]\n"
           "  --hidden W,W,...   deep, neumf: hidden Dense widths   [deep 64,10; neumf 50]\n"
           "  --activation A     their activation: linear, relu, sigmoid, tanh\n"
           "                                                [deep relu; neumf linear]\n"
           "  --dropout-embed R  on the embeddings                 [deep 0.2; neumf 0.5]\n"
           "  --dropout-hidden R after each hidden layer           [deep 0.2; neumf 0.5]\n"
           "  --movies FILE      deep: genres per movie     [movies.csv/.dat or u.item beside --data]\n"
           "  --user-features G  hybrid (any model but ncf and svdpp): user features from\n"
           "                     u.user or users.dat (--users FILE): any of\n"
           "                     age,gender,occupation,zip\n"
           "  --item-features G  hybrid: any of genres,year,tags (the movies file, and\n"
           "                     tags.csv or --tags FILE; --top-tags N per movie [3]);\n"
           "                     users and movies without ratings are scored by features\n"
           "  --implicit         learn from interactions: BCE on each pair and sampled\n"
           "                     negatives; each user's latest item held out and ranked\n"
           "  --negatives N      implicit: negatives per positive each epoch      [%zu]\n"
           "  -k K               implicit: the K of HR@K and NDCG@K               [%zu]\n"
           "  --ties RULE        implicit: which of a user's interactions at their latest\n"
           "                     time is held out: last or first in the file, max-item\n"
           "                     (largest id) or random (--seed)                 [last]\n\n",
           mf_kind_name(d.model.kind), d.model.dim, d.model.centre ? "centre" : "no-centre",
           (double)d.model.l2, (double)d.model.init_limit, d.train.fit.negatives,
           d.train.fit.rank_k);
    printf("Optimiser (Keras 2.1.6 formulas):\n"
           "  --optimizer O      sgd, adam, adamax, or rowwise-adagrad: LIBMF's schedule,\n"
           "                     each row's rate lr/√G with G += mean g² (from 1)  [%s]\n"
           "  --lr R             learning rate, above 0   [Keras default: sgd 0.01, adam 0.001,\n"
           "                     adamax 0.002; rowwise-adagrad 0.1, as LIBMF's]\n"
           "  --lr-decay F       sgd: the rate times F after each epoch, F in (0, 1]\n"
           "                     (Koren's SVD++: 0.9); 1 = a constant rate         [1]\n"
           "  --beta1 B --beta2 B                                                 [0.9, 0.999]\n"
           "  --epsilon E                                                         [1e-07]\n"
           "  --update U         dense (Keras: every row moves every step; rows outside\n"
           "                     the batch catch up in closed form when next read),\n"
           "                     dense-sweep (the same, literally: every row, every\n"
           "                     step; the slow reference) or lazy (only the batch's\n"
           "                     rows move: LazyAdam)                          [%s]\n"
           "  --batch B          ratings per step                                 [%zu]\n"
           "  --epochs N         the run's total (with --resume too)              [%zu]\n"
           "  --patience P       early stopping on val_loss; 0 = off              [%zu]\n"
           "  --threads N        threads for training; 0 = every core              [1]\n"
           "                     dense, dense-sweep: each batch split into N shares,\n"
           "                       the same N gives the same result (data-parallel);\n"
           "                     lazy, and per-rating SGD (--optimizer sgd --batch 1):\n"
           "                       threads update shared tables without locks\n"
           "                       (Hogwild), so a run is not reproducible above 1\n"
           "  --blocks G         per-rating SGD on LIBMF's schedule: users and movies\n"
           "                     dealt into G groups (G at most the number of users\n"
           "                     and of movies), each epoch runs the G x G blocks\n"
           "                     in a random order, threads on blocks that share no\n"
           "                     group (no races; above 1 thread not reproducible)\n"
           "  --restore-best / --no-restore-best  keep the best epoch's weights   [%s]\n\n%s",
           nn_optimizer_name(d.train.fit.opt.kind), nn_update_name(d.train.fit.opt.update),
           d.train.fit.batch, d.train.fit.epochs, d.train.fit.patience,
           d.train.fit.restore_best ? "restore" : "no-restore", read_help);
}

/* "64,10" -> hidden widths */
static void parse_hidden(args *a, const char *v, mf_config *c) {
    const char *p = v;
    c->n_hidden = 0;
    if (strcmp(v, "none") == 0 || !*v) return;
    while (*p) {
        char *end;
        unsigned long w;
        errno = 0;
        w = strtoul(p, &end, 10);
        if (end == p || errno || w == 0 || w > 65536 || (*end && *end != ','))
            usage_error(a, "--hidden: expected widths like 64,10 (got \"%s\")", v, "");
        if (c->n_hidden == MF_MAX_HIDDEN)
            usage_error(a, "--hidden: at most %s layers (got \"%s\")", "8", v);
        c->hidden[c->n_hidden++] = w;
        p = *end ? end + 1 : end;
    }
}

/* The model's options, recorded in mg with set marking which were given
 * (applied by compose_model); 1 when argv[k] was one of them. */
static int model_option(args *a, mf_config *mg, mf_config *set) {
    const char *v;
    if (option(a, "--model", &v)) {
        if (mf_kind_parse(v, &mg->kind) != 0)
            usage_error(a, "--model: unknown model \"%s\" (dot, bias, svdpp, deep, neumf, gmf, mlp, "
                        "ncf)", v, "");
        set->kind = 1;
    } else if (option(a, "--dim", &v)) { mg->dim = parse_size(a, "--dim", v, 1); set->dim = 1; }
    else if (flag(a, "--centre") || flag(a, "--center")) { mg->centre = 1; set->centre = 1; }
    else if (flag(a, "--no-centre") || flag(a, "--no-center")) { mg->centre = 0; set->centre = 1; }
    else if (option(a, "--l2", &v)) { mg->l2 = (float)parse_real(a, "--l2", v, 0, 1e6); set->l2 = 1; }
    else if (option(a, "--l2-implicit", &v)) {
        mg->l2_implicit = (float)parse_real(a, "--l2-implicit", v, 0, 1e6);
        set->l2_implicit = 1;
    }
    else if (option(a, "--init-limit", &v)) {
        mg->init_limit = (float)parse_real(a, "--init-limit", v, 0, 1e3);
        set->init_limit = 1;
    } else if (option(a, "--hidden", &v)) { parse_hidden(a, v, mg); set->n_hidden = 1; }
    else if (option(a, "--activation", &v)) {
        if (nn_activation_parse(v, &mg->hidden_act) != 0)
            usage_error(a, "--activation: unknown activation \"%s\" (linear, relu, sigmoid, tanh)", v, "");
        set->hidden_act = 1;
    } else if (option(a, "--dropout-embed", &v)) {
        mg->dropout_embed = (float)parse_real(a, "--dropout-embed", v, 0, 0.99);
        set->dropout_embed = 1;
    } else if (option(a, "--dropout-hidden", &v)) {
        mg->dropout_hidden = (float)parse_real(a, "--dropout-hidden", v, 0, 0.99);
        set->dropout_hidden = 1;
    } else if (flag(a, "--implicit")) { mg->implicit = 1; set->implicit = 1; }
    else if (flag(a, "--explicit")) { mg->implicit = 0; set->implicit = 1; }
    else return 0;
    return 1;
}

/* 1 when any model option was given (set is all zero bytes otherwise) */
static int model_options_given(const mf_config *set) {
    static const mf_config none; /* zero */
    return memcmp(set, &none, sizeof none) != 0;
}

/* A model kind named on the command line starts from its own notebook's
 * architecture (unless the recipe already has that kind); values given
 * explicitly override either. */
static void compose_model(train_options *o, const mf_config *mg, const mf_config *set) {
    size_t l;
    if (set->kind && (!o->recipe || o->recipe->model.kind != mg->kind))
        o->model = mf_defaults_for(mg->kind);
    if (set->dim) o->model.dim = mg->dim;
    if (set->centre) o->model.centre = mg->centre;
    if (set->l2) o->model.l2 = mg->l2;
    if (set->l2_implicit || set->l2) /* λ_y is λ (Koren's) unless given */
        o->model.l2_implicit = set->l2_implicit ? mg->l2_implicit : mg->l2;
    if (set->init_limit) o->model.init_limit = mg->init_limit;
    if (set->n_hidden) {
        o->model.n_hidden = mg->n_hidden;
        for (l = 0; l < mg->n_hidden; l++) o->model.hidden[l] = mg->hidden[l];
    }
    if (set->hidden_act) o->model.hidden_act = mg->hidden_act;
    if (set->dropout_embed) o->model.dropout_embed = mg->dropout_embed;
    if (set->dropout_hidden) o->model.dropout_hidden = mg->dropout_hidden;
    if (set->implicit) o->model.implicit = mg->implicit;
}

/* SEED of "numpy:SEED": NumPy's seeds are 32-bit unsigned integers */
static uint64_t parse_numpy_seed(args *a, const char *name, const char *v, const char *as) {
    char *end;
    unsigned long long seed;
    errno = 0;
    seed = strtoull(v + 6, &end, 10);
    if (!v[6] || *end || errno || v[6] == '-' || seed > 0xffffffffull) {
        char what[160];
        snprintf(what, sizeof what, "%s %s", name, v);
        usage_error(a, "%s: the seed must be an integer in [0, 4294967295], as %s", what, as);
    }
    return seed;
}

/* --ties RULE: which of a user's latest interactions the implicit protocol holds out */
static data_ties_rule parse_ties(args *a, const char *v) {
    data_ties_rule rule = DATA_TIES_LAST;
    if (data_ties_parse(v, &rule) != 0)
        usage_error(a, "--ties: expected last, first, max-item or random (got \"%s\")%s", v, "");
    return rule;
}

/* --shuffle numpy:SEED (NumPy's legacy permutation) or --shuffle embrec */
static void parse_shuffle(args *a, const char *v, train_options *o) {
    o->shuffle_first = 1;
    o->shuffle_numpy = 0;
    if (strcmp(v, "embrec") == 0) return;
    if (strncmp(v, "numpy:", 6) == 0) {
        o->shuffle_numpy = 1;
        o->numpy_seed = parse_numpy_seed(a, "--shuffle", v, "numpy.random.RandomState takes");
        return;
    }
    usage_error(a, "--shuffle: expected numpy:SEED or embrec (got \"%s\")%s", v, "");
}

static void load_or_die(mf_model *m, const char *path);

/* --resume: the saved run's settings become the base that every other
 * option overrides, as a recipe's do: the optimiser and its values, and
 * (version 3) the epochs' total, batch, patience, seed, split and orders */
static void apply_resumed(train_options *o, const mf_model *m) {
    const mf_progress *pg = &m->progress;
    o->model = m->cfg;
    if (m->opt_state.present) o->train.fit.opt = m->opt_state.cfg;
    if (!pg->present) return; /* version 1 or 2: the defaults, as before */
    o->train.fit.epochs = pg->epochs;
    o->train.fit.batch = pg->batch;
    o->train.fit.patience = pg->patience;
    o->train.fit.restore_best = pg->restore_best;
    o->train.fit.seed = pg->seed;
    o->train.fit.negatives = pg->negatives;
    o->train.fit.rank_k = pg->rank_k;
    o->train.speed.blocks = pg->blocks;
    o->train.replay.order = pg->order == MF_ORDER_NUMPY ? MF_ORDER_NUMPY : MF_ORDER_EMBREC;
    o->train.replay.numpy_seed = pg->numpy_seed;
    o->train.fit.lr_decay = pg->lr_decay; /* the schedule goes on from epochs_done + 1 */
    o->val_split = pg->val_split;
    o->holdout = pg->holdout;
    o->shuffle_first = pg->shuffle != 0;
    o->shuffle_numpy = pg->shuffle == 2;
    o->numpy_seed = pg->shuffle_seed;
}

/* A resumed run must have epochs left, and patience left: say what to give. */
static void check_resumable(args *a, const train_options *o, const mf_model *m) {
    const mf_progress *pg = &m->progress;
    char what[160];
    if (!pg->present) return;
    if (pg->order == MF_ORDER_GIVEN && o->train.replay.order != MF_ORDER_GIVEN)
        usage_error(a, "--resume %s: its run took each epoch's order from --batch-order FILE, "
                       "which the model does not keep: give it again%s", o->resume, "");
    if (o->train.fit.epochs <= pg->epochs_done) {
        snprintf(what, sizeof what, "%zu of %zu", pg->epochs_done, pg->epochs);
        usage_error(a, "--resume %s: it has trained %s epochs; give the run's new total with "
                       "--epochs (the total, not the epochs to add)", o->resume, what);
    }
    if (o->train.fit.patience && pg->wait >= o->train.fit.patience) {
        snprintf(what, sizeof what, "%zu epoch%s without a better %s (patience %zu)", pg->wait,
                 pg->wait == 1 ? "" : "s", m->cfg.implicit ? "HR" : "val_loss",
                 o->train.fit.patience);
        usage_error(a, "--resume %s: its run stopped early, %s; give a larger --patience, or 0",
                    o->resume, what);
    }
}

static void parse_train(args *a, train_options *o, mf_model *resumed) {
    const char *v;
    int lr_set = 0, eps_set = 0, b1_set = 0, b2_set = 0;
    nn_optimizer_config given;
    const nn_optimizer_config *base_opt = NULL; /* the recipe's or the saved optimiser */
    mf_config mg;  /* model values given on the command line... */
    mf_config mg_set; /* ...and which of them (a field is non-zero when given) */
    memset(&mg, 0, sizeof mg);
    memset(&mg_set, 0, sizeof mg_set);
    /* a recipe (or a resumed run) first, wherever it stands, so that every
     * other option overrides it */
    for (a->k = 2; a->k < a->argc; a->k++)
        if (option(a, "--recipe", &v)) {
            const mf_recipe *r = mf_recipe_find(v);
            if (!r) {
                char names[256];
                usage_error(a, "--recipe: unknown recipe \"%s\" (%s)", v,
                            recipe_names(names, sizeof names));
            }
            apply_recipe(o, r);
            base_opt = &r->fit.opt;
        } else if (option(a, "--resume", &v)) {
            o->resume = v;
        }
    if (o->resume && !resumed)
        usage_error(a, "--resume: %s trains every variant from scratch%s", a->cmd, "");
    if (o->resume && o->recipe)
        usage_error(a, "--resume continues the saved model as it is: its architecture, "
                       "features and weights come from %s%s", o->resume, "");
    if (o->resume) {
        load_or_die(resumed, o->resume);
        apply_resumed(o, resumed);
        if (resumed->opt_state.present) base_opt = &resumed->opt_state.cfg;
    }
    memset(&given, 0, sizeof given);
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            train_help();
            exit(0);
        } else if (option(a, "--recipe", &v)) { /* applied above */
        } else if (option(a, "--data", &v)) o->data = v;
        else if (option(a, "--test", &v)) o->test = v;
        else if (option(a, "--save", &v)) o->save = v;
        else if (option(a, "--resume", &v)) { /* read above */
        }
        else if (option(a, "--history", &v)) o->history = v;
        else if (option(a, "--val-split", &v)) o->val_split = parse_real(a, "--val-split", v, 0, 0.99);
        else if (option(a, "--holdout", &v)) o->holdout = parse_real(a, "--holdout", v, 0, 0.99);
        else if (strncmp(a->argv[a->k], "--shuffle=", 10) == 0 ||
                 (flag(a, "--shuffle") && a->k + 1 < a->argc &&
                  (strncmp(a->argv[a->k + 1], "numpy:", 6) == 0 ||
                   strcmp(a->argv[a->k + 1], "embrec") == 0))) {
            option(a, "--shuffle", &v);
            parse_shuffle(a, v, o);
        } else if (flag(a, "--shuffle")) {
            o->shuffle_first = 1;
            o->shuffle_numpy = 0;
        }
        else if (flag(a, "--no-shuffle")) o->shuffle_first = 0;
        else if (option(a, "--ties", &v)) o->ties.rule = parse_ties(a, v);
        else if (option(a, "--mean-of", &v)) {
            if (strcmp(v, "all") != 0 && strcmp(v, "train") != 0)
                usage_error(a, "--mean-of: expected train or all (got \"%s\")%s", v, "");
            o->mean_of_all = strcmp(v, "all") == 0;
        }
        else if (option(a, "--seed", &v)) o->train.fit.seed = parse_size(a, "--seed", v, 0);
        else if (option(a, "--init-from", &v)) o->init_from = v;
        else if (option(a, "--batch-order", &v)) {
            if (strncmp(v, "numpy:", 6) == 0) {
                o->train.replay.order = MF_ORDER_NUMPY;
                o->train.replay.numpy_seed = parse_numpy_seed(a, "--batch-order", v, "np.random.seed takes");
                o->batch_order = NULL;
            } else {
                o->train.replay.order = MF_ORDER_GIVEN;
                o->batch_order = v;
            }
        }
        else if (flag(a, "--quiet")) o->train.session.verbose = 0;
        else if (flag(a, "--no-progress")) o->train.session.verbose = 1;
        else if (option(a, "--movies", &v)) o->movies = v;
        else if (option(a, "--users", &v)) o->users_file = v;
        else if (option(a, "--tags", &v)) o->tags_file = v;
        else if (option(a, "--user-features", &v)) o->user_groups = v;
        else if (option(a, "--item-features", &v)) o->item_groups = v;
        else if (option(a, "--top-tags", &v)) o->top_tags = parse_size(a, "--top-tags", v, 1);
        else if (model_option(a, &mg, &mg_set)) { /* recorded in mg */
        }
        else if (option(a, "--optimizer", &v)) {
            nn_optimizer_kind kind;
            if (nn_optimizer_parse(v, &kind) != 0)
                usage_error(a, "--optimizer: unknown optimiser \"%s\" (sgd, adam, adamax, "
                               "rowwise-adagrad)", v, "");
            o->train.fit.opt.kind = kind;
        } else if (option(a, "--lr-decay", &v)) {
            o->train.fit.lr_decay = parse_real(a, "--lr-decay", v, 0, 1);
            if (!(o->train.fit.lr_decay > 0)) /* 0 would stop training after an epoch */
                usage_error(a, "--lr-decay: the factor must be above 0 (got \"%s\")%s", v, "");
        } else if (option(a, "--lr", &v)) {
            given.lr = (float)parse_real(a, "--lr", v, 0, 1e3);
            if (!(given.lr > 0)) /* 0 (or a value that rounds to it) would train nothing */
                usage_error(a, "--lr: the learning rate must be above 0 (got \"%s\")%s", v, "");
            lr_set = 1;
        }
        else if (option(a, "--beta1", &v)) { given.beta1 = (float)parse_real(a, "--beta1", v, 0, 0.999999); b1_set = 1; }
        else if (option(a, "--beta2", &v)) { given.beta2 = (float)parse_real(a, "--beta2", v, 0, 0.999999); b2_set = 1; }
        else if (option(a, "--epsilon", &v)) { given.epsilon = (float)parse_real(a, "--epsilon", v, 0, 1); eps_set = 1; }
        else if (option(a, "--update", &v)) {
            if (nn_update_parse(v, &o->train.fit.opt.update) != 0)
                usage_error(a, "--update: unknown mode \"%s\" (dense, dense-sweep, lazy)", v, "");
        } else if (option(a, "--batch", &v)) o->train.fit.batch = parse_size(a, "--batch", v, 1);
        else if (option(a, "--epochs", &v)) o->train.fit.epochs = parse_size(a, "--epochs", v, 1);
        else if (option(a, "--patience", &v)) o->train.fit.patience = parse_size(a, "--patience", v, 0);
        else if (option(a, "--blocks", &v)) o->train.speed.blocks = parse_size(a, "--blocks", v, 1);
        else if (option(a, "--threads", &v)) {
            o->train.speed.threads = parse_size(a, "--threads", v, 0);
            if (o->train.speed.threads == 0) o->train.speed.threads = nn_cores();
        }
        else if (option(a, "--negatives", &v)) o->train.fit.negatives = parse_size(a, "--negatives", v, 1);
        else if (option(a, "-k", &v) || option(a, "--rank-k", &v))
            o->train.fit.rank_k = parse_size(a, "-k", v, 1);
        else if (flag(a, "--restore-best")) o->train.fit.restore_best = 1;
        else if (flag(a, "--no-restore-best")) o->train.fit.restore_best = 0;
        else if (!read_option(a, &o->read))
            unknown_option(a);
    }
#ifdef EMBREC_REFERENCE /* (the speed machinery's options; the reference build has none) */
    if (o->train.speed.blocks)
        usage_error(a, "--blocks: the reference build has no blocks (LIBMF's schedule is speed "
                       "machinery: `make` builds embrec with it)%s%s", "", "");
    if (o->train.speed.threads > 1)
        usage_error(a, "--threads: the reference build trains on one thread%s%s", "", "");
#endif
    if (!o->data) usage_error(a, "--data FILE is required%s%s", "", "");
    o->data = ratings_in(o->data);
    if (o->resume && (model_options_given(&mg_set) || o->init_from || o->user_groups ||
                      o->item_groups))
        usage_error(a, "--resume continues the saved model as it is: its architecture, "
                       "features and weights come from %s%s", o->resume, "");
    compose_model(o, &mg, &mg_set);
    {
        /* a changed optimiser starts from its own Keras defaults unless the
         * recipe (or the resumed run) already chose that optimiser; explicit
         * values win */
        nn_optimizer_kind kind = o->train.fit.opt.kind;
        nn_update_mode update = o->train.fit.opt.update;
        if (!base_opt || base_opt->kind != kind)
            o->train.fit.opt = nn_optimizer_defaults(kind);
        o->train.fit.opt.update = update;
        if (lr_set) o->train.fit.opt.lr = given.lr;
        if (b1_set) o->train.fit.opt.beta1 = given.beta1;
        if (b2_set) o->train.fit.opt.beta2 = given.beta2;
        if (eps_set) o->train.fit.opt.epsilon = given.epsilon;
    }
    if (o->resume) {
        check_resumable(a, o, resumed);
        o->train.session.resume = 1;
    }
}

static void print_metrics(const char *label, const mf_metrics *mt, const mf_metrics *base) {
    printf("%s: RMSE %.4f  MAE %.4f  on %zu ratings", label, mt->rmse, mt->mae, mt->n);
    if (mt->unknown) printf(" (%zu with an unseen user or item, predicted the mean)", mt->unknown);
    printf("\n");
    if (base)
        printf("%*s  global-mean baseline: RMSE %.4f  MAE %.4f\n", (int)strlen(label), "",
               base->rmse, base->mae);
}

/* The first of names (NULL-terminated) that exists in the ratings file's
 * directory, written into buf; NULL when none does. */
static const char *beside(const char *ratings, const char *const *names, char *buf, size_t size) {
    const char *slash = strrchr(ratings, '/');
    int dir_len = slash ? (int)(slash - ratings) + 1 : 0;
    struct stat st;
    for (; *names; names++) {
        snprintf(buf, size, "%.*s%s", dir_len, ratings, *names);
        if (stat(buf, &st) == 0) return buf;
    }
    return NULL;
}

/* movies.csv, movies.dat or u.item beside the ratings file, if any */
static const char *find_movies(const char *ratings, char *buf, size_t size) {
    static const char *const names[] = {"movies.csv", "movies.dat", "u.item", NULL};
    return beside(ratings, names, buf, size);
}

/* The deep model's third input: each item's genre string as a category of
 * its own, read from --movies or the movies file beside --data. */

/* The files side information comes from: user metadata, movies and tags. */
typedef struct {
    data_users users;     /* n 0 when not read */
    data_movies movies;
    data_tags tags;
    int has_users, has_movies, has_tags;
} side_files;

static void side_files_free(side_files *s) {
    data_users_free(&s->users);
    data_movies_free(&s->movies);
    data_tags_free(&s->tags);
}

/* Read what the groups need: u.user or users.dat for user groups, the
 * movies file for item groups, tags.csv when "tags" is asked for (each
 * found beside --data unless named). Exits with a message when a needed
 * file is missing or malformed. */
static void read_side_files(const train_options *o, const char *user_groups,
                            const char *item_groups, side_files *s) {
    static const char *const user_names[] = {"u.user", "users.dat", NULL};
    static const char *const tag_names[] = {"tags.csv", NULL};
    char buf[PATH_BUF];
    const char *path;
    data_error err;
    data_users_init(&s->users);
    data_movies_init(&s->movies);
    data_tags_init(&s->tags);
    s->has_users = s->has_movies = s->has_tags = 0;
    if (user_groups && *user_groups) {
        path = o->users_file ? o->users_file : beside(o->data, user_names, buf, sizeof buf);
        if (!path) {
            fprintf(stderr, "embrec %s: user features need user metadata: no u.user or "
                            "users.dat beside %s (give --users FILE)\n", o->cmd, o->data);
            exit(1);
        }
        if (data_read_users(path, &s->users, &err) != 0) die(&err);
        s->has_users = 1;
    }
    if (item_groups && *item_groups) {
        path = o->movies ? o->movies : find_movies(o->data, buf, sizeof buf);
        if (!path) {
            fprintf(stderr, "embrec %s: item features need a movies file beside %s "
                            "(give --movies FILE)\n", o->cmd, o->data);
            exit(1);
        }
        if (data_read_movies(path, &s->movies, &err) != 0) die(&err);
        s->has_movies = 1;
        if (strstr(item_groups, "tags")) {
            path = o->tags_file ? o->tags_file : beside(o->data, tag_names, buf, sizeof buf);
            if (!path) {
                fprintf(stderr, "embrec %s: the tags feature needs tags.csv beside %s "
                                "(give --tags FILE)\n", o->cmd, o->data);
                exit(1);
            }
            if (data_read_tags(path, o->top_tags, &s->tags, &err) != 0) die(&err);
            s->has_tags = 1;
        }
    }
}

/* Features of each row of users and items for the given groups (either may
 * be NULL or empty: no features on that side). */
static void build_features(const side_files *s, const data_idmap *users, const data_idmap *items,
                           const char *user_groups, const char *item_groups, data_features *uf,
                           data_features *itf) {
    data_error err;
    data_features_init(uf);
    data_features_init(itf);
    if (user_groups && *user_groups &&
        data_user_features(&s->users, users, user_groups, uf, &err) != 0)
        die(&err);
    if (item_groups && *item_groups &&
        data_item_features(&s->movies, s->has_tags ? &s->tags : NULL, items, item_groups, itf,
                           &err) != 0)
        die(&err);
}

/* The hybrid model's features, from --user-features and --item-features.
 * Every user of the users file and every movie of the movies file gets a
 * row first, so that one nobody rated is still scored, from its features
 * alone (a cold row). */
static void load_features(const train_options *o, data_idmap *users, data_idmap *items,
                          data_features *uf, data_features *itf) {
    side_files s;
    size_t k;
    read_side_files(o, o->user_groups, o->item_groups, &s);
    for (k = 0; s.has_users && k < s.users.n; k++)
        if (data_idmap_intern(users, s.users.id[k]) < 0) die_oom(o->cmd);
    for (k = 0; s.has_movies && k < s.movies.n; k++)
        if (data_idmap_intern(items, s.movies.id[k]) < 0) die_oom(o->cmd);
    build_features(&s, users, items, o->user_groups, o->item_groups, uf, itf);
    side_files_free(&s);
}

static int load_genres(const train_options *o, const data_idmap *items, uint32_t **item_genre,
                       size_t *n_genres) {
    char buf[PATH_BUF];
    const char *path = o->movies ? o->movies : find_movies(o->data, buf, sizeof buf);
    data_movies mv;
    data_error err;
    if (!path) {
        fprintf(stderr, "embrec %s: the deep model needs movie genres: no movies.csv, "
                        "movies.dat or u.item beside %s (give --movies FILE)\n", o->cmd, o->data);
        return -1;
    }
    data_movies_init(&mv);
    if (data_read_movies(path, &mv, &err) != 0) die(&err);
    *item_genre = malloc((items->n ? items->n : 1) * sizeof **item_genre);
    if (!*item_genre || data_genre_index(&mv, items, *item_genre, n_genres, &err) != 0) die(&err);
    data_movies_free(&mv);
    return 0;
}

/* HR, NDCG, precision and recall of the model and of the most-popular
 * baseline, on the same held-out rows and the same sampled negatives */
/* ties: the rule that chose the held-out rows when they are each user's
 * latest (NULL: test rows given otherwise) */
static void print_ranking(const mf_model *m, const data_ratings *train, const data_ratings *test,
                          size_t k, uint64_t seed, const data_ties *ties) {
    mf_ranking r, p;
    data_error err;
    if (mf_rank_all(m, train, test, k, 99, seed, &r, &err) != 0 ||
        mf_rank_popularity(m->n_users, m->n_items, train, test, k, 99, seed, &p, &err) != 0)
        die(&err);
    printf("Ranking %zu held-out items of %zu users (NCF protocol, K = %zu):\n", r.rows,
           r.users, k);
    if (ties)
        printf("  (each user's latest interaction; at equal times %s: --ties %s)\n",
               data_ties_words(ties->rule), data_ties_name(ties->rule));
    printf("  %-12s %-19s %-37s\n", "", "vs 99 sampled", "vs every unseen item");
    printf("  %-12s %-9s %-9s %-9s %-9s %-9s %-9s\n", "", "HR", "NDCG", "HR", "NDCG",
           "precision", "recall");
    printf("  %-12s %-9.4f %-9.4f %-9.4f %-9.4f %-9.4f %-9.4f\n", mf_kind_name(m->cfg.kind),
           r.hr, r.ndcg, r.hr_all, r.ndcg_all, r.precision, r.recall);
    printf("  %-12s %-9.4f %-9.4f %-9.4f %-9.4f %-9.4f %-9.4f\n", "popularity", p.hr, p.ndcg,
           p.hr_all, p.ndcg_all, p.precision, p.recall);
}

/* Ctrl-C (SIGINT), SIGTERM (kill, a service manager) and SIGHUP (the
 * terminal closed) during training: the first asks mf_train to stop after
 * the current batch (the best weights so far are then saved, and the exit
 * status is 128 + the signal); a second ends the process at once. */
static volatile sig_atomic_t interrupted = 0; /* the first such signal, or 0 */
static const int stop_signals[3] = {SIGINT, SIGTERM, SIGHUP};
static struct sigaction default_action; /* SIG_DFL, made ready before any handler runs */

static void on_interrupt(int sig) {
    size_t k;
    interrupted = sig;
    for (k = 0; k < 3; k++) /* the next one ends the process */
        sigaction(stop_signals[k], &default_action, NULL);
}

static void catch_interrupt(void) {
    struct sigaction sa, old;
    size_t k;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask); /* while one is handled the others wait, then meet SIG_DFL */
    for (k = 0; k < 3; k++) sigaddset(&sa.sa_mask, stop_signals[k]);
    for (k = 0; k < 3; k++) {
        /* nohup: a hangup that was ignored when embrec started stays ignored */
        if (stop_signals[k] == SIGHUP && sigaction(SIGHUP, NULL, &old) == 0 &&
            old.sa_handler == SIG_IGN)
            continue;
        sigaction(stop_signals[k], &sa, NULL);
    }
}

/* mf_train stopped early: say why; save the weights it kept if they are
 * finite (an interrupted run's best so far), else leave the model file as it
 * was. Exit status 128 + the signal for an interruption (as a shell reports
 * it: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), 1 for divergence. */
static int training_halted(mf_model *model, const char *save, const data_error *why, int rc) {
    data_error err;
    fflush(stdout);
    print_error("embrec train: ", why->msg);
    if (!mf_weights_finite(model)) {
        fprintf(stderr, "embrec train: no model saved (its weights are not finite); %s is "
                        "left as it was\n", save);
    } else if (mf_save(model, save, &err) != 0) {
        fprintf(stderr, "embrec: %s\n", err.msg);
    } else {
        fprintf(stderr, "embrec train: saved %s\n", save);
    }
    mf_free(model);
    return rc == MF_TRAIN_STOPPED ? 128 + (int)interrupted : 1;
}

/* A best epoch that predicts worse than the training mean learned nothing
 * worth having. Worse than the initial weights too (initial: their
 * val_loss), training made it worse: most often a learning rate too large
 * for the data (AdaMax's steps are bounded by it, so the weights wander
 * without the loss turning NaN). Better than those, it was learning but
 * stopped short. A warning: the run did what was asked. */
static void warn_if_worse_than_mean(const mf_model *m, const mf_history *h,
                                    const data_ratings *val, double initial) {
    double best, mean;
    if (!h->n || !val->n || m->cfg.implicit) return;
    best = h->epoch[h->best].val_loss;
    mean = mf_evaluate_mean(m->mean, val).mse;
    if (!(best > mean)) return;
    fflush(stdout);
    if (best < initial)
        fprintf(stderr, "embrec: warning: the best val_loss %.4f is worse than predicting the "
                        "mean (%.4f), though better than the initial weights' (%.4f): train "
                        "longer (--epochs)\n", best, mean, initial);
    else
        fprintf(stderr, "embrec: warning: the best val_loss %.4f is worse than predicting the "
                        "mean (%.4f): try a smaller --lr\n", best, mean);
}

/* The training data as the model remembers it: an absolute path, so that
 * recommend and similar find it (and the movies beside it) from any
 * directory; "" for standard input. */
static void source_path(const char *data, char *buf, size_t size) {
    char *abs = strcmp(data, "-") == 0 ? NULL : realpath(data, NULL);
    snprintf(buf, size, "%s", strcmp(data, "-") == 0 ? "" : abs && strlen(abs) < size ? abs : data);
    free(abs);
}

static void load_or_die(mf_model *m, const char *path) {
    data_error err;
    if (mf_load(m, path, &err) != 0) die(&err);
}

/* Drop the rows whose user or item is beyond the model's (a resumed model
 * cannot learn ids it does not have); returns how many were dropped. */
static size_t keep_known_rows(data_ratings *r, size_t n_users, size_t n_items) {
    size_t k, kept = 0, n = r->n;
    for (k = 0; k < n; k++)
        if (r->user[k] < n_users && r->item[k] < n_items) {
            r->user[kept] = r->user[k];
            r->item[kept] = r->item[k];
            r->rating[kept] = r->rating[k];
            if (r->time) r->time[kept] = r->time[k];
            kept++;
        }
    r->n = kept;
    return n - kept;
}

/* What a resumed run takes up: the optimiser's state (a different kind
 * starts afresh: a warning, as it is not what the saved run would have
 * done), and where the run stood. */
static void say_resuming(const mf_model *m, const train_options *o) {
    const mf_progress *pg = &m->progress;
    const char *kind = nn_optimizer_name(o->train.fit.opt.kind);
    if (m->opt_state.present && m->opt_state.cfg.kind != o->train.fit.opt.kind) {
        fflush(stdout);
        fprintf(stderr, "embrec: warning: %s was trained with %s: its optimiser state is "
                        "dropped, and %s starts afresh\n", o->resume,
                nn_optimizer_name(m->opt_state.cfg.kind), kind);
    }
    if (!o->train.session.verbose) return;
    if (m->opt_state.present && m->opt_state.cfg.kind == o->train.fit.opt.kind)
        printf("resuming %s: its %s state after %llu steps\n", o->resume, kind,
               (unsigned long long)m->opt_state.t);
    else if (!m->opt_state.present) /* (version 1: there is none to take up) */
        printf("resuming %s: its weights, with a fresh %s optimiser\n", o->resume, kind);
    if (!pg->present)
        printf("resuming %s: the epochs count from 1 (a model file of version 1 or 2 does "
               "not keep its run's progress)\n", o->resume);
    else if (!pg->best_epoch)
        printf("resuming %s at epoch %zu of %zu\n", o->resume, pg->epochs_done + 1,
               o->train.fit.epochs);
    else
        printf("resuming %s at epoch %zu of %zu: best %s %.4f at epoch %zu, %zu epoch%s "
               "since\n", o->resume, pg->epochs_done + 1, o->train.fit.epochs,
               m->cfg.implicit ? "HR" : "val_loss",
               m->cfg.implicit ? pg->best.hr : pg->best.val_loss, pg->best_epoch, pg->wait,
               pg->wait == 1 ? "" : "s");
}

/* The split a run used, kept with its progress so that a resumed run
 * validates on the same rows */
static void record_protocol(mf_model *m, const train_options *o) {
    m->progress.val_split = o->val_split;
    m->progress.holdout = o->holdout;
    m->progress.shuffle = !o->shuffle_first ? 0 : o->shuffle_numpy ? 2 : 1;
    m->progress.shuffle_seed = o->numpy_seed;
}

/* --blocks G deals the users and the movies into G groups each: a group
 * with no one in it makes no sense, so G may not exceed either count. */
static void check_blocks(const args *a, size_t blocks, const mf_model *m) {
    size_t most = m->n_users < m->n_items ? m->n_users : m->n_items;
    char got[32], limit[96];
    if (blocks <= most) return;
    snprintf(got, sizeof got, "%zu", blocks);
    snprintf(limit, sizeof limit, "%zu here, the number of %s", most,
             m->n_users < m->n_items ? "users" : "movies");
    usage_error(a, "--blocks %s: at most %s (each group needs at least one)", got, limit);
}

/* The rows of one run, as train splits them. */
typedef struct {
    data_ratings rest;   /* training and validation rows: all but the test rows */
    data_ratings test;   /* --test's rows, or --holdout's */
    data_ratings train, val;
    int train_view;      /* 1: train is a view of rest's first rows (never freed) */
} run_rows;

static void run_rows_init(run_rows *r) {
    data_ratings_init(&r->rest);
    data_ratings_init(&r->test);
    data_ratings_init(&r->train);
    data_ratings_init(&r->val);
    r->train_view = 0;
}

static void run_rows_free(run_rows *r) {
    data_ratings_free(&r->rest);
    data_ratings_free(&r->test);
    if (!r->train_view) data_ratings_free(&r->train);
    data_ratings_free(&r->val);
    r->train_view = 0;
}

/* train's protocol on the rows of all, which r takes over (all is left
 * empty): [shuffle once] → [random holdout test] → the last val_split
 * validates. An implicit model holds out each user's latest row instead,
 * unshuffled: its ties break by file order, so shuffling first would make
 * the held-out set depend on the seed. 0, or -1 when out of memory. */
static int split_rows(const train_options *o, const data_idmap *items, size_t n_users,
                      data_ratings *all, nn_rng *rng, run_rows *r) {
    data_ties ties = o->ties; /* which latest row is held out (implicit) */
    data_error err;
    ties.item_raw = items->raw;
    ties.seed = o->train.fit.seed;
    if (o->shuffle_first && !o->model.implicit && o->shuffle_numpy) {
        /* df.sample(frac=1, random_state=SEED): row k is the old row perm[k] */
        uint32_t *perm = malloc((all->n ? all->n : 1) * sizeof *perm);
        int rc;
        if (!perm) return -1;
        if (data_np_permutation(perm, all->n, o->numpy_seed, &err) != 0) die(&err);
        rc = data_ratings_permute(all, perm);
        free(perm);
        if (rc != 0) return -1;
    } else if (o->shuffle_first && !o->model.implicit && data_ratings_shuffle(all, rng) != 0) {
        return -1;
    }
    if (o->holdout > 0) {
        if (data_split_random(all, o->holdout, rng, &r->rest, &r->test) != 0) return -1;
        data_ratings_free(all);
    } else { /* every row is for training and validation: take them over */
        r->rest = *all;
        data_ratings_init(all);
    }
    if (o->model.implicit) /* NCF: each user's latest interaction is held out */
        return data_split_latest(&r->rest, n_users, &ties, &r->train, &r->val);
    if (data_split_tail_view(&r->rest, o->val_split, &r->train, &r->val) != 0) return -1;
    r->train_view = 1; /* train: rest's first rows, not a copy (one copy of the ratings) */
    return 0;
}

/* --batch-order FILE: one permutation of the epoch's samples per line, for
 * a run of n_train training rows. 0, or -1 after saying why. */
static int load_batch_order(train_options *o, size_t n_train) {
    uint32_t *orders;
    size_t n_orders;
    size_t N = o->model.implicit ? n_train * (1 + o->train.fit.negatives) : n_train;
    data_error err;
    if (!o->batch_order) return 0;
    if (data_read_orders(o->batch_order, N, &orders, &n_orders, &err) != 0) die(&err);
    if (n_orders > 1 && n_orders < o->train.fit.epochs) {
        fprintf(stderr, "embrec: %s: %zu permutations for %zu epochs (give one, used every "
                        "epoch, or one per epoch)\n", o->batch_order, n_orders, o->train.fit.epochs);
        free(orders);
        return -1;
    }
    o->train.replay.orders = orders;
    o->train.replay.n_orders = n_orders;
    o->train.replay.order_n = N;
    return 0;
}

/* --init-from DIR: the model's initial weights from NumPy's files there.
 * 0, or -1 after saying why. */
static int load_initial_weights(const train_options *o, mf_model *model) {
    size_t loaded;
    struct stat st;
    data_error err;
    if (stat(o->init_from, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "embrec: %s: not a directory (--init-from)\n", o->init_from);
        return -1;
    }
    if (mf_load_weights(model, o->init_from, &loaded, &err) != 0) die(&err);
    if (loaded == 0) {
        fprintf(stderr, "embrec: %s: none of the model's weight files is there "
                        "(user_embedding.npy, item_embedding.npy, ...)\n", o->init_from);
        return -1;
    }
    if (o->train.session.verbose)
        printf("initial weights: %zu of %zu arrays from %s\n", loaded, model->params.n_tensors,
               o->init_from);
    return 0;
}

/* A new model for a run, built as train builds it: side information (which
 * may add users and movies nobody rated to the maps), the deep model's
 * genres, weights drawn from rng, or --init-from's. rest: the rows that
 * give μ and the rating range. 0, or -1 after saying why. */
static int build_model(const train_options *o, data_idmap *users, data_idmap *items,
                       const run_rows *rows, nn_rng *rng, mf_model *model, size_t *n_genres) {
    /* μ and the rating range: the training rows' (mf8: every row's, as its notebook) */
    const data_ratings *mean_rows = o->mean_of_all ? &rows->rest : &rows->train;
    mf_side side = {NULL, 0, NULL, NULL};
    data_features uf, itf;
    uint32_t *item_genre = NULL;
    data_error err;
    int rc = -1;
    load_features(o, users, items, &uf, &itf); /* may add rows: before the genres */
    if (o->model.kind == MF_DEEP && load_genres(o, items, &item_genre, n_genres) != 0) goto done;
    side.item_genre = item_genre;
    side.n_genres = *n_genres;
    side.user_features = uf.n_features ? &uf : NULL;
    side.item_features = itf.n_features ? &itf : NULL;
    if (mf_init(model, o->model, users, items, mean_rows, &side, rng, &err) != 0) die(&err);
    if (o->init_from && load_initial_weights(o, model) != 0) goto done;
    if (o->train.session.verbose && (uf.n_features || itf.n_features))
        printf("side information: %zu user features, %zu item features\n", uf.n_features,
               itf.n_features);
    rc = 0;
done:
    free(item_genre);
    data_features_free(&uf);
    data_features_free(&itf);
    return rc;
}

static int cmd_train(args *a) {
    train_options o = train_defaults();
    data_idmap users, items;
    data_ratings all;
    run_rows rows;
    mf_model model;
    mf_history hist;
    data_error err;
    nn_rng rng;
    size_t n_genres = 0;
    int rc, status = 1;
    double initial_val_loss = NAN;
    mf_history_file history_file;

    memset(&history_file, 0, sizeof history_file);
    o.cmd = a->cmd;
    memset(&model, 0, sizeof model); /* every failure below frees what exists */
    parse_train(a, &o, &model); /* (--resume loads the model) */
    check_output(o.save);
    check_output(o.history);
    memset(&hist, 0, sizeof hist);
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    run_rows_init(&rows);
    if (o.resume) { /* the saved model's ids first, so that its rows keep their places */
        size_t k;
        o.model = model.cfg;
        for (k = 0; k < model.n_users; k++)
            if (data_idmap_intern(&users, model.user_ids[k]) < 0) goto oom;
        for (k = 0; k < model.n_items; k++)
            if (data_idmap_intern(&items, model.item_ids[k]) < 0) goto oom;
    }
    /* the times only for the implicit holdout (each user's latest row): 8 of a row's 20 bytes */
    o.read.no_time = !o.model.implicit;
    read_or_die(o.data, &o.read, &users, &items, &all);
    if (o.test) {
        data_read_opts tro = second_file(&o.read);
        read_or_die(o.test, &tro, &users, &items, &rows.test);
    }
    if (o.resume) {
        size_t dropped = keep_known_rows(&all, model.n_users, model.n_items);
        dropped += keep_known_rows(&rows.test, model.n_users, model.n_items);
        if (dropped)
            fprintf(stderr, "embrec train: %zu ratings of users or movies that %s does not "
                            "have are left out\n", dropped, o.resume);
        say_resuming(&model, &o);
    }
    nn_rng_seed(&rng, o.train.fit.seed);
    if (o.holdout > 0 && o.test) usage_error(a, "--holdout and --test both name a test set%s%s", "", "");
    if (split_rows(&o, &items, users.n, &all, &rng, &rows) != 0) goto oom;
    if (rows.train.n == 0) {
        fprintf(stderr, "embrec %s: no training rows left after the splits\n", o.cmd);
        goto done;
    }
    if (load_batch_order(&o, rows.train.n) != 0) goto done;
    if (!o.resume && build_model(&o, &users, &items, &rows, &rng, &model, &n_genres) != 0)
        goto done;
    if (o.train.session.verbose) mf_summary(stdout, &o.model, users.n, items.n, n_genres);
    source_path(o.data, model.source, sizeof model.source);
    if (o.train.session.verbose) {
        char decay[48] = "";
        if (o.train.fit.lr_decay > 0 && o.train.fit.lr_decay != 1)
            snprintf(decay, sizeof decay, " times %g each epoch", o.train.fit.lr_decay);
        printf("embrec: %s model, K=%zu%s, %s (%s, lr %g%s), batch %zu, %zu users, %zu items%s%s\n",
               mf_kind_name(o.model.kind), o.model.dim,
               o.model.kind == MF_DOT && o.model.centre ? ", centred" : "",
               nn_optimizer_name(o.train.fit.opt.kind), nn_update_name(o.train.fit.opt.update),
               (double)o.train.fit.opt.lr, decay, o.train.fit.batch, users.n, items.n,
               o.recipe ? ", recipe " : "", o.recipe ? o.recipe->name : "");
        fflush(stdout);
    }
    check_blocks(a, o.train.speed.blocks, &model);
    if (rows.val.n && !o.model.implicit) /* where training starts from, for warn_if_worse_than_mean */
        initial_val_loss = mf_evaluate_threads(&model, &rows.val, 0, o.train.speed.threads).mse;
    /* one run, and nothing reads the training rows in their order after it:
     * per-rating SGD's blocks may lay them out where they lie, not in a copy */
    o.train.speed.reorder_rows = 1;
    o.train.session.stop = &interrupted;
    catch_interrupt();
    history_file.path = o.history;
    if (o.history) { /* each epoch's line, written as it ends */
        o.train.session.record = mf_history_record;
        o.train.session.record_ctx = &history_file;
    }
    rc = mf_train(&model, &rows.train, &rows.val, &o.train, &hist,
                  o.train.session.verbose ? stdout : NULL, &err);
    if (rc == -1) die(&err);
    record_protocol(&model, &o);
    if (rc != 0) { /* interrupted or diverged: save what is worth keeping, then stop */
        status = training_halted(&model, o.save, &err, rc);
        goto done;
    }
    if (rows.val.n && o.model.implicit) {
        print_ranking(&model, &rows.train, &rows.val, o.train.fit.rank_k, o.train.fit.seed,
                      &o.ties);
    } else if (rows.val.n && o.train.session.verbose) {
        mf_metrics bm = mf_evaluate_mean(model.mean, &rows.val);
        printf("Predicting the mean rating instead: val RMSE %.4f, MAE %.4f\n", bm.rmse, bm.mae);
    }
    warn_if_worse_than_mean(&model, &hist, &rows.val, initial_val_loss);
    if (rows.test.n && o.model.implicit) { /* a logit has no RMSE: rank the test rows */
        print_ranking(&model, &rows.rest, &rows.test, o.train.fit.rank_k, o.train.fit.seed,
                      NULL);
    } else if (rows.test.n) {
        mf_metrics tm = mf_evaluate_threads(&model, &rows.test, 1, o.train.speed.threads);
        mf_metrics bm = mf_evaluate_mean(model.mean, &rows.test);
        print_metrics("test", &tm, &bm);
    }
    if (mf_save(&model, o.save, &err) != 0) die(&err);
    if (o.train.session.verbose) printf("saved %s\n", o.save);
    status = interrupted ? 128 + (int)interrupted : 0; /* one came after the last batch */
done:
    mf_history_free(&hist);
    free((void *)o.train.replay.orders);
    mf_free(&model);
    data_ratings_free(&all);
    run_rows_free(&rows);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return status;
oom:
    fprintf(stderr, "embrec train: out of memory\n");
    goto done;
}

/* ------------------------------------------------------------ embrec ablate
 *
 * What is each kind of side information worth (notebook 001's question)?
 * One fixed split (data_split_cold: some users and movies keep at most a
 * handful of training ratings), then for each variant — ids only, each
 * feature group added alone, each side's groups together, everything — the
 * same model trained from several seeds, each scored on every test rating
 * and on the test ratings of users and of movies with few training ratings.
 * A Markdown table of RMSE mean ± standard deviation over the seeds.
 */

#define ABLATE_MAX_VARIANTS 32
#define ABLATE_MAX_SEEDS 64

typedef struct {
    char label[48];
    char user_groups[128], item_groups[128];
} ablate_variant;

typedef struct {
    size_t seeds, max_kept;
    double test_frac, cold_users, cold_items;
    uint64_t split_seed;
    const char *user_groups, *item_groups;  /* the groups to try */
} ablate_options;

static void ablate_help(void) {
    printf("usage: embrec ablate --data FILE [options] [train options]\n\n"
           "Measures what each kind of side information is worth: on one fixed split,\n"
           "trains ids only, ids plus each feature group, each side's groups together\n"
           "and all of them, from several seeds, and prints a Markdown table of test\n"
           "RMSE (mean ± sd over the seeds) on every test rating and on those of users\n"
           "and of movies with few training ratings, where side information matters.\n\n"
           "Split: a fraction of the users and of the movies are made cold: each keeps\n"
           "m of its ratings for training, m drawn from 0..M (0: never seen); their other\n"
           "ratings are tested. Of the other ratings a fraction is tested at random.\n"
           "  --seeds N            seeds per variant (initial weights, shuffles)  [3]\n"
           "  --user-features G    user groups to try: age,gender,occupation,zip\n"
           "                       [all of them when u.user or users.dat is beside --data]\n"
           "  --item-features G    item groups to try: genres,year,tags\n"
           "                       [genres,year, and tags when tags.csv is there]\n"
           "  --cold-users F       fraction of users made cold                    [0.1]\n"
           "  --cold-items F       fraction of movies made cold                   [0.1]\n"
           "  --max-kept M         a cold row's most training ratings             [5]\n"
           "  --test-frac F        fraction of the other ratings tested           [0.1]\n"
           "  --split-seed N       seed of the split                              [1]\n\n"
           "Model and optimiser: the hybrid recipe (bias k=32, L2 0.1 on the composed\n"
           "vectors, Adam lr 0.002 lazy, batch 32, 25 epochs, no validation) unless\n"
           "train's options (--recipe, --model, --dim, --epochs, --lr, ...) say otherwise;\n"
           "--users, --movies, --tags and --top-tags name the metadata files.\n");
}

/* 1 when the file of names exists beside the ratings */
static int exists_beside(const char *ratings, const char *const *names) {
    char buf[PATH_BUF];
    return beside(ratings, names, buf, sizeof buf) != NULL;
}

/* The variants: ids only; + each group; + each side's groups (when a side
 * has several); + all (when both sides have groups). */
static size_t ablate_variants(const char *ug, const char *ig, ablate_variant *v) {
    size_t n = 0, n_user = 0, n_item = 0;
    const char *sides[2];
    int side;
    sides[0] = ug;
    sides[1] = ig;
    memset(v, 0, ABLATE_MAX_VARIANTS * sizeof *v);
    snprintf(v[n++].label, sizeof v->label, "ids only");
    for (side = 0; side < 2; side++) {
        const char *p = sides[side];
        while (p && *p && n + 3 < ABLATE_MAX_VARIANTS) {
            size_t len = strcspn(p, ",");
            if (len > 0 && len < 100) {
                snprintf(v[n].label, sizeof v->label, "+ %.*s", (int)len, p);
                snprintf(side ? v[n].item_groups : v[n].user_groups, sizeof v->user_groups,
                         "%.*s", (int)len, p);
                n++;
                if (side) n_item++;
                else n_user++;
            }
            p += len + (p[len] == ',');
        }
    }
    if (n_user > 1) {
        snprintf(v[n].label, sizeof v->label, "+ user features");
        snprintf(v[n++].user_groups, sizeof v->user_groups, "%s", ug);
    }
    if (n_item > 1) {
        snprintf(v[n].label, sizeof v->label, "+ item features");
        snprintf(v[n++].item_groups, sizeof v->item_groups, "%s", ig);
    }
    if (n_user && n_item) {
        snprintf(v[n].label, sizeof v->label, "+ all");
        snprintf(v[n].user_groups, sizeof v->user_groups, "%s", ug);
        snprintf(v[n++].item_groups, sizeof v->item_groups, "%s", ig);
    }
    return n;
}

/* the rows of test whose user (which = 0) or item (1) had at most max_kept
 * training ratings */
static void few_ratings_rows(const data_ratings *test, const uint32_t *count, int which,
                             size_t max_kept, data_ratings *out) {
    size_t k;
    for (k = 0; k < test->n; k++) {
        uint32_t row = which ? test->item[k] : test->user[k];
        if (count[row] <= max_kept &&
            data_ratings_push(out, test->user[k], test->item[k], test->rating[k],
                              test->time ? test->time[k] : 0) != 0)
            die_oom("ablate");
    }
}

/* "0.9213 ± 0.0011" of n values (sample standard deviation) */
static void mean_sd(const double *x, size_t n, char *buf, size_t size) {
    double mean = 0.0, ss = 0.0;
    size_t k;
    for (k = 0; k < n; k++) mean += x[k] / (double)n;
    for (k = 0; k < n; k++) ss += (x[k] - mean) * (x[k] - mean);
    if (n > 1) snprintf(buf, size, "%.4f ± %.4f", mean, sqrt(ss / (double)(n - 1)));
    else snprintf(buf, size, "%.4f", mean);
}

static void parse_ablate(args *a, ablate_options *ab, train_options *o, int *sub_argc,
                         char **sub_argv) {
    const char *v;
    *sub_argc = 2;
    sub_argv[0] = a->argv[0];
    sub_argv[1] = a->argv[1];
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            ablate_help();
            exit(0);
        } else if (option(a, "--seeds", &v)) {
            ab->seeds = parse_size(a, "--seeds", v, 1);
            if (ab->seeds > ABLATE_MAX_SEEDS) usage_error(a, "--seeds: at most %s%s", "64", "");
        } else if (option(a, "--user-features", &v)) ab->user_groups = v;
        else if (option(a, "--item-features", &v)) ab->item_groups = v;
        else if (option(a, "--cold-users", &v)) ab->cold_users = parse_real(a, "--cold-users", v, 0, 1);
        else if (option(a, "--cold-items", &v)) ab->cold_items = parse_real(a, "--cold-items", v, 0, 1);
        else if (option(a, "--max-kept", &v)) ab->max_kept = parse_size(a, "--max-kept", v, 0);
        else if (option(a, "--test-frac", &v)) ab->test_frac = parse_real(a, "--test-frac", v, 0, 0.99);
        else if (option(a, "--split-seed", &v)) ab->split_seed = parse_size(a, "--split-seed", v, 0);
        else sub_argv[(*sub_argc)++] = a->argv[a->k]; /* train's options, and their values */
    }
    {
        args sub = *a;
        sub.argc = *sub_argc;
        sub.argv = sub_argv;
        parse_train(&sub, o, NULL);
    }
    if (o->test || o->holdout > 0)
        usage_error(a, "--test and --holdout: ablate makes its own split (see --test-frac)%s%s",
                    "", "");
}

static int cmd_ablate(args *a) {
    static const char *const user_files[] = {"u.user", "users.dat", NULL};
    static const char *const tag_files[] = {"tags.csv", NULL};
    ablate_options ab;
    train_options o = train_defaults();
    ablate_variant var[ABLATE_MAX_VARIANTS];
    char **sub_argv = malloc((size_t)(a->argc + 1) * sizeof *sub_argv);
    int sub_argc;
    data_idmap users, items;
    data_ratings all, train, test, test_users, test_items;
    data_ratings *sets[3];
    double rmse[ABLATE_MAX_VARIANTS][3][ABLATE_MAX_SEEDS];
    uint32_t *ucount, *icount;
    side_files files;
    size_t n_var, v, s, k;
    nn_rng rng;
    char ug[256] = "", ig[256] = "";

    if (!sub_argv) die_oom("ablate");
    memset(&ab, 0, sizeof ab);
    ab.seeds = 3;
    ab.max_kept = 5;
    ab.test_frac = ab.cold_users = ab.cold_items = 0.1;
    ab.split_seed = 1;
    apply_recipe(&o, mf_recipe_find("hybrid"));
    o.cmd = a->cmd;
    o.train.session.verbose = 0;
    parse_ablate(a, &ab, &o, &sub_argc, sub_argv);
    o.read.no_time = 1; /* (explicit models only: no holdout by time) */
    o.train.fit.patience = 0; /* no validation set: every variant trains the same epochs */
    o.train.fit.restore_best = 0;
    o.history = NULL;
    if (o.model.implicit) usage_error(a, "an implicit model has no RMSE to compare%s%s", "", "");
    /* the groups to try: what was asked, else what the data directory offers */
    if (ab.user_groups) snprintf(ug, sizeof ug, "%s", ab.user_groups);
    else if (o.users_file || exists_beside(o.data, user_files))
        snprintf(ug, sizeof ug, "age,gender,occupation,zip");
    if (ab.item_groups) snprintf(ig, sizeof ig, "%s", ab.item_groups);
    else snprintf(ig, sizeof ig, "%s", o.tags_file || exists_beside(o.data, tag_files)
                                           ? "genres,year,tags" : "genres,year");
    n_var = ablate_variants(ug, ig, var);

    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    data_ratings_init(&train);
    data_ratings_init(&test);
    data_ratings_init(&test_users);
    data_ratings_init(&test_items);
    read_or_die(o.data, &o.read, &users, &items, &all);
    read_side_files(&o, ug, ig, &files);
    nn_rng_seed(&rng, ab.split_seed);
    if (data_split_cold(&all, users.n, items.n, ab.test_frac, ab.cold_users, ab.cold_items,
                        ab.max_kept, &rng, &train, &test) != 0)
        die_oom("ablate");
    ucount = calloc(users.n + 1, sizeof *ucount);
    icount = calloc(items.n + 1, sizeof *icount);
    if (!ucount || !icount) die_oom("ablate");
    for (k = 0; k < train.n; k++) {
        ucount[train.user[k]]++;
        icount[train.item[k]]++;
    }
    few_ratings_rows(&test, ucount, 0, ab.max_kept, &test_users);
    few_ratings_rows(&test, icount, 1, ab.max_kept, &test_items);
    sets[0] = &test;
    sets[1] = &test_users;
    sets[2] = &test_items;
    fprintf(stderr, "ablate: %zu training ratings, %zu tested (%zu of users and %zu of movies "
                    "with at most %zu training ratings); %zu variants x %zu seeds\n",
            train.n, test.n, test_users.n, test_items.n, ab.max_kept, n_var, ab.seeds);

    for (v = 0; v < n_var; v++) {
        data_features uf, itf;
        mf_side side = {NULL, 0, NULL, NULL};
        uint32_t *item_genre = NULL;
        size_t n_genres = 0;
        build_features(&files, &users, &items, var[v].user_groups, var[v].item_groups, &uf, &itf);
        side.user_features = uf.n_features ? &uf : NULL;
        side.item_features = itf.n_features ? &itf : NULL;
        if (o.model.kind == MF_DEEP) {
            if (load_genres(&o, &items, &item_genre, &n_genres) != 0) return 1;
            side.item_genre = item_genre;
            side.n_genres = n_genres;
        }
        for (s = 0; s < ab.seeds; s++) {
            mf_model m;
            mf_history hist;
            data_error err;
            int t;
            nn_rng_seed(&rng, (uint64_t)(s + 1));
            o.train.fit.seed = (uint64_t)(s + 1);
            if (mf_init(&m, o.model, &users, &items, &all, &side, &rng, &err) != 0 ||
                mf_train(&m, &train, NULL, &o.train, &hist, NULL, &err) != 0)
                die(&err);
            for (t = 0; t < 3; t++) /* the model's own output, for rows it never saw too */
                rmse[v][t][s] = mf_evaluate(&m, sets[t], 0).rmse;
            fprintf(stderr, "ablate: %-20s seed %zu: RMSE %.4f, users ≤%zu %.4f, movies ≤%zu %.4f\n",
                    var[v].label, s + 1, rmse[v][0][s], ab.max_kept, rmse[v][1][s], ab.max_kept,
                    rmse[v][2][s]);
            mf_history_free(&hist);
            mf_free(&m);
        }
        free(item_genre);
        data_features_free(&uf);
        data_features_free(&itf);
    }

    printf("%s model, K=%zu, %s lr %g %s, %zu epochs; test RMSE, mean ± sd over %zu seeds\n\n",
           mf_kind_name(o.model.kind), o.model.dim, nn_optimizer_name(o.train.fit.opt.kind),
           (double)o.train.fit.opt.lr, nn_update_name(o.train.fit.opt.update), o.train.fit.epochs,
           ab.seeds);
    printf("| variant | all (%zu) | users with ≤ %zu ratings (%zu) | movies with ≤ %zu ratings (%zu) |\n",
           test.n, ab.max_kept, test_users.n, ab.max_kept, test_items.n);
    printf("|---|---|---|---|\n");
    {
        float mean = (float)data_ratings_stats(&train, users.n, items.n).mean;
        printf("| global mean | %.4f | %.4f | %.4f |\n", mf_evaluate_mean(mean, &test).rmse,
               mf_evaluate_mean(mean, &test_users).rmse, mf_evaluate_mean(mean, &test_items).rmse);
    }
    for (v = 0; v < n_var; v++) {
        char cell[3][48];
        int t;
        for (t = 0; t < 3; t++) mean_sd(rmse[v][t], ab.seeds, cell[t], sizeof cell[t]);
        printf("| %s | %s | %s | %s |\n", var[v].label, cell[0], cell[1], cell[2]);
    }
    free(ucount);
    free(icount);
    free(sub_argv);
    side_files_free(&files);
    data_ratings_free(&all);
    data_ratings_free(&train);
    data_ratings_free(&test);
    data_ratings_free(&test_users);
    data_ratings_free(&test_items);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return 0;
}

/* ------------------------------------------------------------ cv and sweep
 *
 * Cross-validation (Surprise's cross_validate, LIBMF's -v) and a sweep of
 * one or two training options (notebook 000 chose k = 8 "after making a
 * tradeoff between training time and" error, from a chart over k). Every
 * run is train_quietly: what `embrec train` with the same options learns
 * from the same rows, numbered the same way. cli/tune.c prints and draws
 * the results.
 */

/* What the run learned: its best epoch's validation scores, the test rows'. */
static void note_run(const mf_model *m, const mf_history *hist, const run_rows *rows,
                     size_t threads, tune_run *res) {
    size_t k;
    res->train_rows = rows->rest.n;
    res->val_rows = rows->val.n;
    res->test_rows = rows->test.n;
    res->params = tune_params(m);
    res->epochs = hist->n;
    for (k = 0; k < hist->n; k++) res->seconds += hist->epoch[k].seconds;
    res->val_rmse = res->val_mae = res->test_rmse = res->test_mae = NAN;
    if (rows->val.n && hist->n) {
        res->best_epoch = hist->best + 1;
        res->val_rmse = sqrt(hist->epoch[hist->best].val_loss);
        res->val_mae = hist->epoch[hist->best].val_mae;
    }
    if (rows->test.n && !res->diverged) { /* as train --test scores them */
        mf_metrics tm = mf_evaluate_threads(m, &rows->test, 1, threads);
        res->test_rmse = tm.rmse;
        res->test_mae = tm.mae;
        res->unseen = tm.unknown;
    }
}

/* What `embrec train` with options o learns from the rows of all and
 * scores on test (both taken over and left empty; test may be empty),
 * quietly, saving nothing: the same shuffle, splits, model and training.
 * users and items number the rows as train's maps would (side information
 * may add to them). A run whose loss diverges is marked so. 0, or -1
 * after saying why. */
static int train_quietly(args *a, const train_options *given, data_idmap *users,
                         data_idmap *items, data_ratings *all, data_ratings *test, tune_run *res) {
    train_options run = *given, *o = &run; /* quiet, and its own batch orders */
    run_rows rows;
    mf_model model;
    mf_history hist;
    nn_rng rng;
    data_error err;
    size_t n_genres = 0;
    int rc, status = -1;
    memset(res, 0, sizeof *res);
    memset(&model, 0, sizeof model);
    memset(&hist, 0, sizeof hist);
    run_rows_init(&rows);
    rows.test = *test;
    data_ratings_init(test);
    o->train.session.verbose = 0;
    nn_rng_seed(&rng, o->train.fit.seed);
    if (split_rows(o, items, users->n, all, &rng, &rows) != 0) die_oom(o->cmd);
    if (rows.train.n == 0) {
        fprintf(stderr, "embrec %s: no training rows left after the splits\n", o->cmd);
        goto done;
    }
    if (load_batch_order(o, rows.train.n) != 0) goto done;
    if (build_model(o, users, items, &rows, &rng, &model, &n_genres) != 0) goto done;
    check_blocks(a, o->train.speed.blocks, &model);
    rc = mf_train(&model, &rows.train, &rows.val, &o->train, &hist, NULL, &err);
    if (rc == -1) die(&err);
    res->diverged = rc == MF_TRAIN_DIVERGED;
    if (res->diverged) print_error("embrec: warning: ", err.msg);
    note_run(&model, &hist, &rows, o->train.speed.threads, res);
    status = 0;
done:
    free((void *)o->train.replay.orders);
    mf_history_free(&hist);
    mf_free(&model);
    run_rows_free(&rows);
    return status;
}

/* Fold f of the rows of all (numbered by users and items): trained on the
 * other folds' rows, tested on its own. 0, or -1 after saying why. */
static int run_fold(args *a, const train_options *o, const data_idmap *users,
                    const data_idmap *items, const data_ratings *all, const uint32_t *fold,
                    uint32_t f, tune_run *res) {
    data_ratings tr, te;
    data_idmap fu, fi;
    int rc;
    data_ratings_init(&tr);
    data_ratings_init(&te);
    if (data_split_fold(all, fold, f, &tr, &te) != 0 ||
        tune_renumber(users, items, &tr, &te, &fu, &fi) != 0)
        die_oom(o->cmd);
    rc = train_quietly(a, o, &fu, &fi, &tr, &te, res);
    data_idmap_free(&fu);
    data_idmap_free(&fi);
    return rc;
}

/* A published fold: `embrec train --data BASE --test TEST`, quietly. 0, or
 * -1 after saying why. */
static int run_files(args *a, const train_options *o, const char *base, const char *test,
                     tune_run *res) {
    train_options of = *o;
    data_read_opts ro = second_file(&o->read); /* each file's cache beside it */
    data_idmap users, items;
    data_ratings all, te;
    int rc;
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    data_ratings_init(&te);
    of.data = ratings_in(base); /* side information is found beside it, as train finds it */
    read_or_die(of.data, &ro, &users, &items, &all);
    read_or_die(test, &ro, &users, &items, &te);
    rc = train_quietly(a, &of, &users, &items, &all, &te, res);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return rc;
}

/* Options of train that cv and sweep refuse, with why: they make their own
 * test sets (or none) and keep no model. */
static void refuse_outputs(args *a, const char *why_test) {
    const char *v;
    if (option(a, "--test", &v) || option(a, "--holdout", &v))
        usage_error(a, "--test and --holdout: %s%s", why_test, "");
    if (option(a, "--save", &v) || option(a, "--history", &v))
        usage_error(a, "--save and --history: %s keeps no model and no history (train the "
                       "values you choose with embrec train)%s", a->cmd, "");
}

/* the folds of --folds N: the rows dealt into N folds by --seed */
static uint32_t *deal_folds(args *a, const train_options *o, const data_ratings *all,
                            size_t n_folds) {
    uint32_t *fold;
    nn_rng rng;
    if (n_folds > all->n) {
        char what[64], rows[32];
        snprintf(what, sizeof what, "--folds %zu", n_folds);
        snprintf(rows, sizeof rows, "%zu", all->n);
        usage_error(a, "%s: more folds than the %s ratings", what, rows);
    }
    fold = malloc((all->n ? all->n : 1) * sizeof *fold);
    if (!fold) die_oom(o->cmd);
    nn_rng_seed(&rng, o->train.fit.seed);
    if (data_folds(all->n, n_folds, &rng, fold) != 0) die_oom(o->cmd);
    return fold;
}

#define CV_MAX_FILES 64 /* --fold pairs */

typedef struct {
    size_t folds;                       /* --folds N (5 when nothing else is given) */
    char *base[CV_MAX_FILES], *test[CV_MAX_FILES]; /* --fold BASE,TEST */
    size_t n_files;
    int ml100k;                         /* --ml100k-folds: u1..u5 beside --data */
    const char *save_folds, *out;
} cv_options;

static void cv_help(void) {
    printf("usage: embrec cv --data FILE [--folds N] [train options]\n"
           "       embrec cv --fold BASE,TEST [--fold BASE,TEST ...] [train options]\n"
           "       embrec cv --data ml-100k --ml100k-folds [train options]\n\n"
           "Cross-validation, as Surprise's cross_validate and LIBMF's -v: each fold's\n"
           "rows are a test set once, scored (RMSE, MAE) by the model that `embrec train`\n"
           "with the same options learns from the other rows, which it splits as train\n"
           "does (its last --val-split validates each epoch, for --patience and\n"
           "--restore-best; never the test fold). Prints a Markdown table of the folds\n"
           "and the mean ± sample standard deviation (n - 1) of RMSE and MAE.\n\n"
           "  --folds N          deal the rows of --data into N folds at random, by\n"
           "                     --seed (sizes differ by one at most)             [5]\n"
           "  --fold BASE,TEST   a published fold: train on BASE, test on TEST, exactly\n"
           "                     as `embrec train --data BASE --test TEST`; repeat it\n"
           "                     for each fold (ML-100K: u1.base,u1.test ...)\n"
           "  --ml100k-folds     ML-100K's five folds, u1.base,u1.test ... u5.base,\n"
           "                     u5.test, from the directory of --data\n"
           "  --save-folds DIR   --folds: write each fold's rows as DIR/foldF.train.csv\n"
           "                     and DIR/foldF.test.csv (raw ids), for embrec train or\n"
           "                     another library\n"
           "  --out FILE.csv     the folds' numbers as CSV\n\n"
           "A test rating whose user or movie is in no training row (validation rows\n"
           "not counting) and has no features is predicted by the training mean, as\n"
           "train --test does; the table says how many there were. Every option of\n"
           "train applies to each fold (--recipe, --model, --dim, --epochs, --seed,\n"
           "--threads, ...), but --test, --holdout, --save and --history.\n");
}

/* "BASE,TEST" into cv's lists */
static void add_fold_files(args *a, cv_options *cv, const char *v) {
    const char *comma = strchr(v, ',');
    size_t n = cv->n_files;
    if (!comma || comma == v || !comma[1])
        usage_error(a, "--fold: expected BASE,TEST, two files (got \"%s\")%s", v, "");
    if (n == CV_MAX_FILES) usage_error(a, "--fold: at most %s folds%s", "64", "");
    cv->base[n] = malloc((size_t)(comma - v) + 1);
    cv->test[n] = malloc(strlen(comma));
    if (!cv->base[n] || !cv->test[n]) die_oom("cv");
    snprintf(cv->base[n], (size_t)(comma - v) + 1, "%s", v);
    snprintf(cv->test[n], strlen(comma), "%s", comma + 1);
    cv->n_files++;
}

/* 1 when the train arguments name --data */
static int gives_data(char **argv, int argc) {
    int k;
    for (k = 2; k < argc; k++)
        if (strcmp(argv[k], "--data") == 0 || strncmp(argv[k], "--data=", 7) == 0) return 1;
    return 0;
}

static void parse_cv(args *a, cv_options *cv, train_options *o, char **sub_argv, int *sub_argc) {
    const char *v;
    *sub_argc = 2;
    sub_argv[0] = a->argv[0];
    sub_argv[1] = a->argv[1];
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            cv_help();
            exit(0);
        } else if (option(a, "--folds", &v)) {
            cv->folds = parse_size(a, "--folds", v, 0);
            if (cv->folds < 2)
                usage_error(a, "--folds: at least 2 folds (got \"%s\")%s", v, "");
        } else if (option(a, "--fold", &v)) add_fold_files(a, cv, v);
        else if (flag(a, "--ml100k-folds")) cv->ml100k = 1;
        else if (option(a, "--save-folds", &v)) cv->save_folds = v;
        else if (option(a, "--out", &v)) cv->out = v;
        else {
            refuse_outputs(a, "cv's folds are its test sets (give --fold BASE,TEST for a "
                              "published split)");
            sub_argv[(*sub_argc)++] = a->argv[a->k]; /* train's options, and their values */
        }
    }
    if ((cv->folds != 0) + (cv->n_files != 0) + cv->ml100k > 1)
        usage_error(a, "give one of --folds N, --fold BASE,TEST or --ml100k-folds%s%s", "", "");
    if (cv->n_files && gives_data(sub_argv, *sub_argc))
        usage_error(a, "--fold names its own data: give --data with --folds or --ml100k-folds, "
                       "or --fold BASE,TEST alone%s%s", "", "");
    if (cv->save_folds && (cv->n_files || cv->ml100k))
        usage_error(a, "--save-folds writes the folds of --folds N; the published ones are "
                       "files already%s%s", "", "");
    if (cv->n_files) { /* train's options need --data: the first fold's */
        static char data_flag[] = "--data";
        sub_argv[(*sub_argc)++] = data_flag;
        sub_argv[(*sub_argc)++] = cv->base[0];
    }
    if (!cv->folds && !cv->n_files && !cv->ml100k) cv->folds = 5;
    {
        args sub = *a;
        sub.argc = *sub_argc;
        sub.argv = sub_argv;
        parse_train(&sub, o, NULL);
    }
    if (o->model.implicit)
        usage_error(a, "an implicit model has no RMSE to cross-validate%s%s", "", "");
}

/* the heading above cv's table */
static void cv_heading(const cv_options *cv, const train_options *o, char **argv, int argc) {
    char opts[1024];
    tune_describe_args(opts, sizeof opts, argv, argc, NULL, NULL, 0);
    if (cv->n_files)
        printf("Cross-validation on %zu published fold%s: each is `embrec train --data BASE "
               "--test TEST%s%s`", cv->n_files, cv->n_files == 1 ? "" : "s", *opts ? " " : "",
               opts);
    else
        printf("%zu-fold cross-validation of %s (folds dealt by seed %llu): each fold is "
               "tested after `embrec train%s%s` on the other folds' rows", cv->folds, o->data,
               (unsigned long long)o->train.fit.seed, *opts ? " " : "", opts);
    if (o->val_split > 0)
        printf(", whose last %g %% validate each epoch", 100.0 * o->val_split);
    printf(".\n\n");
}

#define CV_LABEL 80 /* a fold's name in the table */

/* cv: fold 2 of 5: test RMSE 0.9163, MAE 0.7199 */
static void say_fold(size_t f, size_t n, const tune_run *r) {
    if (r->diverged) fprintf(stderr, "cv: fold %zu of %zu: diverged\n", f + 1, n);
    else fprintf(stderr, "cv: fold %zu of %zu: test RMSE %.4f, MAE %.4f\n", f + 1, n,
                 r->test_rmse, r->test_mae);
}

/* the published folds, res[f] and its label[f]; 0, or -1 after saying why */
static int cv_on_files(args *a, const cv_options *cv, const train_options *o, tune_run *res,
                       char (*label)[CV_LABEL]) {
    size_t f;
    for (f = 0; f < cv->n_files; f++) {
        const char *slash = strrchr(cv->base[f], '/');
        if (run_files(a, o, cv->base[f], cv->test[f], &res[f]) != 0) return -1;
        snprintf(label[f], CV_LABEL, "%zu (%s)", f + 1, slash ? slash + 1 : cv->base[f]);
        res[f].label = label[f];
        if (o->train.session.verbose) say_fold(f, cv->n_files, &res[f]);
    }
    return 0;
}

/* --folds N of --data (written to --save-folds first); 0, or -1 after saying why */
static int cv_on_folds(args *a, const cv_options *cv, const train_options *o, tune_run *res,
                       char (*label)[CV_LABEL]) {
    data_idmap users, items;
    data_ratings all;
    data_error err;
    uint32_t *fold;
    size_t f;
    int rc = 0;
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    read_or_die(o->data, &o->read, &users, &items, &all);
    fold = deal_folds(a, o, &all, cv->folds);
    if (cv->save_folds &&
        tune_save_folds(cv->save_folds, &users, &items, &all, fold, cv->folds, &err) != 0)
        die(&err);
    for (f = 0; f < cv->folds && rc == 0; f++) {
        rc = run_fold(a, o, &users, &items, &all, fold, (uint32_t)f, &res[f]);
        snprintf(label[f], CV_LABEL, "%zu", f + 1);
        res[f].label = label[f];
        if (rc == 0 && o->train.session.verbose) say_fold(f, cv->folds, &res[f]);
    }
    free(fold);
    data_ratings_free(&all);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return rc;
}

/* --save-folds DIR can be written (or made) before any work */
static void check_folds_dir(const char *dir) {
    char probe[PATH_BUF];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/fold1.train.csv", dir);
    check_output(stat(dir, &st) != 0 ? dir : probe); /* a missing DIR: where mkdir makes it */
}

static int cmd_cv(args *a) {
    cv_options cv;
    train_options o = train_defaults();
    char **sub_argv = malloc((size_t)(a->argc + 3) * sizeof *sub_argv);
    char (*label)[CV_LABEL];
    int sub_argc, rc;
    tune_run *res;
    size_t n, f;
    data_error err;
    if (!sub_argv) die_oom("cv");
    memset(&cv, 0, sizeof cv);
    o.cmd = a->cmd;
    parse_cv(a, &cv, &o, sub_argv, &sub_argc);
    o.read.no_time = !cv.save_folds; /* (explicit only; the folds' files keep the times) */
    check_output(cv.out);
    if (cv.save_folds) check_folds_dir(cv.save_folds);
    if (cv.ml100k) {
        cv.n_files = 5;
        if (tune_ml100k_files(o.data, cv.base, cv.test, &err) != 0) die(&err);
    }
    n = cv.n_files ? cv.n_files : cv.folds;
    res = calloc(n, sizeof *res);
    label = calloc(n, sizeof *label);
    if (!res || !label) die_oom("cv");
    rc = cv.n_files ? cv_on_files(a, &cv, &o, res, label) : cv_on_folds(a, &cv, &o, res, label);
    if (rc == 0) {
        cv_heading(&cv, &o, sub_argv, sub_argc);
        tune_cv_table(stdout, res, n);
        if (cv.out && tune_cv_csv(cv.out, res, n, &err) != 0) die(&err);
    }
    for (f = 0; f < cv.n_files; f++) {
        free(cv.base[f]);
        free(cv.test[f]);
    }
    free(res);
    free(label);
    free(sub_argv);
    return rc ? 1 : 0;
}

#define SWEEP_MAX_VALUES 64 /* per option */

/* An option swept over a list of values. */
typedef struct {
    const char *name;                   /* "--dim" */
    int at;                             /* its value's place in train's arguments */
    int joined;                         /* given as --dim=LIST: the place holds "--dim=VALUE" */
    char *list;                         /* a copy of the list, cut at its commas */
    const char *value[SWEEP_MAX_VALUES];
    size_t n;
    char arg[160];                      /* the place's argument for the current row */
    char placeholder[48];               /* "DIM", for the heading */
} sweep_axis;

typedef struct {
    size_t folds;                       /* --cv N: each row over N folds; 0: a validation split */
    const char *chart, *out;
    sweep_axis axis[2];
    size_t n_axes;
} sweep_options;

/* the options sweep varies, and those that take one number */
static const char *const swept_names[] = {"--dim", "--lr", "--lr-decay", "--l2", "--l2-implicit",
                                          "--batch", "--dropout-embed", "--dropout-hidden",
                                          "--epochs", NULL};
static const char *const one_value_names[] = {"--seed", "--patience", "--beta1", "--beta2",
                                              "--epsilon", "--val-split", "--threads",
                                              "--blocks", "--negatives", "--init-limit",
                                              "--top-tags", "-k", NULL};

static void sweep_help(void) {
    printf("usage: embrec sweep --data FILE --OPTION V1,V2,... [--OPTION V1,V2,...]\n"
           "                    [--cv N] [--chart FILE.svg] [--out FILE.csv] [train options]\n\n"
           "Trains one recipe once for each value of one option, or each pair of values\n"
           "of two (the grid), as notebook 000 chose k = 8 from a chart of error and\n"
           "training time over k. Each row is exactly what `embrec train` with that\n"
           "value learns. Prints a Markdown table: the values, the best validation RMSE\n"
           "and MAE with their epoch, seconds per epoch and parameters.\n\n"
           "  --dim, --lr, --lr-decay, --l2, --l2-implicit, --batch, --dropout-embed,\n"
           "  --dropout-hidden, --epochs\n"
           "                     the options a list of values sweeps (--dim 2,4,8,16)\n"
           "  --cv N             score each row by N-fold cross-validation (the mean ±\n"
           "                     sample sd of the folds' test RMSE and MAE, folds dealt\n"
           "                     by --seed, as embrec cv) instead of the validation rows\n"
           "  --chart FILE.svg   error (RMSE, MAE) above, seconds per epoch below, against\n"
           "                     the first option; a log axis when its values are all\n"
           "                     powers of 2 or all powers of 10; a line per value of\n"
           "                     the second\n"
           "  --out FILE.csv     the table as CSV\n\n"
           "Without --cv, each row validates on the last --val-split of the rows (the\n"
           "recipe's; train's default 0.1) and reports its best epoch's scores: tune on\n"
           "training data only, and test the chosen values once with embrec train --test\n"
           "or embrec cv. Every other option of train applies to every row, but --test,\n"
           "--holdout, --save and --history.\n");
}

/* argv[k] was `name LIST` or `name=LIST`, LIST with a comma: a new axis,
 * its place kept in train's arguments */
static void add_axis(args *a, sweep_options *sw, const char *name, const char *v,
                     char **sub_argv, int *sub_argc) {
    sweep_axis *ax = &sw->axis[sw->n_axes];
    char why[160], msg[320];
    if (sw->n_axes == 2) usage_error(a, "%s: sweep varies at most two options at once%s", name, "");
    if (sw->n_axes && strcmp(sw->axis[0].name, name) == 0)
        usage_error(a, "%s: one list per option%s", name, "");
    ax->name = name;
    ax->joined = strchr(a->argv[a->k], '=') != NULL;
    if (!ax->joined) sub_argv[(*sub_argc)++] = a->argv[a->k - 1]; /* the option, then its value */
    ax->at = (*sub_argc)++;
    ax->list = malloc(strlen(v) + 1);
    if (!ax->list) die_oom("sweep");
    memcpy(ax->list, v, strlen(v) + 1);
    if (tune_split_list(ax->list, ax->value, SWEEP_MAX_VALUES, &ax->n, why, sizeof why) != 0) {
        snprintf(msg, sizeof msg, "%s (in the list \"%s\")", why, v);
        usage_error(a, "%s: %s", name, msg);
    }
    if (ax->joined) snprintf(ax->placeholder, sizeof ax->placeholder, "%s=", name);
    tune_placeholder(ax->placeholder + strlen(ax->placeholder),
                     sizeof ax->placeholder - strlen(ax->placeholder), name);
    sw->n_axes++;
}

/* 1 when argv[k] was one of names with a value (copied into train's arguments,
 * or made an axis when its value is a list) */
static int sweep_option(args *a, sweep_options *sw, char **sub_argv, int *sub_argc) {
    const char *v;
    size_t j;
    int k0 = a->k;
    for (j = 0; swept_names[j]; j++)
        if (option(a, swept_names[j], &v)) {
            if (strchr(v, ',')) {
                add_axis(a, sw, swept_names[j], v, sub_argv, sub_argc);
            } else {
                for (; k0 <= a->k; k0++) sub_argv[(*sub_argc)++] = a->argv[k0];
            }
            return 1;
        }
    for (j = 0; one_value_names[j]; j++)
        if (option(a, one_value_names[j], &v)) {
            if (strchr(v, ','))
                usage_error(a, "%s: sweep varies --dim, --lr, --lr-decay, --l2, --l2-implicit, "
                               "--batch, --dropout-embed, --dropout-hidden or --epochs; %s takes "
                               "one value",
                            one_value_names[j], one_value_names[j]);
            for (; k0 <= a->k; k0++) sub_argv[(*sub_argc)++] = a->argv[k0];
            return 1;
        }
    return 0;
}

static void parse_sweep(args *a, sweep_options *sw, char **sub_argv, int *sub_argc) {
    const char *v;
    *sub_argc = 2;
    sub_argv[0] = a->argv[0];
    sub_argv[1] = a->argv[1];
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            sweep_help();
            exit(0);
        } else if (option(a, "--cv", &v)) {
            sw->folds = parse_size(a, "--cv", v, 0);
            if (sw->folds < 2) usage_error(a, "--cv: at least 2 folds (got \"%s\")%s", v, "");
        } else if (option(a, "--chart", &v)) sw->chart = v;
        else if (option(a, "--out", &v)) sw->out = v;
        else if (!sweep_option(a, sw, sub_argv, sub_argc)) {
            refuse_outputs(a, "sweep never tests: it validates on the last --val-split of the "
                              "rows, or on --cv N folds");
            sub_argv[(*sub_argc)++] = a->argv[a->k]; /* train's options, and their values */
        }
    }
    if (!sw->n_axes) { /* train's own errors first (an unknown option, no --data) */
        train_options o = train_defaults();
        args sub = *a;
        sub.argc = *sub_argc;
        sub.argv = sub_argv;
        o.cmd = a->cmd;
        parse_train(&sub, &o, NULL);
        usage_error(a, "give one or two options with lists of values, e.g. --dim 2,4,8 (sweep "
                       "varies --dim, --lr, --lr-decay, --l2, --l2-implicit, --batch, "
                       "--dropout-embed, --dropout-hidden, --epochs)%s%s", "", "");
    }
}

/* train's options for grid row r: each axis's place holds its value */
static void sweep_row_options(args *a, sweep_options *sw, char **sub_argv, int sub_argc,
                              size_t r, train_options *o) {
    size_t n2 = sw->n_axes > 1 ? sw->axis[1].n : 1, j;
    args sub = *a;
    for (j = 0; j < sw->n_axes; j++) {
        sweep_axis *ax = &sw->axis[j];
        const char *v = ax->value[j == 0 ? r / n2 : r % n2];
        snprintf(ax->arg, sizeof ax->arg, "%s%s%s", ax->joined ? ax->name : "",
                 ax->joined ? "=" : "", v);
        sub_argv[ax->at] = ax->arg;
    }
    *o = train_defaults();
    o->cmd = a->cmd;
    sub.argc = sub_argc;
    sub.argv = sub_argv;
    parse_train(&sub, o, NULL);
}

/* the heading above sweep's table */
static void sweep_heading(const sweep_options *sw, const train_options *o, char **argv, int argc,
                          size_t val_rows) {
    char opts[1024];
    const char *ph[2];
    int at[2];
    size_t j;
    for (j = 0; j < sw->n_axes; j++) {
        at[j] = sw->axis[j].at;
        ph[j] = sw->axis[j].placeholder;
    }
    tune_describe_args(opts, sizeof opts, argv, argc, at, ph, sw->n_axes);
    printf("Each row is `embrec train --data %s %s`", o->data, opts);
    if (sw->folds)
        printf(", cross-validated: the mean ± sample sd (n - 1) of the test RMSE and MAE of "
               "%zu folds (dealt by seed %llu), each trained on the others", sw->folds,
               (unsigned long long)o->train.fit.seed);
    else
        printf(": RMSE and MAE at its best epoch on the validation rows, the last %g %% (%zu "
               "ratings)", 100.0 * o->val_split, val_rows);
    printf(".\n\n");
}

/* One row of the sweep: a run validated on the last val_split of the rows,
 * or the folds' runs. 0, or -1 after saying why. */
static int sweep_row(args *a, const sweep_options *sw, train_options *o, const data_idmap *users,
                     const data_idmap *items, const data_ratings *all, const uint32_t *fold,
                     tune_row *row, size_t *val_rows) {
    tune_run *runs = calloc(sw->folds ? sw->folds : 1, sizeof *runs);
    size_t f;
    int rc = 0;
    if (!runs) die_oom("sweep");
    if (sw->folds) {
        for (f = 0; f < sw->folds && rc == 0; f++)
            rc = run_fold(a, o, users, items, all, fold, (uint32_t)f, &runs[f]);
    } else {
        data_idmap u, i;
        data_ratings rows, none;
        data_ratings_init(&rows);
        data_ratings_init(&none);
        if (tune_copy_rows(&rows, all) != 0 || data_idmap_copy(&u, users) != 0 ||
            data_idmap_copy(&i, items) != 0)
            die_oom("sweep");
        rc = train_quietly(a, o, &u, &i, &rows, &none, &runs[0]);
        *val_rows = runs[0].val_rows;
        data_idmap_free(&u);
        data_idmap_free(&i);
    }
    if (rc == 0) *row = tune_row_of(runs, sw->folds ? sw->folds : 1, sw->folds);
    free(runs);
    return rc;
}

/* sweep: --dim 8 --lr 0.01: best val RMSE 0.9090, MAE 0.6924 at epoch 5, 0.12 s/epoch */
static void say_row(const sweep_options *sw, size_t r, const tune_row *w) {
    size_t n2 = sw->n_axes > 1 ? sw->axis[1].n : 1, j;
    fprintf(stderr, "sweep:");
    for (j = 0; j < sw->n_axes; j++)
        fprintf(stderr, " %s %s", sw->axis[j].name, sw->axis[j].value[j == 0 ? r / n2 : r % n2]);
    if (w->diverged) {
        fprintf(stderr, ": diverged\n");
        return;
    }
    fprintf(stderr, ": %s RMSE %.4f, MAE %.4f", sw->folds ? "cv" : "best val", w->rmse, w->mae);
    if (!sw->folds && w->best_epoch > 0) fprintf(stderr, " at epoch %.0f", w->best_epoch);
    fprintf(stderr, ", %.3g s/epoch\n", w->seconds_per_epoch);
}

/* the grid of the options' values */
static tune_grid grid_of(const sweep_options *sw) {
    tune_grid g;
    size_t j;
    memset(&g, 0, sizeof g);
    g.n_axes = sw->n_axes;
    g.folds = sw->folds;
    g.n_values[1] = 1;
    for (j = 0; j < sw->n_axes; j++) {
        g.name[j] = sw->axis[j].name;
        g.values[j] = sw->axis[j].value;
        g.n_values[j] = sw->axis[j].n;
    }
    return g;
}

/* the heading and the table, then --out and --chart */
static void sweep_report(const sweep_options *sw, const tune_grid *g, const tune_row *rows,
                         const train_options *o, char **argv, int argc, size_t val_rows) {
    char title[256];
    data_error err;
    snprintf(title, sizeof title, "%s error and seconds per epoch against %s",
             sw->folds ? "Cross-validated" : "Validation", g->name[0]);
    sweep_heading(sw, o, argv, argc, val_rows);
    tune_sweep_table(stdout, g, rows);
    if (sw->out && tune_sweep_csv(sw->out, g, rows, &err) != 0) die(&err);
    if (sw->chart && tune_sweep_chart(sw->chart, g, rows, title, &err) != 0) die(&err);
}

static int cmd_sweep(args *a) {
    sweep_options sw;
    train_options o;
    char **sub_argv = malloc((size_t)(a->argc + 1) * sizeof *sub_argv);
    int sub_argc, status = 0;
    data_idmap users, items;
    data_ratings all;
    uint32_t *fold = NULL;
    tune_row *rows;
    tune_grid g;
    size_t r, n_rows, j, val_rows = 0;
    if (!sub_argv) die_oom("sweep");
    memset(&sw, 0, sizeof sw);
    parse_sweep(a, &sw, sub_argv, &sub_argc);
    g = grid_of(&sw);
    n_rows = tune_grid_rows(&g);
    for (r = n_rows; r-- > 0;) /* every row's options checked before any work; row 0's kept */
        sweep_row_options(a, &sw, sub_argv, sub_argc, r, &o);
    if (o.model.implicit) usage_error(a, "an implicit model has no RMSE to sweep%s%s", "", "");
    o.read.no_time = 1; /* (explicit models only: no holdout by time) */
    if (!sw.folds && o.val_split <= 0)
        usage_error(a, "--val-split 0 leaves nothing to validate on: give a fraction, or --cv "
                       "N%s%s", "", "");
    check_output(sw.out);
    check_output(sw.chart);
    rows = calloc(n_rows, sizeof *rows);
    if (!rows) die_oom("sweep");
    data_idmap_init(&users);
    data_idmap_init(&items);
    data_ratings_init(&all);
    read_or_die(o.data, &o.read, &users, &items, &all);
    if (sw.folds) fold = deal_folds(a, &o, &all, sw.folds);
    for (r = 0; r < n_rows && status == 0; r++) {
        sweep_row_options(a, &sw, sub_argv, sub_argc, r, &o);
        status = sweep_row(a, &sw, &o, &users, &items, &all, fold, &rows[r], &val_rows);
        if (status == 0 && o.train.session.verbose) say_row(&sw, r, &rows[r]);
    }
    if (status == 0) sweep_report(&sw, &g, rows, &o, sub_argv, sub_argc, val_rows);
    for (j = 0; j < sw.n_axes; j++) free(sw.axis[j].list);
    free(fold);
    free(rows);
    free(sub_argv);
    data_ratings_free(&all);
    data_idmap_free(&users);
    data_idmap_free(&items);
    return status ? 1 : 0;
}

/* ------------------------------------------------------------ eval / predict */

static int cmd_eval(args *a) {
    data_read_opts ro = data_read_defaults();
    const char *model_path = NULL, *path = NULL, *v;
    mf_model m;
    data_ratings r;
    mf_metrics mt, base;
    int ranking = 0;
    size_t k = 10, threads = 0;
    uint64_t seed = 1;
    data_ties ties = {.rule = DATA_TIES_LAST};
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec eval --model FILE --data FILE [--ranking [-k K] [--seed N]]\n"
                   "                   [--threads N] [input options]\n\n"
                   "Scores a saved model on a ratings file: RMSE and MAE, next to the\n"
                   "global-mean baseline. Users or items the model never learned are\n"
                   "predicted the training mean and counted.\n\n"
                   "--ranking: the NCF protocol instead: each user's latest interaction in\n"
                   "FILE is held out and ranked against 99 sampled unseen items and against\n"
                   "every unseen item (HR@K, NDCG@K, precision@K, recall@K), next to the\n"
                   "most-popular baseline. Give the file the model was trained on.  [K=10]\n"
                   "--ties RULE: which of a user's interactions at their latest time is held\n"
                   "out: last or first in the file, max-item (largest id) or random (--seed);\n"
                   "give the rule the model was trained with                       [last]\n\n"
                   "--threads N: RMSE and MAE on N threads (the numbers do not depend on\n"
                   "N)                                                        [every core]\n\n%s",
                   read_help);
            return 0;
        } else if (option(a, "--model", &v)) model_path = v;
        else if (option(a, "--data", &v)) path = v;
        else if (flag(a, "--ranking")) ranking = 1;
        else if (option(a, "--ties", &v)) ties.rule = parse_ties(a, v);
        else if (option(a, "-k", &v) || option(a, "--rank-k", &v)) k = parse_size(a, "-k", v, 1);
        else if (option(a, "--seed", &v)) seed = parse_size(a, "--seed", v, 0);
        else if (option(a, "--threads", &v)) threads = parse_size(a, "--threads", v, 0);
        else if (!read_option(a, &ro)) unknown_option(a);
    }
    if (!model_path || !path) usage_error(a, "--model FILE and --data FILE are required%s%s", "", "");
    if (threads == 0) threads = nn_cores();
    load_or_die(&m, model_path);
    if (!ranking && m.cfg.implicit) {
        printf("(an implicit model scores logits, not ratings: ranking instead)\n");
        ranking = 1;
    }
    ro.no_time = !ranking; /* only the held-out latest items need the timestamps */
    data_ratings_init(&r);
    /* the file's ids go through the model's maps: new ids get rows past the model's */
    read_or_die(path, &ro, &m.users, &m.items, &r);
    if (ranking) {
        data_ratings train, test;
        size_t j;
        data_ratings_init(&train);
        data_ratings_init(&test);
        for (j = 0; j < r.n; j++)
            if (r.user[j] >= m.n_users || r.item[j] >= m.n_items) {
                fprintf(stderr, "embrec eval: %s has users or items the model never saw "
                                "(--ranking needs the data the model was trained on)\n", path);
                data_ratings_free(&r);
                mf_free(&m);
                return 1;
            }
        ties.item_raw = m.item_ids;
        ties.seed = seed;
        if (data_split_latest(&r, m.n_users, &ties, &train, &test) != 0) {
            fprintf(stderr, "embrec eval: out of memory\n");
            data_ratings_free(&r);
            mf_free(&m);
            return 1;
        }
        print_ranking(&m, &train, &test, k, seed, &ties);
        data_ratings_free(&train);
        data_ratings_free(&test);
        data_ratings_free(&r);
        mf_free(&m);
        return 0;
    }
    mt = mf_evaluate_threads(&m, &r, 1, threads);
    base = mf_evaluate_mean(m.mean, &r);
    print_metrics(path, &mt, &base);
    data_ratings_free(&r);
    mf_free(&m);
    return 0;
}

static int parse_id(const char *s, int64_t *id) {
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return -1;
    *id = (int64_t)v;
    return 0;
}

/* The row of a raw id the model can score (one it learned, or in a hybrid
 * model one its features describe), or -1. */
static int32_t known_user(const mf_model *m, int64_t raw) {
    int32_t row = data_idmap_find(&m->users, raw);
    return row >= 0 && mf_user_known(m, (uint32_t)row) ? row : -1;
}

static int32_t known_item(const mf_model *m, int64_t raw) {
    int32_t row = data_idmap_find(&m->items, raw);
    return row >= 0 && mf_item_known(m, (uint32_t)row) ? row : -1;
}

static int cmd_predict(args *a) {
    const char *model_path = NULL, *pairs_path = NULL, *v;
    const char *user_s = NULL, *item_s = NULL;
    int unknown_mean = 0;
    data_pairs pairs;
    data_error err;
    mf_model m;
    size_t k;
    data_pairs_init(&pairs);
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec predict --model FILE (--user ID --item ID | --pairs FILE)\n"
                   "                      [--unknown-mean]\n\n"
                   "Predicted ratings (implicit models: probabilities) for raw ids as in the\n"
                   "training file. --pairs reads lines `user,item` (or tab, ';' or spaces\n"
                   "between them; `-` is standard input) and writes `user,item,prediction`.\n"
                   "An id the model never learned is an error naming the line, or the\n"
                   "training mean with --unknown-mean.\n");
            return 0;
        } else if (option(a, "--model", &v)) model_path = v;
        else if (option(a, "--user", &v)) user_s = v;
        else if (option(a, "--item", &v)) item_s = v;
        else if (option(a, "--pairs", &v)) pairs_path = v;
        else if (flag(a, "--unknown-mean")) unknown_mean = 1;
        else unknown_option(a);
    }
    if (!model_path || (!pairs_path && (!user_s || !item_s)))
        usage_error(a, "--model and either --user and --item, or --pairs, are required%s%s", "", "");
    if (pairs_path) {
        if (data_read_pairs(pairs_path, &pairs, &err) != 0) die(&err);
    } else {
        int64_t uid, iid;
        if (parse_id(user_s, &uid) != 0) usage_error(a, "--user: not an integer id (\"%s\")", user_s, "");
        if (parse_id(item_s, &iid) != 0) usage_error(a, "--item: not an integer id (\"%s\")", item_s, "");
        if (data_pairs_push_one(&pairs, uid, iid) != 0) {
            fprintf(stderr, "embrec predict: out of memory\n");
            return 1;
        }
    }
    load_or_die(&m, model_path);
    for (k = 0; k < pairs.n; k++) {
        int32_t u = known_user(&m, pairs.user[k]);
        int32_t i = known_item(&m, pairs.item[k]);
        if ((u < 0 || i < 0) && !unknown_mean) {
            if (pairs_path) fprintf(stderr, "embrec predict: %s:%zu: ", pairs_path, pairs.line[k]);
            else fprintf(stderr, "embrec predict: ");
            fprintf(stderr, "the model never learned %s %lld (use --unknown-mean to predict "
                            "the training mean)\n", u < 0 ? "user" : "item",
                    (long long)(u < 0 ? pairs.user[k] : pairs.item[k]));
            mf_free(&m);
            data_pairs_free(&pairs);
            return 1;
        }
        if (pairs_path) printf("%lld,%lld,", (long long)pairs.user[k], (long long)pairs.item[k]);
        printf("%.4f\n", u < 0 || i < 0 ? m.mean : mf_predict(&m, (uint32_t)u, (uint32_t)i));
    }
    mf_free(&m);
    data_pairs_free(&pairs);
    return 0;
}

/* ------------------------------------------------------------ recommend */

/* -n: no more than the movies the model has (a larger n lists them all) */
static size_t top_n(size_t n, const mf_model *m) {
    return n < m->n_items ? n : m->n_items ? m->n_items : 1;
}

/* The ratings a model was trained on, as its file names them (an absolute
 * path), when that file is still there; else NULL. */
static const char *model_source(const mf_model *m) {
    struct stat st;
    return m->source[0] && stat(m->source, &st) == 0 ? m->source : NULL;
}

/* Titles for a model: --movies, or the movies file beside the ratings file
 * (NULL: the model's training data). Without one, the command goes on with
 * ids alone, and says why on stderr, naming what to give. */
static int load_movies_beside(const char *cmd, const mf_model *m, const char *path,
                              const char *ratings, data_movies *mv) {
    char buf[PATH_BUF];
    data_error err;
    data_movies_init(mv);
    if (!ratings) ratings = model_source(m);
    if (!path && ratings) path = find_movies(ratings, buf, sizeof buf);
    if (!path) {
        if (ratings && ratings != m->source)
            fprintf(stderr, "embrec %s: no titles: no movies.csv, movies.dat or u.item beside "
                            "%s (give --movies FILE)\n", cmd, ratings);
        else if (!m->source[0])
            fprintf(stderr, "embrec %s: no titles: the model does not name its training data "
                            "(give --movies FILE)\n", cmd);
        else if (!model_source(m))
            fprintf(stderr, "embrec %s: no titles: the model's training data %s is not there "
                            "(give --movies FILE)\n", cmd, m->source);
        else
            fprintf(stderr, "embrec %s: no titles: no movies.csv, movies.dat or u.item beside "
                            "%s (give --movies FILE)\n", cmd, m->source);
        return 0;
    }
    if (data_read_movies(path, mv, &err) != 0) die(&err);
    return 1;
}

static int load_movies_for(const char *cmd, const mf_model *m, const char *path,
                           data_movies *mv) {
    return load_movies_beside(cmd, m, path, NULL, mv);
}

/* The ratings that count as a user's own for recommend: --data, or the
 * model's training data; exits naming --data when that file has gone
 * (recommending without it would recommend what the user already rated). */
static const char *rated_source(const char *cmd, const mf_model *m, const char *data_path) {
    if (data_path) return data_path;
    if (model_source(m)) return m->source;
    if (m->source[0])
        fprintf(stderr, "embrec %s: the model's training data %s is not there: give --data FILE "
                        "(the ratings that count as rated) and --movies FILE (titles)\n",
                cmd, m->source);
    else
        fprintf(stderr, "embrec %s: the model does not name its training data: give --data "
                        "FILE (the ratings that count as rated) and --movies FILE (titles)\n",
                cmd);
    exit(1);
}

/* Every learned user's top n, excluding what each rated, as CSV. */
#define RECOMMEND_BLOCK 4096 /* users scored at a time, then written in order, */
#define RECOMMEND_FLOATS ((size_t)1 << 22) /* fewer when their lists would pass 4M entries */

/* The CSV into f, a block of users at a time; write errors stay in f's
 * error flag. 0, or -1 when out of memory. */
static int write_all_users(FILE *f, const mf_model *m, const data_user_items *rated,
                           size_t n, size_t block, size_t threads, mf_scored *top, size_t *got) {
    size_t first, k, j;
    fprintf(f, "userId,rank,movieId,prediction\n");
    for (first = 0; first < m->n_users; first += block) {
        size_t count = m->n_users - first < block ? m->n_users - first : block;
        if (mf_recommend_users(m, rated, (uint32_t)first, count, n, threads, top, got) != 0)
            return -1;
        for (k = 0; k < count; k++)
            for (j = 0; j < got[k]; j++)
                fprintf(f, "%lld,%zu,%lld,%.4f\n", (long long)m->user_ids[first + k], j + 1,
                        (long long)m->item_ids[top[k * n + j].item], (double)top[k * n + j].score);
    }
    return 0;
}

static int recommend_all(args *a, const char *model_path, const char *data_path,
                         const char *out_path, const data_read_opts *ro, size_t n,
                         size_t threads) {
    mf_model m;
    data_ratings r;
    data_user_items rated;
    mf_scored *top;
    size_t *got, block, k, j;
    data_out o;
    data_error err;
    int rc = 1;
    if (!model_path || !out_path) usage_error(a, "--all needs --model and --out FILE%s%s", "", "");
    check_output(out_path);
    load_or_die(&m, model_path);
    data_path = rated_source(a->cmd, &m, data_path);
    data_ratings_init(&r);
    read_or_die(data_path, ro, &m.users, &m.items, &r);
    for (k = j = 0; k < r.n; k++) /* only rows inside the model count as rated */
        if (r.user[k] < m.n_users && r.item[k] < m.n_items) {
            r.user[j] = r.user[k];
            r.item[j++] = r.item[k];
        }
    r.n = j;
    n = top_n(n, &m);
    block = RECOMMEND_FLOATS / n < RECOMMEND_BLOCK ? RECOMMEND_FLOATS / n : RECOMMEND_BLOCK;
    if (!block) block = 1;
    top = malloc(block * n * sizeof *top);
    got = malloc(block * sizeof *got);
    if (!top || !got || data_user_items_build(&rated, &r, m.n_users) != 0) {
        fprintf(stderr, "embrec recommend: out of memory\n");
        free(top);
        free(got);
        data_ratings_free(&r);
        mf_free(&m);
        return 1;
    }
    if (data_out_open(&o, out_path, &err) != 0) {
        fprintf(stderr, "embrec: %s\n", err.msg);
    } else if (write_all_users(o.f, &m, &rated, n, block, threads, top, got) != 0) {
        fprintf(stderr, "embrec recommend: out of memory\n");
        data_out_abort(&o);
    } else if (data_out_commit(&o, &err) != 0) { /* checks every write */
        fprintf(stderr, "embrec: %s\n", err.msg);
    } else {
        rc = 0;
    }
    free(top);
    free(got);
    data_user_items_free(&rated);
    data_ratings_free(&r);
    mf_free(&m);
    return rc;
}


static void print_movie(const data_movies *mv, int64_t id) {
    int32_t row = data_movie_find(mv, id);
    if (row < 0) return;
    printf("  ");
    print_text(data_movie_title(mv, (size_t)row));
    printf("  (");
    print_text(data_movie_genres(mv, (size_t)row));
    printf(")");
}

/* The rows of a top-N table: rank, movie id, score (an implicit model's
 * logit shown as the probability σ(z)), title and genres when known. */
static void print_top(const mf_model *m, const data_movies *mv, const mf_scored *top, size_t got) {
    size_t k;
    printf("%4s  %8s  %9s  %s\n", "rank", "movie", m->cfg.implicit ? "p(like)" : "predicted",
           mv->n ? "title  (genres)" : "");
    for (k = 0; k < got; k++) {
        int64_t id = m->item_ids[top[k].item];
        float shown = top[k].score;
        if (m->cfg.implicit) nn_activation_forward(&shown, &shown, 1, NN_SIGMOID); /* σ(z) */
        printf("%4zu  %8lld  %9.3f", k + 1, (long long)id, (double)shown);
        print_movie(mv, id);
        printf("\n");
    }
}


/* One of the user's ratings beside the model's prediction of it. */
typedef struct {
    uint32_t item;
    float rating, prediction;
} rated_row;

/* highest rating first, then highest prediction, then the smaller row */
static int by_rating_desc(const void *pa, const void *pb) {
    const rated_row *a = pa, *b = pb;
    if (a->rating != b->rating) return a->rating > b->rating ? -1 : 1;
    if (a->prediction != b->prediction) return a->prediction > b->prediction ? -1 : 1;
    return a->item < b->item ? -1 : a->item > b->item;
}

/* Notebook 003's first table: the user's ratings sorted by rating (then by
 * prediction: pandas' order among equal ratings is its sort's), the first
 * `limit`, with the prediction, title and genres. 0, or -1 (no memory). */
static int print_rated(const mf_model *m, const data_movies *mv, const data_ratings *r,
                       uint32_t u, const char *user_s, size_t limit) {
    rated_row *rows;
    size_t k, n = 0;
    for (k = 0; k < r->n; k++) n += r->user[k] == u && r->item[k] < m->n_items;
    if (!(rows = malloc((n ? n : 1) * sizeof *rows))) return -1;
    for (k = n = 0; k < r->n; k++)
        if (r->user[k] == u && r->item[k] < m->n_items)
            rows[n++] = (rated_row){.item = r->item[k], .rating = r->rating[k],
                                    .prediction = mf_predict(m, u, r->item[k])};
    qsort(rows, n, sizeof *rows, by_rating_desc);
    printf("Rated by user %s: %s%zu of %zu, by rating:\n", user_s, limit < n ? "the top " : "",
           limit < n ? limit : n, n);
    printf("%4s  %8s  %6s  %9s  %s\n", "rank", "movie", "rating", "predicted",
           mv->n ? "title  (genres)" : "");
    for (k = 0; k < n && k < limit; k++) {
        int64_t id = m->item_ids[rows[k].item];
        printf("%4zu  %8lld  %6.1f  %9.3f", k + 1, (long long)id, (double)rows[k].rating,
               (double)rows[k].prediction);
        print_movie(mv, id);
        printf("\n");
    }
    free(rows);
    return 0;
}

/* A user the model never saw, described by metadata (cold start). */
typedef struct {
    int age;                 /* years, or -1 */
    const char *gender, *occupation, *zip;
} cold_user;

static int recommend_cold(const char *model_path, const char *movies_path, const cold_user *c,
                          size_t n) {
    char names[4][96];
    uint32_t feat[4];
    size_t n_names = 0, k, got;
    mf_model m;
    data_movies mv;
    mf_scored *top;
    load_or_die(&m, model_path);
    n = top_n(n, &m);
    if (!m.user_features.n_features) {
        fprintf(stderr, "embrec recommend: %s has no user features: train it with "
                        "--user-features to recommend from metadata\n", model_path);
        mf_free(&m);
        return 1;
    }
    if (c->age >= 0) snprintf(names[n_names++], sizeof names[0], "age:%s", data_age_bucket(c->age));
    if (c->gender) snprintf(names[n_names++], sizeof names[0], "gender:%s", c->gender);
    if (c->occupation) snprintf(names[n_names++], sizeof names[0], "occupation:%s", c->occupation);
    if (c->zip)
        snprintf(names[n_names++], sizeof names[0], "zip:%c",
                 c->zip[0] >= '0' && c->zip[0] <= '9' ? c->zip[0] : '?');
    for (k = 0; k < n_names; k++) {
        int32_t id = data_feature_find(&m.user_features, names[k]);
        if (id < 0 && strncmp(names[k], "zip:?", 5) == 0)
            id = data_feature_find(&m.user_features, "zip:other");
        if (id < 0) {
            size_t f;
            fprintf(stderr, "embrec recommend: the model has no user feature \"%s\"; it has:",
                    names[k]);
            for (f = 0; f < m.user_features.n_features; f++) {
                fputc(' ', stderr);
                viz_print_text(stderr, data_feature_name(&m.user_features, f));
            }
            fprintf(stderr, "\n");
            mf_free(&m);
            return 1;
        }
        feat[k] = (uint32_t)id;
    }
    load_movies_for("recommend", &m, movies_path, &mv);
    top = malloc(n * sizeof *top);
    if (!top) {
        fprintf(stderr, "embrec recommend: out of memory\n");
        data_movies_free(&mv);
        mf_free(&m);
        return 1;
    }
    got = mf_recommend_cold(&m, feat, n_names, top, n);
    printf("Top %zu for a new user (", got);
    for (k = 0; k < n_names; k++) printf(k ? ", %s" : "%s", names[k]);
    printf("):\n");
    print_top(&m, &mv, top, got);
    free(top);
    data_movies_free(&mv);
    mf_free(&m);
    return 0;
}

static int cmd_recommend(args *a) {
    data_read_opts ro = data_read_defaults();
    const char *model_path = NULL, *data_path = NULL, *movies_path = NULL, *user_s = NULL, *v;
    size_t n = 10, k, got, threads = 0;
    size_t show_rated = 0; /* how many of the user's ratings to list */
    int all_users = 0, rc = 0;
    cold_user cold = {-1, NULL, NULL, NULL};
    const char *out_path = NULL;
    int64_t uid;
    int32_t u;
    mf_model m;
    data_ratings r;
    data_movies mv;
    uint8_t *rated;
    mf_scored *top;
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec recommend --model FILE --user ID [-n N] [--rated | --rated-n N]\n"
                   "                        [--data FILE] [--movies FILE]\n\n"
                   "The N movies the user has not rated with the highest predicted rating  [N=10].\n"
                   "--data: the ratings that count as rated     [the model's training file]\n"
                   "--movies: titles and genres                  [movies.csv, movies.dat or\n"
                   "                                              u.item beside --data]\n"
                   "--rated: first, as notebook 003 does, the user's 20 highest-rated movies\n"
                   "         (by rating, then prediction) with the model's predictions;\n"
                   "         --rated-n N: N of them.\n"
                   "--all --out FILE: every learned user's top N as CSV\n"
                   "                  (userId,rank,movieId,prediction), on --threads N\n"
                   "                  threads [every core]; the output does not depend on N.\n"
                   "--age N --gender M|F --occupation NAME --zip Z (instead of --user): a new\n"
                   "                  user known only by metadata, for a model trained with\n"
                   "                  --user-features (cold start).\n");
            return 0;
        } else if (option(a, "--model", &v)) model_path = v;
        else if (option(a, "--user", &v)) user_s = v;
        else if (option(a, "-n", &v) || option(a, "--top", &v)) n = parse_size(a, "-n", v, 1);
        else if (option(a, "--data", &v)) data_path = v;
        else if (option(a, "--movies", &v)) movies_path = v;
        else if (flag(a, "--rated")) show_rated = 20; /* the notebook's head(20) */
        else if (option(a, "--rated-n", &v)) show_rated = parse_size(a, "--rated-n", v, 1);
        else if (flag(a, "--all")) all_users = 1;
        else if (option(a, "--age", &v)) cold.age = (int)parse_size(a, "--age", v, 0);
        else if (option(a, "--gender", &v)) cold.gender = v;
        else if (option(a, "--occupation", &v)) cold.occupation = v;
        else if (option(a, "--zip", &v)) cold.zip = v;
        else if (option(a, "--out", &v)) out_path = v;
        else if (option(a, "--threads", &v)) threads = parse_size(a, "--threads", v, 0);
        else if (!read_option(a, &ro)) unknown_option(a);
    }
    if (threads == 0) threads = nn_cores();
    ro.no_time = 1; /* the rated items only */
    if (all_users) return recommend_all(a, model_path, data_path, out_path, &ro, n, threads);
    if (cold.age >= 0 || cold.gender || cold.occupation || cold.zip) {
        if (!model_path) usage_error(a, "--model is required%s%s", "", "");
        return recommend_cold(model_path, movies_path, &cold, n);
    }
    if (!model_path || !user_s) usage_error(a, "--model and --user are required%s%s", "", "");
    if (parse_id(user_s, &uid) != 0) usage_error(a, "--user: not an integer id (\"%s\")", user_s, "");
    load_or_die(&m, model_path);
    n = top_n(n, &m);
    u = known_user(&m, uid);
    if (u < 0) {
        fprintf(stderr, "embrec recommend: the model never learned user %s\n", user_s);
        mf_free(&m);
        return 1;
    }
    data_path = rated_source(a->cmd, &m, data_path);
    load_movies_beside(a->cmd, &m, movies_path, data_path, &mv);

    /* the user's rated items, through the model's id maps */
    data_ratings_init(&r);
    read_or_die(data_path, &ro, &m.users, &m.items, &r);
    rated = calloc(m.items.n ? m.items.n : 1, 1);
    top = malloc(n * sizeof *top);
    if (!rated || !top) {
        fprintf(stderr, "embrec recommend: out of memory\n");
        free(rated);
        free(top);
        data_ratings_free(&r);
        data_movies_free(&mv);
        mf_free(&m);
        return 1;
    }
    for (k = 0; k < r.n; k++)
        if (r.user[k] == (uint32_t)u) rated[r.item[k]] = 1;
    if (show_rated && print_rated(&m, &mv, &r, (uint32_t)u, user_s, show_rated) != 0) {
        fprintf(stderr, "embrec recommend: out of memory\n");
        rc = 1;
    } else { /* notebook 003's second table */
        got = mf_recommend(&m, (uint32_t)u, rated, top, n);
        printf("%sTop %zu for user %s, not rated, by prediction:\n", show_rated ? "\n" : "",
               got, user_s);
        print_top(&m, &mv, top, got);
    }
    free(rated);
    free(top);
    data_ratings_free(&r);
    data_movies_free(&mv);
    mf_free(&m);
    return rc;
}

/* ------------------------------------------------------------ similar / export */

/* The model row of the movie a user named, or exit with a message that says
 * why (no match, several matches: listed, or a movie the model never learned). */
static uint32_t item_or_die(const mf_model *m, const data_movies *mv, const char *query,
                            int64_t *raw) {
    int32_t row = -1, cand[10];
    size_t n_cand = 0, k;
    int rc = mv->n ? data_movie_match(mv, query, &row, cand, 10, &n_cand) : -1;
    if (rc == -2) {
        fprintf(stderr, "embrec: \"%s\" matches several movies; say which:\n", query);
        for (k = 0; k < n_cand; k++) {
            fprintf(stderr, "  %lld  ", (long long)mv->id[cand[k]]);
            print_error("", data_movie_title(mv, (size_t)cand[k]));
        }
        exit(1);
    }
    if (rc == 0) *raw = mv->id[row];
    else if (parse_id(query, raw) != 0) {
        fprintf(stderr, "embrec: no movie matches \"%s\"%s\n", query,
                mv->n ? "" : " (no movies file: give an id, or --movies FILE)");
        exit(1);
    }
    row = known_item(m, *raw);
    if (row < 0) {
        fprintf(stderr, "embrec: the model never learned movie %lld\n", (long long)*raw);
        exit(1);
    }
    return (uint32_t)row;
}


static int cmd_similar(args *a) {
    const char *model_path = NULL, *query = NULL, *movies_path = NULL, *v;
    size_t n = 10, got, k;
    uint32_t min_ratings = 0, item;
    mf_metric metric = MF_COSINE;
    mf_model m;
    data_movies mv;
    mf_scored *top;
    int64_t raw;
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec similar --model FILE --item ID|TITLE [-n N] [--metric M]\n"
                   "                      [--min-ratings R] [--movies FILE]\n\n"
                   "The N movies whose learned embeddings are nearest the given one  [N=10].\n"
                   "A movie is named by id or title: case-insensitive; an exact title, the\n"
                   "title without its year, a unique prefix or a unique substring.\n"
                   "--metric cosine or euclidean                                   [cosine]\n"
                   "--min-ratings: only movies with at least R training ratings    [0]\n"
                   "--movies: titles                  [beside the model's training data]\n");
            return 0;
        } else if (option(a, "--model", &v)) model_path = v;
        else if (option(a, "--item", &v)) query = v;
        else if (option(a, "-n", &v) || option(a, "--top", &v)) n = parse_size(a, "-n", v, 1);
        else if (option(a, "--min-ratings", &v))
            min_ratings = (uint32_t)parse_size(a, "--min-ratings", v, 0);
        else if (option(a, "--movies", &v)) movies_path = v;
        else if (option(a, "--metric", &v)) {
            if (strcmp(v, "cosine") == 0) metric = MF_COSINE;
            else if (strcmp(v, "euclidean") == 0) metric = MF_EUCLIDEAN;
            else usage_error(a, "--metric: expected cosine or euclidean (got \"%s\")", v, "");
        } else unknown_option(a);
    }
    if (!model_path || !query) usage_error(a, "--model and --item are required%s%s", "", "");
    load_or_die(&m, model_path);
    n = top_n(n, &m);
    load_movies_for(a->cmd, &m, movies_path, &mv);
    item = item_or_die(&m, &mv, query, &raw);
    top = malloc(n * sizeof *top);
    if (!top) {
        fprintf(stderr, "embrec similar: out of memory\n");
        data_movies_free(&mv);
        mf_free(&m);
        return 1;
    }
    got = mf_similar(&m, item, metric, min_ratings, top, n);
    printf("Nearest to %lld", (long long)raw);
    print_movie(&mv, raw);
    printf(" by %s:\n%4s  %8s  %10s  %7s  %s\n", metric == MF_COSINE ? "cosine similarity"
           : "euclidean distance", "rank", "movie", metric == MF_COSINE ? "similarity" : "distance",
           "ratings", mv.n ? "title  (genres)" : "");
    for (k = 0; k < got; k++) {
        int64_t id = m.item_ids[top[k].item];
        printf("%4zu  %8lld  %10.4f  %7u", k + 1, (long long)id,
               metric == MF_COSINE ? (double)top[k].score : -(double)top[k].score,
               m.item_count[top[k].item]);
        print_movie(&mv, id);
        printf("\n");
    }
    free(top);
    data_movies_free(&mv);
    mf_free(&m);
    return 0;
}

static int cmd_export(args *a) {
    const char *model_path = NULL, *out = NULL, *movies_path = NULL, *v;
    mf_model m;
    data_movies mv;
    data_error err;
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec export --model FILE --out DIR [--movies FILE]\n\n"
                   "Writes the embeddings as NumPy files (user_embedding.npy, item_embedding.npy,\n"
                   "user_ids.npy, item_ids.npy, and the biases of a bias model), and as TSV\n"
                   "vectors with metadata for TensorBoard's Embedding Projector\n"
                   "(item_vectors.tsv + item_metadata.tsv, user_vectors.tsv + user_metadata.tsv).\n");
            return 0;
        } else if (option(a, "--model", &v)) model_path = v;
        else if (option(a, "--out", &v)) out = v;
        else if (option(a, "--movies", &v)) movies_path = v;
        else unknown_option(a);
    }
    if (!model_path || !out) usage_error(a, "--model and --out are required%s%s", "", "");
    if (mf_export_check(out, &err) != 0) die(&err);
    load_or_die(&m, model_path);
    load_movies_for(a->cmd, &m, movies_path, &mv);
    if (mf_export(&m, out, mv.n ? &mv : NULL, &err) != 0) die(&err);
    printf("wrote %zu user and %zu item embeddings (K=%zu) to %s/\n", m.n_users, m.n_items,
           m.cfg.dim, out);
    data_movies_free(&mv);
    mf_free(&m);
    return 0;
}

/* a CSV field, quoted when it holds a comma or a quote */
static void csv_text(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ------------------------------------------------------------ map / plot */

#define MAP_GROUPS 10 /* nine most common first genres, then "other" */

/* first genre of a "Action|Comedy" string, into buf */
static const char *first_genre(const char *genres, char *buf, size_t size) {
    size_t n = strcspn(genres, "|");
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), genres);
    return buf;
}

/* Colour groups: each point's first genre, the nine most common named. */
static void genre_groups(const mf_model *m, const data_movies *mv, const uint32_t *rows,
                         size_t n, int *group, char names[MAP_GROUPS][32]) {
    char (*g)[32] = calloc(n ? n : 1, sizeof *g), best[32];
    size_t k, j, top = 0;
    if (!g) return;
    for (k = 0; k < n; k++) {
        int32_t r = data_movie_find(mv, m->item_ids[rows[k]]);
        first_genre(r >= 0 ? data_movie_genres(mv, (size_t)r) : "", g[k], sizeof g[k]);
        group[k] = -1;
    }
    for (top = 0; top < MAP_GROUPS - 1; top++) { /* pick the most common unnamed genre */
        size_t best_count = 0;
        best[0] = '\0';
        for (k = 0; k < n; k++) {
            size_t count = 0;
            if (group[k] >= 0 || !g[k][0]) continue;
            for (j = 0; j < n; j++) count += group[j] < 0 && strcmp(g[j], g[k]) == 0;
            if (count > best_count) {
                best_count = count;
                snprintf(best, sizeof best, "%s", g[k]);
            }
        }
        if (!best_count) break;
        snprintf(names[top], 32, "%s", best);
        for (k = 0; k < n; k++)
            if (group[k] < 0 && strcmp(g[k], best) == 0) group[k] = (int)top;
    }
    snprintf(names[top], 32, "other");
    for (k = 0; k < n; k++)
        if (group[k] < 0) group[k] = (int)top;
    free(g);
}

/* Finish an SVG that a viz_svg_ function drew into o (drawn: what it
 * returned): commit it, or give it up when the drawing failed of itself
 * (out of memory) rather than on a write. 0 or -1 with err. */
static int svg_finish(data_out *o, int drawn, data_error *err) {
    if (drawn != 0 && !ferror(o->f)) {
        data_out_abort(o);
        data_errorf(err, "%s: out of memory for the drawing", o->path);
        return -1;
    }
    return data_out_commit(o, err);
}

static int write_map(const char *path, const viz_scatter *sc, data_error *err) {
    data_out o;
    if (data_out_open(&o, path, err) != 0) return -1;
    return svg_finish(&o, viz_svg_scatter(o.f, sc), err);
}

/* The map's points as CSV (movieId,x,y,title). 0 or -1 with err. */
static int write_map_csv(const char *path, const mf_model *m, const data_movies *mv,
                         const uint32_t *rows, const double *xy, size_t n, data_error *err) {
    data_out o;
    size_t k;
    if (data_out_open(&o, path, err) != 0) return -1;
    fprintf(o.f, "movieId,x,y,title\n");
    for (k = 0; k < n; k++) {
        int32_t r = data_movie_find(mv, m->item_ids[rows[k]]);
        fprintf(o.f, "%lld,%.6g,%.6g,", (long long)m->item_ids[rows[k]], xy[2 * k], xy[2 * k + 1]);
        csv_text(o.f, r >= 0 ? data_movie_title(mv, (size_t)r) : "");
        fputc('\n', o.f);
    }
    return data_out_commit(&o, err); /* checks every write above */
}

static int cmd_map(args *a) {
    const char *model_path = NULL, *out = NULL, *csv = NULL, *movies_path = NULL, *v;
    const char *match = NULL, *highlight = NULL;
    viz_tsne_config tc = viz_tsne_defaults();
    int pca = 0, colour = 1, status = 1;
    size_t n_labels = 20, n_near = 10, n = 0, k, U;
    uint32_t min_ratings = 1, *rows;
    mf_model m;
    data_movies mv;
    double *xy;
    const char **label;
    int *group;
    uint8_t *hl;
    char group_names[MAP_GROUPS][32];
    const char *gn[MAP_GROUPS];
    viz_scatter sc;
    data_error err;
    tc.cosine = 1;
    tc.threads = 0;
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec map --model FILE --out MAP.svg [options]\n\n"
                   "A 2-D map of the movie embeddings as SVG (and CSV of the coordinates).\n"
                   "  --method tsne|pca          t-SNE or the two principal axes   [tsne]\n"
                   "  --metric cosine|euclidean  t-SNE's input distance           [cosine]\n"
                   "  --perplexity P --iterations N --seed N          [30, 1000, 1]\n"
                   "  --threads N                t-SNE's threads; the map does not\n"
                   "                             depend on N               [every core]\n"
                   "  --min-ratings R            only movies with R training ratings  [1]\n"
                   "  --labels N                 label the N most-rated movies      [20]\n"
                   "  --label-match TEXT         label the titles containing TEXT instead\n"
                   "  --highlight TITLE [-n N]   mark a movie and its N nearest     [N=10]\n"
                   "  --no-colour                one colour instead of one per first genre\n"
                   "  --csv FILE                 also write id,title,x,y\n"
                   "  --movies FILE              titles and genres [beside the training data]\n");
            return 0;
        } else if (option(a, "--model", &v)) model_path = v;
        else if (option(a, "--out", &v)) out = v;
        else if (option(a, "--csv", &v)) csv = v;
        else if (option(a, "--movies", &v)) movies_path = v;
        else if (option(a, "--method", &v)) {
            if (strcmp(v, "pca") == 0) pca = 1;
            else if (strcmp(v, "tsne") == 0) pca = 0;
            else usage_error(a, "--method: expected tsne or pca (got \"%s\")", v, "");
        } else if (option(a, "--metric", &v)) {
            if (strcmp(v, "cosine") == 0) tc.cosine = 1;
            else if (strcmp(v, "euclidean") == 0) tc.cosine = 0;
            else usage_error(a, "--metric: expected cosine or euclidean (got \"%s\")", v, "");
        } else if (option(a, "--perplexity", &v)) tc.perplexity = parse_real(a, "--perplexity", v, 1, 1000);
        else if (option(a, "--iterations", &v)) tc.iterations = parse_size(a, "--iterations", v, 1);
        else if (option(a, "--seed", &v)) tc.seed = parse_size(a, "--seed", v, 0);
        else if (option(a, "--threads", &v)) tc.threads = parse_size(a, "--threads", v, 0);
        else if (option(a, "--min-ratings", &v)) min_ratings = (uint32_t)parse_size(a, "--min-ratings", v, 1);
        else if (option(a, "--labels", &v)) n_labels = parse_size(a, "--labels", v, 0);
        else if (option(a, "--label-match", &v)) match = v;
        else if (option(a, "--highlight", &v)) highlight = v;
        else if (option(a, "-n", &v)) n_near = parse_size(a, "-n", v, 1);
        else if (flag(a, "--no-colour") || flag(a, "--no-color")) colour = 0;
        else unknown_option(a);
    }
    if (!model_path || !out) usage_error(a, "--model and --out are required%s%s", "", "");
    check_output(out);
    check_output(csv);
    if (tc.threads == 0) tc.threads = nn_cores();
    load_or_die(&m, model_path);
    load_movies_for(a->cmd, &m, movies_path, &mv);
    U = m.n_items;
    rows = malloc((U ? U : 1) * sizeof *rows);
    xy = malloc(2 * (U ? U : 1) * sizeof *xy);
    label = calloc(U ? U : 1, sizeof *label);
    group = calloc(U ? U : 1, sizeof *group);
    hl = calloc(U ? U : 1, 1);
    if (!rows || !xy || !label || !group || !hl) {
        fprintf(stderr, "embrec map: out of memory\n");
        goto done;
    }
    for (k = 0; k < U; k++)
        if (m.item_count[k] >= min_ratings) rows[n++] = (uint32_t)k;
    if (n < 3) {
        fprintf(stderr, "embrec map: only %zu movies have %u or more ratings\n", n, min_ratings);
        goto done;
    }
    {   /* the points: the item embeddings of the chosen rows, contiguous */
        size_t S = m.S, K = m.cfg.dim;
        float *X = malloc(n * K * sizeof *X);
        const float *Q = m.w.item_embedding;
        int rc;
        if (!X) {
            fprintf(stderr, "embrec map: out of memory\n");
            goto done;
        }
        for (k = 0; k < n; k++) memcpy(X + k * K, Q + rows[k] * S, K * sizeof *X);
        fprintf(stderr, "embrec map: %s of %zu movies (K=%zu)...\n", pca ? "PCA" : "t-SNE", n, K);
        rc = pca ? viz_pca(X, n, K, K, xy) : viz_tsne(X, n, K, K, &tc, xy);
        free(X);
        if (rc != 0) {
            fprintf(stderr, "embrec map: out of memory for the map\n");
            goto done;
        }
    }
    /* labels: a highlighted neighbourhood, matching titles, or the most rated */
    if (highlight) {
        int64_t raw;
        uint32_t item = item_or_die(&m, &mv, highlight, &raw);
        mf_scored *near = malloc(n_near * sizeof *near);
        size_t got = near ? mf_similar(&m, item, MF_COSINE, min_ratings, near, n_near) : 0, j;
        for (k = 0; k < n; k++) {
            int mark = rows[k] == item;
            for (j = 0; j < got && !mark; j++) mark = near[j].item == rows[k];
            hl[k] = (uint8_t)mark;
            if (rows[k] == item && k > 0) { /* first, so that its own label wins a collision */
                uint32_t r0 = rows[0];
                double x0 = xy[0], y0 = xy[1];
                rows[0] = rows[k], rows[k] = r0;
                xy[0] = xy[2 * k], xy[1] = xy[2 * k + 1];
                xy[2 * k] = x0, xy[2 * k + 1] = y0;
                hl[k] = hl[0], hl[0] = 1;
            }
        }
        free(near);
    }
    for (k = 0; k < n; k++) {
        int32_t r = data_movie_find(&mv, m.item_ids[rows[k]]);
        const char *title = r >= 0 ? data_movie_title(&mv, (size_t)r) : NULL;
        if (!title) continue;
        if (hl[k] || (match && data_text_contains(title, match))) label[k] = title;
    }
    if (!match && !highlight) { /* the n_labels most rated */
        size_t done;
        for (done = 0; done < n_labels && done < n; done++) {
            size_t best = n;
            for (k = 0; k < n; k++)
                if (!label[k] && (best == n || m.item_count[rows[k]] > m.item_count[rows[best]])) {
                    int32_t r = data_movie_find(&mv, m.item_ids[rows[k]]);
                    if (r >= 0) best = k;
                }
            if (best == n) break;
            label[best] = data_movie_title(&mv, (size_t)data_movie_find(&mv, m.item_ids[rows[best]]));
        }
    }
    memset(&sc, 0, sizeof sc);
    sc.xy = xy;
    sc.n = n;
    sc.label = label;
    sc.highlight = highlight ? hl : NULL;
    if (colour && mv.n) {
        genre_groups(&m, &mv, rows, n, group, group_names);
        for (k = 0; k < MAP_GROUPS; k++) gn[k] = group_names[k];
        for (k = 0; k < MAP_GROUPS && strcmp(group_names[k], "other") != 0; k++) {}
        sc.group = group;
        sc.group_name = gn;
        sc.n_groups = k + 1;
    }
    sc.title = pca ? "Movie embeddings: the two principal axes"
                   : tc.cosine ? "Movie embeddings: t-SNE (cosine)" : "Movie embeddings: t-SNE (euclidean)";
    if (write_map(out, &sc, &err) != 0 ||
        (csv && write_map_csv(csv, &m, &mv, rows, xy, n, &err) != 0)) {
        fprintf(stderr, "embrec: %s\n", err.msg);
        goto done;
    }
    printf("wrote %s (%zu movies)%s%s\n", out, n, csv ? " and " : "", csv ? csv : "");
    status = 0;
done: /* every path after loading the model frees what it holds */
    free(rows);
    free(xy);
    free(label);
    free(group);
    free(hl);
    data_movies_free(&mv);
    mf_free(&m);
    return status;
}

static int cmd_plot(args *a) {
    const char *history = NULL, *out = NULL, *model_path = NULL, *item = NULL, *movies_path = NULL;
    const char *what = "loss", *v;
    double baseline = NAN;
    size_t n = 10, k;
    data_out o;
    data_error err;
    int rc;
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec plot --history H.csv --out PLOT.svg [--what loss|mae|rmse|hr]\n"
                   "                   [--baseline X]\n"
                   "       embrec plot --model FILE --item TITLE --out BARS.svg [-n N]\n\n"
                   "A line chart of a training history (embrec train --history): loss and\n"
                   "val_loss, or the validation MAE, RMSE or HR@K per epoch, with an optional\n"
                   "baseline line (notebook 000 plots MAE against 0.73); or a bar chart of\n"
                   "the N movies most similar to one (cosine).                     [N=10]\n");
            return 0;
        } else if (option(a, "--history", &v)) history = v;
        else if (option(a, "--out", &v)) out = v;
        else if (option(a, "--what", &v)) what = v;
        else if (option(a, "--baseline", &v)) baseline = parse_real(a, "--baseline", v, -1e9, 1e9);
        else if (option(a, "--model", &v)) model_path = v;
        else if (option(a, "--item", &v)) item = v;
        else if (option(a, "--movies", &v)) movies_path = v;
        else if (option(a, "-n", &v)) n = parse_size(a, "-n", v, 1);
        else unknown_option(a);
    }
    if (!out || (!history && !(model_path && item)))
        usage_error(a, "give --out and either --history or --model with --item%s%s", "", "");
    check_output(out);
    if (history) {
        mf_history h;
        viz_series s[2];
        double *y[2];
        size_t ns = 1;
        int loss = strcmp(what, "loss") == 0, mae = strcmp(what, "mae") == 0;
        int rmse = strcmp(what, "rmse") == 0, hr = strcmp(what, "hr") == 0;
        const char *title = loss ? "Loss per epoch" : mae ? "Validation MAE per epoch"
                            : rmse ? "Validation RMSE per epoch" : "HR@K per epoch";
        if (!loss && !mae && !rmse && !hr)
            usage_error(a, "--what: expected loss, mae, rmse or hr (got \"%s\")", what, "");
        if (mf_history_load(&h, history, &err) != 0) die(&err);
        y[0] = malloc(h.n * sizeof(double));
        y[1] = malloc(h.n * sizeof(double));
        if (!y[0] || !y[1]) {
            fprintf(stderr, "embrec plot: out of memory\n");
            return 1;
        }
        for (k = 0; k < h.n; k++) {
            const mf_epoch *e = &h.epoch[k];
            y[0][k] = loss ? e->loss : mae ? e->val_mae : rmse ? sqrt(e->val_loss) : e->hr;
            y[1][k] = e->val_loss;
        }
        memset(s, 0, sizeof s);
        s[0].name = loss ? "loss (training)" : mae ? "val MAE" : rmse ? "val RMSE" : "HR@K";
        s[0].y = y[0];
        s[0].n = h.n;
        if (loss) {
            s[1].name = "val_loss";
            s[1].y = y[1];
            s[1].n = h.n;
            s[1].dashed = 1;
            ns = 2;
        }
        rc = data_out_open(&o, out, &err);
        if (rc == 0)
            rc = svg_finish(&o, viz_svg_lines(o.f, title, "epoch", loss ? "MSE" : s[0].name, s,
                                              ns, baseline, isnan(baseline) ? NULL : "baseline"),
                            &err);
        free(y[0]);
        free(y[1]);
        mf_history_free(&h);
    } else {
        mf_model m;
        data_movies mv;
        mf_scored *top;
        const char **labels;
        double *val;
        char title[512];
        int64_t raw;
        size_t got;
        uint32_t i;
        load_or_die(&m, model_path);
        n = top_n(n, &m);
        top = malloc(n * sizeof *top);
        labels = malloc(n * sizeof *labels);
        val = malloc(n * sizeof *val);
        if (!top || !labels || !val) {
            fprintf(stderr, "embrec plot: out of memory\n");
            return 1;
        }
        load_movies_for(a->cmd, &m, movies_path, &mv);
        i = item_or_die(&m, &mv, item, &raw);
        got = mf_similar(&m, i, MF_COSINE, 1, top, n);
        for (k = 0; k < got; k++) {
            int32_t r = data_movie_find(&mv, m.item_ids[top[k].item]);
            labels[k] = r >= 0 ? data_movie_title(&mv, (size_t)r) : "?";
            val[k] = top[k].score;
        }
        {
            int32_t r = data_movie_find(&mv, raw);
            snprintf(title, sizeof title, "Most similar to %s",
                     r >= 0 ? data_movie_title(&mv, (size_t)r) : item);
        }
        rc = data_out_open(&o, out, &err);
        if (rc == 0)
            rc = svg_finish(&o, viz_svg_bars(o.f, title, "cosine similarity", labels, val, got),
                            &err);
        free(top);
        free(labels);
        free(val);
        data_movies_free(&mv);
        mf_free(&m);
    }
    if (rc != 0) {
        fprintf(stderr, "embrec: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s\n", out);
    return 0;
}

/* ------------------------------------------------------------ summary */

static int cmd_summary(args *a) {
    train_options o = train_defaults();
    mf_config mg, set;
    const char *v, *data = NULL;
    size_t users = 0, items = 0, genres = 0;
    int no_genres = 0;
    memset(&mg, 0, sizeof mg);
    memset(&set, 0, sizeof set);
    o.cmd = a->cmd;
    for (a->k = 2; a->k < a->argc; a->k++)
        if (option(a, "--recipe", &v)) {
            const mf_recipe *r = mf_recipe_find(v);
            if (!r) usage_error(a, "--recipe: unknown recipe \"%s\"%s", v, "");
            apply_recipe(&o, r);
        }
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec summary [--recipe NAME | --model KIND [model options]]\n"
                   "                      (--users N --items N [--genres N] | --data FILE)\n\n"
                   "Prints the network as Keras's model.summary() does: each layer, its\n"
                   "output shape and parameter count, and the total. Sizes come from the\n"
                   "options or are counted in --data (genres from the movies file beside it\n"
                   "or --movies). Model options are those of embrec train.\n");
            return 0;
        } else if (option(a, "--recipe", &v)) { /* applied above */
        } else if (option(a, "--users", &v)) users = parse_size(a, "--users", v, 1);
        else if (option(a, "--items", &v)) items = parse_size(a, "--items", v, 1);
        else if (option(a, "--genres", &v)) genres = parse_size(a, "--genres", v, 1);
        else if (option(a, "--data", &v)) data = v;
        else if (option(a, "--movies", &v)) o.movies = v;
        else if (!model_option(a, &mg, &set))
            unknown_option(a);
    }
    compose_model(&o, &mg, &set);
    if (data) {
        data_read_opts ro = data_read_defaults();
        data_idmap um, im;
        data_ratings r;
        uint32_t *item_genre = NULL;
        data_idmap_init(&um);
        data_idmap_init(&im);
        data_ratings_init(&r);
        o.data = ratings_in(data); /* the movies file is looked for beside it */
        ro.no_time = 1; /* the counts only */
        read_or_die(o.data, &ro, &um, &im, &r);
        users = um.n;
        items = im.n;
        no_genres = o.model.kind == MF_DEEP && load_genres(&o, &im, &item_genre, &genres) != 0;
        free(item_genre);
        data_ratings_free(&r);
        data_idmap_free(&um);
        data_idmap_free(&im);
    }
    if (no_genres) return 1; /* (load_genres said why) */
    if (!users || !items || (o.model.kind == MF_DEEP && !genres))
        usage_error(a, "give --users and --items%s, or --data FILE", o.model.kind == MF_DEEP ? " and --genres" : "", "");
    mf_summary(stdout, &o.model, users, items, genres);
    return 0;
}

/* ------------------------------------------------------------ synth */

static int cmd_synth(args *a) {
    const char *out = NULL, *shape = "sample", *v;
    data_synth_config cfg;
    data_error err;
    int seed_set = 0;
    uint64_t seed = 0;
    size_t users = 0, items = 0, ratings = 0;
    for (a->k = 2; a->k < a->argc; a->k++) {
        if (flag(a, "--help") || flag(a, "-h")) {
            printf("usage: embrec synth --out DIR [--shape NAME] [--seed N]\n"
                   "                    [--users N] [--items N] [--ratings N]\n\n"
                   "Writes DIR/ratings.csv and DIR/movies.csv in the MovieLens layout from a\n"
                   "planted low-rank model. Shapes: sample (300 users, 200 movies, 12,000\n"
                   "ratings: the bundled data/), ml-100k, ml-1m, ml-25m.          [sample]\n");
            return 0;
        } else if (option(a, "--out", &v)) out = v;
        else if (option(a, "--shape", &v)) shape = v;
        else if (option(a, "--seed", &v)) { seed = parse_size(a, "--seed", v, 0); seed_set = 1; }
        else if (option(a, "--users", &v)) users = parse_size(a, "--users", v, 1);
        else if (option(a, "--items", &v)) items = parse_size(a, "--items", v, 1);
        else if (option(a, "--ratings", &v)) ratings = parse_size(a, "--ratings", v, 1);
        else unknown_option(a);
    }
    if (!out) usage_error(a, "--out DIR is required%s%s", "", "");
    if (data_synth_shape(shape, &cfg) != 0)
        usage_error(a, "--shape: unknown shape \"%s\" (sample, ml-100k, ml-1m, ml-25m)", shape, "");
    if (seed_set) cfg.seed = seed;
    if (users) cfg.users = users;
    if (items) cfg.items = items;
    if (ratings) cfg.ratings = ratings;
    if (data_synth_write(out, &cfg, &err) != 0) die(&err);
    printf("wrote %s/ratings.csv (%zu ratings, %zu users, %zu movies) and %s/movies.csv\n", out,
           cfg.ratings, cfg.users, cfg.items, out);
    return 0;
}

/* ------------------------------------------------------------ main */

static void main_help(FILE *out) {
    fprintf(out, "embrec %s — embedding recommenders, from the Keras notebooks, in C99\n\n"
           "usage: embrec COMMAND [options]     (embrec COMMAND --help for each)\n\n"
           "  train      learn user and movie embeddings (--recipe mf8, cfmodel,\n"
           "             deep-genre, neumf, hybrid: the notebooks' protocols)\n"
           "  eval       RMSE and MAE of a saved model on a ratings file (or --ranking)\n"
           "  predict    predicted ratings for user,item pairs\n"
           "  recommend  a user's top-N unrated movies with titles (or every user's)\n"
           "  similar    the movies nearest a movie by their embeddings\n"
           "  export     embeddings as .npy and TSV (TensorBoard projector)\n"
           "  map        a t-SNE or PCA map of the movie embeddings, as SVG\n"
           "  plot       training history or most-similar bars, as SVG\n"
           "  summary    a model's layers and parameter counts, as Keras prints them\n"
           "  info       size, rating range and density of a ratings file\n"
           "  synth      write a MovieLens-shaped synthetic dataset\n"
           "  ablate     what each kind of side information is worth: a table of RMSE\n"
           "  cv         cross-validation: RMSE and MAE per fold, their mean ± sd\n"
           "  sweep      train over lists of values of one or two options: a table and\n"
           "             a chart of error and time (notebook 000's choice of k)\n"
           "  help CMD   the help of a command; --version: embrec's version\n\n"
           "SIMD path: %s (EMBREC_SIMD=scalar forces the scalar kernels)\n", EMBREC_VERSION,
           vec_path());
}

typedef struct {
    const char *name;
    int (*run)(args *a);
} command;

static const command commands[] = {
    {.name = "train", .run = cmd_train},       {.name = "eval", .run = cmd_eval},
    {.name = "predict", .run = cmd_predict},   {.name = "recommend", .run = cmd_recommend},
    {.name = "similar", .run = cmd_similar},   {.name = "export", .run = cmd_export},
    {.name = "map", .run = cmd_map},           {.name = "plot", .run = cmd_plot},
    {.name = "summary", .run = cmd_summary},   {.name = "info", .run = cmd_info},
    {.name = "synth", .run = cmd_synth},       {.name = "ablate", .run = cmd_ablate},
    {.name = "cv", .run = cmd_cv},             {.name = "sweep", .run = cmd_sweep},
};

static const command *find_command(const char *name) {
    size_t k;
    for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(commands[k].name, name) == 0) return &commands[k];
    return NULL;
}

/* Standard output is an output too: a command whose results could not be
 * printed (a full disk, /dev/full) says so and does not exit 0. Closing it
 * here also catches an error that only the close reports. */
static int stdout_checked(int status) {
    int e = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) e = errno ? errno : EIO;
    if (fclose(stdout) != 0 && !e) e = errno;
    if (!e) return status;
    fprintf(stderr, "embrec: standard output: cannot write: %s\n", strerror(e));
    return status ? status : 1;
}

/* The kernels' path, from EMBREC_SIMD (unset or empty: the fastest this CPU
 * runs), chosen before any thread starts; 0, or -1 after the error. */
static int choose_simd_path(void) {
    const char *name = getenv("EMBREC_SIMD");
    if (nn_simd_select(name) == 0) return 0;
    fprintf(stderr, "embrec: EMBREC_SIMD: no path \"%s\" in this build on this CPU (auto, "
                    "scalar, or avx2, avx512 or neon where the build and CPU have it)\n", name);
    return -1;
}

int main(int argc, char **argv) {
    static char help_flag[] = "--help";
    char *help_argv[3];
    const command *c;
    args a;
#ifndef EMBREC_REFERENCE
    fast_install(); /* the reference build runs the reading core alone */
#endif
    memset(&a, 0, sizeof a);
    a.argc = argc;
    a.argv = argv;
    a.k = 1;
    a.tried_k = -1;
    a.cmd = argc > 1 ? argv[1] : "";
    if (choose_simd_path() != 0) return EXIT_USAGE;
#ifndef EMBREC_REFERENCE
    fast_install(); /* the speed machinery into the core's seams */
#endif
    if (argc < 2) { /* a usage error: the help goes to stderr */
        main_help(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(a.cmd, "--version") == 0 || strcmp(a.cmd, "version") == 0) {
        printf("embrec %s (model files version %d, SIMD path %s)\n", EMBREC_VERSION,
               MF_FILE_VERSION, vec_path());
        return 0;
    }
    if (strcmp(a.cmd, "help") == 0 && argc > 2 && find_command(argv[2])) {
        /* embrec help train = embrec train --help */
        help_argv[0] = argv[0];
        help_argv[1] = argv[2];
        help_argv[2] = help_flag;
        a.argc = 3;
        a.argv = help_argv;
        a.cmd = argv[2];
    } else if (strcmp(a.cmd, "--help") == 0 || strcmp(a.cmd, "-h") == 0 ||
               strcmp(a.cmd, "help") == 0) {
        if (argc > 2) {
            fprintf(stderr, "embrec: no command \"%s\" to help with\n\n", argv[2]);
            main_help(stderr);
            return EXIT_USAGE;
        }
        main_help(stdout);
        return 0;
    }
    c = find_command(a.cmd);
    if (!c) {
        fprintf(stderr, "embrec: unknown command \"%s\" (train, eval, predict, recommend, similar, "
                        "export, map, plot, summary, info, synth, ablate, cv, sweep; embrec --help)\n", a.cmd);
        return EXIT_USAGE;
    }
    return stdout_checked(c->run(&a));
}
