/* tests/test_fast.c — the speed machinery (fast/): threads, teams and
 * replicas; the optimiser's step without the sweep and on teams, against
 * the core's step; LIBMF's block hand-out; the batches engine's staged
 * samples against the plain loop; per-rating SGD's given-back gradient. (The engines are tested through
 * mf_train in test_mf.c and test_ref.c, which run with fast_install, and
 * against the reference build in test_cli.c.) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../fast/batches.h"
#include "../fast/fast.h"
#include "../fast/sgd.h"
#include "../fast/step.h"
#include "../fast/threads.h"
#include "../mf.h"
#include "../nn.h"


typedef struct {
    int hits[8];  /* how often share t ran in this task */
    size_t seen_T;
    long sum[8];  /* work of each share: Σ of its slice of 0..9999 */
} share_log;

static void log_share(void *ctx, size_t t, size_t T) {
    share_log *l = ctx;
    size_t k, lo = 10000 * t / T, hi = 10000 * (t + 1) / T;
    l->hits[t]++;
    if (t == 0) l->seen_T = T; /* one writer: the shares write disjoint memory */
    for (k = lo; k < hi; k++) l->sum[t] += (long)k;
}

/* fast_parallel and a team run every share exactly once per call, whatever
 * T, and the shares together cover the work (Σ 0..9999 = 49,995,000). A
 * team keeps working over many calls: 2,000 tasks, every share 2,000 times. */
static void test_threads_run_every_share(void) {
    size_t T, t, r;
    for (T = 1; T <= 5; T++) {
        share_log l;
        long total = 0;
        memset(&l, 0, sizeof l);
        fast_parallel(T, log_share, &l);
        CHECK_INT(l.seen_T, T);
        for (t = 0; t < T; t++) {
            CHECK_INT(l.hits[t], 1);
            total += l.sum[t];
        }
        CHECK_INT(l.hits[T], 0);
        CHECK(total == 49995000L);
    }
    for (T = 1; T <= 3; T++) {
        fast_team *team = fast_team_new(T);
        share_log l;
        memset(&l, 0, sizeof l);
        CHECK(team != NULL);
        if (!team) return;
        CHECK_INT(fast_team_size(team), T);
        for (r = 0; r < 2000; r++) fast_team_run(team, log_share, &l);
        for (t = 0; t < T; t++) CHECK_INT(l.hits[t], 2000);
        CHECK_INT(l.hits[T], 0);
        fast_team_free(team);
    }
    CHECK(nn_cores() >= 1);
}

/* A replica shares w and has its own gradient; fast_add_grad adds a
 * replica's touched rows (and all of a dense tensor) and marks them. */
static void test_params_replica_add_grad(void) {
    nn_params ps, rep;
    size_t te, td, i;
    memset(&ps, 0, sizeof ps);
    te = nn_params_add(&ps, "emb", 6, 3, 1);
    td = nn_params_add(&ps, "kernel", 1, 5, 0);
    if (nn_params_alloc(&ps) != 0 || fast_replica(&rep, &ps) != 0) {
        test_fail(__FILE__, __LINE__, "out of memory");
        return;
    }
    CHECK(rep.w == ps.w);
    CHECK(rep.dw != ps.dw);
    nn_grad(&ps, te)[2 * 8 + 1] = 1.5f; /* the model's own: row 2 */
    nn_params_touch(&ps, te, 2);
    nn_grad(&rep, te)[2 * 8 + 1] = 0.25f; /* the replica's: rows 2 and 5, and the kernel */
    nn_grad(&rep, te)[5 * 8 + 0] = -2.0f;
    nn_params_touch(&rep, te, 5);
    nn_params_touch(&rep, te, 2);
    for (i = 0; i < 5; i++) {
        nn_grad(&ps, td)[i] = (float)i;
        nn_grad(&rep, td)[i] = 10.0f;
    }
    CHECK_INT(ps.t[te].n_touched, 1); /* the sets are separate */
    fast_add_grad(&ps, &rep);
    CHECK(nn_grad(&ps, te)[2 * 8 + 1] == 1.75f);
    CHECK(nn_grad(&ps, te)[5 * 8 + 0] == -2.0f);
    CHECK(nn_grad(&ps, te)[3 * 8 + 0] == 0.0f);
    CHECK_INT(ps.t[te].n_touched, 2);
    CHECK_INT(ps.t[te].touched[1], 5);
    for (i = 0; i < 5; i++) CHECK(nn_grad(&ps, td)[i] == 10.0f + (float)i);
    fast_replica_free(&rep);
    CHECK(ps.w != NULL); /* the replica left w alone */
    nn_params_free(&ps);
}

