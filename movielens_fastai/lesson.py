"""What only the notebooks need around a lesson: the library warnings a reader cannot act on,
checked parameters, the environment printed, progress lines for long cells, a table of
predictions, and a Jovian commit that never blocks an unattended run."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import socket
import time
import warnings
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from .core import MOVIE, TITLE, USER

# Warnings the libraries print that a reader of the notebooks cannot act on, each silenced by
# its message and category only (any other warning still shows). ``import movielens_fastai``
# applies them, so they cover the notebooks (whose first cell imports the package), the processes
# the bridge starts (``python -m movielens_fastai.evaluation.bridge``) and DataLoader workers
# (forked, so they inherit the filters).
KNOWN_WARNINGS = (
    # fastai 1.0.61 imports pkg_resources (fastai/imports/core.py) at `from fastai.collab import *`;
    # setuptools >= 81 deprecates it. Only fastai could change that import, and v1 is frozen.
    (r"pkg_resources is deprecated as an API", UserWarning),
    # fastai asks for pinned memory by default; on a machine without a GPU torch ignores
    # the request and says so. Nothing is wrong and nothing can be done in the notebook.
    (r"'pin_memory' argument is set as true but no accelerator is found", UserWarning),
    # fastai 2.8 decorates functions with torch.jit.script when it is imported; torch 2.9+
    # deprecates that. A matter between the two libraries.
    (r"`torch\.jit\.script` is deprecated", FutureWarning),
    # fastai 2's tabular batches turn pandas' read-only arrays into tensors (show_batch, training);
    # the tensors are never written to, so the "undefined behaviour" torch warns of cannot happen.
    (r"The given NumPy array is not writable", UserWarning),
)


def quiet_known_warnings() -> None:
    """Silence exactly ``KNOWN_WARNINGS`` (message regex and category), nothing more.

    The filters go first in ``warnings.filters``; neither fastai v1 nor fastai 2 resets them
    when imported (tests/test_core_and_lesson.py checks, after importing fastai)."""
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def check_params(*, valid_pct: float, n_factors: int, lr: float, epochs: int,
                 y_range=(0, 5.5), wd: float = 0.0, max_ratings=None) -> None:
    """Refuse parameters that would train nothing or train nonsense."""
    problems = []
    if not 0 < valid_pct < 1:
        problems.append(f"valid_pct must be between 0 and 1 (exclusive), got {valid_pct}")
    if not (isinstance(n_factors, int) and n_factors >= 1):
        problems.append(f"n_factors must be a positive integer, got {n_factors}")
    if not lr > 0:
        problems.append(f"lr must be positive, got {lr}")
    if not (isinstance(epochs, int) and epochs >= 1):
        problems.append(f"epochs must be a positive integer, got {epochs}")
    if len(y_range) != 2 or not y_range[0] < y_range[1]:
        problems.append(f"y_range must be [low, high] with low < high, got {y_range}")
    if wd < 0:
        problems.append(f"wd must not be negative, got {wd}")
    if max_ratings is not None and not (isinstance(max_ratings, int) and max_ratings >= 1):
        problems.append(f"max_ratings must be None or a positive integer, got {max_ratings}")
    if problems:
        raise ValueError("bad parameters: " + "; ".join(problems))


def _split_sizes(n_ratings: int, valid_pct: float) -> tuple[int, int]:
    """(training, validation) ratings of a random split: fastai v1's ``split_by_rand_pct`` and
    fastai 2's ``RandomSplitter`` both hold back ``int(valid_pct * n)`` rows."""
    n_valid = int(valid_pct * n_ratings)
    return n_ratings - n_valid, n_valid


def check_batches(n_ratings: int, *, valid_pct: float, bs: int = 64, max_ratings=None) -> None:
    """Refuse a split that leaves less than one training batch or no validation rating.

    Training drops its last partial batch (fastai v1 and 2 alike), so fewer than ``bs``
    training ratings means no batch at all, and ``show_batch`` would fail with a bare
    StopIteration; an empty validation set has no loss to report. Call it right after
    reading the ratings (``n_ratings`` of them, after any ``max_ratings`` cut)."""
    n_train, n_valid = _split_sizes(n_ratings, valid_pct)
    if n_train >= bs and n_valid >= 1:
        return
    if max_ratings:
        what = f"max_ratings={max_ratings} with valid_pct={valid_pct}"
    else:
        what = f"valid_pct={valid_pct} on {n_ratings:,} ratings"
    if n_train < bs:
        problem = f"{what} leaves {n_train:,} training ratings, fewer than one batch of {bs}"
    else:
        problem = f"{what} leaves no validation ratings"
    if max_ratings:
        # The fewest ratings that work (both sizes only grow with n; this bound always holds one).
        limit = int(bs / (1 - valid_pct) + 1 / valid_pct) + 3
        minimum = next(n for n in range(1, limit)
                       if _split_sizes(n, valid_pct)[0] >= bs and _split_sizes(n, valid_pct)[1] >= 1)
        fix = f"use max_ratings >= {minimum}"
    elif n_train < bs:
        fix = f"use valid_pct <= {math.floor((n_ratings - bs) / n_ratings * 1e4) / 1e4}"
    else:
        fix = f"use valid_pct >= {math.ceil(1e6 / n_ratings) / 1e6}"
    raise ValueError(f"bad parameters: {problem}; {fix}")


