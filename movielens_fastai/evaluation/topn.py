"""How good a top-of-the-list is, judged on held-out ratings: the project's top-N protocols.

A rating model can have a low MSE and still recommend badly: what a user sees is only the few
movies at the top. Two ways in:

* with any scorer ``(user ids, movie ids) -> scores`` (a rating model, a baseline):
  ``top_k_for_users`` ranks, for each user, every movie they did not rate in training, and
  ``evaluate_ranking`` / ``evaluate_within_rated`` check the top ``k`` against the movies they
  rated highly in validation;
* with a ranker (``models.topn``), under two protocols that ``protocol_splits`` gives and
  ``evaluate_ranker`` judges:

  - ``ours``: the canonical folds u1-u5; train on ``.base``; a user's relevant movies are their
    ``.test`` ratings >= 4; candidates are the movies of ``.base`` the user did not rate;
  - ``recommenders``: Microsoft Recommenders' benchmark protocol: each user's ratings split 75/25
    at random (stratified by user); every test rating is relevant, whatever its value; the user's
    training movies are removed from the candidates.

Ratings tables have the columns ``User ID``, ``Movie ID`` and ``Rating``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from ..core import MOVIE, RATING, USER, check_columns, check_k
from ..data.movielens import read_ratings_file
from ..data.splits import FOLDS, read_fold, stratified_split
from ..models.topn.base import Ranker
from .metrics import ndcg_at_k, precision_at_k, ranking_metrics

# (user ids, movie ids) -> scores, all 1-d arrays of equal length; higher is better.
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
PROTOCOLS = ("ours", "recommenders")


def _candidates(scorer: Scorer, train: pd.DataFrame, candidates: Iterable[int] | None) -> np.ndarray:
    if candidates is None:
        candidates = getattr(scorer, "known_movies", None)
    if candidates is None:
        candidates = train[MOVIE].unique()
    return np.array(sorted({int(m) for m in candidates}), dtype=np.int64)


def top_k_for_users(scorer: Scorer, train: pd.DataFrame, user_ids: Iterable[int], k: int,
                    candidates: Iterable[int] | None = None, chunk: int = 256) -> dict[int, np.ndarray]:
    """For each user, the ``k`` best-scored movies they did not rate in ``train``, best first.

    Candidates are ``candidates`` if given, else the scorer's ``known_movies``, else
    the movies in ``train``; each user's training movies are always removed. Equal
    scores are ordered by movie id, so a list does not depend on input order. The
    scorer is called once per ``chunk`` users, with all their (user, movie) pairs.
    """
    k = check_k(k)
    check_columns(train, "training", [USER, MOVIE])
    movies = _candidates(scorer, train, candidates)
    users = list(dict.fromkeys(int(u) for u in user_ids))  # each user once, in order
    # Each training rating as (user, column of its movie in `movies`); movies that are
    # not candidates drop out.
    train_users = train[USER].to_numpy(dtype=np.int64)
    train_cols = pd.Index(movies).get_indexer(train[MOVIE].to_numpy(dtype=np.int64))
    train_users, train_cols = train_users[train_cols >= 0], train_cols[train_cols >= 0]
    top = {}
    for start in range(0, len(users), chunk):
        block = users[start:start + chunk]
        unseen = np.ones((len(block), movies.size), dtype=bool)
        train_rows = pd.Index(block).get_indexer(train_users)
        unseen[train_rows[train_rows >= 0], train_cols[train_rows >= 0]] = False
        rows, cols = np.nonzero(unseen)
        scores = np.full(unseen.shape, -np.inf)
        if rows.size:
            got = np.asarray(scorer(np.asarray(block, dtype=np.int64)[rows], movies[cols]), dtype=float)
            if got.shape != rows.shape:
                raise ValueError(f"scorer returned {got.shape} scores for {rows.size} (user, movie) pairs")
            scores[rows, cols] = got
        # Stable sort on the negated scores: high first, ties by movie id (movies is sorted).
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for row, user in enumerate(block):
            picked = order[row][unseen[row, order[row]]]
            top[user] = movies[picked]
    return top


def top_k_unseen(scorer: Scorer, train: pd.DataFrame, user_id: int, k: int,
                 candidates: Iterable[int] | None = None) -> np.ndarray:
    """The ``k`` best-scored movies ``user_id`` did not rate in ``train``, best first
    (one user of ``top_k_for_users``)."""
    return top_k_for_users(scorer, train, [user_id], k, candidates)[int(user_id)]


def evaluate_ranking(scorer: Scorer, train: pd.DataFrame, valid: pd.DataFrame, k: int = 10,
                     threshold: float = 4, candidates: Iterable[int] | None = None) -> dict:
    """Mean precision@k and NDCG@k over users, judged on held-out ratings.

    For every user with at least one validation rating ``>= threshold`` (their
    *relevant* movies) who is in ``train`` (a model has nothing to rank for anyone
    else), rank the candidates they did not rate in training (see ``top_k_for_users``),
    keep the top ``k`` and score them against the relevant movies. Users without a
    relevant movie are skipped. Relevant movies that no candidate list can hold
    (seen only in validation) still count, the same for every scorer.

    Returns ``{"precision_at_k", "ndcg_at_k", "k", "n_users"}``.
    """
    k = check_k(k)
    check_columns(train, "training", [USER, MOVIE])
    check_columns(valid, "validation", [USER, MOVIE, RATING])
    known_users = getattr(scorer, "known_users", None)
    train_users = set(train[USER].unique())
    if known_users is not None:
        train_users &= set(known_users)
    liked = valid[valid[RATING] >= threshold]
    relevant = {user: set(movies) for user, movies in liked.groupby(USER)[MOVIE]
                if user in train_users}
    if not relevant:
        raise ValueError(f"no user in training has a validation rating >= {threshold}: "
                         "nothing to evaluate")
    users = sorted(relevant)
    top = top_k_for_users(scorer, train, users, k, candidates)
    precisions = [precision_at_k(top[user], relevant[user], k) for user in users]
    ndcgs = [ndcg_at_k(top[user], relevant[user], k) for user in users]
    return {"precision_at_k": float(np.mean(precisions)), "ndcg_at_k": float(np.mean(ndcgs)),
            "k": k, "n_users": len(relevant)}


def evaluate_within_rated(scorer: Scorer, valid: pd.DataFrame, k: int = 10, threshold: float = 4) -> dict:
    """Like ``evaluate_ranking``, but each user's candidates are only the movies they
    rated in ``valid`` (and the scorer knows): can the scorer tell, among movies the
    user did watch, the ones they liked?

    This takes away what a rating model never learns, which movies a user will
    watch, and keeps what it does learn. Lists are often shorter than ``k``; as in
    ``precision_at_k`` the empty slots count as misses, so NDCG is the fairer figure.
    Returns ``{"precision_at_k", "ndcg_at_k", "k", "n_users"}``.
    """
    k = check_k(k)
    check_columns(valid, "validation", [USER, MOVIE, RATING])
    known_users = getattr(scorer, "known_users", None)
    known_movies = getattr(scorer, "known_movies", None)
    rows = valid
    if known_users is not None:
        rows = rows[np.isin(rows[USER].to_numpy(), list(known_users))]
    if known_movies is not None:
        rows = rows[np.isin(rows[MOVIE].to_numpy(), list(known_movies))]
    precisions, ndcgs = [], []
    for user, group in rows.groupby(USER):
        relevant = set(group.loc[group[RATING] >= threshold, MOVIE])
        if not relevant:
            continue
        movies = group[MOVIE].to_numpy(dtype=np.int64)
        scores = np.asarray(scorer(np.full(movies.shape, user, dtype=np.int64), movies), dtype=float)
        ranked = movies[np.lexsort((movies, -scores))]   # by score, high first; ties by movie id
        precisions.append(precision_at_k(ranked, relevant, k))
        ndcgs.append(ndcg_at_k(ranked, relevant, k))
    if not ndcgs:
        raise ValueError(f"no known user has a validation rating >= {threshold} of a known movie: "
                         "nothing to evaluate")
    return {"precision_at_k": float(np.mean(precisions)), "ndcg_at_k": float(np.mean(ndcgs)),
            "k": k, "n_users": len(ndcgs)}


def relevant_items(test: pd.DataFrame, threshold: float | None = 4) -> dict[int, set[int]]:
    """user -> the movies they rated ``>= threshold`` in ``test`` (every test movie when
    ``threshold`` is None, as in Recommenders' protocol)."""
    check_columns(test, "test", [USER, MOVIE] + ([RATING] if threshold is not None else []))
    liked = test if threshold is None else test[test[RATING] >= threshold]
    return {int(u): {int(m) for m in movies} for u, movies in liked.groupby(USER)[MOVIE]}


def protocol_splits(protocol: str, data_dir, folds: Iterable[int] = FOLDS, seed: int = 42):
    """``[(label, train, test, threshold)]`` for a protocol (see above): the folds of
    ``ours`` (relevant = rating >= 4), or the one 75/25 split of ``recommenders`` (every
    test rating relevant, threshold None)."""
    if protocol == "ours":
        return [(f"u{k}", *read_fold(data_dir, k), 4) for k in folds]
    if protocol == "recommenders":
        ratings = read_ratings_file(os.path.join(data_dir, "u.data"))
        return [(f"75/25 seed {seed}", *stratified_split(ratings, 0.75, seed), None)]
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def validation_split(train: pd.DataFrame, protocol: str, seed: int = 0):
    """A slice of ``train`` to pick hyperparameters on, never touching the test data:
    ``(fit_part, valid_part)``. ``ours``: each user's ratings 80/20; ``recommenders``: 75/25
    as their protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return stratified_split(train, 0.8 if protocol == "ours" else 0.75, seed)


def evaluate_ranker(ranker: Ranker, train: pd.DataFrame, test: pd.DataFrame, threshold: float | None = 4,
             k: int = 10, fitted: bool = False) -> dict:
    """Fit ``ranker`` on ``train`` (unless ``fitted``) and judge its top ``k`` for every
    training user with a relevant test movie. Relevant movies outside the training movies
    still count (as misses for every ranker). Adds ``fit_seconds``."""
    started = time.perf_counter()
    if not fitted:
        ranker.fit(train)
    fit_seconds = time.perf_counter() - started
    known = set(ranker.users.tolist())
    relevant = {u: items for u, items in relevant_items(test, threshold).items() if u in known}
    top = ranker.recommend(sorted(relevant), k)
    return {**ranking_metrics(top, relevant, k, len(ranker.movies)), "fit_seconds": fit_seconds}
