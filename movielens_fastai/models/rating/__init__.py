"""Every rating predictor of the project, and its one registry.

A method is a function ``fit_predict(base_df, test_df, seed, **settings)`` that trains on the
whole of ``base_df`` and returns one prediction per row of ``test_df`` (frames with the columns
'User ID', 'Movie ID', 'Rating', 'Timestamp'). Methods with ``side_info`` also take ``data_dir``,
the folder holding ``u.user`` and ``u.item``.

Where a new predictor goes: a function in a module of this folder (one module per family), and
one :class:`RatingMethod` record in ``REGISTRY`` below. Nothing else needs to change: the u1-u5
protocol (``evaluation.folds``), the bridge between environments (``evaluation.bridge``) and the
benchmark read everything from the record.

* ``baselines``: the global mean, mean + biases;
* ``surprise_methods``: scikit-surprise's SVD, SVD++, BaselineOnly (fastai v1 environment);
* ``article``: the article's model in plain PyTorch, and ``tuned`` (either environment);
* ``article_fastai1`` / ``article_fastai2``: the article's code on fastai v1 / the port on 2.8;
* ``bayesian_fm``: myFM's Bayesian factorization machines (fastai 2 environment);
* ``field_fm``: the project's factorization machine over fields, trained with fastai 2.8;
* ``blend``: a linear blend of several methods, its weights fitted on a validation slice.

The functions are found by name when a method runs (``RatingMethod.function``), never when this
registry is imported: a module may import fastai v1, fastai 2, Surprise or myFM at its top, and
only the environment that runs the method has them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

#: The two environments: fastai v1's (``.venv``) and fastai 2's (``.venv-fastai2``); "any": either.
ENVIRONMENTS = ("fastai1", "fastai2", "any")


@dataclass(frozen=True)
class RatingMethod:
    """What the project knows of one rating method."""

    name: str
    #: The module of this folder that defines the function ``name``.
    module: str
    #: Where it runs: "fastai1", "fastai2" or "any".
    environment: str
    #: One line: what it is.
    summary: str
    #: Modules imported before the clock starts, so that a fold's time is training and predicting.
    imports: tuple[str, ...] = ()
    #: Reads u.user / u.item: takes ``data_dir``.
    side_info: bool = False
    #: Takes an ``epochs`` setting (quick runs shorten it).
    epochs: bool = False
    #: In the benchmark's default run.
    default_run: bool = True
    #: (method, n): the mean of ``n`` seeds of ``method``; a run that already has that method's
    #: predictions trains only the other seeds.
    seed_average_of: tuple[str, int] | None = None
    #: (methods, weights): in a benchmark run, a fixed linear blend of the components' predictions
    #: made in the same run, ``weights`` = [intercept, one per component].
    blend_of: tuple[tuple[str, ...], tuple[float, ...]] | None = None
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"{self.name}: environment must be one of {ENVIRONMENTS}")

    @property
    def function(self):
        """The method's ``fit_predict`` function (imports its module, so only in its environment)."""
        return getattr(importlib.import_module(f"{__name__}.{self.module}"), self.name)


_FASTAI_COLLAB = ("fastai.collab",)
_FASTAI2_FM = ("fastai.learner", "scipy.sparse")
# The benchmark's blend: its components and [intercept, one weight per component], from least squares
# on the validation slice of u1.base, every component trained on the other 90% with seed 0, as
# ``blend.slice_weights(data_dir, 1, 0)`` computes (validation RMSE: probit 0.8805, extended 0.8797,
# fastai_side 0.8997, blend 0.8777). The benchmark's blend uses these weights on every fold; the
# ``blend`` method itself fits its own on whatever it is given.
_BLEND = (("myfm_probit", "myfm_extended", "fastai_side"), (0.0058, 0.4192, 0.4756, 0.1081))