def print_environment(env: dict) -> None:
    for name, version in env["versions"].items():
        print(f"{name:>8}: {version}")
    print(f"{'device':>8}: {env['device']}")


#: A progress line as ``Progress`` prints it (and as ``evaluation.folds.run_benchmark`` logs each
#: method and fold it starts): the seconds since the work started in brackets, then what is
#: running. The notebook runner (``reporting.runner``) shows exactly the lines that match it in the
#: terminal; the benchmark's scores, logged right-aligned after the same bracket, stay in the notebook.
PROGRESS_LINE = re.compile(r"^\[\s*\d+ s\] \S")


class Progress:
    """Says where a long cell is: ``progress("protocol ours, u1: EASE")`` prints
    ``[    42 s] protocol ours, u1: EASE``, the seconds counted from when this object was made.

    A cell that runs for minutes otherwise shows nothing until it ends, in Jupyter and in the
    terminal alike; these lines tell a reader which method, fold or seed it has reached."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.started = clock()

    def __call__(self, message: str) -> str:
        line = f"[{self.clock() - self.started:6.0f} s] {message}"
        print(line, flush=True)
        return line


#: fastai 1.0.61's lr_find prints this with its placeholder never filled in (a missing ``f``).
_LR_FIND_TEMPLATE = "{learner_name}"


def clear_stopped_bar(learn) -> None:
    """Blank the notebook progress bar of ``learn``'s last fit (fastai v1).

    A fit that stops early (``lr_find`` when the loss blows up, a short timing run) leaves its
    bar frozen where it stopped, e.g. "6.12% [86/1406]", which reads as an unfinished run."""
    out = getattr(getattr(getattr(learn, "recorder", None), "pbar", None), "out", None)
    if out is not None:   # only notebook bars have a display to update
        from IPython.display import HTML
        out.update(HTML(""))


@contextlib.contextmanager
def finished_cleanly(learn):
    """``with finished_cleanly(learn): learn.lr_find()``: the same run, without the frozen
    progress bar of its early stop and without fastai v1's unformatted message line; everything
    else it prints still shows."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield learn
    finally:
        clear_stopped_bar(learn)
        lines = printed.getvalue().splitlines(keepends=True)
        print("".join(line for line in lines if _LR_FIND_TEMPLATE not in line), end="")


def predictions_table(user_ids, movie_ids, actual, predicted, movies: pd.DataFrame) -> pd.DataFrame:
    """Actual next to predicted ratings, with the movie's title."""
    table = pd.DataFrame({
        USER: np.asarray(user_ids, dtype=np.int64),
        MOVIE: np.asarray(movie_ids, dtype=np.int64),
        "Actual": np.asarray(actual, dtype=float).reshape(-1),
        "Predicted": np.asarray(predicted, dtype=float).reshape(-1),
    })
    table["Difference"] = table["Predicted"] - table["Actual"]
    table = table.merge(movies[[MOVIE, TITLE]], on=MOVIE, how="left")
    return table[[USER, MOVIE, TITLE, "Actual", "Predicted", "Difference"]]


JOVIAN_API_URL = "https://api.jovian.com/"


def commit_to_jovian(enabled: bool, notebook: str, connect_timeout: float = 5.0, **commit_kwargs) -> str:
    """The article's ``jovian.commit()``, made safe for unattended runs.

    Off: says how to turn it on and returns ``"skipped"``. On: fails at once, with
    the reason, when no API key is configured (jovian would otherwise prompt for
    one) or when Jovian cannot be reached, instead of waiting.
    """
    if not enabled:
        print("Not committing to Jovian (jovian_commit = False). To save and share this notebook "
              "as the article did, run `jovian configure` once in a terminal, then set "
              "jovian_commit = True.")
        return "skipped"
    from jovian.utils.credentials import get_creds_path, read_api_key_opt

    if not os.path.exists(get_creds_path()) or read_api_key_opt()[0] is None:
        raise RuntimeError(f"jovian_commit = True but no Jovian API key is configured "
                           f"({get_creds_path()} has none): run `jovian configure` in a terminal "
                           "first, or set jovian_commit = False")
    host = urlparse(JOVIAN_API_URL).hostname
    try:
        socket.create_connection((host, 443), timeout=connect_timeout).close()
    except OSError as err:
        raise RuntimeError(f"jovian_commit = True but {host} cannot be reached ({err}); "
                           "are you offline? Set jovian_commit = False to skip") from err
    import jovian

    jovian.commit(filename=notebook, **commit_kwargs)
    return "committed"
