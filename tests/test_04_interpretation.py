"""The interpretation notebook (fastai v1), run once with papermill on the full data."""

import math

import pytest
from conftest import run_notebook

pytestmark = pytest.mark.notebook

NAME = "04_interpretation"


@pytest.fixture(scope="module")
def interpretation(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("interpretation")
    return run_notebook(NAME, out, data_dir=str(data_dir)), out


def test_bias_extremes_agree_with_mean_ratings(interpretation):
    results, _ = interpretation
    bias, mean = results["movie_bias"], results["global_mean_rating"]
    n_show = results["parameters"]["n_show"]
    assert len(bias["highest"]) == len(bias["lowest"]) == n_show
    assert all(m["mean_rating"] > mean for m in bias["highest"])
    assert all(m["mean_rating"] < mean for m in bias["lowest"])
    assert min(m["bias"] for m in bias["highest"]) > max(m["bias"] for m in bias["lowest"])
    assert all(m["Title"] and m["n_ratings"] > 0 for m in bias["highest"] + bias["lowest"])


def test_dot_product_reproduces_the_articles_mse(interpretation):
    results, _ = interpretation
    assert 0.79 <= results["dot_valid_mse"] <= 0.85


def test_neural_variant_trains(interpretation):
    results, _ = interpretation
    assert math.isfinite(results["nn_valid_mse"]) and results["nn_valid_mse"] < 1.0


def test_ranking_is_measured_and_the_model_knows_taste(interpretation):
    results, _ = interpretation
    ranking = results["ranking"]
    assert ranking["k"] == 10 and ranking["n_users"] > 800
    model, popular = ranking["model"], ranking["most_popular"]
    for r in (model, popular):
        assert r["n_users"] == ranking["n_users"]
        assert 0 <= r["precision_at_k"] <= 1 and 0 <= r["ndcg_at_k"] <= 1
    # A random list would score about 0.003 (a few liked movies among ~1,560 candidates).
    assert model["precision_at_k"] > 0.02
    # Among the movies each user did rate, the model finds the liked ones better than popularity.
    within = ranking["within_rated"]
    assert within["model"]["ndcg_at_k"] > within["most_popular"]["ndcg_at_k"]


def test_pca_ends_and_scatter_plot(interpretation):
    results, out = interpretation
    n_show = results["parameters"]["n_show"]
    for component in ("pc0", "pc1"):
        ends = results["pca"][component]
        assert len(ends["low"]) == len(ends["high"]) == n_show
        assert not {m["Movie ID"] for m in ends["low"]} & {m["Movie ID"] for m in ends["high"]}
        assert max(m[component] for m in ends["low"]) < min(m[component] for m in ends["high"])
    png = out / results["movies_pca_png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_recommendations_and_run_record(interpretation):
    results, _ = interpretation
    assert len(results["recommendations"]["movies"]) == results["parameters"]["k"]
    assert results["versions"]["fastai"] == "1.0.61"
    assert 0 < results["total_seconds"]
