"""Rankers: models that answer "what should I watch next?" rather than "how would I
like this movie?".

Each ranker is fitted on a ratings table (``User ID``, ``Movie ID``, ``Rating``) and
then gives, for any training user, a score to every training movie; higher means
"put it higher in the list". Most rankers only use *which* movies a user rated (a
rating, any rating, means "watched"), not the value:

* ``MostPopular``: the number of training ratings; the same list for everyone.
* ``ItemKNN``: movies similar (cosine, on who watched them) to the ones the user watched.
* ``EASE``: a linear item-to-item model with a closed-form solution (Steck, 2019).
* ``ImplicitALS``: matrix factorisation of the watched/not-watched matrix
  (Hu, Koren and Volinsky, 2008), from the ``implicit`` package.
* ``FastaiBPR``: the article's dot-product model (fastai's ``EmbeddingDotBias``) trained
  with fastai's ``Learner`` on a pairwise loss (BPR, Rendle et al., 2009): a watched
  movie should score above a random one.
* ``RatingModel``: the article's model as the article trains it, on ratings; its score
  is the predicted rating.
* ``Blend``: "will watch" (a ranker) plus a share of "will like" (the rating model).
* ``RandomRanker``: a floor for tests.

``evaluate`` fits a ranker and judges its lists (see ``ranking``); ``protocol_splits``
gives the data of both protocols, ``validation_split`` a slice of training data to pick
hyperparameters on.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .ranking import (
    MOVIE,
    RATING,
    USER,
    _check_columns,
    _check_k,
    ranking_metrics,
    relevant_items,
    stratified_split,
    top_k_from_scores,
)

PROTOCOLS = ("ours", "recommenders")
LIKED = 4   # a rating of 4 or 5: the user liked the movie


class Ranker:
    """Base class: ``fit(train)``, then ``scores(user_ids)`` and ``recommend(user_ids, k)``."""

    name = "ranker"

    def fit(self, train: pd.DataFrame) -> Ranker:
        _check_columns(train, "training", [USER, MOVIE])
        if train.empty:
            raise ValueError("training ratings are empty: nothing to fit")
        self.users = np.array(sorted(train[USER].unique()), dtype=np.int64)
        self.movies = np.array(sorted(train[MOVIE].unique()), dtype=np.int64)
        self._user_row = pd.Index(self.users)
        rows = self._user_row.get_indexer(train[USER].to_numpy())
        cols = pd.Index(self.movies).get_indexer(train[MOVIE].to_numpy())
        from scipy import sparse

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
            _check_columns(train, "training", [RATING])
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
        k = _check_k(k)
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
        ``ranking.top_k_for_users``."""
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


class MostPopular(Ranker):
    """Score = number of training ratings: the same list for every user."""

    name = "most popular"

    def _fit(self, signal, rows, cols, train):
        self._counts = np.asarray(signal.sum(axis=0)).ravel().astype(float)

    def _scores(self, rows):
        return np.tile(self._counts, (len(rows), 1))


class ItemKNN(Ranker):
    """Item-based nearest neighbours: cosine similarity of movies on who watched them,
    each movie keeping its ``neighbours`` most similar; a user's score for a movie is the
    sum of its similarities to the movies they watched."""

    name = "item-kNN"

    def __init__(self, neighbours: int = 100, low_weight: float = 1.0):
        if neighbours < 1:
            raise ValueError(f"neighbours must be at least 1, got {neighbours!r}")
        self.neighbours, self.low_weight = neighbours, low_weight

    def _fit(self, signal, rows, cols, train):
        x = signal.toarray()
        norms = np.sqrt(x.sum(axis=0))
        norms[norms == 0] = 1.0
        sim = (x.T @ x) / np.outer(norms, norms)
        np.fill_diagonal(sim, 0.0)
        if self.neighbours < sim.shape[0]:
            # Keep each movie's (column's) strongest neighbours only.
            cut = np.partition(sim, -self.neighbours, axis=0)[-self.neighbours]
            sim[sim < cut[None, :]] = 0.0
        self._x, self._sim = x, sim

    def _scores(self, rows):
        return self._x[rows] @ self._sim

    def params(self):
        return {"neighbours": self.neighbours, "low_weight": self.low_weight}


def ease_weights(x: np.ndarray, l2: float) -> np.ndarray:
    """EASE's closed form: ``B = I - P / diag(P)`` with ``P = (X'X + l2 I)^-1``, which is
    the item-to-item matrix minimising ``||X - XB||^2 + l2 ||B||^2`` with ``diag(B) = 0``."""
    if l2 <= 0:
        raise ValueError(f"l2 must be positive, got {l2!r}")
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