# In the benchmark's run order: fast ones first, then the project's models and myFM, then the rest,
# so a run cut short still shows what matters most (the results are written after every method).
# ``fastai2`` (the article's model again, in the port) and ``tuned`` (five more of it) are left out
# of the default run so that it stays under 30 minutes on 2 cores; name them to have them.
REGISTRY: dict[str, RatingMethod] = {m.name: m for m in (
    RatingMethod("global_mean", "baselines", "any", "every rating predicted as the mean training rating"),
    RatingMethod("bias", "baselines", "any", "mean + user bias + movie bias, alternating least squares"),
    RatingMethod("surprise_baselineonly", "surprise_methods", "fastai1", "Surprise's BaselineOnly",
                 imports=("surprise",)),
    RatingMethod("surprise_svd", "surprise_methods", "fastai1", "Surprise's SVD (Funk's biased MF)",
                 imports=("surprise",)),
    RatingMethod("myfm_vanilla", "bayesian_fm", "fastai2", "myFM's Bayesian FM on user and movie",
                 imports=("myfm",)),
    RatingMethod("fastai_mf", "field_fm", "fastai2", "biased MF trained by a fastai Learner",
                 imports=_FASTAI2_FM, side_info=True, epochs=True),
    RatingMethod("fastai_side", "field_fm", "fastai2", "a factorization machine over fields (fastai)",
                 imports=_FASTAI2_FM, side_info=True, epochs=True),
    RatingMethod("myfm_extended", "bayesian_fm", "fastai2", "myFM's documented MovieLens recipe",
                 imports=("myfm",), side_info=True),
    RatingMethod("myfm_probit", "bayesian_fm", "fastai2", "myFM's recipe, ordered-probit output",
                 imports=("myfm",), side_info=True),
    RatingMethod("blend", "blend", "fastai2", "a linear blend of myFM's two and fastai_side",
                 imports=("myfm", *_FASTAI2_FM), side_info=True, epochs=True, blend_of=_BLEND),
    RatingMethod("fastai_svdpp", "field_fm", "fastai2", "biased MF + implicit feedback (fastai)",
                 imports=_FASTAI2_FM, side_info=True, epochs=True),
    RatingMethod("fastai1", "article_fastai1", "fastai1", "the article's code on fastai 1.0.61",
                 imports=_FASTAI_COLLAB, epochs=True),
    RatingMethod("fastai_side_x3", "field_fm", "fastai2", "fastai_side averaged over 3 seeds",
                 imports=_FASTAI2_FM, side_info=True, epochs=True, seed_average_of=("fastai_side", 3)),
    RatingMethod("plain_torch", "article", "any", "the article's model and recipe in plain PyTorch",
                 imports=("torch",), epochs=True),
    RatingMethod("surprise_svdpp", "surprise_methods", "fastai1", "Surprise's SVD++",
                 imports=("surprise",)),
    RatingMethod("fastai2", "article_fastai2", "fastai2", "the port on fastai 2.8.12",
                 imports=_FASTAI_COLLAB, epochs=True, default_run=False),
    RatingMethod("tuned", "article", "any", "the article's model, wd 0.2, mean of 5 seeds",
                 imports=("torch",), epochs=True, default_run=False),
)}
#: The benchmark's default run, in order.
RUN_ORDER = [name for name, m in REGISTRY.items() if m.default_run]


def method(name: str) -> RatingMethod:
    """The record of ``name``; an unknown name is refused with the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def fit_predict(name: str, base_df, test_df, seed: int, data_dir=None, **settings) -> np.ndarray:
    """Run method ``name`` in this process and return its raw predictions (one per test row)."""
    record = method(name)
    if record.side_info:
        if data_dir is None:
            raise ValueError(f"{name} reads u.user and u.item: give data_dir")
        settings["data_dir"] = data_dir
    if settings.get("epochs") is not None and not record.epochs:
        raise ValueError(f"{name} has no epochs setting")
    return np.asarray(record.function(base_df, test_df, seed, **settings), dtype=float).reshape(-1)
