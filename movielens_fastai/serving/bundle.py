"""A trained model saved as plain arrays, and the new user it serves.

A ``ModelBundle`` is everything the app needs, and nothing that runs code when it is read:

* the article's rating model (``EmbeddingDotBias``) as arrays with its user and movie id maps,
  ``y_range`` and the prior new users are folded in towards (``models.rating.fold_in.DotModel``);
* the ranker for new users: EASE's item-to-item weights, the co-occurrence shares and each movie's
  popularity (``models.topn.new_user.NewUserRanker``);
* the movie titles, the rating scale, and a record: the SHA-256 of the ratings it was trained on
  (``ratings_sha256``), package versions, settings, training date, validation MSE.

``save_bundle`` writes one safetensors file (tensors plus string metadata; no pickle, so no class
or function has to be importable to read it, and reading it runs no code) through a temporary
file and ``os.replace``, so a reader never sees half a file. The file carries the SHA-256 of its
own contents: ``load_bundle`` refuses a truncated or altered file, a file this project did not
write, and (given ``expect_ratings_sha256``) a bundle trained on other ratings, each with a
``BundleError`` naming the file and the problem.

A fastai ``learn.export`` file is the other way to keep a model: it pickles the whole ``Learner``
(model, loss, callbacks and an empty copy of the ``DataLoaders``), so fastai's ``load_learner`` must
unpickle it (``weights_only=False``; it warns that this can run arbitrary code), needs the same
fastai, fasttransform and pandas to read it, and needs every function it names importable.

This module needs numpy, pandas and safetensors (installed with the fastai 2 environment).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import safetensors.numpy
from safetensors import SafetensorError

from ..core import MOVIE, RATING, TITLE, USER, check_columns, check_k, write_bytes_atomically
from ..models.rating.fold_in import DotModel, FoldedUser
from ..models.topn.new_user import NewUserRanker
from .titles import TitleIndex

#: What the metadata's "format" says, and the layout version this code reads and writes.
FORMAT = "movielens-fastai model bundle"
FORMAT_VERSION = 1
#: The arrays of a bundle and their dtypes in the file (ids int64, the prior float64, the rest float32).
ARRAYS = {
    "user_ids": np.int64, "movie_ids": np.int64,
    "user_vectors": np.float32, "user_biases": np.float32,
    "movie_vectors": np.float32, "movie_biases": np.float32,
    "prior": np.float64, "prior_precision": np.float64,
    "ease_weights": np.float32, "cooccurrence": np.float32, "popularity": np.float32,
}
_MODEL_ARRAYS = ("user_ids", "movie_ids", "user_vectors", "user_biases", "movie_vectors", "movie_biases",
                 "prior", "prior_precision")
_RANKER_ARRAYS = ("ease_weights", "cooccurrence", "popularity")
SCORE, BECAUSE, PREDICTED = "Score", "Because", "Predicted rating"
POPULAR_REASON = "popular with everyone"


class BundleError(ValueError):
    """A bundle file that cannot be used: missing, damaged, not a bundle, or from other data."""


class RatingsError(ValueError):
    """A new user's ratings that cannot be used as given (the message says which and why)."""


def shown(text, limit: int = 60) -> str:
    """A person's input quoted back in a message: as Python writes it (so stray bytes and control
    characters show as escapes and never break the page or its JSON), cut to ``limit``."""
    quoted = ascii(text) if isinstance(text, str) else ascii(str(text))
    return quoted if len(quoted) <= limit else quoted[:limit - 1] + "…'"


