"""What training costs as the ratings grow: the fast fastai path against plain PyTorch.

Both train the port's model (``EmbeddingDotBias``: user and movie vectors, their biases, a sigmoid
scaled to ``y_range``) with the same one-cycle schedule on the same batches: slices of the ratings
tensors after one permutation per epoch (``fastai_data.TensorSliceDL``). Three ways to step:

* ``dense``: every step updates every row of the embedding tables, with decoupled weight decay
  (fastai's Adam stepped by foreach operations, as ``fast_collab_learner`` does; torch's ``AdamW``
  in the plain loop). Its cost grows with the tables (162,541 users and 59,047 movies at 25M),
  whatever the batch.
* ``lazy``: the embeddings produce sparse gradients and :class:`LazyAdam` updates only the rows a
  batch touched: their moving averages, their decoupled weight decay, their step. fastai reaches it
  through its ``OptimWrapper``, so ``fit_one_cycle`` still schedules the learning rate and momentum.
* ``sparse_adam``: ``torch.optim.SparseAdam``, PyTorch's own (no weight decay; slower, because
  every intermediate is a sparse tensor).

Run with ``.venv-fastai2/bin/python -m movielens_fastai.scale``: ``generate`` writes a synthetic set
(``movielens_fastai.synthetic``), ``train`` trains on one and prints one JSON line with its seconds
and peak memory. ``benchmarks/run.py scale`` runs each configuration in its own process, so each
peak is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from functools import partial

import numpy as np
import pandas as pd
import torch

from .data import MOVIE, RATING, USER
from .methods.article import _one_cycle
from .synthetic import SyntheticRatings, movielens_like

ENGINES = ("fastai", "plain")
OPTIMIZERS = ("lazy", "dense", "sparse_adam")
#: The recipe used at every size: big batches (at 25M, 64 would mean 390,000 steps an epoch).
RECIPE = {"n_factors": 40, "y_range": (0.0, 5.5), "bs": 32_768, "lr": 0.03, "wd": 1.0, "epochs": 5}
VALID_FRACTION = 0.02
# fastai 2's fit_one_cycle: 25% warm-up from lr/25, down to lr/1e5, momentum 0.95 -> 0.85 -> 0.95
ONE_CYCLE = {"pct_start": 0.25, "div": 25.0, "final_div": 1e5, "moms": (0.95, 0.85)}
ADAM = {"sqr_mom": 0.99, "eps": 1e-5}


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (VmHWM), in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Start VmHWM again from the current use (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def ratings_frame(data: SyntheticRatings) -> pd.DataFrame:
    """The arrays as the frame ``collab_dataloaders`` takes (ids from 1, as MovieLens numbers them)."""
    return pd.DataFrame({USER: data.user + 1, MOVIE: data.movie + 1, RATING: data.rating}, copy=False)


def valid_positions(n: int, fraction: float = VALID_FRACTION, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)[: int(n * fraction)]


def rows_and_sums(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A sparse row gradient as (the rows it names, each once and in order; their summed values).

    ``grad.coalesce()`` gives the same by sorting the batch's row numbers; counting them into the
    table's length (``bincount``) costs one pass over the table's row count instead, which at 25M
    ratings makes a step about a sixth cheaper."""
    idx, values = grad._indices()[0], grad._values()
    n_rows = grad.shape[0]
    rows = torch.bincount(idx, minlength=n_rows).nonzero().squeeze(1)
    position = torch.empty(n_rows, dtype=torch.long)
    position[rows] = torch.arange(len(rows))
    sums = torch.zeros((len(rows), *values.shape[1:]), dtype=values.dtype).index_add_(
        0, position[idx], values
    )
    return rows, sums


