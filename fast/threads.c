/* fast/threads.c — POSIX threads for the speed machinery: a one-call
 * parallel loop, a team of threads that wait between calls, a flag one
 * thread raises for the others, and parameter replicas (shared weights,
 * gradients of their own). fast_install makes fast_parallel the core's
 * share runner (nn_use_share_runner), so evaluation, recommendations and
 * t-SNE run their shares on every core.
 *
 * What it deliberately does not do: no thread outlives the call or team
 * that started it, and a thread that cannot be started leaves its share to
 * the caller, so the work is always done.
 */
#define _POSIX_C_SOURCE 200809L
#include "fast/threads.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h> /* _mm_pause */
#endif

/* Where the compiler offers atomics (gcc, clang) a waiting thread first
 * spins on them; elsewhere every wait goes through the mutex, which is
 * correct and only slower. */
#if defined(__GNUC__)
#define SPIN_TRIES 20000 /* about a millisecond of pauses before sleeping */
static unsigned load_acquire(const unsigned *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store_release(unsigned *p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static void cpu_relax(void) {
#if defined(__SSE__) || defined(__x86_64__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#else
#define SPIN_TRIES 0
static unsigned load_acquire(const unsigned *p) { return *(const volatile unsigned *)p; }
static void store_release(unsigned *p, unsigned v) { *(volatile unsigned *)p = v; }
static void cpu_relax(void) {}
#endif

void fast_flag_raise(int *flag) {
#if defined(__GNUC__)
    __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
#else
    *(volatile int *)flag = 1;
#endif
}

int fast_flag_raised(const int *flag) {
#if defined(__GNUC__)
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
#else
    return *(const volatile int *)flag;
#endif
}

typedef struct {
    nn_task fn;
    void *ctx;
    size_t t, T;
} share;

static void *share_main(void *arg) {
    share *s = arg;
    s->fn(s->ctx, s->t, s->T);
    return NULL;
}

void fast_parallel(size_t T, nn_task fn, void *ctx) {
    share sh[FAST_MAX_THREADS];
    pthread_t tid[FAST_MAX_THREADS];
    int started[FAST_MAX_THREADS];
    size_t t;
    if (T < 1) T = 1;
    if (T > FAST_MAX_THREADS) T = FAST_MAX_THREADS;
    for (t = 0; t < T; t++) {
        sh[t].fn = fn;
        sh[t].ctx = ctx;
        sh[t].t = t;
        sh[t].T = T;
        started[t] = t > 0 && pthread_create(&tid[t], NULL, share_main, &sh[t]) == 0;
    }
    for (t = 0; t < T; t++)
        if (!started[t]) fn(ctx, t, T); /* share 0, and any thread that did not start */
    for (t = 1; t < T; t++)
        if (started[t]) pthread_join(tid[t], NULL);
}

/* A team: workers 1 … T−1 wait for the generation count to move, run their
 * share of the task, and count themselves done; the caller runs share 0,
 * then waits for the count. Both waits spin, then sleep on a condition
 * variable; the mutex guards the sleeping, so no wake-up is lost. */
typedef struct {
    struct fast_team *team;
    size_t t;
} team_member;

struct fast_team {
    size_t T;
    pthread_t tid[FAST_MAX_THREADS];
    int started[FAST_MAX_THREADS];
    team_member member[FAST_MAX_THREADS];
    unsigned n_started;
    pthread_mutex_t mu;
    pthread_cond_t go, finished;
    unsigned gen;   /* one more for each task; workers watch it */
    unsigned done;  /* workers that have finished this task */
    int quit;
    nn_task fn;
    void *ctx;
};

static unsigned team_wait_gen(fast_team *tm, unsigned seen) {
    unsigned g, i;
    for (i = 0; i < SPIN_TRIES; i++) {
        if ((g = load_acquire(&tm->gen)) != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&tm->mu);
    while ((g = load_acquire(&tm->gen)) == seen) pthread_cond_wait(&tm->go, &tm->mu);
    pthread_mutex_unlock(&tm->mu);
    return g;
}

static void team_done(fast_team *tm) {
#if defined(__GNUC__)
    if (__atomic_add_fetch(&tm->done, 1u, __ATOMIC_ACQ_REL) != tm->n_started) return;
    pthread_mutex_lock(&tm->mu);
#else
    pthread_mutex_lock(&tm->mu);
    if (++tm->done != tm->n_started) {
        pthread_mutex_unlock(&tm->mu);
        return;
    }
#endif
    pthread_cond_signal(&tm->finished);
    pthread_mutex_unlock(&tm->mu);
}

static void *team_worker(void *arg) {
    team_member *me = arg;
    fast_team *tm = me->team;
    unsigned seen = 0;
    for (;;) {
        seen = team_wait_gen(tm, seen);
        if (tm->quit) break; /* written before the generation moved */
        tm->fn(tm->ctx, me->t, tm->T);
        team_done(tm);
    }
    return NULL;
}

fast_team *fast_team_new(size_t T) {
    fast_team *tm = calloc(1, sizeof *tm);
    size_t t;
    if (!tm) return NULL;
    if (T < 1) T = 1;
    if (T > FAST_MAX_THREADS) T = FAST_MAX_THREADS;
    tm->T = T;
    if (pthread_mutex_init(&tm->mu, NULL) != 0) {
        free(tm);
        return NULL;
    }
    if (pthread_cond_init(&tm->go, NULL) != 0 || pthread_cond_init(&tm->finished, NULL) != 0) {
        pthread_mutex_destroy(&tm->mu); /* (a failed init leaves nothing to destroy) */
        free(tm);
        return NULL;
    }
    for (t = 1; t < T; t++) {
        tm->member[t].team = tm;
        tm->member[t].t = t;
        tm->started[t] = pthread_create(&tm->tid[t], NULL, team_worker, &tm->member[t]) == 0;
        tm->n_started += (unsigned)tm->started[t];
    }
    return tm;
}

size_t fast_team_size(const fast_team *team) { return team ? team->T : 1; }

static void team_publish(fast_team *tm) {
    pthread_mutex_lock(&tm->mu);
    store_release(&tm->gen, tm->gen + 1);
    pthread_cond_broadcast(&tm->go);
    pthread_mutex_unlock(&tm->mu);
}

void fast_team_run(fast_team *tm, nn_task fn, void *ctx) {
    size_t t;
    unsigned i;
    if (!tm || tm->T == 1) {
        fn(ctx, 0, 1);
        return;
    }
    tm->fn = fn;
    tm->ctx = ctx;
    store_release(&tm->done, 0);
    team_publish(tm);
    for (t = 0; t < tm->T; t++)
        if (!tm->started[t]) fn(ctx, t, tm->T); /* share 0, and any worker that did not start */
    for (i = 0; i < SPIN_TRIES && load_acquire(&tm->done) != tm->n_started; i++) cpu_relax();
    if (SPIN_TRIES && load_acquire(&tm->done) == tm->n_started) return;
    pthread_mutex_lock(&tm->mu);
    while (load_acquire(&tm->done) != tm->n_started) pthread_cond_wait(&tm->finished, &tm->mu);
    pthread_mutex_unlock(&tm->mu);
}

void fast_team_free(fast_team *tm) {
    size_t t;
    if (!tm) return;
    tm->quit = 1;
    team_publish(tm);
    for (t = 1; t < tm->T; t++)
        if (tm->started[t]) pthread_join(tm->tid[t], NULL);
    pthread_cond_destroy(&tm->go);
    pthread_cond_destroy(&tm->finished);
    pthread_mutex_destroy(&tm->mu);
    free(tm);
}

/* ============================================================ replicas */

int fast_replica(nn_params *dst, const nn_params *src) {
    size_t i;
    *dst = *src; /* the layout, and w shared */
    dst->dw = nn_alloc(src->n * sizeof(float));
    for (i = 0; i < dst->n_tensors; i++) {
        nn_tensor *t = &dst->t[i];
        t->touched = NULL;
        t->is_touched = NULL;
        t->n_touched = 0;
    }
    if (!dst->dw) goto fail;
    for (i = 0; i < dst->n_tensors; i++) {
        nn_tensor *t = &dst->t[i];
        if (!t->sparse) continue;
        t->touched = nn_alloc(t->rows * sizeof *t->touched);
        t->is_touched = nn_alloc(t->rows);
        if (!t->touched || !t->is_touched) goto fail;
    }
    return 0;
fail:
    fast_replica_free(dst);
    return -1;
}

void fast_replica_free(nn_params *dst) {
    dst->w = NULL; /* src's */
    nn_params_free(dst);
}

void fast_add_grad(nn_params *dst, const nn_params *src) {
    size_t i, j;
    assert(dst->n == src->n);
    for (i = 0; i < src->n_tensors; i++) {
        const nn_tensor *t = &src->t[i];
        size_t S = t->stride;
        if (!t->sparse) { /* dw += src.dw (a·x + y with a = 1: one rounding, as x + y) */
            vec_axpy(dst->dw + t->offset, 1.0f, src->dw + t->offset, t->rows * S);
            continue;
        }
        for (j = 0; j < t->n_touched; j++) {
            uint32_t r = t->touched[j];
            vec_axpy(dst->dw + t->offset + (size_t)r * S, 1.0f, src->dw + t->offset + (size_t)r * S, S);
            nn_params_touch(dst, i, r);
        }
    }
}
