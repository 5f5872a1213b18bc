/* fast/install.c — fast_install: one install call per seam of the core
 * (see fast.h). */
#include "fast/fast.h"

#include "data.h"
#include "fast/batches.h"
#include "fast/hogwild.h"
#include "fast/reader.h"
#include "fast/sgd.h"
#include "fast/threads.h"
#include "mf.h"
#include "nn.h"

/* the training engines, in the order mf_train tries them: the first that
 * accepts a training runs it (fast_batches accepts every batched one but
 * Hogwild's) */
static const mf_engine *const engines[] = {
    &fast_sgd_blocks,
    &fast_sgd_stream,
    &fast_hogwild,
    &fast_batches,
};

void fast_install(void) {
    data_use_reader(fast_read_ratings); /* the chunked reader, with the cache */
    nn_use_share_runner(fast_parallel);
    mf_use_engines(engines, sizeof engines / sizeof engines[0]);
}
