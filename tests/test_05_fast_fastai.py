"""notebooks/05_fast_fastai.ipynb, short runs: a slice of MovieLens 100K, and the one-parameter switch to the
ml-1m format (a small stand-in written here: the real archive cannot be fetched in tests)."""

import numpy as np
import pytest
from conftest import notebook_error, run_notebook

pytestmark = pytest.mark.notebook

QUICK = {"max_ratings": 5000, "epochs": 1, "fast_epochs": 1, "profile_batches": 10, "scale_ratings": 150_000}


@pytest.fixture(scope="module")
def quick_100k(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("05_fast_fastai")
    return run_notebook("05_fast_fastai", out, data_dir=str(data_dir), **QUICK), out


def test_quick_run_records_every_comparison(quick_100k):
    results, out = quick_100k
    assert results["dataset"] == {"name": "ml-100k", "users": results["dataset"]["users"],
                                  "movies": results["dataset"]["movies"], "ratings": 5000,
                                  "train_rows": 4500, "valid_rows": 500}
    assert results["numbering_matches_port"] is True
    assert set(results["runs"]) == {"port", "fast_path", "plain_pytorch", "fast_config",
                                    "fast_config_plain_pytorch"}
    for run in results["runs"].values():
        assert 0.5 < run["valid_mse"] < 3 and run["fit_seconds"] > 0
    assert results["valid_mse"] == results["runs"]["fast_path"]["valid_mse"]
    assert len(results["runs"]["fast_path"]["epochs"]) == 1
    assert set(results["per_batch_ms"]) == {"port", "slices", "no_progress_bar", "plain_tensor_loss",
                                            "foreach_adam", "no_cast_to_tensor", "lean_learner",
                                            "plain_pytorch"}
    goals = results["goals"]
    assert goals["fast_path_over_plain"] == pytest.approx(
        results["runs"]["fast_path"]["fit_seconds"] / results["runs"]["plain_pytorch"]["fit_seconds"])
    assert goals["fast_config_seconds"] == results["runs"]["fast_config"]["fit_seconds"]
    assert (out / results["lr_find_png"]).read_bytes()[:4] == b"\x89PNG"
    assert results["parameters"]["dataset"] == "ml-100k" and results["versions"]["fastai"].startswith("2.8.")


def test_quick_run_trains_sparse_and_dense_on_made_up_ratings(quick_100k):
    scale = quick_100k[0]["scale"]
    assert set(scale) == {"dense", "lazy"}
    for way, run in scale.items():
        assert (run["ratings"], run["users"], run["movies"]) == (150_000, 6_040, 3_706), way
        # learnt something: well below the ratings' variance (about 1.05), above the noise floor less slack
        assert run["noise_floor_mse"] - 0.1 < run["valid_mse"] < 0.95, way
        assert run["seconds_per_epoch"] > 0 and run["peak_rss_mib"] > 0


def write_ml_1m(folder, n_users=150, n_movies=200, n_ratings=3000, seed=0):
    """A stand-in for GroupLens's ml-1m files: '::'-separated, latin-1 titles, whole stars."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_movies, n_ratings, replace=False)
    folder.mkdir()
    lines = [f"{p // n_movies + 1}::{p % n_movies + 1}::{rng.integers(1, 6)}::{978300000 + i}\n"
             for i, p in enumerate(pairs)]
    (folder / "ratings.dat").write_text("".join(lines))
    (folder / "movies.dat").write_bytes("".join(f"{m}::Film {m} \u00e0 la carte (1999)::Drama\n"
                                                for m in range(1, n_movies + 1)).encode("latin-1"))


def test_one_parameter_switches_to_another_data_set(tmp_path):
    write_ml_1m(tmp_path / "ml-1m")
    results = run_notebook("05_fast_fastai", tmp_path / "out", dataset="ml-1m",
                           data_dir=str(tmp_path / "ml-1m"),
                           epochs=1, fast_epochs=1, profile_batches=0, compare_port=False)
    assert results["dataset"]["name"] == "ml-1m" and results["dataset"]["ratings"] == 3000
    assert results["dataset"]["valid_rows"] == 300 and results["per_batch_ms"] is None
    assert set(results["runs"]) == {"fast_path", "plain_pytorch", "fast_config", "fast_config_plain_pytorch"}
    assert results["numbering_matches_port"] is None and "port_over_fast_path" not in results["goals"]


def test_unknown_data_set_is_refused(tmp_path):
    error = notebook_error("05_fast_fastai", tmp_path, dataset="ml-5m")
    assert error == ("ValueError: bad parameters: dataset must be one of ml-100k, ml-latest-small, ml-1m, "
                     "ml-10m, ml-20m, ml-25m, got 'ml-5m'")
    assert not (tmp_path / "05_fast_fastai.json").exists()
