"""Ratings that arrive as tables rather than MovieLens files: a person's own ratings and titles.

``check_ratings_table`` asks of a frame what ``movielens.check_ratings_file`` and
``check_movielens`` ask of u.data and u.item, with the same kind of message (where, and what is
wrong): the columns, integer ids, numeric ratings, no (user, movie) pair twice, a title for every
rated movie. Rows are numbered from 1 in the table's order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import MOVIE, RATING, TITLE, USER
from .movielens import DataError


def _shown(value) -> str:
    """``value`` as a person typed it: numpy scalars as plain Python ones (numpy 2 writes np.float64(1.5))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _first_row(mask) -> int:
    return int(np.argmax(np.asarray(mask))) + 1


def _integer_ids(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    values = frame[column]
    if values.isna().any():
        raise DataError(f"{source}: row {_first_row(values.isna())}: {column} is missing")
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() | (numeric != np.floor(numeric))
    if bad.any():
        row = _first_row(bad)
        raise DataError(f"{source}: row {row}: {column} {_shown(values.iloc[row - 1])} is not an integer")
    return numeric.to_numpy(np.int64)


def check_ratings_table(ratings: pd.DataFrame, titles: pd.DataFrame, source: str = "ratings",
                        titles_source: str = "titles") -> tuple[float, float]:
    """Refuse a ratings table (``User ID``, ``Movie ID``, ``Rating``) or titles table (``Movie ID``,
    ``Title``) that a model cannot be trained on, with a ``DataError`` naming the table, the row
    and the problem. Returns the rating scale found, (lowest, highest)."""
    tables = ((ratings, source, [USER, MOVIE, RATING]), (titles, titles_source, [MOVIE, TITLE]))
    for frame, name, columns in tables:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name}: expected a table (pandas DataFrame), got {type(frame).__name__}")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{name}: column(s) {missing} are missing; expected {columns}, "
                            f"found {list(frame.columns)}")
        if frame.empty:
            raise DataError(f"{name}: the table is empty")
    users, movies = (_integer_ids(ratings, c, source) for c in (USER, MOVIE))
    values = pd.to_numeric(ratings[RATING], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(np.float64, na_value=np.nan))
    if bad.any():
        row = _first_row(bad)
        shown = _shown(ratings[RATING].iloc[row - 1])
        raise DataError(f"{source}: row {row}: rating {shown} is not a number")
    pairs = pd.DataFrame({"u": users, "m": movies})
    again = pairs.duplicated(keep="first").to_numpy()
    if again.any():
        row = _first_row(again)
        first = _first_row((pairs["u"] == users[row - 1]) & (pairs["m"] == movies[row - 1]))
        raise DataError(f"{source}: row {row}: user {users[row - 1]} rated movie {movies[row - 1]} again "
                        f"(first on row {first})")
    title_ids = _integer_ids(titles, MOVIE, titles_source)
    twice = pd.Series(title_ids).duplicated().to_numpy()
    if twice.any():
        row = _first_row(twice)
        raise DataError(f"{titles_source}: row {row}: movie id {title_ids[row - 1]} is listed twice")
    unknown = ~np.isin(movies, title_ids)
    if unknown.any():
        row = _first_row(unknown)
        raise DataError(f"{source}: row {row}: movie id {movies[row - 1]} is not in {titles_source} "
                        f"({len(np.unique(movies[unknown]))} unknown movie id(s) in all)")
    lowest, highest = float(values.min()), float(values.max())
    if lowest == highest:
        raise DataError(f"{source}: every rating is {lowest:g}: a model needs ratings that differ")
    return lowest, highest
