#!/usr/bin/python3
"""recipes_ref.py -- the notebook recipes trained end to end by an independent
NumPy implementation, for tests/test_ref.c's loss-curve comparison.

Writes tests/ref/recipes.txt (the C tests never run Python). Run it by hand
from the repository root when the fixture must change (about a minute):

    /usr/bin/python3 tests/ref/recipes_ref.py > tests/ref/recipes.txt

Each recipe (mf8, cfmodel, deep-genre: see embrec train --help) is trained on
the bundled synthetic sample data/ (never MovieLens) with the Keras 2.1.6
semantics of DESIGN.md section 3, written here from the formulas in float64:

  rows     data/ratings.csv in file order, users and movies numbered in order
           of first appearance (embrec's id maps); deep-genre's genre strings
           numbered in sorted order (data/movies.csv)
  shuffle  df.sample(frac=1, random_state=SHUFFLE_SEED): the rows taken in the
           order of np.random.RandomState(SHUFFLE_SEED).permutation(n)
           (embrec: --shuffle numpy:SHUFFLE_SEED)
  split    validation_split f: rows [int(n (1 - f)), n) validate
  weights  Keras's initialisers, drawn from np.random.RandomState(WEIGHT_SEED)
           in the model's tensor order: user_embedding (U, K), item_embedding
           (I, K), genre_embedding (G, K) as uniform(-0.05, 0.05); each Dense
           kernel (C, O) as glorot_uniform, uniform(-l, l), l = sqrt(6/(C+O));
           Dense biases 0 (no draws). Cast to float32, as Keras stores them.
           (The C test draws the same arrays with data_np_rng, writes them as
           .npy files and loads them with mf_load_weights: --init-from.)
  batches  np.random.seed(ORDER_SEED), then every epoch
           np.random.shuffle(index_array) on one array that starts as
           np.arange(n_train), as Keras's fit(shuffle=True) does
           (embrec: --batch-order numpy:ORDER_SEED)
  dropout  (deep-genre) the masks embrec draws: nn.c's xoshiro256** seeded
           with TRAIN_SEED ^ 0x9e3779b97f4a7c15, models_ref.py's Rng and rule,
           in mf.c's order (the concatenation's mask, then each hidden layer's)
  loss     MSE, the epoch's loss the batch-size-weighted mean of each batch's
           loss before its update; val_loss the MSE on the validation rows
           after the epoch, without dropout
  update   Adam or AdaMax with lr_t in float32 as Keras computes it, every
           other operation in float64. dense: every parameter every step
           (rows outside the batch get g = 0 but still decay and move); lazy:
           embedding rows only when the batch uses them, with the global t

The deviation from float32 arithmetic is estimated by running every recipe a
second time with parameters, moments and activations in float32 (NumPy's
own summation order); the largest relative gap between the two per-epoch
curves is written as a comment beside each block, and test_ref.c's
tolerance is derived from it (see RR_TOL there).
"""
import csv
import sys

import numpy as np

from models_ref import Rng, dropout_mask

f32 = np.float32
SHUFFLE_SEED = 2018
ORDER_SEED = 7
TRAIN_SEED = 1  # embrec's --seed: the dropout stream

RECIPES = [
    dict(name="mf8", kind="dot", K=8, centre=True, opt="adam", lr=0.01, eps=1e-8, batch=5000,
         val=0.05, epochs=10, weight_seed=8),
    dict(name="cfmodel", kind="dot", K=100, centre=False, opt="adamax", lr=0.002, eps=1e-7,
         batch=32, val=0.1, epochs=3, weight_seed=3),
    dict(name="deep-genre", kind="deep", K=50, hidden=[64, 10], dropout_embed=0.2,
         dropout_hidden=0.2, opt="adam", lr=0.001, eps=1e-7, batch=32, val=0.2, epochs=2,
         weight_seed=2),
]
BETA1, BETA2 = 0.9, 0.999


def read_sample():
    users, items, rows = {}, {}, []
    with open("data/ratings.csv", newline="") as f:
        r = csv.reader(f)
        next(r)
        for uid, mid, rating, _ in r:
            u = users.setdefault(int(uid), len(users))
            i = items.setdefault(int(mid), len(items))
            rows.append((u, i, float(rating)))
    genres_of = {}
    with open("data/movies.csv", newline="") as f:
        r = csv.reader(f)
        next(r)
        for mid, _, genres in r:
            genres_of[int(mid)] = genres
    raw_items = sorted(items, key=items.get)
    strings = [genres_of.get(m, "") for m in raw_items]
    names = sorted(set(strings), key=lambda s: s.encode())
    item_genre = np.array([names.index(s) for s in strings])
    u = np.array([x[0] for x in rows])
    i = np.array([x[1] for x in rows])
    y = np.array([x[2] for x in rows], dtype=f32)
    return u, i, y, len(users), len(items), item_genre, len(names), users, items


