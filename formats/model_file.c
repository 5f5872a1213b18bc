/* formats/model_file.c — writing and reading model files (the layout is in
 * model_file.h).
 *
 * The writer streams the fields through a buffer that hashes them (FNV-1a)
 * into a data_out, so a model is written whole or not at all. The reader
 * loads the file into memory, checks the hash, then parses with every read
 * bounds-checked, and checks the size the header implies before allocating
 * anything for it: a damaged or crafted file is an error naming the file,
 * never a crash, a wrong model or an attempt to allocate what a damaged
 * header claims. The model's shapes come from mf.c (mf_layout, mf_alloc),
 * never from a second description here.
 */
#define _POSIX_C_SOURCE 200809L
#include "formats/model_file.h"
#include "formats/output.h"
#include "session/halt.h" /* mf_nonfinite_tensors */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    size_t k;
    for (k = 0; k < n; k++) {
        h ^= p[k];
        h *= FNV_PRIME;
    }
    return h;
}

/* A buffered little-endian writer that hashes what it writes. */
typedef struct {
    FILE *f;
    uint64_t hash;
    size_t len;
    unsigned char buf[1 << 16];
} writer;

static void w_flush(writer *w) {
    w->hash = fnv1a(w->hash, w->buf, w->len);
    if (w->len) fwrite(w->buf, 1, w->len, w->f); /* a failure stays in ferror(f) */
    w->len = 0;
}

static void w_bytes(writer *w, const void *p, size_t n) {
    const unsigned char *c = p;
    while (n) {
        size_t room = sizeof w->buf - w->len, take = n < room ? n : room;
        memcpy(w->buf + w->len, c, take);
        w->len += take;
        c += take;
        n -= take;
        if (w->len == sizeof w->buf) w_flush(w);
    }
}

static void w_u64(writer *w, uint64_t x) {
    unsigned char b[8];
    int k;
    for (k = 0; k < 8; k++) b[k] = (unsigned char)(x >> (8 * k));
    w_bytes(w, b, 8);
}

static void w_u32(writer *w, uint32_t x) {
    unsigned char b[4];
    int k;
    for (k = 0; k < 4; k++) b[k] = (unsigned char)(x >> (8 * k));
    w_bytes(w, b, 4);
}

static void w_f32(writer *w, float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    w_u32(w, bits);
}

static void w_f64(writer *w, double x) {
    uint64_t bits;
    memcpy(&bits, &x, 8);
    w_u64(w, bits);
}

/* the first k floats of each of R rows spaced S apart */
static void w_rows(writer *w, const float *a, size_t R, size_t k, size_t S) {
    size_t r, c;
    for (r = 0; r < R; r++)
        for (c = 0; c < k; c++) w_f32(w, a[r * S + c]);
}

/* u64 F; when F > 0: u64 rows, u64 nnz, u32 start[rows+1], u32 feature[nnz],
 * and each name as u32 length + bytes */
static void write_features(writer *w, const data_features *f) {
    size_t k, nnz;
    w_u64(w, f->n_features);
    if (!f->n_features) return;
    nnz = f->start[f->n_rows];
    w_u64(w, f->n_rows);
    w_u64(w, nnz);
    for (k = 0; k <= f->n_rows; k++) w_u32(w, f->start[k]);
    for (k = 0; k < nnz; k++) w_u32(w, f->feature[k]);
    for (k = 0; k < f->n_features; k++) {
        const char *name = f->text + f->name[k];
        w_u32(w, (uint32_t)strlen(name));
        w_bytes(w, name, strlen(name));
    }
}

/* svdpp, after the features: f32 λ_y, then N(u), each user's rated
 * movies: u64 nnz, u32 start[U+1], u32 item[nnz] (a model never trained:
 * every list empty) */
static void write_rated(writer *w, const mf_model *m) {
    const data_user_items *ui = &m->rated;
    size_t U = m->n_users, nnz = ui->n_users ? ui->start[U] : 0, k;
    if (m->cfg.kind != MF_SVDPP) return;
    w_f32(w, m->cfg.l2_implicit);
    w_u64(w, nnz);
    for (k = 0; k <= U; k++) w_u32(w, ui->n_users ? ui->start[k] : 0);
    for (k = 0; k < nnz; k++) w_u32(w, ui->item[k]);
}

