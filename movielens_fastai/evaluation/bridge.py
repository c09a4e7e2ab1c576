"""The one bridge between the project's two environments: run a rating method where it can run.

fastai 2.8 cannot share an environment with fastai v1, and myFM's wheel needs numpy 2, which
fastai v1's environment cannot have; so a method whose registry record says "fastai1" or
"fastai2" runs in that environment. :func:`fit_predict_timed` runs it in this process when this
is its environment, else in the other environment's Python through this module's command line::

    python -m movielens_fastai.evaluation.bridge METHOD --base B.tsv --test T.tsv --out P.npy \\
        [--seed S] [--data-dir D] [--settings JSON]

which trains METHOD on B, saves its predictions of T (a .npy array) and prints one JSON line with
the seconds it took. Either way the time covers training and predicting only: the method's
libraries are imported and the seeds set before the clock starts.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import RATING_COLUMNS, environment_python, project_root, running_in, seed_everything
from ..models.rating import fit_predict, method


def runs_here(name: str) -> bool:
    """Whether method ``name`` can run in this process."""
    env = method(name).environment
    return env == "any" or running_in(env)


def _timed_here(name: str, base_df, test_df, seed: int, data_dir=None, **settings) -> dict:
    record = method(name)
    for module in record.imports:
        importlib.import_module(module)
    seed_everything(seed)
    started = time.perf_counter()
    preds = fit_predict(name, base_df, test_df, seed, data_dir, **settings)
    fit_seconds = time.perf_counter() - started
    # a blend says how it weighed its components
    return {"predictions": preds, "fit_seconds": fit_seconds,
            "weights": getattr(record.function, "last_weights", None)}


def fit_predict_timed(name: str, base_df: pd.DataFrame, test_df: pd.DataFrame, seed: int,
                      data_dir=None, **settings) -> dict:
    """Method ``name`` trained on ``base_df``, in the environment it needs: ``{"predictions"`` (one
    per row of ``test_df``), ``"fit_seconds"`` (training and predicting), ``"weights"`` (a blend's
    weights, else None)``}``."""
    if runs_here(name):
        return _timed_here(name, base_df, test_df, seed, data_dir, **settings)
    python = environment_python(method(name).environment)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_df.to_csv(tmp / "base.tsv", sep="\t", header=False, index=False)
        test_df.to_csv(tmp / "test.tsv", sep="\t", header=False, index=False)
        cmd = [str(python), "-m", "movielens_fastai.evaluation.bridge", name,
               "--base", str(tmp / "base.tsv"), "--test", str(tmp / "test.tsv"),
               "--out", str(tmp / "pred.npy"),
               "--seed", str(seed), "--settings", json.dumps(settings)]
        if data_dir is not None:
            cmd += ["--data-dir", str(data_dir)]
        done = subprocess.run(cmd, cwd=project_root(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        reply = json.loads(done.stdout.strip().splitlines()[-1])
        return {"predictions": np.load(tmp / "pred.npy"), "fit_seconds": reply["fit_seconds"],
                "weights": reply["weights"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description="Train a rating method on one ratings file and save its predictions of another "
                    "(what the bridge runs in the other environment).")
    parser.add_argument("method")
    parser.add_argument("--base", required=True, help="training ratings, u.data format (TSV)")
    parser.add_argument("--test", required=True, help="ratings to predict, u.data format (TSV)")
    parser.add_argument("--out", required=True, help="where the predictions go (.npy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder with u.user and u.item (side information)")
    parser.add_argument("--settings", default="{}", help="the method's settings, a JSON object")
    args = parser.parse_args(argv)
    if not runs_here(args.method):
        sys.exit(f"{args.method} needs the {method(args.method).environment} environment, "
                 f"not {sys.executable}")
    base_df, test_df = (pd.read_csv(p, sep="\t", header=None, names=RATING_COLUMNS)
                        for p in (args.base, args.test))
    run = _timed_here(args.method, base_df, test_df, args.seed, args.data_dir, **json.loads(args.settings))
    np.save(args.out, run.pop("predictions"))
    print(json.dumps({"method": args.method, **run}))


if __name__ == "__main__":
    main()
