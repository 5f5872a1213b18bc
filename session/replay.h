/* session/replay.h — replaying another run's batch order (verification,
 * mf_replay): each epoch's permutation of the samples as Keras's fit
 * (shuffle=True) drew it with NumPy's generator, or as given (--batch-order
 * FILE), in place of embrec's own shuffle. formats/numpy.h is the
 * generator; formats/orders.h reads the files.
 */
#ifndef EMBREC_SESSION_REPLAY_H
#define EMBREC_SESSION_REPLAY_H

#include "formats/numpy.h"
#include "mf.h"

/* orders given that cannot serve the run's epochs; 0, or -1 with err */
int session_replay_check(const mf_train_config *cfg, data_error *err);
/* NumPy's generator seeded as np.random.seed(numpy_seed) when the run
 * replays Keras's order (else nothing); 0, or -1 with err */
int session_replay_open(data_np_rng *np, const mf_train_config *cfg, data_error *err);
/* run->order for this epoch (from 0; first: the run's first, after a
 * resume); 0, or -1 with err */
int session_replay_order(mf_run *run, data_np_rng *np, size_t epoch, size_t first,
                         data_error *err);

#endif
