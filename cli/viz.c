/* viz.c — 2-D maps of embeddings, a score for them, and SVG pictures.
 *
 * Read it in four parts: PCA (the covariance's top two eigenvectors by power
 * iteration with deflation); t-SNE as van der Maaten's reference code does it
 * (perplexity-calibrated Gaussian affinities, Student-t map similarities,
 * momentum + gains, early exaggeration), exact for small N and Barnes–Hut
 * (quadtree, sparse affinities over the 3·perplexity nearest neighbours)
 * above; the trustworthiness score; and three SVG writers (scatter map, line
 * chart, horizontal bars) that share a small toolkit: XML escaping, locale-free
 * numbers, "nice" axis ticks, a 10-colour qualitative palette.
 *
 * What it deliberately does not do: no threads of its own (its shares run
 * through nn_run_shares, on threads where the build has them), no SIMD (the maps are
 * computed once per picture); no approximate nearest neighbours — t-SNE's
 * neighbour lists are found by brute force, once, in O(N²D); no FFT-accelerated
 * t-SNE; no font metrics — a text is assumed 0.6 em wide per character, so the
 * label placement that keeps labels from piling up is a careful guess, not a
 * measurement; and no dependence on the C locale: numbers are always written
 * with a '.'.
 *
 * Dimension letters: N points, D dimensions of a point, S row stride (≥ D),
 * K neighbours of a point in t-SNE's sparse affinities.
 */
#include "viz.h"
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* the same arithmetic, and so the same map, with gcc and clang */
#endif

/* ============================================================ helpers */

/* a·b·size zeroed bytes from nn_alloc; NULL when out of memory or the product overflows */
static void *alloc_n(size_t a, size_t b, size_t size) {
    if (size != 0 && b > SIZE_MAX / size) return NULL;
    if (b * size != 0 && a > SIZE_MAX / (b * size)) return NULL;
    return nn_alloc(a * b * size);
}

/* Xd (N, D) = X (N, S) in double, rows scaled to unit length when unit (cosine
 * distance; a zero row stays zero). NULL when out of memory or a value is not
 * finite: no distance could be computed from it. */
static double *rows_to_double(const float *X, size_t n, size_t d, size_t stride, int unit) {
    double *Xd = alloc_n(n, d, sizeof(double));
    size_t i, c;
    if (!Xd) return NULL;
    for (i = 0; i < n; i++) {
        double *r = Xd + i * d, norm2 = 0.0;
        for (c = 0; c < d; c++) {
            r[c] = (double)X[i * stride + c];
            if (!isfinite(r[c])) { nn_free(Xd); return NULL; }
            norm2 += r[c] * r[c];
        }
        if (unit && norm2 > 0.0) {
            double s = 1.0 / sqrt(norm2);
            for (c = 0; c < d; c++) r[c] *= s;
        }
    }
    return Xd;
}

/* |a − b|² (four partial sums, so the loop is not one long dependency chain) */
static double dist2(const double *a, const double *b, size_t d) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t c = 0;
    for (; c + 4 <= d; c += 4) {
        double e0 = a[c] - b[c], e1 = a[c + 1] - b[c + 1];
        double e2 = a[c + 2] - b[c + 2], e3 = a[c + 3] - b[c + 3];
        s0 += e0 * e0; s1 += e1 * e1; s2 += e2 * e2; s3 += e3 * e3;
    }
    for (; c < d; c++) s0 += (a[c] - b[c]) * (a[c] - b[c]);
    return (s0 + s1) + (s2 + s3);
}

/* 1 − a·b for unit rows a, b (clamped at 0 against rounding); 1 when either is zero */
static double cos_dist(const double *a, const double *b, size_t d) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, r;
    size_t c = 0;
    for (; c + 4 <= d; c += 4) {
        s0 += a[c] * b[c]; s1 += a[c + 1] * b[c + 1];
        s2 += a[c + 2] * b[c + 2]; s3 += a[c + 3] * b[c + 3];
    }
    for (; c < d; c++) s0 += a[c] * b[c];
    r = 1.0 - ((s0 + s1) + (s2 + s3));
    return r > 0.0 ? r : 0.0;
}

/* t-SNE's input distance: cosine distance, or the squared euclidean one (as
 * both reference implementations use; same neighbour order as euclidean) */
static double input_dist(const double *a, const double *b, size_t d, int cosine) {
    return cosine ? cos_dist(a, b, d) : dist2(a, b, d);
}

/* A neighbour candidate; ordered by distance, then index, so ties are broken
 * the same way on every machine. */
typedef struct {
    double dist;
    uint32_t j;
} neighbour;

static int neighbour_before(neighbour a, neighbour b) {
    return a.dist < b.dist || (a.dist == b.dist && a.j < b.j);
}

static int neighbour_cmp(const void *pa, const void *pb) {
    neighbour a = *(const neighbour *)pa, b = *(const neighbour *)pb;
    return neighbour_before(a, b) ? -1 : neighbour_before(b, a) ? 1 : 0;
}

/* Offer c to heap (k), a max-heap of the k nearest seen so far, holding *m ≤ k. */
static void heap_offer(neighbour *heap, size_t k, size_t *m, neighbour c) {
    size_t i;
    if (*m < k) { /* grow: sift c up from the end */
        i = (*m)++;
        while (i > 0 && neighbour_before(heap[(i - 1) / 2], c)) {
            heap[i] = heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        heap[i] = c;
        return;
    }
    if (k == 0 || !neighbour_before(c, heap[0])) return;
    i = 0; /* replace the farthest: sift c down from the root */
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, big = i;
        neighbour top = c; /* the greatest of c and i's children */
        if (l < k && neighbour_before(top, heap[l])) { big = l; top = heap[l]; }
        if (r < k && neighbour_before(top, heap[r])) big = r;
        if (big == i) break;
        heap[i] = heap[big];
        i = big;
    }
    heap[i] = c;
}

/* ============================================================ PCA */

/* C (D, D) = Σ_i (x_i − μ)(x_i − μ)ᵀ / (N − 1), μ (D) the column means */
static void covariance(const float *X, size_t n, size_t d, size_t stride,
                       double *mu, double *C, double *xc) {
    size_t i, a, b;
    for (i = 0; i < n; i++)
        for (a = 0; a < d; a++) mu[a] += (double)X[i * stride + a];
    for (a = 0; a < d; a++) mu[a] /= (double)n;
    for (i = 0; i < n; i++) {
        for (a = 0; a < d; a++) xc[a] = (double)X[i * stride + a] - mu[a];
        for (a = 0; a < d; a++)
            for (b = a; b < d; b++) C[a * d + b] += xc[a] * xc[b];
    }
    for (a = 0; a < d; a++)
        for (b = a; b < d; b++) {
            C[a * d + b] /= (double)(n > 1 ? n - 1 : 1);
            C[b * d + a] = C[a * d + b];
        }
}

/* v −= (v·u) u for a unit u */
static void orthogonalise(double *v, const double *u, size_t d) {
    double s = 0.0;
    size_t c;
    for (c = 0; c < d; c++) s += v[c] * u[c];
    for (c = 0; c < d; c++) v[c] -= s * u[c];
}

/* v (D) = the unit eigenvector of the largest eigenvalue of the symmetric C
 * (D, D), kept orthogonal to u (D) when u is given; returns the eigenvalue.
 * Power iteration v ← Cv/|Cv| from a fixed pseudo-random start, at most 1000
 * steps, stopping once 1 − |v·v'| < 1e-15. When C vanishes on the subspace
 * (rank-1 data) v stays the start vector and the eigenvalue is 0. */
static double power_iteration(const double *C, size_t d, const double *u, double *v, double *w) {
    nn_rng rng;
    double lambda = 0.0, norm;
    size_t it, a, b;
    nn_rng_seed(&rng, 0x9e3779b97f4a7c15u);
    for (a = 0; a < d; a++) v[a] = 2.0 * nn_rng_uniform(&rng) - 1.0;
    if (u) orthogonalise(v, u, d);
    for (norm = 0.0, a = 0; a < d; a++) norm += v[a] * v[a];
    norm = sqrt(norm);
    if (norm == 0.0) return 0.0; /* d = 1 and u given: no second axis */
    for (a = 0; a < d; a++) v[a] /= norm;
    for (it = 0; it < 1000; it++) {
        double dot = 0.0;
        for (a = 0; a < d; a++) {
            double s = 0.0;
            for (b = 0; b < d; b++) s += C[a * d + b] * v[b];
            w[a] = s;
        }
        if (u) orthogonalise(w, u, d); /* rounding would let the first axis creep back in */
        for (norm = 0.0, a = 0; a < d; a++) norm += w[a] * w[a];
        norm = sqrt(norm);
        if (norm == 0.0 || !isfinite(norm)) break;
        for (a = 0; a < d; a++) {
            w[a] /= norm;
            dot += w[a] * v[a];
        }
        memcpy(v, w, d * sizeof *v);
        lambda = norm;
        if (1.0 - fabs(dot) < 1e-15) break;
    }
    return lambda;
}

/* flip v so that its largest-magnitude component (the first of equals) is positive */
static void fix_sign(double *v, size_t d) {
    size_t a, big = 0;
    for (a = 1; a < d; a++)
        if (fabs(v[a]) > fabs(v[big])) big = a;
    if (v[big] < 0.0)
        for (a = 0; a < d; a++) v[a] = -v[a];
}

int viz_pca(const float *X, size_t n, size_t d, size_t stride, double *Y) {
    double *mu, *C, *v1, *v2, *w;
    size_t i, a, b;
    if (d == 0 || stride < d) return -1;
    if (n == 0) return 0;
    if (!X || !Y) return -1;
    for (i = 0; i < n; i++)
        for (a = 0; a < d; a++)
            if (!isfinite(X[i * stride + a])) return -1;
    mu = alloc_n(d, 1, sizeof *mu);
    C = alloc_n(d, d, sizeof *C);
    v1 = alloc_n(d, 1, sizeof *v1);
    v2 = alloc_n(d, 1, sizeof *v2);
    w = alloc_n(d, 1, sizeof *w);
    if (!mu || !C || !v1 || !v2 || !w) {
        nn_free(mu); nn_free(C); nn_free(v1); nn_free(v2); nn_free(w);
        return -1;
    }
    covariance(X, n, d, stride, mu, C, w);
    {
        double l1 = power_iteration(C, d, NULL, v1, w);
        for (a = 0; a < d; a++) /* deflate: C ← C − λ₁ v₁ v₁ᵀ */
            for (b = 0; b < d; b++) C[a * d + b] -= l1 * v1[a] * v1[b];
        if (d > 1) power_iteration(C, d, v1, v2, w);
    }
    fix_sign(v1, d);
    fix_sign(v2, d);
    for (i = 0; i < n; i++) { /* y_i = ((x_i − μ)·v₁, (x_i − μ)·v₂) */
        double s1 = 0.0, s2 = 0.0;
        for (a = 0; a < d; a++) {
            double x = (double)X[i * stride + a] - mu[a];
            s1 += x * v1[a];
            s2 += x * v2[a];
        }
        Y[2 * i] = s1;
        Y[2 * i + 1] = d > 1 ? s2 : 0.0;
    }
    nn_free(mu); nn_free(C); nn_free(v1); nn_free(v2); nn_free(w);
    return 0;
}

