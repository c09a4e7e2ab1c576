"""A new user folded into a trained dot model, without retraining.

The article's model (``EmbeddingDotBias``) predicts ``lo + (hi - lo) * sigmoid(u . m + b_u + b_m)``.
Once it is trained, the movie vectors ``m`` and biases ``b_m`` say what each movie is; a new user
is only their own vector ``u`` and bias ``b_u``: ``d + 1`` numbers. Given a handful of ratings
they are a small regularised least-squares problem with the movies held fixed, solved here by a
few Gauss-Newton steps in rating space (the loss the model was trained on), each a
``(d + 1) x (d + 1)`` linear solve: well under a millisecond, against seconds to retrain.

The penalty is a Gaussian prior on ``[u, b_u]``: its mean is the *population user*, the one
user whose predictions best fit all the training ratings (so with no ratings the prediction is
the best any single user gives; the mean of the training users' vectors predicts lower, since the
sigmoid bends averages), and its precision is the inverse covariance of the training users'
``[u, b_u]`` (directions in which users differ a lot are cheap to move along). The penalty's scale,
roughly the noise variance of a rating, is chosen on validation users (``CHOSEN_PENALTY``).
``DotModel`` holds the trained arrays (numpy only, as saved in a bundle) and predicts for known
users and folded-in ones. This module needs numpy alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

#: The penalty's scale, chosen on validation users by ``benchmarks/new_users.py`` (random order,
#: seed 0; benchmarks/results/new_users.json, "chosen").
CHOSEN_PENALTY = 0.5
#: Gauss-Newton steps at most; they usually settle in 3 to 6.
MAX_STEPS = 30
#: The training users' covariance is shrunk by this share of its mean variance before it is
#: inverted, so that a model with fewer users than factors still has a prior.
COVARIANCE_SHRINKAGE = 1e-3
#: Stop when no parameter moves by more than this.
STEP_TOLERANCE = 1e-7


def check_penalty(penalty) -> float:
    """The ridge penalty as a float; it must be positive (zero would leave one rating's fit
    undetermined)."""
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float, np.floating, np.integer)) \
            or not np.isfinite(penalty) or penalty <= 0:
        raise ValueError(f"penalty must be a positive number, got {penalty!r}")
    return float(penalty)


def _predict_rows(vectors, biases, theta, y_range) -> np.ndarray:
    lo, hi = y_range
    z = vectors @ theta[:-1] + theta[-1] + biases
    return lo + (hi - lo) / (1.0 + np.exp(-z))


def fit_user(movie_vectors: np.ndarray, movie_biases: np.ndarray, ratings: np.ndarray, y_range,
             prior: np.ndarray, penalty: float, precision: np.ndarray | None = None,
             weights: np.ndarray | None = None) -> np.ndarray:
    """The new user's ``theta = [vector..., bias]`` minimising, over their rated movies,

        sum w * (rating - lo - (hi - lo) * sigmoid(m . u + b_u + b_m))^2
            + penalty * (theta - prior)' P (theta - prior),

    with the movies' ``movie_vectors`` (k x d) and ``movie_biases`` (k,) fixed. ``prior`` is where a
    user with no ratings stands; ``P`` is ``precision`` ((d+1) x (d+1), default the identity);
    ``w`` is ``weights`` (default 1 per rating). Gauss-Newton steps, each halved until the
    objective goes down; with no ratings the answer is ``prior``.
    """
    prior = np.asarray(prior, dtype=np.float64)
    n_params = prior.shape[0]
    penalty = check_penalty(penalty)
    lam = penalty * (np.eye(n_params) if precision is None else np.asarray(precision, dtype=np.float64))
    if lam.shape != (n_params, n_params):
        raise ValueError(f"precision has shape {lam.shape}, expected {(n_params, n_params)}")
    ratings = np.asarray(ratings, dtype=np.float64).reshape(-1)
    if len(ratings) == 0:
        return prior.copy()
    weights = np.ones_like(ratings) if weights is None else np.asarray(weights, dtype=np.float64)
    vectors = np.asarray(movie_vectors, dtype=np.float64).reshape(len(ratings), n_params - 1)
    biases = np.asarray(movie_biases, dtype=np.float64).reshape(-1)
    design = np.hstack([vectors, np.ones((len(ratings), 1))])
    lo, hi = y_range

    def objective(theta):
        residual = ratings - _predict_rows(vectors, biases, theta, y_range)
        gap = theta - prior
        return weights @ residual**2 + gap @ lam @ gap

    theta = prior.copy()
    current = objective(theta)
    for _ in range(MAX_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ theta + biases)))
        residual = ratings - (lo + (hi - lo) * p)
        jacobian = design * ((hi - lo) * p * (1.0 - p))[:, None]
        weighted = jacobian * weights[:, None]
        step = np.linalg.solve(weighted.T @ jacobian + lam, weighted.T @ residual - lam @ (theta - prior))
        scale = 1.0
        while True:
            candidate = theta + scale * step
            value = objective(candidate)
            if value <= current or scale < 1e-4:
                break
            scale /= 2
        if value > current:
            break
        theta, current = candidate, value
        if np.max(np.abs(scale * step)) < STEP_TOLERANCE:
            break
    return theta


def user_precision(user_vectors: np.ndarray, user_biases: np.ndarray) -> np.ndarray:
    """The inverse covariance of the training users' ``[vector..., bias]`` (shrunk by
    ``COVARIANCE_SHRINKAGE``): the prior's precision."""
    theta = np.hstack([np.asarray(user_vectors, np.float64), np.asarray(user_biases, np.float64)[:, None]])
    if len(theta) < 2:
        raise ValueError("the prior needs at least 2 training users")
    covariance = np.cov(theta, rowvar=False)
    mean_variance = max(np.trace(covariance) / len(covariance), 1e-12)
    covariance += COVARIANCE_SHRINKAGE * mean_variance * np.eye(len(covariance))
    return np.linalg.inv(covariance)


