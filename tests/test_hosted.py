"""The lessons where a reader opens them without a checkout: Colab, Kaggle, Binder.

First what is written from pyproject.toml's one Repository URL (every badge, each setup cell);
then a Colab-like environment: Python 3.13 with the package versions of Colab's published runtime
(tests/hosted/colab-runtime.txt), in which each fastai 2 lesson runs its own setup cell as on a
hosted notebook (it clones a snapshot of this working tree, installs the package and what the host
lacks, and leaves the host's torch and fastai alone), then runs on quick parameters; the port on the
full data reaches the lock's MSE; the fastai v1 lesson stops in its first code cell with its reason.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from conftest import RANKING_FAST, SHARED_DATA, full_data_dir

from movielens_fastai.reporting import hosted

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "tests" / "hosted" / "colab-runtime.txt"
COLAB_VENV = ROOT / ".venv-colab"
COLAB_KERNEL = "movielens-colab"
CLAIMED = ROOT / "benchmarks" / "results" / "claimed.json"
# Quick parameters for each fastai 2 lesson: every cell runs, on a slice or for an epoch.
# The port runs on the full data instead (test_the_port_on_colabs_runtime_reaches_the_locks_mse).
QUICK = {
    "05_fast_fastai": {"max_ratings": 5000, "epochs": 1, "fast_epochs": 1, "profile_batches": 10,
                       "scale_ratings": 150_000},
    "06_recommending": RANKING_FAST,
    "08_beyond": {"l2_grid": [0.1], "n_models": 1, "epochs": 1},
    "09_for_you": {"max_ratings": 20_000, "epochs": 1},
}


# --- what one setting writes ------------------------------------------------------------------------

def test_every_badge_and_setup_cell_is_written_from_the_one_repository_url():
    """`make badges` would change nothing: README's table and every notebook are as generated."""
    for path, text in hosted.rendered(ROOT).items():
        assert path.read_text() == text, f"{path.name} is not as `make badges` writes it"
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- benchmark:badges -->\n", 1)[1].split("<!-- /benchmark:badges -->", 1)[0]
    assert block == hosted.readme_table(hosted.lesson_kernels(ROOT), hosted.repository(ROOT))


def test_badges_open_each_lesson_on_the_repository_named_once():
    repo = hosted.repository(ROOT)
    owner_name = repo.removeprefix("https://github.com/")
    kernels = hosted.lesson_kernels(ROOT)
    assert {k for k, v in kernels.items() if v == hosted.FASTAI2_KERNEL} == {
        "02_port", "05_fast_fastai", "06_recommending", "08_beyond", "09_for_you"}
    texts = [(ROOT / "README.md").read_text(),
             *((ROOT / "notebooks" / f"{n}.ipynb").read_text() for n in kernels)]
    hosts = re.compile(r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh|kaggle\.com/kernels/"
                       r"welcome\?src=https://github\.com)/([\w.-]+/[\w.-]+)/")
    named = {m for text in texts for m in hosts.findall(text)}
    assert named == {owner_name}, f"badges name {named}, pyproject.toml {owner_name}"
    for lesson, kernel in kernels.items():
        first = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4).cells[0].source
        urls = hosted.links(lesson, repo)
        for host in ("Colab", "Kaggle", "Binder"):
            assert (urls[host] in first) == (host in hosted.hosts(kernel)), (lesson, host)
        assert f"notebooks%2F{lesson}.ipynb" in urls["Binder"] and urls["Colab"].endswith(f"/{lesson}.ipynb")


def test_a_repository_that_is_not_on_github_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "https://example.org/x"\n')
    with pytest.raises(ValueError, match=r"pyproject.toml: \[project.urls\] Repository must be "
                                         r"https://github.com/OWNER/NAME, got 'https://example.org/x'"):
        hosted.repository(tmp_path)


def test_each_lesson_has_the_cell_for_its_kernel_first():
    for lesson, kernel in hosted.lesson_kernels(ROOT).items():
        nb = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        tag = hosted.SETUP_TAG if kernel == hosted.FASTAI2_KERNEL else hosted.PYTHON_CHECK_TAG
        assert code[0].metadata["tags"] == [tag] and not code[0].outputs, lesson
        assert "movielens_fastai" not in code[0].source, f"{lesson}: cell 1 needs the package"


def test_the_setup_cell_does_nothing_off_colab_and_kaggle(tmp_path):
    """Run as a local kernel would (neither google.colab nor KAGGLE_KERNEL_RUN_TYPE): no clone, no
    install, the working folder unchanged."""
    source = hosted.setup_source(hosted.repository(ROOT))
    env = {k: v for k, v in os.environ.items() if k != "KAGGLE_KERNEL_RUN_TYPE"}
    env[hosted.REPOSITORY_ENV] = str(tmp_path / "nowhere")
    script = source + "\nprint(os.getcwd())\n"
    result = subprocess.run([shutil.which("python3") or "python3", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path) and list(tmp_path.iterdir()) == []


# --- the Colab-like environment ---------------------------------------------------------------------

def _runs(python: str) -> bool:
    try:
        out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                             capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return out.stdout.strip() == "True"


def python313() -> str | None:
    """A Python 3.13: $MOVIELENS_COLAB_PYTHON, python3.13 on PATH, uv's, or pyenv's."""
    candidates = [os.environ.get("MOVIELENS_COLAB_PYTHON"), shutil.which("python3.13")]
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", "3.13"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"), reverse=True)
    return next((c for c in candidates if c and _runs(c)), None)


