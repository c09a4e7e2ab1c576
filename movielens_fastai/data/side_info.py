"""What MovieLens 100K knows besides the ratings, as model inputs: who the users are (``u.user``),
what the movies are (``u.item``), when a rating was given, and who rated what (implicit feedback).

Everything here is built from a training frame (a ``.base``) and the two side files; the rows to
predict contribute only their own user, movie and date, never the fact that they were rated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import MOVIE, TIMESTAMP, USER
from .movielens import DataError, require_file

N_GENRES = 19
DAY = 86_400


def _split_lines(path: Path, sep: str, n_fields: int, what: str, encoding="latin-1") -> list[list[str]]:
    rows = []
    with open(require_file(path), encoding=encoding) as lines:
        for lineno, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split(sep)
            if len(fields) != n_fields:
                raise DataError(f"{path}:{lineno}: expected {n_fields} '{sep}'-separated fields ({what}), "
                                f"found {len(fields)}")
            rows.append(fields)
    return rows


def read_users(data_dir: str | os.PathLike) -> pd.DataFrame:
    """``u.user``: one row per user id with age, gender, occupation and zip code."""
    path = Path(data_dir) / "u.user"
    rows = _split_lines(path, "|", 5, "user id|age|gender|occupation|zip code")
    users = pd.DataFrame(rows, columns=[USER, "age", "gender", "occupation", "zip"])
    for column in (USER, "age"):
        bad = ~users[column].str.fullmatch(r"\d+")
        if bad.any():
            lineno = int(bad.to_numpy().argmax()) + 1
            raise DataError(f"{path}:{lineno}: {column} {users[column][lineno - 1]!r} is not an integer")
        users[column] = users[column].astype(np.int64)
    return users.set_index(USER)


def read_movie_features(data_dir: str | os.PathLike) -> pd.DataFrame:
    """``u.item``: one row per movie id with its release year (NaN when unknown) and 19 genre flags."""
    path = Path(data_dir) / "u.item"
    rows = _split_lines(path, "|", 5 + N_GENRES, "movie id|title|release date|video date|url|19 genres")
    ids, years, genres = [], [], []
    for lineno, fields in enumerate(rows, start=1):
        try:
            ids.append(int(fields[0]))
            genres.append([int(g) for g in fields[5:]])
        except ValueError:
            raise DataError(f"{path}:{lineno}: movie id and genre flags must be integers") from None
        date = fields[2]
        years.append(float(date[-4:]) if date[-4:].isdigit() else np.nan)
    movies = pd.DataFrame(np.array(genres, dtype=np.float32), columns=[f"genre_{g}" for g in range(N_GENRES)])
    movies.insert(0, "year", years)
    movies.insert(0, MOVIE, ids)
    return movies.set_index(MOVIE)


def codes(values, vocabulary) -> np.ndarray:
    """Position of each value in ``vocabulary`` plus one; 0 for values it does not hold."""
    vocabulary = np.asarray(vocabulary)
    order = np.argsort(vocabulary, kind="stable")
    values = np.asarray(values)
    pos = np.searchsorted(vocabulary[order], values)
    pos = np.clip(pos, 0, len(vocabulary) - 1)
    found = vocabulary[order][pos] == values
    return np.where(found, order[pos] + 1, 0)


class SideInfo:
    """Integer codes of every categorical input, fitted on a training frame.

    Users and movies are numbered from 1 in the order of ``u.user``/``u.item`` (0: unknown); the
    other fields are ``age`` (decade), ``gender``, ``occupation``, ``zip`` (the first digit, or
    'x' when it is not a digit), ``year`` (release year in 5-year bins), ``date`` (the rating's week,
    counted from the first training rating, clipped to the training weeks). ``genres`` is a
    (movies + 1) x 19 matrix of genre flags. ``user_items`` / ``item_users`` are the implicit
    feedback of the training frame: sparse rows (index, columns) of which movies each user rated and
    which users rated each movie, by code.
    """

    FIELDS = ("user", "movie", "age", "gender", "occupation", "zip", "year", "date")

    def __init__(self, data_dir, train_df: pd.DataFrame):
        users, movies = read_users(data_dir), read_movie_features(data_dir)
        self.user_ids, self.movie_ids = users.index.to_numpy(), movies.index.to_numpy()
        self.n_users, self.n_movies = len(self.user_ids) + 1, len(self.movie_ids) + 1
        u_age = (users["age"].to_numpy() // 10).clip(0, 7)
        u_gender = codes(users["gender"].to_numpy(), np.array(["F", "M"]))
        occupations = np.unique(users["occupation"].to_numpy())
        u_occ = codes(users["occupation"].to_numpy(), occupations)
        zip1 = users["zip"].str[0].where(users["zip"].str[0].str.isdigit(), "x").to_numpy()
        u_zip = codes(zip1, np.array(list("0123456789x")))
        year = movies["year"].to_numpy()
        m_year = np.where(np.isnan(year), 0, (np.nan_to_num(year, nan=1920).clip(1920, 1998) - 1920) // 5 + 1)
        # per-user / per-movie tables, row 0 = unknown
        self.user_table = np.zeros((self.n_users, 4), np.int64)
        self.user_table[1:] = np.stack([u_age + 1, u_gender, u_occ, u_zip], 1)
        self.movie_year = np.zeros(self.n_movies, np.int64)
        self.movie_year[1:] = m_year.astype(np.int64)
        self.genres = np.zeros((self.n_movies, movies.shape[1] - 1), np.float32)
        self.genres[1:] = movies.drop(columns="year").to_numpy()
        self.sizes = {"user": self.n_users, "movie": self.n_movies, "age": 9, "gender": 3,
                      "occupation": len(occupations) + 1, "zip": 12, "year": int(self.movie_year.max()) + 2}
        self.t0 = int(train_df[TIMESTAMP].min())
        self.n_weeks = int((train_df[TIMESTAMP].max() - self.t0) // (7 * DAY)) + 1
        self.sizes["date"] = self.n_weeks + 1
        u, m = self.encode_ids(train_df)
        if (u == 0).any() or (m == 0).any():
            raise DataError("training ratings name a user or movie that u.user / u.item does not list")
        self.user_items = (u, m)

    def encode_ids(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return codes(df[USER].to_numpy(), self.user_ids), codes(df[MOVIE].to_numpy(), self.movie_ids)

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """(rows, 8) integer codes in the order of ``FIELDS``."""
        u, m = self.encode_ids(df)
        week = (df[TIMESTAMP].to_numpy() - self.t0) // (7 * DAY)
        date = np.clip(week, 0, self.n_weeks - 1) + 1
        return np.column_stack([u, m, self.user_table[u], self.movie_year[m], date]).astype(np.int64)

    def implicit(self, normalise=True):
        """scipy CSR matrices (users x movies, movies x users) of the training frame's who-rated-what,
        each row scaled by 1/sqrt(its count) as in SVD++."""
        import scipy.sparse as sps

        u, m = self.user_items
        ones = np.ones(len(u), np.float32)
        um = sps.csr_matrix((ones, (u, m)), shape=(self.n_users, self.n_movies))
        mu = um.T.tocsr()
        if normalise:
            for mat in (um, mu):
                counts = np.diff(mat.indptr)
                mat.data /= np.sqrt(np.repeat(np.maximum(counts, 1), counts)).astype(np.float32)
        return um, mu
