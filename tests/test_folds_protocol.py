"""The canonical-folds protocol (movielens_fastai.evaluation.folds) and its report
(reporting.folds): reading the folds, and a fast run on u1 that checks the ordering any sound
benchmark must show."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from movielens_fastai import DataError
from movielens_fastai.core import MOVIE, RATING_COLUMNS, USER
from movielens_fastai.data.splits import FOLDS, read_fold
from movielens_fastai.evaluation import folds
from movielens_fastai.models.rating import REGISTRY, RUN_ORDER, RatingMethod
from movielens_fastai.models.rating.article import dot_model
from movielens_fastai.reporting.folds import plot_rmse_vs_time, write_results


def _pairs(df: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(df[USER], df[MOVIE], strict=True))


@pytest.fixture(scope="module")
def all_pairs(data_dir):
    ratings = pd.read_csv(data_dir / "u.data", sep="\t", header=None, names=RATING_COLUMNS)
    return _pairs(ratings)


@pytest.mark.parametrize("k", FOLDS)
def test_fold_sizes_and_partition(data_dir, all_pairs, k):
    base, test = read_fold(data_dir, k)
    assert list(base.columns) == list(test.columns) == ["User ID", "Movie ID", "Rating", "Timestamp"]
    assert (len(base), len(test)) == (80_000, 20_000)
    base_pairs, test_pairs = _pairs(base), _pairs(test)
    assert not base_pairs & test_pairs
    assert base_pairs | test_pairs == all_pairs


@pytest.fixture
def fold_copy(tmp_path, data_dir):
    for name in ("u1.base", "u1.test"):
        shutil.copy(data_dir / name, tmp_path / name)
    return tmp_path


def _rewrite_line(path, lineno, text):
    lines = path.read_text().splitlines(keepends=True)
    lines[lineno - 1] = text
    path.write_text("".join(lines))


def test_damaged_fold_names_file_and_line(fold_copy):
    path = fold_copy / "u1.test"
    user, movie, _, stamp = path.read_text().splitlines()[6].split("\t")
    _rewrite_line(path, 7, f"{user}\t{movie}\t6\t{stamp}\n")
    with pytest.raises(DataError) as err:
        read_fold(fold_copy, 1)
    assert str(err.value) == f"{path}:7: rating 6 is outside 1-5"


def test_short_fold_is_refused(fold_copy):
    path = fold_copy / "u1.base"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(DataError) as err:
        read_fold(fold_copy, 1)
    assert str(err.value) == f"{path}: expected exactly 80,000 ratings (one per line), found 79,999"


def test_missing_fold_file(tmp_path):
    with pytest.raises(DataError, match=r"u1\.base: file is missing"):
        read_fold(tmp_path, 1)


def test_predictions_are_clipped():
    test = pd.DataFrame({USER: [1, 2], MOVIE: [2, 2], "Rating": [5, 1], "Timestamp": [0, 0]})
    row = folds.score_predictions("wild", 0, np.array([7.0, -3.0]), test, 0.0)
    assert row["rmse"] == row["mae"] == 0.0


@pytest.fixture(scope="module")
def quick_u1(data_dir, tmp_path_factory):
    """The fast variant on u1 only: the article's code (fastai v1) for 2 epochs and the baselines."""
    rows = [folds.score_method(m, data_dir, 1, seed=0)
            for m in ("global_mean", "bias", "surprise_baselineonly")]
    rows.append(folds.score_method("fastai1", data_dir, 1, seed=0, epochs=2))
    out = tmp_path_factory.mktemp("folds")
    record = write_results(rows, out, seed=0, epochs=2, total_seconds=0.0)
    return {r["method"]: r for r in rows}, out, record


def test_article_model_beats_baselines_on_u1(quick_u1):
    rows, _, _ = quick_u1
    assert rows["fastai1"]["rmse"] < rows["surprise_baselineonly"]["rmse"] < rows["global_mean"]["rmse"]
    assert rows["fastai1"]["mae"] < rows["global_mean"]["mae"]


def test_numpy_bias_baseline_matches_surprise(quick_u1):
    """Same model, same ALS, two implementations: they must agree."""
    rows, _, _ = quick_u1
    assert rows["bias"]["rmse"] == pytest.approx(rows["surprise_baselineonly"]["rmse"], abs=2e-3)


def test_results_files(quick_u1):
    rows, out, record = quick_u1
    saved = json.loads((out / "folds.json").read_text())
    assert saved["summary"] == record["summary"]
    assert {r["method"] for r in saved["per_fold"]} == set(rows)
    assert saved["machine"]["cpu_count"] >= 1
    table = (out / "folds.md").read_text()
    for method, row in rows.items():
        assert f"| {method} | 1 | {row['rmse']:.4f} | {row['mae']:.4f} |" in table
    assert (out / "rmse_vs_time.png").read_bytes()[:4] == b"\x89PNG"