class EASE(Ranker):
    """Embarrassingly Shallow Autoencoder: scores = X B, with B from ``ease_weights``."""

    name = "EASE"

    def __init__(self, l2: float = 500.0, low_weight: float = 1.0):
        self.l2, self.low_weight = l2, low_weight

    def _fit(self, signal, rows, cols, train):
        self._x = signal.toarray().astype(np.float64)
        self._b = ease_weights(self._x, self.l2)

    def _scores(self, rows):
        return self._x[rows] @ self._b

    def params(self):
        return {"l2": self.l2, "low_weight": self.low_weight}


class ImplicitALS(Ranker):
    """Implicit-feedback ALS from the ``implicit`` package: user and movie vectors whose dot
    product approaches 1 for watched movies and 0 otherwise, watched cells weighted by
    ``alpha`` (confidence)."""

    name = "implicit ALS"

    def __init__(self, factors: int = 64, regularization: float = 0.1, alpha: float = 1.0,
                 iterations: int = 15, seed: int = 0, low_weight: float = 1.0):
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.low_weight = low_weight
        self.iterations, self.seed = iterations, seed

    def _fit(self, signal, rows, cols, train):
        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings():
            # implicit imports tqdm.auto, which warns inside Jupyter when ipywidgets is not
            # installed; implicit's progress bars stay off here anyway.
            warnings.filterwarnings("ignore", message="IProgress not found")
            from implicit.cpu.als import AlternatingLeastSquares

        # implicit solves many small systems itself; BLAS threads underneath only fight
        # over the cores (implicit warns about exactly this otherwise).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            alpha=self.alpha, iterations=self.iterations,
                                            random_state=self.seed, num_threads=1,
                                            calculate_training_loss=False)
            model.fit(signal.astype(np.float32).tocsr(), show_progress=False)
        self._users, self._items = np.asarray(model.user_factors), np.asarray(model.item_factors)

    def _scores(self, rows):
        return self._users[rows] @ self._items.T

    def params(self):
        return {"factors": self.factors, "regularization": self.regularization, "alpha": self.alpha,
                "iterations": self.iterations, "seed": self.seed, "low_weight": self.low_weight}


# --------------------------------------------------------------------------- fastai-trained


def _fastai_dls(x, y, bs: int, make_batch=None, shuffle: bool = True):
    """fastai ``DataLoaders`` that serve slices of the tensors ``x`` and ``y`` (no per-row
    Python work); ``make_batch(indices) -> (x, y)`` replaces the plain slice. The validation
    loader is a few training rows: the rankers are judged by their lists, not this loss."""
    import torch
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader

    class SliceDL(DataLoader):
        def create_item(self, s):
            return s

        def create_batch(self, b):
            idx = torch.as_tensor(b, dtype=torch.long)
            return make_batch(idx) if make_batch else (x[idx], y[idx])

    n = len(x)
    train = SliceDL(range(n), bs=bs, shuffle=shuffle, drop_last=False)
    valid = SliceDL(range(min(n, bs)), bs=bs, shuffle=False)
    return DataLoaders(train, valid)


