"""The measures every protocol uses: rating error (RMSE, MAE) and the quality of a top-k list
(precision, recall, NDCG, MAP at k, catalogue coverage). Plain numbers in, plain numbers out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ..core import check_k


def rmse(pred, actual) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(actual, float)) ** 2)))


def mae(pred, actual) -> float:
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(actual, float))))


def precision_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """Share of the first ``k`` recommended items that are relevant: hits / ``k``.

    A list shorter than ``k`` still divides by ``k``: empty slots count as misses.
    """
    k = check_k(k)
    relevant = set(relevant)
    return sum(item in relevant for item in list(recommended)[:k]) / k


def ndcg_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """Normalised discounted cumulative gain of the first ``k`` items, binary relevance.

    A relevant item at (1-based) rank ``i`` earns ``1 / log2(i + 1)``; the sum is
    divided by the best possible sum, with ``min(k, len(relevant))`` relevant items
    at the top. 1.0 is a perfect list, 0.0 one with no relevant item. With no
    relevant items at all the score is undefined: ``ValueError``.
    """
    k = check_k(k)
    relevant = set(relevant)
    if not relevant:
        raise ValueError("NDCG is undefined without relevant items")
    dcg = sum(1 / math.log2(rank + 1)
              for rank, item in enumerate(list(recommended)[:k], start=1) if item in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def recall_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """Share of the relevant items found in the first ``k``: hits / number relevant."""
    k = check_k(k)
    relevant = set(relevant)
    if not relevant:
        raise ValueError("recall is undefined without relevant items")
    return sum(item in relevant for item in list(recommended)[:k]) / len(relevant)


def average_precision_at_k(recommended: Sequence, relevant: Iterable, k: int) -> float:
    """AP@k: the mean, over the relevant items the list could hold, of the precision at
    each hit's rank. The sum of ``hits_so_far / rank`` over hits in the first ``k`` is
    divided by ``min(k, len(relevant))``, so a list of ``k`` hits scores 1.0."""
    k = check_k(k)
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


def ranking_metrics(top: dict, relevant: dict, k: int, n_candidates: int) -> dict:
    """precision@k, recall@k, NDCG@k and MAP@k averaged over the users of ``relevant``
    (user -> set of relevant items; users without any are left out), and the catalogue
    coverage of the lists in ``top`` (user -> items, best first) over those users.

    A user of ``relevant`` without a list counts as an empty list (all misses).
    """
    k = check_k(k)
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
