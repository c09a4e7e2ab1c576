"""The fast path trained by several processes, through fastai's own distributed route.

fastai trains data-parallel with ``learn.distrib_ctx()``: its ``DistributedTrainer`` callback has
Accelerate wrap the model in ``DistributedDataParallel`` (gradients averaged across processes
after every backward pass) and wraps each loader in ``DistributedDL``. That loader shards a
fastai ``TfmdDL`` by item indices, broadcasting them with a CUDA tensor, so it cannot serve
``TensorSliceDL`` (which has no per-item path) nor run on CPUs. :class:`ShardedTrainer` is
``DistributedTrainer`` with that one step replaced: each process takes its share of every
batch, cut from the same permutation (the loaders are seeded alike), so with ``bs`` split
across ``world_size`` processes the averaged gradient is the one-process gradient and the
training is the same up to float rounding.

Run as::

    .venv-fastai2/bin/torchrun --nproc_per_node 2 -m movielens_fastai.training.distributed --out d.json
    .venv-fastai2/bin/python -m movielens_fastai.training.distributed --out d1.json          # one process

On GPUs: ``accelerate launch --num_processes <GPUs> -m movielens_fastai.training.distributed``
(NCCL); on several machines, ``accelerate config`` (or torchrun's ``--nnodes``/``--rdzv-endpoint``).
It imports fastai 2 at the top: only the fastai 2 environment (``.venv-fastai2``) imports it.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from fastai.distributed import DistributedTrainer
from fastai.torch_core import num_distrib, rank_distrib

from ..core import MOVIE, USER, seed_everything, write_json_atomically
from ..data.releases import load_dataset
from ..data.splits import validation_indices
from .learner import fast_collab_learner
from .loaders import TensorSliceDL, collab_dataloaders, loader_mse

#: notebooks/05_fast_fastai.ipynb's fast configuration: the article's split, batches of 1,024 in all.
FAST_CONFIG = {"bs": 1024, "lr": 0.05, "wd": 0.6, "n_factors": 20, "epochs": 5, "y_range": (0.0, 5.5)}


class ShardDL(TensorSliceDL):
    """A ``TensorSliceDL`` that serves process ``rank``'s part of each batch: rows ``rank*bs/w`` to
    ``(rank+1)*bs/w`` of every batch, from the same permutation as the whole loader's."""

    def __init__(self, *args, rank: int = 0, world_size: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.rank, self.world_size = rank, world_size

    def settings(self) -> dict:
        return {**super().settings(), "rank": self.rank, "world_size": self.world_size}

    def __iter__(self):
        part = self.bs // self.world_size
        lo, hi = self.rank * part, (self.rank + 1) * part
        for xb, yb in super().__iter__():
            yield xb[lo:hi], yb[lo:hi]


def shard(dl, rank: int, world_size: int) -> ShardDL:
    """Process ``rank``'s share of ``dl``'s batches (see :class:`ShardDL`)."""
    if not isinstance(dl, TensorSliceDL):
        raise TypeError(f"shard takes a TensorSliceDL, got {type(dl).__name__}")
    if dl.bs % world_size:
        raise ValueError(f"batch size {dl.bs} does not split evenly over {world_size} processes")
    return ShardDL(dl.x, dl.y, bs=dl.bs, shuffle=dl.shuffle, drop_last=dl.drop_last, device=dl.device,
                   classes=dl.classes, cat_names=dl.cat_names, y_names=dl.y_names, items=dl.items,
                   seed=dl.seed, rank=rank, world_size=world_size)


class ShardedTrainer(DistributedTrainer):
    """fastai's ``DistributedTrainer`` sharding ``TensorSliceDL`` loaders with :func:`shard` instead
    of ``DistributedDL``."""

    def _wrap_dl(self, dl):
        return dl if getattr(dl, "world_size", None) else shard(dl, rank_distrib(), num_distrib())


def train(data_dir=None, seed: int = 42, train_seed: int = 42, valid_pct: float = 0.1, **config) -> dict:
    """The fast configuration on the article's split, in this process and however many others
    Accelerate (or torchrun) started; every process returns the same record."""
    config = {**FAST_CONFIG, **config}
    world_size, rank = max(1, num_distrib()), rank_distrib()
    torch.set_num_threads(1)  # one core per process
    ratings, _ = load_dataset("ml-100k", data_dir)
    valid_idx = validation_indices(len(ratings), valid_pct, seed)
    seed_everything(train_seed)  # the same initial weights and permutations in every process
    dls = collab_dataloaders(ratings, valid_idx, bs=config["bs"], device="cpu", seed=train_seed)
    learn = fast_collab_learner(
        dls, n_factors=config["n_factors"], y_range=config["y_range"], wd=config["wd"], progress=False
    )
    t0 = time.perf_counter()
    trainer = ShardedTrainer(sync_bn=False, cpu=True) if world_size > 1 else None
    if trainer:
        learn.add_cb(trainer)
    try:
        with learn.no_logging():
            learn.fit_one_cycle(config["epochs"], config["lr"])
    finally:
        if trainer:
            learn.remove_cb(trainer)
    fit_seconds = time.perf_counter() - t0
    # the model itself on the validation tensors: fastai's get_preds would all-gather across processes
    mse = loader_mse(learn.model, dls.valid)
    weights = torch.cat([p.detach().flatten() for p in learn.model.parameters()])
    return {
        "world_size": world_size,
        "rank": rank,
        "backend": (torch.distributed.get_backend() if torch.distributed.is_initialized() else None),
        "config": {**config, "y_range": list(config["y_range"])},
        "fit_seconds": fit_seconds,
        "valid_mse": mse,
        "weights_checksum": float(weights.double().abs().sum()),
        "users": len(dls.classes[USER]) - 1,
        "movies": len(dls.classes[MOVIE]) - 1,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="The fast configuration, trained by one or more processes.")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=FAST_CONFIG["epochs"])
    parser.add_argument("--out", default=None, help="rank 0 writes its record here (JSON)")
    args = parser.parse_args(argv)
    record = train(args.data_dir, epochs=args.epochs)
    if record["rank"] == 0:
        print(json.dumps(record))
        if args.out:
            write_json_atomically(args.out, record)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


if __name__ == "__main__":
    main()
