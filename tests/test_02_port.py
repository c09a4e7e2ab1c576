"""The port to fastai 2.8: same split as the original, and as good a model."""

import pytest
from test_01_article import rated_by

pytestmark = pytest.mark.notebook


def test_port_validates_on_the_originals_rows(port_full, v1_full):
    port, _ = port_full
    original, _ = v1_full
    assert len(port["valid_rows"]) == 10_000
    assert port["valid_rows"] == original["valid_rows"]


def test_port_reaches_the_articles_mse(port_full):
    results, _ = port_full
    assert results["versions"]["fastai"].startswith("2.8.")
    assert results["dataset"] == {"users": 943, "movies": 1682, "ratings": 100_000}
    assert 0.75 <= results["valid_mse"] <= 0.83
    assert results["epochs"][-1]["valid_loss"] < results["epochs"][0]["valid_loss"]
    assert abs(results["epochs"][-1]["valid_loss"] - results["valid_mse"]) < 1e-3
    low, high = results["parameters"]["y_range"]
    assert low <= results["valid_predictions"]["min"] < results["valid_predictions"]["max"] <= high


def test_port_writes_plots_and_recommends_unseen_movies(port_full, data_dir):
    results, out = port_full
    for key in ("lr_find_png", "losses_png"):
        assert (out / results[key]).read_bytes()[:4] == b"\x89PNG"
    recs = results["recommendations"]
    assert len(recs["movies"]) == 10 and all(m["Title"] for m in recs["movies"])
    assert not {m["Movie ID"] for m in recs["movies"]} & rated_by(data_dir, recs["user_id"])


def test_port_fast_run_on_a_slice(port_fast, v1_fast):
    results, _ = port_fast
    assert results["dataset"]["ratings"] == 5000 and len(results["epochs"]) == 1
    assert results["valid_rows"] == v1_fast[0]["valid_rows"]
    assert results["jovian"] == "skipped"


def test_port_shows_what_export_does_and_saves_a_bundle_that_loads_back_exactly(port_fast):
    saving = port_fast[0]["saving"]
    assert saving["same_predictions_after_load_learner"]
    assert any("pickle" in message for message in saving["load_learner_warned"]), saving
    assert saving["torch_load_weights_only"].startswith("refused")
    assert saving["same_predictions_after_load_bundle"]
    assert saving["largest_gap_to_the_learner"] < 1e-5      # float64 against float32, nothing more