/* dense-sweep's pass shared by a team of 3 is the core's pass on one
 * thread, bit for bit: the spans are disjoint and each element's arithmetic
 * is the same. 50 steps of Adam and of AdaMax on 1,000 floats. */
static void test_sweep_team_same_bits(void) {
    int kind;
    for (kind = 0; kind < 2; kind++) {
        nn_params a, b;
        nn_optimizer oa, ob;
        nn_optimizer_config cfg = nn_optimizer_defaults(kind ? NN_ADAMAX : NN_ADAM);
        fast_stepper sb;
        fast_team *team;
        nn_rng rng;
        size_t s, i, differ = 0;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        nn_params_add(&a, "emb", 100, 10, 1);
        nn_params_add(&b, "emb", 100, 10, 1);
        cfg.update = NN_UPDATE_DENSE_SWEEP;
        if (nn_params_alloc(&a) != 0 || nn_params_alloc(&b) != 0 ||
            nn_optimizer_init(&oa, cfg, a.n) != 0 || nn_optimizer_init(&ob, cfg, b.n) != 0) {
            test_fail(__FILE__, __LINE__, "out of memory");
            return;
        }
        team = fast_team_new(3);
        CHECK(team != NULL && fast_stepper_init(&sb, &ob, &b, team) == 0);
        nn_rng_seed(&rng, 5);
        for (i = 0; i < a.n; i++) a.w[i] = b.w[i] = (float)nn_rng_normal(&rng);
        for (s = 0; s < 50; s++) {
            for (i = 0; i < a.n; i++) /* a sparse gradient: most rows idle */
                a.dw[i] = b.dw[i] = nn_rng_uniform(&rng) < 0.1 ? (float)nn_rng_normal(&rng) : 0.0f;
            nn_optimizer_step(&oa, &a);
            fast_step(&sb, &b);
        }
        for (i = 0; i < a.n; i++) differ += a.w[i] != b.w[i] || oa.m[i] != ob.m[i] || oa.v[i] != ob.v[i];
        CHECK_INT(differ, 0);
        fast_stepper_free(&sb);
        fast_team_free(team);
        nn_optimizer_free(&oa);
        nn_optimizer_free(&ob);
        nn_params_free(&a);
        nn_params_free(&b);
    }
}

/* The rows of a lazy or deferred-dense step (and the catch-up before it)
 * shared by a team of 3 are the one-thread step, bit for bit: 200 steps of
 * Adam and AdaMax, a few touched rows each, an embedding and a dense tensor. */
static void test_row_team_same_bits(void) {
    int kind, mode;
    for (mode = 0; mode < 2; mode++)
        for (kind = 0; kind < 2; kind++) {
            nn_params a, b;
            nn_optimizer oa, ob;
            nn_optimizer_config cfg = nn_optimizer_defaults(kind ? NN_ADAMAX : NN_ADAM);
            fast_stepper sa, sb;
            fast_team *team = fast_team_new(3);
            nn_rng rng;
            size_t s, i, r, differ = 0;
            memset(&a, 0, sizeof a);
            memset(&b, 0, sizeof b);
            nn_params_add(&a, "emb", 100, 10, 1);
            nn_params_add(&a, "kernel", 1, 37, 0);
            nn_params_add(&b, "emb", 100, 10, 1);
            nn_params_add(&b, "kernel", 1, 37, 0);
            cfg.update = mode ? NN_UPDATE_LAZY : NN_UPDATE_DENSE;
            if (nn_params_alloc(&a) != 0 || nn_params_alloc(&b) != 0 ||
                nn_optimizer_init(&oa, cfg, a.n) != 0 || nn_optimizer_init(&ob, cfg, b.n) != 0 ||
                !team || fast_stepper_init(&sa, &oa, &a, NULL) != 0 ||
                fast_stepper_init(&sb, &ob, &b, team) != 0) {
                test_fail(__FILE__, __LINE__, "out of memory");
                return;
            }
            CHECK(mode == 1 || sa.deferred != NULL); /* dense here means the deferred path */
            nn_rng_seed(&rng, 9);
            for (i = 0; i < a.n; i++) a.w[i] = b.w[i] = (float)nn_rng_normal(&rng);
            for (s = 0; s < 200; s++) {
                for (r = 0; r < 7; r++) { /* a batch's rows, some repeated */
                    uint32_t row = (uint32_t)nn_rng_below(&rng, 100);
                    nn_params_touch(&a, 0, row);
                    nn_params_touch(&b, 0, row);
                }
                fast_catch_up(&sa, &a); /* what a forward pass would read */
                fast_catch_up(&sb, &b);
                for (r = 0; r < a.t[0].n_touched; r++) {
                    float *ga = nn_grad(&a, 0) + a.t[0].touched[r] * a.t[0].stride;
                    float *gb = nn_grad(&b, 0) + b.t[0].touched[r] * b.t[0].stride;
                    for (i = 0; i < 10; i++) ga[i] = gb[i] = (float)nn_rng_normal(&rng);
                }
                for (i = 0; i < 37; i++) nn_grad(&a, 1)[i] = nn_grad(&b, 1)[i] = (float)nn_rng_normal(&rng);
                fast_step(&sa, &a);
                fast_step(&sb, &b);
                nn_params_zero_grad(&a);
                nn_params_zero_grad(&b);
            }
            fast_flush(&sa, &a);
            fast_flush(&sb, &b);
            for (i = 0; i < a.n; i++) differ += a.w[i] != b.w[i] || oa.m[i] != ob.m[i] || oa.v[i] != ob.v[i];
            CHECK_INT(differ, 0);
            fast_stepper_free(&sa);
            fast_stepper_free(&sb);
            fast_team_free(team);
            nn_optimizer_free(&oa);
            nn_optimizer_free(&ob);
            nn_params_free(&a);
            nn_params_free(&b);
        }
}

