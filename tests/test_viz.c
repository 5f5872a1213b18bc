/* tests/test_viz.c — PCA, t-SNE, trustworthiness and the SVG writers.
 *
 * The maps are judged by what they are for: planted clusters stay together
 * (trustworthiness and a neighbour-purity score above stated thresholds, for
 * the exact and the Barnes–Hut t-SNE), PCA finds a planted axis, and a seed
 * gives the same map twice. The SVG files are checked for well-formed XML by
 * a small checker here (and by Python's XML parser too when /usr/bin/python3
 * exists), with labels full of & < > " ' and a stray Latin-1 byte, NaN points,
 * and labels too long to fit.
 */
#define _POSIX_C_SOURCE 200809L /* access */
#include "test.h"

#include "../nn.h"
#include "../cli/viz.h"

#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------ data */

/* X (N, S) = c clusters of m points in D dims: centres ~ N(0, spread²),
 * points = centre + N(0, 1); label (N) = cluster; padding columns NaN (must
 * never be read) */
static float *clusters(size_t c, size_t m, size_t d, size_t stride, double spread, uint64_t seed,
                       int *label) {
    float *X = malloc(c * m * stride * sizeof *X);
    double *centre = malloc(c * d * sizeof *centre);
    nn_rng rng;
    size_t g, i, k;
    nn_rng_seed(&rng, seed);
    for (k = 0; k < c * d; k++) centre[k] = spread * nn_rng_normal(&rng);
    for (g = 0; g < c; g++)
        for (i = 0; i < m; i++) {
            float *row = X + (g * m + i) * stride;
            for (k = 0; k < stride; k++)
                row[k] = k < d ? (float)(centre[g * d + k] + nn_rng_normal(&rng)) : (float)NAN;
            label[g * m + i] = (int)g;
        }
    free(centre);
    return X;
}

/* the share of each point's 5 nearest map neighbours that come from its own cluster */
static double purity(const double *Y, const int *label, size_t n) {
    size_t i, j, t, same = 0;
    for (i = 0; i < n; i++) {
        size_t best[5];
        double bd[5];
        for (t = 0; t < 5; t++) { bd[t] = HUGE_VAL; best[t] = 0; }
        for (j = 0; j < n; j++) {
            double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1], dd = dx * dx + dy * dy;
            if (j == i || dd >= bd[4]) continue;
            for (t = 4; t > 0 && bd[t - 1] > dd; t--) { bd[t] = bd[t - 1]; best[t] = best[t - 1]; }
            bd[t] = dd;
            best[t] = j;
        }
        for (t = 0; t < 5; t++) same += label[best[t]] == label[i];
    }
    return (double)same / (double)(5 * n);
}

static double correlation(const double *a, size_t sa, const double *b, size_t sb, size_t n) {
    double ma = 0, mb = 0, ab = 0, aa = 0, bb = 0;
    size_t i;
    for (i = 0; i < n; i++) { ma += a[i * sa]; mb += b[i * sb]; }
    ma /= (double)n;
    mb /= (double)n;
    for (i = 0; i < n; i++) {
        double x = a[i * sa] - ma, y = b[i * sb] - mb;
        ab += x * y; aa += x * x; bb += y * y;
    }
    return ab / sqrt(aa * bb);
}

static int all_finite(const double *Y, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!isfinite(Y[i])) return 0;
    return 1;
}

/* ------------------------------------------------------------ PCA */

/* points t·u + noise along a known axis u: the first principal axis is u, with
 * the sign that makes u's largest component positive */
static void test_pca_line(void) {
    enum { N = 400, D = 8, S = 10 };
    double u[D] = {0.2, -0.9, 0.1, 0.3, -0.1, 0.05, 0.2, -0.1}, t[N], norm = 0;
    float X[N * S];
    double Y[2 * N];
    nn_rng rng;
    size_t i, k;
    for (k = 0; k < D; k++) norm += u[k] * u[k];
    for (k = 0; k < D; k++) u[k] /= sqrt(norm);
    nn_rng_seed(&rng, 7);
    for (i = 0; i < N; i++) {
        t[i] = 10.0 * nn_rng_uniform(&rng) - 5.0;
        for (k = 0; k < S; k++)
            X[i * S + k] = k < D ? (float)(3.0 + t[i] * u[k] + 0.02 * nn_rng_normal(&rng)) : (float)NAN;
    }
    CHECK_INT(viz_pca(X, N, D, S, Y), 0);
    CHECK(all_finite(Y, 2 * N));
    /* u's largest component is negative (−0.9), so the axis is −u and y₀ ≈ −t */
    CHECK(correlation(Y, 2, t, 1, N) < -0.999);
    {
        double m = 0;
        for (i = 0; i < N; i++) m += Y[2 * i];
        CHECK_NEAR(m / N, 0.0, 0, 1e-9); /* centred */
    }
}

/* a plane with variances 9 and 1 along two orthogonal directions: axis 1
 * recovers a, axis 2 recovers b (made exactly uncorrelated with a, so the
 * sample's axes are u1 and u2), and the two projections are uncorrelated */
