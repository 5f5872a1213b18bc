/* fast/batches.h — minibatch training without the sweep, with rows asked
 * for ahead, and data-parallel on threads (see batches.c). */
#ifndef EMBREC_FAST_BATCHES_H
#define EMBREC_FAST_BATCHES_H

#include "mf.h"

extern const mf_engine fast_batches;

#endif
