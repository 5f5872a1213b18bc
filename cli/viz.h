/* viz.h — pictures of what a model learned: 2-D maps of embeddings (PCA and
 * t-SNE), a neighbourhood-preservation score for them, and SVG files (a
 * scatter map, a line chart of the training history, panels of lines over
 * one x axis, a horizontal bar chart) that open in any browser.
 *
 * viz knows nothing of ratings, models or files beyond the FILE* it writes
 * to: it takes rows of floats and strings. Every function returns 0, or -1
 * when out of memory or given impossible arguments (it never asserts on them).
 *
 * Dimension letters: N points, D dimensions of a point, S row stride (≥ D).
 */
#ifndef EMBREC_VIZ_H
#define EMBREC_VIZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------ maps */

/* Y (N, 2) = the projections of the centred rows of X (N, S) on their two
 * principal axes (power iteration on the D × D covariance, deflated) */
int viz_pca(const float *X, size_t n, size_t d, size_t stride, double *Y);

typedef struct {
    double perplexity;        /* effective neighbours per point (30) */
    size_t iterations;        /* gradient steps (1000) */
    double learning_rate;     /* (200) */
    double exaggeration;      /* early exaggeration of P (12) ... */
    size_t exaggeration_iters; /* ... for this many steps (250) */
    int cosine;               /* 1: input distances are cosine distances, else euclidean */
    double theta;             /* Barnes–Hut accuracy; 0 forces the exact O(N²) method (0.5) */
    size_t exact_below;       /* N below which the exact method is used anyway (1000) */
    uint64_t seed;            /* initial positions (1) */
    size_t threads;           /* share the neighbour search and the Barnes–Hut
                               * repulsion (1); the map does not depend on it */
} viz_tsne_config;

viz_tsne_config viz_tsne_defaults(void);

/* Y (N, 2) = the t-SNE map of the rows of X (N, S) (van der Maaten & Hinton
 * 2008; Barnes–Hut with sparse input similarities over the 3·perplexity
 * nearest neighbours, van der Maaten 2014, when N ≥ exact_below) */
int viz_tsne(const float *X, size_t n, size_t d, size_t stride,
             const viz_tsne_config *cfg, double *Y);

/* Trustworthiness T(k) ∈ [0, 1] of the map Y (N, 2) of X (N, S) (Venna &
 * Kaski): 1 − 2/(N k (2N − 3k − 1)) Σ_i Σ_{j ∈ U_k(i)} (r(i, j) − k), where
 * U_k(i) are the map's k nearest neighbours of i that are not among its k
 * nearest in the input, and r(i, j) is j's rank among i's input neighbours.
 * 1: every map neighbour is a true neighbour. Input distances are cosine
 * distances when cosine is 1, else euclidean; map distances euclidean.
 * Returns −1 (not a score) when out of memory, when k = 0 or k ≥ N/2 (the
 * normaliser needs 2N − 3k − 1 > 0), or when X or Y holds a NaN or infinity. */
double viz_trustworthiness(const float *X, size_t n, size_t d, size_t stride,
                           const double *Y, size_t k, int cosine);

/* ------------------------------------------------------------ SVG */

typedef struct {
    const char *title;
    const double *xy;                 /* (N, 2) */
    size_t n;
    const char *const *label;         /* (N) or NULL: drawn beside point i when label[i] */
    const int *group;                 /* (N) or NULL: colour group of each point, < n_groups */
    const char *const *group_name;    /* (n_groups) legend entries */
    size_t n_groups;
    const uint8_t *highlight;         /* (N) or NULL: drawn larger, outlined, on top */
} viz_scatter;

/* A square map with a title, a legend when groups are named, labels placed so
 * that they do not pile up (a label that would overlap one already drawn is
 * left out), and the text XML-escaped. */
int viz_svg_scatter(FILE *f, const viz_scatter *s);

typedef struct {
    const char *name;                 /* legend entry */
    const double *y;                  /* (n) y[k] at x = k + 1 (epochs); NaN: no point */
    size_t n;
    int dashed;
} viz_series;

/* A line chart with labelled axes, ticks, a legend, and an optional
 * horizontal baseline (e.g. the global-mean MAE) when baseline_name is set. */
int viz_svg_lines(FILE *f, const char *title, const char *x_label, const char *y_label,
                  const viz_series *series, size_t n_series, double baseline,
                  const char *baseline_name);

/* A line through the points (x[k], y[k]), in the order given; a point with
 * a non-finite x or y (or x ≤ 0 on a log axis) is left out, and the line
 * broken there. */
typedef struct {
    const char *name;                 /* legend entry */
    const double *x, *y;              /* (n) */
    size_t n;
    int dashed;
    int colour;                       /* colour index (the palette's, mod 10) */
} viz_xy;

typedef struct {
    const char *y_label;
    const viz_xy *lines;
    size_t n_lines;
} viz_panel;

/* Panels stacked over one x axis (a trade-off: error above, time below),
 * each with its own y axis and legend. log_x: x on a log scale, with a
 * tick at each point's x (powers of 2 or 10 are then evenly spaced); else
 * a linear axis with round ticks. */
int viz_svg_panels(FILE *f, const char *title, const char *x_label, int log_x,
                   const viz_panel *panels, size_t n_panels);

/* Horizontal bars, one per label, longest value first as given, with the
 * value printed at the end of each bar. */
int viz_svg_bars(FILE *f, const char *title, const char *value_label,
                 const char *const *label, const double *value, size_t n);

/* ------------------------------------------------------------ text */

/* s for a terminal: UTF-8 as it is, but a control character (C0, DEL, or a
 * C1 control U+0080–U+009F) written as \xNN or \u00NN, and a byte that is
 * not UTF-8 as \xNN, so that a title from a file cannot move the cursor,
 * recolour the terminal or set its title. Returns 0, or -1 on a write error. */
int viz_print_text(FILE *f, const char *s);

#endif