def _import_fastai() -> None:
    """Import fastai's learner and collab modules, silencing one warning they raise.

    fastai 2.8.12 decorates a few functions with ``torch.jit.script``, which torch 2.14
    deprecates, when its modules are first imported: fastai's to fix, not ours.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                                category=FutureWarning)
        import fastai.collab  # noqa: F401
        import fastai.learner  # noqa: F401


def _dot_model(n_users: int, n_movies: int, n_factors: int, y_range):
    from fastai.collab import EmbeddingDotBias

    return EmbeddingDotBias(n_factors, n_users, n_movies, y_range=y_range)


def _dot_scores(model, rows) -> np.ndarray:
    """Every movie's score for the users at ``rows``: what ``EmbeddingDotBias`` computes for
    each pair, as one matrix product."""
    import torch

    with torch.no_grad():
        u = torch.as_tensor(rows, dtype=torch.long)
        scores = model.u_weight(u) @ model.i_weight.weight.T + model.u_bias(u) + model.i_bias.weight.T
        if model.y_range is not None:
            lo, hi = model.y_range
            scores = torch.sigmoid(scores) * (hi - lo) + lo
    return scores.numpy()


def _train(learn, epochs: int, lr: float, threads: int | None) -> None:
    """``fit_one_cycle`` quietly, with ``threads`` torch threads (None: torch's default).
    These models are tiny: on a small shared CPU one thread is several times faster than
    two that wait on each other."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs, lr)
    finally:
        torch.set_num_threads(before)
    learn.model.eval()


class FastaiBPR(Ranker):
    """The article's dot-product model (``EmbeddingDotBias``, no ``y_range``) trained by a
    fastai ``Learner`` with the BPR loss ``-log sigmoid(score(u, watched) - score(u, other))``,
    ``other`` a movie drawn at random among those ``u`` did not rate (a fresh draw every batch).
    Everything else is fastai's usual recipe: ``fit_one_cycle``, AdamW with weight decay ``wd``."""

    name = "BPR (fastai Learner)"

    def __init__(self, n_factors: int = 40, epochs: int = 20, lr: float = 0.01, wd: float = 0.01,
                 bs: int = 1024, seed: int = 0, low_weight: float = 1.0, threads: int | None = 1):
        self.n_factors, self.epochs, self.lr, self.wd = n_factors, epochs, lr, wd
        self.bs, self.seed, self.threads = bs, seed, threads
        self.low_weight = low_weight   # 0: positives are liked movies only; else every watched movie

    def _fit(self, signal, rows, cols, train):
        import torch
        import torch.nn.functional as F

        _import_fastai()
        from fastai.learner import Learner

        from .run import seed_everything

        seed_everything(self.seed)
        n_users, n_movies = self.seen.shape
        users, positives = torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)
        watched = torch.as_tensor(self.seen.toarray() > 0)
        generator = torch.Generator().manual_seed(self.seed)

        def make_batch(idx):
            u, pos = users[idx], positives[idx]
            neg = torch.randint(n_movies, (len(idx),), generator=generator)
            for _ in range(10):   # draw again where the "other" movie was watched
                again = watched[u, neg]
                if not again.any():
                    break
                neg[again] = torch.randint(n_movies, (int(again.sum()),), generator=generator)
            return torch.stack([u, pos, neg], 1), torch.zeros(len(idx))

        dot = _dot_model(n_users, n_movies, self.n_factors, None)

        class Pairwise(torch.nn.Module):
            def __init__(self, dot):
                super().__init__()
                self.dot = dot

            def forward(self, x):
                return self.dot(x[:, [0, 1]]) - self.dot(x[:, [0, 2]])

        def bpr_loss(diff, _):
            return -F.logsigmoid(diff).mean()

        dls = _fastai_dls(users, positives, self.bs, make_batch=make_batch)
        learn = Learner(dls, Pairwise(dot), loss_func=bpr_loss, wd=self.wd)
        _train(learn, self.epochs, self.lr, self.threads)
        self._model = dot

    def _scores(self, rows):
        return _dot_scores(self._model, rows)

    def params(self):
        return {"n_factors": self.n_factors, "epochs": self.epochs, "lr": self.lr, "wd": self.wd,
                "bs": self.bs, "seed": self.seed, "low_weight": self.low_weight}


class FastaiSoftmax(FastaiBPR):
    """The same embeddings and fastai ``Learner``, another loss: for each (user, watched
    movie), a softmax over *all* movies of ``score(user, movie)`` should put its mass on the
    watched one (cross-entropy, as in an image classifier with one class per movie). With
    1,682 movies the full softmax is cheap, and no negatives need drawing."""

    name = "softmax (fastai Learner)"

    def _fit(self, signal, rows, cols, train):
        import torch

        _import_fastai()
        from fastai.learner import Learner
        from fastai.losses import CrossEntropyLossFlat

        from .run import seed_everything

        seed_everything(self.seed)
        dot = _dot_model(*self.seen.shape, self.n_factors, None)

        class AllMovies(torch.nn.Module):
            def __init__(self, dot):
                super().__init__()
                self.dot = dot

            def forward(self, users):
                return self.dot.u_weight(users) @ self.dot.i_weight.weight.T + self.dot.i_bias.weight.T

        users, movies = torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)
        learn = Learner(_fastai_dls(users, movies, self.bs), AllMovies(dot), loss_func=CrossEntropyLossFlat(),
                        wd=self.wd)
        _train(learn, self.epochs, self.lr, self.threads)
        self._model = dot


