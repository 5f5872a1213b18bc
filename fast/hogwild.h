/* fast/hogwild.h — lazy updates on several threads, without locks (see
 * hogwild.c). */
#ifndef EMBREC_FAST_HOGWILD_H
#define EMBREC_FAST_HOGWILD_H

#include "mf.h"

extern const mf_engine fast_hogwild;

#endif
