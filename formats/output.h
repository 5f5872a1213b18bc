/* formats/output.h — writing a file whole: every file embrec writes goes
 * through a data_out, so that its name holds the old file or the whole new
 * one, never part of one.
 */
#ifndef EMBREC_FORMATS_OUTPUT_H
#define EMBREC_FORMATS_OUTPUT_H

#include <stdio.h>

#include "data.h" /* data_error */

/* Every file embrec writes (models, ratings caches, exports, histories,
 * SVG and CSV) goes through a data_out, so that its name holds the old
 * file or the whole new one, never part of one:
 *
 *     data_out o;
 *     if (data_out_open(&o, path, err) != 0) return -1;
 *     fprintf(o.f, ...);                     (any stdio writes to o.f)
 *     return data_out_commit(&o, err);       (or data_out_abort(&o))
 *
 * The writes go to a temporary file beside path (path.tmp.XXXXXX, in the
 * same directory, so that the rename stays on one file system); commit
 * checks them, flushes, syncs, closes and renames it over path. A symlink
 * at path is replaced, never written through. Replacing a regular file
 * keeps its permission bits; a new file gets 0666 & ~umask. A device, FIFO
 * or socket (/dev/null), and any name in /dev itself or in /proc
 * (/dev/stdout, /dev/fd/1), is not a file to replace: it is written
 * directly (o.direct), its errors still checked.
 * Failures fill err with `PATH: cannot write: reason` (open: `PATH: cannot
 * create a temporary file beside it: reason`) and leave the reason's errno
 * in o.error; nothing is left behind but the old file. */
typedef struct {
    FILE *f;            /* where to write; NULL once committed or aborted */
    int direct;         /* 1: writing path itself (a device or FIFO) */
    int error;          /* errno of the failure, after one */
    char path[4096];
    char tmp[4112];     /* path.tmp.XXXXXX */
} data_out;

int data_out_open(data_out *o, const char *path, data_error *err);
/* everything written so far pushed out and checked, the file kept open
 * (a direct stream's lines reach the device); 0 or -1 with err */
int data_out_flush(data_out *o, data_error *err);
/* 0, or -1 with err (the temporary file removed, path untouched) */
int data_out_commit(data_out *o, data_error *err);
/* give up: close and remove the temporary file (a no-op once closed) */
void data_out_abort(data_out *o);
/* Before the work that ends in writing path: its directory exists and is
 * writable, and path is not a directory. 0 or -1 with err. */
int data_out_check_dir(const char *path, data_error *err);

#endif
