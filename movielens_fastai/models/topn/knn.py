"""Item-based nearest neighbours."""

from __future__ import annotations

import numpy as np

from .base import Ranker


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
