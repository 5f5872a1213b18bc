/* session/replay.c — another run's batch order, epoch by epoch (see
 * replay.h), so that training here takes the same steps as a Keras run or
 * as a recorded one, batch for batch.
 */
#include "session/replay.h"

#include <string.h>

int session_replay_check(const mf_train_config *cfg, data_error *err) {
    const mf_replay *rp = &cfg->replay;
    if (rp->order == MF_ORDER_GIVEN &&
        (!rp->orders || rp->n_orders == 0 || (rp->n_orders > 1 && rp->n_orders < cfg->fit.epochs))) {
        data_errorf(err, "the batch order has %zu permutations for %zu epochs (give one, used "
                    "every epoch, or one per epoch)", rp->n_orders, cfg->fit.epochs);
        return -1;
    }
    return 0;
}

int session_replay_open(data_np_rng *np, const mf_train_config *cfg, data_error *err) {
    return cfg->replay.order == MF_ORDER_NUMPY ? data_np_seed(np, cfg->replay.numpy_seed, err) : 0;
}

int session_replay_order(mf_run *run, data_np_rng *np, size_t epoch, size_t first,
                         data_error *err) {
    const mf_replay *rp = &run->cfg->replay;
    size_t n = run->samples.n, k, before;
    if (rp->order == MF_ORDER_GIVEN) {
        if (rp->order_n != n) {
            data_errorf(err, "the batch order permutes %zu samples; epoch %zu has %zu",
                        rp->order_n, epoch + 1, n);
            return -1;
        }
        memcpy(run->order, rp->orders + (rp->n_orders == 1 ? 0 : epoch) * n, n * sizeof *run->order);
        return 0;
    }
    /* np.random.shuffle(index_array) on the same array every epoch (a
     * resumed run replays the shuffles of the epochs before it) */
    if (epoch == first) {
        for (k = 0; k < n; k++) run->order[k] = (uint32_t)k;
        for (before = 0; before < first; before++) data_np_shuffle_u32(np, run->order, n);
    }
    data_np_shuffle_u32(np, run->order, n);
    return 0;
}
