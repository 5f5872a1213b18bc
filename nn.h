/* nn.h — the neural-network pieces embrec's models are built from.
 *
 * Dense maths kernels (dot, axpy, scale and the optimiser loops) with an
 * AVX-512F path, an AVX2/FMA path, a NEON path and a scalar path, chosen at run time; embedding lookup and its
 * backward pass; the MSE loss; Keras's initialisers; SGD, Adam and AdaMax
 * written from their formulas (Keras 2.1.6, see the comments on each); and
 * the one random-number generator the project uses.
 *
 * nn knows nothing of ratings, users or files: it sees flat float arrays.
 *
 * Dimension letters used in shape comments:
 *   B batch size, K embedding width, S row stride (K rounded up to
 *   NN_ALIGN_FLOATS so every row starts on a SIMD boundary), R rows,
 *   N floats in a parameter block.
 *
 * Conventions (as in llm.c): *_forward / *_backward pairs take
 * (outputs, inputs, parameters, dimensions); gradients are named d* and are
 * ACCUMULATED (+=) — the caller zeroes them.
 */
#ifndef EMBREC_NN_H
#define EMBREC_NN_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- memory */

#define NN_ALIGN 64        /* bytes: a cache line, and a multiple of any SIMD width */
#define NN_ALIGN_FLOATS 8  /* rows are padded to a multiple of 8 floats (one AVX register) */

/* k rounded up to a multiple of NN_ALIGN_FLOATS. */
size_t nn_stride(size_t k);
/* Zeroed memory aligned to NN_ALIGN; NULL when out of memory (or n overflows). */
void *nn_alloc(size_t bytes);
void nn_free(void *p);

/* ---------------------------------------------------- random numbers */

/* xoshiro256** seeded through splitmix64: fast, 256-bit state, passed
 * explicitly so every run is reproducible from its seed. */
typedef struct { uint64_t s[4]; } nn_rng;

void nn_rng_seed(nn_rng *rng, uint64_t seed);
uint64_t nn_rng_next(nn_rng *rng);
/* uniform double in [0, 1) with 53 random bits */
double nn_rng_uniform(nn_rng *rng);
/* uniform integer in [0, n), unbiased (rejection); n > 0 */
uint64_t nn_rng_below(nn_rng *rng, uint64_t n);
/* standard normal (Box–Muller) */
double nn_rng_normal(nn_rng *rng);
/* Fisher–Yates: a uniformly random permutation of a[0..n) in place */
void nn_rng_shuffle_u32(nn_rng *rng, uint32_t *a, size_t n);

/* ------------------------------------------------------- dense kernels
 * vec_* (and the optimiser loops, Dense and the deferred catch-up) run the
 * path chosen at run time: AVX-512F, else AVX2+FMA, where the build has it
 * (x86-64, gcc or clang) and the CPU too, NEON on AArch64, else scalar.
 * The AVX-512F path gives the AVX2 path's bits in every kernel (the same
 * terms added in the same order, in wider registers). vec_*_scalar are
 * always compiled, are the readable reference, and the tests check the two
 * agree. Lengths may be any n (SIMD paths finish with a scalar tail);
 * pointers need no alignment. */

/* Σ_i a_i·b_i (SIMD: 4 partial sums, so the rounding differs from scalar) */
float vec_dot(const float *a, const float *b, size_t n);
float vec_dot_scalar(const float *a, const float *b, size_t n);
/* y += a·x */
void vec_axpy(float *y, float a, const float *x, size_t n);
void vec_axpy_scalar(float *y, float a, const float *x, size_t n);
/* x *= a */
void vec_scale(float *x, float a, size_t n);
void vec_scale_scalar(float *x, float a, size_t n);
/* the path vec_* use: "avx512f", "avx2+fma", "neon" or "scalar" */
const char *vec_path(void);
/* vec_dot and nn_sgd_dot_step as the chosen path's functions themselves,
 * for loops that call them once per rating: at K = 8 a call takes a few
 * nanoseconds, and going through the choice on each call cost per-rating
 * SGD a tenth of its time. Fetch them once, before the loop. */