def layer_sizes(rc):
    ins = [3 * rc["K"]] + rc["hidden"]
    return list(zip(ins, rc["hidden"] + [1]))


def initial_weights(rc, U, I, G):
    rs = np.random.RandomState(rc["weight_seed"])
    K = rc["K"]
    W = {"user_embedding": rs.uniform(-0.05, 0.05, (U, K)).astype(f32),
         "item_embedding": rs.uniform(-0.05, 0.05, (I, K)).astype(f32)}
    if rc["kind"] == "deep":
        W["genre_embedding"] = rs.uniform(-0.05, 0.05, (G, K)).astype(f32)
        for l, (c, o) in enumerate(layer_sizes(rc)):
            limit = np.sqrt(6.0 / (c + o))
            W["dense_%d/kernel" % (l + 1)] = rs.uniform(-limit, limit, (c, o)).astype(f32)
            W["dense_%d/bias" % (l + 1)] = np.zeros(o, dtype=f32)
    return W


def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Model:
    def __init__(self, rc, W, mean, lo, hi, item_genre, dt):
        self.rc, self.dt = rc, dt
        self.W = {k: v.astype(dt) for k, v in W.items()}
        self.mean, self.lo, self.hi = dt(mean), dt(lo), dt(hi)
        self.item_genre = item_genre

    def forward(self, u, i, masks=None):
        """pred (B) and the cache backward needs; masks None: inference"""
        W, dt, rc = self.W, self.dt, self.rc
        if rc["kind"] == "dot":
            p, q = W["user_embedding"][u], W["item_embedding"][i]
            pred = np.sum(p * q, axis=1)
            if rc["centre"]:
                pred = pred + self.mean
            return pred, (p, q)
        g = self.item_genre[i]
        e = np.concatenate([W["user_embedding"][u], W["item_embedding"][i],
                            W["genre_embedding"][g]], axis=1)
        x = e * masks["embed"].astype(dt) if masks else e
        xs, acts = [x], []
        L = len(rc["hidden"])
        for l in range(L):
            a = np.maximum(xs[l] @ W["dense_%d/kernel" % (l + 1)] + W["dense_%d/bias" % (l + 1)],
                           dt(0))
            acts.append(a)
            xs.append(a * masks["hidden_%d" % (l + 1)].astype(dt) if masks else a)
        z = xs[L] @ W["dense_%d/kernel" % (L + 1)] + W["dense_%d/bias" % (L + 1)]
        s = sigmoid(z[:, 0]).astype(dt)
        return self.lo + (self.hi - self.lo) * s, (xs, acts, s, g)

    def backward(self, u, i, y, pred, cache, masks):
        W, dt, rc = self.W, self.dt, self.rc
        B = len(u)
        dpred = dt(2) * (pred - y.astype(dt)) / dt(B)   # d mean (pred - y)^2
        G = {}
        if rc["kind"] == "dot":
            p, q = cache
            G["user_embedding"] = np.zeros_like(W["user_embedding"])
            G["item_embedding"] = np.zeros_like(W["item_embedding"])
            np.add.at(G["user_embedding"], u, dpred[:, None] * q)   # repeated rows add up
            np.add.at(G["item_embedding"], i, dpred[:, None] * p)
            return G
        xs, acts, s, g = cache
        L = len(rc["hidden"])
        dz = ((self.hi - self.lo) * dpred * s * (dt(1) - s))[:, None]  # pred = lo + range σ(z)
        for l in range(L, -1, -1):
            G["dense_%d/kernel" % (l + 1)] = xs[l].T @ dz
            G["dense_%d/bias" % (l + 1)] = dz.sum(axis=0)
            dx = dz @ W["dense_%d/kernel" % (l + 1)].T
            if l == 0:
                break
            dz = dx * masks["hidden_%d" % l].astype(dt) * (acts[l - 1] > 0)  # Dropout, ReLU
        de = dx * masks["embed"].astype(dt)
        K = rc["K"]
        for name, rows, part in (("user_embedding", u, de[:, :K]),
                                 ("item_embedding", i, de[:, K:2 * K]),
                                 ("genre_embedding", g, de[:, 2 * K:])):
            G[name] = np.zeros_like(W[name])
            np.add.at(G[name], rows, part)
        return G


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


