"""evaluation/timing_fastai2.py on fastai 2.8: short runs that stop where they should, each rung
of the per-batch ladder being the learner it claims, and the plain loop as a yardstick."""

import numpy as np
import pandas as pd
import pytest
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.collab import TabularCollab
from fastai.data.block import TransformBlock
from fastai.data.transforms import IndexSplitter
from fastai.learner import CastToTensor
from fastai.tabular.core import Categorify, TabDataLoader
from fastai.torch_core import range_of

from movielens_fastai.evaluation import timing_fastai2
from movielens_fastai.training.learner import LeanLearner, foreach_adam, mse_flat
from movielens_fastai.training.loaders import collab_dataloaders

COLS = ["User ID", "Movie ID"]
RECIPE = {"n_factors": 4, "y_range": [0, 5.5], "wd": 0.1}


@pytest.fixture(scope="module")
def loaders():
    """1,000 ratings, 100 held out; batches of 64: 14 training batches an epoch."""
    rng = np.random.default_rng(0)
    pairs = rng.choice(200 * 300, size=1000, replace=False)
    frame = pd.DataFrame({"User ID": pairs // 300, "Movie ID": pairs % 300,
                          "Rating": rng.integers(1, 6, 1000).astype(float), "Timestamp": 0})
    valid = np.sort(rng.choice(1000, 100, replace=False))
    dls = collab_dataloaders(frame, valid, bs=64, val_bs=50, device="cpu", seed=1)
    to = TabularCollab(frame, [Categorify], cat_names=COLS, y_names=["Rating"], y_block=TransformBlock(),
                       splits=IndexSplitter(valid)(range_of(frame)))
    return dls, to.dataloaders(bs=64, dl_type=TabDataLoader)


class Count(Callback):
    def before_fit(self):
        self.n_train, self.n_valid = 0, 0

    def after_batch(self):
        if self.training:
            self.n_train += 1
        else:
            self.n_valid += 1


@pytest.mark.parametrize("n", [5, 20])
def test_stop_after_counts_training_batches_across_epochs_and_skips_validation(loaders, n):
    dls, _ = loaders
    learn = timing_fastai2.ladder(dls, None, **RECIPE)["lean_learner"]()
    count = Count()
    with learn.no_logging():
        learn.fit_one_cycle(3, 0.01, cbs=[timing_fastai2.StopAfter(n), count])
    assert (count.n_train, count.n_valid) == (n, 0)     # 20 > 14: into the second epoch, still no validation


def test_each_rung_of_the_ladder_is_the_learner_it_claims(loaders):
    dls, port_dls = loaders
    rungs = {name: make() for name, make in timing_fastai2.ladder(dls, port_dls, **RECIPE).items()}
    assert list(rungs) + ["plain_pytorch"] == list(timing_fastai2.LABELS)
    assert rungs["port"].dls is port_dls and rungs["slices"].dls is dls

    def has(learn, cb):
        return any(isinstance(c, cb) for c in learn.cbs)

    bar = [has(learn, ProgressCallback) for learn in rungs.values()]
    cast = [has(learn, CastToTensor) for learn in rungs.values()]
    assert bar == [True, True, False, False, False, False, False]
    assert cast == [True, True, True, True, True, False, False]
    assert [learn.loss_func is mse_flat for learn in rungs.values()] == [False] * 3 + [True] * 4
    assert [learn.opt_func is foreach_adam for learn in rungs.values()] == [False] * 4 + [True] * 3
    assert [type(learn) is LeanLearner for learn in rungs.values()] == [False] * 6 + [True]
    assert "port" not in timing_fastai2.ladder(dls, None, **RECIPE)


def test_per_batch_account_times_every_rung_over_at_most_an_epoch(loaders):
    dls, port_dls = loaders
    ms, n = timing_fastai2.per_batch_account(dls, port_dls, lr=0.01, epochs=2, n=500, seed=0, **RECIPE)
    assert n == 14 and list(ms) == list(timing_fastai2.LABELS) and all(v > 0 for v in ms.values())
    ms, n = timing_fastai2.per_batch_account(dls, None, lr=0.01, epochs=2, n=3, seed=0, repeats=1, **RECIPE)
    assert n == 3 and "port" not in ms


def test_plain_fit_learns_and_repeats_with_its_seed(loaders):
    dls, _ = loaders
    fit = dict(lr=0.05, wd=0.1, epochs=3, n_factors=4, y_range=[0, 5.5])
    seconds, mse, model = timing_fastai2.plain_fit(dls, seed=3, **fit)
    _, again, _ = timing_fastai2.plain_fit(dls, seed=3, **fit)
    _, other, _ = timing_fastai2.plain_fit(dls, seed=4, **fit)
    ratings = dls.valid.y.view(-1).numpy()
    assert seconds > 0 and mse == again != other
    assert mse < float(((ratings - ratings.mean()) ** 2).mean()) + 0.5   # near the variance, not wild
    assert model.u_weight.weight.shape[1] == 4
    assert timing_fastai2.plain_fit(dls, seed=3, max_batches=5, **fit)[1] is None
