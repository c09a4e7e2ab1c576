"""The rankers that need fastai 2 or the ``implicit`` package (models.topn.fastai_rankers,
models.topn.ials), fitted on a small slice of u1: each beats the random floor, repeats with one
seed, and never recommends a movie the user already rated."""

import numpy as np
import pytest

from movielens_fastai.core import MOVIE, USER
from movielens_fastai.evaluation.topn import evaluate_ranker, protocol_splits
from movielens_fastai.models.topn.base import RandomRanker
from movielens_fastai.models.topn.blend import Blend
from movielens_fastai.models.topn.ease import EASE
from movielens_fastai.models.topn.fastai_rankers import FastaiBPR, FastaiSoftmax, RatingModel
from movielens_fastai.models.topn.ials import ImplicitALS
from movielens_fastai.models.topn.popularity import MostPopular

MAKERS = {
    "implicit ALS": lambda: ImplicitALS(factors=32, regularization=5.0, alpha=2.0, iterations=5),
    "BPR": lambda: FastaiBPR(epochs=6, bs=512),
    "softmax": lambda: FastaiSoftmax(epochs=2, bs=512),
    "rating model": lambda: RatingModel(epochs=1, bs=256),
    "blend": lambda: Blend(EASE(l2=200.0), RatingModel(epochs=1, bs=256), weight=0.2),
}


@pytest.fixture(scope="module")
def small_fold(data_dir):
    """u1 restricted to its first 300 users: small enough to train every ranker in seconds."""
    (_, train, test, threshold), = protocol_splits("ours", data_dir, folds=[1])
    return train[train[USER] <= 300], test[test[USER] <= 300], threshold


@pytest.fixture(scope="module")
def floors(small_fold):
    train, test, threshold = small_fold
    return {"random": evaluate_ranker(RandomRanker(seed=0), train, test, threshold),
            "most popular": evaluate_ranker(MostPopular(), train, test, threshold)}


@pytest.fixture(scope="module")
def fitted(small_fold):
    train, test, threshold = small_fold
    out = {}
    for name, make in MAKERS.items():
        ranker = make()
        out[name] = ranker, evaluate_ranker(ranker, train, test, threshold)
    return out


@pytest.mark.parametrize("name", MAKERS)
def test_ranker_beats_random_repeats_and_skips_seen_movies(fitted, floors, small_fold, name):
    train, _, _ = small_fold
    ranker, got = fitted[name]
    floor = floors["random"]
    assert got["n_users"] == floor["n_users"] > 200
    assert got["ndcg_at_k"] > 2 * floor["ndcg_at_k"], (name, got, floor)
    again = MAKERS[name]().fit(train)
    assert np.array_equal(ranker.scores([1, 2]), again.scores([1, 2])), f"{name}: one seed, two answers"
    seen = train.groupby(USER)[MOVIE].agg(set)
    lists = ranker.recommend(ranker.users, k=10)
    assert set(lists) == set(seen.index)
    for user, movies in lists.items():
        assert len(movies) == 10 and len(set(movies.tolist())) == 10
        assert not set(movies.tolist()) & seen[user], user


def test_bpr_trained_by_fastai_beats_most_popular(fitted, floors):
    assert fitted["BPR"][1]["ndcg_at_k"] > floors["most popular"]["ndcg_at_k"]