def ratings_sha256(ratings: pd.DataFrame) -> str:
    """The SHA-256 that names a ratings table whatever its row order or column types: of the
    (user, movie, rating) triples sorted by user then movie, as little-endian int64, int64 and
    float64. MovieLens 100K's u.data gives the same digest read by any of the project's readers."""
    check_columns(ratings, "input", [USER, MOVIE, RATING])
    frame = pd.DataFrame({"u": ratings[USER].to_numpy(np.int64), "m": ratings[MOVIE].to_numpy(np.int64),
                          "r": ratings[RATING].to_numpy(np.float64)}).sort_values(["u", "m"], kind="stable")
    digest = hashlib.sha256(b"user,movie,rating int64,int64,float64\n")
    for name, dtype in (("u", "<i8"), ("m", "<i8"), ("r", "<f8")):
        digest.update(np.ascontiguousarray(frame[name].to_numpy().astype(dtype)).tobytes())
    return digest.hexdigest()


def _content_sha256(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> str:
    """One digest over every array (name, dtype, shape, bytes) and every metadata entry but the
    digest itself, each length-prefixed so that no two contents give the same byte stream."""
    digest = hashlib.sha256()

    def put(data: bytes):
        digest.update(struct.pack("<Q", len(data)))
        digest.update(data)

    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        put(name.encode())
        put(value.dtype.str.encode())
        put(json.dumps(list(value.shape)).encode())
        put(value.tobytes())
    for key in sorted(metadata):
        if key != "content_sha256":
            put(key.encode())
            put(metadata[key].encode())
    return digest.hexdigest()


@dataclass
class ModelBundle:
    """The rating model, the new-user ranker, titles and the record of how they were made.

    ``titles[j]`` is the title of ``model.movie_ids[j]``; ``ranker`` covers the same movies in the
    same order. ``rating_scale`` is (lowest, highest) rating a person may give. ``info`` holds
    ``ratings_sha256``, ``versions``, ``settings``, ``trained`` (ISO date), ``valid_mse`` and ``data``
    (what the ratings were); it is saved as JSON."""

    model: DotModel
    ranker: NewUserRanker
    titles: list[str]
    rating_scale: tuple[float, float]
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if not np.array_equal(self.model.movie_ids, self.ranker.movie_ids):
            raise ValueError("the rating model and the ranker cover different movies")
        self.titles = [str(t) for t in self.titles]
        if len(self.titles) != len(self.model.movie_ids):
            raise ValueError(f"{len(self.titles)} titles for {len(self.model.movie_ids)} movies")
        lo, hi = (float(v) for v in self.rating_scale)
        if not lo < hi:
            raise ValueError(f"rating_scale must be (lowest, highest), got {self.rating_scale!r}")
        self.rating_scale = (lo, hi)
        self._titles = pd.Series(self.titles, index=self.model.movie_ids)
        self._index = TitleIndex(self.titles)

    # ----------------------------------------------------------------- what it holds

    @property
    def movie_ids(self) -> np.ndarray:
        return self.model.movie_ids

    @property
    def ratings_sha256(self) -> str | None:
        return self.info.get("ratings_sha256")

    @property
    def movies(self) -> pd.DataFrame:
        """Every movie the bundle knows: ``Movie ID``, ``Title`` and its number of training ratings."""
        return pd.DataFrame({MOVIE: self.movie_ids, TITLE: self.titles,
                             "Ratings": self.ranker.popularity.astype(np.int64)})

    def check_movie(self, movie_id) -> int:
        """``movie_id`` as an int, if it is an integer the bundle knows; else a ``RatingsError``."""
        as_int = _as_movie_id(movie_id)
        if as_int is None:
            raise RatingsError(f"movie id {movie_id!r} is not an integer")
        if as_int not in self._titles.index:
            raise RatingsError(f"movie id {as_int} is not one of this model's {len(self.titles):,} movies "
                               "(find a movie's id with search)")
        return as_int

    def title(self, movie_id) -> str:
        """The title of ``movie_id`` (a ``RatingsError`` if the bundle does not know it)."""
        return self._titles[self.check_movie(movie_id)]

    def search(self, text: str, limit: int = 10, match: bool = False) -> pd.DataFrame:
        """Movies whose title matches ``text`` as a person types it (case, accents, punctuation and
        where the article goes ignored: "les miserables" finds "Misérables, Les (1995)"), best first:
        the whole title, then whole words, then the start of words, then anywhere, then the words in
        any order (``serving.titles``); within each, most rated first, then by title. ``Movie ID``,
        ``Title``, ``Ratings``, and with ``match`` the ``Match`` rank (0 best). Empty text finds
        nothing."""
        limit = check_k(limit)
        if not isinstance(text, str):
            raise TypeError(f"search text must be a string, got {type(text).__name__}")
        found = self._index.find(text)
        movies = self.movies.iloc[[index for _, index in found]].assign(Match=[rank for rank, _ in found])
        movies = movies.sort_values(["Match", "Ratings", TITLE, MOVIE], ascending=[True, False, True, True],
                                    kind="stable")
        movies = movies.head(limit).reset_index(drop=True)
        return movies if match else movies.drop(columns="Match")

    def predict(self, user_id: int, movie_ids) -> np.ndarray:
        """Predicted ratings of a user the model was trained with, for ``movie_ids``."""
        movie_ids = np.atleast_1d(np.asarray(movie_ids, dtype=np.int64))
        return self.model.predict(np.full(len(movie_ids), int(user_id)), movie_ids)

    def new_user(self, ratings) -> NewUser:
        """A person the model never saw, from their ratings: a dict ``{movie id: rating}`` or
        (movie id, rating) pairs. Checked first (see ``NewUser``); then folded in and ranked for."""
        return NewUser(self, ratings)

    # ----------------------------------------------------------------- as arrays

    def arrays(self) -> dict[str, np.ndarray]:
        """The bundle's arrays, named as in the file (``ARRAYS``)."""
        found = {name: getattr(self.model, name) for name in _MODEL_ARRAYS}
        found.update({name: getattr(self.ranker, name) for name in _RANKER_ARRAYS})
        return {name: np.ascontiguousarray(np.asarray(value), dtype=ARRAYS[name])
                for name, value in found.items()}

    def metadata(self) -> dict[str, str]:
        """The file's string metadata, its content digest included."""
        settings = {
            "y_range": list(self.model.y_range), "rating_scale": list(self.rating_scale),
            "fold_in_penalty": self.model.fold_in_penalty,
            "cond_weight": self.ranker.cond_weight, "popularity_prior": self.ranker.popularity_prior,
            "low_weight": self.ranker.low_weight, "liked": self.ranker.liked,
        }
        metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                    "titles": json.dumps(self.titles, ensure_ascii=False),
                    "serving": json.dumps(settings), "info": json.dumps(self.info, default=_plain)}
        metadata["content_sha256"] = _content_sha256(self.arrays(), metadata)
        return metadata


