"""Implicit-feedback ALS (Hu, Koren and Volinsky, 2008), from the ``implicit`` package (installed in
the fastai 2 environment)."""

from __future__ import annotations

import warnings

import numpy as np
from threadpoolctl import threadpool_limits

with warnings.catch_warnings():
    # implicit imports tqdm.auto, which warns inside Jupyter when ipywidgets is not installed;
    # implicit's progress bars stay off here anyway.
    warnings.filterwarnings("ignore", message="IProgress not found")
    from implicit.cpu.als import AlternatingLeastSquares

from .base import Ranker


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
