/* cli/summary.h — Keras's model.summary() for embrec's models. */
#ifndef EMBREC_CLI_SUMMARY_H
#define EMBREC_CLI_SUMMARY_H

#include <stdio.h>

#include "mf.h"

/* Keras-style model.summary(): each layer, its output shape and parameter
 * count, and the total; from the architecture alone (no model is built), so
 * any sizes can be asked for. Returns the total parameter count. */
size_t mf_summary(FILE *out, const mf_config *cfg, size_t n_users,
                  size_t n_items, size_t n_genres);

#endif
