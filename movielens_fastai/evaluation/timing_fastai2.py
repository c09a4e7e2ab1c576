"""What each per-batch saving buys in fastai 2.8: short training runs of ``fit_one_cycle``, one
piece of plumbing taken away at a time, beside the same recipe as a plain PyTorch loop
(``05_fast_fastai``).

Needs fastai 2 (``.venv-fastai2``); fastai v1's callbacks are other classes (``timing_fastai1``).
The runs are built on ``timing``'s framework-neutral parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import fastai.callback.schedule  # noqa: F401  (Learner.fit_one_cycle)
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import combined_cos
from fastai.collab import EmbeddingDotBias, collab_learner
from fastai.learner import CastToTensor

from ..training.learner import fast_collab_learner, foreach_adam, mse_flat
from .timing import fastest_of, ms_per_batch


class StopAfter(Callback):
    """Ends a fit after ``n`` training batches and skips validation: a short timing run of
    fastai's own loop, callbacks and optimizer, without waiting for whole epochs."""

    order = 100

    def __init__(self, n: int):
        self.n, self.done = n, 0

    def before_fit(self):
        self.done = 0

    def before_validate(self):
        raise CancelValidException

    def after_batch(self):
        if self.training:
            self.done += 1
            if self.done >= self.n:
                raise CancelFitException


def short_fit(make_learner: Callable, n: int, epochs: int, lr: float) -> float:
    """Seconds for ``n`` training batches of ``fit_one_cycle(epochs, lr)`` on ``make_learner()``
    (the schedule as a whole fit would start it), nothing logged."""
    learn = make_learner()
    with learn.no_logging():
        started = time.perf_counter()
        learn.fit_one_cycle(epochs, lr, cbs=[StopAfter(n)])
    return time.perf_counter() - started


def plain_fit(loaders, *, n_factors: int, y_range, lr: float, wd: float, epochs: int, seed: int,
              max_batches: int | None = None):
    """``fit_one_cycle``'s recipe as a plain PyTorch loop over the tensor-slice ``loaders``
    (``training.loaders``): fastai's ``EmbeddingDotBias``, AdamW with fastai 2's betas and eps,
    the one-cycle schedule of learning rate and momentum, MSE. The yardstick for what fastai's
    plumbing costs. Returns ``(seconds, validation MSE, model)``; with ``max_batches``, stops
    after that many steps, unscored (the MSE is None)."""
    torch.manual_seed(seed)
    model = EmbeddingDotBias.from_classes(n_factors, loaders.classes, y_range=y_range)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.95, 0.99), eps=1e-5, weight_decay=wd)
    x, y = loaders.train.x, loaders.train.y.view(-1)
    b, steps = loaders.train.bs, len(loaders.train)
    lr_at = combined_cos(0.25, lr / 25, lr, lr / 1e5)      # fit_one_cycle's defaults
    mom_at = combined_cos(0.25, 0.95, 0.85, 0.95)
    shuffle = torch.Generator().manual_seed(seed)
    total, step, mse = epochs * steps, 0, None
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=shuffle)
        xs, ys = x[order], y[order]
        for i in range(steps):
            pct = step / total
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr_at(pct), (mom_at(pct), 0.99)
            loss = F.mse_loss(model(xs[i * b:(i + 1) * b]), ys[i * b:(i + 1) * b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
            step += 1
            if max_batches is not None and step >= max_batches:
                return time.perf_counter() - started, None, model
        model.eval()
        with torch.no_grad():
            mse = float(F.mse_loss(model(loaders.valid.x), loaders.valid.y.view(-1)))
    return time.perf_counter() - started, mse, model


#: The per-batch account's rows: each keeps the changes of the rows above it.
LABELS = {
    "port": "the port (TabDataLoader, collab_learner, progress bar)",
    "slices": "tensor-slice loaders",
    "no_progress_bar": "  ... no progress bar",
    "plain_tensor_loss": "  ... loss on plain tensors",
    "foreach_adam": "  ... fastai's Adam stepped with foreach ops",
    "no_cast_to_tensor": "  ... without CastToTensor",
    "lean_learner": "  ... LeanLearner (events only to their callbacks)",
    "plain_pytorch": "plain PyTorch, the same step",
}


def ladder(dls, port_dls, *, n_factors: int, y_range, wd: float) -> dict[str, Callable]:
    """key of ``LABELS`` -> a function making that row's learner (without ``port`` when
    ``port_dls`` is None; ``plain_pytorch`` is no learner)."""
    def port_learner(loaders, bar=True, loss=False, adam=False, cast=True):
        kwargs = {"loss_func": mse_flat} if loss else {}
        if adam:
            kwargs["opt_func"] = foreach_adam
        learn = collab_learner(loaders, n_factors=n_factors, y_range=y_range, wd=wd, **kwargs)
        if not bar:
            learn.remove_cb(ProgressCallback)
        if not cast:
            learn.remove_cb(CastToTensor)
        return learn

    steps = {
        "port": lambda: port_learner(port_dls),
        "slices": lambda: port_learner(dls),
        "no_progress_bar": lambda: port_learner(dls, bar=False),
        "plain_tensor_loss": lambda: port_learner(dls, bar=False, loss=True),
        "foreach_adam": lambda: port_learner(dls, bar=False, loss=True, adam=True),
        "no_cast_to_tensor": lambda: port_learner(dls, bar=False, loss=True, adam=True, cast=False),
        "lean_learner": lambda: fast_collab_learner(dls, n_factors=n_factors, y_range=y_range, wd=wd,
                                                    progress=False),
    }
    if port_dls is None:
        del steps["port"]
    return steps


def per_batch_account(dls, port_dls, *, n_factors: int, y_range, wd: float, lr: float, epochs: int, n: int,
                      seed: int, repeats: int = 2) -> tuple[dict[str, float], int]:
    """Milliseconds per training batch of each row of ``LABELS``, the fastest of ``repeats``
    interleaved tries of ``n`` batches (at most one epoch of ``dls``); returns it with the
    number of batches each try ran."""
    n = min(n, len(dls.train))
    runs = {name: lambda make=make: short_fit(make, n, epochs, lr)
            for name, make in ladder(dls, port_dls, n_factors=n_factors, y_range=y_range, wd=wd).items()}
    runs["plain_pytorch"] = lambda: plain_fit(dls, n_factors=n_factors, y_range=y_range, lr=lr, wd=wd,
                                              epochs=epochs, seed=seed, max_batches=n)[0]
    return ms_per_batch(fastest_of(runs, repeats), n), n
