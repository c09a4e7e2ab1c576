"""How good is a rating model really? The protocol on the canonical MovieLens 100K folds.

GroupLens ships five train/test splits with the data set, ``u1.base``/``u1.test`` to
``u5.base``/``u5.test`` (``data.splits.read_fold``). Published numbers for ML-100K are either the
mean over these five folds, ``u1`` alone, or random cross-validation; this protocol measures every
method on exactly the canonical folds, so they can be compared.

The methods and what is known of each are in ``models.rating`` (its registry); the tables, plot
and result files in ``reporting.folds``. This module reads a fold, runs a method on it (through
``evaluation.bridge``, in the environment the method needs) and scores it: **all predictions are
clipped to [1, 5]**, the range of the ratings, for every method, before RMSE and MAE are computed
(Surprise clips by itself; the sigmoid models can reach 5.5 and would otherwise be penalised for a
range choice rather than for what they learned).

``fit_seconds`` is the wall time of training on ``.base`` and predicting the 20,000 ratings of
``.test``, with the method's libraries imported beforehand so the first fold does not pay for them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..core import RATING
from ..data.splits import FOLDS, read_fold
from ..models.rating import REGISTRY, RUN_ORDER, method
from .bridge import fit_predict_timed
from .metrics import mae, rmse

RATING_CLIP = (1.0, 5.0)


def settings_for(name: str, epochs: int | None) -> dict:
    """The settings a run passes to method ``name``: ``epochs`` where the method has that setting."""
    return {"epochs": epochs} if epochs is not None and method(name).epochs else {}


def score_predictions(name: str, fold: int, preds, test_df, fit_seconds: float, **extra) -> dict:
    """One row of results: ``preds`` clipped to [1, 5] and scored against ``test_df``'s ratings."""
    preds = np.asarray(preds, dtype=float)
    if preds.shape != (len(test_df),) or not np.isfinite(preds).all():
        raise RuntimeError(f"{name}: expected {len(test_df)} finite predictions, got shape {preds.shape}")
    clipped = np.clip(preds, *RATING_CLIP)
    actual = test_df[RATING].to_numpy(float)
    return {"method": name, "fold": fold, "rmse": rmse(clipped, actual), "mae": mae(clipped, actual),
            "fit_seconds": fit_seconds, "n_test": len(test_df), **extra}


def score_method(name: str, data_dir, fold: int, seed: int = 0, epochs: int | None = None,
                 predictions_out=None) -> dict:
    """Method ``name`` trained on ``u{fold}.base`` and scored on ``u{fold}.test``, in the environment
    it needs. ``predictions_out``, a ``.npy`` path, keeps the predictions as the method made them,
    before clipping (a blend or a seed average of the same run reads them)."""
    base_df, test_df = read_fold(data_dir, fold)
    settings = settings_for(name, epochs)
    run = fit_predict_timed(name, base_df, test_df, seed, data_dir if method(name).side_info else None,
                            **settings)
    if predictions_out is not None:
        np.save(predictions_out, run["predictions"])
    extra = {"settings": settings}
    if run["weights"] is not None:
        extra["weights"] = run["weights"]
    return score_predictions(name, fold, run["predictions"], test_df, run["fit_seconds"], **extra)


def blend_row(name: str, fold: int, predictions: dict, rows: list[dict], data_dir) -> dict:
    """A blend's row (its record's ``blend_of``) from the predictions its components made in this run.

    Its weights were fitted once, on the validation slice of u1.base (every component trained on the
    other 90% of u1.base), like every other setting here; each fold's blend is the weighted sum of
    its components' clipped test predictions from their own rows (trained on all of ``.base``). Its
    time per fold is the sum of its components' times."""
    components, weights = method(name).blend_of
    missing = [m for m in components if (m, fold) not in predictions]
    if missing:
        raise ValueError(f"{name} needs its components' predictions on u{fold} first; missing {missing}")
    weights = np.asarray(weights)
    seconds = {(r["method"], r["fold"]): r["fit_seconds"] for r in rows}
    _, test_df = read_fold(data_dir, fold)
    stacked = np.clip(np.column_stack([np.load(predictions[m, fold]) for m in components]), *RATING_CLIP)
    return score_predictions(
        name, fold, weights[0] + stacked @ weights[1:], test_df, sum(seconds[m, fold] for m in components),
        settings={"weights": dict(zip(("intercept", *components), weights.tolist(), strict=True)),
                  "weights_from": "validation slice of u1.base"})


def seed_average_row(name: str, data_dir, fold: int, seed: int, epochs, predictions: dict, rows: list[dict],
                     tmp: Path, log=print) -> dict:
    """A seed average's row (its record's ``seed_average_of``) from its first model's predictions
    (seed ``seed``, already made in this run) and its other models (seeds seed+1, ...), trained
    now: the same predictions the method itself makes."""
    single, n_models = method(name).seed_average_of
    first = next(r for r in rows if r["method"] == single and r["fold"] == fold)
    preds, seconds = [np.load(predictions[single, fold])], first["fit_seconds"]
    for i in range(1, n_models):
        out = tmp / f"{single}-u{fold}-seed{seed + i}.npy"
        if log:
            log(f"{name} u{fold}: {single} seed {seed + i} ...")
        seconds += score_method(single, data_dir, fold, seed + i, epochs, out)["fit_seconds"]
        preds.append(np.load(out))
    mean = np.mean(preds, axis=0)
    np.save(predictions[name, fold], mean)
    _, test_df = read_fold(data_dir, fold)
    return score_predictions(name, fold, mean, test_df, seconds, settings=settings_for(name, epochs),
                             made_from=f"{single} seeds {seed}..{seed + n_models - 1}")


def run_benchmark(data_dir, methods=None, folds=FOLDS, seed: int = 0, epochs: int | None = None,
                  log=print, checkpoint=None) -> list[dict]:
    """Every method on every fold, one at a time; a list of rows (``score_method``'s).

    ``log`` receives a line as each method starts on a fold and as it ends (with its scores and the
    run's elapsed time); ``checkpoint(rows)``, when given, is called after each method with the rows
    so far."""
    methods = list(RUN_ORDER) if methods is None else list(methods)
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(REGISTRY)}")
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        predictions = {}
        for i, name in enumerate(methods, start=1):
            record = method(name)
            for fold in folds:
                if log:
                    log(f"[{time.perf_counter() - started:6.0f} s] method {i}/{len(methods)} {name}, "
                        f"fold u{fold} ...")
                predictions[name, fold] = Path(tmp) / f"{name}-u{fold}.npy"
                if record.blend_of:
                    row = blend_row(name, fold, predictions, rows, data_dir)
                elif record.seed_average_of and (record.seed_average_of[0], fold) in predictions:
                    row = seed_average_row(name, data_dir, fold, seed, epochs, predictions, rows, Path(tmp),
                                           log)
                else:
                    row = score_method(name, data_dir, fold, seed, epochs, predictions[name, fold])
                if log:
                    log(f"[{time.perf_counter() - started:6.0f} s] {name:>22} u{fold}: RMSE {row['rmse']:.4f}"
                        f"  MAE {row['mae']:.4f}  {row['fit_seconds']:7.1f} s")
                rows.append(row)
            if checkpoint:
                checkpoint(rows)
    return rows