/* ============================================================ t-SNE: affinities */

viz_tsne_config viz_tsne_defaults(void) {
    viz_tsne_config c;
    memset(&c, 0, sizeof c);
    c.perplexity = 30.0;
    c.iterations = 1000;
    c.learning_rate = 200.0;
    c.exaggeration = 12.0;
    c.exaggeration_iters = 250;
    c.cosine = 0;
    c.theta = 0.5;
    c.exact_below = 1000; /* Barnes–Hut is already 3.5× faster at N = 2000 */
    c.seed = 1;
    c.threads = 1;
    return c;
}

/* p (K) = p_{j|i} = exp(−β dist_j) / Σ_j exp(−β dist_j), with β found by
 * bisection (at most 200 steps) until the entropy H = −Σ p log p is within
 * 1e-5 of log(perplexity). The distances are shifted by their minimum first:
 * the p do not change, and exp cannot underflow to an all-zero row. */
static void perplexity_row(const double *dist, size_t k, double perplexity, double *p) {
    double dmin = dist[0], beta = 1.0, lo = 0.0, hi = HUGE_VAL, sum = 1.0;
    double target = log(perplexity);
    size_t j, it;
    for (j = 1; j < k; j++)
        if (dist[j] < dmin) dmin = dist[j];
    for (it = 0; it < 200; it++) {
        double sdp = 0.0, h;
        sum = 0.0;
        for (j = 0; j < k; j++) {
            p[j] = exp(-beta * (dist[j] - dmin));
            sum += p[j];
            sdp += (dist[j] - dmin) * p[j];
        }
        h = log(sum) + beta * sdp / sum; /* H = log Σ + β ⟨dist⟩; sum ≥ 1 (the nearest gives e⁰) */
        if (fabs(h - target) < 1e-5) break;
        if (h > target) { /* too flat: narrow the Gaussian */
            lo = beta;
            beta = (hi == HUGE_VAL) ? beta * 2.0 : (beta + hi) / 2.0;
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
    for (j = 0; j < k; j++) { /* affinities this small change nothing, and subnormals are slow */
        p[j] /= sum;
        if (p[j] < 1e-200) p[j] = 0.0;
    }
}

/* P (N, N) = (p_{j|i} + p_{i|j}) / 2N over all pairs (Σ P = 1, P_ii = 0);
 * dist (N) and p (N) are scratch */
static void exact_affinities(double *P, const double *Xd, size_t n, size_t d, int cosine,
                             double perplexity, double *dist, double *p) {
    size_t i, j, m;
    for (i = 0; i < n; i++) {
        for (m = 0, j = 0; j < n; j++)
            if (j != i) dist[m++] = input_dist(Xd + i * d, Xd + j * d, d, cosine);
        perplexity_row(dist, n - 1, perplexity, p);
        for (m = 0, j = 0; j < n; j++) P[i * n + j] = (j == i) ? 0.0 : p[m++];
    }
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++) {
            double v = (P[i * n + j] + P[j * n + i]) / (2.0 * (double)n);
            P[i * n + j] = P[j * n + i] = v;
        }
}

/* One stored entry of the sparse symmetric P: column j, value p. */
typedef struct {
    uint32_t j;
    double p;
} tsne_edge;

/* The upper triangle (j > i) of the sparse symmetric P in compressed rows:
 * row i's entries are edge[row[i] .. row[i+1]). */
typedef struct {
    size_t *row;     /* (N + 1) */
    tsne_edge *edge; /* (row[N]) sorted by j within a row */
} tsne_sparse;

static int edge_cmp(const void *pa, const void *pb) {
    uint32_t a = ((const tsne_edge *)pa)->j, b = ((const tsne_edge *)pb)->j;
    return a < b ? -1 : a > b ? 1 : 0;
}

/* nb (N, K) = each point's K nearest other points (brute force, O(N²D)), and
 * cp (N, K) = their conditional affinities p_{j|i}. Rows are independent:
 * thread t of T takes the t-th run of them, with scratch of its own, so the
 * result does not depend on T. */
typedef struct {
    uint32_t *nb;
    double *cp;
    const double *Xd;
    size_t n, d, k;
    int cosine;
    double perplexity;
    uint8_t *failed; /* (T) share t ran out of memory */
} knn_task;

static void knn_rows(void *ctx, size_t t, size_t T) {
    knn_task *kt = ctx;
    size_t n = kt->n, k = kt->k, d = kt->d, i, j, m;
    neighbour *heap = alloc_n(k, 1, sizeof *heap);
    double *dist = alloc_n(k, 1, sizeof *dist);
    if (!heap || !dist) {
        nn_free(heap);
        nn_free(dist);
        kt->failed[t] = 1;
        return;
    }
    for (i = n * t / T; i < n * (t + 1) / T; i++) {
        m = 0;
        for (j = 0; j < n; j++) {
            neighbour c;
            if (j == i) continue;
            c.dist = input_dist(kt->Xd + i * d, kt->Xd + j * d, d, kt->cosine);
            c.j = (uint32_t)j;
            heap_offer(heap, k, &m, c);
        }
        qsort(heap, k, sizeof *heap, neighbour_cmp);
        for (j = 0; j < k; j++) {
            kt->nb[i * k + j] = heap[j].j;
            dist[j] = heap[j].dist;
        }
        perplexity_row(dist, k, kt->perplexity, kt->cp + i * k);
    }
    nn_free(heap);
    nn_free(dist);
}

static int knn_affinities(uint32_t *nb, double *cp, const double *Xd, size_t n, size_t d,
                          int cosine, size_t k, double perplexity, size_t threads) {
    knn_task kt;
    size_t t;
    int failed = 0;
    kt.nb = nb;
    kt.cp = cp;
    kt.Xd = Xd;
    kt.n = n;
    kt.d = d;
    kt.k = k;
    kt.cosine = cosine;
    kt.perplexity = perplexity;
    if (threads < 1) threads = 1;
    kt.failed = calloc(threads, 1);
    if (!kt.failed) return -1;
    nn_run_shares(threads, knn_rows, &kt);
    for (t = 0; t < threads; t++) failed |= kt.failed[t];
    free(kt.failed);
    return failed ? -1 : 0;
}

/* S = the sparse P_ij = (p_{j|i} + p_{i|j}) / 2N, j > i, over the union of
 * the neighbour lists nb (N, K) with affinities cp (N, K): each p_{j|i} goes
 * to row min(i, j), then equal columns within a row are summed. */
static int symmetrise(tsne_sparse *S, const uint32_t *nb, const double *cp, size_t n, size_t k) {
    size_t *fill = alloc_n(n + 1, 1, sizeof *fill);
    size_t i, m, e;
    S->row = alloc_n(n + 1, 1, sizeof *S->row);
    S->edge = alloc_n(n, k, sizeof *S->edge);
    if (!fill || !S->row || !S->edge) { nn_free(fill); return -1; }
    for (i = 0; i < n; i++)
        for (m = 0; m < k; m++) {
            uint32_t j = nb[i * k + m];
            fill[(j > i ? i : j) + 1]++;
        }
    for (i = 0; i < n; i++) fill[i + 1] += fill[i];
    memcpy(S->row, fill, (n + 1) * sizeof *fill);
    for (i = 0; i < n; i++)
        for (m = 0; m < k; m++) {
            size_t j = nb[i * k + m], lo = j > i ? i : j, hi = j > i ? j : i;
            S->edge[fill[lo]].j = (uint32_t)hi;
            S->edge[fill[lo]++].p = cp[i * k + m];
        }
    for (e = 0, i = 0; i < n; i++) { /* sort each row by column, merge duplicates, compact */
        size_t a = S->row[i], b = S->row[i + 1], start = e;
        qsort(S->edge + a, b - a, sizeof *S->edge, edge_cmp);
        for (m = a; m < b; m++) {
            if (e > start && S->edge[e - 1].j == S->edge[m].j) S->edge[e - 1].p += S->edge[m].p;
            else S->edge[e++] = S->edge[m];
        }
        S->row[i] = start;
    }
    S->row[n] = e;
    for (m = 0; m < e; m++) S->edge[m].p /= 2.0 * (double)n;
    nn_free(fill);
    return 0;
}

/* ============================================================ t-SNE: gradients */

/* dY (N, 2) = ∂KL(P‖Q)/∂Y = 4 Σ_j (ex·P_ij − q̃_ij/Z) q̃_ij (y_i − y_j),
 * q̃_ij = 1/(1 + |y_i − y_j|²), Z = Σ_{k≠l} q̃_kl, over all pairs in one pass:
 * the attraction A_i = Σ_j P_ij q̃_ij (y_i − y_j) (summed in dY) and the
 * repulsion R_i = Σ_j q̃_ij² (y_i − y_j) (in rep (N, 2)) are kept apart, so
 * that Z is needed only at the end: dY_i = 4 (ex·A_i − R_i / Z). */
static void exact_gradient(double *dY, double *rep, const double *Y, const double *P, size_t n,
                           double ex) {
    double Z = 0.0;
    size_t i, j;
    memset(dY, 0, 2 * n * sizeof *dY);
    memset(rep, 0, 2 * n * sizeof *rep);
    for (i = 0; i < n; i++) {
        const double *Pi = P + i * n;
        double xi = Y[2 * i], yi = Y[2 * i + 1], ax = 0.0, ay = 0.0, rx = 0.0, ry = 0.0, zi = 0.0;
        for (j = i + 1; j < n; j++) { /* each pair once: +f on i, −f on j */
            double dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
            double q = 1.0 / (1.0 + dx * dx + dy * dy), pq = Pi[j] * q, qq = q * q;
            zi += q;
            ax += pq * dx; ay += pq * dy;
            rx += qq * dx; ry += qq * dy;
            dY[2 * j] -= pq * dx; dY[2 * j + 1] -= pq * dy;
            rep[2 * j] -= qq * dx; rep[2 * j + 1] -= qq * dy;
        }
        dY[2 * i] += ax; dY[2 * i + 1] += ay;
        rep[2 * i] += rx; rep[2 * i + 1] += ry;
        Z += 2.0 * zi;
    }
    for (i = 0; i < 2 * n; i++) dY[i] = 4.0 * (ex * dY[i] - rep[i] / Z);
}

/* The Barnes–Hut quadtree over the map, built from the points sorted along
 * the Z-order (Morton) curve of a 2²¹ × 2²¹ grid over the map's bounding
 * square. In that order every quadtree cell is a contiguous run of points, so
 * a node is a range [first, first + count) of the sorted points with its
 * centre of mass; its children split the range by the next two bits of the
 * keys. A node of at most QT_BUCKET points is a leaf whose points repel one
 * by one; a cell of the finest grid (points closer than 2⁻²¹ of the map) is a
 * leaf too, however many points share it. The sorted order also gives the
 * walks locality: consecutive points open nearly the same nodes. */
#define QT_LEVELS 21 /* grid bits per axis; the deepest nodes are at depth 21 */
#define QT_BUCKET 8

typedef struct {
    double mx, my;   /* centre of mass */
    uint32_t first;  /* the node's points are sorted positions first … first + count − 1 */
    uint32_t count;
    int32_t child;   /* first of n_child consecutive children; leaves have none */
    int32_t n_child;
} qt_node;

/* A point's place on the Z-order curve. */
typedef struct {
    uint64_t key;
    uint32_t i;
} qt_order;

typedef struct {
    qt_node *node;
    size_t n_nodes, cap;
    qt_order *order;               /* (N) the points in Z-order */
    double *ys;                    /* (N, 2) their coordinates in that order */
    double far2[QT_LEVELS + 1];    /* depth k: far when |y − centre|² > (cell width)² / θ² */
} quadtree;

/* the bits of v (< 2²¹) spread to the even positions of a 42-bit word */
static uint64_t spread_bits(uint64_t v) {
    v = (v | (v << 16)) & 0x0000ffff0000ffffu;
    v = (v | (v << 8)) & 0x00ff00ff00ff00ffu;
    v = (v | (v << 4)) & 0x0f0f0f0f0f0f0f0fu;
    v = (v | (v << 2)) & 0x3333333333333333u;
    v = (v | (v << 1)) & 0x5555555555555555u;
    return v;
}

/* (x, y)'s cell (ix, iy) on the grid of the square with corner (x0, y0) and
 * cells per unit s, as ix's bits interleaved with iy's above them */
static uint64_t morton_key(double x, double y, double x0, double y0, double s) {
    double top = (double)((1u << QT_LEVELS) - 1);
    uint64_t ix = (uint64_t)fmin(fmax((x - x0) * s, 0.0), top);
    uint64_t iy = (uint64_t)fmin(fmax((y - y0) * s, 0.0), top);
    return spread_bits(ix) | (spread_bits(iy) << 1);
}

static int order_cmp(const void *pa, const void *pb) {
    const qt_order *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* index of m fresh nodes, or −1 when out of memory */
static int32_t qt_new(quadtree *t, size_t m) {
    if (t->n_nodes + m > t->cap) {
        size_t cap = 2 * t->cap + 64;
        qt_node *p;
        if (cap > (size_t)INT32_MAX || cap > SIZE_MAX / sizeof *p) return -1;
        p = realloc(t->node, cap * sizeof *p);
        if (!p) return -1;
        t->node = p;
        t->cap = cap;
    }
    t->n_nodes += m;
    return (int32_t)(t->n_nodes - m);
}

/* Fill node v with the sorted points [a, b) at depth k, and build below it. */
static int qt_fill(quadtree *t, size_t v, size_t a, size_t b, int k) {
    double sx = 0.0, sy = 0.0;
    size_t p, cut[5], q;
    int32_t c;
    for (p = a; p < b; p++) { sx += t->ys[2 * p]; sy += t->ys[2 * p + 1]; }
    t->node[v].mx = sx / (double)(b - a);
    t->node[v].my = sy / (double)(b - a);
    t->node[v].first = (uint32_t)a;
    t->node[v].count = (uint32_t)(b - a);
    t->node[v].child = -1;
    t->node[v].n_child = 0;
    if (b - a <= QT_BUCKET || k == QT_LEVELS) return 0;
    /* the quadrant of a key at depth k is its two bits below the first 2k */
    for (cut[0] = a, q = 1, p = a; q < 4; q++) {
        unsigned shift = 2u * (unsigned)(QT_LEVELS - 1 - k);
        while (p < b && ((t->order[p].key >> shift) & 3u) < q) p++;
        cut[q] = p;
    }
    cut[4] = b;
    for (p = 0, q = 0; q < 4; q++) p += cut[q + 1] > cut[q];
    if ((c = qt_new(t, p)) < 0) return -1;
    t->node[v].child = c; /* t->node may have moved: index, never a pointer, across qt_new */
    t->node[v].n_child = (int32_t)p;
    for (q = 0; q < 4; q++)
        if (cut[q + 1] > cut[q] && qt_fill(t, (size_t)c++, cut[q], cut[q + 1], k + 1) < 0) return -1;
    return 0;
}

/* Rebuild the tree over Y (N, 2) for accuracy θ. */
static int qt_build(quadtree *t, const double *Y, size_t n, double theta) {
    double x0 = Y[0], x1 = Y[0], y0 = Y[1], y1 = Y[1], side, w;
    size_t i, k;
    for (i = 1; i < n; i++) {
        x0 = fmin(x0, Y[2 * i]); x1 = fmax(x1, Y[2 * i]);
        y0 = fmin(y0, Y[2 * i + 1]); y1 = fmax(y1, Y[2 * i + 1]);
    }
    side = fmax(x1 - x0, y1 - y0);
    side = side > 0.0 ? side * (1.0 + 1e-9) : 1.0;
    for (i = 0; i < n; i++) {
        t->order[i].key = morton_key(Y[2 * i], Y[2 * i + 1], x0, y0, (double)(1u << QT_LEVELS) / side);
        t->order[i].i = (uint32_t)i;
    }
    qsort(t->order, n, sizeof *t->order, order_cmp);
    for (i = 0; i < n; i++) {
        t->ys[2 * i] = Y[2 * t->order[i].i];
        t->ys[2 * i + 1] = Y[2 * t->order[i].i + 1];
    }
    for (w = side, k = 0; k <= QT_LEVELS; k++, w *= 0.5) t->far2[k] = w * w / (theta * theta);
    t->n_nodes = 0;
    if (qt_new(t, 1) < 0) return -1;
    return qt_fill(t, 0, 0, n, 0);
}

/* Repulsion on the point at sorted position s: walking the tree from the
 * root, a node far enough away (cell width / distance to its centre of mass
 * < θ) acts as count points at its centre of mass c:
 *   Σq̃ += count·q̃,  F += count·q̃²·(y − c),  q̃ = 1/(1 + |y − c|²);
 * nearer nodes are opened, and a bucket's points act one by one. The point
 * is taken out of the nodes that hold it, so it never repels itself. */
static void qt_repulse(const quadtree *t, size_t s, double *fx, double *fy, double *sum_q) {
    struct { int32_t v, depth; } stack[3 * QT_LEVELS + 4]; /* ≤ 3 pending siblings a level */
    const double x = t->ys[2 * s], y = t->ys[2 * s + 1];
    double sx = 0.0, sy = 0.0, sq = 0.0; /* locals: the outputs could alias the nodes */
    size_t top = 1;
    stack[0].v = 0;
    stack[0].depth = 0;
    while (top) {
        int32_t v = stack[--top].v, k = stack[top].depth, c;
        const qt_node *nd = &t->node[v];
        double count = (double)nd->count, mx = nd->mx, my = nd->my, dx, dy, d2;
        int inside = s - nd->first < nd->count; /* unsigned: first ≤ s < first + count */
        if (nd->n_child == 0 && nd->count <= QT_BUCKET) {
            size_t p, end = nd->first + nd->count;
            for (p = nd->first; p < end; p++) {
                double ex = x - t->ys[2 * p], ey = y - t->ys[2 * p + 1];
                double q = 1.0 / (1.0 + ex * ex + ey * ey);
                if (p == s) continue;
                sq += q;
                sx += q * q * ex;
                sy += q * q * ey;
            }
            continue;
        }
        if (inside) {
            mx = (count * mx - x) / (count - 1.0);
            my = (count * my - y) / (count - 1.0);
            count -= 1.0;
        }
        dx = x - mx;
        dy = y - my;
        d2 = dx * dx + dy * dy;
        if (nd->n_child == 0 || d2 > t->far2[k]) {
            double q = 1.0 / (1.0 + d2), m = count * q;
            sq += m;
            sx += m * q * dx;
            sy += m * q * dy;
            continue;
        }
        for (c = nd->child + nd->n_child - 1; c >= nd->child; c--) { /* the first child opens first */
            stack[top].v = c;
            stack[top++].depth = k + 1;
        }
    }
    *fx = sx;
    *fy = sy;
    *sum_q += sq;
}

/* dY (N, 2) ≈ ∂KL/∂Y = 4 (ex·A_i − R_i / Z) with the attraction
 * A_i = Σ_j P_ij q̃_ij (y_i − y_j) over the sparse P, and the repulsion
 * R_i = Σ_j q̃_ij² (y_i − y_j) and Z = Σ_ij q̃_ij from the quadtree
 * (rep (N, 2) holds R) */
typedef struct {
    const quadtree *t;
    double *rep, *zq;
    size_t n;
} repulse_task;

/* the repulsion of the t-th run of points (in Z-order), each with its own
 * Σ_j q̃_ij in zq, so that Z is summed in one order whatever T */
static void repulse_points(void *ctx, size_t t, size_t T) {
    repulse_task *rt = ctx;
    size_t e, i;
    for (e = rt->n * t / T; e < rt->n * (t + 1) / T; e++) {
        i = rt->t->order[e].i;
        rt->zq[e] = 0.0;
        qt_repulse(rt->t, e, &rt->rep[2 * i], &rt->rep[2 * i + 1], &rt->zq[e]);
    }
}

static int bh_gradient(double *dY, double *rep, const double *Y, const tsne_sparse *S, size_t n,
                       double ex, double theta, quadtree *t, double *zq, size_t threads) {
    double Z = 0.0;
    size_t i, e;
    repulse_task rt;
    if (qt_build(t, Y, n, theta) < 0) return -1;
    rt.t = t;
    rt.rep = rep;
    rt.zq = zq;
    rt.n = n;
    nn_run_shares(threads, repulse_points, &rt);
    for (e = 0; e < n; e++) Z += zq[e];
    memset(dY, 0, 2 * n * sizeof *dY);
    for (i = 0; i < n; i++) { /* each pair of P once: +f on i, −f on j */
        double ax = 0.0, ay = 0.0;
        for (e = S->row[i]; e < S->row[i + 1]; e++) {
            size_t j = S->edge[e].j;
            double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
            double f = S->edge[e].p / (1.0 + dx * dx + dy * dy);
            ax += f * dx;
            ay += f * dy;
            dY[2 * j] -= f * dx;
            dY[2 * j + 1] -= f * dy;
        }
        dY[2 * i] += ax;
        dY[2 * i + 1] += ay;
    }
    for (i = 0; i < 2 * n; i++) dY[i] = 4.0 * (ex * dY[i] - rep[i] / Z);
    return 0;
}

/* ============================================================ t-SNE: optimiser */

static double sign(double x) { return (x > 0.0) - (x < 0.0); }

/* One step of gradient descent with momentum and per-coordinate gains, as in
 * van der Maaten's bhtsne: a gain grows by 0.2 while the gradient keeps
 * pointing the way the last update went (opposite signs) and shrinks ×0.8
 * when it turns (min 0.01);  u ← momentum·u − η·gain·g;  y ← y + u.
 * Then the map is re-centred at 0 (the gradient ignores translation). */
static void tsne_step(double *Y, double *u, double *gain, const double *dY, size_t n,
                      double momentum, double eta) {
    double mx = 0.0, my = 0.0;
    size_t i;
    for (i = 0; i < 2 * n; i++) {
        gain[i] = sign(dY[i]) != sign(u[i]) ? gain[i] + 0.2 : gain[i] * 0.8;
        if (gain[i] < 0.01) gain[i] = 0.01;
        u[i] = momentum * u[i] - eta * gain[i] * dY[i];
        Y[i] += u[i];
    }
    for (i = 0; i < n; i++) { mx += Y[2 * i]; my += Y[2 * i + 1]; }
    mx /= (double)n;
    my /= (double)n;
    for (i = 0; i < n; i++) { Y[2 * i] -= mx; Y[2 * i + 1] -= my; }
}

static int tsne_config_ok(const viz_tsne_config *c) {
    return c && isfinite(c->perplexity) && c->perplexity > 0.0 && isfinite(c->learning_rate) &&
           c->learning_rate > 0.0 && isfinite(c->exaggeration) && c->exaggeration > 0.0 &&
           isfinite(c->theta) && c->theta >= 0.0;
}

/* Everything viz_tsne allocates, so one function frees it whatever failed. */
typedef struct {
    double *Xd, *P, *dist, *p;              /* exact: P (N, N); dist, p (N) */
    uint32_t *nb;                           /* Barnes–Hut: (N, K) neighbours */
    double *cp;                             /* (N, K) conditional p */
    tsne_sparse S;
    quadtree tree;
    double *dY, *rep, *u, *gain;            /* (N, 2) each: gradient, repulsion, update, gains */
    double *zq;                             /* (N) Barnes–Hut: each point's Σ_j q̃_ij */
} tsne_work;

static void tsne_work_free(tsne_work *w) {
    nn_free(w->Xd); nn_free(w->P); nn_free(w->dist); nn_free(w->p);
    nn_free(w->nb); nn_free(w->cp); nn_free(w->rep);
    nn_free(w->S.row); nn_free(w->S.edge);
    free(w->tree.node);
    nn_free(w->tree.order);
    nn_free(w->tree.ys);
    nn_free(w->dY); nn_free(w->u); nn_free(w->gain);
    nn_free(w->zq);
}

/* the input affinities: dense P (exact) or sparse S (Barnes–Hut) */
static int tsne_affinities(tsne_work *w, size_t n, size_t d, const viz_tsne_config *cfg, int exact) {
    if (exact) {
        w->P = alloc_n(n, n, sizeof *w->P);
        w->dist = alloc_n(n, 1, sizeof *w->dist);
        w->p = alloc_n(n, 1, sizeof *w->p);
        if (!w->P || !w->dist || !w->p) return -1;
        exact_affinities(w->P, w->Xd, n, d, cfg->cosine, cfg->perplexity, w->dist, w->p);
        return 0;
    } else {
        double kk = floor(3.0 * cfg->perplexity);
        size_t k = kk < 1.0 ? 1 : kk >= (double)(n - 1) ? n - 1 : (size_t)kk;
        w->nb = alloc_n(n, k, sizeof *w->nb);
        w->cp = alloc_n(n, k, sizeof *w->cp);
        w->tree.order = alloc_n(n, 1, sizeof *w->tree.order);
        w->tree.ys = alloc_n(n, 2, sizeof *w->tree.ys);
        if (!w->nb || !w->cp || !w->tree.order || !w->tree.ys) return -1;
        if (knn_affinities(w->nb, w->cp, w->Xd, n, d, cfg->cosine, k, cfg->perplexity,
                           cfg->threads) < 0)
            return -1;
        return symmetrise(&w->S, w->nb, w->cp, n, k);
    }
}

int viz_tsne(const float *X, size_t n, size_t d, size_t stride, const viz_tsne_config *cfg,
             double *Y) {
    tsne_work w;
    nn_rng rng;
    size_t i, it;
    int exact, rc = -1;
    if (!tsne_config_ok(cfg) || d == 0 || stride < d) return -1;
    if (n == 0) return 0;
    if (!X || !Y || n > (size_t)INT32_MAX) return -1;
    if (n == 1) { Y[0] = Y[1] = 0.0; return 0; }
    memset(&w, 0, sizeof w);
    exact = cfg->theta == 0.0 || n < cfg->exact_below;
    w.Xd = rows_to_double(X, n, d, stride, cfg->cosine);
    if (!w.Xd || tsne_affinities(&w, n, d, cfg, exact) < 0) goto done;
    nn_free(w.Xd);
    w.Xd = NULL;
    w.dY = alloc_n(n, 2, sizeof *w.dY);
    w.u = alloc_n(n, 2, sizeof *w.u);
    w.gain = alloc_n(n, 2, sizeof *w.gain);
    w.rep = alloc_n(n, 2, sizeof *w.rep);
    w.zq = alloc_n(n, 1, sizeof *w.zq);
    if (!w.dY || !w.u || !w.gain || !w.rep || !w.zq) goto done;
    nn_rng_seed(&rng, cfg->seed);
    for (i = 0; i < 2 * n; i++) { /* y ~ N(0, (1e-4)²), as bhtsne and scikit-learn draw it */
        Y[i] = 1e-4 * nn_rng_normal(&rng);
        w.gain[i] = 1.0;
    }
    for (it = 0; it < cfg->iterations; it++) {
        double ex = it < cfg->exaggeration_iters ? cfg->exaggeration : 1.0;
        double momentum = it < 250 ? 0.5 : 0.8;
        if (exact) exact_gradient(w.dY, w.rep, Y, w.P, n, ex);
        else if (bh_gradient(w.dY, w.rep, Y, &w.S, n, ex, cfg->theta, &w.tree, w.zq,
                             cfg->threads) < 0)
            goto done;
        tsne_step(Y, w.u, w.gain, w.dY, n, momentum, cfg->learning_rate);
    }
    rc = 0;
done:
    tsne_work_free(&w);
    return rc;
}

/* ============================================================ trustworthiness */

double viz_trustworthiness(const float *X, size_t n, size_t d, size_t stride, const double *Y,
                           size_t k, int cosine) {
    double *Xd, sum = 0.0;
    neighbour *in, *heap;
    uint32_t *rank;
    size_t i, j, m;
    if (!X || !Y || d == 0 || stride < d || k == 0 || 2 * k >= n || n > (size_t)INT32_MAX)
        return -1.0;
    for (i = 0; i < 2 * n; i++)
        if (!isfinite(Y[i])) return -1.0;
    Xd = rows_to_double(X, n, d, stride, cosine);
    in = alloc_n(n, 1, sizeof *in);
    heap = alloc_n(k, 1, sizeof *heap);
    rank = alloc_n(n, 1, sizeof *rank);
    if (!Xd || !in || !heap || !rank) { sum = -1.0; goto done; }
    for (i = 0; i < n; i++) {
        /* r(i, j): j's place in i's input neighbours, nearest first (1 … N−1) */
        for (m = 0, j = 0; j < n; j++)
            if (j != i) {
                in[m].dist = input_dist(Xd + i * d, Xd + j * d, d, cosine);
                in[m++].j = (uint32_t)j;
            }
        qsort(in, n - 1, sizeof *in, neighbour_cmp);
        for (m = 0; m < n - 1; m++) rank[in[m].j] = (uint32_t)(m + 1);
        /* the map's k nearest: those ranked beyond k in the input are penalised */
        for (m = 0, j = 0; j < n; j++)
            if (j != i) {
                neighbour c;
                double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
                c.dist = dx * dx + dy * dy;
                c.j = (uint32_t)j;
                heap_offer(heap, k, &m, c);
            }
        for (m = 0; m < k; m++)
            if (rank[heap[m].j] > k) sum += (double)(rank[heap[m].j] - k);
    }
    sum = 1.0 - 2.0 / ((double)n * (double)k * (2.0 * (double)n - 3.0 * (double)k - 1.0)) * sum;
done:
    nn_free(Xd); nn_free(in); nn_free(heap); nn_free(rank);
    return sum;
}

/* ============================================================ SVG toolkit */

#define N_COLOURS 10
#define N_MARKERS 4
/* Tableau 10 with its light grey swapped for a darker one, so that no group
 * looks like the pale grey of "no group" points. Group g is drawn in colour
 * g mod 10 with marker ⌊g/10⌋ mod 4 (circle, square, triangle, diamond): 40
 * distinguishable groups; beyond that the styles repeat. Line series take
 * colour k mod 10. */
static const char *const palette[N_COLOURS] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                               "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                                               "#9c755f", "#6b6b6b"};
#define NO_GROUP_COLOUR "#c4c4c4"
#define CHAR_EM 0.6 /* assumed width of a character, in font sizes */

/* the valid UTF-8 sequence at s: its length (1–4), code point in *cp; 0 when s
 * does not start one (stray byte, overlong form, surrogate, > U+10FFFF) */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp) {
    size_t len, i;
    uint32_t c;
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) { len = 2; c = s[0] & 0x1fu; }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) { len = 3; c = s[0] & 0x0fu; }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) { len = 4; c = s[0] & 0x07u; }
    else return 0;
    for (i = 1; i < len; i++) { /* stops at the terminating NUL, which is no continuation */
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* characters in s: a UTF-8 sequence counts one, a stray byte one */
static size_t text_chars(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, len;
    uint32_t cp;
    if (!s) return 0;
    while (*p) {
        len = utf8_seq(p, &cp);
        p += len ? len : 1;
        n++;
    }
    return n;
}

/* estimated width in pixels of min(chars(s), max_chars) characters at font size px */
static double text_width(const char *s, size_t max_chars, double px) {
    size_t c = text_chars(s);
    if (max_chars && c > max_chars) c = max_chars;
    return (double)c * CHAR_EM * px;
}

/* Write the character at p as XML character data: & < > " ' as entities, a
 * byte that is not UTF-8 read as Latin-1 (MovieLens 1M titles are), and the
 * characters XML 1.0 forbids (controls, U+FFFE/F, and the C1 controls a
 * stray byte would give) as '?'. Returns the bytes used. */
static size_t xml_char(FILE *f, const unsigned char *p) {
    uint32_t cp;
    size_t len = utf8_seq(p, &cp);
    if (len == 0) {
        if (*p >= 0xa0) fprintf(f, "&#%u;", (unsigned)*p);
        else fputc('?', f);
        return 1;
    }
    switch (cp) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    default:
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xfffe || cp == 0xffff)
            fputc('?', f);
        else
            fwrite(p, 1, len, f);
    }
    return len;
}

