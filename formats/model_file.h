/* formats/model_file.h — embrec's model files: a trained model, its raw
 * ids, features, optimiser state and training progress in one versioned,
 * checksummed file, written atomically.
 *
 * It reads and writes the file only; what the fields mean is mf.h's (the
 * model's layout comes from mf_layout, so the file and the model can never
 * disagree about the order of the tensors). It deliberately keeps no
 * compatibility with other libraries' formats: exporting for NumPy is
 * formats/npy.h's.
 */
#ifndef EMBREC_FORMATS_MODEL_FILE_H
#define EMBREC_FORMATS_MODEL_FILE_H

#include "data.h" /* data_error */
#include "mf.h"

/* ------------------------------------------------------------ model files
 * Little-endian binary, version MF_FILE_VERSION:
 *   "EMBRECMF"  u32 version (4)  u32 kind (0 dot, 1 bias, 2 deep, 3 neumf, 4 gmf, 5 mlp, 6 ncf,
 *       7 svdpp)
 *   u32 centre  u32 K  u64 users U  u64 items I  u64 genres G (deep; else 0)
 *   f32 mean μ  f32 rating_min  f32 rating_max  f32 l2  f32 init_limit
 *   u32 hidden layers L, u32 width[L]  u32 activation  f32 dropout_embed  f32 dropout_hidden
 *   u32 output lecun_uniform  u32 implicit
 *   u32 n, n bytes: the ratings file it was trained on
 *   user features, then item features: u64 F; if F > 0: u64 rows  u64 nnz
 *       u32 start[rows+1]  u32 feature[nnz]  F × (u32 n, n bytes: "group:value")
 *   svdpp: f32 λ_y (the L2 weight on Y), then N(u), each user's rated movies
 *       (item rows, increasing): u64 nnz  u32 start[U+1]  u32 item[nnz]
 *   i64 user_ids[U]  i64 item_ids[I]  u32 user_count[U]  u32 item_count[I]  (deep: u32 genre[I])
 *   f32 every tensor in the parameter block's order, rows unpadded: P (U, K), Q (I, K),
 *       then per kind b_u, b_i, svdpp's Y (I, K), the genre embedding, the feature embeddings,
 *       ncf's P' and Q', each Dense layer's kernel (C, O) then its bias (O)
 *   u32 optimiser state present; if 1: u32 kind (0 sgd, 1 adam, 2 adamax)  u32 update
 *       (0 dense, 1 lazy, 2 dense-sweep)  f32 lr  f32 β1  f32 β2  f32 ε  u64 steps t;
 *       Adam and AdaMax: m, then v, as the tensors
 *   u32 training progress present (mf_progress); if 1: u32 generators S
 *       u64 epochs done  u64 best epoch (from 1; 0 none)  u64 epochs since the best
 *       u32 the weights are the best epoch's
 *       f64 the best epoch's loss, val_loss, val_mae, hr, ndcg (NaN: not measured)
 *       u64 epochs (the run's total)  u64 batch  u64 patience  u64 negatives  u64 rank_k
 *       u64 blocks  u32 restore_best  u64 seed  u32 order (0 embrec, 1 numpy, 2 given)
 *       u64 numpy seed  f64 val_split  f64 holdout  u32 shuffle (0 none, 1 embrec,
 *       2 numpy)  u64 shuffle seed  f64 the rate's decay per epoch (version 4; 1:
 *       constant)  S × 4 u64: the generators' states
 *   u64 FNV-1a hash of every byte before it
 * Version 1 files (no optimiser state), version 2 (no progress) and
 * version 3 (no decay: a constant rate) still load. Saving writes a
 * temporary file in the same directory, syncs it and renames it over the
 * target, so the target is always either the old or the new model. */
#define MF_FILE_VERSION 4

/* write m to path as above; 0, or -1 with err (the old file untouched) */
int mf_save(const mf_model *m, const char *path, data_error *err);
/* read the model at path into m (free it with mf_free); 0, or -1 with err
 * naming the file and what is wrong with it, m then empty */
int mf_load(mf_model *m, const char *path, data_error *err);

#endif
