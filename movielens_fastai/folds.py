"""How good is the article's model really? A benchmark on the canonical MovieLens 100K splits.

GroupLens ships five train/test splits with the data set, ``u1.base``/``u1.test`` to
``u5.base``/``u5.test``: 80,000 training and 20,000 test ratings each, the five test
sets disjoint and together all of ``u.data``. Published numbers for ML-100K are either
the mean over these five folds, ``u1`` alone, or random cross-validation; this module
measures every method on exactly the canonical folds, so they can be compared.

The methods live in ``movielens_fastai.methods`` (each a function ``fit_predict(base_df,
test_df, seed, **settings)`` that trains on the whole ``.base`` and returns one prediction per
row of ``.test``); the tables, plot and result files in ``movielens_fastai.report``. This
module is the protocol: read a fold, run a method on it, score it.
``evaluate`` times a method and scores it; **all predictions are clipped to [1, 5]**, the
range of the ratings, for every method, before RMSE and MAE are computed (Surprise
clips by itself; the sigmoid models can reach 5.5 and would otherwise be penalised
for a range choice rather than for what they learned).

``fit_seconds`` is the wall time of one ``fit_predict`` call (training and predicting
20,000 ratings), with the method's libraries imported beforehand so the first fold does
not pay for them. fastai 2.8 cannot share an environment with fastai v1, so the
methods trained with current fastai run in ``.venv-fastai2`` through this module's command line::

    .venv-fastai2/bin/python -m movielens_fastai.folds fastai2 --fold 1 --data-dir D [--seed S] [--epochs E]

which prints one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import methods as _methods
from .data import RATING_COLUMNS, DataError, check_ratings_file
from .methods import (  # noqa: F401  (the methods, as this module offered them before they moved)
    EPOCH_METHODS,
    FASTAI2_PYTHON,
    IMPORTS,
    METHODS,
    RUN_ORDER,
    SIDE_INFO,
    SUBPROCESS_PYTHON,
    TUNED,
    bias,
    dot_model,
    fastai1,
    fastai2,
    global_mean,
    plain_torch,
    surprise_baselineonly,
    surprise_svd,
    surprise_svdpp,
    tuned,
)
from .report import (  # noqa: F401  (the reports, likewise)
    PUBLISHED,
    machine,
    markdown_table,
    plot_rmse_vs_time,
    summarise,
    write_results,
)

USER, MOVIE, RATING, TIMESTAMP = RATING_COLUMNS
FOLDS = (1, 2, 3, 4, 5)
N_BASE, N_TEST = 80_000, 20_000
RATING_CLIP = (1.0, 5.0)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- data


def _read_checked(path: Path, expected_rows: int) -> pd.DataFrame:
    check_ratings_file(path)   # 4 integer fields per line, ratings 1-5, no repeated pair
    df = pd.read_csv(path, sep="\t", header=None, names=RATING_COLUMNS, dtype=np.int64)
    if len(df) != expected_rows:
        raise DataError(f"{path}: expected exactly {expected_rows:,} ratings (one per line), "
                        f"found {len(df):,}")
    return df


def read_fold(data_dir: str | os.PathLike, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(base_df, test_df)`` of the canonical split ``u{k}.base`` / ``u{k}.test``.

    Both have the columns 'User ID', 'Movie ID', 'Rating', 'Timestamp' (integers).
    A damaged file raises ``DataError`` with ``file:line: problem``; a file with other
    than 80,000 (base) or 20,000 (test) ratings is damaged too.
    """
    if k not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {k!r}")
    data_dir = Path(data_dir)
    return (_read_checked(data_dir / f"u{k}.base", N_BASE),
            _read_checked(data_dir / f"u{k}.test", N_TEST))


def rmse(pred, actual) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(actual, float)) ** 2)))


def mae(pred, actual) -> float:
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(actual, float))))


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# --------------------------------------------------------------------------- running


def evaluate(method: str, base_df, test_df, fold, seed: int = 0, data_dir=None, predictions_out=None,
             **settings) -> dict:
    """Train ``method`` on ``base_df``, predict ``test_df``, clip to [1, 5] and score.

    ``data_dir`` (the folder with ``u.user`` and ``u.item``) is needed by the methods that use
    side information (``methods.SIDE_INFO``); ``predictions_out``, a ``.npy`` path, keeps the
    predictions as the method made them, before clipping (the benchmark's blend reads them)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    for module in IMPORTS.get(method, []):
        importlib.import_module(module)
    _seed(seed)
    started = time.perf_counter()
    preds = _methods.call(method, base_df, test_df, seed, data_dir, **settings)
    fit_seconds = time.perf_counter() - started
    if predictions_out is not None:
        np.save(predictions_out, preds)
    if preds.shape != (len(test_df),) or not np.isfinite(preds).all():
        raise RuntimeError(f"{method}: expected {len(test_df)} finite predictions, got shape {preds.shape}")
    preds = np.clip(preds, *RATING_CLIP)
    actual = test_df[RATING].to_numpy(float)
    row = {"method": method, "fold": fold, "rmse": rmse(preds, actual), "mae": mae(preds, actual),
           "fit_seconds": fit_seconds, "n_test": len(test_df), "settings": settings}
    weights = getattr(METHODS[method], "last_weights", None)
    if weights is not None:   # a blend says how it weighed its components
        row["weights"] = weights
    return row


def _settings(method: str, epochs: int | None) -> dict:
    return {"epochs": epochs} if epochs is not None and method in EPOCH_METHODS else {}


def run_one(method: str, data_dir, fold: int, seed: int = 0, epochs: int | None = None,
            predictions_out=None) -> dict:
    """One method on one fold, in the environment the method needs."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if not _methods.runs_here(method):
        cmd = [str(SUBPROCESS_PYTHON[method]), "-m", "movielens_fastai.folds", method, "--fold", str(fold),
               "--data-dir", str(data_dir), "--seed", str(seed)]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        if predictions_out is not None:
            cmd += ["--predictions", str(predictions_out)]
        done = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    base_df, test_df = read_fold(data_dir, fold)
    return evaluate(method, base_df, test_df, fold, seed, data_dir, predictions_out,
                    **_settings(method, epochs))


