"""The plain-PyTorch notebook (fastai v1 kernel), run once with papermill: the same
result as fastai v1 from a hand-written loop, the fastai comparison and its profile,
and the fast configuration."""

import pytest
from conftest import run_notebook

from movielens_fastai import validation_indices

pytestmark = pytest.mark.notebook

NAME = "03_under_the_hood"


@pytest.fixture(scope="module")
def hood(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("under-the-hood")
    results = run_notebook(NAME, out, data_dir=str(data_dir))
    assert results is not None, "the notebook ran but wrote no results JSON"
    return results, out


def test_plain_loop_reproduces_the_articles_mse(hood):
    results, _ = hood
    plain = results["plain"]
    assert 0.79 <= plain["valid_mse"] <= 0.85
    epochs = plain["epochs"]
    assert [e["epoch"] for e in epochs] == list(range(1, results["parameters"]["epochs"] + 1))
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert plain["valid_mse"] == epochs[-1]["valid_loss"]
    assert 0 < plain["fit_seconds"] < results["total_seconds"]


def test_uses_fastai_v1s_split(hood, data_dir):
    results, _ = hood
    n_ratings = results["dataset"]["ratings"]
    assert n_ratings == sum(1 for _ in open(data_dir / "u.data"))
    assert results["n_valid_rows"] == len(results["valid_rows"]) == 10_000
    assert results["valid_rows"] == sorted(validation_indices(n_ratings, 0.1, 42).tolist())
    assert results["dataset"]["train_rows"] + results["n_valid_rows"] == n_ratings
    assert results["fastai_v1"]["same_split"] is True


def test_fastai_v1_matches_the_plain_loop(hood):
    results, _ = hood
    fastai = results["fastai_v1"]
    assert results["versions"]["fastai"] == "1.0.61"
    assert abs(fastai["valid_mse"] - results["plain"]["valid_mse"]) <= 0.03
    assert len(fastai["epochs"]) == len(results["plain"]["epochs"])
    assert abs(fastai["epochs"][-1]["valid_loss"] - fastai["valid_mse"]) < 1e-3
    assert 0 < fastai["fit_seconds"] < results["total_seconds"]


def test_fastai_profile_is_recorded(hood):
    results, _ = hood
    profile = results["fastai_v1"]["profile"]
    ms = profile["ms_per_batch"]
    for key in ("as_shipped", "num_workers_0", "num_workers_0_no_progress_bar",
                "loading_only_num_workers_0", "plain_pytorch_step"):
        assert ms[key] > 0, key
    assert ms["fastai_loop_and_callbacks"] == pytest.approx(
        ms["num_workers_0_no_progress_bar"] - ms["loading_only_num_workers_0"] - ms["plain_pytorch_step"])
    calls = profile["cprofile"]["functions"]
    bs = results["parameters"]["bs"]
    # fastai fetches every rating of a batch on its own: one __getitem__ per row.
    assert calls["LabelList.__getitem__"]["calls"] == profile["cprofile"]["batches"] * bs
    assert calls["data_collate"]["calls"] == profile["cprofile"]["batches"]


def test_fast_configuration(hood):
    results, _ = hood
    fast = results["fast"]
    runs = fast["per_seed"]
    assert [r["seed"] for r in runs] == results["parameters"]["fast_seeds"] == [0, 1, 2]
    assert fast["settings"] == {"bs": 1024, "lr": 0.05, "wd": 0.6, "n_factors": 20, "epochs": 5}
    assert fast["mean_valid_mse"] == pytest.approx(sum(r["valid_mse"] for r in runs) / len(runs))
    assert fast["mean_valid_mse"] <= 0.83
    assert fast["meets_target"] == (fast["mean_valid_mse"] <= fast["target_mse"])
    for run in runs:
        assert 0 < run["fit_seconds"] < results["plain"]["fit_seconds"], run


def test_writes_the_loss_plot(hood):
    results, out = hood
    png = out / results["losses_png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
