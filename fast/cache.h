/* fast/cache.h — ratings caches.
 *
 * With opts.cache, the chunked reader (fast/reader.h) keeps a binary copy
 * of what it parsed and, while the ratings file is unchanged, loads that
 * instead of parsing. The cache holds the file's own id maps (its raw ids
 * in order of first sight) and rows indexing them, so loading into maps
 * that already hold ids (a test file after its training file, a model's
 * maps) interns them just as parsing would. It is valid only for the same
 * source size and modification time (stat, to the nanosecond), the same
 * input options, this format version and this machine's byte order, and
 * only when the source was already 2 s old when it was read (a file changed
 * again within its timestamp's resolution could keep size and time).
 * Anything else, or a damaged file, is parsed again and the cache
 * rewritten; a file at the path that is not a cache is left alone.
 *
 * Loading maps the file, private to the process (MAP_PRIVATE: a row
 * written in place becomes the process's own copy, never the file's), and
 * the rows are its pages:
 * nothing is copied, and a page no command reads costs no memory. Where
 * mapping fails, or the rows go after rows already held, the file is read
 * into memory (or copied) instead. The cache also keeps each user's sorted
 * items (data_user_items), which data_read_ratings gives when asked
 * (opts.user_items), so that `info` does not sort them again. Before the
 * arrays are used, every byte goes through the checksum and every index is
 * checked against its map, in one pass; a cache is replaced by renaming,
 * so a mapping in use keeps the old file's pages (writing into a cache in
 * place, as no embrec command does, would change them under it).
 *
 * Layout, version DATA_CACHE_VERSION, in the writing machine's byte order;
 * every array starts at a multiple of 64 bytes (zero bytes before it), so
 * that each is aligned in the mapping for its type and for SIMD:
 *   "EMBRECRC"  u32 version  u32 0x01020304 (byte order)
 *   u64 source size  i64 source mtime s  i64 source mtime ns  i64 time the source was read (s)
 *   u64 rows n  u64 users U  u64 items I  u64 lines  u64 skipped
 *   u32 format option  i32 header option  u32 skip_bad  u32 format detected
 *   u64 m, the sorted user items kept (distinct (user, item) pairs)
 *   6 strings, each u32 length (0xFFFFFFFF: none) + bytes: the delimiter, user,
 *     item, rating and time column options, the first skipped line's message
 *   i64 user_ids[U]  i64 item_ids[I]  i64 time[n]
 *   u32 user[n]  u32 item[n]  f32 rating[n]
 *   u32 start[U+1]  u32 sorted[m]: user u's items, ascending, are
 *     sorted[start[u] .. start[u+1])
 *   zero bytes to a multiple of 8, u64 checksum of every byte before it
 * The checksum is 64-bit FNV-1a taken a word at a time in sixteen lanes, so
 * that it runs at memory speed: the bytes in blocks of 128, lane j (from the
 * FNV offset basis + j) takes the block's j-th 8-byte word w as
 * h = (h XOR w)·FNV_prime, h = h XOR (h >> 32); then plain bytewise FNV-1a
 * over the sixteen lanes, the last partial block and the total length (u64).
 * The cache is written to a temporary file in its directory, synced and
 * renamed over the old one, so it is always whole or absent. Version 1 (no
 * sorted items, arrays at multiples of 8, four lanes) is rebuilt.
 */
#ifndef EMBREC_FAST_CACHE_H
#define EMBREC_FAST_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"

#define DATA_CACHE_VERSION 2

/* that checksum of n bytes (exposed for the fuzz harness, which writes
 * caches of its own) */
uint64_t data_cache_checksum(const void *p, size_t n);

/* Whether caches are mapped (1, the default) or read into memory (0), as
 * where mapping fails: the tests load caches both ways. */
void fast_cache_use_mapping(int on);

/* data_read_ratings with opts->cache (its cache path, or "" for
 * FILE.embrec-cache beside the file; not standard input): load the cache
 * when it is valid, else parse the file and write the cache. report->cache
 * and cache_note say which, and why. 0 or -1 with err. */
int fast_cache_read(const char *path, const data_read_opts *opts, data_idmap *users,
                    data_idmap *items, data_ratings *out, data_read_report *report,
                    data_error *err);

#endif
