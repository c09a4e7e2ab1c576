"""Synthetic MovieLens-shaped ratings (data.synthetic, numpy only). Training on them at scale and in
several processes is tested in the fastai 2 environment: tests/fastai2/test_scale_and_distributed.py."""

import numpy as np
import pytest

from movielens_fastai.data.synthetic import SyntheticRatings, movielens_like, shape_for


@pytest.fixture(scope="module")
def small():
    return movielens_like(40_000, n_users=400, n_movies=1_000, seed=7)


def test_synthetic_shape(small):
    assert len(small) == 40_000 and (small.n_users, small.n_movies) == (400, 1_000)
    per_user = np.bincount(small.user, minlength=400)
    assert per_user.min() >= 20  # GroupLens's floor
    pairs = small.user.astype(np.int64) * small.n_movies + small.movie
    assert len(np.unique(pairs)) == len(small)  # no pair rated twice
    assert set(np.unique(small.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}  # whole stars at this size
    assert 3.0 < small.rating.mean() < 4.0 and 0.6 < small.rating.var() < 1.6


def test_synthetic_popularity_is_skewed(small):
    per_movie = np.sort(np.bincount(small.movie, minlength=small.n_movies))[::-1]
    top_share = per_movie[:10].sum() / len(small)  # the top 1% of movies
    assert top_share > 0.08  # uniform would give 0.01
    assert per_movie[0] > 10 * np.median(per_movie)  # uniform: about 1.5


def test_synthetic_repeats_by_seed_and_saves(small, tmp_path):
    again = movielens_like(40_000, n_users=400, n_movies=1_000, seed=7)
    other = movielens_like(40_000, n_users=400, n_movies=1_000, seed=8)
    assert np.array_equal(again.movie, small.movie) and not np.array_equal(other.movie, small.movie)
    small.save(tmp_path / "s.npz")
    back = SyntheticRatings.load(tmp_path / "s.npz")
    assert np.array_equal(back.rating, small.rating) and back.noise_floor_mse == small.noise_floor_mse


def test_synthetic_half_stars_and_real_shapes():
    half = movielens_like(30_000, n_users=300, n_movies=600, seed=0, half_stars=True)
    assert set(np.unique(half.rating * 2)) <= set(np.arange(1.0, 11.0))
    assert shape_for(1_000_000) == (6_040, 3_706) and shape_for(25_000_000) == (162_541, 59_047)
    assert shape_for(10_000_000) == (69_878, 10_677)


def test_synthetic_refuses_impossible_sizes():
    with pytest.raises(
        ValueError, match="1,000 ratings cannot give each of 100 users 20; ask for at least 2,000"
    ):
        movielens_like(1_000, n_users=100, n_movies=500)
    with pytest.raises(ValueError, match="would fill more than half of 100 x 30"):
        movielens_like(2_000, n_users=100, n_movies=30)
