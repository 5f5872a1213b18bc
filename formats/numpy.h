/* formats/numpy.h — NumPy's legacy random generator, so that a shuffle here
 * is row for row the one a Python run made.
 *
 * numpy.random.RandomState(seed), the legacy generator that np.random.seed,
 * np.random.shuffle and pandas' random_state=SEED use: MT19937 seeded by
 * init_genrand. embrec's own shuffles use nn_rng; this is only for
 * reproducing one (--shuffle numpy:SEED, --batch-order numpy:SEED, and the
 * reference tests' initial weights). It deliberately implements only what
 * those need, not the rest of RandomState (normal, choice with replacement)
 * nor NumPy's newer Generator.
 */
#ifndef EMBREC_FORMATS_NUMPY_H
#define EMBREC_FORMATS_NUMPY_H

#include <stddef.h>
#include <stdint.h>

#include "data.h" /* data_error */

typedef struct {
    uint32_t mt[624];   /* MT19937 state */
    int pos;            /* next word of mt to temper; 624: regenerate first */
} data_np_rng;

/* RandomState(seed): mt[0] = seed, mt[k] = 1812433253·(mt[k−1] ⊕ (mt[k−1] >> 30)) + k.
 * NumPy refuses integer seeds outside [0, 2^32 − 1], and so does this:
 * 0, or -1 with err for a larger seed. */
int data_np_seed(data_np_rng *rng, uint64_t seed, data_error *err);
/* the next tempered 32-bit MT19937 output */
uint32_t data_np_next32(data_np_rng *rng);
/* RandomState.uniform(low, high): low + (high − low)·r with NumPy's 53-bit
 * double r = ((a >> 5)·2^26 + (b >> 6)) / 2^53 from two 32-bit outputs a, b */
double data_np_uniform(data_np_rng *rng, double low, double high);
/* NumPy's random_interval(max): uniform in [0, max], by masking a 32-bit
 * output with the smallest all-ones mask ≥ max and rejecting values > max */
uint32_t data_np_interval(data_np_rng *rng, uint32_t max);
/* RandomState.shuffle of a 1-D array (legacy): for i = n−1 down to 1,
 * j = random_interval(i), swap a[i] and a[j] */
void data_np_shuffle_u32(data_np_rng *rng, uint32_t *a, size_t n);
/* RandomState(seed).permutation(n) into perm (n): np.arange(n), shuffled.
 * This is also pandas' df.sample(frac=1, random_state=seed), which calls
 * RandomState(seed).choice(n, size=n, replace=False), i.e. permutation(n)[:n].
 * 0 or -1 with err (seed ≥ 2^32, n ≥ 2^32). To reorder ratings by it:
 * data_ratings_permute (data.h). */
int data_np_permutation(uint32_t *perm, size_t n, uint64_t seed, data_error *err);

#endif
