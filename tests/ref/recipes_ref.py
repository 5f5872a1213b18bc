#!/usr/bin/python3
"""recipes_ref.py -- the notebook recipes trained end to end by an independent
NumPy implementation, for tests/test_ref.c's loss-curve comparison.

Writes tests/ref/recipes.txt (the C tests never run Python). Run it by hand
from the repository root when the fixture must change (a few minutes):

    /usr/bin/python3 tests/ref/recipes_ref.py > tests/ref/recipes.txt

Each recipe (mf8, cfmodel, deep-genre, neumf: see embrec train --help) is
trained on the bundled synthetic sample data/ (never MovieLens) with the Keras
2.1.6 semantics of DESIGN.md section 3, written here from the formulas in
float64:

  rows     data/ratings.csv in file order, users and movies numbered in order
           of first appearance (embrec's id maps); deep-genre's genre strings
           numbered in sorted order (data/movies.csv)
  shuffle  df.sample(frac=1, random_state=SHUFFLE_SEED): the rows taken in the
           order of np.random.RandomState(SHUFFLE_SEED).permutation(n)
           (embrec: --shuffle numpy:SHUFFLE_SEED); neumf (implicit) does not
           shuffle
  split    validation_split f: rows [int(n (1 - f)), n) validate. neumf: each
           user's latest row (the last in file order among equal timestamps)
           is held out, unless it is the user's only row; the rest train, in
           file order (data_split_latest)
  weights  Keras's initialisers, drawn from np.random.RandomState(WEIGHT_SEED)
           in the model's tensor order: user_embedding (U, K), item_embedding
           (I, K), genre_embedding (G, K) as uniform(-0.05, 0.05); each Dense
           kernel (C, O) as glorot_uniform, uniform(-l, l), l = sqrt(6/(C+O)),
           neumf's output kernel as lecun_uniform, l = sqrt(3/C); Dense biases
           0 (no draws). Cast to float32, as Keras stores them. (The C test
           draws the same arrays with data_np_rng, writes them as .npy files
           and loads them with mf_load_weights: --init-from.)
  samples  neumf: every training pair labelled 1, each followed by NEGATIVES
           items the user has not trained on, labelled 0, drawn afresh every
           epoch by embrec's generator (nn.c's xoshiro256** seeded with
           TRAIN_SEED, nn_rng_below, rejecting the user's training items):
           mf.c's sample_epoch, re-implemented
  batches  np.random.seed(ORDER_SEED), then every epoch
           np.random.shuffle(index_array) on one array that starts as
           np.arange(n_samples), as Keras's fit(shuffle=True) does
           (embrec: --batch-order numpy:ORDER_SEED)
  dropout  the masks embrec draws: nn.c's xoshiro256** seeded with
           TRAIN_SEED ^ 0x9e3779b97f4a7c15, models_ref.py's Rng and rule, in
           mf.c's order (deep: the concatenation's mask, then each hidden
           layer's; neumf: the user's, the item's, then the hidden layer's)
  loss     MSE (neumf: binary cross-entropy on the logit); the epoch's loss
           the batch-size-weighted mean of each batch's loss before its update
  val      val_loss: the MSE on the validation rows after the epoch, without
           dropout. neumf: each held-out item ranked against RANK_NEG distinct
           items the user has neither trained on nor holds out, drawn by a
           generator seeded with TRAIN_SEED afresh for every evaluation
           (mf.c's rank_with); rank = how many of them score >= the held-out
           item; HR@10 = share of rank < 10, NDCG@10 = mean of 1/log2(rank+2)
  update   Adam or AdaMax with lr_t in float32 as Keras computes it, every
           other operation in float64. dense: every parameter every step
           (rows outside the batch get g = 0 but still decay and move); lazy:
           embedding rows only when the batch uses them, with the global t

Every recipe runs twice in lockstep, on the same batches, masks and
negatives: in float64 (the fixture) and with parameters, moments and
activations in float32 (NumPy's own summation order), a stand-in for
embrec's rounding. The largest relative gap between the two per-epoch curves
is written as a comment beside each block, and test_ref.c's tolerance is
derived from it (see RR_RTOL there).

The comparison is only meaningful where the training path is a continuous
function of rounding, and two places are not:
  ReLU     its derivative jumps at 0. A pre-activation that passes within
           float32's rounding of zero takes one branch in one implementation
           and the other branch in another; from that step on they train
           different models. deep-genre as the recipe has it (ReLU) does this
           on the sample: at step 448 (epoch 2) a kept unit of the second
           hidden layer has z = +1.07e-7 here and -3e-8 in embrec (whose
           weights are as close to these as the float32 stand-in's), so
           embrec's val_loss differs by 1.6e-4 after epoch 2; flipping that
           one unit here reproduces embrec's epoch-2 curve to 1e-7. Every
           2-epoch ReLU run on the sample has such steps (a kept unit within
           one RMS rounding error of 0), so the fixture's deep-genre blocks
           use tanh, the recipe otherwise unchanged, and the script refuses
           a ReLU block whose smallest |z| is under KINK_MARGIN times the
           float32 stand-in's deviation in that layer at that step. The ReLU
           layers themselves are checked step by step by models_ref.py.
  ranking  HR and NDCG count comparisons of scores. A comparison whose two
           scores are closer than RANK_MARGIN times the float32 stand-in's
           largest score deviation (that epoch) may go either way, so each
           epoch's HR and NDCG are written with the bounds they have when
           every such comparison goes either way (equal to the value where
           none can move it); the stand-in must land within them, and so must
           embrec.
"""
import csv
import math
import sys

