/* session/checks.h — the settings a model or a training run cannot be
 * built with, and the errors that say why. mf_init and mf_train call them
 * first; the model file reader checks a file's configuration with
 * mf_check_config (mf.h).
 */
#ifndef EMBREC_SESSION_CHECKS_H
#define EMBREC_SESSION_CHECKS_H

#include "mf.h"

/* What a model of cfg over n_users and n_items needs of side: features
 * that describe every row (every model but ncf takes them; svdpp's users
 * have N(u) instead), and, for deep, every movie's genre; 0, or -1 with err */
int session_check_side(const mf_config *cfg, const mf_side *side, size_t n_users,
                       size_t n_items, data_error *err);

/* Settings no training of m can run with: sizes, the rate's decay, a
 * resume or a replayed order that does not fit; 0, or -1 with err */
int session_check_fit(const mf_model *m, const mf_train_config *cfg, data_error *err);

#endif
