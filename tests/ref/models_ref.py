#!/usr/bin/python3
"""models_ref.py -- the deep (notebook 002) and neumf (notebook 004) models,
forward, backward and three Adam steps, as an independent NumPy reference.

Writes tests/ref/models.txt, which tests/test_ref.c loads (the C tests never
run Python). Run it by hand from the repository root when the fixture must
change:

    /usr/bin/python3 tests/ref/models_ref.py > tests/ref/models.txt

In the style of llm.c's test against PyTorch: small models with deterministic
initial weights (float32 values from a NumPy RandomState, NOT Keras's random
draws), a batch per step (the same one for steps 1 and 2, one that leaves a
user and an item out for step 3: see BATCHES), and for each of three training
steps the dropout masks, the prediction, the MSE loss, EVERY gradient, and
every parameter after the Adam update; and predictions without dropout
(inference) before and after training.

    deep   x0 = Dropout([P[u], Q[i], G[genre(i)]])                  (B, 3K)
    neumf  x0 = Dropout(P[u]) * Dropout(Q[i])                       (B, K)
    then   a_l = act(x_l W_l + b_l);  x_{l+1} = Dropout(a_l)        hidden layers
           s = sigmoid(x_L W_L + b_L);  pred = min + (max - min) s
           loss = mean_b (pred_b - y_b)^2

Forward and backward are written out by hand in float64 from the float32
parameters, and every gradient is checked here against central finite
differences. The optimiser is Keras 2.1.6 Adam in float32, in Keras's
operation order, DENSE (every parameter, every step; an embedding row outside
the batch has g = 0):

    lr_t = lr * (sqrt(1 - beta_2**t) / (1 - beta_1**t))
    m    = beta_1 * m + (1 - beta_1) * g
    v    = beta_2 * v + (1 - beta_2) * (g * g)
    p    = p - lr_t * m / (sqrt(v) + epsilon)

fed with the float64 gradients rounded to float32, so the parameters after each
step are float32 values, and the next step's forward pass starts from them.

Dropout masks are the ones embrec draws: nn.c's generator (splitmix64 seeding,
xoshiro256**, uniform = (next >> 11) * 2^-53) re-implemented here with 64-bit
masking, and nn_dropout_forward's rule (keep when u >= (double)(float)rate,
kept units scaled by the float32 1/(1 - rate)), drawn in mf.c's order: deep
the concatenation's mask (B x 3K, row-major) then each hidden layer's; neumf
the user mask, the item mask (each B x K), then the hidden ones. One stream,
seeded once, runs on through the three steps, as one rng does in mf_train.

The same trajectory is also run entirely in float32 (a stand-in for the C
code's rounding) and its largest deviation from the float64 reference, in
units of the C test's tolerances, is printed in the fixture's comments; the
script refuses to write a fixture where that margin is thin, where a ReLU
pre-activation is within RELU_MARGIN of its kink (float32 and float64 could
take different branches), where a parameter sits in Adam's ill-conditioned
regime (see SIGMA_FLOOR), where some tensor never gets a gradient, where more
than one row of a batch reaches a Dense layer as all zeros, or where the
dense-versus-lazy and never-moving rows are not exercised. The seeds in
MODELS were picked by trying seeds against these checks.
"""
import sys

import numpy as np

f32 = np.float32
M64 = (1 << 64) - 1
ADAM = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7)  # Keras defaults but lr
RATING_MIN, RATING_MAX = 1.0, 5.0
STEPS = 3  # len(BATCHES)

# The batch of each step, (users, items, ratings). Steps 1 and 2 train on the
# same batch: users 0 and 3 twice, item 5 twice (their gradients must add up).
# Step 3 leaves out user 4 and item 6: DENSE Adam still moves their rows by
# the momentum of steps 1-2 (lazy Adam would not; with one fixed batch the two
# modes would be indistinguishable). User 2 and items 1 and 3 are in no batch:
# with g = m = v = 0 their rows must not move at all. Ratings span 1..5, so
# the model's rating_min and rating_max are 1 and 5.
BATCH_A = ([0, 3, 1, 3, 4, 0], [2, 5, 6, 0, 5, 4], [4.0, 1.0, 5.0, 3.0, 2.0, 4.0])
BATCH_B = ([0, 3, 1, 3, 1, 0], [2, 5, 0, 4, 5, 0], [4.0, 1.0, 3.0, 5.0, 2.0, 4.0])
BATCHES = [BATCH_A, BATCH_A, BATCH_B]
B = len(BATCH_A[0])
assert all(len(x) == B for batch in BATCHES for x in batch)