/* Dense semantics without the sweep. Two copies of one embedding table get
 * the same stream of sparse gradients for 5000 steps: one updated by the
 * literal sweep (dense-sweep), one by deferred catch-up (dense). Rows are
 * touched at very different rates (row r about every r steps, some never
 * after step 100, so idle runs reach thousands of steps), gradients span
 * 1e-2 down to 1e-8 (the smallest send ε/√v past the series' range, into
 * the direct sum), and a row is read (caught up) before each use, as
 * training does.
 *
 * Tolerance: the sweep rounds each moving p to float32 every step, the
 * deferred update once per catch-up; the rounding errors are unbiased, so
 * their sum over n = 5000 steps spreads like √n·ulp/√12 = 2.4e-6 at
 * |p| < 1 (ulp 1.2e-7). β^k as one rounding instead of k changes later
 * steps by about k·6e-8 of their size (≤ lr·3.2): below 1e-7 here. We
 * allow 2e-5 (8 spreads). Skipping the idle steps altogether (lazy) moves
 * the table by more than 100 times that, which the test also asserts. */
static void run_table(nn_update_mode mode, nn_optimizer_kind kind, nn_params *ps,
                      nn_optimizer *opt, fast_stepper *fs) {
    enum { R = 40, K = 5, STEPS = 5000 };
    nn_optimizer_config c = nn_optimizer_defaults(kind);
    nn_rng rng;
    size_t s, r, e;
    memset(ps, 0, sizeof *ps);
    nn_params_add(ps, "table", R, K, 1);
    CHECK(nn_params_alloc(ps) == 0);
    nn_rng_seed(&rng, 21);
    for (r = 0; r < R; r++)
        for (e = 0; e < K; e++) ps->w[r * ps->t[0].stride + e] = (float)(nn_rng_uniform(&rng) - 0.5);
    c.update = mode;
    CHECK(nn_optimizer_init(opt, c, ps->n) == 0);
    CHECK(fast_stepper_init(fs, opt, ps, NULL) == 0);
    for (s = 0; s < STEPS; s++) {
        for (r = 1; r < R; r++) {
            int late = r % 7 == 0 && s > 100;          /* idle from step 100 on */
            double scale = r % 5 == 0 ? 1e-8 : 1e-2 / (double)r;
            if (late || nn_rng_below(&rng, r) != 0) continue; /* row r: 1 step in r */
            nn_params_touch(ps, 0, (uint32_t)r);
            fast_catch_up(fs, ps);                   /* read before the forward pass */
            for (e = 0; e < K; e++)
                ps->dw[r * ps->t[0].stride + e] += (float)(scale * (nn_rng_uniform(&rng) - 0.5));
        }
        fast_step(fs, ps);
        nn_params_zero_grad(ps);
    }
    fast_flush(fs, ps);
}