import numpy as np

from models_ref import M64, Rng

f32 = np.float32
SHUFFLE_SEED = 2018
ORDER_SEED = 7
TRAIN_SEED = 1  # embrec's --seed: the dropout stream, neumf's negatives and ranking
KINK_MARGIN = 10.0
RANK_MARGIN = 10.0

RECIPES = [
    dict(name="mf8", kind="dot", K=8, centre=True, opt="adam", lr=0.01, eps=1e-8, batch=5000,
         val=0.05, epochs=10, weight_seed=8),
    dict(name="cfmodel", kind="dot", K=100, centre=False, opt="adamax", lr=0.002, eps=1e-7,
         batch=32, val=0.1, epochs=3, weight_seed=3),
    dict(name="deep-genre", kind="deep", K=50, hidden=[64, 10], act="tanh", dropout_embed=0.2,
         dropout_hidden=0.2, opt="adam", lr=0.001, eps=1e-7, batch=32, val=0.2, epochs=3,
         weight_seed=2),
    dict(name="neumf", kind="neumf", K=100, hidden=[50], act="linear", dropout_embed=0.5,
         dropout_hidden=0.5, opt="adam", lr=0.001, eps=1e-7, batch=256, negatives=4,
         rank_k=10, rank_neg=99, epochs=3, weight_seed=4),
]
BETA1, BETA2 = 0.9, 0.999


# ------------------------------------------------------------ data

def read_sample():
    users, items, rows = {}, {}, []
    with open("data/ratings.csv", newline="") as f:
        r = csv.reader(f)
        next(r)
        for uid, mid, rating, ts in r:
            u = users.setdefault(int(uid), len(users))
            i = items.setdefault(int(mid), len(items))
            rows.append((u, i, float(rating), int(ts)))
    genres_of = {}
    with open("data/movies.csv", newline="") as f:
        r = csv.reader(f)
        next(r)
        for mid, _, genres in r:
            genres_of[int(mid)] = genres
    raw_items = sorted(items, key=items.get)
    strings = [genres_of.get(m, "") for m in raw_items]
    names = sorted(set(strings), key=lambda s: s.encode())
    return dict(u=np.array([x[0] for x in rows]), i=np.array([x[1] for x in rows]),
                y=np.array([x[2] for x in rows], dtype=f32),
                time=np.array([x[3] for x in rows]), U=len(users), I=len(items),
                item_genre=np.array([names.index(s) for s in strings]), G=len(names),
                raw_u=sorted(users, key=users.get), raw_i=raw_items)


