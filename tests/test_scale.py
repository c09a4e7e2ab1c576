"""Synthetic MovieLens-shaped data, training at scale (sparse gradients, LazyAdam) and training in
several processes.

movielens_fastai.synthetic is numpy only and is tested here directly; the training modules need
fastai 2, so tests/fastai2_scale_checks.py computes their facts in .venv-fastai2, once."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from movielens_fastai.synthetic import SyntheticRatings, movielens_like, shape_for

ROOT = Path(__file__).resolve().parent.parent
PYTHON2 = ROOT / ".venv-fastai2" / "bin" / "python"


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


@pytest.fixture(scope="module")
def facts(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("scale") / "facts.json"
    done = subprocess.run(
        [str(PYTHON2), str(ROOT / "tests" / "fastai2_scale_checks.py"), str(out), str(data_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_lazy_adam_moves_only_the_rows_a_batch_names(facts):
    assert facts["lazy_moved_rows"] == [1, 4]


def test_lazy_adam_is_adamw_when_every_row_is_named(facts):
    assert facts["lazy_vs_adamw_max_diff"] < 1e-6


def test_fastai_and_plain_pytorch_learn_alike(facts):
    runs = facts["runs"]
    floor = runs["fastai/lazy"]["noise_floor_mse"]
    for name, run in runs.items():
        assert run["train_rows"] + run["valid_rows"] == run["ratings"] == 60_000, name
        assert floor - 0.1 < run["valid_mse"] < facts["rating_var"] - 0.15, name  # learnt, not memorised
        assert run["peak_rss_mib"] >= run["fit_peak_rss_mib"] > 0
    # the same model, batches and schedule: the two ways to step land together
    assert abs(runs["fastai/lazy"]["valid_mse"] - runs["plain/lazy"]["valid_mse"]) < 0.01
    assert abs(runs["fastai/lazy"]["valid_mse"] - runs["fastai/dense"]["valid_mse"]) < 0.02


def test_training_refuses_bad_settings(facts):
    assert facts["sparse_adam_wd_error"] == "torch.optim.SparseAdam has no weight decay: give wd=0"
    assert facts["bad_engine_error"] == "engine must be one of ('fastai', 'plain'), got 'jax'"


def test_two_processes_train_as_one(facts):
    one, two = facts["distributed_one"], facts["distributed_two"]
    assert (one["world_size"], one["backend"]) == (1, None)
    assert (two["world_size"], two["backend"]) == (2, "gloo")
    assert abs(one["valid_mse"] - two["valid_mse"]) < 1e-4
    assert abs(one["weights_checksum"] - two["weights_checksum"]) < 1e-3 * one["weights_checksum"]
    assert 0.78 < two["valid_mse"] < 1.0  # one epoch of the fast configuration on the article's split