typedef float (*vec_dot_fn)(const float *a, const float *b, size_t n);
typedef void (*nn_sgd_dot_step_fn)(float *p, float *q, size_t n, float e, float l2, float lr);
vec_dot_fn vec_dot_kernel(void);
nn_sgd_dot_step_fn nn_sgd_dot_step_kernel(void);
/* Choose the kernels' path: "scalar", "avx2" (or "avx2+fma"), "avx512" (or
 * "avx512f"), "neon", or
 * "auto", "" or NULL for the fastest this build runs on this CPU. Returns 0,
 * or -1 (and changes nothing) when name is unknown or the build or the CPU
 * lacks that path. Call it before any thread runs a kernel. Without a call,
 * the first kernel call takes the path the environment variable
 * EMBREC_SIMD names, when it is one of these and available, else auto. */
int nn_simd_select(const char *name);

/* Set flush-to-zero / denormals-are-zero for the calling thread where the
 * CPU has them (x86 SSE: MXCSR; AArch64: FPCR.FZ), as TensorFlow's CPU kernels
 * do: in dense mode optimiser state decays geometrically into float32
 * subnormals, which are very slow on x86 and change no reported result. */
void nn_flush_denormals(void);

/* ------------------------------------------------------- initialisers */

/* w[r*S + c] ~ U(−limit, limit) for c < K; padding columns K..S stay 0.
 * Keras Embedding "uniform" is limit 0.05. */
void nn_init_uniform(float *w, size_t rows, size_t k, size_t stride,
                     float limit, nn_rng *rng);
/* glorot_uniform: sqrt(6 / (fan_in + fan_out)) */
float nn_glorot_limit(size_t fan_in, size_t fan_out);
/* lecun_uniform: sqrt(3 / fan_in) */
float nn_lecun_limit(size_t fan_in);

/* ---------------------------------------------------------- embedding */

/* out[b] = W[ids[b]]            out (B, S), W (R, S), ids (B) */
void nn_embedding_forward(float *out, const float *W, const uint32_t *ids,
                          size_t B, size_t S);
/* dW[ids[b]] += dout[b]         accumulates, so an id repeated within the
 * batch receives the sum of its gradients (as TensorFlow's IndexedSlices do
 * when made dense) */
void nn_embedding_backward(float *dW, const float *dout, const uint32_t *ids,
                           size_t B, size_t S);

/* ------------------------------------------------------------- layers
 * Dense layers and what goes between them, as forward/backward pairs over a
 * batch. Letters: C inputs, O outputs. A Dense kernel is stored as Keras
 * stores it, (C, O) row-major and contiguous (declare it in an nn_params as
 * one row of C·O floats, so no padding falls inside it). */

/* out = x·W + b                      out (B, O), x (B, C), W (C, O), b (O)
 * (blocked for cache, SIMD along O; the _scalar twin is the plain triple loop) */
void nn_dense_forward(float *out, const float *x, const float *W, const float *b,
                      size_t B, size_t C, size_t O);
void nn_dense_forward_scalar(float *out, const float *x, const float *W,
                             const float *b, size_t B, size_t C, size_t O);
/* dx += dout·Wᵀ (skipped when dx is NULL); dW += xᵀ·dout; db += Σ_b dout[b] */
void nn_dense_backward(float *dx, float *dW, float *db, const float *dout,
                       const float *x, const float *W, size_t B, size_t C,
                       size_t O);
void nn_dense_backward_scalar(float *dx, float *dW, float *db, const float *dout,
                              const float *x, const float *W, size_t B,
                              size_t C, size_t O);

typedef enum { NN_LINEAR, NN_RELU, NN_SIGMOID, NN_TANH } nn_activation;

const char *nn_activation_name(nn_activation a);  /* "linear", "relu", "sigmoid", "tanh" */
int nn_activation_parse(const char *name, nn_activation *a);  /* 0 or -1 */
/* out = f(x), n values; out may be x (in place)
 *   relu max(0, x); sigmoid 1/(1+e^−x), computed without overflow; tanh */
void nn_activation_forward(float *out, const float *x, size_t n, nn_activation a);
/* dx += dout · f'(x), with f' from the OUTPUT y = f(x):
 *   linear 1; relu [y > 0]; sigmoid y(1−y); tanh 1−y² */
