"""Ranking metrics (evaluation.metrics) and judging a scorer's lists (evaluation.topn) on tiny data,
where every answer can be worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from movielens_fastai.evaluation.metrics import ndcg_at_k, precision_at_k
from movielens_fastai.evaluation.topn import (
    evaluate_ranking,
    evaluate_within_rated,
    top_k_for_users,
    top_k_unseen,
)
from movielens_fastai.models.topn.popularity import popularity_scorer


def ratings(rows):
    return pd.DataFrame(rows, columns=["User ID", "Movie ID", "Rating"])


def table_scorer(table):
    """Scores from {movie: score}, the same for every user."""
    def score(user_ids, movie_ids):
        assert len(user_ids) == len(movie_ids)
        return np.array([table[m] for m in movie_ids], dtype=float)
    return score


def test_precision_counts_hits_over_k():
    assert precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=4) == 0.5
    assert precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=2) == 0.5   # only [1, 2] is judged
    assert precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=1) == 0.0
    # A short list divides by k all the same: the empty slots are misses.
    assert precision_at_k([2], {2}, k=4) == 0.25


def test_ndcg_by_hand():
    # Relevant at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5).
    # Two relevant items, k = 4: ideal = 1/log2(2) + 1/log2(3).
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k([1, 2, 3, 4], {2, 4}, k=4) == pytest.approx(expected)
    assert ndcg_at_k([2, 4, 1, 3], {2, 4}, k=4) == pytest.approx(1.0)
    assert ndcg_at_k([1, 3], {2, 4}, k=2) == 0.0


def test_ndcg_ideal_uses_at_most_k_relevant_items():
    # Five relevant items but k = 2: a list whose first two are relevant is perfect.
    assert ndcg_at_k([5, 6, 1], {1, 2, 3, 5, 6}, k=2) == pytest.approx(1.0)
    # One hit at rank 2 of 2, with 3 relevant: (1/log2 3) / (1 + 1/log2 3).
    assert ndcg_at_k([9, 1], {1, 2, 3}, k=2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


@pytest.mark.parametrize("k", [0, -1, 2.5, None, True])
def test_bad_k_is_refused_with_a_clear_message(k):
    train = ratings([(1, 10, 5)])
    for call in (lambda: precision_at_k([1], {1}, k), lambda: ndcg_at_k([1], {1}, k),
                 lambda: top_k_unseen(table_scorer({10: 1}), train, 1, k),
                 lambda: evaluate_ranking(table_scorer({10: 1}), train, train, k)):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            call()


def test_ndcg_without_relevant_items_is_an_error():
    with pytest.raises(ValueError, match="undefined without relevant items"):
        ndcg_at_k([1, 2], set(), k=2)


def test_training_movies_are_never_candidates():
    train = ratings([(1, 10, 5), (1, 20, 3), (2, 30, 4)])
    scorer = table_scorer({10: 9.0, 20: 8.0, 30: 1.0, 40: 2.0})
    # User 1 rated 10 and 20, the two best-scored: they must not come back.
    assert top_k_unseen(scorer, train, 1, k=5, candidates=[10, 20, 30, 40]).tolist() == [40, 30]
    assert top_k_unseen(scorer, train, 2, k=2, candidates=[10, 20, 30, 40]).tolist() == [10, 20]
    # Without explicit candidates, the movies in training are the candidates.
    assert top_k_unseen(scorer, train, 1, k=5).tolist() == [30]
    # A user who rated every candidate gets an empty list.
    assert top_k_unseen(scorer, train, 1, k=5, candidates=[10, 20]).tolist() == []


def test_scorer_known_movies_are_the_default_candidates():
    train = ratings([(1, 10, 5)])
    scorer = table_scorer({10: 1.0, 20: 3.0, 30: 2.0})
    scorer.known_movies = {10, 20, 30}
    assert top_k_unseen(scorer, train, 1, k=10).tolist() == [20, 30]


def test_ties_are_broken_by_movie_id_whatever_the_order():
    train = ratings([(1, 99, 5)])
    scorer = table_scorer({7: 1.0, 3: 1.0, 5: 2.0, 1: 1.0})
    assert top_k_unseen(scorer, train, 1, k=3, candidates=[7, 3, 5, 1]).tolist() == [5, 1, 3]


def test_batched_lists_match_one_user_at_a_time():
    rng = np.random.default_rng(0)
    train = ratings([(u, m, 3) for u in range(1, 8) for m in range(1, 30) if rng.random() < 0.3])
    weights = {m: float(rng.integers(0, 5)) for m in range(1, 30)}

    def scorer(user_ids, movie_ids):  # depends on the user too
        pairs = zip(user_ids, movie_ids, strict=True)
        return np.array([weights[m] * (u % 3 + 1) + 0.01 * m for u, m in pairs])

    users = sorted(train["User ID"].unique())
    batched = top_k_for_users(scorer, train, users, k=5, chunk=2)
    for user in users:
        assert batched[user].tolist() == top_k_unseen(scorer, train, user, k=5).tolist()


def test_most_popular_orders_by_training_ratings():
    train = ratings([(1, 30, 1), (2, 30, 2), (3, 30, 1), (1, 20, 5), (2, 20, 5), (3, 10, 4), (4, 40, 5)])
    scorer = popularity_scorer(train)
    assert scorer.known_movies == {10, 20, 30, 40} and scorer.known_users == {1, 2, 3, 4}
    # Counts: 30 -> 3, 20 -> 2, 10 and 40 -> 1 (a tie, broken by id). Ratings do not matter.
    assert top_k_unseen(scorer, train, 4, k=4).tolist() == [30, 20, 10]
    assert top_k_unseen(scorer, train, 3, k=2).tolist() == [20, 40]
    assert scorer(np.array([1, 1]), np.array([40, 99])).tolist() == [1.0, 0.0]


def test_evaluate_ranking_by_hand():
    train = ratings([(1, 10, 5), (2, 10, 4), (2, 20, 4), (3, 30, 2), (3, 10, 1)])
    valid = ratings([
        (1, 20, 5), (1, 30, 2),   # user 1: relevant {20}
        (2, 30, 4),               # user 2: relevant {30}
        (3, 20, 3),               # user 3: nothing rated >= 4, skipped
        (9, 30, 5),               # user 9 is not in training, skipped
    ])
    scorer = table_scorer({10: 3.0, 20: 2.0, 30: 1.0})
    result = evaluate_ranking(scorer, train, valid, k=2)
    # User 1 candidates {20, 30} -> [20, 30]: P = 1/2, NDCG = 1.
    # User 2 candidates {30} -> [30]: P = 1/2, NDCG = 1.
    assert result == {"precision_at_k": 0.5, "ndcg_at_k": 1.0, "k": 2, "n_users": 2}
    # k = 1 for user 1: [20] -> 1, 1; for user 2: [30] -> 1, 1.
    assert evaluate_ranking(scorer, train, valid, k=1)["precision_at_k"] == 1.0
    # Reverse the scores: user 1 gets [30, 20] (hit at rank 2), user 2 still [30].
    reverse = evaluate_ranking(table_scorer({10: 1.0, 20: 2.0, 30: 3.0}), train, valid, k=2)
    assert reverse["precision_at_k"] == 0.5
    assert reverse["ndcg_at_k"] == pytest.approx((1 / math.log2(3) + 1) / 2)


def test_threshold_decides_what_is_relevant():
    train = ratings([(1, 10, 5)])
    valid = ratings([(1, 20, 3), (1, 30, 4)])
    scorer = table_scorer({10: 0.0, 20: 2.0, 30: 1.0})
    scorer.known_movies = {10, 20, 30}
    assert evaluate_ranking(scorer, train, valid, k=1)["precision_at_k"] == 0.0    # [20], relevant {30}
    assert evaluate_ranking(scorer, train, valid, k=1, threshold=3)["precision_at_k"] == 1.0


def test_users_unknown_to_the_scorer_are_skipped():
    train = ratings([(1, 10, 5), (2, 10, 5)])
    valid = ratings([(1, 20, 5), (2, 20, 5)])
    scorer = table_scorer({10: 0.0, 20: 1.0})
    scorer.known_users, scorer.known_movies = {1}, {10, 20}
    assert evaluate_ranking(scorer, train, valid, k=1)["n_users"] == 1


def test_nothing_to_evaluate_is_an_error():
    train = ratings([(1, 10, 5)])
    with pytest.raises(ValueError, match="no user in training has a validation rating >= 4"):
        evaluate_ranking(table_scorer({10: 1.0}), train, ratings([(1, 10, 3)]), k=1)


def test_missing_columns_are_named():
    train = ratings([(1, 10, 5)])
    with pytest.raises(ValueError, match=r"validation ratings lack column\(s\) \['Rating'\]"):
        evaluate_ranking(table_scorer({10: 1.0}), train, train.drop(columns="Rating"), k=1)
    with pytest.raises(ValueError, match=r"training ratings lack column\(s\) \['Movie ID'\]"):
        popularity_scorer(train.drop(columns="Movie ID"))


def test_a_scorer_returning_the_wrong_shape_is_an_error():
    train = ratings([(1, 10, 5)])
    with pytest.raises(ValueError, match="scorer returned"):
        top_k_unseen(lambda users, movies: np.zeros(1), train, 2, k=1, candidates=[10, 20])


def test_within_rated_ranks_only_the_users_validation_movies():
    valid = ratings([
        (1, 10, 5), (1, 20, 2), (1, 30, 4),   # relevant {10, 30}
        (2, 20, 5), (2, 40, 1),               # relevant {20}; 40 unknown to the scorer
        (3, 10, 2),                           # nothing relevant: skipped
    ])
    scorer = table_scorer({10: 1.0, 20: 3.0, 30: 2.0, 40: 9.0})
    scorer.known_movies = {10, 20, 30}
    result = evaluate_within_rated(scorer, valid, k=2)
    # User 1: [20, 30, 10] -> top 2 [20, 30]: 1 hit, P = 1/2; DCG = 1/log2 3, ideal = 1 + 1/log2 3.
    # User 2: [20] -> P = 1/2 (one empty slot), NDCG = 1.
    ndcg_1 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert result["n_users"] == 2 and result["k"] == 2
    assert result["precision_at_k"] == pytest.approx(0.5)
    assert result["ndcg_at_k"] == pytest.approx((ndcg_1 + 1) / 2)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        evaluate_within_rated(scorer, valid, k=0)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_within_rated(scorer, valid, k=2, threshold=6)
