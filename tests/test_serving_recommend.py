"""Recommendations: unseen movies only, best first, with titles; clear errors."""

import numpy as np
import pandas as pd
import pytest

import movielens_fastai as mlf

MOVIES = pd.DataFrame({"Movie ID": [1, 2, 3, 4, 5], "Title": ["A", "B", "C", "D", "E"]})
RATINGS = pd.DataFrame({"User ID": [1, 1, 2, 3, 3, 3, 3, 3],
                        "Movie ID": [1, 2, 3, 1, 2, 3, 4, 5],
                        "Rating": [5, 3, 4, 1, 2, 3, 4, 5]})


def scorer(users, movies):
    """A model that likes higher movie ids, less so for user 2."""
    return np.asarray(movies, dtype=float) / np.where(np.asarray(users) == 2, 2.0, 1.0)


scorer.known_users = {1, 2, 3}
scorer.known_movies = {1, 2, 3, 4, 5}


def test_unseen_movies_sorted_with_titles():
    recs = mlf.top_unseen(scorer, RATINGS, MOVIES, user_id=1, n=2)
    assert list(recs["Movie ID"]) == [5, 4]
    assert list(recs["Title"]) == ["E", "D"]
    assert list(recs["Predicted rating"]) == [5.0, 4.0]


def test_never_recommends_a_rated_movie():
    recs = mlf.top_unseen(scorer, RATINGS, MOVIES, user_id=2, n=10)
    assert list(recs["Movie ID"]) == [5, 4, 2, 1]
    assert 3 not in set(recs["Movie ID"])


def test_user_who_rated_everything_gets_nothing():
    recs = mlf.top_unseen(scorer, RATINGS, MOVIES, user_id=3)
    assert recs.empty and list(recs.columns) == ["Movie ID", "Title", "Predicted rating"]


def test_unknown_user_is_an_error():
    with pytest.raises(mlf.UnknownUserError) as err:
        mlf.top_unseen(scorer, RATINGS, MOVIES, user_id=99)
    assert str(err.value) == ("user 99 is not in the training data, so the model has nothing to recommend "
                              "from; for someone the model has not seen, fold their ratings into a saved "
                              "model: movielens_fastai.serving.bundle.load_bundle(path)"
                              ".new_user(ratings).recommend(10) (docs/serving.md)")


def test_predictions_table_has_titles_and_differences():
    table = mlf.predictions_table([1, 2], [2, 5], [3, 4], [3.5, 3.0], MOVIES)
    assert list(table["Title"]) == ["B", "E"]
    assert list(table["Difference"]) == [0.5, -1.0]


def test_recommend_next_ranks_unseen_movies_with_a_ranker():
    from movielens_fastai.models.topn.popularity import MostPopular

    # Counts: movie 1, 2, 3 -> 2 ratings each; 4 and 5 -> 1. User 2 rated 3 only.
    recs = mlf.recommend_next(RATINGS, MOVIES, user_id=2, n=3, ranker=MostPopular())
    assert list(recs.columns) == ["Movie ID", "Title", "Score"]
    assert list(recs["Movie ID"]) == [1, 2, 4]   # 1 and 2 lead; 4 and 5 tie, lower id first
    assert list(recs["Score"]) == [2.0, 2.0, 1.0]
    with pytest.raises(mlf.UnknownUserError, match="user 9 is not in the ratings"):
        mlf.recommend_next(RATINGS, MOVIES, user_id=9)


def test_recommend_next_defaults_to_ease_and_skips_seen_movies():
    recs = mlf.recommend_next(RATINGS, MOVIES, user_id=1, n=10)
    assert set(recs["Movie ID"]) == {3, 4, 5}
    # User 1 rated 1 and 2: the three others are the candidates, best first.
    assert recs["Score"].is_monotonic_decreasing