/* version 2: the optimiser's state after the tensors */
static void write_opt_state(writer *w, const mf_model *m) {
    const nn_params *ps = &m->params;
    const nn_optimizer_config *c = &m->opt_state.cfg;
    size_t k;
    w_u32(w, (uint32_t)m->opt_state.present);
    if (!m->opt_state.present) return;
    w_u32(w, (uint32_t)c->kind);
    w_u32(w, (uint32_t)c->update);
    w_f32(w, c->lr);
    w_f32(w, c->beta1);
    w_f32(w, c->beta2);
    w_f32(w, c->epsilon);
    w_u64(w, m->opt_state.t);
    if (c->kind == NN_SGD) return;
    for (k = 0; k < ps->n_tensors; k++)
        w_rows(w, m->opt_state.m + ps->t[k].offset, ps->t[k].rows, ps->t[k].k, ps->t[k].stride);
    for (k = 0; k < ps->n_tensors; k++)
        w_rows(w, m->opt_state.v + ps->t[k].offset, ps->t[k].rows, ps->t[k].k, ps->t[k].stride);
}

/* version 3: how far training went (mf_progress), after the optimiser's state;
 * version 4 adds the rate's decay */
static void write_progress(writer *w, const mf_model *m) {
    const mf_progress *pg = &m->progress;
    size_t k;
    int j;
    w_u32(w, (uint32_t)pg->present);
    if (!pg->present) return;
    w_u32(w, (uint32_t)pg->n_streams);
    w_u64(w, pg->epochs_done);
    w_u64(w, pg->best_epoch);
    w_u64(w, pg->wait);
    w_u32(w, (uint32_t)pg->best_weights);
    w_f64(w, pg->best.loss);
    w_f64(w, pg->best.val_loss);
    w_f64(w, pg->best.val_mae);
    w_f64(w, pg->best.hr);
    w_f64(w, pg->best.ndcg);
    w_u64(w, pg->epochs);
    w_u64(w, pg->batch);
    w_u64(w, pg->patience);
    w_u64(w, pg->negatives);
    w_u64(w, pg->rank_k);
    w_u64(w, pg->blocks);
    w_u32(w, (uint32_t)pg->restore_best);
    w_u64(w, pg->seed);
    w_u32(w, (uint32_t)pg->order);
    w_u64(w, pg->numpy_seed);
    w_f64(w, pg->val_split);
    w_f64(w, pg->holdout);
    w_u32(w, (uint32_t)pg->shuffle);
    w_u64(w, pg->shuffle_seed);
    w_f64(w, pg->lr_decay); /* version 4 */
    for (k = 0; k < pg->n_streams; k++)
        for (j = 0; j < 4; j++) w_u64(w, pg->streams[k].s[j]);
}

static void write_model(writer *w, const mf_model *m) {
    const mf_config *c = &m->cfg;
    const nn_params *ps = &m->params;
    size_t U = m->n_users, I = m->n_items, k;
    w_bytes(w, "EMBRECMF", 8);
    w_u32(w, MF_FILE_VERSION);
    w_u32(w, (uint32_t)c->kind);
    w_u32(w, (uint32_t)c->centre);
    w_u32(w, (uint32_t)c->dim);
    w_u64(w, U);
    w_u64(w, I);
    w_u64(w, m->n_genres);
    w_f32(w, m->mean);
    w_f32(w, m->rating_min);
    w_f32(w, m->rating_max);
    w_f32(w, c->l2);
    w_f32(w, c->init_limit);
    w_u32(w, (uint32_t)c->n_hidden);
    for (k = 0; k < c->n_hidden; k++) w_u32(w, (uint32_t)c->hidden[k]);
    w_u32(w, (uint32_t)c->hidden_act);
    w_f32(w, c->dropout_embed);
    w_f32(w, c->dropout_hidden);
    w_u32(w, (uint32_t)c->output_lecun);
    w_u32(w, (uint32_t)c->implicit);
    w_u32(w, (uint32_t)strlen(m->source));
    w_bytes(w, m->source, strlen(m->source));
    write_features(w, &m->user_features);
    write_features(w, &m->item_features);
    write_rated(w, m);
    for (k = 0; k < U; k++) w_u64(w, (uint64_t)m->user_ids[k]);
    for (k = 0; k < I; k++) w_u64(w, (uint64_t)m->item_ids[k]);
    for (k = 0; k < U; k++) w_u32(w, m->user_count[k]);
    for (k = 0; k < I; k++) w_u32(w, m->item_count[k]);
    if (m->item_genre)
        for (k = 0; k < I; k++) w_u32(w, m->item_genre[k]);
    for (k = 0; k < ps->n_tensors; k++) /* every tensor, in layout order, rows unpadded */
        w_rows(w, nn_param(ps, k), ps->t[k].rows, ps->t[k].k, ps->t[k].stride);
    write_opt_state(w, m);
    write_progress(w, m);
    w_flush(w);
}