class LazyAdam(torch.optim.Optimizer):
    """Adam with decoupled weight decay (fastai's defaults: betas (0.9, 0.99), eps 1e-5) that, for a
    sparse gradient, reads and writes only the rows it names; dense gradients step as usual.

    Rows a batch did not touch keep their moving averages and skip that step's weight decay (as in
    TensorFlow's LazyAdam), so a row is decayed once per batch it appears in. The bias correction
    uses the parameter's step count, as ``torch.optim.SparseAdam`` does."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise NotImplementedError("LazyAdam takes no closure")
        for group in self.param_groups:
            lr, (mom, sqr_mom), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # both moving averages in one tensor: one gather and one scatter for both
                    state.update(step=0, moments=torch.zeros((len(p), 2, *p.shape[1:]), dtype=p.dtype))
                state["step"] += 1
                avg_fix, sqr_fix = 1 - mom ** state["step"], 1 - sqr_mom ** state["step"]
                grad = p.grad
                if grad.is_sparse:
                    idx, values = rows_and_sums(grad)
                    moments = state["moments"].index_select(0, idx)
                    rows = p.index_select(0, idx)
                else:
                    idx, values, moments, rows = None, grad, state["moments"], p
                avg, sqr = moments[:, 0], moments[:, 1]
                avg.lerp_(values, 1 - mom)
                sqr.mul_(sqr_mom).addcmul_(values, values, value=1 - sqr_mom)
                if wd:
                    rows.mul_(1 - lr * wd)
                rows.addcdiv_(avg, (sqr / sqr_fix).sqrt_().add_(eps), value=-lr / avg_fix)
                if idx is not None:
                    state["moments"].index_copy_(0, idx, moments)
                    p.index_copy_(0, idx, rows)


def _sparse_embeddings(model) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            module.sparse = True


def fastai_learner(dls, optimizer: str, n_factors: int, y_range, wd: float):
    """``fast_collab_learner``'s learner; ``lazy``/``sparse_adam``: embeddings with sparse gradients,
    stepped by :class:`LazyAdam` / ``torch.optim.SparseAdam`` through fastai's ``OptimWrapper``."""
    from fastai.optimizer import OptimWrapper

    from .fastai_data import fast_collab_learner

    if optimizer == "dense":
        return fast_collab_learner(dls, n_factors=n_factors, y_range=y_range, wd=wd, progress=False)
    if optimizer == "sparse_adam" and wd:
        raise ValueError("torch.optim.SparseAdam has no weight decay: give wd=0")
    opt = LazyAdam if optimizer == "lazy" else torch.optim.SparseAdam
    learn = fast_collab_learner(
        dls,
        n_factors=n_factors,
        y_range=y_range,
        wd=wd or None,
        progress=False,
        opt_func=partial(OptimWrapper, opt=opt, betas=(0.9, ADAM["sqr_mom"]), eps=ADAM["eps"]),
    )
    _sparse_embeddings(learn.model)
    return learn


class DotBias(torch.nn.Module):
    """``EmbeddingDotBias`` written out: the same parameters, initialisation and forward pass."""

    def __init__(self, n_users: int, n_movies: int, n_factors: int, y_range, sparse: bool):
        super().__init__()

        def emb(n, d):
            e = torch.nn.Embedding(n, d, sparse=sparse)
            torch.nn.init.trunc_normal_(e.weight, std=0.01)  # fastai's Embedding
            return e

        self.u_weight, self.i_weight = emb(n_users, n_factors), emb(n_movies, n_factors)
        self.u_bias, self.i_bias = emb(n_users, 1), emb(n_movies, 1)
        self.y_range = y_range

    def forward(self, x):
        users, movies = x[:, 0], x[:, 1]
        dot = (self.u_weight(users) * self.i_weight(movies)).sum(1)
        res = dot + self.u_bias(users).squeeze(1) + self.i_bias(movies).squeeze(1)
        lo, hi = self.y_range
        return (torch.sigmoid(res) * (hi - lo) + lo).view(-1, 1)


