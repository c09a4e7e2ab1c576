"""The article's code on fastai 1.0.61, as a rating method of the benchmark.

It imports fastai v1 at the top: only the fastai v1 environment (``.venv``) imports it.
"""

from __future__ import annotations

import contextlib

import fastai.basic_train as basic_train
import fastprogress.fastprogress as fp
import numpy as np
import pandas as pd
from fastai.basic_data import DatasetType
from fastai.collab import CollabList, collab_learner
from fastai.tabular import Categorify

from ...core import MOVIE, RATING, USER, seed_everything


@contextlib.contextmanager
def quiet_fastai1():
    """No progress bars or epoch tables from fastai v1 (it has no switch of its own).

    Its warnings a reader cannot act on are already silenced by importing this package
    (``lesson.KNOWN_WARNINGS``)."""
    saved = basic_train.master_bar, basic_train.progress_bar, fp.NO_BAR
    basic_train.master_bar, basic_train.progress_bar = fp.force_console_behavior()
    fp.NO_BAR = True
    try:
        yield
    finally:
        basic_train.master_bar, basic_train.progress_bar, fp.NO_BAR = saved


def fastai1(base_df, test_df, seed, epochs=5):
    """The article's code on fastai 1.0.61, trained on all of ``.base``, predicting ``.test``.

    ``CollabDataBunch.from_df`` only splits at random, so we build what it builds, a
    ``CollabList`` with ``Categorify`` labelled by the rating, but split by index: the
    ``.base`` rows train, the ``.test`` rows are the validation set (Categorify learns
    its vocabulary from training rows only; unknown ids become '#na#'). Then the
    article's ``collab_learner(n_factors=40, y_range=[0, 5.5], wd=0.1)`` and
    ``fit_one_cycle(5, 0.01)``; ``get_preds`` on the validation set gives the predictions
    in ``.test`` order. The validation loss fastai prints per epoch is the test MSE
    (before clipping); nothing is tuned on it.
    """
    seed_everything(seed)
    df = pd.concat([base_df, test_df], ignore_index=True)
    valid_idx = np.arange(len(base_df), len(df))
    data = (CollabList.from_df(df, cat_names=[USER, MOVIE], procs=Categorify)
            .split_by_idx(valid_idx).label_from_df(cols=RATING).databunch(bs=64))
    learn = collab_learner(data, n_factors=40, y_range=[0, 5.5], wd=0.1)
    with quiet_fastai1():
        learn.fit_one_cycle(epochs, 0.01)
        preds, _ = learn.get_preds(ds_type=DatasetType.Valid)
    return preds.numpy().reshape(-1).astype(float)
