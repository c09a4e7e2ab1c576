"""Both notebooks stop at their first cells, with the same message naming the file,
line and problem, on every kind of bad input; neither leaves a result behind."""

import pytest
from conftest import notebook_error

pytestmark = [pytest.mark.notebook, pytest.mark.parametrize("name", ["01_article", "02_port"])]


def damage(data_copy, lineno, text):
    path = data_copy / "u.data"
    lines = path.read_text().split("\n")
    lines[lineno - 1] = text
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize("lineno, text, problem", [
    (3, "22\t377", "expected 4 tab-separated fields (user, movie, rating, timestamp), found 2"),
    (5, "166\t346\t1.5\t886397596", "rating '1.5' is not an integer"),
    (8, "253\t465\t6\t891628467", "rating 6 is outside 1-5"),
])
def test_bad_ratings_stop_the_notebook_at_the_data_cell(tmp_path, data_copy, name, lineno, text, problem):
    path = damage(data_copy, lineno, text)
    out = tmp_path / "out"
    error = notebook_error(name, out, data_dir=str(data_copy))
    assert error == f"DataError: {path}:{lineno}: {problem}"
    assert not (out / f"{name}.json").exists()


def test_unknown_movie_stops_the_notebook(tmp_path, data_copy, name):
    path = damage(data_copy, 2, "186\t4242\t3\t891717742")
    error = notebook_error(name, tmp_path / "out", data_dir=str(data_copy))
    assert error == (f"DataError: {path}:2: movie id 4242 is not in {data_copy / 'u.item'} "
                     "(1 unknown movie id(s) in all)")


def test_missing_data_directory_stops_the_notebook(tmp_path, name):
    error = notebook_error(name, tmp_path / "out", data_dir=str(tmp_path / "nowhere"))
    assert error == f"DataError: {tmp_path / 'nowhere'}: data directory does not exist"
    assert not (tmp_path / "out" / f"{name}.json").exists()


def test_bad_parameters_stop_before_any_work(tmp_path, data_dir, name):
    error = notebook_error(name, tmp_path / "out", data_dir=str(data_dir), epochs=0, lr=-1.0)
    assert error == ("ValueError: bad parameters: lr must be positive, got -1.0; "
                     "epochs must be a positive integer, got 0")


def test_too_few_ratings_for_one_batch_stop_before_any_work(tmp_path, data_dir, name):
    out = tmp_path / "out"
    error = notebook_error(name, out, data_dir=str(data_dir), max_ratings=50)
    assert error == ("ValueError: bad parameters: max_ratings=50 with valid_pct=0.1 leaves 45 training "
                     "ratings, fewer than one batch of 64; use max_ratings >= 71")
    assert not (out / f"{name}.json").exists()