def plain_fit(
    train_dl,
    n_users: int,
    n_movies: int,
    n_factors: int,
    y_range,
    lr: float,
    epochs: int,
    optimizer: str,
    wd: float,
) -> DotBias:
    """The same training as ``fit_one_cycle`` on the fastai learner, as a plain PyTorch loop over the
    same loader (its permutation per epoch and its slices)."""
    model = DotBias(n_users, n_movies, n_factors, y_range, sparse=optimizer != "dense")
    kwargs = {"lr": lr, "betas": (ONE_CYCLE["moms"][0], ADAM["sqr_mom"]), "eps": ADAM["eps"]}
    if optimizer == "sparse_adam":
        if wd:
            raise ValueError("torch.optim.SparseAdam has no weight decay: give wd=0")
        opt = torch.optim.SparseAdam(model.parameters(), **kwargs)
    elif optimizer == "lazy":
        opt = LazyAdam(model.parameters(), weight_decay=wd, **kwargs)
    else:
        opt = torch.optim.AdamW(model.parameters(), weight_decay=wd, foreach=True, **kwargs)
    total, step = epochs * len(train_dl), 0
    model.train()
    for _ in range(epochs):
        for xb, yb in train_dl:
            step_lr, mom = _one_cycle(
                step,
                total,
                lr,
                pct_start=ONE_CYCLE["pct_start"],
                div=ONE_CYCLE["div"],
                final_div=ONE_CYCLE["final_div"],
                moms=ONE_CYCLE["moms"],
            )
            for group in opt.param_groups:
                group["lr"], group["betas"] = step_lr, (mom, ADAM["sqr_mom"])
            loss = torch.nn.functional.mse_loss(model(xb).view(-1), yb.view(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return model


@torch.no_grad()
def valid_mse(model, valid_dl) -> float:
    model.eval()
    total, n = 0.0, 0
    for xb, yb in valid_dl:
        total += float(((model(xb).view(-1) - yb.view(-1)) ** 2).sum())
        n += len(yb)
    return total / n


def train(
    data: SyntheticRatings, engine: str, optimizer: str, epochs: int | None = None, seed: int = 0, **recipe
) -> dict:
    """Train one configuration on ``data``; its seconds, validation MSE and peak memory."""
    from .fastai_data import collab_dataloaders

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    unknown = set(recipe) - set(RECIPE)
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    recipe = {**RECIPE, **recipe, "epochs": RECIPE["epochs"] if epochs is None else epochs}
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    frame = ratings_frame(data)
    dls = collab_dataloaders(frame, valid_positions(len(frame)), bs=recipe["bs"], device="cpu", seed=seed)
    del frame
    setup_seconds = time.perf_counter() - t0
    setup_peak = peak_rss_mib()
    reset_peak_rss()
    n_users, n_movies = (len(dls.classes[name]) for name in (USER, MOVIE))
    t0 = time.perf_counter()
    if engine == "fastai":
        learn = fastai_learner(dls, optimizer, recipe["n_factors"], recipe["y_range"], recipe["wd"])
        with learn.no_logging():
            learn.fit_one_cycle(recipe["epochs"], recipe["lr"])
        model = learn.model
    else:
        model = plain_fit(
            dls.train,
            n_users,
            n_movies,
            recipe["n_factors"],
            recipe["y_range"],
            recipe["lr"],
            recipe["epochs"],
            optimizer,
            recipe["wd"],
        )
    fit_seconds = time.perf_counter() - t0
    return {
        "engine": engine,
        "optimizer": optimizer,
        "ratings": len(data),
        "users": data.n_users,
        "movies": data.n_movies,
        "train_rows": len(dls.train.y),
        "valid_rows": len(dls.valid.y),
        "recipe": {**recipe, "y_range": list(recipe["y_range"])},
        "seed": seed,
        "setup_seconds": setup_seconds,
        "fit_seconds": fit_seconds,
        "seconds_per_epoch": fit_seconds / recipe["epochs"],
        "valid_mse": valid_mse(model, dls.valid),
        "noise_floor_mse": data.noise_floor_mse,
        "setup_peak_rss_mib": setup_peak,
        "fit_peak_rss_mib": peak_rss_mib(),
        "peak_rss_mib": max(setup_peak, peak_rss_mib()),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a synthetic MovieLens-shaped set (.npz)")
    gen.add_argument("--ratings", type=int, required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True)
    fit = sub.add_parser("train", help="train one configuration on a .npz set; prints one JSON line")
    fit.add_argument("data")
    fit.add_argument("--engine", choices=ENGINES, required=True)
    fit.add_argument("--optimizer", choices=OPTIMIZERS, default="lazy")
    fit.add_argument("--epochs", type=int, default=None)
    fit.add_argument("--bs", type=int, default=RECIPE["bs"])
    fit.add_argument("--lr", type=float, default=RECIPE["lr"])
    fit.add_argument("--wd", type=float, default=RECIPE["wd"])
    fit.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "generate":
        t0 = time.perf_counter()
        data = movielens_like(args.ratings, seed=args.seed)
        tmp = f"{args.out}.partial.npz"  # np.savez adds .npz; rename when whole
        data.save(tmp)
        os.replace(tmp, args.out)
        print(json.dumps({"seconds": time.perf_counter() - t0, **data.stats()}))
        return
    data = SyntheticRatings.load(args.data)
    print(
        json.dumps(
            train(
                data, args.engine, args.optimizer, args.epochs, args.seed, bs=args.bs, lr=args.lr, wd=args.wd
            )
        )
    )


if __name__ == "__main__":
    main()
