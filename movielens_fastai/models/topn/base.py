"""Rankers: models that answer "what should I watch next?" rather than "how would I like this
movie?", and what every ranker shares.

A ranker is fitted on a ratings table (``User ID``, ``Movie ID``, ``Rating``) and then gives, for
any training user, a score to every training movie; higher means "put it higher in the list".
Most rankers only use *which* movies a user rated (a rating, any rating, means "watched"), not
the value. One module per family: ``popularity``, ``knn``, ``ease``, ``ials`` (the ``implicit``
package), ``fastai_rankers`` (the article's dot-product model trained by fastai 2 on ranking losses, and
on ratings) and ``blend``. How lists are judged is ``evaluation.topn``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse

from ...core import MOVIE, RATING, USER, check_columns, check_k

LIKED = 4   # a rating of 4 or 5: the user liked the movie


def top_k_from_scores(scores: np.ndarray, seen, k: int) -> list[np.ndarray]:
    """Column indices of each row's ``k`` best scores, best first, skipping ``seen`` cells.

    ``scores`` is a users x items array; ``seen`` a boolean array (or scipy sparse
    matrix) of the same shape marking the cells that must never be recommended. Equal
    scores are ordered by column, so with columns in id order ties go to the lower id.
    A row with fewer than ``k`` unseen items gets a shorter list.
    """
    k = check_k(k)
    scores = np.array(scores, dtype=float)   # a copy: seen cells are overwritten
    if scores.ndim != 2:
        raise ValueError(f"scores must be a users x items array, got shape {scores.shape}")
    seen = seen.toarray() if hasattr(seen, "toarray") else np.asarray(seen)
    seen = seen.astype(bool)
    if seen.shape != scores.shape:
        raise ValueError(f"seen has shape {seen.shape}, scores {scores.shape}: they must match")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: the ranker failed")
    scores[seen] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [row[~seen[i, row]] for i, row in enumerate(order)]


class Ranker:
    """Base class: ``fit(train)``, then ``scores(user_ids)`` and ``recommend(user_ids, k)``."""

    name = "ranker"

    def fit(self, train: pd.DataFrame) -> Ranker:
        check_columns(train, "training", [USER, MOVIE])
        if train.empty:
            raise ValueError("training ratings are empty: nothing to fit")
        self.users = np.array(sorted(train[USER].unique()), dtype=np.int64)
        self.movies = np.array(sorted(train[MOVIE].unique()), dtype=np.int64)
        self._user_row = pd.Index(self.users)
        rows = self._user_row.get_indexer(train[USER].to_numpy())
        cols = pd.Index(self.movies).get_indexer(train[MOVIE].to_numpy())
        shape = (len(self.users), len(self.movies))
        self.seen = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
        self.seen.sum_duplicates()
        self.seen.data[:] = 1.0
        # What the model learns from: 1 per watched movie, or, with low_weight < 1, ratings
        # below `liked` count for less (0: only liked movies are learned from). Seen movies
        # are never recommended either way.
        low_weight = getattr(self, "low_weight", 1.0)
        values = np.ones(len(rows), dtype=np.float32)
        if low_weight != 1.0:
            check_columns(train, "training", [RATING])
            values[train[RATING].to_numpy() < LIKED] = low_weight
        keep = values > 0
        signal = sparse.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=shape)
        self._fit(signal, rows[keep], cols[keep], train[keep])
        return self

    def _fit(self, signal, rows, cols, train) -> None:
        """Learn from ``signal`` (users x movies, sparse; see ``fit``); ``rows``, ``cols`` and
        ``train`` are its non-zero cells as indices and as ratings."""
        raise NotImplementedError

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def rows_of(self, user_ids) -> np.ndarray:
        rows = self._user_row.get_indexer(np.asarray(user_ids, dtype=np.int64))
        if (rows < 0).any():
            unknown = np.asarray(user_ids)[rows < 0][:5].tolist()
            raise KeyError(f"users {unknown} are not in the training data: nothing to rank for them")
        return rows

    def scores(self, user_ids) -> np.ndarray:
        """users x ``self.movies`` scores (seen movies included)."""
        return np.asarray(self._scores(self.rows_of(user_ids)), dtype=float)

    def recommend(self, user_ids: Iterable[int], k: int, chunk: int = 512) -> dict[int, np.ndarray]:
        """user -> the ``k`` best-scored movies they did not rate in training, best first;
        equal scores go to the lower movie id."""
        k = check_k(k)
        user_ids = np.asarray(list(user_ids), dtype=np.int64)
        top = {}
        for start in range(0, len(user_ids), chunk):
            block = user_ids[start:start + chunk]
            rows = self.rows_of(block)
            picked = top_k_from_scores(self._scores(rows), self.seen[rows], k)
            top.update({int(u): self.movies[p] for u, p in zip(block, picked, strict=True)})
        return top

    def scorer(self):
        """A ``(user ids, movie ids) -> scores`` function for ``recommend.top_unseen`` and
        ``evaluation.topn.top_k_for_users``."""
        movie_col = pd.Index(self.movies)

        def score(user_ids, movie_ids):
            user_ids, movie_ids = np.asarray(user_ids), np.asarray(movie_ids)
            out = np.full(len(user_ids), -np.inf)
            cols = movie_col.get_indexer(movie_ids)
            for user in np.unique(user_ids):
                mask = user_ids == user
                row = self.scores([user])[0]
                out[mask] = np.where(cols[mask] >= 0, row[cols[mask]], -np.inf)
            return out

        score.known_users = {int(u) for u in self.users}
        score.known_movies = {int(m) for m in self.movies}
        score.label = "Score"
        return score

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    def params(self) -> dict:
        return {}


class RandomRanker(Ranker):
    """Random scores, fixed by ``seed``: the floor any ranker must beat."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _fit(self, signal, rows, cols, train):
        self._table = np.random.default_rng(self.seed).random(signal.shape)

    def _scores(self, rows):
        return self._table[rows]

    def params(self):
        return {"seed": self.seed}