static void test_pca_plane(void) {
    enum { N = 500, D = 6 };
    double u1[D] = {1, 1, 0, 0, 1, 1}, u2[D] = {0, 0, 1, -1, 0, 0}, a[N], b[N], Y[2 * N];
    float X[N * D];
    nn_rng rng;
    size_t i, k;
    nn_rng_seed(&rng, 11);
    for (i = 0; i < N; i++) {
        a[i] = 3.0 * nn_rng_normal(&rng);
        b[i] = nn_rng_normal(&rng);
    }
    { /* centre a and b, and take a's share out of b */
        double ma = 0, mb = 0, ab = 0, aa = 0;
        for (i = 0; i < N; i++) { ma += a[i] / N; mb += b[i] / N; }
        for (i = 0; i < N; i++) { a[i] -= ma; b[i] -= mb; ab += a[i] * b[i]; aa += a[i] * a[i]; }
        for (i = 0; i < N; i++) b[i] -= ab / aa * a[i];
    }
    for (i = 0; i < N; i++)
        for (k = 0; k < D; k++)
            X[i * D + k] = (float)(a[i] * u1[k] / 2.0 + b[i] * u2[k] / sqrt(2.0) +
                                   0.01 * nn_rng_normal(&rng));
    CHECK_INT(viz_pca(X, N, D, D, Y), 0);
    CHECK(fabs(correlation(Y, 2, a, 1, N)) > 0.999);
    CHECK(fabs(correlation(Y + 1, 2, b, 1, N)) > 0.999);
    CHECK(fabs(correlation(Y, 2, Y + 1, 2, N)) < 1e-6);
}

static void test_pca_args(void) {
    float X[6] = {1, 2, 3, 4, 5, 6};
    double Y[6] = {9, 9, 9, 9, 9, 9};
    CHECK_INT(viz_pca(X, 3, 0, 2, Y), -1);
    CHECK_INT(viz_pca(X, 3, 2, 1, Y), -1);
    CHECK_INT(viz_pca(X, 1, 2, 2, Y), 0); /* one point: at the origin */
    CHECK(Y[0] == 0.0 && Y[1] == 0.0);
    CHECK_INT(viz_pca(X, 3, 1, 2, Y), 0); /* one dimension: the second axis is 0 */
    CHECK_NEAR(Y[0], -2.0, 0, 1e-12);
    CHECK_NEAR(Y[4], 2.0, 0, 1e-12);
    CHECK(Y[1] == 0.0 && Y[5] == 0.0);
    X[3] = (float)NAN;
    CHECK_INT(viz_pca(X, 3, 2, 2, Y), -1);
}

/* ------------------------------------------------------------ trustworthiness */

/* T(k) counted the slow, obvious way: ranks by counting closer points */
static double naive_trust(const double *X, const double *Y, size_t n, size_t k) {
    double sum = 0;
    size_t i, j, l;
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            size_t rin = 1, rmap = 1;
            double dj, mj;
            if (j == i) continue;
            dj = pow(X[2 * i] - X[2 * j], 2) + pow(X[2 * i + 1] - X[2 * j + 1], 2);
            mj = pow(Y[2 * i] - Y[2 * j], 2) + pow(Y[2 * i + 1] - Y[2 * j + 1], 2);
            for (l = 0; l < n; l++) {
                if (l == i || l == j) continue;
                rin += pow(X[2 * i] - X[2 * l], 2) + pow(X[2 * i + 1] - X[2 * l + 1], 2) < dj;
                rmap += pow(Y[2 * i] - Y[2 * l], 2) + pow(Y[2 * i + 1] - Y[2 * l + 1], 2) < mj;
            }
            if (rmap <= k && rin > k) sum += (double)(rin - k);
        }
    return 1.0 - 2.0 / ((double)n * k * (2.0 * n - 3.0 * k - 1.0)) * sum;
}

static void test_trust(void) {
    enum { N = 200 };
    float X[2 * N];
    double Xd[2 * N], Y[2 * N], R[2 * N], P[2 * N];
    nn_rng rng;
    size_t i;
    double t_id, t_rand, t_part;
    nn_rng_seed(&rng, 3);
    for (i = 0; i < 2 * N; i++) {
        X[i] = (float)nn_rng_normal(&rng);
        Xd[i] = Y[i] = (double)X[i];
        R[i] = nn_rng_normal(&rng);
        P[i] = Xd[i] + (i < N ? 0.0 : 0.7 * nn_rng_normal(&rng)); /* half the points jittered */
    }
    t_id = viz_trustworthiness(X, N, 2, 2, Y, 10, 0);
    t_rand = viz_trustworthiness(X, N, 2, 2, R, 10, 0);
    t_part = viz_trustworthiness(X, N, 2, 2, P, 10, 0);
    printf("  trustworthiness(10): identity %.4f, jittered %.4f, random %.4f\n", t_id, t_part, t_rand);
    CHECK_NEAR(t_id, 1.0, 0, 1e-12);
    CHECK(t_rand > 0.35 && t_rand < 0.65); /* ≈ 0.5 expected for a random map */
    CHECK(t_part > t_rand + 0.1 && t_part < 0.99);
    /* against the formula computed independently */
    CHECK_NEAR(viz_trustworthiness(X, 60, 2, 2, R, 5, 0), naive_trust(Xd, R, 60, 5), 0, 1e-12);
    CHECK_NEAR(viz_trustworthiness(X, 60, 2, 2, P, 7, 0), naive_trust(Xd, P, 60, 7), 0, 1e-12);
    /* impossible k (the normaliser needs k < N/2), a NaN in the map */
    CHECK(viz_trustworthiness(X, 20, 2, 2, Y, 10, 0) == -1.0);
    CHECK(viz_trustworthiness(X, 20, 2, 2, Y, 0, 0) == -1.0);
    Y[5] = NAN;
    CHECK(viz_trustworthiness(X, 20, 2, 2, Y, 3, 0) == -1.0);
}