MODELS = [
    dict(kind="deep", U=5, I=7, G=3, K=4, hidden=[5, 3], act="relu",
         dropout_embed=0.3, dropout_hidden=0.25, output_lecun=0,
         seed=20180521, weight_seed=47),
    dict(kind="neumf", U=5, I=7, G=0, K=4, hidden=[4], act="linear",
         dropout_embed=0.5, dropout_hidden=0.5, output_lecun=1,
         seed=4035, weight_seed=4),
]

# Tolerances of tests/test_ref.c (|got - want| <= atol + rtol |want|), echoed
# here so the float32 stand-in can be measured against them.
TOL = dict(pred=(1e-5, 1e-6), loss=(1e-5, 1e-7), grad=(1e-4, 1e-6),
           param=(1e-5, 2e-6))
MIN_MARGIN = 10.0       # the float32 stand-in must stay 10x inside every tolerance
RELU_MARGIN = 1e-3      # |pre-activation| of every ReLU unit, every step
# Adam's step lr_t m/(sqrt(v) + eps) is most sensitive to rounding in g where
# sqrt(v) is near eps: at step 1 it is lr g/(|g| + eps_hat), eps_hat =
# eps/sqrt(1 - beta_2) = 3.2e-6, whose slope lr eps_hat/(|g| + eps_hat)^2 is
# lr/eps_hat = 3200 at g = 0 (an error of 1e-8 in a gradient of 1e-5 moves the
# weight by 3e-5). So every parameter's RMS gradient so far,
# sqrt(v_t/(1 - beta_2^t)), must be exactly 0 (never any gradient: the weight
# does not move) or at least SIGMA_FLOOR = 10 eps_hat, where the slope is
# below lr eps_hat/sigma^2 = 31 at step 1.
SIGMA_FLOOR = 3.2e-5
FD_H, FD_TOL = 1e-6, 1e-8


# ------------------------------------------------------------ nn.c's rng

class Rng:
    """nn_rng: xoshiro256** 1.0 seeded through splitmix64"""

    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def uniform(self):
        return float(self.next() >> 11) * 2.0 ** -53


def dropout_mask(rng, shape, rate):
    """nn_dropout_forward's mask: 0 or float32(1/(1 - rate)), row-major draws"""
    n = int(np.prod(shape))
    if rate == 0.0:  # Keras: no dropout, and no draws
        return np.ones(shape, dtype=f32)
    rate32 = f32(rate)
    scale = f32(1.0) / (f32(1.0) - rate32)
    keep = float(rate32)
    mask = np.array([scale if rng.uniform() >= keep else f32(0.0) for _ in range(n)],
                    dtype=f32)
    return mask.reshape(shape)


def draw_masks(spec, rng, B):
    """the masks of one forward pass, in mf.c's order"""
    K = spec["K"]
    masks = {}
    if spec["kind"] == "deep":
        masks["embed"] = dropout_mask(rng, (B, 3 * K), spec["dropout_embed"])
    else:
        masks["user"] = dropout_mask(rng, (B, K), spec["dropout_embed"])
        masks["item"] = dropout_mask(rng, (B, K), spec["dropout_embed"])
    for l, h in enumerate(spec["hidden"]):
        masks["hidden_%d" % (l + 1)] = dropout_mask(rng, (B, h), spec["dropout_hidden"])
    return masks


# ------------------------------------------------------------ the model

def layer_sizes(spec):
    """(inputs, outputs) of each Dense layer, the output layer last"""
    ins = [3 * spec["K"] if spec["kind"] == "deep" else spec["K"]] + spec["hidden"]
    outs = spec["hidden"] + [1]
    return list(zip(ins, outs))


def tensor_names(spec):
    """mf_alloc's layout order"""
    names = ["user_embedding", "item_embedding"]
    if spec["kind"] == "deep":
        names.append("genre_embedding")
    for l in range(len(spec["hidden"]) + 1):
        names += ["dense_%d/kernel" % (l + 1), "dense_%d/bias" % (l + 1)]
    return names