void nn_activation_backward(float *dx, const float *dout, const float *y, size_t n,
                            nn_activation a);

/* Inverted dropout (Keras): in training each unit is kept with probability
 * 1−rate and scaled by 1/(1−rate), so inference needs no change.
 * mask[i] = 0 or 1/(1−rate); out = x ⊙ mask; out may be x. rate in [0, 1). */
void nn_dropout_forward(float *out, float *mask, const float *x, size_t n,
                        float rate, nn_rng *rng);
/* dx += dout ⊙ mask */
void nn_dropout_backward(float *dx, const float *dout, const float *mask, size_t n);

/* out = a ⊙ c  (elementwise product, Keras Multiply); out may be a or c */
void nn_mul_forward(float *out, const float *a, const float *c, size_t n);
/* da += dout ⊙ c;  dc += dout ⊙ a */
void nn_mul_backward(float *da, float *dc, const float *dout, const float *a,
                     const float *c, size_t n);

/* Concatenation along features: out[b, off : off+C] = x[b, 0:C] for B rows,
 * rows of out ldo floats apart and rows of x ldx apart (Keras Concatenate is
 * one call per input, each at its offset). */
void nn_concat_forward(float *out, size_t ldo, size_t off, const float *x,
                       size_t ldx, size_t B, size_t C);
/* dx[b, 0:C] += dout[b, off : off+C] */
void nn_concat_backward(float *dx, size_t ldx, const float *dout, size_t ldo,
                        size_t off, size_t B, size_t C);

/* --------------------------------------------------------------- loss */

/* L = (1/B) Σ_b (ŷ_b − y_b)²  (accumulated in double) */
double nn_mse_forward(const float *pred, const float *y, size_t B);
/* dŷ_b = 2 (ŷ_b − y_b) / B     (writes, does not accumulate: it is a leaf) */
void nn_mse_backward(float *dpred, const float *pred, const float *y, size_t B);

/* Binary cross-entropy on logits z, targets y in [0, 1]:
 * L = (1/B) Σ_b [max(z,0) − z·y + log(1 + e^−|z|)], which is
 * −[y log σ(z) + (1−y) log(1−σ(z))] without overflow or log(0). (Keras
 * computes it from the sigmoid's output clipped to [1e-7, 1−1e-7]; the two
 * agree wherever σ(z) is inside that range.) */
double nn_bce_logits_forward(const float *z, const float *y, size_t B);
/* dz_b = (σ(z_b) − y_b) / B   (writes, does not accumulate) */
void nn_bce_logits_backward(float *dz, const float *z, const float *y, size_t B);

/* ---------------------------------------------------- parameter block
 * All of a model's trainable parameters live in ONE aligned block w (N),
 * with gradients dw (N) and the optimiser's state in the same layout, so
 * each optimiser is a flat loop. A tensor is a named R × K slice of the
 * block with rows padded to S floats (a tensor one float wide, a bias, is
 * not padded). Embedding tensors are "sparse": a
 * batch gives gradient to a few rows, which nn_params_touch records so that
 * the lazy optimiser and nn_params_zero_grad visit only those rows. */

#define NN_MAX_TENSORS 32

typedef struct {
    const char *name;   /* e.g. "user_embedding" (a string literal, not owned) */
    size_t rows;        /* R */
    size_t k;           /* K: columns in use */
    size_t stride;      /* S: floats between row starts */
    size_t offset;      /* first float of the tensor in the block */
    int sparse;         /* 1: embedding, gradient lives on touched rows only */
    uint32_t *touched;  /* (R) unique rows with gradient this batch (sparse only) */
    size_t n_touched;
    uint8_t *is_touched; /* (R) 1 while the row is in touched[] */
} nn_tensor;

typedef struct {
    float *w;           /* (N) parameters */
    float *dw;          /* (N) gradients, same layout */
    size_t n;           /* N */
    nn_tensor t[NN_MAX_TENSORS];
    size_t n_tensors;
} nn_params;

/* Declare a tensor before nn_params_alloc; returns its index, or
 * (size_t)-1 when NN_MAX_TENSORS is reached. */