/* the cosine flag ranks by angle: points on rays, mapped by their angle, are
 * perfectly trustworthy under cosine and not under euclidean distance */
static void test_trust_cosine(void) {
    enum { N = 100 };
    float X[2 * N];
    double Y[2 * N];
    nn_rng rng;
    size_t i;
    nn_rng_seed(&rng, 5);
    for (i = 0; i < N; i++) {
        double a = 6.0 * nn_rng_uniform(&rng), r = 0.1 + 10.0 * nn_rng_uniform(&rng);
        X[2 * i] = (float)(r * cos(a));
        X[2 * i + 1] = (float)(r * sin(a));
        Y[2 * i] = a; /* a 1-D map of the angle */
        Y[2 * i + 1] = 0.0;
    }
    CHECK(viz_trustworthiness(X, N, 2, 2, Y, 5, 1) > 0.999);
    CHECK(viz_trustworthiness(X, N, 2, 2, Y, 5, 0) < 0.95);
}

/* ------------------------------------------------------------ t-SNE */

enum { CL = 6, CM = 50, CD = 16, CS = 24, CN = CL * CM };
#define TRUST_MIN 0.95  /* trustworthiness(10) of the planted clusters' map */
#define PURITY_MIN 0.95 /* share of 5 nearest map neighbours from the same cluster */

static void check_cluster_map(const char *what, const viz_tsne_config *cfg) {
    int label[CN];
    float *X = clusters(CL, CM, CD, CS, 5.0, 42, label);
    double *Y = malloc(2 * CN * sizeof *Y), t, p;
    CHECK_INT(viz_tsne(X, CN, CD, CS, cfg, Y), 0);
    CHECK(all_finite(Y, 2 * CN));
    t = viz_trustworthiness(X, CN, CD, CS, Y, 10, cfg->cosine);
    p = purity(Y, label, CN);
    printf("  %s: trustworthiness(10) %.4f (min %.2f), purity(5) %.4f (min %.2f)\n", what, t,
           TRUST_MIN, p, PURITY_MIN);
    CHECK(t >= TRUST_MIN);
    CHECK(p >= PURITY_MIN);
    free(X);
    free(Y);
}

static void test_tsne_exact(void) {
    viz_tsne_config cfg = viz_tsne_defaults();
    check_cluster_map("exact", &cfg);
}

static void test_tsne_bh(void) {
    viz_tsne_config cfg = viz_tsne_defaults();
    cfg.exact_below = 10; /* N = 300: Barnes–Hut */
    check_cluster_map("Barnes-Hut", &cfg);
}

/* PCA of the same clusters for comparison: t-SNE must do at least as well */
static void test_pca_clusters(void) {
    int label[CN];
    float *X = clusters(CL, CM, CD, CS, 5.0, 42, label);
    double *Y = malloc(2 * CN * sizeof *Y);
    CHECK_INT(viz_pca(X, CN, CD, CS, Y), 0);
    printf("  PCA: trustworthiness(10) %.4f, purity(5) %.4f\n",
           viz_trustworthiness(X, CN, CD, CS, Y, 10, 0), purity(Y, label, CN));
    free(X);
    free(Y);
}

/* Clusters told apart only by direction: each point scaled by a random
 * factor in [0.2, 5], so euclidean distance mixes them and cosine does not. */
static void test_tsne_cosine(void) {
    int label[CN];
    float *X = clusters(CL, CM, CD, CD, 5.0, 9, label);
    double *Y = malloc(2 * CN * sizeof *Y), p;
    viz_tsne_config cfg = viz_tsne_defaults();
    nn_rng rng;
    size_t i, k;
    nn_rng_seed(&rng, 10);
    for (i = 0; i < CN; i++) {
        double s = 0.2 + 4.8 * nn_rng_uniform(&rng);
        for (k = 0; k < CD; k++) X[i * CD + k] *= (float)s;
    }
    cfg.cosine = 1;
    CHECK_INT(viz_tsne(X, CN, CD, CD, &cfg, Y), 0);
    p = purity(Y, label, CN);
    cfg.exact_below = 10;
    CHECK_INT(viz_tsne(X, CN, CD, CD, &cfg, Y), 0);
    printf("  cosine: purity(5) exact %.4f, Barnes-Hut %.4f\n", p, purity(Y, label, CN));
    CHECK(p >= PURITY_MIN);
    CHECK(purity(Y, label, CN) >= PURITY_MIN);
    free(X);
    free(Y);
}

/* With every neighbour in the sparse P (3·perplexity ≥ N − 1) and θ tiny, the
 * Barnes–Hut path computes the exact gradient up to rounding: the two maps
 * must agree. This checks the quadtree's forces, self-exclusion and Z. */