def initial_weights(spec):
    """float32 weights: embeddings U(-0.5, 0.5) (ten times Keras's 0.05, so the
    signal through the tower is not lost in the biases), kernels glorot_uniform
    (the neumf output layer lecun_uniform), biases U(-0.1, 0.1) rather than
    Keras's zeros, so that the forward pass is seen to add them."""
    rs = np.random.RandomState(spec["weight_seed"])
    K = spec["K"]
    W = {}
    W["user_embedding"] = rs.uniform(-0.5, 0.5, (spec["U"], K)).astype(f32)
    W["item_embedding"] = rs.uniform(-0.5, 0.5, (spec["I"], K)).astype(f32)
    if spec["kind"] == "deep":
        W["genre_embedding"] = rs.uniform(-0.5, 0.5, (spec["G"], K)).astype(f32)
    sizes = layer_sizes(spec)
    for l, (c, o) in enumerate(sizes):
        if l == len(sizes) - 1 and spec["output_lecun"]:
            limit = np.sqrt(3.0 / c)
        else:
            limit = np.sqrt(6.0 / (c + o))
        W["dense_%d/kernel" % (l + 1)] = rs.uniform(-limit, limit, (c, o)).astype(f32)
        W["dense_%d/bias" % (l + 1)] = rs.uniform(-0.1, 0.1, o).astype(f32)
    return W


def genres(spec):
    return np.arange(spec["I"]) % spec["G"] if spec["G"] else None


def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def forward(spec, W, masks, batch, dt):
    """pred (B) and what backward needs, computed in dtype dt"""
    W = {k: v.astype(dt) for k, v in W.items()}
    M = {k: v.astype(dt) for k, v in masks.items()}
    u, i = np.array(batch[0]), np.array(batch[1])
    L = len(spec["hidden"])
    c = {}
    if spec["kind"] == "deep":
        g = genres(spec)[i]
        e = np.concatenate([W["user_embedding"][u], W["item_embedding"][i],
                            W["genre_embedding"][g]], axis=1)
        x = e * M["embed"]
    else:
        pu = W["user_embedding"][u] * M["user"]
        qi = W["item_embedding"][i] * M["item"]
        c["pu"], c["qi"] = pu, qi
        x = pu * qi
    c["x"], c["a"], c["z"] = [x], [], []
    for l in range(L):
        z = c["x"][l] @ W["dense_%d/kernel" % (l + 1)] + W["dense_%d/bias" % (l + 1)]
        a = np.maximum(z, dt(0)) if spec["act"] == "relu" else z
        c["z"].append(z)
        c["a"].append(a)
        c["x"].append(a * M["hidden_%d" % (l + 1)])
    zo = c["x"][L] @ W["dense_%d/kernel" % (L + 1)] + W["dense_%d/bias" % (L + 1)]
    s = sigmoid(zo[:, 0]).astype(dt)
    c["s"] = s
    pred = dt(RATING_MIN) + dt(RATING_MAX - RATING_MIN) * s
    return pred, c


def loss_of(pred, batch):
    y = np.array(batch[2])
    return float(np.mean((pred.astype(np.float64) - y) ** 2))


def backward(spec, W, masks, batch, pred, c, dt):
    """every gradient of the MSE loss, by hand, in dtype dt"""
    W = {k: v.astype(dt) for k, v in W.items()}
    M = {k: v.astype(dt) for k, v in masks.items()}
    u, i = np.array(batch[0]), np.array(batch[1])
    K, L = spec["K"], len(spec["hidden"])
    y = np.array(batch[2], dtype=dt)
    G = {k: np.zeros_like(v) for k, v in W.items()}
    dpred = dt(2) * (pred - y) / dt(B)                  # d mean (pred - y)^2
    ds = dt(RATING_MAX - RATING_MIN) * dpred            # pred = min + range s
    dz = (ds * (c["s"] * (dt(1) - c["s"])))[:, None]     # s = sigmoid(z)
    for l in range(L, -1, -1):
        k, b = "dense_%d/kernel" % (l + 1), "dense_%d/bias" % (l + 1)
        G[k] += c["x"][l].T @ dz
        G[b] += dz.sum(axis=0)
        dx = dz @ W[k].T
        if l == 0:
            break
        da = dx * M["hidden_%d" % l]                    # through Dropout
        dz = da * (c["a"][l - 1] > 0) if spec["act"] == "relu" else da
    if spec["kind"] == "deep":
        de = dx * M["embed"]
        g = genres(spec)[i]
        np.add.at(G["user_embedding"], u, de[:, :K])     # repeated rows add up
        np.add.at(G["item_embedding"], i, de[:, K:2 * K])
        np.add.at(G["genre_embedding"], g, de[:, 2 * K:])
    else:
        dpu, dqi = dx * c["qi"], dx * c["pu"]           # x0 = pu * qi
        np.add.at(G["user_embedding"], u, dpu * M["user"])
        np.add.at(G["item_embedding"], i, dqi * M["item"])
    return G