def train(rc, data, update, dt):
    u_all, i_all, y_all, U, I, item_genre, G, _, _ = data
    n = len(u_all)
    perm = np.random.RandomState(SHUFFLE_SEED).permutation(n)   # df.sample(frac=1)
    u_all, i_all, y_all = u_all[perm], i_all[perm], y_all[perm]
    at = int(n * (1.0 - rc["val"]))
    tu, ti, ty = u_all[:at], i_all[:at], y_all[:at]
    vu, vi, vy = u_all[at:], i_all[at:], y_all[at:]
    mean = float(f32(np.mean(y_all.astype(np.float64))))          # μ of all rows, float32
    W = initial_weights(rc, U, I, G)
    model = Model(rc, W, mean, float(y_all.min()), float(y_all.max()), item_genre, dt)
    m = {k: np.zeros_like(w) for k, w in model.W.items()}
    v = {k: np.zeros_like(w) for k, w in model.W.items()}
    order = np.random.RandomState(ORDER_SEED)
    index_array = np.arange(at)
    dropout = Rng(TRAIN_SEED ^ 0x9E3779B97F4A7C15)
    B, t, curve = rc["batch"], 0, []
    for _ in range(rc["epochs"]):
        order.shuffle(index_array)                                # fit(shuffle=True)
        total = 0.0
        for start in range(0, at, B):
            idx = index_array[start:start + B]
            u, i, y = tu[idx], ti[idx], ty[idx]
            masks = None
            if rc["kind"] == "deep":
                masks = {"embed": dropout_mask(dropout, (len(idx), 3 * rc["K"]),
                                               rc["dropout_embed"])}
                for l, h in enumerate(rc["hidden"]):
                    masks["hidden_%d" % (l + 1)] = dropout_mask(dropout, (len(idx), h),
                                                                rc["dropout_hidden"])
            pred, cache = model.forward(u, i, masks)
            loss = float(np.mean((pred.astype(np.float64) - y.astype(np.float64)) ** 2))
            total += loss * len(idx)
            G_ = model.backward(u, i, y, pred, cache, masks)
            touched = {"user_embedding": np.unique(u), "item_embedding": np.unique(i)}
            if rc["kind"] == "deep":
                touched["genre_embedding"] = np.unique(item_genre[i])
            t += 1
            step(rc, model, G_, m, v, t, touched, update == "lazy")
        vpred, _ = model.forward(vu, vi)
        val = float(np.mean((vpred.astype(np.float64) - vy.astype(np.float64)) ** 2))
        curve.append((total / at, val))
    return curve, W, (at, n - at), perm


def main():
    data = read_sample()
    _, _, _, U, I, _, G, users, items = data
    raw_u = sorted(users, key=users.get)
    raw_i = sorted(items, key=items.get)
    print("# tests/ref/recipes.txt -- per-epoch loss and val_loss of embrec's recipes on")
    print("# the bundled sample, by an independent NumPy implementation (float64).")
    print("# Written by /usr/bin/python3 tests/ref/recipes_ref.py (NumPy %s)." % np.__version__)
    print("# Do not edit by hand; loaded by tests/test_ref.c. Per block:")
    print("#   recipe NAME UPDATE            dense or lazy")
    print("#   seeds SHUFFLE ORDER WEIGHTS TRAIN")
    print("#   epochs E  rows N_TRAIN N_VAL  sizes U I G")
    print("#   first U0 I0 U1 I1 U2 I2       raw ids of the first training rows after the shuffle")
    print("#   weights NAME SUM SUMSQ        float64 sums over each initial tensor")
    print("#   epoch E LOSS VAL_LOSS")
    print("#   end")
    for rc in RECIPES:
        for update in ("dense", "lazy"):
            curve, W, (ntr, nva), perm = train(rc, data, update, np.float64)
            c32, _, _, _ = train(rc, data, update, np.float32)
            gap = max(max(abs(a[0] - b[0]) / b[0], abs(a[1] - b[1]) / b[1])
                      for a, b in zip(c32, curve))
            print("recipe %s %s" % (rc["name"], update))
            print("# float32 rerun (NumPy's summation order): largest relative gap %.2e" % gap)
            print("seeds %d %d %d %d" % (SHUFFLE_SEED, ORDER_SEED, rc["weight_seed"], TRAIN_SEED))
            print("epochs %d rows %d %d sizes %d %d %d" % (rc["epochs"], ntr, nva, U, I,
                                                          G if rc["kind"] == "deep" else 0))
            u_all, i_all = data[0][perm], data[1][perm]
            print("first %s" % " ".join("%d %d" % (raw_u[u_all[k]], raw_i[i_all[k]])
                                        for k in range(3)))
            for k, w in W.items():
                w64 = w.astype(np.float64)
                print("weights %s %.17g %.17g" % (k, w64.sum(), (w64 * w64).sum()))
            for e, (loss, val) in enumerate(curve):
                print("epoch %d %.17g %.17g" % (e + 1, loss, val))
            print("end")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
