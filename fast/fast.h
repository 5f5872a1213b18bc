/* fast/fast.h — the speed machinery, plugged into the reading core.
 *
 * The core (nn, data, mf) is written to be read and computes everything by
 * itself, plainly: ratings parsed line by line, shares one after another,
 * every parameter in every dense step, each epoch's batches in one loop
 * (make reference builds the command line over it alone). fast/ holds what
 * makes it fast without changing a result: each piece implements a seam of
 * the core with the same contract — a ratings reader (data_use_reader), a
 * share runner with threads (nn_use_share_runner), training engines
 * (mf_use_engines) — and fast_install plugs them in. The suite checks that
 * both builds train every recipe alike.
 */
#ifndef EMBREC_FAST_FAST_H
#define EMBREC_FAST_FAST_H

/* Plugs the speed machinery into the core's seams; call once at start,
 * before any thread. */
void fast_install(void);

#endif
