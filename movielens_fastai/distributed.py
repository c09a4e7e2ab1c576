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

    .venv-fastai2/bin/accelerate launch --cpu --num_processes 2 -m movielens_fastai.distributed --out d.json
    .venv-fastai2/bin/python -m movielens_fastai.distributed --out d1.json          # one process

On GPUs: ``accelerate launch --num_processes <GPUs> -m movielens_fastai.distributed`` (NCCL); on
several machines, ``accelerate config`` (or torchrun's ``--nnodes``/``--rdzv-endpoint``).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from .data import MOVIE, USER, validation_indices
from .run import write_json_atomically

#: fast-fastai.ipynb's fast configuration: the article's split, batches of 1,024 in all.
FAST_CONFIG = {"bs": 1024, "lr": 0.05, "wd": 0.6, "n_factors": 20, "epochs": 5, "y_range": (0.0, 5.5)}


def shard(dl, rank: int, world_size: int):
    """A ``TensorSliceDL`` serving process ``rank``'s part of each of ``dl``'s batches: rows
    ``rank*bs/w`` to ``(rank+1)*bs/w`` of every batch, from the same permutation as ``dl``."""
    from .fastai_data import TensorSliceDL

    if not isinstance(dl, TensorSliceDL):
        raise TypeError(f"shard takes a TensorSliceDL, got {type(dl).__name__}")
    if dl.bs % world_size:
        raise ValueError(f"batch size {dl.bs} does not split evenly over {world_size} processes")

    class ShardDL(type(dl)):
        def __iter__(self):
            part = self.bs // world_size
            for xb, yb in super().__iter__():
                yield xb[rank * part : (rank + 1) * part], yb[rank * part : (rank + 1) * part]

    out = ShardDL(
        dl.x,
        dl.y,
        bs=dl.bs,
        shuffle=dl.shuffle,
        drop_last=dl.drop_last,
        device=dl.device,
        classes=dl.classes,
        cat_names=dl.cat_names,
        y_names=dl.y_names,
        items=dl.items,
        seed=dl.seed,
    )
    out.rank, out.world_size = rank, world_size
    return out


def sharded_trainer_class():
    """``ShardedTrainer``: fastai's ``DistributedTrainer`` sharding ``TensorSliceDL`` loaders with
    :func:`shard` instead of ``DistributedDL``."""
    from fastai.distributed import DistributedTrainer
    from fastai.torch_core import num_distrib, rank_distrib

    class ShardedTrainer(DistributedTrainer):
        def _wrap_dl(self, dl):
            return dl if getattr(dl, "world_size", None) else shard(dl, rank_distrib(), num_distrib())

    return ShardedTrainer


def train(data_dir=None, seed: int = 42, train_seed: int = 42, valid_pct: float = 0.1, **config) -> dict:
    """The fast configuration on the article's split, in this process and however many others
    Accelerate (or torchrun) started; every process returns the same record."""
    from fastai.torch_core import num_distrib, rank_distrib

    from .datasets import load_dataset
    from .fastai_data import collab_dataloaders, fast_collab_learner
    from .run import seed_everything
    from .scale import valid_mse

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
    trainer = sharded_trainer_class()(sync_bn=False, cpu=True) if world_size > 1 else None
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
    mse = valid_mse(learn.model, dls.valid)
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
