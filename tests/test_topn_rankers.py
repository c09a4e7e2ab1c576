"""Top-N metrics (evaluation.metrics), protocols (evaluation.topn) and the rankers that need numpy
and scipy alone (models.topn), on small data where answers can be worked out by hand. The rankers
trained by fastai 2 or ``implicit`` are tested in tests/fastai2/test_fastai_rankers.py."""

import math

import numpy as np
import pandas as pd
import pytest

from movielens_fastai.data.splits import stratified_split
from movielens_fastai.evaluation.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    ranking_metrics,
    recall_at_k,
)
from movielens_fastai.evaluation.topn import (
    evaluate_ranker,
    protocol_splits,
    relevant_items,
    top_k_unseen,
    validation_split,
)
from movielens_fastai.models.topn.base import RandomRanker, top_k_from_scores
from movielens_fastai.models.topn.ease import EASE, ease_weights
from movielens_fastai.models.topn.knn import ItemKNN
from movielens_fastai.models.topn.popularity import MostPopular


def ratings(rows):
    return pd.DataFrame(rows, columns=["User ID", "Movie ID", "Rating"])


def test_recall_by_hand():
    assert recall_at_k([1, 2, 3, 4], {2, 4, 9}, k=4) == pytest.approx(2 / 3)
    assert recall_at_k([1, 2, 3, 4], {2, 4, 9}, k=2) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="recall is undefined without relevant items"):
        recall_at_k([1], set(), k=1)


def test_average_precision_by_hand():
    # Hits at ranks 2 and 4: (1/2 + 2/4) / min(4, 3) = 1/3.
    assert average_precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=4) == pytest.approx(1 / 3)
    # k = 2: one hit at rank 2, divided by min(2, 3) = 2: 1/4.
    assert average_precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=2) == pytest.approx(0.25)
    assert average_precision_at_k([2, 4], {2, 4}, k=10) == pytest.approx(1.0)
    assert average_precision_at_k([7, 8], {2, 4}, k=2) == 0.0


def test_coverage_counts_distinct_movies():
    assert catalogue_coverage([[1, 2], [2, 3], []], 10) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="at least one candidate"):
        catalogue_coverage([[1]], 0)


def test_ranking_metrics_by_hand():
    top = {1: [10, 20], 2: [30, 10]}
    relevant = {1: {20}, 2: {40, 50}, 3: set()}   # user 3 has nothing relevant: left out
    got = ranking_metrics(top, relevant, k=2, n_candidates=8)
    assert got["n_users"] == 2 and got["k"] == 2
    assert got["precision_at_k"] == pytest.approx((0.5 + 0) / 2)
    assert got["recall_at_k"] == pytest.approx((1 + 0) / 2)
    assert got["ndcg_at_k"] == pytest.approx((1 / math.log2(3)) / 2)
    assert got["map_at_k"] == pytest.approx((0.5 / 1) / 2)
    assert got["coverage"] == pytest.approx(3 / 8)   # 10, 20, 30
    with pytest.raises(ValueError, match="no user has a relevant item"):
        ranking_metrics(top, {1: set()}, k=2, n_candidates=8)


def test_top_k_from_scores_skips_seen_and_breaks_ties_by_column():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0],
                       [0.0, 0.0, 0.0, 0.0, 0.0]])
    seen = np.array([[False, True, False, False, False],
                     [True, True, True, True, False]])
    top = top_k_from_scores(scores, seen, k=3)
    assert top[0].tolist() == [2, 4, 3]   # 1 is seen; 2 and 4 tie, lower column first
    assert top[1].tolist() == [4]         # only one unseen item left
    with pytest.raises(ValueError, match="scores contain NaN"):
        top_k_from_scores(np.array([[np.nan, 1.0]]), np.zeros((1, 2)), k=1)
    with pytest.raises(ValueError, match="must match"):
        top_k_from_scores(scores, seen[:1], k=1)


def test_relevant_items_threshold_or_all():
    test = ratings([(1, 10, 5), (1, 20, 3), (2, 30, 2)])
    assert relevant_items(test, 4) == {1: {10}}
    assert relevant_items(test, None) == {1: {10, 20}, 2: {30}}


def test_stratified_split_keeps_each_users_share():
    rng = np.random.default_rng(1)
    rows = [(u, m, 3) for u in range(1, 21)
            for m in rng.choice(500, size=int(rng.integers(1, 40)), replace=False)]
    table = ratings(rows)
    train, test = stratified_split(table, 0.75, seed=3)
    assert len(train) + len(test) == len(table)
    pairs = lambda t: set(map(tuple, t[["User ID", "Movie ID"]].values))   # noqa: E731
    assert not pairs(train) & pairs(test)
    sizes = table.groupby("User ID").size()
    for user, n in sizes.items():
        assert (train["User ID"] == user).sum() == max(1, round(0.75 * n))
    again, _ = stratified_split(table, 0.75, seed=3)
    other, _ = stratified_split(table, 0.75, seed=4)
    assert again.equals(train) and not other.equals(train)
    with pytest.raises(ValueError, match="ratio must be between 0 and 1"):
        stratified_split(table, 1.5)