int viz_print_text(FILE *f, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    int rc = 0;
    while (*p) {
        uint32_t cp;
        size_t len = utf8_seq(p, &cp);
        if (len == 0) {
            rc |= fprintf(f, "\\x%02x", (unsigned)*p) < 0;
            len = 1;
        } else if (cp < 0x20 || cp == 0x7f) rc |= fprintf(f, "\\x%02x", (unsigned)cp) < 0;
        else if (cp >= 0x80 && cp < 0xa0) rc |= fprintf(f, "\\u%04x", (unsigned)cp) < 0;
        else rc |= fwrite(p, 1, len, f) != len;
        p += len;
    }
    return rc ? -1 : 0;
}

/* s as XML character data. When s has more than max_chars characters (0: no
 * limit) its middle gives way to "…": the first two thirds of the room and
 * the last third are kept, so that endings such as a year or "Part II" that
 * tell similar titles apart survive. */
static void xml_text(FILE *f, const char *s, size_t max_chars) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n, total = text_chars(s), head = total, tail_from = total;
    uint32_t cp;
    if (max_chars && total > max_chars) {
        size_t room = max_chars - 1, tail = room / 3;
        head = room - tail;
        tail_from = total - tail;
    }
    for (n = 0; *p; n++) {
        size_t len = utf8_seq(p, &cp);
        if (n < head || n >= tail_from) {
            xml_char(f, p);
        } else if (n == head) {
            fputs("\xe2\x80\xa6", f); /* … */
        }
        p += len ? len : 1;
    }
}

