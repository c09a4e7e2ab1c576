"""The new-user protocol's splits (evaluation.new_users) and the checks on ratings tables
(data.tables), on small frames and on MovieLens 100K."""

import numpy as np
import pandas as pd
import pytest

from movielens_fastai.data.movielens import DataError, read_ratings_file
from movielens_fastai.data.tables import check_ratings_table
from movielens_fastai.evaluation.new_users import (
    MIN_REST,
    first_ratings,
    new_user_split,
    per_user,
    time_order,
)


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