def blend_rows(folds, predictions: dict, rows: list[dict], data_dir, log=print) -> list[dict]:
    """The blend on every fold from the predictions its components already made in this run.

    Its weights (``methods.blend.BLEND_WEIGHTS``) were fitted once, on the validation slice of
    u1.base (every component trained on the other 90% of u1.base), like every other setting here;
    each fold's blend is the weighted sum of its components' test predictions from their own rows
    (trained on all of ``.base``). Its time per fold is the sum of its components' times."""
    from .methods.blend import BLEND, BLEND_WEIGHTS

    missing = [(m, k) for m in BLEND for k in folds if (m, k) not in predictions]
    if missing:
        raise ValueError(f"the blend needs its components' predictions first; missing {missing}")
    weights = np.asarray(BLEND_WEIGHTS)
    seconds = {(r["method"], r["fold"]): r["fit_seconds"] for r in rows}
    out = []
    for fold in folds:
        _, test_df = read_fold(data_dir, fold)
        components = np.clip(np.column_stack([np.load(predictions[m, fold]) for m in BLEND]), *RATING_CLIP)
        preds = np.clip(weights[0] + components @ weights[1:], *RATING_CLIP)
        actual = test_df[RATING].to_numpy(float)
        row = {"method": "blend", "fold": fold, "rmse": rmse(preds, actual), "mae": mae(preds, actual),
               "fit_seconds": sum(seconds[m, fold] for m in BLEND), "n_test": len(test_df),
               "settings": {"weights": dict(zip(("intercept", *BLEND), weights.tolist(), strict=True)),
                            "weights_from": "validation slice of u1.base"}}
        if log:
            log(f"{'blend':>22} u{fold}: RMSE {row['rmse']:.4f}  MAE {row['mae']:.4f}  "
                f"{row['fit_seconds']:7.1f} s")
        out.append(row)
    return out


# A seed average whose first model is another method of the same run: only the other seeds train.
SEED_AVERAGES = {"fastai_side_x3": ("fastai_side", 3)}


def _seed_average(method, data_dir, fold, seed, epochs, predictions, rows, tmp: Path) -> dict:
    """``method``'s row from its first model's predictions (seed ``seed``, already made in this run)
    and its other models (seeds seed+1, ...), trained now: the same predictions ``method`` makes."""
    single, n_models = SEED_AVERAGES[method]
    first = next(r for r in rows if r["method"] == single and r["fold"] == fold)
    preds, seconds = [np.load(predictions[single, fold])], first["fit_seconds"]
    for i in range(1, n_models):
        out = tmp / f"{single}-u{fold}-seed{seed + i}.npy"
        seconds += run_one(single, data_dir, fold, seed + i, epochs, out)["fit_seconds"]
        preds.append(np.load(out))
    mean = np.mean(preds, axis=0)
    np.save(predictions[method, fold], mean)
    clipped = np.clip(mean, *RATING_CLIP)
    _, test_df = read_fold(data_dir, fold)
    actual = test_df[RATING].to_numpy(float)
    return {"method": method, "fold": fold, "rmse": rmse(clipped, actual), "mae": mae(clipped, actual),
            "fit_seconds": seconds, "n_test": len(test_df), "settings": _settings(method, epochs),
            "made_from": f"{single} seeds {seed}..{seed + n_models - 1}"}


def run_benchmark(data_dir, methods=None, folds=FOLDS, seed: int = 0, epochs: int | None = None,
                  log=print, checkpoint=None) -> list[dict]:
    """Every method on every fold, one at a time; a list of ``evaluate`` rows.

    ``checkpoint(rows)``, when given, is called after each method with the rows so far."""
    methods = list(RUN_ORDER) if methods is None else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        predictions = {}
        for method in methods:
            if method == "blend":
                rows += blend_rows(folds, predictions, rows, data_dir, log)
                if checkpoint:
                    checkpoint(rows)
                continue
            for fold in folds:
                predictions[method, fold] = Path(tmp) / f"{method}-u{fold}.npy"
                if method in SEED_AVERAGES and (SEED_AVERAGES[method][0], fold) in predictions:
                    row = _seed_average(method, data_dir, fold, seed, epochs, predictions, rows, Path(tmp))
                else:
                    row = run_one(method, data_dir, fold, seed, epochs, predictions[method, fold])
                if log:
                    log(f"{method:>22} u{fold}: RMSE {row['rmse']:.4f}  MAE {row['mae']:.4f}  "
                        f"{row['fit_seconds']:7.1f} s")
                rows.append(row)
            if checkpoint:
                checkpoint(rows)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Score one method on one canonical MovieLens 100K fold.")
    parser.add_argument("method", choices=list(METHODS))
    parser.add_argument("--fold", type=int, required=True, choices=FOLDS)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--predictions", default=None, help="save the clipped predictions here (.npy)")
    args = parser.parse_args(argv)
    base_df, test_df = read_fold(args.data_dir, args.fold)
    row = evaluate(args.method, base_df, test_df, args.fold, args.seed, args.data_dir, args.predictions,
                   **_settings(args.method, args.epochs))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
