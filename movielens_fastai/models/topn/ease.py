"""EASE, the Embarrassingly Shallow Autoencoder (Steck, 2019): a linear item-to-item model with a
closed-form solution."""

from __future__ import annotations

import numpy as np

from .base import Ranker

#: EASE's penalty chosen on the validation slices of both protocols in notebooks/06_recommending.ipynb.
CHOSEN_L2 = 400.0


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

    @property
    def weights(self) -> np.ndarray:
        """``B``, the fitted item-to-item weights (movies x movies, in ``self.movies`` order): what a
        new user's scores are made from (``new_user.NewUserRanker``)."""
        return self._b

    def params(self):
        return {"l2": self.l2, "low_weight": self.low_weight}
