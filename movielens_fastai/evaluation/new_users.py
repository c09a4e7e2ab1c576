"""New users, measured honestly: people the model never saw, each giving a handful of ratings.

The protocol (``new_user_split`` then ``first_ratings``):

* users are held out *entirely*: a random share (``HOLDOUT``, 10% of all users, numpy
  ``default_rng(seed)``) of the users with at least ``max(ks) + MIN_REST`` ratings, so that every
  held-out user is scored on at least ``MIN_REST`` ratings at every ``k`` and the same users are
  scored at every ``k``; users with fewer ratings always stay in training;
* a further share of the remaining eligible users (``VALIDATION``, 10% of all users) are
  *validation users*: the settings of the new-user path (the fold-in penalty, the popularity
  blend) are chosen on them, with a model trained without them and without the held-out users;
* each held-out user gives their *first* ``k`` ratings by timestamp, as a new user would (ties
  within the same second, common in MovieLens, are put in a random order drawn from ``seed``);
  the rest of their ratings are scored: rating RMSE on all of them, NDCG@10 with their
  ratings >= 4 as the relevant movies, among every movie they did not give.

Rating methods compared at each ``k``: the global mean, the movie's bias alone (mean + movie
bias, ``models.rating.baselines.bias`` with the user unknown), the fold-in, and retraining the
same recipe with the ``k`` ratings included. Lists: most popular against the new-user ranker.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import MOVIE, RATING, TIMESTAMP, USER, check_columns

#: The share of all users held out (test) and the share kept for choosing settings (validation).
HOLDOUT, VALIDATION = 0.1, 0.1
#: How many ratings each new user gives.
KS = (1, 3, 5, 10, 20)
#: Ratings left to score, at least, for every held-out user at the largest k.
MIN_REST = 5


def new_user_split(ratings: pd.DataFrame, seed: int = 0, ks=KS, holdout: float = HOLDOUT,
                   validation: float = VALIDATION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(training users, validation users, held-out users)``, sorted arrays of user ids.

    The validation and held-out users are drawn (``default_rng(seed)``) from the users with at
    least ``max(ks) + MIN_REST`` ratings, ``round(share * number of users)`` each."""
    check_columns(ratings, "input", [USER, MOVIE])
    counts = ratings.groupby(USER).size()
    eligible = np.sort(counts.index[counts >= max(ks) + MIN_REST].to_numpy(dtype=np.int64))
    n_test, n_valid = (int(round(share * len(counts))) for share in (holdout, validation))
    if n_test < 1 or n_test + n_valid > len(eligible):
        raise ValueError(f"{len(eligible)} users have at least {max(ks) + MIN_REST} ratings: too few to "
                         f"hold out {n_test} and validate on {n_valid}")
    drawn = np.random.default_rng(seed).permutation(eligible)
    test, valid = np.sort(drawn[:n_test]), np.sort(drawn[n_test:n_test + n_valid])
    train = np.setdiff1d(counts.index.to_numpy(dtype=np.int64), np.concatenate([test, valid]))
    return train, valid, test


def time_order(ratings: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """``ratings`` by user, then timestamp; ratings given in the same second in a random order
    (``default_rng(seed)``), so that which of them counts as "first" is not the file's order."""
    check_columns(ratings, "input", [USER, MOVIE, TIMESTAMP])
    shuffled = ratings.iloc[np.random.default_rng(seed).permutation(len(ratings))]
    return shuffled.sort_values([USER, TIMESTAMP], kind="stable")


def first_ratings(ratings: pd.DataFrame, users, k: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(given, rest)``: each of ``users``' first ``k`` ratings by time (see ``time_order``) and the
    others."""
    mine = time_order(ratings[ratings[USER].isin(np.asarray(users))], seed)
    position = mine.groupby(USER).cumcount().to_numpy()
    return mine[position < k], mine[position >= k]


def per_user(given: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """user -> (movie ids, ratings) in the order given."""
    return {int(user): (group[MOVIE].to_numpy(np.int64), group[RATING].to_numpy(np.float64))
            for user, group in given.groupby(USER, sort=True)}
