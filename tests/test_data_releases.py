"""MovieLens 1M, 10M, 20M, 25M and latest-small: small archives in each one's own format, served
from a local HTTP server (good, truncated, altered, interrupted ones), and their format checks."""

import hashlib
import io
import zipfile

import pandas as pd
import pytest

from movielens_fastai.data import releases as datasets
from movielens_fastai.data.movielens import DataError, DownloadError

# (folder inside GroupLens's archive, ratings file, movies file)
LAYOUT = {
    "ml-1m": ("ml-1m", "ratings.dat", "movies.dat"),
    "ml-10m": ("ml-10M100K", "ratings.dat", "movies.dat"),
    "ml-20m": ("ml-20m", "ratings.csv", "movies.csv"),
    "ml-25m": ("ml-25m", "ratings.csv", "movies.csv"),
    "ml-latest-small": ("ml-latest-small", "ratings.csv", "movies.csv"),
}
TITLES = {1: "Toy Story (1995)", 2: "Café au lait (1993)", 3: "Shawshank Redemption, The (1994)"}


def files_for(name):
    """Ratings and movies files as GroupLens writes them for `name` (bytes)."""
    stars = [5, 3, 4, 1] if name == "ml-1m" else [5, 3.5, 4, 0.5]
    rows = [(1, 1, stars[0], 978300760), (1, 3, stars[1], 978302109), (2, 2, stars[2], 978301968),
            (3, 1, stars[3], 978300275)]
    if name in ("ml-1m", "ml-10m"):
        ratings = "".join(f"{u}::{m}::{r:g}::{t}\n" for u, m, r, t in rows).encode()
        movies = "".join(f"{m}::{t}::Comedy\n" for m, t in TITLES.items()).encode("latin-1")
    else:
        ratings = ("userId,movieId,rating,timestamp\n"
                   + "".join(f"{u},{m},{float(r):.1f},{t}\n" for u, m, r, t in rows)).encode()
        movies = ("movieId,title,genres\n" + "".join(
            f'{m},"{t}",Comedy\n' if "," in t else f"{m},{t},Comedy\n" for m, t in TITLES.items())).encode()
    return ratings, movies, rows


def archive_for(name, skip=()):
    folder, ratings_name, movies_name = LAYOUT[name]
    ratings, movies, _ = files_for(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}/", "")
        for file_name, body in ((ratings_name, ratings), (movies_name, movies), ("README.txt", b"readme")):
            if file_name not in skip:
                zf.writestr(f"{folder}/{file_name}", body)
    return buf.getvalue()




