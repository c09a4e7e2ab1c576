"""Every predictor past the article (models.rating) on a small slice of u1, in the fastai 2
environment where they run: it trains, predicts one rating per test row, and beats the global mean.
Not the benchmark's numbers: those come from `benchmarks/run.py folds`."""

from __future__ import annotations

import numpy as np
import pytest

from movielens_fastai.core import RATING, USER
from movielens_fastai.data.splits import read_fold
from movielens_fastai.evaluation.metrics import rmse
from movielens_fastai.models.rating import REGISTRY, RUN_ORDER, fit_predict
from movielens_fastai.models.rating.blend import BLEND, BLEND_WEIGHTS, fit_weights

NEW_METHODS = ["myfm_vanilla", "myfm_extended", "myfm_probit", "fastai_mf", "fastai_svdpp", "fastai_side",
               "fastai_side_x3", "blend"]
# quick settings: these check that a method works, not how well it can do
QUICK = {"fastai_mf": {"epochs": 3}, "fastai_svdpp": {"epochs": 3}, "fastai_side": {"epochs": 3},
         "fastai_side_x3": {"epochs": 2}, "blend": {"epochs": 2},
         "myfm_vanilla": {"n_iter": 50}, "myfm_extended": {"n_iter": 60}, "myfm_probit": {"n_iter": 60}}


@pytest.fixture(scope="module")
def small_u1(data_dir):
    """u1 restricted to the first 300 users: about 25,000 training and 6,000 test ratings."""
    base, test = read_fold(data_dir, 1)
    return base[base[USER] <= 300].reset_index(drop=True), test[test[USER] <= 300].reset_index(drop=True)


# The blend trains every component: the one slow case.
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.training) if m == "blend" else m
                                    for m in NEW_METHODS])
def test_method_trains_and_beats_the_global_mean(method, small_u1, data_dir):
    base, test = small_u1
    data = data_dir if REGISTRY[method].side_info else None
    preds = fit_predict(method, base, test, seed=0, data_dir=data, **QUICK[method])
    assert preds.shape == (len(test),)
    assert np.isfinite(preds).all()
    actual = test[RATING].to_numpy(float)
    clipped = np.clip(preds, 1, 5)
    mean_rmse = rmse(np.full(len(test), base[RATING].mean()), actual)
    assert rmse(clipped, actual) < mean_rmse - 0.03, method


def test_the_new_methods_are_in_the_default_run():
    assert set(NEW_METHODS) <= set(RUN_ORDER)


def test_side_info_method_needs_data_dir(small_u1):
    base, test = small_u1
    with pytest.raises(ValueError, match="myfm_extended reads u.user and u.item: give data_dir"):
        fit_predict("myfm_extended", base, test, 0)


def test_blend_weights_recover_a_known_mix():
    rng = np.random.default_rng(1)
    preds = rng.normal(3.5, 1, size=(500, 2))
    actual = 0.2 + 0.7 * preds[:, 0] + 0.25 * preds[:, 1]
    assert fit_weights(preds, actual) == pytest.approx([0.2, 0.7, 0.25])


def test_blend_defaults_are_the_registry_record():
    assert (BLEND, BLEND_WEIGHTS) == REGISTRY["blend"].blend_of


def test_unknown_method_is_refused(small_u1):
    base, test = small_u1
    with pytest.raises(ValueError, match="unknown method 'svd_magic'"):
        fit_predict("svd_magic", base, test, 0)
