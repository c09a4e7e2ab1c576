"""A linear blend of several methods, its weights fitted on a validation slice of the training frame.

The training frame is split once (a random 10% of its rows, numpy ``default_rng(0)``, the slice every
setting in this project was chosen on); every component trains on the other 90% and predicts the
slice and the rows to predict in one go; least squares on the slice (with an intercept) gives the
weights, which then combine the components' predictions of the rows to predict. Nothing about the
rows to predict is used but their user, movie and date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .baselines import RATING

BLEND = ("myfm_probit", "myfm_extended", "fastai_side")
# [intercept, one weight per component]: least squares on the validation slice of u1.base, every
# component trained on the other 90% with seed 0, as ``slice_weights(data_dir, 1, 0, BLEND)``
# computes (validation RMSE: probit 0.8805, extended 0.8797, fastai_side 0.8997, blend 0.8777).
# The benchmark's blend uses these on every fold; the ``blend`` method fits its own on whatever it
# is given.
BLEND_WEIGHTS = (0.0058, 0.4192, 0.4756, 0.1081)
VALID_FRACTION = 0.1


def validation_slice(base_df: pd.DataFrame, fraction: float = VALID_FRACTION):
    """(rest, slice): a random ``fraction`` of ``base_df``'s rows (default_rng(0)) and the others."""
    perm = np.random.default_rng(0).permutation(len(base_df))
    n = int(len(base_df) * fraction)
    return base_df.iloc[perm[n:]], base_df.iloc[perm[:n]]


def fit_weights(preds: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Least-squares [intercept, w_1, ..., w_k] for ``actual ~ preds`` (preds: rows x k)."""
    design = np.column_stack([np.ones(len(preds)), preds])
    return np.linalg.lstsq(design, actual, rcond=None)[0]


def slice_predictions(base_df, test_df, seed, data_dir, components, epochs=None):
    """(predictions of the slice, predictions of ``test_df``, slice): every component trained on the
    rest of ``base_df``, clipped to [1, 5], one column per component."""
    from . import predict

    rest, valid = validation_slice(base_df)
    both = pd.concat([valid, test_df], ignore_index=True)
    cols = []
    for method in components:
        settings = {"epochs": epochs} if epochs is not None and method.startswith("fastai_") else {}
        cols.append(np.clip(predict(method, rest, both, seed, data_dir, **settings), 1, 5))
    preds = np.column_stack(cols)
    return preds[:len(valid)], preds[len(valid):], valid


def slice_weights(data_dir, fold, seed, components=BLEND, epochs=None) -> np.ndarray:
    """The blend's weights fitted on the validation slice of ``u{fold}.base``."""
    from ..folds import read_fold

    base_df, _ = read_fold(data_dir, fold)
    on_slice, _, valid = slice_predictions(base_df, base_df.iloc[:0], seed, data_dir, components, epochs)
    return fit_weights(on_slice, valid[RATING].to_numpy(float))


def blend(base_df, test_df, seed, data_dir=None, components=BLEND, epochs=None):
    """The components' predictions, weighted as the validation slice says."""
    on_slice, on_test, valid = slice_predictions(base_df, test_df, seed, data_dir, components, epochs)
    weights = fit_weights(on_slice, valid[RATING].to_numpy(float))
    blend.last_weights = dict(zip(("intercept", *components), weights.round(4).tolist(), strict=True))
    return weights[0] + on_test @ weights[1:]
