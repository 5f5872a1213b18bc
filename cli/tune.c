/* cli/tune.c — the tables, CSV files and chart of `embrec cv` and `embrec
 * sweep`, and what their runs need beside train's: folds' rows numbered as
 * train numbers a file's, fold files, value lists (see tune.h). Numbers are printed with '.' for the decimal point
 * and four decimals, as the rest of embrec prints errors; what cannot be
 * measured (no validation rows, a diverged run) is "–" in a table and an
 * empty field in a CSV file, never a made-up number.
 */
#define _XOPEN_SOURCE 700 /* mkdir */
#include "cli/tune.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/viz.h"
#include "formats/output.h"

void tune_mean_sd(const double *x, size_t n, double *mean, double *sd) {
    double m = 0.0, ss = 0.0;
    size_t k;
    for (k = 0; k < n; k++) m += x[k] / (double)n;
    for (k = 0; k < n; k++) ss += (x[k] - m) * (x[k] - m);
    *mean = n ? m : NAN;
    *sd = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
}

/* "0.9213", or "–" when x is not a number */
static const char *cell(char *buf, size_t size, double x) {
    if (isnan(x)) snprintf(buf, size, "–");
    else snprintf(buf, size, "%.4f", x);
    return buf;
}

/* "0.9213 ± 0.0011", "0.9213" (no sd), or "–" */
static const char *cell_sd(char *buf, size_t size, double mean, double sd) {
    if (isnan(mean)) snprintf(buf, size, "–");
    else if (isnan(sd)) snprintf(buf, size, "%.4f", mean);
    else snprintf(buf, size, "%.4f ± %.4f", mean, sd);
    return buf;
}

/* a CSV field: the number with 6 decimals, or empty */
static void csv_num(FILE *f, double x, const char *after) {
    if (!isnan(x)) fprintf(f, "%.6f", x);
    fputs(after, f);
}

static double per_epoch(double seconds, size_t epochs) {
    return epochs ? seconds / (double)epochs : NAN;
}

/* ------------------------------------------------------------ cv */

