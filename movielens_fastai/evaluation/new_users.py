"""New users, measured honestly: people the model never saw, each giving a handful of ratings.

The protocol (``run_protocol``):

* users are held out *entirely*: a random share (``HOLDOUT``, 10% of all users, numpy
  ``default_rng(seed)``) of the users with at least ``max(ks) + MIN_REST`` ratings, so that every
  held-out user is scored on at least ``MIN_REST`` ratings at every ``k`` and the same users are
  scored at every ``k``; users with fewer ratings always stay in training;
* a further share of the remaining eligible users (``VALIDATION``, 10% of all users) are
  *validation users*: the settings of the new-user path (the fold-in penalty, the list blend) are
  chosen on them (``choose_penalty``, ``choose_blend``), with a model trained without them and
  without the held-out users; the held-out users are then scored once, with a model trained on
  everyone else;
* each held-out user gives ``k`` of their ratings and the rest are scored: rating RMSE on all of
  them (movies the model knows), NDCG@10 with their rest ratings >= 4 as the relevant movies,
  among every movie they did not give. Two ways of choosing the ``k`` (``ORDERS``): at random
  (``default_rng(seed)``), and their *first* ``k`` by timestamp (ties within a second, common in
  MovieLens, in an order drawn from ``seed``). Settings are chosen under the first of ``orders``.

Why both orders: in MovieLens 100K a user's ratings by time follow the sign-up pages more than the
user: most ratings come within an hour of the user's first, and for most users the later a rating,
the less popular the movie (``time_order_facts`` measures both), so "the rest" of a user's ratings
by time is largely the next screen of popular movies, which most-popular reproduces. Random order
asks what the app asks: given these ratings, what else does this person like?

Rating methods compared at each ``k``: the global mean, the movie's bias alone (mean + movie bias,
``models.rating.baselines.bias`` with the user unknown), mean + user and movie biases refitted
with the ``k`` ratings, the fold-in, and retraining the same recipe with the ``k`` ratings included.
Lists: most popular (the given movies left out) against the new-user ranker.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from ..core import MOVIE, RATING, TIMESTAMP, USER, check_columns
from ..models.rating.baselines import bias
from ..models.rating.fold_in import DotModel
from ..models.topn.new_user import NewUserRanker
from .metrics import ndcg_at_k, rmse

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


def time_order_facts(ratings: pd.DataFrame, min_ratings: int = max(KS) + MIN_REST, seed: int = 0) -> dict:
    """How much a user's ratings by time follow the sign-up pages: the share of all ratings given
    within an hour of the user's first, and, of the users with at least ``min_ratings`` ratings,
    the share whose rank correlation (Spearman) between a rating's position in time and its
    movie's number of ratings is negative (later = less popular)."""
    ordered = time_order(ratings, seed)
    since_first = ordered[TIMESTAMP] - ordered.groupby(USER)[TIMESTAMP].transform("min")
    popularity = ordered[MOVIE].map(ratings[MOVIE].value_counts())
    frame = pd.DataFrame({USER: ordered[USER].to_numpy(), "popularity": popularity.to_numpy(),
                          "position": ordered.groupby(USER).cumcount().to_numpy()})
    counts = frame.groupby(USER)["position"].transform("size")
    frame = frame[counts.to_numpy() >= min_ratings]
    ranked = frame.groupby(USER)[["position", "popularity"]].rank()
    ranked[USER] = frame[USER].to_numpy()
    correlations = ranked.groupby(USER).apply(lambda g: np.corrcoef(g["position"], g["popularity"])[0, 1])
    return {"share_within_an_hour_of_first": float((since_first <= 3600).mean()),
            "share_of_users_later_is_less_popular": float((correlations < 0).mean()),
            "users": int(len(correlations)), "min_ratings": min_ratings}


