/* formats/npy.h — NumPy's .npy array files: reading one (initial weights,
 * batch orders), and a model's embeddings written as .npy for NumPy and as
 * TSV for TensorBoard's Embedding Projector.
 *
 * It deliberately reads and writes plain arrays only: no .npz archives, no
 * object, string or structured dtypes, no Fortran order, no memory mapping
 * (every value is read into memory as a double).
 */
#ifndef EMBREC_FORMATS_NPY_H
#define EMBREC_FORMATS_NPY_H

#include <stddef.h>

#include "data.h"
#include "mf.h"

/* ------------------------------------------------------------ .npy files
 * NumPy's array format (versions 1.0, 2.0 and 3.0): the magic "\x93NUMPY",
 * a header that is a Python dict literal {'descr': '<f4', 'fortran_order':
 * False, 'shape': (R, C), }, then the data in C order. float32, float64,
 * int32 and int64 in either byte order are read; anything else (another
 * dtype, Fortran order, a short file) is an error naming the file. */
typedef struct {
    size_t ndim;          /* 0 (a scalar) to 8 */
    size_t shape[8];
    size_t n;             /* values: the product of shape */
    double *v;            /* (n) every value as a double (exact for float32,
                           * float64 and integers below 2^53) */
    char descr[8];        /* as in the file, e.g. "<f4" */
} data_npy;

void data_npy_init(data_npy *a);
void data_npy_free(data_npy *a);
/* 0, or -1 with err "path: problem" */
int data_read_npy(const char *path, data_npy *out, data_error *err);
/* "(1682, 8)", "(943,)" into buf */
const char *data_npy_shape_text(const size_t *shape, size_t ndim, char *buf, size_t cap);

/* ------------------------------------------------------------ export */

/* Write the embeddings for NumPy and for TensorBoard's Embedding Projector:
 *   DIR/{user,item}_embedding.npy   float32 (U, K) and (I, K)
 *   DIR/{user,item}_bias.npy        float32 (U,) and (I,)      (bias, svdpp)
 *   DIR/implicit_embedding.npy      float32 (I, K)             (svdpp's Y)
 *   DIR/{user,item}_ids.npy         int64: the raw id of each row
 *   DIR/item_vectors.tsv, DIR/item_metadata.tsv   one row per item, the
 *     metadata with a header (id, title, genres; titles from movies if given)
 *   DIR/user_vectors.tsv, DIR/user_metadata.tsv
 * DIR is made when it does not exist (not its parents). Each file is
 * written atomically (data_out). movies may be NULL. 0 or -1 with err. */
int mf_export(const mf_model *m, const char *dir, const data_movies *movies,
              data_error *err);
/* Before the work: mf_export could write into dir (a writable directory,
 * or one it can make). 0 or -1 with err. */
int mf_export_check(const char *dir, data_error *err);

/* ------------------------------------------------------ initial weights */

/* Overwrite a model's initial weights with arrays a Python run saved
 * (np.save), so both start from the same point. For every tensor of the
 * model, DIR/NAME.npy with NAME the tensor's name, '/' written '_':
 *   user_embedding.npy, item_embedding.npy     (U, K), (I, K)
 *   user_bias.npy, item_bias.npy               (U,) or (U, 1)     bias, svdpp
 *   implicit_embedding.npy                     (I, K)             svdpp's Y
 *   genre_embedding.npy                        (G, K)   deep; rows in the
 *                                              sorted order of the genre strings
 *   user_mlp_embedding.npy, item_mlp_embedding.npy                ncf
 *   user_feature_embedding.npy, item_feature_embedding.npy        hybrid
 *   dense_1_kernel.npy, dense_1_bias.npy, dense_2_... (C, O), (O,) in Keras's
 *                                              layer order, the output layer last
 * float32 or float64, C order. User and item rows are in the model's order
 * (first appearance in the ratings file), unless DIR/user_ids.npy (and
 * item_ids.npy), as mf_export writes them, give each row's raw id: then every
 * user of the model must be among them, and other rows are ignored (a Keras
 * table indexed by raw id may have more). A missing file leaves that tensor
 * as it was (the model's own initialiser); a wrong shape is an error
 * "DIR/NAME.npy: shape (a, b), the model needs (c, d)", and so is a value a
 * float cannot hold: "DIR/NAME.npy: value 3 (row 0, column 3) is not finite
 * (nan)" or "... is beyond float32's range (1e+300)". *loaded counts the
 * files read. 0 or -1 with err. */
int mf_load_weights(mf_model *m, const char *dir, size_t *loaded, data_error *err);

#endif