def test_bridge_command_line_saves_the_predictions(data_dir, tmp_path):
    base, test = read_fold(data_dir, 2)
    for name, frame in (("base", base), ("test", test)):
        frame.to_csv(tmp_path / f"{name}.tsv", sep="\t", header=False, index=False)
    done = subprocess.run([sys.executable, "-m", "movielens_fastai.evaluation.bridge", "bias",
                           "--base", str(tmp_path / "base.tsv"), "--test", str(tmp_path / "test.tsv"),
                           "--out", str(tmp_path / "p.npy")],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    reply = json.loads(done.stdout)
    assert reply["method"] == "bias" and reply["fit_seconds"] > 0
    from movielens_fastai.models.rating.baselines import bias

    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), bias(base, test, 0))
    row = folds.score_method("bias", data_dir, 2)
    assert (row["method"], row["fold"], row["n_test"]) == ("bias", 2, 20_000)


def test_unknown_method_is_refused(data_dir):
    with pytest.raises(ValueError, match="unknown method"):
        folds.run_benchmark(data_dir, ["svd_magic"], [1])


@pytest.mark.training
def test_the_port_runs_in_its_own_environment(data_dir):
    """Called from this (fastai v1) environment, fastai2 must run in .venv-fastai2."""
    row = folds.score_method("fastai2", data_dir, 1, seed=0, epochs=1)
    assert (row["method"], row["fold"], row["n_test"]) == ("fastai2", 1, 20_000)
    assert row["rmse"] < 1.1


def _toy_ratings(n_users=30, n_movies=40, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({USER: rng.integers(1, n_users + 1, n), MOVIE: rng.integers(1, n_movies + 1, n)})
    df["Rating"] = ((df[USER] % 5) + 1).astype(np.int64)   # learnable: the user decides the rating
    df["Timestamp"] = 0
    return df.drop_duplicates([USER, MOVIE]).reset_index(drop=True)


def test_dot_model_device_is_where_it_trains():
    torch = pytest.importorskip("torch")
    df = _toy_ratings()
    base, test = df.iloc[:-200], df.iloc[-200:]
    settings = {"epochs": 2, "bs": 32, "lr": 0.05}
    default = dot_model(base, test, 0, **settings)
    on_cpu = dot_model(base, test, 0, device=torch.device("cpu"), **settings)
    other_seed = dot_model(base, test, 1, **settings)
    np.testing.assert_array_equal(default, on_cpu)
    assert not np.array_equal(default, other_seed)
    assert default.shape == (200,) and ((0 <= default) & (default <= 5.5)).all()
    if torch.cuda.is_available():   # same seed, same start and batch order: close, not bitwise equal
        on_gpu = dot_model(base, test, 0, device="cuda", **settings)
        np.testing.assert_allclose(on_gpu, default, atol=1e-3)
    with pytest.raises((RuntimeError, ValueError)):
        dot_model(base, test, 0, device="no-such-device", **settings)


def _label_boxes_after_draw(fig):
    from matplotlib.text import Annotation, Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if isinstance(t, Annotation)]
    # the text's own box, not the leader line drawn back to the point
    return ax, [t.get_text() for t in labels], [Text.get_window_extent(t, renderer) for t in labels]


def _assert_legible(summary):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_rmse_vs_time(summary)
    try:
        ax, names, boxes = _label_boxes_after_draw(fig)
        assert sorted(names) == sorted(summary["method"])
        for i, a in enumerate(boxes):
            for name, b in zip(names[i + 1:], boxes[i + 1:], strict=True):
                assert not a.overlaps(b), f"labels {names[i]} and {name} overlap"
        frame = ax.get_window_extent()
        for name, box in zip(names, boxes, strict=True):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, \
                f"label {name} leaves the plot"
    finally:
        plt.close(fig)


def test_plot_labels_are_legible_on_the_published_results():
    record = json.loads((ROOT / "benchmarks" / "results" / "folds.json").read_text())
    summary = pd.DataFrame(record["summary"])
    summary.attrs["folds"] = record["folds"]
    _assert_legible(summary)


def test_plot_labels_are_legible_when_points_coincide():
    names = ["fastai1", "fastai2", "plain_torch", "tuned", "surprise_svdpp", "global_mean"]
    summary = pd.DataFrame({"method": names, "fit_seconds": [30.0, 30.0, 30.0, 31.0, 29.0, 0.001],
                            "rmse": [0.916, 0.916, 0.916, 0.915, 0.917, 1.12]})
    _assert_legible(summary)


def test_registry_records_are_consistent():
    assert RUN_ORDER == [m for m in REGISTRY if REGISTRY[m].default_run]
    for record in REGISTRY.values():
        if record.seed_average_of:
            assert record.seed_average_of[0] in REGISTRY
        if record.blend_of:
            components, weights = record.blend_of
            assert set(components) <= set(REGISTRY) and len(weights) == len(components) + 1
    with pytest.raises(ValueError, match="environment must be one of"):
        RatingMethod("x", "baselines", "fastai3", "no such environment")
