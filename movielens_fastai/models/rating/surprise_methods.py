"""Peers from scikit-surprise, default settings. scikit-surprise is installed in the fastai v1
environment (``.venv``) only."""

from __future__ import annotations

import numpy as np
import surprise

from ...core import MOVIE, RATING, USER


def _surprise(algo_name, base_df, test_df, seed, **kwargs):
    reader = surprise.Reader(rating_scale=(1, 5))
    trainset = surprise.Dataset.load_from_df(base_df[[USER, MOVIE, RATING]], reader).build_full_trainset()
    algo_cls = getattr(surprise, algo_name)
    if algo_name == "BaselineOnly":   # deterministic; verbose=False only silences a print
        algo = algo_cls(verbose=False, **kwargs)
    else:
        algo = algo_cls(random_state=seed, **kwargs)
    algo.fit(trainset)
    return np.array([algo.predict(u, m).est for u, m in zip(test_df[USER], test_df[MOVIE], strict=True)])


def surprise_svd(base_df, test_df, seed):
    """Surprise's SVD (Funk's biased MF), default settings."""
    return _surprise("SVD", base_df, test_df, seed)


def surprise_svdpp(base_df, test_df, seed):
    """Surprise's SVD++ (MF with implicit feedback), default settings."""
    return _surprise("SVDpp", base_df, test_df, seed)


def surprise_baselineonly(base_df, test_df, seed):
    """Surprise's BaselineOnly (mean + user + item biases, ALS), default settings.

    It is deterministic and takes no random_state."""
    return _surprise("BaselineOnly", base_df, test_df, seed)
