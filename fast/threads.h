/* fast/threads.h — threads for the speed machinery (see threads.c).
 *
 * fast_parallel starts its threads for one call: for work of a millisecond
 * or more (an epoch, an evaluation, a t-SNE iteration). A fast_team keeps
 * its threads between calls, waiting by spinning briefly and then sleeping:
 * for work of microseconds (the shares of one batch). Both run fn(ctx, t, T)
 * once for each t = 0 … T−1, the caller being thread 0, and return when all
 * have; a thread that cannot be started leaves its share to the caller.
 */
#ifndef EMBREC_FAST_THREADS_H
#define EMBREC_FAST_THREADS_H

#include "nn.h"

#define FAST_MAX_THREADS 256

void fast_parallel(size_t T, nn_task fn, void *ctx);

typedef struct fast_team fast_team;
/* T threads in all (T−1 started); NULL when out of memory */
fast_team *fast_team_new(size_t T);
size_t fast_team_size(const fast_team *team);
void fast_team_run(fast_team *team, nn_task fn, void *ctx);
void fast_team_free(fast_team *team);  /* NULL is fine */

/* a flag one thread raises and the others poll (e.g. "stop: a loss was NaN") */
void fast_flag_raise(int *flag);
int fast_flag_raised(const int *flag);

/* A replica shares the parameters w of src (and so its layout) but has
 * gradients of its own, dw (N, zeroed) and touched-row sets, so that threads
 * can each take the gradient of their share of a batch (data-parallel) or of
 * batches of their own (Hogwild) without touching each other's. Free it with
 * fast_replica_free, which leaves w to src. 0 or -1 (no memory). */
int fast_replica(nn_params *dst, const nn_params *src);
void fast_replica_free(nn_params *dst);
/* dst.dw += src.dw: every dense tensor, and the rows touched in src of each
 * sparse one (then touched in dst too). Adding replicas one after another,
 * in a fixed order, makes a sum that does not depend on thread timing. */
void fast_add_grad(nn_params *dst, const nn_params *src);

#endif
