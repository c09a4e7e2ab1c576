"""Every rating predictor of the project, one place.

A method is a function ``fit_predict(base_df, test_df, seed, **settings)`` that trains on the
whole of ``base_df`` and returns one prediction per row of ``test_df`` (frames with the columns
'User ID', 'Movie ID', 'Rating', 'Timestamp'). Methods in ``SIDE_INFO`` also take ``data_dir``,
the folder holding ``u.user`` and ``u.item``. Where a new predictor goes: a function in one of
the modules below, and a line in ``METHODS`` (and ``RUN_ORDER`` to have the benchmark run it).

* ``baselines``: the global mean, mean + biases;
* ``surprise_methods``: scikit-surprise's SVD, SVD++, BaselineOnly;
* ``article``: the article's model in plain PyTorch, fastai v1 and fastai 2.8, and ``tuned``;
* ``bayesian_fm``: myFM's Bayesian factorization machines (vanilla, extended, ordered probit);
* ``fastai_fm``: our models past the article, trained with fastai 2.8 (``.venv-fastai2``);
* ``blend``: a linear blend of several methods, its weights fitted on a validation slice.

fastai 2.8 cannot share an environment with fastai v1, so a method in ``SUBPROCESS_PYTHON`` runs
in its own environment; :func:`predict` runs any method wherever it lives and returns its
predictions. That is why torch, fastai, Surprise and myFM are imported only inside methods.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..data import PROJECT_ROOT
from .article import TUNED, dot_model, fastai1, fastai2, plain_torch, tuned
from .baselines import bias, global_mean
from .bayesian_fm import myfm_extended, myfm_probit, myfm_vanilla
from .blend import BLEND, blend
from .fastai_fm import fastai_mf, fastai_side, fastai_side_x3, fastai_svdpp
from .surprise_methods import surprise_baselineonly, surprise_svd, surprise_svdpp

FASTAI2_PYTHON = PROJECT_ROOT / ".venv-fastai2" / "bin" / "python"

METHODS = {
    "global_mean": global_mean,
    "bias": bias,
    "surprise_baselineonly": surprise_baselineonly,
    "surprise_svd": surprise_svd,
    "surprise_svdpp": surprise_svdpp,
    "plain_torch": plain_torch,
    "fastai1": fastai1,
    "fastai2": fastai2,
    "tuned": tuned,
    "myfm_vanilla": myfm_vanilla,
    "myfm_extended": myfm_extended,
    "myfm_probit": myfm_probit,
    "fastai_mf": fastai_mf,
    "fastai_svdpp": fastai_svdpp,
    "fastai_side": fastai_side,
    "fastai_side_x3": fastai_side_x3,
    "blend": blend,
}
# Fast ones first, then ours and myFM, then the rest: a run cut short still shows what matters most
# (the results are written after every method). ``fastai2`` (the article's model again, in the port)
# and ``tuned`` (five more of it) are left out so that a run stays under 30 minutes on 2 cores; name
# them in ``methods`` to have them.
RUN_ORDER = ["global_mean", "bias", "surprise_baselineonly", "surprise_svd", "myfm_vanilla", "fastai_mf",
             "fastai_side", "myfm_extended", "myfm_probit", "blend", "fastai_svdpp", "fastai1",
             "fastai_side_x3", "plain_torch", "surprise_svdpp"]
# Methods with an epochs setting (the quick variant shortens them; the others keep their defaults).
EPOCH_METHODS = {"plain_torch", "fastai1", "fastai2", "tuned", "fastai_mf", "fastai_svdpp", "fastai_side",
                 "fastai_side_x3", "blend"}
# Methods that read u.user / u.item: they take data_dir.
SIDE_INFO = {"myfm_extended", "myfm_probit", "fastai_mf", "fastai_svdpp", "fastai_side", "fastai_side_x3",
             "blend"}
# Imported before the clock starts.
IMPORTS = {
    "surprise_baselineonly": ["surprise"], "surprise_svd": ["surprise"], "surprise_svdpp": ["surprise"],
    "plain_torch": ["torch"], "tuned": ["torch"], "fastai1": ["fastai.collab"], "fastai2": ["fastai.collab"],
    "myfm_vanilla": ["myfm"], "myfm_extended": ["myfm"], "myfm_probit": ["myfm"],
    "blend": ["myfm", "fastai.learner", "scipy.sparse"],
    **{m: ["fastai.learner", "scipy.sparse"] for m in ("fastai_mf", "fastai_svdpp", "fastai_side",
                                                       "fastai_side_x3")},
}
# Which Python runs a method: current fastai lives in its own environment, and so does myFM (its
# wheel wants numpy 2 and pandas 2, which fastai v1's environment cannot have).
SUBPROCESS_PYTHON = {m: FASTAI2_PYTHON for m in ("fastai2", "fastai_mf", "fastai_svdpp", "fastai_side",
                                                 "fastai_side_x3", "myfm_vanilla",
                                                 "myfm_extended", "myfm_probit", "blend")}


def call(method: str, base_df, test_df, seed: int, data_dir=None, **settings) -> np.ndarray:
    """Run ``method`` here (in this Python) and return its raw predictions."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method in SIDE_INFO:
        if data_dir is None:
            raise ValueError(f"{method} reads u.user and u.item: give data_dir")
        settings["data_dir"] = data_dir
    return np.asarray(METHODS[method](base_df, test_df, seed, **settings), dtype=float).reshape(-1)


def runs_here(method: str) -> bool:
    python = SUBPROCESS_PYTHON.get(method)
    # venvs share one interpreter binary: tell them apart by their prefix, not the executable
    return python is None or Path(sys.prefix).resolve() == Path(python).parent.parent.resolve()


def predict(method: str, base_df, test_df, seed: int, data_dir=None, **settings) -> np.ndarray:
    """Like :func:`call`, but in the environment the method needs (through a subprocess and two
    temporary TSV files when that is not this one)."""
    if runs_here(method):
        return call(method, base_df, test_df, seed, data_dir, **settings)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_df.to_csv(tmp / "base.tsv", sep="\t", header=False, index=False)
        test_df.to_csv(tmp / "test.tsv", sep="\t", header=False, index=False)
        cmd = [str(SUBPROCESS_PYTHON[method]), "-m", "movielens_fastai.methods", method,
               "--base", str(tmp / "base.tsv"), "--test", str(tmp / "test.tsv"),
               "--out", str(tmp / "pred.npy"),
               "--seed", str(seed), "--settings", json.dumps(settings)]
        if data_dir is not None:
            cmd += ["--data-dir", str(data_dir)]
        done = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return np.load(tmp / "pred.npy")


__all__ = ["BLEND", "EPOCH_METHODS", "FASTAI2_PYTHON", "IMPORTS", "METHODS", "RUN_ORDER", "SIDE_INFO",
           "SUBPROCESS_PYTHON", "TUNED", "call", "dot_model", "predict", "runs_here"]