static void test_tsne_bh_vs_exact(void) {
    enum { N = 60, D = 5 };
    int label[N];
    float *X = clusters(3, 20, D, D, 3.0, 17, label);
    double A[2 * N], B[2 * N], err = 0, scale = 0;
    viz_tsne_config cfg = viz_tsne_defaults();
    size_t i;
    cfg.perplexity = 20; /* K = min(59, 60) = 59: all neighbours */
    cfg.iterations = 100;
    cfg.learning_rate = 10; /* gentle: at η = 200 sixty points fly apart chaotically */
    cfg.exaggeration_iters = 20; /* and rounding differences grow to the map's size */
    cfg.theta = 0;
    CHECK_INT(viz_tsne(X, N, D, D, &cfg, A), 0);
    cfg.theta = 1e-9;
    cfg.exact_below = 0;
    CHECK_INT(viz_tsne(X, N, D, D, &cfg, B), 0);
    for (i = 0; i < 2 * N; i++) {
        err = fmax(err, fabs(A[i] - B[i]));
        scale = fmax(scale, fabs(A[i]));
    }
    printf("  BH(θ→0) vs exact after 100 steps: max |Δy| %.3g (map extent %.3g)\n", err, scale);
    CHECK(scale > 1.0);
    CHECK(err < 1e-8 * scale);
    free(X);
}

/* The optimiser against a reference written here: with two points P_12 = ½
 * and q_12 = ½, so ∂KL/∂y_1 = 4 (ex·½ − ½) q̃ (y_1 − y_2) = 2 (ex − 1) q̃ (y_1 − y_2)
 * and ∂KL/∂y_2 = −∂KL/∂y_1. The reference takes the same start (1e-4 × normal
 * draws from the seed), gains (+0.2 when the gradient's sign differs from the
 * last update's, else ×0.8, at least 0.01), momentum 0.5 then 0.8 from step
 * 250, and re-centring. An "exaggeration" of ½ makes the pair repel, so the
 * gradient stays non-zero across the momentum switch; plain steps follow. */
static void test_tsne_optimiser(void) {
    float X[2] = {0.0f, 1.0f};
    double Y[4], ref[4], u[4] = {0, 0, 0, 0}, gain[4] = {1, 1, 1, 1};
    viz_tsne_config cfg = viz_tsne_defaults();
    nn_rng rng;
    size_t it, c;
    cfg.iterations = 300;
    cfg.exaggeration = 0.5;
    cfg.exaggeration_iters = 280;
    cfg.seed = 77;
    CHECK_INT(viz_tsne(X, 2, 1, 1, &cfg, Y), 0);
    nn_rng_seed(&rng, cfg.seed);
    for (c = 0; c < 4; c++) ref[c] = 1e-4 * nn_rng_normal(&rng);
    for (it = 0; it < cfg.iterations; it++) {
        double ex = it < cfg.exaggeration_iters ? cfg.exaggeration : 1.0;
        double dx = ref[0] - ref[2], dy = ref[1] - ref[3], q = 1.0 / (1.0 + dx * dx + dy * dy);
        double g[4];
        g[0] = 2.0 * (ex - 1.0) * q * dx;
        g[1] = 2.0 * (ex - 1.0) * q * dy;
        g[2] = -g[0];
        g[3] = -g[1];
        for (c = 0; c < 4; c++) {
            int differ = (g[c] > 0) - (g[c] < 0) != (u[c] > 0) - (u[c] < 0);
            gain[c] = differ ? gain[c] + 0.2 : fmax(gain[c] * 0.8, 0.01);
            u[c] = (it < 250 ? 0.5 : 0.8) * u[c] - cfg.learning_rate * gain[c] * g[c];
            ref[c] += u[c];
        }
        dx = 0.5 * (ref[0] + ref[2]);
        dy = 0.5 * (ref[1] + ref[3]);
        ref[0] -= dx; ref[2] -= dx;
        ref[1] -= dy; ref[3] -= dy;
    }
    for (c = 0; c < 4; c++) CHECK_NEAR(Y[c], ref[c], 1e-9, 1e-15);
    CHECK(fabs(ref[0]) > 1e-3); /* the pair moved: the check is not of two zeros */
}

/* The same seed gives the same map, bit for bit, on 1 or 3 threads; another
 * seed gives another map. */
static void test_tsne_determinism(void) {
    enum { N = 120, D = 8 };
    int label[N];
    float *X = clusters(4, 30, D, D, 4.0, 23, label);
    double A[2 * N], B[2 * N];
    viz_tsne_config cfg = viz_tsne_defaults();
    int path;
    cfg.iterations = 300;
    for (path = 0; path < 2; path++) {
        cfg.exact_below = path ? 0 : 2000;
        cfg.seed = 5;
        CHECK_INT(viz_tsne(X, N, D, D, &cfg, A), 0);
        CHECK_INT(viz_tsne(X, N, D, D, &cfg, B), 0);
        CHECK(memcmp(A, B, sizeof A) == 0);
        cfg.seed = 6;
        CHECK_INT(viz_tsne(X, N, D, D, &cfg, B), 0);
        CHECK(memcmp(A, B, sizeof A) != 0);
        cfg.seed = 5; /* threads share the work, not the result: the same bits */
        cfg.threads = 3;
        CHECK_INT(viz_tsne(X, N, D, D, &cfg, B), 0);
        CHECK(memcmp(A, B, sizeof A) == 0);
        cfg.threads = 1;
    }
    free(X);
}

/* odd inputs: bad configuration, NaN input, 1 and 2 points, fewer points than
 * neighbours, and every point the same (the quadtree must not split forever) */
