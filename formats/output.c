/* formats/output.c — data_out: a file written to a temporary name beside
 * its own, synced, and renamed over it (see output.h). */
#define _POSIX_C_SOURCE 200809L
#include "formats/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* o failed with errno e: say so (PATH: cannot write: reason). -1. */
static int out_failed(data_out *o, int e, data_error *err) {
    o->error = e;
    data_errorf(err, "%s: cannot write: %s", o->path, strerror(e));
    return -1;
}

/* The directory part of path ("." when it has none) in dir. 0, or -1 when
 * it does not fit. */
static int dir_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    if (n >= cap) return -1;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    return 0;
}

/* The permission bits of the file that replaces path: those of the
 * regular file there now (a private model stays private), else 0666 less
 * the umask, as open(2) would give a new file. A symlink's own bits mean
 * nothing: the new file at its name is a new file. */
static mode_t out_mode(const char *path) {
    struct stat st;
    mode_t mask;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) return st.st_mode & 0777;
    mask = umask(0); /* the only way to read it: set it back at once */
    umask(mask);
    return 0666 & ~mask;
}

/* Is dir /dev itself or in /proc? The names there (/dev/stdout, /dev/fd/1,
 * /proc/self/fd/1) are the system's links to open streams and devices:
 * replacing /dev/stdout with a file would break every later program that
 * writes to it. (/dev/shm and the like are other directories.) */
static int system_dir(const char *dir) {
    struct stat d, dev, proc, root;
    if (stat(dir, &d) != 0) return 0;
    if (stat("/dev", &dev) == 0 && d.st_dev == dev.st_dev && d.st_ino == dev.st_ino) return 1;
    return stat("/proc", &proc) == 0 && stat("/", &root) == 0 &&
           proc.st_dev != root.st_dev && d.st_dev == proc.st_dev; /* procfs, when mounted */
}

/* Is path written directly rather than replaced? When it is itself a
 * device, FIFO or socket (a symlink is not: it is replaced, so that a
 * link planted in an output directory leads nowhere), or a name of the
 * system's (system_dir). */
static int out_direct(const char *path) {
    struct stat st;
    char dir[4096];
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode) &&
        !S_ISDIR(st.st_mode))
        return 1;
    return dir_of(path, dir, sizeof dir) == 0 && system_dir(dir);
}

int data_out_open(data_out *o, const char *path, data_error *err) {
    struct stat st;
    int fd;
    o->f = NULL;
    o->direct = 0;
    o->error = 0;
    if (snprintf(o->path, sizeof o->path, "%s", path) >= (int)sizeof o->path ||
        snprintf(o->tmp, sizeof o->tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof o->tmp) {
        o->error = ENAMETOOLONG;
        data_errorf(err, "%s: path too long", path);
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return out_failed(o, EISDIR, err);
    if (out_direct(path)) { /* nothing to rename over */
        o->direct = 1;
        /* appending: /dev/stdout that leads to a file (> log) must not cut
         * off what was printed before */
        if (!(o->f = fopen(path, "ab"))) return out_failed(o, errno, err);
        return 0;
    }
    if ((fd = mkstemp(o->tmp)) < 0) {
        o->error = errno;
        data_errorf(err, "%s: cannot create a temporary file beside it: %s", path,
                    strerror(errno));
        return -1;
    }
    if (fchmod(fd, out_mode(path)) != 0) { /* not fatal: the file stays private (0600) */ }
    if (!(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        return out_failed(o, e, err);
    }
    return 0;
}

int data_out_flush(data_out *o, data_error *err) {
    if (fflush(o->f) != 0 || ferror(o->f)) return out_failed(o, errno ? errno : EIO, err);
    return 0;
}

int data_out_commit(data_out *o, data_error *err) {
    int e = 0;
    if (!o->f) return out_failed(o, EBADF, err);
    /* the stream's error flag covers every earlier write; errno still
     * holds the reason when the flush is what fails */
    if (fflush(o->f) != 0 || ferror(o->f)) e = errno ? errno : EIO;
    else if (!o->direct && fsync(fileno(o->f)) != 0) e = errno;
    if (fclose(o->f) != 0 && !e) e = errno;
    o->f = NULL;
    if (!e && !o->direct && rename(o->tmp, o->path) != 0) e = errno;
    if (!e) return 0;
    if (!o->direct) unlink(o->tmp);
    return out_failed(o, e, err);
}

void data_out_abort(data_out *o) {
    if (!o->f) return;
    fclose(o->f);
    o->f = NULL;
    if (!o->direct) unlink(o->tmp);
}

int data_out_check_dir(const char *path, data_error *err) {
    char dir[4096];
    struct stat st;
    int e = 0;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        data_errorf(err, "%s: cannot write: %s", path, strerror(EISDIR));
        return -1;
    }
    if (out_direct(path)) {
        if (access(path, W_OK) == 0 || errno == ENOENT) return 0; /* fopen will say */
        data_errorf(err, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    if (dir_of(path, dir, sizeof dir) != 0) {
        data_errorf(err, "%s: path too long", path);
        return -1;
    }
    if (stat(dir, &st) != 0) e = errno;
    else if (!S_ISDIR(st.st_mode)) e = ENOTDIR;
    else if (access(dir, W_OK | X_OK) != 0) e = errno;
    if (e) {
        data_errorf(err, "%s: cannot write: %s: %s", path, dir, strerror(e));
        return -1;
    }
    return 0;
}