size_t nn_params_add(nn_params *ps, const char *name, size_t rows, size_t k,
                     int sparse);
/* Allocate w and dw (zeroed) and the touched-row sets; 0 or -1 (no memory). */
int nn_params_alloc(nn_params *ps);
void nn_params_free(nn_params *ps);
float *nn_param(const nn_params *ps, size_t tensor);  /* (R, S) */
float *nn_grad(const nn_params *ps, size_t tensor);   /* (R, S) */
/* record that row has gradient in this batch (sparse tensors; no-op for dense) */
void nn_params_touch(nn_params *ps, size_t tensor, uint32_t row);
/* zero dw: touched rows of sparse tensors, all of dense ones; clear the sets */
void nn_params_zero_grad(nn_params *ps);

/* ---------------------------------------------------------- optimisers */

/* NN_ROWWISE_ADAGRAD: LIBMF's learning-rate schedule (Chin et al., PAKDD
 * 2015), AdaGrad with one accumulator per row (nn_rowwise_adagrad_row).
 * A row without gradient does not move, so its dense and lazy updates are
 * the same: it always visits the batch's rows. */
typedef enum { NN_SGD, NN_ADAM, NN_ADAMAX, NN_ROWWISE_ADAGRAD } nn_optimizer_kind;

/* dense:       Keras/TensorFlow behaviour — every parameter's state decays and
 *              every parameter with non-zero moment moves on every step, whether
 *              or not its embedding row was in the batch (g = 0 there). A row
 *              outside the batch is not visited: its idle steps are applied in
 *              closed form when it is next touched or when the optimiser is
 *              flushed (nn_optimizer_flush). Needs nn_optimizer_init_params;
 *              equal to dense-sweep up to float32 rounding (see nn.c).
 * dense-sweep: the same semantics computed literally: one pass over every
 *              parameter every step. The auditable reference.
 * lazy:        sparse tensors update only the rows touched in the batch
 *              (LazyAdam / PyTorch SparseAdam); dense tensors as above. */
typedef enum { NN_UPDATE_DENSE, NN_UPDATE_LAZY, NN_UPDATE_DENSE_SWEEP } nn_update_mode;

typedef struct {
    nn_optimizer_kind kind;
    nn_update_mode update;
    float lr;       /* learning rate */
    float beta1;    /* Adam, AdaMax: first-moment decay */
    float beta2;    /* Adam: second moment; AdaMax: infinity-norm decay */
    float epsilon;  /* added to the denominator (Keras 2.1.6: 1e-7) */
} nn_optimizer_config;

/* Keras 2.1.6 defaults: SGD lr 0.01; Adam lr 0.001, β1 0.9, β2 0.999, ε 1e-7;
 * AdaMax lr 0.002, β1 0.9, β2 0.999, ε 1e-7. Update mode dense. */
nn_optimizer_config nn_optimizer_defaults(nn_optimizer_kind kind);
const char *nn_optimizer_name(nn_optimizer_kind kind);      /* "sgd", "adam", "adamax" */
int nn_optimizer_parse(const char *name, nn_optimizer_kind *kind); /* 0 or -1 */
const char *nn_update_name(nn_update_mode mode); /* "dense", "lazy", "dense-sweep" */
int nn_update_parse(const char *name, nn_update_mode *mode);  /* 0 or -1 */

typedef struct {
    nn_optimizer_config cfg;
    float *m;           /* (N) first moment (Adam, AdaMax) */
    float *v;           /* (N) Adam: second moment v; AdaMax: infinity norm u;
                         * row-wise AdaGrad: G − 1 of each row, at its first float */
    size_t n;           /* N */
    uint64_t t;         /* updates applied so far; the next step uses t+1 */
} nn_optimizer;

/* Allocate zeroed state for a block of n floats; 0 or -1 (no memory). */
int nn_optimizer_init(nn_optimizer *opt, nn_optimizer_config cfg, size_t n);
void nn_optimizer_free(nn_optimizer *opt);
/* One update of every tensor from ps->dw: t += 1, then
 *   dense, dense-sweep: the formula on every parameter of the block (Keras);
 *   lazy: on the rows of each sparse tensor touched in this batch, and on
 *         every dense tensor.
 * Does not zero the gradients (call nn_params_zero_grad). */
