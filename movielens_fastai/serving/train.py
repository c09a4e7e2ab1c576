"""Training what the app serves: the article's model through the fast path, the new-user ranker
(EASE, co-occurrence, popularity) on the same ratings, gathered in a ``ModelBundle`` (see
``bundle``) with the titles and the record of how it was made.

``train_bundle(data_dir)`` reads and checks MovieLens 100K; ``train_bundle_from_tables(ratings,
titles)`` takes any ratings table (``User ID``, ``Movie ID``, ``Rating``) with its titles, checked
the same way. Both hold back the article's validation split (10%, fastai v1's
``split_by_rand_pct(0.1, seed=42)``) to report the validation MSE; the model and the ranker learn
from the other 90%. The recipe is the article's (``ARTICLE_RECIPE``).

It imports fastai 2 at the top: only the fastai 2 environment (``.venv-fastai2``) imports it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.collab import EmbeddingDotBias

from ..core import MOVIE, RATING, TITLE, USER, check_columns, environment
from ..data.movielens import RATING_RANGE, check_movielens, load_movies, read_ratings_file, resolve_data_dir
from ..data.splits import validation_indices
from ..data.tables import check_ratings_table
from ..models.rating.fold_in import CHOSEN_PENALTY, DotModel
from ..models.topn.ease import CHOSEN_L2
from ..models.topn.new_user import LOW_WEIGHT, NewUserRanker
from ..training.learner import fast_collab_learner
from ..training.loaders import collab_dataloaders, loader_mse
from .bundle import ModelBundle, ratings_sha256

#: The article's recipe: 40 factors, y_range (0, 5.5), wd 0.1, ``fit_one_cycle(5, 0.01)``, batches of 64.
ARTICLE_RECIPE = {"n_factors": 40, "y_range": (0.0, 5.5), "wd": 0.1, "lr": 0.01, "epochs": 5, "bs": 64}


class EpochLines(Callback):
    """Says ``progress("  epoch i/n: training loss x")`` after each epoch (for the app's log)."""

    order = 90

    def __init__(self, progress):
        self.progress = progress

    def after_epoch(self):
        self.progress(f"  epoch {self.epoch + 1}/{self.n_epoch}: training loss {float(self.smooth_loss):.3f}")


def dot_model_from_learner(learn, fold_in_penalty: float = CHOSEN_PENALTY) -> DotModel:
    """The arrays of a fastai 2 collab learner's ``EmbeddingDotBias`` (``collab_learner`` or the fast
    path's), with the raw ids of ``learn.dls.classes``; fastai's ``#na#`` row 0 is left out."""
    model = learn.model
    if not isinstance(model, EmbeddingDotBias):
        raise TypeError(f"expected the article's EmbeddingDotBias, got {type(model).__name__}")
    if model.y_range is None:
        raise ValueError("the model has no y_range: the fold-in needs the sigmoid's range")
    users, movies = (learn.dls.classes[name] for name in list(learn.dls.classes)[:2])

    def ids(vocab):
        return np.asarray([int(v) for v in list(vocab)[1:]], dtype=np.int64)

    def rows(embedding):
        return embedding.weight.detach().cpu().numpy()[1:].astype(np.float32)

    return DotModel(ids(users), ids(movies), rows(model.u_weight), rows(model.u_bias)[:, 0],
                    rows(model.i_weight), rows(model.i_bias)[:, 0], tuple(model.y_range),
                    fold_in_penalty=fold_in_penalty)


def dot_model_to_fastai(dot: DotModel) -> EmbeddingDotBias:
    """The bundle's arrays back in a fastai ``EmbeddingDotBias`` (with ``#na#`` rows of zeros), for
    code that wants the fastai model; rows ``1..n`` take raw ids in ``dot``'s sorted order."""
    model = EmbeddingDotBias(dot.n_factors, len(dot.user_ids) + 1, len(dot.movie_ids) + 1,
                             y_range=dot.y_range)

    def fill(embedding, values):
        values = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(len(values), -1)
        with torch.no_grad():
            embedding.weight.zero_()
            embedding.weight[1:] = values

    fill(model.u_weight, dot.user_vectors)
    fill(model.u_bias, dot.user_biases)
    fill(model.i_weight, dot.movie_vectors)
    fill(model.i_bias, dot.movie_biases)
    return model.eval()


def train_dot_model(ratings: pd.DataFrame, valid_idx=(), seed: int = 42, progress=None,
                    **recipe) -> tuple[DotModel, float | None]:
    """The article's model trained through the fast path (``collab_dataloaders`` +
    ``fast_collab_learner``) on ``ratings`` minus the rows at ``valid_idx``, with
    ``ARTICLE_RECIPE`` (any of it overridden by ``recipe``). Returns the model's arrays and the
    validation MSE (None without validation rows). ``progress(line)`` hears of each epoch."""
    check_columns(ratings, "training", [USER, MOVIE, RATING])
    unknown = set(recipe) - set(ARTICLE_RECIPE)
    if unknown:
        raise TypeError(f"unknown recipe settings: {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(ARTICLE_RECIPE)}")
    recipe = {**ARTICLE_RECIPE, **recipe}
    torch.manual_seed(seed)
    frame = ratings[[USER, MOVIE, RATING]].reset_index(drop=True)
    dls = collab_dataloaders(frame, np.asarray(valid_idx, dtype=np.int64), bs=recipe["bs"], device="cpu",
                             seed=seed)
    learn = fast_collab_learner(dls, n_factors=recipe["n_factors"], y_range=tuple(recipe["y_range"]),
                                wd=recipe["wd"], progress=False)
    if progress is not None:
        learn.add_cb(EpochLines(progress))
    with learn.no_logging():
        learn.fit_one_cycle(recipe["epochs"], recipe["lr"])
    valid_mse = loader_mse(learn.model, dls.valid) if len(dls.valid.y) else None
    return dot_model_from_learner(learn), valid_mse


#: The article's validation split: fastai v1's ``split_by_rand_pct(0.1, seed=42)``.
VALID_PCT, SPLIT_SEED = 0.1, 42
#: The packages whose versions a bundle records.
RECORDED_PACKAGES = ("movielens-fastai", "fastai", "torch", "numpy", "pandas", "safetensors")


def y_range_for(scale: tuple[float, float]) -> tuple[float, float]:
    """The sigmoid's range for ratings on ``scale``: the article's (0, 5.5) for 1-5, i.e. a quarter of
    the scale's width below its lowest rating and an eighth above its highest."""
    lo, hi = scale
    return (lo - (hi - lo) / 4, hi + (hi - lo) / 8)


def train_bundle(data_dir=None, progress=print, **options) -> ModelBundle:
    """A ``ModelBundle`` trained on MovieLens 100K (``data_dir``, else where ``resolve_data_dir`` finds
    it), after ``check_movielens``; ``options`` as for ``train_bundle_from_tables``."""
    data_dir = resolve_data_dir(data_dir)
    progress(f"Checking MovieLens 100K in {data_dir}")
    check_movielens(data_dir)
    ratings = read_ratings_file(data_dir / "u.data")
    titles = load_movies(data_dir)
    options.setdefault("source", f"MovieLens 100K ({data_dir})")
    options.setdefault("rating_scale", tuple(float(v) for v in RATING_RANGE))
    return train_bundle_from_tables(ratings, titles, progress=progress, **options)


def train_bundle_from_tables(ratings: pd.DataFrame, titles: pd.DataFrame, progress=print,
                             source: str = "ratings", rating_scale: tuple[float, float] | None = None,
                             valid_pct: float = VALID_PCT, seed: int = SPLIT_SEED, **recipe) -> ModelBundle:
    """A ``ModelBundle`` trained on ``ratings`` (``User ID``, ``Movie ID``, ``Rating``) with ``titles``
    (``Movie ID``, ``Title``), after ``check_ratings_table``.

    ``valid_pct`` of the ratings (fastai v1's split with ``seed``) are held back to measure the
    validation MSE (0: none held back, no MSE); the model (``ARTICLE_RECIPE``, any of it overridden
    by ``recipe``; ``y_range`` by default ``y_range_for(rating_scale)``) and the ranker learn from
    the rest. ``rating_scale`` (the ratings a person may give) defaults to the table's lowest and
    highest. ``progress(line)`` hears what is happening."""
    started = pd.Timestamp.now(tz="UTC")
    progress(f"Checking {source}: {len(ratings):,} ratings, {len(titles):,} titles")
    found_scale = check_ratings_table(ratings, titles, source)
    scale = found_scale if rating_scale is None else tuple(float(v) for v in rating_scale)
    if not (scale[0] <= found_scale[0] and found_scale[1] <= scale[1]):
        raise ValueError(f"{source}: ratings run from {found_scale[0]:g} to {found_scale[1]:g}, outside the "
                         f"rating scale {scale[0]:g} to {scale[1]:g}")
    if not 0 <= valid_pct < 1:
        raise ValueError(f"valid_pct must be at least 0 and below 1, got {valid_pct!r}")
    frame = pd.DataFrame({USER: ratings[USER].to_numpy(np.int64), MOVIE: ratings[MOVIE].to_numpy(np.int64),
                          RATING: ratings[RATING].to_numpy(np.float32)})
    valid_idx = validation_indices(len(frame), valid_pct, seed) if valid_pct else np.array([], dtype=np.int64)
    recipe = {**ARTICLE_RECIPE, "y_range": y_range_for(scale), **recipe}
    progress(f"Training the article's model on {len(frame) - len(valid_idx):,} ratings "
             f"({recipe['n_factors']} factors, {recipe['epochs']} epochs, batches of {recipe['bs']}; "
             f"{len(valid_idx):,} held back for validation)")
    dot, valid_mse = train_dot_model(frame, valid_idx, seed=seed, progress=progress, **recipe)
    is_valid = np.zeros(len(frame), dtype=bool)
    is_valid[valid_idx] = True
    train = frame[~is_valid]
    if valid_mse is not None:
        progress(f"  validation MSE {valid_mse:.4f} (RMSE {valid_mse ** 0.5:.4f})")
    info = {
        "ratings_sha256": ratings_sha256(frame),
        "data": {"source": source, "ratings": len(frame), "users": int(frame[USER].nunique()),
                 "movies": int(frame[MOVIE].nunique()), "train_ratings": len(train),
                 "valid_ratings": len(valid_idx)},
        "settings": {"recipe": {**recipe, "y_range": list(recipe["y_range"])}, "valid_pct": valid_pct,
                     "seed": seed, "trained_with": "collab_dataloaders + fast_collab_learner (fastai 2)"},
        "valid_mse": valid_mse,
        "trained": started.isoformat(timespec="seconds"),
    }
    return assemble_bundle(dot, train, titles, scale, info, progress)


def assemble_bundle(dot: DotModel, train: pd.DataFrame, titles: pd.DataFrame, rating_scale, info: dict,
                    progress=print) -> ModelBundle:
    """A ``ModelBundle`` from a trained model's arrays and the ratings it was trained on (``train``):
    the population user of ``train`` as the fold-in's prior, the new-user ranker fitted on ``train``,
    the titles of the model's movies; ``info`` gains the ranker's settings and the versions."""
    check_columns(train, "training", [USER, MOVIE, RATING])
    trained_movies = np.unique(train[MOVIE].to_numpy(np.int64))
    if not np.array_equal(trained_movies, dot.movie_ids):
        raise ValueError(f"the model knows {len(dot.movie_ids):,} movies but the training ratings given "
                         f"have {len(trained_movies):,}: give the ratings the model was trained on (its "
                         "training split)")
    dot = dot.with_population_prior(train[MOVIE], train[RATING])
    progress(f"Fitting the new-user ranker (EASE l2 {CHOSEN_L2:g}, co-occurrence, popularity) on "
             f"{len(train):,} ratings")
    ranker = NewUserRanker.fit(train)
    title_of = pd.Series(titles[TITLE].astype(str).to_numpy(), index=titles[MOVIE].to_numpy(np.int64))
    missing = np.setdiff1d(dot.movie_ids, title_of.index.to_numpy())
    if len(missing):
        raise ValueError(f"movie id(s) {missing[:5].tolist()} have no title")
    info = {**info, "versions": environment(packages=RECORDED_PACKAGES)["versions"]}
    info.setdefault("settings", {}).update({"ease_l2": CHOSEN_L2, "low_weight": LOW_WEIGHT})
    bundle = ModelBundle(dot, ranker, title_of.reindex(dot.movie_ids).tolist(), rating_scale, info)
    progress(f"Done: {len(dot.user_ids):,} users and {len(dot.movie_ids):,} movies in the bundle")
    return bundle


def validation_mse(learn) -> float:
    """The MSE of ``learn.model`` over ``learn.dls.valid``'s batches ((inputs..., ratings) each),
    leaving the learner's record and training mode as they were."""
    model, was_training = learn.model, learn.model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for *inputs, targets in learn.dls.valid:
            errors = model(*inputs).reshape(-1).float() - targets.reshape(-1).float()
            total, count = total + float((errors ** 2).sum()), count + len(errors)
    model.train(was_training)
    return total / count


def bundle_from_learner(learn, train: pd.DataFrame, titles: pd.DataFrame, rating_scale=(1.0, 5.0),
                        all_ratings: pd.DataFrame | None = None, progress=print) -> ModelBundle:
    """A ``ModelBundle`` from a trained fastai 2 collab learner (the port's ``collab_learner`` or the
    fast path's): its ``EmbeddingDotBias`` with the id maps of ``learn.dls.classes``, the new-user
    ranker fitted on ``train`` (the ratings the learner was trained on: its training split), the
    ``titles``. ``all_ratings`` (default ``train``) is what ``ratings_sha256`` names; the learner's
    validation loss, where it has validation data, is recorded as the validation MSE (the
    article's loss is the MSE)."""
    valid_mse = None
    if getattr(learn.dls.valid, "n", 0):
        # the model itself over the validation batches: fastai's validate and get_preds start a new
        # fit record, and the learner's history is its owner's
        valid_mse = validation_mse(learn)
    named = train if all_ratings is None else all_ratings
    info = {"ratings_sha256": ratings_sha256(named),
            "data": {"ratings": len(named), "train_ratings": len(train)},
            "settings": {"trained_with": f"{type(learn).__name__} ({type(learn.dls.train).__name__})",
                         "y_range": list(learn.model.y_range)},
            "valid_mse": valid_mse, "trained": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}
    return assemble_bundle(dot_model_from_learner(learn), train, titles, rating_scale, info, progress)