def _plain(value):
    """numpy scalars and arrays in ``info``."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot save {type(value).__name__} in a bundle's info")


def save_bundle(path: str | os.PathLike, bundle: ModelBundle) -> Path:
    """Write ``bundle`` to ``path`` (a safetensors file; ``.safetensors`` is the usual suffix) through a
    temporary file in the same folder, then ``os.replace``: ``path`` is the old file or the whole
    new one, never half of one; nothing is left behind if writing fails."""
    path = Path(path)
    data = safetensors.numpy.save(bundle.arrays(), metadata=bundle.metadata())
    return write_bytes_atomically(path, data, sync=True)


def _header(path: Path, data: bytes) -> dict:
    """The safetensors header of ``data``, or a ``BundleError`` saying why there is none."""
    if len(data) < 8:
        raise BundleError(f"{path}: not a model bundle, or a truncated one: {len(data)} bytes, too short "
                          "for a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    looks_like_json = data[8:9] == b"{"
    if not looks_like_json:
        raise BundleError(f"{path}: not a model bundle: not a safetensors file (a model saved by "
                          "learn.export or torch.save is a pickle, which this loader never reads)")
    if size > len(data) - 8:
        raise BundleError(f"{path}: damaged: the file is truncated (it ends inside its header); "
                          "save the bundle again")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleError(f"{path}: damaged: its header is not valid JSON (a changed byte?); "
                          "save the bundle again") from None
    if not isinstance(header, dict):
        raise BundleError(f"{path}: not a model bundle: its header is not a safetensors header")
    return header


def load_bundle(path: str | os.PathLike, expect_ratings_sha256: str | None = None) -> ModelBundle:
    """Read a bundle written by ``save_bundle``; no pickle is read and no code runs.

    Refused with a ``BundleError`` naming ``path``: a missing file, a file that is not a
    safetensors file or not one of this project's bundles (or of another format version), a
    truncated or altered file (its contents must match the SHA-256 it was saved with), and,
    when ``expect_ratings_sha256`` is given, a bundle trained on other ratings."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such bundle file" + (" (it is a folder)" if path.is_dir() else ""))
    data = path.read_bytes()
    metadata = _header(path, data).get("__metadata__") or {}
    if metadata.get("format") != FORMAT:
        raise BundleError(f"{path}: not a model bundle: a safetensors file, but not one written by "
                          "movielens_fastai.serving.save_bundle")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise BundleError(f"{path}: bundle format version {metadata.get('format_version')!r}; this code "
                          f"reads version {FORMAT_VERSION}: save the bundle again with this version")
    try:
        arrays = safetensors.numpy.load(data)
    except SafetensorError as err:
        problem = "truncated" if "not fully covered" in str(err) or "incomplete" in str(err) else "damaged"
        raise BundleError(f"{path}: damaged: the file is {problem} ({err}); save the bundle again") from None
    missing = sorted(set(ARRAYS) - set(arrays))
    if missing:
        raise BundleError(f"{path}: damaged: arrays {missing} are missing")
    if metadata.get("content_sha256") != _content_sha256(arrays, metadata):
        raise BundleError(f"{path}: damaged: its contents do not match the SHA-256 they were saved with "
                          "(a changed or corrupted byte); save the bundle again")
    try:
        info, settings = json.loads(metadata["info"]), json.loads(metadata["serving"])
        model = DotModel(*(arrays[name] for name in _MODEL_ARRAYS[:6]), tuple(settings["y_range"]),
                         prior=arrays["prior"], prior_precision=arrays["prior_precision"],
                         fold_in_penalty=settings["fold_in_penalty"])
        ranker = NewUserRanker(arrays["movie_ids"], *(arrays[name] for name in _RANKER_ARRAYS),
                               cond_weight=settings["cond_weight"],
                               popularity_prior=settings["popularity_prior"],
                               low_weight=settings["low_weight"], liked=settings["liked"])
        bundle = ModelBundle(model, ranker, json.loads(metadata["titles"]), tuple(settings["rating_scale"]),
                             info)
    except (ValueError, KeyError, TypeError) as err:
        raise BundleError(f"{path}: damaged: its parts do not fit together ({err})") from None
    if expect_ratings_sha256 is not None and bundle.ratings_sha256 != expect_ratings_sha256:
        trained_on = str(bundle.ratings_sha256)[:12]
        raise BundleError(f"{path}: trained on other ratings (SHA-256 {trained_on}…), not the ones "
                          f"expected ({expect_ratings_sha256[:12]}…): train a bundle on these ratings, "
                          "or load the one that was")
    return bundle


