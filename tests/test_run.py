"""Run bookkeeping: parameter checks, atomic results, jovian that never blocks."""

import json
import time

import pytest

import movielens_fastai as mlf

ARTICLE = dict(valid_pct=0.1, n_factors=40, lr=0.01, epochs=5, y_range=[0, 5.5], wd=0.1)


def test_article_parameters_pass():
    mlf.check_params(**ARTICLE)


@pytest.mark.parametrize("change, message", [
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(lr=-0.01), "lr must be positive, got -0.01"),
    (dict(valid_pct=0), "valid_pct must be between 0 and 1 (exclusive), got 0"),
    (dict(valid_pct=1.5), "valid_pct must be between 0 and 1 (exclusive), got 1.5"),
    (dict(n_factors=0), "n_factors must be a positive integer, got 0"),
    (dict(y_range=[5.5, 0]), "y_range must be [low, high] with low < high, got [5.5, 0]"),
    (dict(wd=-1), "wd must not be negative, got -1"),
    (dict(max_ratings=0), "max_ratings must be None or a positive integer, got 0"),
])
def test_bad_parameters_are_refused(change, message):
    with pytest.raises(ValueError) as err:
        mlf.check_params(**{**ARTICLE, **change})
    assert str(err.value) == "bad parameters: " + message


def test_results_are_written_whole(tmp_path):
    path = mlf.write_json_atomically(tmp_path / "out" / "r.json", {"valid_mse": 0.8, "rows": [1, 2]})
    assert json.loads(path.read_text()) == {"valid_mse": 0.8, "rows": [1, 2]}
    with pytest.raises(TypeError):
        mlf.write_json_atomically(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"valid_mse": 0.8, "rows": [1, 2]}, "old file kept intact"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"], "no temporary file left"


def test_jovian_off_skips_and_says_how(capsys):
    assert mlf.commit_to_jovian(False, notebook="movielens-fastai.ipynb") == "skipped"
    assert "jovian configure" in capsys.readouterr().out


def test_jovian_on_without_key_fails_at_once(tmp_path, monkeypatch):
    import jovian.utils.credentials as creds

    monkeypatch.setattr(creds, "CONFIG_DIR", str(tmp_path / ".jovian"))
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="no Jovian API key is configured"):
        mlf.commit_to_jovian(True, notebook="movielens-fastai.ipynb")
    assert time.monotonic() - started < 5


def test_jovian_on_with_key_but_offline_fails_fast(tmp_path, monkeypatch):
    import jovian.utils.credentials as creds

    monkeypatch.setattr(creds, "CONFIG_DIR", str(tmp_path / ".jovian"))
    (tmp_path / ".jovian").mkdir()
    (tmp_path / ".jovian" / "credentials.json").write_text(json.dumps({"API_KEY": "k"}))
    monkeypatch.setattr(mlf.run, "JOVIAN_API_URL", "https://127.0.0.1:9/")  # nothing listens there
    with pytest.raises(RuntimeError, match="cannot be reached"):
        mlf.commit_to_jovian(True, notebook="movielens-fastai.ipynb", connect_timeout=2)
