"""A top-N list for someone the rankers never saw, from a handful of (movie, rating) pairs.

Rankers (``base.Ranker``) score training users only. A new user is a row that was not in the
data, and the item-to-item models can score such a row straight away, no refitting:

* EASE's weights ``B`` (``ease.EASE``): the user's row ``x`` times ``B``;
* the conditional co-occurrence ``P[i, j]``: the share of the people who rated movie ``i`` that
  also rated ``j`` (as in "people who watched this also watched"); ``x P`` favours movies that
  are both related and widely seen, which is what helps most when ``x`` holds one or two movies;
* popularity (the number of training ratings), which is what a list should fall back to when
  there is nothing to go on.

``x`` holds 1 per movie rated ``LIKED`` (4) or more and ``low_weight`` (0.25) per lower rating, as
EASE was fitted. The two personal scores are standardised (mean 0, sd 1 over the movies) and
added, ``cond_weight`` times the co-occurrence one; the sum is standardised again and blended
with the standardised popularity by the weight ``a / (a + n)`` (``a`` = ``popularity_prior``, ``n``
= number of ratings): all popularity with no ratings, less and less as ratings come. Both
settings are chosen on validation users (``evaluation.new_users``), never on the users a result
is reported for. Rated movies are never recommended. Each pick comes with the rated movie that
contributed most to it, or none when popularity outweighs what the user told us.

This module needs numpy, pandas and scipy alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...core import MOVIE, check_columns, check_k
from .base import LIKED
from .ease import CHOSEN_L2, EASE

#: Ratings below ``LIKED`` count this much in the user's row (the issue's first measurement's weight).
LOW_WEIGHT = 0.25
#: Chosen on validation users by ``benchmarks/new_users.py`` (random order, seed 0; see
#: benchmarks/results/new_users.json, "chosen"): the weight of the co-occurrence score against
#: EASE's, and ``a`` in the popularity weight ``a / (a + n)``.
CHOSEN_BLEND = {"cond_weight": 2.0, "popularity_prior": 0.5}


def standardised(values: np.ndarray) -> np.ndarray:
    """``values`` with mean 0 and standard deviation 1; all zeros when they are all equal (a score
    that says nothing must not weigh anything)."""
    values = np.asarray(values, dtype=np.float64)
    spread = values.std()
    if not np.isfinite(spread) or spread <= 1e-12 * max(1.0, float(np.abs(values).max(initial=0.0))):
        return np.zeros_like(values)
    return (values - values.mean()) / spread


def conditional_cooccurrence(seen) -> np.ndarray:
    """``P[i, j]``: the share of the users who rated movie ``i`` that also rated movie ``j`` (``seen``:
    users x movies, 1 where rated; dense or scipy sparse); diagonal 0, float32."""
    seen = seen.toarray() if hasattr(seen, "toarray") else np.asarray(seen)
    watched = (seen > 0).astype(np.float64)
    together = watched.T @ watched
    viewers = np.diag(together).copy()
    shares = together / np.maximum(viewers, 1.0)[:, None]
    np.fill_diagonal(shares, 0.0)
    return shares.astype(np.float32)


@dataclass
class NewUserPicks:
    """A new user's list: ``columns`` (positions in the ranker's ``movie_ids``), best first, their
    ``scores``, and for each the position in the user's own ratings of the rated movie that
    contributed most (``because``; -1 where popularity outweighs the user's ratings)."""

    columns: np.ndarray
    scores: np.ndarray
    because: np.ndarray


@dataclass
class NewUserRanker:
    """Top-N lists for new users from EASE, co-occurrence and popularity (see the module's text).

    Arrays are in ``movie_ids`` order: ``ease_weights`` and ``cooccurrence`` movies x movies,
    ``popularity`` the number of training ratings of each movie."""

    movie_ids: np.ndarray
    ease_weights: np.ndarray
    cooccurrence: np.ndarray
    popularity: np.ndarray
    cond_weight: float = CHOSEN_BLEND["cond_weight"]
    popularity_prior: float = CHOSEN_BLEND["popularity_prior"]
    low_weight: float = LOW_WEIGHT
    liked: float = LIKED

    def __post_init__(self):
        self.movie_ids = np.asarray(self.movie_ids, dtype=np.int64)
        n = len(self.movie_ids)
        for name, shape in (("ease_weights", (n, n)), ("cooccurrence", (n, n)), ("popularity", (n,))):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} has shape {np.shape(getattr(self, name))}, expected {shape} "
                                 f"for {n} movies")
        if n and not (np.diff(self.movie_ids) > 0).all():
            raise ValueError("movie_ids must be sorted and distinct")
        for name in ("cond_weight", "popularity_prior", "low_weight"):
            value = float(getattr(self, name))
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {getattr(self, name)!r}")
            setattr(self, name, value)
        self._popularity_z = standardised(self.popularity)
        self._index = pd.Index(self.movie_ids)

    @classmethod
    def fit(cls, train: pd.DataFrame, l2: float = CHOSEN_L2, low_weight: float = LOW_WEIGHT,
            **settings) -> NewUserRanker:
        """Fit EASE (``l2``, ``low_weight``) and the co-occurrence on ``train`` (``User ID``,
        ``Movie ID``, ``Rating``); ``settings``: ``cond_weight``, ``popularity_prior``."""
        check_columns(train, "training", [MOVIE])
        ease = EASE(l2=l2, low_weight=low_weight).fit(train)
        popularity = train[MOVIE].value_counts().reindex(ease.movies, fill_value=0).to_numpy(np.float32)
        return cls(ease.movies, ease.weights.astype(np.float32), conditional_cooccurrence(ease.seen),
                   popularity, low_weight=low_weight, **settings)

    def columns(self, movie_ids) -> np.ndarray:
        """Positions of ``movie_ids`` in ``movie_ids``; an unknown id is refused."""
        ids = np.asarray(movie_ids, dtype=np.int64).reshape(-1)
        cols = self._index.get_indexer(ids)
        if (cols < 0).any():
            raise KeyError(f"movie id(s) {ids[cols < 0][:5].tolist()} are not in the ranker's movies")
        return cols

    def popularity_weight(self, n_ratings: int) -> float:
        """How much of the list is popularity after ``n_ratings`` ratings: ``a / (a + n)``."""
        if n_ratings == 0:
            return 1.0
        return self.popularity_prior / (self.popularity_prior + n_ratings)

    def _parts(self, columns: np.ndarray, ratings: np.ndarray):
        """(the user's row weights, EASE's scores, the co-occurrence scores, their standardised sum)."""
        row = np.where(ratings >= self.liked, 1.0, self.low_weight)
        ease = row @ self.ease_weights[columns].astype(np.float64)
        cooccurrence = row @ self.cooccurrence[columns].astype(np.float64)
        personal = standardised(standardised(ease) + self.cond_weight * standardised(cooccurrence))
        return row, ease, cooccurrence, personal

    def scores(self, columns, ratings) -> np.ndarray:
        """The blended score of every movie (rated ones included) for a user who gave ``ratings``
        to the movies at ``columns``."""
        columns, ratings = self._checked(columns, ratings)
        weight = self.popularity_weight(len(columns))
        if weight == 1.0:
            return self._popularity_z.copy()
        return (1 - weight) * self._parts(columns, ratings)[3] + weight * self._popularity_z

    def recommend(self, columns, ratings, n: int = 10) -> NewUserPicks:
        """The ``n`` best-scored movies the user did not rate, best first (equal scores: lower
        movie id first), each with the rated movie that contributed most (see ``NewUserPicks``)."""
        n = check_k(n)
        columns, ratings = self._checked(columns, ratings)
        weight = self.popularity_weight(len(columns))
        if weight == 1.0:
            personal = np.zeros(len(self.movie_ids))
            total = self._popularity_z.copy()
        else:
            row, ease, cooccurrence, personal = self._parts(columns, ratings)
            total = (1 - weight) * personal + weight * self._popularity_z
        total[columns] = -np.inf
        candidates = len(self.movie_ids) - len(columns)
        order = np.argsort(-total, kind="stable")[:min(n, candidates)]
        because = np.full(len(order), -1, dtype=np.int64)
        if weight < 1.0 and len(order):
            personal_wins = (1 - weight) * personal[order] > weight * self._popularity_z[order]
            if personal_wins.any():
                # Each rated movie's share of the personal score (up to the standardisations' shifts).
                spread_e, spread_c = ease.std() or 1.0, cooccurrence.std() or 1.0
                shares = row[:, None] * (self.ease_weights[columns][:, order] / spread_e
                                         + self.cond_weight * self.cooccurrence[columns][:, order] / spread_c)
                # A liked movie that adds to the pick is the best reason; then any rated movie that adds.
                positive = shares > 0
                liked = (ratings >= self.liked)[:, None]
                preference = np.where(positive & liked, shares + np.abs(shares).max() + 1.0,
                                      np.where(positive, shares, -np.inf))
                best = preference.argmax(axis=0)
                because = np.where(personal_wins & positive.any(axis=0), best, -1)
        return NewUserPicks(order, total[order], because)

    def _checked(self, columns, ratings) -> tuple[np.ndarray, np.ndarray]:
        columns = np.asarray(columns, dtype=np.int64).reshape(-1)
        ratings = np.asarray(ratings, dtype=np.float64).reshape(-1)
        if len(columns) != len(ratings):
            raise ValueError(f"{len(columns)} movies but {len(ratings)} ratings")
        if len(columns) and (columns.min() < 0 or columns.max() >= len(self.movie_ids)):
            raise IndexError(f"movie columns must be in 0..{len(self.movie_ids) - 1}")
        if len(np.unique(columns)) != len(columns):
            raise ValueError("a movie is rated twice")
        return columns, ratings
