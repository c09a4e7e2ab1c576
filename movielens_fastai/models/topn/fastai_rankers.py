"""The article's dot-product model (fastai's ``EmbeddingDotBias``) as a ranker, trained by a
fastai 2 ``Learner``: on a pairwise loss (BPR, Rendle et al., 2009), on a softmax over all movies,
and on ratings as the article trains it.

It imports fastai 2 at the top: only the fastai 2 environment (``.venv-fastai2``) imports it. Their
batches come from the project's one tensor-slice loader (``training.loaders``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from fastai.collab import EmbeddingDotBias
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat, MSELossFlat

from ...core import RATING, check_columns, seed_everything
from ...training.loaders import tensor_dataloaders
from .base import Ranker


def _dot_model(n_users: int, n_movies: int, n_factors: int, y_range):
    return EmbeddingDotBias(n_factors, n_users, n_movies, y_range=y_range)


def _dot_scores(model, rows) -> np.ndarray:
    """Every movie's score for the users at ``rows``: what ``EmbeddingDotBias`` computes for
    each pair, as one matrix product."""
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
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs, lr)
    finally:
        torch.set_num_threads(before)
    learn.model.eval()


class Pairwise(torch.nn.Module):
    """score(user, watched) - score(user, other) for rows of (user, watched movie, other movie)."""

    def __init__(self, dot):
        super().__init__()
        self.dot = dot

    def forward(self, x):
        return self.dot(x[:, [0, 1]]) - self.dot(x[:, [0, 2]])


def bpr_loss(diff, _):
    """BPR: -log sigmoid(score(u, watched) - score(u, other)), averaged over the batch."""
    return -F.logsigmoid(diff).mean()


class AllMovies(torch.nn.Module):
    """Every movie's score for each user of a batch: the logits of a softmax over all movies."""

    def __init__(self, dot):
        super().__init__()
        self.dot = dot

    def forward(self, users):
        return self.dot.u_weight(users) @ self.dot.i_weight.weight.T + self.dot.i_bias.weight.T


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
        # the loader shuffles from seed + 1: the negatives above draw from seed
        dls = tensor_dataloaders(users, positives, self.bs, self.seed + 1, batch_fn=make_batch,
                                 drop_last=False)
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
        seed_everything(self.seed)
        dot = _dot_model(*self.seen.shape, self.n_factors, None)
        users, movies = torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)
        dls = tensor_dataloaders(users, movies, self.bs, self.seed, drop_last=False)
        learn = Learner(dls, AllMovies(dot), loss_func=CrossEntropyLossFlat(), wd=self.wd)
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
        check_columns(train, "training", [RATING])
        seed_everything(self.seed)
        x = torch.stack([torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)], 1)
        y = torch.as_tensor(train[RATING].to_numpy(dtype=np.float32))
        model = _dot_model(*self.seen.shape, self.n_factors, self.y_range)
        dls = tensor_dataloaders(x, y, self.bs, self.seed, drop_last=False)
        learn = Learner(dls, model, loss_func=MSELossFlat(), wd=self.wd)
        _train(learn, self.epochs, self.lr, self.threads)
        self._model = model

    def _scores(self, rows):
        return _dot_scores(self._model, rows)

    def params(self):
        return {"n_factors": self.n_factors, "y_range": list(self.y_range), "wd": self.wd, "lr": self.lr,
                "epochs": self.epochs, "bs": self.bs, "seed": self.seed}