def split(rc, data):
    """(train, val) as index arrays into the file's rows, in their order"""
    n = len(data["u"])
    if rc["kind"] == "neumf":  # data_split_latest
        latest, count = {}, {}
        for k, (u, t) in enumerate(zip(data["u"], data["time"])):
            count[u] = count.get(u, 0) + 1
            if u not in latest or t >= data["time"][latest[u]]:
                latest[u] = k
        held = np.array([count[u] > 1 and latest[u] == k for k, u in enumerate(data["u"])])
        rows = np.arange(n)
        return rows[~held], rows[held]
    perm = np.random.RandomState(SHUFFLE_SEED).permutation(n)   # df.sample(frac=1)
    at = int(n * (1.0 - rc["val"]))
    return perm[:at], perm[at:]


# ------------------------------------------------------------ embrec's generator

def uniforms(rng, n):
    """n successive Rng.uniform() values as an array: Rng.next's loop inlined"""
    s0, s1, s2, s3 = rng.s
    out = []
    app = out.append
    for _ in range(n):
        x = (s1 * 5) & M64
        app(((((x << 7) | (x >> 57)) & M64) * 9 & M64) >> 11)
        t = (s1 << 17) & M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & M64
    rng.s[:] = [s0, s1, s2, s3]
    return np.array(out, dtype=np.float64) * 2.0 ** -53


def keep_mask(rng, shape, rate):
    """nn_dropout_forward's mask: 0 or float32(1/(1 - rate)) (models_ref's dropout_mask)"""
    if rate == 0.0:  # Keras: no dropout, and no draws
        return np.ones(shape, dtype=f32)
    rate32 = f32(rate)
    scale = f32(1.0) / (f32(1.0) - rate32)
    u = uniforms(rng, int(np.prod(shape))).reshape(shape)
    return np.where(u >= float(rate32), scale, f32(0.0)).astype(f32)


def below(rng, n):
    """nn_rng_below: uniform in [0, n) by rejecting the top 2^64 mod n values' complement"""
    threshold = ((1 << 64) - n) % n
    while True:
        r = rng.next()
        if r >= threshold:
            return r % n


def draw_masks(rc, rng, B):
    K = rc["K"]
    masks = {}
    if rc["kind"] == "deep":
        masks["embed"] = keep_mask(rng, (B, 3 * K), rc["dropout_embed"])
    else:
        masks["user"] = keep_mask(rng, (B, K), rc["dropout_embed"])
        masks["item"] = keep_mask(rng, (B, K), rc["dropout_embed"])
    for l, h in enumerate(rc["hidden"]):
        masks["hidden_%d" % (l + 1)] = keep_mask(rng, (B, h), rc["dropout_hidden"])
    return masks


def sample_epoch(rc, tu, ti, seen, I, rng):
    """mf.c's sample_epoch: each positive, then its negatives"""
    su, si, sy = [], [], []
    for u, i in zip(tu, ti):
        su.append(u)
        si.append(i)
        sy.append(1.0)
        for _ in range(rc["negatives"]):
            if len(seen[u]) >= I:
                break
            while True:
                j = below(rng, I)
                if j not in seen[u]:
                    break
            su.append(u)
            si.append(j)
            sy.append(0.0)
    return np.array(su), np.array(si), np.array(sy, dtype=f32)