int mf_save(const mf_model *m, const char *path, data_error *err) {
    static writer w; /* 64 KiB buffer: keep it off the stack */
    data_out o;
    if (data_out_open(&o, path, err) != 0) return -1;
    memset(&w, 0, sizeof w);
    w.hash = FNV_OFFSET;
    w.f = o.f;
    write_model(&w, m); /* ends with a flush, so w.hash covers every byte so far */
    w_u64(&w, w.hash);
    w_flush(&w); /* a failed fwrite is the stream's error, which the commit checks */
    if (data_out_commit(&o, err) != 0) {
        data_errorf(err, "%s: cannot write the model: %s (the previous file, if any, "
                    "is untouched)", path, strerror(o.error));
        return -1;
    }
    return 0;
}

/* A bounds-checked little-endian reader over the loaded file. */
typedef struct {
    const unsigned char *p;
    size_t len, pos;
} reader;

static int r_need(reader *r, size_t n) {
    return r->len - r->pos >= n;
}

static uint64_t r_u64(reader *r) {
    uint64_t x = 0;
    int k;
    for (k = 0; k < 8; k++) x |= (uint64_t)r->p[r->pos + k] << (8 * k);
    r->pos += 8;
    return x;
}

static uint32_t r_u32(reader *r) {
    uint32_t x = 0;
    int k;
    for (k = 0; k < 4; k++) x |= (uint32_t)r->p[r->pos + k] << (8 * k);
    r->pos += 4;
    return x;
}

