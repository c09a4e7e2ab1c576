"""What training costs as the ratings grow: the fast fastai path against plain PyTorch.

Both train the port's model (``EmbeddingDotBias``: user and movie vectors, their biases, a sigmoid
scaled to ``y_range``) with the same one-cycle schedule on the same batches: slices of the ratings
tensors after one permutation per epoch (``training.loaders.TensorSliceDL``). Three ways to step:

* ``dense``: every step updates every row of the embedding tables, with decoupled weight decay
  (fastai's Adam stepped by foreach operations, as ``fast_collab_learner`` does; torch's ``AdamW``
  in the plain loop). Its cost grows with the tables (162,541 users and 59,047 movies at 25M),
  whatever the batch.
* ``lazy``: the embeddings produce sparse gradients and ``training.sparse.LazyAdam`` updates only the rows a
  batch touched: their moving averages, their decoupled weight decay, their step. fastai reaches it
  through its ``OptimWrapper``, so ``fit_one_cycle`` still schedules the learning rate and momentum.
* ``sparse_adam``: ``torch.optim.SparseAdam``, PyTorch's own (no weight decay; slower, because
  every intermediate is a sparse tensor).

Run with ``.venv-fastai2/bin/python -m movielens_fastai.evaluation.scale``: ``generate`` writes a
synthetic set (``data.synthetic``), ``train`` trains on one and prints one JSON line with its seconds
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
from fastai.optimizer import OptimWrapper

from ..core import MOVIE, RATING, USER, environment
from ..data.synthetic import SyntheticRatings, movielens_like
from ..models.rating.article import DotBias
from ..training.learner import fast_collab_learner
from ..training.loaders import collab_dataloaders, loader_mse
from ..training.schedule import FASTAI2_ONE_CYCLE, one_cycle
from ..training.sparse import LazyAdam, sparse_embeddings

ENGINES = ("fastai", "plain")
OPTIMIZERS = ("lazy", "dense", "sparse_adam")
#: The recipe used at every size: big batches (at 25M, 64 would mean 390,000 steps an epoch).
RECIPE = {"n_factors": 40, "y_range": (0.0, 5.5), "bs": 32_768, "lr": 0.03, "wd": 1.0, "epochs": 5}
VALID_FRACTION = 0.02
ONE_CYCLE = FASTAI2_ONE_CYCLE
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


def fastai_learner(dls, optimizer: str, n_factors: int, y_range, wd: float):
    """``fast_collab_learner``'s learner; ``lazy``/``sparse_adam``: embeddings with sparse gradients,
    stepped by :class:`LazyAdam` / ``torch.optim.SparseAdam`` through fastai's ``OptimWrapper``."""
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
    sparse_embeddings(learn.model)
    return learn


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
            step_lr, mom = one_cycle(
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


def train(
    data: SyntheticRatings, engine: str, optimizer: str, epochs: int | None = None, seed: int = 0, **recipe
) -> dict:
    """Train one configuration on ``data``; its seconds, validation MSE and peak memory."""
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
        "valid_mse": loader_mse(model, dls.valid),
        "noise_floor_mse": data.noise_floor_mse,
        "setup_peak_rss_mib": setup_peak,
        "fit_peak_rss_mib": peak_rss_mib(),
        "peak_rss_mib": max(setup_peak, peak_rss_mib()),
        "torch_threads": torch.get_num_threads(),
        # the process that trained, not the one that launched it
        "environment": environment(("fastai", "torch", "numpy", "pandas")),
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