class Draws:
    """the random draws of a run, which do not depend on the weights: made by
    the first run and replayed by the next (dense and lazy, float64 and 32)"""

    def __init__(self, rc):
        self.rc = rc
        self.dropout = Rng(TRAIN_SEED ^ 0x9E3779B97F4A7C15)
        self.negatives = Rng(TRAIN_SEED)
        self.masks, self.samples = {}, {}

    def mask(self, key, B):
        if key not in self.masks:
            self.masks[key] = draw_masks(self.rc, self.dropout, B)
        return self.masks[key]

    def epoch_samples(self, epoch, tu, ti, seen, I):
        if epoch not in self.samples:
            self.samples[epoch] = sample_epoch(self.rc, tu, ti, seen, I, self.negatives)
        return self.samples[epoch]


# ------------------------------------------------------------ the models

def layer_sizes(rc):
    ins = [3 * rc["K"] if rc["kind"] == "deep" else rc["K"]] + rc["hidden"]
    return list(zip(ins, rc["hidden"] + [1]))


def initial_weights(rc, data):
    rs = np.random.RandomState(rc["weight_seed"])
    K = rc["K"]
    W = {"user_embedding": rs.uniform(-0.05, 0.05, (data["U"], K)).astype(f32),
         "item_embedding": rs.uniform(-0.05, 0.05, (data["I"], K)).astype(f32)}
    if rc["kind"] == "deep":
        W["genre_embedding"] = rs.uniform(-0.05, 0.05, (data["G"], K)).astype(f32)
    if rc["kind"] in ("deep", "neumf"):
        sizes = layer_sizes(rc)
        for l, (c, o) in enumerate(sizes):
            if rc["kind"] == "neumf" and l == len(sizes) - 1:
                limit = np.sqrt(3.0 / c)          # lecun_uniform
            else:
                limit = np.sqrt(6.0 / (c + o))    # glorot_uniform
            W["dense_%d/kernel" % (l + 1)] = rs.uniform(-limit, limit, (c, o)).astype(f32)
            W["dense_%d/bias" % (l + 1)] = np.zeros(o, dtype=f32)
    return W


def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def act_forward(z, act, dt):
    if act == "relu":
        return np.maximum(z, dt(0))
    if act == "tanh":
        return np.tanh(z)
    return z


def act_backward(da, a, act, dt):
    if act == "relu":
        return da * (a > 0)
    if act == "tanh":
        return da * (dt(1) - a * a)
    return da


