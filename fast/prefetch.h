/* fast/prefetch.h — asking for memory before it is needed.
 *
 * Rows of large embedding tables are read at random, so the speed
 * machinery's loops ask for the rows a few places ahead and the cache
 * misses overlap. A hint: it changes no value, and is nothing where the
 * compiler offers none.
 */
#ifndef EMBREC_FAST_PREFETCH_H
#define EMBREC_FAST_PREFETCH_H

#include <stddef.h>

/* A helper whose only effect is prefetching is inlined into its loop, by
 * force: GCC (12) judges such a function pure, since a prefetch changes no
 * value, and drops every call to it, where the same prefetches written in
 * the loop itself stay. */
#if defined(__GNUC__)
#define FAST_PREFETCHER static inline __attribute__((always_inline))
#else
#define FAST_PREFETCHER static inline
#endif

/* the cache lines of p[0..n) (floats), for writing */
FAST_PREFETCHER void fast_prefetch(const float *p, size_t n) {
#if defined(__GNUC__)
    size_t c;
    for (c = 0; c < n; c += 16) __builtin_prefetch(p + c, 1, 3); /* 16 floats: a cache line */
#else
    (void)p;
    (void)n;
#endif
}

#endif