def per_user(given: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """user -> (movie ids, ratings) in the order given."""
    return {int(user): (group[MOVIE].to_numpy(np.int64), group[RATING].to_numpy(np.float64))
            for user, group in given.groupby(USER, sort=True)}


# --------------------------------------------------------------------------- the protocol

#: How each new user's k ratings are chosen: their first by time, or a random k (``default_rng(seed)``).
ORDERS = ("random", "time")
#: The grids the new-user settings are chosen from, on validation users only.
PENALTY_GRID = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
BLEND_GRID = {"cond_weight": (0.0, 1.0, 2.0, 4.0), "popularity_prior": (0.0, 0.5, 1.0, 2.0, 4.0)}
#: The list length judged, and what counts as a liked (relevant) movie.
LIST_LENGTH, RELEVANT = 10, 4


def random_ratings(ratings: pd.DataFrame, users, k: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(given, rest)``: ``k`` of each user's ratings drawn at random (``default_rng(seed)``), and
    the others."""
    mine = ratings[ratings[USER].isin(np.asarray(users))]
    mine = mine.iloc[np.random.default_rng(seed).permutation(len(mine))].sort_values(USER, kind="stable")
    position = mine.groupby(USER).cumcount().to_numpy()
    return mine[position < k], mine[position >= k]


def given_and_rest(ratings: pd.DataFrame, users, k: int, order: str, seed: int = 0):
    """Each user's ``k`` given ratings (``order``: "time" = the first by time, "random") and the rest."""
    if order == "time":
        return first_ratings(ratings, users, k, seed)
    if order == "random":
        return random_ratings(ratings, users, k, seed)
    raise ValueError(f"order must be one of {ORDERS}, got {order!r}")


def _known(ids: np.ndarray, values: np.ndarray, known: np.ndarray):
    keep = np.isin(ids, known)
    return ids[keep], values[keep]


def fold_in_predictions(model: DotModel, given: pd.DataFrame, rest: pd.DataFrame,
                        penalty: float | None = None) -> np.ndarray:
    """The folded-in model's prediction for every row of ``rest`` (movies the model knows), each
    user folded in from their ``given`` ratings of movies the model knows."""
    by_user = per_user(given)
    predictions = np.empty(len(rest))
    movies = rest[MOVIE].to_numpy(np.int64)
    empty = (np.array([], dtype=np.int64), np.array([]))
    for user, positions in rest.groupby(USER).indices.items():
        ids, values = _known(*by_user.get(int(user), empty), model.movie_ids)
        predictions[positions] = model.fold_in(ids, values, penalty).predict(movies[positions])
    return predictions


def list_quality(ranker: NewUserRanker, given: pd.DataFrame, rest: pd.DataFrame,
                 n: int = LIST_LENGTH) -> dict[int, tuple[float, float]]:
    """user -> (NDCG@n of the ranker's list, NDCG@n of most popular), for every user of ``rest``
    with a liked rest movie. Both lists leave out the movies the user gave; a liked movie that no
    list can hold (unknown to the ranker) still counts, as a miss for both."""
    by_user = per_user(given)
    popular_order = np.argsort(-ranker.popularity, kind="stable")
    empty = (np.array([], dtype=np.int64), np.array([]))
    scores = {}
    for user, group in rest.groupby(USER):
        relevant = set(group.loc[group[RATING] >= RELEVANT, MOVIE].tolist())
        if not relevant:
            continue
        ids, values = _known(*by_user.get(int(user), empty), ranker.movie_ids)
        columns = ranker.columns(ids)
        ours = ranker.movie_ids[ranker.recommend(columns, values, n).columns]
        popular = ranker.movie_ids[popular_order[~np.isin(popular_order, columns)][:n]]
        scores[int(user)] = (ndcg_at_k(ours, relevant, n), ndcg_at_k(popular, relevant, n))
    return scores


def ratio_interval(pairs, seed: int = 0, draws: int = 2000, level: float = 0.9) -> tuple[float, float]:
    """A bootstrap interval (users drawn with replacement) for mean(ours) / mean(most popular)."""
    values = np.asarray(list(pairs), dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), (draws, len(values)))
    ratios = values[picks, 0].mean(1) / np.maximum(values[picks, 1].mean(1), 1e-12)
    tail = (1 - level) / 2
    return float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail))


