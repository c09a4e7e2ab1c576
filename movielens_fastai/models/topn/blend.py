"""A blend of two rankers: "will watch" plus a share of "will like"."""

from __future__ import annotations

import numpy as np

from .base import Ranker


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