/* buf = x with %.*g, '.' for the decimal point whatever LC_NUMERIC says */
static void fmt_g(char *buf, size_t size, double x, int digits) {
    char *c;
    snprintf(buf, size, "%.*g", digits, x);
    for (c = buf; *c; c++)
        if (*c == ',') *c = '.';
}

/* a coordinate or length: %.6g (pixels to 0.01 on pictures below 10⁴ px); 0
 * for a non-finite x, which callers have already left out */
static void put_num(FILE *f, double x) {
    char buf[32];
    fmt_g(buf, sizeof buf, isfinite(x) ? x : 0.0, 6);
    fputs(buf, f);
}

/* the most characters of an 18 px title that fit in w px */
static size_t title_chars(double w) {
    return w > 2.0 * CHAR_EM * 18.0 ? (size_t)(w / (CHAR_EM * 18.0)) : 2;
}

/* <text x= y= class=…>s</text>; anchor "start", "middle" or "end" */
static void svg_text(FILE *f, double x, double y, const char *anchor, const char *cls,
                     const char *s, size_t max_chars) {
    fputs("<text x=\"", f); put_num(f, x);
    fputs("\" y=\"", f); put_num(f, y);
    fprintf(f, "\" text-anchor=\"%s\"", anchor);
    if (cls) fprintf(f, " class=\"%s\"", cls);
    fputc('>', f);
    xml_text(f, s, max_chars);
    fputs("</text>\n", f);
}

