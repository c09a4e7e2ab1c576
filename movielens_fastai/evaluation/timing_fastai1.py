"""Where fastai v1's time goes: short training runs of fastai 1.0.61's loop, one piece of
machinery taken away at a time, and a cProfile of how it loads a batch (``03_under_the_hood``).

Needs fastai v1 (``.venv``); fastai 2's callbacks are other classes (``timing_fastai2``). The
runs are built on ``timing``'s framework-neutral parts.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import time
from collections.abc import Callable

import fastprogress.fastprogress
from fastai.callback import Callback
from fastai.utils.mod_display import progress_disabled_ctx

from ..lesson import clear_stopped_bar
from .timing import fastest_of, ms_per_batch, profiled_calls, profiled_total, time_loading


class StopAfter(Callback):
    """Ends a fit after ``n`` training batches and skips validation: a short timing run of
    fastai's own loop, callbacks and optimizer wrapper, without waiting for whole epochs."""

    def __init__(self, n: int):
        self.n, self.done = n, 0

    def on_epoch_begin(self, **kwargs):
        return {"skip_validate": True}

    def on_batch_end(self, train, **kwargs):
        self.done += bool(train)
        if self.done >= self.n:
            return {"stop_epoch": True, "stop_training": True}


def short_fit(data, train_dl, make_learner: Callable, n: int, lr: float, progress: bool = True,
              profiler: cProfile.Profile | None = None) -> float:
    """Seconds for ``n`` training batches of ``fit`` on a fresh learner, ``make_learner(data)``,
    trained from ``train_dl``; ``progress=False`` without the progress bar. ``data.train_dl`` is
    put back afterwards, so the runs can share one DataBunch."""
    as_shipped = data.train_dl
    data.train_dl = train_dl
    try:
        learn = make_learner(data)
        quiet = contextlib.nullcontext() if progress else progress_disabled_ctx(learn)
        # (the console bar that progress_disabled_ctx swaps in still prints a character)
        mute = contextlib.nullcontext() if progress else contextlib.redirect_stdout(io.StringIO())
        with quiet, mute:
            started = time.perf_counter()
            with profiler or contextlib.nullcontext():
                learn.fit(1, lr, callbacks=[StopAfter(n)])
            seconds = time.perf_counter() - started
        clear_stopped_bar(learn)   # StopAfter ends the run mid-epoch: its bar would stay frozen there
        return seconds
    finally:
        fastprogress.fastprogress.NO_BAR = False   # progress_disabled_ctx leaves it set
        data.train_dl = as_shipped


def labels(num_workers: int) -> dict[str, str]:
    """What each key of ``where_time_goes``'s ``ms_per_batch`` measured, in words."""
    return {
        "as_shipped": f"fastai as shipped ({num_workers} workers, progress bar)",
        "num_workers_0": "  ... num_workers=0",
        "num_workers_0_no_progress_bar": "  ... num_workers=0, no progress bar",
        "loading_only_as_shipped": f"loading only, {num_workers} workers (incl. start)",
        "loading_only_num_workers_0": "loading only, num_workers=0 (fetch + collate)",
        "plain_pytorch_step": "plain PyTorch, whole step",
        "fastai_loop_and_callbacks": "rest: fastai loop, callbacks, OptimWrapper",
    }


#: The ``ms_per_batch`` keys that are one run minus others, not a run of their own.
REMAINDERS = ("fastai_loop_and_callbacks",)


def where_time_goes(data, make_learner: Callable, lr: float, n: int, plain_steps: Callable[[], float],
                    repeats: int = 2) -> dict:
    """Milliseconds per training batch of fastai v1, piece by piece, over runs of ``n`` batches:

    * ``as_shipped``: ``data``'s own training loader (worker processes) and the progress bar;
    * ``num_workers_0``: batches built in this process; ``..._no_progress_bar``: and no bar;
    * ``loading_only_*``: only fetching and collating the batches, with and without workers;
    * ``plain_pytorch_step``: ``plain_steps()``, the seconds a plain loop takes for ``n`` steps;
    * ``fastai_loop_and_callbacks``: what is left of the in-process run without the bar.

    Each is the fastest of ``repeats`` tries (``timing.fastest_of``)."""
    as_shipped = data.train_dl
    in_process = as_shipped.new(num_workers=0)
    variants = {"as_shipped": (as_shipped, True), "num_workers_0": (in_process, True),
                "num_workers_0_no_progress_bar": (in_process, False)}
    seconds = fastest_of({name: lambda dl=dl, bar=bar: short_fit(data, dl, make_learner, n, lr, bar)
                          for name, (dl, bar) in variants.items()}, repeats)
    worker_start, with_workers = min((time_loading(as_shipped, n) for _ in range(repeats)),
                                     key=lambda timed: timed[1])
    in_process_loading = min(time_loading(in_process, n)[1] for _ in range(repeats))
    plain = min(plain_steps() for _ in range(repeats))
    ms = ms_per_batch({**seconds, "loading_only_num_workers_0": in_process_loading,
                       "loading_only_as_shipped": with_workers, "plain_pytorch_step": plain}, n)
    ms["fastai_loop_and_callbacks"] = (ms["num_workers_0_no_progress_bar"] - ms["loading_only_num_workers_0"]
                                       - ms["plain_pytorch_step"])
    return {"batches_per_run": n, "repeats": repeats, "num_workers_default": as_shipped.num_workers,
            "ms_per_batch": ms, "first_batch_seconds_with_workers": worker_start}


#: The functions the profile follows: label -> (end of the file's path, function name).
HOT_FUNCTIONS = {
    "TabularList.get": ("tabular/data.py", "get"),
    "LabelList.__getitem__": ("fastai/data_block.py", "__getitem__"),
    "data_collate": ("fastai/torch_core.py", "data_collate"),
    "DataLoader _next_data": ("dataloader.py", "_next_data"),
    "loss_batch (model, loss, backward, step)": ("fastai/basic_train.py", "loss_batch"),
}


def profile_fit(data, make_learner: Callable, lr: float, n: int) -> tuple[pstats.Stats, dict]:
    """cProfile of ``n`` training batches in this process, without the progress bar: the
    ``pstats.Stats`` to print, and ``{"batches", "total_seconds", "functions"}``, the calls and
    cumulative seconds of ``HOT_FUNCTIONS``."""
    profiler = cProfile.Profile()
    short_fit(data, data.train_dl.new(num_workers=0), make_learner, n, lr, progress=False, profiler=profiler)
    stats = pstats.Stats(profiler)
    functions = {label: profiled_calls(stats, *where) for label, where in HOT_FUNCTIONS.items()}
    return stats, {"batches": n, "total_seconds": profiled_total(stats), "functions": functions}
