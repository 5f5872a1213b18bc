/* formats/numpy.c — NumPy's legacy RandomState (MT19937 and the legacy
 * shuffle), word for word, for replaying a Python run's shuffles (see
 * numpy.h). It does not shuffle ratings itself: data_ratings_permute (data.c)
 * applies a permutation made here.
 */
#include "formats/numpy.h"

#define NP_MT_N 624
#define NP_MT_M 397

int data_np_seed(data_np_rng *rng, uint64_t seed, data_error *err) {
    uint32_t s;
    int k;
    if (seed > 0xffffffffu) { /* NumPy: "Seed must be between 0 and 2**32 - 1" */
        data_errorf(err, "numpy seed %llu is not in [0, 4294967295] (numpy.random.RandomState "
                    "takes 32-bit integer seeds)", (unsigned long long)seed);
        return -1;
    }
    s = (uint32_t)seed;
    for (k = 0; k < NP_MT_N; k++) { /* init_genrand */
        rng->mt[k] = s;
        s = 1812433253u * (s ^ (s >> 30)) + (uint32_t)k + 1u;
    }
    rng->pos = NP_MT_N;
    return 0;
}

/* MT19937's twist: the next 624 words of the state at once */
static void np_mt_generate(data_np_rng *rng) {
    static const uint32_t mag01[2] = {0u, 0x9908b0dfu}; /* the matrix A's last row */
    uint32_t *mt = rng->mt, y;
    int k;
    for (k = 0; k < NP_MT_N - NP_MT_M; k++) {
        y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
        mt[k] = mt[k + NP_MT_M] ^ (y >> 1) ^ mag01[y & 1u];
    }
    for (; k < NP_MT_N - 1; k++) {
        y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
        mt[k] = mt[k + NP_MT_M - NP_MT_N] ^ (y >> 1) ^ mag01[y & 1u];
    }
    y = (mt[NP_MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
    mt[NP_MT_N - 1] = mt[NP_MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
    rng->pos = 0;
}

uint32_t data_np_next32(data_np_rng *rng) {
    uint32_t y;
    if (rng->pos >= NP_MT_N) np_mt_generate(rng);
    y = rng->mt[rng->pos++];
    y ^= y >> 11; /* tempering */
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

double data_np_uniform(data_np_rng *rng, double low, double high) {
    uint32_t a = data_np_next32(rng) >> 5, b = data_np_next32(rng) >> 6;
    double r = ((double)a * 67108864.0 + (double)b) / 9007199254740992.0; /* [0, 1) */
    return low + (high - low) * r;
}

uint32_t data_np_interval(data_np_rng *rng, uint32_t max) {
    uint32_t mask = max, v;
    if (max == 0) return 0; /* NumPy draws nothing then */
    mask |= mask >> 1; /* the smallest 2^b − 1 ≥ max */
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    while ((v = data_np_next32(rng) & mask) > max) {}
    return v;
}

void data_np_shuffle_u32(data_np_rng *rng, uint32_t *a, size_t n) {
    size_t i;
    for (i = n; i-- > 1;) { /* i = n−1 .. 1 */
        uint32_t j = data_np_interval(rng, (uint32_t)i), tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
    }
}

int data_np_permutation(uint32_t *perm, size_t n, uint64_t seed, data_error *err) {
    data_np_rng rng;
    size_t k;
    if (n > (size_t)UINT32_MAX) {
        data_errorf(err, "a numpy permutation of %zu rows: at most 4294967295 are supported", n);
        return -1;
    }
    if (data_np_seed(&rng, seed, err) != 0) return -1;
    for (k = 0; k < n; k++) perm[k] = (uint32_t)k; /* np.arange(n) */
    data_np_shuffle_u32(&rng, perm, n);
    return 0;
}
