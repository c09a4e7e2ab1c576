"""The most-popular baseline: every user gets the same list, the movies with most training ratings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...core import MOVIE, USER, check_columns
from .base import Ranker


class MostPopular(Ranker):
    """Score = number of training ratings: the same list for every user."""

    name = "most popular"

    def _fit(self, signal, rows, cols, train):
        self._counts = np.asarray(signal.sum(axis=0)).ravel().astype(float)

    def _scores(self, rows):
        return np.tile(self._counts, (len(rows), 1))




def popularity_scorer(train: pd.DataFrame):
    """The same baseline as a scorer ``(user ids, movie ids) -> scores``: a movie's score is its
    number of training ratings. The scorer knows the users and movies of ``train``."""
    check_columns(train, "training", [USER, MOVIE])
    counts = train[MOVIE].value_counts()

    def score(user_ids, movie_ids):
        return counts.reindex(np.asarray(movie_ids), fill_value=0).to_numpy(dtype=float)

    score.known_users = {int(u) for u in train[USER].unique()}
    score.known_movies = {int(m) for m in counts.index}
    return score