def _pip(*args, timeout=1800):
    result = subprocess.run([str(COLAB_VENV / "bin" / "python"), "-m", "pip", *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def _installed() -> dict[str, str]:
    return {d["name"].lower(): d["version"] for d in json.loads(_pip("list", "--format", "json"))}


@pytest.fixture(scope="session")
def colab_venv():
    """.venv-colab: Colab's runtime as pinned, built once per pin list, without the package (the
    setup cell installs it): {package: version} as built."""
    python = python313()
    if python is None:
        message = "no Python 3.13 found (python3.13, uv or pyenv): the Colab-like test needs one"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    stamp = COLAB_VENV / f".installed-{hashlib.sha256(RUNTIME.read_bytes()).hexdigest()[:12]}"
    if not stamp.exists():
        shutil.rmtree(COLAB_VENV, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(COLAB_VENV)], check=True, timeout=300)
        _pip("install", "-q", "-r", str(RUNTIME))
        subprocess.run([str(COLAB_VENV / "bin" / "python"), "-m", "ipykernel", "install", "--prefix",
                        str(COLAB_VENV), "--name", COLAB_KERNEL],
                       check=True, capture_output=True, timeout=300)
        stamp.touch()
    # What the setup cell installs: gone, so that it is the setup cell that installs it.
    _pip("uninstall", "-q", "-y", "movielens-fastai", "myfm", "implicit")
    return _installed()


@pytest.fixture(scope="session")
def snapshot_repository(tmp_path_factory):
    """A git repository holding this working tree as it is (tracked and new files, not ignored ones),
    which the setup cell clones in place of the project's repository."""
    repo = tmp_path_factory.mktemp("repository")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True, timeout=120)
    return f"file://{repo}"


@contextlib.contextmanager
def hosted_notebook_environment(repository: str):
    """What the kernel sees on Kaggle (KAGGLE_KERNEL_RUN_TYPE), with the snapshot as the repository."""
    saved = dict(os.environ)
    os.environ.update({"KAGGLE_KERNEL_RUN_TYPE": "Batch", hosted.REPOSITORY_ENV: repository,
                       "JUPYTER_PATH": os.pathsep.join([str(COLAB_VENV / "share" / "jupyter"),
                                                        os.environ.get("JUPYTER_PATH", "")])})
    for name in (hosted.HOME_ENV, "MOVIELENS_DIR", "PYTHONPATH"):
        os.environ.pop(name, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_hosted(lesson: str, content: Path, out: Path, repository: str, **params) -> dict | None:
    """Run notebooks/<lesson>.ipynb on the Colab-like kernel from `content` (Colab's /content)."""
    import papermill

    out.mkdir(parents=True, exist_ok=True)
    params = {"data_dir": str(full_data_dir()), "output_dir": str(out), **params}
    with hosted_notebook_environment(repository):
        papermill.execute_notebook(str(ROOT / "notebooks" / f"{lesson}.ipynb"), str(out / f"{lesson}.ipynb"),
                                   parameters=params, kernel_name=COLAB_KERNEL, cwd=str(content),
                                   execution_timeout=1200, progress_bar=False)
    results = out / f"{lesson}.json"
    return json.loads(results.read_text()) if results.exists() else None


@pytest.fixture(scope="session")
def content(tmp_path_factory):
    return tmp_path_factory.mktemp("content")


def runtime_pins() -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in RUNTIME.read_text().splitlines())
    return dict(line.lower().split("==") for line in lines if "==" in line)


@pytest.mark.parametrize("lesson", list(QUICK))
def test_each_fastai2_lesson_sets_itself_up_and_runs_on_colabs_runtime(lesson, colab_venv, content,
                                                                        snapshot_repository, tmp_path):
    if not SHARED_DATA.is_dir() and not os.environ.get("MOVIELENS_DIR"):
        pytest.skip("needs MovieLens 100K on disk (../shared/ml-100k or $MOVIELENS_DIR)")
    results = run_hosted(lesson, content, tmp_path / "out", snapshot_repository, **QUICK[lesson])
    clone = content / "movielens-fastai"
    assert (clone / "notebooks" / f"{lesson}.ipynb").is_file(), "the setup cell cloned nothing"
    assert results is not None, f"{lesson} wrote no results"
    now = _installed()
    assert "movielens-fastai" in now and {"myfm", "implicit"} <= set(now)
    for name, version in runtime_pins().items():
        assert now[name] == version, f"the setup cell changed the host's {name}: {version} -> {now[name]}"


def test_the_port_on_colabs_runtime_reaches_the_locks_mse(colab_venv, content, snapshot_repository, tmp_path):
    if not SHARED_DATA.is_dir() and not os.environ.get("MOVIELENS_DIR"):
        pytest.skip("needs MovieLens 100K on disk (../shared/ml-100k or $MOVIELENS_DIR)")
    results = run_hosted("02_port", content, tmp_path / "out", snapshot_repository)
    lock = next(r for r in json.loads(CLAIMED.read_text())["rows"] if r["notebook"] == "02_port")
    assert results["versions"]["fastai"] == runtime_pins()["fastai"]
    assert round(results["valid_mse"], 3) == round(lock["valid_mse"], 3), (results["valid_mse"],
                                                                           lock["valid_mse"])


def test_the_fastai1_lesson_stops_in_its_first_code_cell_with_its_reason(colab_venv, content,
                                                                         snapshot_repository, tmp_path):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as failure:
        run_hosted("01_article", content, tmp_path / "out", snapshot_repository)
    assert failure.value.exec_count == 1
    assert failure.value.ename == "RuntimeError"
    assert re.fullmatch(r"This lesson runs fastai v1, which needs Python 3\.11, and this is Python "
                        r"3\.13\.\d+: run it with `make run` or conda \(environment\.yml\) on your machine, "
                        r"or on Binder; the fastai 2 lessons \(02, 05, 06, 08, 09\) open here\.",
                        failure.value.evalue)
