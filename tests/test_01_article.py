"""The faithful notebook (fastai v1), run with papermill: the article's result."""

import pandas as pd
import pytest
from conftest import notebook_error

pytestmark = pytest.mark.notebook

NAME = "01_article"


def rated_by(data_dir, user_id, max_ratings=None):
    ratings = pd.read_csv(data_dir / "u.data", sep="\t", header=None, names=["user", "movie", "r", "t"],
                          nrows=max_ratings)
    return set(ratings.loc[ratings["user"] == user_id, "movie"])


def test_full_run_reproduces_the_articles_mse(v1_full):
    results, _ = v1_full
    assert results["dataset"] == {"users": 943, "movies": 1682, "ratings": 100_000}
    assert 0.79 <= results["valid_mse"] <= 0.85
    epochs = results["epochs"]
    assert len(epochs) == 5
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]
    assert abs(epochs[-1]["valid_loss"] - results["valid_mse"]) < 1e-3
    assert len(results["valid_rows"]) == 10_000


def test_full_run_writes_plots(v1_full):
    results, out = v1_full
    for key in ("lr_find_png", "losses_png"):
        png = out / results[key]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_predictions_stay_within_y_range(v1_full):
    results, _ = v1_full
    low, high = results["parameters"]["y_range"]
    assert low <= results["valid_predictions"]["min"] < results["valid_predictions"]["max"] <= high


def test_prediction_sample_shows_real_validation_ratings(v1_full, data_dir):
    results, _ = v1_full
    ratings = pd.read_csv(data_dir / "u.data", sep="\t", header=None, names=["user", "movie", "r", "t"])
    actual = ratings.set_index(["user", "movie"])["r"]
    valid = ratings.loc[results["valid_rows"]]
    valid_pairs = set(zip(valid["user"], valid["movie"], strict=True))
    sample = results["prediction_sample"]
    assert len(sample) == 16
    for row in sample:
        assert (row["User ID"], row["Movie ID"]) in valid_pairs
        assert row["Actual"] == actual[row["User ID"], row["Movie ID"]]
        assert row["Title"] and abs(row["Predicted"] - row["Actual"] - row["Difference"]) < 1e-6


def test_recommendations_are_unseen_titled_and_sorted(v1_full, data_dir):
    results, _ = v1_full
    recs = results["recommendations"]
    movies = recs["movies"]
    assert len(movies) == 10
    assert not {m["Movie ID"] for m in movies} & rated_by(data_dir, recs["user_id"])
    assert all(m["Title"] for m in movies)
    scores = [m["Predicted rating"] for m in movies]
    assert scores == sorted(scores, reverse=True) and scores[0] > 4


def test_full_run_records_how_it_ran(v1_full):
    results, _ = v1_full
    assert results["versions"]["fastai"] == "1.0.61"
    assert results["versions"]["pandas"] == "1.5.3"
    assert results["device"].startswith(("cpu", "cuda"))
    assert 0 < results["fit_seconds"] < results["total_seconds"]
    assert results["jovian"] == "skipped"


def test_fast_run_on_a_slice(v1_fast, data_dir):
    results, out = v1_fast
    assert results["dataset"]["ratings"] == 5000
    assert len(results["epochs"]) == 1 and len(results["valid_rows"]) == 500
    assert results["recommendations"]["user_id"] == 6
    recommended = {m["Movie ID"] for m in results["recommendations"]["movies"]}
    assert not recommended & rated_by(data_dir, 6, max_ratings=5000)
    assert (out / f"{NAME}.ipynb").exists()


def test_same_seed_same_result_on_cpu(v1_fast, v1_fast_again):
    first, second = v1_fast[0], v1_fast_again[0]
    if not first["device"].startswith("cpu"):
        pytest.skip("exact repeatability is only promised on the CPU")
    assert round(first["valid_mse"], 4) == round(second["valid_mse"], 4)
    assert first["epochs"] == second["epochs"]
    assert first["recommendations"] == second["recommendations"]


def test_jovian_on_offline_without_key_fails_fast(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.jovian/credentials.json there
    out = tmp_path / "out"
    error = notebook_error(NAME, out, data_dir=str(data_dir), max_ratings=2000, epochs=1,
                           recommend_for_user=13, jovian_commit=True)
    assert error.startswith("RuntimeError: jovian_commit = True but no Jovian API key is configured")
    assert not (out / f"{NAME}.json").exists()
