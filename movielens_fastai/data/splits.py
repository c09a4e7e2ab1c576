"""Every way the project splits ratings into what a model learns from and what judges it.

* ``validation_indices``: the article's split, fastai v1's ``split_by_rand_pct(0.1, seed)``;
* ``read_fold``: GroupLens's canonical folds ``u1.base``/``u1.test`` ... ``u5``, 80,000 training
  and 20,000 test ratings each, the five test sets disjoint and together all of ``u.data``;
* ``stratified_split``: each user's ratings cut at a share (Microsoft Recommenders' protocol);
* ``validation_slice``: a random 10% of a training frame to choose settings on, never a test file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import MOVIE, USER, check_columns
from .movielens import read_ratings_file

FOLDS = (1, 2, 3, 4, 5)
N_BASE, N_TEST = 80_000, 20_000
#: The share of a training frame held out by ``validation_slice``.
VALID_FRACTION = 0.1


def validation_indices(n_rows: int, valid_pct: float, seed: int) -> np.ndarray:
    """The rows fastai v1's ``split_by_rand_pct(valid_pct, seed)`` puts in validation.

    fastai v1 seeds numpy's global generator and takes the first ``int(valid_pct * n)``
    rows of a permutation; passing these to fastai 2 gives both the same split.
    """
    np.random.seed(seed)
    return np.random.permutation(n_rows)[: int(valid_pct * n_rows)]


def read_fold(data_dir: str | os.PathLike, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(base_df, test_df)`` of the canonical split ``u{k}.base`` / ``u{k}.test``.

    Both have the columns 'User ID', 'Movie ID', 'Rating', 'Timestamp' (integers).
    A damaged file raises ``DataError`` with ``file:line: problem``; a file with other
    than 80,000 (base) or 20,000 (test) ratings is damaged too.
    """
    if k not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {k!r}")
    data_dir = Path(data_dir)
    return (read_ratings_file(data_dir / f"u{k}.base", N_BASE),
            read_ratings_file(data_dir / f"u{k}.test", N_TEST))


def stratified_split(ratings: pd.DataFrame, ratio: float = 0.75,
                     seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's ratings shuffled and cut at ``round(ratio * n)``: the first part trains,
    the rest tests (Recommenders' ``python_stratified_split`` in spirit: the same share per
    user, not the same rows, since the shuffles differ). A user with one rating keeps it in
    training."""
    check_columns(ratings, "input", [USER, MOVIE])
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


def validation_slice(base_df: pd.DataFrame, fraction: float = VALID_FRACTION):
    """(rest, slice): a random ``fraction`` of ``base_df``'s rows (numpy ``default_rng(0)``) and the
    others. Every setting of the project's own models was chosen on this slice of u1.base."""
    perm = np.random.default_rng(0).permutation(len(base_df))
    n = int(len(base_df) * fraction)
    return base_df.iloc[perm[n:]], base_df.iloc[perm[:n]]