def leftovers(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


def fetch(name, dest, url, body, **overrides):
    checks = dict(md5=hashlib.md5(body).hexdigest(), size=len(body), timeout=10)
    checks.update(overrides)
    return datasets.fetch_dataset(name, dest, url=url, **checks)


@pytest.mark.parametrize("name", list(LAYOUT))
def test_each_format_downloads_and_reads(name, tmp_path, serve):
    body = archive_for(name)
    dest = tmp_path / name
    fetch(name, dest, serve(body) + f"/{name}.zip", body)
    _, ratings_name, movies_name = LAYOUT[name]
    assert leftovers(tmp_path) == sorted([name, f"{name}/{movies_name}", f"{name}/{ratings_name}"])
    ratings, movies = datasets.load_dataset(name, dest)
    _, _, rows = files_for(name)
    assert list(ratings.columns) == ["User ID", "Movie ID", "Rating", "Timestamp"]
    assert ratings.to_numpy().tolist() == [list(map(float, row)) for row in rows]
    assert ratings["User ID"].dtype == "int64" and ratings["Rating"].dtype == "float32"
    assert movies.to_dict("list") == {"Movie ID": list(TITLES), "Title": list(TITLES.values())}


def test_truncated_archive_is_refused(tmp_path, serve):
    body = archive_for("ml-1m")
    url = serve(body[: len(body) // 2]) + "/ml-1m.zip"
    with pytest.raises(DownloadError) as err:
        fetch("ml-1m", tmp_path / "ml-1m", url, body)
    assert str(err.value) == (f"{url}: expected {len(body):,} bytes, got {len(body) // 2:,} "
                              "(truncated or not the official archive); nothing was installed")
    assert leftovers(tmp_path) == ["ml-1m"]


def test_altered_archive_is_refused(tmp_path, serve):
    body = archive_for("ml-25m")
    altered = bytearray(body)
    altered[len(altered) // 2] ^= 0xFF
    url = serve(bytes(altered)) + "/ml-25m.zip"
    with pytest.raises(DownloadError) as err:
        fetch("ml-25m", tmp_path / "ml-25m", url, body)
    assert str(err.value) == (f"{url}: MD5 {hashlib.md5(altered).hexdigest()} does not match the official "
                              f"{hashlib.md5(body).hexdigest()} (altered or corrupt archive); "
                              "nothing was installed")
    assert leftovers(tmp_path) == ["ml-25m"]


def test_archive_without_the_movies_file_is_refused(tmp_path, serve):
    body = archive_for("ml-10m", skip=("movies.dat",))
    url = serve(body) + "/ml-10m.zip"
    with pytest.raises(DownloadError) as err:
        fetch("ml-10m", tmp_path / "ml-10m", url, body)
    assert str(err.value) == f"{url}: archive has no movies.dat; nothing was installed"
    assert leftovers(tmp_path) == ["ml-10m"]


def test_garbage_with_the_right_md5_is_not_a_zip(tmp_path, serve):
    body = b"<html>not found</html>" * 10
    url = serve(body) + "/ml-20m.zip"
    with pytest.raises(DownloadError, match=r": not a valid zip archive \(File is not a zip file\); nothing"):
        fetch("ml-20m", tmp_path / "ml-20m", url, body)
    assert leftovers(tmp_path) == ["ml-20m"]


def test_interrupted_download_leaves_nothing_and_a_retry_succeeds(tmp_path, serve):
    body = archive_for("ml-20m")
    dest = tmp_path / "ml-20m"
    with pytest.raises(DownloadError, match=r"expected [0-9,]+ bytes, got [0-9,]+ \(truncated"):
        fetch("ml-20m", dest, serve(body, cut_at=len(body) // 3) + "/ml-20m.zip", body)
    assert leftovers(tmp_path) == ["ml-20m"]
    fetch("ml-20m", dest, serve(body) + "/ml-20m.zip", body)
    assert len(datasets.load_dataset("ml-20m", dest)[0]) == 4


def test_default_download_checks_grouplens_published_size_and_md5(tmp_path, serve, monkeypatch):
    """load_dataset downloads on first use, against the values GroupLens publishes: a stand-in
    archive at the official address is refused."""
    body = archive_for("ml-1m")
    base = serve(body)
    monkeypatch.setattr(datasets, "BASE_URL", base)
    monkeypatch.setattr(datasets, "datasets_dir", lambda: tmp_path / "data")
    with pytest.raises(DownloadError) as err:
        datasets.load_dataset("ml-1m")
    assert str(err.value) == (f"{base}/ml-1m.zip: expected 5,917,549 bytes, got {len(body):,} "
                              "(truncated or not the official archive); nothing was installed")
    with pytest.raises(DownloadError) as err:
        datasets.fetch_dataset("ml-1m", tmp_path / "again", size=len(body))
    assert f"does not match the official {datasets.DATASETS['ml-1m'].md5}" in str(err.value)
    assert leftovers(tmp_path / "data") == ["ml-1m"] and leftovers(tmp_path / "again") == []


def test_latest_small_without_a_published_md5_is_refused(tmp_path):
    with pytest.raises(DownloadError) as err:
        datasets.fetch_dataset("ml-latest-small", tmp_path / "ml-latest-small")
    assert str(err.value) == (
        "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip: no MD5 published by GroupLens "
        "is on record for ml-latest-small, so the download cannot be verified and is refused; "
        "download and check it yourself, then pass its folder as data_dir "
        "(or pass md5= and size= that you trust)")
    assert leftovers(tmp_path) == []


def test_published_values_on_record():
    sums = {name: (d.md5, d.size) for name, d in datasets.DATASETS.items()}
    assert sums == {"ml-latest-small": (None, None),
                    "ml-1m": ("c4d9eecfca2ab87c1945afe126590906", 5_917_549),
                    "ml-10m": ("ce571fd55effeba0271552578f2648bd", 65_566_137),
                    "ml-20m": ("cd245b17a1ae2cc31bb14903e1204af3", 198_702_078),
                    "ml-25m": ("6b51fb2759a8657d3bfcbfc42b592ada", 261_978_986)}


def test_unknown_name_is_refused():
    with pytest.raises(DataError, match=r"unknown data set 'ml-5m'; known: ml-100k, ml-latest-small, ml-1m"):
        datasets.load_dataset("ml-5m")


def write(tmp_path, name, ratings=None, movies=None):
    folder = tmp_path / name
    folder.mkdir()
    good_ratings, good_movies, _ = files_for(name)
    _, ratings_name, movies_name = LAYOUT[name]
    (folder / ratings_name).write_bytes(good_ratings if ratings is None else ratings)
    (folder / movies_name).write_bytes(good_movies if movies is None else movies)
    return folder, folder / ratings_name, folder / movies_name


@pytest.mark.parametrize("name, ratings, message", [
    ("ml-1m", b"1::1::5::1\n2::3::4\n",
     "{r}:2: expected 4 '::'-separated fields (user, movie, rating, timestamp), found 3"),
    ("ml-1m", b"1::1::5::1\n2:3::4::5\n", "{r}:2: expected 4 '::'-separated fields (user, movie, rating, "
                                           "timestamp), found 3"),
    ("ml-1m", b"1::1::5::1\nx::3::4::5\n", "{r}:2: user id 'x' is not an integer"),
    ("ml-1m", b"1::1::5::1\n2::3::3.5::5\n", "{r}:2: rating 3.5 is not in steps of 1"),
    ("ml-1m", b"1::1::5::1\n2::3::6::5\n", "{r}:2: rating 6 is outside 1-5"),
    ("ml-10m", b"1::1::5::1\n2::3::4.25::5\n", "{r}:2: rating 4.25 is not in steps of 0.5"),
    ("ml-10m", b"1::1::5::1\n2::3::4::5\n1::1::3::7\n",
     "{r}:3: user 1 rated movie 1 again (first on line 1)"),
    ("ml-20m", b"userId,movieId,rating,timestamp\n1,1,5.0,1\n\n2,3,4.0,5\n",
     "{r}:3: expected 4 comma-separated fields (user, movie, rating, timestamp), found 1"),
    ("ml-20m", b"userId,movieId,rating,timestamp\n1,1,5.0,1\n2,3,0.0,5\n",
     "{r}:3: rating 0 is outside 0.5-5"),
    ("ml-25m", b"userId,movieId,rating,timestamp\n1,1,5.0,1\n2,1,4.0,5\n1,1,3.0,6\n",
     "{r}:4: user 1 rated movie 1 again (first on line 2)"),
    ("ml-25m", b"userId,movieId,rating,timestamp\n1,1,5.0,1\n2,1,4.0,1.5\n",
     "{r}:3: timestamp '1.5' is not an integer"),
    ("ml-25m", b"user,movie,rating,timestamp\n1,1,5.0,1\n",
     "{r}:1: expected the header 'userId,movieId,rating,timestamp', found 'user,movie,rating,timestamp'"),
    ("ml-latest-small", b"userId,movieId,rating,timestamp\n",
     "{r}: file has no ratings, expected one per line"),
    ("ml-latest-small", b"userId,movieId,rating,timestamp\n1,1,5.0,1\n1,7,4.0,2\n",
     "{r}:3: movie id 7 is not in {m} (1 unknown movie id(s) in all)"),
])
def test_damaged_ratings_name_the_file_and_line(tmp_path, name, ratings, message):
    folder, ratings_path, movies_path = write(tmp_path, name, ratings=ratings)
    with pytest.raises(DataError) as err:
        datasets.load_dataset(name, folder)
    assert str(err.value) == message.format(r=ratings_path, m=movies_path)


@pytest.mark.parametrize("name, movies, message", [
    ("ml-1m", "1::Toy Story (1995)::Comedy\n1::Again (1995)::Drama\n".encode("latin-1"),
     "{m}:2: movie id 1 is listed twice (first on line 1)"),
    ("ml-10m", b"1::Toy Story (1995)\n",
     "{m}:1: expected 3 '::'-separated fields (movie id, title, genres), found 2"),
    ("ml-20m", b"movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Caf\xe9 (1993),Comedy\n",
     "{m}:3: not valid utf-8 (invalid continuation byte at column 6)"),
    ("ml-25m", b"movieId,title,genres\none,Toy Story (1995),Comedy\n",
     "{m}:2: movie id 'one' is not an integer"),
    ("ml-latest-small", b"id,title,genres\n1,Toy Story (1995),Comedy\n",
     "{m}:1: expected the header 'movieId,title,genres', found 'id,title,genres'"),
])
def test_damaged_movies_name_the_file_and_line(tmp_path, name, movies, message):
    folder, ratings_path, movies_path = write(tmp_path, name, movies=movies)
    with pytest.raises(DataError) as err:
        datasets.read_movies(name, folder)
    assert str(err.value) == message.format(r=ratings_path, m=movies_path)


def test_missing_file_and_folder(tmp_path):
    folder, ratings_path, _ = write(tmp_path, "ml-1m")
    ratings_path.unlink()
    with pytest.raises(DataError, match=r"ratings.dat: file is missing$"):
        datasets.load_dataset("ml-1m", folder)
    with pytest.raises(DataError, match=r"nowhere: data directory does not exist$"):
        datasets.load_dataset("ml-1m", tmp_path / "nowhere")


def test_100k_reads_through_the_same_call(data_dir):
    ratings, movies = datasets.load_dataset("ml-100k", data_dir)
    assert len(ratings) == 100_000 and list(ratings.columns) == ["User ID", "Movie ID", "Rating", "Timestamp"]
    assert len(movies) == 1682 and isinstance(ratings, pd.DataFrame)
