/* formats/orders.h — per-epoch batch orders (--batch-order FILE): the
 * permutations of the training samples that another run's epochs used, so
 * that training can replay them batch for batch.
 *
 * It only reads them; it does not make orders (NumPy's own are made by
 * formats/numpy.h's generator during training) nor check them against a
 * run beyond their size.
 */
#ifndef EMBREC_FORMATS_ORDERS_H
#define EMBREC_FORMATS_ORDERS_H

#include <stddef.h>
#include <stdint.h>

#include "data.h" /* data_error */

/* Per-epoch orders of n training samples (--batch-order): either a text
 * file with one permutation of 0..n−1 per line (numbers separated by spaces
 * or commas; '#' lines are comments), or a .npy integer array of shape (n,)
 * or (E, n). *orders gets E·n indices, epoch by epoch, *n_orders E. An
 * error names the file, the line (or permutation) and the problem. 0 or -1. */
int data_read_orders(const char *path, size_t n, uint32_t **orders, size_t *n_orders,
                     data_error *err);

#endif
