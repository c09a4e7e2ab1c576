"""evaluation/timing.py, the framework-neutral timing harness, and lesson.Progress: what they
compute from given timings (no assertion here depends on how fast this machine is)."""

import cProfile
import pstats

import numpy as np
import pytest

import movielens_fastai as mlf
from movielens_fastai.evaluation import timing
from movielens_fastai.lesson import PROGRESS_LINE


def test_fastest_of_interleaves_the_tries_and_keeps_each_runs_fastest():
    calls, times = [], {"a": [3.0, 1.0, 2.0], "b": [0.5, 4.0, 0.7]}

    def run(name):
        calls.append(name)
        return times[name][sum(c == name for c in calls) - 1]

    best = timing.fastest_of({"b": lambda: run("b"), "a": lambda: run("a")}, repeats=3)
    assert calls == ["b", "a"] * 3
    assert best == {"b": 0.5, "a": 1.0} and list(best) == ["b", "a"]
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        timing.fastest_of({"a": lambda: 1.0}, repeats=0)


def test_ms_per_batch():
    assert timing.ms_per_batch({"x": 0.3, "y": 1.5}, 300) == pytest.approx({"x": 1.0, "y": 5.0})
    with pytest.raises(ValueError, match="n_batches must be at least 1"):
        timing.ms_per_batch({"x": 1.0}, 0)


def test_time_loading_fetches_exactly_n_batches():
    fetched = []

    def loader():
        for i in range(10):
            fetched.append(i)
            yield i

    first, total = timing.time_loading(loader(), 4)
    assert fetched == [0, 1, 2, 3]
    assert 0 <= first <= total
    with pytest.raises(ValueError, match="asked to time 11 batches, but the loader gave only 10"):
        timing.time_loading(loader(), 11)
    with pytest.raises(ValueError, match="asked to time 1 batches, but the loader gave only 0"):
        timing.time_loading([], 1)


class Outer:
    def fetch(self):
        return Inner().fetch() + Inner().fetch()


class Inner:
    def fetch(self):
        return sum(range(2000))


def test_profiled_calls_counts_the_outermost_of_functions_sharing_a_name():
    profiler = cProfile.Profile()
    with profiler:
        for _ in range(3):
            Outer().fetch()
    stats = pstats.Stats(profiler)
    outer = timing.profiled_calls(stats, "test_timing.py", "fetch")
    assert outer["calls"] == 3          # Outer.fetch, not Inner.fetch (6 calls, less time)
    inner = [c for (path, _, name), (_, c, _, cum, _) in stats.stats.items()
             if path.endswith("test_timing.py") and name == "fetch" and c == 6]
    assert inner, "Inner.fetch was profiled too"
    assert 0 < outer["cumulative_seconds"] <= timing.profiled_total(stats)
    assert timing.profiled_calls(stats, "nowhere.py", "fetch") == {"calls": 0, "cumulative_seconds": 0.0}


def test_over_seeds_records_each_seed_and_the_mean():
    heard = []
    result = timing.over_seeds(lambda s: {"valid_mse": 0.8 + s / 64, "fit_seconds": np.float32(s + 1)},
                               [0, 1, 5], progress=heard.append)
    assert result["per_seed"] == [
        {"seed": 0, "valid_mse": 0.8, "fit_seconds": 1.0},
        {"seed": 1, "valid_mse": 0.8 + 1 / 64, "fit_seconds": 2.0},
        {"seed": 5, "valid_mse": 0.8 + 5 / 64, "fit_seconds": 6.0}]
    assert result["mean"] == pytest.approx({"valid_mse": 0.8 + 2 / 64, "fit_seconds": 3.0})
    assert all(type(v) is float for r in result["per_seed"] for k, v in r.items() if k != "seed")
    assert heard == ["seed 0 (1/3)", "seed 1 (2/3)", "seed 5 (3/3)"]
    with pytest.raises(ValueError, match="seeds must name at least one seed"):
        timing.over_seeds(lambda s: {}, [])


def test_per_batch_table_per_epoch_and_savings():
    ms = {"port": 10.0, "slices": 7.0, "lean": 4.5, "plain": 4.0}
    labels = {"port": "the port", "slices": "slices", "missing": "not measured", "lean": "lean",
              "plain": "plain"}
    table = timing.per_batch_table(ms, labels, batches_per_epoch=1000, savings=["slices", "lean"])
    assert list(table.index) == ["the port", "slices", "lean", "plain"]
    assert table["ms per batch"].tolist() == [10.0, 7.0, 4.5, 4.0]
    assert table["s per epoch"].tolist() == [10.0, 7.0, 4.5, 4.0]
    saves = table["saves (ms)"].tolist()
    assert np.isnan(saves[0]) and saves[1:3] == [3.0, 2.5] and np.isnan(saves[3])
    plain = timing.per_batch_table(ms, labels)
    assert list(plain.columns) == ["ms per batch"]


def test_per_batch_table_says_when_a_saving_or_remainder_is_not_measurable():
    """03's first run printed a remainder of -0.70 ms as if it were a number; shared cores move
    short timings by more than that."""
    ms = {"port": 10.0, "slices": 10.3, "lean": 4.5, "rest": -0.7}
    labels = {"port": "the port", "slices": "slices", "lean": "lean", "rest": "rest"}
    table = timing.per_batch_table(ms, labels, batches_per_epoch=1000, savings=["slices", "lean"],
                                   remainders=["rest"], noise_ms=0.5)
    assert table["saves (ms)"].tolist()[1:3] == [timing.NO_SAVING, "5.80"]
    assert table.loc["rest", "ms per batch"] == table.loc["rest", "s per epoch"] == timing.TOO_SMALL
    assert table.loc["lean", "ms per batch"] == "4.50"
    assert "-" not in table.to_string()


def test_progress_lines_say_the_elapsed_seconds_and_match_the_runners_pattern(capsys):
    now = iter([100.0, 112.4, 3700.0])
    progress = mlf.Progress(clock=lambda: next(now))
    assert progress("protocol ours, u1: EASE") == "[    12 s] protocol ours, u1: EASE"
    assert progress("seed 2 (3/5)") == "[  3600 s] seed 2 (3/5)"
    assert capsys.readouterr().out == "[    12 s] protocol ours, u1: EASE\n[  3600 s] seed 2 (3/5)\n"
    # evaluation.folds.run_benchmark logs the method and fold it starts in the same form; its scores,
    # right-aligned after the bracket, are not progress
    assert PROGRESS_LINE.match(f"[{7.2:6.0f} s] method 3/13 surprise_svd, fold u1 ...")
    assert not PROGRESS_LINE.match(f"[{9.0:6.0f} s] {'surprise_svd':>22} u1: RMSE 0.9350")
    for not_progress in ["[12] done", "12 s done", "[ 12 s]", "   [  12 s] indented", "[  x s] odd"]:
        assert not PROGRESS_LINE.match(not_progress), not_progress