void nn_optimizer_step(nn_optimizer *opt, nn_params *ps);
/* The formula at rate lr_t on the floats [off, off + len) of the block
 * (row-wise AdaGrad: whole rows of its tensors). */
void nn_optimizer_update_span(const nn_optimizer *opt, nn_params *ps, size_t off, size_t len,
                              float lr_t);
/* lr_t of step t: lr for SGD, nn_adam_lr_t, nn_adamax_lr_t */
float nn_optimizer_rate(const nn_optimizer_config *cfg, uint64_t t);
/* Start from a saved state: the moments m and v (n floats each, NULL for
 * SGD) after t steps. */
void nn_optimizer_resume(nn_optimizer *opt, const float *m, const float *v, uint64_t t);

/* The flat update loops, one pass over (p, g, m, v), exposed for tests and
 * for callers with their own layout. All arithmetic is float32, in the order
 * Keras writes it, with no FMA contraction, so the SIMD and scalar paths
 * give bit-identical results.
 *   SGD:    p −= lr·g
 *   Adam:   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  p −= lr_t·m / (√v + ε)
 *   AdaMax: m = β1·m + (1−β1)·g;  u = max(β2·u, |g|);    p −= lr_t·m / (u + ε)
 * lr_t is the bias-corrected rate of nn_adam_lr_t / nn_adamax_lr_t. */
void nn_sgd_update(float *p, const float *g, size_t n, float lr);
void nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
                    float lr_t, float beta1, float beta2, float eps);
void nn_adamax_update(float *p, const float *g, float *m, float *u, size_t n,
                      float lr_t, float beta1, float beta2, float eps);
void nn_sgd_update_scalar(float *p, const float *g, size_t n, float lr);
/* SGD on the two factors of a dot product y = p·q, fused: with e = ∂L/∂y
 * and an L2 weight l2 on each factor,
 *   p −= lr·(e·q + l2·p),  q −= lr·(e·p + l2·q)   (both from the old p and q),
 * bit for bit what vec_axpy twice and nn_sgd_update give. */
void nn_sgd_dot_step(float *p, float *q, size_t n, float e, float l2, float lr);
void nn_sgd_dot_step_scalar(float *p, float *q, size_t n, float e, float l2, float lr);
void nn_adam_update_scalar(float *p, const float *g, float *m, float *v, size_t n,
                           float lr_t, float beta1, float beta2, float eps);
void nn_adamax_update_scalar(float *p, const float *g, float *m, float *u, size_t n,
                             float lr_t, float beta1, float beta2, float eps);
/* Row-wise AdaGrad on one row of k weights with gradient g, its
 * accumulator kept as G1 = G − 1 (G starts at 1, so a zeroed state is the
 * start; LIBMF's schedule):
 *   w −= lr/√G · g,  then  G += (1/k)·Σ g²
 * The same arithmetic on every SIMD path (the sum is sequential). */
void nn_rowwise_adagrad_row(float *w, const float *g, float *G1, size_t k, float lr);
/* Adam:   lr_t = lr·√(1−β2^t) / (1−β1^t)     (t counts from 1) */
float nn_adam_lr_t(float lr, float beta1, float beta2, uint64_t t);
/* AdaMax: lr_t = lr / (1−β1^t) */
float nn_adamax_lr_t(float lr, float beta1, uint64_t t);

/* ------------------------------------------------------------ shares
 * Work cut into T shares: fn(ctx, t, T) runs once for each t = 0 … T−1,
 * and the call returns when all have. Shares must write disjoint memory; a
 * result that must not depend on T is summed by the caller afterwards, in
 * share order. The core runs them one after another on the calling thread;
 * nn_use_share_runner installs a runner that may use threads (fast/ does),
 * which changes no result. */
typedef void (*nn_task)(void *ctx, size_t t, size_t T);
void nn_run_shares(size_t T, nn_task fn, void *ctx);
typedef void (*nn_share_runner)(size_t T, nn_task fn, void *ctx);
void nn_use_share_runner(nn_share_runner run); /* NULL: one after another */
/* the cores online, at least 1 */
size_t nn_cores(void);

#endif