class NewUser:
    """A person the model never saw, known by a handful of ratings.

    The ratings are checked (each movie known to the bundle and given once, each rating a number
    on the bundle's scale), then the person is folded into the rating model (their vector and
    bias fitted with the movies fixed) and ranked for by the new-user ranker: ``predict`` answers
    "how's that movie?", ``recommend`` "what should I watch next?"."""

    def __init__(self, bundle: ModelBundle, ratings):
        self.bundle = bundle
        #: ``{movie id: rating}``, as checked.
        self.ratings: dict[int, float] = check_ratings(bundle, ratings)
        self.movie_ids = np.fromiter(self.ratings, dtype=np.int64, count=len(self.ratings))
        self.values = np.fromiter(self.ratings.values(), dtype=np.float64, count=len(self.ratings))
        self.folded: FoldedUser = bundle.model.fold_in(self.movie_ids, self.values)

    def predict(self, movie_ids):
        """Predicted rating(s) on the model's ``y_range``: a float for one movie id, an array for
        several (rated movies included: the model's view of them)."""
        if np.ndim(movie_ids) == 0:
            return float(self.folded.predict([self.bundle.check_movie(movie_ids)])[0])
        return self.folded.predict([self.bundle.check_movie(m) for m in movie_ids])

    def recommend(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` movies to watch next, best first, none of them rated: ``Movie ID``, ``Title``,
        ``Score`` (the ranker's), ``Predicted rating`` (the rating model's) and ``Because`` (the
        rated movie that contributed most, or "popular with everyone")."""
        ranker = self.bundle.ranker
        picks = ranker.recommend(ranker.columns(self.movie_ids), self.values, n)
        ids = self.bundle.movie_ids[picks.columns]
        reasons = [POPULAR_REASON if i < 0 else
                   f"because you {'liked' if self.values[i] >= ranker.liked else 'watched'} "
                   f"{self.bundle.title(self.movie_ids[i])}"
                   for i in picks.because]
        return pd.DataFrame({MOVIE: ids, TITLE: [self.bundle.titles[c] for c in picks.columns],
                             SCORE: picks.scores, PREDICTED: self.folded.predict(ids), BECAUSE: reasons})


def _as_movie_id(value) -> int | None:
    """``value`` as an int movie id if it is one (an integer, an integral float, a string of
    digits), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():   # int() reads every decimal
        return int(value.strip())
    return None


def check_ratings(bundle: ModelBundle, ratings) -> dict[int, float]:
    """A new user's ratings as ``{movie id: rating}``, or a ``RatingsError`` saying what is wrong:
    not a dict or pairs, more ratings than the bundle has movies, a movie id that is not an integer
    or that the bundle does not know, a movie rated twice, a rating that is not a number or is
    off the bundle's scale."""
    if isinstance(ratings, Mapping):
        pairs = list(ratings.items())
    elif isinstance(ratings, Iterable) and not isinstance(ratings, (str, bytes)):
        pairs = list(ratings)
        for pair in pairs:
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(tuple(pair)) != 2:
                raise RatingsError("ratings must be a dict {movie id: rating} or (movie id, rating) "
                                   f"pairs; got the item {pair!r}")
        pairs = [tuple(pair) for pair in pairs]
    else:
        raise RatingsError("ratings must be a dict {movie id: rating} or (movie id, rating) pairs, got "
                           f"{type(ratings).__name__}")
    n_movies = len(bundle.movie_ids)
    if len(pairs) > n_movies:
        raise RatingsError(f"{len(pairs):,} ratings, but the model knows only {n_movies:,} movies")
    lo, hi = bundle.rating_scale
    checked: dict[int, float] = {}
    for movie, rating in pairs:
        movie_id = bundle.check_movie(movie)
        name = f"movie {movie_id} ({bundle.title(movie_id)})"
        if movie_id in checked:
            raise RatingsError(f"{name} is rated twice")
        is_number = isinstance(rating, (int, float, np.integer, np.floating))
        if isinstance(rating, (bool, np.bool_)) or not is_number:
            raise RatingsError(f"the rating of {name} must be a number, got {rating!r}")
        value = float(rating)
        if not np.isfinite(value) or not lo <= value <= hi:
            raise RatingsError(f"the rating of {name} is {rating!r}, outside the scale {lo:g} to {hi:g}")
        checked[movie_id] = value
    return checked
