"""Every predictor past the article (movielens_fastai.methods) on a small slice of u1: it trains,
predicts one rating per test row, and beats the global mean. Not the benchmark's numbers: those
come from benchmarks/run.py folds. Plus the pieces they are built from: side information, the
validation slice and the blend's weights."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from movielens_fastai import DataError, methods
from movielens_fastai.folds import RATING, USER, read_fold, rmse
from movielens_fastai.methods.blend import fit_weights, validation_slice
from movielens_fastai.methods.features import SideInfo, read_movies, read_users

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


@pytest.mark.parametrize("method", NEW_METHODS)
def test_method_trains_and_beats_the_global_mean(method, small_u1, data_dir):
    base, test = small_u1
    preds = methods.predict(method, base, test, seed=0, data_dir=data_dir, **QUICK[method])
    assert preds.shape == (len(test),)
    assert np.isfinite(preds).all()
    actual = test[RATING].to_numpy(float)
    clipped = np.clip(preds, 1, 5)
    mean_rmse = rmse(np.full(len(test), base[RATING].mean()), actual)
    assert rmse(clipped, actual) < mean_rmse - 0.03, method


def test_every_method_is_registered_once():
    assert set(methods.RUN_ORDER) <= set(methods.METHODS)
    assert len(methods.RUN_ORDER) == len(set(methods.RUN_ORDER))
    assert set(NEW_METHODS) <= set(methods.RUN_ORDER)


def test_side_info_method_needs_data_dir(small_u1):
    base, test = small_u1
    with pytest.raises(ValueError, match="myfm_extended reads u.user and u.item: give data_dir"):
        methods.call("myfm_extended", base, test, 0)


def test_side_info_codes(data_dir, small_u1):
    base, test = small_u1
    side = SideInfo(data_dir, base)
    x = side.encode(test)
    assert x.shape == (len(test), len(SideInfo.FIELDS))
    assert (x[:, :2] > 0).all()   # every user and movie is listed in u.user / u.item
    for j, field in enumerate(SideInfo.FIELDS):
        assert x[:, j].max() < side.sizes[field], field
    um, mu = side.implicit()
    # the implicit sets are the training frame's, never the test rows'
    assert um.nnz == mu.nnz == len(base)
    users = read_users(data_dir)
    assert (len(users), users.loc[1, "age"], users.loc[1, "gender"]) == (943, 24, "M")
    movies = read_movies(data_dir)
    assert len(movies) == 1682 and movies.loc[1, "year"] == 1995
    assert movies.filter(like="genre_").loc[1].sum() == 3   # Toy Story: animation, children's, comedy


def test_damaged_user_file_names_file_and_line(tmp_path, data_dir):
    shutil.copy(data_dir / "u.item", tmp_path / "u.item")
    lines = (data_dir / "u.user").read_text().splitlines(keepends=True)
    lines[4] = "5|thirty|F|other|15213\n"
    (tmp_path / "u.user").write_text("".join(lines))
    with pytest.raises(DataError) as err:
        read_users(tmp_path)
    assert str(err.value) == f"{tmp_path / 'u.user'}:5: age 'thirty' is not an integer"
    lines[4] = "5|33|F|other\n"
    (tmp_path / "u.user").write_text("".join(lines))
    with pytest.raises(DataError, match=r"u\.user:5: expected 5 '\|'-separated fields"):
        read_users(tmp_path)


def test_validation_slice_is_a_fixed_tenth(small_u1):
    base, _ = small_u1
    rest, valid = validation_slice(base)
    assert len(valid) == len(base) // 10 and len(rest) + len(valid) == len(base)
    assert not set(rest.index) & set(valid.index)
    assert validation_slice(base)[1].index.equals(valid.index)   # the same slice every time


def test_blend_weights_recover_a_known_mix():
    rng = np.random.default_rng(1)
    preds = rng.normal(3.5, 1, size=(500, 2))
    actual = 0.2 + 0.7 * preds[:, 0] + 0.25 * preds[:, 1]
    assert fit_weights(preds, actual) == pytest.approx([0.2, 0.7, 0.25])


def test_predict_refuses_unknown_method(small_u1):
    base, test = small_u1
    with pytest.raises(ValueError, match="unknown method 'svd_magic'"):
        methods.predict("svd_magic", base, test, 0)
    assert isinstance(base, pd.DataFrame)
