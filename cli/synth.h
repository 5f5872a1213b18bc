/* cli/synth.h — `embrec synth`: MovieLens-shaped data from a planted model,
 * the bundled sample (data/) and the test suite's datasets, so that nothing
 * of MovieLens itself need ever be copied.
 *
 * It only writes datasets (ratings.csv and movies.csv in the MovieLens
 * latest layout); reading them is data.h's, as for any MovieLens file.
 */
#ifndef EMBREC_CLI_SYNTH_H
#define EMBREC_CLI_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "data.h" /* data_error */

/* MovieLens-shaped data from a planted model: ratings are
 * μ + b_u + b_i + p_u·q_i + noise, rounded to half stars in [0.5, 5], with
 * items in genre clusters (q_i near its cluster's centre), long-tailed item
 * popularity and user activity, no duplicate (user, item) pairs. */
typedef struct {
    size_t users, items, ratings;
    size_t rank;        /* planted factor dimension */
    size_t clusters;    /* genre clusters */
    double noise;       /* standard deviation of the rating noise */
    uint64_t seed;
} data_synth_config;

/* named shapes: "sample" (the bundled data/: 300 users, 200 movies, 12,000
 * ratings), "ml-100k", "ml-1m", "ml-25m"; 0 or -1 for an unknown name */
int data_synth_shape(const char *name, data_synth_config *cfg);
/* write dir/ratings.csv and dir/movies.csv (MovieLens latest layout; some
 * titles are quoted and contain commas and quotes); 0 or -1 with err */
int data_synth_write(const char *dir, const data_synth_config *cfg,
                     data_error *err);

#endif
