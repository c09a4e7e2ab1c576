"""The article's model in fastai 2.8, as a rating method of the benchmark.

It imports fastai 2 at the top: only the fastai 2 environment (``.venv-fastai2``) imports it.
"""

from __future__ import annotations

import pandas as pd
from fastai.collab import TabularCollab, collab_learner
from fastai.data.block import TransformBlock
from fastai.data.transforms import IndexSplitter
from fastai.tabular.core import Categorify, TabDataLoader
from fastcore.basics import range_of

from ...core import MOVIE, RATING, USER, seed_everything


def fastai2(base_df, test_df, seed, epochs=5):
    """The port: ``TabularCollab`` split by index, ``dataloaders(bs=64, dl_type=TabDataLoader)``
    (fastai 2.8's default TabWeightedDL samples with replacement, see the port notebook),
    ``collab_learner(n_factors=40, y_range=(0, 5.5), wd=0.1)``, ``fit_one_cycle(5, 0.01)``,
    ``get_preds`` on the validation (= test) rows."""
    seed_everything(seed)
    df = pd.concat([base_df, test_df], ignore_index=True)
    valid_idx = list(range(len(base_df), len(df)))
    splits = IndexSplitter(valid_idx)(range_of(df))
    to = TabularCollab(df, [Categorify], cat_names=[USER, MOVIE], y_names=[RATING],
                       y_block=TransformBlock(), splits=splits)
    dls = to.dataloaders(bs=64, dl_type=TabDataLoader)
    learn = collab_learner(dls, n_factors=40, y_range=(0, 5.5), wd=0.1)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, 0.01)
        preds, _ = learn.get_preds(dl=dls.valid)
    return preds.numpy().reshape(-1).astype(float)
