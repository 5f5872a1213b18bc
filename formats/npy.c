/* formats/npy.c — NumPy's .npy files: the reader (data_read_npy) and the
 * writer (npy_write), and what embrec does with them: exporting a model's
 * embeddings (.npy and TensorBoard's TSV) and loading initial weights that
 * a Python run saved (--init-from).
 *
 * The reader takes the formats np.save writes (1.0, 2.0, 3.0) for the four
 * dtypes embrec needs, every value as a double; the writer writes format 1.0
 * through data_out, so an export never leaves half a file. Deliberately not
 * here: the model's layout (mf.c, which names the tensors and their shapes)
 * and .npz archives, pickled objects or memory mapping.
 */
#define _POSIX_C_SOURCE 200809L
#include "formats/npy.h"
#include "formats/output.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ reading */

void data_npy_init(data_npy *a) { memset(a, 0, sizeof *a); }

void data_npy_free(data_npy *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

const char *data_npy_shape_text(const size_t *shape, size_t ndim, char *buf, size_t cap) {
    size_t k, len = 0;
    buf[0] = '\0';
    snprintf(buf, cap, "(");
    for (k = 0; k < ndim; k++) {
        len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%zu", k ? ", " : "", shape[k]);
    }
    len = strlen(buf);
    snprintf(buf + len, cap - len, ndim == 1 ? ",)" : ")");
    return buf;
}

/* the value after 'key': in the header dict, or NULL */
static const char *npy_key(const char *header, const char *key) {
    const char *p = strstr(header, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ' || *p == '\'' || *p == '"') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

int data_read_npy(const char *path, data_npy *out, data_error *err) {
    size_t len, hlen, pre, elem, k, need;
    char *buf = data_read_file(path, 0, &len, err), *header, kind;
    const char *p;
    const unsigned char *u;
    int little, host_little;
    uint32_t one = 1;
    data_npy_init(out);
    if (!buf) return -1;
    u = (const unsigned char *)buf;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        data_errorf(err, "%s: not a .npy file (it does not start with \\x93NUMPY)", path);
        goto fail;
    }
    if (u[6] == 1) { /* version 1.0: a 2-byte header length; 2.0 and 3.0: 4 bytes */
        hlen = (size_t)u[8] | (size_t)u[9] << 8;
        pre = 10;
    } else if ((u[6] == 2 || u[6] == 3) && len >= 12) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        pre = 12;
    } else {
        data_errorf(err, "%s: .npy format version %u.%u is not supported (1.0, 2.0, 3.0)", path,
                    u[6], u[7]);
        goto fail;
    }
    if (hlen > len - pre) {
        data_errorf(err, "%s: the .npy header runs past the end of the file", path);
        goto fail;
    }
    header = buf + pre; /* the dict; terminated where the data starts (restored below) */
    {
        char save = header[hlen], descr[16];
        size_t n = 0;
        header[hlen] = '\0';
        p = npy_key(header, "descr");
        if (!p || (*p != '\'' && *p != '"')) {
            data_errorf(err, "%s: the .npy header has no 'descr'", path);
            goto fail;
        }
        for (p++; *p && *p != '\'' && *p != '"' && n + 1 < sizeof descr; p++) descr[n++] = *p;
        descr[n] = '\0';
        snprintf(out->descr, sizeof out->descr, "%.7s", descr);
        p = npy_key(header, "fortran_order");
        if (!p || strncmp(p, "False", 5) != 0) {
            data_errorf(err, "%s: the array is %s; embrec reads C order (save "
                        "np.ascontiguousarray(a))", path,
                        p && strncmp(p, "True", 4) == 0 ? "in Fortran order" : "of unknown order");
            goto fail;
        }
        p = npy_key(header, "shape");
        if (!p || *p != '(') {
            data_errorf(err, "%s: the .npy header has no 'shape'", path);
            goto fail;
        }
        for (p++, out->n = 1;;) { /* "(R, C)", "(R,)", "()" */
            char *end;
            unsigned long long d;
            while (*p == ' ' || *p == ',') p++;
            if (*p == ')') break;
            errno = 0;
            d = strtoull(p, &end, 10);
            if (end == p || errno || out->ndim == 8 || *p == '-') {
                data_errorf(err, "%s: cannot read the shape in the .npy header", path);
                goto fail;
            }
            out->shape[out->ndim++] = (size_t)d;
            if (d && out->n > SIZE_MAX / d) {
                data_errorf(err, "%s: the shape is too large", path);
                goto fail;
            }
            out->n *= (size_t)d;
            p = end;
            if (*p == 'L') p++; /* Python 2's long integers */
        }
        header[hlen] = save;
        kind = descr[1];
        elem = (size_t)atoi(descr + 2);
        if ((descr[0] != '<' && descr[0] != '>' && descr[0] != '=' && descr[0] != '|') ||
            !((kind == 'f' && (elem == 4 || elem == 8)) ||
              (kind == 'i' && (elem == 4 || elem == 8)))) {
            data_errorf(err, "%s: dtype '%s' is not supported (float32 '<f4', float64 '<f8', "
                        "int32 '<i4' or int64 '<i8')", path, descr);
            goto fail;
        }
        host_little = *(const unsigned char *)&one == 1;
        little = descr[0] == '<' || ((descr[0] == '=' || descr[0] == '|') && host_little);
    }
    need = out->n * elem;
    if (out->n && need / elem != out->n) need = SIZE_MAX;
    if (len - pre - hlen != need) {
        char shape[128];
        data_errorf(err, "%s: %zu bytes of data, but shape %s of '%s' needs %zu", path,
                    len - pre - hlen, data_npy_shape_text(out->shape, out->ndim, shape,
                                                          sizeof shape), out->descr, need);
        goto fail;
    }
    out->v = malloc((out->n ? out->n : 1) * sizeof *out->v);
    if (!out->v) {
        data_errorf(err, "%s: out of memory", path);
        goto fail;
    }
    u = (const unsigned char *)buf + pre + hlen;
    for (k = 0; k < out->n; k++, u += elem) {
        unsigned char b[8];
        size_t j;
        for (j = 0; j < elem; j++) /* into the host's byte order */
            b[j] = u[little == host_little ? j : elem - 1 - j];
        if (kind == 'f' && elem == 4) {
            float x;
            memcpy(&x, b, 4);
            out->v[k] = (double)x;
        } else if (kind == 'f') {
            memcpy(&out->v[k], b, 8);
        } else if (elem == 4) {
            int32_t x;
            memcpy(&x, b, 4);
            out->v[k] = (double)x;
        } else {
            int64_t x;
            memcpy(&x, b, 8);
            out->v[k] = (double)x;
        }
    }
    free(buf);
    return 0;
fail:
    free(buf);
    data_npy_free(out);
    return -1;
}