static void test_tsne_edges(void) {
    float X[40 * 3];
    double Y[80];
    viz_tsne_config cfg = viz_tsne_defaults(), bad;
    size_t i;
    for (i = 0; i < 40 * 3; i++) X[i] = (float)(i % 7);
    bad = cfg; bad.perplexity = 0;
    CHECK_INT(viz_tsne(X, 40, 3, 3, &bad, Y), -1);
    bad = cfg; bad.theta = -1;
    CHECK_INT(viz_tsne(X, 40, 3, 3, &bad, Y), -1);
    bad = cfg; bad.learning_rate = NAN;
    CHECK_INT(viz_tsne(X, 40, 3, 3, &bad, Y), -1);
    CHECK_INT(viz_tsne(X, 40, 3, 2, &cfg, Y), -1); /* stride < d */
    CHECK_INT(viz_tsne(X, 1, 3, 3, &cfg, Y), 0);
    CHECK(Y[0] == 0.0 && Y[1] == 0.0);
    cfg.iterations = 200;
    CHECK_INT(viz_tsne(X, 2, 3, 3, &cfg, Y), 0);
    CHECK(all_finite(Y, 4) && Y[0] != Y[2]);
    cfg.exact_below = 0; /* Barnes–Hut with 5 points, K = 4 */
    CHECK_INT(viz_tsne(X, 5, 3, 3, &cfg, Y), 0);
    CHECK(all_finite(Y, 10));
    for (i = 0; i < 40 * 3; i++) X[i] = 1.0f; /* all equal */
    CHECK_INT(viz_tsne(X, 40, 3, 3, &cfg, Y), 0);
    CHECK(all_finite(Y, 80));
    cfg.exact_below = 2000;
    CHECK_INT(viz_tsne(X, 40, 3, 3, &cfg, Y), 0);
    CHECK(all_finite(Y, 80));
    X[4] = (float)NAN;
    CHECK_INT(viz_tsne(X, 40, 3, 3, &cfg, Y), -1);
}

/* ------------------------------------------------------------ SVG checks */

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *s;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    s[n] = 0;
    fclose(f);
    return s;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle)) n++;
    return n;
}

static int name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':'; }
static int name_char(char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }
static int space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* s points at '&': length of a valid entity reference there, else 0 */
static size_t entity(const char *s) {
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    size_t k, n = 2;
    for (k = 0; k < 5; k++)
        if (strncmp(s, named[k], strlen(named[k])) == 0) return strlen(named[k]);
    if (s[1] != '#') return 0;
    if (s[2] == 'x') {
        for (n = 3; (s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') || (s[n] >= 'A' && s[n] <= 'F'); n++) {}
        return n > 3 && s[n] == ';' ? n + 1 : 0;
    }
    for (; s[n] >= '0' && s[n] <= '9'; n++) {}
    return n > 2 && s[n] == ';' ? n + 1 : 0;
}

/* valid UTF-8 throughout (XML parsers reject anything else) */
static int utf8_ok(const unsigned char *s) {
    while (*s) {
        size_t len = *s < 0x80 ? 1 : (*s >> 5) == 6 ? 2 : (*s >> 4) == 14 ? 3 : (*s >> 3) == 30 ? 4 : 0, k;
        if (!len || (len == 2 && *s < 0xc2)) return 0;
        for (k = 1; k < len; k++)
            if ((s[k] & 0xc0) != 0x80) return 0;
        s += len;
    }
    return 1;
}

/* NULL when s is well-formed XML (for what these pictures contain: prolog,
 * doctype, comments, elements, quoted attributes, character data), else why */
static const char *xml_problem(const char *s) {
    char stack[64][32];
    int depth = 0, roots = 0;
    if (!utf8_ok((const unsigned char *)s)) return "not UTF-8";
    while (*s) {
        if (*s == '&') {
            size_t n = entity(s);
            if (!n) return "bare & in text";
            s += n;
        } else if (*s != '<') {
            if (depth == 0 && !space(*s)) return "text outside the root element";
            s++;
        } else if (s[1] == '?') {
            if (!(s = strstr(s, "?>"))) return "unterminated <?";
            s += 2;
        } else if (strncmp(s, "<!--", 4) == 0) {
            if (!(s = strstr(s, "-->"))) return "unterminated comment";
            s += 3;
        } else if (strncmp(s, "<!DOCTYPE", 9) == 0) {
            if (roots || depth || !(s = strchr(s, '>'))) return "misplaced doctype";
            s++;
        } else if (s[1] == '/') {
            size_t n = 0;
            s += 2;
            while (name_char(s[n])) n++;
            if (depth == 0 || strlen(stack[depth - 1]) != n || strncmp(stack[depth - 1], s, n))
                return "mismatched end tag";
            s += n;
            while (space(*s)) s++;
            if (*s++ != '>') return "bad end tag";
            depth--;
        } else { /* a start tag */
            char attr[16][32];
            size_t n = 0, na = 0, k;
            s++;
            if (!name_start(*s)) return "bad element name";
            while (name_char(s[n])) n++;
            if (n >= 32 || depth >= 64) return "name too long or too deep";
            if (depth == 0 && roots++) return "two root elements";
            memcpy(stack[depth], s, n);
            stack[depth][n] = 0;
            s += n;
            for (;;) {
                int sp = 0;
                char q;
                while (space(*s)) { s++; sp = 1; }
                if (*s == '>') { s++; depth++; break; }
                if (s[0] == '/' && s[1] == '>') { s += 2; break; }
                if (!sp || !name_start(*s)) return "bad attribute";
                for (n = 0; name_char(s[n]); n++) {}
                if (n >= 32 || na >= 16) return "attribute name too long or too many";
                memcpy(attr[na], s, n);
                attr[na][n] = 0;
                for (k = 0; k < na; k++)
                    if (!strcmp(attr[k], attr[na])) return "duplicate attribute";
                na++;
                s += n;
                if (*s++ != '=') return "attribute without =";
                q = *s++;
                if (q != '"' && q != '\'') return "unquoted attribute";
                while (*s && *s != q) {
                    if (*s == '<') return "< in attribute";
                    if (*s == '&') {
                        if (!entity(s)) return "bare & in attribute";
                        s += entity(s);
                    } else s++;
                }
                if (*s++ != q) return "unterminated attribute";
            }
        }
    }
    if (depth) return "unclosed element";
    if (!roots) return "no root element";
    return NULL;
}

/* the file is well-formed SVG: own checker, svg root with the attributes a
 * standalone file needs, no NaN or infinity printed, and Python's XML parser
 * agrees when it is installed */
static char *check_svg(const char *path) {
    char *s = slurp(path), cmd[1024];
    const char *why;
    CHECK(s != NULL);
    if (!s) return NULL;
    why = xml_problem(s);
    if (why) test_fail(__FILE__, __LINE__, "%s: %s", path, why);
    CHECK_HAS(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"");
    CHECK_HAS(s, "viewBox=\"0 0 ");
    CHECK(!strstr(s, "nan") && !strstr(s, "NaN") && !strstr(s, "inf"));
    if (access("/usr/bin/python3", X_OK) == 0) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import sys,xml.etree.ElementTree as E; "
                 "E.parse(sys.argv[1])' '%s'", path);
        if (system(cmd) != 0) test_fail(__FILE__, __LINE__, "python3 xml.etree rejects %s", path);
    } else {
        printf("  note: /usr/bin/python3 absent, %s checked by the built-in checker only\n", path);
    }
    return s;
}

