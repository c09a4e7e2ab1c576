"""notebooks/06_recommending.ipynb, quick run (one fold, no tuning, few epochs): its results file."""

import pandas as pd
import pytest
from conftest import RANKING_FAST

pytestmark = pytest.mark.notebook

METHODS = {"most popular", "item-kNN", "EASE", "implicit ALS", "BPR (fastai)", "softmax (fastai)",
           "rating model", "blend"}
METRICS = ["precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "coverage"]


def test_every_method_is_judged_on_both_protocols(recommending_fast):
    results, _ = recommending_fast
    rows = pd.DataFrame(results["summary"])
    for protocol in ("ours", "recommenders"):
        assert set(rows.loc[rows["protocol"] == protocol, "method"]) == METHODS
    for metric in METRICS:
        assert rows[metric].between(0, 1).all(), metric
    assert (rows["fit_seconds"] > 0).all()
    splits = {(r["protocol"], r["split"]) for r in results["per_split"]}
    assert splits == {("ours", "u1"), ("recommenders", "75/25 seed 42")}
    assert results["parameters"]["folds"] == RANKING_FAST["folds"]
    assert results["parameters"]["bpr_epochs"] == RANKING_FAST["bpr_epochs"]


def test_rankers_beat_most_popular_and_the_rating_model_does_not(recommending_fast):
    results, _ = recommending_fast
    for protocol, goals in results["goals"].items():
        assert goals["best_ndcg_at_k"] > 1.5 * goals["most_popular_ndcg_at_k"], protocol
        assert goals["rating_model_ndcg_at_k"] < goals["most_popular_ndcg_at_k"], protocol
        assert goals["ratio_to_most_popular"] == pytest.approx(
            goals["best_ndcg_at_k"] / goals["most_popular_ndcg_at_k"])


def test_without_tuning_each_grids_first_value_is_used(recommending_fast):
    results, _ = recommending_fast
    params = results["parameters"]
    chosen = {(c["protocol"], c["method"]): c["settings"] for c in results["chosen"]}
    assert chosen["ours", "EASE"] == {"l2": params["ease_l2"][0], "low_weight": params["low_weights"][0]}
    assert chosen["recommenders", "item-kNN"]["neighbours"] == params["knn_neighbours"][0]
    assert chosen["ours", "blend"]["weight"] == params["blend_weights"][0]
    # With one setting per method, the tuning table holds one row per method and protocol.
    tuning = pd.DataFrame(results["tuning"])
    assert len(tuning) == len(chosen)


def test_side_by_side_lists_hold_no_movie_the_user_rated(recommending_fast, data_dir):
    results, _ = recommending_fast
    side = results["side_by_side"]
    assert side["user"] == RANKING_FAST["recommend_for_user"] and side["split"] == "u1"
    base = pd.read_csv(data_dir / "u1.base", sep="\t", header=None,
                       names=["User ID", "Movie ID", "Rating", "T"])
    rated = set(base.loc[base["User ID"] == side["user"], "Movie ID"])
    assert set(side["lists"]) == set(side["movie_ids"]) == METHODS
    for method, ids in side["movie_ids"].items():
        assert len(ids) == len(set(ids)) == len(side["lists"][method]) == results["k"]
        assert not set(ids) & rated, method
