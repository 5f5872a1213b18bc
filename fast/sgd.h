/* fast/sgd.h — per-rating SGD's engines, and LIBMF's hand-out of blocks
 * (see sgd.c). */
#ifndef EMBREC_FAST_SGD_H
#define EMBREC_FAST_SGD_H

#include "mf.h"

/* per-rating SGD (--optimizer sgd --batch 1, dot or bias, no features) in
 * the epoch's shuffled order, Hogwild on --threads */
extern const mf_engine fast_sgd_stream;
/* the same on LIBMF's schedule (--blocks G) */
extern const mf_engine fast_sgd_blocks;

/* LIBMF's hand-out of blocks to threads (--blocks G on T > 1 threads),
 * exposed for tests. One epoch's G × G blocks b = g_u·G + g_i, where g_u is
 * the user group (a row of the grid) and g_i the movie group (a column);
 * a block is free while no running block shares its row or its column.
 * The queue keeps, per row, the blocks not yet taken in the epoch's order,
 * and the rows that still have one; take serves the rows in turn, from the
 * one after the row it served last, each with its first pending block in a
 * free column. A hand-out looks at the busy rows and columns (fewer than T
 * of each) and passes each row with nothing free, so it costs O(T²) when
 * most rows have free blocks and O(G·T) at worst, never O(G²). */
#define FAST_BLOCK_NONE UINT32_MAX
typedef struct {
    size_t G;
    size_t left;                  /* blocks not yet taken */
    uint32_t *next;               /* (G²) the row's next pending block, or FAST_BLOCK_NONE */
    uint32_t *head;               /* (G) each row's first pending block, or FAST_BLOCK_NONE */
    uint32_t *rows;               /* (G) the rows with pending blocks: rows[0 .. n_rows) */
    size_t n_rows, turn;          /* turn: where in rows the next take starts */
    unsigned char *row_busy, *col_busy; /* (G) each: rows and columns of running blocks */
} fast_block_queue;

/* The queue for one epoch: order is a permutation of the G² blocks. 0, or
 * -1 when out of memory (q then needs no free). */
int fast_block_queue_init(fast_block_queue *q, size_t G, const uint32_t *order);
/* A free block, now taken and running, or FAST_BLOCK_NONE when none is free
 * (every pending block shares a row or a column with a running one, or
 * none is left: q->left says which). */
uint32_t fast_block_queue_take(fast_block_queue *q);
/* Block b (from take) has finished: its row and column are free again. */
void fast_block_queue_done(fast_block_queue *q, uint32_t b);
void fast_block_queue_free(fast_block_queue *q);

#endif