static void test_xml_checker(void) { /* the checker itself must be able to fail */
    CHECK(xml_problem("<a><b x=\"1\"/></a>") == NULL);
    CHECK(xml_problem("<a>x &amp; y &#233; &#xe9;</a>") == NULL);
    CHECK(xml_problem("<a>x & y</a>") != NULL);
    CHECK(xml_problem("<a><b></a></b>") != NULL);
    CHECK(xml_problem("<a x=1/>") != NULL);
    CHECK(xml_problem("<a x=\"<\"/>") != NULL);
    CHECK(xml_problem("<a x=\"1\" x=\"2\"/>") != NULL);
    CHECK(xml_problem("<a/><b/>") != NULL);
    CHECK(xml_problem("<a>\xe9</a>") != NULL);
    CHECK(xml_problem("<a>") != NULL);
}

static const char *nasty[] = {"Tom & Jerry", "<script>", "say \"hi\"", "it's > that",
                              "Caf\xe9 (Latin-1)", "Am\xc3\xa9lie", "tab\there\x01"};

static void test_svg_scatter(void) {
    enum { N = 300 };
    int label[N], g[N];
    float *X = clusters(CL, CM, 2, 2, 5.0, 1, label);
    double xy[2 * N];
    const char *lab[N], *names[CL] = {"Drama & Romance", "<Horror>", "\"Comedy\"", "Sci-Fi's",
                                      "Caf\xe9", "a group with a name far too long for any legend box"};
    char text[N][16];
    uint8_t hl[N];
    viz_scatter sc;
    const char *path = test_path("scatter.svg");
    FILE *f;
    char *s;
    size_t i, finite = 0, hl_labelled = 0;
    for (i = 0; i < N; i++) {
        xy[2 * i] = X[2 * i];
        xy[2 * i + 1] = X[2 * i + 1];
        g[i] = label[i];
        hl[i] = i % 50 == 7;
        snprintf(text[i], sizeof text[i], "p%zu", i);
        lab[i] = i < 7 ? nasty[i] : i % 3 ? text[i] : NULL;
    }
    xy[2 * 10] = NAN; /* skipped */
    xy[2 * 20 + 1] = HUGE_VAL;
    g[30] = 99; /* out of range: drawn grey, no legend entry */
    for (i = 0; i < N; i++) {
        finite += isfinite(xy[2 * i]) && isfinite(xy[2 * i + 1]);
        hl_labelled += hl[i] && lab[i];
    }
    memset(&sc, 0, sizeof sc);
    sc.title = "Planted clusters: A & B <test>";
    sc.xy = xy; sc.n = N; sc.label = lab; sc.group = g; sc.group_name = names;
    sc.n_groups = CL; sc.highlight = hl;
    f = fopen(path, "wb");
    CHECK_INT(viz_svg_scatter(f, &sc), 0);
    fclose(f);
    s = check_svg(path);
    if (s) {
        CHECK_HAS(s, "Planted clusters: A &amp; B &lt;test&gt;");
        CHECK_HAS(s, "Drama &amp; Romance");
        CHECK_HAS(s, "Caf&#233;");
        CHECK_HAS(s, "\xe2\x80\xa6"); /* the long group name was shortened */
        CHECK(!strstr(s, "far too long for any legend box"));
        CHECK_INT(count(s, "class=\"c") , finite + CL); /* every finite point, one marker per legend row */
        CHECK_INT(count(s, " hl\""), N / 50);         /* highlighted points, outlined */
        CHECK_INT(hl_labelled, 4);
        CHECK_INT(count(s, "class=\"label-hl\""), hl_labelled); /* their labels all placed */
        CHECK_INT(count(s, "class=\"c-\""), 1);     /* the point of group 99 */
    }
    free(s);
    free(X);
}