class Model:
    def __init__(self, rc, W, mean, lo, hi, item_genre, dt):
        self.rc, self.dt = rc, dt
        self.W = {k: v.astype(dt) for k, v in W.items()}
        self.mean, self.lo, self.hi = dt(mean), dt(lo), dt(hi)
        self.item_genre = item_genre

    def forward(self, u, i, masks=None):
        """the output (B): a rating, or neumf's logit; masks None: inference"""
        W, dt, rc = self.W, self.dt, self.rc
        if rc["kind"] == "dot":
            p, q = W["user_embedding"][u], W["item_embedding"][i]
            pred = np.sum(p * q, axis=1)
            if rc["centre"]:
                pred = pred + self.mean
            return pred, (p, q)
        M = {k: v.astype(dt) for k, v in masks.items()} if masks else None
        c = {}
        if rc["kind"] == "deep":
            c["g"] = self.item_genre[i]
            e = np.concatenate([W["user_embedding"][u], W["item_embedding"][i],
                                W["genre_embedding"][c["g"]]], axis=1)
            x = e * M["embed"] if M else e
        else:  # neumf: Dropout(P[u]) * Dropout(Q[i])
            c["pu"] = W["user_embedding"][u] * M["user"] if M else W["user_embedding"][u]
            c["qi"] = W["item_embedding"][i] * M["item"] if M else W["item_embedding"][i]
            x = c["pu"] * c["qi"]
        c["x"], c["a"], c["z"] = [x], [], []
        L = len(rc["hidden"])
        for l in range(L):
            z = c["x"][l] @ W["dense_%d/kernel" % (l + 1)] + W["dense_%d/bias" % (l + 1)]
            a = act_forward(z, rc["act"], dt)
            c["z"].append(z)
            c["a"].append(a)
            c["x"].append(a * M["hidden_%d" % (l + 1)] if M else a)
        out = (c["x"][L] @ W["dense_%d/kernel" % (L + 1)] + W["dense_%d/bias" % (L + 1)])[:, 0]
        if rc["kind"] == "neumf":
            return out, c
        c["s"] = sigmoid(out).astype(dt)
        return self.lo + (self.hi - self.lo) * c["s"], c

    def backward(self, u, i, dout, cache, masks):
        """every gradient, given dout = dL/d(output) (B)"""
        W, dt, rc = self.W, self.dt, self.rc
        G = {}
        if rc["kind"] == "dot":
            p, q = cache
            G["user_embedding"] = np.zeros_like(W["user_embedding"])
            G["item_embedding"] = np.zeros_like(W["item_embedding"])
            np.add.at(G["user_embedding"], u, dout[:, None] * q)   # repeated rows add up
            np.add.at(G["item_embedding"], i, dout[:, None] * p)
            return G
        M = {k: v.astype(dt) for k, v in masks.items()}
        c = cache
        L = len(rc["hidden"])
        if rc["kind"] == "neumf":
            dz = dout[:, None]
        else:  # pred = lo + range σ(z)
            dz = ((self.hi - self.lo) * dout * c["s"] * (dt(1) - c["s"]))[:, None]
        for l in range(L, -1, -1):
            G["dense_%d/kernel" % (l + 1)] = c["x"][l].T @ dz
            G["dense_%d/bias" % (l + 1)] = dz.sum(axis=0)
            dx = dz @ W["dense_%d/kernel" % (l + 1)].T
            if l == 0:
                break
            dz = act_backward(dx * M["hidden_%d" % l], c["a"][l - 1], rc["act"], dt)
        for name in ("user_embedding", "item_embedding", "genre_embedding"):
            if name in W:
                G[name] = np.zeros_like(W[name])
        K = rc["K"]
        if rc["kind"] == "deep":
            de = dx * M["embed"]
            np.add.at(G["user_embedding"], u, de[:, :K])
            np.add.at(G["item_embedding"], i, de[:, K:2 * K])
            np.add.at(G["genre_embedding"], c["g"], de[:, 2 * K:])
        else:  # x0 = pu * qi, through each Dropout
            np.add.at(G["user_embedding"], u, dx * c["qi"] * M["user"])
            np.add.at(G["item_embedding"], i, dx * c["pu"] * M["item"])
        return G


def loss_and_grad(rc, out, y, dt):
    """the batch's loss (float64) and dL/d(output) in dt"""
    o64, y64 = out.astype(np.float64), y.astype(np.float64)
    B = len(y)
    if rc["kind"] == "neumf":  # BCE on the logit, in its stable form
        loss = np.mean(np.maximum(o64, 0) - o64 * y64 + np.log1p(np.exp(-np.abs(o64))))
        return float(loss), (sigmoid(out).astype(dt) - y.astype(dt)) / dt(B)
    return float(np.mean((o64 - y64) ** 2)), dt(2) * (out - y.astype(dt)) / dt(B)


def lr_t_of(rc, t):
    """Keras, in float32: Adam lr sqrt(1 - b2^t)/(1 - b1^t); AdaMax lr/(1 - b1^t)"""
    lr, b1, b2, tf = f32(rc["lr"]), f32(BETA1), f32(BETA2), f32(t)
    if rc["opt"] == "adam":
        return float(f32(lr * (np.sqrt(f32(1) - b2 ** tf) / (f32(1) - b1 ** tf))))
    return float(f32(lr / (f32(1) - b1 ** tf)))