static float r_f32(reader *r) {
    uint32_t bits = r_u32(r);
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

static double r_f64(reader *r) {
    uint64_t bits = r_u64(r);
    double x;
    memcpy(&x, &bits, 8);
    return x;
}

static void r_rows(reader *r, float *a, size_t R, size_t k, size_t S) {
    size_t row, c;
    for (row = 0; row < R; row++)
        for (c = 0; c < k; c++) a[row * S + c] = r_f32(r);
}

static int read_file(const char *path, unsigned char **buf, size_t *len,
                     data_error *err) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    long size;
    *buf = NULL;
    if (!f) {
        data_errorf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        data_errorf(err, "%s: %s, not a model file", path,
                    S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        fclose(f);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        data_errorf(err, "%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    *buf = malloc((size_t)size + 1);
    if (!*buf || fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        data_errorf(err, "%s: cannot read %ld bytes", path, size);
        free(*buf);
        *buf = NULL;
        fclose(f);
        return -1;
    }
    fclose(f);
    *len = (size_t)size;
    return 0;
}

/* The fixed part of the header: magic 8, version..dim 16, U I G 24, five f32 20,
 * n_hidden 4, act 4, two dropouts 8, output_lecun 4, implicit 4, source length 4. */
#define HEADER_BYTES (8 + 16 + 24 + 20 + 4 + 4 + 8 + 4 + 4 + 4)

/* The header: every field before the ids. 0, or -1 with err. */
static int parse_header(mf_model *m, reader *r, const char *path, data_error *err) {
    mf_config *c = &m->cfg;
    uint32_t version, kind, centre, dim, n_hidden, act, lecun, implicit, slen, k;
    uint64_t U, I, G;
    r->pos = 8;
    version = r_u32(r);
    if (version > MF_FILE_VERSION) {
        data_errorf(err, "%s: model file version %u is newer than this embrec "
                    "understands (%d): upgrade embrec", path, version, MF_FILE_VERSION);
        return -1;
    }
    if (version < 1) {
        data_errorf(err, "%s: unknown model file version %u", path, version);
        return -1;
    }
    kind = r_u32(r);
    centre = r_u32(r);
    dim = r_u32(r);
    U = r_u64(r);
    I = r_u64(r);
    G = r_u64(r);
    if (kind >= MF_N_KINDS) {
        char known[128] = "";
        for (k = 0; k < MF_N_KINDS; k++) {
            strcat(known, k ? ", " : "");
            strcat(known, mf_kind_name((mf_kind)k));
        }
        data_errorf(err, "%s: model kind %u is not one this embrec knows (%s): a newer "
                    "embrec wrote it, or the file is damaged", path, kind, known);
        return -1;
    }
    if (centre > 1 || dim == 0 || dim > 65536 || U > INT32_MAX ||
        I > INT32_MAX || G > INT32_MAX || (kind == MF_DEEP) != (G > 0)) {
        data_errorf(err, "%s: corrupt model header (kind %u, dimension %u, %llu users, "
                    "%llu items, %llu genres)", path, kind, dim, (unsigned long long)U,
                    (unsigned long long)I, (unsigned long long)G);
        return -1;
    }
    *c = mf_defaults();
    c->kind = (mf_kind)kind;
    c->centre = (int)centre;
    c->dim = dim;
    m->n_users = (size_t)U;
    m->n_items = (size_t)I;
    m->n_genres = (size_t)G;
    m->mean = r_f32(r);
    m->rating_min = r_f32(r);
    m->rating_max = r_f32(r);
    /* a crafted file passes the checksum: NaN here would be every fallback prediction */
    if (!isfinite(m->mean)) {
        data_errorf(err, "%s: corrupt model (the mean rating %g is not finite)", path,
                    (double)m->mean);
        return -1;
    }
    if (!isfinite(m->rating_min) || !isfinite(m->rating_max) || m->rating_min > m->rating_max) {
        data_errorf(err, "%s: corrupt model (the rating range [%g, %g] is not finite, or "
                    "runs backwards)", path, (double)m->rating_min, (double)m->rating_max);
        return -1;
    }
    c->l2 = r_f32(r);
    c->init_limit = r_f32(r);
    n_hidden = r_u32(r);
    if (n_hidden > MF_MAX_HIDDEN || !r_need(r, 4 * (size_t)n_hidden + 24)) {
        data_errorf(err, "%s: corrupt model header (%u hidden layers)", path, n_hidden);
        return -1;
    }
    c->n_hidden = n_hidden;
    for (k = 0; k < n_hidden; k++) c->hidden[k] = r_u32(r);
    act = r_u32(r);
    c->hidden_act = (nn_activation)act;
    c->dropout_embed = r_f32(r);
    c->dropout_hidden = r_f32(r);
    lecun = r_u32(r);
    c->output_lecun = (int)lecun;
    implicit = r_u32(r);
    c->implicit = (int)implicit;
    slen = r_u32(r);
    if (act > NN_TANH || lecun > 1 || implicit > 1 || mf_check_config(c, err) != 0) {
        data_errorf(err, "%s: corrupt model header (layers)", path);
        return -1;
    }
    if (slen >= sizeof m->source || !r_need(r, slen)) {
        data_errorf(err, "%s: corrupt model header (source name of %u bytes)", path, slen);
        return -1;
    }
    memcpy(m->source, r->p + r->pos, slen);
    m->source[slen] = '\0';
    r->pos += slen;
    return 0;
}

/* The feature block write_features wrote, for a model of `rows` rows. */
static int read_features(reader *r, data_features *f, size_t rows, const char *path,
                         const char *who, data_error *err) {
    uint64_t F, n_rows, nnz, k, text = 0;
    memset(f, 0, sizeof *f);
    if (!r_need(r, 8)) goto corrupt;
    F = r_u64(r);
    if (F == 0) return 0;
    if (!r_need(r, 16)) goto corrupt;
    n_rows = r_u64(r);
    nnz = r_u64(r);
    if (F > INT32_MAX || n_rows != rows || nnz > UINT32_MAX) goto corrupt;
    /* each of the F names takes at least its 4-byte length: counts the file
     * cannot hold are damage, found before allocating for them */
    if (!r_need(r, 4 * (n_rows + 1 + nnz + F))) {
        data_errorf(err, "%s: corrupt model (%s features: %llu names and %llu entries "
                    "do not fit in the file)", path, who, (unsigned long long)F,
                    (unsigned long long)nnz);
        return -1;
    }
    f->n_rows = (size_t)n_rows;
    f->n_features = (size_t)F;
    f->start = malloc((f->n_rows + 1) * sizeof *f->start);
    f->feature = malloc((nnz ? nnz : 1) * sizeof *f->feature);
    f->name = malloc(F * sizeof *f->name);
    if (!f->start || !f->feature || !f->name) goto oom;
    for (k = 0; k <= n_rows; k++) {
        f->start[k] = r_u32(r);
        if (f->start[k] > nnz || (k && f->start[k] < f->start[k - 1])) goto corrupt;
    }
    if (f->start[0] != 0 || f->start[n_rows] != nnz) goto corrupt;
    for (k = 0; k < nnz; k++)
        if ((f->feature[k] = r_u32(r)) >= F) goto corrupt;
    {   /* the names: measure, then copy into one pool */
        size_t save = r->pos;
        for (k = 0; k < F; k++) {
            uint32_t len;
            if (!r_need(r, 4)) goto corrupt;
            len = r_u32(r);
            if (!r_need(r, len)) goto corrupt;
            r->pos += len;
            text += (uint64_t)len + 1;
        }
        r->pos = save;
        f->text = malloc(text ? text : 1);
        if (!f->text) goto oom;
        for (k = 0, text = 0; k < F; k++) {
            uint32_t len = r_u32(r);
            f->name[k] = (size_t)text;
            memcpy(f->text + text, r->p + r->pos, len);
            f->text[text + len] = '\0';
            r->pos += len;
            text += (uint64_t)len + 1;
        }
        f->text_len = f->text_cap = (size_t)text;
    }
    return 0;
corrupt:
    data_errorf(err, "%s: corrupt model (%s features)", path, who);
    data_features_free(f);
    return -1;
oom:
    data_errorf(err, "%s: out of memory loading the model", path);
    data_features_free(f);
    return -1;
}

/* The block write_rated wrote: every list's movies below I, in increasing
 * order, each user's list after the last one's. 0, or -1 with err. */
static int read_rated(reader *r, mf_model *m, const char *path, data_error *err) {
    data_user_items *ui = &m->rated;
    size_t U = m->n_users, k;
    uint64_t nnz;
    if (m->cfg.kind != MF_SVDPP) return 0;
    if (!r_need(r, 12)) goto corrupt;
    m->cfg.l2_implicit = r_f32(r);
    if (!(m->cfg.l2_implicit >= 0.0f && m->cfg.l2_implicit <= 1e6f)) { /* (NaN too) */
        data_errorf(err, "%s: corrupt model (svdpp's L2 weight %g on Y)", path,
                    (double)m->cfg.l2_implicit);
        return -1;
    }
    nnz = r_u64(r);
    if (nnz > UINT32_MAX || !r_need(r, 4 * ((uint64_t)U + 1 + nnz))) { /* before allocating */
        data_errorf(err, "%s: corrupt model (svdpp's %llu rated movies do not fit in the file)",
                    path, (unsigned long long)nnz);
        return -1;
    }
    ui->n_users = U;
    ui->start = malloc((U + 1) * sizeof *ui->start);
    ui->item = malloc((nnz ? nnz : 1) * sizeof *ui->item);
    if (!ui->start || !ui->item) {
        data_errorf(err, "%s: out of memory loading the model", path);
        return -1;
    }
    for (k = 0; k <= U; k++) {
        ui->start[k] = r_u32(r);
        if (ui->start[k] > nnz || (k && ui->start[k] < ui->start[k - 1])) goto corrupt;
    }
    if (ui->start[0] != 0 || ui->start[U] != nnz) goto corrupt;
    for (k = 0; k < nnz; k++) {
        ui->item[k] = r_u32(r);
        if (ui->item[k] >= m->n_items) goto corrupt;
    }
    for (k = 0; k < U; k++) { /* increasing within each list */
        uint32_t j;
        for (j = ui->start[k] + 1; j < ui->start[k + 1]; j++)
            if (ui->item[j] <= ui->item[j - 1]) goto corrupt;
    }
    return 0;
corrupt:
    data_errorf(err, "%s: corrupt model (svdpp's rated movies)", path);
    return -1;
}

/* the bytes the header promises after itself, checksum included */
static uint64_t body_bytes(const mf_model *m) {
    const nn_params *ps = &m->params;
    uint64_t n = (uint64_t)m->n_users * 12 + (uint64_t)m->n_items * 12 + 8; /* ids, counts */
    size_t t;
    if (m->cfg.kind == MF_DEEP) n += (uint64_t)m->n_items * 4;
    for (t = 0; t < ps->n_tensors; t++) n += 4 * (uint64_t)ps->t[t].rows * ps->t[t].k;
    return n;
}

static int rebuild_map(data_idmap *map, const int64_t *raw, size_t n, const char *what,
                       const char *path, data_error *err) {
    size_t k;
    data_idmap_init(map);
    for (k = 0; k < n; k++)
        if (data_idmap_intern(map, raw[k]) != (int32_t)k) {
            data_errorf(err, "%s: corrupt model (%s id %lld repeated, or out of memory)", path,
                        what, (long long)raw[k]);
            return -1;
        }
    return 0;
}

/* bytes of the body before the tensors (ids, counts, genres): what
 * body_bytes counts besides the tensors and the 8-byte hash */
static uint64_t params_offset_bytes(const mf_model *m) {
    uint64_t n = (uint64_t)m->n_users * 12 + (uint64_t)m->n_items * 12 + 8;
    if (m->cfg.kind == MF_DEEP) n += (uint64_t)m->n_items * 4;
    return n;
}

/* the little-endian u32 at byte `at`, without moving the reader */
static uint32_t rd_u32_at(reader *r, size_t at) {
    size_t pos = r->pos;
    uint32_t x;
    r->pos = at;
    x = r_u32(r);
    r->pos = pos;
    return x;
}

/* A crafted file passes the checksum: NaN or ±Inf in block (weights or a
 * moment) would spread to every prediction or step that reads it. 0, or -1
 * with err naming the tensors. */
static int check_finite(const nn_params *ps, const float *block, const char *what,
                        const char *path, data_error *err) {
    char bad[256];
    mf_nonfinite_tensors(ps, block, bad, sizeof bad);
    if (!bad[0]) return 0;
    data_errorf(err, "%s: corrupt model (%s %s: values that are not finite)", path, what, bad);
    return -1;
}

/* version 2: the optimiser's state (the length was checked already) */
static int read_opt_state(mf_model *m, reader *r, const char *path, data_error *err) {
    nn_params *ps = &m->params;
    nn_optimizer_config *c = &m->opt_state.cfg;
    uint32_t present = r_u32(r), kind, update;
    size_t k;
    if (present == 0) return 0;
    if (present != 1) { /* before reading on: only 1 promised the words that follow */
        data_errorf(err, "%s: corrupt model (optimiser state flag %u)", path, present);
        return -1;
    }
    kind = r_u32(r);
    update = r_u32(r);
    c->lr = r_f32(r);
    c->beta1 = r_f32(r);
    c->beta2 = r_f32(r);
    c->epsilon = r_f32(r);
    m->opt_state.t = r_u64(r);
    if (kind > NN_ROWWISE_ADAGRAD || update > NN_UPDATE_DENSE_SWEEP) {
        data_errorf(err, "%s: corrupt model (optimiser kind %u, update %u)", path, kind, update);
        return -1;
    }
    c->kind = (nn_optimizer_kind)kind;
    c->update = (nn_update_mode)update;
    m->opt_state.present = 1;
    if (c->kind == NN_SGD) return 0;
    m->opt_state.m = nn_alloc(ps->n * sizeof(float));
    m->opt_state.v = nn_alloc(ps->n * sizeof(float));
    if (!m->opt_state.m || !m->opt_state.v) {
        data_errorf(err, "%s: out of memory loading the model", path);
        return -1;
    }
    memset(m->opt_state.m, 0, ps->n * sizeof(float));
    memset(m->opt_state.v, 0, ps->n * sizeof(float));
    for (k = 0; k < ps->n_tensors; k++)
        r_rows(r, m->opt_state.m + ps->t[k].offset, ps->t[k].rows, ps->t[k].k, ps->t[k].stride);
    for (k = 0; k < ps->n_tensors; k++)
        r_rows(r, m->opt_state.v + ps->t[k].offset, ps->t[k].rows, ps->t[k].k, ps->t[k].stride);
    return check_finite(ps, m->opt_state.m, "the optimiser state (m) of", path, err) != 0 ||
                   check_finite(ps, m->opt_state.v, "the optimiser state (v) of", path, err) != 0
               ? -1 : 0;
}

/* the progress block's bytes after its flag and generator count, before
 * the generators (32 bytes each) */
#define PROGRESS_BYTES (3 * 8 + 4 + 5 * 8 + 6 * 8 + 4 + 8 + 4 + 8 + 2 * 8 + 4 + 8)
#define PROGRESS_V4_BYTES 8 /* f64 lr_decay */
/* the most generators a file may hold: the shuffles' and one per thread */
#define MAX_STREAMS (1 + MF_MAX_THREADS)

/* a count from the file that must fit a size_t and lie in [lo, hi] */
static int r_count(reader *r, uint64_t lo, uint64_t hi, size_t *out) {
    uint64_t x = r_u64(r);
    *out = (size_t)x;
    return x >= lo && x <= hi && x <= (uint64_t)SIZE_MAX;
}

/* version 3: how far training went (the length was checked already);
 * version 4: with the rate's decay (before it: a constant rate, 1) */
static int read_progress(mf_model *m, reader *r, uint32_t version, const char *path,
                         data_error *err) {
    mf_progress *pg = &m->progress;
    uint32_t present = r_u32(r), S, best_weights, restore_best, order, shuffle;
    size_t k;
    int j, ok;
    if (present == 0) return 0;
    if (present != 1) {
        data_errorf(err, "%s: corrupt model (training progress flag %u)", path, present);
        return -1;
    }
    S = r_u32(r);
    /* one read per statement: the reads must happen in the file's order */
    ok = r_count(r, 0, UINT64_MAX, &pg->epochs_done);
    ok &= r_count(r, 0, pg->epochs_done, &pg->best_epoch);
    ok &= r_count(r, 0, pg->epochs_done, &pg->wait);
    best_weights = r_u32(r);
    pg->best.loss = r_f64(r);
    pg->best.val_loss = r_f64(r);
    pg->best.val_mae = r_f64(r);
    pg->best.hr = r_f64(r);
    pg->best.ndcg = r_f64(r);
    ok &= r_count(r, pg->epochs_done > 0 ? pg->epochs_done : 1, UINT64_MAX, &pg->epochs);
    ok &= r_count(r, 1, UINT64_MAX, &pg->batch);
    ok &= r_count(r, 0, UINT64_MAX, &pg->patience);
    ok &= r_count(r, 0, UINT64_MAX, &pg->negatives);
    ok &= r_count(r, 1, UINT64_MAX, &pg->rank_k);
    ok &= r_count(r, 0, MF_MAX_BLOCKS, &pg->blocks);
    restore_best = r_u32(r);
    pg->seed = r_u64(r);
    order = r_u32(r);
    pg->numpy_seed = r_u64(r);
    pg->val_split = r_f64(r);
    pg->holdout = r_f64(r);
    shuffle = r_u32(r);
    pg->shuffle_seed = r_u64(r);
    pg->lr_decay = version >= 4 ? r_f64(r) : 1.0;
    ok &= pg->lr_decay > 0 && pg->lr_decay <= 1 && S <= MAX_STREAMS && best_weights <= 1 && restore_best <= 1 && order <= MF_ORDER_GIVEN &&
          shuffle <= 2 && pg->val_split >= 0 && pg->val_split < 1 && pg->holdout >= 0 &&
          pg->holdout < 1; /* (NaN fails these too) */
    if (!ok) {
        data_errorf(err, "%s: corrupt model (training progress)", path);
        return -1;
    }
    pg->best_weights = (int)best_weights;
    pg->restore_best = (int)restore_best;
    pg->order = (int)order;
    pg->shuffle = (int)shuffle;
    pg->best.seconds = 0.0;
    pg->streams = malloc((S ? S : 1) * sizeof *pg->streams);
    if (!pg->streams) {
        data_errorf(err, "%s: out of memory loading the model", path);
        return -1;
    }
    pg->n_streams = S;
    for (k = 0; k < S; k++) {
        uint64_t any = 0;
        for (j = 0; j < 4; j++) any |= pg->streams[k].s[j] = r_u64(r);
        if (!any) { /* xoshiro's one state that never leaves itself */
            data_errorf(err, "%s: corrupt model (training progress: generator %zu is all zero)",
                        path, k);
            return -1;
        }
    }
    pg->present = 1;
    return 0;
}

static int parse_model(mf_model *m, reader *r, const char *path, data_error *err) {
    size_t U, I, k;
    uint32_t version = 1;
    uint64_t expect;
    memset(m, 0, sizeof *m);
    if (!r_need(r, HEADER_BYTES) || memcmp(r->p, "EMBRECMF", 8) != 0) {
        data_errorf(err, "%s: not an embrec model file", path);
        return -1;
    }
    if (r->len >= 12) version = rd_u32_at(r, 8);
    if (parse_header(m, r, path, err) != 0 ||
        read_features(r, &m->user_features, m->n_users, path, "user", err) != 0 ||
        read_features(r, &m->item_features, m->n_items, path, "item", err) != 0 ||
        read_rated(r, m, path, err) != 0)
        return -1;
    if ((mf_is_hybrid(m) && m->cfg.kind == MF_NCF) ||
        (m->user_features.n_features && m->cfg.kind == MF_SVDPP)) {
        data_errorf(err, "%s: corrupt model (features on a %s model)", path,
                    mf_kind_name(m->cfg.kind));
        return -1;
    }
    U = m->n_users;
    I = m->n_items;
    mf_layout(m); /* the size first: a damaged header must not allocate gigabytes */
    expect = body_bytes(m);
    if (version >= 2) { /* the optimiser's state: its size depends on its first words */
        uint64_t at = r->pos + body_bytes(m) - 8; /* where it starts */
        expect += 4;
        if (at + 12 <= r->len && rd_u32_at(r, (size_t)at) == 1) {
            uint32_t kind = rd_u32_at(r, (size_t)at + 4);
            expect += 32;
            if (kind != NN_SGD) expect += 2 * (body_bytes(m) - params_offset_bytes(m));
        }
    }
    if (version >= 3) { /* the progress: its size depends on its generator count */
        uint64_t at = r->pos + expect - 8; /* where it starts, after the optimiser's state */
        expect += 4;
        if (at + 8 <= r->len && rd_u32_at(r, (size_t)at) == 1) {
            uint32_t S = rd_u32_at(r, (size_t)at + 4);
            if (S > MAX_STREAMS) {
                data_errorf(err, "%s: corrupt model (training progress with %u generators)",
                            path, S);
                return -1;
            }
            expect += 4 + PROGRESS_BYTES + (version >= 4 ? PROGRESS_V4_BYTES : 0) +
                      32 * (uint64_t)S;
        }
    }
    if ((uint64_t)(r->len - r->pos) != expect) {
        data_errorf(err, "%s: truncated or padded model file (%zu bytes, expected %llu)",
                    path, r->len, (unsigned long long)(r->pos + expect));
        return -1;
    }
    if (mf_alloc(m, err) != 0) return -1;
    m->user_ids = malloc((U ? U : 1) * sizeof *m->user_ids);
    m->item_ids = malloc((I ? I : 1) * sizeof *m->item_ids);
    if (!m->user_ids || !m->item_ids) {
        data_errorf(err, "%s: out of memory loading the model", path);
        return -1;
    }
    for (k = 0; k < U; k++) m->user_ids[k] = (int64_t)r_u64(r);
    for (k = 0; k < I; k++) m->item_ids[k] = (int64_t)r_u64(r);
    for (k = 0; k < U; k++) m->user_count[k] = r_u32(r);
    for (k = 0; k < I; k++) m->item_count[k] = r_u32(r);
    if (m->item_genre)
        for (k = 0; k < I; k++)
            if ((m->item_genre[k] = r_u32(r)) >= m->n_genres) {
                data_errorf(err, "%s: corrupt model (genre index %u of %zu)", path,
                            m->item_genre[k], m->n_genres);
                return -1;
            }
    for (k = 0; k < m->params.n_tensors; k++)
        r_rows(r, nn_param(&m->params, k), m->params.t[k].rows, m->params.t[k].k,
               m->params.t[k].stride);
    if (check_finite(&m->params, m->params.w, "the weights of", path, err) != 0) return -1;
    if (version >= 2 && read_opt_state(m, r, path, err) != 0) return -1;
    if (version >= 3 && read_progress(m, r, version, path, err) != 0) return -1;
    if (rebuild_map(&m->users, m->user_ids, U, "user", path, err) != 0 ||
        rebuild_map(&m->items, m->item_ids, I, "item", path, err) != 0)
        return -1;
    return 0;
}

int mf_load(mf_model *m, const char *path, data_error *err) {
    unsigned char *buf;
    size_t len;
    reader r;
    uint64_t stored, actual;
    memset(m, 0, sizeof *m);
    if (read_file(path, &buf, &len, err) != 0) return -1;
    if (len < HEADER_BYTES + 8) {
        data_errorf(err, "%s: not an embrec model file (only %zu bytes)", path, len);
        free(buf);
        return -1;
    }
    r.p = buf;
    r.len = len;
    r.pos = len - 8;
    stored = r_u64(&r);
    actual = fnv1a(FNV_OFFSET, buf, len - 8);
    r.pos = 0;
    if (memcmp(buf, "EMBRECMF", 8) == 0 && stored != actual) {
        data_errorf(err, "%s: checksum mismatch: the model file is corrupt or truncated",
                    path);
        free(buf);
        return -1;
    }
    r.len = len;
    if (parse_model(m, &r, path, err) != 0) {
        mf_free(m);
        free(buf);
        return -1;
    }
    free(buf);
    return 0;
}
