"""Top-N lists for new users (models.topn.new_user): EASE, co-occurrence and popularity scored for a
row that was not in the training data. numpy, pandas and scipy alone."""

import numpy as np
import pandas as pd
import pytest

from movielens_fastai.models.topn.ease import EASE
from movielens_fastai.models.topn.new_user import NewUserRanker, conditional_cooccurrence, standardised


def clustered_ratings(n_users=120, seed=0) -> pd.DataFrame:
    """Two tastes: users of taste 0 watch movies 1-10 and like them, users of taste 1 watch 11-20
    and like them; everybody watches movie 21 (the popular one), and a few watch movie 22."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        taste = user % 2
        movies = np.arange(1, 11) + 10 * taste
        for movie in rng.choice(movies, 6, replace=False):
            rows.append((user, int(movie), int(rng.integers(4, 6))))
        rows.append((user, 21, 3))
        if user % 10 == 0:
            rows.append((user, 22, 2))
    return pd.DataFrame(rows, columns=["User ID", "Movie ID", "Rating"])


@pytest.fixture(scope="module")
def ranker():
    return NewUserRanker.fit(clustered_ratings(), l2=10.0, cond_weight=1.0, popularity_prior=1.0)


def test_fit_takes_eases_weights_and_counts(ranker):
    train = clustered_ratings()
    ease = EASE(l2=10.0, low_weight=0.25).fit(train)
    assert np.array_equal(ranker.movie_ids, ease.movies)
    assert np.array_equal(ranker.ease_weights, ease.weights.astype(np.float32))
    assert np.array_equal(ranker.popularity, train["Movie ID"].value_counts().reindex(ease.movies).to_numpy())


def test_cooccurrence_by_hand():
    seen = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1]])
    shares = conditional_cooccurrence(seen)
    # of the 3 users who rated movie 0, 2 rated movie 1 and 2 rated movie 2
    assert shares[0].tolist() == pytest.approx([0, 2 / 3, 2 / 3])
    # of the 2 who rated movie 1, both rated 0, one rated 2
    assert shares[1].tolist() == pytest.approx([1, 0, 0.5])
    assert shares.dtype == np.float32


def test_standardised():
    assert standardised(np.array([1.0, 2.0, 3.0])).tolist() == pytest.approx([-1.2247449, 0, 1.2247449])
    assert standardised(np.zeros(4)).tolist() == [0, 0, 0, 0]
    assert standardised(np.full(3, 7.0)).tolist() == [0, 0, 0]


def test_no_ratings_gives_most_popular(ranker):
    picks = ranker.recommend([], [], n=5)
    expected = np.argsort(-ranker.popularity, kind="stable")[:5]
    assert picks.columns.tolist() == expected.tolist()
    assert (picks.because == -1).all()


def test_rated_movies_are_never_recommended(ranker):
    rng = np.random.default_rng(1)
    for k in (1, 2, 5, 10, 20):
        columns = rng.choice(len(ranker.movie_ids), k, replace=False)
        ratings = rng.integers(1, 6, k).astype(float)
        picks = ranker.recommend(columns, ratings, n=10)
        assert not set(picks.columns.tolist()) & set(columns.tolist())
        assert len(picks.columns) == min(10, len(ranker.movie_ids) - k)
        assert np.all(np.diff(picks.scores) <= 0)


def test_a_taste_is_followed_and_explained(ranker):
    liked = ranker.columns([1, 2, 3])   # three movies of taste 0
    picks = ranker.recommend(liked, [5.0, 5.0, 4.0], n=5)
    picked = ranker.movie_ids[picks.columns]
    # the other taste's movies (11-20) never make it; movie 21, which everybody watched, may
    assert set(picked.tolist()) <= set(range(4, 11)) | {21}, picked
    same_taste = np.isin(picked, np.arange(4, 11))
    assert same_taste.sum() >= 4
    # each of them is explained by one of the three liked movies
    assert set(picks.because[same_taste].tolist()) <= {0, 1, 2}


def test_the_popularity_weight_shrinks_with_ratings(ranker):
    weights = [ranker.popularity_weight(n) for n in (0, 1, 3, 10, 100)]
    assert weights[0] == 1.0
    assert all(later < earlier for earlier, later in zip(weights, weights[1:], strict=False))


def test_every_movie_rated_gives_an_empty_list(ranker):
    columns = np.arange(len(ranker.movie_ids))
    picks = ranker.recommend(columns, np.full(len(columns), 4.0))
    assert len(picks.columns) == 0


def test_bad_inputs_are_refused(ranker):
    with pytest.raises(ValueError, match="2 movies but 1 ratings"):
        ranker.recommend([0, 1], [4.0])
    with pytest.raises(ValueError, match="a movie is rated twice"):
        ranker.recommend([0, 0], [4.0, 5.0])
    with pytest.raises(KeyError, match=r"movie id\(s\) \[999\] are not in the ranker's movies"):
        ranker.columns([999])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        ranker.recommend([0], [4.0], n=0)
    with pytest.raises(ValueError, match="ease_weights has shape"):
        NewUserRanker([1, 2], np.zeros((3, 3)), np.zeros((2, 2)), np.zeros(2))
