"""Shared fixtures: where the data is, and notebook runs done once per session.

The suite runs in both environments: `.venv`'s pytest collects the files in this folder, and
`.venv-fastai2`'s pytest collects tests/fastai2/ (the code that needs fastai 2, myFM, implicit or
Gradio), so a failure there is a plain traceback. `make test` runs both.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SHARED_DATA = ROOT.parent / "shared" / "ml-100k"

def _in_fastai2_environment() -> bool:
    try:
        return metadata.version("fastai").startswith("2.")
    except metadata.PackageNotFoundError:
        return False


# Each environment collects its own tests (see the docstring).
IN_FASTAI2 = _in_fastai2_environment()
collect_ignore_glob = ["test_*.py"] if IN_FASTAI2 else ["fastai2/*"]

# Per cell: a dead or stuck kernel fails the test instead of hanging it.
CELL_TIMEOUT = 900

# Each environment registers its kernel inside its own venv (see Makefile).
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    str(ROOT / venv / "share" / "jupyter") for venv in (".venv", ".venv-fastai2"))

# Fixtures that run a notebook end to end on the full data: tests using them are `slow`
# (`make test PYTEST_ARGS='-m "not slow"'` keeps the fast notebook runs and everything else).
FULL_DATA_RUNS = {"v1_full", "port_full", "hood", "interpretation"}


# What a test does, read from the fixtures it uses: `make check`, the fast tier, leaves out every
# test marked notebook, wheel, server, training, slow, browser or hosted.
FIXTURE_MARKS = {
    "slow": FULL_DATA_RUNS,
    "notebook": FULL_DATA_RUNS | {"v1_fast", "v1_fast_again", "port_fast", "recommending_fast", "tiny"},
    # Tests in the Colab-like environment (tests/test_hosted.py): Python 3.13 and a 5 GiB download
    # the first time.
    "hosted": {"colab_venv"},
    "wheel": {"wheel", "installed_wheel"},
    "server": {"serve", "server"},
    # The u1 run of the benchmark's methods through the bridge (tests/test_folds_protocol.py).
    "training": {"quick_u1"},
}


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for mark, names in FIXTURE_MARKS.items():
            if names & fixtures:
                item.add_marker(getattr(pytest.mark, mark))


# The markers of the test being set up, so that run_notebook can refuse to run for a test that the
# fast tier would take for quick.
_RUNNING: dict[str, set[str]] = {}


def pytest_runtest_setup(item):
    _RUNNING["marks"] = {mark.name for mark in item.iter_markers()}


def full_data_dir() -> Path:
    """The full official MovieLens 100K: $MOVIELENS_DIR, else ../shared/ml-100k,
    else the project's own ml-100k/ (downloaded and verified on first use)."""
    from movielens_fastai import resolve_data_dir

    if not os.environ.get("MOVIELENS_DIR") and SHARED_DATA.is_dir():
        return SHARED_DATA
    return resolve_data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return full_data_dir()


def run_notebook(name: str, out_dir: Path, **params) -> dict | None:
    """Execute notebooks/<name>.ipynb with papermill into out_dir; return its results JSON."""
    import nbformat
    import papermill

    if "notebook" not in _RUNNING.get("marks", {"notebook"}):
        pytest.fail(f"this test runs {name} but is not marked notebook: mark it (make check leaves "
                    "such tests out)")
    notebook = NOTEBOOKS / f"{name}.ipynb"
    kernel = nbformat.read(notebook, as_version=4).metadata["kernelspec"]["name"]
    out_dir.mkdir(parents=True, exist_ok=True)
    params.setdefault("output_dir", str(out_dir))
    papermill.execute_notebook(
        str(notebook), str(out_dir / f"{name}.ipynb"),
        parameters=params, kernel_name=kernel, cwd=str(NOTEBOOKS),
        execution_timeout=CELL_TIMEOUT, progress_bar=False,
    )
    results = out_dir / f"{name}.json"
    return json.loads(results.read_text()) if results.exists() else None


def notebook_error(name: str, out_dir: Path, **params) -> str:
    """Run a notebook that must fail; return the error's name and message."""
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as failure:
        run_notebook(name, out_dir, **params)
    return f"{failure.value.ename}: {failure.value.evalue}"


# Fast runs: a slice of the data and one epoch, enough to exercise every cell.
FAST = {"max_ratings": 5000, "epochs": 1, "recommend_for_user": 6}


def _session_run(tmp_path_factory, data_dir, name, label, **params):
    out = tmp_path_factory.mktemp(label)
    return run_notebook(name, out, data_dir=str(data_dir), **params), out


@pytest.fixture(scope="session")
def v1_full(tmp_path_factory, data_dir):
    """The faithful notebook with the article's settings on the full data, run once."""
    return _session_run(tmp_path_factory, data_dir, "01_article", "v1-full")


@pytest.fixture(scope="session")
def v1_fast(tmp_path_factory, data_dir):
    return _session_run(tmp_path_factory, data_dir, "01_article", "v1-fast", **FAST)


@pytest.fixture(scope="session")
def v1_fast_again(tmp_path_factory, data_dir):
    """The fast run once more, same seeds: a CPU run must repeat exactly."""
    return _session_run(tmp_path_factory, data_dir, "01_article", "v1-fast-again", **FAST)


@pytest.fixture(scope="session")
def port_full(tmp_path_factory, data_dir):
    """The port (fastai 2.8) with its default settings on the full data, run once."""
    return _session_run(tmp_path_factory, data_dir, "02_port", "port-full")


@pytest.fixture(scope="session")
def port_fast(tmp_path_factory, data_dir):
    return _session_run(tmp_path_factory, data_dir, "02_port", "port-fast", **FAST)


# The ranking notebook, quick: one fold, no tuning (each grid's first value), few epochs.
RANKING_FAST = {"folds": [1], "tune": False, "bpr_epochs": 2, "softmax_epochs": 2, "rating_epochs": 1,
                "rating_bs": 1024, "ials_iterations": 3, "recommend_for_user": 6}


@pytest.fixture(scope="session")
def recommending_fast(tmp_path_factory, data_dir):
    return _session_run(tmp_path_factory, data_dir, "06_recommending", "recommending-fast", **RANKING_FAST)


@pytest.fixture
def data_copy(tmp_path, data_dir) -> Path:
    """A writable copy of u.data and u.item to damage."""
    copy = tmp_path / "ml-100k"
    copy.mkdir()
    for name in ("u.data", "u.item"):
        shutil.copy(data_dir / name, copy / name)
    return copy


@pytest.fixture
def serve():
    """A local HTTP server on 127.0.0.1 for download tests: serve(body, cut_at=None) -> base URL
    (any path returns body); cut_at closes the connection mid-body. Shut down after the test."""
    servers = []

    def start(body, cut_at=None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if cut_at is None else body[:cut_at])

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