def test_ease_matches_its_closed_form_column_by_column():
    # For each movie j, EASE's column j is the ridge regression of x_j on the other columns.
    rng = np.random.default_rng(0)
    x = (rng.random((12, 6)) < 0.4).astype(float)
    l2 = 2.0
    b = ease_weights(x, l2)
    assert np.allclose(np.diag(b), 0.0)
    for j in range(x.shape[1]):
        others = [i for i in range(x.shape[1]) if i != j]
        xo = x[:, others]
        ridge = np.linalg.solve(xo.T @ xo + l2 * np.eye(len(others)), xo.T @ x[:, j])
        assert np.allclose(b[others, j], ridge, atol=1e-10)
    with pytest.raises(ValueError, match="l2 must be positive"):
        ease_weights(x, 0.0)


def test_most_popular_ties_and_seen_movies():
    train = ratings([(1, 30, 1), (2, 30, 2), (3, 30, 1), (1, 20, 5), (2, 20, 5), (3, 10, 4), (4, 40, 5)])
    ranker = MostPopular().fit(train)
    top = ranker.recommend([4, 3, 1], k=4)
    assert top[4].tolist() == [30, 20, 10]   # 10 and 40 tie on one rating: lower id first
    assert top[3].tolist() == [20, 40]
    assert top[1].tolist() == [10, 40]
    with pytest.raises(KeyError, match=r"users \[99\] are not in the training data"):
        ranker.recommend([99], k=1)


@pytest.fixture(scope="module")
def small_fold(data_dir):
    """u1 restricted to its first 300 users: small enough to train every ranker in seconds."""
    (_, train, test, threshold), = protocol_splits("ours", data_dir, folds=[1])
    keep = lambda t: t[t["User ID"] <= 300]   # noqa: E731
    return keep(train), keep(test), threshold


IN_PROCESS = {
    "most popular": lambda: MostPopular(),
    "item-kNN": lambda: ItemKNN(neighbours=50),
    "EASE": lambda: EASE(l2=200.0),
    "EASE, low ratings weighted 0.25": lambda: EASE(l2=200.0, low_weight=0.25),
}


@pytest.mark.parametrize("name", IN_PROCESS)
def test_each_ranker_beats_random_and_never_recommends_a_seen_movie(small_fold, name):
    train, test, threshold = small_fold
    ranker = IN_PROCESS[name]()
    got = evaluate_ranker(ranker, train, test, threshold)
    floor = evaluate_ranker(RandomRanker(seed=0), train, test, threshold)
    assert got["n_users"] == floor["n_users"] > 200
    assert got["ndcg_at_k"] > 2 * floor["ndcg_at_k"], (name, got, floor)
    lists = {u: m.tolist() for u, m in ranker.recommend(ranker.users, k=10).items()}
    check_lists(lists, train)


def check_lists(lists, train):
    seen = train.groupby("User ID")["Movie ID"].agg(set)
    assert set(lists) == set(seen.index)
    for user, movies in lists.items():
        assert len(movies) == 10 and len(set(movies)) == 10
        assert not set(movies) & seen[user], user


def test_ease_beats_most_popular(small_fold):
    train, test, threshold = small_fold
    popular = evaluate_ranker(MostPopular(), train, test, threshold)["ndcg_at_k"]
    assert evaluate_ranker(EASE(l2=200.0), train, test, threshold)["ndcg_at_k"] > 1.3 * popular


def test_scorer_gives_the_same_list_as_recommend(small_fold):
    train, _, _ = small_fold
    ranker = EASE(l2=100.0).fit(train)
    assert top_k_unseen(ranker.scorer(), train, 7, k=10).tolist() == ranker.recommend([7], k=10)[7].tolist()


def test_protocols_and_validation_slices(data_dir):
    (label, train, test, threshold), = protocol_splits("recommenders", data_dir, seed=42)
    assert threshold is None and len(train) + len(test) == 100_000
    assert 0.74 < len(train) / 100_000 < 0.76
    fit_part, valid_part = validation_split(train, "recommenders")
    assert len(fit_part) + len(valid_part) == len(train)
    assert not set(valid_part.index) - set(range(len(valid_part)))   # fresh index, no test rows
    merged = valid_part.merge(test, on=["User ID", "Movie ID"])
    assert merged.empty   # the validation slice never holds a test rating
    with pytest.raises(ValueError, match="protocol must be one of"):
        protocol_splits("theirs", data_dir)
