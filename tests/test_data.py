"""MovieLens on disk: the real files pass, each kind of damage is named precisely."""

import pandas as pd
import pytest

import movielens_fastai as mlf
from movielens_fastai.data import read_checksums, sha256_of


def test_project_checksums_match_the_official_files(data_dir):
    sums = read_checksums()
    assert {"u.data", "u.item", "u.user", "u1.base", "u5.test"} <= set(sums)
    for name, digest in sums.items():
        assert sha256_of(data_dir / name) == digest, name


def test_full_data_passes_and_has_the_articles_shape(data_dir):
    mlf.check_movielens(data_dir)
    ratings = pd.read_csv(data_dir / "u.data", sep="\t", header=None,
                          names=["User ID", "Movie ID", "Rating", "Timestamp"])
    assert (ratings["User ID"].nunique(), ratings["Movie ID"].nunique(), len(ratings)) == (943, 1682, 100_000)
    assert set(ratings["Rating"]) == {1, 2, 3, 4, 5}


def test_titles_are_read_as_latin1(data_dir):
    titles = mlf.load_movies(data_dir).set_index("Movie ID")["Title"]
    assert len(titles) == 1682
    assert titles[543] == "Misérables, Les (1995)"
    assert titles[1] == "Toy Story (1995)"


def replace_line(path, lineno, text):
    lines = path.read_bytes().split(b"\n")
    lines[lineno - 1] = text.encode("latin-1")
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize("line, problem", [
    ("196\t242\t3", "expected 4 tab-separated fields (user, movie, rating, timestamp), found 3"),
    ("196\t242\t3\t881250949\t7",
     "expected 4 tab-separated fields (user, movie, rating, timestamp), found 5"),
    ("196\t242\tthree\t881250949", "rating 'three' is not an integer"),
    ("196\t242\t3.5\t881250949", "rating '3.5' is not an integer"),
    ("x196\t242\t3\t881250949", "user id 'x196' is not an integer"),
    ("196\t242\t0\t881250949", "rating 0 is outside 1-5"),
    ("196\t242\t6\t881250949", "rating 6 is outside 1-5"),
    ("196\t99999\t3\t881250949", "movie id 99999 is not in {item} (1 unknown movie id(s) in all)"),
])
def test_damaged_ratings_line_is_named(data_copy, line, problem):
    replace_line(data_copy / "u.data", 7, line)
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(data_copy)
    assert str(err.value) == f"{data_copy / 'u.data'}:7: " + problem.format(item=data_copy / "u.item")


def test_duplicated_rating_is_named(data_copy):
    first = (data_copy / "u.data").read_text().splitlines()[0]
    replace_line(data_copy / "u.data", 10, first)
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(data_copy)
    assert str(err.value) == f"{data_copy / 'u.data'}:10: user 196 rated movie 242 again (first on line 1)"


def test_empty_ratings_file(data_copy):
    (data_copy / "u.data").write_text("")
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(data_copy)
    assert str(err.value) == f"{data_copy / 'u.data'}: file is empty, expected one rating per line"


@pytest.mark.parametrize("name", ["u.data", "u.item"])
def test_missing_file(data_copy, name):
    (data_copy / name).unlink()
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(data_copy)
    assert str(err.value) == f"{data_copy / name}: file is missing"


def test_missing_directory(tmp_path):
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(tmp_path / "nowhere")
    assert str(err.value) == f"{tmp_path / 'nowhere'}: data directory does not exist"


def test_bad_movie_line(data_copy):
    replace_line(data_copy / "u.item", 3, "abc|Four Rooms (1995)|")
    with pytest.raises(mlf.DataError) as err:
        mlf.load_movies(data_copy)
    assert str(err.value) == f"{data_copy / 'u.item'}:3: movie id 'abc' is not an integer"


def test_resolve_data_dir_prefers_argument_then_environment(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv(mlf.DATA_DIR_ENV, str(data_dir))
    assert mlf.resolve_data_dir() == data_dir.resolve()
    assert mlf.resolve_data_dir(tmp_path) == tmp_path.resolve()
    monkeypatch.setenv(mlf.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(mlf.DataError, match="missing: data directory does not exist"):
        mlf.resolve_data_dir()


def test_validation_indices_are_fastai_v1s_split():
    idx = mlf.validation_indices(100_000, 0.1, 42)
    assert len(idx) == 10_000 and len(set(idx)) == 10_000
    assert (idx == mlf.validation_indices(100_000, 0.1, 42)).all()
    assert not (idx == mlf.validation_indices(100_000, 0.1, 43)).all()