class RatingModel(Ranker):
    """The article's model and recipe on ratings: ``EmbeddingDotBias(40 factors,
    y_range=(0, 5.5))``, MSE, ``fit_one_cycle(5, 0.01)``, wd 0.1, batches of 64. The score is
    the predicted rating: it answers "how would I like this movie?"."""

    name = "rating model (the article's)"

    def __init__(self, n_factors: int = 40, y_range=(0.0, 5.5), wd: float = 0.1, lr: float = 0.01,
                 epochs: int = 5, bs: int = 64, seed: int = 0, threads: int | None = 1):
        self.n_factors, self.y_range, self.wd, self.lr = n_factors, tuple(y_range), wd, lr
        self.epochs, self.bs, self.seed, self.threads = epochs, bs, seed, threads

    def _fit(self, signal, rows, cols, train):
        import torch

        _import_fastai()
        from fastai.learner import Learner
        from fastai.losses import MSELossFlat

        from .run import seed_everything

        _check_columns(train, "training", [RATING])
        seed_everything(self.seed)
        x = torch.stack([torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)], 1)
        y = torch.as_tensor(train[RATING].to_numpy(dtype=np.float32))
        model = _dot_model(*self.seen.shape, self.n_factors, self.y_range)
        learn = Learner(_fastai_dls(x, y, self.bs), model, loss_func=MSELossFlat(), wd=self.wd)
        _train(learn, self.epochs, self.lr, self.threads)
        self._model = model

    def _scores(self, rows):
        return _dot_scores(self._model, rows)

    def params(self):
        return {"n_factors": self.n_factors, "y_range": list(self.y_range), "wd": self.wd, "lr": self.lr,
                "epochs": self.epochs, "bs": self.bs, "seed": self.seed}


def _standardise(scores: np.ndarray) -> np.ndarray:
    sd = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)


class Blend(Ranker):
    """"Will watch" plus ``weight`` times "will like": each user's scores from ``watch``
    and ``like`` are standardised (mean 0, sd 1 over the movies) and added. ``weight`` 0 is
    ``watch`` alone. With ``prefitted`` the two are used as they are (both fitted on the
    same training data)."""

    name = "blend"

    def __init__(self, watch: Ranker, like: Ranker, weight: float = 0.1, prefitted: bool = False):
        self.watch, self.like, self.weight, self.prefitted = watch, like, weight, prefitted

    def _fit(self, signal, rows, cols, train):
        if not self.prefitted:
            self.watch.fit(train)
            self.like.fit(train)
        for part in (self.watch, self.like):
            if not (np.array_equal(part.users, self.users) and np.array_equal(part.movies, self.movies)):
                raise ValueError(f"{part!r} was fitted on other users or movies than the blend")

    def _scores(self, rows):
        return _standardise(self.watch._scores(rows)) + self.weight * _standardise(self.like._scores(rows))

    def params(self):
        return {"watch": repr(self.watch), "like": repr(self.like), "weight": self.weight}


# --------------------------------------------------------------------------- protocols


def protocol_splits(protocol: str, data_dir, folds: Iterable[int] = (1, 2, 3, 4, 5), seed: int = 42):
    """``[(label, train, test, threshold)]`` for a protocol (see ``ranking``): the folds of
    ``ours`` (relevant = rating >= 4), or the one 75/25 split of ``recommenders`` (every
    test rating relevant, threshold None)."""
    from .folds import read_fold

    if protocol == "ours":
        return [(f"u{k}", *read_fold(data_dir, k), 4) for k in folds]
    if protocol == "recommenders":
        from .data import RATING_COLUMNS, check_ratings_file

        path = os.path.join(data_dir, "u.data")
        check_ratings_file(path)
        ratings = pd.read_csv(path, sep="\t", header=None, names=RATING_COLUMNS)
        return [(f"75/25 seed {seed}", *stratified_split(ratings, 0.75, seed), None)]
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def validation_split(train: pd.DataFrame, protocol: str, seed: int = 0):
    """A slice of ``train`` to pick hyperparameters on, never touching the test data:
    ``(fit_part, valid_part)``. ``ours``: each user's ratings 80/20; ``recommenders``: 75/25
    as their protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return stratified_split(train, 0.8 if protocol == "ours" else 0.75, seed)


def evaluate(ranker: Ranker, train: pd.DataFrame, test: pd.DataFrame, threshold: float | None = 4,
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


# EASE's penalty chosen on the validation slices of both protocols in notebooks/recommending.ipynb.
BEST_EASE_L2 = 400.0


def best_ranker() -> Ranker:
    """The ranker ``recommend.recommend_next`` uses: EASE with its chosen penalty. In
    notebooks/recommending.ipynb it comes within 3% of the best NDCG@10 on both protocols (the
    blend and the fastai softmax model, which take a minute to train), in about 2 seconds and
    with no randomness."""
    return EASE(l2=BEST_EASE_L2)