static void svg_line(FILE *f, double x1, double y1, double x2, double y2, const char *cls) {
    fputs("<line x1=\"", f); put_num(f, x1);
    fputs("\" y1=\"", f); put_num(f, y1);
    fputs("\" x2=\"", f); put_num(f, x2);
    fputs("\" y2=\"", f); put_num(f, y2);
    fprintf(f, "\" class=\"%s\"/>\n", cls);
}

static void svg_rect(FILE *f, double x, double y, double w, double h, const char *attrs) {
    fputs("<rect x=\"", f); put_num(f, x);
    fputs("\" y=\"", f); put_num(f, y);
    fputs("\" width=\"", f); put_num(f, w > 0.0 ? w : 0.0);
    fputs("\" height=\"", f); put_num(f, h > 0.0 ? h : 0.0);
    fprintf(f, "\" %s/>\n", attrs);
}

/* the prologue of a W × H picture: XML declaration, SVG 1.1 doctype, <svg>,
 * <title>, the shared style sheet, a white background */
static void svg_begin(FILE *f, double w, double h, const char *title) {
    int c;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
          "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
          "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"", f);
    put_num(f, w);
    fputs("\" height=\"", f);
    put_num(f, h);
    fputs("\" viewBox=\"0 0 ", f);
    put_num(f, w);
    fputc(' ', f);
    put_num(f, h);
    fputs("\">\n<title>", f);
    xml_text(f, title, 0);
    fputs("</title>\n<style type=\"text/css\">\n"
          "text { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; font-size: 12px; fill: #222; }\n"
          ".title { font-size: 18px; font-weight: bold; }\n"
          ".axis-title { font-size: 13px; }\n"
          ".tick { font-size: 11px; fill: #444; }\n"
          ".label { font-size: 11px; }\n"
          ".label-hl { font-size: 12px; font-weight: bold; }\n"
          ".halo { fill: #fff; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; stroke-opacity: 0.85; }\n"
          ".value { font-size: 11px; fill: #333; }\n"
          ".axis { stroke: #333; stroke-width: 1; }\n"
          ".grid { stroke: #e3e3e3; stroke-width: 1; }\n"
          ".frame { fill: none; stroke: #bbb; stroke-width: 1; }\n"
          ".legend { fill: #fff; stroke: #bbb; stroke-width: 1; }\n"
          ".hl { stroke: #111; stroke-width: 1.5; }\n"
          ".c- { fill: " NO_GROUP_COLOUR "; }\n", f);
    for (c = 0; c < N_COLOURS; c++) fprintf(f, ".c%d { fill: %s; }\n", c, palette[c]);
    fputs("</style>\n", f);
    svg_rect(f, 0, 0, w, h, "fill=\"#fff\"");
}

/* 0, or −1 when a write failed */
static int svg_end(FILE *f) {
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}

/* a step of 1, 2 or 5 × 10^e close to range / target */
static double nice_step(double range, int target) {
    double raw = range / target, e = pow(10.0, floor(log10(raw))), m = raw / e;
    return (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0) * e;
}

/* An axis: [lo, hi] widened to multiples of step. */
typedef struct {
    double lo, hi, step;
} axis;

/* the axis covering [lo, hi] with about target ticks; a flat range is widened */
static axis nice_axis(double lo, double hi, int target) {
    axis a;
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0.0 ? 0.5 * fabs(lo) : 1.0;
        lo -= pad;
        hi += pad;
    }
    a.step = nice_step(hi - lo, target);
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    return a;
}

/* buf = v with the given decimals ('.' whatever the locale); %.4g when that
 * would be unreadable (more than 8 decimals, or |v| ≥ 10⁷) */
static void fmt_fixed(char *buf, size_t size, double v, int decimals) {
    char *c;
    if (decimals > 8 || fabs(v) >= 1e7) {
        fmt_g(buf, size, v, 4);
        return;
    }
    snprintf(buf, size, "%.*f", decimals < 0 ? 0 : decimals, v);
    for (c = buf; *c; c++)
        if (*c == ',') *c = '.';
}

/* buf = the tick value k·step, with as many decimals as step needs */
static void tick_label(char *buf, size_t size, double v, double step) {
    if (fabs(v) < 1e-9 * step) v = 0.0; /* not "-0" or "1e-17" */
    fmt_fixed(buf, size, v, step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9));
}

/* A marker of style index s (0 circle, 1 square, 2 triangle, 3 diamond) of
 * radius r at (x, y), with the attributes attrs. */
static void svg_marker(FILE *f, int s, double x, double y, double r, const char *attrs) {
    if (s == 0) {
        fputs("<circle cx=\"", f); put_num(f, x);
        fputs("\" cy=\"", f); put_num(f, y);
        fputs("\" r=\"", f); put_num(f, r);
        fprintf(f, "\" %s/>\n", attrs);
    } else if (s == 1) {
        double h = 0.886 * r; /* a square of the circle's area */
        svg_rect(f, x - h, y - h, 2.0 * h, 2.0 * h, attrs);
    } else {
        double px[4], py[4];
        int k, m = s == 2 ? 3 : 4;
        if (s == 2) { /* a triangle pointing up, centred on its centroid */
            double a = 1.35 * r;
            px[0] = x; py[0] = y - a;
            px[1] = x - 0.866 * a; py[1] = y + 0.5 * a;
            px[2] = x + 0.866 * a; py[2] = y + 0.5 * a;
        } else {
            double a = 1.25 * r;
            px[0] = x; py[0] = y - a; px[1] = x + a; py[1] = y;
            px[2] = x; py[2] = y + a; px[3] = x - a; py[3] = y;
        }
        fputs("<polygon points=\"", f);
        for (k = 0; k < m; k++) {
            if (k) fputc(' ', f);
            put_num(f, px[k]); fputc(',', f); put_num(f, py[k]);
        }
        fprintf(f, "\" %s/>\n", attrs);
    }
}

/* ============================================================ SVG: scatter */

/* A rectangle on the picture (x0 < x1, y0 < y1, pixels, y down). */
typedef struct {
    double x0, y0, x1, y1;
} box;

