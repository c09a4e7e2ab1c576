"""The bigger MovieLens data sets: fetch, verify, read and check them.

MovieLens 100K has its own module (``movielens``); this one adds ml-latest-small, ml-1m, ml-10m,
ml-20m and ml-25m, each in its own format, and ``load_dataset(name)`` that reads any of
them (100K included) into the same columns, so a notebook switches by one parameter.

Formats, as GroupLens ships them:

* ml-1m and ml-10m: ``ratings.dat`` (``user::movie::rating::timestamp``) and ``movies.dat``
  (``movie::title::genres``), ``::``-separated, no header, read as latin-1;
* ml-20m, ml-25m and ml-latest-small: ``ratings.csv`` (``userId,movieId,rating,timestamp``)
  and ``movies.csv`` (``movieId,title,genres``, titles quoted where they hold commas),
  CSV with a header, UTF-8.

ml-1m rates in whole stars (1-5); the others in half stars (0.5-5).

Downloads go through ``movielens.fetch_archive``, like 100K's: the archive's size and the MD5
GroupLens publishes beside it (``<archive>.zip.md5``) are checked before anything is
unpacked, and nothing is left behind when either is wrong. A data set without a published
MD5 on record here is not downloaded at all (see ``Dataset.md5``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core import MOVIE, RATING, RATING_COLUMNS, TIMESTAMP, TITLE, USER, SetupError, project_root
from . import movielens
from .movielens import DataError, DownloadError, parse_int, require_file


def datasets_dir() -> Path:
    """Where ``load_dataset`` downloads the bigger data sets: ``data/`` in the checkout (one folder
    per data set; ignored by git)."""
    try:
        return project_root() / "data"
    except SetupError as err:
        raise DataError(f"{err}; or pass data_dir, a folder holding the data set") from None
BASE_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class Dataset:
    name: str
    #: The archive's MD5 as GroupLens publishes it beside the archive (``<name>.zip.md5``);
    #: None where no published value could be found: such a download is refused, not trusted.
    md5: str | None
    #: The archive's size in bytes (None where unknown).
    size: int | None
    ratings_file: str
    movies_file: str
    sep: str                 # "::" or ","
    encoding: str
    header: tuple[str, ...] | None          # the ratings file's header, if it has one
    movies_header: tuple[str, ...] | None
    rating_step: float       # 1: whole stars; 0.5: half stars
    rating_range: tuple[float, float]

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.name}.zip"


def _dat(name, md5, size, step, low):
    return Dataset(name, md5, size, "ratings.dat", "movies.dat", "::", "latin-1", None, None,
                   step, (low, 5.0))


def _csv(name, md5, size):
    return Dataset(name, md5, size, "ratings.csv", "movies.csv", ",", "utf-8",
                   ("userId", "movieId", "rating", "timestamp"), ("movieId", "title", "genres"),
                   0.5, (0.5, 5.0))


# MD5 sums: the values GroupLens publishes in <archive>.zip.md5, as recorded by several independent
# projects that check them; sizes: the Content-Length files.grouplens.org serves. For ml-latest-small
# (an archive GroupLens regenerates from time to time) no published MD5 was found, so it is not verified
# and fetch_dataset refuses to download it unless you pass the md5 and size yourself.
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    _csv("ml-latest-small", None, None),
    _dat("ml-1m", "c4d9eecfca2ab87c1945afe126590906", 5_917_549, 1.0, 1.0),
    _dat("ml-10m", "ce571fd55effeba0271552578f2648bd", 65_566_137, 0.5, 0.5),
    _csv("ml-20m", "cd245b17a1ae2cc31bb14903e1204af3", 198_702_078),
    _csv("ml-25m", "6b51fb2759a8657d3bfcbfc42b592ada", 261_978_986),
)}
NAMES = ("ml-100k", *DATASETS)


def dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(NAMES)}")
    return DATASETS[name]


def fetch_dataset(name: str, dest: str | os.PathLike | None = None, url: str | None = None,
                  md5: str | None = None, size: int | None = None, timeout: float = 60) -> Path:
    """Download ``name``'s archive, verify its size and MD5, install its ratings and movies in ``dest``.

    ``url``, ``md5`` and ``size`` default to GroupLens's archive and its published values.
    """
    spec = dataset(name)
    dest = Path(dest) if dest is not None else datasets_dir() / name
    url = url or spec.url
    md5, size = md5 or spec.md5, size or spec.size
    if md5 is None or size is None:
        raise DownloadError(f"{url}: no MD5 published by GroupLens is on record for {name}, so the download "
                            "cannot be verified and is refused; download and check it yourself, then pass "
                            "its folder as data_dir (or pass md5= and size= that you trust)")
    return movielens.fetch_archive(dest, url, md5, size,
                                   files={spec.ratings_file: None, spec.movies_file: None},
                              marker=spec.ratings_file, timeout=timeout,
                              advice="to use a copy you already have, pass its folder as data_dir")


def resolve_dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """An explicit ``data_dir`` (which must exist), else ``data/<name>/``, downloaded on first use.
    For ml-100k, ``movielens.resolve_data_dir`` (``$MOVIELENS_DIR``, then ``ml-100k/``)."""
    if name == "ml-100k":
        return movielens.resolve_data_dir(data_dir)
    spec = dataset(name)
    if data_dir is not None:
        path = Path(data_dir).expanduser().resolve()
        if not path.is_dir():
            raise DataError(f"{path}: data directory does not exist")
        return path
    path = datasets_dir() / name
    if not (path / spec.ratings_file).exists():
        fetch_dataset(name, path)
    return path


def _fail(path: Path, lineno: int, problem: str):
    raise DataError(f"{path}:{lineno}: {problem}")


def _rating_problem(value: float, spec: Dataset) -> str | None:
    low, high = spec.rating_range
    if not low <= value <= high:
        return f"rating {value:g} is outside {low:g}-{high:g}"
    if (value / spec.rating_step) % 1:
        return f"rating {value:g} is not in steps of {spec.rating_step:g}"
    return None


def _scan_ratings(path: Path, spec: Dataset) -> None:
    """Line by line, the first line the fast reader could not take: raises with file:line."""
    what = "'::'" if spec.sep == "::" else "comma"
    with open(path, encoding=spec.encoding, errors="replace", newline="") as lines:
        for lineno, line in enumerate(lines, start=1):
            text = line.rstrip("\r\n")
            if spec.header and lineno == 1:
                continue   # checked before reading
            fields = text.split(spec.sep)
            if len(fields) != 4:
                _fail(path, lineno, f"expected 4 {what}-separated fields (user, movie, rating, timestamp), "
                                    f"found {len(fields)}")
            for text_value, name in zip(fields, ("user id", "movie id", None, "timestamp"), strict=True):
                if name is not None:
                    parse_int(text_value, path, lineno, name)
            try:
                rating = float(fields[2])
            except ValueError:
                _fail(path, lineno, f"rating {fields[2]!r} is not a number")
            problem = _rating_problem(rating, spec)
            if problem:
                _fail(path, lineno, problem)


def _first_line(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        return f.readline().rstrip("\r\n")


def read_ratings(name: str, data_dir: str | os.PathLike) -> pd.DataFrame:
    """``name``'s ratings as ``User ID, Movie ID, Rating, Timestamp``, checked line by line in effect:
    a damaged line stops with the file, the line and the problem."""
    spec = dataset(name)
    path = require_file(Path(data_dir) / spec.ratings_file)
    offset = 1 if spec.header else 0
    if spec.header:
        first = _first_line(path, spec.encoding)
        if first != ",".join(spec.header):
            _fail(path, 1, f"expected the header {','.join(spec.header)!r}, found {first!r}")
    try:
        if spec.sep == "::":
            # Split on ':' (the fast C parser takes one-character separators): fields 0, 2, 4, 6
            # hold the values and fields 1, 3, 5 must be empty.
            raw = pd.read_csv(path, sep=":", header=None, names=range(7), encoding=spec.encoding,
                              skip_blank_lines=False,
                              dtype={0: "int64", 1: "float32", 2: "int64", 3: "float32", 4: "float32",
                                     5: "float32", 6: "int64"})
            if raw[[1, 3, 5]].notna().to_numpy().any():
                raise ValueError("a field holds a single ':'")
            ratings = pd.DataFrame({USER: raw[0], MOVIE: raw[2], RATING: raw[4], TIMESTAMP: raw[6]})
        else:
            ratings = pd.read_csv(path, sep=",", header=0, names=[USER, MOVIE, RATING, TIMESTAMP],
                                  encoding=spec.encoding, skip_blank_lines=False,
                                  dtype={USER: "int64", MOVIE: "int64", RATING: "float32",
                                         TIMESTAMP: "int64"})
    except (ValueError, pd.errors.ParserError) as err:
        _scan_ratings(path, spec)
        raise DataError(f"{path}: could not be read ({err})") from err
    if ratings.empty:
        raise DataError(f"{path}: file has no ratings, expected one per line")
    values = ratings[RATING].to_numpy()
    low, high = spec.rating_range
    bad = (values < low) | (values > high) | ((values / spec.rating_step) % 1 != 0)
    if bad.any():
        row = int(bad.argmax())
        _fail(path, row + 1 + offset, _rating_problem(float(values[row]), spec))
    duplicated = ratings.duplicated([USER, MOVIE]).to_numpy()
    if duplicated.any():
        row = int(duplicated.argmax())
        user, movie = int(ratings[USER].iat[row]), int(ratings[MOVIE].iat[row])
        first = int(((ratings[USER] == user) & (ratings[MOVIE] == movie)).to_numpy().argmax())
        _fail(path, row + 1 + offset,
              f"user {user} rated movie {movie} again (first on line {first + 1 + offset})")
    return ratings


def read_movies(name: str, data_dir: str | os.PathLike) -> pd.DataFrame:
    """``Movie ID`` and ``Title`` from ``name``'s movies file."""
    if name == "ml-100k":
        return movielens.load_movies(data_dir)
    spec = dataset(name)
    path = require_file(Path(data_dir) / spec.movies_file)
    lines = []
    for lineno, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            lines.append(raw.decode(spec.encoding))
        except UnicodeDecodeError as err:
            _fail(path, lineno, f"not valid {spec.encoding} ({err.reason} at column {err.start + 1})")
    rows, seen = [], {}
    if spec.sep == "::":
        records = ((lineno, line.split("::")) for lineno, line in enumerate(lines, start=1))
    else:
        reader = csv.reader(lines)
        records = ((reader.line_num, fields) for fields in reader)
    for lineno, fields in records:
        if spec.movies_header and lineno == 1:
            if tuple(fields) != spec.movies_header:
                _fail(path, 1, f"expected the header {','.join(spec.movies_header)!r}, found {lines[0]!r}")
            continue
        if len(fields) != 3:
            sep = "'::'" if spec.sep == "::" else "comma"
            _fail(path, lineno,
                  f"expected 3 {sep}-separated fields (movie id, title, genres), found {len(fields)}")
        movie = parse_int(fields[0], path, lineno, "movie id")
        if movie in seen:
            _fail(path, lineno, f"movie id {movie} is listed twice (first on line {seen[movie]})")
        seen[movie] = lineno
        rows.append((movie, fields[1]))
    if not rows:
        raise DataError(f"{path}: file lists no movies")
    return pd.DataFrame(rows, columns=[MOVIE, TITLE])