def choose_penalty(model: DotModel, cases: dict, grid=PENALTY_GRID) -> tuple[float, dict]:
    """The fold-in penalty with the lowest mean RMSE over ``cases`` (k -> (given, rest) of
    validation users; rest ratings of movies the model knows), and every candidate's RMSE per k."""
    table = {}
    scored = {k: (given, rest[rest[MOVIE].isin(model.movie_ids)]) for k, (given, rest) in cases.items()}
    for penalty in grid:
        table[penalty] = {k: rmse(fold_in_predictions(model, given, rest, penalty), rest[RATING])
                          for k, (given, rest) in scored.items()}
    best = min(grid, key=lambda p: (np.mean(list(table[p].values())), p))
    return best, {str(p): row for p, row in table.items()}


def choose_blend(ranker: NewUserRanker, cases: dict, grid=None) -> tuple[dict, dict]:
    """The ranker settings (``cond_weight``, ``popularity_prior``) chosen on ``cases`` (k -> (given,
    rest) of validation users): of the settings whose lists are at least as good as most popular
    at every k (mean NDCG ratio >= 1), the one with the highest mean ratio over the ks; when none
    is, the one whose worst k is best. Returns it and every candidate's ratio per k."""
    grid = BLEND_GRID if grid is None else grid
    table = {}
    for cond_weight in grid["cond_weight"]:
        for popularity_prior in grid["popularity_prior"]:
            candidate = replace(ranker, cond_weight=cond_weight, popularity_prior=popularity_prior)
            ratios = {}
            for k, (given, rest) in cases.items():
                pairs = np.array(list(list_quality(candidate, given, rest).values()))
                ratios[k] = float(pairs[:, 0].mean() / pairs[:, 1].mean())
            table[(cond_weight, popularity_prior)] = ratios
    never_worse = [key for key, ratios in table.items() if min(ratios.values()) >= 1]
    if never_worse:
        best = max(never_worse, key=lambda key: (np.mean(list(table[key].values())), key))
    else:
        best = max(table, key=lambda key: (min(table[key].values()), key))
    rows = {f"cond_weight={c:g}, popularity_prior={p:g}": ratios for (c, p), ratios in table.items()}
    return {"cond_weight": best[0], "popularity_prior": best[1]}, rows


def timed_new_users(model: DotModel, ranker: NewUserRanker, given: pd.DataFrame,
                    n: int = LIST_LENGTH) -> np.ndarray:
    """Milliseconds of model time per user of ``given``: the fold-in plus the top-``n`` list."""
    times = []
    for ids, values in per_user(given).values():
        ids, values = _known(ids, values, model.movie_ids)
        started = time.perf_counter()
        model.fold_in(ids, values)
        ranker.recommend(ranker.columns(ids), values, n)
        times.append(time.perf_counter() - started)
    return 1000 * np.asarray(times)


def rating_rows(model: DotModel, train: pd.DataFrame, given: pd.DataFrame, rest: pd.DataFrame,
                retrained: DotModel | None) -> dict:
    """RMSE on ``rest`` (rows of movies the model knows) of: the global mean, the movie's bias
    alone, mean + user and movie biases fitted with the given ratings, the fold-in, and
    (``retrained``) the recipe retrained with the given ratings included."""
    scored = rest[rest[MOVIE].isin(model.movie_ids)]
    actual = scored[RATING].to_numpy(np.float64)
    row = {
        "ratings_scored": len(scored), "ratings_left_out": len(rest) - len(scored),
        "global_mean": rmse(np.full(len(scored), train[RATING].mean()), actual),
        "movie_bias": rmse(bias(train, scored, 0), actual),
        "user_and_movie_bias": rmse(bias(pd.concat([train, given]), scored, 0), actual),
        "folded_in": rmse(fold_in_predictions(model, given, scored), actual),
    }
    if retrained is not None:
        row["retrained"] = rmse(retrained.predict(scored[USER], scored[MOVIE]), actual)
    return row