static int box_overlaps(box a, box b) {
    return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/* Boxes already taken on the map: placed labels and highlighted points. */
typedef struct {
    box *b;
    size_t n, cap;
} box_list;

#define LABEL_GAP 2.0 /* px kept free around a label, so stacked labels do not touch */

/* c is inside the area and nothing in L comes within LABEL_GAP of it */
static int box_free(const box_list *L, box c, box area) {
    size_t i;
    if (c.x0 < area.x0 || c.x1 > area.x1 || c.y0 < area.y0 || c.y1 > area.y1) return 0;
    c.x0 -= LABEL_GAP; c.y0 -= LABEL_GAP;
    c.x1 += LABEL_GAP; c.y1 += LABEL_GAP;
    for (i = 0; i < L->n; i++)
        if (box_overlaps(c, L->b[i])) return 0;
    return 1;
}

static void box_add(box_list *L, box c) {
    if (L->n < L->cap) L->b[L->n++] = c;
}

#define SC_PLOT 720.0   /* side of the square map, px */
#define SC_MARGIN 20.0
#define SC_TOP 56.0     /* title band */
#define SC_PAD 14.0     /* between the frame and the outermost points */
#define LEGEND_ROW 20.0
#define LEGEND_CHARS 32 /* longer legend names lose their middle to "…" */

/* Where the points go: pixel = (ox + (x − cx)·scale, oy − (y − cy)·scale), one
 * scale for both axes so the map keeps its shape. */
typedef struct {
    double cx, cy, scale, ox, oy;
} map_frame;

static int point_ok(const double *xy, size_t i) {
    return isfinite(xy[2 * i]) && isfinite(xy[2 * i + 1]);
}

static map_frame scatter_frame(const viz_scatter *s, double x0, double y0) {
    map_frame m;
    double lx = HUGE_VAL, hx = -HUGE_VAL, ly = HUGE_VAL, hy = -HUGE_VAL, span;
    size_t i;
    for (i = 0; i < s->n; i++)
        if (point_ok(s->xy, i)) {
            lx = fmin(lx, s->xy[2 * i]); hx = fmax(hx, s->xy[2 * i]);
            ly = fmin(ly, s->xy[2 * i + 1]); hy = fmax(hy, s->xy[2 * i + 1]);
        }
    if (lx > hx) lx = hx = ly = hy = 0.0; /* no finite point */
    span = fmax(hx - lx, hy - ly);
    m.cx = 0.5 * (lx + hx);
    m.cy = 0.5 * (ly + hy);
    m.scale = (span > 0.0 && isfinite(span)) ? (SC_PLOT - 2.0 * SC_PAD) / span : 1.0;
    m.ox = x0 + 0.5 * SC_PLOT;
    m.oy = y0 + 0.5 * SC_PLOT;
    return m;
}

/* the point's group: 0 for every point when there are no groups, −1 (drawn
 * pale grey, outside the legend) for a group number out of range */
static int point_group(const viz_scatter *s, size_t i) {
    if (!s->group) return 0;
    if (s->group[i] < 0 || (size_t)s->group[i] >= s->n_groups) return -1;
    return s->group[i];
}

static void group_attrs(char *buf, size_t size, int g, int hl) {
    if (g < 0) snprintf(buf, size, "class=\"c-%s\"", hl ? " hl" : "");
    else snprintf(buf, size, "class=\"c%d%s\"", g % N_COLOURS, hl ? " hl" : "");
}

static int group_marker(int g) { return g < 0 ? 0 : (g / N_COLOURS) % N_MARKERS; }

/* every point with finite coordinates; the highlighted ones when hl */
static void scatter_points(FILE *f, const viz_scatter *s, const map_frame *m, double r, int hl) {
    char attrs[64];
    size_t i;
    for (i = 0; i < s->n; i++) {
        int g = point_group(s, i), is_hl = s->highlight && s->highlight[i];
        if (!point_ok(s->xy, i) || is_hl != hl) continue;
        group_attrs(attrs, sizeof attrs, g, hl);
        svg_marker(f, group_marker(g), m->ox + (s->xy[2 * i] - m->cx) * m->scale,
                   m->oy - (s->xy[2 * i + 1] - m->cy) * m->scale, r, attrs);
    }
}

/* Place point i's label at the first free spot among right, left, above and
 * below the point (a box estimated from the font size); leave it out when all
 * four overlap a label already placed, a highlighted point, or the frame. */
static void scatter_label(FILE *f, const viz_scatter *s, const map_frame *m, size_t i, double r,
                          box_list *taken, box area) {
    int hl = s->highlight && s->highlight[i];
    double px = 11.0 + hl, w = text_width(s->label[i], 0, px);
    double x = m->ox + (s->xy[2 * i] - m->cx) * m->scale;
    double y = m->oy - (s->xy[2 * i + 1] - m->cy) * m->scale, gap = r + 3.0;
    /* candidate text origins (baseline) and anchors; the box spans 0.8 em above the baseline, 0.25 below */
    double tx[4], ty[4];
    const char *anchor[4] = {"start", "end", "middle", "middle"};
    int c;
    tx[0] = x + gap; ty[0] = y + 0.35 * px;
    tx[1] = x - gap; ty[1] = y + 0.35 * px;
    tx[2] = x; ty[2] = y - gap - 0.25 * px;
    tx[3] = x; ty[3] = y + gap + 0.8 * px;
    for (c = 0; c < 4; c++) {
        box b;
        b.x0 = c == 0 ? tx[c] : c == 1 ? tx[c] - w : tx[c] - 0.5 * w;
        b.x1 = b.x0 + w;
        b.y0 = ty[c] - 0.8 * px;
        b.y1 = ty[c] + 0.25 * px;
        if (!box_free(taken, b, area)) continue;
        box_add(taken, b);
        /* a white halo under the text keeps it readable over points */
        svg_text(f, tx[c], ty[c], anchor[c], "halo", s->label[i], 0);
        svg_text(f, tx[c], ty[c], anchor[c], hl ? "label-hl" : "label", s->label[i], 0);
        return;
    }
}

/* the legend: a marker and a name per group, in a box at (x, y); groups that
 * do not fit in height h are summarised on a last line "+ N more" */
static void scatter_legend(FILE *f, const viz_scatter *s, double x, double y, double w, double h) {
    char attrs[64], more[64];
    size_t rows = s->n_groups, fit = (size_t)((h - 12.0) / LEGEND_ROW), g;
    if (rows > fit) rows = fit > 0 ? fit - 1 : 0;
    svg_rect(f, x, y, w, 12.0 + LEGEND_ROW * (double)(rows + (rows < s->n_groups)), "class=\"legend\"");
    for (g = 0; g < rows; g++) {
        double ry = y + 6.0 + LEGEND_ROW * ((double)g + 0.5);
        group_attrs(attrs, sizeof attrs, (int)g, 0);
        svg_marker(f, group_marker((int)g), x + 16.0, ry, 5.0, attrs);
        svg_text(f, x + 30.0, ry + 4.0, "start", NULL,
                 s->group_name[g] ? s->group_name[g] : "", LEGEND_CHARS);
    }
    if (rows < s->n_groups) {
        snprintf(more, sizeof more, "+ %zu more", s->n_groups - rows);
        svg_text(f, x + 30.0, y + 6.0 + LEGEND_ROW * ((double)rows + 0.5) + 4.0, "start", "tick",
                 more, 0);
    }
}

/* All labels, highlighted points' first, then the rest in order, each placed
 * by scatter_label; taken has room for every label and highlighted point.
 * r, hr: radius of ordinary and highlighted points. */
static void scatter_labels(FILE *f, const viz_scatter *s, const map_frame *m, double r, double hr,
                           box_list *taken, box area) {
    size_t i;
    int pass;
    for (i = 0; i < s->n; i++) /* highlighted points are obstacles for every label */
        if (s->highlight && s->highlight[i] && point_ok(s->xy, i)) {
            double x = m->ox + (s->xy[2 * i] - m->cx) * m->scale;
            double y = m->oy - (s->xy[2 * i + 1] - m->cy) * m->scale;
            box b;
            b.x0 = x - hr; b.x1 = x + hr;
            b.y0 = y - hr; b.y1 = y + hr;
            box_add(taken, b);
        }
    fputs("<g>\n", f);
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < s->n; i++) {
            int hl = s->highlight && s->highlight[i];
            if (s->label[i] && s->label[i][0] && point_ok(s->xy, i) && hl == (pass == 0))
                scatter_label(f, s, m, i, hl ? hr : r, taken, area);
        }
    fputs("</g>\n", f);
}

int viz_svg_scatter(FILE *f, const viz_scatter *s) {
    box_list taken;
    map_frame m;
    box area;
    double legend_w = 0.0, width, height, r, hr;
    size_t i, g;
    int legend;
    if (!f || !s || (s->n && !s->xy)) return -1;
    memset(&taken, 0, sizeof taken);
    if (s->label) { /* before any output: no half-written file when out of memory */
        for (i = 0; i < s->n; i++)
            taken.cap += (s->label[i] != NULL) + (s->highlight && s->highlight[i]);
        if (!(taken.b = alloc_n(taken.cap, 1, sizeof *taken.b))) return -1;
    }
    legend = s->group && s->group_name && s->n_groups > 0;
    if (legend) {
        for (g = 0; g < s->n_groups; g++)
            legend_w = fmax(legend_w, text_width(s->group_name[g], LEGEND_CHARS, 12.0));
        legend_w += 44.0;
    }
    width = SC_MARGIN + SC_PLOT + SC_MARGIN + (legend ? legend_w + SC_MARGIN : 0.0);
    height = SC_TOP + SC_PLOT + SC_MARGIN;
    r = s->n <= 500 ? 3.5 : s->n <= 3000 ? 2.5 : s->n <= 20000 ? 1.8 : 1.2; /* fewer, bigger */
    hr = fmax(2.2 * r, 5.5);
    m = scatter_frame(s, SC_MARGIN, SC_TOP);
    area.x0 = SC_MARGIN; area.y0 = SC_TOP;
    area.x1 = SC_MARGIN + SC_PLOT; area.y1 = SC_TOP + SC_PLOT;

    svg_begin(f, width, height, s->title);
    svg_text(f, SC_MARGIN, 34.0, "start", "title", s->title, title_chars(width - 2.0 * SC_MARGIN));
    svg_rect(f, area.x0, area.y0, SC_PLOT, SC_PLOT, "class=\"frame\"");
    fprintf(f, "<g fill-opacity=\"%s\">\n", s->n > 3000 ? "0.6" : "0.8");
    scatter_points(f, s, &m, r, 0);
    fputs("</g>\n<g>\n", f);
    scatter_points(f, s, &m, hr, 1); /* highlighted: larger, outlined, on top */
    fputs("</g>\n", f);
    if (s->label) scatter_labels(f, s, &m, r, hr, &taken, area);
    if (legend) scatter_legend(f, s, SC_MARGIN + SC_PLOT + SC_MARGIN, SC_TOP, legend_w, SC_PLOT);
    nn_free(taken.b);
    return svg_end(f);
}

/* ============================================================ SVG: lines */

#define LN_LEFT 80.0
#define LN_TOP 56.0
#define LN_W 640.0
#define LN_H 400.0
#define LN_BOTTOM 64.0
#define LN_INSET 10.0 /* between the axes and the first and last data points */

static const char *series_dash(int dashed) {
    return dashed ? " stroke-dasharray=\"7,4\"" : "";
}

/* a legend entry: a line sample in colour c (dash given) and the name */
static void legend_line(FILE *f, double x, double y, const char *colour, const char *dash,
                        double width, const char *name) {
    fputs("<line x1=\"", f); put_num(f, x + 8.0);
    fputs("\" y1=\"", f); put_num(f, y);
    fputs("\" x2=\"", f); put_num(f, x + 34.0);
    fputs("\" y2=\"", f); put_num(f, y);
    fprintf(f, "\" stroke=\"%s\" stroke-width=\"", colour);
    put_num(f, width);
    fprintf(f, "\"%s/>\n", dash);
    svg_text(f, x + 42.0, y + 4.0, "start", NULL, name, LEGEND_CHARS);
}

/* series k as polylines broken at non-finite values (a lone point: a dot),
 * with a dot on every point when there are few */
