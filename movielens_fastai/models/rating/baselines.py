"""Two baselines every method must beat: the global mean and mean + user + movie biases."""

from __future__ import annotations

import numpy as np

from ...core import MOVIE, RATING, USER, index_ids


def global_mean(base_df, test_df, seed):
    """Every rating predicted as the mean training rating."""
    return np.full(len(test_df), base_df[RATING].mean())


def _bias_fit(base_df, reg_u, reg_i, sweeps):
    users, n_users = index_ids(base_df[USER].to_numpy(), base_df[USER].to_numpy())
    items, n_items = index_ids(base_df[MOVIE].to_numpy(), base_df[MOVIE].to_numpy())
    r = base_df[RATING].to_numpy(float)
    mu = r.mean()
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    n_u = np.bincount(users, minlength=n_users)
    n_i = np.bincount(items, minlength=n_items)
    for _ in range(sweeps):
        bu = np.bincount(users, r - mu - bi[items], n_users) / (reg_u + n_u)
        bi = np.bincount(items, r - mu - bu[users], n_items) / (reg_i + n_i)
    return mu, bu, bi


def bias(base_df, test_df, seed, reg_u=15.0, reg_i=10.0, sweeps=10):
    """mean + user bias + movie bias, fitted by alternating least squares.

    Each sweep solves the regularised least-squares problem exactly for all user biases
    (``b_u = sum(r - mu - b_i) / (reg_u + n_u)``), then for all movie biases. These are
    Surprise's BaselineOnly defaults (ALS, reg_u 15, reg_i 10, 10 sweeps) written in
    numpy, so the two should agree: a check on both. Unknown users/movies get bias 0.
    """
    mu, bu, bi = _bias_fit(base_df, reg_u, reg_i, sweeps)
    users, _ = index_ids(base_df[USER].to_numpy(), test_df[USER].to_numpy())
    items, _ = index_ids(base_df[MOVIE].to_numpy(), test_df[MOVIE].to_numpy())
    bu[0] = bi[0] = 0.0
    return mu + bu[users] + bi[items]