/* ------------------------------------------------------------ writing */

/* A .npy file (format 1.0): magic, header length, a Python dict literal
 * padded with spaces to a multiple of 64 bytes, then the data, C order. */
static int npy_write(const char *path, const char *descr, size_t rows, size_t cols,
                     const void *data, size_t elem, size_t row_stride, data_error *err) {
    char header[256];
    int len;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    data_out o;
    FILE *f;
    size_t r, total;
    if (data_out_open(&o, path, err) != 0) return -1;
    f = o.f;
    if (cols) len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, "
                             "'shape': (%zu, %zu), }", descr, rows, cols);
    else len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, "
                        "'shape': (%zu,), }", descr, rows);
    total = 10 + (size_t)len + 1;
    while (total % 64) { /* pad with spaces, end with a newline */
        header[len++] = ' ';
        total++;
    }
    header[len++] = '\n';
    pre[8] = (unsigned char)(len & 0xff);
    pre[9] = (unsigned char)(len >> 8);
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)len, f);
    for (r = 0; r < rows; r++) /* rows of the padded layout, unpadded */
        fwrite((const char *)data + r * row_stride * elem, elem, cols ? cols : 1, f);
    return data_out_commit(&o, err); /* checks every write above */
}

/* NumPy's byte-order mark for this machine: '<' little-endian, '>' big */
static int little_endian(void) {
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* ------------------------------------------------------------ export */

static int export_npy(const mf_model *m, const char *dir, data_error *err) {
    const char *f4 = little_endian() ? "<f4" : ">f4", *i8 = little_endian() ? "<i8" : ">i8";
    char path[4096];
#define NPY(name, descr, rows, cols, data, elem, stride)                                  \
    do {                                                                                  \
        snprintf(path, sizeof path, "%s/%s", dir, name);                                  \
        if (npy_write(path, descr, rows, cols, data, elem, stride, err) != 0) return -1; \
    } while (0)
    NPY("user_embedding.npy", f4, m->n_users, m->cfg.dim, m->w.user_embedding, 4, m->S);
    NPY("item_embedding.npy", f4, m->n_items, m->cfg.dim, m->w.item_embedding, 4, m->S);
    if (mf_has_biases(m)) {
        NPY("user_bias.npy", f4, m->n_users, 0, m->w.user_bias, 4, 1);
        NPY("item_bias.npy", f4, m->n_items, 0, m->w.item_bias, 4, 1);
    }
    if (m->cfg.kind == MF_SVDPP)
        NPY("implicit_embedding.npy", f4, m->n_items, m->cfg.dim, m->w.implicit_embedding, 4, m->S);
    NPY("user_ids.npy", i8, m->n_users, 0, m->user_ids, 8, 1);
    NPY("item_ids.npy", i8, m->n_items, 0, m->item_ids, 8, 1);
#undef NPY
    return 0;
}

/* TSV text must not contain tabs or newlines */
static void tsv_text(FILE *f, const char *s) {
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static int export_tsv(const mf_model *m, const char *dir, const char *who,
                      const data_movies *movies, data_error *err) {
    int items = strcmp(who, "item") == 0;
    size_t rows = items ? m->n_items : m->n_users, r, c;
    const float *W = items ? m->w.item_embedding : m->w.user_embedding;
    const int64_t *ids = items ? m->item_ids : m->user_ids;
    char vpath[4096], mpath[4096];
    data_out vo, mo;
    FILE *vf, *mf;
    snprintf(vpath, sizeof vpath, "%s/%s_vectors.tsv", dir, who);
    snprintf(mpath, sizeof mpath, "%s/%s_metadata.tsv", dir, who);
    if (data_out_open(&vo, vpath, err) != 0) return -1;
    if (data_out_open(&mo, mpath, err) != 0) {
        data_out_abort(&vo);
        return -1;
    }
    vf = vo.f;
    mf = mo.f;
    fprintf(mf, items && movies ? "id\ttitle\tgenres\tratings\n" : "id\tratings\n");
    for (r = 0; r < rows; r++) {
        for (c = 0; c < m->cfg.dim; c++)
            fprintf(vf, c ? "\t%.9g" : "%.9g", (double)W[r * m->S + c]);
        fputc('\n', vf);
        fprintf(mf, "%lld", (long long)ids[r]);
        if (items && movies) {
            int32_t row = data_movie_find(movies, ids[r]);
            fputc('\t', mf);
            tsv_text(mf, row >= 0 ? data_movie_title(movies, (size_t)row) : "");
            fputc('\t', mf);
            tsv_text(mf, row >= 0 ? data_movie_genres(movies, (size_t)row) : "");
        }
        fprintf(mf, "\t%u\n", items ? m->item_count[r] : m->user_count[r]);
    }
    if (data_out_commit(&vo, err) != 0) { /* checks every write above */
        data_out_abort(&mo);
        return -1;
    }
    return data_out_commit(&mo, err);
}

int mf_export_check(const char *dir, data_error *err) {
    char path[4096];
    struct stat st;
    if (stat(dir, &st) != 0) return data_out_check_dir(dir, err); /* mkdir's needs */
    if (!S_ISDIR(st.st_mode)) {
        data_errorf(err, "%s: cannot write: %s", dir, strerror(ENOTDIR));
        return -1;
    }
    snprintf(path, sizeof path, "%s/user_embedding.npy", dir);
    return data_out_check_dir(path, err);
}

int mf_export(const mf_model *m, const char *dir, const data_movies *movies,
              data_error *err) {
    struct stat st;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0) {
        data_errorf(err, "%s: cannot create the directory: %s", dir, strerror(errno));
        return -1;
    }
    if (export_npy(m, dir, err) != 0) return -1;
    if (export_tsv(m, dir, "item", movies, err) != 0) return -1;
    return export_tsv(m, dir, "user", NULL, err);
}

/* ------------------------------------------------------ initial weights */

/* Which file row holds each model row: from DIR/WHO_ids.npy when it exists
 * (raw ids, as mf_export writes them), else the identity. *rows_in_file gets
 * the file's row count. 0 or -1 with err. */
static int weight_rows(const char *dir, const char *who, const int64_t *model_ids, size_t n,
                       size_t **row_of, size_t *rows_in_file, data_error *err) {
    char path[4096];
    struct stat st;
    data_npy ids;
    data_idmap map;
    size_t k;
    *row_of = malloc((n ? n : 1) * sizeof **row_of);
    if (!*row_of) {
        data_errorf(err, "out of memory");
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s_ids.npy", dir, who);
    if (stat(path, &st) != 0) { /* rows in the model's own order */
        for (k = 0; k < n; k++) (*row_of)[k] = k;
        *rows_in_file = n;
        return 0;
    }
    if (data_read_npy(path, &ids, err) != 0) goto fail;
    if (ids.descr[1] != 'i' || ids.ndim != 1) {
        char shape[64];
        data_errorf(err, "%s: %s array of shape %s; expected integer ids of shape (rows,)", path,
                    ids.descr, data_npy_shape_text(ids.shape, ids.ndim, shape, sizeof shape));
        data_npy_free(&ids);
        goto fail;
    }
    data_idmap_init(&map);
    for (k = 0; k < ids.n; k++)
        if (data_idmap_intern(&map, (int64_t)ids.v[k]) != (int32_t)k) {
            data_errorf(err, "%s: id %.0f appears twice (or out of memory)", path, ids.v[k]);
            data_idmap_free(&map);
            data_npy_free(&ids);
            goto fail;
        }
    for (k = 0; k < n; k++) {
        int32_t r = data_idmap_find(&map, model_ids[k]);
        if (r < 0) {
            data_errorf(err, "%s: no row for %s %lld, which the model has", path, who,
                        (long long)model_ids[k]);
            data_idmap_free(&map);
            data_npy_free(&ids);
            goto fail;
        }
        (*row_of)[k] = (size_t)r;
    }
    *rows_in_file = ids.n;
    data_idmap_free(&map);
    data_npy_free(&ids);
    return 0;
fail:
    free(*row_of);
    *row_of = NULL;
    return -1;
}

/* Every value of a weight array is one a float holds: NaN, infinities and
 * float64 values beyond float32's range would only surface later, as a
 * training run that diverges from its first batch. 0, or -1 with err
 * naming the file, the value and what is wrong with it. */
static int weights_fit_float(const char *path, const data_npy *a, data_error *err) {
    size_t k;
    char where[64] = "";
    for (k = 0; k < a->n && fabs(a->v[k]) < DATA_FLOAT_OVERFLOW; k++) {
    }
    if (k == a->n) return 0;
    if (a->ndim == 2 && a->shape[1] > 0)
        snprintf(where, sizeof where, " (row %zu, column %zu)", k / a->shape[1],
                 k % a->shape[1]);
    data_errorf(err, "%s: value %zu%s %s (%g)", path, k, where,
                isfinite(a->v[k]) ? "is beyond float32's range" : "is not finite", a->v[k]);
    return -1;
}

int mf_load_weights(mf_model *m, const char *dir, size_t *loaded, data_error *err) {
    nn_params *ps = &m->params;
    size_t *user_row = NULL, *item_row = NULL, file_users, file_items, t, l;
    int rc = -1;
    *loaded = 0;
    if (weight_rows(dir, "user", m->user_ids, m->n_users, &user_row, &file_users, err) != 0 ||
        weight_rows(dir, "item", m->item_ids, m->n_items, &item_row, &file_items, err) != 0)
        goto done;
    for (t = 0; t < ps->n_tensors; t++) {
        const nn_tensor *x = &ps->t[t];
        char name[64], path[4096], want[64], got[64];
        size_t shape[2], ndim = 2, rows = x->rows, r, c, n_dense = 0, *row_of = NULL;
        int dense_bias = 0;
        struct stat st;
        data_npy a;
        float *w = nn_param(ps, t);
        snprintf(name, sizeof name, "%s", x->name);
        for (c = 0; name[c]; c++) /* "dense_1/kernel" -> "dense_1_kernel" */
            if (name[c] == '/') name[c] = '_';
        snprintf(path, sizeof path, "%s/%s.npy", dir, name);
        if (stat(path, &st) != 0) continue; /* keep the model's own initial values */
        shape[0] = x->rows;
        shape[1] = x->k;
        if (mf_is_deep(m))
            for (l = 0; l <= m->cfg.n_hidden; l++) {
                if (t == m->id.kernel[l]) { /* (C, O), Keras's layout */
                    shape[0] = mf_layer_in(&m->cfg, l);
                    shape[1] = mf_layer_out(&m->cfg, l);
                    n_dense = 1;
                } else if (t == m->id.bias[l]) {
                    ndim = 1;
                    shape[0] = mf_layer_out(&m->cfg, l);
                    n_dense = dense_bias = 1;
                }
            }
        if (!n_dense) {
            if (t == m->id.user_embedding || t == m->id.user_bias ||
                (m->cfg.kind == MF_NCF && t == m->id.user_mlp_embedding)) {
                row_of = user_row;
                shape[0] = file_users;
            } else if (t == m->id.item_embedding || t == m->id.item_bias ||
                       (m->cfg.kind == MF_SVDPP && t == m->id.implicit_embedding) ||
                       (m->cfg.kind == MF_NCF && t == m->id.item_mlp_embedding)) {
                row_of = item_row;
                shape[0] = file_items;
            }
            if (x->k == 1 && x->sparse) ndim = 1; /* a bias: (R,) or (R, 1) */
        }
        if (data_read_npy(path, &a, err) != 0) goto done;
        if (a.descr[1] != 'f' || !((a.ndim == ndim && a.shape[0] == shape[0] &&
                                    (ndim == 1 || a.shape[1] == shape[1])) ||
                                   (ndim == 1 && !dense_bias && a.ndim == 2 &&
                                    a.shape[0] == shape[0] && a.shape[1] == 1))) {
            if (a.descr[1] != 'f')
                data_errorf(err, "%s: dtype '%s'; weights are float32 or float64", path, a.descr);
            else
                data_errorf(err, "%s: shape %s, the model needs %s", path,
                            data_npy_shape_text(a.shape, a.ndim, got, sizeof got),
                            data_npy_shape_text(shape, ndim, want, sizeof want));
            data_npy_free(&a);
            goto done;
        }
        if (weights_fit_float(path, &a, err) != 0) {
            data_npy_free(&a);
            goto done;
        }
        if (n_dense) { /* one unpadded row of C·O (or O) floats */
            for (c = 0; c < a.n; c++) w[c] = (float)a.v[c];
        } else {
            for (r = 0; r < rows; r++) {
                size_t from = row_of ? row_of[r] : r;
                for (c = 0; c < x->k; c++) w[r * x->stride + c] = (float)a.v[from * x->k + c];
            }
        }
        data_npy_free(&a);
        (*loaded)++;
    }
    rc = 0;
done:
    free(user_row);
    free(item_row);
    return rc;
}