static double max_abs_diff(const nn_params *a, const nn_params *b) {
    double d = 0.0;
    size_t k;
    for (k = 0; k < a->n; k++)
        if (fabs((double)a->w[k] - (double)b->w[k]) > d) d = fabs((double)a->w[k] - (double)b->w[k]);
    return d;
}

static void test_deferred_dense_matches_sweep(void) {
    static const nn_optimizer_kind kinds[2] = {NN_ADAM, NN_ADAMAX};
    size_t k;
    for (k = 0; k < 2; k++) {
        nn_params sweep, deferred, lazy;
        nn_optimizer os, od, ol;
        fast_stepper ss, sd, sl;
        double d, dl;
        run_table(NN_UPDATE_DENSE_SWEEP, kinds[k], &sweep, &os, &ss);
        run_table(NN_UPDATE_DENSE, kinds[k], &deferred, &od, &sd);
        run_table(NN_UPDATE_LAZY, kinds[k], &lazy, &ol, &sl);
        CHECK(sd.deferred != NULL && ss.deferred == NULL);
        d = max_abs_diff(&sweep, &deferred);
        dl = max_abs_diff(&sweep, &lazy);
        printf("     %s, 5000 steps: dense vs dense-sweep max |Δp| %.3g; lazy vs dense-sweep %.3g\n",
               nn_optimizer_name(kinds[k]), d, dl);
        CHECK(d <= 2e-5);
        CHECK(dl > 100 * 2e-5);
        CHECK(max_abs_diff(&sweep, &sweep) == 0.0);
        fast_stepper_free(&ss);
        fast_stepper_free(&sd);
        fast_stepper_free(&sl);
        nn_optimizer_free(&os);
        nn_optimizer_free(&od);
        nn_optimizer_free(&ol);
        nn_params_free(&sweep);
        nn_params_free(&deferred);
        nn_params_free(&lazy);
    }
}

/* T simulated threads on LIBMF's block queue: idle threads take blocks
 * while one is free, then a running block (a random one) finishes. Every
 * block must be handed out exactly once, no two running blocks may share a
 * row or a column, and (with check_none) take may say none is free only
 * when every block not handed out shares a row or a column with a running
 * one. Counts the faults into bad[3]. */static void simulate_queue(size_t G, size_t T, uint64_t seed, int check_none, size_t bad[3]) {
    uint32_t *order = malloc(G * G * sizeof *order), running[16], b;
    unsigned char *given = calloc(G * G, 1);
    size_t handed = 0, n_run = 0, k, j;
    fast_block_queue q;
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    if (!order || !given || T > 16) exit(2);
    for (k = 0; k < G * G; k++) order[k] = (uint32_t)k;
    nn_rng_shuffle_u32(&rng, order, G * G);
    CHECK(fast_block_queue_init(&q, G, order) == 0);
    for (;;) {
        while (n_run < T && (b = fast_block_queue_take(&q)) != FAST_BLOCK_NONE) {
            bad[0] += b >= G * G || given[b];
            if (b >= G * G) break;
            given[b] = 1;
            for (j = 0; j < n_run; j++)
                bad[1] += running[j] / G == b / G || running[j] % G == b % G;
            running[n_run++] = b;
            handed++;
        }
        if (check_none && n_run < T)
            for (k = 0; k < G * G; k++) {
                int held = given[k];
                for (j = 0; j < n_run && !held; j++)
                    held = running[j] / G == k / G || running[j] % G == k % G;
                bad[2] += !held;
            }
        if (q.left != G * G - handed) bad[0]++;
        if (n_run == 0) break; /* nothing runs and nothing is free: done, or stuck */
        k = (size_t)nn_rng_below(&rng, n_run);
        fast_block_queue_done(&q, running[k]);
        running[k] = running[--n_run];
    }
    if (handed != G * G) bad[0]++;
    fast_block_queue_free(&q);
    free(order);
    free(given);
}

/* The hand-out of --blocks on threads, in small grids checked after every
 * step and in a 1000 × 1000 grid: a million hand-outs, which a queue that
 * rescans all G² blocks for each would take hours over. */
static void test_block_queue(void) {
    static const size_t small[][2] = {{1, 1}, {1, 3}, {2, 2}, {5, 1}, {7, 3}, {20, 4}, {9, 16}};
    size_t bad[3] = {0, 0, 0}, k;
    for (k = 0; k < sizeof small / sizeof small[0]; k++)
        simulate_queue(small[k][0], small[k][1], 7 + k, 1, bad);
    simulate_queue(1000, 2, 1, 0, bad);
    simulate_queue(1000, 8, 2, 0, bad);
    CHECK_INT(bad[0], 0); /* a block not handed out, or twice */
    CHECK_INT(bad[1], 0); /* two running blocks share a row or a column */
    CHECK_INT(bad[2], 0); /* none said free while one was */
}