def run_protocol(ratings: pd.DataFrame, trainer, seed: int = 0, ks=KS, orders=ORDERS, retrain: bool = True,
                 progress=print) -> tuple[dict, DotModel, NewUserRanker]:
    """The whole measurement, in one run (see the module's text). ``trainer(frame) -> DotModel`` trains
    the rating model (the same recipe every time: on the training users for choosing settings, on
    training + validation users for the test, and again with each held-out user's k ratings
    added, for "retrained"). Settings are chosen on validation users under ``orders[0]``; the
    held-out users are scored under every order. Returns the results as plain data, and the model
    and ranker the held-out users were scored with."""
    check_columns(ratings, "input", [USER, MOVIE, RATING, TIMESTAMP])
    train_users, valid_users, test_users = new_user_split(ratings, seed, ks)
    fit = ratings[ratings[USER].isin(train_users)]
    progress(f"{len(train_users)} training users, {len(valid_users)} validation users, "
             f"{len(test_users)} held-out users (seed {seed})")

    def prepared(frame):
        model = trainer(frame)
        return model.with_population_prior(frame[MOVIE], frame[RATING]), NewUserRanker.fit(frame)

    progress("Choosing the fold-in penalty and the list blend on validation users")
    model, ranker = prepared(fit)
    cases = {k: given_and_rest(ratings, valid_users, k, orders[0], seed) for k in ks}
    penalty, penalty_table = choose_penalty(model, cases)
    blend, blend_table = choose_blend(ranker, cases)
    progress(f"  chosen: penalty {penalty:g}, {blend}")

    train = ratings[~ratings[USER].isin(test_users)]
    model, ranker = prepared(train)
    model = replace(model, fold_in_penalty=penalty)
    ranker = replace(ranker, **blend)
    results = {}
    for order in orders:
        rows = []
        for k in ks:
            given, rest = given_and_rest(ratings, test_users, k, order, seed)
            retrained = None
            if retrain:
                progress(f"  {order} order, k = {k}: retraining with the given ratings")
                retrained = trainer(pd.concat([train, given], ignore_index=True))
            row = {"k": k, **rating_rows(model, train, given, rest, retrained)}
            pairs = list_quality(ranker, given, rest)
            values = np.array(list(pairs.values()))
            ours, popular = values.mean(axis=0)
            low, high = ratio_interval(values, seed)
            row.update({"ndcg_users": len(pairs), "ndcg_most_popular": float(popular),
                        "ndcg_ours": float(ours), "ndcg_ratio": float(ours / popular),
                        "ndcg_ratio_90": [low, high]})
            times = timed_new_users(model, ranker, given)
            row.update({"model_ms_p50": float(np.percentile(times, 50)),
                        "model_ms_p95": float(np.percentile(times, 95))})
            rows.append(row)
            progress(f"  {order} order, k = {k}: RMSE folded-in {row['folded_in']:.4f}, movie bias "
                     f"{row['movie_bias']:.4f}; NDCG@10 x{row['ndcg_ratio']:.2f} most popular")
        results[order] = rows
    return {"seed": seed, "ks": list(ks), "orders": list(orders),
            "users": {"train": len(train_users), "validation": len(valid_users), "held_out": len(test_users),
                      "held_out_ids": test_users.tolist()},
            "chosen": {"fold_in_penalty": penalty, **blend, "on": f"validation users, {orders[0]} order"},
            "validation": {"fold_in_rmse": penalty_table, "ndcg_ratio": blend_table},
            "results": results}, model, ranker