static void lines_series(FILE *f, const viz_series *sr, const char *colour, double x0, double xs,
                         double y0, double ys, double ylo) {
    size_t k = 0, a, b;
    while (k < sr->n) {
        while (k < sr->n && !isfinite(sr->y[k])) k++;
        a = k;
        while (k < sr->n && isfinite(sr->y[k])) k++;
        b = k; /* finite run [a, b) */
        if (b - a >= 2) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                       "stroke-linejoin=\"round\"%s points=\"", colour, series_dash(sr->dashed));
            for (; a < b; a++) {
                put_num(f, x0 + (double)a * xs);
                fputc(',', f);
                put_num(f, y0 - (sr->y[a] - ylo) * ys);
                fputc(a + 1 < b ? ' ' : '"', f);
            }
            fputs("/>\n", f);
        }
    }
    for (k = 0; k < sr->n; k++) {
        int lone = (k == 0 || !isfinite(sr->y[k - 1])) && (k + 1 == sr->n || !isfinite(sr->y[k + 1]));
        if (!isfinite(sr->y[k]) || !(lone || sr->n <= 60)) continue;
        fputs("<circle cx=\"", f); put_num(f, x0 + (double)k * xs);
        fputs("\" cy=\"", f); put_num(f, y0 - (sr->y[k] - ylo) * ys);
        fprintf(f, "\" r=\"%s\" fill=\"%s\"/>\n", lone ? "3.5" : "2.5", colour);
    }
}

int viz_svg_lines(FILE *f, const char *title, const char *x_label, const char *y_label,
                  const viz_series *series, size_t n_series, double baseline,
                  const char *baseline_name) {
    double ylo = HUGE_VAL, yhi = -HUGE_VAL, legend_w = 0.0, width, height, xs, ys, v;
    size_t k, i, n_max = 0, n_entries;
    int show_base = baseline_name && isfinite(baseline);
    axis ya, xa;
    char buf[64];
    if (!f || (n_series && !series)) return -1;
    for (k = 0; k < n_series; k++) {
        if (series[k].n && !series[k].y) return -1;
        if (series[k].n > n_max) n_max = series[k].n;
        for (i = 0; i < series[k].n; i++)
            if (isfinite(series[k].y[i])) {
                ylo = fmin(ylo, series[k].y[i]);
                yhi = fmax(yhi, series[k].y[i]);
            }
        snprintf(buf, sizeof buf, "series %zu", k + 1);
        legend_w = fmax(legend_w, text_width(series[k].name ? series[k].name : buf, LEGEND_CHARS, 12.0));
    }
    if (show_base) {
        ylo = fmin(ylo, baseline);
        yhi = fmax(yhi, baseline);
        legend_w = fmax(legend_w, text_width(baseline_name, LEGEND_CHARS, 12.0));
    }
    if (ylo > yhi) ylo = yhi = 0.0; /* nothing to draw: an empty frame */
    n_entries = n_series + (size_t)show_base;
    legend_w = n_entries ? legend_w + 52.0 : 0.0;
    width = LN_LEFT + LN_W + 24.0 + legend_w + 16.0;
    height = LN_TOP + LN_H + LN_BOTTOM;
    ya = nice_axis(ylo, yhi, 6);
    xa = nice_axis(1.0, n_max > 1 ? (double)n_max : 2.0, 10);
    if (xa.step < 1.0) xa.step = 1.0; /* epochs are whole */
    xa.lo = 1.0;
    xa.hi = n_max > 1 ? (double)n_max : 2.0;
    xs = (LN_W - 2.0 * LN_INSET) / (xa.hi - xa.lo);
    ys = LN_H / (ya.hi - ya.lo);

    svg_begin(f, width, height, title);
    svg_text(f, LN_LEFT, 34.0, "start", "title", title, title_chars(width - LN_LEFT - 16.0));
    for (i = 0; (v = ya.lo + (double)i * ya.step) <= ya.hi + 1e-9 * ya.step; i++) { /* y grid and ticks */
        double y = LN_TOP + LN_H - (v - ya.lo) * ys;
        svg_line(f, LN_LEFT, y, LN_LEFT + LN_W, y, "grid");
        svg_line(f, LN_LEFT - 5.0, y, LN_LEFT, y, "axis");
        tick_label(buf, sizeof buf, v, ya.step);
        svg_text(f, LN_LEFT - 8.0, y + 4.0, "end", "tick", buf, 0);
    }
    for (v = xa.step == 1.0 ? 1.0 : xa.step; v <= xa.hi + 1e-9; v += xa.step) { /* x ticks */
        double x = LN_LEFT + LN_INSET + (v - xa.lo) * xs;
        svg_line(f, x, LN_TOP + LN_H, x, LN_TOP + LN_H + 5.0, "axis");
        tick_label(buf, sizeof buf, v, 1.0);
        svg_text(f, x, LN_TOP + LN_H + 19.0, "middle", "tick", buf, 0);
    }
    svg_line(f, LN_LEFT, LN_TOP, LN_LEFT, LN_TOP + LN_H, "axis");
    svg_line(f, LN_LEFT, LN_TOP + LN_H, LN_LEFT + LN_W, LN_TOP + LN_H, "axis");
    svg_text(f, LN_LEFT + 0.5 * LN_W, LN_TOP + LN_H + 46.0, "middle", "axis-title",
             x_label ? x_label : "", 0);
    fputs("<g transform=\"rotate(-90)\">\n", f); /* (x, y) → text at (−y, x) rotated */
    svg_text(f, -(LN_TOP + 0.5 * LN_H), 22.0, "middle", "axis-title", y_label ? y_label : "", 0);
    fputs("</g>\n", f);

    if (show_base) {
        double y = LN_TOP + LN_H - (baseline - ya.lo) * ys;
        fputs("<line x1=\"", f); put_num(f, LN_LEFT);
        fputs("\" y1=\"", f); put_num(f, y);
        fputs("\" x2=\"", f); put_num(f, LN_LEFT + LN_W);
        fputs("\" y2=\"", f); put_num(f, y);
        fputs("\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"2,3\"/>\n", f);
    }
    for (k = 0; k < n_series; k++)
        lines_series(f, &series[k], palette[k % N_COLOURS], LN_LEFT + LN_INSET, xs,
                     LN_TOP + LN_H, ys, ya.lo);

    if (n_entries) { /* the legend, right of the plot */
        double lx = LN_LEFT + LN_W + 24.0, ly = LN_TOP;
        svg_rect(f, lx, ly, legend_w, 12.0 + LEGEND_ROW * (double)n_entries, "class=\"legend\"");
        for (k = 0; k < n_series; k++) {
            snprintf(buf, sizeof buf, "series %zu", k + 1);
            legend_line(f, lx, ly + 6.0 + LEGEND_ROW * ((double)k + 0.5), palette[k % N_COLOURS],
                        series_dash(series[k].dashed), 2.0, series[k].name ? series[k].name : buf);
        }
        if (show_base)
            legend_line(f, lx, ly + 6.0 + LEGEND_ROW * ((double)n_series + 0.5), "#555",
                        " stroke-dasharray=\"2,3\"", 1.5, baseline_name);
    }
    return svg_end(f);
}

/* ============================================================ SVG: panels */

#define PN_H 250.0     /* height of one panel's plot */
#define PN_GAP 36.0    /* between panels */
#define PN_MAX_TICKS 64

/* the x coordinate of a value: its logarithm on a log axis */
static double panel_u(double x, int log_x) {
    return log_x ? log(x) : x;
}

static int panel_point_ok(const viz_xy *l, size_t i, int log_x) {
    return isfinite(l->x[i]) && isfinite(l->y[i]) && (!log_x || l->x[i] > 0.0);
}

/* the distinct x of every line, ascending, at most max of them; how many */
static size_t panel_xs(const viz_panel *p, size_t n_panels, int log_x, double *xs, size_t max) {
    size_t n = 0, q, l, i, j;
    for (q = 0; q < n_panels; q++)
        for (l = 0; l < p[q].n_lines; l++)
            for (i = 0; i < p[q].lines[l].n; i++) {
                double x = p[q].lines[l].x[i];
                if (!panel_point_ok(&p[q].lines[l], i, log_x)) continue;
                for (j = 0; j < n && xs[j] < x; j++) {}
                if ((j < n && xs[j] == x) || n == max) continue;
                memmove(xs + j + 1, xs + j, (n - j) * sizeof *xs);
                xs[j] = x;
                n++;
            }
    return n;
}

/* line l as polylines broken at points that cannot be drawn, a dot on each point */
static void panel_line(FILE *f, const viz_xy *l, int log_x, double x0, double xs, double ulo,
                       double y0, double ys, double ylo) {
    const char *colour = palette[(size_t)l->colour % N_COLOURS];
    size_t k = 0, a, b;
    while (k < l->n) {
        while (k < l->n && !panel_point_ok(l, k, log_x)) k++;
        a = k;
        while (k < l->n && panel_point_ok(l, k, log_x)) k++;
        b = k; /* a drawable run [a, b) */
        if (b - a < 2) continue;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                   "stroke-linejoin=\"round\"%s points=\"", colour, series_dash(l->dashed));
        for (; a < b; a++) {
            put_num(f, x0 + (panel_u(l->x[a], log_x) - ulo) * xs);
            fputc(',', f);
            put_num(f, y0 - (l->y[a] - ylo) * ys);
            fputc(a + 1 < b ? ' ' : '"', f);
        }
        fputs("/>\n", f);
    }
    for (k = 0; k < l->n; k++) {
        if (!panel_point_ok(l, k, log_x)) continue;
        fputs("<circle cx=\"", f); put_num(f, x0 + (panel_u(l->x[k], log_x) - ulo) * xs);
        fputs("\" cy=\"", f); put_num(f, y0 - (l->y[k] - ylo) * ys);
        fprintf(f, "\" r=\"3\" fill=\"%s\"/>\n", colour);
    }
}

/* the x ticks (at most PN_MAX_TICKS, into xv): each point's x on a log
 * axis, round values on a linear one; how many */
static size_t panel_x_ticks(const viz_panel *p, size_t n_panels, int log_x, double ulo,
                            double uhi, double *xv) {
    axis xa;
    size_t n;
    if (log_x) return panel_xs(p, n_panels, log_x, xv, PN_MAX_TICKS);
    xa = nice_axis(ulo, uhi, 8);
    for (n = 0; n < PN_MAX_TICKS; n++) {
        double v = xa.lo + (double)n * xa.step;
        if (v > xa.hi + 1e-9 * xa.step) break;
        xv[n] = fabs(v) < 1e-9 * xa.step ? 0.0 : v; /* not "-0" or "1e-17" */
    }
    return n;
}

/* the pixel of tick value v, or −1 when it falls outside the axis */
static double panel_tick_px(double v, int log_x, double ulo, double xs) {
    double x = LN_LEFT + LN_INSET + (panel_u(v, log_x) - ulo) * xs;
    return x < LN_LEFT - 0.5 || x > LN_LEFT + LN_W + 0.5 ? -1.0 : x;
}

