"""The timing harness the lessons call: short runs timed against each other, the cost of only
loading batches, what cProfile counted, and one recipe trained over several seeds.

Framework-neutral (no fastai here): ``timing_fastai1`` and ``timing_fastai2`` build fastai's short
runs on top of it, each in its own environment. The notebooks call these and show the tables;
the code that measures lives here so that it is written once and tested.

The lessons run on machines whose cores other programs share, where one timing can be slowed by
a neighbour for a few seconds. So runs are compared by the fastest of several tries, and the
tries are interleaved (a, b, c, a, b, c): a busy spell then costs one try of each variant, not
every try of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd


def fastest_of(runs: Mapping[str, Callable[[], float]], repeats: int = 2) -> dict[str, float]:
    """Seconds of each run, the fastest of ``repeats`` tries, tried in turn (see the module's
    docstring). Each run returns the seconds it measured, so that it can leave its own set-up
    out of the time; the result keeps the order of ``runs``."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = min(best[name], float(run()))
    return best


def ms_per_batch(seconds: Mapping[str, float], n_batches: int) -> dict[str, float]:
    """Milliseconds per batch of runs that each took ``seconds`` for ``n_batches`` batches."""
    if n_batches < 1:
        raise ValueError(f"n_batches must be at least 1, got {n_batches}")
    return {name: 1000 * s / n_batches for name, s in seconds.items()}


def time_loading(batches: Iterable, n: int) -> tuple[float, float]:
    """(seconds to the first batch, seconds for ``n`` batches) of only fetching batches from
    ``batches`` (a DataLoader): no model, no step. The first number includes starting the
    loader's worker processes, when it has any."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    started, fetched = time.perf_counter(), 0
    iterator = iter(batches)
    try:
        next(iterator)
        fetched, first = 1, time.perf_counter() - started
        while fetched < n:
            next(iterator)
            fetched += 1
    except StopIteration:
        raise ValueError(f"asked to time {n} batches, but the loader gave only {fetched}") from None
    total = time.perf_counter() - started
    del iterator   # stops a multi-process loader's workers now, not at the next garbage collection
    return first, total


def profiled_calls(stats, path_end: str, function: str) -> dict:
    """``{"calls", "cumulative_seconds"}`` of the function named ``function`` in a file whose
    path ends with ``path_end``, from a ``pstats.Stats``. Where several functions share the name
    (nested ``__getitem__``s), the outermost one: the largest cumulative time. Zero when absent."""
    found = sorted((cumulative, calls)
                   for (path, _, name), (_, calls, _, cumulative, _) in stats.stats.items()
                   if path.endswith(path_end) and name == function)
    cumulative, calls = found[-1] if found else (0.0, 0)
    return {"calls": int(calls), "cumulative_seconds": float(cumulative)}


def profiled_total(stats) -> float:
    """Seconds a ``pstats.Stats`` saw in all (the sum of every function's own time)."""
    return float(sum(own for (_, _, own, _, _) in stats.stats.values()))


def over_seeds(run: Callable[[int], Mapping[str, float]], seeds: Sequence[int],
               progress: Callable[[str], object] | None = None) -> dict:
    """``run(seed)`` for each seed: ``{"per_seed": [{"seed": s, **numbers}], "mean": {key: mean}}``.

    One seed's result is one draw of the initial weights and the batch order; a recipe is judged
    on the mean. ``progress``, when given, hears which seed is starting."""
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    per_seed = []
    for i, seed in enumerate(seeds, start=1):
        if progress:
            progress(f"seed {seed} ({i}/{len(seeds)})")
        per_seed.append({"seed": seed, **{k: float(v) for k, v in run(seed).items()}})
    keys = [k for k in per_seed[0] if k != "seed"]
    return {"per_seed": per_seed, "mean": {k: float(np.mean([r[k] for r in per_seed])) for k in keys}}


#: What the table says instead of a saving, or a remainder, that the runs could not tell from zero.
NO_SAVING = "no measurable saving"
TOO_SMALL = "too small to measure"


def per_batch_table(ms: Mapping[str, float], labels: Mapping[str, str], batches_per_epoch: int | None = None,
                    savings: Iterable[str] = (), remainders: Iterable[str] = (),
                    noise_ms: float = 0.0) -> pd.DataFrame:
    """The per-batch account as a table, one row per label (in ``labels``' order): milliseconds
    per batch; seconds per epoch of ``batches_per_epoch`` batches, when given; and, for the keys in
    ``savings``, the milliseconds saved against the row above (each step of a ladder of changes).

    A saving of ``noise_ms`` or less shows as ``NO_SAVING``, and a key in ``remainders`` (one
    measurement minus others) of ``noise_ms`` or less as ``TOO_SMALL``: timings on shared cores
    move by that much between runs, so a negative "saving" is noise, not a cost."""
    savings, remainders = set(savings), set(remainders)
    rows, previous = [], None
    for key, label in labels.items():
        if key not in ms:
            continue
        small = key in remainders and ms[key] <= noise_ms
        row = {"": label, "ms per batch": TOO_SMALL if small else ms[key]}
        if batches_per_epoch is not None:
            row["s per epoch"] = TOO_SMALL if small else batches_per_epoch * ms[key] / 1000
        if savings:
            saved = previous - ms[key] if key in savings and previous is not None else np.nan
            row["saves (ms)"] = NO_SAVING if saved <= noise_ms else saved
        rows.append(row)
        previous = ms[key]
    table = pd.DataFrame(rows).set_index("").round(2)
    for column in table:   # a column with words in it: its numbers as they would print alone
        if any(isinstance(v, str) for v in table[column]):
            table[column] = table[column].map(lambda v: v if isinstance(v, str) or pd.isna(v) else f"{v:.2f}")
    return table