def finite_differences(spec, W, masks, batch, G):
    """central differences on every parameter, float64 throughout"""
    W64 = {k: v.astype(np.float64) for k, v in W.items()}
    worst = 0.0
    for name, w in W64.items():
        for idx in np.ndindex(w.shape):
            saved = w[idx]
            w[idx] = saved + FD_H
            lp = loss_of(forward(spec, W64, masks, batch, np.float64)[0], batch)
            w[idx] = saved - FD_H
            lm = loss_of(forward(spec, W64, masks, batch, np.float64)[0], batch)
            w[idx] = saved
            fd = (lp - lm) / (2 * FD_H)
            err = abs(fd - G[name][idx])
            assert err <= FD_TOL, (spec["kind"], name, idx, fd, G[name][idx])
            worst = max(worst, err)
    return worst


def lr_t_of(t):
    """Keras: t = float32(iterations) + 1, everything float32"""
    lr, b1, b2 = f32(ADAM["lr"]), f32(ADAM["beta1"]), f32(ADAM["beta2"])
    tf = f32(t)
    return f32(lr * (np.sqrt(f32(1) - b2 ** tf) / (f32(1) - b1 ** tf)))


def adam_step(W, G, m, v, t):
    """one dense Keras Adam step in float32, in place"""
    b1, b2, eps = f32(ADAM["beta1"]), f32(ADAM["beta2"]), f32(ADAM["eps"])
    c1, c2 = f32(1) - b1, f32(1) - b2
    lr_t = lr_t_of(t)
    for k in W:
        g = G[k].astype(f32)
        m[k] = b1 * m[k] + c1 * g
        v[k] = b2 * v[k] + c2 * (g * g)
        W[k] = W[k] - lr_t * m[k] / (np.sqrt(v[k]) + eps)
        assert W[k].dtype == f32 and m[k].dtype == f32 and v[k].dtype == f32


def trajectory(spec, dt, check=False):
    """STEPS training steps on the batch; per step the masks, pred, loss,
    gradients (dtype dt) and parameters after the update (float32)"""
    W = initial_weights(spec)
    m = {k: np.zeros_like(w) for k, w in W.items()}
    v = {k: np.zeros_like(w) for k, w in W.items()}
    rng = Rng(spec["seed"])
    steps = []
    for t, batch in enumerate(BATCHES, 1):
        masks = draw_masks(spec, rng, B)
        pred, c = forward(spec, W, masks, batch, dt)
        G = backward(spec, W, masks, batch, pred, c, dt)
        rec = dict(batch=batch, masks=masks, pred=pred, loss=loss_of(pred, batch), grad=G,
                   fd=None,
                   margin=min([np.min(np.abs(z)) for z in c["z"]] + [np.inf]),
                   dead=[int(np.sum(np.all(x == 0, axis=1))) for x in c["x"]])
        if check:
            rec["fd"] = finite_differences(spec, W, masks, batch, G)
        adam_step(W, G, m, v, t)
        rec["param"] = {k: w.copy() for k, w in W.items()}
        steps.append(rec)
    return steps


# ------------------------------------------------------------ checks

def violation(got, want, tol):
    """largest |got - want| / (atol + rtol |want|): <= 1 passes the C test"""
    rtol, atol = tol
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want) / (atol + rtol * np.abs(want))))


def stand_in_margins(ref, lo):
    """how far inside the C test's tolerances the float32 run stays"""
    worst = dict(pred=0.0, loss=0.0, grad=0.0, param=0.0)
    for r, q in zip(ref, lo):
        worst["pred"] = max(worst["pred"], violation(q["pred"], r["pred"], TOL["pred"]))
        worst["loss"] = max(worst["loss"], violation(q["loss"], r["loss"], TOL["loss"]))
        for k in r["grad"]:
            worst["grad"] = max(worst["grad"], violation(q["grad"][k], r["grad"][k],
                                                         TOL["grad"]))
            worst["param"] = max(worst["param"], violation(q["param"][k], r["param"][k],
                                                           TOL["param"]))
    return worst