/* 100 labelled points on one spot: at most 4 labels fit around it (right,
 * left, above, below); the highlighted one, last in order, is placed first */
static void test_svg_labels_collide(void) {
    enum { N = 100 };
    double xy[2 * N];
    const char *lab[N];
    char text[N][16];
    uint8_t hl[N];
    viz_scatter sc;
    const char *path = test_path("pile.svg");
    FILE *f;
    char *s;
    size_t i;
    for (i = 0; i < N; i++) {
        xy[2 * i] = i == 0 ? -1.0 : i == 1 ? 1.0 : 0.0;
        xy[2 * i + 1] = 0.0;
        snprintf(text[i], sizeof text[i], "item %zu", i);
        lab[i] = text[i];
        hl[i] = i == N - 1;
    }
    memset(&sc, 0, sizeof sc);
    sc.title = "pile";
    sc.xy = xy; sc.n = N; sc.label = lab; sc.highlight = hl;
    f = fopen(path, "wb");
    CHECK_INT(viz_svg_scatter(f, &sc), 0);
    fclose(f);
    s = check_svg(path);
    if (s) {
        size_t placed = count(s, "class=\"label\"") + count(s, "class=\"label-hl\"");
        CHECK(placed >= 3 && placed <= 6); /* 4 around the pile, the 2 outliers' at most */
        CHECK_HAS(s, ">item 99</text>");
        CHECK_INT(count(s, "class=\"label-hl\""), 1);
        CHECK_INT(count(s, "class=\"c0"), N); /* no groups: all in the first colour */
        CHECK(!strstr(s, "class=\"legend\"")); /* and no legend */
    }
    free(s);
}

static void test_svg_lines(void) {
    double train[20], val[20], odd[5] = {1.0, NAN, 0.9, NAN, HUGE_VAL};
    viz_series sr[3];
    const char *path = test_path("lines.svg");
    FILE *f;
    char *s;
    size_t i;
    for (i = 0; i < 20; i++) {
        train[i] = 0.5 + 2.0 / (i + 1.0);
        val[i] = i == 4 ? NAN : 0.7 + 1.0 / (i + 1.0);
    }
    sr[0].name = "train <MAE>"; sr[0].y = train; sr[0].n = 20; sr[0].dashed = 0;
    sr[1].name = "validation & \"test\""; sr[1].y = val; sr[1].n = 20; sr[1].dashed = 1;
    sr[2].name = NULL; sr[2].y = odd; sr[2].n = 5; sr[2].dashed = 0;
    f = fopen(path, "wb");
    CHECK_INT(viz_svg_lines(f, "Loss & accuracy", "epoch", "MAE <stars>", sr, 3, 0.73,
                            "global mean (0.73)"), 0);
    fclose(f);
    s = check_svg(path);
    if (s) {
        CHECK_HAS(s, ">Loss &amp; accuracy</text>");
        CHECK_HAS(s, ">epoch</text>");
        CHECK_HAS(s, ">MAE &lt;stars&gt;</text>");
        CHECK_HAS(s, ">validation &amp; &quot;test&quot;</text>");
        CHECK_HAS(s, ">series 3</text>");
        CHECK_HAS(s, ">global mean (0.73)</text>");
        CHECK_HAS(s, ">20</text>"); /* an x tick at the last epoch */
        CHECK_INT(count(s, "<polyline"), 3); /* train; val broken at the NaN into 2 runs */
        CHECK_INT(count(s, "stroke-dasharray=\"7,4\""), 3); /* 2 dashed runs + legend sample */
    }
    free(s);
    /* no series at all: still a valid picture */
    f = fopen(path, "wb");
    CHECK_INT(viz_svg_lines(f, "empty", "x", "y", NULL, 0, NAN, NULL), 0);
    fclose(f);
    free(check_svg(path));
}

/* the x coordinates of the first polyline's points in s; how many */
static size_t polyline_xs(const char *s, double *x, size_t max) {
    const char *p = strstr(s, "<polyline");
    size_t n = 0;
    if (!p || !(p = strstr(p, "points=\""))) return 0;
    p += 8;
    while (n < max && *p != '"') {
        char *end;
        x[n++] = strtod(p, &end);
        p = end + strcspn(end, " \""); /* past its y, to the next pair or the end */
        if (*p == ' ') p++;
    }
    return n;
}

/* Panels over one x axis (sweep's chart): on a log axis powers of 2 are
 * evenly spaced with a tick at each; on a linear one the ticks are round
 * values; NaN breaks a line; every name is escaped; no lines at all is
 * still a picture. */
