/* fast/fast.h — the speed machinery, plugged into the reading core.
 *
 * The core (data.c, nn.c, mf.c) is written to be read and runs on its own
 * (make reference builds the command line over it alone). fast/ holds what
 * makes it fast without changing a result: each piece implements a seam of
 * the core with the same contract, and fast_install plugs them in.
 */
#ifndef EMBREC_FAST_FAST_H
#define EMBREC_FAST_FAST_H

/* Plugs the speed machinery into the core's seams; call once at start,
 * before any thread. */
void fast_install(void);

#endif