def sanity(spec, ref, lo):
    names = tensor_names(spec)
    W0 = initial_weights(spec)
    assert sorted(names) == sorted(W0), (names, sorted(W0))
    # the relu pattern must not depend on the rounding
    if spec["act"] == "relu":
        for s, r in enumerate(ref):
            assert r["margin"] >= RELU_MARGIN, (spec["kind"], s, r["margin"])
    # every Dense layer's input is non-zero in all but at most one row of the
    # batch (else rows pass no gradient down and the check is weaker)
    for s, r in enumerate(ref):
        assert max(r["dead"]) <= 1, (spec["kind"], "dead rows", s, r["dead"])
    # every tensor gets gradient in some step; every step has some
    for k in names:
        assert any(np.any(r["grad"][k] != 0) for r in ref), (spec["kind"], k)
    for r in ref:
        assert np.max(np.abs(np.concatenate([g.ravel() for g in r["grad"].values()]))) > 1e-3
    # rows left out of a step's batch after being in an earlier one move by
    # their momentum (dense, not lazy); rows in no batch never move
    for k, col in (("user_embedding", 0), ("item_embedding", 1)):
        seen, moved_out = set(), 0
        for s, r in enumerate(ref):
            before = ref[s - 1]["param"][k] if s else W0[k]
            for row in seen - set(r["batch"][col]):
                assert not np.any(r["grad"][k][row])
                moved_out += int(np.sum(r["param"][k][row] != before[row]))
            seen |= set(r["batch"][col])
        assert moved_out > 0, (spec["kind"], k)
        never = set(range(spec["U" if col == 0 else "I"])) - seen
        assert never, (spec["kind"], k)
        for row in never:
            assert np.array_equal(ref[-1]["param"][k][row], W0[k][row])
    # no parameter in Adam's ill-conditioned regime (see SIGMA_FLOOR)
    b2 = ADAM["beta2"]
    for k in names:
        v = np.zeros_like(ref[0]["grad"][k])
        for t, r in enumerate(ref, 1):
            g = r["grad"][k].astype(f32).astype(np.float64)
            v = b2 * v + (1 - b2) * g * g
            sigma = np.sqrt(v / (1 - b2 ** t))
            bad = (sigma > 0) & (sigma < SIGMA_FLOOR)
            assert not np.any(bad), (spec["kind"], "sigma", k, t, np.min(sigma[sigma > 0]))
    # the weights move visibly
    for k in names:
        assert np.max(np.abs(ref[-1]["param"][k] - W0[k])) > 1e-3, (spec["kind"], k)
    worst = stand_in_margins(ref, lo)
    for what, x in worst.items():
        assert x * MIN_MARGIN <= 1.0, (spec["kind"], what, x)
    return worst


# ------------------------------------------------------------ output

def f9(a):
    return " ".join("%.9g" % float(x) for x in np.asarray(a).ravel())


def emit_rows(out, a, width=6):
    flat = np.asarray(a).ravel()
    for j in range(0, len(flat), width):
        out.append("  " + f9(flat[j:j + width]))


def inference(spec, W):
    """pred without dropout (Keras's learning phase 0: every mask is 1)"""
    ones = {k: np.ones_like(v) for k, v in draw_masks(spec, Rng(0), B).items()}
    return forward(spec, W, ones, BATCHES[0], np.float64)[0]


