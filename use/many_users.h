/* use/many_users.h — recommendations for a block of users at once (`embrec
 * recommend --all`), in shares through nn_run_shares, each share with
 * scratch of its own.
 */
#ifndef EMBREC_USE_MANY_USERS_H
#define EMBREC_USE_MANY_USERS_H

#include "mf.h"

/* The n best items of each of users first .. first+count−1, as mf_recommend
 * gives them, excluding what each rated (rated may be NULL), on `threads`
 * threads (each user's list does not depend on how many). out: (count, n),
 * got: (count) how many each has (0 for a user the model cannot score).
 * 0 or -1 (no memory). */
int mf_recommend_users(const mf_model *m, const data_user_items *rated, uint32_t first,
                       size_t count, size_t n, size_t threads, mf_scored *out, size_t *got);

#endif