def load_dataset(name: str = "ml-100k",
                 data_dir: str | os.PathLike | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(ratings, movies)`` of any MovieLens data set, checked: ratings as ``User ID, Movie ID,
    Rating, Timestamp``, movies as ``Movie ID, Title``. Downloads on first use (see
    ``resolve_dataset_dir``); every rated movie must be listed in the movies file."""
    folder = resolve_dataset_dir(name, data_dir)
    if name == "ml-100k":
        movielens.check_movielens(folder)   # checks u.data line by line, so a plain read follows
        ratings = pd.read_csv(folder / "u.data", sep="\t", header=None, names=RATING_COLUMNS)
        return ratings, movielens.load_movies(folder)
    spec = dataset(name)
    ratings, movies = read_ratings(name, folder), read_movies(name, folder)
    unknown = ~ratings[MOVIE].isin(movies[MOVIE]).to_numpy()
    if unknown.any():
        row = int(unknown.argmax())
        n_unknown = ratings[MOVIE][unknown].nunique()
        _fail(folder / spec.ratings_file, row + 1 + (1 if spec.header else 0),
              f"movie id {int(ratings[MOVIE].iat[row])} is not in {folder / spec.movies_file} "
              f"({n_unknown} unknown movie id(s) in all)")
    return ratings, movies


__all__ = ["DATASETS", "datasets_dir", "NAMES", "Dataset", "dataset", "fetch_dataset", "load_dataset",
           "read_movies", "read_ratings", "resolve_dataset_dir"]