def step(rc, model, G, m, v, t, touched, lazy):
    dt = model.dt
    b1, b2, eps = dt(f32(BETA1)), dt(f32(BETA2)), dt(f32(rc["eps"]))
    lr_t = dt(lr_t_of(rc, t))
    for k, w in model.W.items():
        rows = touched.get(k) if lazy else None
        sel = rows if rows is not None else slice(None)
        g = G[k][sel]
        m[k][sel] = b1 * m[k][sel] + (dt(1) - b1) * g
        if rc["opt"] == "adam":
            v[k][sel] = b2 * v[k][sel] + (dt(1) - b2) * g * g
            w[sel] = w[sel] - lr_t * m[k][sel] / (np.sqrt(v[k][sel]) + eps)
        else:
            v[k][sel] = np.maximum(b2 * v[k][sel], np.abs(g))
            w[sel] = w[sel] - lr_t * m[k][sel] / (v[k][sel] + eps)


# ------------------------------------------------------------ ranking

def rank_negatives(data, train, val):
    """mf.c's sample_negatives for every held-out row, in user order: (user,
    held-out item, negatives); the same every epoch (one seed)"""
    U, I = data["U"], data["I"]
    tr = [set() for _ in range(U)]
    te = [set() for _ in range(U)]
    for k in train:
        tr[data["u"][k]].add(int(data["i"][k]))
    for k in val:
        te[data["u"][k]].add(int(data["i"][k]))
    rng = Rng(TRAIN_SEED)
    out = []
    for u in range(U):
        for t in sorted(te[u]):
            n_neg = min(99, I - len(tr[u]) - len(te[u]))
            neg = []
            while len(neg) < n_neg:
                j = below(rng, I)
                if j in tr[u] or j in te[u]:
                    continue
                if j not in neg:
                    neg.append(j)
            out.append((u, t, np.array(neg)))
    return out


def score_all(model, U, I):
    """every user's logit for every item, without dropout: (U, I)"""
    u = np.repeat(np.arange(U), I)
    i = np.tile(np.arange(I), U)
    return model.forward(u, i)[0].reshape(U, I)


def ranking(scores, cases, k, fuzz=0.0):
    """HR@k and NDCG@k, each with the bounds it has when every comparison
    whose two scores are within fuzz may go either way: a rank lies between
    the negatives that score above the held-out item by at least fuzz and
    those plus the ambiguous ones. Returns ((hr, hr_lo, hr_hi), (ndcg,
    ndcg_lo, ndcg_hi), the number of ambiguous comparisons)."""
    hr, ndcg = np.zeros(3), np.zeros(3)
    n_amb = 0
    for u, t, neg in cases:
        d = scores[u, neg] - scores[u, t]
        sure, amb = int(np.sum(d >= fuzz)), int(np.sum(np.abs(d) < fuzz))
        n_amb += amb
        for col, rank in enumerate((int(np.sum(d >= 0)), sure + amb, sure)):
            if rank < k:
                hr[col] += 1.0
                ndcg[col] += 1.0 / math.log2(rank + 2.0)
    return tuple(hr / len(cases)), tuple(ndcg / len(cases)), n_amb


# ------------------------------------------------------------ training

