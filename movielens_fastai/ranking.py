"""How good a model's top of the list is, measured on held-out ratings.

A rating model can have a low MSE and still recommend badly: what a user sees is
only the few movies at the top. These functions rank, for each user, every movie
they did not rate in training and check the top ``k`` against the movies they
rated highly in validation. Everything works on pandas / numpy and a scorer
``(user ids, movie ids) -> scores``, so any model (or a baseline) can be measured.

Ratings tables have the columns ``User ID``, ``Movie ID`` and ``Rating``.

The second half serves rankers (``movielens_fastai.rankers``), models trained for
top-N lists: recall@k, MAP@k and catalogue coverage beside precision@k and NDCG@k,
top-k lists from a users x movies score matrix, and the splits of the two protocols
that notebooks/recommending.ipynb reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

# (user ids, movie ids) -> scores, all 1-d arrays of equal length; higher is better.
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]

USER, MOVIE, RATING = "User ID", "Movie ID", "Rating"


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer (the length of the list to judge), got {k!r}")
    return int(k)


def _check_columns(table: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} ratings lack column(s) {missing}; expected {list(columns)}")


def precision_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """Share of the first ``k`` recommended items that are relevant: hits / ``k``.

    A list shorter than ``k`` still divides by ``k``: empty slots count as misses.
    """
    k = _check_k(k)
    relevant = set(relevant)
    return sum(item in relevant for item in list(recommended)[:k]) / k


def ndcg_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """Normalised discounted cumulative gain of the first ``k`` items, binary relevance.

    A relevant item at (1-based) rank ``i`` earns ``1 / log2(i + 1)``; the sum is
    divided by the best possible sum, with ``min(k, len(relevant))`` relevant items
    at the top. 1.0 is a perfect list, 0.0 one with no relevant item. With no
    relevant items at all the score is undefined: ``ValueError``.
    """
    k = _check_k(k)
    relevant = set(relevant)
    if not relevant:
        raise ValueError("NDCG is undefined without relevant items")
    dcg = sum(1 / math.log2(rank + 1)
              for rank, item in enumerate(list(recommended)[:k], start=1) if item in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def popularity_scorer(train: pd.DataFrame) -> Scorer:
    """The most-popular baseline: a movie's score is its number of training ratings.

    Every user gets the same order; the scorer knows the users and movies of ``train``.
    """
    _check_columns(train, "training", [USER, MOVIE])
    counts = train[MOVIE].value_counts()

    def score(user_ids, movie_ids):
        return counts.reindex(np.asarray(movie_ids), fill_value=0).to_numpy(dtype=float)

    score.known_users = {int(u) for u in train[USER].unique()}
    score.known_movies = {int(m) for m in counts.index}
    return score


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
    k = _check_k(k)
    _check_columns(train, "training", [USER, MOVIE])
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
    k = _check_k(k)
    _check_columns(train, "training", [USER, MOVIE])
    _check_columns(valid, "validation", [USER, MOVIE, RATING])
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
    k = _check_k(k)
    _check_columns(valid, "validation", [USER, MOVIE, RATING])
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


# --------------------------------------------------------------------------- top-N as its own problem
#
# The functions below judge a ranker's lists under two protocols:
#
# * ``ours``: the canonical folds u1-u5; train on ``.base``; a user's relevant movies are
#   their ``.test`` ratings >= 4; candidates are the movies of ``.base`` the user did not rate.
# * ``recommenders``: Microsoft Recommenders' benchmark protocol: each user's ratings split
#   75/25 at random (stratified by user); every test rating is relevant, whatever its value;
#   the user's training movies are removed from the candidates.


def recall_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """Share of the relevant items found in the first ``k``: hits / number relevant."""
    k = _check_k(k)
    relevant = set(relevant)
    if not relevant:
        raise ValueError("recall is undefined without relevant items")
    return sum(item in relevant for item in list(recommended)[:k]) / len(relevant)


def average_precision_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """AP@k: the mean, over the relevant items the list could hold, of the precision at
    each hit's rank. The sum of ``hits_so_far / rank`` over hits in the first ``k`` is
    divided by ``min(k, len(relevant))``, so a list of ``k`` hits scores 1.0."""
    k = _check_k(k)
    relevant = set(relevant)
    if not relevant:
        raise ValueError("average precision is undefined without relevant items")
    hits, total = 0, 0.0
    for rank, item in enumerate(list(recommended)[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total / min(k, len(relevant))


def catalogue_coverage(lists: Iterable[Sequence], n_candidates: int) -> float:
    """Share of the ``n_candidates`` movies that appear in at least one list."""
    if n_candidates < 1:
        raise ValueError(f"catalogue coverage needs at least one candidate movie, got {n_candidates}")
    shown = set()
    for items in lists:
        shown.update(int(i) for i in items)
    return len(shown) / n_candidates


def top_k_from_scores(scores: np.ndarray, seen, k: int) -> list[np.ndarray]:
    """Column indices of each row's ``k`` best scores, best first, skipping ``seen`` cells.

    ``scores`` is a users x items array; ``seen`` a boolean array (or scipy sparse
    matrix) of the same shape marking the cells that must never be recommended. Equal
    scores are ordered by column, so with columns in id order ties go to the lower id.
    A row with fewer than ``k`` unseen items gets a shorter list.
    """
    k = _check_k(k)
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


def ranking_metrics(top: dict, relevant: dict, k: int, n_candidates: int) -> dict:
    """precision@k, recall@k, NDCG@k and MAP@k averaged over the users of ``relevant``
    (user -> set of relevant items; users without any are left out), and the catalogue
    coverage of the lists in ``top`` (user -> items, best first) over those users.

    A user of ``relevant`` without a list counts as an empty list (all misses).
    """
    k = _check_k(k)
    users = [u for u in relevant if relevant[u]]
    if not users:
        raise ValueError("no user has a relevant item: nothing to evaluate")
    lists = {u: list(top.get(u, []))[:k] for u in users}
    return {
        "precision_at_k": float(np.mean([precision_at_k(lists[u], relevant[u], k) for u in users])),
        "recall_at_k": float(np.mean([recall_at_k(lists[u], relevant[u], k) for u in users])),
        "ndcg_at_k": float(np.mean([ndcg_at_k(lists[u], relevant[u], k) for u in users])),
        "map_at_k": float(np.mean([average_precision_at_k(lists[u], relevant[u], k) for u in users])),
        "coverage": catalogue_coverage(lists.values(), n_candidates),
        "k": k, "n_users": len(users),
    }


def relevant_items(test: pd.DataFrame, threshold: float | None = 4) -> dict[int, set[int]]:
    """user -> the movies they rated ``>= threshold`` in ``test`` (every test movie when
    ``threshold`` is None, as in Recommenders' protocol)."""
    _check_columns(test, "test", [USER, MOVIE] + ([RATING] if threshold is not None else []))
    liked = test if threshold is None else test[test[RATING] >= threshold]
    return {int(u): {int(m) for m in movies} for u, movies in liked.groupby(USER)[MOVIE]}


def stratified_split(ratings: pd.DataFrame, ratio: float = 0.75,
                     seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's ratings shuffled and cut at ``round(ratio * n)``: the first part trains,
    the rest tests (Recommenders' ``python_stratified_split`` in spirit: the same share per
    user, not the same rows, since the shuffles differ). A user with one rating keeps it in
    training."""
    _check_columns(ratings, "input", [USER, MOVIE])
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be between 0 and 1 (the training share), got {ratio!r}")
    rng = np.random.default_rng(seed)
    shuffled = ratings.iloc[rng.permutation(len(ratings))]
    shuffled = shuffled.sort_values(USER, kind="stable")      # users together, random order within
    position = shuffled.groupby(USER).cumcount().to_numpy()
    size = shuffled.groupby(USER)[MOVIE].transform("size").to_numpy()
    in_train = position < np.maximum(1, np.round(ratio * size))
    return (shuffled[in_train].sort_index().reset_index(drop=True),
            shuffled[~in_train].sort_index().reset_index(drop=True))
