/* cli/tune.h — what `embrec cv` (cross-validation) and `embrec sweep` (one
 * recipe trained over lists of values of one or two options) report: their
 * Markdown tables, CSV files and the sweep's chart of error and time
 * against the option (notebook 000's trade-off for k).
 *
 * The runs themselves are cli/main.c's, each exactly what `embrec train`
 * with those options does; this file summarises and draws them, and gives
 * them their rows: a fold numbered as train numbers the rows of a file,
 * fold files, the lists of values.
 */
#ifndef EMBREC_CLI_TUNE_H
#define EMBREC_CLI_TUNE_H

#include <stddef.h>
#include <stdio.h>

#include "data.h"
#include "mf.h"

/* One training run as cv and sweep report it. */
typedef struct {
    const char *label;       /* cv: the fold's name in the table ("1", "u1.base") */
    size_t train_rows;       /* the training part: the rows trained on and validated on */
    size_t val_rows;         /* of those, the rows that validate each epoch */
    size_t test_rows;        /* rows scored after training (cv: the fold's) */
    size_t unseen;           /* test rows whose user or movie the model never learned
                              * (no training row, no features): predicted by the
                              * training mean, as train --test does */
    double val_rmse, val_mae;   /* at the best epoch (NaN without validation rows) */
    double test_rmse, test_mae; /* after training (NaN without test rows) */
    size_t best_epoch;       /* from 1; 0: no validation rows, so no best */
    size_t epochs;           /* epochs trained */
    double seconds;          /* their time, validation included */
    size_t params;           /* trainable parameters */
    int diverged;            /* the loss became NaN or infinite: no error to report */
} tune_run;

/* mean and sample standard deviation (n − 1) of x (n); sd NaN below 2 */
void tune_mean_sd(const double *x, size_t n, double *mean, double *sd);

/* cv's table: fold, train rows, test rows, RMSE, MAE, best epoch, then the
 * mean ± sample sd of RMSE and MAE over the folds, with notes on unseen
 * ids and time. */
void tune_cv_table(FILE *f, const tune_run *folds, size_t n);
/* fold,train_rows,val_rows,test_rows,unseen,rmse,mae,best_epoch,epochs,
 * seconds_per_epoch,parameters: one line per fold. 0, or -1 with err. */
int tune_cv_csv(const char *path, const tune_run *folds, size_t n, data_error *err);

/* A sweep's grid: every value of the first option with every value of the
 * second (when there is one); row r is values[0][r / n_values[1]] with
 * values[1][r % n_values[1]]. */
typedef struct {
    size_t n_axes;                  /* 1 or 2 */
    const char *name[2];            /* the options, "--dim" */
    const char *const *values[2];   /* their values, as given */
    size_t n_values[2];             /* (1 for an absent second axis) */
    size_t folds;                   /* --cv N: each row the mean over N folds; 0: the
                                     * best epoch on the validation rows */
} tune_grid;

/* A row of the sweep: one run's best epoch, or the folds' mean. */
typedef struct {
    double rmse, mae;               /* NaN when diverged */
    double rmse_sd, mae_sd;         /* over the folds (NaN without --cv) */
    double best_epoch;              /* the folds' mean with --cv; 0: none */
    double seconds_per_epoch;
    size_t params;
    int diverged;                   /* a run's loss became NaN or infinite */
} tune_row;

size_t tune_grid_rows(const tune_grid *g);
/* the row of n runs: a validation run's best epoch (folds 0, n 1), or the
 * mean over the folds' test scores */
tune_row tune_row_of(const tune_run *runs, size_t n, size_t folds);
/* 1 when every value is a power of 2, or every value a power of 10
 * (2,4,8; 0.001,0.01,0.1): such values are spaced evenly on a log axis */
int tune_log_axis(const char *const *values, size_t n);

/* the sweep's table: the options' values, RMSE, MAE, best epoch, seconds
 * per epoch, parameters */
void tune_sweep_table(FILE *f, const tune_grid *g, const tune_row *rows);
/* the same as CSV (one column per option, named without its dashes, then
 * rmse,mae,rmse_sd,mae_sd,best_epoch,seconds_per_epoch,parameters). 0, or
 * -1 with err. */
int tune_sweep_csv(const char *path, const tune_grid *g, const tune_row *rows, data_error *err);
/* Error (RMSE, MAE) above and seconds per epoch below, against the first
 * option (a log axis when tune_log_axis says so), one line per value of
 * the second. 0, or -1 with err. */
int tune_sweep_chart(const char *path, const tune_grid *g, const tune_row *rows,
                     const char *title, data_error *err);

/* ------------------------------------------------------------ the runs' rows */

/* dst (empty) = a copy of src's rows; 0 or -1 (no memory) */
int tune_copy_rows(data_ratings *dst, const data_ratings *src);
/* Number a fold's users and items as `embrec train --data TRAIN --test
 * TEST` numbers them: new maps (users, items), in the order the training
 * rows and then the test rows first name them. The rows index from_users
 * and from_items and are renumbered in place. 0 or -1 (no memory). */
int tune_renumber(const data_idmap *from_users, const data_idmap *from_items, data_ratings *train,
                  data_ratings *test, data_idmap *users, data_idmap *items);
/* Each fold's rows as MovieLens CSV with raw ids, DIR/foldF.train.csv (the
 * other folds' rows) and DIR/foldF.test.csv (its own), F from 1, so that
 * `embrec train --data DIR/fold1.train.csv --test DIR/fold1.test.csv`, or
 * another library, sees the same fold. DIR is made when missing. 0, or -1
 * with err. */
int tune_save_folds(const char *dir, const data_idmap *users, const data_idmap *items,
                    const data_ratings *all, const uint32_t *fold, size_t n_folds,
                    data_error *err);
/* ML-100K's five folds beside the ratings file data: base[f] and test[f]
 * (5 each, allocated) are u<f+1>.base and u<f+1>.test. 0, or -1 with err
 * when one is missing (what was allocated is in the arrays). */
int tune_ml100k_files(const char *data, char **base, char **test, data_error *err);
/* trainable parameters, as Keras counts them */
size_t tune_params(const mf_model *m);

/* ------------------------------------------------------------ sweep's lists */

/* list "2,4,8" cut at its commas in place: values (n) point into it; -1
 * with why when a value is empty or not a number, or there are more than
 * max */
int tune_split_list(char *list, const char **values, size_t max, size_t *n, char *why,
                    size_t why_size);
/* "DIM" for "--dim", "DROPOUT_EMBED" for "--dropout-embed" */
void tune_placeholder(char *buf, size_t size, const char *name);
/* Train's arguments argv[2..argc) as one line for a heading, argv[at[j]]
 * shown as placeholder[j]; --data and its value, --quiet and --no-progress
 * left out. */
void tune_describe_args(char *buf, size_t size, char **argv, int argc, const int *at,
                        const char *const *placeholder, size_t n_at);

#endif