def train(rc, data, update, draws):
    """the recipe in float64 and float32 in lockstep: per-epoch curves of both
    and the smallest margins of the discontinuous decisions"""
    tr, va = split(rc, data)
    implicit = rc["kind"] == "neumf"
    tu, ti, ty = data["u"][tr], data["i"][tr], data["y"][tr]
    vu, vi, vy = data["u"][va], data["i"][va], data["y"][va]
    mean = float(f32(np.mean(data["y"].astype(np.float64))))   # μ of all rows, float32
    W = initial_weights(rc, data)
    models = [Model(rc, W, mean, float(data["y"].min()), float(data["y"].max()),
                    data["item_genre"], dt) for dt in (np.float64, np.float32)]
    ms = [{k: np.zeros_like(w) for k, w in md.W.items()} for md in models]
    vs = [{k: np.zeros_like(w) for k, w in md.W.items()} for md in models]
    seen = [set() for _ in range(data["U"])]
    for u, i in zip(tu, ti):
        seen[u].add(int(i))
    cases = rank_negatives(data, tr, va) if implicit else None
    n = len(tr) * (1 + rc["negatives"]) if implicit else len(tr)
    order = np.random.RandomState(ORDER_SEED)
    index_array = np.arange(n)
    B, t = rc["batch"], 0
    curves = [[], []]
    kink = (np.inf, 0)    # smallest |z| / float32 deviation over kept ReLU units, step
    rank = []             # per epoch: ambiguous comparisons, the stand-in's score deviation
    for epoch in range(rc["epochs"]):
        if implicit:
            su, si, sy = draws.epoch_samples(epoch, tu, ti, seen, data["I"])
        else:
            su, si, sy = tu, ti, ty
        assert len(su) == n
        order.shuffle(index_array)                                # fit(shuffle=True)
        totals = [0.0, 0.0]
        for bno, start in enumerate(range(0, n, B)):
            idx = index_array[start:start + B]
            u, i, y = su[idx], si[idx], sy[idx]
            masks = draws.mask((epoch, bno), len(idx)) if rc["kind"] != "dot" else None
            touched = {"user_embedding": np.unique(u), "item_embedding": np.unique(i)}
            if rc["kind"] == "deep":
                touched["genre_embedding"] = np.unique(data["item_genre"][i])
            t += 1
            zs = []
            for k, md in enumerate(models):
                out, cache = md.forward(u, i, masks)
                loss, dout = loss_and_grad(rc, out, y, md.dt)
                totals[k] += loss * len(idx)
                if rc["kind"] != "dot":
                    zs.append(cache["z"])
                step(rc, md, md.backward(u, i, dout, cache, masks), ms[k], vs[k], t, touched,
                     update == "lazy")
            if rc["kind"] != "dot" and rc["act"] == "relu":
                for l, (z64, z32) in enumerate(zip(*zs)):
                    dev = np.max(np.abs(z32.astype(np.float64) - z64))
                    live = masks["hidden_%d" % (l + 1)] > 0
                    r = np.min(np.where(live, np.abs(z64), np.inf)) / dev
                    if r < kink[0]:
                        kink = (r, t)
        if implicit:  # the stand-in's largest score deviation makes the fuzz
            s64, s32 = (score_all(md, data["U"], data["I"]).astype(np.float64) for md in models)
            dev = max(np.max(np.abs(s32[u, np.append(neg, t_)] - s64[u, np.append(neg, t_)]))
                      for u, t_, neg in cases)
            hr, ndcg, amb = ranking(s64, cases, rc["rank_k"], RANK_MARGIN * dev)
            hr32, ndcg32, _ = ranking(s32, cases, rc["rank_k"])
            curves[0].append((totals[0] / n,) + hr + ndcg)
            curves[1].append((totals[1] / n, hr32[0], ndcg32[0]))
            rank.append((amb, dev))
            continue
        for k, md in enumerate(models):
            vpred, _ = md.forward(vu, vi)
            val = float(np.mean((vpred.astype(np.float64) - vy.astype(np.float64)) ** 2))
            curves[k].append((totals[k] / n, val))
    return dict(curve=curves[0], curve32=curves[1], W=W, rows=(len(tr), len(va)),
                first=tr[:3], kink=kink, rank=rank)


