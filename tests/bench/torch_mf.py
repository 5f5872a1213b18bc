#!/usr/bin/env python3
"""The same models and optimiser semantics as embrec, in PyTorch, timed.

Run by `make bench` (tests/bench/bench.sh) beside embrec on the same data:
  dot    r̂ = p_u·q_i                      (cfmodel: k=100, batch 32)
  bias   r̂ = μ + b_u + b_i + p_u·q_i, L2 λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²) per rating
with
  dense  nn.Embedding with dense gradients and torch.optim.Adam / Adamax:
         every row's moments decay and every row moves every step (Keras)
  lazy   nn.Embedding(sparse=True) and torch.optim.SparseAdam: only the rows
         in the batch move (LazyAdam; embrec --update lazy)
The loss is the batch mean squared error, as Keras and embrec compute it.

Only the first STEPS batches of one shuffled epoch are timed (after WARMUP
untimed ones); seconds per epoch are extrapolated to ceil(N / batch) steps.
Prints one line: seconds_per_epoch peak_rss_kb steps_timed
"""
import argparse
import math
import resource
import sys
import time

import numpy as np
import torch


def read_ratings(path, max_rows):
    """userId, movieId, rating from a MovieLens-style CSV (header line) or
    u.data (tab separated, no header); ids re-indexed densely."""
    with open(path) as f:
        first = f.readline()
    tab = "\t" in first
    skip = 0 if tab or first[:1].isdigit() else 1
    data = np.loadtxt(path, delimiter="\t" if tab else ",", skiprows=skip,
                      usecols=(0, 1, 2), max_rows=max_rows, dtype=np.float64)
    users, u = np.unique(data[:, 0].astype(np.int64), return_inverse=True)
    items, i = np.unique(data[:, 1].astype(np.int64), return_inverse=True)
    return u, i, data[:, 2].astype(np.float32), len(users), len(items)


class MF(torch.nn.Module):
    def __init__(self, n_users, n_items, dim, bias, sparse, mean):
        super().__init__()
        self.p = torch.nn.Embedding(n_users, dim, sparse=sparse)
        self.q = torch.nn.Embedding(n_items, dim, sparse=sparse)
        torch.nn.init.uniform_(self.p.weight, -0.05, 0.05)  # Keras "uniform"
        torch.nn.init.uniform_(self.q.weight, -0.05, 0.05)
        self.bias = bias
        if bias:
            self.bu = torch.nn.Embedding(n_users, 1, sparse=sparse)
            self.bi = torch.nn.Embedding(n_items, 1, sparse=sparse)
            torch.nn.init.zeros_(self.bu.weight)
            torch.nn.init.zeros_(self.bi.weight)
        self.mean = mean

    def forward(self, u, i, l2):
        pu, qi = self.p(u), self.q(i)
        pred = (pu * qi).sum(1)
        reg = None
        if self.bias:
            bu, bi = self.bu(u).squeeze(1), self.bi(i).squeeze(1)
            pred = self.mean + bu + bi + pred
            if l2 > 0:
                reg = l2 * ((pu * pu).sum(1) + (qi * qi).sum(1) + bu * bu + bi * bi).mean()
        return pred, reg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", choices=["dot", "bias"], default="dot")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--optimizer", choices=["adam", "adamax"], default="adamax")
    ap.add_argument("--update", choices=["dense", "lazy"], default="dense")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--l2", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--max-rows", type=int, default=None,
                    help="read only this many ratings (the tables still cover them all)")
    ap.add_argument("--total-rows", type=int, default=None,
                    help="ratings in the whole file, when --max-rows reads fewer")
    ap.add_argument("--users", type=int, default=0, help="table sizes of the whole file")
    ap.add_argument("--items", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    u, i, r, n_users, n_items = read_ratings(a.data, a.max_rows)
    n_users, n_items = max(n_users, a.users), max(n_items, a.items)
    total = a.total_rows or len(r)
    sparse = a.update == "lazy"
    model = MF(n_users, n_items, a.dim, a.model == "bias", sparse, float(r.mean()))
    if sparse:
        if a.optimizer != "adam":
            sys.exit("torch_mf.py: lazy updates exist for Adam only (SparseAdam)")
        opt = torch.optim.SparseAdam(list(model.parameters()), lr=0.001, eps=1e-7)
    elif a.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    else:
        opt = torch.optim.Adamax(model.parameters(), lr=0.002, eps=1e-7)
    order = np.random.RandomState(1).permutation(len(r))
    ut, it, rt = torch.from_numpy(u[order]), torch.from_numpy(i[order]), torch.from_numpy(r[order])
    steps = min(a.steps + a.warmup, len(r) // a.batch)
    t0 = None
    for s in range(steps):
        if s == a.warmup:
            t0 = time.perf_counter()
        lo = s * a.batch
        ub, ib, rb = ut[lo:lo + a.batch], it[lo:lo + a.batch], rt[lo:lo + a.batch]
        opt.zero_grad()
        pred, reg = model(ub, ib, a.l2)
        loss = ((pred - rb) ** 2).mean()
        if reg is not None:
            loss = loss + reg
        loss.backward()
        opt.step()
    timed = steps - a.warmup
    per_step = (time.perf_counter() - t0) / timed
    per_epoch = per_step * math.ceil(total / a.batch)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{per_epoch:.3f} {rss} {timed}")


if __name__ == "__main__":
    main()
