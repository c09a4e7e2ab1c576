"""MovieLens on disk: the real files pass, each kind of damage is named precisely."""

import shutil

import pandas as pd
import pytest

import movielens_fastai as mlf
from movielens_fastai.data.movielens import read_checksums, sha256_of


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


# A person's copy that differs from the official one: edited by hand, saved by another tool,
# or another MovieLens release in the folder.

def read_like_the_article(path):
    return pd.read_csv(path, delimiter="\t", header=None,
                       names=["User ID", "Movie ID", "Rating", "Timestamp"])


@pytest.mark.parametrize("edit", [
    pytest.param(lambda b: b + b"\n\n", id="blank lines at the end"),
    pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="CRLF line ends"),
    pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="UTF-8 byte-order mark"),
])
def test_harmless_edits_are_accepted_because_pandas_reads_the_same(data_copy, edit):
    path = data_copy / "u.data"
    original = read_like_the_article(path)
    path.write_bytes(edit(path.read_bytes()))
    mlf.check_movielens(data_copy)
    pd.testing.assert_frame_equal(read_like_the_article(path), original)


def test_u_item_resaved_as_utf8_gives_the_same_titles(data_copy):
    path = data_copy / "u.item"
    original = mlf.load_movies(data_copy)
    utf8 = path.read_bytes().decode("latin-1").encode("utf-8-sig")
    path.write_bytes(utf8.replace(b"\n", b"\r\n") + b"\r\n")
    pd.testing.assert_frame_equal(mlf.load_movies(data_copy), original)
    assert "Misérables, Les (1995)" in set(original["Title"])
    mlf.check_movielens(data_copy)


SPACES = ("fields are separated by spaces, not tabs: u.data needs tab-separated fields (user, movie, "
          "rating, timestamp); was it re-saved by an editor that turns tabs into spaces? "
          "Use the original u.data")
CSV = ("fields are separated by commas{header}, as in a CSV file: u.data has no header and tab-separated "
       "fields (user, movie, rating, timestamp); was it re-saved by a spreadsheet? Use the original u.data")
GET_100K = ("these notebooks need MovieLens 100K's u.data and u.item: set MOVIELENS_DIR to an ml-100k "
            "folder or leave it unset to download it")
ML_1M = "MovieLens 1M or 10M's '::'-separated ratings.dat or movies.dat"
ML_LATEST = "a MovieLens 'latest', 20M or 25M release's ratings.csv or movies.csv"


def rewrite(path, transform):
    lines = path.read_text(encoding="latin-1").split("\n")
    path.write_text("\n".join(transform(lines)), encoding="latin-1")


@pytest.mark.parametrize("transform, lineno, problem", [
    pytest.param(lambda ls: [ls[0].replace("\t", " ")] + ls[1:], 1, SPACES, id="one line with spaces"),
    pytest.param(lambda ls: [line.expandtabs(8) for line in ls], 1, SPACES, id="tabs expanded to spaces"),
    pytest.param(lambda ls: ls[:5] + [""] + ls[5:], 6,
                 "blank line among the ratings: u.data has one rating per line; delete the blank line "
                 "(or use the original u.data)", id="blank line in the middle"),
    pytest.param(lambda ls: [line.replace("\t", ",") for line in ls], 1, CSV.format(header=""),
                 id="CSV without header"),
    pytest.param(lambda ls: ["user_id,item_id,rating,timestamp"] + [line.replace("\t", ",") for line in ls],
                 1,
                 CSV.format(header=" with a header line"), id="CSV with header"),
    pytest.param(lambda ls: ["user id\titem id\trating\ttimestamp"] + ls, 1,
                 "a header line ('user id\\titem id\\trating\\ttimestamp'): u.data has none, its first line "
                 "is already a rating; delete the header (or use the original u.data)", id="tab header"),
    pytest.param(lambda ls: ["1::1193::5::978300760", "1::661::3::978302109"], 1,
                 f"this looks like {ML_1M}, not MovieLens 100K's u.data; {GET_100K}",
                 id="ml-1m ratings.dat renamed"),
    pytest.param(lambda ls: ["userId,movieId,rating,timestamp", "1,1,4.0,964982703"], 1,
                 f"this looks like {ML_LATEST}, not MovieLens 100K's u.data; {GET_100K}",
                 id="ml-latest ratings.csv renamed"),
])
def test_ratings_saved_otherwise_are_refused_with_what_to_do(data_copy, transform, lineno, problem):
    rewrite(data_copy / "u.data", transform)
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(data_copy)
    assert str(err.value) == f"{data_copy / 'u.data'}:{lineno}: {problem}"


@pytest.mark.parametrize("lines, problem", [
    pytest.param(["1::Toy Story (1995)::Animation|Children's|Comedy"],
                 f"this looks like {ML_1M}, not MovieLens 100K's u.item; {GET_100K}", id="ml-1m movies.dat"),
    pytest.param(["movieId,title,genres", "1,Toy Story (1995),Adventure|Animation"],
                 f"this looks like {ML_LATEST}, not MovieLens 100K's u.item; {GET_100K}",
                 id="ml-latest movies.csv"),
])
def test_movies_of_another_release_are_refused(data_copy, lines, problem):
    (data_copy / "u.item").write_text("\n".join(lines) + "\n")
    with pytest.raises(mlf.DataError) as err:
        mlf.load_movies(data_copy)
    assert str(err.value) == f"{data_copy / 'u.item'}:1: {problem}"


@pytest.mark.parametrize("files, problem", [
    pytest.param({"ratings.dat": "1::1193::5::978300760\n", "movies.dat": "1::Toy Story (1995)::Comedy\n"},
                 "file is missing; this folder looks like MovieLens 1M or 10M (ratings.dat, "
                 f"'::'-separated); "
                 f"{GET_100K}", id="ml-1m"),
    pytest.param({"ratings.csv": "userId,movieId,rating,timestamp\n", "movies.csv": "movieId,title,genres\n"},
                 "file is missing; this folder looks like a MovieLens 'latest', 20M or 25M release "
                 "(ratings.csv, "
                 f"comma-separated with a header); {GET_100K}", id="ml-latest-small"),
    pytest.param({"u1.base": "1\t1\t5\t874965758\n", "u1.test": "1\t6\t5\t887431973\n"},
                 "file is missing; the folder has MovieLens 100K's u1.base but not u.data, the 100,000 "
                 "ratings the notebooks read: copy u.data from the official ml-100k.zip into it, or leave "
                 "MOVIELENS_DIR "
                 "unset to download it", id="only the splits"),
])
def test_another_release_in_the_folder_is_named(tmp_path, files, problem):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(tmp_path)
    assert str(err.value) == f"{tmp_path / 'u.data'}: {problem}"


def test_parent_of_the_data_folder_is_named(tmp_path, data_copy):
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(data_copy.parent)
    assert str(err.value) == (f"{tmp_path / 'u.data'}: file is missing, but {data_copy} has one: "
                              "set MOVIELENS_DIR to that folder")


def test_a_split_renamed_to_u_data_is_refused(data_copy, data_dir):
    shutil.copy(data_dir / "u1.base", data_copy / "u.data")
    with pytest.raises(mlf.DataError) as err:
        mlf.check_movielens(data_copy)
    assert str(err.value) == (f"{data_copy / 'u.data'}: this is MovieLens 100K's u1.base (80,000 ratings) "
                              "under another name; u.data is the full set of 100,000 ratings: copy u.data "
                              "from the official ml-100k.zip, or leave MOVIELENS_DIR unset to download it")