/* the ticks' marks and labels under the last panel (a label that would
 * overlap the one before is left out) */
static void panel_x_labels(FILE *f, const double *xv, size_t n, int log_x, double bottom,
                           double ulo, double xs) {
    double last_end = -HUGE_VAL;
    size_t i;
    char buf[64];
    for (i = 0; i < n; i++) {
        double x = panel_tick_px(xv[i], log_x, ulo, xs), w;
        if (x < 0.0) continue;
        fmt_g(buf, sizeof buf, xv[i], 6);
        w = text_width(buf, 0, 11.0);
        svg_line(f, x, bottom, x, bottom + 5.0, "axis");
        if (x - 0.5 * w < last_end + 6.0) continue;
        svg_text(f, x, bottom + 19.0, "middle", "tick", buf, 0);
        last_end = x + 0.5 * w;
    }
}

/* the y axis of a panel over its drawable points (an empty panel: [0, 1]) */
static axis panel_y_axis(const viz_panel *p, int log_x) {
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    size_t l, i;
    for (l = 0; l < p->n_lines; l++)
        for (i = 0; i < p->lines[l].n; i++)
            if (panel_point_ok(&p->lines[l], i, log_x)) {
                lo = fmin(lo, p->lines[l].y[i]);
                hi = fmax(hi, p->lines[l].y[i]);
            }
    if (lo > hi) { /* nothing to draw */
        lo = 0.0;
        hi = 1.0;
    }
    return nice_axis(lo, hi, 5);
}

/* One panel at top: the x and y grids, the y ticks, the axes, the lines,
 * the legend. */
static void panel_draw(FILE *f, const viz_panel *p, int log_x, double top, double ulo,
                       double xs, const double *xv, size_t n_ticks, double legend_w) {
    axis ya = panel_y_axis(p, log_x);
    double ys = PN_H / (ya.hi - ya.lo), bottom = top + PN_H, v;
    size_t i, l;
    char buf[64];
    for (i = 0; i < n_ticks; i++) { /* x grid, at the ticks the last panel labels */
        double x = panel_tick_px(xv[i], log_x, ulo, xs);
        if (x >= 0.0) svg_line(f, x, top, x, bottom, "grid");
    }
    for (i = 0; (v = ya.lo + (double)i * ya.step) <= ya.hi + 1e-9 * ya.step; i++) {
        double y = bottom - (v - ya.lo) * ys;
        svg_line(f, LN_LEFT, y, LN_LEFT + LN_W, y, "grid");
        svg_line(f, LN_LEFT - 5.0, y, LN_LEFT, y, "axis");
        tick_label(buf, sizeof buf, v, ya.step);
        svg_text(f, LN_LEFT - 8.0, y + 4.0, "end", "tick", buf, 0);
    }
    svg_line(f, LN_LEFT, top, LN_LEFT, bottom, "axis");
    svg_line(f, LN_LEFT, bottom, LN_LEFT + LN_W, bottom, "axis");
    fputs("<g transform=\"rotate(-90)\">\n", f); /* (x, y) → text at (−y, x) rotated */
    svg_text(f, -(top + 0.5 * PN_H), 22.0, "middle", "axis-title", p->y_label ? p->y_label : "", 0);
    fputs("</g>\n", f);
    for (l = 0; l < p->n_lines; l++)
        panel_line(f, &p->lines[l], log_x, LN_LEFT + LN_INSET, xs, ulo, bottom, ys, ya.lo);
    if (!p->n_lines) return;
    svg_rect(f, LN_LEFT + LN_W + 24.0, top, legend_w, 12.0 + LEGEND_ROW * (double)p->n_lines,
             "class=\"legend\"");
    for (l = 0; l < p->n_lines; l++) {
        snprintf(buf, sizeof buf, "line %zu", l + 1);
        legend_line(f, LN_LEFT + LN_W + 24.0, top + 6.0 + LEGEND_ROW * ((double)l + 0.5),
                    palette[(size_t)p->lines[l].colour % N_COLOURS],
                    series_dash(p->lines[l].dashed), 2.0,
                    p->lines[l].name ? p->lines[l].name : buf);
    }
}

int viz_svg_panels(FILE *f, const char *title, const char *x_label, int log_x,
                   const viz_panel *panels, size_t n_panels) {
    double legend_w = 0.0, ulo = HUGE_VAL, uhi = -HUGE_VAL, width, height, xs;
    double xv[PN_MAX_TICKS];
    size_t q, l, i, n_ticks;
    char buf[32];
    if (!f || (n_panels && !panels)) return -1;
    for (q = 0; q < n_panels; q++) {
        if (panels[q].n_lines && !panels[q].lines) return -1;
        for (l = 0; l < panels[q].n_lines; l++) {
            const viz_xy *ln = &panels[q].lines[l];
            if (ln->n && (!ln->x || !ln->y)) return -1;
            for (i = 0; i < ln->n; i++)
                if (panel_point_ok(ln, i, log_x)) {
                    ulo = fmin(ulo, panel_u(ln->x[i], log_x));
                    uhi = fmax(uhi, panel_u(ln->x[i], log_x));
                }
            snprintf(buf, sizeof buf, "line %zu", l + 1);
            legend_w = fmax(legend_w, text_width(ln->name ? ln->name : buf, LEGEND_CHARS, 12.0));
        }
    }
    if (ulo > uhi) { /* nothing to draw: empty frames */
        ulo = 0.0;
        uhi = 1.0;
    } else if (!(uhi > ulo)) { /* one x: in the middle */
        ulo -= 1.0;
        uhi += 1.0;
    }
    legend_w = legend_w > 0.0 ? legend_w + 52.0 : 0.0;
    width = LN_LEFT + LN_W + 24.0 + legend_w + 16.0;
    height = LN_TOP + (double)n_panels * PN_H + (n_panels ? (double)(n_panels - 1) * PN_GAP : 0.0) +
             LN_BOTTOM;
    xs = (LN_W - 2.0 * LN_INSET) / (uhi - ulo);
    n_ticks = panel_x_ticks(panels, n_panels, log_x, ulo, uhi, xv);
    svg_begin(f, width, height, title);
    svg_text(f, LN_LEFT, 34.0, "start", "title", title, title_chars(width - LN_LEFT - 16.0));
    for (q = 0; q < n_panels; q++)
        panel_draw(f, &panels[q], log_x, LN_TOP + (double)q * (PN_H + PN_GAP), ulo, xs, xv,
                   n_ticks, legend_w);
    panel_x_labels(f, xv, n_ticks, log_x, height - LN_BOTTOM, ulo, xs);
    svg_text(f, LN_LEFT + 0.5 * LN_W, height - LN_BOTTOM + 46.0, "middle", "axis-title",
             x_label ? x_label : "", 0);
    return svg_end(f);
}

/* ============================================================ SVG: bars */

#define BAR_ROW 24.0
#define BAR_H 17.0
#define BAR_TOP 60.0
#define BAR_LABEL_CHARS 48 /* longer labels lose their middle to "…" */
#define BAR_VALUE_ROOM 64.0 /* beside a bar's end, for its value */

int viz_svg_bars(FILE *f, const char *title, const char *value_label, const char *const *label,
                 const double *value, size_t n) {
    double lo = 0.0, hi = 0.0, label_w = 0.0, width = 960.0, height, x0, x1, xs, zero, v;
    size_t i;
    int negative = 0, decimals;
    axis a;
    char buf[64];
    if (!f || (n && !value)) return -1;
    for (i = 0; i < n; i++) {
        if (isfinite(value[i])) {
            lo = fmin(lo, value[i]);
            hi = fmax(hi, value[i]);
            negative |= value[i] < 0.0;
        }
        if (label) label_w = fmax(label_w, text_width(label[i], BAR_LABEL_CHARS, 12.0));
    }
    /* values alike to 3 significant digits of the largest: 0.810 0.700 −0.210, 1523 87 */
    decimals = hi - lo > 0.0 ? 2 - (int)floor(log10(fmax(hi, -lo))) : 0;
    /* a scale from 0 (from the least value when some are negative) to the greatest */
    a = nice_axis(lo, hi > lo ? hi : lo + 1.0, 6);
    x0 = 16.0 + label_w + 12.0 + (negative ? BAR_VALUE_ROOM : 0.0);
    x1 = width - 16.0 - BAR_VALUE_ROOM;
    xs = (x1 - x0) / (a.hi - a.lo);
    zero = x0 + (0.0 - a.lo) * xs;
    height = BAR_TOP + BAR_ROW * (double)n + 70.0;

    svg_begin(f, width, height, title);
    svg_text(f, 16.0, 34.0, "start", "title", title, title_chars(width - 32.0));
    for (i = 0; (v = a.lo + (double)i * a.step) <= a.hi + 1e-9 * a.step; i++) { /* grid and ticks */
        double x = x0 + (v - a.lo) * xs, yb = BAR_TOP + BAR_ROW * (double)n + 4.0;
        svg_line(f, x, BAR_TOP - 4.0, x, yb, "grid");
        svg_line(f, x, yb, x, yb + 5.0, "axis");
        tick_label(buf, sizeof buf, v, a.step);
        svg_text(f, x, yb + 19.0, "middle", "tick", buf, 0);
    }
    svg_line(f, x0, BAR_TOP + BAR_ROW * (double)n + 4.0, x1, BAR_TOP + BAR_ROW * (double)n + 4.0, "axis");
    svg_text(f, 0.5 * (x0 + x1), BAR_TOP + BAR_ROW * (double)n + 50.0, "middle", "axis-title",
             value_label ? value_label : "", 0);
    for (i = 0; i < n; i++) {
        double y = BAR_TOP + BAR_ROW * (double)i + 0.5 * (BAR_ROW - BAR_H), mid = y + 0.5 * BAR_H + 4.0;
        if (label && label[i])
            svg_text(f, 16.0 + label_w, mid, "end", NULL, label[i], BAR_LABEL_CHARS);
        if (!isfinite(value[i])) {
            svg_text(f, zero + 4.0, mid, "start", "value", "n/a", 0);
            continue;
        }
        {
            double end = zero + value[i] * xs;
            svg_rect(f, fmin(zero, end), y, fabs(end - zero), BAR_H,
                     value[i] < 0.0 ? "fill=\"#e15759\"" : "fill=\"#4e79a7\"");
            fmt_fixed(buf, sizeof buf, value[i], decimals);
            svg_text(f, value[i] < 0.0 ? end - 4.0 : end + 4.0, mid, value[i] < 0.0 ? "end" : "start",
                     "value", buf, 0);
        }
    }
    if (negative) svg_line(f, zero, BAR_TOP - 4.0, zero, BAR_TOP + BAR_ROW * (double)n + 4.0, "axis");
    return svg_end(f);
}