void tune_cv_table(FILE *f, const tune_run *folds, size_t n) {
    double *rmse = malloc((n ? n : 1) * 2 * sizeof *rmse), *mae = rmse + (n ? n : 1);
    double m, sd, seconds = 0.0;
    size_t k, unseen = 0, epochs = 0, ok = 0;
    char a[48], b[48], c[48];
    fprintf(f, "| fold | train rows | test rows | RMSE | MAE | best epoch |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
    for (k = 0; k < n; k++) {
        const tune_run *r = &folds[k];
        if (r->best_epoch) snprintf(c, sizeof c, "%zu", r->best_epoch);
        else snprintf(c, sizeof c, "–");
        fprintf(f, "| %s | %zu | %zu | %s | %s | %s |\n", r->label, r->train_rows, r->test_rows,
                r->diverged ? "diverged" : cell(a, sizeof a, r->test_rmse),
                r->diverged ? "diverged" : cell(b, sizeof b, r->test_mae), c);
        unseen += r->unseen;
        seconds += r->seconds;
        epochs += r->epochs;
        if (rmse && !r->diverged) {
            rmse[ok] = r->test_rmse;
            mae[ok++] = r->test_mae;
        }
    }
    if (rmse) {
        tune_mean_sd(rmse, ok, &m, &sd);
        cell_sd(a, sizeof a, m, sd);
        tune_mean_sd(mae, ok, &m, &sd);
        cell_sd(b, sizeof b, m, sd);
        fprintf(f, "| mean ± sd | | | %s | %s | |\n", a, b);
    }
    free(rmse);
    fprintf(f, "\nsd: the sample standard deviation (n − 1) over the %zu folds%s.", ok,
            ok < n ? " that did not diverge" : "");
    if (unseen)
        fprintf(f, " %zu test ratings name a user or movie that their fold's model never "
                   "learned (in no training row, and without features): "
                   "each is predicted by the training mean, as `embrec train --test` does.",
                unseen);
    if (epochs) fprintf(f, " %.3g s per epoch on average.", seconds / (double)epochs);
    fputc('\n', f);
}

int tune_cv_csv(const char *path, const tune_run *folds, size_t n, data_error *err) {
    data_out o;
    size_t k;
    if (data_out_open(&o, path, err) != 0) return -1;
    fprintf(o.f, "fold,train_rows,val_rows,test_rows,unseen,rmse,mae,best_epoch,epochs,"
                 "seconds_per_epoch,parameters\n");
    for (k = 0; k < n; k++) {
        const tune_run *r = &folds[k];
        fprintf(o.f, "%zu,%zu,%zu,%zu,%zu,", k + 1, r->train_rows, r->val_rows, r->test_rows,
                r->unseen);
        csv_num(o.f, r->diverged ? NAN : r->test_rmse, ",");
        csv_num(o.f, r->diverged ? NAN : r->test_mae, ",");
        if (r->best_epoch) fprintf(o.f, "%zu", r->best_epoch);
        fprintf(o.f, ",%zu,", r->epochs);
        csv_num(o.f, per_epoch(r->seconds, r->epochs), ",");
        fprintf(o.f, "%zu\n", r->params);
    }
    return data_out_commit(&o, err); /* checks every write above */
}

/* ------------------------------------------------------------ sweep */

size_t tune_grid_rows(const tune_grid *g) {
    return g->n_values[0] * (g->n_axes > 1 ? g->n_values[1] : 1);
}

/* value v of axis a of row r */
static const char *row_value(const tune_grid *g, size_t r, int a) {
    size_t n2 = g->n_axes > 1 ? g->n_values[1] : 1;
    return a == 0 ? g->values[0][r / n2] : g->values[1][r % n2];
}

tune_row tune_row_of(const tune_run *runs, size_t n, size_t folds) {
    tune_row row;
    double *rmse = malloc(2 * (n ? n : 1) * sizeof *rmse), *mae = rmse + (n ? n : 1);
    double best = 0.0, seconds = 0.0;
    size_t k, epochs = 0, m = 0;
    memset(&row, 0, sizeof row);
    row.rmse = row.mae = row.rmse_sd = row.mae_sd = NAN;
    row.params = n ? runs[0].params : 0;
    for (k = 0; k < n; k++) {
        row.diverged |= runs[k].diverged;
        seconds += runs[k].seconds;
        epochs += runs[k].epochs;
        best += (double)runs[k].best_epoch / (double)n;
        if (rmse && !runs[k].diverged) {
            rmse[m] = folds ? runs[k].test_rmse : runs[k].val_rmse;
            mae[m++] = folds ? runs[k].test_mae : runs[k].val_mae;
        }
    }
    row.seconds_per_epoch = per_epoch(seconds, epochs);
    if (!row.diverged) {
        row.best_epoch = best;
        if (folds) {
            tune_mean_sd(rmse, m, &row.rmse, &row.rmse_sd);
            tune_mean_sd(mae, m, &row.mae, &row.mae_sd);
        } else if (m) {
            row.rmse = rmse[0];
            row.mae = mae[0];
        }
    }
    free(rmse);
    return row;
}

/* 1 when x is base^e for a whole e (to a relative 1e-9) */
static int power_of(double x, double base) {
    double e = log(x) / log(base);
    return x > 0.0 && fabs(e - floor(e + 0.5)) < 1e-9 * (fabs(e) + 1.0);
}

int tune_log_axis(const char *const *values, size_t n) {
    int base, all;
    size_t k;
    if (n < 2) return 0;
    for (base = 2; base <= 10; base += 8) {
        for (k = 0, all = 1; k < n && all; k++) {
            char *end;
            double x = strtod(values[k], &end);
            all = *end == '\0' && power_of(x, (double)base);
        }
        if (all) return 1;
    }
    return 0;
}

void tune_sweep_table(FILE *f, const tune_grid *g, const tune_row *rows) {
    size_t r, a;
    char e1[48], e2[48], ep[32], sp[32];
    for (a = 0; a < g->n_axes; a++) fprintf(f, "| %s ", g->name[a] + 2);
    fprintf(f, "| %s | %s | best epoch | s/epoch | parameters |\n",
            g->folds ? "cv RMSE" : "best val RMSE", g->folds ? "cv MAE" : "MAE");
    for (a = 0; a < g->n_axes; a++) fprintf(f, "|---");
    fprintf(f, "|---|---|---|---|---|\n");
    for (r = 0; r < tune_grid_rows(g); r++) {
        const tune_row *w = &rows[r];
        for (a = 0; a < g->n_axes; a++) fprintf(f, "| %s ", row_value(g, r, (int)a));
        if (w->diverged) {
            snprintf(e1, sizeof e1, "diverged");
            snprintf(e2, sizeof e2, "diverged");
        } else {
            cell_sd(e1, sizeof e1, w->rmse, w->rmse_sd);
            cell_sd(e2, sizeof e2, w->mae, w->mae_sd);
        }
        if (w->diverged || w->best_epoch == 0) snprintf(ep, sizeof ep, "–");
        else if (g->folds) snprintf(ep, sizeof ep, "%.1f", w->best_epoch);
        else snprintf(ep, sizeof ep, "%.0f", w->best_epoch);
        if (isnan(w->seconds_per_epoch)) snprintf(sp, sizeof sp, "–");
        else snprintf(sp, sizeof sp, "%.3g", w->seconds_per_epoch);
        fprintf(f, "| %s | %s | %s | %s | %zu |\n", e1, e2, ep, sp, w->params);
    }
}

int tune_sweep_csv(const char *path, const tune_grid *g, const tune_row *rows, data_error *err) {
    data_out o;
    size_t r, a;
    if (data_out_open(&o, path, err) != 0) return -1;
    for (a = 0; a < g->n_axes; a++) fprintf(o.f, "%s,", g->name[a] + 2);
    fprintf(o.f, "rmse,mae,rmse_sd,mae_sd,best_epoch,seconds_per_epoch,parameters\n");
    for (r = 0; r < tune_grid_rows(g); r++) {
        const tune_row *w = &rows[r];
        for (a = 0; a < g->n_axes; a++) fprintf(o.f, "%s,", row_value(g, r, (int)a));
        csv_num(o.f, w->rmse, ",");
        csv_num(o.f, w->mae, ",");
        csv_num(o.f, w->rmse_sd, ",");
        csv_num(o.f, w->mae_sd, ",");
        if (!w->diverged && w->best_epoch > 0) fprintf(o.f, "%g", w->best_epoch);
        fputc(',', o.f);
        csv_num(o.f, w->seconds_per_epoch, ",");
        fprintf(o.f, "%zu\n", w->params);
    }
    return data_out_commit(&o, err);
}

/* ------------------------------------------------------------ the chart */

/* The chart's lines: for each value of the second option, RMSE and MAE
 * (one colour, MAE dashed) and seconds per epoch, over the first option's
 * values in ascending order. */
typedef struct {
    size_t n_lines, n;     /* lines per panel (values of the second option), points per line */
    double *x;             /* (n) the first option's values, ascending */
    double *y;             /* (3, n_lines, n) RMSE, MAE, seconds */
    char (*name)[3][96];   /* (n_lines) legend entries */
    viz_xy *lines;         /* (3 · n_lines) */
} chart_data;

static void chart_free(chart_data *c) {
    free(c->x);
    free(c->y);
    free(c->name);
    free(c->lines);
}

/* the first option's values in ascending order: order (n) */
static void ascending(const tune_grid *g, size_t *order) {
    size_t n = g->n_values[0], i, j;
    for (i = 0; i < n; i++) order[i] = i;
    for (i = 1; i < n; i++) /* insertion sort: a few dozen values */
        for (j = i; j > 0 && strtod(g->values[0][order[j]], NULL) <
                              strtod(g->values[0][order[j - 1]], NULL); j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

static int chart_build(chart_data *c, const tune_grid *g, const tune_row *rows) {
    size_t *order, i, l, n2 = g->n_axes > 1 ? g->n_values[1] : 1;
    memset(c, 0, sizeof *c);
    c->n = g->n_values[0];
    c->n_lines = n2;
    order = malloc(c->n * sizeof *order);
    c->x = malloc(c->n * sizeof *c->x);
    c->y = malloc(3 * n2 * c->n * sizeof *c->y);
    c->name = malloc(n2 * sizeof *c->name);
    c->lines = calloc(3 * n2, sizeof *c->lines);
    if (!order || !c->x || !c->y || !c->name || !c->lines) {
        free(order);
        chart_free(c);
        return -1;
    }
    ascending(g, order);
    for (i = 0; i < c->n; i++) {
        c->x[i] = strtod(g->values[0][order[i]], NULL);
        for (l = 0; l < n2; l++) {
            const tune_row *w = &rows[order[i] * n2 + l];
            c->y[(0 * n2 + l) * c->n + i] = w->diverged ? NAN : w->rmse;
            c->y[(1 * n2 + l) * c->n + i] = w->diverged ? NAN : w->mae;
            c->y[(2 * n2 + l) * c->n + i] = w->seconds_per_epoch;
        }
    }
    free(order);
    for (l = 0; l < n2; l++) {
        const char *v = g->n_axes > 1 ? g->values[1][l] : NULL;
        int t;
        snprintf(c->name[l][0], sizeof c->name[l][0], "RMSE%s%s%s", v ? ", " : "",
                 v ? g->name[1] : "", v ? " " : "");
        snprintf(c->name[l][1], sizeof c->name[l][1], "MAE%s%s%s", v ? ", " : "",
                 v ? g->name[1] : "", v ? " " : "");
        snprintf(c->name[l][2], sizeof c->name[l][2], "%s%s", v ? g->name[1] : "s/epoch",
                 v ? " " : "");
        for (t = 0; t < 3; t++) {
            viz_xy *ln = &c->lines[t == 2 ? 2 * n2 + l : 2 * l + (size_t)t];
            if (v) strncat(c->name[l][t], v, sizeof c->name[l][t] - strlen(c->name[l][t]) - 1);
            ln->name = c->name[l][t];
            ln->x = c->x;
            ln->y = c->y + ((size_t)t * n2 + l) * c->n;
            ln->n = c->n;
            ln->dashed = t == 1;
            ln->colour = (int)l;
        }
    }
    return 0;
}

int tune_sweep_chart(const char *path, const tune_grid *g, const tune_row *rows,
                     const char *title, data_error *err) {
    chart_data c;
    viz_panel p[2];
    char x_label[96];
    data_out o;
    int log_x = tune_log_axis(g->values[0], g->n_values[0]), drawn;
    if (chart_build(&c, g, rows) != 0) {
        data_errorf(err, "%s: out of memory for the chart", path);
        return -1;
    }
    p[0].y_label = g->folds ? "cross-validated RMSE, MAE" : "best validation RMSE, MAE";
    p[0].lines = c.lines;
    p[0].n_lines = 2 * c.n_lines;
    p[1].y_label = "seconds per epoch";
    p[1].lines = c.lines + 2 * c.n_lines;
    p[1].n_lines = c.n_lines;
    snprintf(x_label, sizeof x_label, "%s%s", g->name[0], log_x ? " (log scale)" : "");
    if (data_out_open(&o, path, err) != 0) {
        chart_free(&c);
        return -1;
    }
    drawn = viz_svg_panels(o.f, title, x_label, log_x, p, 2);
    chart_free(&c);
    if (drawn != 0 && !ferror(o.f)) {
        data_out_abort(&o);
        data_errorf(err, "%s: out of memory for the drawing", path);
        return -1;
    }
    return data_out_commit(&o, err);
}

/* ------------------------------------------------------------ folds' data */

int tune_copy_rows(data_ratings *dst, const data_ratings *src) {
    if (src->no_time) data_ratings_without_time(dst);
    if (data_ratings_reserve_exact(dst, src->n) != 0) return -1;
    if (src->n) {
        memcpy(dst->user, src->user, src->n * sizeof *src->user);
        memcpy(dst->item, src->item, src->n * sizeof *src->item);
        memcpy(dst->rating, src->rating, src->n * sizeof *src->rating);
        if (dst->time) memcpy(dst->time, src->time, src->n * sizeof *src->time);
    }
    dst->n = src->n;
    return 0;
}

int tune_renumber(const data_idmap *from_users, const data_idmap *from_items, data_ratings *train,
                  data_ratings *test, data_idmap *users, data_idmap *items) {
    data_ratings *part[2];
    size_t p, k;
    part[0] = train;
    part[1] = test;
    data_idmap_init(users);
    data_idmap_init(items);
    for (p = 0; p < 2; p++)
        for (k = 0; k < part[p]->n; k++) {
            int32_t u = data_idmap_intern(users, from_users->raw[part[p]->user[k]]);
            int32_t i = data_idmap_intern(items, from_items->raw[part[p]->item[k]]);
            if (u < 0 || i < 0) return -1;
            part[p]->user[k] = (uint32_t)u;
            part[p]->item[k] = (uint32_t)i;
        }
    return 0;
}

/* DIR/foldF.PART.csv: the rows of fold f (test) or of the others (train) */
static int save_fold_part(const char *path, const data_idmap *users, const data_idmap *items,
                          const data_ratings *all, const uint32_t *fold, uint32_t f, int test,
                          data_error *err) {
    data_out o;
    size_t k;
    if (data_out_open(&o, path, err) != 0) return -1;
    fprintf(o.f, "userId,movieId,rating,timestamp\n");
    for (k = 0; k < all->n; k++)
        if ((fold[k] == f) == test) /* %.9g: every float rating read back exactly */
            fprintf(o.f, "%lld,%lld,%.9g,%lld\n", (long long)users->raw[all->user[k]],
                    (long long)items->raw[all->item[k]], (double)all->rating[k],
                    (long long)(all->time ? all->time[k] : 0));
    return data_out_commit(&o, err);
}

int tune_save_folds(const char *dir, const data_idmap *users, const data_idmap *items,
                    const data_ratings *all, const uint32_t *fold, size_t n_folds,
                    data_error *err) {
    char path[4200];
    struct stat st;
    size_t f;
    int test;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0) {
        data_errorf(err, "%s: cannot make the directory: %s", dir, strerror(errno));
        return -1;
    }
    for (f = 0; f < n_folds; f++)
        for (test = 0; test < 2; test++) {
            snprintf(path, sizeof path, "%s/fold%zu.%s.csv", dir, f + 1, test ? "test" : "train");
            if (save_fold_part(path, users, items, all, fold, (uint32_t)f, test, err) != 0)
                return -1;
        }
    return 0;
}

int tune_ml100k_files(const char *data, char **base, char **test, data_error *err) {
    const char *slash = strrchr(data, '/');
    int dir_len = slash ? (int)(slash - data) + 1 : 0, f, part;
    struct stat st;
    size_t size = strlen(data) + 16;
    for (f = 0; f < 5; f++)
        for (part = 0; part < 2; part++) {
            char *path = malloc(size);
            if (!path) {
                data_errorf(err, "out of memory");
                return -1;
            }
            snprintf(path, size, "%.*su%d.%s", dir_len, data, f + 1, part ? "test" : "base");
            (part ? test : base)[f] = path;
            if (stat(path, &st) != 0) {
                data_errorf(err, "%s: %s (--ml100k-folds takes u1.base, u1.test ... u5.test "
                                 "beside --data)", path, strerror(errno));
                return -1;
            }
        }
    return 0;
}

size_t tune_params(const mf_model *m) {
    size_t k, n = 0;
    for (k = 0; k < m->params.n_tensors; k++) n += m->params.t[k].rows * m->params.t[k].k;
    return n;
}

/* ------------------------------------------------------------ sweep's lists */

int tune_split_list(char *list, const char **values, size_t max, size_t *n, char *why,
                    size_t why_size) {
    char *p = list;
    for (*n = 0; p; (*n)++) {
        char *comma = strchr(p, ','), *end;
        if (comma) *comma = '\0';
        if (*n == max) {
            snprintf(why, why_size, "at most %zu values", max);
            return -1;
        }
        errno = 0;
        (void)strtod(p, &end);
        if (!*p || *end || errno) {
            snprintf(why, why_size, "\"%s\" is not a number", p);
            return -1;
        }
        values[*n] = p;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

void tune_placeholder(char *buf, size_t size, const char *name) {
    size_t n = 0;
    const char *c;
    for (c = name + strspn(name, "-"); *c && n + 1 < size; c++)
        buf[n++] = *c == '-' ? '_' : *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
    buf[n] = '\0';
}

void tune_describe_args(char *buf, size_t size, char **argv, int argc, const int *at,
                        const char *const *placeholder, size_t n_at) {
    size_t used = 0, j;
    int k;
    buf[0] = '\0';
    for (k = 2; k < argc && used + 1 < size; k++) {
        const char *s = argv[k];
        if (strncmp(s, "--data=", 7) == 0 || strcmp(s, "--quiet") == 0 ||
            strcmp(s, "--no-progress") == 0) /* the data is named apart; logs change nothing */
            continue;
        if (strcmp(s, "--data") == 0) {
            k++;
            continue;
        }
        for (j = 0; j < n_at; j++)
            if (at[j] == k) s = placeholder[j];
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? " " : "", s);
    }
    if (used >= size && size > 4) snprintf(buf + size - 4, 4, "...");
}