/* A model over 300 users and 200 items, and 40,000 random ratings of them
 * (seeded), for training one engine against another. */
typedef struct {
    data_idmap users, items;
    data_ratings all;
    mf_model m;
} random_run;

static void random_open(random_run *r, mf_config mc, uint64_t seed) {
    data_error err;
    nn_rng rng;
    size_t k;
    data_idmap_init(&r->users);
    data_idmap_init(&r->items);
    data_ratings_init(&r->all);
    for (k = 0; k < 300; k++) data_idmap_intern(&r->users, (int64_t)k);
    for (k = 0; k < 200; k++) data_idmap_intern(&r->items, (int64_t)k);
    nn_rng_seed(&rng, seed);
    for (k = 0; k < 40000; k++)
        data_ratings_push(&r->all, (uint32_t)nn_rng_below(&rng, 300),
                          (uint32_t)nn_rng_below(&rng, 200), (float)(1 + nn_rng_below(&rng, 5)), 0);
    CHECK(mf_init(&r->m, mc, &r->users, &r->items, &r->all, NULL, &rng, &err) == 0);
}

/* train r's model on every rating, by the engines fast_install gives
 * (plain: by the core's loop alone) */
static void random_train(random_run *r, mf_train_config tc, int plain) {
    data_error err;
    mf_history h;
    tc.session.verbose = 0;
    if (plain) mf_use_engines(NULL, 0);
    CHECK(mf_train(&r->m, &r->all, NULL, &tc, &h, NULL, &err) == 0);
    if (plain) fast_install(); /* the suite's engines back */
    mf_history_free(&h);
}

/* a copy of the model's weights (n floats, malloc'd); r freed */
static float *random_close(random_run *r, size_t *n) {
    float *w = malloc(r->m.params.n * sizeof *w);
    *n = r->m.params.n;
    if (w) memcpy(w, r->m.params.w, *n * sizeof *w);
    mf_free(&r->m);
    data_ratings_free(&r->all);
    data_idmap_free(&r->users);
    data_idmap_free(&r->items);
    return w;
}

/* the two copies hold the same bits; both freed */
static void check_same_weights(float *a, size_t na, float *b, size_t nb) {
    CHECK(a && b && na == nb);
    if (a && b && na == nb) CHECK(memcmp(a, b, na * sizeof *a) == 0);
    free(a);
    free(b);
}

/* the weights of a dot model (k=4) after 2 epochs of lazy Adam in batches of B */
static float *train_staged(size_t B, int plain, size_t *n) {
    mf_config mc = mf_defaults();
    mf_train_config tc = mf_train_defaults();
    random_run r;
    mc.dim = 4;
    tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
    tc.fit.opt.update = NN_UPDATE_LAZY;
    tc.fit.batch = B;
    tc.fit.epochs = 2;
    random_open(&r, mc, 5);
    random_train(&r, tc, plain);
    return random_close(&r, n);
}

/* The batches engine gathers the epoch's samples 16,384 at a time: batches
 * that straddle a chunk (5000), a batch larger than one (20,000) and small
 * ones (32, 7) train the very bits of the plain loop's gather. */
static void test_staged_samples_match_plain(void) {
    static const size_t batches[] = {32, 7, 5000, 20000};
    size_t k, n_fast, n_plain;
    for (k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        float *fast = train_staged(batches[k], 0, &n_fast);
        float *plain = train_staged(batches[k], 1, &n_plain);
        check_same_weights(fast, n_fast, plain, n_plain);
    }
}

/* The staged gather gives every batch what the core's mf_gather_batch
 * gives, whatever the batch (7, 5000, and 20,000: larger than a chunk) and
 * however the epoch is cut among threads (1, 2 or 3 contiguous parts of
 * the batches, as Hogwild cuts it, each staging no further than its end). */
