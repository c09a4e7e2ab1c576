"""The new-user protocol's splits (evaluation.new_users) and the checks on ratings tables
(data.tables), on small frames and on MovieLens 100K."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movielens_fastai.data.movielens import DataError, read_ratings_file
from movielens_fastai.data.tables import check_ratings_table
from movielens_fastai.evaluation.new_users import (
    MIN_REST,
    PENALTY_GRID,
    first_ratings,
    given_and_rest,
    list_quality,
    new_user_split,
    per_user,
    run_protocol,
    time_order,
)
from movielens_fastai.models.rating.fold_in import CHOSEN_PENALTY, DotModel
from movielens_fastai.models.topn.new_user import CHOSEN_BLEND, NewUserRanker
from movielens_fastai.reporting.new_users import goals, markdown


@pytest.fixture(scope="module")
def movielens(data_dir):
    return read_ratings_file(data_dir / "u.data")


def test_split_holds_out_whole_users(movielens):
    train, valid, test = new_user_split(movielens, seed=0)
    n_users = movielens["User ID"].nunique()
    assert len(test) == len(valid) == round(0.1 * n_users)
    assert len(train) + len(valid) + len(test) == n_users
    assert not (set(train) & set(valid) or set(train) & set(test) or set(valid) & set(test))
    counts = movielens.groupby("User ID").size()
    assert (counts[np.concatenate([valid, test])] >= 20 + MIN_REST).all()
    # the seed decides, and only the seed
    assert all(np.array_equal(a, b) for a, b in zip(new_user_split(movielens, seed=0), (train, valid, test),
                                                    strict=True))
    assert not np.array_equal(new_user_split(movielens, seed=1)[2], test)


def test_first_ratings_are_the_first_by_time():
    frame = pd.DataFrame({"User ID": [1, 1, 1, 1, 2, 2, 2], "Movie ID": [10, 11, 12, 13, 10, 11, 12],
                          "Rating": [5, 4, 3, 2, 1, 2, 3], "Timestamp": [40, 10, 30, 20, 5, 5, 9]})
    given, rest = first_ratings(frame, [1, 2], 2)
    assert per_user(given)[1][0].tolist() == [11, 13]
    assert set(per_user(given)[2][0].tolist()) == {10, 11}          # a tie at t=5: both first
    assert sorted(rest["Movie ID"].tolist()) == [10, 12, 12]
    assert len(given) + len(rest) == len(frame)
    # within a tie the order is drawn from the seed, not taken from the file
    orders = {tuple(time_order(frame, seed)["Movie ID"].tolist()[4:6]) for seed in range(20)}
    assert orders == {(10, 11), (11, 10)}


def test_split_refuses_data_too_small():
    frame = pd.DataFrame({"User ID": np.repeat([1, 2, 3], 30), "Movie ID": np.tile(np.arange(30), 3)})
    with pytest.raises(ValueError, match="too few to hold out"):
        new_user_split(frame, seed=0)


TITLES = pd.DataFrame({"Movie ID": [1, 2, 3], "Title": ["A", "B", "C"]})


def table(**columns):
    base = {"User ID": [1, 1, 2, 2], "Movie ID": [1, 2, 2, 3], "Rating": [4, 5, 1, 3]}
    base.update(columns)
    return pd.DataFrame(base)


@pytest.mark.parametrize("ratings, titles, message", [
    (table().drop(columns="Rating"), TITLES, r"ratings: column\(s\) \['Rating'\] are missing"),
    (table().iloc[:0], TITLES, "ratings: the table is empty"),
    (table(**{"User ID": [1, 1.5, 2, 2]}), TITLES, "ratings: row 2: User ID 1.5 is not an integer"),
    (table(**{"Movie ID": [1, "x", 2, 3]}), TITLES, "ratings: row 2: Movie ID 'x' is not an integer"),
    (table(**{"User ID": [1, None, 2, 2]}), TITLES, "ratings: row 2: User ID is missing"),
    (table(Rating=[4, "five", 1, 3]), TITLES, "ratings: row 2: rating 'five' is not a number"),
    (table(Rating=[4, np.inf, 1, 3]), TITLES, "ratings: row 2: rating inf is not a number"),
    (table(**{"Movie ID": [1, 2, 2, 2]}), TITLES,
     r"ratings: row 4: user 2 rated movie 2 again \(first on row 3\)"),
    (table(**{"Movie ID": [1, 2, 2, 9]}), TITLES, r"ratings: row 4: movie id 9 is not in titles \(1 unknown"),
    (table(Rating=[3, 3, 3, 3]), TITLES, "every rating is 3: a model needs ratings that differ"),
    (table(), TITLES.assign(**{"Movie ID": [1, 2, 2]}), "titles: row 3: movie id 2 is listed twice"),
    (table(), [1, 2, 3], "titles: expected a table"),
])
def test_bad_tables_are_refused_with_row_and_problem(ratings, titles, message):
    with pytest.raises(DataError, match=message):
        check_ratings_table(ratings, titles)


def test_a_good_table_gives_its_scale():
    assert check_ratings_table(table(Rating=[0.5, 5, 2.5, 3]), TITLES) == (0.5, 5.0)


# --------------------------------------------------------------------------- the protocol, end to end

def synthetic_world(n_users=260, n_movies=120, per_user_ratings=30, seed=0):
    """Ratings made by a known dot model (users with tastes, movies with popularity), timestamps in
    a random order: the model that made them and the ratings."""
    rng = np.random.default_rng(seed)
    factors = 3
    truth = DotModel(np.arange(1, n_users + 1), np.arange(1, n_movies + 1),
                     rng.normal(0, 0.8, (n_users, factors)).astype(np.float32),
                     rng.normal(0.3, 0.2, n_users).astype(np.float32),
                     rng.normal(0, 0.8, (n_movies, factors)).astype(np.float32),
                     rng.normal(0.3, 0.3, n_movies).astype(np.float32), (0.0, 5.5))
    weights = np.linspace(2, 0.2, n_movies)
    rows = []
    for user in truth.user_ids:
        movies = rng.choice(truth.movie_ids, per_user_ratings, replace=False, p=weights / weights.sum())
        predicted = truth.predict(np.full(len(movies), user), movies)
        stars = np.clip(np.round(predicted + rng.normal(0, 0.5, len(movies))), 1, 5)
        rows += [(user, m, s, t) for m, s, t in zip(movies, stars, rng.permutation(len(movies)), strict=True)]
    return truth, pd.DataFrame(rows, columns=["User ID", "Movie ID", "Rating", "Timestamp"])


def oracle_trainer(truth):
    """Stands in for training: the true model, cut to the users and movies of the frame."""
    def train(frame):
        users = np.isin(truth.user_ids, frame["User ID"].unique())
        movies = np.isin(truth.movie_ids, frame["Movie ID"].unique())
        return DotModel(truth.user_ids[users], truth.movie_ids[movies], truth.user_vectors[users],
                        truth.user_biases[users], truth.movie_vectors[movies], truth.movie_biases[movies],
                        truth.y_range)
    return train


def test_run_protocol_end_to_end_on_a_known_world():
    truth, ratings = synthetic_world()
    calls = []
    trainer = oracle_trainer(truth)
    results, model, ranker = run_protocol(ratings, lambda frame: calls.append(len(frame)) or trainer(frame),
                                          ks=(1, 5, 20), progress=lambda line: None)
    assert results["users"] == {"train": 208, "validation": 26, "held_out": 26,
                                "held_out_ids": results["users"]["held_out_ids"]}
    # trained once to choose, once to test, once per order and k to retrain
    assert len(calls) == 2 + 2 * 3
    assert results["chosen"]["fold_in_penalty"] in PENALTY_GRID
    assert model.fold_in_penalty == results["chosen"]["fold_in_penalty"]
    assert ranker.cond_weight == results["chosen"]["cond_weight"]
    for order in ("random", "time"):
        rows = results["results"][order]
        assert [row["k"] for row in rows] == [1, 5, 20]
        for row in rows:
            # the true model retrained knows every user: nothing a new user's ratings can add
            assert row["retrained"] < row["folded_in"]
            low, high = row["ndcg_ratio_90"]
            assert low <= row["ndcg_ratio"] <= high
            assert 0 < row["model_ms_p50"] <= row["model_ms_p95"]
        # ratings from the user's true taste: the fold-in learns it
        assert rows[-1]["folded_in"] < rows[0]["folded_in"]
        assert rows[-1]["folded_in"] < rows[-1]["movie_bias"]
    report = goals(results)
    assert set(report) == {"random", "time"} and all("met" in item for item in report["random"])


def test_lists_leave_out_what_was_given_for_both_rankers():
    truth, ratings = synthetic_world(seed=1)
    ranker = NewUserRanker.fit(ratings)
    given, rest = given_and_rest(ratings, [1, 2, 3], 5, "random")
    pairs = list_quality(ranker, given, rest)
    assert set(pairs) <= {1, 2, 3} and all(0 <= a <= 1 and 0 <= b <= 1 for a, b in pairs.values())
    with pytest.raises(ValueError, match="order must be one of"):
        given_and_rest(ratings, [1], 5, "alphabetical")


def test_goals_say_met_or_the_distance():
    row = {"k": 5, "ndcg_ratio": 1.2, "folded_in": 0.99, "movie_bias": 1.0, "model_ms_p95": 12.0}
    results = {"results": {"random": [{**row, "k": 1, "ndcg_ratio": 0.9}, row,
                                      {**row, "k": 20, "retrained": 0.96}]}}
    report = {item["goal"]: item for item in goals(results)["random"]}
    assert not report["lists at least as good as most popular at every k"]["met"]
    assert "0.90x (k = 1)" in report["lists at least as good as most popular at every k"]["measured"]
    assert not report[">= 1.3x most popular's NDCG@10 at k = 5"]["met"]
    assert report[">= 1.3x most popular's NDCG@10 at k = 5"]["distance"] == "0.10x short"
    assert report["folded-in RMSE below the movie-bias baseline from k = 5"]["met"]
    assert not report["folded-in RMSE within 0.02 of retraining at k = 20"]["met"]
    assert "+0.0300" in report["folded-in RMSE within 0.02 of retraining at k = 20"]["measured"]
    assert not report["<= 10 ms of model time per new user (fold-in + top-10, p95)"]["met"]


def test_the_code_serves_what_was_measured_and_the_docs_show_it():
    """The defaults a bundle is built with are the settings benchmarks/new_users.py chose, and its
    table in benchmarks/results/ and docs/serving.md is what its results render to."""
    root = Path(__file__).resolve().parent.parent
    results = json.loads((root / "benchmarks" / "results" / "new_users.json").read_text())
    assert results["chosen"]["fold_in_penalty"] == CHOSEN_PENALTY
    assert {key: results["chosen"][key] for key in CHOSEN_BLEND} == CHOSEN_BLEND
    table = markdown(results)
    assert (root / "benchmarks" / "results" / "new_users.md").read_text() == table
    docs = (root / "docs" / "serving.md").read_text()
    assert f"<!-- benchmark:new-users -->\n{table}<!-- /benchmark:new-users -->" in docs
