/* fast/reader.h — the chunked ratings reader: a data_ratings_reader (see
 * data.h) that reads the file a chunk at a time, parses the usual line in
 * one pass, sizes the rows from the file's size, and keeps a ratings cache
 * when asked (fast/cache.h). It gives exactly what the plain reader of
 * data.c gives: the same rows, ids in the same order, report and errors.
 */
#ifndef EMBREC_FAST_READER_H
#define EMBREC_FAST_READER_H

#include <sys/stat.h>

#include "data.h"

/* bytes read at a time when opts->chunk is 0 */
#define FAST_CHUNK ((size_t)1 << 20)

/* data_read_ratings's contract, with opts and report not NULL, the report
 * zeroed and the options checked (data_read_ratings does that, then calls
 * this once fast_install has plugged it in). With opts->cache, through the
 * cache (fast/cache.h); else fast_parse_ratings. */
int fast_read_ratings(const char *path, const data_read_opts *opts, data_idmap *users,
                      data_idmap *items, data_ratings *out, data_read_report *report,
                      data_error *err);

/* The file parsed, in chunks of opts->chunk bytes (0: FAST_CHUNK; a line
 * longer than that widens the buffer, up to DATA_MAX_LINE + 1 bytes), no
 * cache. *st (when st is not NULL) gets the file as opened, zeroed for a
 * pipe. 0 or -1 with err. */
int fast_parse_ratings(const char *path, const data_read_opts *opts, data_idmap *users,
                       data_idmap *items, data_ratings *out, data_read_report *report,
                       struct stat *st, data_error *err);

#endif
