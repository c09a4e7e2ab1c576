"""A linear blend of several methods, its weights fitted on a validation slice of the training frame.

The training frame is split once (a random 10% of its rows, numpy ``default_rng(0)``, the slice every
setting in this project was chosen on); every component trains on the other 90% and predicts the
slice and the rows to predict in one go; least squares on the slice (with an intercept) gives the
weights, which then combine the components' predictions of the rows to predict. Nothing about the
rows to predict is used but their user, movie and date.

Its components run in the fastai 2 environment, and so does the blend (``.venv-fastai2``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...core import RATING
from ...data.splits import read_fold, validation_slice
from . import REGISTRY
from .bayesian_fm import myfm_extended, myfm_probit
from .field_fm import fastai_mf, fastai_side, fastai_svdpp

#: The benchmark's components and weights (see the registry's ``blend`` record).
BLEND, BLEND_WEIGHTS = REGISTRY["blend"].blend_of
#: The methods a blend can combine, by their registry names.
COMPONENTS = {f.__name__: f for f in (myfm_probit, myfm_extended, fastai_mf, fastai_svdpp, fastai_side)}


def fit_weights(preds: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Least-squares [intercept, w_1, ..., w_k] for ``actual ~ preds`` (preds: rows x k)."""
    design = np.column_stack([np.ones(len(preds)), preds])
    return np.linalg.lstsq(design, actual, rcond=None)[0]


def slice_predictions(base_df, test_df, seed, data_dir, components, epochs=None):
    """(predictions of the slice, predictions of ``test_df``, slice): every component trained on the
    rest of ``base_df``, clipped to [1, 5], one column per component."""
    unknown = [m for m in components if m not in COMPONENTS]
    if unknown:
        raise ValueError(f"a blend cannot combine {unknown}; it combines {', '.join(COMPONENTS)}")
    rest, valid = validation_slice(base_df)
    both = pd.concat([valid, test_df], ignore_index=True)
    cols = []
    for method in components:
        settings = {"epochs": epochs} if epochs is not None and method.startswith("fastai_") else {}
        cols.append(np.clip(COMPONENTS[method](rest, both, seed, data_dir=data_dir, **settings), 1, 5))
    preds = np.column_stack(cols)
    return preds[:len(valid)], preds[len(valid):], valid


def slice_weights(data_dir, fold, seed, components=BLEND, epochs=None) -> np.ndarray:
    """The blend's weights fitted on the validation slice of ``u{fold}.base``."""
    base_df, _ = read_fold(data_dir, fold)
    on_slice, _, valid = slice_predictions(base_df, base_df.iloc[:0], seed, data_dir, components, epochs)
    return fit_weights(on_slice, valid[RATING].to_numpy(float))


def blend(base_df, test_df, seed, data_dir=None, components=BLEND, epochs=None):
    """The components' predictions, weighted as the validation slice says."""
    on_slice, on_test, valid = slice_predictions(base_df, test_df, seed, data_dir, components, epochs)
    weights = fit_weights(on_slice, valid[RATING].to_numpy(float))
    blend.last_weights = dict(zip(("intercept", *components), weights.round(4).tolist(), strict=True))
    return weights[0] + on_test @ weights[1:]
