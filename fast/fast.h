/* fast/fast.h — the speed machinery, plugged into the reading core.
 *
 * The core (nn, data, mf) computes everything by itself, plainly: shares
 * one after another, every parameter in every dense step, each epoch's
 * batches in one loop. fast_install hands the core faster ways to compute
 * the same things, through its seams: a share runner with threads
 * (nn_use_share_runner) and training engines (mf_use_engines). The
 * reference build (make reference) leaves it out, and the suite checks
 * that both train every recipe alike.
 */
#ifndef EMBREC_FAST_FAST_H
#define EMBREC_FAST_FAST_H

/* call once at start, before any thread */
void fast_install(void);

#endif
