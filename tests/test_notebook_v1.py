"""The faithful notebook (fastai v1), run with papermill: the article's result, and
a clean stop at the data cell for every kind of bad input."""

import pandas as pd
import pytest

from conftest import notebook_error, run_notebook

NAME = "movielens-fastai"


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
    assert not {m["Movie ID"] for m in results["recommendations"]["movies"]} & rated_by(data_dir, 6, max_ratings=5000)
    assert (out / f"{NAME}.ipynb").exists()


def damage(data_copy, lineno, text):
    path = data_copy / "u.data"
    lines = path.read_text().split("\n")
    lines[lineno - 1] = text
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize("lineno, text, problem", [
    (3, "22\t377", "expected 4 tab-separated fields (user, movie, rating, timestamp), found 2"),
    (5, "166\t346\t1.5\t886397596", "rating '1.5' is not an integer"),
    (8, "253\t465\t6\t891628467", "rating 6 is outside 1-5"),
])
def test_bad_ratings_stop_the_notebook_at_the_data_cell(tmp_path, data_copy, lineno, text, problem):
    path = damage(data_copy, lineno, text)
    out = tmp_path / "out"
    error = notebook_error(NAME, out, data_dir=str(data_copy))
    assert error == f"DataError: {path}:{lineno}: {problem}"
    assert not (out / f"{NAME}.json").exists()


def test_unknown_movie_stops_the_notebook(tmp_path, data_copy):
    path = damage(data_copy, 2, "186\t4242\t3\t891717742")
    error = notebook_error(NAME, tmp_path / "out", data_dir=str(data_copy))
    assert error == (f"DataError: {path}:2: movie id 4242 is not in {data_copy / 'u.item'} "
                     "(1 unknown movie id(s) in all)")


def test_missing_data_directory_stops_the_notebook(tmp_path):
    error = notebook_error(NAME, tmp_path / "out", data_dir=str(tmp_path / "nowhere"))
    assert error == f"DataError: {tmp_path / 'nowhere'}: data directory does not exist"
    assert not (tmp_path / "out" / f"{NAME}.json").exists()


def test_bad_parameters_stop_before_any_work(tmp_path, data_dir):
    error = notebook_error(NAME, tmp_path / "out", data_dir=str(data_dir), epochs=0, lr=-1.0)
    assert error == ("ValueError: bad parameters: lr must be positive, got -1.0; "
                     "epochs must be a positive integer, got 0")


def test_jovian_on_offline_without_key_fails_fast(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.jovian/credentials.json there
    out = tmp_path / "out"
    error = notebook_error(NAME, out, data_dir=str(data_dir), max_ratings=2000, epochs=1,
                           recommend_for_user=13, jovian_commit=True)
    assert error.startswith("RuntimeError: jovian_commit = True but no Jovian API key is configured")
    assert not (out / f"{NAME}.json").exists()