def emit(spec, ref, worst, out):
    names = tensor_names(spec)
    W0 = initial_weights(spec)
    out.append("")
    out.append("model %s" % spec["kind"])
    out.append("# float32 stand-in vs this float64 reference, as fractions of the C "
               "tolerances: pred %.2g, loss %.2g, grad %.2g, param %.2g"
               % (worst["pred"], worst["loss"], worst["grad"], worst["param"]))
    out.append("# smallest |ReLU pre-activation| %s; largest finite-difference error %.2g"
               % ("%.3g" % min(r["margin"] for r in ref) if spec["act"] == "relu"
                  else "(no ReLU)", max(r["fd"] for r in ref)))
    out.append("sizes %d %d %d %d %d %d" % (spec["U"], spec["I"], spec["G"], spec["K"], B,
                                            STEPS))
    out.append("hidden %d %s %s" % (len(spec["hidden"]), " ".join(map(str, spec["hidden"])),
                                    spec["act"]))
    out.append("dropout %s %s" % (f9(f32(spec["dropout_embed"])),
                                  f9(f32(spec["dropout_hidden"]))))
    out.append("output_lecun %d" % spec["output_lecun"])
    out.append("rating_range %s %s" % (f9(RATING_MIN), f9(RATING_MAX)))
    out.append("adam %s" % f9([f32(ADAM[k]) for k in ("lr", "beta1", "beta2", "eps")]))
    out.append("seed %d" % spec["seed"])
    g = genres(spec)
    out.append("genres" + ("" if g is None else " " + " ".join(map(str, g))))
    out.append("tensors %d" % len(names))
    for k in names:
        w = W0[k]
        rows, cols = (w.shape if k.endswith("_embedding") else (1, w.size))
        out.append("tensor %s %d %d" % (k, rows, cols))
        emit_rows(out, w, cols if k.endswith("_embedding") else 6)
    out.append("infer_init " + f9(inference(spec, W0)))
    for s, r in enumerate(ref):
        out.append("step %d" % (s + 1))
        out.append("users " + " ".join(map(str, r["batch"][0])))
        out.append("items " + " ".join(map(str, r["batch"][1])))
        out.append("ratings " + f9(r["batch"][2]))
        out.append("masks %d" % len(r["masks"]))
        for k, mk in r["masks"].items():
            out.append("mask %s %d" % (k, mk.size))
            emit_rows(out, mk, mk.shape[1])
        out.append("pred " + f9(r["pred"]))
        out.append("loss %.17g" % r["loss"])
        for k in names:
            out.append("grad %s" % k)
            emit_rows(out, r["grad"][k], spec["K"] if k.endswith("_embedding") else 6)
        for k in names:
            out.append("param %s" % k)
            emit_rows(out, r["param"][k], spec["K"] if k.endswith("_embedding") else 6)
    out.append("infer_final " + f9(inference(spec, ref[-1]["param"])))
    out.append("end")


def main():
    out = [
        "# tests/ref/models.txt -- the deep and neumf models: forward, every gradient,",
        "# and three dense Keras 2.1.6 Adam steps, by an independent NumPy reference.",
        "# Generated by: /usr/bin/python3 tests/ref/models_ref.py > tests/ref/models.txt",
        "# (NumPy %s). Do not edit by hand; loaded by tests/test_ref.c." % np.__version__,
        "# Tokens are separated by white space; '#' starts a comment. Per model:",
        "#   model KIND",
        "#   sizes U I G K B STEPS           (G = 0: no genre embedding)",
        "#   hidden N WIDTH... ACTIVATION    Dense layers before the 1-unit output",
        "#   dropout EMBED HIDDEN            rates",
        "#   output_lecun 0|1",
        "#   rating_range MIN MAX            pred = MIN + (MAX - MIN) sigmoid(z)",
        "#   adam LR BETA1 BETA2 EPSILON     float32; dense updates",
        "#   seed SEED                       nn_rng_seed of the dropout stream",
        "#   genres GENRE_0..GENRE_I-1       (deep only; empty otherwise)",
        "#   tensors N, then N x: tensor NAME ROWS K, ROWS*K float32 (rows unpadded;",
        "#     a Dense kernel is one row of C*O floats, (C, O) row-major)",
        "#   infer_init B floats: pred without dropout (inference) on those weights,",
        "#     for step 1's batch",
        "#   per step s = 1..STEPS:",
        "#     step s",
        "#     users U_0..U_B-1  items I_0..  ratings R_0..  this step's batch (row indices)",
        "#     masks N, then N x: mask NAME COUNT, COUNT floats (the dropout masks the",
        "#       C code must draw; NAME embed | user | item | hidden_L)",
        "#     pred B floats; loss (float64, before the update)",
        "#     grad NAME ROWS*K  for each tensor, in the order above (float64)",
        "#     param NAME ROWS*K for each tensor: float32 parameters after the update",
        "#   infer_final B floats: pred without dropout on the last step's parameters,",
        "#     for step 1's batch",
        "#   end",
    ]
    for spec in MODELS:
        ref = trajectory(spec, np.float64, check=True)
        lo = trajectory(spec, np.float32)
        worst = sanity(spec, ref, lo)
        emit(spec, ref, worst, out)
        print("%s: stand-in/tolerance %s" % (spec["kind"], worst), file=sys.stderr)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
