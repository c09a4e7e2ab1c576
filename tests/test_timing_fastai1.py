"""evaluation/timing_fastai1.py on fastai 1.0.61: short runs that stop where they should, the
per-batch account adding up, and the profile counting fastai's per-row loading."""

import fastprogress.fastprogress
import numpy as np
import pandas as pd
import pytest
from fastai.collab import CollabDataBunch, collab_learner

from movielens_fastai.evaluation import timing_fastai1

BS = 32


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    pairs = rng.choice(100 * 150, size=2000, replace=False)
    frame = pd.DataFrame({"User ID": pairs // 150, "Movie ID": pairs % 150,
                          "Rating": rng.integers(1, 6, 2000)})
    return CollabDataBunch.from_df(frame, valid_pct=0.1, seed=42, bs=BS)


def new_learner(data):
    return collab_learner(data, n_factors=4, y_range=[0, 5.5], wd=0.1)


def test_stop_after_ends_the_fit_after_n_training_batches_without_validating(data):
    learn = new_learner(data)
    learn.fit(2, 0.01, callbacks=[timing_fastai1.StopAfter(7)])
    assert len(learn.recorder.losses) == 7          # 56 batches per epoch: stopped inside the first
    assert learn.recorder.val_losses == [None]      # one epoch logged, not validated


def test_short_fit_puts_the_loader_and_the_bar_back(data):
    as_shipped = data.train_dl
    in_process = data.train_dl.new(num_workers=0)
    made = []

    def counting_learner(d):
        made.append(d.train_dl)
        return new_learner(d)

    seconds = timing_fastai1.short_fit(data, in_process, counting_learner, 5, 0.01, progress=False)
    assert seconds > 0 and made == [in_process]
    assert data.train_dl is as_shipped and fastprogress.fastprogress.NO_BAR is False


def test_where_time_goes_adds_up(data):
    plain_calls = []

    def plain():
        plain_calls.append(1)
        return 0.01

    record = timing_fastai1.where_time_goes(data, new_learner, 0.01, 10, plain, repeats=2)
    ms = record["ms_per_batch"]
    assert list(ms) == ["as_shipped", "num_workers_0", "num_workers_0_no_progress_bar",
                        "loading_only_num_workers_0", "loading_only_as_shipped", "plain_pytorch_step",
                        "fastai_loop_and_callbacks"]
    assert set(ms) == set(timing_fastai1.labels(2))
    assert ms["plain_pytorch_step"] == pytest.approx(1.0) and len(plain_calls) == 2
    assert ms["fastai_loop_and_callbacks"] == pytest.approx(
        ms["num_workers_0_no_progress_bar"] - ms["loading_only_num_workers_0"] - ms["plain_pytorch_step"])
    assert all(ms[k] > 0 for k in ms if k != "fastai_loop_and_callbacks")
    assert record["batches_per_run"] == 10 and record["repeats"] == 2
    assert record["num_workers_default"] == data.train_dl.num_workers
    assert 0 < record["first_batch_seconds_with_workers"] <= ms["loading_only_as_shipped"] * 10 / 1000


def test_the_profile_counts_one_fetch_per_rating(data):
    stats, record = timing_fastai1.profile_fit(data, new_learner, 0.01, 6)
    calls = record["functions"]
    assert set(calls) == set(timing_fastai1.HOT_FUNCTIONS) and record["batches"] == 6
    assert calls["LabelList.__getitem__"]["calls"] == 6 * BS
    assert calls["data_collate"]["calls"] == 6
    assert calls["loss_batch (model, loss, backward, step)"]["calls"] == 6
    assert 0 < calls["LabelList.__getitem__"]["cumulative_seconds"] < record["total_seconds"]
    assert stats.total_calls > 0
