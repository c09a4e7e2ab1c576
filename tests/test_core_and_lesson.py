"""Run bookkeeping: parameter checks, atomic results, jovian that never blocks."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import movielens_fastai as mlf
from movielens_fastai.core import write_text_atomically

ROOT = Path(__file__).resolve().parent.parent
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


def test_results_are_readable_as_any_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        json_file = mlf.write_json_atomically(tmp_path / "r.json", {"a": 1})
        text_file = write_text_atomically(tmp_path / "r.md", "a")
    finally:
        os.umask(old)
    assert oct(json_file.stat().st_mode & 0o777) == oct(text_file.stat().st_mode & 0o777) == "0o644"


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
    monkeypatch.setattr(mlf.lesson, "JOVIAN_API_URL", "https://127.0.0.1:9/")  # nothing listens there
    with pytest.raises(RuntimeError, match="cannot be reached"):
        mlf.commit_to_jovian(True, notebook="movielens-fastai.ipynb", connect_timeout=2)


@pytest.mark.parametrize("n_ratings, valid_pct, bs, max_ratings, message", [
    (50, 0.1, 64, 50, "max_ratings=50 with valid_pct=0.1 leaves 45 training ratings, fewer than one "
                      "batch of 64; use max_ratings >= 71"),
    (70, 0.1, 64, 70, "max_ratings=70 with valid_pct=0.1 leaves 63 training ratings, fewer than one "
                      "batch of 64; use max_ratings >= 71"),
    (200, 0.5, 128, 200, "max_ratings=200 with valid_pct=0.5 leaves 100 training ratings, fewer than one "
                         "batch of 128; use max_ratings >= 255"),
    (9, 0.05, 8, 9, "max_ratings=9 with valid_pct=0.05 leaves no validation ratings; use max_ratings >= 20"),
    (100_000, 0.9996, 64, None, "valid_pct=0.9996 on 100,000 ratings leaves 40 training ratings, fewer than "
                                "one batch of 64; use valid_pct <= 0.9993"),
    (100_000, 1e-6, 64, None, "valid_pct=1e-06 on 100,000 ratings leaves no validation ratings; "
                              "use valid_pct >= 1e-05"),
])
def test_splits_without_a_batch_are_refused(n_ratings, valid_pct, bs, max_ratings, message):
    with pytest.raises(ValueError) as err:
        mlf.check_batches(n_ratings, valid_pct=valid_pct, bs=bs, max_ratings=max_ratings)
    assert str(err.value) == "bad parameters: " + message


@pytest.mark.parametrize("valid_pct, bs", [(0.1, 64), (0.5, 128), (0.05, 8), (0.9, 64), (0.37, 33)])
def test_the_minimum_it_names_is_exact(valid_pct, bs):
    """The suggested max_ratings works, one fewer does not, and the split really gives >= bs
    training rows and >= 1 validation row (fastai v1's split, which the port uses too)."""
    with pytest.raises(ValueError) as err:
        mlf.check_batches(1, valid_pct=valid_pct, bs=bs, max_ratings=1)
    minimum = int(str(err.value).rsplit(">= ", 1)[1])
    mlf.check_batches(minimum, valid_pct=valid_pct, bs=bs, max_ratings=minimum)
    n_valid = len(mlf.validation_indices(minimum, valid_pct, 0))
    assert minimum - n_valid >= bs and n_valid >= 1
    with pytest.raises(ValueError):
        mlf.check_batches(minimum - 1, valid_pct=valid_pct, bs=bs, max_ratings=minimum - 1)


def test_the_articles_split_passes():
    mlf.check_batches(100_000, valid_pct=0.1)
    mlf.check_batches(5000, valid_pct=0.1, max_ratings=5000)


# One message of each known warning, as the libraries word it.
KNOWN_MESSAGES = [
    ("pkg_resources is deprecated as an API. See https://setuptools.pypa.io/en/latest/pkg_resources.html.",
     UserWarning),
    ("'pin_memory' argument is set as true but no accelerator is found, then device pinned memory won't "
     "be used.", UserWarning),
    ("`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`.", FutureWarning),
    ("The given NumPy array is not writable, and PyTorch does not support non-writable tensors.",
     UserWarning),
]


def test_known_warnings_are_silenced_and_nothing_else():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlf.quiet_known_warnings()
        for message, category in KNOWN_MESSAGES:
            warnings.warn(message, category, stacklevel=1)
        warnings.warn("something the reader should see", UserWarning, stacklevel=1)
        # the same words under another category, or not at the start, still show
        warnings.warn("pkg_resources is deprecated as an API", DeprecationWarning, stacklevel=1)
        warnings.warn("note: the given NumPy array is not writable", UserWarning, stacklevel=1)
    assert [(str(w.message), w.category) for w in caught] == [
        ("something the reader should see", UserWarning),
        ("pkg_resources is deprecated as an API", DeprecationWarning),
        ("note: the given NumPy array is not writable", UserWarning)]


WARN_AFTER_FASTAI = """
import warnings
import movielens_fastai
{imports}
for message, category in {messages!r}:
    warnings.warn(message, getattr(__builtins__, category))
warnings.warn("something the reader should see", UserWarning)
"""


@pytest.mark.parametrize("python, imports", [
    (ROOT / ".venv" / "bin" / "python", "from fastai.collab import *"),
    (ROOT / ".venv-fastai2" / "bin" / "python",
     "from fastai.collab import *\nfrom fastai.tabular.all import *"),
], ids=["fastai1", "fastai2"])
def test_filters_survive_fastais_imports(python, imports):
    """As in the notebooks: the package first, then fastai's star imports (which run fastai's
    own warning set-up and, in fastai v1, import pkg_resources for real)."""
    done = subprocess.run([str(python), "-c", WARN_AFTER_FASTAI.format(
        imports=imports, messages=[(m, c.__name__) for m, c in KNOWN_MESSAGES])], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    warning_lines = [line for line in done.stderr.splitlines() if "Warning:" in line]
    assert len(warning_lines) == 1 and warning_lines[0].endswith(
        "UserWarning: something the reader should see"), done.stderr


class _Display:
    def __init__(self):
        self.shown = []

    def update(self, obj):
        self.shown.append(obj)


def test_finished_cleanly_blanks_the_stopped_bar_and_drops_the_unfilled_template(capsys):
    """fastai 1.0.61's lr_find stops part-way (its bar stays frozen there) and prints
    'type {learner_name}.recorder.plot()' unformatted; everything else it prints still shows."""
    from types import SimpleNamespace

    out = _Display()
    learn = SimpleNamespace(recorder=SimpleNamespace(pbar=SimpleNamespace(out=out)))
    with mlf.finished_cleanly(learn):
        print("epoch 0")
        print("LR Finder is complete, type {learner_name}.recorder.plot() to see the graph.")
    assert capsys.readouterr().out == "epoch 0\n"
    assert [shown.data for shown in out.shown] == [""]
    # a learner without a notebook bar (a console run) is left alone
    with mlf.finished_cleanly(SimpleNamespace(recorder=SimpleNamespace(pbar=None))):
        print("fine")
    assert capsys.readouterr().out == "fine\n"
