"""What the predictors past the article are built from (numpy and pandas only): side information
(data.side_info) and the validation slice (data.splits). The predictors themselves are tested in the
fastai 2 environment: tests/fastai2/test_rating_models.py."""

from __future__ import annotations

import shutil

import pytest

from movielens_fastai import DataError
from movielens_fastai.core import USER
from movielens_fastai.data.side_info import SideInfo, read_movie_features, read_users
from movielens_fastai.data.splits import read_fold, validation_slice


@pytest.fixture(scope="module")
def small_u1(data_dir):
    """u1 restricted to the first 300 users: about 25,000 training and 6,000 test ratings."""
    base, test = read_fold(data_dir, 1)
    return base[base[USER] <= 300].reset_index(drop=True), test[test[USER] <= 300].reset_index(drop=True)


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
    movies = read_movie_features(data_dir)
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