@dataclass
class DotModel:
    """A trained ``EmbeddingDotBias`` as plain arrays: row ``i`` of the user arrays is user
    ``user_ids[i]``, row ``j`` of the movie arrays is movie ``movie_ids[j]`` (fastai's ``#na#`` row
    left out).

    New users are folded in towards ``prior`` (``[vector..., bias]``; by default the mean training
    user, replaced by the population user with ``with_population_prior``) with the penalty
    ``fold_in_penalty`` times ``prior_precision`` (by default ``user_precision`` of the users)."""

    user_ids: np.ndarray
    movie_ids: np.ndarray
    user_vectors: np.ndarray
    user_biases: np.ndarray
    movie_vectors: np.ndarray
    movie_biases: np.ndarray
    y_range: tuple[float, float]
    prior: np.ndarray | None = None
    prior_precision: np.ndarray | None = None
    fold_in_penalty: float = CHOSEN_PENALTY

    def __post_init__(self):
        self.user_ids = np.asarray(self.user_ids, dtype=np.int64)
        self.movie_ids = np.asarray(self.movie_ids, dtype=np.int64)
        n_users, n_movies = len(self.user_ids), len(self.movie_ids)
        shapes = {"user_vectors": (n_users, None), "user_biases": (n_users,),
                  "movie_vectors": (n_movies, None), "movie_biases": (n_movies,)}
        for name, shape in shapes.items():
            value = np.asarray(getattr(self, name))
            if value.ndim != len(shape) or value.shape[0] != shape[0]:
                raise ValueError(f"{name} has shape {value.shape}, expected {shape[0]} rows "
                                 f"({'users' if 'user' in name else 'movies'})")
            setattr(self, name, value)
        if self.user_vectors.shape[1] != self.movie_vectors.shape[1]:
            raise ValueError(f"user vectors have {self.user_vectors.shape[1]} factors, movie vectors "
                             f"{self.movie_vectors.shape[1]}")
        for name in ("user_ids", "movie_ids"):
            ids = getattr(self, name)
            if len(ids) and not (np.diff(ids) > 0).all():
                raise ValueError(f"{name} must be sorted and distinct")
        lo, hi = (float(v) for v in self.y_range)
        if not lo < hi:
            raise ValueError(f"y_range must be (low, high) with low < high, got {self.y_range!r}")
        self.y_range = (lo, hi)
        self.fold_in_penalty = check_penalty(self.fold_in_penalty)
        n_params = self.n_factors + 1
        if self.prior is None:
            self.prior = self.average_user()
        if self.prior_precision is None:
            self.prior_precision = user_precision(self.user_vectors, self.user_biases)
        self.prior = np.asarray(self.prior, dtype=np.float64)
        self.prior_precision = np.asarray(self.prior_precision, dtype=np.float64)
        if self.prior.shape != (n_params,) or self.prior_precision.shape != (n_params, n_params):
            raise ValueError(f"prior {self.prior.shape} and prior_precision {self.prior_precision.shape} "
                             f"must be ({n_params},) and ({n_params}, {n_params})")

    @property
    def n_factors(self) -> int:
        return self.movie_vectors.shape[1]

    def rows(self, ids, which: str = "movie") -> np.ndarray:
        """Rows of ``ids`` in the ``which`` ("movie" or "user") arrays; unknown ids are refused."""
        known = self.movie_ids if which == "movie" else self.user_ids
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        rows = pd.Index(known).get_indexer(ids)
        if (rows < 0).any():
            unknown = ids[rows < 0][:5].tolist()
            raise KeyError(f"{which} id(s) {unknown} are not in the trained model")
        return rows

    def average_user(self) -> np.ndarray:
        """The mean training user's ``[vector..., bias]``."""
        return np.append(self.user_vectors.astype(np.float64).mean(axis=0),
                         self.user_biases.astype(np.float64).mean())

    def population_user(self, movie_ids, ratings) -> np.ndarray:
        """The one ``[vector..., bias]`` whose predictions best fit all of ``ratings`` (of
        ``movie_ids``; the training ratings): a least-squares fit on each movie's mean rating,
        weighted by its number of ratings, which has the same minimum."""
        frame = pd.DataFrame({"row": self.rows(movie_ids), "rating": np.asarray(ratings, np.float64)})
        per_movie = frame.groupby("row")["rating"].agg(["mean", "size"])
        rows = per_movie.index.to_numpy()
        return fit_user(self.movie_vectors[rows], self.movie_biases[rows], per_movie["mean"].to_numpy(),
                        self.y_range, self.average_user(), 1e-6, weights=per_movie["size"].to_numpy())

    def with_population_prior(self, movie_ids, ratings) -> DotModel:
        """This model with the population user of ``ratings`` as the prior (see the module's text)."""
        return replace(self, prior=self.population_user(movie_ids, ratings))

    def predict(self, user_ids, movie_ids) -> np.ndarray:
        """Predicted ratings of known users for known movies (pairs of equal-length id arrays)."""
        users, movies = self.rows(user_ids, "user"), self.rows(movie_ids, "movie")
        if len(users) != len(movies):
            raise ValueError(f"{len(users)} user ids but {len(movies)} movie ids")
        z = (np.einsum("ij,ij->i", self.user_vectors[users].astype(np.float64),
                       self.movie_vectors[movies].astype(np.float64))
             + self.user_biases[users] + self.movie_biases[movies])
        lo, hi = self.y_range
        return lo + (hi - lo) / (1.0 + np.exp(-z))

    def fold_in(self, movie_ids, ratings, penalty: float | None = None) -> FoldedUser:
        """A new user from their ``ratings`` of ``movie_ids`` (known movies), the movies fixed."""
        rows = self.rows(movie_ids, "movie")
        ratings = np.asarray(ratings, dtype=np.float64).reshape(-1)
        if len(rows) != len(ratings):
            raise ValueError(f"{len(rows)} movie ids but {len(ratings)} ratings")
        theta = fit_user(self.movie_vectors[rows], self.movie_biases[rows], ratings, self.y_range, self.prior,
                         self.fold_in_penalty if penalty is None else penalty, self.prior_precision)
        return FoldedUser(self, theta[:-1], float(theta[-1]))


@dataclass
class FoldedUser:
    """A user folded into ``model``: their ``vector`` and ``bias``."""

    model: DotModel
    vector: np.ndarray
    bias: float

    def predict(self, movie_ids) -> np.ndarray:
        """Predicted ratings for ``movie_ids`` (known movies)."""
        rows = self.model.rows(movie_ids, "movie")
        return _predict_rows(self.model.movie_vectors[rows].astype(np.float64),
                             self.model.movie_biases[rows].astype(np.float64),
                             np.append(self.vector, self.bias), self.model.y_range)

    def predict_all(self) -> np.ndarray:
        """Predicted ratings for every movie of the model, in ``model.movie_ids`` order."""
        return _predict_rows(self.model.movie_vectors.astype(np.float64),
                             self.model.movie_biases.astype(np.float64),
                             np.append(self.vector, self.bias), self.model.y_range)