def main():
    data = read_sample()
    ref = Rng(5)                        # the inlined generator is Rng's
    assert list(uniforms(Rng(5), 1000)) == [ref.uniform() for _ in range(1000)]
    print("# tests/ref/recipes.txt -- per-epoch loss and val_loss (neumf: loss, HR@10 and")
    print("# NDCG@10) of embrec's recipes on the bundled sample, by an independent NumPy")
    print("# implementation (float64).")
    print("# Written by /usr/bin/python3 tests/ref/recipes_ref.py (NumPy %s)." % np.__version__)
    print("# Do not edit by hand; loaded by tests/test_ref.c. Per block:")
    print("#   recipe NAME UPDATE            dense or lazy")
    print("#   seeds SHUFFLE ORDER WEIGHTS TRAIN")
    print("#   epochs E  rows N_TRAIN N_VAL  sizes U I G")
    print("#   first U0 I0 U1 I1 U2 I2       raw ids of the first training rows")
    print("#   activation A                  networks: the hidden layers' (the recipe's")
    print("#                                 unless it says otherwise)")
    print("#   weights NAME SUM SUMSQ        float64 sums over each initial tensor")
    print("#   epoch E LOSS VAL_LOSS         neumf: epoch E LOSS HR HR_LO HR_HI NDCG NDCG_LO")
    print("#                                 NDCG_HI (HR@10, NDCG@10 and their bounds)")
    print("#   end")
    for rc in RECIPES:
        draws = Draws(rc)
        for update in ("dense", "lazy"):
            r = train(rc, data, update, draws)
            curve, c32 = r["curve"], r["curve32"]
            gap = max(max(abs(a[0] - b[0]) / b[0],  # loss, and val_loss (not HR, NDCG)
                          0.0 if rc["kind"] == "neumf" else abs(a[1] - b[1]) / b[1])
                      for a, b in zip(c32, curve))
            print("recipe %s %s" % (rc["name"], update))
            print("# float32 stand-in (NumPy's summation order): largest relative gap %.2e" % gap)
            if rc["kind"] != "dot" and rc["act"] == "relu":
                print("# smallest kept ReLU |z|: %.2f times the float32 deviation (step %d)"
                      % r["kink"])
                if r["kink"][0] < KINK_MARGIN:
                    sys.exit("recipes_ref.py: %s %s: at step %d a kept ReLU unit is %.2f times "
                             "the float32 rounding from its kink; the curves cannot be "
                             "compared past it" % (rc["name"], update, r["kink"][1],
                                                   r["kink"][0]))
            if rc["kind"] == "neumf":
                print("# ranking: the stand-in's scores deviate by up to %s (epoch by epoch);"
                      % ", ".join("%.1e" % d for _, d in r["rank"]))
                print("# comparisons closer than %g times that may go either way: %s, so HR"
                      % (RANK_MARGIN, ", ".join("%d" % a for a, _ in r["rank"])))
                print("# and NDCG are given with bounds (equal where none can move them)")
                for a, b in zip(r["curve"], c32):  # the stand-in lands within them
                    if not (a[2] <= b[1] <= a[3] and a[5] - 1e-12 <= b[2] <= a[6] + 1e-12):
                        sys.exit("recipes_ref.py: neumf %s: the float32 stand-in's HR or NDCG "
                                 "is outside the bounds" % update)
            print("seeds %d %d %d %d" % (SHUFFLE_SEED, ORDER_SEED, rc["weight_seed"], TRAIN_SEED))
            print("epochs %d rows %d %d sizes %d %d %d" % (
                rc["epochs"], r["rows"][0], r["rows"][1], data["U"], data["I"],
                data["G"] if rc["kind"] == "deep" else 0))
            print("first %s" % " ".join("%d %d" % (data["raw_u"][data["u"][k]],
                                                   data["raw_i"][data["i"][k]])
                                        for k in r["first"]))
            if rc["kind"] != "dot":
                print("activation %s" % rc["act"])
            for k, w in r["W"].items():
                w64 = w.astype(np.float64)
                print("weights %s %.17g %.17g" % (k, w64.sum(), (w64 * w64).sum()))
            for e, vals in enumerate(curve):
                print("epoch %d %s" % (e + 1, " ".join("%.17g" % x for x in vals)))
            print("end")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
