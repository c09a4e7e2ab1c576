"""Bayesian factorization machines fitted by Gibbs sampling (myFM), the strongest peer of the benchmark.

``myfm_vanilla`` sees only the user and the movie. ``myfm_extended`` follows myFM's documented
MovieLens 100K recipe: the rating's date; the user's age, gender, occupation and zip-code prefix;
the movie's release year and genres; implicit feedback (the set of movies each user rated and the
set of users who rated each movie, **from the training frame only**, each scaled by
1/sqrt(size)); a separate prior per feature group; rank 10, 512 iterations.
``myfm_probit`` is the same with an ordered-probit output (five classes); its prediction is the
expected rating under the predicted class probabilities.

myFM's wheel needs numpy 2, so this module runs in the fastai 2 environment (``.venv-fastai2``).
"""

from __future__ import annotations

import myfm
import numpy as np
import scipy.sparse as sps

from ...core import MOVIE, RATING, TIMESTAMP, USER, index_ids
from ...data.side_info import DAY, SideInfo


def _quiet(*_):
    """A myFM callback that only stops its progress bar (it draws one unless given a callback)."""
    return False, None


def _one_hot(codes: np.ndarray, size: int):
    rows = np.arange(len(codes))
    keep = codes > 0
    return sps.csr_matrix((np.ones(keep.sum()), (rows[keep], codes[keep])), shape=(len(codes), size))


def myfm_vanilla(base_df, test_df, seed, rank=10, n_iter=200):
    """Bayesian FM on user and movie alone (two feature groups), rank 10, 200 Gibbs iterations."""
    def design(df):
        users, n_users = index_ids(base_df[USER].to_numpy(), df[USER].to_numpy())
        items, n_items = index_ids(base_df[MOVIE].to_numpy(), df[MOVIE].to_numpy())
        return sps.hstack([_one_hot(users, n_users), _one_hot(items, n_items)]).tocsr(), [n_users, n_items]

    x_train, groups = design(base_df)
    fm = myfm.MyFMRegressor(rank=rank, random_seed=seed)
    fm.fit(x_train, base_df[RATING].to_numpy(float), n_iter=n_iter, group_shapes=groups, callback=_quiet)
    return fm.predict(design(test_df)[0])


def _extended_design(base_df, data_dir):
    """A function df -> (X, relation blocks) and the feature-group sizes, all fitted on ``base_df``."""
    side = SideInfo(data_dir, base_df)
    um, mu = side.implicit()
    s = side.sizes
    user_rows = np.arange(side.n_users)
    users_block = sps.hstack([
        _one_hot(user_rows, s["user"]),
        *[_one_hot(side.user_table[:, j], s[f])
          for j, f in enumerate(("age", "gender", "occupation", "zip"))],
        um]).tocsr()
    movie_rows = np.arange(side.n_movies)
    genres = side.genres / np.maximum(side.genres.sum(1, keepdims=True), 1)
    movies_block = sps.hstack([_one_hot(movie_rows, s["movie"]), _one_hot(side.movie_year, s["year"]),
                               sps.csr_matrix(genres), mu]).tocsr()
    day0 = int(base_df[TIMESTAMP].min()) // DAY
    n_days = int(base_df[TIMESTAMP].max()) // DAY - day0 + 1
    train_days = np.unique(base_df[TIMESTAMP].to_numpy() // DAY - day0)

    def design(df):
        u, m = side.encode_ids(df)
        day = df[TIMESTAMP].to_numpy() // DAY - day0
        day = np.where(np.isin(day, train_days), day + 1, 0)   # a day no training rating has: no date input
        rel = [myfm.RelationBlock(u, users_block), myfm.RelationBlock(m, movies_block)]
        return _one_hot(day, n_days + 1), rel

    groups = [n_days + 1, s["user"], s["age"], s["gender"], s["occupation"], s["zip"], side.n_movies,
              s["movie"], s["year"], genres.shape[1], side.n_users]
    return design, groups


def myfm_extended(base_df, test_df, seed, data_dir=None, rank=10, n_iter=512):
    """myFM's extended recipe (side information, date, implicit feedback), regression."""
    design, groups = _extended_design(base_df, data_dir)
    x, rel = design(base_df)
    fm = myfm.MyFMRegressor(rank=rank, random_seed=seed)
    fm.fit(x, base_df[RATING].to_numpy(float), X_rel=rel, n_iter=n_iter, group_shapes=groups,
           callback=_quiet)
    x_test, rel_test = design(test_df)
    return fm.predict(x_test, X_rel=rel_test)


def myfm_probit(base_df, test_df, seed, data_dir=None, rank=10, n_iter=512):
    """The extended recipe with an ordered-probit output; the expected rating is the prediction."""
    design, groups = _extended_design(base_df, data_dir)
    x, rel = design(base_df)
    fm = myfm.MyFMOrderedProbit(rank=rank, random_seed=seed)
    fm.fit(x, base_df[RATING].to_numpy(np.int64) - 1, X_rel=rel, n_iter=n_iter, group_shapes=groups,
           callback=_quiet)
    x_test, rel_test = design(test_df)
    proba = fm.predict_proba(x_test, X_rel=rel_test)
    return proba @ np.arange(1, proba.shape[1] + 1)
