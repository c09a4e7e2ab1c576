"""MovieLens-shaped ratings, made up: for measuring how training cost grows with the data.

The real 1M, 10M and 25M archives cannot be downloaded everywhere (and the scale benchmark should
not need them), so :func:`movielens_like` draws ratings with their shape: the real set's numbers
of users and movies, power-law popularity (a few movies get most ratings, most get a few), every
user with at least 20 ratings as GroupLens guarantees, no (user, movie) pair twice, and ratings
from a low-rank model plus noise, rounded to the half stars of 10M/25M (1M: whole stars).

Nothing here imports torch or fastai: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Users and movies that have ratings in each real data set (GroupLens's READMEs).
SHAPES = {
    "ml-1m": (6_040, 3_706, 1_000_209),
    "ml-10m": (69_878, 10_677, 10_000_054),
    "ml-25m": (162_541, 59_047, 25_000_095),
}
#: Which real set's users and movies a synthetic set of ``n`` ratings takes: the smallest at least
#: as big (1M ratings -> ml-1m's 6,040 users and 3,706 movies, 25M -> ml-25m's).
MIN_RATINGS_PER_USER = 20
MOVIE_EXPONENT = 1.0  # movie popularity ~ rank**-1 (Zipf), as the real sets roughly follow
USER_EXPONENT = 0.7  # user activity ~ rank**-0.7 above the floor of 20 ratings
RANK = 8  # of the hidden taste model
NOISE_SD = 0.8  # rating noise; the best possible MSE is about NOISE_SD**2 plus rounding


@dataclass
class SyntheticRatings:
    """Ratings as three aligned arrays: ``user`` and ``movie`` numbered from 0, ``rating``."""

    user: np.ndarray  # int32
    movie: np.ndarray  # int32
    rating: np.ndarray  # float32
    n_users: int
    n_movies: int
    noise_sd: float
    step: float  # 1.0 (whole stars) or 0.5 (half stars)

    @property
    def noise_floor_mse(self) -> float:
        """About the best MSE any model can reach: the noise, plus rounding to ``step`` (step**2 / 12)."""
        return self.noise_sd**2 + self.step**2 / 12

    def __len__(self) -> int:
        return len(self.rating)

    def save(self, path) -> None:
        np.savez(
            path,
            user=self.user,
            movie=self.movie,
            rating=self.rating,
            shape=np.array([self.n_users, self.n_movies]),
            noise_sd=np.array(self.noise_sd),
            step=np.array(self.step),
        )

    @classmethod
    def load(cls, path) -> SyntheticRatings:
        with np.load(path) as f:
            n_users, n_movies = (int(v) for v in f["shape"])
            return cls(
                f["user"], f["movie"], f["rating"], n_users, n_movies, float(f["noise_sd"]), float(f["step"])
            )

    def stats(self) -> dict:
        per_user = np.bincount(self.user, minlength=self.n_users)
        per_movie = np.bincount(self.movie, minlength=self.n_movies)
        return {
            "ratings": len(self),
            "users": int((per_user > 0).sum()),
            "movies": int((per_movie > 0).sum()),
            "ratings_per_user": {
                "min": int(per_user.min()),
                "median": float(np.median(per_user)),
                "max": int(per_user.max()),
            },
            "ratings_per_movie": {
                "median": float(np.median(per_movie)),
                "max": int(per_movie.max()),
                "top_1pct_share": float(
                    np.sort(per_movie)[-max(1, self.n_movies // 100) :].sum() / len(self)
                ),
            },
            "rating_mean": float(self.rating.mean()),
            "rating_var": float(self.rating.var()),
            "noise_sd": self.noise_sd,
            "step": self.step,
            "noise_floor_mse": self.noise_floor_mse,
        }


def shape_for(n_ratings: int) -> tuple[int, int]:
    """(users, movies) of the smallest real MovieLens set with at least ``n_ratings`` ratings
    (the biggest, ml-25m's, beyond it)."""
    for users, movies, size in SHAPES.values():
        if n_ratings <= size:
            return users, movies
    return SHAPES["ml-25m"][:2]


def _power_law(n: int, exponent: float, rng) -> np.ndarray:
    """Probabilities ~ rank**-exponent, handed to ids in a random order."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return rng.permutation(weights / weights.sum())


def movielens_like(
    n_ratings: int,
    n_users: int | None = None,
    n_movies: int | None = None,
    seed: int = 0,
    half_stars: bool | None = None,
) -> SyntheticRatings:
    """``n_ratings`` made-up ratings shaped like MovieLens (see the module's docstring).

    ``n_users``/``n_movies`` default to :func:`shape_for`'s; ``half_stars`` (ratings 0.5 to 5 in
    steps of 0.5, as ml-10m and ml-25m) defaults to on beyond 1M ratings, else whole stars 1-5.
    """
    default_users, default_movies = shape_for(n_ratings)
    n_users = default_users if n_users is None else n_users
    n_movies = default_movies if n_movies is None else n_movies
    if n_users < 1 or n_movies < 1:
        raise ValueError(f"need at least one user and one movie, got {n_users} and {n_movies}")
    if n_ratings < n_users * MIN_RATINGS_PER_USER:
        raise ValueError(
            f"{n_ratings:,} ratings cannot give each of {n_users:,} users "
            f"{MIN_RATINGS_PER_USER}; ask for at least {n_users * MIN_RATINGS_PER_USER:,}"
        )
    if n_ratings > n_users * n_movies // 2:
        raise ValueError(
            f"{n_ratings:,} ratings would fill more than half of {n_users:,} x {n_movies:,}: "
            "not MovieLens-shaped"
        )
    half_stars = n_ratings > SHAPES["ml-1m"][2] if half_stars is None else half_stars
    rng = np.random.default_rng(seed)

    # How many ratings each user gives: the floor, plus a power-law share of the rest (capped at
    # half the movies so that the pairs can stay distinct).
    extra = n_ratings - n_users * MIN_RATINGS_PER_USER
    counts = MIN_RATINGS_PER_USER + rng.multinomial(extra, _power_law(n_users, USER_EXPONENT, rng))
    cap = max(MIN_RATINGS_PER_USER, n_movies // 2)
    while counts.max() > cap:  # move what is over the cap to random other users
        over = np.clip(counts - cap, 0, None)
        counts -= over
        room = np.flatnonzero(counts < cap)
        np.add.at(counts, rng.choice(room, int(over.sum())), 1)
    user = np.repeat(np.arange(n_users, dtype=np.int32), counts)

    # Which movies: drawn by popularity, then repeats within a user redrawn until none is left.
    popularity = _power_law(n_movies, MOVIE_EXPONENT, rng)
    cdf = np.cumsum(popularity)
    movie = np.searchsorted(cdf, rng.random(n_ratings) * cdf[-1]).astype(np.int32)
    movie = np.minimum(movie, n_movies - 1)
    for _ in range(50):
        key = user.astype(np.int64) * n_movies + movie
        order = np.argsort(key, kind="stable")
        dup = np.zeros(n_ratings, bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        n_dup = int(dup.sum())
        if not n_dup:
            break
        # redraw repeats uniformly: popular titles are the ones repeated, so this also thins the head
        movie[dup] = rng.integers(0, n_movies, n_dup, dtype=np.int32)
    else:
        raise RuntimeError("could not make every (user, movie) pair distinct")

    # Ratings: global mean + user and movie biases + a rank-8 taste match + noise.
    user_bias = rng.normal(0, 0.4, n_users).astype(np.float32)
    movie_bias = rng.normal(0, 0.5, n_movies).astype(np.float32)
    user_taste = rng.normal(0, 0.5 / RANK**0.25, (n_users, RANK)).astype(np.float32)
    movie_taste = rng.normal(0, 0.5 / RANK**0.25, (n_movies, RANK)).astype(np.float32)
    rating = np.empty(n_ratings, np.float32)
    step = 2_000_000
    for start in range(0, n_ratings, step):  # in chunks: (n, rank) temporaries for 25M would be large
        u, m = user[start : start + step], movie[start : start + step]
        rating[start : start + step] = (
            3.5
            + user_bias[u]
            + movie_bias[m]
            + np.einsum("ij,ij->i", user_taste[u], movie_taste[m])
            + rng.normal(0, NOISE_SD, len(u)).astype(np.float32)
        )
    if half_stars:
        rating = np.clip(np.round(rating * 2) / 2, 0.5, 5.0)
    else:
        rating = np.clip(np.round(rating), 1.0, 5.0)
    shuffle = rng.permutation(n_ratings)  # not grouped by user, as a rating log would not be
    return SyntheticRatings(
        user[shuffle],
        movie[shuffle],
        rating.astype(np.float32)[shuffle],
        n_users,
        n_movies,
        NOISE_SD,
        0.5 if half_stars else 1.0,
    )