static void test_svg_panels(void) {
    double k[7] = {2, 4, 8, 16, 32, 64, 128}, rmse[7] = {0.95, 0.93, 0.91, NAN, 0.92, 0.94, 0.97};
    double mae[7] = {0.75, 0.74, 0.72, 0.72, 0.73, 0.74, 0.76}, sec[7] = {1, 1.1, 1.3, 1.6, 2.4, 4, 7};
    double lr[3] = {0.1, 0.2, 0.5}, px[16];
    viz_xy err[2], time[1], lin[1];
    viz_panel p[2];
    const char *path = test_path("panels.svg");
    FILE *f;
    char *s;
    size_t n, i;
    memset(err, 0, sizeof err);
    err[0].name = "RMSE <val>"; err[0].x = k; err[0].y = rmse; err[0].n = 7;
    err[1].name = "MAE"; err[1].x = k; err[1].y = mae; err[1].n = 7; err[1].dashed = 1;
    memset(time, 0, sizeof time);
    time[0].name = "s/epoch"; time[0].x = k; time[0].y = sec; time[0].n = 7; time[0].colour = 2;
    p[0].y_label = "error"; p[0].lines = err; p[0].n_lines = 2;
    p[1].y_label = "seconds & more"; p[1].lines = time; p[1].n_lines = 1;
    f = fopen(path, "wb");
    CHECK_INT(viz_svg_panels(f, "Error & time against K", "--dim (K)", 1, p, 2), 0);
    fclose(f);
    s = check_svg(path);
    if (s) {
        CHECK_HAS(s, ">Error &amp; time against K</text>");
        CHECK_HAS(s, ">RMSE &lt;val&gt;</text>");
        CHECK_HAS(s, ">seconds &amp; more</text>");
        for (i = 0; i < 7; i++) { /* a tick label at every K */
            char tick[32];
            snprintf(tick, sizeof tick, "\"tick\">%g</text>", k[i]);
            CHECK_HAS(s, tick);
        }
        CHECK_INT(count(s, "<polyline"), 4); /* RMSE in two runs, MAE, seconds */
        CHECK_INT(count(s, "<circle"), 20);  /* a dot on every drawable point */
        n = polyline_xs(s, px, 16);          /* RMSE's first run: 2, 4, 8 */
        CHECK_INT(n, 3);
        if (n == 3) CHECK_NEAR(px[2] - px[1], px[1] - px[0], 1e-4, 0.02); /* log: even steps */
    }
    free(s);
    /* linear: 0.1, 0.2, 0.5 at their places, round ticks between */
    memset(lin, 0, sizeof lin);
    lin[0].x = lr; lin[0].y = sec; lin[0].n = 3;
    p[0].lines = lin; p[0].n_lines = 1;
    f = fopen(path, "wb");
    CHECK_INT(viz_svg_panels(f, "lr", "--lr", 0, p, 1), 0);
    fclose(f);
    s = check_svg(path);
    if (s) {
        n = polyline_xs(s, px, 16);
        CHECK_INT(n, 3);
        if (n == 3) CHECK_NEAR(px[2] - px[1], 3.0 * (px[1] - px[0]), 1e-4, 0.02);
        CHECK_HAS(s, ">0.3</text>");
        CHECK_HAS(s, ">line 1</text>");
    }
    free(s);
    f = fopen(path, "wb"); /* nothing at all */
    CHECK_INT(viz_svg_panels(f, "empty", "x", 1, NULL, 0), 0);
    fclose(f);
    free(check_svg(path));
    CHECK_INT(viz_svg_panels(NULL, "t", "x", 0, p, 1), -1);
}

static void test_svg_bars(void) {
    const char *lab[6] = {"The Lord of the Rings: The Fellowship of the Ring (2001) extended edition",
                          "Up & Down <2>", "\"Quoted\"", NULL, "Caf\xe9", "zero"};
    double v[6] = {0.93, 0.81, -0.25, NAN, 0.5, 0.0};
    const char *path = test_path("bars.svg");
    FILE *f = fopen(path, "wb");
    char *s;
    CHECK_INT(viz_svg_bars(f, "Most similar to \"Back to the Future\"", "cosine similarity", lab, v, 6), 0);
    fclose(f);
    s = check_svg(path);
    if (s) {
        /* 48 characters at most: the first 32, "…", the last 15 */
    CHECK_HAS(s, ">The Lord of the Rings: The Fello\xe2\x80\xa6xtended edition</text>");
        CHECK_HAS(s, ">Up &amp; Down &lt;2&gt;</text>");
        CHECK_HAS(s, ">0.930</text>"); /* every value with 3 significant digits of the largest */
        CHECK_HAS(s, ">-0.250</text>");
        CHECK_HAS(s, ">0.000</text>");
        CHECK_HAS(s, ">Caf&#233;</text>");
        CHECK_HAS(s, ">n/a</text>");
        CHECK_HAS(s, ">cosine similarity</text>");
        CHECK_INT(count(s, "fill=\"#e15759\""), 1); /* the negative bar */
    }
    free(s);
}

void suite_viz(void) {
    test_run("viz/pca_line", test_pca_line);
    test_run("viz/pca_plane", test_pca_plane);
    test_run("viz/pca_args", test_pca_args);
    test_run("viz/trustworthiness", test_trust);
    test_run("viz/trustworthiness_cosine", test_trust_cosine);
    test_run("viz/tsne_exact_clusters", test_tsne_exact);
    test_run("viz/tsne_bh_clusters", test_tsne_bh);
    test_run("viz/pca_clusters", test_pca_clusters);
    test_run("viz/tsne_cosine", test_tsne_cosine);
    test_run("viz/tsne_bh_vs_exact", test_tsne_bh_vs_exact);
    test_run("viz/tsne_optimiser", test_tsne_optimiser);
    test_run("viz/tsne_determinism", test_tsne_determinism);
    test_run("viz/tsne_edges", test_tsne_edges);
    test_run("viz/xml_checker", test_xml_checker);
    test_run("viz/svg_scatter", test_svg_scatter);
    test_run("viz/svg_labels_collide", test_svg_labels_collide);
    test_run("viz/svg_lines", test_svg_lines);
    test_run("viz/svg_bars", test_svg_bars);
    test_run("viz/svg_panels", test_svg_panels);
}