static void test_stage_gathers_as_core(void) {
    enum { N = 50000 };
    static const size_t batches[] = {7, 5000, 20000};
    static uint32_t user[N], item[N], order[N];
    static float target[N];
    mf_run run;
    mf_batch want, got;
    fast_stage st;
    nn_rng rng;
    size_t k, bi, T, t, g, bad = 0, calls = 0;
    for (k = 0; k < N; k++) {
        user[k] = (uint32_t)k;
        item[k] = (uint32_t)(k * 7 % 1000);
        target[k] = (float)k * 0.5f;
        order[k] = (uint32_t)k;
    }
    nn_rng_seed(&rng, 3);
    nn_rng_shuffle_u32(&rng, order, N);
    memset(&run, 0, sizeof run);
    run.samples = (mf_samples){.user = user, .item = item, .target = target, .n = N};
    run.order = order;
    for (bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        size_t B = batches[bi], n_batches = (N + B - 1) / B;
        memset(&want, 0, sizeof want);
        memset(&got, 0, sizeof got);
        want.u = malloc(B * sizeof *want.u);
        want.i = malloc(B * sizeof *want.i);
        want.y = malloc(B * sizeof *want.y);
        got.u = malloc(B * sizeof *got.u);
        got.i = malloc(B * sizeof *got.i);
        got.y = malloc(B * sizeof *got.y);
        CHECK(want.u && want.i && want.y && got.u && got.i && got.y &&
              fast_stage_init(&st, B) == 0);
        for (T = 1; T <= 3 && st.u && got.y; T++)
            for (t = 0; t < T; t++) {
                size_t g0 = n_batches * t / T, g1 = n_batches * (t + 1) / T;
                size_t end = g1 * B < N ? g1 * B : N;
                st.from = st.to = 0;
                for (g = g0; g < g1; g++) {
                    size_t start = g * B, nb = N - start < B ? N - start : B;
                    mf_gather_batch(&run, &want, start, nb);
                    fast_gather_staged(&st, &run, &got, start, nb, end);
                    bad += memcmp(want.u, got.u, nb * sizeof *got.u) != 0 ||
                           memcmp(want.i, got.i, nb * sizeof *got.i) != 0 ||
                           memcmp(want.y, got.y, nb * sizeof *got.y) != 0 || st.to > end;
                    calls++;
                }
            }
        fast_stage_free(&st);
        free(want.u);
        free(want.i);
        free(want.y);
        free(got.u);
        free(got.i);
        free(got.y);
    }
    CHECK_INT(bad, 0);
    CHECK_INT(calls, 3 * (7143 + 10 + 3)); /* every batch once for each T = 1, 2, 3 */
}

/* Per-rating SGD gives the gradient block's pages back (it never uses
 * them): the block must still read as zeros after, for the next training
 * of the same model. One epoch of per-rating SGD by its engine (plain: by
 * the core's loop, which makes the same bits and keeps the block), then one
 * of lazy Adam by the batches engine: the same weights either way, and a
 * zero gradient block between them. */
static void test_sgd_gives_back_gradient(void) {
    float *w[2];
    size_t n[2], k, nonzero = 0;
    int plain;
    for (plain = 0; plain <= 1; plain++) {
        mf_config mc = mf_defaults_for(MF_BIAS);
        mf_train_config tc = mf_train_defaults();
        random_run r;
        mc.dim = 8;
        tc.fit.opt = nn_optimizer_defaults(NN_SGD);
        tc.fit.opt.lr = 0.01f;
        tc.fit.batch = 1;
        tc.fit.epochs = 1;
        random_open(&r, mc, 9);
        random_train(&r, tc, plain);
        for (k = 0; k < r.m.params.n; k++) nonzero += r.m.params.dw[k] != 0.0f;
        tc.fit.opt = nn_optimizer_defaults(NN_ADAM);
        tc.fit.opt.update = NN_UPDATE_LAZY;
        tc.fit.batch = 32;
        random_train(&r, tc, 0);
        w[plain] = random_close(&r, &n[plain]);
    }
    CHECK_INT(nonzero, 0);
    check_same_weights(w[0], n[0], w[1], n[1]);
}

static void deferred_dense_paths(void) { test_on_every_path(test_deferred_dense_matches_sweep); }

void suite_fast(void) {
    test_run("fast/threads_run_every_share", test_threads_run_every_share);
    test_run("fast/replica_add_grad", test_params_replica_add_grad);
    test_run("fast/sweep_team_same_bits", test_sweep_team_same_bits);
    test_run("fast/row_team_same_bits", test_row_team_same_bits);
    test_run("fast/deferred_dense_matches_sweep", deferred_dense_paths);
    test_run("fast/block_queue", test_block_queue);
    test_run("fast/staged_samples_match_plain", test_staged_samples_match_plain);
    test_run("fast/stage_gathers_as_core", test_stage_gathers_as_core);
    test_run("fast/sgd_gives_back_gradient", test_sgd_gives_back_gradient);
}
